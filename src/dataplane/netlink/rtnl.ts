// Typed rtnetlink operations on top of NetlinkSocket: list/create/change/delete links (incl.
// vxlan and ipip devices), addresses, neighbours and FDB entries, and route dumps. These are the
// calls the tunnel/host setup code (dataplane/) and the FIB reconciler use; each failure is a
// NetlinkError naming the object and the errno. Kernel ABI per constants.ts; RFC 3549 §2.3.3.1
// (link messages), §2.3.3.2 (address messages), §2.3.3.4 (neighbour messages).

import * as C from './constants';
import {
  AddressMsg, LinkMsg, NeighbourMsg, RouteMsg, decodeAddress, decodeLink, decodeNeighbour, decodeRoute,
  dumpRequestPayload, encodeAddress, encodeLink, encodeNeighbour,
} from './codec';
import { NetlinkError, NetlinkSocket } from './socket';
import { formatIP } from '../../lib/ip';

export { NetlinkSocket, NetlinkError };

/** All links of the namespace. */
export async function listLinks(sock: NetlinkSocket): Promise<LinkMsg[]> {
  const msgs = await sock.dump(C.RTM_GETLINK, dumpRequestPayload(C.RTM_GETLINK, C.AF_UNSPEC));
  return msgs.filter((m) => m.type === C.RTM_NEWLINK).map((m) => decodeLink(m.payload));
}

/** The link called `name`, or null. */
export async function getLink(sock: NetlinkSocket, name: string): Promise<LinkMsg | null> {
  return (await listLinks(sock)).find((l) => l.name === name) ?? null;
}

/** ifindex of `name`; throws NetlinkError ENODEV when there is none. */
export async function linkIndex(sock: NetlinkSocket, name: string): Promise<number> {
  const l = await getLink(sock, name);
  if (!l) throw new NetlinkError(19, 'ENODEV', `link ${name}`, 'no such device');
  return l.index;
}

/**
 * Creates a link (RTM_NEWLINK with NLM_F_CREATE|NLM_F_EXCL): give name, kind and kind data
 * (vxlan / iptun), optionally mtu, address, up (flags IFF_UP).
 */
export async function createLink(sock: NetlinkSocket, link: Omit<LinkMsg, 'family' | 'type' | 'index' | 'flags' | 'change'> & { up?: boolean }): Promise<void> {
  const { up, ...rest } = link;
  const msg: LinkMsg = { family: C.AF_UNSPEC, type: 0, index: 0, flags: up ? C.IFF_UP : 0, change: up ? C.IFF_UP : 0, ...rest };
  await sock.request(C.RTM_NEWLINK, C.NLM_F_CREATE | C.NLM_F_EXCL, encodeLink(msg), `create link ${link.name ?? ''} (${link.kind ?? '?'})`);
}

/** Changes an existing link by index: up/down, mtu, hardware address, name. */
export async function setLink(sock: NetlinkSocket, index: number, change: { up?: boolean; mtu?: number; address?: Uint8Array; name?: string }): Promise<void> {
  const msg: LinkMsg = {
    family: C.AF_UNSPEC, type: 0, index,
    flags: change.up ? C.IFF_UP : 0,
    change: change.up === undefined ? 0 : C.IFF_UP,
    mtu: change.mtu, address: change.address, name: change.name,
  };
  await sock.request(C.RTM_NEWLINK, 0, encodeLink(msg), `set link #${index}`);
}

export async function deleteLink(sock: NetlinkSocket, index: number): Promise<void> {
  await sock.request(C.RTM_DELLINK, 0, encodeLink({ family: C.AF_UNSPEC, type: 0, index, flags: 0, change: 0 }), `delete link #${index}`);
}

/** Addresses of the namespace (optionally one family). */
export async function listAddresses(sock: NetlinkSocket, family = C.AF_UNSPEC): Promise<AddressMsg[]> {
  const msgs = await sock.dump(C.RTM_GETADDR, dumpRequestPayload(C.RTM_GETADDR, family));
  return msgs.filter((m) => m.type === C.RTM_NEWADDR).map((m) => decodeAddress(m.payload));
}

/**
 * Adds (or with `replace`, sets) an address on a link: `address` bytes with `prefixLen`.
 * IPv4 sets IFA_LOCAL and IFA_ADDRESS; IPv6 sets IFA_ADDRESS with IFA_F_NODAD.
 */
export async function addAddress(sock: NetlinkSocket, index: number, address: Uint8Array, prefixLen: number, opts: { replace?: boolean } = {}): Promise<void> {
  const v4 = address.length === 4;
  const msg: AddressMsg = {
    family: v4 ? C.AF_INET : C.AF_INET6, prefixLen, flags: v4 ? 0 : C.IFA_F_NODAD, scope: C.RT_SCOPE_UNIVERSE, index,
    address, local: v4 ? address : undefined,
  };
  const flags = C.NLM_F_CREATE | (opts.replace ? C.NLM_F_REPLACE : C.NLM_F_EXCL);
  await sock.request(C.RTM_NEWADDR, flags, encodeAddress(msg), `add address ${formatIP(address)}/${prefixLen} on link #${index}`);
}

export async function deleteAddress(sock: NetlinkSocket, index: number, address: Uint8Array, prefixLen: number): Promise<void> {
  const v4 = address.length === 4;
  const msg: AddressMsg = { family: v4 ? C.AF_INET : C.AF_INET6, prefixLen, flags: 0, scope: 0, index, address, local: v4 ? address : undefined };
  await sock.request(C.RTM_DELADDR, 0, encodeAddress(msg), `delete address ${formatIP(address)}/${prefixLen} on link #${index}`);
}

/** Neighbour (ARP/ND) entries, or FDB entries with family AF_BRIDGE. */
export async function listNeighbours(sock: NetlinkSocket, family = C.AF_UNSPEC): Promise<NeighbourMsg[]> {
  const msgs = await sock.dump(C.RTM_GETNEIGH, dumpRequestPayload(C.RTM_GETNEIGH, family));
  return msgs.filter((m) => m.type === C.RTM_NEWNEIGH).map((m) => decodeNeighbour(m.payload));
}

/** A permanent ARP/ND entry: `ip` is at `mac` on link `index` (NLM_F_CREATE|NLM_F_REPLACE). */
export async function replaceNeighbour(sock: NetlinkSocket, index: number, ip: Uint8Array, mac: Uint8Array): Promise<void> {
  const msg: NeighbourMsg = { family: ip.length === 4 ? C.AF_INET : C.AF_INET6, ifindex: index, state: C.NUD_PERMANENT, flags: 0, type: 0, dst: ip, lladdr: mac };
  await sock.request(C.RTM_NEWNEIGH, C.NLM_F_CREATE | C.NLM_F_REPLACE, encodeNeighbour(msg), `neighbour ${formatIP(ip)} on link #${index}`);
}

export async function deleteNeighbour(sock: NetlinkSocket, index: number, ip: Uint8Array): Promise<void> {
  const msg: NeighbourMsg = { family: ip.length === 4 ? C.AF_INET : C.AF_INET6, ifindex: index, state: 0, flags: 0, type: 0, dst: ip };
  await sock.request(C.RTM_DELNEIGH, 0, encodeNeighbour(msg), `delete neighbour ${formatIP(ip)} on link #${index}`);
}

/**
 * A permanent FDB entry on a vxlan device: frames for `mac` go to the VTEP `remote`
 * (AF_BRIDGE, NTF_SELF, NUD_PERMANENT, NDA_LLADDR + NDA_DST) - `bridge fdb replace MAC dev VX dst IP self permanent`.
 */
export async function replaceFdb(sock: NetlinkSocket, vxlanIndex: number, mac: Uint8Array, remote: Uint8Array): Promise<void> {
  const msg: NeighbourMsg = { family: C.AF_BRIDGE, ifindex: vxlanIndex, state: C.NUD_PERMANENT, flags: C.NTF_SELF, type: 0, lladdr: mac, dst: remote };
  await sock.request(C.RTM_NEWNEIGH, C.NLM_F_CREATE | C.NLM_F_REPLACE, encodeNeighbour(msg), `fdb ${macText(mac)} -> ${formatIP(remote)} on link #${vxlanIndex}`);
}

export async function deleteFdb(sock: NetlinkSocket, vxlanIndex: number, mac: Uint8Array, remote?: Uint8Array): Promise<void> {
  const msg: NeighbourMsg = { family: C.AF_BRIDGE, ifindex: vxlanIndex, state: 0, flags: C.NTF_SELF, type: 0, lladdr: mac, dst: remote };
  await sock.request(C.RTM_DELNEIGH, 0, encodeNeighbour(msg), `delete fdb ${macText(mac)} on link #${vxlanIndex}`);
}

/** Every route of a family (AF_INET or AF_INET6) in every table. */
export async function listRoutes(sock: NetlinkSocket, family: number): Promise<RouteMsg[]> {
  const msgs = await sock.dump(C.RTM_GETROUTE, dumpRequestPayload(C.RTM_GETROUTE, family));
  return msgs.filter((m) => m.type === C.RTM_NEWROUTE).map((m) => decodeRoute(m.payload));
}

export function macText(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Parses "aa:bb:cc:dd:ee:ff"; null when it is not a MAC address. */
export function parseMac(text: string): Uint8Array | null {
  const parts = text.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) return null;
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}
