// The FIB route model of the reconciler: the desired route the agent asks for (FibRoute), its
// validated form, the kernel's view of a route (decoded from rtnetlink), the route identity key,
// equality between desired and installed, and the conversion to rtnetlink messages. Pure.
//
// Route identity follows the kernel's: IPv4 routes are keyed by (table, prefix, tos, priority)
// and IPv6 by (table, prefix, source prefix, metric) - net/ipv4/fib_trie.c fib_table_insert,
// net/ipv6/ip6_fib.c fib6_add_rt2node. We only write tos 0 and no source prefix, so our key is
// (table, prefix, metric) - the prefix alone for main table and metric 0. Allocation-light for
// 100,000-route tables: single-path nexthop arrays are shared, routes are encoded from one reused
// RouteMsg (routeMsgInto), and the cache's view of a route we wrote is a three-field object
// (InstalledRoute). ECMP uses RTA_MULTIPATH (RFC 2992 describes the hash-based multipath
// the kernel implements).

import * as C from '../netlink/constants';
import { RouteMsg, RouteNexthopMsg } from '../netlink/codec';
import { Cidr, bytesEqual, formatCidr, formatIP, parseCidr, parseIP } from '../../lib/ip';

export { NEXTHOP_RTPROT } from './protocol';

export type FibRouteType = 'unicast' | 'blackhole';

/** One path of a desired route. */
export interface FibNexthop {
  /** Next-hop address text; omit for a device route. */
  gateway?: string;
  /** Output device by name (resolved to an index by the reconciler) ... */
  ifname?: string;
  /** ... or by index. */
  ifindex?: number;
  /** RTNH_F_ONLINK: the gateway is on the link even without a covering subnet (tunnels). */
  onlink?: boolean;
  /** ECMP weight 1..256 (default 1); only meaningful with two or more nexthops. */
  weight?: number;
}

/** A route the agent wants in the FIB. */
export interface FibRoute {
  /** "10.244.3.0/24" or "fd00:10:244:3::/64" (host bits must be clear). */
  prefix: string;
  /** Default 'unicast'. */
  type?: FibRouteType;
  /** One (plain) or more (ECMP) paths; required for unicast, ignored for blackhole. */
  nexthops?: FibNexthop[];
  /** Routing table id; default 254 (main). */
  table?: number;
  /** rtm priority; default 0 for IPv4, 1024 for IPv6 (the kernel's own defaults). */
  metric?: number;
  /** Preferred source address (RTA_PREFSRC). */
  source?: string;
  /** Path MTU for the route (RTA_METRICS RTAX_MTU), e.g. for tunnel routes. */
  mtu?: number;
}

/** A desired route that cannot be programmed as given: names the route and the field. */
export class FibRouteInvalid extends Error {
  constructor(readonly prefix: string, readonly field: string, readonly reason: string) {
    super(`route ${prefix}: ${field}: ${reason}`);
    this.name = 'FibRouteInvalid';
  }
}

export interface NormNexthop {
  gateway?: Uint8Array;
  ifname?: string;
  ifindex?: number;
  onlink: boolean;
  weight: number;
}

/** A validated route: canonical prefix, defaults filled in, addresses as bytes. */
export interface NormRoute {
  key: string;
  prefix: string;
  cidr: Cidr;
  type: FibRouteType;
  table: number;
  metric: number;
  nexthops: NormNexthop[];
  source?: Uint8Array;
  mtu?: number;
  /**
   * Reconciler bookkeeping: the link-table generation for which `nexthops[].ifindex` was last
   * resolved from `ifname` (-1: never). Resolution swaps in a new nexthop array (copy on write).
   */
  resolvedGen: number;
}

/** A route as the kernel reports it (any protocol). */
export interface KernelRoute {
  key: string;
  prefix: string;
  family: number;
  protocol: number;
  /** RTN_* */
  rtType: number;
  table: number;
  metric: number;
  tos: number;
  scope: number;
  nexthops: NormNexthop[];
  source: Uint8Array | undefined;
  mtu: number | undefined;
  /** Destination network bytes and length, for building an exact delete. */
  dst: Uint8Array;
  dstLen: number;
}

export const DEFAULT_METRIC_V4 = 0;
export const DEFAULT_METRIC_V6 = 1024;

/**
 * The identity key: "table prefix metric" (+ " tos N" / " from P" for kernel routes that have
 * them); for the common case - main table, metric 0, no tos, no source prefix - the canonical
 * prefix text alone, which needs no new string per route (the Map hashes the prefix the route
 * carries anyway). A bare prefix has no space, so it never equals a long-form key.
 */
export function routeKey(table: number, prefix: string, metric: number, tos = 0, src = ''): string {
  if (table === C.RT_TABLE_MAIN && metric === 0 && !tos && !src) return prefix;
  return `${table} ${prefix} ${metric}${tos ? ` tos ${tos}` : ''}${src ? ` from ${src}` : ''}`;
}

// Gateways repeat across thousands of routes (every route via the same node): parse each text
// once. The bytes are shared, so nothing may modify a NormNexthop's gateway in place.
const gatewayCache = new Map<string, Uint8Array | null>();
function parseGateway(text: string): Uint8Array | null {
  let g = gatewayCache.get(text);
  if (g === undefined) {
    g = parseIP(text);
    if (gatewayCache.size >= 4096) gatewayCache.clear();
    gatewayCache.set(text, g);
  }
  return g;
}

// Single-path nexthop arrays repeat across thousands of routes too (every route via the same
// node and device): share one frozen-by-convention array per (gateway, device, onlink) instead of
// an array and an object per route. NormRoute nexthop arrays are never modified in place (the
// reconciler's device resolution copies on write), so sharing is safe.
const hopInternByGateway = new Map<Uint8Array | undefined, Map<string | number | undefined, NormNexthop[]>>();
const hopInternOnlink = new Map<Uint8Array | undefined, Map<string | number | undefined, NormNexthop[]>>();
let hopInternSize = 0;
function internSingleHop(n: NormNexthop): NormNexthop[] {
  const byGw = n.onlink ? hopInternOnlink : hopInternByGateway;
  const dev = n.ifname ?? n.ifindex; // a name (string) or an index (number), never both
  let inner = byGw.get(n.gateway);
  if (inner === undefined) {
    if (hopInternSize >= 4096) {
      hopInternByGateway.clear();
      hopInternOnlink.clear();
      hopInternSize = 0;
    }
    inner = new Map();
    byGw.set(n.gateway, inner);
  }
  let hops = inner.get(dev);
  if (hops === undefined) {
    hops = [n];
    inner.set(dev, hops);
    hopInternSize++;
  }
  return hops;
}

const isU32 = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

/**
 * Fast path for the common case, canonical IPv4 text "a.b.c.d/len" (decimal octets without
 * leading zeros, host bits clear): parsed with no intermediate strings, and then the text is
 * already the canonical prefix. Anything else returns null and goes through lib/ip parseCidr.
 */
function parseCanonicalV4Cidr(t: string): Cidr | null {
  let addr = 0;
  let i = 0;
  for (let o = 0; o < 5; o++) {
    const start = i;
    let v = 0;
    while (i < t.length) {
      const c = t.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || (digits > 1 && t.charCodeAt(start) === 48)) return null;
    if (o < 4) {
      if (v > 255 || t.charCodeAt(i) !== (o < 3 ? 46 : 47)) return null; // '.' or '/'
      addr = addr * 256 + v;
      i++;
    } else {
      if (v > 32 || i !== t.length) return null;
      const mask = v === 0 ? 0 : (0xffffffff << (32 - v)) >>> 0;
      if (((addr & ~mask) >>> 0) !== 0) return null;
      return new V4Prefix(addr, v);
    }
  }
  return null;
}

/**
 * An IPv4 prefix from the fast path: the network address as a number, `bytes` made on access
 * (a route needs them once, when it is encoded). One two-field object per route instead of a Cidr
 * and a Uint8Array: 100,000 of them live as long as the routes, and the young-generation GC copies
 * every byte of them before promoting them.
 */
class V4Prefix implements Cidr {
  constructor(private readonly addr: number, readonly length: number) {}

  get family(): 4 {
    return 4;
  }

  /** A fresh copy on every access (so no caller can change the prefix through it). */
  get bytes(): Uint8Array {
    const a = this.addr;
    const b = new Uint8Array(4);
    b[0] = a >>> 24;
    b[1] = (a >>> 16) & 255;
    b[2] = (a >>> 8) & 255;
    b[3] = a & 255;
    return b;
  }

  toJSON(): Cidr {
    return { family: 4, bytes: this.bytes, length: this.length };
  }
}

function badHop(prefix: string, i: number, what: string, reason: string): FibRouteInvalid {
  return new FibRouteInvalid(prefix, `nexthops[${i}]${what}`, reason);
}

/** Validates and normalises a desired route; throws FibRouteInvalid naming the field. */
export function normalizeRoute(r: FibRoute): NormRoute {
  const prefixText = typeof r.prefix === 'string' ? r.prefix : String(r.prefix);
  const fast = parseCanonicalV4Cidr(prefixText);
  const cidr = fast ?? parseCidr(prefixText, true);
  if (!cidr) throw new FibRouteInvalid(prefixText, 'prefix', 'not a CIDR with clear host bits');
  const prefix = fast ? prefixText : formatCidr(cidr);
  const type = r.type ?? 'unicast';
  if (type !== 'unicast' && type !== 'blackhole') throw new FibRouteInvalid(prefix, 'type', `"${String(type)}" is not unicast or blackhole`);
  const table = r.table ?? C.RT_TABLE_MAIN;
  if (!isU32(table) || table === C.RT_TABLE_UNSPEC || table === C.RT_TABLE_LOCAL || table === C.RT_TABLE_COMPAT) {
    throw new FibRouteInvalid(prefix, 'table', `${table} is not a usable table id (1..2^32-1, not 252, 255)`);
  }
  const metric = r.metric ?? (cidr.family === 4 ? DEFAULT_METRIC_V4 : DEFAULT_METRIC_V6);
  if (!isU32(metric)) throw new FibRouteInvalid(prefix, 'metric', `${metric} is not a 32-bit unsigned integer`);
  const out: NormRoute = {
    key: routeKey(table, prefix, metric), prefix, cidr, type, table, metric, nexthops: [], source: undefined, mtu: undefined, resolvedGen: -1,
  };
  if (r.source !== undefined) {
    const s = parseIP(r.source);
    if (!s || s.length !== cidr.bytes.length) throw new FibRouteInvalid(prefix, 'source', `"${r.source}" is not an IPv${cidr.family} address`);
    out.source = s;
  }
  if (r.mtu !== undefined) {
    if (!Number.isInteger(r.mtu) || r.mtu < 68 || r.mtu > 65535) throw new FibRouteInvalid(prefix, 'mtu', `${r.mtu} is not in 68..65535`);
    out.mtu = r.mtu;
  }
  if (type === 'blackhole') return out;
  const hops = r.nexthops ?? [];
  if (hops.length === 0) throw new FibRouteInvalid(prefix, 'nexthops', 'a unicast route needs at least one nexthop');
  const list: NormNexthop[] = [];
  for (let i = 0; i < hops.length; i++) {
    const h = hops[i];
    // One object shape for every hop (gateway/ifname/ifindex always present) keeps property
    // access monomorphic over 100,000 routes.
    const n: NormNexthop = { gateway: undefined, ifname: undefined, ifindex: undefined, onlink: h.onlink === true, weight: h.weight ?? 1 };
    if (!Number.isInteger(n.weight) || n.weight < 1 || n.weight > 256) throw badHop(prefix, i, '.weight', `${h.weight} is not in 1..256`);
    if (h.gateway !== undefined) {
      const g = typeof h.gateway === 'string' ? parseGateway(h.gateway) : null;
      // RTA_VIA (an IPv4 route via an IPv6 gateway) is not supported: same family only.
      if (!g || g.length !== cidr.bytes.length) throw badHop(prefix, i, '.gateway', `"${h.gateway}" is not an IPv${cidr.family} address`);
      n.gateway = g;
    }
    if (h.ifindex !== undefined) {
      if (!Number.isInteger(h.ifindex) || h.ifindex <= 0 || h.ifindex > 0x7fffffff) throw badHop(prefix, i, '.ifindex', `${h.ifindex} is not an interface index`);
      n.ifindex = h.ifindex;
    }
    if (h.ifname !== undefined) {
      if (typeof h.ifname !== 'string' || h.ifname.length === 0 || h.ifname.length > 15) throw badHop(prefix, i, '.ifname', `"${h.ifname}" is not an interface name`);
      if (n.ifindex !== undefined) throw badHop(prefix, i, '', 'give ifname or ifindex, not both');
      n.ifname = h.ifname;
    }
    if (!n.gateway && n.ifindex === undefined && n.ifname === undefined) throw badHop(prefix, i, '', 'needs a gateway or a device');
    if (n.onlink && n.ifindex === undefined && n.ifname === undefined) throw badHop(prefix, i, '.onlink', 'onlink needs a device');
    if (hops.length === 1) n.weight = 1; // a single path has no weight (no rtnexthop to carry it)
    list.push(n);
  }
  out.nexthops = list.length === 1 ? internSingleHop(list[0]) : list;
  return out;
}

/** Decodes a kernel route message into the reconciler's view; null for routes we never manage. */
export function kernelRoute(m: RouteMsg): KernelRoute | null {
  if (m.family !== C.AF_INET && m.family !== C.AF_INET6) return null;
  const width = m.family === C.AF_INET ? 4 : 16;
  const dst = m.dst ?? new Uint8Array(width);
  if (dst.length !== width || m.dstLen > width * 8) return null;
  // The kernel stores and reports prefixes with host bits clear, so the text is canonical as is.
  const prefix = `${formatIP(dst)}/${m.dstLen}`;
  const metric = m.priority ?? 0;
  const src = m.srcLen ? `src/${m.srcLen}` : '';
  const nexthops: NormNexthop[] = [];
  if (m.multipath && m.multipath.length > 0) {
    for (const h of m.multipath) nexthops.push(hopOf(h.gateway, h.ifindex, h.flags, h.weight));
  } else if (m.gateway || m.oif) {
    nexthops.push(hopOf(m.gateway, m.oif, m.flags, 1));
  }
  return {
    key: routeKey(m.table, prefix, metric, m.tos, src), prefix, family: m.family, protocol: m.protocol, rtType: m.type,
    table: m.table, metric, tos: m.tos, scope: m.scope, nexthops, source: m.prefsrc, mtu: m.mtu, dst, dstLen: m.dstLen,
  };
}

function hopOf(gateway: Uint8Array | undefined, ifindex: number | undefined, flags: number, weight: number): NormNexthop {
  return { gateway, ifname: undefined, ifindex: ifindex || undefined, onlink: (flags & C.RTNH_F_ONLINK) !== 0, weight };
}

const optBytesEqual = (a?: Uint8Array, b?: Uint8Array): boolean => (a && b ? bytesEqual(a, b) : a === b);

function hopMatches(want: NormNexthop, have: NormNexthop, single: boolean): boolean {
  if (!optBytesEqual(want.gateway, have.gateway)) return false;
  // A desired path without a device lets the kernel pick it: any device matches.
  if (want.ifindex !== undefined && want.ifindex !== have.ifindex) return false;
  if (want.onlink !== have.onlink) return false;
  return single || want.weight === have.weight;
}

/**
 * True when the installed route `have` already is `want` (with devices resolved to indexes), so
 * nothing needs to be written. Paths are compared as a set: the kernel may list them in any order.
 */
export function routeMatches(want: NormRoute, have: KernelRoute): boolean {
  const wantType = want.type === 'blackhole' ? C.RTN_BLACKHOLE : C.RTN_UNICAST;
  if (have.rtType !== wantType || have.tos !== 0) return false;
  if (!optBytesEqual(want.source, have.source)) return false;
  if (want.mtu !== have.mtu) return false;
  if (want.type === 'blackhole') return true; // IPv6 reports "dev lo" on blackholes: ignore paths
  if (want.nexthops.length !== have.nexthops.length) return false;
  const single = want.nexthops.length === 1;
  const used = new Array<boolean>(have.nexthops.length).fill(false);
  for (const w of want.nexthops) {
    const i = have.nexthops.findIndex((h, j) => !used[j] && hopMatches(w, h, single));
    if (i < 0) return false;
    used[i] = true;
  }
  return true;
}

/** The RTM_NEWROUTE body for a desired route (devices must be resolved: ifindex set). */
export function toRouteMsg(r: NormRoute, protocol: number): RouteMsg {
  const family = r.cidr.family === 4 ? C.AF_INET : C.AF_INET6;
  const msg: RouteMsg = {
    family, dstLen: r.cidr.length, srcLen: 0, tos: 0, table: r.table, protocol,
    scope: C.RT_SCOPE_UNIVERSE, type: r.type === 'blackhole' ? C.RTN_BLACKHOLE : C.RTN_UNICAST, flags: 0,
    dst: r.cidr.bytes, priority: r.metric,
  };
  if (r.source) msg.prefsrc = r.source;
  if (r.mtu !== undefined) msg.mtu = r.mtu;
  if (r.type === 'blackhole') return msg;
  msg.scope = routeScope(r);
  if (r.nexthops.length === 1) {
    const h = r.nexthops[0];
    if (h.gateway) msg.gateway = h.gateway;
    if (h.ifindex !== undefined) msg.oif = h.ifindex;
    if (h.onlink) msg.flags |= C.RTNH_F_ONLINK; // single path: nexthop flags ride in rtm_flags
  } else {
    msg.multipath = r.nexthops.map((h): RouteNexthopMsg => ({
      gateway: h.gateway, ifindex: h.ifindex, flags: h.onlink ? C.RTNH_F_ONLINK : 0, weight: h.weight,
    }));
  }
  return msg;
}

/**
 * Upper bound of the encoded RTM_NEWROUTE/RTM_DELROUTE body of a route with `hops` paths (IPv6
 * addresses, source and MTU included): rtmsg 12 + RTA_TABLE 8 + RTA_DST 20 + RTA_PRIORITY 8 +
 * RTA_PREFSRC 20 + RTA_METRICS 12 + RTA_MULTIPATH 4 + per path (rtnexthop 8 + RTA_GATEWAY 20),
 * which also covers the single-path RTA_GATEWAY 20 + RTA_OIF 8.
 */
export function routeMsgLengthBound(hops: number): number {
  return 84 + 28 * Math.max(1, hops);
}

/** A RouteMsg with every field present, to be filled by routeMsgInto/deleteMsgInto and reused. */
export function scratchRouteMsg(): RouteMsg {
  return {
    family: 0, dstLen: 0, srcLen: 0, tos: 0, table: 0, protocol: 0, scope: 0, type: 0, flags: 0,
    dst: undefined, gateway: undefined, oif: undefined, priority: undefined, prefsrc: undefined, mtu: undefined, multipath: undefined,
  };
}

/** Fills `m` (every field) with toRouteMsg(r, protocol), without allocating for a single-path route. */
export function routeMsgInto(m: RouteMsg, r: NormRoute, protocol: number): RouteMsg {
  m.family = r.cidr.family === 4 ? C.AF_INET : C.AF_INET6;
  m.dstLen = r.cidr.length;
  m.srcLen = 0;
  m.tos = 0;
  m.table = r.table;
  m.protocol = protocol;
  m.scope = routeScope(r);
  m.type = r.type === 'blackhole' ? C.RTN_BLACKHOLE : C.RTN_UNICAST;
  m.flags = 0;
  m.dst = r.cidr.bytes;
  m.priority = r.metric;
  m.prefsrc = r.source;
  m.mtu = r.mtu;
  m.gateway = undefined;
  m.oif = undefined;
  m.multipath = undefined;
  if (r.type === 'blackhole') return m;
  if (r.nexthops.length === 1) {
    const h = r.nexthops[0];
    m.gateway = h.gateway;
    m.oif = h.ifindex;
    if (h.onlink) m.flags = C.RTNH_F_ONLINK; // single path: nexthop flags ride in rtm_flags
  } else {
    m.multipath = r.nexthops.map((h): RouteNexthopMsg => ({
      gateway: h.gateway, ifindex: h.ifindex, flags: h.onlink ? C.RTNH_F_ONLINK : 0, weight: h.weight,
    }));
  }
  return m;
}

/** Fills `m` (every field) with toDeleteMsg(k). */
export function deleteMsgInto(m: RouteMsg, k: KernelRoute): RouteMsg {
  m.family = k.family;
  m.dstLen = k.dstLen;
  m.srcLen = 0;
  m.tos = k.tos;
  m.table = k.table;
  m.protocol = k.protocol;
  m.scope = C.RT_SCOPE_NOWHERE;
  m.type = k.rtType;
  m.flags = 0;
  m.dst = k.dst;
  m.priority = k.metric;
  m.gateway = m.oif = m.prefsrc = m.mtu = m.multipath = undefined;
  return m;
}

/** rtm_scope we write: a route with no gateway at all is a device ("connected") route, scope link, as `ip route` does. */
function routeScope(r: NormRoute): number {
  if (r.type === 'blackhole') return C.RT_SCOPE_UNIVERSE;
  for (const h of r.nexthops) if (h.gateway) return C.RT_SCOPE_UNIVERSE;
  return C.RT_SCOPE_LINK;
}

/**
 * The RTM_DELROUTE body for an installed route: its exact identity plus its protocol, so the
 * kernel itself refuses to delete anything that is not ours (fib_table_delete and ip6_route_del
 * match fc_protocol). Scope NOWHERE means "any scope", as iproute2 sends.
 */
export function toDeleteMsg(k: KernelRoute): RouteMsg {
  return {
    family: k.family, dstLen: k.dstLen, srcLen: 0, tos: k.tos, table: k.table, protocol: k.protocol,
    scope: C.RT_SCOPE_NOWHERE, type: k.rtType, flags: 0, dst: k.dst, priority: k.metric,
  };
}

/**
 * A desired route as the kernel will report it once installed (for the cache). `msg`, the message
 * it was written with, is accepted for compatibility and not needed. Shares the route's nexthop
 * array: NormRoute nexthops are never modified in place (see the reconciler's resolve).
 */
export function installedView(r: NormRoute, protocol: number, msg?: RouteMsg): KernelRoute {
  void msg;
  return new InstalledRoute(r, protocol);
}

/**
 * The cache's view of a route we wrote: the KernelRoute fields derived, on access, from the
 * desired route (whose fields other than `nexthops` never change) plus the path list as written.
 * Three fields instead of sixteen: 100,000 of these live as long as the routes do, and every
 * byte of them is copied by the young-generation GC before it is promoted.
 */
class InstalledRoute implements KernelRoute {
  readonly nexthops: NormNexthop[];

  constructor(private readonly route: NormRoute, readonly protocol: number) {
    this.nexthops = route.type === 'blackhole' ? NO_HOPS : route.nexthops;
  }

  get key(): string { return this.route.key; }
  get prefix(): string { return this.route.prefix; }
  get family(): number { return this.route.cidr.family === 4 ? C.AF_INET : C.AF_INET6; }
  get rtType(): number { return this.route.type === 'blackhole' ? C.RTN_BLACKHOLE : C.RTN_UNICAST; }
  get table(): number { return this.route.table; }
  get metric(): number { return this.route.metric; }
  get tos(): number { return 0; }
  get scope(): number {
    if (this.route.type === 'blackhole') return C.RT_SCOPE_UNIVERSE;
    for (const h of this.nexthops) if (h.gateway) return C.RT_SCOPE_UNIVERSE;
    return C.RT_SCOPE_LINK;
  }
  get source(): Uint8Array | undefined { return this.route.source; }
  get mtu(): number | undefined { return this.route.mtu; }
  get dst(): Uint8Array { return this.route.cidr.bytes; }
  get dstLen(): number { return this.route.cidr.length; }

  /** The plain-object form (what kernelRoute() gives for the same route), e.g. for JSON. */
  toJSON(): KernelRoute {
    return {
      key: this.key, prefix: this.prefix, family: this.family, protocol: this.protocol, rtType: this.rtType, table: this.table,
      metric: this.metric, tos: this.tos, scope: this.scope, nexthops: this.nexthops, source: this.source, mtu: this.mtu,
      dst: this.dst, dstLen: this.dstLen,
    };
  }
}

/** The (shared, never modified) path list of a blackhole's installed view. */
const NO_HOPS: NormNexthop[] = [];

/** True when two kernel views are the same route (paths as a set; kernel-only flags ignored). */
export function sameKernelRoute(a: KernelRoute, b: KernelRoute): boolean {
  if (a.rtType !== b.rtType || a.tos !== b.tos || a.mtu !== b.mtu || !optBytesEqual(a.source, b.source)) return false;
  if (a.rtType === C.RTN_BLACKHOLE) return true;
  if (a.nexthops.length !== b.nexthops.length) return false;
  const used = new Array<boolean>(b.nexthops.length).fill(false);
  for (const x of a.nexthops) {
    const i = b.nexthops.findIndex((y, j) => !used[j] && optBytesEqual(x.gateway, y.gateway) && x.ifindex === y.ifindex &&
      x.onlink === y.onlink && (a.nexthops.length === 1 || x.weight === y.weight));
    if (i < 0) return false;
    used[i] = true;
  }
  return true;
}

/** Human text of a route for logs and errors. */
export function describeRoute(r: { prefix: string; table: number; metric: number }): string {
  return `route ${r.prefix} table ${r.table} metric ${r.metric}`;
}
