// Loc-RIB: change events batched per processing round, local origination, multipath next hops,
// next-hop invalidation, selection deferral hook, explain.
import { expect } from 'chai';
import fc from 'fast-check';
import { LocRib } from '../../../src/rib/loc-rib';
import { AdjRibIn } from '../../../src/rib/adj-rib-in';
import { ImportPolicy } from '../../../src/policy/import';
import { peer, seq, v4Update } from './fixtures';

function setup(maxPaths = 1) {
  const loc = new LocRib({ localAs: 65000, routerId: '10.0.0.100', maxPaths });
  const policy = new ImportPolicy({ localAs: 65000, routerId: '10.0.0.100', pools: ['10.244.0.0/16'] });
  const mk = (id: string, kind: 'ibgp' | 'ebgp' = 'ibgp', asn = 65000) => {
    const p = peer(id, { kind, asn, routerId: id });
    policy.setPeerRule(id, kind === 'ibgp' ? { kind: 'cluster' } : { kind: 'accept-all' });
    return new AdjRibIn(p, loc.store, policy, loc);
  };
  return { loc, mk };
}

describe('rib/loc-rib', () => {
  it('batches changes per round and reports previous and new best', () => {
    const { loc, mk } = setup();
    const a = mk('10.0.0.1');
    const b = mk('10.0.0.2');
    a.apply(v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1', localPref: 100 }), 0);
    b.apply(v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.2', localPref: 200 }), 0);
    a.apply(v4Update(['10.244.2.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    const changes = loc.process();
    expect(changes.map((c) => [c.prefix, c.best?.peer.id, c.reason, c.previous])).to.deep.equal([
      ['10.244.1.0/24', '10.0.0.2', 'local-pref', null],
      ['10.244.2.0/24', '10.0.0.1', 'only-path', null],
    ]);
    expect(changes[0].nextHops).to.deep.equal(['10.0.0.2']);
    expect(loc.process()).to.deep.equal([]);
    // Withdraw the best: falls back to A.
    const prevBest = loc.lookup('10.244.1.0/24')!.best;
    b.apply(v4Update([], {}, ['10.244.1.0/24']), 0);
    const [c] = loc.process();
    expect(c.best!.peer.id).to.equal('10.0.0.1');
    expect(c.previous).to.equal(prevBest);
    expect(c.previousNextHops).to.deep.equal(['10.0.0.2']);
    // Withdraw the last path: best null, destination gone.
    a.apply(v4Update([], {}, ['10.244.1.0/24']), 0);
    const [gone] = loc.process();
    expect(gone.best).to.equal(null);
    expect(gone.nextHops).to.deep.equal([]);
    expect(loc.lookup('10.244.1.0/24')).to.equal(undefined);
  });

  it('a withdraw and re-announce within one round is one event', () => {
    const { loc, mk } = setup();
    const a = mk('10.0.0.1');
    a.apply(v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    loc.process();
    const before = loc.lookup('10.244.1.0/24')!.best;
    a.apply(v4Update([], {}, ['10.244.1.0/24']), 0);
    a.apply(v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    const changes = loc.process();
    // A new Route object (re-announced) is a change of best path object, reported once.
    expect(changes.length).to.equal(1);
    expect(changes[0].previous).to.equal(before);
  });

  it('locally originated routes win and carry no next hop for the FIB', () => {
    const { loc, mk } = setup();
    const a = mk('10.0.0.1');
    a.apply(v4Update(['10.244.7.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1', localPref: 500 }), 0);
    loc.originate('10.244.7.0/24');
    const [c] = loc.process();
    expect(c.best!.peer.kind).to.equal('local');
    expect(c.reason).to.equal('locally-originated');
    expect(c.nextHops).to.deep.equal([]);
    expect(loc.originate('10.244.7.0/24')).to.equal(c.best); // same attributes: same route
    loc.withdrawOriginated('10.244.7.0/24');
    expect(loc.process()[0].best!.peer.id).to.equal('10.0.0.1');
  });

  it('multipath next hops reach the change event; next-hop invalidation re-runs the decision', () => {
    const { loc, mk } = setup(4);
    const t1 = mk('172.16.0.1', 'ebgp', 65100);
    const t2 = mk('172.16.0.2', 'ebgp', 65100);
    t1.apply(v4Update(['0.0.0.0/0'], { origin: 0, asPath: seq(65100), nextHop: '172.16.0.1' }), 0);
    t2.apply(v4Update(['0.0.0.0/0'], { origin: 0, asPath: seq(65100), nextHop: '172.16.0.2' }), 0);
    const [c] = loc.process();
    expect(c.nextHops).to.deep.equal(['172.16.0.1', '172.16.0.2']);
    expect(c.multipath.length).to.equal(2);
    loc.setResolver((nh) => (nh === '172.16.0.1' ? null : { igpCost: 0 }));
    const [d] = loc.process();
    expect(d.nextHops).to.deep.equal(['172.16.0.2']);
    expect(d.best!.peer.id).to.equal('172.16.0.2');
    const ex = loc.explain('0.0.0.0/0')!;
    expect(ex.trace.ineligible.map((i) => i.why)).to.deep.equal(['unresolvable-next-hop']);
  });

  it('a single-path destination decided again reports only what changed: nothing, its loss, its return', () => {
    const { loc, mk } = setup();
    const a = mk('10.0.0.1');
    a.apply(v4Update(['10.244.1.0/24', '10.244.2.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    a.apply(v4Update(['10.244.3.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.9' }), 0);
    expect(loc.process().length).to.equal(3);
    const path = (prefix: string) => loc.lookup(prefix)!.first;
    // Every destination decided again, the same answer: no change is reported.
    loc.invalidateNextHops();
    expect(loc.process()).to.deep.equal([]);
    expect(loc.bestCount()).to.equal(3);
    // RFC 4271 §9.1.2: one next hop becomes unresolvable; only its destination loses its best.
    loc.setResolver((nh) => (nh === '10.0.0.9' ? null : { igpCost: 0 }));
    const lost = loc.process();
    expect(lost.map((c) => [c.prefix, c.previous, c.best, c.reason])).to.deep.equal([['10.244.3.0/24', path('10.244.3.0/24'), null, 'no-eligible-path']]);
    expect([loc.bestCount(), loc.lookup('10.244.3.0/24')!.best]).to.deep.equal([2, null]);
    // And back: reported with no previous best.
    loc.setResolver(() => ({ igpCost: 0 }));
    const back = loc.process();
    expect(back.map((c) => [c.prefix, c.previous, c.best, c.reason])).to.deep.equal([['10.244.3.0/24', null, path('10.244.3.0/24'), 'only-path']]);
    expect(loc.bestCount()).to.equal(3);
  });

  it('deferred families keep their pending destinations until released', () => {
    const { loc, mk } = setup();
    const a = mk('10.0.0.1');
    a.apply(v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    expect(loc.process(() => true)).to.deep.equal([]);
    expect(loc.pending).to.equal(1);
    expect(loc.process(() => false).length).to.equal(1);
    expect(loc.pending).to.equal(0);
  });

  it('bestCount follows destinations gaining and losing their best path', () => {
    const { loc, mk } = setup();
    const a = mk('10.0.0.1');
    a.apply(v4Update(['10.244.1.0/24', '10.244.2.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    expect(loc.bestCount()).to.equal(0); // not decided yet
    loc.process();
    expect(loc.bestCount('ipv4-unicast')).to.equal(2);
    expect(loc.bestCount('ipv6-unicast')).to.equal(0);
    a.apply(v4Update([], {}, ['10.244.1.0/24']), 0);
    loc.process();
    expect(loc.bestCount()).to.equal(1);
    expect(loc.lookup('10.244.1.0/24')).to.equal(undefined);
  });

  it('property: the Loc-RIB ends in the same state whatever order the UPDATEs arrived in', () => {
    const op = fc.record({
      peer: fc.integer({ min: 0, max: 3 }),
      prefix: fc.integer({ min: 0, max: 5 }),
      localPref: fc.constantFrom(100, 200),
      med: fc.option(fc.constantFrom(0, 10), { nil: undefined }),
      path: fc.constantFrom<number[]>([], [65100], [65200], [65100, 65300]),
    });
    fc.assert(
      fc.property(fc.uniqueArray(op, { maxLength: 20, selector: (o) => `${o.peer}/${o.prefix}` }), fc.func(fc.integer()), (ops, rank) => {
        const run = (order: typeof ops) => {
          const { loc, mk } = setup(2);
          const peers = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'].map((id) => mk(id));
          for (const o of order) {
            peers[o.peer].apply(v4Update([`10.244.${o.prefix}.0/24`], { origin: 0, asPath: o.path.length ? seq(...o.path) : [], nextHop: peers[o.peer].peer.id, localPref: o.localPref, med: o.med }), 0);
          }
          loc.process();
          expect(loc.bestCount('ipv4-unicast')).to.equal([...loc.bests('ipv4-unicast')].length);
          return [...loc.bests()].map((d) => [d.prefix, d.best!.peer.id, d.reason, d.multipath.map((r) => r.peer.id)]).sort();
        };
        const shuffled = ops.map((o, i) => ({ o, k: rank(i) })).sort((a, b) => a.k - b.k).map((x) => x.o);
        expect(run(shuffled)).to.deep.equal(run(ops));
      }),
      { numRuns: 150 },
    );
  });
});
