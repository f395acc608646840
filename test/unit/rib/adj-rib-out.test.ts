// Adj-RIB-Out / update groups: diffs against what was sent (property: applying the messages to
// the previous state gives the new state), grouping by attributes, one computation for all
// members, joins from the group's state with End-of-RIB, route refresh with BoRR/EoRR.
import { expect } from 'chai';
import fc from 'fast-check';
import { UpdateGroup, updateGroupKey, type GroupTx } from '../../../src/rib/adj-rib-out';
import { LocRib } from '../../../src/rib/loc-rib';
import { AdjRibIn } from '../../../src/rib/adj-rib-in';
import { ImportPolicy } from '../../../src/policy/import';
import { attributesKey } from '../../../src/rib/attributes';
import type { ExportProfile } from '../../../src/policy/export';
import type { PathAttributes, UpdateMessage, BgpMessage } from '../../../src/wire/types';
import { encodeMessage, codecContext } from '../../../src/wire';
import { peer, v4Update, v6Update } from './fixtures';

const profile: ExportProfile = {
  peerKind: 'ibgp', rrClient: true, localAs: 65000, routerId: '10.0.0.100', clusterId: '10.0.0.100',
  nextHopIPv4: '10.0.0.100', nextHopIPv6: 'fd00::100', keepOriginalNextHop: false, nextHopSelf: false,
};
const tx: GroupTx = { families: ['ipv4-unicast', 'ipv6-unicast'], as4: true, addPath: new Set(), extendedMessage: false };

function world() {
  const loc = new LocRib({ localAs: 65000, routerId: '10.0.0.100' });
  const policy = new ImportPolicy({ localAs: 65000, routerId: '10.0.0.100', clusterId: '10.0.0.100', pools: ['10.244.0.0/16', 'fd00:244::/48'] });
  const peers = [1, 2, 3].map((i) => {
    const p = peer(`10.0.0.${i}`, { rrClient: true, routerId: `10.0.0.${i}` });
    policy.setPeerRule(p.id, { kind: 'cluster' });
    return new AdjRibIn(p, loc.store, policy, loc);
  });
  return { loc, peers };
}

/** The Adj-RIB-Out a member holds after receiving `msgs` on top of `state` (prefix → attributes key). */
function applyToModel(state: Map<string, string>, msgs: UpdateMessage[]): Map<string, string> {
  const out = new Map(state);
  for (const m of msgs) {
    for (const w of m.withdrawn) out.delete(w.prefix);
    for (const w of m.attributes.mpUnreach?.withdrawn ?? []) out.delete(w.prefix);
    const base: PathAttributes = { ...m.attributes };
    delete base.mpReach;
    delete base.mpUnreach;
    for (const n of m.nlri) out.set(n.prefix, attributesKey(base));
    if (m.attributes.mpReach) {
      const key = attributesKey({ ...base, mpReach: { ...m.attributes.mpReach, nlri: [] } });
      for (const n of m.attributes.mpReach.nlri) out.set(n.prefix, key);
    }
  }
  return out;
}

function sentModel(g: UpdateGroup): Map<string, string> {
  const out = new Map<string, string>();
  for (const fam of tx.families) for (const [prefix, a] of g.sentRoutes(fam)) out.set(prefix, a.key);
  return out;
}

describe('rib/adj-rib-out', () => {
  it('groups prefixes with identical outgoing attributes into shared UPDATEs', () => {
    const { loc, peers } = world();
    const prefixes = Array.from({ length: 600 }, (_, i) => `10.244.${i >> 2}.${(i & 3) * 64}/26`);
    peers[0].apply(v4Update(prefixes.slice(0, 300), { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    peers[1].apply(v4Update(prefixes.slice(300), { origin: 0, asPath: [], nextHop: '10.0.0.2' }), 0);
    const g = new UpdateGroup('k', profile, tx);
    g.routesChanged(loc.process());
    const msgs = g.flush();
    // 300 × 5-octet NLRI = 1500 octets per attribute set: one message each.
    expect(msgs.length).to.equal(2);
    expect(msgs.map((m) => m.nlri.length)).to.deep.equal([300, 300]);
    expect(msgs[0].attributes.originatorId).to.equal('10.0.0.1');
    for (const m of msgs) expect(encodeMessage(m, codecContext()).length).to.be.at.most(4096);
    expect(g.flush()).to.deep.equal([]); // nothing left
  });

  it('property: the flushed messages turn the previous Adj-RIB-Out into the new one', () => {
    const prefixArb = fc.integer({ min: 0, max: 40 });
    const op = fc.record({ peer: fc.integer({ min: 0, max: 2 }), prefix: prefixArb, kind: fc.constantFrom('announce', 'withdraw', 'announce6'), med: fc.integer({ min: 0, max: 2 }) });
    fc.assert(
      fc.property(fc.array(fc.array(op, { maxLength: 25 }), { minLength: 1, maxLength: 5 }), (rounds) => {
        const { loc, peers } = world();
        const g = new UpdateGroup('k', profile, tx);
        let model = new Map<string, string>();
        for (const round of rounds) {
          for (const o of round) {
            const a = peers[o.peer];
            const nh = `10.0.0.${o.peer + 1}`;
            if (o.kind === 'announce') a.apply(v4Update([`10.244.${o.prefix}.0/24`], { origin: 0, asPath: [], nextHop: nh, med: o.med }), 0);
            else if (o.kind === 'announce6') a.apply(v6Update([`fd00:244:0:${o.prefix.toString(16)}::/64`], { origin: 0, asPath: [], med: o.med }, [`fd00::${o.peer + 1}`]), 0);
            else a.apply(v4Update([], {}, [`10.244.${o.prefix}.0/24`]), 0);
          }
          g.routesChanged(loc.process());
          const msgs = g.flush();
          model = applyToModel(model, msgs);
          expect(model).to.deep.equal(sentModel(g));
          // And the Adj-RIB-Out is exactly the export of the Loc-RIB's best paths.
          const fresh = new UpdateGroup('x', profile, tx);
          fresh.seed(loc);
          fresh.flush();
          expect(sentModel(g)).to.deep.equal(sentModel(fresh));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('a joining member gets the group state with End-of-RIB per family; existing members get only the diff', () => {
    const { loc, peers } = world();
    peers[0].apply(v4Update(['10.244.1.0/24', '10.244.2.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    peers[0].apply(v6Update(['fd00:244:0:1::/64'], { origin: 0, asPath: [] }, ['fd00::1']), 0);
    const g = new UpdateGroup(updateGroupKey(profile, tx), profile, tx);
    loc.process();
    g.seed(loc);
    const first = g.join('client-a');
    expect(first.toExisting).to.deep.equal([]);
    expect(first.toNew.length).to.equal(4); // v4 UPDATE, v4 EoR, v6 UPDATE, v6 EoR
    expect(first.toNew[1]).to.deep.equal({ type: 'update', withdrawn: [], attributes: {}, nlri: [] });
    expect(first.toNew[3].attributes.mpUnreach).to.deep.equal({ afi: 2, safi: 1, withdrawn: [] });
    // A change arrives, not yet flushed, and a second member joins.
    peers[1].apply(v4Update(['10.244.3.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.2' }), 0);
    g.routesChanged(loc.process());
    const second = g.join('client-b');
    expect(second.toExisting.flatMap((m) => m.nlri.map((n) => n.prefix))).to.deep.equal(['10.244.3.0/24']);
    expect(second.toNew.filter((m) => m.nlri.length > 0).flatMap((m) => m.nlri.map((n) => n.prefix)).sort()).to.deep.equal(['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24']);
    // The table is computed once and shared until the Adj-RIB-Out changes.
    expect(g.table('ipv4-unicast', false)).to.equal(g.table('ipv4-unicast', false));
    expect(g.leave('client-a')).to.equal(false);
    expect(g.leave('client-b')).to.equal(true);
  });

  it('RFC 2918 / RFC 7313: route refresh re-sends the table, framed by BoRR/EoRR when enhanced', () => {
    const { loc, peers } = world();
    peers[0].apply(v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    const g = new UpdateGroup('k', profile, tx);
    g.routesChanged(loc.process());
    g.flush();
    const plain = g.refresh('ipv4-unicast', false);
    expect(plain.length).to.equal(1);
    expect((plain[0] as UpdateMessage).nlri).to.deep.equal([{ prefix: '10.244.1.0/24' }]);
    const enhanced: BgpMessage[] = g.refresh('ipv4-unicast', true);
    expect(enhanced[0]).to.deep.equal({ type: 'route-refresh', afi: 1, safi: 1, subtype: 1 });
    expect(enhanced.at(-1)).to.deep.equal({ type: 'route-refresh', afi: 1, safi: 1, subtype: 2 });
    expect(enhanced.length).to.equal(3);
  });

  it('refused exports are counted and withdrawn; the export filter applies per prefix', () => {
    const { loc, peers } = world();
    peers[0].apply(v4Update(['10.244.1.0/24', '10.244.2.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    const changes = loc.process();
    const noRR: ExportProfile = { ...profile, clusterId: null };
    const g = new UpdateGroup('k', noRR, tx);
    g.routesChanged(changes);
    expect(g.flush()).to.deep.equal([]);
    expect(g.refused.get('ibgp-split-horizon')).to.equal(2);
    const filtered = new UpdateGroup('f', { ...profile, exportPrefixes: ['10.244.2.0/24'] }, tx);
    filtered.routesChanged(changes);
    expect(filtered.flush().flatMap((m) => m.nlri.map((n) => n.prefix))).to.deep.equal(['10.244.2.0/24']);
    expect(filtered.refused.get('export-filtered')).to.equal(1);
  });

  it('ADD-PATH toward the group: one path per prefix with path identifier 1, sizes +4', () => {
    const { loc, peers } = world();
    peers[0].apply(v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    const g = new UpdateGroup('k', profile, { ...tx, addPath: new Set(['ipv4-unicast']) });
    g.routesChanged(loc.process());
    const [m] = g.flush();
    expect(m.nlri).to.deep.equal([{ prefix: '10.244.1.0/24', pathId: 1 }]);
  });
  it('regression: equal attribute sets of an IPv4 and an IPv6 route are exported per family (IPv6 gets MP_REACH with its next hop)', () => {
    // Our own blocks: the same attribute set (no next hop; the export supplies ours) for both families.
    const loc = new LocRib({ localAs: 65000, routerId: '10.0.0.100' });
    const attrs: PathAttributes = { origin: 0, asPath: [] };
    loc.originate('10.244.7.0/24', attrs, 0);
    loc.originate('fd00:244:7::/64', attrs, 0);
    const g = new UpdateGroup('k', profile, tx);
    g.routesChanged(loc.process());
    const msgs = g.flush();
    const v4 = msgs.filter((m) => m.nlri.length > 0);
    const v6 = msgs.filter((m) => m.attributes.mpReach);
    expect(v4.map((m) => m.nlri.map((n) => n.prefix))).to.deep.equal([['10.244.7.0/24']]);
    expect(v4[0].attributes.nextHop).to.equal('10.0.0.100');
    expect(v6).to.have.length(1);
    expect(v6[0].attributes.mpReach!.nlri.map((n) => n.prefix)).to.deep.equal(['fd00:244:7::/64']);
    expect(v6[0].attributes.mpReach!.nextHops).to.deep.equal(['fd00::100']);
    expect(v6[0].attributes.nextHop).to.equal(undefined);
    // Every message encodes (the IPv6 one failed for lack of a next hop before the fix).
    for (const m of msgs) expect(() => encodeMessage(m, codecContext())).not.to.throw();
  });
});
