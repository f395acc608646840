// Calico v3 fields nexthop acts on: IPPool.disableBGPExport (parsed, validated, in the pool
// view, exportedBlocks() leaves such pools' blocks out of what a node originates),
// BGPConfiguration.nodeMeshMaxRestartTime (a Go duration, only in "default", carried into the
// mesh sessions' maxRestartTime - RFC 4724 §3 Restart Time - and never into explicit BGPPeers'),
// and Node.ipv6VXLANTunnelAddr / vxlanTunnelMACAddrV6 (the IPv6 VTEP, RFC 7348 §4: validated like
// their IPv4 twins, in the Node view, in the stored agent-written fields and in `get -o yaml`).
import { expect } from 'chai';
import { parseResources, parseDuration, toDocument, decodeNodeStatus, CALICO_UNUSED_FIELDS, Resource, NodeResource } from '../../../src/cluster/resources';
import { ResourceError, ResourceProblem } from '../../../src/cluster/errors';
import { poolsOf, exportedBlocks, effectiveConfig, buildView, mergeNodeStatus, ClusterState } from '../../../src/cluster/state';
import { nodeStatusKey, resourceKey, encodeResource } from '../../../src/cluster/keys';
import { desiredPeers } from '../../../src/cluster/peers';

const res = (yaml: string): Resource[] => parseResources(yaml, 'c.yaml').map((l) => l.resource);
function problems(yaml: string): string[] {
  try { parseResources(yaml, 'c.yaml'); } catch (e) { return (e as ResourceError).problems.map((p) => `${p.field}: ${p.message}`); }
  return [];
}
const pool = (name: string, spec: string) => `---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
const node = (name: string, addr: string) => `---\napiVersion: nexthop.io/v1\nkind: Node\nmetadata: {name: ${name}}\nspec: {bgp: {ipv4Address: ${addr}/24}}\n`;
const cfg = (name: string, spec: string) => `---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
const peer = (name: string, spec: string) => `---\napiVersion: nexthop.io/v1\nkind: BGPPeer\nmetadata: {name: ${name}}\nspec: ${spec}\n`;

describe('cluster: IPPool.disableBGPExport', () => {
  it('is a validated boolean of the pool, false unless given, and no longer an ignored field', () => {
    const warnings: ResourceProblem[] = [];
    const rs = parseResources(pool('quiet', '{cidr: 10.1.0.0/16, disableBGPExport: true}') + pool('loud', '{cidr: 10.2.0.0/16}') +
      pool('said-no', '{cidr: 10.3.0.0/16, disableBGPExport: false}'), 'c.yaml', { warnings }).map((l) => l.resource);
    expect(warnings).to.deep.equal([]);
    expect(CALICO_UNUSED_FIELDS.IPPool.spec).to.not.include('disableBGPExport');
    expect(poolsOf(rs).map((p) => `${p.name} ${p.disableBGPExport}`)).to.deep.equal(['loud false', 'quiet true', 'said-no false']);
    // Stored as given: a pool without the field encodes exactly as before the field existed.
    expect(toDocument(rs[1]).spec).to.not.have.property('disableBGPExport');
    expect(toDocument(rs[0]).spec).to.include({ disableBGPExport: true });
    expect(res(JSON.stringify(toDocument(rs[0]))).map((r) => r.spec)).to.deep.equal([rs[0].spec]);
    expect(problems(pool('p', '{cidr: 10.1.0.0/16, disableBGPExport: "yes"}'))).to.deep.equal(['spec.disableBGPExport: must be true or false, got string "yes"']);
  });

  it('exportedBlocks leaves out the blocks of pools with disableBGPExport, keeps the rest in order', () => {
    const rs = res(pool('quiet', '{cidr: 10.1.0.0/16, disableBGPExport: true}') + pool('loud', '{cidr: 10.2.0.0/16}') +
      pool('v6', '{cidr: "fd00:1::/104", disableBGPExport: true}') + node('a', '192.0.2.1'));
    const view = buildView(rs, [], new Map(), new Map());
    expect(exportedBlocks(['10.2.4.0/24', '10.1.3.0/24', 'fd00:1::100/120', '10.9.0.0/24'], view.pools))
      .to.deep.equal(['10.2.4.0/24', '10.9.0.0/24']);
    expect(exportedBlocks(['10.1.3.0/24'], poolsOf(res(pool('loud', '{cidr: 10.1.0.0/16}'))))).to.deep.equal(['10.1.3.0/24']);
    expect(exportedBlocks([], view.pools)).to.deep.equal([]);
  });
});

describe('cluster: BGPConfiguration.nodeMeshMaxRestartTime', () => {
  it('parses Go durations into seconds and rejects what Go would not read', () => {
    expect(['120s', '2m0s', '2m', '1h', '1m30s', '1.5m', '500ms', '90000ms', '0s', '120', '1h0m0.4s'].map(parseDuration))
      .to.deep.equal([120, 120, 120, 3600, 90, 90, 1, 90, 0, 120, 3600]);
    for (const bad of ['', 's', '2x', '-5s', '1m 30s', 'm2', '5s3']) expect(parseDuration(bad), bad).to.equal(null);
  });

  it('is read from the default BGPConfiguration, validated, and rejected elsewhere', () => {
    const rs = res(cfg('default', '{nodeMeshMaxRestartTime: 2m0s}'));
    expect(CALICO_UNUSED_FIELDS.BGPConfiguration.spec).to.not.include('nodeMeshMaxRestartTime');
    expect(effectiveConfig(rs).nodeMeshMaxRestartTime).to.equal(120);
    expect(effectiveConfig(res(cfg('default', '{}')))).to.not.have.property('nodeMeshMaxRestartTime');
    expect(problems(cfg('default', '{nodeMeshMaxRestartTime: soon}'))).to.deep.equal(['spec.nodeMeshMaxRestartTime: string "soon" is not a duration such as "120s" or "2m0s"']);
    expect(problems(cfg('default', '{nodeMeshMaxRestartTime: 2h}'))).to.deep.equal(['spec.nodeMeshMaxRestartTime: 7200s is out of range 0..4095 s (RFC 4724 §3 Restart Time is 12 bits)']);
    expect(problems(cfg('node.a', '{nodeMeshMaxRestartTime: 60s}'))).to.deep.equal(['spec.nodeMeshMaxRestartTime: only the BGPConfiguration named "default" may set it (this one is "node.a")']);
  });

  it('goes into every mesh session\'s maxRestartTime, and not into explicit BGPPeers\' sessions', () => {
    const nodes = node('a', '10.0.0.1') + node('b', '10.0.0.2') + node('c', '10.0.0.3');
    const rs = res(cfg('default', '{nodeMeshMaxRestartTime: 300s}') + nodes +
      peer('to-c', '{peerIP: 10.0.0.3, asNumber: 64512}') + peer('tor', '{peerIP: 10.0.0.254, asNumber: 65100}') + peer('tor-gr', '{peerIP: 10.0.0.253, asNumber: 65100, maxRestartTime: 45s}'));
    expect(desiredPeers('a', rs).map((p) => `${p.name} ${p.kind} ${p.maxRestartTime}`)).to.deep.equal([
      'node/b/v4 mesh 300',
      // An explicit BGPPeer to a node replaces the mesh session, with its own (absent) restart time.
      'node/c/v4 mesh undefined',
      'peer/10.0.0.253 external 45',
      'peer/10.0.0.254 external undefined',
    ]);
    // Without the field, mesh sessions carry none (the speaker's default applies).
    expect(desiredPeers('a', res(nodes)).map((p) => p.maxRestartTime)).to.deep.equal([undefined, undefined]);
  });
});

describe('cluster: Node.ipv6VXLANTunnelAddr and vxlanTunnelMACAddrV6 (the IPv6 VTEP)', () => {
  const v6node = (spec: string, api = 'projectcalico.org/v3') => `apiVersion: ${api}\nkind: Node\nmetadata: {name: n6}\nspec: ${spec}\n`;

  it('are fields of the Node, canonicalised, kept through toDocument, and no longer ignored with a warning', () => {
    expect(CALICO_UNUSED_FIELDS.Node.spec).to.not.include('ipv6VXLANTunnelAddr');
    expect(CALICO_UNUSED_FIELDS.Node.spec).to.not.include('vxlanTunnelMACAddrV6');
    const warnings: ResourceProblem[] = [];
    const [n] = parseResources(v6node('{bgp: {ipv6Address: "fd00:20::13/64"}, ipv6VXLANTunnelAddr: "FD00:244:0:3:0::", vxlanTunnelMACAddrV6: "66:AA:bb:CC:dd:01",' +
      ' ipv4VXLANTunnelAddr: 10.244.3.0, vxlanTunnelMACAddr: "66:aa:bb:cc:dd:00"}'), 'c.yaml', { warnings }).map((l) => l.resource as NodeResource);
    expect(warnings).to.deep.equal([]);
    expect(n.spec).to.deep.include({ ipv6VXLANTunnelAddr: 'fd00:244:0:3::', vxlanTunnelMACAddrV6: '66:aa:bb:cc:dd:01',
      ipv4VXLANTunnelAddr: '10.244.3.0', vxlanTunnelMACAddr: '66:aa:bb:cc:dd:00' });
    expect(toDocument(n).spec).to.deep.include({ ipv6VXLANTunnelAddr: 'fd00:244:0:3::', vxlanTunnelMACAddrV6: '66:aa:bb:cc:dd:01' });
    expect(res(JSON.stringify(toDocument(n))).map((r) => r.spec)).to.deep.equal([n.spec]);
    // The view carries them (a user-given VTEP counts until the agent publishes its own).
    const v = buildView([n], [], new Map(), new Map());
    expect(v.nodes[0]).to.deep.include({ ipv6VXLANTunnelAddr: 'fd00:244:0:3::', vxlanTunnelMACAddrV6: '66:aa:bb:cc:dd:01' });
  });

  it('are validated like their IPv4 twins, with errors naming file, document, resource and field', () => {
    const bad = (spec: string) => {
      try { parseResources(`---\napiVersion: nexthop.io/v1\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: "fd00:244::/48", blockSize: 64}\n---\n${v6node(spec, 'nexthop.io/v1')}`, 'cluster.yaml'); } catch (e) {
        expect(e).to.be.instanceOf(ResourceError);
        return (e as ResourceError).message;
      }
      return '';
    };
    expect(bad('{ipv6VXLANTunnelAddr: 10.244.3.0}')).to.equal("cluster.yaml: document 2 (Node/n6): spec.ipv6VXLANTunnelAddr: '10.244.3.0' is not an IPv6 address");
    expect(bad('{ipv6VXLANTunnelAddr: "fd00::/64"}')).to.equal("cluster.yaml: document 2 (Node/n6): spec.ipv6VXLANTunnelAddr: 'fd00::/64' is not an IPv6 address");
    expect(bad('{ipv6VXLANTunnelAddr: 6}')).to.equal('cluster.yaml: document 2 (Node/n6): spec.ipv6VXLANTunnelAddr: must be a string, got number 6');
    expect(bad('{ipv4VXLANTunnelAddr: "fd00::1"}')).to.equal("cluster.yaml: document 2 (Node/n6): spec.ipv4VXLANTunnelAddr: 'fd00::1' is not an IPv4 address");
    expect(bad('{vxlanTunnelMACAddrV6: "66:aa:bb:cc:dd"}')).to.equal("cluster.yaml: document 2 (Node/n6): spec.vxlanTunnelMACAddrV6: '66:aa:bb:cc:dd' is not a MAC address aa:bb:cc:dd:ee:ff");
    expect(bad('{vxlanTunnelMACAddrV6: "66-aa-bb-cc-dd-ee"}')).to.equal("cluster.yaml: document 2 (Node/n6): spec.vxlanTunnelMACAddrV6: '66-aa-bb-cc-dd-ee' is not a MAC address aa:bb:cc:dd:ee:ff");
    // The kernel refuses a multicast or zero MAC in the tunnel's neighbour/FDB entries: caught here,
    // naming the field, instead of breaking the tunnel sync for every peer.
    expect(bad('{vxlanTunnelMACAddrV6: "67:aa:bb:cc:dd:ee"}')).to.equal("cluster.yaml: document 2 (Node/n6): spec.vxlanTunnelMACAddrV6: '67:aa:bb:cc:dd:ee' is a multicast MAC address; a VTEP needs a unicast one");
    expect(bad('{vxlanTunnelMACAddr: "01:00:5e:00:00:01"}')).to.equal("cluster.yaml: document 2 (Node/n6): spec.vxlanTunnelMACAddr: '01:00:5e:00:00:01' is a multicast MAC address; a VTEP needs a unicast one");
    expect(bad('{vxlanTunnelMACAddr: "00:00:00:00:00:00"}')).to.equal("cluster.yaml: document 2 (Node/n6): spec.vxlanTunnelMACAddr: '00:00:00:00:00:00' is the all-zero MAC address; a VTEP needs a unicast one");
    expect(bad('{vxlanTunnelMACAddrV6: [1]}')).to.equal('cluster.yaml: document 2 (Node/n6): spec.vxlanTunnelMACAddrV6: must be a string, got a list');
    // Both wrong: both named.
    expect(bad('{ipv6VXLANTunnelAddr: x, vxlanTunnelMACAddrV6: y}').split('\n')).to.deep.equal([
      "cluster.yaml: document 2 (Node/n6): spec.ipv6VXLANTunnelAddr: 'x' is not an IPv6 address",
      "cluster.yaml: document 2 (Node/n6): spec.vxlanTunnelMACAddrV6: 'y' is not a MAC address aa:bb:cc:dd:ee:ff",
    ]);
  });

  it('the stored agent-written fields are validated too: a bad value is named, never reaches the view, the last good one stays', () => {
    expect(decodeNodeStatus('{"ipv6VXLANTunnelAddr":"FD00:244:0:3::","vxlanTunnelMACAddrV6":"86:29:2C:30:47:A8","later":"x"}', 'k'))
      .to.deep.equal({ ipv6VXLANTunnelAddr: 'fd00:244:0:3::', vxlanTunnelMACAddrV6: '86:29:2c:30:47:a8' });
    const msg = (text: string) => { try { decodeNodeStatus(text, 'datastore key status/nodes/n6'); } catch (e) { return (e as ResourceError).message; } return ''; };
    expect(msg('{"ipv6VXLANTunnelAddr":"10.0.0.1"}')).to.equal("datastore key status/nodes/n6: ipv6VXLANTunnelAddr: '10.0.0.1' is not an IPv6 address");
    expect(msg('{"vxlanTunnelMACAddrV6":"zz"}')).to.equal("datastore key status/nodes/n6: vxlanTunnelMACAddrV6: 'zz' is not a MAC address aa:bb:cc:dd:ee:ff");
    expect(msg('{"ipv4VXLANTunnelAddr":"fd00::1"}')).to.equal("datastore key status/nodes/n6: ipv4VXLANTunnelAddr: 'fd00::1' is not an IPv4 address");
    expect(msg('[1]')).to.equal('datastore key status/nodes/n6: must be a mapping, got a list');
    expect(msg('{')).to.match(/^datastore key status\/nodes\/n6: not JSON: /);

    const n = res(v6node('{bgp: {ipv6Address: "fd00:20::13/64"}}'))[0] as NodeResource;
    const st = new ClusterState();
    const good = JSON.stringify({ ipv6VXLANTunnelAddr: 'fd00:244:0:3::', vxlanTunnelMACAddrV6: '86:29:2c:30:47:a8' });
    expect(st.apply([{ key: resourceKey('Node', 'n6'), type: 'put', value: encodeResource(n) }, { key: nodeStatusKey('n6'), type: 'put', value: good }]).problems).to.deep.equal([]);
    expect(st.view().nodes[0]).to.deep.include({ ipv6VXLANTunnelAddr: 'fd00:244:0:3::', vxlanTunnelMACAddrV6: '86:29:2c:30:47:a8' });
    const r = st.apply([{ key: nodeStatusKey('n6'), type: 'put', value: '{"ipv6VXLANTunnelAddr":"10.0.0.1"}' }]);
    expect(r.problems).to.deep.equal(["status/nodes/n6: datastore key status/nodes/n6: ipv6VXLANTunnelAddr: '10.0.0.1' is not an IPv6 address"]);
    expect(st.view().nodes[0].ipv6VXLANTunnelAddr).to.equal('fd00:244:0:3::');
    // `get node -o yaml` shows the agent's fields merged into the spec, over what the user typed.
    const merged = mergeNodeStatus({ ...n, spec: { ...n.spec, ipv6VXLANTunnelAddr: 'fd00::99' } }, st.nodeStatus().get('n6'));
    expect(toDocument(merged).spec).to.deep.equal({ bgp: { ipv6Address: 'fd00:20::13/64' }, ipv6VXLANTunnelAddr: 'fd00:244:0:3::', vxlanTunnelMACAddrV6: '86:29:2c:30:47:a8' });
  });
});
