// The pcap reader and TCP reassembly of src/cli/pcap.ts: classic libpcap files in both byte
// orders and both timestamp precisions, link types Ethernet (with 802.1Q), Linux SLL, SLL2, raw
// IP; IPv4 and IPv6 TCP on port 179 (RFC 4271 §8.2.1); reassembly per direction by sequence
// number (RFC 9293 §3.4, including wrap-around) through retransmissions, overlaps, reordering
// and gaps. Frames are built here byte by byte; real tcpdump captures come from proto-fixtures/.
import { expect } from 'chai';
import * as fs from 'fs';
import { repoPath } from '../../helpers/repo';
import {
  bgpMessagesFromPcap, isPcap, isPcapng, LinkType, parseFrame, PcapError, readPcap, TcpStreamReassembler, BgpStreamSplitter,
} from '../../../src/cli/pcap';

// ---- builders --------------------------------------------------------------------------------

function bgp(type: number, body: number[] = []): Buffer {
  const b = Buffer.alloc(19 + body.length, 0xff);
  b.writeUInt16BE(19 + body.length, 16);
  b[18] = type;
  Buffer.from(body).copy(b, 19);
  return b;
}
const KEEPALIVE = bgp(4);
const UPDATE_EOR = bgp(2, [0, 0, 0, 0]);
const NOTIFICATION = bgp(3, [6, 2]);

interface Seg { src: string; dst: string; sport: number; dport: number; seq: number; flags?: number; payload?: Buffer }
const SYN = 0x02; const ACK = 0x10; const FIN = 0x01;

function v4(a: string): Buffer { return Buffer.from(a.split('.').map(Number)); }
function v6(a: string): Buffer {
  const [head, tail] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const words = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16), i * 2));
  return b;
}

function tcp(s: Seg): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(s.sport, 0); h.writeUInt16BE(s.dport, 2);
  h.writeUInt32BE(s.seq >>> 0, 4); h.writeUInt32BE(1, 8);
  h[12] = 5 << 4; h[13] = s.flags ?? ACK; h.writeUInt16BE(65535, 14);
  return Buffer.concat([h, s.payload ?? Buffer.alloc(0)]);
}

function ipPacket(s: Seg): Buffer {
  const t = tcp(s);
  if (s.src.includes(':')) {
    const h = Buffer.alloc(40);
    h[0] = 0x60; h.writeUInt16BE(t.length, 4); h[6] = 6; h[7] = 64;
    v6(s.src).copy(h, 8); v6(s.dst).copy(h, 24);
    return Buffer.concat([h, t]);
  }
  const h = Buffer.alloc(20);
  h[0] = 0x45; h.writeUInt16BE(20 + t.length, 2); h[8] = 64; h[9] = 6;
  v4(s.src).copy(h, 12); v4(s.dst).copy(h, 16);
  return Buffer.concat([h, t]);
}

function frame(linkType: number, s: Seg, vlan = false): Buffer {
  const ip = ipPacket(s);
  const ethertype = s.src.includes(':') ? 0x86dd : 0x0800;
  switch (linkType) {
    case LinkType.ETHERNET: {
      const tag = vlan ? Buffer.from([0x81, 0x00, 0x00, 0x64]) : Buffer.alloc(0);
      const et = Buffer.alloc(2); et.writeUInt16BE(ethertype);
      return Buffer.concat([Buffer.alloc(12, 0x02), tag, et, ip]);
    }
    case LinkType.LINUX_SLL: {
      const h = Buffer.alloc(16); h.writeUInt16BE(ethertype, 14);
      return Buffer.concat([h, ip]);
    }
    case LinkType.LINUX_SLL2: {
      const h = Buffer.alloc(20); h.writeUInt16BE(ethertype, 0);
      return Buffer.concat([h, ip]);
    }
    default: return ip;
  }
}

interface PcapOpts { linkType?: number; bigEndian?: boolean; nano?: boolean; vlan?: boolean }

function pcapFile(segs: Seg[], o: PcapOpts = {}): Buffer {
  const lt = o.linkType ?? LinkType.ETHERNET;
  const w32 = (b: Buffer, v: number, off: number): void => { if (o.bigEndian) b.writeUInt32BE(v >>> 0, off); else b.writeUInt32LE(v >>> 0, off); };
  const w16 = (b: Buffer, v: number, off: number): void => { if (o.bigEndian) b.writeUInt16BE(v, off); else b.writeUInt16LE(v, off); };
  const hdr = Buffer.alloc(24);
  w32(hdr, o.nano ? 0xa1b23c4d : 0xa1b2c3d4, 0); w16(hdr, 2, 4); w16(hdr, 4, 6); w32(hdr, 262144, 16); w32(hdr, lt, 20);
  const parts: Buffer[] = [hdr];
  segs.forEach((s, i) => {
    const f = frame(lt, s, o.vlan);
    const r = Buffer.alloc(16);
    w32(r, 1795262400 + i, 0); w32(r, o.nano ? 123456789 : 123456, 4); w32(r, f.length, 8); w32(r, f.length, 12);
    parts.push(r, f);
  });
  return Buffer.concat(parts);
}

const C = { src: '10.9.0.1', dst: '10.9.0.2', sport: 40000, dport: 179 };
const S = { src: '10.9.0.2', dst: '10.9.0.1', sport: 179, dport: 40000 };

/** A session: handshake, then the client sends `fromClient`, the server `fromServer`, one message per segment. */
function session(fromClient: Buffer[], fromServer: Buffer[], isnC = 1000, isnS = 5000, ends = { c: C, s: S }): Seg[] {
  const segs: Seg[] = [
    { ...ends.c, seq: isnC, flags: SYN },
    { ...ends.s, seq: isnS, flags: SYN | ACK },
  ];
  let sc = isnC + 1; let ss = isnS + 1;
  const n = Math.max(fromClient.length, fromServer.length);
  for (let i = 0; i < n; i++) {
    if (fromClient[i]) { segs.push({ ...ends.c, seq: sc, payload: fromClient[i] }); sc += fromClient[i].length; }
    if (fromServer[i]) { segs.push({ ...ends.s, seq: ss, payload: fromServer[i] }); ss += fromServer[i].length; }
  }
  return segs;
}

function payloads(buf: Buffer): string[] {
  return bgpMessagesFromPcap(buf).messages.map((m) => `${m.direction} ${m.bytes.toString('hex')}`);
}

// ---- tests -----------------------------------------------------------------------------------

describe('cli/pcap: file format', () => {
  const segs = session([KEEPALIVE, UPDATE_EOR], [KEEPALIVE, NOTIFICATION]);
  const expected = payloads(pcapFile(segs));

  it('finds the messages of a plain little-endian microsecond Ethernet capture', () => {
    expect(expected).to.deep.equal([
      `client->server ${KEEPALIVE.toString('hex')}`, `server->client ${KEEPALIVE.toString('hex')}`,
      `client->server ${UPDATE_EOR.toString('hex')}`, `server->client ${NOTIFICATION.toString('hex')}`,
    ]);
  });

  it('reads big-endian files and nanosecond files the same', () => {
    expect(payloads(pcapFile(segs, { bigEndian: true }))).to.deep.equal(expected);
    expect(payloads(pcapFile(segs, { nano: true, bigEndian: true }))).to.deep.equal(expected);
    const us = readPcap(pcapFile(segs)).records[0];
    const ns = readPcap(pcapFile(segs, { nano: true })).records[0];
    expect([us.sec, us.nsec]).to.deep.equal([1795262400, 123456000]);
    expect([ns.sec, ns.nsec]).to.deep.equal([1795262400, 123456789]);
    expect(readPcap(pcapFile(segs, { bigEndian: true })).littleEndian).to.equal(false);
  });

  for (const [name, lt] of [['Linux SLL', LinkType.LINUX_SLL], ['Linux SLL2', LinkType.LINUX_SLL2], ['raw IP', LinkType.RAW]] as const) {
    it(`reads link type ${name} (${lt})`, () => {
      expect(payloads(pcapFile(segs, { linkType: lt }))).to.deep.equal(expected);
    });
  }

  it('skips 802.1Q VLAN tags', () => {
    expect(payloads(pcapFile(segs, { vlan: true }))).to.deep.equal(expected);
  });

  it('reads IPv6 and prints addresses canonically', () => {
    const c6 = { src: '2001:db8::1', dst: '2001:db8::2', sport: 40001, dport: 179 };
    const s6 = { src: '2001:db8::2', dst: '2001:db8::1', sport: 179, dport: 40001 };
    const cap = bgpMessagesFromPcap(pcapFile(session([KEEPALIVE], [KEEPALIVE], 1, 2, { c: c6, s: s6 })));
    expect(cap.messages.map((m) => [m.src.address, m.src.port, m.dst.address, m.direction])).to.deep.equal([
      ['2001:db8::1', 40001, '2001:db8::2', 'client->server'],
      ['2001:db8::2', 179, '2001:db8::1', 'server->client'],
    ]);
  });

  it('recognises the magic numbers, and refuses what it cannot read with a precise error', () => {
    expect(isPcap(pcapFile(segs))).to.equal(true);
    expect(isPcap(pcapFile(segs, { bigEndian: true, nano: true }))).to.equal(true);
    expect(isPcap(KEEPALIVE)).to.equal(false);
    const ng = Buffer.from('0a0d0d0a1c0000004d3c2b1a', 'hex');
    expect(isPcapng(ng)).to.equal(true);
    expect(() => readPcap(ng)).to.throw(PcapError, /pcapng/);
    expect(() => readPcap(Buffer.alloc(10))).to.throw(PcapError, /too short/);
    const whole = readPcap(pcapFile(segs));
    expect(whole.truncated).to.equal(undefined);
    // A cut inside the last record header, or inside the last record's bytes (tcpdump killed
    // while writing): every complete record is kept and the cut is named with its offset.
    const cutHeader = readPcap(Buffer.concat([pcapFile(segs), Buffer.alloc(5)]));
    expect(cutHeader.records.length).to.equal(whole.records.length);
    expect(cutHeader.truncated).to.include({ field: 'pcap record header', offset: pcapFile(segs).length });
    expect(cutHeader.truncated!.message).to.match(/truncated record header at offset \d+: 5 of 16 bytes/);
    const cut = pcapFile(segs);
    const cutRecord = readPcap(cut.subarray(0, cut.length - 3));
    expect(cutRecord.records.length).to.equal(whole.records.length - 1);
    expect(cutRecord.records).to.deep.equal(whole.records.slice(0, -1));
    expect(cutRecord.truncated!.field).to.equal('pcap record');
    expect(cutRecord.truncated!.message).to.match(/remain/);
    const badLink = pcapFile(segs); badLink.writeUInt32LE(147, 20);
    expect(() => bgpMessagesFromPcap(badLink)).to.throw(PcapError, /link type 147/);
  });

  it('ignores non-TCP, non-BGP and fragmented packets', () => {
    const other = { src: '10.9.0.1', dst: '10.9.0.2', sport: 40000, dport: 80, seq: 1, payload: KEEPALIVE };
    const buf = pcapFile([...segs, other]);
    expect(payloads(buf)).to.deep.equal(expected);
    const frag = frame(LinkType.ETHERNET, { ...C, seq: 1, payload: KEEPALIVE });
    frag.writeUInt16BE(0x2000, 14 + 6); // More Fragments
    expect(parseFrame(LinkType.ETHERNET, frag)).to.equal(null);
    const udp = frame(LinkType.ETHERNET, { ...C, seq: 1, payload: KEEPALIVE });
    udp[14 + 9] = 17;
    expect(parseFrame(LinkType.ETHERNET, udp)).to.equal(null);
  });
});

describe('cli/pcap: TCP reassembly', () => {
  const big = bgp(2, [0, 0, 0, 7, 0x40, 1, 1, 0, 0x40, 2, 0, 0x18, 10, 1, 2]);
  const stream = Buffer.concat([KEEPALIVE, big, UPDATE_EOR, KEEPALIVE]);
  const want = [KEEPALIVE, big, UPDATE_EOR, KEEPALIVE].map((b) => b.toString('hex'));

  function run(segs: Seg[]): string[] {
    return bgpMessagesFromPcap(pcapFile(segs)).messages.map((m) => m.bytes.toString('hex'));
  }
  function pieces(sizes: number[], isn = 1000): Seg[] {
    const out: Seg[] = [{ ...C, seq: isn, flags: SYN }];
    let p = 0;
    for (const n of sizes) {
      out.push({ ...C, seq: isn + 1 + p, payload: stream.subarray(p, p + n) });
      p += n;
    }
    return out;
  }

  it('joins messages split across segments and splits segments holding several messages', () => {
    expect(run(pieces([7, 30, 1, stream.length - 38]))).to.deep.equal(want);
    expect(run(pieces([stream.length]))).to.deep.equal(want);
    expect(run(pieces(Array(stream.length).fill(1)))).to.deep.equal(want);
  });

  it('drops retransmitted and overlapping bytes', () => {
    const segs = pieces([10, 20, 30, stream.length - 60]);
    const dup = [segs[0], segs[1], segs[2], segs[1], segs[2], segs[3], segs[4], segs[3]];
    expect(run(dup)).to.deep.equal(want);
    // A retransmission that overlaps the old data and carries new data past it.
    const overlap: Seg[] = [segs[0], { ...C, seq: 1001, payload: stream.subarray(0, 25) }, { ...C, seq: 1001 + 15, payload: stream.subarray(15) }];
    expect(run(overlap)).to.deep.equal(want);
  });

  it('holds out-of-order segments until the gap is filled', () => {
    const segs = pieces([10, 20, 30, stream.length - 60]);
    expect(run([segs[0], segs[3], segs[4], segs[2], segs[1]])).to.deep.equal(want);
  });

  it('handles sequence numbers that wrap around 2^32', () => {
    expect(run(pieces([5, 40, stream.length - 45], 0xfffffff0))).to.deep.equal(want);
    const r = new TcpStreamReassembler();
    r.push({ seq: 0xffffffff, syn: true, payload: Buffer.alloc(0) });
    expect(Buffer.concat(r.push({ seq: 0, syn: false, payload: Buffer.from('ab') }))).to.deep.equal(Buffer.from('ab'));
    expect(Buffer.concat(r.push({ seq: 0, syn: false, payload: Buffer.from('ab') })).length).to.equal(0);
    expect(r.retransmittedBytes).to.equal(2);
  });

  it('starts mid-stream when the capture has no handshake (the non-179 side is the client)', () => {
    const segs = pieces([stream.length]).slice(1);
    const cap = bgpMessagesFromPcap(pcapFile(segs));
    expect(cap.messages.map((m) => m.bytes.toString('hex'))).to.deep.equal(want);
    expect(cap.messages.every((m) => m.direction === 'client->server')).to.equal(true);
  });

  it('warns about a gap never filled and a message cut off at the end', () => {
    const segs = pieces([19, 20, stream.length - 39]);
    const cap = bgpMessagesFromPcap(pcapFile([segs[0], segs[1], segs[3]]));
    expect(cap.messages.map((m) => m.bytes.toString('hex'))).to.deep.equal([want[0]]);
    expect(cap.warnings.map((w) => w.message).join('\n')).to.match(/after a gap/);
    const cut = bgpMessagesFromPcap(pcapFile(pieces([19, 10])));
    expect(cut.warnings.map((w) => w.message).join('\n')).to.match(/ends inside a BGP message \(10 bytes/);
  });

  it('numbers connections and starts a new one on a SYN after the old one closed', () => {
    const first = session([KEEPALIVE], [KEEPALIVE]);
    const fin: Seg = { ...C, seq: 1001 + 19, flags: FIN | ACK };
    const second = session([UPDATE_EOR], [], 9000, 9500);
    const cap = bgpMessagesFromPcap(pcapFile([...first, fin, ...second]));
    expect(cap.messages.map((m) => m.connection)).to.deep.equal([0, 0, 1]);
    expect(cap.messages[2].bytes.equals(UPDATE_EOR)).to.equal(true);
  });

  it('passes an unframeable stream (Length < 19) on whole for the decoder to report', () => {
    const s = new BgpStreamSplitter();
    const bad = Buffer.from(KEEPALIVE); bad.writeUInt16BE(5, 16);
    const out = s.push(Buffer.concat([KEEPALIVE, bad, KEEPALIVE]));
    expect(out.length).to.equal(2);
    expect(out[1].length).to.equal(38);
    expect(s.push(KEEPALIVE)).to.deep.equal([]);
  });
});

describe('cli/pcap: real tcpdump captures (proto-fixtures/pcap/)', () => {
  const dir = repoPath('proto-fixtures', 'pcap');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.pcap')) : [];

  it('exist, with Ethernet, SLL and SLL2 link types and a nanosecond one', () => {
    const types = files.map((f) => readPcap(fs.readFileSync(`${dir}/${f}`)).linkType);
    expect(types).to.include.members([LinkType.ETHERNET, LinkType.LINUX_SLL, LinkType.LINUX_SLL2]);
    expect(files.some((f) => readPcap(fs.readFileSync(`${dir}/${f}`)).nanosecond)).to.equal(true);
  });

  it('a real capture cut inside its last record keeps every message of the complete records', () => {
    const full = fs.readFileSync(`${dir}/bird-frr-ethernet.pcap`);
    const all = bgpMessagesFromPcap(full);
    expect(all.truncated).to.equal(undefined);
    const file = readPcap(full);
    // Cut 7 bytes into the last record's data: its 16-byte header is whole, its frame is not.
    let lastOffset = 24;
    for (let i = 0; i < file.records.length - 1; i++) lastOffset += 16 + file.records[i].data.length;
    const cut = bgpMessagesFromPcap(full.subarray(0, lastOffset + 16 + 7));
    expect(cut.truncated).to.include({ field: 'pcap record', offset: lastOffset });
    expect(cut.messages.length).to.be.greaterThan(5);
    // Every message decoded from the cut file is the same as in the whole file, in order.
    expect(cut.messages.map((m) => m.bytes.toString('hex')))
      .to.deep.equal(all.messages.slice(0, cut.messages.length).map((m) => m.bytes.toString('hex')));
  });

  for (const f of files) {
    it(`${f}: every message is whole, and both directions of each connection start with an OPEN`, () => {
      const cap = bgpMessagesFromPcap(fs.readFileSync(`${dir}/${f}`));
      expect(cap.messages.length).to.be.greaterThan(5);
      const firstType = new Map<string, number>();
      for (const m of cap.messages) {
        expect(m.bytes.subarray(0, 16).equals(Buffer.alloc(16, 0xff))).to.equal(true);
        const k = `${m.connection} ${m.direction}`;
        if (!firstType.has(k)) firstType.set(k, m.bytes[18]);
      }
      // Each side's first message is an OPEN (1), or a NOTIFICATION (3) refusing the connection.
      for (const t of firstType.values()) expect([1, 3]).to.include(t);
    });
  }
});
