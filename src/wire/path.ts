// What a route's attributes mean beyond their wire form: the RFC 6793 §4.2.3 reconstruction of
// the real AS path and aggregator from a 2-octet speaker's AS_PATH / AS4_PATH and AGGREGATOR /
// AS4_AGGREGATOR, the RFC 4271 §9.1.2.2 path length, and the RFC 4271 §5 / §9 treatment of
// unknown attributes on re-advertisement.
import { AS_TRANS, AttrFlag } from './attributes';
import type { Aggregator, AsPathSegment, PathAttributes } from './types';

/**
 * RFC 4271 §9.1.2.2 (with RFC 5065 §5.3): the number of ASes a path counts for route selection:
 * an AS_SET counts 1, confederation segments count 0.
 */
export function asPathLength(segs: readonly AsPathSegment[] | undefined): number {
  if (!segs) return 0;
  let n = 0;
  for (const s of segs) {
    if (s.type === 2) n += s.asns.length;
    else if (s.type === 1) n += 1;
  }
  return n;
}

/**
 * RFC 6793 §4.2.3: when both AGGREGATOR and AS4_AGGREGATOR are present and AGGREGATOR's AS is not
 * AS_TRANS, the AS4 attributes are ignored (a 2-octet speaker aggregated after them).
 */
function as4Ignored(a: PathAttributes): boolean {
  return a.aggregator !== undefined && a.as4Aggregator !== undefined && a.aggregator.asn !== AS_TRANS;
}

/**
 * The AS path a 4-octet speaker uses for the route (RFC 6793 §4.2.3). Without AS4_PATH it is
 * AS_PATH (as always between 4-octet speakers). Otherwise: if AS_PATH counts fewer ASes than
 * AS4_PATH, AS4_PATH is ignored; else the leading ASes of AS_PATH (as many as AS_PATH counts
 * beyond AS4_PATH, with any confederation segments among them) are prepended to AS4_PATH.
 * Adjacent AS_SEQUENCEs are merged (up to 255 ASes), so the result has the path's usual shape.
 */
export function effectiveAsPath(attrs: PathAttributes): AsPathSegment[] {
  const asPath = attrs.asPath ?? [];
  const as4Path = attrs.as4Path;
  if (!as4Path || as4Ignored(attrs)) return asPath;
  const total = asPathLength(asPath);
  const total4 = asPathLength(as4Path);
  if (total < total4) return asPath;
  let need = total - total4;
  const out: AsPathSegment[] = [];
  for (const seg of asPath) {
    // Confederation segments lead the path (RFC 5065 §3) and count 0; AS4_PATH never has them
    // (RFC 6793 §3), so they are always taken from AS_PATH. Counted segments only as needed.
    if (need === 0 && seg.type !== 3 && seg.type !== 4) break;
    if (seg.type === 3 || seg.type === 4) {
      out.push({ type: seg.type, asns: seg.asns.slice() });
    } else if (seg.type === 1) {
      out.push({ type: 1, asns: seg.asns.slice() });
      need -= 1;
    } else {
      const take = Math.min(need, seg.asns.length);
      out.push({ type: 2, asns: seg.asns.slice(0, take) });
      need -= take;
    }
  }
  for (const seg of as4Path) out.push({ type: seg.type, asns: seg.asns.slice() });
  return mergeSequences(out);
}

function mergeSequences(segs: AsPathSegment[]): AsPathSegment[] {
  const out: AsPathSegment[] = [];
  for (const s of segs) {
    const last = out[out.length - 1];
    if (last && last.type === 2 && s.type === 2 && last.asns.length + s.asns.length <= 255) last.asns.push(...s.asns);
    else out.push(s);
  }
  return out;
}

/**
 * The aggregator a 4-octet speaker uses (RFC 6793 §4.2.3): AS4_AGGREGATOR replaces AGGREGATOR
 * when AGGREGATOR carries AS_TRANS; when AGGREGATOR carries a real 2-octet AS, it stands.
 */
export function effectiveAggregator(attrs: PathAttributes): Aggregator | undefined {
  if (attrs.as4Aggregator && attrs.aggregator && attrs.aggregator.asn === AS_TRANS) return attrs.as4Aggregator;
  return attrs.aggregator;
}

/**
 * The attributes as they should be passed on (RFC 4271 §5, §9): unknown optional transitive
 * attributes are kept with the Partial bit set; unknown optional non-transitive ones are dropped.
 * AS4_PATH / AS4_AGGREGATOR are folded into asPath / aggregator (RFC 6793 §4.2.3) so the encoder
 * regenerates them toward 2-octet peers as needed (§4.2.2). Returns a new object; the input is
 * not modified.
 */
export function attributesForReadvertisement(attrs: PathAttributes): PathAttributes {
  const out: PathAttributes = { ...attrs };
  if (attrs.as4Path !== undefined || attrs.as4Aggregator !== undefined) {
    out.asPath = effectiveAsPath(attrs);
    const agg = effectiveAggregator(attrs);
    if (agg) out.aggregator = { ...agg };
    delete out.as4Path;
    delete out.as4Aggregator;
    if (attrs.asPath === undefined) delete out.asPath;
  }
  if (attrs.unknown) {
    const kept = attrs.unknown
      .filter((r) => (r.flags & AttrFlag.OPTIONAL) !== 0 && (r.flags & AttrFlag.TRANSITIVE) !== 0)
      .map((r) => ({ flags: r.flags | AttrFlag.PARTIAL, code: r.code, value: r.value }));
    if (kept.length > 0) out.unknown = kept;
    else delete out.unknown;
  }
  return out;
}
