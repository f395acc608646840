// Next-hop resolution for the BGP decision process, backed by this host's own routing state.
// RFC 4271 §9.1.2: a route whose NEXT_HOP cannot be resolved is excluded from the decision;
// §9.1.2.2 (e): among otherwise equal routes, the one with the lowest interior cost to its next
// hop wins; §9.1.2.1: a next hop is resolved through the routing table, but never through a
// route that BGP itself installed (that would be resolving BGP via BGP). So:
//   - a next hop inside a directly connected subnet of an interface that is up (administratively
//     up and with carrier) resolves at cost 0;
//   - otherwise the longest matching unicast route of the main table that is NOT ours
//     (rtm_protocol != NEXTHOP_RTPROT), default route included, resolves at its metric
//     (rtm_priority), provided at least one of its paths leaves through a live interface;
//   - anything else is unresolvable (null).
// Two layers: buildNextHopResolver (pure: a snapshot of links, addresses and routes -> a
// NextHopResolver, longest-prefix match by prefix length buckets), and HostNextHopResolver
// (the I/O shell: dumps links/addresses/routes over rtnetlink, listens to link/address/route
// notifications, re-dumps after a short debounce when something that is not our own FIB write
// changed, and calls onChange only when the resolution snapshot really changed, so the agent can
// call speaker.nextHopsChanged()).
import type { Family } from '../wire/types';
import type { NextHopResolution, NextHopResolver } from '../rib/decision';
import { formatIP, maskBytes, parseIP } from '../lib/ip';
import * as C from './netlink/constants';
import { decodeRoute, dumpRequestPayload, type AddressMsg, type LinkMsg, type NetlinkMessage, type RouteMsg } from './netlink/codec';
import { listAddresses, listLinks } from './netlink/rtnl';
import { NetlinkMonitor, NetlinkSocket, openNetlinkIn } from './netlink/socket';
import { NEXTHOP_RTPROT } from './fib/protocol';

/** One interface as the resolver needs it. */
export interface ResolverLink {
  index: number;
  name?: string;
  /** Administratively up (IFF_UP) and with carrier (IFF_LOWER_UP). */
  up: boolean;
}

/** One interface address: its connected subnet is `address/prefixLen`. */
export interface ResolverAddress {
  /** Interface index. */
  index: number;
  /** The subnet's address bytes (IFA_ADDRESS: for point-to-point links, the peer). */
  address: Uint8Array;
  prefixLen: number;
}

/** One kernel route that may resolve next hops. */
export interface ResolverRoute {
  dst: Uint8Array;
  dstLen: number;
  /** rtm_protocol: routes with NEXTHOP_RTPROT (ours) never resolve anything (RFC 4271 §9.1.2.1). */
  protocol: number;
  /** RTN_* type: only RTN_UNICAST resolves (blackhole/unreachable/prohibit do not). */
  type: number;
  /** Routing table id: only the main table is used. */
  table: number;
  /** rtm_priority (the route's metric); the IGP cost of next hops it resolves. */
  metric: number;
  /** Output interfaces of the route's paths (empty when the kernel gave none). */
  oifs: number[];
  /** True when every path is marked RTNH_F_DEAD or RTNH_F_LINKDOWN by the kernel. */
  dead: boolean;
}

export interface ResolverSnapshot {
  links: ResolverLink[];
  addresses: ResolverAddress[];
  routes: ResolverRoute[];
}

/** How a next hop resolved: cost, and what it resolved through (for logs and `explain`). */
export interface HostResolution extends NextHopResolution {
  via: 'connected' | 'route';
  /** The covering subnet or route, "a.b.c.d/len". */
  prefix: string;
}

interface Entry {
  prefix: string;
  igpCost: number;
  via: 'connected' | 'route';
}

/** Longest-prefix-match table of one address family: one Map per prefix length, longest first. */
class LpmTable {
  private readonly byLength = new Map<number, Map<string, Entry>>();
  private lengths: number[] = [];

  /** Keeps the better entry for a prefix: connected before routes, then the lowest cost. */
  add(dst: Uint8Array, len: number, e: Entry): void {
    let m = this.byLength.get(len);
    if (!m) {
      m = new Map();
      this.byLength.set(len, m);
      this.lengths = [...this.byLength.keys()].sort((a, b) => b - a);
    }
    const key = keyOf(maskBytes(dst, len));
    const old = m.get(key);
    if (!old || better(e, old)) m.set(key, e);
  }

  lookup(addr: Uint8Array): Entry | null {
    for (const len of this.lengths) {
      const e = this.byLength.get(len)!.get(keyOf(maskBytes(addr, len)));
      if (e) return e;
    }
    return null;
  }

  entries(): Entry[] {
    const out: Entry[] = [];
    for (const m of this.byLength.values()) out.push(...m.values());
    return out;
  }
}

function better(a: Entry, b: Entry): boolean {
  if (a.via !== b.via) return a.via === 'connected';
  return a.igpCost < b.igpCost;
}

function keyOf(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

/** A resolver plus a canonical text of what it resolves through (equal text, equal answers). */
export interface BuiltResolver {
  resolve: NextHopResolver;
  /** Resolution with its provenance; null when unresolvable. */
  explain: (nextHop: string) => HostResolution | null;
  /** Canonical, sorted description of the resolution table (used to detect real changes). */
  fingerprint: string;
}

/**
 * The pure core: which next hops this host can reach and at what cost, from a snapshot of its
 * links, addresses and routes. See the header for the rules (RFC 4271 §9.1.2, §9.1.2.1, §9.1.2.2 e).
 */
export function buildNextHopResolver(snapshot: ResolverSnapshot): BuiltResolver {
  const up = new Set<number>();
  for (const l of snapshot.links) if (l.up) up.add(l.index);
  const v4 = new LpmTable();
  const v6 = new LpmTable();
  const tableFor = (bytes: Uint8Array): LpmTable | null => (bytes.length === 4 ? v4 : bytes.length === 16 ? v6 : null);

  // Directly connected subnets of interfaces that are up: reachable without any interior hop.
  for (const a of snapshot.addresses) {
    if (!up.has(a.index)) continue;
    const t = tableFor(a.address);
    if (!t || a.prefixLen > a.address.length * 8) continue;
    const net = maskBytes(a.address, a.prefixLen);
    t.add(net, a.prefixLen, { prefix: `${formatIP(net)}/${a.prefixLen}`, igpCost: 0, via: 'connected' });
  }
  // Host routes that are not ours (RFC 4271 §9.1.2.1: no resolution of BGP routes via BGP routes).
  for (const r of snapshot.routes) {
    if (r.protocol === NEXTHOP_RTPROT || r.type !== C.RTN_UNICAST || r.table !== C.RT_TABLE_MAIN || r.dead) continue;
    if (r.oifs.length > 0 && !r.oifs.some((i) => up.has(i))) continue;
    const t = tableFor(r.dst);
    if (!t || r.dstLen > r.dst.length * 8) continue;
    const net = maskBytes(r.dst, r.dstLen);
    t.add(net, r.dstLen, { prefix: `${formatIP(net)}/${r.dstLen}`, igpCost: r.metric, via: 'route' });
  }

  const lookup = (nextHop: string): Entry | null => {
    const bytes = parseIP(nextHop);
    if (!bytes) return null;
    return tableFor(bytes)?.lookup(bytes) ?? null;
  };
  const fingerprint = [...v4.entries(), ...v6.entries()]
    .map((e) => `${e.prefix} ${e.via} ${e.igpCost}`)
    .sort()
    .join('\n');
  return {
    // The family argument does not matter here: the next hop's own address family picks the table
    // (an IPv6 route may carry an IPv4 next hop only via RFC 8950, which is resolved as IPv4).
    resolve: (nextHop: string, _family: Family) => {
      const e = lookup(nextHop);
      return e ? { igpCost: e.igpCost } : null;
    },
    explain: (nextHop: string) => {
      const e = lookup(nextHop);
      return e ? { igpCost: e.igpCost, via: e.via, prefix: e.prefix } : null;
    },
    fingerprint,
  };
}

// --- netlink messages -> snapshot -----------------------------------------------------------------

const DEAD_PATH = C.RTNH_F_DEAD | C.RTNH_F_LINKDOWN;

export function resolverLinkOf(l: LinkMsg): ResolverLink {
  return { index: l.index, name: l.name, up: (l.flags & C.IFF_UP) !== 0 && (l.flags & C.IFF_LOWER_UP) !== 0 };
}

/** null for addresses that give no connected subnet (no address attribute). */
export function resolverAddressOf(a: AddressMsg): ResolverAddress | null {
  // IFA_ADDRESS is the subnet side (the peer on point-to-point links); IFA_LOCAL otherwise.
  const address = a.address ?? a.local;
  if (!address) return null;
  return { index: a.index, address, prefixLen: a.prefixLen };
}

/** null for routes without a usable destination family. */
export function resolverRouteOf(r: RouteMsg): ResolverRoute | null {
  const width = r.family === C.AF_INET ? 4 : r.family === C.AF_INET6 ? 16 : 0;
  if (width === 0) return null;
  const dst = r.dst ?? new Uint8Array(width);
  const oifs: number[] = [];
  let dead: boolean;
  if (r.multipath && r.multipath.length > 0) {
    dead = true;
    for (const h of r.multipath) {
      if ((h.flags & DEAD_PATH) === 0) dead = false;
      if (h.ifindex !== undefined && (h.flags & DEAD_PATH) === 0) oifs.push(h.ifindex);
    }
  } else {
    dead = (r.flags & DEAD_PATH) !== 0;
    if (r.oif !== undefined) oifs.push(r.oif);
  }
  return { dst, dstLen: r.dstLen, protocol: r.protocol, type: r.type, table: r.table, metric: r.priority ?? 0, oifs, dead };
}

/** Reads links, addresses and routes of the socket's namespace (three dumps). */
export async function readResolverSnapshot(sock: NetlinkSocket): Promise<ResolverSnapshot> {
  const links = (await listLinks(sock)).map(resolverLinkOf);
  const addresses: ResolverAddress[] = [];
  for (const a of await listAddresses(sock)) {
    const x = resolverAddressOf(a);
    if (x) addresses.push(x);
  }
  const routes: ResolverRoute[] = [];
  for (const fam of [C.AF_INET, C.AF_INET6]) {
    for (const m of await sock.dump(C.RTM_GETROUTE, dumpRequestPayload(C.RTM_GETROUTE, fam))) {
      // Only main-table unicast routes of other protocols can resolve anything: the rest (our own
      // FIB, up to 100,000 routes; the local table) is skipped from the rtmsg header, undecoded.
      // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type.
      const p = m.payload;
      if (m.type !== C.RTM_NEWROUTE || p.length < 8 || p[5] === NEXTHOP_RTPROT || p[7] !== C.RTN_UNICAST) continue;
      if (p[4] !== C.RT_TABLE_MAIN && p[4] !== C.RT_TABLE_COMPAT) continue; // COMPAT: the id is in RTA_TABLE
      const x = resolverRouteOf(decodeRoute(p));
      if (x) routes.push(x);
    }
  }
  return { links, addresses, routes };
}

/** Notification groups that can change resolution: links, addresses, routes of both families. */
export const RESOLVER_MONITOR_GROUPS = [
  C.RTNLGRP_LINK, C.RTNLGRP_IPV4_IFADDR, C.RTNLGRP_IPV6_IFADDR, C.RTNLGRP_IPV4_ROUTE, C.RTNLGRP_IPV6_ROUTE,
];

/**
 * True when a notification may change resolution. Route notifications of our own protocol (the
 * FIB reconciler's writes: up to 100,000 at a time) never do, and are skipped without decoding
 * (rtmsg byte 5 is rtm_protocol).
 */
export function affectsResolution(m: NetlinkMessage): boolean {
  if (m.type === C.RTM_NEWROUTE || m.type === C.RTM_DELROUTE) return m.payload.length < 6 || m.payload[5] !== NEXTHOP_RTPROT;
  return m.type === C.RTM_NEWLINK || m.type === C.RTM_DELLINK || m.type === C.RTM_NEWADDR || m.type === C.RTM_DELADDR;
}

// --- the I/O shell --------------------------------------------------------------------------------

export interface HostNextHopResolverOptions {
  /** Called (after a refresh) when resolution changed: the agent calls speaker.nextHopsChanged(). */
  onChange?: () => void;
  /** Called when a refresh failed (the previous snapshot stays in use). */
  onError?: (err: Error) => void;
  /** Wait this long after a notification before re-reading, to coalesce bursts (default 100 ms). */
  debounceMs?: number;
  /** Re-read this often even without notifications, as a safety net (default 120 000 ms; 0: never). */
  periodicMs?: number;
  /** Monitor poll interval (default 100 ms). */
  pollMs?: number;
  /**
   * Tests only: open the sockets in this named network namespace (openNetlinkIn). Production
   * uses the namespace the agent runs in.
   */
  netns?: string;
}

/**
 * The host-backed resolver: `resolve` always answers from the latest snapshot. Create with
 * HostNextHopResolver.open() (reads the first snapshot), then start() to follow changes.
 */
export class HostNextHopResolver {
  private current: BuiltResolver;
  private monitor: NetlinkMonitor | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private periodic: NodeJS.Timeout | null = null;
  private refreshing: Promise<boolean> | null = null;
  private again = false;
  private closed = false;
  /** Refreshes run and changes reported, for tests and metrics. */
  readonly counters = { refreshes: 0, changes: 0, errors: 0, overruns: 0 };

  /** The resolver to give the speaker (SpeakerConfig.resolveNextHop); always current. */
  readonly resolve: NextHopResolver = (nextHop, family) => this.current.resolve(nextHop, family);

  private constructor(
    private readonly sock: NetlinkSocket,
    private readonly options: HostNextHopResolverOptions,
    first: ResolverSnapshot,
  ) {
    this.current = buildNextHopResolver(first);
  }

  static async open(options: HostNextHopResolverOptions = {}): Promise<HostNextHopResolver> {
    const sock = options.netns ? openNetlinkIn(options.netns, { rcvbuf: 1 << 20 }) : NetlinkSocket.open({ rcvbuf: 1 << 20 });
    try {
      return new HostNextHopResolver(sock, options, await readResolverSnapshot(sock));
    } catch (e) {
      sock.close();
      throw e;
    }
  }

  /** What a next hop resolves through, or null (for logs and `explain`). */
  explain(nextHop: string): HostResolution | null {
    return this.current.explain(nextHop);
  }

  /** Starts following link/address/route notifications (and the periodic re-read). */
  start(): void {
    if (this.closed || this.monitor) return;
    const opts = { groups: RESOLVER_MONITOR_GROUPS, rcvbuf: 4 << 20 };
    const msock = this.options.netns ? openNetlinkIn(this.options.netns, opts) : NetlinkSocket.open(opts);
    this.monitor = new NetlinkMonitor(msock, {
      onMessages: (msgs) => {
        if (msgs.some(affectsResolution)) this.schedule();
      },
      onOverrun: () => {
        // Notifications were lost: re-read everything.
        this.counters.overruns++;
        this.schedule();
      },
    }, this.options.pollMs ?? 100);
    this.monitor.start();
    const periodicMs = this.options.periodicMs ?? 120_000;
    if (periodicMs > 0) {
      this.periodic = setInterval(() => this.schedule(), periodicMs);
      this.periodic.unref();
    }
  }

  private schedule(): void {
    if (this.closed || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.refresh().catch(() => { /* reported through onError in refresh */ });
    }, this.options.debounceMs ?? 100);
    this.debounce.unref();
  }

  /**
   * Re-reads the host's state now; resolves true when resolution changed (onChange was called).
   * Concurrent calls are serialized (the socket takes one dump at a time); a call made while a
   * refresh runs gets one more refresh after it.
   */
  async refresh(): Promise<boolean> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      let changed = false;
      try {
        do {
          this.again = false;
          if (this.closed) break;
          this.counters.refreshes++;
          let next: BuiltResolver;
          try {
            next = buildNextHopResolver(await readResolverSnapshot(this.sock));
          } catch (e) {
            this.counters.errors++;
            this.options.onError?.(e as Error);
            break;
          }
          if (this.closed) break;
          if (next.fingerprint !== this.current.fingerprint) {
            this.current = next;
            changed = true;
          }
        } while (this.again);
      } finally {
        this.refreshing = null;
      }
      if (changed) {
        this.counters.changes++;
        try {
          this.options.onChange?.();
        } catch (e) {
          this.options.onError?.(e as Error);
        }
      }
      return changed;
    })();
    return this.refreshing;
  }

  /** Stops following changes and closes the sockets. resolve keeps answering from the last snapshot. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.debounce) clearTimeout(this.debounce);
    if (this.periodic) clearInterval(this.periodic);
    this.debounce = null;
    this.periodic = null;
    this.monitor?.close();
    this.monitor = null;
    // A dump in flight finishes on its own socket first.
    if (this.refreshing) void this.refreshing.finally(() => this.sock.close());
    else this.sock.close();
  }
}
