// rtnetlink message codec: pure encode/decode of netlink framing (nlmsghdr, NLMSG_ERROR acks with
// extended-ack TLVs, NLMSG_DONE), route attributes (netlink "TLVs"), and the four rtnetlink
// families nexthop programs: routes (rtmsg + RTA_*, incl. RTA_MULTIPATH/rtnexthop), links
// (ifinfomsg + IFLA_*, incl. IFLA_LINKINFO for vxlan and ipip), addresses (ifaddrmsg + IFA_*)
// and neighbours / FDB entries (ndmsg + NDA_*). No I/O here; socket.ts moves the bytes.
//
// Layouts follow the kernel UAPI headers (see constants.ts) and RFC 3549 §2.2 (netlink message
// format: a 16-byte header, payload padded to 4 bytes) and §2.3.2 (service templates). Integers
// are in host byte order (little-endian on every machine nexthop targets; checked at load), except
// where the kernel wants network order (ports, VNIs inside FDB attributes are host order; see each).

import * as os from 'os';
import * as C from './constants';

if (os.endianness() !== 'LE') {
  // Netlink uses host byte order; every reader/writer below assumes little-endian.
  throw new Error('nexthop rtnetlink codec supports little-endian hosts only');
}

/** A message the codec could not parse: names what was wrong and where. */
export class NetlinkDecodeError extends Error {
  constructor(readonly what: string, readonly offset: number) {
    super(`malformed netlink data: ${what} at byte ${offset}`);
    this.name = 'NetlinkDecodeError';
  }
}

/** A desired message that cannot be encoded (bad field). */
export class NetlinkEncodeError extends Error {
  constructor(readonly field: string, readonly reason: string) {
    super(`cannot encode netlink message: ${field}: ${reason}`);
    this.name = 'NetlinkEncodeError';
  }
}

export const align4 = (n: number): number => (n + 3) & ~3;

// ---------------------------------------------------------------------------------------------
// Framing: nlmsghdr (RFC 3549 §2.2)
// ---------------------------------------------------------------------------------------------

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** The payload after the 16-byte header (a view into the received buffer). */
  payload: Buffer;
}

/** Encodes one message: header followed by `payload`, padded to 4 bytes. */
export function encodeMessage(type: number, flags: number, seq: number, payload: Uint8Array, pid = 0): Buffer {
  const len = C.NLMSG_HDRLEN + payload.length;
  const out = Buffer.alloc(align4(len));
  writeHeader(out, 0, len, type, flags, seq, pid);
  out.set(payload, C.NLMSG_HDRLEN);
  return out;
}

export function writeHeader(buf: Buffer, off: number, len: number, type: number, flags: number, seq: number, pid = 0): void {
  buf.writeUInt32LE(len, off);
  buf.writeUInt16LE(type, off + 4);
  buf.writeUInt16LE(flags, off + 6);
  buf.writeUInt32LE(seq >>> 0, off + 8);
  buf.writeUInt32LE(pid >>> 0, off + 12);
}

/** Splits `buf[0, length)` into messages; throws NetlinkDecodeError on a bad length. */
export function parseMessages(buf: Buffer, length = buf.length): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + C.NLMSG_HDRLEN <= length) {
    const len = buf.readUInt32LE(off);
    if (len < C.NLMSG_HDRLEN || off + len > length) throw new NetlinkDecodeError(`nlmsg_len ${len} exceeds the ${length - off} bytes left`, off);
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + C.NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  if (off < length && length - off >= C.NLMSG_HDRLEN) throw new NetlinkDecodeError('trailing bytes after the last message', off);
  return out;
}

/** struct nlmsgerr: the errno (positive; 0 = success ack) and what it refers to. */
export interface NetlinkAck {
  /** 0 for a positive acknowledgement, else the positive errno. */
  errno: number;
  /** Header of the request this acknowledges (its seq identifies it). */
  requestType: number;
  requestFlags: number;
  requestSeq: number;
  /** NETLINK_EXT_ACK: the kernel's human-readable reason, e.g. "Nexthop device is not up". */
  message?: string;
  /** NETLINK_EXT_ACK: byte offset in the request of the attribute that was rejected. */
  badAttrOffset?: number;
}

/** Decodes the payload of an NLMSG_ERROR message (`flags` are the ack message's own flags). */
export function decodeAck(payload: Buffer, flags: number): NetlinkAck {
  if (payload.length < 4 + C.NLMSG_HDRLEN) throw new NetlinkDecodeError(`NLMSG_ERROR payload of ${payload.length} bytes is shorter than nlmsgerr`, 0);
  const error = payload.readInt32LE(0);
  const reqLen = payload.readUInt32LE(4);
  const ack: NetlinkAck = {
    errno: error === 0 ? 0 : -error,
    requestType: payload.readUInt16LE(8),
    requestFlags: payload.readUInt16LE(10),
    requestSeq: payload.readUInt32LE(12),
  };
  if (flags & C.NLM_F_ACK_TLVS) {
    // The echoed request is the header only when capped (or a success ack), else the whole request.
    const echoed = (flags & C.NLM_F_CAPPED) || error === 0 ? C.NLMSG_HDRLEN : reqLen;
    const tlvStart = 4 + align4(echoed);
    if (tlvStart <= payload.length) {
      forEachAttr(payload, tlvStart, payload.length, (type, off, len) => {
        if (type === C.NLMSGERR_ATTR_MSG) ack.message = cString(payload, off, len);
        else if (type === C.NLMSGERR_ATTR_OFFS && len >= 4) ack.badAttrOffset = payload.readUInt32LE(off);
      });
    }
  }
  return ack;
}

// ---------------------------------------------------------------------------------------------
// Attributes (struct nlattr / rtattr: u16 len, u16 type, value, padded to 4)
// ---------------------------------------------------------------------------------------------

/** Builds an attribute list; each method appends one attribute. */
export class AttrWriter {
  private parts: Buffer[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  raw(type: number, value: Uint8Array): this {
    const len = C.NLA_HDRLEN + value.length;
    if (len > 0xffff) throw new NetlinkEncodeError(`attribute ${type}`, `value of ${value.length} bytes is too long`);
    const b = Buffer.alloc(align4(len));
    b.writeUInt16LE(len, 0);
    b.writeUInt16LE(type, 2);
    b.set(value, C.NLA_HDRLEN);
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  u8(type: number, v: number): this {
    return this.raw(type, Uint8Array.of(v & 0xff));
  }

  u16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v, 0);
    return this.raw(type, b);
  }

  /** A 16-bit value in network byte order (e.g. IFLA_VXLAN_PORT). */
  be16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v, 0);
    return this.raw(type, b);
  }

  u32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0, 0);
    return this.raw(type, b);
  }

  /** A NUL-terminated string (IFLA_IFNAME, IFLA_INFO_KIND, IFA_LABEL). */
  str(type: number, s: string): this {
    return this.raw(type, Buffer.from(s + '\0', 'utf8'));
  }

  nested(type: number, inner: AttrWriter): this {
    return this.raw(type | C.NLA_F_NESTED, inner.toBuffer());
  }

  toBuffer(): Buffer {
    return this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
  }
}

/** Calls `fn(type, valueOffset, valueLength)` for each attribute in buf[start, end). */
export function forEachAttr(buf: Buffer, start: number, end: number, fn: (type: number, off: number, len: number) => void): void {
  let off = start;
  while (off + C.NLA_HDRLEN <= end) {
    const len = buf.readUInt16LE(off);
    if (len < C.NLA_HDRLEN || off + len > end) throw new NetlinkDecodeError(`attribute length ${len} exceeds the ${end - off} bytes left`, off);
    fn(buf.readUInt16LE(off + 2) & C.NLA_TYPE_MASK, off + C.NLA_HDRLEN, len - C.NLA_HDRLEN);
    off += align4(len);
  }
}

/** Attributes as a map type → value (the last one wins when a type repeats). */
export function attrMap(buf: Buffer, start: number, end: number): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  forEachAttr(buf, start, end, (type, off, len) => m.set(type, buf.subarray(off, off + len)));
  return m;
}

function cString(buf: Buffer, off: number, len: number): string {
  let end = off;
  while (end < off + len && buf[end] !== 0) end++;
  return buf.toString('utf8', off, end);
}

function needLen(v: Buffer, n: number, what: string): Buffer {
  if (v.length < n) throw new NetlinkDecodeError(`${what} has ${v.length} bytes, needs ${n}`, 0);
  return v;
}
const u32Of = (v: Buffer, what: string): number => needLen(v, 4, what).readUInt32LE(0);
const addrOf = (v: Buffer, what: string): Uint8Array => {
  if (v.length !== 4 && v.length !== 16) throw new NetlinkDecodeError(`${what} is ${v.length} bytes, not an IPv4/IPv6 address`, 0);
  return new Uint8Array(v);
};

/** AF_INET for a 4-byte address, AF_INET6 for 16 bytes. */
export function familyOfAddr(a: Uint8Array): number {
  return a.length === 4 ? C.AF_INET : C.AF_INET6;
}

// ---------------------------------------------------------------------------------------------
// Routes: struct rtmsg (12 bytes) + RTA_*
// ---------------------------------------------------------------------------------------------

/** One path of a route: a gateway and/or an output interface. */
export interface RouteNexthopMsg {
  gateway?: Uint8Array;
  ifindex?: number;
  /** RTNH_F_* flags (ONLINK is the one we set; the kernel adds DEAD, LINKDOWN, OFFLOAD...). */
  flags: number;
  /** Weight 1..256 (rtnh_hops + 1). */
  weight: number;
}

/** A route as rtnetlink carries it. */
export interface RouteMsg {
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  /** Full table id (RTA_TABLE when present, else rtm_table). */
  table: number;
  protocol: number;
  scope: number;
  type: number;
  /** rtm_flags; for a single-path route its RTNH_F_* bits (e.g. ONLINK) live here. */
  flags: number;
  dst?: Uint8Array;
  gateway?: Uint8Array;
  oif?: number;
  priority?: number;
  prefsrc?: Uint8Array;
  /** RTA_METRICS RTAX_MTU. */
  mtu?: number;
  /** RTA_MULTIPATH: two or more paths (ECMP). */
  multipath?: RouteNexthopMsg[];
}

// encodeRoute writes straight into one buffer (it runs once per route: 100,000 times for a big
// table), in the attribute order iproute2 uses; the output is the same as AttrWriter would give.
// encodeRouteInto writes into a caller's buffer instead (the socket's batch buffer: no buffer
// per route at all); it writes every byte of the message, padding included.
const attrSize = (valueLen: number): number => align4(C.NLA_HDRLEN + valueLen);

function putAttr(b: Buffer, off: number, type: number, value: Uint8Array): number {
  const len = C.NLA_HDRLEN + value.length;
  b.writeUInt16LE(len, off);
  b.writeUInt16LE(type, off + 2);
  b.set(value, off + C.NLA_HDRLEN);
  const end = off + align4(len);
  for (let i = off + len; i < end; i++) b[i] = 0; // padding (RFC 3549 §2.2: payloads pad to 4)
  return end;
}

function putU32(b: Buffer, off: number, type: number, v: number): number {
  b.writeUInt16LE(8, off);
  b.writeUInt16LE(type, off + 2);
  b.writeUInt32LE(v >>> 0, off + 4);
  return off + 8;
}

function multipathSize(hops: RouteNexthopMsg[]): number {
  let n = 0;
  for (const h of hops) n += C.RTNEXTHOP_LEN + (h.gateway ? attrSize(h.gateway.length) : 0);
  return n;
}

function putMultipath(b: Buffer, off: number, hops: RouteNexthopMsg[]): number {
  for (const [i, h] of hops.entries()) {
    if (!Number.isInteger(h.weight) || h.weight < 1 || h.weight > 256) throw new NetlinkEncodeError(`multipath[${i}].weight`, `${h.weight} is not in 1..256`);
    const len = C.RTNEXTHOP_LEN + (h.gateway ? attrSize(h.gateway.length) : 0);
    b.writeUInt16LE(len, off);
    b[off + 2] = h.flags & 0xff;
    b[off + 3] = h.weight - 1;
    b.writeInt32LE(h.ifindex ?? 0, off + 4);
    if (h.gateway) putAttr(b, off + C.RTNEXTHOP_LEN, C.RTA_GATEWAY, h.gateway);
    off += len;
  }
  return off;
}

/** Bytes encodeRoute / encodeRouteInto write for `r` (always a multiple of 4). */
export function routeEncodedLength(r: RouteMsg): number {
  let size = C.RTMSG_LEN + 8; // rtmsg + RTA_TABLE
  if (r.dst) size += attrSize(r.dst.length);
  if (r.priority !== undefined) size += 8;
  if (r.prefsrc) size += attrSize(r.prefsrc.length);
  if (r.mtu !== undefined) size += C.NLA_HDRLEN + 8;
  if (r.multipath && r.multipath.length > 0) {
    size += C.NLA_HDRLEN + multipathSize(r.multipath);
  } else {
    if (r.gateway) size += attrSize(r.gateway.length);
    if (r.oif !== undefined) size += 8;
  }
  return size;
}

export function encodeRoute(r: RouteMsg): Buffer {
  // allocUnsafe slices Node's shared pool (no ArrayBuffer per route); encodeRouteInto writes every byte.
  const b = Buffer.allocUnsafe(routeEncodedLength(r));
  encodeRouteInto(b, 0, r);
  return b;
}

/**
 * Writes the route message (rtmsg + attributes) at b[off...]; returns the bytes written
 * (routeEncodedLength(r)). The caller makes sure they fit. RFC 3549 §2.3.3.2 (route messages).
 */
export function encodeRouteInto(b: Buffer, off: number, r: RouteMsg): number {
  const start = off;
  const multi = r.multipath && r.multipath.length > 0 ? r.multipath : null;
  b[off] = r.family;
  b[off + 1] = r.dstLen;
  b[off + 2] = r.srcLen;
  b[off + 3] = r.tos;
  b[off + 4] = r.table > 255 ? C.RT_TABLE_COMPAT : r.table;
  b[off + 5] = r.protocol;
  b[off + 6] = r.scope;
  b[off + 7] = r.type;
  b.writeUInt32LE(r.flags >>> 0, off + 8);
  off = putU32(b, off + C.RTMSG_LEN, C.RTA_TABLE, r.table);
  if (r.dst) off = putAttr(b, off, C.RTA_DST, r.dst);
  if (r.priority !== undefined) off = putU32(b, off, C.RTA_PRIORITY, r.priority);
  if (r.prefsrc) off = putAttr(b, off, C.RTA_PREFSRC, r.prefsrc);
  if (r.mtu !== undefined) {
    b.writeUInt16LE(C.NLA_HDRLEN + 8, off);
    b.writeUInt16LE(C.RTA_METRICS | C.NLA_F_NESTED, off + 2);
    off = putU32(b, off + C.NLA_HDRLEN, C.RTAX_MTU, r.mtu);
  }
  if (multi) {
    const len = C.NLA_HDRLEN + multipathSize(multi);
    if (len > 0xffff) throw new NetlinkEncodeError('RTA_MULTIPATH', `${multi.length} paths do not fit one attribute`);
    b.writeUInt16LE(len, off);
    b.writeUInt16LE(C.RTA_MULTIPATH, off + 2);
    off = putMultipath(b, off + C.NLA_HDRLEN, multi);
  } else {
    if (r.gateway) off = putAttr(b, off, C.RTA_GATEWAY, r.gateway);
    if (r.oif !== undefined) off = putU32(b, off, C.RTA_OIF, r.oif);
  }
  return off - start;
}

/** RTA_MULTIPATH value: a sequence of struct rtnexthop, each followed by its own attributes. */
export function encodeMultipath(hops: RouteNexthopMsg[]): Buffer {
  const b = Buffer.alloc(multipathSize(hops));
  putMultipath(b, 0, hops);
  return b;
}

export function decodeMultipath(v: Buffer): RouteNexthopMsg[] {
  const out: RouteNexthopMsg[] = [];
  let off = 0;
  while (off + C.RTNEXTHOP_LEN <= v.length) {
    const len = v.readUInt16LE(off);
    if (len < C.RTNEXTHOP_LEN || off + len > v.length) throw new NetlinkDecodeError(`rtnexthop length ${len} exceeds RTA_MULTIPATH`, off);
    const hop: RouteNexthopMsg = { flags: v[off + 2], weight: v[off + 3] + 1 };
    const ifindex = v.readInt32LE(off + 4);
    if (ifindex) hop.ifindex = ifindex;
    forEachAttr(v, off + C.RTNEXTHOP_LEN, off + len, (type, aoff, alen) => {
      if (type === C.RTA_GATEWAY) hop.gateway = addrOf(v.subarray(aoff, aoff + alen), 'rtnexthop RTA_GATEWAY');
    });
    out.push(hop);
    off += align4(len);
  }
  return out;
}

export function decodeRoute(p: Buffer): RouteMsg {
  if (p.length < C.RTMSG_LEN) throw new NetlinkDecodeError(`rtmsg of ${p.length} bytes, needs ${C.RTMSG_LEN}`, 0);
  const r: RouteMsg = {
    family: p[0], dstLen: p[1], srcLen: p[2], tos: p[3], table: p[4], protocol: p[5], scope: p[6], type: p[7],
    flags: p.readUInt32LE(8),
  };
  forEachAttr(p, C.RTMSG_LEN, p.length, (type, off, len) => {
    const v = p.subarray(off, off + len);
    switch (type) {
      case C.RTA_TABLE: r.table = u32Of(v, 'RTA_TABLE'); break;
      case C.RTA_DST: r.dst = addrOf(v, 'RTA_DST'); break;
      case C.RTA_GATEWAY: r.gateway = addrOf(v, 'RTA_GATEWAY'); break;
      case C.RTA_OIF: r.oif = u32Of(v, 'RTA_OIF'); break;
      case C.RTA_PRIORITY: r.priority = u32Of(v, 'RTA_PRIORITY'); break;
      case C.RTA_PREFSRC: r.prefsrc = addrOf(v, 'RTA_PREFSRC'); break;
      case C.RTA_MULTIPATH: r.multipath = decodeMultipath(v); break;
      case C.RTA_METRICS:
        forEachAttr(v, 0, v.length, (mt, moff, mlen) => {
          if (mt === C.RTAX_MTU && mlen >= 4) r.mtu = v.readUInt32LE(moff);
        });
        break;
      default: break;
    }
  });
  return r;
}

// ---------------------------------------------------------------------------------------------
// Links: struct ifinfomsg (16 bytes) + IFLA_*
// ---------------------------------------------------------------------------------------------

/** IFLA_INFO_DATA of a vxlan device. */
export interface VxlanInfo {
  vni: number;
  /** Source address for the outer header (IFLA_VXLAN_LOCAL or LOCAL6 by length). */
  local?: Uint8Array;
  /** Underlay device index. */
  link?: number;
  /** UDP destination port (IFLA_VXLAN_PORT, network byte order on the wire). */
  port?: number;
  /** Learn FDB entries from received packets (false for a routed overlay). */
  learning?: boolean;
  ttl?: number;
}

/** IFLA_INFO_DATA of an ipip (or sit/gre) device (IFLA_IPTUN_*). */
export interface IptunInfo {
  link?: number;
  local?: Uint8Array;
  remote?: Uint8Array;
  ttl?: number;
  tos?: number;
  pmtudisc?: boolean;
}

export interface LinkMsg {
  family: number;
  /** ARPHRD_* device type. */
  type: number;
  index: number;
  /** IFF_* flags. */
  flags: number;
  /** Which IFF_* bits a request changes (0 on dumps). */
  change: number;
  name?: string;
  mtu?: number;
  /** Hardware address (IFLA_ADDRESS). */
  address?: Uint8Array;
  /** IFLA_LINK: the lower device (veth peer index, tunnel underlay). */
  link?: number;
  master?: number;
  operstate?: number;
  /** IFLA_NET_NS_FD: move the device to the namespace of this fd (requests only). */
  netnsFd?: number;
  /** IFLA_INFO_KIND: "vxlan", "ipip", "veth", "bridge"... */
  kind?: string;
  vxlan?: VxlanInfo;
  iptun?: IptunInfo;
}

export function encodeLink(l: LinkMsg): Buffer {
  const head = Buffer.alloc(C.IFINFOMSG_LEN);
  head[0] = l.family;
  head.writeUInt16LE(l.type, 2);
  head.writeInt32LE(l.index, 4);
  head.writeUInt32LE(l.flags >>> 0, 8);
  head.writeUInt32LE(l.change >>> 0, 12);
  const a = new AttrWriter();
  if (l.name !== undefined) {
    if (l.name.length === 0 || Buffer.byteLength(l.name) > 15) throw new NetlinkEncodeError('IFLA_IFNAME', `"${l.name}" must be 1..15 bytes`);
    a.str(C.IFLA_IFNAME, l.name);
  }
  if (l.mtu !== undefined) a.u32(C.IFLA_MTU, l.mtu);
  if (l.address) a.raw(C.IFLA_ADDRESS, l.address);
  if (l.link !== undefined) a.u32(C.IFLA_LINK, l.link);
  if (l.master !== undefined) a.u32(C.IFLA_MASTER, l.master);
  if (l.netnsFd !== undefined) a.u32(C.IFLA_NET_NS_FD, l.netnsFd);
  if (l.kind !== undefined) {
    const info = new AttrWriter().str(C.IFLA_INFO_KIND, l.kind);
    const data = l.vxlan ? encodeVxlanInfo(l.vxlan) : l.iptun ? encodeIptunInfo(l.iptun) : null;
    if (data) info.nested(C.IFLA_INFO_DATA, data);
    a.nested(C.IFLA_LINKINFO, info);
  }
  return a.length ? Buffer.concat([head, a.toBuffer()]) : head;
}

function encodeVxlanInfo(v: VxlanInfo): AttrWriter {
  if (!Number.isInteger(v.vni) || v.vni < 0 || v.vni > 0xffffff) throw new NetlinkEncodeError('IFLA_VXLAN_ID', `${v.vni} is not a 24-bit VNI`);
  const a = new AttrWriter().u32(C.IFLA_VXLAN_ID, v.vni);
  if (v.local) a.raw(v.local.length === 4 ? C.IFLA_VXLAN_LOCAL : C.IFLA_VXLAN_LOCAL6, v.local);
  if (v.link !== undefined) a.u32(C.IFLA_VXLAN_LINK, v.link);
  if (v.port !== undefined) a.be16(C.IFLA_VXLAN_PORT, v.port);
  if (v.learning !== undefined) a.u8(C.IFLA_VXLAN_LEARNING, v.learning ? 1 : 0);
  if (v.ttl !== undefined) a.u8(C.IFLA_VXLAN_TTL, v.ttl);
  return a;
}

function encodeIptunInfo(t: IptunInfo): AttrWriter {
  const a = new AttrWriter();
  if (t.link !== undefined) a.u32(C.IFLA_IPTUN_LINK, t.link);
  if (t.local) a.raw(C.IFLA_IPTUN_LOCAL, t.local);
  if (t.remote) a.raw(C.IFLA_IPTUN_REMOTE, t.remote);
  if (t.ttl !== undefined) a.u8(C.IFLA_IPTUN_TTL, t.ttl);
  if (t.tos !== undefined) a.u8(C.IFLA_IPTUN_TOS, t.tos);
  if (t.pmtudisc !== undefined) a.u8(C.IFLA_IPTUN_PMTUDISC, t.pmtudisc ? 1 : 0);
  return a;
}

export function decodeLink(p: Buffer): LinkMsg {
  if (p.length < C.IFINFOMSG_LEN) throw new NetlinkDecodeError(`ifinfomsg of ${p.length} bytes, needs ${C.IFINFOMSG_LEN}`, 0);
  const l: LinkMsg = {
    family: p[0], type: p.readUInt16LE(2), index: p.readInt32LE(4), flags: p.readUInt32LE(8), change: p.readUInt32LE(12),
  };
  forEachAttr(p, C.IFINFOMSG_LEN, p.length, (type, off, len) => {
    const v = p.subarray(off, off + len);
    switch (type) {
      case C.IFLA_IFNAME: l.name = cString(p, off, len); break;
      case C.IFLA_MTU: l.mtu = u32Of(v, 'IFLA_MTU'); break;
      case C.IFLA_ADDRESS: l.address = new Uint8Array(v); break;
      case C.IFLA_LINK: l.link = u32Of(v, 'IFLA_LINK'); break;
      case C.IFLA_MASTER: l.master = u32Of(v, 'IFLA_MASTER'); break;
      case C.IFLA_OPERSTATE: l.operstate = needLen(v, 1, 'IFLA_OPERSTATE')[0]; break;
      case C.IFLA_LINKINFO: decodeLinkInfo(v, l); break;
      default: break;
    }
  });
  return l;
}

function decodeLinkInfo(v: Buffer, l: LinkMsg): void {
  const info = attrMap(v, 0, v.length);
  const kind = info.get(C.IFLA_INFO_KIND);
  if (kind) l.kind = cString(kind, 0, kind.length);
  const data = info.get(C.IFLA_INFO_DATA);
  if (!data) return;
  const d = attrMap(data, 0, data.length);
  if (l.kind === 'vxlan') {
    const vx: VxlanInfo = { vni: u32Of(d.get(C.IFLA_VXLAN_ID) ?? Buffer.alloc(4), 'IFLA_VXLAN_ID') };
    const local = d.get(C.IFLA_VXLAN_LOCAL) ?? d.get(C.IFLA_VXLAN_LOCAL6);
    if (local) vx.local = addrOf(local, 'IFLA_VXLAN_LOCAL');
    const link = d.get(C.IFLA_VXLAN_LINK);
    if (link) vx.link = u32Of(link, 'IFLA_VXLAN_LINK');
    const port = d.get(C.IFLA_VXLAN_PORT);
    if (port) vx.port = needLen(port, 2, 'IFLA_VXLAN_PORT').readUInt16BE(0);
    const learning = d.get(C.IFLA_VXLAN_LEARNING);
    if (learning) vx.learning = needLen(learning, 1, 'IFLA_VXLAN_LEARNING')[0] !== 0;
    const ttl = d.get(C.IFLA_VXLAN_TTL);
    if (ttl) vx.ttl = needLen(ttl, 1, 'IFLA_VXLAN_TTL')[0];
    l.vxlan = vx;
  } else if (l.kind === 'ipip' || l.kind === 'sit' || l.kind === 'gre') {
    const t: IptunInfo = {};
    const link = d.get(C.IFLA_IPTUN_LINK);
    if (link) t.link = u32Of(link, 'IFLA_IPTUN_LINK');
    const local = d.get(C.IFLA_IPTUN_LOCAL);
    if (local) t.local = addrOf(local, 'IFLA_IPTUN_LOCAL');
    const remote = d.get(C.IFLA_IPTUN_REMOTE);
    if (remote) t.remote = addrOf(remote, 'IFLA_IPTUN_REMOTE');
    const ttl = d.get(C.IFLA_IPTUN_TTL);
    if (ttl) t.ttl = needLen(ttl, 1, 'IFLA_IPTUN_TTL')[0];
    const tos = d.get(C.IFLA_IPTUN_TOS);
    if (tos) t.tos = needLen(tos, 1, 'IFLA_IPTUN_TOS')[0];
    const pmtu = d.get(C.IFLA_IPTUN_PMTUDISC);
    if (pmtu) t.pmtudisc = needLen(pmtu, 1, 'IFLA_IPTUN_PMTUDISC')[0] !== 0;
    l.iptun = t;
  }
}

// ---------------------------------------------------------------------------------------------
// Addresses: struct ifaddrmsg (8 bytes) + IFA_*
// ---------------------------------------------------------------------------------------------

export interface AddressMsg {
  family: number;
  prefixLen: number;
  /** IFA_F_* (8 bits in the header; IFA_FLAGS carries all 32 when present). */
  flags: number;
  scope: number;
  index: number;
  /** IFA_LOCAL: the interface's own address (IPv4). */
  local?: Uint8Array;
  /** IFA_ADDRESS: the address (IPv6) or the peer address (IPv4 point-to-point; else = local). */
  address?: Uint8Array;
  broadcast?: Uint8Array;
  label?: string;
}

export function encodeAddress(a: AddressMsg): Buffer {
  const head = Buffer.alloc(C.IFADDRMSG_LEN);
  head[0] = a.family;
  head[1] = a.prefixLen;
  head[2] = a.flags & 0xff;
  head[3] = a.scope;
  head.writeUInt32LE(a.index >>> 0, 4);
  const w = new AttrWriter();
  if (a.local) w.raw(C.IFA_LOCAL, a.local);
  if (a.address) w.raw(C.IFA_ADDRESS, a.address);
  if (a.broadcast) w.raw(C.IFA_BROADCAST, a.broadcast);
  if (a.label !== undefined) w.str(C.IFA_LABEL, a.label);
  if (a.flags > 0xff) w.u32(C.IFA_FLAGS, a.flags);
  return w.length ? Buffer.concat([head, w.toBuffer()]) : head;
}

export function decodeAddress(p: Buffer): AddressMsg {
  if (p.length < C.IFADDRMSG_LEN) throw new NetlinkDecodeError(`ifaddrmsg of ${p.length} bytes, needs ${C.IFADDRMSG_LEN}`, 0);
  const a: AddressMsg = { family: p[0], prefixLen: p[1], flags: p[2], scope: p[3], index: p.readUInt32LE(4) };
  forEachAttr(p, C.IFADDRMSG_LEN, p.length, (type, off, len) => {
    const v = p.subarray(off, off + len);
    switch (type) {
      case C.IFA_LOCAL: a.local = addrOf(v, 'IFA_LOCAL'); break;
      case C.IFA_ADDRESS: a.address = addrOf(v, 'IFA_ADDRESS'); break;
      case C.IFA_BROADCAST: a.broadcast = addrOf(v, 'IFA_BROADCAST'); break;
      case C.IFA_LABEL: a.label = cString(p, off, len); break;
      case C.IFA_FLAGS: a.flags = u32Of(v, 'IFA_FLAGS'); break;
      default: break;
    }
  });
  return a;
}

// ---------------------------------------------------------------------------------------------
// Neighbours and FDB entries: struct ndmsg (12 bytes) + NDA_*
// ---------------------------------------------------------------------------------------------

export interface NeighbourMsg {
  /** AF_INET/AF_INET6 for ARP/ND entries; AF_BRIDGE for FDB entries. */
  family: number;
  ifindex: number;
  /** NUD_* state (NUD_PERMANENT for static entries). */
  state: number;
  /** NTF_* flags (NTF_SELF for a vxlan device's own FDB). */
  flags: number;
  type: number;
  /** NDA_DST: the neighbour's IP; for a vxlan FDB entry, the remote VTEP address. */
  dst?: Uint8Array;
  /** NDA_LLADDR: the MAC address. */
  lladdr?: Uint8Array;
  /** NDA_VNI (FDB on a vxlan device in collect-metadata mode). */
  vni?: number;
  /** NDA_PORT: VXLAN UDP port, network byte order on the wire. */
  port?: number;
  master?: number;
}

export function encodeNeighbour(n: NeighbourMsg): Buffer {
  const head = Buffer.alloc(C.NDMSG_LEN);
  head[0] = n.family;
  head.writeInt32LE(n.ifindex, 4);
  head.writeUInt16LE(n.state, 8);
  head[10] = n.flags;
  head[11] = n.type;
  const a = new AttrWriter();
  if (n.dst) a.raw(C.NDA_DST, n.dst);
  if (n.lladdr) a.raw(C.NDA_LLADDR, n.lladdr);
  if (n.vni !== undefined) a.u32(C.NDA_VNI, n.vni);
  if (n.port !== undefined) a.be16(C.NDA_PORT, n.port);
  if (n.master !== undefined) a.u32(C.NDA_MASTER, n.master);
  return a.length ? Buffer.concat([head, a.toBuffer()]) : head;
}

export function decodeNeighbour(p: Buffer): NeighbourMsg {
  if (p.length < C.NDMSG_LEN) throw new NetlinkDecodeError(`ndmsg of ${p.length} bytes, needs ${C.NDMSG_LEN}`, 0);
  const n: NeighbourMsg = { family: p[0], ifindex: p.readInt32LE(4), state: p.readUInt16LE(8), flags: p[10], type: p[11] };
  forEachAttr(p, C.NDMSG_LEN, p.length, (type, off, len) => {
    const v = p.subarray(off, off + len);
    switch (type) {
      case C.NDA_DST: n.dst = addrOf(v, 'NDA_DST'); break;
      case C.NDA_LLADDR: n.lladdr = new Uint8Array(v); break;
      case C.NDA_VNI: n.vni = u32Of(v, 'NDA_VNI'); break;
      case C.NDA_PORT: n.port = needLen(v, 2, 'NDA_PORT').readUInt16BE(0); break;
      case C.NDA_MASTER: n.master = u32Of(v, 'NDA_MASTER'); break;
      default: break;
    }
  });
  return n;
}

// ---------------------------------------------------------------------------------------------
// Small helpers for building requests
// ---------------------------------------------------------------------------------------------

/** A dump request payload for a family: the fixed header of the message type with only the family set. */
export function dumpRequestPayload(msgType: number, family: number): Buffer {
  switch (msgType) {
    case C.RTM_GETROUTE: return withFamily(C.RTMSG_LEN, family);
    case C.RTM_GETLINK: return withFamily(C.IFINFOMSG_LEN, family);
    case C.RTM_GETADDR: return withFamily(C.IFADDRMSG_LEN, family);
    case C.RTM_GETNEIGH: return withFamily(C.NDMSG_LEN, family);
    default: throw new NetlinkEncodeError('nlmsg_type', `${msgType} is not an rtnetlink GET type`);
  }
}

function withFamily(len: number, family: number): Buffer {
  const b = Buffer.alloc(len);
  b[0] = family;
  return b;
}
