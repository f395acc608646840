// Path attributes (RFC 4271 §4.3, §5): one decoder and one encoder per attribute, with the RFC
// 7606 error handling of each (§3 flags, §7.1-§7.11 and §7.14 per attribute; RFC 8092 §5 for
// LARGE_COMMUNITY; RFC 6793 §6 for AS4_PATH / AS4_AGGREGATOR). Decoders return null when
// the attribute was fine, or the WireErrorInfo of a non-fatal error (treat-as-withdraw or
// attribute-discard); fatal errors (session reset) are thrown as WireError.
//
// Every attribute on the wire (RFC 4271 §4.3):
//
//    0                   1
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//   +---------------+---------------+
//   |  Attr. Flags  |Attr. Type Code|
//   +---------------+---------------+---------------+
//   |  Attr. Length (1, or 2 with Extended Length)  |
//   +---------------+---------------+---------------+
//   |  Attr. Value ...                              |
//   +-----------------------------------------------+
//
//   Flags: 0x80 Optional, 0x40 Transitive, 0x20 Partial, 0x10 Extended Length; the low 4 bits are
//   unused (sent as 0, ignored on receipt).
//
// Decode, per codec context (what each field holds, so round trips are well-defined):
//  - asPath: with ctx.as4 the 4-octet AS_PATH; without, the 2-octet AS_PATH exactly as received
//    (AS_TRANS 23456 where the sender had a 4-octet AS). effectiveAsPath() gives the real path.
//  - as4Path / as4Aggregator: only without ctx.as4 (from a 2-octet speaker, RFC 6793 §4.2.3);
//    with ctx.as4 they are dropped and reported in `discarded` (RFC 6793 §3: a NEW speaker
//    discards them when they come from a NEW speaker).
//  - aggregator: the AGGREGATOR as received (8 octets with ctx.as4, 6 without).
//  - unknown: every attribute without a decoder here, in order, flags without the Extended Length
//    bit and the unused low bits (the encoder chooses Extended Length from the length).
//  - Partial bits of recognised attributes are not kept.
// Encode, per codec context:
//  - ctx.as4: AS_PATH and AGGREGATOR with 4-octet ASNs; as4Path / as4Aggregator are never sent
//    (RFC 6793 §3: MUST NOT send them to a NEW speaker).
//  - !ctx.as4 (RFC 6793 §4.2.2): every ASN above 65535 in asPath / aggregator is sent as AS_TRANS;
//    AS4_PATH is `as4Path` if given, otherwise asPath without confederation segments when asPath
//    has any ASN above 65535; AS4_AGGREGATOR is `as4Aggregator` if given, otherwise the aggregator
//    when its ASN is above 65535. So both a decoded message (asPath + as4Path as received) and a
//    locally built one (asPath = the real path) encode correctly. One thing cannot cross a 2-octet
//    session: a 4-octet ASN inside a confederation segment (AS4_PATH may not carry those, RFC
//    6793 §3); it arrives as AS_TRANS.
//  - Empty community / cluster lists are not sent (RFC 7606 §7.8, §7.10: length 0 is malformed).
import { WireError, encodeError, errorInfo, ErrorCode, UpdateSubcode } from './errors';
import { familyOf, IPV4_UNICAST, IPV6_UNICAST } from './family';
import { decodeIpv4Prefixes, decodeIpv6Prefixes, encodeIpv4Prefixes, encodeIpv6Prefixes, parseIpv4Address, type NlriField } from './nlri';
import { copyBytes, HEX2, ipv4At, u16, u32 } from './reader';
import type {
  Aggregator, AsPathSegment, CodecContext, ErrorAction, MpReach, MpUnreach, Nlri, PathAttributes,
  RawAttribute, WireErrorInfo,
} from './types';
import { Writer } from './writer';
import { formatIpv6At, parseIpv6Into } from './ipv6';

/** RFC 4271 §5, RFC 4456, RFC 4760, RFC 4360, RFC 6793, RFC 8092 attribute type codes. */
export const AttrType = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MULTI_EXIT_DISC: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  ORIGINATOR_ID: 9,
  CLUSTER_LIST: 10,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  EXTENDED_COMMUNITIES: 16,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
  LARGE_COMMUNITY: 32,
} as const;

export const AttrFlag = {
  OPTIONAL: 0x80,
  TRANSITIVE: 0x40,
  PARTIAL: 0x20,
  EXTENDED_LENGTH: 0x10,
} as const;

/** RFC 6793 §9: AS_TRANS, the 2-octet stand-in for a 4-octet AS number. */
export const AS_TRANS = 23456;

const WELL_KNOWN = AttrFlag.TRANSITIVE; // well-known: Optional 0, Transitive 1
const OPT_TRANS = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE;
const OPT_NONTRANS = AttrFlag.OPTIONAL;

const NAMES: Record<number, string> = {
  1: 'ORIGIN', 2: 'AS_PATH', 3: 'NEXT_HOP', 4: 'MULTI_EXIT_DISC', 5: 'LOCAL_PREF',
  6: 'ATOMIC_AGGREGATE', 7: 'AGGREGATOR', 8: 'COMMUNITIES', 9: 'ORIGINATOR_ID', 10: 'CLUSTER_LIST',
  14: 'MP_REACH_NLRI', 15: 'MP_UNREACH_NLRI', 16: 'EXTENDED_COMMUNITIES', 17: 'AS4_PATH',
  18: 'AS4_AGGREGATOR', 32: 'LARGE_COMMUNITY',
};

/** "attribute NEXT_HOP" for every code 0..255 ("attribute 99" for unknown ones), built once. */
const FIELD_NAMES: readonly string[] = Array.from({ length: 256 }, (_, c) => `attribute ${NAMES[c] ?? String(c)}`);

/** "attribute NEXT_HOP", "attribute 99". */
export function attributeName(code: number): string {
  return FIELD_NAMES[code & 0xff];
}

/** Whether this codec has a decoder for the attribute type (others are kept raw). */
export function isKnownAttribute(code: number): boolean {
  return NAMES[code] !== undefined;
}

/** Where one attribute sits in the message: b[start, end) is the whole attribute, b[v, end) its value. */
export interface AttrSpan {
  b: Uint8Array;
  flags: number;
  code: number;
  start: number;
  v: number;
  end: number;
}

function problem(s: AttrSpan, action: ErrorAction, subcode: number, why: string, withData = true): WireErrorInfo {
  // RFC 4271 §6.3: for flags, length, ORIGIN, NEXT_HOP and optional attribute errors the data is
  // the erroneous attribute (type, length and value).
  const field = attributeName(s.code);
  return errorInfo({
    code: ErrorCode.UPDATE_MESSAGE,
    subcode,
    data: withData ? copyBytes(s.b, s.start, s.end) : undefined,
    action,
    field,
    message: `${field}: ${why}`,
  });
}

function fatal(s: AttrSpan, subcode: number, why: string): WireError {
  const info = problem(s, 'session-reset', subcode, why);
  return new WireError(info);
}

/**
 * RFC 7606 §3 c: Optional / Transitive bits in conflict with the attribute's definition make it
 * malformed, with the action `action` (treat-as-withdraw unless the attribute's spec says other).
 */
function flagsWrong(s: AttrSpan, expected: number, action: ErrorAction): WireErrorInfo | null {
  if ((s.flags & 0xc0) === expected) return null;
  return problem(s, action, UpdateSubcode.ATTRIBUTE_FLAGS_ERROR,
    `flags 0x${s.flags.toString(16).padStart(2, '0')} do not match the attribute's Optional/Transitive bits 0x${expected.toString(16)}`);
}

// ---------------------------------------------------------------------------------------------
// Decoders

/**
 * ORIGIN (type 1), RFC 4271 §5.1.1: one octet, 0 IGP, 1 EGP, 2 INCOMPLETE.
 * RFC 7606 §7.1: wrong length or undefined value -> treat-as-withdraw.
 */
export function decodeOrigin(s: AttrSpan, attrs: PathAttributes): WireErrorInfo | null {
  const f = flagsWrong(s, WELL_KNOWN, 'treat-as-withdraw');
  if (f) return f;
  if (s.end - s.v !== 1) return problem(s, 'treat-as-withdraw', UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${s.end - s.v}, expected 1`);
  const o = s.b[s.v];
  if (o > 2) return problem(s, 'treat-as-withdraw', UpdateSubcode.INVALID_ORIGIN_ATTRIBUTE, `undefined origin value ${o}`);
  attrs.origin = o as 0 | 1 | 2;
  return null;
}

/**
 * AS_PATH segments (RFC 4271 §4.3 path segment: type (1), length in ASes (1), ASNs of 2 or 4
 * octets, RFC 6793 §3). Returns the segments or the reason they are malformed (RFC 7606 §7.2:
 * unknown segment type, a segment overrunning the attribute, a single trailing octet, or a
 * segment length of zero).
 *
 *   +------------------+------------------+---------------------------+
 *   | segment type (1) | segment len (1)  | ASNs (len x 2 or 4 octets) |
 *   +------------------+------------------+---------------------------+
 */
export function decodeAsPathSegments(b: Uint8Array, p: number, end: number, asnSize: 2 | 4): AsPathSegment[] | string {
  const segs: AsPathSegment[] = [];
  while (p < end) {
    if (end - p < 2) return 'a single octet left where a segment header is expected';
    const type = b[p];
    const n = b[p + 1];
    if (type < 1 || type > 4) return `unknown segment type ${type}`;
    if (n === 0) return 'segment of length zero';
    p += 2;
    if (p + n * asnSize > end) return `segment of ${n} ASes overruns the attribute`;
    const asns = new Array<number>(n);
    if (asnSize === 4) {
      for (let i = 0; i < n; i++, p += 4) asns[i] = u32(b, p);
    } else {
      for (let i = 0; i < n; i++, p += 2) asns[i] = u16(b, p);
    }
    segs.push({ type: type as 1 | 2 | 3 | 4, asns });
  }
  return segs;
}

/** AS_PATH (type 2), RFC 4271 §5.1.2; RFC 7606 §7.2: malformed -> treat-as-withdraw. */
export function decodeAsPath(s: AttrSpan, attrs: PathAttributes, ctx: CodecContext): WireErrorInfo | null {
  const f = flagsWrong(s, WELL_KNOWN, 'treat-as-withdraw');
  if (f) return f;
  const segs = decodeAsPathSegments(s.b, s.v, s.end, ctx.as4 ? 4 : 2);
  // RFC 4271 §6.3 gives Malformed AS_PATH no data.
  if (typeof segs === 'string') return problem(s, 'treat-as-withdraw', UpdateSubcode.MALFORMED_AS_PATH, segs, false);
  attrs.asPath = segs;
  return null;
}

/**
 * Why an IPv4 next hop at b[p..p+4) can never be valid, whatever the session (RFC 4271 §6.3:
 * "syntactically incorrect"): 0.0.0.0 (RFC 1122 §3.2.1.3, "this host", a source only), IPv4
 * multicast 224.0.0.0/4 (RFC 5771), class E 240.0.0.0/4 (RFC 1112 §4, reserved) including the
 * limited broadcast 255.255.255.255 (RFC 919). Null when none applies. The other RFC 4271 §6.3
 * check, "the IP address of the receiving speaker", needs the session and is import policy's.
 */
export function invalidIpv4NextHop(b: Uint8Array, p: number): string | null {
  const first = b[p];
  if (first === 0 && b[p + 1] === 0 && b[p + 2] === 0 && b[p + 3] === 0) return '0.0.0.0 is not a usable next hop';
  if (first >= 224 && first <= 239) return `${ipv4At(b, p)} is a multicast address (224.0.0.0/4)`;
  if (first >= 240) return `${ipv4At(b, p)} is a reserved class E or limited broadcast address (240.0.0.0/4)`;
  return null;
}

/**
 * Why an IPv6 global next hop at b[p..p+16) can never be valid: the unspecified address ::
 * (RFC 4291 §2.5.2: never a destination) or multicast ff00::/8 (RFC 4291 §2.7). Null when none.
 */
export function invalidIpv6NextHop(b: Uint8Array, p: number): string | null {
  if (b[p] === 0xff) return `${formatIpv6At(b, p)} is a multicast address (ff00::/8)`;
  for (let i = 0; i < 16; i++) if (b[p + i] !== 0) return null;
  return ':: (the unspecified address) is not a usable next hop';
}

/**
 * NEXT_HOP (type 3), RFC 4271 §5.1.3; RFC 7606 §7.3: length other than 4 -> treat-as-withdraw;
 * RFC 4271 §6.3 / RFC 7606 §7.3: a semantically invalid address (invalidIpv4NextHop) is an
 * Invalid NEXT_HOP Attribute -> treat-as-withdraw as well.
 */
export function decodeNextHop(s: AttrSpan, attrs: PathAttributes): WireErrorInfo | null {
  const f = flagsWrong(s, WELL_KNOWN, 'treat-as-withdraw');
  if (f) return f;
  if (s.end - s.v !== 4) return problem(s, 'treat-as-withdraw', UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${s.end - s.v}, expected 4`);
  attrs.nextHop = ipv4At(s.b, s.v);
  const bad = invalidIpv4NextHop(s.b, s.v);
  // RFC 4271 §6.3: Invalid NEXT_HOP Attribute, data = the incorrect attribute.
  if (bad) return problem(s, 'treat-as-withdraw', UpdateSubcode.INVALID_NEXT_HOP_ATTRIBUTE, bad);
  return null;
}

/** MULTI_EXIT_DISC (type 4), RFC 4271 §5.1.4; RFC 7606 §7.4: length other than 4 -> treat-as-withdraw. */
export function decodeMed(s: AttrSpan, attrs: PathAttributes): WireErrorInfo | null {
  const f = flagsWrong(s, OPT_NONTRANS, 'treat-as-withdraw');
  if (f) return f;
  if (s.end - s.v !== 4) return problem(s, 'treat-as-withdraw', UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${s.end - s.v}, expected 4`);
  attrs.med = u32(s.b, s.v);
  return null;
}

/** LOCAL_PREF (type 5), RFC 4271 §5.1.5; RFC 7606 §7.5: length other than 4 -> treat-as-withdraw. */
export function decodeLocalPref(s: AttrSpan, attrs: PathAttributes): WireErrorInfo | null {
  const f = flagsWrong(s, WELL_KNOWN, 'treat-as-withdraw');
  if (f) return f;
  if (s.end - s.v !== 4) return problem(s, 'treat-as-withdraw', UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${s.end - s.v}, expected 4`);
  attrs.localPref = u32(s.b, s.v);
  return null;
}

/** ATOMIC_AGGREGATE (type 6), RFC 4271 §5.1.6; RFC 7606 §7.6: length other than 0 -> attribute-discard. */
export function decodeAtomicAggregate(s: AttrSpan, attrs: PathAttributes): WireErrorInfo | null {
  const f = flagsWrong(s, WELL_KNOWN, 'attribute-discard');
  if (f) return f;
  if (s.end !== s.v) return problem(s, 'attribute-discard', UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${s.end - s.v}, expected 0`);
  attrs.atomicAggregate = true;
  return null;
}

/**
 * AGGREGATOR (type 7), RFC 4271 §5.1.7: AS (2 octets, or 4 with RFC 6793 §3) + IPv4 address.
 * RFC 7606 §7.7: wrong length -> attribute-discard.
 */
export function decodeAggregator(s: AttrSpan, attrs: PathAttributes, ctx: CodecContext): WireErrorInfo | null {
  const f = flagsWrong(s, OPT_TRANS, 'attribute-discard');
  if (f) return f;
  const want = ctx.as4 ? 8 : 6;
  if (s.end - s.v !== want) return problem(s, 'attribute-discard', UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${s.end - s.v}, expected ${want}`);
  attrs.aggregator = ctx.as4
    ? { asn: u32(s.b, s.v), address: ipv4At(s.b, s.v + 4) }
    : { asn: u16(s.b, s.v), address: ipv4At(s.b, s.v + 2) };
  return null;
}

/** COMMUNITIES (type 8), RFC 1997; RFC 7606 §7.8: length 0 or not a multiple of 4 -> treat-as-withdraw. */
export function decodeCommunities(s: AttrSpan, attrs: PathAttributes): WireErrorInfo | null {
  const f = flagsWrong(s, OPT_TRANS, 'treat-as-withdraw');
  if (f) return f;
  const len = s.end - s.v;
  if (len === 0 || len % 4 !== 0) return problem(s, 'treat-as-withdraw', UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `length ${len} is not a positive multiple of 4`);
  const out = new Array<number>(len >> 2);
  for (let i = 0, p = s.v; p < s.end; i++, p += 4) out[i] = u32(s.b, p);
  attrs.communities = out;
  return null;
}

/** ORIGINATOR_ID (type 9), RFC 4456 §8; RFC 7606 §7.9: length other than 4 -> treat-as-withdraw. */
export function decodeOriginatorId(s: AttrSpan, attrs: PathAttributes): WireErrorInfo | null {
  const f = flagsWrong(s, OPT_NONTRANS, 'treat-as-withdraw');
  if (f) return f;
  if (s.end - s.v !== 4) return problem(s, 'treat-as-withdraw', UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${s.end - s.v}, expected 4`);
  attrs.originatorId = ipv4At(s.b, s.v);
  return null;
}

/** CLUSTER_LIST (type 10), RFC 4456 §8; RFC 7606 §7.10: length 0 or not a multiple of 4 -> treat-as-withdraw. */
export function decodeClusterList(s: AttrSpan, attrs: PathAttributes): WireErrorInfo | null {
  const f = flagsWrong(s, OPT_NONTRANS, 'treat-as-withdraw');
  if (f) return f;
  const len = s.end - s.v;
  if (len === 0 || len % 4 !== 0) return problem(s, 'treat-as-withdraw', UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `length ${len} is not a positive multiple of 4`);
  const out: string[] = [];
  for (let p = s.v; p < s.end; p += 4) out.push(ipv4At(s.b, p));
  attrs.clusterList = out;
  return null;
}

function mpField(s: AttrSpan): NlriField {
  // RFC 4760 §7: errors in MP_REACH/MP_UNREACH are Optional Attribute Errors.
  return { name: attributeName(s.code), subcode: UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR };
}

function decodeMpPrefixes(s: AttrSpan, afi: number, safi: number, p: number, ctx: CodecContext, out: Nlri[]): void {
  const family = afi === 1 ? IPV4_UNICAST : IPV6_UNICAST;
  const addPath = ctx.addPath.size > 0 && ctx.addPath.has(familyOf(afi, safi));
  try {
    if (family === IPV4_UNICAST) decodeIpv4Prefixes(s.b, p, s.end, addPath, out, mpField(s));
    else decodeIpv6Prefixes(s.b, p, s.end, addPath, out, mpField(s));
  } catch (e) {
    // RFC 7606 §5.3 / §7.11: unparseable MP NLRI -> session reset; RFC 4271 §6.3: data is the attribute.
    if (e instanceof WireError) throw new WireError({ ...e.info(), data: copyBytes(s.b, s.start, s.end) });
    throw e;
  }
}

function isParsedFamily(afi: number, safi: number): boolean {
  return safi === 1 && (afi === 1 || afi === 2);
}

/**
 * MP_REACH_NLRI (type 14), RFC 4760 §3:
 *
 *   +---------------------------------------------------------+
 *   | Address Family Identifier (2 octets)                    |
 *   +---------------------------------------------------------+
 *   | Subsequent Address Family Identifier (1 octet)          |
 *   +---------------------------------------------------------+
 *   | Length of Next Hop Network Address (1 octet)            |
 *   +---------------------------------------------------------+
 *   | Network Address of Next Hop (variable)                  |
 *   +---------------------------------------------------------+
 *   | Reserved (1 octet)                                      |
 *   +---------------------------------------------------------+
 *   | Network Layer Reachability Information (variable)       |
 *   +---------------------------------------------------------+
 *
 * IPv6 unicast next hop: 16 octets global, or 32 global + link-local (RFC 2545 §3). IPv4 unicast
 * next hop: 4 octets, or 16 / 32 of IPv6 (RFC 8950 §3). Other families are kept raw.
 * RFC 7606 §7.11: any malformation (next hop length, NLRI) -> session reset (we do not implement
 * AFI/SAFI disable).
 */
export function decodeMpReach(s: AttrSpan, attrs: PathAttributes, ctx: CodecContext): WireErrorInfo | null {
  if ((s.flags & 0xc0) !== OPT_NONTRANS) throw fatal(s, UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, `flags 0x${s.flags.toString(16)} are not optional non-transitive`);
  const { b, v, end } = s;
  if (end - v < 5) throw fatal(s, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `length ${end - v} is too short (at least 5)`);
  const afi = u16(b, v);
  const safi = b[v + 2];
  const nhLen = b[v + 3];
  const nh = v + 4;
  if (nh + nhLen + 1 > end) throw fatal(s, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `next hop length ${nhLen} runs past the attribute`);
  const nlriStart = nh + nhLen + 1; // RFC 4760 §3: one Reserved octet, ignored on receipt
  if (!isParsedFamily(afi, safi)) {
    attrs.mpReach = { afi, safi, nextHops: [], nlri: [], nextHopRaw: copyBytes(b, nh, nh + nhLen), nlriRaw: copyBytes(b, nlriStart, end) };
    return null;
  }
  const nextHops: string[] = [];
  if (afi === 1 && nhLen === 4) {
    nextHops.push(ipv4At(b, nh));
  } else if (nhLen === 16 || nhLen === 32) {
    nextHops.push(formatIpv6At(b, nh));
    if (nhLen === 32) nextHops.push(formatIpv6At(b, nh + 16));
  } else {
    throw fatal(s, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
      `next hop length ${nhLen} is not valid for ${familyOf(afi, safi)} (${afi === 1 ? '4, 16 or 32' : '16 or 32'})`);
  }
  const nlri: Nlri[] = [];
  decodeMpPrefixes(s, afi, safi, nlriStart, ctx, nlri);
  attrs.mpReach = { afi, safi, nextHops, nlri };
  // A next hop that can never be valid (the global one of an IPv6 pair: RFC 2545 §3; an IPv4 one
  // by the NEXT_HOP rules) makes the attribute's NLRI unusable, not the session: treat-as-withdraw
  // (RFC 7606 §7.11 keeps session reset for errors that leave the NLRI unparseable; these do not).
  // RFC 4760 §7: errors in MP_REACH_NLRI are Optional Attribute Errors.
  const bad = nhLen === 4 ? invalidIpv4NextHop(b, nh) : invalidIpv6NextHop(b, nh);
  if (bad) return problem(s, 'treat-as-withdraw', UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `next hop ${bad}`);
  return null;
}

/**
 * MP_UNREACH_NLRI (type 15), RFC 4760 §4:
 *
 *   +---------------------------------------------------------+
 *   | Address Family Identifier (2 octets)                    |
 *   +---------------------------------------------------------+
 *   | Subsequent Address Family Identifier (1 octet)          |
 *   +---------------------------------------------------------+
 *   | Withdrawn Routes (variable)                             |
 *   +---------------------------------------------------------+
 *
 * RFC 7606 §7.11: malformed -> session reset.
 */
export function decodeMpUnreach(s: AttrSpan, attrs: PathAttributes, ctx: CodecContext): WireErrorInfo | null {
  if ((s.flags & 0xc0) !== OPT_NONTRANS) throw fatal(s, UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, `flags 0x${s.flags.toString(16)} are not optional non-transitive`);
  const { b, v, end } = s;
  if (end - v < 3) throw fatal(s, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `length ${end - v} is too short (at least 3)`);
  const afi = u16(b, v);
  const safi = b[v + 2];
  if (!isParsedFamily(afi, safi)) {
    attrs.mpUnreach = { afi, safi, withdrawn: [], withdrawnRaw: copyBytes(b, v + 3, end) };
    return null;
  }
  const withdrawn: Nlri[] = [];
  decodeMpPrefixes(s, afi, safi, v + 3, ctx, withdrawn);
  attrs.mpUnreach = { afi, safi, withdrawn };
  return null;
}

/**
 * EXTENDED_COMMUNITIES (type 16), RFC 4360 §2: 8-octet values, kept as 16 hex digits.
 * RFC 7606 §7.14: length not a multiple of 8 (or zero) -> treat-as-withdraw.
 */
export function decodeExtendedCommunities(s: AttrSpan, attrs: PathAttributes): WireErrorInfo | null {
  const f = flagsWrong(s, OPT_TRANS, 'treat-as-withdraw');
  if (f) return f;
  const len = s.end - s.v;
  if (len === 0 || len % 8 !== 0) return problem(s, 'treat-as-withdraw', UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `length ${len} is not a positive multiple of 8`);
  const out: string[] = [];
  const b = s.b;
  for (let p = s.v; p < s.end; p += 8) {
    out.push(HEX2[b[p]] + HEX2[b[p + 1]] + HEX2[b[p + 2]] + HEX2[b[p + 3]] + HEX2[b[p + 4]] + HEX2[b[p + 5]] + HEX2[b[p + 6]] + HEX2[b[p + 7]]);
  }
  attrs.extendedCommunities = out;
  return null;
}

/**
 * AS4_PATH (type 17), RFC 6793 §3: AS_PATH segments with 4-octet ASNs, from a 2-octet speaker.
 * RFC 6793 §3: from a NEW speaker (ctx.as4) it is discarded. RFC 6793 §6: malformed ->
 * attribute-discard. RFC 6793 §3: confederation segments MUST NOT appear in it; when they do they
 * are dropped from it (reported as an attribute-discard) and the rest is kept.
 */
export function decodeAs4Path(s: AttrSpan, attrs: PathAttributes, ctx: CodecContext, discarded: WireErrorInfo[]): WireErrorInfo | null {
  if (ctx.as4) return problem(s, 'attribute-discard', UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, 'received from a 4-octet AS speaker (RFC 6793 §3: discarded)');
  const f = flagsWrong(s, OPT_TRANS, 'attribute-discard');
  if (f) return f;
  const segs = decodeAsPathSegments(s.b, s.v, s.end, 4);
  if (typeof segs === 'string') return problem(s, 'attribute-discard', UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, segs);
  const kept = segs.filter((g) => g.type === 1 || g.type === 2);
  if (kept.length !== segs.length) {
    discarded.push(problem(s, 'attribute-discard', UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
      'confederation segments are not allowed in AS4_PATH (RFC 6793 §3); they were dropped'));
  }
  attrs.as4Path = kept;
  return null;
}

/**
 * AS4_AGGREGATOR (type 18), RFC 6793 §3: 4-octet AS + IPv4 address. From a NEW speaker: discarded.
 * RFC 6793 §6: length other than 8 -> attribute-discard.
 */
export function decodeAs4Aggregator(s: AttrSpan, attrs: PathAttributes, ctx: CodecContext): WireErrorInfo | null {
  if (ctx.as4) return problem(s, 'attribute-discard', UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, 'received from a 4-octet AS speaker (RFC 6793 §3: discarded)');
  const f = flagsWrong(s, OPT_TRANS, 'attribute-discard');
  if (f) return f;
  if (s.end - s.v !== 8) return problem(s, 'attribute-discard', UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${s.end - s.v}, expected 8`);
  attrs.as4Aggregator = { asn: u32(s.b, s.v), address: ipv4At(s.b, s.v + 4) };
  return null;
}

/**
 * LARGE_COMMUNITY (type 32), RFC 8092 §3: 12-octet values (global admin, local 1, local 2).
 * RFC 8092 §5: length 0 or not a multiple of 12 -> treat-as-withdraw.
 */
export function decodeLargeCommunities(s: AttrSpan, attrs: PathAttributes): WireErrorInfo | null {
  const f = flagsWrong(s, OPT_TRANS, 'treat-as-withdraw');
  if (f) return f;
  const len = s.end - s.v;
  if (len === 0 || len % 12 !== 0) return problem(s, 'treat-as-withdraw', UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `length ${len} is not a positive multiple of 12`);
  const out: [number, number, number][] = [];
  for (let p = s.v; p < s.end; p += 12) out.push([u32(s.b, p), u32(s.b, p + 4), u32(s.b, p + 8)]);
  attrs.largeCommunities = out;
  return null;
}

/**
 * An attribute with no decoder here. RFC 4271 §6.3 / §9: an unrecognized well-known attribute
 * (Optional bit clear) is a session error; unrecognized optional ones are kept (their fate on
 * re-advertisement is attributesForReadvertisement's).
 */
export function decodeUnknown(s: AttrSpan, attrs: PathAttributes): WireErrorInfo | null {
  if ((s.flags & AttrFlag.OPTIONAL) === 0) {
    throw fatal(s, UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, `type ${s.code} is well-known (Optional bit clear) but not recognized`);
  }
  const raw: RawAttribute = { flags: s.flags & 0xe0, code: s.code, value: copyBytes(s.b, s.v, s.end) };
  if (attrs.unknown) attrs.unknown.push(raw);
  else attrs.unknown = [raw];
  return null;
}

/** Dispatches one attribute to its decoder. */
export function decodeAttribute(s: AttrSpan, attrs: PathAttributes, ctx: CodecContext, discarded: WireErrorInfo[]): WireErrorInfo | null {
  switch (s.code) {
    case 1: return decodeOrigin(s, attrs);
    case 2: return decodeAsPath(s, attrs, ctx);
    case 3: return decodeNextHop(s, attrs);
    case 4: return decodeMed(s, attrs);
    case 5: return decodeLocalPref(s, attrs);
    case 6: return decodeAtomicAggregate(s, attrs);
    case 7: return decodeAggregator(s, attrs, ctx);
    case 8: return decodeCommunities(s, attrs);
    case 9: return decodeOriginatorId(s, attrs);
    case 10: return decodeClusterList(s, attrs);
    case 14: return decodeMpReach(s, attrs, ctx);
    case 15: return decodeMpUnreach(s, attrs, ctx);
    case 16: return decodeExtendedCommunities(s, attrs);
    case 17: return decodeAs4Path(s, attrs, ctx, discarded);
    case 18: return decodeAs4Aggregator(s, attrs, ctx);
    case 32: return decodeLargeCommunities(s, attrs);
    default: return decodeUnknown(s, attrs);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoders

function begin(w: Writer, flags: number, code: number): number {
  const at = w.pos;
  w.ensure(3);
  w.u8(flags);
  w.u8(code);
  w.u8(0);
  return at;
}

/** Fills in the attribute length; switches to the 2-octet Extended Length form above 255. */
function finish(w: Writer, at: number, field: string): void {
  const len = w.pos - at - 3;
  if (len <= 255) {
    w.patch8(at + 2, len);
    return;
  }
  if (len > 0xffff) throw encodeError(field, `value of ${len} octets exceeds 65535`);
  w.shift(at + 3, 1);
  w.patch8(at, w.raw()[at] | AttrFlag.EXTENDED_LENGTH);
  w.patch16(at + 2, len);
}

function uint(v: number, max: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw encodeError(field, `${v} is not an integer in 0..${max}`);
  return v;
}

function writeIpv4(w: Writer, text: string, field: string): void {
  const a = parseIpv4Address(text);
  if (a < 0) throw encodeError(field, `"${text}" is not dotted-quad IPv4 text`);
  w.u32(a);
}

function writeSegments(w: Writer, segs: readonly AsPathSegment[], asnSize: 2 | 4, field: string): void {
  for (const seg of segs) {
    if (seg.type < 1 || seg.type > 4) throw encodeError(field, `segment type ${seg.type} is not 1..4`);
    const asns = seg.asns;
    if (asns.length === 0) throw encodeError(field, 'empty segment (RFC 7606 §7.2 makes it malformed)');
    // RFC 4271 §4.3: at most 255 ASes per segment; longer sequences are split (same path),
    // a longer set cannot be (it would count as two hops).
    if (asns.length > 255 && (seg.type === 1 || seg.type === 4)) throw encodeError(field, `AS_SET of ${asns.length} ASes exceeds 255`);
    for (let i = 0; i < asns.length; i += 255) {
      const n = Math.min(255, asns.length - i);
      w.u8(seg.type);
      w.u8(n);
      for (let k = i; k < i + n; k++) {
        const asn = uint(asns[k], 0xffffffff, field);
        // RFC 6793 §4.2.2: toward a 2-octet speaker, 4-octet ASNs become AS_TRANS.
        if (asnSize === 4) w.u32(asn);
        else w.u16(asn > 0xffff ? AS_TRANS : asn);
      }
    }
  }
}

function needsAs4(segs: readonly AsPathSegment[] | undefined): boolean {
  if (!segs) return false;
  for (const s of segs) for (const a of s.asns) if (a > 0xffff) return true;
  return false;
}

const MP_REACH_FIELD = 'attribute MP_REACH_NLRI';
const MP_REACH_AFI = 'attribute MP_REACH_NLRI AFI';
const MP_REACH_SAFI = 'attribute MP_REACH_NLRI SAFI';
const MP_REACH_NEXT_HOP = 'attribute MP_REACH_NLRI next hop';
const MP_REACH_NLRI = 'attribute MP_REACH_NLRI NLRI';
const MP_UNREACH_FIELD = 'attribute MP_UNREACH_NLRI';
const MP_UNREACH_AFI = 'attribute MP_UNREACH_NLRI AFI';
const MP_UNREACH_SAFI = 'attribute MP_UNREACH_NLRI SAFI';
const MP_UNREACH_WITHDRAWN = 'attribute MP_UNREACH_NLRI withdrawn';

function writeMpReach(w: Writer, mp: MpReach, ctx: CodecContext): void {
  const field = MP_REACH_FIELD;
  const at = begin(w, OPT_NONTRANS, AttrType.MP_REACH_NLRI);
  w.u16(uint(mp.afi, 0xffff, MP_REACH_AFI));
  w.u8(uint(mp.safi, 255, MP_REACH_SAFI));
  if (!isParsedFamily(mp.afi, mp.safi)) {
    if (!mp.nextHopRaw || !mp.nlriRaw) throw encodeError(field, `family ${familyOf(mp.afi, mp.safi)} needs nextHopRaw and nlriRaw`);
    if (mp.nextHopRaw.length > 255) throw encodeError(field, 'next hop longer than 255 octets');
    w.u8(mp.nextHopRaw.length);
    w.bytes(mp.nextHopRaw);
    w.u8(0);
    w.bytes(mp.nlriRaw);
    finish(w, at, field);
    return;
  }
  // RFC 2545 §3 / RFC 8950 §3: the next hop length says what is there.
  const nh = mp.nextHops;
  if (mp.afi === 1 && nh.length === 1 && !nh[0].includes(':')) {
    w.u8(4);
    writeIpv4(w, nh[0], MP_REACH_NEXT_HOP);
  } else if (nh.length === 1 || nh.length === 2) {
    w.u8(nh.length * 16);
    for (const h of nh) {
      w.ensure(16);
      if (!parseIpv6Into(h, w.raw(), w.pos)) throw encodeError(MP_REACH_NEXT_HOP, `"${h}" is not IPv6 text`);
      w.pos += 16;
    }
  } else {
    throw encodeError(MP_REACH_NEXT_HOP, `${nh.length} next hops; expected 1 (global) or 2 (global, link-local)`);
  }
  w.u8(0); // RFC 4760 §3 Reserved
  const addPath = ctx.addPath.size > 0 && ctx.addPath.has(familyOf(mp.afi, mp.safi));
  if (mp.afi === 1) encodeIpv4Prefixes(w, mp.nlri, addPath, MP_REACH_NLRI);
  else encodeIpv6Prefixes(w, mp.nlri, addPath, MP_REACH_NLRI);
  finish(w, at, field);
}

function writeMpUnreach(w: Writer, mp: MpUnreach, ctx: CodecContext): void {
  const field = MP_UNREACH_FIELD;
  const at = begin(w, OPT_NONTRANS, AttrType.MP_UNREACH_NLRI);
  w.u16(uint(mp.afi, 0xffff, MP_UNREACH_AFI));
  w.u8(uint(mp.safi, 255, MP_UNREACH_SAFI));
  if (!isParsedFamily(mp.afi, mp.safi)) {
    if (mp.withdrawnRaw) w.bytes(mp.withdrawnRaw);
    else if (mp.withdrawn.length > 0) throw encodeError(field, `family ${familyOf(mp.afi, mp.safi)} needs withdrawnRaw`);
  } else {
    const addPath = ctx.addPath.size > 0 && ctx.addPath.has(familyOf(mp.afi, mp.safi));
    if (mp.afi === 1) encodeIpv4Prefixes(w, mp.withdrawn, addPath, MP_UNREACH_WITHDRAWN);
    else encodeIpv6Prefixes(w, mp.withdrawn, addPath, MP_UNREACH_WITHDRAWN);
  }
  finish(w, at, field);
}

function writeAggregator(w: Writer, code: number, agg: Aggregator, asnSize: 2 | 4): void {
  const field = attributeName(code);
  const at = begin(w, OPT_TRANS, code);
  const asn = uint(agg.asn, 0xffffffff, field);
  if (asnSize === 4) w.u32(asn);
  else w.u16(asn > 0xffff ? AS_TRANS : asn); // RFC 6793 §4.2.2
  writeIpv4(w, agg.address, field);
  finish(w, at, field);
}

const HEX16 = /^[0-9a-f]{16}$/;

/** The known attributes in canonical order after MP_REACH / MP_UNREACH: ascending type code. */
const ORDER: readonly number[] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 17, 18, 32];

function writeKnown(w: Writer, code: number, a: PathAttributes, ctx: CodecContext): void {
  const field = attributeName(code);
  switch (code) {
    case 1:
      if (a.origin === undefined) return;
      w.u8(WELL_KNOWN); w.u8(1); w.u8(1); w.u8(uint(a.origin, 2, field));
      return;
    case 2: {
      if (!a.asPath) return;
      const at = begin(w, WELL_KNOWN, 2);
      writeSegments(w, a.asPath, ctx.as4 ? 4 : 2, field);
      finish(w, at, field);
      return;
    }
    case 3:
      if (a.nextHop === undefined) return;
      w.u8(WELL_KNOWN); w.u8(3); w.u8(4); writeIpv4(w, a.nextHop, field);
      return;
    case 4:
      if (a.med === undefined) return;
      w.u8(OPT_NONTRANS); w.u8(4); w.u8(4); w.u32(uint(a.med, 0xffffffff, field));
      return;
    case 5:
      if (a.localPref === undefined) return;
      w.u8(WELL_KNOWN); w.u8(5); w.u8(4); w.u32(uint(a.localPref, 0xffffffff, field));
      return;
    case 6:
      if (!a.atomicAggregate) return;
      w.u8(WELL_KNOWN); w.u8(6); w.u8(0);
      return;
    case 7:
      if (a.aggregator) writeAggregator(w, 7, a.aggregator, ctx.as4 ? 4 : 2);
      return;
    case 8: {
      if (!a.communities || a.communities.length === 0) return;
      const at = begin(w, OPT_TRANS, 8);
      for (const c of a.communities) w.u32(uint(c, 0xffffffff, field));
      finish(w, at, field);
      return;
    }
    case 9:
      if (a.originatorId === undefined) return;
      w.u8(OPT_NONTRANS); w.u8(9); w.u8(4); writeIpv4(w, a.originatorId, field);
      return;
    case 10: {
      if (!a.clusterList || a.clusterList.length === 0) return;
      const at = begin(w, OPT_NONTRANS, 10);
      for (const c of a.clusterList) writeIpv4(w, c, field);
      finish(w, at, field);
      return;
    }
    case 16: {
      if (!a.extendedCommunities || a.extendedCommunities.length === 0) return;
      const at = begin(w, OPT_TRANS, 16);
      for (const c of a.extendedCommunities) {
        if (!HEX16.test(c)) throw encodeError(field, `"${c}" is not 16 lower-case hex digits`);
        w.u32(parseInt(c.slice(0, 8), 16));
        w.u32(parseInt(c.slice(8), 16));
      }
      finish(w, at, field);
      return;
    }
    case 17: {
      // RFC 6793 §3: never toward a NEW speaker. §4.2.2: toward an OLD one when needed.
      if (ctx.as4) return;
      let path = a.as4Path;
      if (!path && needsAs4(a.asPath)) path = a.asPath!.filter((g) => g.type === 1 || g.type === 2);
      if (!path) return;
      const at = begin(w, OPT_TRANS, 17);
      writeSegments(w, path, 4, field);
      finish(w, at, field);
      return;
    }
    case 18: {
      if (ctx.as4) return;
      let agg = a.as4Aggregator;
      if (!agg && a.aggregator && a.aggregator.asn > 0xffff) agg = a.aggregator;
      if (agg) writeAggregator(w, 18, agg, 4);
      return;
    }
    case 32: {
      if (!a.largeCommunities || a.largeCommunities.length === 0) return;
      const at = begin(w, OPT_TRANS, 32);
      for (const c of a.largeCommunities) {
        if (!Array.isArray(c) || c.length !== 3) throw encodeError(field, 'each large community is [global admin, local 1, local 2]');
        w.u32(uint(c[0], 0xffffffff, field)); w.u32(uint(c[1], 0xffffffff, field)); w.u32(uint(c[2], 0xffffffff, field));
      }
      finish(w, at, field);
      return;
    }
    default:
      return;
  }
}

function writeRaw(w: Writer, r: RawAttribute): void {
  const field = attributeName(r.code);
  if (isKnownAttribute(r.code)) throw encodeError(field, `type ${r.code} is decoded by the codec; set the attribute's field instead of a raw one`);
  // RFC 4271 §6.3: the peer resets the session over an unrecognized well-known attribute.
  if ((r.flags & AttrFlag.OPTIONAL) === 0) throw encodeError(field, 'an attribute the codec does not know must have the Optional bit (0x80)');
  uint(r.code, 255, field);
  const at = begin(w, uint(r.flags, 255, field) & 0xe0, r.code);
  w.bytes(r.value);
  finish(w, at, field);
}

/**
 * Writes the path attributes: MP_REACH_NLRI and MP_UNREACH_NLRI first (RFC 7606 §5.1), then every
 * other attribute, known and unknown, in ascending type code (RFC 4271 §5: SHOULD be ordered;
 * unknown ones of the same code keep their order).
 */
export function encodeAttributes(w: Writer, a: PathAttributes, ctx: CodecContext): void {
  if (a.mpReach) writeMpReach(w, a.mpReach, ctx);
  if (a.mpUnreach) writeMpUnreach(w, a.mpUnreach, ctx);
  const raw = a.unknown && a.unknown.length > 0
    ? a.unknown.map((r, i) => ({ r, i })).sort((x, y) => x.r.code - y.r.code || x.i - y.i).map((x) => x.r)
    : [];
  let k = 0;
  for (const code of ORDER) {
    while (k < raw.length && raw[k].code < code) writeRaw(w, raw[k++]);
    writeKnown(w, code, a, ctx);
  }
  while (k < raw.length) writeRaw(w, raw[k++]);
}

/**
 * Octets the path attributes take on the wire in this context (what encodeMessage writes between
 * the Total Path Attribute Length and the NLRI), MP_REACH_NLRI / MP_UNREACH_NLRI included when
 * present. For packing NLRI into messages. Throws WireError like encodeMessage on bad values.
 */
export function pathAttributesLength(a: PathAttributes, ctx: CodecContext): number {
  const w = new Writer(512);
  encodeAttributes(w, a, ctx);
  return w.pos;
}
