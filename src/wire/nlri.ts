// NLRI prefixes: the <length, prefix> encoding of RFC 4271 §4.3 (withdrawn routes and NLRI
// fields) and RFC 4760 §5 (MP_REACH_NLRI / MP_UNREACH_NLRI for IPv4 and IPv6), with the RFC 7911
// §3 path identifier in front of each prefix when ADD-PATH is in effect for the family.
//
//   +---------------------------+
//   |   Path Identifier (4 octets, RFC 7911 only)
//   +---------------------------+
//   |   Length (1 octet)        |   prefix length in bits
//   +---------------------------+
//   |   Prefix (variable)       |   ceil(Length / 8) octets, trailing bits irrelevant
//   +---------------------------+
//
// Decoding is the codec's hot loop: direct byte indexing, string building from immutable lookup
// tables (or no string: CodecContext.numericIpv4), one object per prefix and nothing else.
import { WireError, encodeError } from './errors';
import type { Nlri } from './types';
import { DEC, DOT, u32 } from './reader';
import type { Writer } from './writer';
import { formatIpv6At, parseIpv6Into } from './ipv6';

/** "/0".."/128". */
const SLASH: readonly string[] = Array.from({ length: 129 }, (_, i) => `/${i}`);
/** Mask keeping the first (len & 7) bits of the last prefix octet; index 0 keeps the whole octet. */
const LAST_MASK: readonly number[] = [0xff, 0x80, 0xc0, 0xe0, 0xf0, 0xf8, 0xfc, 0xfe];

/** Which NOTIFICATION a syntax error in this NLRI field produces (RFC 4271 §6.3 / RFC 4760 §7). */
export interface NlriField {
  name: string;
  subcode: number;
}

function syntaxError(field: NlriField, at: number, why: string): WireError {
  // RFC 7606 §5.3: an NLRI field that cannot be parsed makes the whole message unusable ->
  // session reset. RFC 4271 §6.3 names the subcode (Invalid Network Field; RFC 4760 §7 uses
  // Optional Attribute Error for the MP attributes). No data is required for these subcodes.
  return new WireError({
    code: 3,
    subcode: field.subcode,
    field: field.name,
    message: `${field.name}: ${why} at offset ${at}`,
  });
}

/**
 * Prefix text as one flat string. Text built by concatenation is, from 13 characters on, a rope
 * (V8 ConsString); on its first use as a Map key V8 makes a flat copy and keeps BOTH alive through
 * the rope, ~30 bytes more per stored prefix. toLowerCase() flattens and, when nothing changes
 * (prefix text is digits, dots, "/", ":" and lowercase hex), returns the flat string itself.
 */
export function flatPrefixText(text: string): string {
  return text.length < 13 ? text : text.toLowerCase();
}

/** The text of an IPv4 prefix given as a signed 32-bit network address and a length (flat). */
export function ipv4PrefixText(address: number, length: number): string {
  return flatPrefixText(DOT[address >>> 24] + DOT[(address >>> 16) & 0xff] + DOT[(address >>> 8) & 0xff] + DEC[address & 0xff] + SLASH[length]);
}

/**
 * An IPv4 NLRI kept as numbers, its text made when read (CodecContext.numericIpv4): a full table
 * is 100k prefixes the Loc-RIB keys by number, and most of them are never printed.
 */
export class Ipv4Nlri implements Nlri {
  constructor(
    /** Network address as a signed 32-bit integer (a V8 small integer), host bits clear. */
    readonly address: number,
    /** Prefix length, 0..32. */
    readonly length: number,
    /** RFC 7911 path identifier, present only where ADD-PATH is negotiated for this direction. */
    readonly pathId?: number,
  ) {}

  get prefix(): string {
    return ipv4PrefixText(this.address, this.length);
  }

  toJSON(): Nlri {
    return this.pathId === undefined ? { prefix: this.prefix } : { prefix: this.prefix, pathId: this.pathId };
  }
}

/**
 * Decodes IPv4 prefixes from b[p, end) and appends them to `out`. Trailing bits beyond the prefix
 * length are cleared (RFC 4271 §4.3: "the value of trailing bits is irrelevant"). `numeric`:
 * Ipv4Nlri records (numbers, text when read) instead of prefix text.
 */
export function decodeIpv4Prefixes(
  b: Uint8Array, p: number, end: number, addPath: boolean, out: Nlri[], field: NlriField, numeric = false,
): void {
  while (p < end) {
    let pathId = -1;
    if (addPath) {
      // RFC 7911 §3: 4-octet Path Identifier precedes the length.
      if (end - p < 5) throw syntaxError(field, p, 'truncated path identifier');
      pathId = u32(b, p);
      p += 4;
    }
    const len = b[p];
    if (len > 32) throw syntaxError(field, p, `IPv4 prefix length ${len} exceeds 32`);
    const n = (len + 7) >> 3;
    p++;
    if (p + n > end) throw syntaxError(field, p - 1, `prefix of length ${len} runs past the field`);
    const m = LAST_MASK[len & 7];
    let address = 0;
    switch (n) {
      case 0: break;
      case 1: address = (b[p] & m) << 24; break;
      case 2: address = (b[p] << 24) | ((b[p + 1] & m) << 16); break;
      case 3: address = (b[p] << 24) | (b[p + 1] << 16) | ((b[p + 2] & m) << 8); break;
      default: address = (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | (b[p + 3] & m); break;
    }
    p += n;
    // V8 (Node 20) calls its Array push builtin at this site instead of inlining it; an indexed
    // append stays inline (~7% fewer instructions per learned route, bench/README.md "Session 5").
    if (numeric) out[out.length] = pathId < 0 ? new Ipv4Nlri(address, len) : new Ipv4Nlri(address, len, pathId);
    else {
      const prefix = ipv4PrefixText(address, len);
      out.push(pathId < 0 ? { prefix } : { prefix, pathId });
    }
  }
}

/** Decodes IPv6 prefixes from b[p, end) (RFC 4760 §5 / RFC 2545 §2) into `out`. */
export function decodeIpv6Prefixes(
  b: Uint8Array, p: number, end: number, addPath: boolean, out: Nlri[], field: NlriField,
): void {
  const addr = new Uint8Array(16);
  while (p < end) {
    let pathId = -1;
    if (addPath) {
      if (end - p < 5) throw syntaxError(field, p, 'truncated path identifier');
      pathId = u32(b, p);
      p += 4;
    }
    const len = b[p];
    if (len > 128) throw syntaxError(field, p, `IPv6 prefix length ${len} exceeds 128`);
    const n = (len + 7) >> 3;
    p++;
    if (p + n > end) throw syntaxError(field, p - 1, `prefix of length ${len} runs past the field`);
    addr.fill(0);
    for (let i = 0; i < n; i++) addr[i] = b[p + i];
    if (n > 0) addr[n - 1] &= LAST_MASK[len & 7];
    p += n;
    const prefix = formatIpv6At(addr, 0) + SLASH[len];
    out.push(pathId < 0 ? { prefix } : { prefix, pathId });
  }
}

function badPrefix(field: string, text: string, why: string): WireError {
  return encodeError(field, `"${text}" is not a canonical prefix (${why})`);
}

/**
 * Parses canonical IPv4 prefix text ("10.0.0.0/24") without allocating. Returns address and length
 * packed in one number, `address * 64 + length` (exact: below 2^38), so the caller needs no
 * object. Throws a WireError naming `field` on bad text or host bits set beyond the length.
 */
export function parseIpv4Prefix(text: string, field: string): number {
  let addr = 0;
  let octets = 0;
  let v = 0;
  let digits = 0;
  let i = 0;
  const n = text.length;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && v === 0) throw badPrefix(field, text, 'leading zero');
      v = v * 10 + (c - 48);
      digits++;
      if (v > 255) throw badPrefix(field, text, 'octet above 255');
    } else if ((c === 46 && octets < 3) || (c === 47 && octets === 3)) {
      if (digits === 0) throw badPrefix(field, text, 'empty octet');
      addr = addr * 256 + v;
      octets++;
      v = 0;
      digits = 0;
      if (c === 47) { i++; break; }
    } else {
      throw badPrefix(field, text, `unexpected "${text[i]}"`);
    }
  }
  if (octets !== 4) throw badPrefix(field, text, 'expected a.b.c.d/len');
  let len = 0;
  let lenDigits = 0;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57 || lenDigits === 2) throw badPrefix(field, text, 'bad length');
    if (lenDigits > 0 && len === 0) throw badPrefix(field, text, 'leading zero in length');
    len = len * 10 + (c - 48);
    lenDigits++;
  }
  if (lenDigits === 0 || len > 32) throw badPrefix(field, text, 'length must be 0..32');
  const host = len === 32 ? 0 : addr % 2 ** (32 - len);
  if (host !== 0) throw badPrefix(field, text, 'host bits set beyond the length');
  return addr * 64 + len;
}

/**
 * Parses dotted-quad IPv4 text ("192.0.2.1", no leading zeros) without allocating; returns the
 * address as an unsigned 32-bit number, or -1 when the text is not an address.
 */
export function parseIpv4Address(text: string): number {
  let addr = 0;
  let octets = 0;
  let v = 0;
  let digits = 0;
  const n = text.length;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46;
    if (c >= 48 && c <= 57) {
      if (digits > 0 && v === 0) return -1;
      v = v * 10 + (c - 48);
      if (++digits > 3 || v > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || octets === 4) return -1;
      addr = addr * 256 + v;
      octets++;
      v = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  return octets === 4 ? addr : -1;
}

/** Writes IPv4 prefixes (with path identifiers where `addPath`) in RFC 4271 §4.3 form. */
export function encodeIpv4Prefixes(w: Writer, list: readonly Nlri[], addPath: boolean, field: string): void {
  for (let k = 0; k < list.length; k++) {
    const item = list[k];
    let len: number;
    let addr: number;
    if (item instanceof Ipv4Nlri) {
      len = item.length;
      addr = item.address;
    } else {
      const packed = parseIpv4Prefix(item.prefix, field);
      len = packed % 64;
      addr = (packed - len) / 64;
    }
    if (addPath) w.u32(pathIdOf(item, field));
    const n = (len + 7) >> 3;
    w.ensure(1 + n);
    const b = w.raw();
    let p = w.pos;
    b[p++] = len;
    if (n > 0) b[p++] = addr >>> 24;
    if (n > 1) b[p++] = (addr >>> 16) & 0xff;
    if (n > 2) b[p++] = (addr >>> 8) & 0xff;
    if (n > 3) b[p++] = addr & 0xff;
    w.pos = p;
  }
}

function pathIdOf(item: Nlri, field: string): number {
  const id = item.pathId;
  // RFC 7911 §3: with ADD-PATH every NLRI carries a path identifier.
  if (id === undefined) throw encodeError(field, `prefix ${item.prefix} has no pathId but ADD-PATH is in effect`);
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw encodeError(field, `pathId ${id} of ${item.prefix} is not a 32-bit unsigned integer`);
  return id;
}

/** Parses IPv6 prefix text into out[0, 16); returns the length. */
export function parseIpv6Prefix(text: string, field: string, out: Uint8Array = new Uint8Array(16)): number {
  const slash = text.indexOf('/');
  if (slash < 0) throw badPrefix(field, text, 'no "/"');
  if (!parseIpv6Into(text.slice(0, slash), out, 0)) throw badPrefix(field, text, 'bad IPv6 address');
  let len = 0;
  const n = text.length;
  if (n - slash < 2 || n - slash > 4) throw badPrefix(field, text, 'length must be 0..128');
  for (let i = slash + 1; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57 || (i > slash + 1 && len === 0)) throw badPrefix(field, text, 'length must be 0..128');
    len = len * 10 + c - 48;
  }
  if (len > 128) throw badPrefix(field, text, 'length must be 0..128');
  for (let bit = len; bit < 128; bit++) {
    if (out[bit >> 3] & (0x80 >> (bit & 7))) throw badPrefix(field, text, 'host bits set beyond the length');
  }
  return len;
}

/** Writes IPv6 prefixes in RFC 4760 §5 form. */
export function encodeIpv6Prefixes(w: Writer, list: readonly Nlri[], addPath: boolean, field: string): void {
  const bytes = new Uint8Array(16);
  for (const item of list) {
    const len = parseIpv6Prefix(item.prefix, field, bytes);
    if (addPath) w.u32(pathIdOf(item, field));
    w.u8(len);
    w.bytes(bytes.subarray(0, (len + 7) >> 3));
  }
}
