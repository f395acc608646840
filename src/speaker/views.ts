// Pure views of RIB objects for status output, the dataplane and `nexthop explain`: paths as
// plain data (RFC 4271 §5 attributes, RFC 1997 / RFC 8092 communities, RFC 4456 §8 reflection
// attributes, RFC 4724 stale mark) and the longest-prefix match over the Loc-RIB
// (RFC 4271 §9.1.4's "most specific route" rule for forwarding).
import type { Family } from '../wire/types';
import { IPV4_UNICAST, IPV6_UNICAST } from '../wire/family';
import { formatIP, maskBytes, parseIP } from '../lib/ip';
import { effectiveAsPath } from '../wire/path';
import type { Destination, LocRib, LocRibChange } from '../rib/loc-rib';
import type { Route } from '../rib/route';
import type { PathView, RouteChange, RouteView } from './types';

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

/**
 * A Loc-RIB change as the dataplane sees it. Everything is read from the Loc-RIB change when
 * asked, and the path view and next-hop list are built then: a full table is 100k changes, and
 * most consumers read only prefix, withdrawn and nextHops. (Four fields per change, not nine.)
 */
class LazyRouteChange implements RouteChange {
  constructor(private readonly change: LocRibChange, private readonly toEpoch: ToEpoch) {}

  get family(): Family {
    return this.change.family;
  }

  get prefix(): string {
    return this.change.prefix;
  }

  get withdrawn(): boolean {
    return this.change.best === null;
  }

  get local(): boolean {
    const best = this.change.best;
    return best !== null && best.peer.kind === 'local';
  }

  get peer(): string | null {
    const best = this.change.best;
    return best === null ? null : best.peer.kind === 'local' ? 'local' : best.peer.id;
  }

  /** Built on each read (consumers read it once). */
  get nextHops(): string[] {
    return this.change.best === null ? [] : this.change.nextHops;
  }

  /** Built on each read (consumers read it once). */
  get best(): PathView | null {
    return this.change.best ? pathView(this.change.best, this.toEpoch) : null;
  }

  toJSON(): RouteChange {
    return { family: this.family, prefix: this.prefix, withdrawn: this.withdrawn, local: this.local, peer: this.peer, nextHops: this.nextHops, best: this.best };
  }
}

/** The Loc-RIB changes of a processing round as the speaker reports them to its listeners. */
export function routeChangeViews(changes: readonly LocRibChange[], toEpoch: ToEpoch): RouteChange[] {
  const out: RouteChange[] = new Array(changes.length);
  for (let i = 0; i < changes.length; i++) out[i] = new LazyRouteChange(changes[i], toEpoch);
  return out;
}
