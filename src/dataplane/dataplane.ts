// The dataplane of one node: turns Loc-RIB route changes (prefix + ECMP next hops) and cluster
// data (pools with ipipMode/vxlanMode/natOutgoing, the nodes' addresses and VXLAN endpoints, this
// node's blocks) into kernel state: FIB routes (through engineer "netlink"'s FibReconciler, our
// rtm_protocol), a blackhole route per own block, tunnel devices with their neighbour/FDB
// entries, forwarding sysctls, firewall rules, and the CNI config. planDataplane() is the pure
// core; Dataplane is the shell that applies a plan and removes it again (teardown()).
// Decisions per route follow Calico's CrossSubnet rule (nexthop-decision.ts); RFC 2003 (IPIP),
// RFC 7348 (VXLAN), RFC 1812 §2.2.8.1 (forwarding), RFC 3022 (NAT).

import { FibReconciler, ReconcileReport } from './fib/reconciler';
import { FibRoute } from './fib/route';
import { NetlinkSocket } from './netlink/socket';
import { listRoutes } from './netlink/rtnl';
import { AF_INET, AF_INET6, RTN_UNICAST, RT_TABLE_MAIN } from './netlink/constants';
import { IpFamily, canonicalIP, cidrContains, formatCidr, formatIP, parseCidr, parseIP } from '../lib/ip';
import { CniFiles, CniOptions, SubnetEnvOptions, removeCniFiles, writeCniFiles } from './cni';
import { CommandRunner } from './exec';
import { Firewall, FirewallBackend, FirewallInput } from './firewall';
import { HostSetup, desiredSysctls } from './host';
import { LinkWithAddresses, hostInterfaces, linksWithAddresses } from './links';
import {
  DecisionContext, FibRouteIntent, HostInterface, HostRoute, IPIP_DEVICE, LocRibRoute, NodeEndpoint, PoolSpec, SkippedNexthop,
  VXLAN_DEVICE, VXLAN_PORT, VXLAN_V6_DEVICE, VXLAN_VNI, decideRoute, makeDecisionContext, parsePools, podMtu,
  tunnelMtu, tunnelNeeds,
} from './nexthop-decision';
import { IpipDeviceSpec, TunnelManager, VxlanDeviceSpec, VxlanPeer } from './tunnels';

/** Cluster data the dataplane needs; `nodes` includes this node. */
export interface ClusterView {
  nodeName: string;
  pools: PoolSpec[];
  nodes: Array<NodeEndpoint & {
    /** The node's pod blocks (spec.podCIDRs or IPAM): never masqueraded toward. */
    blocks?: string[];
    /** spec.bgp.ipv4IPIPTunnelAddr. */
    ipv4IPIPTunnelAddr?: string;
  }>;
  /** This node's blocks (blackholed; the CNI hands out their addresses). */
  ownBlocks: string[];
}

/**
 * Metric of the blackhole route for an own block. The CNI bridge's connected route for the block
 * (proto kernel, metric 0 / 256) must win while the bridge exists, and the two must not share a
 * route key (we never touch the kernel's route), so the blackhole sits far behind it.
 */
export const BLACKHOLE_METRIC = 0x40000000;

export class DataplaneConfigError extends Error {
  readonly code = 'DATAPLANE_CONFIG';
  constructor(readonly node: string, readonly field: string, detail: string) {
    super(`node ${node}: ${field}: ${detail}`);
    this.name = 'DataplaneConfigError';
  }
}

/** Everything one node's kernel should hold, computed without I/O. */
export interface DataplanePlan {
  uplink: HostInterface;
  underlay: IpFamily;
  sysctls: Record<string, string>;
  vxlan4: { device: VxlanDeviceSpec; peers: VxlanPeer[] } | null;
  vxlan6: { device: VxlanDeviceSpec; peers: VxlanPeer[] } | null;
  ipip: IpipDeviceSpec | null;
  firewall: FirewallInput;
  cni: { options: Omit<CniOptions, 'ipamDataDir' | 'bridge' | 'networkName' | 'portmap'>; subnetEnv: SubnetEnvOptions };
  blackholes: FibRoute[];
  /** The decision context for routes (pools, connected subnets, nodes, own blocks). */
  decision: DecisionContext;
}

function stripLen(a: string): string {
  const i = a.indexOf('/');
  return i < 0 ? a : a.slice(0, i);
}

/** The interface that holds `address` (the node's underlay address), or null. */
export function interfaceWithAddress(interfaces: HostInterface[], address: string): HostInterface | null {
  const want = canonicalIP(stripLen(address));
  return interfaces.find((i) => i.addresses.some((a) => canonicalIP(stripLen(a)) === want)) ?? null;
}

/**
 * Pure: the plan for this node. `interfaces` are the host's (up, non-loopback, our tunnel
 * devices excluded); `hostRoutes` its own gateway routes (for next hops that are not on-link).
 * Throws DataplaneConfigError naming the field when the cluster data cannot work (this node
 * missing, no uplink with the node address, a VXLAN pool without this node's VTEP address/MAC)
 * and PoolConfigError for a bad pool.
 */
export function planDataplane(cluster: ClusterView, interfaces: HostInterface[], uplinkName?: string, hostRoutes: HostRoute[] = []): DataplanePlan {
  const me = cluster.nodes.find((n) => n.name === cluster.nodeName);
  if (!me) throw new DataplaneConfigError(cluster.nodeName, 'nodes', 'this node is not among the cluster nodes');
  const pools = parsePools(cluster.pools);
  const nodeAddr = me.ipv4Address ?? me.ipv6Address;
  if (!nodeAddr) throw new DataplaneConfigError(me.name, 'spec.bgp.ipv4Address', 'the node has no address');
  const underlay: IpFamily = parseIP(stripLen(nodeAddr))?.length === 16 ? 6 : 4;
  const uplink = uplinkName ? interfaces.find((i) => i.name === uplinkName) ?? null : interfaceWithAddress(interfaces, nodeAddr);
  if (!uplink) {
    throw new DataplaneConfigError(me.name, uplinkName ? 'uplink' : 'spec.bgp.ipv4Address',
      uplinkName ? `no interface ${uplinkName} is up` : `no interface of this host holds ${stripLen(nodeAddr)}`);
  }
  const uplinkMtu = uplink.mtu ?? 1500;
  const needs = tunnelNeeds(cluster.pools);
  const families = {
    ipv4: pools.some((p) => p.cidr.family === 4 && !p.spec.disabled),
    ipv6: pools.some((p) => p.cidr.family === 6 && !p.spec.disabled),
  };

  const vxlanFor = (fam: IpFamily): { device: VxlanDeviceSpec; peers: VxlanPeer[] } => {
    const v6 = fam === 6;
    const vtep = v6 ? me.ipv6VXLANTunnelAddr : me.ipv4VXLANTunnelAddr;
    const mac = v6 ? me.vxlanTunnelMACAddrV6 : me.vxlanTunnelMACAddr;
    const addrField = v6 ? 'spec.ipv6VXLANTunnelAddr' : 'spec.ipv4VXLANTunnelAddr';
    const macField = v6 ? 'spec.vxlanTunnelMACAddrV6' : 'spec.vxlanTunnelMACAddr';
    if (!vtep) throw new DataplaneConfigError(me.name, addrField, `a pool uses VXLAN (IPv${fam}) but this node has no VTEP address`);
    if (!mac) throw new DataplaneConfigError(me.name, macField, `a pool uses VXLAN (IPv${fam}) but this node has no VTEP MAC`);
    // The outer header uses the underlay of the node's own address family for this overlay.
    const local = v6 ? me.ipv6Address : me.ipv4Address;
    if (!local) throw new DataplaneConfigError(me.name, v6 ? 'spec.bgp.ipv6Address' : 'spec.bgp.ipv4Address', `VXLAN over IPv${fam} needs this node's IPv${fam} address`);
    const peers: VxlanPeer[] = [];
    for (const n of cluster.nodes) {
      if (n.name === me.name) continue;
      const pv = v6 ? n.ipv6VXLANTunnelAddr : n.ipv4VXLANTunnelAddr;
      const pm = v6 ? n.vxlanTunnelMACAddrV6 : n.vxlanTunnelMACAddr;
      const pa = v6 ? n.ipv6Address : n.ipv4Address;
      // A node that has not published its VTEP yet gets no entry (its routes are skipped: no-vtep).
      if (pv && pm && pa) peers.push({ node: n.name, vtepAddress: stripLen(pv), vtepMac: pm, nodeAddress: stripLen(pa) });
    }
    return {
      device: {
        name: v6 ? VXLAN_V6_DEVICE : VXLAN_DEVICE, vni: VXLAN_VNI, port: VXLAN_PORT, uplinkIndex: 0,
        localAddress: stripLen(local), vtepAddress: stripLen(vtep), vtepMac: mac,
        mtu: tunnelMtu(uplinkMtu, 'vxlan', fam),
      },
      peers,
    };
  };

  const otherBlocks: string[] = [];
  for (const n of cluster.nodes) if (n.name !== me.name) otherBlocks.push(...(n.blocks ?? []));
  const ownCidrs = cluster.ownBlocks.map((b) => {
    const c = parseCidr(b);
    if (!c) throw new DataplaneConfigError(me.name, 'ownBlocks', `'${b}' is not a network address/length`);
    return c;
  });
  const blackholes: FibRoute[] = ownCidrs.map((c) => ({ prefix: formatCidr(c), type: 'blackhole' as const, metric: BLACKHOLE_METRIC }));
  const mtu = podMtu(uplinkMtu, cluster.pools);
  const enabledPools = pools.filter((p) => !p.spec.disabled);
  const decision = makeDecisionContext({ pools: cluster.pools, interfaces, nodes: cluster.nodes, ownBlocks: cluster.ownBlocks, hostRoutes });
  return {
    uplink,
    underlay,
    sysctls: desiredSysctls(families),
    vxlan4: needs.vxlan4 ? vxlanFor(4) : null,
    vxlan6: needs.vxlan6 ? vxlanFor(6) : null,
    ipip: needs.ipip ? { name: IPIP_DEVICE, mtu: tunnelMtu(uplinkMtu, 'ipip', 4), tunnelAddress: me.ipv4IPIPTunnelAddr ? stripLen(me.ipv4IPIPTunnelAddr) : undefined } : null,
    firewall: { pools: cluster.pools, otherBlocks },
    cni: {
      options: { blocks: cluster.ownBlocks, mtu },
      subnetEnv: {
        // FLANNEL_NETWORK: the pool holding the block (a block pinned outside every pool is its own network).
        networks: [...new Set(ownCidrs.map((c) => formatCidr(enabledPools.find((p) => cidrContains(p.cidr, c))?.cidr ?? c)))],
        blocks: cluster.ownBlocks,
        mtu,
        ipMasq: enabledPools.some((p) => p.spec.natOutgoing === true),
      },
    },
    blackholes,
    decision,
  };
}

/** Pure: a decided route as the FIB reconciler takes it. */
export function toFibRoute(r: FibRouteIntent): FibRoute {
  return {
    prefix: r.prefix,
    nexthops: r.nexthops.map((n) => ({ gateway: n.gateway, ifname: n.dev, onlink: n.onlink || undefined })),
  };
}

export interface DataplaneOptions {
  /** Request socket in the node's namespace (NetlinkSocket.open() in the agent). */
  socket: NetlinkSocket;
  /** The FIB reconciler (FibReconciler.open() in the agent); started by start(). */
  fib: FibReconciler;
  /** Runner for nft/iptables (default: direct, in this process's namespace). */
  run?: CommandRunner;
  /** Firewall backend (default: nft when installed, else iptables); false = no firewall rules. */
  firewall?: { backend?: FirewallBackend } | false;
  /** CNI files to write; false = none. */
  cni?: (CniFiles & { ipamDataDir?: string; bridge?: string; networkName?: string; portmap?: boolean }) | false;
  /** sysctl tree (default /proc/sys) and the file remembering the values we replaced. */
  procSysRoot?: string;
  hostStatePath?: string;
  /** The uplink by name; default: the interface holding the node's address. */
  uplink?: string;
}

export interface DataplaneStatus {
  plan: DataplanePlan | null;
  /** Routes from the RIB that are not installed (or installed with fewer paths), with reasons. */
  skipped: Array<{ prefix: string } & SkippedNexthop>;
  routes: number;
}

/**
 * One node's dataplane. Usage: `await dp.start(cluster, ribRoutes)`; then `updateRoutes()` as the
 * Loc-RIB changes and `updateCluster()` as the datastore does; `stop()` leaves everything in
 * place (a restart adopts it); `teardown()` removes exactly what nexthop added.
 */
export class Dataplane {
  private readonly tunnels: TunnelManager;
  private readonly firewall: Firewall | null;
  private readonly host: HostSetup;
  private cluster: ClusterView | null = null;
  private plan: DataplanePlan | null = null;
  /** The Loc-RIB as last given: prefix -> next hops. */
  private readonly rib = new Map<string, string[]>();
  private readonly skipped = new Map<string, SkippedNexthop[]>();
  /** Unicast routes handed to the FIB: canonical prefix -> the RIB prefix it came from. */
  private readonly installed = new Map<string, string>();
  private fibStarted = false;

  /**
   * The agent's way in: sockets in the namespace this process runs in (start the agent with
   * `ip netns exec NS` to use another), a FibReconciler with its route monitor, and `options`.
   */
  static open(options: Omit<DataplaneOptions, 'socket' | 'fib'> & { resyncIntervalMs?: number } = {}): Dataplane {
    const { resyncIntervalMs, ...rest } = options;
    const socket = NetlinkSocket.open();
    const fib = FibReconciler.open({ resyncIntervalMs });
    return new Dataplane({ ...rest, socket, fib });
  }

  constructor(private readonly opts: DataplaneOptions) {
    this.tunnels = new TunnelManager(opts.socket);
    this.firewall = opts.firewall === false ? null : new Firewall({ run: opts.run, backend: opts.firewall?.backend });
    this.host = new HostSetup({ procSysRoot: opts.procSysRoot, statePath: opts.hostStatePath });
  }

  /** Applies host state for `cluster`, sets the routes, starts the FIB reconciler. */
  async start(cluster: ClusterView, routes: LocRibRoute[] = []): Promise<ReconcileReport> {
    await this.updateCluster(cluster);
    this.setRoutes(routes);
    this.fibStarted = true;
    return this.opts.fib.start();
  }

  /**
   * Re-plans for new cluster data: sysctls, tunnels (and their peers), firewall, CNI files, then
   * every route is decided again. Throws (before touching routes) when the kernel lacks a tunnel
   * type the pools ask for (TunnelUnsupportedError) or the data cannot work (DataplaneConfigError).
   */
  async updateCluster(cluster: ClusterView): Promise<DataplanePlan> {
    const links = await linksWithAddresses(this.opts.socket);
    const interfaces = hostInterfaces(links, [IPIP_DEVICE, VXLAN_DEVICE, VXLAN_V6_DEVICE]);
    const hostRoutes = await this.hostRoutes(links);
    const plan = planDataplane(cluster, interfaces, this.opts.uplink, hostRoutes);
    // Tunnels first: a kernel without the module asked for stops us before anything else changes.
    const tunnelsChanged = await this.applyTunnels(plan, links);
    this.host.apply(plan.sysctls);
    if (this.firewall) await this.firewall.apply(plan.firewall);
    const cni = this.opts.cni;
    if (cni && plan.cni.options.blocks.length > 0) {
      writeCniFiles(cni, { ...plan.cni.options, ipamDataDir: cni.ipamDataDir, bridge: cni.bridge, networkName: cni.networkName, portmap: cni.portmap },
        plan.cni.subnetEnv.networks.length > 0 ? plan.cni.subnetEnv : null);
    }
    this.cluster = cluster;
    this.plan = plan;
    this.recomputeRoutes();
    // A device made anew (or removed) took its routes with it in the kernel; the reconciler's
    // view is stale until it reads the FIB again.
    if (tunnelsChanged && this.fibStarted) await this.opts.fib.resync();
    return plan;
  }

  /** The main table's single-path gateway routes that are not ours (for recursive next hops). */
  private async hostRoutes(links: LinkWithAddresses[]): Promise<HostRoute[]> {
    const names = new Map(links.map((l) => [l.link.index, l.link.name]));
    const out: HostRoute[] = [];
    for (const family of [AF_INET, AF_INET6]) {
      for (const r of await listRoutes(this.opts.socket, family)) {
        if (r.table !== RT_TABLE_MAIN || r.protocol === this.opts.fib.protocol || r.type !== RTN_UNICAST || !r.gateway) continue;
        const dst = r.dst ?? new Uint8Array(family === AF_INET ? 4 : 16);
        out.push({ prefix: `${formatIP(dst)}/${r.dstLen}`, gateway: formatIP(r.gateway), dev: r.oif !== undefined ? names.get(r.oif) : undefined });
      }
    }
    return out;
  }

  /** Ensures the tunnel devices; true when one was (re)created or removed (routes over it changed). */
  private async applyTunnels(plan: DataplanePlan, links: LinkWithAddresses[]): Promise<boolean> {
    const uplinkIndex = links.find((l) => l.link.name === plan.uplink.name)?.link.index;
    if (uplinkIndex === undefined) throw new DataplaneConfigError(this.cluster?.nodeName ?? '?', 'uplink', `${plan.uplink.name} disappeared`);
    let changed = false;
    if (plan.ipip) changed = (await this.tunnels.ensureIpip(plan.ipip)).created || changed;
    for (const [vx, name] of [[plan.vxlan4, VXLAN_DEVICE], [plan.vxlan6, VXLAN_V6_DEVICE]] as const) {
      if (!vx) {
        changed = (await this.tunnels.removeDevice(name)) || changed;
        continue;
      }
      const { index, created } = await this.tunnels.ensureVxlan({ ...vx.device, uplinkIndex });
      changed = created || changed;
      await this.tunnels.syncVxlanPeers(index, vx.device.name, vx.peers);
    }
    return changed;
  }

  /** Replaces the whole Loc-RIB view (e.g. after a speaker restart). */
  setRoutes(routes: LocRibRoute[]): void {
    this.rib.clear();
    for (const r of routes) if (r.nexthops.length > 0) this.rib.set(r.prefix, [...r.nexthops]);
    this.recomputeRoutes();
  }

  /**
   * Applies Loc-RIB changes: a route with next hops is added or replaced, one without is
   * withdrawn. Only the changed prefixes are decided again (O(changes), not O(RIB)).
   */
  updateRoutes(changes: LocRibRoute[]): void {
    for (const r of changes) {
      if (r.nexthops.length > 0) this.rib.set(r.prefix, [...r.nexthops]);
      else this.rib.delete(r.prefix);
    }
    if (!this.plan) return;
    for (const r of changes) this.decideOne(r.prefix);
  }

  /** Decides one prefix against the current plan and tells the FIB (upsert or remove). */
  private decideOne(prefix: string): void {
    const nexthops = this.rib.get(prefix);
    const d = nexthops ? decideRoute(this.plan!.decision, { prefix, nexthops }) : { route: null, skipped: [] };
    if (d.skipped.length > 0) this.skipped.set(prefix, d.skipped);
    else this.skipped.delete(prefix);
    const canonical = parseCidr(prefix);
    const key = d.route?.prefix ?? (canonical ? formatCidr(canonical) : prefix);
    const had = this.installed.get(key);
    if (d.route) {
      const route = toFibRoute(d.route);
      this.installed.set(key, prefix);
      this.opts.fib.upsertRoute(route);
    } else if (had === prefix) {
      this.installed.delete(key);
      this.opts.fib.removeRoute(key);
    }
  }

  private recomputeRoutes(): void {
    if (!this.plan) return; // routes wait for the first cluster view
    const fibRoutes: FibRoute[] = [...this.plan.blackholes];
    this.skipped.clear();
    this.installed.clear();
    for (const [prefix, nexthops] of this.rib) {
      const d = decideRoute(this.plan.decision, { prefix, nexthops });
      if (d.skipped.length > 0) this.skipped.set(prefix, d.skipped);
      // Two spellings of one network (e.g. "fd00:0::/64" and "fd00::/64"): the first one wins.
      if (!d.route || this.installed.has(d.route.prefix)) continue;
      this.installed.set(d.route.prefix, prefix);
      fibRoutes.push(toFibRoute(d.route));
    }
    this.opts.fib.setRoutes(fibRoutes);
  }

  /** Writes pending route changes now. */
  async flush(): Promise<ReconcileReport> {
    return this.opts.fib.flush();
  }

  status(): DataplaneStatus {
    const skipped: DataplaneStatus['skipped'] = [];
    for (const [prefix, list] of this.skipped) for (const s of list) skipped.push({ prefix, ...s });
    return { plan: this.plan, skipped, routes: this.rib.size };
  }

  /** Stops the reconciler; routes, devices, rules stay for the next run to adopt. */
  async stop(): Promise<void> {
    await this.opts.fib.stop();
  }

  /**
   * Removes what nexthop added: our routes (all routes of our protocol, also a previous run's),
   * the tunnel devices we own (and tunl0's tunnel address, from `cluster` or the last view), our
   * firewall table/chains, the sysctls we changed, the CNI files. Returns what was removed.
   */
  async teardown(cluster?: ClusterView): Promise<string[]> {
    const removed: string[] = [];
    // tunl0 outlives us (the ipip module's device); the tunnel address a previous run gave it is
    // known from the node's spec.
    const view = cluster ?? this.cluster;
    const me = view?.nodes.find((n) => n.name === view.nodeName);
    const known = me?.ipv4IPIPTunnelAddr ? [{ device: IPIP_DEVICE, address: stripLen(me.ipv4IPIPTunnelAddr) }] : [];
    this.rib.clear();
    this.installed.clear();
    this.plan = null;
    this.opts.fib.setRoutes([]);
    const report = this.fibStarted ? await this.opts.fib.flush() : await this.opts.fib.start();
    this.fibStarted = true;
    removed.push(`${report.deleted} routes`);
    removed.push(...await this.tunnels.teardown(known));
    if (this.firewall) {
      await this.firewall.teardown();
      removed.push('firewall rules');
    }
    removed.push(...this.host.teardown().map((k) => `sysctl ${k.replace(/\//g, '.')}`));
    if (this.opts.cni) {
      removeCniFiles(this.opts.cni);
      removed.push('CNI files');
    }
    await this.opts.fib.stop();
    return removed;
  }
}
