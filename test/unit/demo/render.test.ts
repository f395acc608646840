// The demo's text output (src/demo/render.ts): the ✓/✗ grid, tables, and plain output (no
// escape sequences) when not on a terminal.
import { expect } from 'chai';
import { Narrator, gridCounts, renderPingGrid, renderTable } from '../../../src/demo/render';

describe('demo/render', () => {
  const result = new Map<string, Map<string, boolean | null>>([
    ['a', new Map([['a', null], ['b', true]])],
    ['b', new Map([['a', false], ['b', null]])],
    ['tor', new Map([['a', true], ['b', true]])],
  ]);

  it('draws the ping grid with ✓, ✗ and · for itself, and counts it', () => {
    const g = renderPingGrid(['a', 'b', 'tor'], ['a', 'b'], result).split('\n');
    expect(g[0]).to.match(/^from \\ to\s+a\s+b$/);
    expect(g[1]).to.match(/^a\s+·\s+✓\s*$/);
    expect(g[2]).to.match(/^b\s+✗\s+·\s*$/);
    expect(g[3]).to.match(/^tor\s+✓\s+✓\s*$/);
    expect(gridCounts(result)).to.deep.equal({ ok: 3, failed: 1 });
  });

  it('aligns table columns', () => {
    const t = renderTable(['NODE', 'VIA'], [['rack1-node1', '10.0.1.12'], ['r', '-']]).split('\n');
    expect(t[0].indexOf('VIA')).to.equal(t[1].indexOf('10.0.1.12'));
    expect(t[2].indexOf('-')).to.equal(t[0].indexOf('VIA'));
  });

  it('writes plain text to a pipe and colour to a terminal', async () => {
    let plain = '';
    const p = new Narrator({ write: (s: string) => { plain += s; }, isTTY: false });
    await p.step('build', () => 1, () => 'done');
    p.section('Title');
    expect(plain).to.not.include('\x1b[');
    expect(plain).to.match(/✓ build: done \(\d+\.\ds\)/);
    let tty = '';
    const c = new Narrator({ write: (s: string) => { tty += s; }, isTTY: true }, true);
    await c.step('build', () => 1);
    expect(tty).to.include('\x1b[32m✓\x1b[0m');
  });

  it('a failing step prints ✗ with the reason and rethrows', async () => {
    let out = '';
    const n = new Narrator({ write: (s: string) => { out += s; } }, false);
    let caught: Error | null = null;
    try {
      await n.step('wait', () => { throw new Error('no route'); });
    } catch (e) {
      caught = e as Error;
    }
    expect(caught?.message).to.equal('no route');
    expect(out).to.match(/✗ wait: no route/);
  });
});
