// Next-hop decision (src/dataplane/nexthop-decision.ts): Calico's CrossSubnet rule per pool mode,
// ECMP, own-block and bad-input handling, MTU arithmetic (RFC 2003 §3.1, RFC 7348 §5).
import { expect } from 'chai';
import fc from 'fast-check';
import {
  DecisionContext, FibNexthop, IPIP_DEVICE, NodeEndpoint, PoolConfigError, PoolSpec, VXLAN_DEVICE, VXLAN_V6_DEVICE,
  decideRoute, makeDecisionContext, podMtu, tunnelMtu, tunnelNeeds,
} from '../../../src/dataplane/nexthop-decision';

// This host: n1 at 192.168.10.11/24 on eth0 (subnet A), own block 10.244.1.0/24.
const interfaces = [
  { name: 'eth0', addresses: ['192.168.10.11/24', 'fd00:10::11/64'], mtu: 1500 },
  { name: 'vxlan.nexthop', addresses: ['10.244.1.0/32'] },
];
const nodes: NodeEndpoint[] = [
  { name: 'n1', ipv4Address: '192.168.10.11/24', ipv4VXLANTunnelAddr: '10.244.1.0', vxlanTunnelMACAddr: '02:00:00:00:00:01' },
  { name: 'n2', ipv4Address: '192.168.10.12/24', ipv4VXLANTunnelAddr: '10.244.2.0', vxlanTunnelMACAddr: '02:00:00:00:00:02' },
  { name: 'n3', ipv4Address: '192.168.20.13/24', ipv4VXLANTunnelAddr: '10.244.3.0', vxlanTunnelMACAddr: '02:00:00:00:00:03',
    ipv6Address: 'fd00:20::13', ipv6VXLANTunnelAddr: 'fd00:244:0:3::', vxlanTunnelMACAddrV6: '02:00:00:00:06:03' },
  { name: 'n4', ipv4Address: '192.168.20.14/24' }, // no VTEP published yet
];

function ctx(pool: Partial<PoolSpec>, extraPools: PoolSpec[] = []): DecisionContext {
  return makeDecisionContext({
    pools: [{ cidr: '10.244.0.0/16', ...pool }, { cidr: 'fd00:244::/48', vxlanMode: pool.vxlanMode }, ...extraPools],
    interfaces, nodes, ownBlocks: ['10.244.1.0/24'],
  });
}

function only(c: DecisionContext, prefix: string, nh: string): FibNexthop {
  const d = decideRoute(c, { prefix, nexthops: [nh] });
  expect(d.skipped, JSON.stringify(d.skipped)).to.deep.equal([]);
  expect(d.route).to.not.equal(null);
  expect(d.route!.nexthops).to.have.length(1);
  return d.route!.nexthops[0];
}

describe('dataplane/nexthop-decision', () => {
  describe('CrossSubnet rule', () => {
    it('same subnet, every mode but Always: direct via the node on the uplink', () => {
      for (const pool of [{}, { ipipMode: 'CrossSubnet' as const }, { vxlanMode: 'CrossSubnet' as const }, { ipipMode: 'Never' as const }]) {
        expect(only(ctx(pool), '10.244.2.0/24', '192.168.10.12')).to.deep.equal(
          { kind: 'direct', gateway: '192.168.10.12', dev: 'eth0', onlink: false, bgpNexthop: '192.168.10.12' });
      }
    });

    it('IPIP CrossSubnet across subnets: via the node dev tunl0 onlink', () => {
      expect(only(ctx({ ipipMode: 'CrossSubnet' }), '10.244.3.0/24', '192.168.20.13')).to.deep.equal(
        { kind: 'ipip', gateway: '192.168.20.13', dev: IPIP_DEVICE, onlink: true, bgpNexthop: '192.168.20.13' });
    });

    it('IPIP Always tunnels even inside the subnet', () => {
      expect(only(ctx({ ipipMode: 'Always' }), '10.244.2.0/24', '192.168.10.12').kind).to.equal('ipip');
    });

    it('VXLAN across subnets: via the remote VTEP address dev vxlan.nexthop onlink', () => {
      expect(only(ctx({ vxlanMode: 'CrossSubnet' }), '10.244.3.0/24', '192.168.20.13')).to.deep.equal(
        { kind: 'vxlan', gateway: '10.244.3.0', dev: VXLAN_DEVICE, onlink: true, bgpNexthop: '192.168.20.13' });
      expect(only(ctx({ vxlanMode: 'Always' }), '10.244.2.0/24', '192.168.10.12').gateway).to.equal('10.244.2.0');
    });

    it('IPv6 pool over VXLAN uses the v6 device and the node\'s IPv6 VTEP', () => {
      const nh = only(ctx({ vxlanMode: 'CrossSubnet' }), 'fd00:244:0:3::/64', 'fd00:20::13');
      expect(nh).to.deep.equal({ kind: 'vxlan', gateway: 'fd00:244:0:3::', dev: VXLAN_V6_DEVICE, onlink: true, bgpNexthop: 'fd00:20::13' });
    });

    it('Never across subnets: a plain route via the node, no device', () => {
      expect(only(ctx({}), '10.244.3.0/24', '192.168.20.13')).to.deep.equal(
        { kind: 'plain', gateway: '192.168.20.13', onlink: false, bgpNexthop: '192.168.20.13' });
    });

    it('Never across subnets with host routes: resolved recursively to the host\'s own gateway (longest match)', () => {
      const c = makeDecisionContext({
        pools: [{ cidr: '10.244.0.0/16' }], interfaces, nodes, ownBlocks: ['10.244.1.0/24'],
        hostRoutes: [{ prefix: '0.0.0.0/0', gateway: '192.168.10.1', dev: 'eth0' }, { prefix: '192.168.20.0/24', gateway: '192.168.10.2', dev: 'eth0' }],
      });
      expect(only(c, '10.244.3.0/24', '192.168.20.13')).to.deep.equal(
        { kind: 'plain', gateway: '192.168.10.2', dev: 'eth0', onlink: false, bgpNexthop: '192.168.20.13' });
      expect(only(c, '10.244.5.0/24', '192.168.30.15')).to.include({ gateway: '192.168.10.1', bgpNexthop: '192.168.30.15' });
    });

    it('a prefix outside every pool is routed plainly or directly, never tunnelled', () => {
      expect(only(ctx({ ipipMode: 'Always' }), '172.16.0.0/12', '192.168.20.13').kind).to.equal('plain');
      expect(only(ctx({ ipipMode: 'Always' }), '0.0.0.0/0', '192.168.10.1').kind).to.equal('direct');
    });

    it('the most specific pool decides when pools nest', () => {
      const c = ctx({ ipipMode: 'CrossSubnet' }, [{ cidr: '10.244.128.0/17', vxlanMode: 'CrossSubnet' }]);
      expect(only(c, '10.244.200.0/24', '192.168.20.13').kind).to.equal('vxlan');
      expect(only(c, '10.244.3.0/24', '192.168.20.13').kind).to.equal('ipip');
    });
  });

  describe('what is not installed', () => {
    it('VXLAN to a node with no VTEP yet: skipped with the reason naming the node', () => {
      const d = decideRoute(ctx({ vxlanMode: 'CrossSubnet' }), { prefix: '10.244.4.0/24', nexthops: ['192.168.20.14'] });
      expect(d.route).to.equal(null);
      expect(d.skipped[0].reason).to.equal('no-vtep');
      expect(d.skipped[0].detail).to.contain('n4');
    });

    it('VXLAN to an address no node has: skipped', () => {
      const d = decideRoute(ctx({ vxlanMode: 'Always' }), { prefix: '10.244.9.0/24', nexthops: ['192.168.20.99'] });
      expect(d.route).to.equal(null);
      expect(d.skipped[0].detail).to.contain('no node has address 192.168.20.99');
    });

    it('a VTEP address of the wrong family is skipped, not handed to the FIB', () => {
      const c = makeDecisionContext({
        pools: [{ cidr: '10.244.0.0/16', vxlanMode: 'Always' }], interfaces, ownBlocks: [],
        nodes: [{ name: 'n9', ipv4Address: '192.168.10.19', ipv4VXLANTunnelAddr: 'fd00::9', vxlanTunnelMACAddr: '02:00:00:00:00:09' }],
      });
      const d = decideRoute(c, { prefix: '10.244.9.0/24', nexthops: ['192.168.10.19'] });
      expect(d.route).to.equal(null);
      expect(d.skipped[0].detail).to.contain("'fd00::9' is not an IPv4 address");
    });

    it('routes inside our own block are never installed (our blackhole holds it)', () => {
      const d = decideRoute(ctx({}), { prefix: '10.244.1.128/25', nexthops: ['192.168.10.12'] });
      expect(d.route).to.equal(null);
      expect(d.skipped[0].reason).to.equal('own-block');
    });

    it('a next hop that is our own address is skipped, the other ECMP paths stay', () => {
      const d = decideRoute(ctx({}), { prefix: '10.244.2.0/24', nexthops: ['192.168.10.11', '192.168.10.12'] });
      expect(d.route!.nexthops.map((n) => n.gateway)).to.deep.equal(['192.168.10.12']);
      expect(d.skipped.map((s) => s.reason)).to.deep.equal(['own-address']);
    });

    it('IPIP for an IPv6 route is refused with a reason', () => {
      const c = makeDecisionContext({ pools: [{ cidr: 'fd00:244::/48', ipipMode: 'Always' }], interfaces, nodes, ownBlocks: [] });
      const d = decideRoute(c, { prefix: 'fd00:244:0:3::/64', nexthops: ['fd00:20::13'] });
      expect(d.route).to.equal(null);
      expect(d.skipped[0].reason).to.equal('no-ipip-for-ipv6');
    });

    it('an IPv4 route with an IPv6 next hop (no encap) is a family mismatch', () => {
      const d = decideRoute(ctx({}), { prefix: '10.244.3.0/24', nexthops: ['fd00:10::13'] });
      expect(d.skipped[0].reason).to.equal('family-mismatch');
    });

    it('bad prefix and bad next hop give precise reasons, never throw', () => {
      expect(decideRoute(ctx({}), { prefix: '10.244.3.1/24', nexthops: ['192.168.10.12'] }).skipped[0].reason).to.equal('bad-prefix');
      expect(decideRoute(ctx({}), { prefix: 'nonsense', nexthops: [] }).skipped[0].reason).to.equal('bad-prefix');
      const d = decideRoute(ctx({}), { prefix: '10.244.3.0/24', nexthops: ['300.1.1.1'] });
      expect(d.route).to.equal(null);
      expect(d.skipped[0]).to.include({ reason: 'bad-nexthop', nexthop: '300.1.1.1' });
    });

    it('a withdrawn route (no next hops) decides to nothing', () => {
      expect(decideRoute(ctx({}), { prefix: '10.244.3.0/24', nexthops: [] })).to.deep.equal({ route: null, skipped: [] });
    });
  });

  describe('ECMP', () => {
    it('keeps every usable path, mixes kinds, drops duplicates, sorts stably', () => {
      const d = decideRoute(ctx({ ipipMode: 'CrossSubnet' }), {
        prefix: '10.244.8.0/24',
        nexthops: ['192.168.20.13', '192.168.10.12', '192.168.20.13', '192.168.10.12'],
      });
      expect(d.route!.nexthops.map((n) => `${n.kind}:${n.gateway}`)).to.deep.equal(['direct:192.168.10.12', 'ipip:192.168.20.13']);
    });

    it('the decision does not depend on the order of the next hops (property)', () => {
      const c = ctx({ vxlanMode: 'CrossSubnet' });
      const pool = ['192.168.10.12', '192.168.20.13', '192.168.20.14', '192.168.10.11', '192.168.30.1', 'bogus'];
      fc.assert(fc.property(fc.shuffledSubarray(pool), (nhs) => {
        const a = decideRoute(c, { prefix: '10.244.7.0/24', nexthops: nhs });
        const b = decideRoute(c, { prefix: '10.244.7.0/24', nexthops: [...nhs].reverse() });
        expect(a.route).to.deep.equal(b.route);
        expect(a.skipped.length).to.equal(b.skipped.length);
        // Every input next hop is either a path or a skip: nothing is lost silently.
        const used = new Set((a.route?.nexthops ?? []).map((n) => n.bgpNexthop));
        for (const n of nhs) expect(used.has(n) || a.skipped.some((s) => s.nexthop === n)).to.equal(true);
      }));
    });
  });

  describe('pool validation', () => {
    it('rejects IPIP and VXLAN both enabled on one pool, naming the pool and fields', () => {
      expect(() => ctx({ ipipMode: 'Always', vxlanMode: 'CrossSubnet' })).to.throw(PoolConfigError, /10\.244\.0\.0\/16: ipipMode\/vxlanMode/);
    });

    it('rejects an unknown mode and a bad cidr', () => {
      expect(() => ctx({ ipipMode: 'Sometimes' as never })).to.throw(PoolConfigError, /ipipMode: 'Sometimes'/);
      expect(() => makeDecisionContext({ pools: [{ cidr: '10.244.0.1/16' }], interfaces, nodes, ownBlocks: [] })).to.throw(PoolConfigError, /cidr/);
    });
  });

  describe('tunnels and MTU', () => {
    it('tunnelNeeds follows the enabled pools per family', () => {
      expect(tunnelNeeds([{ cidr: '10.0.0.0/16', ipipMode: 'CrossSubnet' }, { cidr: 'fd00::/48', vxlanMode: 'Always' }]))
        .to.deep.equal({ ipip: true, vxlan4: false, vxlan6: true });
      expect(tunnelNeeds([{ cidr: '10.0.0.0/16', vxlanMode: 'Always', disabled: true }])).to.deep.equal({ ipip: false, vxlan4: false, vxlan6: false });
    });

    it('MTU = uplink minus overhead: IPIP 20, VXLAN 50, over IPv6 40 and 70', () => {
      expect(tunnelMtu(1500, 'ipip', 4)).to.equal(1480);
      expect(tunnelMtu(1500, 'vxlan', 4)).to.equal(1450);
      expect(tunnelMtu(9000, 'vxlan', 6)).to.equal(8930);
      expect(tunnelMtu(1500, 'ipip', 6)).to.equal(1460);
      expect(() => tunnelMtu(100, 'vxlan', 4)).to.throw(RangeError);
    });

    it('pod MTU takes the largest overhead among the pools in use', () => {
      expect(podMtu(1500, [{ cidr: '10.0.0.0/16' }])).to.equal(1500);
      expect(podMtu(1500, [{ cidr: '10.0.0.0/16', ipipMode: 'CrossSubnet' }])).to.equal(1480);
      expect(podMtu(1500, [{ cidr: '10.0.0.0/16', ipipMode: 'Always' }, { cidr: '10.1.0.0/16', vxlanMode: 'Always' }])).to.equal(1450);
      expect(podMtu(1500, [{ cidr: '10.0.0.0/16', vxlanMode: 'Always' }, { cidr: 'fd00::/48', vxlanMode: 'CrossSubnet' }])).to.equal(1430);
    });
  });
});
