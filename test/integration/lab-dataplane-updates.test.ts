// Dataplane updates in a real kernel (one node namespace, sockets opened inside it with
// openNetlinkIn; sysctls go to a temp tree, firewall and CNI are off - lab-dataplane covers
// them): incremental Loc-RIB changes (add, change next hop, withdraw, ECMP across a direct and a
// VXLAN path), routes skipped for a node without VTEP and installed once it publishes one, a
// Never pool resolving a remote next hop through the host's default route (RFC 4271 §5.1.3), a
// VXLAN device re-created when its settings drift, and teardown.
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Lab, isRoot, nsExec } from '../helpers/lab';
import { ClusterView, Dataplane } from '../../src/dataplane/dataplane';
import { FibReconciler } from '../../src/dataplane/fib/reconciler';
import { openNetlinkIn } from '../../src/dataplane/netlink/socket';
import { NetlinkSocket } from '../../src/dataplane/netlink/rtnl';
import { EncapMode } from '../../src/dataplane/nexthop-decision';

interface IpRoute { dst: string; gateway?: string; dev?: string; protocol?: string; flags?: string[]; nexthops?: Array<{ gateway: string; dev: string; flags?: string[] }> }

describe('lab: dataplane updates in one node namespace (integration)', function () {
  this.timeout(60000);
  const lab = new Lab('du');
  let ns = '';
  let socket: NetlinkSocket;
  let fib: FibReconciler;
  let dp: Dataplane;
  let sysRoot = '';

  const ours = (): IpRoute[] => (JSON.parse(nsExec(ns, 'ip', ['-j', 'route', 'show', 'proto', '78'])) as IpRoute[]);
  const route = (dst: string): IpRoute | undefined => ours().find((r) => r.dst === dst);

  function cluster(mode: { vxlanMode?: EncapMode }, cPublished: boolean): ClusterView {
    return {
      nodeName: 'self',
      pools: [{ cidr: '10.245.0.0/16', ...mode }],
      ownBlocks: ['10.245.1.0/24'],
      nodes: [
        { name: 'self', ipv4Address: '192.168.30.1/24', ipv4VXLANTunnelAddr: '10.245.1.0', vxlanTunnelMACAddr: '02:00:00:00:30:01' },
        { name: 'a', ipv4Address: '192.168.30.2/24', ipv4VXLANTunnelAddr: '10.245.2.0', vxlanTunnelMACAddr: '02:00:00:00:30:02' },
        { name: 'b', ipv4Address: '192.168.40.3/24', ipv4VXLANTunnelAddr: '10.245.3.0', vxlanTunnelMACAddr: '02:00:00:00:40:03' },
        cPublished
          ? { name: 'c', ipv4Address: '192.168.40.4/24', ipv4VXLANTunnelAddr: '10.245.4.0', vxlanTunnelMACAddr: '02:00:00:00:40:04' }
          : { name: 'c', ipv4Address: '192.168.40.4/24' },
      ],
    };
  }

  before(async function () {
    if (!isRoot()) return this.skip();
    ns = lab.netns('node');
    const peer = lab.netns('peer');
    lab.link(ns, ['192.168.30.1/24'], peer, ['192.168.30.254/24'], ['eth0', 'eth0']);
    nsExec(ns, 'ip', ['route', 'add', 'default', 'via', '192.168.30.254']);
    // A copy of the two forwarding sysctls: this test process is in the root namespace, so the
    // real /proc/sys must never be its target (lab-dataplane runs the real one in the node).
    sysRoot = lab.tempDir();
    for (const key of ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding']) {
      fs.mkdirSync(path.dirname(path.join(sysRoot, key)), { recursive: true });
      fs.writeFileSync(path.join(sysRoot, key), '0\n');
    }
    socket = openNetlinkIn(ns);
    fib = new FibReconciler({ socket: openNetlinkIn(ns), monitorSocket: null, resyncIntervalMs: 0, retryIntervalMs: 200 });
    dp = new Dataplane({ socket, fib, firewall: false, cni: false, procSysRoot: sysRoot });
  });

  after(async () => {
    try { await fib?.stop(); } catch { /* stopped by teardown */ }
    if (socket && !socket.isClosed) socket.close();
    await lab.destroy();
  });

  it('starts: direct, VXLAN, ECMP over both; the node without a VTEP is skipped with the reason', async () => {
    await dp.start(cluster({ vxlanMode: 'CrossSubnet' }, false), [
      { prefix: '10.245.2.0/24', nexthops: ['192.168.30.2'] },
      { prefix: '10.245.3.0/24', nexthops: ['192.168.40.3'] },
      { prefix: '10.245.4.0/24', nexthops: ['192.168.40.4'] },
      { prefix: '10.245.100.0/24', nexthops: ['192.168.30.2', '192.168.40.3'] },
    ]);
    expect(route('10.245.2.0/24')).to.deep.include({ gateway: '192.168.30.2', dev: 'eth0' });
    expect(route('10.245.3.0/24')).to.deep.include({ gateway: '10.245.3.0', dev: 'vxlan.nexthop' });
    expect(route('10.245.4.0/24')).to.equal(undefined);
    const ecmp = route('10.245.100.0/24')!;
    expect(ecmp.nexthops!.map((h) => `${h.gateway} ${h.dev}`).sort()).to.deep.equal(['10.245.3.0 vxlan.nexthop', '192.168.30.2 eth0']);
    expect(dp.status().skipped.map((s) => `${s.prefix} ${s.reason}`)).to.deep.equal(['10.245.4.0/24 no-vtep']);
    expect(fs.readFileSync(path.join(sysRoot, 'net/ipv4/ip_forward'), 'utf8').trim()).to.equal('1');
  });

  it('incremental updates: next hop moves, a route is withdrawn, a new one appears', async () => {
    dp.updateRoutes([
      { prefix: '10.245.3.0/24', nexthops: ['192.168.30.2'] },
      { prefix: '10.245.2.0/24', nexthops: [] },
      { prefix: '10.245.5.0/24', nexthops: ['192.168.40.3'] },
    ]);
    await dp.flush();
    expect(route('10.245.3.0/24')).to.deep.include({ gateway: '192.168.30.2', dev: 'eth0' });
    expect(route('10.245.2.0/24')).to.equal(undefined);
    expect(route('10.245.5.0/24')).to.deep.include({ gateway: '10.245.3.0', dev: 'vxlan.nexthop' });
  });

  it('a node that publishes its VTEP gets its neighbour/FDB entries and its routes', async () => {
    await dp.updateCluster(cluster({ vxlanMode: 'CrossSubnet' }, true));
    await dp.flush();
    expect(route('10.245.4.0/24')).to.deep.include({ gateway: '10.245.4.0', dev: 'vxlan.nexthop' });
    expect(nsExec(ns, 'bridge', ['fdb', 'show', 'dev', 'vxlan.nexthop'])).to.contain('02:00:00:00:40:04 dst 192.168.40.4 self permanent');
    expect(dp.status().skipped).to.deep.equal([]);
  });

  it('a VXLAN device whose settings drifted is re-created to ours', async () => {
    nsExec(ns, 'ip', ['link', 'del', 'vxlan.nexthop']);
    nsExec(ns, 'ip', ['link', 'add', 'vxlan.nexthop', 'type', 'vxlan', 'id', '7', 'dstport', '8472', 'dev', 'eth0']);
    await dp.updateCluster(cluster({ vxlanMode: 'CrossSubnet' }, true));
    await dp.flush();
    const link = JSON.parse(nsExec(ns, 'ip', ['-d', '-j', 'link', 'show', 'vxlan.nexthop']))[0];
    expect(link.linkinfo.info_data).to.include({ id: 4096, port: 4789, local: '192.168.30.1', learning: false });
    expect(route('10.245.4.0/24')).to.deep.include({ gateway: '10.245.4.0', dev: 'vxlan.nexthop' });
  });

  it('pool switched to Never: the VXLAN device goes, remote next hops resolve through the default route', async () => {
    await dp.updateCluster(cluster({}, true));
    await dp.flush();
    expect(nsExec(ns, 'ip', ['-o', 'link', 'show'])).to.not.contain('vxlan.nexthop');
    expect(route('10.245.4.0/24')).to.deep.include({ gateway: '192.168.30.254', dev: 'eth0' });
    expect(route('10.245.3.0/24')).to.deep.include({ gateway: '192.168.30.2', dev: 'eth0' });
  });

  it('teardown removes our routes, restores the sysctl, leaves the host default route', async () => {
    const removed = await dp.teardown();
    expect(removed[0]).to.match(/^\d+ routes$/);
    expect(ours()).to.deep.equal([]);
    expect(fs.readFileSync(path.join(sysRoot, 'net/ipv4/ip_forward'), 'utf8').trim()).to.equal('0');
    expect(nsExec(ns, 'ip', ['route', 'show', 'default'])).to.contain('via 192.168.30.254');
  });
});

describe('lab: dual-stack dataplane, IPv6 over vxlan6.nexthop (integration)', function () {
  this.timeout(60000);
  const lab = new Lab('d6');
  let ns = '';
  let socket: NetlinkSocket;
  let fib: FibReconciler;
  let dp: Dataplane;
  let sysRoot = '';

  const ours6 = (): IpRoute[] => JSON.parse(nsExec(ns, 'ip', ['-6', '-j', 'route', 'show', 'proto', '78'])) as IpRoute[];

  const cluster: ClusterView = {
    nodeName: 'self',
    pools: [{ cidr: '10.247.0.0/16', vxlanMode: 'CrossSubnet' }, { cidr: 'fd00:247::/48', vxlanMode: 'CrossSubnet' }],
    ownBlocks: ['10.247.1.0/24', 'fd00:247:0:1::/64'],
    nodes: [
      { name: 'self', ipv4Address: '192.168.50.1/24', ipv6Address: 'fd00:50::1/64', ipv4VXLANTunnelAddr: '10.247.1.0', vxlanTunnelMACAddr: '02:00:00:00:50:01',
        ipv6VXLANTunnelAddr: 'fd00:247:0:1::', vxlanTunnelMACAddrV6: '02:00:00:00:56:01' },
      { name: 'a', ipv4Address: '192.168.50.2/24', ipv6Address: 'fd00:50::2/64', ipv4VXLANTunnelAddr: '10.247.2.0', vxlanTunnelMACAddr: '02:00:00:00:50:02',
        ipv6VXLANTunnelAddr: 'fd00:247:0:2::', vxlanTunnelMACAddrV6: '02:00:00:00:56:02' },
      { name: 'b', ipv4Address: '192.168.60.3/24', ipv6Address: 'fd00:60::3/64', ipv4VXLANTunnelAddr: '10.247.3.0', vxlanTunnelMACAddr: '02:00:00:00:60:03',
        ipv6VXLANTunnelAddr: 'fd00:247:0:3::', vxlanTunnelMACAddrV6: '02:00:00:00:66:03' },
    ],
  };

  before(async function () {
    if (!isRoot()) return this.skip();
    ns = lab.netns('node');
    const peer = lab.netns('peer');
    lab.link(ns, ['192.168.50.1/24', 'fd00:50::1/64'], peer, ['192.168.50.254/24', 'fd00:50::fe/64'], ['eth0', 'eth0']);
    nsExec(ns, 'ip', ['route', 'add', 'default', 'via', '192.168.50.254']);
    nsExec(ns, 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd00:50::fe']);
    sysRoot = lab.tempDir();
    for (const key of ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding']) {
      fs.mkdirSync(path.dirname(path.join(sysRoot, key)), { recursive: true });
      fs.writeFileSync(path.join(sysRoot, key), '0\n');
    }
    socket = openNetlinkIn(ns);
    fib = new FibReconciler({ socket: openNetlinkIn(ns), monitorSocket: null, resyncIntervalMs: 0, retryIntervalMs: 200 });
    dp = new Dataplane({ socket, fib, firewall: false, cni: false, procSysRoot: sysRoot });
  });

  after(async () => {
    try { await fib?.stop(); } catch { /* stopped by teardown */ }
    if (socket && !socket.isClosed) socket.close();
    await lab.destroy();
  });

  it('IPv6: direct within the subnet, via the v6 VTEP on vxlan6.nexthop across, blackhole, forwarding on', async () => {
    await dp.start(cluster, [
      { prefix: 'fd00:247:0:2::/64', nexthops: ['fd00:50::2'] },
      { prefix: 'fd00:247:0:3::/64', nexthops: ['fd00:60::3'] },
      { prefix: '10.247.3.0/24', nexthops: ['192.168.60.3'] },
    ]);
    const r6 = ours6();
    expect(r6.find((r) => r.dst === 'fd00:247:0:2::/64')).to.deep.include({ gateway: 'fd00:50::2', dev: 'eth0' });
    const across = r6.find((r) => r.dst === 'fd00:247:0:3::/64')!;
    expect(across).to.deep.include({ gateway: 'fd00:247:0:3::', dev: 'vxlan6.nexthop' });
    expect(across.flags).to.include('onlink');
    expect(r6.find((r) => r.dst === 'fd00:247:0:1::/64')).to.deep.include({ type: 'blackhole' });
    expect(ours().find((r) => r.dst === '10.247.3.0/24')).to.deep.include({ gateway: '10.247.3.0', dev: 'vxlan.nexthop' });
    const link = JSON.parse(nsExec(ns, 'ip', ['-d', '-j', 'link', 'show', 'vxlan6.nexthop']))[0];
    expect(link.linkinfo.info_data).to.include({ id: 4096, port: 4789, local6: 'fd00:50::1', learning: false });
    expect(link.mtu).to.equal(1430);
    expect(dp.status().plan!.cni.options.mtu, 'pods fit the IPv6 overlay too').to.equal(1430);
    expect(nsExec(ns, 'ip', ['-6', 'neigh', 'show', 'dev', 'vxlan6.nexthop'])).to.contain('fd00:247:0:3:: lladdr 02:00:00:00:66:03 PERMANENT');
    expect(nsExec(ns, 'bridge', ['fdb', 'show', 'dev', 'vxlan6.nexthop'])).to.contain('02:00:00:00:66:03 dst fd00:60::3 self permanent');
    expect(fs.readFileSync(path.join(sysRoot, 'net/ipv6/conf/all/forwarding'), 'utf8').trim()).to.equal('1');
  });

  it('teardown removes both VXLAN devices and every route of ours', async () => {
    await dp.teardown();
    expect(ours6()).to.deep.equal([]);
    expect(ours()).to.deep.equal([]);
    expect(nsExec(ns, 'ip', ['-o', 'link', 'show'])).to.not.match(/vxlan/);
    expect(fs.readFileSync(path.join(sysRoot, 'net/ipv6/conf/all/forwarding'), 'utf8').trim()).to.equal('0');
  });

  function ours(): IpRoute[] {
    return JSON.parse(nsExec(ns, 'ip', ['-j', 'route', 'show', 'proto', '78'])) as IpRoute[];
  }
});
