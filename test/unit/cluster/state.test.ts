// Key layout decoding, key/value diffs, the cluster state and its views.
import { expect } from 'chai';
import { ClusterState, effectiveConfig, poolContaining } from '../../../src/cluster/state';
import { diffEntries, resourceKey, encodeResource, blockKey, nodeStatusKey, livenessKey, cidrToKeyPart, keyPartToCidr } from '../../../src/cluster/keys';
import { parseResources } from '../../../src/cluster/resources';

const rs = parseResources(`apiVersion: nexthop.io/v1
kind: Node
metadata: {name: n1}
spec: {bgp: {ipv4Address: 10.0.0.1/24, ipv4IPIPTunnelAddr: 10.244.0.9}}
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: p}
spec: {cidr: 10.244.0.0/16, vxlanMode: CrossSubnet}
---
apiVersion: nexthop.io/v1
kind: BGPConfiguration
metadata: {name: node.n1}
spec: {listenPort: 1179}
`, 't').map((l) => l.resource);

function entries(): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of rs) m.set(resourceKey(r.kind, r.metadata.name), encodeResource(r));
  m.set(blockKey('10.244.5.0/24'), JSON.stringify({ cidr: '10.244.5.0/24', pool: 'p', node: 'n1', claimedAt: 't', pinned: false }));
  m.set(nodeStatusKey('n1'), JSON.stringify({ ipv4VXLANTunnelAddr: '10.244.5.0', vxlanTunnelMACAddr: '66:00:00:00:00:01' }));
  m.set(livenessKey('n1'), JSON.stringify({ since: 't', pid: 1, host: 'h', expiresAt: 2000 }));
  return m;
}

describe('cluster/state', () => {
  it('diffs key/value maps', () => {
    const a = new Map([['x', '1'], ['y', '2']]);
    const b = new Map([['y', '3'], ['z', '4']]);
    expect(diffEntries(a, b)).to.deep.equal([
      { key: 'x', type: 'delete', value: '1', previous: '1' },
      { key: 'y', type: 'put', value: '3', previous: '2' },
      { key: 'z', type: 'put', value: '4', previous: undefined },
    ]);
    expect(keyPartToCidr(cidrToKeyPart('fd00::/120'))).to.equal('fd00::/120');
  });

  it('builds the views the agent and dataplane use', () => {
    const st = new ClusterState();
    const { events, problems } = st.replaceAll(entries());
    expect(problems).to.deep.equal([]);
    expect(events.map((e) => `${e.type} ${e.item.what}`)).to.have.members(['put resource', 'put resource', 'put resource', 'put block', 'put nodeStatus', 'put liveness']);
    const v = st.view(1000);
    expect(v.nodes[0]).to.deep.equal({ name: 'n1', labels: {}, ipv4Address: '10.0.0.1/24', ipv6Address: undefined, asNumber: 64512,
      routeReflectorClusterId: undefined, blocks: ['10.244.5.0/24'], ipv4IPIPTunnelAddr: '10.244.0.9', ipv4VXLANTunnelAddr: '10.244.5.0',
      vxlanTunnelMACAddr: '66:00:00:00:00:01', ipv6VXLANTunnelAddr: undefined, vxlanTunnelMACAddrV6: undefined, alive: true });
    expect(st.view(3000).nodes[0].alive).to.equal(false);
    expect(v.pools[0]).to.include({ name: 'p', family: 4, blockSize: 24, vxlanMode: 'CrossSubnet' });
    expect(effectiveConfig(rs, 'n1').listenPort).to.equal(1179);
    expect(effectiveConfig(rs, 'n2')).to.deep.equal({ asNumber: 64512, nodeToNodeMeshEnabled: true, listenPort: 179, logSeverityScreen: 'Info', communities: [] });
    expect(poolContaining(v.pools, '10.244.9.0/24')?.name).to.equal('p');
    expect(poolContaining(v.pools, '10.245.0.0/24')).to.equal(undefined);
  });

  it('keeps the last good value of a corrupt entry and emits no event for a repeated value', () => {
    const st = new ClusterState();
    st.replaceAll(entries());
    const bad = entries();
    bad.set(resourceKey('IPPool', 'p'), '{"kind":"IPPool"');
    const r = st.replaceAll(bad);
    expect(r.events).to.deep.equal([]);
    expect(r.problems[0]).to.match(/^resources\/ippools\/p: /);
    expect(st.view().pools).to.have.length(1);
    expect(st.apply([{ key: nodeStatusKey('n1'), type: 'put', value: entries().get(nodeStatusKey('n1'))! }]).events).to.deep.equal([]);
    const gone = entries();
    gone.delete(blockKey('10.244.5.0/24'));
    expect(st.replaceAll(gone).events.map((e) => `${e.type} ${e.key}`)).to.deep.equal(['delete ipam/blocks/10.244.5.0-24']);
  });
});
