// End-of-RIB markers (RFC 4724 §2): for IPv4 unicast an UPDATE with no withdrawn routes, no path
// attributes and no NLRI; for any other family an UPDATE whose only attribute is MP_UNREACH_NLRI
// with that AFI/SAFI and no withdrawn routes.
import { afiSafiOf, familyOf, IPV4_UNICAST } from './family';
import type { Family, UpdateMessage } from './types';

export function endOfRib(family: Family): UpdateMessage {
  if (family === IPV4_UNICAST) return { type: 'update', withdrawn: [], attributes: {}, nlri: [] };
  const { afi, safi } = afiSafiOf(family);
  return { type: 'update', withdrawn: [], attributes: { mpUnreach: { afi, safi, withdrawn: [] } }, nlri: [] };
}

/** The family an UPDATE marks the End-of-RIB of, or null when it is not an End-of-RIB. */
export function endOfRibFamily(msg: UpdateMessage): Family | null {
  if (msg.withdrawn.length > 0 || msg.nlri.length > 0 || msg.treatAsWithdraw) return null;
  const a = msg.attributes;
  let count = 0;
  for (const k in a) if ((a as Record<string, unknown>)[k] !== undefined) count++;
  if (count === 0) return IPV4_UNICAST;
  const mp = a.mpUnreach;
  if (count === 1 && mp && mp.withdrawn.length === 0 && (!mp.withdrawnRaw || mp.withdrawnRaw.length === 0)) {
    return familyOf(mp.afi, mp.safi);
  }
  return null;
}
