// UPDATE packing: turn "these prefixes are withdrawn" and "these prefixes share these attributes"
// into as few UPDATE messages as fit the negotiated maximum size. Sizes are computed exactly:
// RFC 4271 §4.3 (UPDATE layout: 19-octet header, two 2-octet length fields), §4.3 path
// attribute header (3 octets, 4 with the Extended Length bit when the value exceeds 255 octets),
// NLRI entries of 1 + ceil(len/8) octets (+4 with RFC 7911 ADD-PATH), RFC 4760 §3-4 MP_REACH /
// MP_UNREACH layouts, RFC 6793 §4.2.2 (AS_PATH with 2-octet ASes plus AS4_PATH toward an old
// speaker), RFC 8654 (65535-octet messages), RFC 4724 §2 End-of-RIB.
import type { AsPathSegment, Family, Nlri, PathAttributes, UpdateMessage } from '../wire/types';
import { AsPathSegmentType } from '../wire/types';
import { familyCodes, IPV4_UNICAST, nlriSize } from './family';
import { endOfRib } from '../wire/eor';

/** RFC 4271 §4: maximum message size; RFC 8654 §4 with the Extended Message capability. */
export const MAX_MESSAGE_SIZE = 4096;
export const MAX_EXTENDED_MESSAGE_SIZE = 65535;
/** Header (19) + Withdrawn Routes Length (2) + Total Path Attribute Length (2). */
export const UPDATE_OVERHEAD = 23;

export interface PackContext {
  /** RFC 6793: 4-octet AS numbers on this session. */
  as4: boolean;
  /** RFC 7911: path identifiers on NLRI of this family in the sending direction. */
  addPath: boolean;
  /** Maximum message size (4096, or 65535 with RFC 8654). */
  maxSize: number;
}

/** An attribute set cannot be sent: even one prefix does not fit beside it. */
export class PackingError extends Error {
  constructor(readonly family: Family, readonly attributesSize: number, readonly maxSize: number) {
    super(`${family}: path attributes of ${attributesSize} octets leave no room for NLRI in a ${maxSize}-octet UPDATE`);
    this.name = 'PackingError';
  }
}

/** RFC 4271 §4.3: attribute header length for a value of `len` octets. */
export function attributeHeaderSize(len: number): number {
  return len > 255 ? 4 : 3;
}

function attr(len: number): number {
  return attributeHeaderSize(len) + len;
}

/** AS_PATH value length with `asnSize`-octet AS numbers; segments split at 255 ASes. */
function asPathValueSize(path: readonly AsPathSegment[], asnSize: number, skipConfed: boolean): number {
  let n = 0;
  for (const seg of path) {
    if (skipConfed && (seg.type === AsPathSegmentType.AS_CONFED_SEQUENCE || seg.type === AsPathSegmentType.AS_CONFED_SET)) continue;
    const count = seg.asns.length;
    const chunks = Math.max(1, Math.ceil(count / 255));
    n += chunks * 2 + count * asnSize;
  }
  return n;
}

function needsAs4(path: readonly AsPathSegment[]): boolean {
  for (const seg of path) for (const asn of seg.asns) if (asn > 0xffff) return true;
  return false;
}

/**
 * Octets of all path attributes except MP_REACH_NLRI / MP_UNREACH_NLRI, encoded for a session
 * with or without 4-octet AS numbers, as src/wire/attributes.ts encodes them (Extended Length
 * only above 255 octets; empty lists left out; AS4_PATH / AS4_AGGREGATOR only toward a 2-octet
 * speaker, RFC 6793 §4.2.2).
 */
export function pathAttributesSize(a: Readonly<PathAttributes>, as4: boolean): number {
  let n = 0;
  if (a.origin !== undefined) n += attr(1);
  if (a.asPath !== undefined) n += attr(asPathValueSize(a.asPath, as4 ? 4 : 2, false));
  if (!as4) {
    // RFC 6793 §4.2.2: toward a 2-octet speaker, AS4_PATH carries the real path when any AS
    // needs 4 octets (confederation segments excluded), and AS4_AGGREGATOR likewise.
    if (a.as4Path) n += attr(asPathValueSize(a.as4Path, 4, false));
    else if (a.asPath && needsAs4(a.asPath)) n += attr(asPathValueSize(a.asPath, 4, true));
    if (a.as4Aggregator) n += attr(8);
    else if (a.aggregator && a.aggregator.asn > 0xffff) n += attr(8);
  }
  if (a.nextHop !== undefined) n += attr(4);
  if (a.med !== undefined) n += attr(4);
  if (a.localPref !== undefined) n += attr(4);
  if (a.atomicAggregate) n += attr(0);
  if (a.aggregator) n += attr(as4 ? 8 : 6);
  // Empty lists are not encoded at all.
  if (a.communities && a.communities.length > 0) n += attr(4 * a.communities.length);
  if (a.originatorId !== undefined) n += attr(4);
  if (a.clusterList && a.clusterList.length > 0) n += attr(4 * a.clusterList.length);
  if (a.extendedCommunities && a.extendedCommunities.length > 0) n += attr(8 * a.extendedCommunities.length);
  if (a.largeCommunities && a.largeCommunities.length > 0) n += attr(12 * a.largeCommunities.length);
  // The header of an unknown attribute follows its length, as for every other one.
  if (a.unknown) for (const u of a.unknown) n += attr(u.value.length);
  return n;
}

/** Measures the non-MP attributes; replaceable so the speaker can plug in the codec itself. */
export type AttributeSizer = (attrs: Readonly<PathAttributes>, as4: boolean) => number;

function nextHopBytes(nextHops: readonly string[], raw?: Uint8Array): number {
  if (raw) return raw.length;
  let n = 0;
  for (const nh of nextHops) n += nh.includes(':') ? 16 : 4;
  return n;
}

/** RFC 4724 §2: the End-of-RIB marker of a family. */
export const endOfRibMessage = endOfRib;

function toNlri(prefix: string, addPath: boolean): Nlri {
  // RFC 7911: we advertise one path per prefix; its identifier is 1.
  return addPath ? { prefix, pathId: 1 } : { prefix };
}

/**
 * Withdrawals of a family, packed: IPv4 in the Withdrawn Routes field (RFC 4271 §4.3), other
 * families in MP_UNREACH_NLRI (RFC 4760 §4).
 */
export function packWithdrawals(family: Family, prefixes: readonly string[], ctx: PackContext): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  if (prefixes.length === 0) return out;
  if (family === IPV4_UNICAST) {
    const budget = ctx.maxSize - UPDATE_OVERHEAD;
    let batch: Nlri[] = [];
    let used = 0;
    for (const p of prefixes) {
      const s = nlriSize(p, ctx.addPath);
      if (used + s > budget && batch.length > 0) {
        out.push({ type: 'update', withdrawn: batch, attributes: {}, nlri: [] });
        batch = [];
        used = 0;
      }
      batch.push(toNlri(p, ctx.addPath));
      used += s;
    }
    out.push({ type: 'update', withdrawn: batch, attributes: {}, nlri: [] });
    return out;
  }
  const c = familyCodes(family)!;
  let batch: Nlri[] = [];
  let used = 0; // NLRI octets in the batch
  // UPDATE = overhead + MP_UNREACH attribute (header + AFI 2 + SAFI 1 + NLRI).
  const total = (nlri: number): number => UPDATE_OVERHEAD + attr(3 + nlri);
  for (const p of prefixes) {
    const s = nlriSize(p, ctx.addPath);
    if (total(used + s) > ctx.maxSize && batch.length > 0) {
      out.push({ type: 'update', withdrawn: [], attributes: { mpUnreach: { afi: c.afi, safi: c.safi, withdrawn: batch } }, nlri: [] });
      batch = [];
      used = 0;
    }
    batch.push(toNlri(p, ctx.addPath));
    used += s;
  }
  out.push({ type: 'update', withdrawn: [], attributes: { mpUnreach: { afi: c.afi, safi: c.safi, withdrawn: batch } }, nlri: [] });
  return out;
}

/**
 * Announcements of prefixes sharing one attribute set, packed. IPv4 goes in the NLRI field
 * with NEXT_HOP; other families in MP_REACH_NLRI (RFC 4760 §3), whose next hops come from
 * `attrs.mpReach`. Throws PackingError when the attributes alone overflow a message.
 */
export function packAnnouncements(
  family: Family,
  attrs: Readonly<PathAttributes>,
  prefixes: readonly string[],
  ctx: PackContext,
  sizer: AttributeSizer = pathAttributesSize,
): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  if (prefixes.length === 0) return out;
  if (family === IPV4_UNICAST) {
    const base: PathAttributes = { ...attrs };
    delete base.mpReach;
    const attrSize = sizer(base, ctx.as4);
    const budget = ctx.maxSize - UPDATE_OVERHEAD - attrSize;
    if (budget < nlriSize(prefixes[0], ctx.addPath)) throw new PackingError(family, attrSize, ctx.maxSize);
    let batch: Nlri[] = [];
    let used = 0;
    for (const p of prefixes) {
      const s = nlriSize(p, ctx.addPath);
      if (used + s > budget && batch.length > 0) {
        out.push({ type: 'update', withdrawn: [], attributes: base, nlri: batch });
        batch = [];
        used = 0;
      }
      batch.push(toNlri(p, ctx.addPath));
      used += s;
    }
    out.push({ type: 'update', withdrawn: [], attributes: base, nlri: batch });
    return out;
  }
  const c = familyCodes(family)!;
  const mp = attrs.mpReach;
  const nextHops = mp ? mp.nextHops : [];
  const base: PathAttributes = { ...attrs };
  delete base.mpReach;
  delete base.nextHop;
  const attrSize = sizer(base, ctx.as4);
  // MP_REACH value: AFI 2 + SAFI 1 + next-hop length 1 + next hop + reserved 1 + NLRI.
  const mpFixed = 5 + nextHopBytes(nextHops, mp?.nextHopRaw);
  const total = (nlri: number): number => UPDATE_OVERHEAD + attrSize + attr(mpFixed + nlri);
  if (total(nlriSize(prefixes[0], ctx.addPath)) > ctx.maxSize) throw new PackingError(family, attrSize + attr(mpFixed), ctx.maxSize);
  const make = (batch: Nlri[]): UpdateMessage => {
    const mpReach = { afi: c.afi, safi: c.safi, nextHops, nlri: batch } as NonNullable<PathAttributes['mpReach']>;
    if (mp?.nextHopRaw) mpReach.nextHopRaw = mp.nextHopRaw;
    return { type: 'update', withdrawn: [], attributes: { ...base, mpReach }, nlri: [] };
  };
  let batch: Nlri[] = [];
  let used = 0;
  for (const p of prefixes) {
    const s = nlriSize(p, ctx.addPath);
    if (total(used + s) > ctx.maxSize && batch.length > 0) {
      out.push(make(batch));
      batch = [];
      used = 0;
    }
    batch.push(toNlri(p, ctx.addPath));
    used += s;
  }
  out.push(make(batch));
  return out;
}

/** The exact encoded size of an UPDATE as packed here (for tests and accounting). */
export function updateSize(u: UpdateMessage, ctx: PackContext, sizer: AttributeSizer = pathAttributesSize): number {
  let n = UPDATE_OVERHEAD;
  for (const w of u.withdrawn) n += nlriSize(w.prefix, w.pathId !== undefined);
  for (const p of u.nlri) n += nlriSize(p.prefix, p.pathId !== undefined);
  const a = u.attributes;
  const base: PathAttributes = { ...a };
  delete base.mpReach;
  delete base.mpUnreach;
  n += sizer(base, ctx.as4);
  if (a.mpReach) {
    let v = 5 + nextHopBytes(a.mpReach.nextHops, a.mpReach.nextHopRaw);
    for (const p of a.mpReach.nlri) v += nlriSize(p.prefix, p.pathId !== undefined);
    n += attr(v);
  }
  if (a.mpUnreach) {
    let v = 3;
    for (const p of a.mpUnreach.withdrawn) v += nlriSize(p.prefix, p.pathId !== undefined);
    n += attr(v);
  }
  return n;
}
