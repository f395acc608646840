// Update groups tag what they pack with its origin (UpdateGroup.origin): a message whose routes
// all come from one peer names that peer, so the speaker can leave a route-reflector client's own
// routes out of what it sends that client (RFC 4456 §6: reflection is for the other clients; the
// originator would discard them by ORIGINATOR_ID, §8). Routes of several peers under one
// attribute set, our own routes, withdrawals and markers carry no origin and go to every member.
import { expect } from 'chai';
import { UpdateGroup, type GroupTx } from '../../../src/rib/adj-rib-out';
import { LocRib } from '../../../src/rib/loc-rib';
import { AdjRibIn } from '../../../src/rib/adj-rib-in';
import { ImportPolicy } from '../../../src/policy/import';
import type { ExportProfile } from '../../../src/policy/export';
import type { UpdateMessage } from '../../../src/wire/types';
import { endOfRib } from '../../../src/wire/eor';
import { peer, v4Update } from './fixtures';

const profile: ExportProfile = {
  peerKind: 'ibgp', rrClient: true, localAs: 65000, routerId: '10.0.0.100', clusterId: '10.0.0.100',
  nextHopIPv4: '10.0.0.100', nextHopIPv6: 'fd00::100', keepOriginalNextHop: false, nextHopSelf: false,
};
const tx: GroupTx = { families: ['ipv4-unicast'], as4: true, addPath: new Set(), extendedMessage: false };

function world() {
  const loc = new LocRib({ localAs: 65000, routerId: '10.0.0.100' });
  const policy = new ImportPolicy({ localAs: 65000, routerId: '10.0.0.100', clusterId: '10.0.0.100', pools: ['10.244.0.0/16'] });
  const clients = [1, 2, 3].map((i) => {
    const p = peer(`c${i}`, { rrClient: true, routerId: `10.0.0.${i}`, address: `10.0.0.${i}` });
    policy.setPeerRule(p.id, { kind: 'cluster' });
    return new AdjRibIn(p, loc.store, policy, loc);
  });
  return { loc, clients };
}

const prefixesOf = (msgs: UpdateMessage[]): string[] => msgs.flatMap((m) => m.nlri.map((n) => n.prefix));

describe('rib/adj-rib-out: message origins (no reflection back to the originating client)', () => {
  it('tags each client\'s reflected routes with that client, in flush(), table() and diffFrom()', () => {
    const { loc, clients } = world();
    clients[0].apply(v4Update(['10.244.1.0/24', '10.244.1.128/25'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    clients[1].apply(v4Update(['10.244.2.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.2' }), 0);
    const g = new UpdateGroup('k', profile, tx);
    g.routesChanged(loc.process());
    const msgs = g.flush();
    expect(msgs).to.have.length(2);
    const byOrigin = new Map(msgs.map((m) => [g.origin(m), prefixesOf([m])]));
    expect(byOrigin.get('c1')).to.deep.equal(['10.244.1.0/24', '10.244.1.128/25']);
    expect(byOrigin.get('c2')).to.deep.equal(['10.244.2.0/24']);
    // RFC 4456 §8: they carry their originator's BGP Identifier, which is why the sets differ.
    for (const m of msgs) expect(m.attributes.originatorId).to.equal(g.origin(m) === 'c1' ? '10.0.0.1' : '10.0.0.2');
    // The cached full table and a diff for a moving member are tagged the same way.
    const table = g.table('ipv4-unicast', true);
    expect(table.map((m) => g.origin(m))).to.have.members(['c1', 'c2', null]); // End-of-RIB: no origin
    expect(g.origin(endOfRib('ipv4-unicast'))).to.equal(null);
    const diff = g.diffFrom(new Map([['ipv4-unicast', new Map()]]));
    expect(diff.map((m) => g.origin(m)).sort()).to.deep.equal(['c1', 'c2']);
  });

  it('leaves untagged: withdrawals, our own routes, and an attribute set that routes of two peers share', () => {
    const { loc, clients } = world();
    const g = new UpdateGroup('k', profile, tx);
    // Routes that already carry an ORIGINATOR_ID keep it (RFC 4456 §8), so c2 and c3 can export
    // with the same outgoing attributes: that set has no single origin.
    const shared = { origin: 0 as const, asPath: [], nextHop: '10.0.0.9', originatorId: '10.0.0.9', clusterList: ['10.9.9.9'] };
    clients[1].apply(v4Update(['10.244.5.0/24'], shared), 0);
    clients[2].apply(v4Update(['10.244.6.0/24'], shared), 0);
    loc.originate('10.244.7.0/24', {}, 0);
    g.routesChanged(loc.process());
    const msgs = g.flush();
    expect(prefixesOf(msgs).sort()).to.deep.equal(['10.244.5.0/24', '10.244.6.0/24', '10.244.7.0/24']);
    for (const m of msgs) expect(g.origin(m), prefixesOf([m]).join()).to.equal(null);
    // A withdrawal goes to everyone (harmless to a peer that never had the route, RFC 4271 §9.1).
    clients[1].apply(v4Update([], {}, ['10.244.5.0/24']), 1);
    g.routesChanged(loc.process());
    const w = g.flush();
    expect(w).to.have.length(1);
    expect(w[0].withdrawn.map((n) => n.prefix)).to.deep.equal(['10.244.5.0/24']);
    expect(g.origin(w[0])).to.equal(null);
  });

  it('a set seen from one client keeps its tag when that client replaces its routes', () => {
    const { loc, clients } = world();
    const g = new UpdateGroup('k', profile, tx);
    clients[0].apply(v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1', med: 1 }), 0);
    g.routesChanged(loc.process());
    expect(g.flush().map((m) => g.origin(m))).to.deep.equal(['c1']);
    clients[0].apply(v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1', med: 2 }), 1);
    g.routesChanged(loc.process());
    const again = g.flush();
    expect(again.map((m) => m.attributes.med)).to.deep.equal([2]);
    expect(again.map((m) => g.origin(m))).to.deep.equal(['c1']);
  });
});
