// What this host's interfaces look like, for the next-hop decision (connected subnets, uplink
// MTU) and the tunnels (uplink index): links with their addresses, read through engineer
// "netlink"'s typed rtnetlink calls (netlink/rtnl.ts), plus errno tests for NetlinkError.
// RFC 3549 §2.3.3.1/§2.3.3.2 (link and address messages).

import * as C from './netlink/constants';
import { AddressMsg, LinkMsg } from './netlink/codec';
import { NetlinkError, NetlinkSocket, listAddresses, listLinks } from './netlink/rtnl';
import { formatIP } from '../lib/ip';
import { HostInterface } from './nexthop-decision';

export const ENOENT = 2;
export const ESRCH = 3;
export const EEXIST = 17;
export const ENODEV = 19;
export const EOPNOTSUPP = 95;
export const EADDRNOTAVAIL = 99;

/** True when `e` is a NetlinkError with one of these errnos. */
export function isErrno(e: unknown, ...errnos: number[]): boolean {
  return e instanceof NetlinkError && errnos.includes(e.errno);
}

/** The address an AddressMsg carries (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6). */
export function addressOf(a: AddressMsg): Uint8Array | undefined {
  return a.local ?? a.address;
}

/** A link with its addresses as "addr/len". */
export interface LinkWithAddresses {
  link: LinkMsg;
  addresses: string[];
}

export async function linksWithAddresses(nl: NetlinkSocket): Promise<LinkWithAddresses[]> {
  const links = await listLinks(nl);
  const addrs = await listAddresses(nl);
  return links.map((link) => ({
    link,
    addresses: addrs.filter((a) => a.index === link.index && addressOf(a))
      .map((a) => `${formatIP(addressOf(a)!)}/${a.prefixLen}`),
  }));
}

/**
 * Pure: the interfaces whose subnets count as "directly connected" for the next-hop decision:
 * up, not loopback, and not one of our own tunnel devices (a VTEP /32 connects nothing anyway).
 */
export function hostInterfaces(links: LinkWithAddresses[], exclude: string[]): HostInterface[] {
  return links
    .filter((l) => l.link.name !== undefined && !exclude.includes(l.link.name) &&
      (l.link.flags & C.IFF_LOOPBACK) === 0 && (l.link.flags & C.IFF_UP) !== 0)
    .map((l) => ({ name: l.link.name!, addresses: l.addresses, mtu: l.link.mtu }));
}

export { NetlinkError, NetlinkSocket };
