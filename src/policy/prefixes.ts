// Prefix sets for policy: "is this prefix inside one of these CIDRs". IPv4 is matched on 32-bit
// integers parsed straight from the canonical text (the import hot path sees 100k prefixes per
// full table); IPv6 goes through src/lib/ip.ts.
import { cidrContains, parseCidr, type Cidr } from '../lib/ip';

/** A bad CIDR in policy configuration: names the setting and the value. */
export class PolicyConfigError extends Error {
  constructor(readonly field: string, readonly value: string, reason: string) {
    super(`${field}: ${JSON.stringify(value)} ${reason}`);
    this.name = 'PolicyConfigError';
  }
}

/**
 * Parses canonical IPv4 prefix text "a.b.c.d/len" into out[0] = network (uint32), out[1] = len.
 * Returns false when the text is not that shape.
 */
export function parseV4Prefix(text: string, out: Uint32Array | number[]): boolean {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return false;
    } else if (c === 46 || c === 47) {
      if (digits === 0) return false;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      if (c === 47) break;
      if (++dots > 3) return false;
    } else return false;
  }
  if (dots !== 3 || i >= text.length) return false;
  let len = 0;
  let lenDigits = 0;
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57 || ++lenDigits > 2) return false;
    len = len * 10 + (c - 48);
  }
  if (lenDigits === 0 || len > 32) return false;
  out[0] = value >>> 0;
  out[1] = len;
  return true;
}

function v4Mask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** A set of CIDRs with a fast "contains prefix" test. */
export class PrefixSet {
  private readonly v4: { net: number; len: number; mask: number }[] = [];
  private readonly v6: Cidr[] = [];
  private readonly scratch = new Uint32Array(2);

  /** @param field the configuration setting the CIDRs come from, for error messages. */
  constructor(cidrs: readonly string[], field = 'prefixes') {
    for (const text of cidrs) {
      const c = parseCidr(text, false);
      if (!c) throw new PolicyConfigError(field, text, 'is not a CIDR (address/length)');
      if (c.family === 4) {
        const net = ((c.bytes[0] << 24) | (c.bytes[1] << 16) | (c.bytes[2] << 8) | c.bytes[3]) >>> 0;
        this.v4.push({ net, len: c.length, mask: v4Mask(c.length) });
      } else this.v6.push(c);
    }
  }

  get empty(): boolean {
    return this.v4.length === 0 && this.v6.length === 0;
  }

  /** contains() for an IPv4 prefix given by number: network address (32 bits, either sign) and length. */
  containsIpv4(address: number, length: number): boolean {
    for (const p of this.v4) if (length >= p.len && ((address & p.mask) >>> 0) === p.net) return true;
    return false;
  }

  /** True when `prefix` (canonical text) lies within one of the set's CIDRs (equal counts). */
  contains(prefix: string): boolean {
    if (!prefix.includes(':')) {
      const s = this.scratch;
      if (!parseV4Prefix(prefix, s)) return false;
      return this.containsIpv4(s[0], s[1]);
    }
    if (this.v6.length === 0) return false;
    const c = parseCidr(prefix, false);
    if (!c) return false;
    for (const p of this.v6) if (cidrContains(p, c)) return true;
    return false;
  }
}
