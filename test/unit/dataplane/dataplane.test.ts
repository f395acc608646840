// The dataplane plan (src/dataplane/dataplane.ts): tunnels, peers, MTU, sysctls, firewall and CNI
// input, blackholes from the cluster view; decided routes as FIB routes; and the exact
// RTM_NEWROUTE bytes of an IPIP route (`via NH dev tunl0 onlink`, RFC 2003), which this kernel
// cannot install (no ipip module), so they are checked here.
import { expect } from 'chai';
import * as C from '../../../src/dataplane/netlink/constants';
import { encodeRoute } from '../../../src/dataplane/netlink/codec';
import { normalizeRoute, toRouteMsg } from '../../../src/dataplane/fib/route';
import { NEXTHOP_RTPROT } from '../../../src/dataplane/fib/protocol';
import { BLACKHOLE_METRIC, ClusterView, DataplaneConfigError, planDataplane, toFibRoute } from '../../../src/dataplane/dataplane';
import { decideRoute } from '../../../src/dataplane/nexthop-decision';

const interfaces = [{ name: 'eth0', addresses: ['192.168.10.11/24'], mtu: 1500 }, { name: 'eth1', addresses: ['172.31.0.2/30'], mtu: 9000 }];

function cluster(mode: { ipipMode?: 'Always' | 'CrossSubnet' | 'Never'; vxlanMode?: 'Always' | 'CrossSubnet' | 'Never' }, me: Record<string, string> = {}): ClusterView {
  return {
    nodeName: 'n1',
    pools: [{ cidr: '10.244.0.0/16', natOutgoing: true, ...mode }],
    ownBlocks: ['10.244.1.0/24'],
    nodes: [
      { name: 'n1', ipv4Address: '192.168.10.11/24', ipv4VXLANTunnelAddr: '10.244.1.0', vxlanTunnelMACAddr: '02:00:00:00:00:01', ipv4IPIPTunnelAddr: '10.244.1.254', blocks: ['10.244.1.0/24'], ...me },
      { name: 'n2', ipv4Address: '192.168.10.12/24', ipv4VXLANTunnelAddr: '10.244.2.0', vxlanTunnelMACAddr: '02:00:00:00:00:02', blocks: ['10.244.2.0/24'] },
      { name: 'n3', ipv4Address: '192.168.20.13/24', ipv4VXLANTunnelAddr: '10.244.3.0', vxlanTunnelMACAddr: '02:00:00:00:00:03', blocks: ['10.244.3.0/24'] },
      { name: 'n4', ipv4Address: '192.168.20.14/24', blocks: ['172.20.4.0/24'] },
    ],
  };
}

describe('dataplane/dataplane plan', () => {
  it('VXLAN: device on the uplink holding the node address, MTU 1450, a peer per node that published a VTEP', () => {
    const p = planDataplane(cluster({ vxlanMode: 'CrossSubnet' }), interfaces);
    expect(p.uplink.name).to.equal('eth0');
    expect(p.ipip).to.equal(null);
    expect(p.vxlan6).to.equal(null);
    expect(p.vxlan4!.device).to.deep.equal({
      name: 'vxlan.nexthop', vni: 4096, port: 4789, uplinkIndex: 0, localAddress: '192.168.10.11',
      vtepAddress: '10.244.1.0', vtepMac: '02:00:00:00:00:01', mtu: 1450,
    });
    expect(p.vxlan4!.peers.map((x) => `${x.node} ${x.vtepAddress} ${x.vtepMac} ${x.nodeAddress}`)).to.deep.equal([
      'n2 10.244.2.0 02:00:00:00:00:02 192.168.10.12', 'n3 10.244.3.0 02:00:00:00:00:03 192.168.20.13']);
    expect(p.cni.options).to.deep.equal({ blocks: ['10.244.1.0/24'], mtu: 1450 });
    expect(p.cni.subnetEnv).to.deep.equal({ networks: ['10.244.0.0/16'], blocks: ['10.244.1.0/24'], mtu: 1450, ipMasq: true });
    expect(p.sysctls).to.deep.equal({ 'net/ipv4/ip_forward': '1' });
    expect(p.blackholes).to.deep.equal([{ prefix: '10.244.1.0/24', type: 'blackhole', metric: BLACKHOLE_METRIC }]);
    expect(p.firewall.otherBlocks).to.deep.equal(['10.244.2.0/24', '10.244.3.0/24', '172.20.4.0/24']);
  });

  it('IPIP: tunl0 with MTU 1480 and the node\'s tunnel address; no VXLAN device', () => {
    const p = planDataplane(cluster({ ipipMode: 'CrossSubnet' }), interfaces);
    expect(p.ipip).to.deep.equal({ name: 'tunl0', mtu: 1480, tunnelAddress: '10.244.1.254' });
    expect(p.vxlan4).to.equal(null);
    expect(p.cni.options.mtu).to.equal(1480);
  });

  it('Never: no tunnels, pod MTU = uplink MTU', () => {
    const p = planDataplane(cluster({}), interfaces);
    expect([p.ipip, p.vxlan4, p.vxlan6]).to.deep.equal([null, null, null]);
    expect(p.cni.options.mtu).to.equal(1500);
  });

  it('an explicit uplink is used as given', () => {
    expect(planDataplane(cluster({ vxlanMode: 'Always' }), interfaces, 'eth1').vxlan4!.device.mtu).to.equal(8950);
  });

  it('errors name the node and the field', () => {
    expect(() => planDataplane(cluster({ vxlanMode: 'Always' }, { ipv4VXLANTunnelAddr: '' }), interfaces)).to.throw(DataplaneConfigError, /node n1: spec\.ipv4VXLANTunnelAddr/);
    expect(() => planDataplane(cluster({ vxlanMode: 'Always' }, { vxlanTunnelMACAddr: '' }), interfaces)).to.throw(DataplaneConfigError, /spec\.vxlanTunnelMACAddr/);
    expect(() => planDataplane(cluster({}, { ipv4Address: '192.168.99.1/24' }), interfaces)).to.throw(DataplaneConfigError, /no interface of this host holds 192\.168\.99\.1/);
    expect(() => planDataplane({ ...cluster({}), nodeName: 'nx' }, interfaces)).to.throw(DataplaneConfigError, /node nx: nodes: this node is not among/);
    expect(() => planDataplane(cluster({}), interfaces, 'eth9')).to.throw(DataplaneConfigError, /uplink: no interface eth9/);
  });

  it('toFibRoute: device by name, onlink only for tunnels, ECMP kept', () => {
    const p = planDataplane(cluster({ vxlanMode: 'CrossSubnet' }), interfaces);
    const d = decideRoute(p.decision, { prefix: '10.244.8.0/24', nexthops: ['192.168.20.13', '192.168.10.12'] });
    expect(toFibRoute(d.route!)).to.deep.equal({
      prefix: '10.244.8.0/24',
      nexthops: [
        { gateway: '10.244.3.0', ifname: 'vxlan.nexthop', onlink: true },
        { gateway: '192.168.10.12', ifname: 'eth0', onlink: undefined },
      ],
    });
  });

  it('IPIP route bytes: RTM_NEWROUTE 10.244.3.0/24 via 192.168.20.13 dev tunl0 onlink, proto nexthop', () => {
    const p = planDataplane(cluster({ ipipMode: 'CrossSubnet' }), interfaces);
    const route = toFibRoute(decideRoute(p.decision, { prefix: '10.244.3.0/24', nexthops: ['192.168.20.13'] }).route!);
    expect(route).to.deep.equal({ prefix: '10.244.3.0/24', nexthops: [{ gateway: '192.168.20.13', ifname: 'tunl0', onlink: true }] });
    // The reconciler resolves tunl0 to its index (say 5) before encoding.
    const norm = normalizeRoute(route);
    norm.nexthops = norm.nexthops.map((h) => ({ ...h, ifname: undefined, ifindex: 5 }));
    const bytes = encodeRoute(toRouteMsg(norm, NEXTHOP_RTPROT));
    // struct rtmsg: AF_INET, dst_len 24, src_len 0, tos 0, table main, proto 78, scope universe,
    // type unicast, flags RTNH_F_ONLINK; then RTA_TABLE, RTA_DST, RTA_PRIORITY 0, RTA_GATEWAY, RTA_OIF.
    expect(bytes.toString('hex')).to.equal([
      '02', '18', '00', '00', 'fe', '4e', '00', '01', '04000000',
      '0800', '0f00', 'fe000000',
      '0800', '0100', '0af40300',
      '0800', '0600', '00000000',
      '0800', '0500', 'c0a8140d',
      '0800', '0400', '05000000',
    ].join(''));
    expect(bytes[7]).to.equal(C.RTN_UNICAST);
    expect(bytes.readUInt32LE(8) & C.RTNH_F_ONLINK).to.equal(C.RTNH_F_ONLINK);
  });
});
