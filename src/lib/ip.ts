// IP addresses and prefixes: parse, format (RFC 5952 canonical IPv6 text), containment.
// Pure; shared by wire/, cluster/ and dataplane/. Addresses are kept as bytes (Uint8Array of 4
// or 16) where arithmetic is needed, and as canonical strings where they are keys or output.

export type IpFamily = 4 | 6;

export interface Cidr {
  family: IpFamily;
  /** Network address bytes (4 or 16), host bits cleared. */
  bytes: Uint8Array;
  length: number;
}

/** Parses dotted-quad IPv4 text; returns null if it is not exactly four decimal octets. */
export function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return null;
    const v = Number(p);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

/** Parses IPv6 text (with optional embedded IPv4 tail); returns 16 bytes or null. */
export function parseIPv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45) return null;
  const lastColon = text.lastIndexOf(':');
  if (lastColon < 0) return null;
  if (text.indexOf('.', lastColon) !== -1) {
    // "::ffff:1.2.3.4": rewrite the dotted tail as two hex groups and parse again.
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (!v4) return null;
    const tail = `${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
    return parseIPv6(text.slice(0, lastColon + 1) + tail);
  }
  const dbl = text.indexOf('::');
  if (dbl !== -1 && text.indexOf('::', dbl + 1) !== -1) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl !== -1) {
    const left = parseGroups(text.slice(0, dbl));
    const right = parseGroups(text.slice(dbl + 2));
    if (!left || !right) return null;
    const fill = 8 - left.length - right.length;
    if (fill < 1) return null;
    groups = [...left, ...new Array<number>(fill).fill(0), ...right];
  } else {
    const g = parseGroups(text);
    if (!g || g.length !== 8) return null;
    groups = g;
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i] >> 8;
    out[i * 2 + 1] = groups[i] & 0xff;
  }
  return out;
}

/** Parses an IPv4 or IPv6 address. */
export function parseIP(text: string): Uint8Array | null {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

export function formatIPv4(b: Uint8Array, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

/** RFC 5952 §4: lower case, leading zeros dropped, the longest run (>1) of zero groups as "::". */
export function formatIPv6(b: Uint8Array, offset = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[offset + i * 2] << 8) | b[offset + i * 2 + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestLen < 2) return g.map((x) => x.toString(16)).join(':');
  const left = g.slice(0, bestStart).map((x) => x.toString(16)).join(':');
  const right = g.slice(bestStart + bestLen).map((x) => x.toString(16)).join(':');
  return `${left}::${right}`;
}

export function formatIP(b: Uint8Array): string {
  return b.length === 4 ? formatIPv4(b) : formatIPv6(b);
}

/** Canonical text of an address, or null when it is not an address. */
export function canonicalIP(text: string): string | null {
  const b = parseIP(text);
  return b ? formatIP(b) : null;
}

/** Clears the bits beyond `length` in a copy of `bytes`. */
export function maskBytes(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let bit = length; bit < out.length * 8; bit++) out[bit >> 3] &= ~(0x80 >> (bit & 7));
  return out;
}

/**
 * Parses "addr/len". With `strict`, host bits set beyond the length are an error (null);
 * without, they are cleared.
 */
export function parseCidr(text: string, strict = true): Cidr | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const bytes = parseIP(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!bytes || !/^\d{1,3}$/.test(lenText)) return null;
  const length = Number(lenText);
  if (length > bytes.length * 8) return null;
  const masked = maskBytes(bytes, length);
  if (strict && !bytesEqual(masked, bytes)) return null;
  return { family: bytes.length === 4 ? 4 : 6, bytes: masked, length };
}

export function formatCidr(c: Cidr): string {
  return `${formatIP(c.bytes)}/${c.length}`;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when the first `length` bits of `addr` equal those of `net`. */
export function prefixMatches(net: Uint8Array, length: number, addr: Uint8Array): boolean {
  if (net.length !== addr.length) return false;
  const full = length >> 3;
  for (let i = 0; i < full; i++) if (net[i] !== addr[i]) return false;
  const rem = length & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (net[full] & mask) === (addr[full] & mask);
}

/** True when `inner` lies entirely within `outer` (equal counts as within). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.length >= outer.length &&
    prefixMatches(outer.bytes, outer.length, inner.bytes);
}

export function cidrContainsIP(outer: Cidr, addr: Uint8Array): boolean {
  return prefixMatches(outer.bytes, outer.length, addr);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/**
 * The `index`-th subnet of length `subLength` inside `outer` (index 0 is the first), as a Cidr.
 * Index arithmetic uses BigInt so IPv6 pools of any size work.
 */
export function nthSubnet(outer: Cidr, subLength: number, index: bigint): Cidr {
  const bits = outer.bytes.length * 8;
  if (subLength < outer.length || subLength > bits) throw new RangeError(`block length /${subLength} does not fit in /${outer.length}`);
  if (index < 0n || index >= subnetCount(outer, subLength)) throw new RangeError(`subnet index ${index} out of range`);
  let value = bytesToBigInt(outer.bytes) + (index << BigInt(bits - subLength));
  const out = new Uint8Array(outer.bytes.length);
  for (let i = out.length - 1; i >= 0; i--) { out[i] = Number(value & 0xffn); value >>= 8n; }
  return { family: outer.family, bytes: out, length: subLength };
}

/** How many subnets of `subLength` fit in `outer`. */
export function subnetCount(outer: Cidr, subLength: number): bigint {
  return 1n << BigInt(subLength - outer.length);
}

/** Index of `inner`'s network within `outer` counted in blocks of inner.length. */
export function subnetIndex(outer: Cidr, inner: Cidr): bigint {
  const bits = outer.bytes.length * 8;
  return (bytesToBigInt(inner.bytes) - bytesToBigInt(outer.bytes)) >> BigInt(bits - inner.length);
}

export function bytesToBigInt(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** The address `offset` hosts into a cidr (offset 1 is the first host address). */
export function addressInCidr(c: Cidr, offset: bigint): Uint8Array {
  let value = bytesToBigInt(c.bytes) + offset;
  const out = new Uint8Array(c.bytes.length);
  for (let i = out.length - 1; i >= 0; i--) { out[i] = Number(value & 0xffn); value >>= 8n; }
  return out;
}
