// Pure views of RIB objects for status output, the dataplane and `nexthop explain`: paths as
// plain data (RFC 4271 §5 attributes, RFC 1997 / RFC 8092 communities, RFC 4456 §8 reflection
// attributes, RFC 4724 stale mark) and the longest-prefix match over the Loc-RIB
// (RFC 4271 §9.1.4's "most specific route" rule for forwarding).
import type { Family } from '../wire/types';
import { IPV4_UNICAST, IPV6_UNICAST } from '../wire/family';
import { formatIP, maskBytes, parseIP } from '../lib/ip';
import { effectiveAsPath } from '../wire/path';
import type { Destination, LocRib } from '../rib/loc-rib';
import type { Route } from '../rib/route';
import type { PathView, RouteView } from './types';

const ORIGINS = ['igp', 'egp', 'incomplete'] as const;

/** Converts the monotonic receive time of a route to ms since the epoch. */
export type ToEpoch = (monotonicMs: number) => number;

export function pathView(r: Route, toEpoch: ToEpoch): PathView {
  const a = r.attrs.attrs;
  const asPath: number[] = [];
  for (const seg of effectiveAsPath(a) ?? []) asPath.push(...seg.asns);
  const v: PathView = {
    peer: r.peer.kind === 'local' ? 'local' : r.peer.id,
    peerAddress: r.peer.kind === 'local' ? null : r.peer.address,
    kind: r.peer.kind,
    nextHop: r.peer.kind === 'local' ? null : r.nextHop,
    asPath,
    origin: ORIGINS[a.origin ?? 2],
    communities: (a.communities ?? []).map((c) => `${Math.floor(c / 65536)}:${c % 65536}`),
    largeCommunities: (a.largeCommunities ?? []).map((l) => l.join(':')),
    stale: r.stale,
    receivedAt: Math.round(toEpoch(r.receivedAt)),
  };
  if (a.localPref !== undefined) v.localPref = a.localPref;
  if (a.med !== undefined) v.med = a.med;
  if (a.originatorId !== undefined) v.originatorId = a.originatorId;
  if (a.clusterList !== undefined) v.clusterList = [...a.clusterList];
  return v;
}

export function routeView(d: Destination, toEpoch: ToEpoch): RouteView | null {
  if (!d.best) return null;
  const multipath = d.multipath;
  const others = d.paths.filter((p) => p !== d.best);
  const nextHops: string[] = [];
  if (d.best.peer.kind !== 'local') for (const r of multipath) if (r.nextHop && !nextHops.includes(r.nextHop)) nextHops.push(r.nextHop);
  return {
    family: d.family,
    prefix: d.prefix,
    best: pathView(d.best, toEpoch),
    reason: d.reason,
    nextHops,
    paths: [d.best, ...others].map((r) => pathView(r, toEpoch)),
  };
}

/**
 * Longest-prefix match of an address in the Loc-RIB, among destinations that have a best path:
 * tries every prefix length from the longest down (33 or 129 lookups).
 */
export function longestMatch(locRib: LocRib, address: string): Destination | null {
  const bytes = parseIP(address);
  if (!bytes) return null;
  const family: Family = bytes.length === 4 ? IPV4_UNICAST : IPV6_UNICAST;
  for (let len = bytes.length * 8; len >= 0; len--) {
    const d = locRib.lookup(`${formatIP(maskBytes(bytes, len))}/${len}`, family);
    if (d?.best) return d;
  }
  return null;
}
