// The RIB facade as the speaker drives it: a route reflector with clients, a non-client and a
// ToR; UPDATEs in, one processing round, UPDATEs out per update group (RFC 4456 §6 end to end),
// graceful restart of a client (RFC 4724 §4.2) and soft reconfiguration.
import { expect } from 'chai';
import { Rib, UnknownPeerError } from '../../../src/rib/rib';
import type { GroupTx } from '../../../src/rib/adj-rib-out';
import type { ExportProfile } from '../../../src/policy/export';
import type { UpdateMessage } from '../../../src/wire/types';
import { GracefulRestartReceiver } from '../../../src/rib/graceful-restart';
import { decodeMessage } from '../../../src/wire';
import { peer, seq, v4Update } from './fixtures';

const tx: GroupTx = { families: ['ipv4-unicast'], as4: true, addPath: new Set(), extendedMessage: false };
const base: Omit<ExportProfile, 'peerKind' | 'rrClient'> = {
  localAs: 65000, routerId: '10.0.0.100', clusterId: '10.0.0.100', nextHopIPv4: '10.0.0.100', keepOriginalNextHop: false, nextHopSelf: false,
};
const clients: ExportProfile = { ...base, peerKind: 'ibgp', rrClient: true };
const nonClients: ExportProfile = { ...base, peerKind: 'ibgp', rrClient: false };
const tors: ExportProfile = { ...base, peerKind: 'ebgp', rrClient: false };

function prefixesOf(msgs: UpdateMessage[]): string[] {
  return msgs.flatMap((m) => m.nlri.map((n) => n.prefix)).sort();
}

function reflector() {
  const rib = new Rib({ localAs: 65000, routerId: '10.0.0.100', clusterId: '10.0.0.100', pools: ['10.244.0.0/16'] });
  const a = peer('10.0.0.1', { rrClient: true, routerId: '10.0.0.1' });
  const b = peer('10.0.0.2', { rrClient: true, routerId: '10.0.0.2' });
  const c = peer('10.0.0.3', { routerId: '10.0.0.3' });
  const tor = peer('172.16.0.1', { kind: 'ebgp', asn: 65100, routerId: '172.16.0.1' });
  rib.addPeer(a, { kind: 'cluster', nodeAddresses: ['10.0.0.1'] });
  rib.addPeer(b, { kind: 'cluster', nodeAddresses: ['10.0.0.2'] });
  rib.addPeer(c, { kind: 'cluster', nodeAddresses: ['10.0.0.3'] });
  rib.addPeer(tor, { kind: 'accept-all', rejectDefault: false });
  rib.joinGroup(a.id, clients, tx);
  rib.joinGroup(b.id, clients, tx);
  rib.joinGroup(c.id, nonClients, tx);
  rib.joinGroup(tor.id, tors, tx);
  return { rib, a, b, c, tor };
}

describe('rib/rib (route reflector end to end)', () => {
  it('clients share one update group; its messages are computed once for both', () => {
    const { rib, a, b } = reflector();
    expect(rib.group(a.id)).to.equal(rib.group(b.id));
    expect(rib.updateGroups().length).to.equal(3);
  });

  it('RFC 4456 §6: a client route goes to clients, non-clients and eBGP; a non-client route to clients and eBGP only', () => {
    const { rib, a, c, tor } = reflector();
    rib.receive(a.id, v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1', localPref: 100 }), 0);
    rib.receive(c.id, v4Update(['10.244.3.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.3', localPref: 100 }), 0);
    const { changes, outputs } = rib.process();
    expect(changes.length).to.equal(2);
    const byGroup = new Map(outputs.map((o) => [o.members.join(','), o.messages]));
    expect(prefixesOf(byGroup.get('10.0.0.1,10.0.0.2')!)).to.deep.equal(['10.244.1.0/24', '10.244.3.0/24']);
    expect(prefixesOf(byGroup.get('10.0.0.3')!)).to.deep.equal(['10.244.1.0/24']);
    expect(prefixesOf(byGroup.get('172.16.0.1')!)).to.deep.equal(['10.244.1.0/24', '10.244.3.0/24']);
    const reflected = byGroup.get('10.0.0.3')![0].attributes;
    expect(reflected).to.deep.include({ originatorId: '10.0.0.1', clusterList: ['10.0.0.100'], nextHop: '10.0.0.1' });
    const external = byGroup.get('172.16.0.1')![0].attributes;
    expect(external).to.deep.include({ nextHop: '10.0.0.100', asPath: seq(65000) });
    expect(external.originatorId).to.equal(undefined);
    // An eBGP route goes to everyone.
    rib.receive(tor.id, v4Update(['0.0.0.0/0'], { origin: 0, asPath: seq(65100), nextHop: '172.16.0.1' }), 0);
    const second = rib.process();
    expect(second.outputs.length).to.equal(3);
  });

  it('RFC 4456 §8: a route reflected back to us is dropped', () => {
    const { rib, a } = reflector();
    const r = rib.receive(a.id, v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1', clusterList: ['10.0.0.100'] }), 0);
    expect(r.rejected).to.equal(1);
    expect(rib.adjRibIn(a.id).get('ipv4-unicast', '10.244.1.0/24')!.rejected).to.equal('cluster-loop');
    expect(rib.process().changes).to.deep.equal([]);
  });

  it('our own block is advertised with our node address as next hop', () => {
    const { rib } = reflector();
    rib.locRib.originate('10.244.100.0/24');
    const { outputs } = rib.process();
    for (const o of outputs) {
      expect(prefixesOf(o.messages)).to.deep.equal(['10.244.100.0/24']);
      expect(o.messages[0].attributes.nextHop).to.equal('10.0.0.100');
    }
  });

  it('RFC 4724 §4.2: a client restarting keeps its routes as stale until End-of-RIB, then stale leftovers go', () => {
    const { rib, a } = reflector();
    const gr = new GracefulRestartReceiver(a.id);
    gr.sessionUp(0, { code: 64, kind: 'graceful-restart', restarting: false, notification: false, restartTime: 120, families: [{ afi: 1, safi: 1, forwardingPreserved: true }] }, ['ipv4-unicast']);
    rib.receive(a.id, v4Update(['10.244.1.0/24', '10.244.2.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    rib.process();
    const plan = gr.sessionDown(10, ['ipv4-unicast']);
    for (const f of plan.markStale) rib.adjRibIn(a.id).markStale(f);
    rib.leaveGroup(a.id);
    // Stale routes keep forwarding and are still advertised: no change.
    expect(rib.process().changes).to.deep.equal([]);
    gr.sessionUp(20, { code: 64, kind: 'graceful-restart', restarting: true, notification: false, restartTime: 120, families: [{ afi: 1, safi: 1, forwardingPreserved: true }] }, ['ipv4-unicast']);
    rib.joinGroup(a.id, clients, tx);
    rib.receive(a.id, v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 30);
    const eor = rib.receive(a.id, { type: 'update', withdrawn: [], attributes: {}, nlri: [] }, 40);
    expect(eor.endOfRib).to.equal('ipv4-unicast');
    for (const f of gr.endOfRib(eor.endOfRib!)) rib.adjRibIn(a.id).purgeStale(f);
    const { changes } = rib.process();
    expect(changes.map((c) => [c.prefix, c.best])).to.deep.equal([['10.244.2.0/24', null]]);
  });

  it('soft reconfiguration after a pool change; unknown peers are a typed error', () => {
    const { rib, a } = reflector();
    rib.receive(a.id, v4Update(['10.250.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    expect(rib.process().changes).to.deep.equal([]);
    rib.importPolicy.setPools(['10.250.0.0/16']);
    rib.reapplyImport(1);
    expect(rib.process().changes.map((c) => c.prefix)).to.deep.equal(['10.250.1.0/24']);
    expect(() => rib.receive('nope', v4Update([], {}), 0)).to.throw(UnknownPeerError, /peer nope/);
  });

  it('route refresh goes to the asking peer only, after the group is flushed', () => {
    const { rib, a, b } = reflector();
    rib.receive(a.id, v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    rib.process();
    rib.receive(a.id, v4Update(['10.244.2.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    // Decided and queued in the group, not yet flushed (the speaker's round is not over).
    rib.group(b.id)!.routesChanged(rib.locRib.process());
    const r = rib.routeRefresh(b.id, 'ipv4-unicast', true);
    expect(prefixesOf(r.toGroup)).to.deep.equal(['10.244.2.0/24']);
    expect(prefixesOf(r.toPeer.filter((m): m is UpdateMessage => m.type === 'update'))).to.deep.equal(['10.244.1.0/24', '10.244.2.0/24']);
    expect(r.toPeer[0]).to.deep.equal({ type: 'route-refresh', afi: 1, safi: 1, subtype: 1 });
    expect(r.toPeer.at(-1)).to.deep.equal({ type: 'route-refresh', afi: 1, safi: 1, subtype: 2 });
    expect(() => rib.routeRefresh('nope', 'ipv4-unicast', false)).to.throw(UnknownPeerError);
  });

  it('a new BGP Identifier of a peer is used as ORIGINATOR_ID from then on', () => {
    const { rib, a, c } = reflector();
    rib.receive(a.id, v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 0);
    const first = rib.process().outputs.find((o) => o.members.includes(c.id))!;
    expect(first.messages[0].attributes.originatorId).to.equal('10.0.0.1');
    rib.setPeerRouterId(a.id, '9.9.9.9');
    rib.adjRibIn(a.id).clear();
    rib.receive(a.id, v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), 1);
    const second = rib.process().outputs.find((o) => o.members.includes(c.id))!;
    expect(second.messages[0].attributes.originatorId).to.equal('9.9.9.9');
    // Routes kept across a restart (stale) are re-exported with the new identifier too.
    rib.adjRibIn(a.id).markStale('ipv4-unicast');
    expect(rib.process().outputs).to.deep.equal([]);
    rib.setPeerRouterId(a.id, '8.8.8.8');
    const third = rib.process().outputs.find((o) => o.members.includes(c.id))!;
    expect(third.messages[0].attributes.originatorId).to.equal('8.8.8.8');
  });

  it('IPv6: our own block goes out in MP_REACH with our global next hop, encodable once for the group', () => {
    const rib = new Rib({ localAs: 65000, routerId: '10.0.0.100', pools: ['fd00:244::/48'] });
    const m = peer('10.0.0.1', { routerId: '10.0.0.1' });
    rib.addPeer(m, { kind: 'cluster', nodeAddresses: ['fd00::1'] });
    const v6tx: GroupTx = { families: ['ipv4-unicast', 'ipv6-unicast'], as4: true, addPath: new Set(), extendedMessage: false };
    const joined = rib.joinGroup(m.id, { ...clients, rrClient: false, clusterId: null, nextHopIPv6: 'fd00::100' }, v6tx);
    expect(joined.toNew.length).to.equal(2); // two End-of-RIB markers
    rib.locRib.originate('fd00:244:0:64::/64');
    const [out] = rib.process().outputs;
    expect(out.messages[0].attributes.mpReach).to.deep.equal({ afi: 2, safi: 1, nextHops: ['fd00::100'], nlri: [{ prefix: 'fd00:244:0:64::/64' }] });
    const [bytes] = out.group.encode(out.messages);
    const back = decodeMessage(bytes, out.group.codecContext()) as UpdateMessage;
    expect(back.attributes.mpReach!.nlri).to.deep.equal([{ prefix: 'fd00:244:0:64::/64' }]);
    expect(back.attributes.localPref).to.equal(100);
  });

  it('moveGroup: a member whose profile changed gets only the difference between the two Adj-RIBs-Out (RFC 4271 §9.2)', () => {
    const { rib, a, c } = reflector();
    rib.receive(a.id, v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1', localPref: 100 }), 0);
    rib.receive(c.id, v4Update(['10.244.3.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.3', localPref: 100 }), 0);
    rib.process();
    // c, a non-client, has the client's route only; as a client it also gets its own back.
    c.rrClient = true;
    const up = rib.moveGroup(c.id, clients, tx);
    expect(up.moved).to.equal(true);
    expect(up.group).to.equal(rib.group(a.id));
    expect(up.toExisting).to.deep.equal([]);
    expect(prefixesOf(up.toPeer)).to.deep.equal(['10.244.3.0/24']);
    expect(up.toPeer.every((m) => m.withdrawn.length === 0)).to.equal(true);
    expect(rib.updateGroups().length).to.equal(2); // the empty non-client group is gone
    expect(rib.moveGroup(c.id, clients, tx)).to.deep.include({ moved: false, toPeer: [] });
    // And back: the route it no longer gets is withdrawn, nothing announced.
    c.rrClient = false;
    const down = rib.moveGroup(c.id, nonClients, tx);
    expect(prefixesOf(down.toPeer)).to.deep.equal([]);
    expect(down.toPeer.flatMap((m) => m.withdrawn.map((w) => w.prefix))).to.deep.equal(['10.244.3.0/24']);
    // A new CLUSTER_ID: the same prefixes, re-sent with the new CLUSTER_LIST.
    const moved = rib.moveGroup(a.id, { ...clients, clusterId: '10.9.9.9' }, tx);
    expect(prefixesOf(moved.toPeer)).to.deep.equal(['10.244.1.0/24', '10.244.3.0/24']);
    expect(moved.toPeer.map((m) => m.attributes.clusterList)).to.deep.equal([['10.9.9.9'], ['10.9.9.9']]);
  });

  it('updatePeerRole: a non-client becoming a client is reflected to non-clients from the next round (RFC 4456 §6)', () => {
    const { rib, c } = reflector();
    const d = peer('10.0.0.4', { routerId: '10.0.0.4' });
    rib.addPeer(d, { kind: 'cluster' });
    rib.joinGroup(d.id, nonClients, tx);
    rib.receive(c.id, v4Update(['10.244.3.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.3', localPref: 100 }), 0);
    const first = rib.process();
    expect(first.outputs.find((o) => o.members.includes(d.id))).to.equal(undefined);
    expect(rib.updatePeerRole(c.id, { rrClient: true, importLocalPref: 100 })).to.equal(true);
    expect(rib.updatePeerRole(c.id, { rrClient: true, importLocalPref: 100 })).to.equal(false);
    const second = rib.process();
    const toD = second.outputs.find((o) => o.members.includes(d.id))!;
    expect(prefixesOf(toD.messages)).to.deep.equal(['10.244.3.0/24']);
    expect(() => rib.updatePeerRole('nope', { rrClient: true, importLocalPref: 100 })).to.throw(UnknownPeerError);
  });

  it('setPools and setClusterId re-run import (soft reconfiguration inbound; RFC 4456 §8 loop check)', () => {
    const { rib, a } = reflector();
    const rejected: string[] = [];
    rib.adjRibIn(a.id).onReject = (_f, prefix, reason) => rejected.push(`${prefix} ${reason}`);
    rib.receive(a.id, v4Update(['10.244.1.0/24', '10.245.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1', localPref: 100, clusterList: ['10.9.9.9'] }), 0);
    expect(rib.process().changes.map((ch) => ch.prefix)).to.deep.equal(['10.244.1.0/24']);
    expect(rejected).to.deep.equal(['10.245.1.0/24 outside-pool']);
    rib.setPools(['10.244.0.0/16', '10.245.0.0/16'], 1);
    expect(rib.process().changes.map((ch) => [ch.prefix, ch.best === null])).to.deep.equal([['10.245.1.0/24', false]]);
    rib.setClusterId('10.9.9.9', 2);
    expect(rib.clusterId).to.equal('10.9.9.9');
    expect(rib.process().changes.map((ch) => [ch.prefix, ch.best === null]).sort()).to.deep.equal([['10.244.1.0/24', true], ['10.245.1.0/24', true]]);
    expect(rejected.slice(1).sort()).to.deep.equal(['10.244.1.0/24 cluster-loop', '10.245.1.0/24 cluster-loop']);
  });
});
