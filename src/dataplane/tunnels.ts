// Tunnel devices for routes whose next hop is not on a connected subnet:
//  - IPIP (RFC 2003): the kernel's `tunl0` (kind "ipip", no fixed remote: the outer destination
//    is each route's gateway, `via NH dev tunl0 onlink`), with this node's tunnel address and MTU;
//  - VXLAN (RFC 7348): `vxlan.nexthop` (VNI 4096, UDP 4789, learning off, Calico's layout), with
//    this node's VTEP address and MAC; per remote node a permanent neighbour entry (VTEP address ->
//    VTEP MAC; RFC 826 ARP is never needed) and an FDB entry (VTEP MAC -> node underlay address,
//    RFC 7348 §4 "VTEP-to-IP mapping").
// Pure planning (link/neighbour/FDB messages, diffs) is separate from the shell (TunnelManager)
// that sends them through an RtnlClient. A kernel without the module asked for stops with
// TunnelUnsupportedError naming the module and its config option - never a silent fallback.

import * as C from './netlink/constants';
import { LinkMsg, NeighbourMsg, encodeNeighbour } from './netlink/codec';
import {
  NetlinkSocket, addAddress, createLink, deleteAddress, deleteLink, getLink, listAddresses, listNeighbours, macText, parseMac as parseMacColon, setLink,
} from './netlink/rtnl';
import { bytesEqual, canonicalIP, formatIP, parseIP } from '../lib/ip';
import { EADDRNOTAVAIL, EEXIST, ENODEV, ENOENT, EOPNOTSUPP, ESRCH, NetlinkError, addressOf, isErrno } from './links';
import { IPIP_DEVICE, VXLAN_DEVICE, VXLAN_PORT, VXLAN_V6_DEVICE, VXLAN_VNI } from './nexthop-decision';

/** The kernel lacks a tunnel type the pools ask for. */
export class TunnelUnsupportedError extends Error {
  readonly code = 'TUNNEL_UNSUPPORTED';
  constructor(readonly kind: 'ipip' | 'vxlan', readonly module: string, readonly config: string, readonly cause: string) {
    super(`this kernel cannot create ${kind} devices: load the '${module}' module or build with ${config}=y/m (${cause})`);
    this.name = 'TunnelUnsupportedError';
  }
}

/** A tunnel device exists with settings we did not give it and cannot fix in place. */
export class TunnelConfigError extends Error {
  readonly code = 'TUNNEL_CONFIG';
  constructor(readonly device: string, readonly field: string, detail: string) {
    super(`tunnel ${device}: ${field}: ${detail}`);
    this.name = 'TunnelConfigError';
  }
}

/** Parses "aa:bb:cc:dd:ee:ff" (or with '-'); null when it is not a MAC address. */
export function parseMac(text: string): Uint8Array | null {
  return parseMacColon(text.replace(/-/g, ':'));
}

export function formatMac(b: Uint8Array): string {
  return macText(b);
}

/**
 * A stable, locally administered unicast MAC (IEEE 802: bit 1 of the first octet set, bit 0
 * clear) derived from a node name, for nodes that publish no vxlanTunnelMACAddr of their own.
 * FNV-1a over the name: the same node always gets the same MAC. `family` 6 gives the MAC of the
 * node's IPv6 VTEP (vxlanTunnelMACAddrV6, device vxlan6.nexthop): hashed over the name with a
 * suffix, and never equal to the same node's IPv4 VTEP MAC (as Calico, one MAC per VTEP).
 */
export function vtepMacFor(nodeName: string, family: 4 | 6 = 4): string {
  const b = nameHashMac(family === 4 ? nodeName : `${nodeName}\0vxlan-v6`);
  if (family === 6 && formatMac(b) === formatMac(nameHashMac(nodeName))) b[5] ^= 0x01;
  return formatMac(b);
}

function nameHashMac(text: string): Uint8Array {
  let h = 0x811c9dc5;
  let h2 = 0x01000193;
  for (const ch of Buffer.from(text, 'utf8')) {
    h = Math.imul(h ^ ch, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ ch, 0x811c9dc5) >>> 0;
  }
  const b = Uint8Array.of((h >>> 24) & 0xff, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff, (h2 >>> 8) & 0xff, h2 & 0xff);
  b[0] = (b[0] & 0xfc) | 0x02;
  return b;
}

/** This node's VXLAN device. */
export interface VxlanDeviceSpec {
  name: string;
  vni: number;
  port: number;
  /** Underlay (uplink) index and this node's underlay address: the outer source. */
  uplinkIndex: number;
  localAddress: string;
  /** This node's VTEP address (the device's /32 or /128) and MAC. */
  vtepAddress: string;
  vtepMac: string;
  mtu: number;
}

/** A remote node reached over VXLAN. */
export interface VxlanPeer {
  node: string;
  vtepAddress: string;
  vtepMac: string;
  /** Its underlay address: where the outer packet goes. */
  nodeAddress: string;
}

export interface IpipDeviceSpec {
  /** tunl0: the name the kernel gives the fallback device of the ipip module. */
  name: string;
  /** This node's IPIP tunnel address (spec.bgp.ipv4IPIPTunnelAddr), set as /32; optional. */
  tunnelAddress?: string;
  mtu: number;
}

function mustIP(text: string, field: string, device: string): Uint8Array {
  const b = parseIP(text.includes('/') ? text.slice(0, text.indexOf('/')) : text);
  if (!b) throw new TunnelConfigError(device, field, `'${text}' is not an IP address`);
  return b;
}

function mustMac(text: string, field: string, device: string): Uint8Array {
  const b = parseMac(text);
  if (!b) throw new TunnelConfigError(device, field, `'${text}' is not a MAC address`);
  if (b[0] & 1) throw new TunnelConfigError(device, field, `${text} is a multicast MAC`);
  return b;
}

/** Pure: the RTM_NEWLINK that creates the VXLAN device (Calico: learning off, VNI 4096, port 4789). */
export function vxlanLinkMessage(s: VxlanDeviceSpec): LinkMsg {
  return {
    family: C.AF_UNSPEC, type: 0, index: 0, flags: 0, change: 0,
    name: s.name,
    mtu: s.mtu,
    address: mustMac(s.vtepMac, 'vtepMac', s.name),
    kind: 'vxlan',
    vxlan: {
      vni: s.vni,
      local: mustIP(s.localAddress, 'localAddress', s.name),
      link: s.uplinkIndex,
      port: s.port,
      learning: false,
    },
  };
}

/** Pure: what differs between an existing VXLAN device and the spec (fields that need a re-create). */
export function vxlanMismatches(l: LinkMsg, s: VxlanDeviceSpec): string[] {
  const out: string[] = [];
  if (l.kind !== 'vxlan') return [`kind is ${l.kind ?? 'unknown'}, not vxlan`];
  const v = l.vxlan;
  if (!v) return ['no vxlan data'];
  if (v.vni !== s.vni) out.push(`VNI ${v.vni}, want ${s.vni}`);
  if ((v.port ?? VXLAN_PORT) !== s.port) out.push(`port ${v.port}, want ${s.port}`);
  const local = mustIP(s.localAddress, 'localAddress', s.name);
  if (!v.local || !bytesEqual(v.local, local)) out.push(`local ${v.local ? formatIP(v.local) : 'unset'}, want ${formatIP(local)}`);
  if (v.link !== s.uplinkIndex) out.push(`link ${v.link ?? 'unset'}, want ${s.uplinkIndex}`);
  if (v.learning) out.push('learning on, want off');
  return out;
}

/** Pure: the RTM_NEWLINK for tunl0 (kind ipip, no local/remote: the catch-all device). */
export function ipipLinkMessage(s: IpipDeviceSpec): LinkMsg {
  return { family: C.AF_UNSPEC, type: 0, index: 0, flags: 0, change: 0, name: s.name, mtu: s.mtu, kind: 'ipip' };
}

/** Pure: the permanent neighbour and FDB entries for the peers of a VXLAN device. */
export function vxlanPeerEntries(ifindex: number, peers: VxlanPeer[], device: string): { neighbours: NeighbourMsg[]; fdb: NeighbourMsg[] } {
  const neighbours: NeighbourMsg[] = [];
  const fdb: NeighbourMsg[] = [];
  for (const p of peers) {
    const mac = mustMac(p.vtepMac, `peer ${p.node} vtepMac`, device);
    const vtep = mustIP(p.vtepAddress, `peer ${p.node} vtepAddress`, device);
    const nodeAddr = mustIP(p.nodeAddress, `peer ${p.node} nodeAddress`, device);
    // ARP/ND entry: VTEP address -> MAC, permanent (no ARP across the overlay).
    neighbours.push({ family: vtep.length === 4 ? C.AF_INET : C.AF_INET6, ifindex, state: C.NUD_PERMANENT, flags: 0, type: 0, dst: vtep, lladdr: mac });
    // FDB entry on the vxlan device itself (NTF_SELF): MAC -> remote underlay address.
    fdb.push({ family: C.AF_BRIDGE, ifindex, state: C.NUD_PERMANENT, flags: C.NTF_SELF, type: 0, dst: nodeAddr, lladdr: mac });
  }
  return { neighbours, fdb };
}

function neighKey(n: NeighbourMsg): string {
  return n.family === C.AF_BRIDGE
    ? `fdb|${n.lladdr ? formatMac(n.lladdr) : ''}|${n.dst ? formatIP(n.dst) : ''}`
    : `nd|${n.dst ? formatIP(n.dst) : ''}|${n.lladdr ? formatMac(n.lladdr) : ''}`;
}

/**
 * Pure: which entries to add and which to delete so that the device holds exactly `want`.
 * Only permanent entries on the device count as ours; the kernel's own (NUD_NOARP, learned) stay.
 */
export function diffNeighbourEntries(want: NeighbourMsg[], have: NeighbourMsg[], ifindex: number): { add: NeighbourMsg[]; del: NeighbourMsg[] } {
  const mine = have.filter((n) => n.ifindex === ifindex && (n.state & C.NUD_PERMANENT) !== 0);
  const haveKeys = new Set(mine.map(neighKey));
  const wantKeys = new Set(want.map(neighKey));
  return {
    add: want.filter((n) => !haveKeys.has(neighKey(n))),
    del: mine.filter((n) => !wantKeys.has(neighKey(n))),
  };
}

/** What TunnelManager changed, so teardown removes exactly that. */
interface Owned {
  /** Devices we created (deleted at teardown). */
  createdDevices: Set<string>;
  /** Addresses we added to devices we did not create (removed at teardown). */
  addedAddresses: Array<{ device: string; address: string }>;
}

/**
 * Creates and maintains the tunnel devices through rtnetlink. Every method is idempotent: it
 * reads what the kernel has, then changes only what differs.
 */
export class TunnelManager {
  private readonly owned: Owned = { createdDevices: new Set(), addedAddresses: [] };

  constructor(private readonly nl: NetlinkSocket) {}

  /**
   * Ensures the VXLAN device per spec (re-created when VNI, port, local or link differ). Returns
   * its index, and whether it was (re)created - the kernel dropped any routes over an old one.
   */
  async ensureVxlan(s: VxlanDeviceSpec): Promise<{ index: number; created: boolean }> {
    let created = false;
    let link = await getLink(this.nl, s.name);
    if (link) {
      if (link.kind !== 'vxlan') throw new TunnelConfigError(s.name, 'kind', `a ${link.kind ?? 'non-vxlan'} device already has our name`);
      if (vxlanMismatches(link, s).length > 0) {
        await deleteLink(this.nl, link.index);
        link = null;
      }
    }
    if (!link) {
      const { family: _f, type: _t, index: _i, flags: _fl, change: _c, ...create } = vxlanLinkMessage(s);
      try {
        await createLink(this.nl, create);
      } catch (e) {
        if (isErrno(e, EOPNOTSUPP)) throw new TunnelUnsupportedError('vxlan', 'vxlan', 'CONFIG_VXLAN', (e as Error).message);
        throw e;
      }
      this.owned.createdDevices.add(s.name);
      created = true;
      link = await getLink(this.nl, s.name);
      if (!link) throw new TunnelConfigError(s.name, 'device', 'created but not found afterwards');
    }
    const mac = mustMac(s.vtepMac, 'vtepMac', s.name);
    if (link.mtu !== s.mtu || !(link.address && bytesEqual(link.address, mac))) {
      await setLink(this.nl, link.index, { mtu: s.mtu, address: mac });
    }
    await this.syncDeviceAddress(link.index, s.name, s.vtepAddress);
    if ((link.flags & C.IFF_UP) === 0) await setLink(this.nl, link.index, { up: true });
    return { index: link.index, created };
  }

  /** Makes the VXLAN device hold exactly the neighbour and FDB entries for `peers`. */
  async syncVxlanPeers(ifindex: number, device: string, peers: VxlanPeer[]): Promise<{ added: number; removed: number }> {
    const want = vxlanPeerEntries(ifindex, peers, device);
    let added = 0;
    let removed = 0;
    const ndFamily = device === VXLAN_V6_DEVICE ? C.AF_INET6 : C.AF_INET;
    for (const [wantList, family] of [[want.neighbours, ndFamily], [want.fdb, C.AF_BRIDGE]] as const) {
      const d = diffNeighbourEntries(wantList, await listNeighbours(this.nl, family), ifindex);
      for (const n of d.del) {
        try {
          await this.nl.request(C.RTM_DELNEIGH, 0, encodeNeighbour(n), `delete stale ${family === C.AF_BRIDGE ? 'fdb' : 'neighbour'} entry on ${device}`);
          removed++;
        } catch (e) {
          if (!isErrno(e, ENOENT)) throw e;
        }
      }
      // NLM_F_REPLACE: an entry with the same key but another MAC/destination is overwritten.
      for (const n of d.add) {
        const what = `${family === C.AF_BRIDGE ? 'fdb' : 'neighbour'} ${n.dst ? formatIP(n.dst) : ''} ${n.lladdr ? formatMac(n.lladdr) : ''} on ${device}`;
        await this.nl.request(C.RTM_NEWNEIGH, C.NLM_F_CREATE | C.NLM_F_REPLACE, encodeNeighbour(n), what);
        added++;
      }
    }
    return { added, removed };
  }

  /**
   * Ensures tunl0: creating it fails with EOPNOTSUPP ("Unknown device type") when the kernel has
   * no ipip module, ENODEV from older ioctl paths; both stop with TunnelUnsupportedError. Where
   * the module is loaded the kernel already made tunl0 in every namespace (EEXIST is fine).
   */
  async ensureIpip(s: IpipDeviceSpec): Promise<{ index: number; created: boolean }> {
    let created = false;
    let link = await getLink(this.nl, s.name);
    if (link && link.kind !== undefined && link.kind !== 'ipip') {
      throw new TunnelConfigError(s.name, 'kind', `a ${link.kind} device already has the name`);
    }
    if (!link) {
      const { family: _f, type: _t, index: _i, flags: _fl, change: _c, ...create } = ipipLinkMessage(s);
      try {
        await createLink(this.nl, create);
        this.owned.createdDevices.add(s.name);
        created = true;
      } catch (e) {
        if (isErrno(e, EOPNOTSUPP, ENODEV)) throw new TunnelUnsupportedError('ipip', 'ipip', 'CONFIG_NET_IPIP', (e as Error).message);
        if (!isErrno(e, EEXIST)) throw e;
      }
      link = await getLink(this.nl, s.name);
      if (!link) throw new TunnelConfigError(s.name, 'device', 'created but not found afterwards');
    }
    if (link.mtu !== s.mtu) await setLink(this.nl, link.index, { mtu: s.mtu });
    if (s.tunnelAddress) await this.syncDeviceAddress(link.index, s.name, s.tunnelAddress);
    if ((link.flags & C.IFF_UP) === 0) await setLink(this.nl, link.index, { up: true });
    return { index: link.index, created };
  }

  /** The device holds `address` as its only address of that family (host-length prefix). */
  private async syncDeviceAddress(ifindex: number, device: string, address: string): Promise<void> {
    const want = mustIP(address, 'address', device);
    const family = want.length === 4 ? C.AF_INET : C.AF_INET6;
    const have = (await listAddresses(this.nl, family)).filter((a) => a.index === ifindex);
    let present = false;
    for (const a of have) {
      const addr = addressOf(a);
      if (!addr) continue;
      if (bytesEqual(addr, want) && a.prefixLen === want.length * 8) { present = true; continue; }
      // IPv6 link-local addresses are the kernel's; leave them.
      if (family === C.AF_INET6 && addr[0] === 0xfe && (addr[1] & 0xc0) === 0x80) continue;
      await deleteAddress(this.nl, a.index, addr, a.prefixLen);
    }
    if (!present) {
      await addAddress(this.nl, ifindex, want, want.length * 8, { replace: true });
      if (!this.owned.createdDevices.has(device)) this.owned.addedAddresses.push({ device, address: canonicalIP(formatIP(want))! });
    }
  }

  /** Deletes a device by name if it exists (pools no longer ask for it); true when one was removed. */
  async removeDevice(name: string): Promise<boolean> {
    const link = await getLink(this.nl, name);
    if (!link) return false;
    try {
      await deleteLink(this.nl, link.index);
    } catch (e) {
      if (!isErrno(e, ENODEV, ENOENT)) throw e;
    }
    this.owned.createdDevices.delete(name);
    return true;
  }

  /**
   * Removes what this manager added: devices it created (their neighbours and FDB entries go with
   * them), and addresses it put on devices it found (tunl0 of a loaded ipip module cannot be
   * deleted). The VXLAN devices are ours by name, so they go even when an earlier run made them.
   * `knownAddresses` are addresses an earlier run may have put on devices it did not create
   * (tunl0's tunnel address, from the node's spec), removed when still present.
   */
  async teardown(knownAddresses: Array<{ device: string; address: string }> = []): Promise<string[]> {
    const removed: string[] = [];
    for (const k of knownAddresses) {
      const a = parseIP(k.address);
      if (!a) continue;
      const canon = formatIP(a);
      if (!this.owned.addedAddresses.some((x) => x.device === k.device && x.address === canon)) this.owned.addedAddresses.push({ device: k.device, address: canon });
    }
    for (const name of new Set([...this.owned.createdDevices, VXLAN_DEVICE, VXLAN_V6_DEVICE])) {
      try {
        if (await this.removeDevice(name)) removed.push(name);
      } catch (e) {
        // The kernel refuses to delete the ipip module's fallback tunl0; anything else is real.
        if (!(name === IPIP_DEVICE && e instanceof NetlinkError)) throw e;
      }
    }
    for (const { device, address } of this.owned.addedAddresses) {
      const link = await getLink(this.nl, device);
      if (!link) continue;
      const a = parseIP(address)!;
      const present = (await listAddresses(this.nl, a.length === 4 ? C.AF_INET : C.AF_INET6))
        .some((x) => x.index === link.index && x.prefixLen === a.length * 8 && addressOf(x) !== undefined && bytesEqual(addressOf(x)!, a));
      if (!present) continue;
      try {
        await deleteAddress(this.nl, link.index, a, a.length * 8);
        removed.push(`${address} on ${device}`);
      } catch (e) {
        if (!isErrno(e, EADDRNOTAVAIL, ENODEV, ESRCH)) throw e;
      }
    }
    this.owned.addedAddresses.length = 0;
    this.owned.createdDevices.clear();
    return removed;
  }
}

export { VXLAN_VNI, VXLAN_PORT };
