// Reads BGP sessions out of packet captures for `nexthop decode` and the fixture tools: the
// classic libpcap file format (both byte orders, microsecond and nanosecond timestamps), link
// types Ethernet (with 802.1Q/802.1ad tags), Linux cooked SLL and SLL2, raw IP and BSD loopback;
// IPv4 (RFC 791) and IPv6 (RFC 8200, extension headers skipped) carrying TCP (RFC 9293) to or
// from port 179 (RFC 4271 §8.2.1: BGP runs over TCP port 179). TCP payload is reassembled per
// direction by sequence number: retransmitted and overlapping bytes are dropped, out-of-order
// segments are held until the gap is filled. The reassembled byte streams are split into BGP
// messages by the header's length field (RFC 4271 §4.1); no BGP decoding happens here.
// Pure functions over Buffers: no I/O.

export class PcapError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'PcapError';
  }
}

/** Link-layer header types (https://www.tcpdump.org/linktypes.html). */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LINUX_SLL: 113,
  LINUX_SLL2: 276,
  // Some platforms write raw IP as DLT 12 or 14.
  RAW_ALT12: 12,
  RAW_ALT14: 14,
  IPV4: 228,
  IPV6: 229,
} as const;

export interface PcapRecord {
  /** Seconds since the epoch. */
  sec: number;
  /** Nanoseconds within the second (microsecond files are scaled). */
  nsec: number;
  /** Captured bytes of the frame. */
  data: Buffer;
  /** The frame's length on the wire (may exceed data.length when the capture was truncated). */
  originalLength: number;
}

export interface PcapFile {
  linkType: number;
  nanosecond: boolean;
  littleEndian: boolean;
  snapLength: number;
  /** The complete records, in file order. */
  records: PcapRecord[];
  /**
   * Set when the file ends inside a record (tcpdump killed mid-write): what was cut and where.
   * `records` then holds every complete record before it.
   */
  truncated?: PcapTruncation;
}

/** A last record cut short: its offset in the file and an operator-readable explanation. */
export interface PcapTruncation {
  field: 'pcap record header' | 'pcap record';
  offset: number;
  message: string;
}

const MAGIC_USEC = 0xa1b2c3d4;
const MAGIC_NSEC = 0xa1b23c4d;
const MAGIC_PCAPNG = 0x0a0d0d0a;

/** True when `buf` starts with a classic pcap magic number (either byte order, either precision). */
export function isPcap(buf: Uint8Array): boolean {
  if (buf.length < 4) return false;
  const b = Buffer.from(buf.buffer, buf.byteOffset, 4);
  const be = b.readUInt32BE(0);
  const le = b.readUInt32LE(0);
  return [MAGIC_USEC, MAGIC_NSEC].includes(be) || [MAGIC_USEC, MAGIC_NSEC].includes(le);
}

/** True when `buf` starts like a pcapng file (Section Header Block). */
export function isPcapng(buf: Uint8Array): boolean {
  return buf.length >= 4 && Buffer.from(buf.buffer, buf.byteOffset, 4).readUInt32BE(0) === MAGIC_PCAPNG;
}

/**
 * Parses a classic pcap file. A truncated last record (the capture was killed while writing)
 * does not lose the complete records before it: they are returned, with `truncated` naming the
 * offset where the file stops making sense. A bad file header is an error.
 */
export function readPcap(buf: Buffer): PcapFile {
  if (isPcapng(buf)) {
    throw new PcapError('pcap magic', 'this is a pcapng file; write classic pcap (tcpdump -w does) or convert it: editcap -F pcap IN OUT');
  }
  if (buf.length < 24) throw new PcapError('pcap header', `file too short for a pcap header: ${buf.length} bytes, need 24`);
  let littleEndian: boolean;
  let nanosecond: boolean;
  const be = buf.readUInt32BE(0);
  const le = buf.readUInt32LE(0);
  if (be === MAGIC_USEC || be === MAGIC_NSEC) { littleEndian = false; nanosecond = be === MAGIC_NSEC; }
  else if (le === MAGIC_USEC || le === MAGIC_NSEC) { littleEndian = true; nanosecond = le === MAGIC_NSEC; }
  else throw new PcapError('pcap magic', `not a pcap file: magic 0x${be.toString(16).padStart(8, '0')}`);
  const u16 = (o: number): number => (littleEndian ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number): number => (littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const major = u16(4);
  if (major !== 2) throw new PcapError('pcap version', `unsupported pcap version ${major}.${u16(6)} (need 2.x)`);
  const snapLength = u32(16);
  // The link type is the low 16 bits; the upper bits may carry FCS information.
  const linkType = u32(20) & 0xffff;
  const records: PcapRecord[] = [];
  let off = 24;
  while (off < buf.length) {
    if (off + 16 > buf.length) {
      const truncated: PcapTruncation = {
        field: 'pcap record header', offset: off,
        message: `truncated record header at offset ${off}: ${buf.length - off} of 16 bytes; ${records.length} complete record(s) read before it`,
      };
      return { linkType, nanosecond, littleEndian, snapLength, records, truncated };
    }
    const sec = u32(off);
    const frac = u32(off + 4);
    const inclLen = u32(off + 8);
    const origLen = u32(off + 12);
    if (off + 16 + inclLen > buf.length) {
      const truncated: PcapTruncation = {
        field: 'pcap record', offset: off,
        message: `truncated record at offset ${off}: it says ${inclLen} bytes but only ${buf.length - off - 16} remain; ${records.length} complete record(s) read before it`,
      };
      return { linkType, nanosecond, littleEndian, snapLength, records, truncated };
    }
    if (!nanosecond && frac >= 1_000_000) throw new PcapError('pcap timestamp', `record at offset ${off}: microseconds ${frac} out of range`);
    records.push({ sec, nsec: nanosecond ? frac : frac * 1000, data: buf.subarray(off + 16, off + 16 + inclLen), originalLength: origLen });
    off += 16 + inclLen;
  }
  return { linkType, nanosecond, littleEndian, snapLength, records };
}

export interface TcpSegment {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  syn: boolean;
  /** The ACK flag (a SYN without it opens a connection; with it, answers one). */
  ackFlag: boolean;
  fin: boolean;
  rst: boolean;
  payload: Buffer;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = [0x8100, 0x88a8, 0x9100];

function formatV4(b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

function formatV6(b: Buffer, o: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(b.readUInt16BE(o + i * 2));
  // RFC 5952 §4.2: the longest run (≥ 2) of zero words becomes "::", the first one on a tie.
  let bestStart = -1; let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Finds the IP packet inside a frame of `linkType`; returns [ethertype, offset] or null. */
function ipPayload(linkType: number, f: Buffer): [number, number] | null {
  switch (linkType) {
    case LinkType.ETHERNET: {
      if (f.length < 14) return null;
      let type = f.readUInt16BE(12);
      let off = 14;
      while (ETHERTYPE_VLAN.includes(type)) {
        if (f.length < off + 4) return null;
        type = f.readUInt16BE(off + 2);
        off += 4;
      }
      return [type, off];
    }
    case LinkType.LINUX_SLL:
      // 2 packet type, 2 ARPHRD, 2 address length, 8 address, 2 protocol.
      return f.length < 16 ? null : [f.readUInt16BE(14), 16];
    case LinkType.LINUX_SLL2:
      // 2 protocol, 2 reserved, 4 ifindex, 2 ARPHRD, 1 packet type, 1 address length, 8 address.
      return f.length < 20 ? null : [f.readUInt16BE(0), 20];
    case LinkType.RAW: case LinkType.RAW_ALT12: case LinkType.RAW_ALT14: {
      if (f.length < 1) return null;
      const v = f[0] >> 4;
      return v === 4 ? [ETHERTYPE_IPV4, 0] : v === 6 ? [ETHERTYPE_IPV6, 0] : null;
    }
    case LinkType.IPV4: return [ETHERTYPE_IPV4, 0];
    case LinkType.IPV6: return [ETHERTYPE_IPV6, 0];
    case LinkType.NULL: {
      if (f.length < 4) return null;
      // The address family in host byte order of the capturing machine: 2 is IPv4; 24, 28, 30 IPv6.
      const fam = f[0] !== 0 ? f[0] : f[3];
      return fam === 2 ? [ETHERTYPE_IPV4, 4] : [24, 28, 30].includes(fam) ? [ETHERTYPE_IPV6, 4] : null;
    }
    default:
      throw new PcapError('pcap link type', `unsupported link type ${linkType} (supported: Ethernet 1, raw IP 101, Linux SLL 113, SLL2 276, null 0)`);
  }
}

/**
 * Extracts the TCP segment from one captured frame, or null when the frame is not an unfragmented
 * IPv4/IPv6 TCP packet (ARP, UDP, fragments, truncated frames are skipped).
 */
export function parseFrame(linkType: number, frame: Buffer): TcpSegment | null {
  const ip = ipPayload(linkType, frame);
  if (!ip) return null;
  const [ethertype, off] = ip;
  let src: string; let dst: string; let tcpOff: number; let tcpEnd: number;
  if (ethertype === ETHERTYPE_IPV4) {
    if (frame.length < off + 20 || frame[off] >> 4 !== 4) return null;
    const ihl = (frame[off] & 0x0f) * 4;
    const total = frame.readUInt16BE(off + 2);
    const fragment = frame.readUInt16BE(off + 6);
    if ((fragment & 0x3fff) !== 0) return null; // RFC 791: MF set or non-zero offset → a fragment
    if (frame[off + 9] !== 6 || ihl < 20) return null;
    src = formatV4(frame, off + 12);
    dst = formatV4(frame, off + 16);
    tcpOff = off + ihl;
    // total 0 happens with TSO captures on the sending host; the frame end is the packet end.
    tcpEnd = total === 0 ? frame.length : Math.min(frame.length, off + total);
  } else if (ethertype === ETHERTYPE_IPV6) {
    if (frame.length < off + 40 || frame[off] >> 4 !== 6) return null;
    const payloadLen = frame.readUInt16BE(off + 4);
    let next = frame[off + 6];
    src = formatV6(frame, off + 8);
    dst = formatV6(frame, off + 24);
    let p = off + 40;
    // RFC 8200 §4: hop-by-hop (0), routing (43), destination options (60) are skipped;
    // a fragment header (44) means a fragment, which we do not reassemble.
    for (let i = 0; i < 8 && [0, 43, 60].includes(next); i++) {
      if (frame.length < p + 2) return null;
      next = frame[p];
      p += (frame[p + 1] + 1) * 8;
    }
    if (next !== 6) return null;
    tcpOff = p;
    tcpEnd = payloadLen === 0 ? frame.length : Math.min(frame.length, off + 40 + payloadLen);
  } else {
    return null;
  }
  if (tcpEnd < tcpOff + 20) return null;
  const dataOff = (frame[tcpOff + 12] >> 4) * 4;
  if (dataOff < 20 || tcpOff + dataOff > tcpEnd) return null;
  const flags = frame[tcpOff + 13];
  return {
    src, dst,
    srcPort: frame.readUInt16BE(tcpOff),
    dstPort: frame.readUInt16BE(tcpOff + 2),
    seq: frame.readUInt32BE(tcpOff + 4),
    ack: frame.readUInt32BE(tcpOff + 8),
    syn: (flags & 0x02) !== 0,
    ackFlag: (flags & 0x10) !== 0,
    fin: (flags & 0x01) !== 0,
    rst: (flags & 0x04) !== 0,
    payload: frame.subarray(tcpOff + dataOff, tcpEnd),
  };
}

/** Signed distance a - b in 32-bit sequence space (RFC 9293 §3.4 modular comparison). */
function seqDiff(a: number, b: number): number {
  return ((a - b) | 0);
}

/**
 * Reassembles one direction of a TCP connection. Bytes before the next expected sequence number
 * (retransmissions, overlaps) are dropped; segments after it wait until the gap is filled.
 */
export class TcpStreamReassembler {
  private next: number | null = null;
  private pending = new Map<number, Buffer>();
  /** Bytes of segments that arrived again after they had been delivered. */
  retransmittedBytes = 0;

  /** Feeds one segment; returns the bytes that became contiguous (possibly none). */
  push(seg: { seq: number; syn: boolean; payload: Buffer }): Buffer[] {
    let seq = seg.seq;
    if (seg.syn) {
      // RFC 9293 §3.4: the SYN occupies one sequence number; data starts at ISN + 1.
      seq = (seq + 1) >>> 0;
      if (this.next === null) this.next = seq;
    }
    if (seg.payload.length === 0) return [];
    if (this.next === null) this.next = seq; // capture started mid-connection
    const out: Buffer[] = [];
    this.accept(seq, seg.payload, out);
    // Deliver whatever waiting segment now continues the stream.
    for (let guard = 0; guard < 100000 && this.pending.size > 0; guard++) {
      let progressed = false;
      for (const [s, data] of this.pending) {
        if (seqDiff(s, this.next!) <= 0) {
          this.pending.delete(s);
          this.accept(s, data, out);
          progressed = true;
        }
      }
      if (!progressed) break;
    }
    return out;
  }

  /** Bytes held back behind a gap (never delivered if the gap is never filled). */
  get bufferedBytes(): number {
    let n = 0;
    for (const b of this.pending.values()) n += b.length;
    return n;
  }

  private accept(seq: number, data: Buffer, out: Buffer[]): void {
    const d = seqDiff(seq, this.next!);
    if (d > 0) {
      const prev = this.pending.get(seq);
      if (!prev || prev.length < data.length) this.pending.set(seq, data);
      return;
    }
    const skip = -d;
    if (skip >= data.length) {
      this.retransmittedBytes += data.length;
      return;
    }
    this.retransmittedBytes += skip;
    const fresh = data.subarray(skip);
    out.push(fresh);
    this.next = (this.next! + fresh.length) >>> 0;
  }
}

/**
 * Splits a byte stream into BGP messages using the length field of the RFC 4271 §4.1 header.
 * A length outside 19..65535 cannot be framed: the rest of the stream is returned as one
 * unframeable chunk so that the decoder can report the header error.
 */
export class BgpStreamSplitter {
  private buf: Buffer = Buffer.alloc(0);
  private broken = false;

  push(chunk: Buffer): Buffer[] {
    if (this.broken) return [];
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    const out: Buffer[] = [];
    while (this.buf.length >= 19) {
      const len = this.buf.readUInt16BE(16);
      if (len < 19) {
        out.push(this.buf);
        this.buf = Buffer.alloc(0);
        this.broken = true;
        break;
      }
      if (this.buf.length < len) break;
      out.push(this.buf.subarray(0, len));
      this.buf = this.buf.subarray(len);
    }
    return out;
  }

  /** Bytes of an incomplete message left at the end of the stream. */
  get leftover(): Buffer {
    return this.buf;
  }
}

export interface Endpoint {
  address: string;
  port: number;
}

/** One BGP message found in a capture. */
export interface CapturedMessage {
  /** Index of the TCP connection in order of first appearance (0, 1, ...). */
  connection: number;
  src: Endpoint;
  dst: Endpoint;
  /**
   * 'client->server' when sent by the side that opened the connection (sent the SYN or, when
   * the capture has no SYN, the side not on port 179), 'server->client' otherwise.
   */
  direction: 'client->server' | 'server->client';
  /** Capture time of the segment that completed the message. */
  sec: number;
  nsec: number;
  bytes: Buffer;
}

export interface CaptureWarning {
  connection: number;
  message: string;
}

export interface CaptureResult {
  linkType: number;
  messages: CapturedMessage[];
  warnings: CaptureWarning[];
  /** The file ends inside a record: the messages are those of the complete records before it. */
  truncated?: PcapTruncation;
}

function fmtEndpoint(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** Text form "a.b.c.d:port" or "[v6]:port". */
export function endpointText(e: Endpoint): string {
  return fmtEndpoint(e);
}

interface Direction {
  src: Endpoint;
  dst: Endpoint;
  reassembler: TcpStreamReassembler;
  splitter: BgpStreamSplitter;
}

interface Connection {
  index: number;
  client: Endpoint | null;
  dirs: Map<string, Direction>;
  sawData: boolean;
  closed: boolean;
}

/**
 * Every BGP message (TCP port 179, either end) in a pcap file, in capture order, reassembled per
 * TCP connection and direction. A new SYN on the same address/port 4-tuple starts a new
 * connection.
 */
export function bgpMessagesFromPcap(buf: Buffer, port = 179): CaptureResult {
  const file = readPcap(buf);
  const messages: CapturedMessage[] = [];
  const warnings: CaptureWarning[] = [];
  const conns = new Map<string, Connection>();
  const all: Connection[] = [];
  for (const rec of file.records) {
    const seg = parseFrame(file.linkType, rec.data);
    if (!seg || (seg.srcPort !== port && seg.dstPort !== port)) continue;
    const a = fmtEndpoint({ address: seg.src, port: seg.srcPort });
    const b = fmtEndpoint({ address: seg.dst, port: seg.dstPort });
    const key = a < b ? `${a}|${b}` : `${b}|${a}`;
    let conn = conns.get(key);
    const opening = seg.syn && !seg.ackFlag;
    // A SYN on a known 4-tuple after data or a close starts a new connection (a reconnect).
    if (conn && opening && (conn.sawData || conn.closed)) conn = undefined;
    if (!conn) {
      conn = { index: all.length, client: null, dirs: new Map(), sawData: false, closed: false };
      conns.set(key, conn);
      all.push(conn);
    }
    if (seg.payload.length > 0) conn.sawData = true;
    if (seg.fin || seg.rst) conn.closed = true;
    if (conn.client === null) {
      if (seg.syn) {
        // RFC 9293 §3.5: the SYN comes from the side that opens; the SYN-ACK answers it.
        conn.client = opening ? { address: seg.src, port: seg.srcPort } : { address: seg.dst, port: seg.dstPort };
      } else if (seg.payload.length > 0) {
        // No handshake captured: the side not on the BGP port dialled.
        conn.client = seg.dstPort === port ? { address: seg.src, port: seg.srcPort } : { address: seg.dst, port: seg.dstPort };
      }
    }
    const dkey = `${a}>${b}`;
    let dir = conn.dirs.get(dkey);
    if (!dir) {
      dir = {
        src: { address: seg.src, port: seg.srcPort },
        dst: { address: seg.dst, port: seg.dstPort },
        reassembler: new TcpStreamReassembler(),
        splitter: new BgpStreamSplitter(),
      };
      conn.dirs.set(dkey, dir);
    }
    for (const chunk of dir.reassembler.push(seg)) {
      for (const msg of dir.splitter.push(chunk)) {
        const fromClient = conn.client !== null && fmtEndpoint(conn.client) === a;
        messages.push({
          connection: conn.index,
          src: dir.src, dst: dir.dst,
          direction: fromClient ? 'client->server' : 'server->client',
          sec: rec.sec, nsec: rec.nsec,
          bytes: Buffer.from(msg),
        });
      }
    }
  }
  for (const conn of all) {
    for (const d of conn.dirs.values()) {
      const what = `${fmtEndpoint(d.src)} -> ${fmtEndpoint(d.dst)}`;
      if (d.reassembler.bufferedBytes > 0) {
        warnings.push({ connection: conn.index, message: `${what}: ${d.reassembler.bufferedBytes} bytes after a gap in the TCP stream were never delivered (lost segment not captured)` });
      }
      if (d.splitter.leftover.length > 0) {
        warnings.push({ connection: conn.index, message: `${what}: stream ends inside a BGP message (${d.splitter.leftover.length} bytes left over)` });
      }
    }
  }
  return file.truncated
    ? { linkType: file.linkType, messages, warnings, truncated: file.truncated }
    : { linkType: file.linkType, messages, warnings };
}
