// Export policy: which Loc-RIB best paths go to which peers, and with what attributes.
// RFC 4271 §9.2 (iBGP split horizon), §5.1.2 (AS_PATH prepend toward eBGP), §5.1.3 (NEXT_HOP),
// §5.1.4 (MED not passed to other ASes), §5.1.5 (LOCAL_PREF only inside the AS), §5 (optional
// non-transitive attributes not passed on, Partial bit on optional transitive ones);
// RFC 4456 §6 (reflection rules) and §8 (ORIGINATOR_ID, CLUSTER_LIST on reflection);
// RFC 2545 §3 (IPv6 next hop: global, plus link-local toward a directly connected eBGP peer).
import type { PathAttributes, RawAttribute } from '../wire/types';
import { AFI_IPV6, SAFI_UNICAST } from '../wire/types';
import { prependAs } from '../rib/aspath';
import { degreeOfPreference } from '../rib/decision';
import type { Route } from '../rib/route';

/** The outbound policy shared by all members of an update group. */
export interface ExportProfile {
  /** The kind of the group's peers. */
  peerKind: 'ibgp' | 'ebgp';
  /** RFC 4456: the group's peers are our route-reflector clients. */
  rrClient: boolean;
  localAs: number;
  /** Our BGP Identifier. */
  routerId: string;
  /** Our CLUSTER_ID when we reflect routes (RFC 4456 §7); null when we are not a reflector. */
  clusterId: string | null;
  /** Our node addresses, used as next hop for our own routes and for next-hop-self. */
  nextHopIPv4?: string;
  nextHopIPv6?: string;
  /** RFC 2545 §3: sent with the global address toward eBGP peers on a shared link. */
  nextHopIPv6LinkLocal?: string;
  /** eBGP: pass the next hop on unchanged instead of next-hop-self (Calico keepOriginalNextHop). */
  keepOriginalNextHop: boolean;
  /** iBGP: next-hop-self for eBGP-learned routes (reflected routes always keep theirs). */
  nextHopSelf: boolean;
  /** When set, only prefixes inside one of these CIDRs are exported (e.g. pools toward a ToR). */
  exportPrefixes?: readonly string[];
}

/** Why a best path is not sent to a group. */
export const ExportRefusal = {
  /** RFC 4271 §9.2: routes learned from an internal peer are not sent to internal peers. */
  IBGP_SPLIT_HORIZON: 'ibgp-split-horizon',
  /** RFC 4456 §6: a route from a non-client is reflected to clients only. */
  NON_CLIENT_TO_NON_CLIENT: 'non-client-to-non-client',
  /** We have no address of the family to put in NEXT_HOP. */
  NO_LOCAL_ADDRESS: 'no-local-address',
  /** The route has no next hop to pass on. */
  NO_NEXT_HOP: 'no-next-hop',
  /** An IPv4 route with an IPv6 next hop (RFC 8950) cannot go in the NEXT_HOP attribute. */
  NEXT_HOP_FAMILY: 'next-hop-family-mismatch',
  /** Outside exportPrefixes. */
  FILTERED: 'export-filtered',
  UNSUPPORTED_FAMILY: 'unsupported-family',
} as const;
export type ExportRefusalCode = (typeof ExportRefusal)[keyof typeof ExportRefusal];

/** True when sending `route` to this group is route reflection (iBGP → iBGP, RFC 4456). */
function isReflection(route: Route, p: ExportProfile): boolean {
  return route.peer.kind === 'ibgp' && p.peerKind === 'ibgp';
}

/**
 * RFC 4271 §9.2 and RFC 4456 §6: may `route` be advertised to the group at all (ignoring the
 * prefix filter)? Null when yes, else the reason.
 *   from eBGP or local        → everyone;
 *   from iBGP, not reflecting → eBGP peers only (split horizon);
 *   from an RR client         → clients and non-clients;
 *   from an iBGP non-client   → clients only.
 * The group's messages are shared; a member is not sent the messages made only of routes it
 * advertised itself (UpdateGroup.origin, src/rib/adj-rib-out.ts), and anything of its own that
 * still reaches it (a message mixing several peers' routes) it drops by its own loop checks
 * (AS_PATH, RFC 4456 §8 ORIGINATOR_ID).
 */
export function exportRefusal(route: Route, p: ExportProfile): ExportRefusalCode | null {
  if (route.family !== 'ipv4-unicast' && route.family !== 'ipv6-unicast') return ExportRefusal.UNSUPPORTED_FAMILY;
  if (isReflection(route, p)) {
    if (p.clusterId === null) return ExportRefusal.IBGP_SPLIT_HORIZON;
    if (!route.peer.rrClient && !p.rrClient) return ExportRefusal.NON_CLIENT_TO_NON_CLIENT;
  }
  const selfNeeded = route.peer.kind === 'local' ||
    (p.peerKind === 'ebgp' && !p.keepOriginalNextHop) ||
    (p.peerKind === 'ibgp' && p.nextHopSelf && route.peer.kind === 'ebgp');
  if (selfNeeded) {
    if (route.family === 'ipv4-unicast' ? !p.nextHopIPv4 : !p.nextHopIPv6) return ExportRefusal.NO_LOCAL_ADDRESS;
  } else if (route.attrs.nextHop === null) return ExportRefusal.NO_NEXT_HOP;
  // IPv4 routes are sent in the NLRI field with NEXT_HOP (RFC 4271 §5.1.3), which holds an IPv4
  // address only.
  else if (route.family === 'ipv4-unicast' && route.attrs.nextHop.includes(':')) return ExportRefusal.NEXT_HOP_FAMILY;
  return null;
}

/** RFC 4271 §5: unrecognized optional transitive attributes are passed on with the Partial bit. */
function passOnUnknown(unknown: readonly RawAttribute[] | undefined): RawAttribute[] | undefined {
  if (!unknown) return undefined;
  const out: RawAttribute[] = [];
  for (const u of unknown) {
    if ((u.flags & 0x40) === 0) continue; // optional non-transitive: not passed on
    out.push((u.flags & 0x80) !== 0 ? { flags: u.flags | 0x20, code: u.code, value: u.value } : u);
  }
  return out.length > 0 ? out : undefined;
}

/**
 * The attributes to advertise `route` with to the group. Call only when exportRefusal() is null.
 * AS_PATH is kept in its 4-octet form; the codec builds AS_PATH/AS4_PATH for a 2-octet peer
 * (RFC 6793 §4.2.2).
 */
export function exportAttributes(route: Route, p: ExportProfile): PathAttributes {
  const a = route.attrs.attrs;
  const ebgp = p.peerKind === 'ebgp';
  const out: PathAttributes = { origin: a.origin ?? 2 };
  // RFC 4271 §5.1.2: unchanged toward internal peers; our AS prepended toward external ones.
  out.asPath = ebgp ? prependAs(a.asPath, p.localAs) : (a.asPath ?? []);
  // RFC 4271 §5.1.3 NEXT_HOP.
  const self = route.peer.kind === 'local' ||
    (ebgp && !p.keepOriginalNextHop) ||
    (!ebgp && p.nextHopSelf && route.peer.kind === 'ebgp');
  if (route.family === 'ipv4-unicast') {
    // The interned next hop: NEXT_HOP, or MP_REACH's when the peer sent IPv4 in MP_REACH_NLRI.
    out.nextHop = self ? p.nextHopIPv4! : route.attrs.nextHop!;
  } else {
    let nextHops: string[];
    if (self) {
      nextHops = [p.nextHopIPv6!];
      // RFC 2545 §3: the link-local address only toward a peer on the shared link (eBGP).
      if (ebgp && p.nextHopIPv6LinkLocal) nextHops.push(p.nextHopIPv6LinkLocal);
    } else {
      // A link-local next hop means nothing beyond the link it was learned on.
      nextHops = [route.attrs.nextHop!];
    }
    out.mpReach = { afi: AFI_IPV6, safi: SAFI_UNICAST, nextHops, nlri: [] };
  }
  // RFC 4271 §5.1.4: a MED received from another AS is not passed to other ASes; our own
  // route's MED may be sent. Inside the AS it is kept.
  if (a.med !== undefined && (!ebgp || route.peer.kind === 'local')) out.med = a.med;
  // RFC 4271 §5.1.5: LOCAL_PREF in every UPDATE to an internal peer, never to an external one.
  if (!ebgp) out.localPref = degreeOfPreference(route);
  if (a.atomicAggregate) out.atomicAggregate = true;
  if (a.aggregator) out.aggregator = a.aggregator;
  if (a.communities) out.communities = a.communities;
  if (a.extendedCommunities) out.extendedCommunities = a.extendedCommunities;
  if (a.largeCommunities) out.largeCommunities = a.largeCommunities;
  if (isReflection(route, p)) {
    // RFC 4456 §8: ORIGINATOR_ID set to the originator's BGP Identifier if not already there;
    // our CLUSTER_ID prepended to CLUSTER_LIST (created when absent). Next hop unchanged.
    out.originatorId = a.originatorId ?? route.peer.routerId;
    out.clusterList = [p.clusterId!, ...(a.clusterList ?? [])];
  }
  const unknown = passOnUnknown(a.unknown);
  if (unknown) out.unknown = unknown;
  return out;
}

/** The canonical key of a profile: peers with equal keys (and tx contexts) share an update group. */
export function exportProfileKey(p: ExportProfile): string {
  return JSON.stringify([
    p.peerKind, p.rrClient, p.localAs, p.routerId, p.clusterId, p.nextHopIPv4 ?? null, p.nextHopIPv6 ?? null,
    p.nextHopIPv6LinkLocal ?? null, p.keepOriginalNextHop, p.nextHopSelf, p.exportPrefixes ?? null,
  ]);
}
