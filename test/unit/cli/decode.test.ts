// `nexthop decode` (src/cli/commands/decode.ts): raw, hex and pcap input; the session context
// from OPENs (RFC 6793 4-octet AS, RFC 7911 ADD-PATH per direction, RFC 8654) or from flags;
// JSON output (hex bytes, "a:b" communities, "a:b:c" large communities); malformed input gives
// a JSON error naming the RFC 4271 §4.5 code/subcode and exit status 1; bad flags exit 2.
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { repoPath } from '../../helpers/repo';
import { decodeInput, parseHex, sessionContext, InputError } from '../../../src/cli/commands/decode';
import { codecContext, decodeMessage, type OpenMessage } from '../../../src/wire';

const FIX = repoPath('proto-fixtures');
const fixture = (f: string): Buffer => fs.readFileSync(path.join(FIX, f));
const MAIN = path.join(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');

function cli(args: string[], input?: Buffer | string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, 'decode', ...args], { input, encoding: 'utf8', timeout: 20000, cwd: repoPath() });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lines(out: string): Record<string, unknown>[] {
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

type Line = { offset?: number; length: number; message?: Record<string, unknown>; error?: Record<string, unknown>; src?: string; dst?: string; direction?: string; time?: string; connection?: number };

const ctx0 = codecContext();

describe('cli/decode: raw and hex input', () => {
  it('decodes the README example proto-fixtures/bird/open.bin', () => {
    const r = decodeInput(fixture('bird/open.bin'), { hex: false, context: ctx0 });
    expect(r.ok).to.equal(true);
    expect(r.lines.length).to.equal(1);
    const l = r.lines[0] as Line;
    expect(l.offset).to.equal(0);
    expect(l.message!.type).to.equal('open');
    expect(l.message!.myAs).to.equal(65001);
  });

  it('decodes several messages in a row, with offsets', () => {
    const input = Buffer.concat([fixture('frr/keepalive.bin'), fixture('bird/open.bin'), fixture('frr/keepalive.bin')]);
    const r = decodeInput(input, { hex: false, context: ctx0 });
    expect(r.lines.map((l) => [(l as Line).offset, ((l as Line).message as { type: string }).type])).to.deep.equal([
      [0, 'keepalive'], [19, 'open'], [19 + fixture('bird/open.bin').length, 'keepalive'],
    ]);
  });

  it('reads hex with whitespace, colons, 0x and comments', () => {
    expect(parseHex('# a keepalive\nff:ff:ff:ff ffffffff 0xffffffff\tffffffff  00 13 04 # end\n').toString('hex'))
      .to.equal(`${'ff'.repeat(16)}001304`);
    expect(() => parseHex('ffz')).to.throw(InputError, /'z' is not a hex digit/);
    expect(() => parseHex('fff')).to.throw(InputError, /odd number/);
  });

  it('prints communities as "a:b", large communities as "a:b:c", bytes as hex', () => {
    const r = decodeInput(fixture('gobgp/update-ipv4-unicast-communities-large-ext.bin'), { hex: false, context: ctx0 });
    const attrs = (r.lines[0] as Line).message!.attributes as Record<string, unknown>;
    expect(attrs.communities).to.deep.equal(['65003:100', '65003:101']);
    expect(attrs.largeCommunities).to.deep.equal(['65003:2:3']);
    expect(attrs.extendedCommunities).to.deep.equal(['0002fdeb00000007']);
    const n = decodeInput(fixture('bird/notification-cease-admin-shutdown-message.bin'), { hex: false, context: ctx0 });
    const msg = (n.lines[0] as Line).message!;
    expect(msg.data).to.be.a('string').and.match(/^[0-9a-f]+$/);
    expect(msg.shutdownCommunication).to.equal('nexthop fixture: BIRD planned maintenance');
  });

  it('reads ADD-PATH NLRI only when told (--add-path), and as 2-octet AS when told (--two-octet-as)', () => {
    const b = fixture('gobgp/update-ipv4-unicast-addpath-communities-large-ext.bin');
    const withFlag = decodeInput(b, { hex: false, context: codecContext({ addPath: new Set(['ipv4-unicast']) }) });
    expect(withFlag.ok).to.equal(true);
    expect(((withFlag.lines[0] as Line).message!.nlri as { pathId?: number }[])[0].pathId).to.be.a('number');
    const without = decodeInput(b, { hex: false, context: ctx0 });
    const wl = without.lines[0] as Line;
    // Without the path id the NLRI reads as different prefixes: not what the sender meant.
    expect(JSON.stringify(wl)).to.not.equal(JSON.stringify(withFlag.lines[0]));
    const as2 = fixture('bird/update-ipv4-unicast-as2-as4path-communities.bin');
    const r2 = decodeInput(as2, { hex: false, context: codecContext({ as4: false }) });
    const attrs = (r2.lines[0] as Line).message!.attributes as { asPath: { asns: number[] }[]; as4Path: { asns: number[] }[] };
    expect(attrs.asPath[0].asns).to.include(23456);
    expect(attrs.as4Path[0].asns).to.include(4200000009);
  });

  it('takes the context from an OPEN in raw input: ADD-PATH after an OPEN offering it', () => {
    const open = fixture('gobgp/open-gr-addpath.bin');
    const upd = fixture('gobgp/update-ipv4-unicast-addpath-communities-large-ext.bin');
    const r = decodeInput(Buffer.concat([open, upd]), { hex: false, context: ctx0 });
    expect(r.ok).to.equal(true);
    expect(((r.lines[1] as Line).message!.nlri as { pathId?: number }[])[0].pathId).to.equal(1);
  });

  it('reports a malformed message as a JSON error, continues after it, and stops at a header error', () => {
    const bad = Buffer.from(fixture('bird/open.bin'));
    bad[19] = 3; // version 3
    const r = decodeInput(Buffer.concat([bad, fixture('frr/keepalive.bin')]), { hex: false, context: ctx0 });
    expect(r.ok).to.equal(false);
    const e = (r.lines[0] as Line).error!;
    expect(e).to.include({ code: 2, subcode: 1, action: 'session-reset', field: 'OPEN version' });
    expect(e.codeName).to.be.a('string').and.not.equal('');
    expect(e.subcodeName).to.be.a('string').and.not.equal('');
    expect(((r.lines[1] as Line).message as { type: string }).type).to.equal('keepalive');

    const marker = Buffer.from(fixture('frr/keepalive.bin'));
    marker[3] = 0;
    const h = decodeInput(Buffer.concat([fixture('frr/keepalive.bin'), marker, fixture('frr/keepalive.bin')]), { hex: false, context: ctx0 });
    expect(h.lines.length).to.equal(2);
    expect((h.lines[1] as Line).error).to.include({ code: 1, subcode: 1 });
  });

  it('reports input that ends inside a message', () => {
    const open = fixture('bird/open.bin');
    const r = decodeInput(open.subarray(0, open.length - 3), { hex: false, context: ctx0 });
    expect(r.ok).to.equal(false);
    expect((r.lines[0] as Line).error).to.include({ code: 1, subcode: 2 });
    expect(String((r.lines[0] as Line).error!.message)).to.match(/ends inside a message/);
  });

  it('reports RFC 7606 treat-as-withdraw as an error next to the decoded message', () => {
    const hex = fs.readFileSync(path.join(FIX, 'malformed', 'update-origin-value-3.hex'));
    const r = decodeInput(hex, { hex: true, context: ctx0 });
    expect(r.ok).to.equal(false);
    const l = r.lines[0] as Line;
    expect(l.message!.type).to.equal('update');
    expect(l.error).to.include({ code: 3, subcode: 6, action: 'treat-as-withdraw', field: 'attribute ORIGIN' });
  });
});

describe('cli/decode: pcap input', () => {
  it('decodes a tcpdump capture with addresses, ports, direction and time', () => {
    const r = decodeInput(fixture('pcap/bird-frr-ethernet.pcap'), { hex: false, context: ctx0 });
    expect(r.ok).to.equal(true);
    const first = r.lines[0] as Line;
    expect(first.time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(first.src).to.match(/:\d+$/);
    expect(first.dst).to.match(/:\d+$/);
    expect(['client->server', 'server->client']).to.include(first.direction);
    const types = new Set(r.lines.map((l) => ((l as Line).message as { type: string }).type));
    for (const t of ['open', 'keepalive', 'update', 'route-refresh', 'notification']) expect(types.has(t), t).to.equal(true);
    const v6 = r.lines.find((l) => String((l as Line).src).startsWith('[fd77:1::'));
    expect(v6, 'IPv6 endpoints print as [addr]:port').to.not.equal(undefined);
  });

  it('takes ADD-PATH per direction from both OPENs of each connection', () => {
    const r = decodeInput(fixture('pcap/bird-gobgp-gr-addpath-nanosecond.pcap'), { hex: false, context: ctx0 });
    expect(r.ok).to.equal(true);
    const withPathIds = r.lines.filter((l) => {
      const m = (l as Line).message as { type: string; nlri?: { pathId?: number }[]; attributes?: { mpReach?: { nlri: { pathId?: number }[] } } };
      return m.type === 'update' && [...(m.nlri ?? []), ...(m.attributes?.mpReach?.nlri ?? [])].some((n) => n.pathId !== undefined);
    });
    expect(withPathIds.length).to.be.greaterThan(1);
    // Nanosecond capture: the fraction is not a whole microsecond everywhere.
    expect(r.lines.some((l) => !/000Z$/.test(String((l as Line).time)))).to.equal(true);
  });

  it('reads AS4_PATH from 2-octet-AS speakers when neither OPEN has the AS4 capability', () => {
    const r = decodeInput(fixture('pcap/exabgp-bird-frr-as2-sll.pcap'), { hex: false, context: ctx0 });
    expect(r.ok).to.equal(true);
    const upd = r.lines.map((l) => (l as Line).message as { type: string; attributes?: { as4Path?: { asns: number[] }[] } })
      .filter((m) => m.type === 'update' && m.attributes?.as4Path);
    expect(upd.length).to.be.greaterThan(0);
    expect(upd[0].attributes!.as4Path![0].asns).to.include(4200000009);
  });

  it('sessionContext: as4 only if both, ADD-PATH if sender sends and receiver receives', () => {
    const bird = decodeMessage(fixture('bird/open-gr-addpath.bin'), ctx0) as OpenMessage;
    const plain = decodeMessage(fixture('bird/open-as2.bin'), ctx0) as OpenMessage;
    const both = sessionContext(bird, bird);
    expect(both.as4).to.equal(true);
    expect([...both.addPath].sort()).to.deep.equal(['ipv4-unicast']);
    expect(sessionContext(bird, plain).as4).to.equal(false);
    expect([...sessionContext(bird, plain).addPath]).to.deep.equal([]);
  });
});

describe('cli/decode: the command', function () {
  this.timeout(30000);

  it('prints JSON lines and exits 0', () => {
    const r = cli([repoPath('proto-fixtures', 'bird', 'open.bin')]);
    expect(r.status).to.equal(0);
    expect((lines(r.stdout)[0].message as { type: string }).type).to.equal('open');
  });

  it('reads standard input, hex with --hex', () => {
    const r = cli(['--hex', '-'], `${'ff'.repeat(16)} 0013 04\n${'ff'.repeat(16)}:00:17:02:00:00:00:00`);
    expect(r.status).to.equal(0);
    expect(lines(r.stdout).map((l) => (l.message as { type: string }).type)).to.deep.equal(['keepalive', 'update']);
  });

  it('exits 1 on a malformed message, after printing everything it could', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nh-decode-'));
    try {
      const f = path.join(tmp, 'in.bin');
      const bad = Buffer.from(fixture('frr/keepalive.bin')); bad[18] = 9;
      fs.writeFileSync(f, Buffer.concat([fixture('frr/keepalive.bin'), bad]));
      const r = cli([f]);
      expect(r.status).to.equal(1);
      const ls = lines(r.stdout);
      expect(ls.length).to.equal(2);
      expect(ls[1].error).to.include({ code: 1, subcode: 3, codeName: 'Message Header Error' });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('--help explains; a bad flag or family prints the usage line and exits 2; a missing file exits 1', () => {
    const h = cli(['--help']);
    expect(h.status).to.equal(0);
    expect(h.stdout).to.match(/^usage: nexthop decode/);
    expect(h.stdout).to.match(/--add-path FAMILY/);
    expect(h.stdout).to.match(/Examples:/);
    const bad = cli(['--frobnicate']);
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/unknown option '--frobnicate'/);
    expect(bad.stderr).to.match(/usage: nexthop decode/);
    const fam = cli(['--add-path', 'ipv5-unicast', '-'], '');
    expect(fam.status).to.equal(2);
    expect(fam.stderr).to.match(/not a family/);
    const missing = cli(['/nonexistent/file.bin']);
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.match(/cannot read/);
  });

  it('prints every message of a capture cut short, then a warning naming the cut, and exits 1', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nh-decode-'));
    try {
      // The real BIRD/FRR capture with the last 10 bytes gone, as when tcpdump is killed.
      const full = fixture('pcap/bird-frr-ethernet.pcap');
      const f = path.join(tmp, 'cut.pcap');
      fs.writeFileSync(f, full.subarray(0, full.length - 10));
      const whole = decodeInput(full, { hex: false, context: ctx0 });
      const r = cli([f]);
      expect(r.status).to.equal(1);
      const ls = lines(r.stdout);
      expect(ls.length).to.be.greaterThan(5);
      expect(ls.length).to.be.at.most(whole.lines.length);
      expect(ls).to.deep.equal(JSON.parse(JSON.stringify(whole.lines.slice(0, ls.length))));
      expect(r.stderr).to.match(/warning: pcap record: truncated record at offset \d+/);
      expect(r.stderr).to.match(/cut short/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('every proto-fixtures path named in the docs (*.md) and in --help exists', () => {
    const root = repoPath();
    const mdFiles: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.md')) mdFiles.push(p);
      }
    };
    walk(root);
    expect(mdFiles.map((f) => path.relative(root, f))).to.include('README.md');
    const help = cli(['--help']).stdout;
    const named = new Map<string, string>();
    const collect = (text: string, where: string): void => {
      for (const m of text.matchAll(/proto-fixtures\/[A-Za-z0-9_.\/-]*[A-Za-z0-9_]/g)) named.set(m[0], where);
    };
    for (const f of mdFiles) collect(fs.readFileSync(f, 'utf8'), path.relative(root, f));
    collect(help, 'nexthop decode --help');
    const fromHelp = [...named].filter(([, w]) => w === 'nexthop decode --help').map(([p]) => p);
    expect(fromHelp.length, 'the --help examples name fixture files').to.be.greaterThan(1);
    const missing = [...named].filter(([p]) => !fs.existsSync(path.join(root, p))).map(([p, w]) => `${p} (named in ${w})`);
    expect(missing).to.deep.equal([]);
  });

  it('names the problem with a pcapng file', () => {
    const r = cli(['-'], Buffer.from('0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000', 'hex'));
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/pcapng/);
  });
});
