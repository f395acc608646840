// Next-hop decision: how a route learned over BGP becomes a kernel route on this host. Pure (no
// I/O): input is the route (prefix + ECMP next hops), the IP pools with their encapsulation modes,
// this host's interfaces and the cluster's nodes (their addresses and VXLAN tunnel endpoints);
// output is the route the FIB should hold. Implements Calico's encapsulation rule:
//   - next hop on a subnet this host is directly connected to -> `via NH dev <uplink>`
//     (flannel host-gw; Calico CrossSubnet inside a subnet, and `Never`);
//   - otherwise by the pool: IPIP (`ipipMode` Always, or CrossSubnet across subnets, RFC 2003
//     IP-in-IP) -> `via NH dev tunl0 onlink`; VXLAN (`vxlanMode`, RFC 7348) -> `via <remote VTEP
//     address> dev vxlan.nexthop onlink`; Never -> plain `via NH`, resolved recursively through
//     the host's own routes when NH is not on a connected subnet (RFC 4271 §5.1.3 / §9.1.2.1:
//     the immediate next hop is found by a lookup of the NEXT_HOP address; BIRD's
//     `gateway recursive`), since the kernel takes only an on-link gateway.
// The tunnel MTU arithmetic (RFC 2003 §3.1: 20-octet outer IPv4 header; RFC 7348 §5: 8 UDP +
// 8 VXLAN + 14 inner Ethernet over an outer IP header) lives here too.

import {
  Cidr, IpFamily, canonicalIP, cidrContains, cidrContainsIP, formatCidr, parseCidr, parseIP,
} from '../lib/ip';

/** Calico's IPPool encapsulation modes (ipipMode / vxlanMode). */
export type EncapMode = 'Always' | 'CrossSubnet' | 'Never';

export const ENCAP_MODES: readonly EncapMode[] = ['Always', 'CrossSubnet', 'Never'];

/** The fields of an IPPool the dataplane uses. */
export interface PoolSpec {
  cidr: string;
  ipipMode?: EncapMode;
  vxlanMode?: EncapMode;
  natOutgoing?: boolean;
  disabled?: boolean;
}

/** One interface of this host with its addresses ("10.0.0.5/24"); connected subnets come from them. */
export interface HostInterface {
  name: string;
  addresses: string[];
  mtu?: number;
}

/** A cluster node as the dataplane needs it: underlay addresses and VXLAN endpoints. */
export interface NodeEndpoint {
  name: string;
  /** Underlay addresses (spec.bgp.ipv4Address / ipv6Address), without or with "/len". */
  ipv4Address?: string;
  ipv6Address?: string;
  /** spec.ipv4VXLANTunnelAddr and spec.vxlanTunnelMACAddr. */
  ipv4VXLANTunnelAddr?: string;
  vxlanTunnelMACAddr?: string;
  /** spec.ipv6VXLANTunnelAddr and spec.vxlanTunnelMACAddrV6 (IPv6 pools over VXLAN). */
  ipv6VXLANTunnelAddr?: string;
  vxlanTunnelMACAddrV6?: string;
}

/** A route of the host's own (not ours): used to resolve a next hop that is not on-link. */
export interface HostRoute {
  prefix: string;
  gateway?: string;
  dev?: string;
}

/** A Loc-RIB route as the speaker hands it over; no next hops means the route is gone. */
export interface LocRibRoute {
  prefix: string;
  nexthops: string[];
}

export type NexthopKind = 'direct' | 'ipip' | 'vxlan' | 'plain';

/** Names of the tunnel devices nexthop owns (Calico: tunl0, vxlan.calico, vxlan-v6.calico); at most 15 bytes (IFNAMSIZ). */
export const IPIP_DEVICE = 'tunl0';
export const VXLAN_DEVICE = 'vxlan.nexthop';
export const VXLAN_V6_DEVICE = 'vxlan6.nexthop';
/** VNI and UDP port as Calico uses them (RFC 7348 §5: IANA port 4789). */
export const VXLAN_VNI = 4096;
export const VXLAN_PORT = 4789;

/** One next hop of a FIB route. */
export interface FibNexthop {
  kind: NexthopKind;
  /** The gateway written into the route (the node, or its VTEP address for VXLAN). */
  gateway: string;
  /** Output device; absent for `plain` when no host route resolves the next hop. */
  dev?: string;
  /** RTNH_F_ONLINK: the gateway is reachable on the device even with no connected subnet. */
  onlink: boolean;
  /** The BGP next hop this came from (the node's underlay address). */
  bgpNexthop: string;
}

export interface FibRouteIntent {
  prefix: string;
  family: IpFamily;
  nexthops: FibNexthop[];
}

/** Why a next hop (or a whole route) was not turned into a kernel route. */
export type SkipReason =
  | 'bad-prefix'
  | 'bad-nexthop'
  | 'family-mismatch'
  | 'own-block'
  | 'own-address'
  | 'no-vtep'
  | 'no-ipip-for-ipv6';

export interface SkippedNexthop {
  nexthop: string;
  reason: SkipReason;
  detail: string;
}

export interface RouteDecision {
  /** The route to install, or null when nothing usable remains (withdrawn or all skipped). */
  route: FibRouteIntent | null;
  skipped: SkippedNexthop[];
}

/** A pool whose configuration the dataplane cannot act on; names the pool and the field. */
export class PoolConfigError extends Error {
  readonly code = 'POOL_CONFIG';
  constructor(readonly pool: string, readonly field: string, detail: string) {
    super(`IPPool ${pool}: ${field}: ${detail}`);
    this.name = 'PoolConfigError';
  }
}

interface ParsedPool {
  spec: PoolSpec;
  cidr: Cidr;
  ipipMode: EncapMode;
  vxlanMode: EncapMode;
}

interface ConnectedSubnet {
  dev: string;
  cidr: Cidr;
  address: Uint8Array;
}

/** Everything the decision needs about the cluster and this host, parsed once. */
export interface DecisionContext {
  pools: ParsedPool[];
  connected: ConnectedSubnet[];
  /** This host's own addresses (any interface), canonical text. */
  ownAddresses: Set<string>;
  /** This node's blocks: routes for them are never installed from BGP (our blackhole holds them). */
  ownBlocks: Cidr[];
  /** Nodes by canonical underlay address. */
  nodesByAddress: Map<string, NodeEndpoint>;
  /** The host's routes with a gateway (not ours), for recursive resolution of `plain` next hops. */
  hostRoutes: Array<{ cidr: Cidr; gateway: string; dev?: string }>;
  /**
   * Decided next hops by (pool, family, next hop text): a next hop's decision depends on the
   * route only through its pool and family, and a RIB has many routes per next hop.
   */
  nexthopCache: Map<string, FibNexthop>;
}

function modeOf(pool: PoolSpec, field: 'ipipMode' | 'vxlanMode'): EncapMode {
  const v = pool[field];
  if (v === undefined) return 'Never';
  if (!ENCAP_MODES.includes(v)) {
    throw new PoolConfigError(pool.cidr, field, `'${String(v)}' is not one of ${ENCAP_MODES.join(', ')}`);
  }
  return v;
}

/** Parses and validates pools (Calico's rule: IPIP and VXLAN are not both enabled on one pool). */
export function parsePools(pools: PoolSpec[]): ParsedPool[] {
  return pools.map((spec) => {
    const cidr = parseCidr(spec.cidr);
    if (!cidr) throw new PoolConfigError(spec.cidr, 'cidr', 'not a network in address/length form with host bits clear');
    const ipipMode = modeOf(spec, 'ipipMode');
    const vxlanMode = modeOf(spec, 'vxlanMode');
    if (ipipMode !== 'Never' && vxlanMode !== 'Never') {
      throw new PoolConfigError(spec.cidr, 'ipipMode/vxlanMode', 'IPIP and VXLAN cannot both be enabled on one pool');
    }
    return { spec, cidr, ipipMode, vxlanMode };
  });
}

function stripLen(text: string): string {
  const slash = text.indexOf('/');
  return slash < 0 ? text : text.slice(0, slash);
}

/** Builds the decision context; throws PoolConfigError for a bad pool, TypeError for a bad interface address. */
export function makeDecisionContext(input: {
  pools: PoolSpec[];
  interfaces: HostInterface[];
  nodes: NodeEndpoint[];
  ownBlocks: string[];
  hostRoutes?: HostRoute[];
}): DecisionContext {
  const pools = parsePools(input.pools);
  const connected: ConnectedSubnet[] = [];
  const ownAddresses = new Set<string>();
  for (const iface of input.interfaces) {
    for (const a of iface.addresses) {
      const c = parseCidr(a, false);
      const addr = parseIP(stripLen(a));
      if (!c || !addr) throw new TypeError(`interface ${iface.name}: '${a}' is not address/length`);
      ownAddresses.add(canonicalIP(stripLen(a))!);
      // A /32 or /128 (a tunnel address, a loopback) connects no subnet.
      if (c.length < addr.length * 8) connected.push({ dev: iface.name, cidr: c, address: addr });
    }
  }
  const ownBlocks: Cidr[] = [];
  for (const b of input.ownBlocks) {
    const c = parseCidr(b);
    if (!c) throw new TypeError(`own block '${b}' is not a network address/length`);
    ownBlocks.push(c);
  }
  const nodesByAddress = new Map<string, NodeEndpoint>();
  for (const n of input.nodes) {
    for (const a of [n.ipv4Address, n.ipv6Address]) {
      if (!a) continue;
      const canon = canonicalIP(stripLen(a));
      if (canon) nodesByAddress.set(canon, n);
    }
  }
  const hostRoutes: DecisionContext['hostRoutes'] = [];
  for (const r of input.hostRoutes ?? []) {
    const c = parseCidr(r.prefix, false);
    const gw = r.gateway ? canonicalIP(r.gateway) : null;
    if (c && gw) hostRoutes.push({ cidr: c, gateway: gw, dev: r.dev });
  }
  return { pools, connected, ownAddresses, ownBlocks, nodesByAddress, hostRoutes, nexthopCache: new Map() };
}

/** The host route (with a gateway) that carries traffic to `addr`: longest match, or null. */
export function resolveViaHostRoutes(ctx: DecisionContext, addr: Uint8Array): { gateway: string; dev?: string } | null {
  let best: DecisionContext['hostRoutes'][number] | null = null;
  for (const r of ctx.hostRoutes) {
    if (r.cidr.bytes.length === addr.length && cidrContainsIP(r.cidr, addr) && (!best || r.cidr.length > best.cidr.length)) best = r;
  }
  return best ? { gateway: best.gateway, dev: best.dev } : null;
}

/** The pool containing `prefix` (the longest one when pools nest), or null. */
export function poolFor(ctx: DecisionContext, prefix: Cidr): ParsedPool | null {
  let best: ParsedPool | null = null;
  for (const p of ctx.pools) {
    if (cidrContains(p.cidr, prefix) && (!best || p.cidr.length > best.cidr.length)) best = p;
  }
  return best;
}

/** The interface whose connected subnet holds `addr` (longest match), or null. */
export function connectedDevice(ctx: DecisionContext, addr: Uint8Array): string | null {
  let best: ConnectedSubnet | null = null;
  for (const c of ctx.connected) {
    if (c.cidr.family === (addr.length === 4 ? 4 : 6) && cidrContainsIP(c.cidr, addr) &&
      (!best || c.cidr.length > best.cidr.length)) best = c;
  }
  return best ? best.dev : null;
}

/**
 * Decides one next hop. Returns the FIB next hop, or a skip with the reason.
 * Calico CrossSubnet: an encap mode of CrossSubnet encapsulates only when the next hop is not on
 * a connected subnet; Always encapsulates even then; Never never does.
 */
export function decideNexthop(ctx: DecisionContext, prefix: Cidr, pool: ParsedPool | null, nexthop: string):
  FibNexthop | SkippedNexthop {
  const nh = parseIP(nexthop);
  if (!nh) return { nexthop, reason: 'bad-nexthop', detail: `'${nexthop}' is not an IP address` };
  const gw = canonicalIP(nexthop)!;
  const nhFamily: IpFamily = nh.length === 4 ? 4 : 6;
  if (ctx.ownAddresses.has(gw)) {
    return { nexthop: gw, reason: 'own-address', detail: `next hop ${gw} is an address of this host` };
  }
  const uplink = connectedDevice(ctx, nh);
  const ipip = pool ? pool.ipipMode : 'Never';
  const vxlan = pool ? pool.vxlanMode : 'Never';
  const encap: 'ipip' | 'vxlan' | null =
    ipip === 'Always' || (ipip === 'CrossSubnet' && uplink === null) ? 'ipip'
      : vxlan === 'Always' || (vxlan === 'CrossSubnet' && uplink === null) ? 'vxlan'
        : null;
  if (encap === 'ipip') {
    // RFC 2003 carries IPv4 in IPv4; Calico ignores ipipMode for IPv6 pools (no ip6 tunnel).
    if (prefix.family !== 4 || nhFamily !== 4) {
      return { nexthop: gw, reason: 'no-ipip-for-ipv6', detail: `IPIP carries IPv4 over IPv4 only; ${formatCidr(prefix)} via ${gw} is not` };
    }
    return { kind: 'ipip', gateway: gw, dev: IPIP_DEVICE, onlink: true, bgpNexthop: gw };
  }
  if (encap === 'vxlan') {
    const node = ctx.nodesByAddress.get(gw);
    const v6 = prefix.family === 6;
    const vtep = node ? (v6 ? node.ipv6VXLANTunnelAddr : node.ipv4VXLANTunnelAddr) : undefined;
    const mac = node ? (v6 ? node.vxlanTunnelMACAddrV6 : node.vxlanTunnelMACAddr) : undefined;
    if (!node || !vtep || !mac) {
      const what = !node ? `no node has address ${gw}` : `node ${node.name} has no ${v6 ? 'ipv6VXLANTunnelAddr/vxlanTunnelMACAddrV6' : 'ipv4VXLANTunnelAddr/vxlanTunnelMACAddr'} yet`;
      return { nexthop: gw, reason: 'no-vtep', detail: `VXLAN route ${formatCidr(prefix)}: ${what}` };
    }
    const vtepBytes = parseIP(stripLen(vtep));
    if (!vtepBytes || vtepBytes.length !== prefix.bytes.length) {
      return { nexthop: gw, reason: 'no-vtep', detail: `node ${node.name}: VXLAN tunnel address '${vtep}' is not an IPv${prefix.family} address` };
    }
    const vtepCanon = canonicalIP(stripLen(vtep))!;
    return { kind: 'vxlan', gateway: vtepCanon, dev: v6 ? VXLAN_V6_DEVICE : VXLAN_DEVICE, onlink: true, bgpNexthop: gw };
  }
  if (nhFamily !== prefix.family) {
    // RFC 8950 (IPv4 over an IPv6 next hop) needs the kernel's RTA_VIA; we do not install it.
    return { nexthop: gw, reason: 'family-mismatch', detail: `${formatCidr(prefix)} has an IPv${nhFamily} next hop ${gw}` };
  }
  if (uplink !== null) return { kind: 'direct', gateway: gw, dev: uplink, onlink: false, bgpNexthop: gw };
  // Not on-link: the kernel will not take `via NH` as it is; route toward NH the way the host
  // reaches NH itself (RFC 4271 §5.1.3 immediate next hop). Unresolvable: left to the kernel,
  // which refuses it, and the FIB reports that route as failing.
  const via = resolveViaHostRoutes(ctx, nh);
  if (via && via.gateway !== gw) return { kind: 'plain', gateway: via.gateway, dev: via.dev, onlink: false, bgpNexthop: gw };
  return { kind: 'plain', gateway: gw, onlink: false, bgpNexthop: gw };
}

function isSkip(x: FibNexthop | SkippedNexthop): x is SkippedNexthop {
  return (x as SkippedNexthop).reason !== undefined;
}

/** Decides a whole route: every ECMP next hop, duplicates removed, order kept stable (sorted). */
export function decideRoute(ctx: DecisionContext, route: LocRibRoute): RouteDecision {
  const prefix = parseCidr(route.prefix);
  if (!prefix) {
    return { route: null, skipped: [{ nexthop: '', reason: 'bad-prefix', detail: `'${route.prefix}' is not a network address/length` }] };
  }
  const text = formatCidr(prefix);
  const own = ctx.ownBlocks.find((b) => cidrContains(b, prefix));
  if (own) {
    return {
      route: null,
      skipped: route.nexthops.map((n) => ({ nexthop: n, reason: 'own-block' as const, detail: `${text} lies in this node's block ${formatCidr(own)}` })),
    };
  }
  const pool = poolFor(ctx, prefix);
  const skipped: SkippedNexthop[] = [];
  const byGateway = new Map<string, FibNexthop>();
  const poolIndex = pool ? ctx.pools.indexOf(pool) : -1;
  for (const n of route.nexthops) {
    const cacheKey = `${poolIndex}|${prefix.family}|${n}`;
    let d: FibNexthop | SkippedNexthop | undefined = ctx.nexthopCache.get(cacheKey);
    if (!d) {
      d = decideNexthop(ctx, prefix, pool, n);
      // Skips carry the prefix in their text: only successes are shared between routes.
      if (!isSkip(d) && ctx.nexthopCache.size < 100000) ctx.nexthopCache.set(cacheKey, d);
    }
    if (isSkip(d)) skipped.push(d);
    else if (!byGateway.has(`${d.dev ?? ''}|${d.gateway}`)) byGateway.set(`${d.dev ?? ''}|${d.gateway}`, d);
  }
  const nexthops = [...byGateway.values()].sort((a, b) =>
    a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : (a.dev ?? '') < (b.dev ?? '') ? -1 : (a.dev ?? '') > (b.dev ?? '') ? 1 : 0);
  return { route: nexthops.length > 0 ? { prefix: text, family: prefix.family, nexthops } : null, skipped };
}

/** Which tunnel devices the pools call for. */
export interface TunnelNeeds {
  ipip: boolean;
  vxlan4: boolean;
  vxlan6: boolean;
}

export function tunnelNeeds(pools: PoolSpec[]): TunnelNeeds {
  const parsed = parsePools(pools).filter((p) => !p.spec.disabled);
  return {
    ipip: parsed.some((p) => p.cidr.family === 4 && p.ipipMode !== 'Never'),
    vxlan4: parsed.some((p) => p.cidr.family === 4 && p.vxlanMode !== 'Never'),
    vxlan6: parsed.some((p) => p.cidr.family === 6 && p.vxlanMode !== 'Never'),
  };
}

/**
 * Per-packet overhead of each encapsulation, by the underlay family:
 * IPIP: RFC 2003 §3.1 one outer IPv4 header (20); over IPv6 (RFC 2473) a 40-octet IPv6 header.
 * VXLAN: RFC 7348 §5 outer IP + UDP (8) + VXLAN (8) + inner Ethernet (14): 50 over IPv4, 70 over IPv6.
 */
export function encapOverhead(kind: 'ipip' | 'vxlan', underlay: IpFamily): number {
  if (kind === 'ipip') return underlay === 4 ? 20 : 40;
  return underlay === 4 ? 50 : 70;
}

/** MTU of a tunnel device over an uplink of `uplinkMtu`. */
export function tunnelMtu(uplinkMtu: number, kind: 'ipip' | 'vxlan', underlay: IpFamily): number {
  const mtu = uplinkMtu - encapOverhead(kind, underlay);
  // RFC 791: every IPv4 host must take 68-octet datagrams; RFC 8200 §5: IPv6 needs 1280.
  if (mtu < 68) throw new RangeError(`uplink MTU ${uplinkMtu} leaves ${mtu} for ${kind}: too small to carry IP`);
  return mtu;
}

/**
 * The MTU pods get: the uplink MTU minus the largest overhead among the encapsulations the
 * enabled pools use (Calico does the same), so a pod's packet fits whichever path it takes.
 * IPv4 overlays (IPIP, VXLAN) run over the IPv4 underlay, the IPv6 VXLAN overlay over IPv6.
 */
export function podMtu(uplinkMtu: number, pools: PoolSpec[]): number {
  const needs = tunnelNeeds(pools);
  let mtu = uplinkMtu;
  if (needs.ipip) mtu = Math.min(mtu, tunnelMtu(uplinkMtu, 'ipip', 4));
  if (needs.vxlan4) mtu = Math.min(mtu, tunnelMtu(uplinkMtu, 'vxlan', 4));
  if (needs.vxlan6) mtu = Math.min(mtu, tunnelMtu(uplinkMtu, 'vxlan', 6));
  return mtu;
}
