// Big-endian reads over a Uint8Array at an explicit offset (RFC 4271 §4: network byte order).
// Plain functions, no reader object: the decoders index the bytes directly and check bounds
// themselves, so no call allocates.

export function u16(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}

export function u32(b: Uint8Array, p: number): number {
  return b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
}

/** A copy of bytes [start, end) as a plain Uint8Array that does not keep the message alive. */
export function copyBytes(b: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(b.subarray(start, end));
}

/** Dotted-quad text of 4 bytes at p. */
export function ipv4At(b: Uint8Array, p: number): string {
  return DOT[b[p]] + DOT[b[p + 1]] + DOT[b[p + 2]] + DEC[b[p + 3]];
}

/** Decimal text of 0..255 ("0".."255"), and the same with a trailing dot. Immutable tables. */
export const DEC: readonly string[] = Array.from({ length: 256 }, (_, i) => String(i));
export const DOT: readonly string[] = Array.from({ length: 256 }, (_, i) => `${i}.`);
/** Two lower-case hex digits of 0..255. */
export const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8 decode; null when the bytes are not valid UTF-8. */
export function utf8OrNull(b: Uint8Array): string | null {
  try {
    return decoder.decode(b);
  } catch {
    return null;
  }
}
