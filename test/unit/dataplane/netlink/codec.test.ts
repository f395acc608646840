// Unit tests of the rtnetlink codec: byte layouts from the kernel UAPI headers (nlmsghdr, rtmsg,
// rtattr, rtnexthop, ifinfomsg, ifaddrmsg, ndmsg, nlmsgerr + extended ack TLVs), and real kernel
// replies captured by fixtures/capture.ts (see kernel-replies.json for the commands that made them).
import { expect } from 'chai';
import * as fs from 'fs';
import fc from 'fast-check';
import { repoPath } from '../../../helpers/repo';
import * as C from '../../../../src/dataplane/netlink/constants';
import {
  AttrWriter, NetlinkDecodeError, NetlinkEncodeError, decodeAck, decodeAddress, decodeLink, decodeNeighbour, decodeRoute,
  encodeAddress, encodeLink, encodeMessage, encodeNeighbour, encodeRoute, parseMessages, RouteMsg,
} from '../../../../src/dataplane/netlink/codec';
import { formatIP, parseIP } from '../../../../src/lib/ip';

const ip = (s: string): Uint8Array => parseIP(s)!;
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

interface Fixtures { kernel: string; fixtures: Record<string, { hex: string }> }
const fixtures = (JSON.parse(fs.readFileSync(repoPath('test/unit/dataplane/netlink/fixtures/kernel-replies.json'), 'utf8')) as Fixtures).fixtures;
function fixture(name: string): { type: number; flags: number; payload: Buffer } {
  const f = fixtures[name];
  if (!f) throw new Error(`no fixture ${name}`);
  const msgs = parseMessages(Buffer.from(f.hex, 'hex'));
  expect(msgs).to.have.length(1);
  return msgs[0];
}

describe('dataplane/netlink codec', () => {
  describe('nlmsghdr framing (RFC 3549 §2.2)', () => {
    it('encodes len, type, flags, seq, pid little-endian and pads to 4 bytes', () => {
      const b = encodeMessage(C.RTM_NEWROUTE, C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL, 0x01020304, Uint8Array.of(1, 2, 3, 4, 5), 7);
      expect(b.toString('hex')).to.equal('15000000' + '1800' + '0506' + '04030201' + '07000000' + '0102030405000000');
      expect(b.length).to.equal(24);
    });

    it('splits a buffer holding several messages, skipping padding', () => {
      const buf = Buffer.concat([encodeMessage(1, 0, 1, Uint8Array.of(9)), encodeMessage(3, 2, 2, new Uint8Array(4))]);
      const msgs = parseMessages(buf);
      expect(msgs.map((m) => [m.type, m.flags, m.seq, m.payload.length])).to.deep.equal([[1, 0, 1, 1], [3, 2, 2, 4]]);
    });

    it('rejects a length running past the buffer with the offset', () => {
      const b = encodeMessage(24, 0, 1, new Uint8Array(8));
      b.writeUInt32LE(200, 0);
      expect(() => parseMessages(b)).to.throw(NetlinkDecodeError, /nlmsg_len 200/);
      const c = Buffer.concat([encodeMessage(24, 0, 1, new Uint8Array(8)), encodeMessage(24, 0, 2, new Uint8Array(8))]);
      c.writeUInt32LE(3, 24);
      expect(() => parseMessages(c)).to.throw(NetlinkDecodeError, /at byte 24/);
    });

    it('never throws anything but NetlinkDecodeError on arbitrary bytes (all decoders)', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const b = Buffer.from(bytes);
        for (const f of [() => parseMessages(b), () => decodeRoute(b), () => decodeLink(b), () => decodeAddress(b), () => decodeNeighbour(b), () => decodeAck(b, C.NLM_F_ACK_TLVS)]) {
          try { f(); } catch (e) { if (!(e instanceof NetlinkDecodeError)) throw e; }
        }
      }), { numRuns: 2000 });
    });
  });

  describe('NLMSG_ERROR acks (struct nlmsgerr)', () => {
    it('decodes a success ack: errno 0 and the request seq', () => {
      const payload = Buffer.concat([hex('00000000'), hex('2c000000 1800 0506 39300000 00000000')]);
      expect(decodeAck(payload, C.NLM_F_CAPPED)).to.deep.include({ errno: 0, requestType: C.RTM_NEWROUTE, requestSeq: 12345 });
    });

    it('decodes a capped error ack with extended-ack message and offset TLVs', () => {
      const msg = Buffer.from('Nexthop has invalid gateway\0');
      const tlvMsg = new AttrWriter().raw(C.NLMSGERR_ATTR_MSG, msg).u32(C.NLMSGERR_ATTR_OFFS, 44).toBuffer();
      const payload = Buffer.concat([hex('9bffffff'), hex('3c000000 1800 0506 0a000000 00000000'), tlvMsg]); // -101
      const ack = decodeAck(payload, C.NLM_F_CAPPED | C.NLM_F_ACK_TLVS);
      expect(ack).to.deep.equal({ errno: 101, requestType: 24, requestFlags: 0x605, requestSeq: 10, message: 'Nexthop has invalid gateway', badAttrOffset: 44 });
    });

    it('finds the TLVs after a whole echoed request when the ack is not capped', () => {
      const req = encodeMessage(C.RTM_NEWROUTE, 5, 77, new Uint8Array(12));
      const tlv = new AttrWriter().str(C.NLMSGERR_ATTR_MSG, 'bad').toBuffer();
      const payload = Buffer.concat([hex('eaffffff'), req, tlv]); // -22
      expect(decodeAck(payload, C.NLM_F_ACK_TLVS)).to.deep.include({ errno: 22, requestSeq: 77, message: 'bad' });
    });
  });

  describe('routes (rtmsg + RTA_*)', () => {
    it('encodes a gateway route byte for byte', () => {
      const r: RouteMsg = {
        family: C.AF_INET, dstLen: 24, srcLen: 0, tos: 0, table: 254, protocol: 78, scope: 0, type: C.RTN_UNICAST, flags: 0,
        dst: ip('10.200.0.0'), gateway: ip('10.99.0.2'), oif: 3, priority: 0,
      };
      expect(encodeRoute(r).toString('hex')).to.equal(
        '02180000' + 'fe4e0001' + '00000000' + // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
        '08000f00fe000000' + // RTA_TABLE 254
        '080001000ac80000' + // RTA_DST
        '0800060000000000' + // RTA_PRIORITY 0
        '080005000a630002' + // RTA_GATEWAY
        '0800040003000000', // RTA_OIF 3
      );
    });

    it('encodes RTA_MULTIPATH as rtnexthop {len, flags, hops = weight-1, ifindex} + RTA_GATEWAY', () => {
      const r: RouteMsg = {
        family: C.AF_INET, dstLen: 24, srcLen: 0, tos: 0, table: 254, protocol: 78, scope: 0, type: 1, flags: 0, dst: ip('10.201.0.0'),
        multipath: [{ gateway: ip('10.99.0.2'), ifindex: 2, flags: C.RTNH_F_ONLINK, weight: 1 }, { gateway: ip('10.99.0.3'), ifindex: 2, flags: 0, weight: 3 }],
      };
      const b = encodeRoute(r);
      const mp = b.subarray(12 + 8 + 8); // after rtmsg, RTA_TABLE, RTA_DST
      expect(mp.toString('hex')).to.equal('24000900' + '1000' + '04' + '00' + '02000000' + '080005000a630002' + '1000' + '00' + '02' + '02000000' + '080005000a630003');
      expect(decodeRoute(b).multipath).to.deep.equal(r.multipath);
    });

    it('decodes the kernel\'s own gateway route reply', () => {
      const m = fixture('route 10.200.0.0/24');
      expect(m.type).to.equal(C.RTM_NEWROUTE);
      const r = decodeRoute(m.payload);
      expect(r).to.deep.include({ family: C.AF_INET, dstLen: 24, table: 254, protocol: 78, type: C.RTN_UNICAST, scope: 0 });
      expect(formatIP(r.dst!)).to.equal('10.200.0.0');
      expect(formatIP(r.gateway!)).to.equal('10.99.0.2');
      expect(r.oif).to.be.a('number').above(1);
      expect(r.multipath).to.equal(undefined);
    });

    it('decodes a weighted ECMP route, an onlink route in table 100 with metric 20, blackholes', () => {
      const mp = decodeRoute(fixture('route 10.201.0.0/24').payload);
      expect(mp.multipath!.map((h) => [formatIP(h.gateway!), h.weight])).to.deep.equal([['10.99.0.2', 1], ['10.99.0.3', 3]]);
      const onlink = decodeRoute(fixture('route 10.204.0.0/24').payload);
      expect(onlink).to.deep.include({ table: 100, priority: 20 });
      expect(onlink.flags & C.RTNH_F_ONLINK).to.equal(C.RTNH_F_ONLINK);
      expect(decodeRoute(fixture('route 10.202.0.0/24').payload).type).to.equal(C.RTN_BLACKHOLE);
      const bh6 = decodeRoute(fixture('route fd00:2::/64').payload);
      expect(bh6).to.deep.include({ family: C.AF_INET6, type: C.RTN_BLACKHOLE, priority: 1024 });
      const mp6 = decodeRoute(fixture('route fd00:1::/64').payload);
      expect(mp6.multipath!.map((h) => formatIP(h.gateway!))).to.deep.equal(['fd00:99::2', 'fd00:99::3']);
      const connected = decodeRoute(fixture('route 10.99.0.0/24').payload);
      expect(connected).to.deep.include({ protocol: C.RTPROT_KERNEL, scope: C.RT_SCOPE_LINK });
      expect(formatIP(connected.prefsrc!)).to.equal('10.99.0.1');
    });

    it('round-trips every captured route through encode and decode', () => {
      for (const name of Object.keys(fixtures).filter((n) => n.startsWith('route '))) {
        const r = decodeRoute(fixture(name).payload);
        expect(decodeRoute(encodeRoute(r)), name).to.deep.equal(r);
      }
    });

    it('refuses a multipath weight outside 1..256', () => {
      const r: RouteMsg = { family: 2, dstLen: 0, srcLen: 0, tos: 0, table: 254, protocol: 78, scope: 0, type: 1, flags: 0, multipath: [{ flags: 0, weight: 0, ifindex: 1 }] };
      expect(() => encodeRoute(r)).to.throw(NetlinkEncodeError, /multipath\[0\]\.weight/);
    });

    it('rejects an RTA_GATEWAY of a length that is no address', () => {
      const bad = Buffer.concat([hex('02180000fe4e000100000000'), new AttrWriter().raw(C.RTA_GATEWAY, Uint8Array.of(1, 2, 3)).toBuffer()]);
      expect(() => decodeRoute(bad)).to.throw(NetlinkDecodeError, /RTA_GATEWAY is 3 bytes/);
    });
  });

  describe('links (ifinfomsg + IFLA_*)', () => {
    it('decodes a vxlan device: kind, VNI, local, underlay, port, learning', () => {
      const va = decodeLink(fixture('link va').payload);
      const vx = decodeLink(fixture('link vx0').payload);
      expect(vx.name).to.equal('vx0');
      expect(vx.kind).to.equal('vxlan');
      expect(vx.vxlan).to.deep.include({ vni: 4096, port: 4789, learning: false, link: va.index });
      expect(formatIP(vx.vxlan!.local!)).to.equal('10.99.0.1');
      expect(vx.address).to.have.length(6);
      expect(va.kind).to.equal('veth');
      expect(va.flags & C.IFF_UP).to.equal(C.IFF_UP);
      expect(va.mtu).to.equal(1500);
    });

    it('encodes a vxlan create request byte for byte (IFLA_LINKINFO nested, port big-endian)', () => {
      const b = encodeLink({ family: 0, type: 0, index: 0, flags: C.IFF_UP, change: C.IFF_UP, name: 'vx1', mtu: 1450, kind: 'vxlan', vxlan: { vni: 1, local: ip('10.0.0.1'), link: 2, port: 4789, learning: false } });
      const expected =
        '00000000' + '00000000' + '01000000' + '01000000' + // ifinfomsg
        '0800030076783100' + // IFLA_IFNAME "vx1\0"
        '08000400aa050000' + // IFLA_MTU 1450
        '3c001280' + // IFLA_LINKINFO | NLA_F_NESTED, len 60
        '0a00010076786c616e000000' + // IFLA_INFO_KIND "vxlan\0" (len 10, padded)
        '2c000280' + // IFLA_INFO_DATA | NESTED, len 44
        '0800010001000000' + // IFLA_VXLAN_ID 1
        '080004000a000001' + // IFLA_VXLAN_LOCAL
        '0800030002000000' + // IFLA_VXLAN_LINK 2
        '06000f0012b50000' + // IFLA_VXLAN_PORT 4789 big-endian
        '0500070000000000'; // IFLA_VXLAN_LEARNING 0
      expect(b.toString('hex')).to.equal(expected);
      expect(decodeLink(b)).to.deep.include({ name: 'vx1', mtu: 1450, kind: 'vxlan' });
    });

    it('round-trips an ipip device (IFLA_IPTUN_*)', () => {
      const l = decodeLink(encodeLink({ family: 0, type: 0, index: 0, flags: 0, change: 0, name: 'tunl0', kind: 'ipip', iptun: { link: 3, local: ip('10.0.0.1'), ttl: 64, pmtudisc: true } }));
      expect(l.kind).to.equal('ipip');
      expect(l.iptun).to.deep.equal({ link: 3, local: ip('10.0.0.1'), ttl: 64, pmtudisc: true });
    });

    it('refuses interface names the kernel would reject', () => {
      expect(() => encodeLink({ family: 0, type: 0, index: 0, flags: 0, change: 0, name: 'a-very-long-name-x' })).to.throw(NetlinkEncodeError, /IFLA_IFNAME/);
    });
  });

  describe('addresses (ifaddrmsg) and neighbours (ndmsg)', () => {
    it('decodes IPv4 and IPv6 addresses from the kernel', () => {
      const a4 = decodeAddress(fixture('addr 10.99.0.1').payload);
      expect(a4).to.deep.include({ family: C.AF_INET, prefixLen: 24 });
      expect(formatIP(a4.local!)).to.equal('10.99.0.1');
      const a6 = decodeAddress(fixture('addr fd00:99::1').payload);
      expect(a6.prefixLen).to.equal(64);
      expect(a6.flags & C.IFA_F_NODAD).to.equal(C.IFA_F_NODAD);
      expect(decodeAddress(encodeAddress(a4))).to.deep.equal(a4);
    });

    it('decodes a permanent ARP entry and a vxlan FDB entry (AF_BRIDGE, NTF_SELF, NDA_DST)', () => {
      const arp = decodeNeighbour(fixture('neigh arp 10.99.0.7').payload);
      expect(arp).to.deep.include({ family: C.AF_INET, state: C.NUD_PERMANENT });
      expect(Buffer.from(arp.lladdr!).toString('hex')).to.equal('020000000007');
      const fdb = decodeNeighbour(fixture('neigh fdb 10.99.0.2').payload);
      expect(fdb.family).to.equal(C.AF_BRIDGE);
      expect(fdb.state & C.NUD_PERMANENT).to.equal(C.NUD_PERMANENT); // the kernel adds NUD_NOARP
      expect(fdb.flags & C.NTF_SELF).to.equal(C.NTF_SELF);
      expect(Buffer.from(fdb.lladdr!).toString('hex')).to.equal('000000000000');
      expect(formatIP(fdb.dst!)).to.equal('10.99.0.2');
    });

    it('encodes an FDB request byte for byte', () => {
      const b = encodeNeighbour({ family: C.AF_BRIDGE, ifindex: 5, state: C.NUD_PERMANENT, flags: C.NTF_SELF, type: 0, lladdr: Uint8Array.of(0xaa, 0xbb, 0xcc, 0, 0, 1), dst: ip('10.0.0.2') });
      expect(b.toString('hex')).to.equal('07000000' + '05000000' + '8000' + '02' + '00' + '080001000a000002' + '0a000200aabbcc000001' + '0000');
    });
  });
});
