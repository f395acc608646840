// AS_PATH arithmetic for the decision process and policy: path length (RFC 4271 §9.1.2.2 a,
// RFC 5065 §5.3 confederation segments count 0), neighbour AS (RFC 4271 §9.1.2.2 c), loop
// detection (RFC 4271 §9.1.2), prepending (RFC 4271 §5.1.2), and folding AS4_PATH into AS_PATH
// for paths received from 2-octet speakers (RFC 6793 §4.2.3, done by src/wire/path.ts).
import { AsPathSegmentType, type AsPathSegment, type PathAttributes } from '../wire/types';
import { effectiveAggregator, effectiveAsPath } from '../wire/path';

/**
 * RFC 4271 §9.1.2.2 a: an AS_SET counts as 1 however many ASes it holds; RFC 5065 §5.3:
 * AS_CONFED_SEQUENCE and AS_CONFED_SET do not count.
 */
export function asPathLength(path: readonly AsPathSegment[] | undefined): number {
  if (!path) return 0;
  let n = 0;
  for (const seg of path) {
    if (seg.type === AsPathSegmentType.AS_SEQUENCE) n += seg.asns.length;
    else if (seg.type === AsPathSegmentType.AS_SET) n += 1;
  }
  return n;
}

/**
 * RFC 4271 §9.1.2.2 c: the neighbouring AS is the first AS of the AS_PATH (leftmost AS of an
 * AS_SEQUENCE, skipping confederation segments, RFC 5065 §5.3). Null for an empty path
 * (a route originated inside our AS): the caller treats that as the local AS.
 */
export function neighborAs(path: readonly AsPathSegment[] | undefined): number | null {
  if (!path) return null;
  for (const seg of path) {
    if (seg.type === AsPathSegmentType.AS_CONFED_SEQUENCE || seg.type === AsPathSegmentType.AS_CONFED_SET) continue;
    if (seg.type === AsPathSegmentType.AS_SEQUENCE && seg.asns.length > 0) return seg.asns[0];
    return null;
  }
  return null;
}

/** RFC 4271 §9.1.2: true when `asn` appears anywhere in the path (a routing loop). */
export function asPathContains(path: readonly AsPathSegment[] | undefined, asn: number): boolean {
  if (!path) return false;
  for (const seg of path) if (seg.asns.includes(asn)) return true;
  return false;
}

/**
 * RFC 4271 §5.1.2 b: prepend our AS to the leftmost AS_SEQUENCE, or open a new AS_SEQUENCE
 * when the path is empty, starts with an AS_SET, or the first segment is full (255 ASes).
 * Confederation segments are removed first (RFC 5065 §5.3: never sent outside the confederation).
 */
export function prependAs(path: readonly AsPathSegment[] | undefined, asn: number): AsPathSegment[] {
  const kept = (path ?? []).filter((s) => s.type === AsPathSegmentType.AS_SEQUENCE || s.type === AsPathSegmentType.AS_SET);
  const first = kept[0];
  if (first && first.type === AsPathSegmentType.AS_SEQUENCE && first.asns.length < 255) {
    return [{ type: AsPathSegmentType.AS_SEQUENCE, asns: [asn, ...first.asns] }, ...kept.slice(1)];
  }
  return [{ type: AsPathSegmentType.AS_SEQUENCE, asns: [asn] }, ...kept];
}

/**
 * The attributes with AS4_PATH / AS4_AGGREGATOR folded into AS_PATH / AGGREGATOR
 * (RFC 6793 §4.2.3, by src/wire's effectiveAsPath / effectiveAggregator); the same object when
 * there is nothing to fold. Routes are kept and compared in their 4-octet form.
 */
export function foldAs4(attrs: PathAttributes): PathAttributes {
  if (!attrs.as4Path && !attrs.as4Aggregator) return attrs;
  const out: PathAttributes = { ...attrs };
  if (attrs.asPath || attrs.as4Path) out.asPath = effectiveAsPath(attrs);
  const agg = effectiveAggregator(attrs);
  if (agg) out.aggregator = agg;
  delete out.as4Path;
  delete out.as4Aggregator;
  return out;
}
