// Address families as text and back (RFC 4760 §3, IANA AFI / SAFI registries), and the codec
// context constructor. 'ipv4-unicast' and 'ipv6-unicast' are the families nexthop routes; every
// other pair is 'afi<N>-safi<M>' so that it round-trips unchanged.
import { AFI_IPV4, AFI_IPV6, SAFI_UNICAST, type CodecContext, type Family } from './types';

export const IPV4_UNICAST: Family = 'ipv4-unicast';
export const IPV6_UNICAST: Family = 'ipv6-unicast';

/** The family text of an (AFI, SAFI) pair. */
export function familyOf(afi: number, safi: number): Family {
  if (safi === SAFI_UNICAST) {
    if (afi === AFI_IPV4) return IPV4_UNICAST;
    if (afi === AFI_IPV6) return IPV6_UNICAST;
  }
  return `afi${afi}-safi${safi}`;
}

const GENERIC = /^afi(\d{1,5})-safi(\d{1,3})$/;

/** The (AFI, SAFI) of a family text; throws RangeError on text familyOf never produces. */
export function afiSafiOf(family: Family): { afi: number; safi: number } {
  if (family === IPV4_UNICAST) return { afi: AFI_IPV4, safi: SAFI_UNICAST };
  if (family === IPV6_UNICAST) return { afi: AFI_IPV6, safi: SAFI_UNICAST };
  const m = GENERIC.exec(family);
  if (m) {
    const afi = Number(m[1]);
    const safi = Number(m[2]);
    if (afi <= 0xffff && safi <= 0xff && familyOf(afi, safi) === family) return { afi, safi };
  }
  throw new RangeError(`not an address family: "${family}" (expected ipv4-unicast, ipv6-unicast or afi<N>-safi<M>)`);
}

const NO_FAMILIES: ReadonlySet<Family> = new Set<Family>();

/**
 * A codec context. Defaults: 4-octet AS numbers (RFC 6793) on, no ADD-PATH (RFC 7911), no extended
 * messages (RFC 8654) — what a session between two modern speakers has before anything else is
 * negotiated — and IPv4 NLRI decoded as text unless `numericIpv4` is given.
 */
export function codecContext(opts: Partial<CodecContext> = {}): CodecContext {
  return {
    as4: opts.as4 ?? true,
    addPath: opts.addPath ?? NO_FAMILIES,
    extendedMessage: opts.extendedMessage ?? false,
    numericIpv4: opts.numericIpv4 ?? false,
  };
}
