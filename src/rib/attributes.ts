// Path attribute interning (hash-consing) for the RIB: every distinct attribute set is held once,
// shared by all routes that carry it, keyed by a canonical text of its contents. 100k routes from
// one peer with a handful of attribute sets then cost one pointer each for their attributes.
// The interned record also carries the values the decision process (RFC 4271 §9.1) reads, so the
// hot path never re-walks AS_PATH or CLUSTER_LIST.
import type { AsPathSegment, PathAttributes } from '../wire/types';
import { asPathContains, asPathLength, neighborAs } from './aspath';

/** One shared attribute set. Never mutate `attrs`. */
export interface InternedAttributes {
  /** Unique per store for the life of the entry (a cheap map key). */
  readonly id: number;
  /** Canonical text of the attributes: equal keys ⇔ equal attributes. */
  readonly key: string;
  readonly attrs: Readonly<PathAttributes>;
  /** NEXT_HOP, or for MP families the first MP_REACH next hop (RFC 4760 §3, RFC 2545 §3). */
  readonly nextHop: string | null;
  /** RFC 4271 §9.1.2.2 a (AS_SET 1, RFC 5065 confederation segments 0). */
  readonly asPathLength: number;
  /** RFC 4271 §9.1.2.2 c: leftmost AS, null for an empty path. */
  readonly neighborAs: number | null;
  /** RFC 4271 §5.1.1: 0 IGP, 1 EGP, 2 INCOMPLETE; INCOMPLETE when missing. */
  readonly origin: number;
  /** RFC 4271 §9.1.2.2 c: a missing MED counts as the lowest value, 0. */
  readonly med: number;
  /** RFC 4456 §9: CLUSTER_LIST length. */
  readonly clusterListLength: number;
  /** Routes (or Adj-RIB-Out entries) holding this record; the store forgets it at 0. */
  refs: number;
  /** Cache for asPathContains(localAs): the AS it was computed for, and the answer. */
  loopAs: number;
  loops: boolean;
}

function segKey(path: readonly AsPathSegment[] | undefined): string {
  if (!path) return '-';
  let s = '';
  for (const seg of path) s += `${seg.type}:${seg.asns.join(',')};`;
  return s;
}

function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}

/**
 * Canonical text of an attribute set. Every field of PathAttributes takes part, in a fixed
 * order, with an absent field spelled differently from an empty one. Attribute value order
 * inside lists (communities, ...) is kept as received: two sets that differ only in order are
 * different sets, which costs a little sharing and never merges unequal sets.
 */
export function attributesKey(a: Readonly<PathAttributes>): string {
  let k = `o${a.origin ?? '-'}|p${segKey(a.asPath)}|n${a.nextHop ?? '-'}|m${a.med ?? '-'}|l${a.localPref ?? '-'}`;
  if (a.atomicAggregate) k += '|A';
  if (a.aggregator) k += `|g${a.aggregator.asn}@${a.aggregator.address}`;
  if (a.communities) k += `|c${a.communities.join(',')}`;
  if (a.originatorId !== undefined) k += `|r${a.originatorId}`;
  if (a.clusterList) k += `|k${a.clusterList.join(',')}`;
  if (a.mpReach) {
    const mp = a.mpReach;
    k += `|M${mp.afi}/${mp.safi}/${mp.nextHops.join(',')}`;
    if (mp.nextHopRaw) k += `/${hex(mp.nextHopRaw)}`;
  }
  if (a.mpUnreach) k += `|U${a.mpUnreach.afi}/${a.mpUnreach.safi}`;
  if (a.extendedCommunities) k += `|e${a.extendedCommunities.join(',')}`;
  if (a.as4Path) k += `|P${segKey(a.as4Path)}`;
  if (a.as4Aggregator) k += `|G${a.as4Aggregator.asn}@${a.as4Aggregator.address}`;
  if (a.largeCommunities) k += `|L${a.largeCommunities.map((c) => c.join(':')).join(',')}`;
  if (a.unknown) for (const u of a.unknown) k += `|u${u.code}/${u.flags}/${hex(u.value)}`;
  return k;
}

/** A store of interned attribute sets. One per RIB (shared by all peers), one per update group. */
export class AttributeStore {
  private readonly byKey = new Map<string, InternedAttributes>();
  private nextId = 1;

  /** The shared record for `attrs` (not retained: call retain() when a route starts to hold it). */
  intern(attrs: Readonly<PathAttributes>): InternedAttributes {
    const key = attributesKey(attrs);
    const found = this.byKey.get(key);
    if (found) return found;
    const rec: InternedAttributes = {
      id: this.nextId++,
      key,
      attrs,
      nextHop: attrs.mpReach ? (attrs.mpReach.nextHops[0] ?? null) : (attrs.nextHop ?? null),
      asPathLength: asPathLength(attrs.asPath),
      neighborAs: neighborAs(attrs.asPath),
      origin: attrs.origin ?? 2,
      med: attrs.med ?? 0,
      clusterListLength: attrs.clusterList ? attrs.clusterList.length : 0,
      refs: 0,
      loopAs: -1,
      loops: false,
    };
    this.byKey.set(key, rec);
    return rec;
  }

  retain(rec: InternedAttributes): void {
    rec.refs++;
  }

  /** Drops one reference; the record leaves the store when nothing holds it any more. */
  release(rec: InternedAttributes): void {
    if (--rec.refs <= 0 && this.byKey.get(rec.key) === rec) this.byKey.delete(rec.key);
  }

  /** Number of distinct attribute sets held. */
  get size(): number {
    return this.byKey.size;
  }
}

/** RFC 4271 §9.1.2: our AS in the path makes a route a loop; cached on the shared record. */
export function loopsThrough(rec: InternedAttributes, localAs: number): boolean {
  if (rec.loopAs !== localAs) {
    rec.loopAs = localAs;
    rec.loops = asPathContains(rec.attrs.asPath, localAs);
  }
  return rec.loops;
}
