// Export policy: iBGP split horizon (RFC 4271 §9.2), every RFC 4456 §6 reflection rule,
// ORIGINATOR_ID / CLUSTER_LIST on reflection (§8), and the eBGP rewrites (RFC 4271 §5.1).
import { expect } from 'chai';
import { exportAttributes, exportRefusal, type ExportProfile } from '../../../src/policy/export';
import { path, peer, seq } from '../rib/fixtures';
import { AttributeStore } from '../../../src/rib/attributes';
import { StandaloneRoute } from '../../../src/rib/route';

function profile(over: Partial<ExportProfile> = {}): ExportProfile {
  return {
    peerKind: 'ibgp', rrClient: false, localAs: 65000, routerId: '10.0.0.100', clusterId: null,
    nextHopIPv4: '10.0.0.100', nextHopIPv6: 'fd00::100', keepOriginalNextHop: false, nextHopSelf: false, ...over,
  };
}

const local = peer('local', { kind: 'local' });
const client = peer('10.0.0.1', { rrClient: true, routerId: '10.0.0.1' });
const nonClient = peer('10.0.0.2', { routerId: '10.0.0.2' });
const ebgp = peer('172.16.0.1', { kind: 'ebgp', asn: 65100, routerId: '172.16.0.1' });

describe('policy/export', () => {
  it('RFC 4271 §9.2: without reflection, iBGP-learned routes are not sent to iBGP peers', () => {
    const r = path(nonClient, { nextHop: '10.0.0.2' });
    expect(exportRefusal(r, profile())).to.equal('ibgp-split-horizon');
    expect(exportRefusal(r, profile({ peerKind: 'ebgp' }))).to.equal(null);
    expect(exportRefusal(path(ebgp, { asPath: seq(65100) }), profile())).to.equal(null);
    expect(exportRefusal(path(local, {}), profile())).to.equal(null);
  });

  it('RFC 4456 §6: from a client → clients and non-clients; from a non-client → clients only; from eBGP → all', () => {
    const rr = { clusterId: '1.1.1.1' };
    const fromClient = path(client, { nextHop: '10.0.0.1' });
    const fromNonClient = path(nonClient, { nextHop: '10.0.0.2' });
    const fromEbgp = path(ebgp, { asPath: seq(65100), nextHop: '172.16.0.1' });
    const clients = profile({ ...rr, rrClient: true });
    const nonClients = profile({ ...rr, rrClient: false });
    const external = profile({ ...rr, peerKind: 'ebgp' });
    expect(exportRefusal(fromClient, clients)).to.equal(null);
    expect(exportRefusal(fromClient, nonClients)).to.equal(null);
    expect(exportRefusal(fromClient, external)).to.equal(null);
    expect(exportRefusal(fromNonClient, clients)).to.equal(null);
    expect(exportRefusal(fromNonClient, nonClients)).to.equal('non-client-to-non-client');
    expect(exportRefusal(fromNonClient, external)).to.equal(null);
    for (const g of [clients, nonClients, external]) expect(exportRefusal(fromEbgp, g)).to.equal(null);
  });

  it('RFC 4456 §8: reflection sets ORIGINATOR_ID if absent, prepends CLUSTER_ID, keeps the next hop', () => {
    const g = profile({ clusterId: '1.1.1.1', rrClient: true });
    const first = exportAttributes(path(client, { nextHop: '10.0.0.1', localPref: 150, med: 7 }), g);
    expect(first.originatorId).to.equal('10.0.0.1');
    expect(first.clusterList).to.deep.equal(['1.1.1.1']);
    expect(first.nextHop).to.equal('10.0.0.1');
    expect(first.localPref).to.equal(150);
    expect(first.med).to.equal(7);
    const again = exportAttributes(path(nonClient, { nextHop: '10.0.0.9', originatorId: '10.0.0.9', clusterList: ['2.2.2.2'] }), g);
    expect(again.originatorId).to.equal('10.0.0.9');
    expect(again.clusterList).to.deep.equal(['1.1.1.1', '2.2.2.2']);
    // Routes not reflected (eBGP-learned, local) carry neither.
    const ext = exportAttributes(path(ebgp, { asPath: seq(65100), nextHop: '172.16.0.1' }), g);
    expect(ext.originatorId).to.equal(undefined);
    expect(ext.clusterList).to.equal(undefined);
  });

  it('eBGP: next-hop-self, our AS prepended, no LOCAL_PREF, no foreign MED, no RR attributes, communities kept', () => {
    const g = profile({ peerKind: 'ebgp', clusterId: '1.1.1.1' });
    const r = path(client, {
      nextHop: '10.0.0.1', asPath: seq(65100), localPref: 300, med: 9, originatorId: '10.0.0.1', clusterList: ['3.3.3.3'],
      communities: [65000 * 65536 + 1],
      unknown: [{ flags: 0xc0, code: 99, value: new Uint8Array([1]) }, { flags: 0x80, code: 98, value: new Uint8Array([2]) }],
    });
    const out = exportAttributes(r, g);
    expect(out.asPath).to.deep.equal(seq(65000, 65100));
    expect(out.nextHop).to.equal('10.0.0.100');
    expect(out.localPref).to.equal(undefined);
    expect(out.med).to.equal(undefined);
    expect(out.originatorId).to.equal(undefined);
    expect(out.clusterList).to.equal(undefined);
    expect(out.communities).to.deep.equal([65000 * 65536 + 1]);
    // Optional transitive unknown kept with the Partial bit; non-transitive dropped (RFC 4271 §5).
    expect(out.unknown).to.deep.equal([{ flags: 0xe0, code: 99, value: new Uint8Array([1]) }]);
    // keepOriginalNextHop passes the next hop on.
    expect(exportAttributes(r, profile({ peerKind: 'ebgp', keepOriginalNextHop: true })).nextHop).to.equal('10.0.0.1');
    // Our own route's MED may go to another AS.
    expect(exportAttributes(path(local, { med: 5 }), g).med).to.equal(5);
  });

  it('iBGP: LOCAL_PREF set (eBGP-learned: the configured preference), AS_PATH unchanged', () => {
    const g = profile();
    const pref = peer('172.16.0.2', { kind: 'ebgp', asn: 65100, importLocalPref: 250 });
    const out = exportAttributes(path(pref, { asPath: seq(65100), nextHop: '172.16.0.2', localPref: 999 }), g);
    expect(out.localPref).to.equal(250);
    expect(out.asPath).to.deep.equal(seq(65100));
    expect(out.nextHop).to.equal('172.16.0.2');
    expect(exportAttributes(path(pref, { asPath: seq(65100), nextHop: '172.16.0.2' }), profile({ nextHopSelf: true })).nextHop).to.equal('10.0.0.100');
  });

  it('our own block: NEXT_HOP our node address (v4), MP next hop global [+ link-local toward eBGP] (v6)', () => {
    const v4 = exportAttributes(path(local, {}, '10.244.7.0/24'), profile());
    expect(v4).to.deep.include({ origin: 0, asPath: [], nextHop: '10.0.0.100', localPref: 100 });
    const v6r = path(local, { nextHop: undefined }, 'fd00:244:0:7::/64');
    const v6 = exportAttributes(v6r, profile());
    expect(v6.mpReach).to.deep.equal({ afi: 2, safi: 1, nextHops: ['fd00::100'], nlri: [] });
    expect(v6.nextHop).to.equal(undefined);
    const ext = exportAttributes(v6r, profile({ peerKind: 'ebgp', nextHopIPv6LinkLocal: 'fe80::100' }));
    expect(ext.mpReach!.nextHops).to.deep.equal(['fd00::100', 'fe80::100']);
    expect(exportRefusal(v6r, profile({ nextHopIPv6: undefined }))).to.equal('no-local-address');
  });

  it('IPv4 learned in MP_REACH keeps its next hop in NEXT_HOP; an IPv6 next hop for IPv4 is refused', () => {
    const store = new AttributeStore();
    const mp = new StandaloneRoute(nonClient, 'ipv4-unicast', '10.244.9.0/24', 0, store.intern({ origin: 0, asPath: [], mpReach: { afi: 1, safi: 1, nextHops: ['10.0.0.2'], nlri: [] } }), 0);
    const g = profile({ clusterId: '1.1.1.1', rrClient: true });
    expect(exportRefusal(mp, g)).to.equal(null);
    expect(exportAttributes(mp, g).nextHop).to.equal('10.0.0.2');
    const v6nh = new StandaloneRoute(nonClient, 'ipv4-unicast', '10.244.9.0/24', 0, store.intern({ origin: 0, asPath: [], mpReach: { afi: 1, safi: 1, nextHops: ['fd00::2'], nlri: [] } }), 0);
    expect(exportRefusal(v6nh, g)).to.equal('next-hop-family-mismatch');
    // With next-hop-self toward eBGP the route can go.
    expect(exportRefusal(v6nh, profile({ peerKind: 'ebgp' }))).to.equal(null);
  });
});
