// Decision process (RFC 4271 §9.1, RFC 4456 §9): every step with the recorded reason, ECMP,
// eligibility, and order independence.
import { expect } from 'chai';
import fc from 'fast-check';
import { decide, multipathNextHops, type DecisionConfig, type DecisionTrace } from '../../../src/rib/decision';
import { path, peer, seq } from './fixtures';

function cfg(over: Partial<DecisionConfig> = {}): DecisionConfig {
  return { localAs: 65000, maxPaths: 1, alwaysCompareMed: false, preferNonStale: false, resolve: () => ({ igpCost: 0 }), ...over };
}

const A = peer('10.0.0.1', { routerId: '1.1.1.1' });
const B = peer('10.0.0.2', { routerId: '2.2.2.2' });
const E1 = peer('172.16.0.1', { kind: 'ebgp', asn: 65100, routerId: '3.3.3.3' });
const E2 = peer('172.16.0.2', { kind: 'ebgp', asn: 65200, routerId: '4.4.4.4' });

describe('rib/decision', () => {
  it('a single eligible path wins as only-path', () => {
    const r = path(A, {});
    const d = decide([r], cfg());
    expect(d.best).to.equal(r);
    expect(d.reason).to.equal('only-path');
  });

  it('§9.1.2: an unresolvable next hop makes a path ineligible', () => {
    const r = path(A, { nextHop: '198.51.100.9' });
    const ok = path(B, { nextHop: '192.0.2.1', localPref: 50 });
    const resolve = (nh: string) => (nh === '198.51.100.9' ? null : { igpCost: 0 });
    expect(decide([r], cfg({ resolve })).best).to.equal(null);
    expect(decide([r], cfg({ resolve })).reason).to.equal('no-eligible-path');
    const trace: DecisionTrace = { ineligible: [], eliminated: [] };
    const d = decide([r, ok], cfg({ resolve }), trace);
    expect(d.best).to.equal(ok);
    expect(trace.ineligible).to.deep.equal([{ route: r, why: 'unresolvable-next-hop' }]);
  });

  it('§9.1.2: a path through our own AS is not eligible', () => {
    const r = path(E1, { asPath: seq(65100, 65000, 65300) });
    expect(decide([r], cfg()).best).to.equal(null);
  });

  it('locally originated paths win first', () => {
    const local = peer('local', { kind: 'local' });
    const l = path(local, { localPref: 10 });
    const r = path(A, { localPref: 500 });
    const d = decide([r, l], cfg());
    expect(d.best).to.equal(l);
    expect(d.reason).to.equal('locally-originated');
  });

  it('§9.1.1: highest LOCAL_PREF for iBGP; eBGP uses the configured preference (§5.1.5)', () => {
    const low = path(A, { localPref: 100 });
    const high = path(B, { localPref: 200 });
    expect(decide([low, high], cfg())).to.include({ best: high, reason: 'local-pref' });
    // LOCAL_PREF received from an eBGP peer is ignored: E1's 1000 counts as its importLocalPref 100.
    const ext = path(E1, { localPref: 1000, asPath: seq(65100) });
    const int = path(B, { localPref: 150 });
    expect(decide([ext, int], cfg())).to.include({ best: int, reason: 'local-pref' });
    const pref = peer('172.16.0.9', { kind: 'ebgp', asn: 65100, importLocalPref: 300 });
    const ext2 = path(pref, { asPath: seq(65100) });
    expect(decide([ext2, int], cfg())).to.include({ best: ext2, reason: 'local-pref' });
  });

  it('§9.1.2.2 a: shortest AS_PATH; AS_SET counts 1, confederation segments 0', () => {
    const long = path(E1, { asPath: seq(65100, 65101, 65102) });
    const withSet = path(E2, { asPath: [{ type: 2, asns: [65200] }, { type: 1, asns: [1, 2, 3, 4] }, { type: 3, asns: [7, 8, 9] }] });
    expect(decide([long, withSet], cfg())).to.include({ best: withSet, reason: 'as-path-length' });
  });

  it('§9.1.2.2 b: lowest ORIGIN', () => {
    const inc = path(A, { origin: 2 });
    const egp = path(B, { origin: 1 });
    expect(decide([inc, egp], cfg())).to.include({ best: egp, reason: 'origin' });
  });

  it('§9.1.2.2 c: lowest MED among routes from the same neighbouring AS only', () => {
    const a = path(E1, { asPath: seq(65100), med: 50 });
    const b = path(peer('172.16.0.5', { kind: 'ebgp', asn: 65100, routerId: '9.9.9.9' }), { asPath: seq(65100), med: 10 });
    expect(decide([a, b], cfg())).to.include({ best: b, reason: 'med' });
    // Different neighbouring AS: MED not compared; falls through to router id.
    const c = path(E2, { asPath: seq(65200), med: 0 });
    const d = decide([a, c], cfg());
    expect(d.best).to.equal(a);
    expect(d.reason).to.equal('router-id');
    // always-compare-med compares across ASes.
    expect(decide([a, c], cfg({ alwaysCompareMed: true }))).to.include({ best: c, reason: 'med' });
    // A missing MED is the lowest value.
    const none = path(peer('172.16.0.6', { kind: 'ebgp', asn: 65100, routerId: '9.9.9.10' }), { asPath: seq(65100) });
    expect(decide([b, none], cfg())).to.include({ best: none, reason: 'med' });
  });

  it('§9.1.2.2 d: eBGP over iBGP', () => {
    const i = path(A, { asPath: seq(65100) });
    const e = path(E1, { asPath: seq(65100) });
    expect(decide([i, e], cfg())).to.include({ best: e, reason: 'ebgp-over-ibgp' });
  });

  it('§9.1.2.2 e: lowest IGP cost to the next hop', () => {
    const near = path(A, { nextHop: '192.0.2.1' });
    const far = path(B, { nextHop: '192.0.2.2' });
    const resolve = (nh: string) => ({ igpCost: nh === '192.0.2.1' ? 5 : 10 });
    expect(decide([far, near], cfg({ resolve }))).to.include({ best: near, reason: 'igp-cost' });
  });

  it('§9.1.2.2 f + RFC 4456 §9: lowest BGP Identifier, ORIGINATOR_ID in its place', () => {
    const a = path(A, {}); // router id 1.1.1.1
    const b = path(B, {}); // 2.2.2.2
    expect(decide([b, a], cfg())).to.include({ best: a, reason: 'router-id' });
    const reflected = path(B, { originatorId: '0.0.0.9' });
    expect(decide([a, reflected], cfg())).to.include({ best: reflected, reason: 'router-id' });
  });

  it('RFC 4456 §9: shorter CLUSTER_LIST, then §9.1.2.2 g lowest peer address', () => {
    const a = path(A, { originatorId: '5.5.5.5', clusterList: ['1.0.0.1', '1.0.0.2'] });
    const b = path(B, { originatorId: '5.5.5.5', clusterList: ['1.0.0.3'] });
    expect(decide([a, b], cfg())).to.include({ best: b, reason: 'cluster-list-length' });
    const c = path(peer('10.0.0.3', { routerId: '7.7.7.7' }), { originatorId: '5.5.5.5' });
    const d = path(peer('10.0.0.20', { routerId: '7.7.7.7' }), { originatorId: '5.5.5.5' });
    expect(decide([d, c], cfg())).to.include({ best: c, reason: 'peer-address' });
  });

  it('RFC 7911: paths of one peer are ordered by path identifier last', () => {
    const p1 = path(A, {}, '10.0.0.0/24', 7);
    const p2 = path(A, {}, '10.0.0.0/24', 3);
    expect(decide([p1, p2], cfg())).to.include({ best: p2, reason: 'path-id' });
  });

  it('RFC 4724 §4.2: stale paths are not demoted by default; preferNonStale demotes them', () => {
    const stale = path(A, {});
    stale.stale = true;
    const fresh = path(B, {});
    expect(decide([stale, fresh], cfg()).best).to.equal(stale); // router id 1.1.1.1 wins
    expect(decide([stale, fresh], cfg({ preferNonStale: true }))).to.include({ best: fresh, reason: 'non-stale' });
  });

  it('ECMP: paths equal through the IGP cost form the multipath set, up to maxPaths', () => {
    const tor1 = peer('172.16.0.1', { kind: 'ebgp', asn: 65100, routerId: '3.3.3.3' });
    const tor2 = peer('172.16.0.2', { kind: 'ebgp', asn: 65100, routerId: '3.3.3.4' });
    const tor3 = peer('172.16.0.3', { kind: 'ebgp', asn: 65100, routerId: '3.3.3.5' });
    const r1 = path(tor1, { asPath: seq(65100), nextHop: '172.16.0.1' }, '0.0.0.0/0');
    const r2 = path(tor2, { asPath: seq(65100), nextHop: '172.16.0.2' }, '0.0.0.0/0');
    const r3 = path(tor3, { asPath: seq(65100), nextHop: '172.16.0.3' }, '0.0.0.0/0');
    const d = decide([r3, r1, r2], cfg({ maxPaths: 2 }));
    expect(d.best).to.equal(r1);
    expect(d.reason).to.equal('router-id');
    expect(d.multipath).to.deep.equal([r1, r2]);
    expect(multipathNextHops(d.multipath)).to.deep.equal(['172.16.0.1', '172.16.0.2']);
    // A longer AS path is not part of the set.
    const longer = path(tor3, { asPath: seq(65100, 65100), nextHop: '172.16.0.3' }, '0.0.0.0/0');
    expect(decide([r1, longer], cfg({ maxPaths: 4 })).multipath).to.deep.equal([r1]);
    // Different IGP cost is not part of the set.
    const resolve = (nh: string) => ({ igpCost: nh === '172.16.0.2' ? 10 : 0 });
    expect(decide([r1, r2, r3], cfg({ maxPaths: 4, resolve })).multipath).to.deep.equal([r1, r3]);
  });

  it('the decision does not depend on the order paths arrived in (MED groups included)', () => {
    const peers = [A, B, E1, E2, peer('172.16.0.7', { kind: 'ebgp', asn: 65100, routerId: '4.4.4.5' })];
    const pathArb = fc.record({
      peer: fc.integer({ min: 0, max: peers.length - 1 }),
      localPref: fc.constantFrom(100, 200),
      asPath: fc.constantFrom<number[]>([65100], [65200], [65100, 65300], [65200, 65100]),
      origin: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
      med: fc.option(fc.constantFrom(0, 10, 20), { nil: undefined }),
      cost: fc.constantFrom(0, 5),
      pathId: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(pathArb, { minLength: 1, maxLength: 8, selector: (p) => `${p.peer}/${p.pathId}` }), fc.integer(), fc.boolean(), (specs, seed, acm) => {
        const routes = specs.map((s) => path(peers[s.peer], { localPref: s.localPref, asPath: seq(...s.asPath), origin: s.origin, med: s.med, nextHop: s.cost ? '192.0.2.5' : '192.0.2.1' }, '10.0.0.0/24', s.pathId));
        const resolve = (nh: string) => ({ igpCost: nh === '192.0.2.5' ? 5 : 0 });
        const c = cfg({ resolve, alwaysCompareMed: acm, maxPaths: 3 });
        const first = decide(routes, c);
        // A deterministic shuffle from the seed.
        const shuffled = routes.slice();
        let x = seed >>> 0;
        for (let i = shuffled.length - 1; i > 0; i--) {
          x = (x * 1103515245 + 12345) >>> 0;
          const j = x % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
        }
        const second = decide(shuffled, c);
        expect(second.best).to.equal(first.best);
        expect(second.reason).to.equal(first.reason);
        expect(second.multipath).to.deep.equal(first.multipath);
      }),
      { numRuns: 300 },
    );
  });
});
