// Address families as the RIB keys them, and the exact NLRI sizes UPDATE packing needs.
// RFC 4760 §5 (NLRI encoding: length octet + prefix octets), RFC 7911 §3 (4-octet path ID).
import type { Family } from '../wire/types';
import { afiSafiOf, familyOf, IPV4_UNICAST, IPV6_UNICAST } from '../wire/family';

export { IPV4_UNICAST, IPV6_UNICAST };

/** The family text for an AFI/SAFI pair (src/wire/family.ts spelling). */
export const familyName = familyOf;

/** The AFI/SAFI pair of a family text; null when the text is not a family. */
export function familyCodes(family: Family): { afi: number; safi: number } | null {
  try {
    return afiSafiOf(family);
  } catch {
    return null;
  }
}

/** The prefix length of canonical prefix text ("10.0.0.0/24" → 24). */
export function prefixLength(prefix: string): number {
  const slash = prefix.lastIndexOf('/');
  let n = 0;
  for (let i = slash + 1; i < prefix.length; i++) n = n * 10 + (prefix.charCodeAt(i) - 48);
  return n;
}

/**
 * Octets one NLRI entry takes on the wire: RFC 4271 §4.3 / RFC 4760 §5 length octet plus
 * ceil(length/8) prefix octets; RFC 7911 §3 adds a 4-octet path identifier.
 */
export function nlriSize(prefix: string, addPath: boolean): number {
  return 1 + ((prefixLength(prefix) + 7) >> 3) + (addPath ? 4 : 0);
}

/** The family a prefix text belongs to, for unicast prefixes. */
export function familyOfPrefix(prefix: string): Family {
  return prefix.includes(':') ? IPV6_UNICAST : IPV4_UNICAST;
}
