// Import policy: cluster pools and next hops, BGPPeer rules, AS-path loops (RFC 4271 §9.1.2),
// reflection loops (RFC 4456 §8), configuration errors.
import { expect } from 'chai';
import { ImportPolicy, PolicyConfigError } from '../../../src/policy/import';
import { PrefixSet, parseV4Prefix } from '../../../src/policy/prefixes';
import { AttributeStore } from '../../../src/rib/attributes';
import { peer, seq } from '../rib/fixtures';
import type { PathAttributes } from '../../../src/wire/types';

const store = new AttributeStore();
const rec = (a: PathAttributes) => store.intern({ origin: 0, asPath: [], nextHop: '10.0.0.1', ...a });

function policy(clusterId: string | null = null) {
  return new ImportPolicy({ localAs: 65000, routerId: '10.0.0.100', clusterId, pools: ['10.244.0.0/16', 'fd00:244::/48'] });
}

describe('policy/import', () => {
  it('cluster peers: only prefixes inside an enabled pool', () => {
    const p = policy();
    const mesh = peer('10.0.0.1');
    p.setPeerRule(mesh.id, { kind: 'cluster', nodeAddresses: ['10.0.0.1'] });
    expect(p.checkPrefix(mesh, '10.244.3.0/24')).to.equal(null);
    expect(p.checkPrefix(mesh, '10.244.0.0/16')).to.equal(null);
    expect(p.checkPrefix(mesh, '10.0.0.0/8')).to.equal('outside-pool');
    expect(p.checkPrefix(mesh, '10.245.0.0/24')).to.equal('outside-pool');
    expect(p.checkPrefix(mesh, 'fd00:244:0:5::/64')).to.equal(null);
    expect(p.checkPrefix(mesh, 'fd00:245::/64')).to.equal('outside-pool');
  });

  it('direct mesh peers: the next hop must be the node itself; reflector-learned routes are not checked', () => {
    const p = policy();
    const mesh = peer('10.0.0.1');
    const rr = peer('10.0.0.50');
    p.setPeerRule(mesh.id, { kind: 'cluster', nodeAddresses: ['10.0.0.1'] });
    p.setPeerRule(rr.id, { kind: 'cluster' });
    expect(p.checkAttributes(mesh, 'ipv4-unicast', rec({}))).to.equal(null);
    expect(p.checkAttributes(mesh, 'ipv4-unicast', rec({ nextHop: '10.0.0.2' }))).to.equal('next-hop-mismatch');
    expect(p.checkAttributes(rr, 'ipv4-unicast', rec({ nextHop: '10.0.0.2' }))).to.equal(null);
  });

  it('BGPPeer rules: accept all, prefix list, reject default', () => {
    const p = policy();
    const tor = peer('172.16.0.1', { kind: 'ebgp', asn: 65100 });
    p.setPeerRule(tor.id, { kind: 'accept-all' });
    expect(p.checkPrefix(tor, '0.0.0.0/0')).to.equal(null);
    expect(p.checkPrefix(tor, '8.8.8.0/24')).to.equal(null);
    p.setPeerRule(tor.id, { kind: 'accept-all', rejectDefault: true });
    expect(p.checkPrefix(tor, '0.0.0.0/0')).to.equal('default-route-rejected');
    expect(p.checkPrefix(tor, '::/0')).to.equal('default-route-rejected');
    p.setPeerRule(tor.id, { kind: 'prefix-list', prefixes: ['192.168.0.0/16', '2001:db8::/32'] });
    expect(p.checkPrefix(tor, '192.168.10.0/24')).to.equal(null);
    expect(p.checkPrefix(tor, '192.169.0.0/24')).to.equal('not-in-prefix-list');
    expect(p.checkPrefix(tor, '2001:db8:1::/48')).to.equal(null);
    const stranger = peer('172.16.0.99', { kind: 'ebgp', asn: 65199 });
    expect(p.checkPrefix(stranger, '192.168.10.0/24')).to.equal('no-import-rule');
  });

  it('RFC 4271 §9.1.2: our AS in the AS_PATH is a loop', () => {
    const p = policy();
    const tor = peer('172.16.0.1', { kind: 'ebgp', asn: 65100 });
    p.setPeerRule(tor.id, { kind: 'accept-all' });
    expect(p.checkAttributes(tor, 'ipv4-unicast', rec({ asPath: seq(65100, 65000) }))).to.equal('as-loop');
    expect(p.checkAttributes(tor, 'ipv4-unicast', rec({ asPath: [{ type: 1, asns: [1, 65000] }] }))).to.equal('as-loop');
    expect(p.checkAttributes(tor, 'ipv4-unicast', rec({ asPath: seq(65100) }))).to.equal(null);
  });

  it('RFC 4456 §8: our CLUSTER_ID in CLUSTER_LIST, or ORIGINATOR_ID = our identifier, is a loop', () => {
    const p = policy('1.1.1.1');
    const client = peer('10.0.0.1', { rrClient: true });
    p.setPeerRule(client.id, { kind: 'cluster' });
    expect(p.checkAttributes(client, 'ipv4-unicast', rec({ clusterList: ['2.2.2.2', '1.1.1.1'] }))).to.equal('cluster-loop');
    expect(p.checkAttributes(client, 'ipv4-unicast', rec({ originatorId: '10.0.0.100' }))).to.equal('originator-loop');
    expect(p.checkAttributes(client, 'ipv4-unicast', rec({ originatorId: '10.0.0.7', clusterList: ['2.2.2.2'] }))).to.equal(null);
  });

  it('RFC 4271 §9.1.2: with a per-peer local AS, that AS in the AS_PATH is a loop too', () => {
    const p = policy();
    const tor = peer('172.16.0.2', { kind: 'ebgp', asn: 65100, localAs: 65099 });
    const other = peer('172.16.0.3', { kind: 'ebgp', asn: 65100 });
    p.setPeerRule(tor.id, { kind: 'accept-all' });
    p.setPeerRule(other.id, { kind: 'accept-all' });
    expect(p.checkAttributes(tor, 'ipv4-unicast', rec({ asPath: seq(65100, 65099) }))).to.equal('as-loop');
    expect(p.checkAttributes(tor, 'ipv4-unicast', rec({ asPath: seq(65100, 65000) }))).to.equal('as-loop');
    expect(p.checkAttributes(tor, 'ipv4-unicast', rec({ asPath: seq(65100, 65001) }))).to.equal(null);
    // Another peer, presented the speaker's AS, does not treat 65099 as ours.
    expect(p.checkAttributes(other, 'ipv4-unicast', rec({ asPath: seq(65100, 65099) }))).to.equal(null);
  });

  it('RFC 4456 §8: our ORIGINATOR_ID is dropped from any peer (a ToR reflecting our block back), without a CLUSTER_ID too', () => {
    const p = policy(null);
    const ibgpTor = peer('172.16.0.4', { kind: 'ibgp' });
    const ebgpTor = peer('172.16.0.5', { kind: 'ebgp', asn: 65100 });
    p.setPeerRule(ibgpTor.id, { kind: 'accept-all' });
    p.setPeerRule(ebgpTor.id, { kind: 'accept-all' });
    expect(p.checkAttributes(ibgpTor, 'ipv4-unicast', rec({ originatorId: '10.0.0.100', clusterList: ['172.16.0.4'] }))).to.equal('originator-loop');
    expect(p.checkAttributes(ebgpTor, 'ipv4-unicast', rec({ asPath: seq(65100), originatorId: '10.0.0.100' }))).to.equal('originator-loop');
    expect(p.checkAttributes(ibgpTor, 'ipv4-unicast', rec({ originatorId: '10.0.0.9', clusterList: ['172.16.0.4'] }))).to.equal(null);
  });

  it('rejects other families and routes without a next hop', () => {
    const p = policy();
    const mesh = peer('10.0.0.1');
    p.setPeerRule(mesh.id, { kind: 'cluster' });
    expect(p.checkAttributes(mesh, 'afi1-safi2', rec({}))).to.equal('unsupported-family');
    expect(p.checkAttributes(mesh, 'ipv4-unicast', store.intern({ origin: 0, asPath: [] }))).to.equal('no-next-hop');
  });

  it('a bad CIDR in configuration is a PolicyConfigError naming the field and value', () => {
    expect(() => new ImportPolicy({ localAs: 1, routerId: '1.1.1.1', pools: ['10.0.0.0/33'] })).to.throw(PolicyConfigError, /IPPool.cidr: "10.0.0.0\/33"/);
    const p = policy();
    expect(() => p.setPeerRule('x', { kind: 'prefix-list', prefixes: ['nope'] })).to.throw(PolicyConfigError, /BGPPeer x prefixes/);
  });

  it('parses IPv4 prefix text exactly', () => {
    const out = [0, 0];
    expect(parseV4Prefix('10.244.3.0/24', out)).to.equal(true);
    expect(out).to.deep.equal([0x0af40300, 24]);
    expect(parseV4Prefix('255.255.255.255/32', out)).to.equal(true);
    expect(out[0]).to.equal(0xffffffff);
    for (const bad of ['10.0.0/8', '10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '256.0.0.0/8', '1.2.3.4.5/8', 'a.b.c.d/8', '10..0.0/8']) {
      expect(parseV4Prefix(bad, out), bad).to.equal(false);
    }
    const set = new PrefixSet(['0.0.0.0/0']);
    expect(set.contains('1.2.3.0/24')).to.equal(true);
  });
});
