// Tunnel planning (src/dataplane/tunnels.ts): the exact rtnetlink bytes for tunl0 (IPIP, RFC 2003)
// and vxlan.nexthop (RFC 7348), the neighbour/FDB entries per peer, the diff that keeps only
// ours, and the VTEP MAC helper. The bytes are written out by hand from the kernel UAPI layout
// (struct ifinfomsg / ndmsg, nested IFLA_LINKINFO), independently of the encoder.
import { expect } from 'chai';
import fc from 'fast-check';
import * as C from '../../../src/dataplane/netlink/constants';
import { NeighbourMsg, encodeLink, encodeNeighbour } from '../../../src/dataplane/netlink/codec';
import {
  TunnelConfigError, diffNeighbourEntries, formatMac, ipipLinkMessage, parseMac, vtepMacFor, vxlanLinkMessage,
  vxlanMismatches, vxlanPeerEntries,
} from '../../../src/dataplane/tunnels';

const hex = (s: string): string => s.replace(/\s+/g, '');

const spec = {
  name: 'vxlan.nexthop', vni: 4096, port: 4789, uplinkIndex: 3, localAddress: '192.168.10.11',
  vtepAddress: '10.244.1.0', vtepMac: '02:aa:bb:cc:dd:01', mtu: 1450,
};

describe('dataplane/tunnels', () => {
  describe('IPIP tunl0 (the kernel cannot make it here; its messages are checked byte for byte)', () => {
    it('RTM_NEWLINK body: ifinfomsg, IFLA_IFNAME tunl0, IFLA_MTU 1480, IFLA_LINKINFO{kind ipip}', () => {
      const bytes = encodeLink(ipipLinkMessage({ name: 'tunl0', mtu: 1480 }));
      expect(bytes.toString('hex')).to.equal(hex(`
        00 00 0000 00000000 00000000 00000000
        0a00 0300 74756e6c3000 0000
        0800 0400 c8050000
        1000 1280 0900 0100 6970697000 000000`));
    });
  });

  describe('VXLAN device', () => {
    it('RTM_NEWLINK body: name, MTU, MAC, linkinfo{kind vxlan, data{VNI 4096, local, link, port 4789 (big-endian), learning 0}}', () => {
      const bytes = encodeLink(vxlanLinkMessage(spec));
      expect(bytes.toString('hex')).to.equal(hex(`
        00 00 0000 00000000 00000000 00000000
        1200 0300 7678 6c61 6e2e 6e65 7874 686f 7000 0000
        0800 0400 aa050000
        0a00 0100 02aabbccdd01 0000
        3c00 1280
          0a00 0100 76786c616e00 0000
          2c00 0280
            0800 0100 00100000
            0800 0400 c0a80a0b
            0800 0300 03000000
            0600 0f00 12b5 0000
            0500 0700 00 000000`));
    });

    it('rejects a bad MAC, a multicast MAC and a bad local address, naming the field', () => {
      expect(() => vxlanLinkMessage({ ...spec, vtepMac: 'zz' })).to.throw(TunnelConfigError, /vtepMac/);
      expect(() => vxlanLinkMessage({ ...spec, vtepMac: '01:00:5e:00:00:01' })).to.throw(TunnelConfigError, /multicast/);
      expect(() => vxlanLinkMessage({ ...spec, localAddress: '192.168.10' })).to.throw(TunnelConfigError, /localAddress/);
    });

    it('vxlanMismatches names every field that needs a re-create, and none when equal', () => {
      const link = { ...vxlanLinkMessage(spec), index: 7 };
      expect(vxlanMismatches(link, spec)).to.deep.equal([]);
      const other = { ...link, vxlan: { ...link.vxlan!, vni: 1, port: 8472, learning: true } };
      expect(vxlanMismatches(other, spec)).to.deep.equal(['VNI 1, want 4096', 'port 8472, want 4789', 'learning on, want off']);
      expect(vxlanMismatches({ ...link, kind: 'bridge' }, spec)).to.deep.equal(['kind is bridge, not vxlan']);
    });
  });

  describe('peers: neighbour and FDB entries', () => {
    const peers = [
      { node: 'n3', vtepAddress: '10.244.3.0', vtepMac: '02:00:00:00:00:03', nodeAddress: '192.168.20.13' },
      { node: 'n4', vtepAddress: '10.244.4.0', vtepMac: '02:00:00:00:00:04', nodeAddress: '192.168.20.14' },
    ];

    it('one permanent ARP entry (VTEP -> MAC) and one self FDB entry (MAC -> node) per peer', () => {
      const e = vxlanPeerEntries(9, peers, 'vxlan.nexthop');
      expect(e.neighbours).to.have.length(2);
      expect(e.fdb).to.have.length(2);
      // ndmsg: family AF_INET, ifindex 9, state NUD_PERMANENT, flags 0; NDA_DST, NDA_LLADDR.
      expect(encodeNeighbour(e.neighbours[0]).toString('hex')).to.equal(hex(`
        02 00 0000 09000000 8000 00 00
        0800 0100 0af40300
        0a00 0200 020000000003 0000`));
      // ndmsg: family AF_BRIDGE, ifindex 9, NUD_PERMANENT, NTF_SELF; NDA_DST = node, NDA_LLADDR = MAC.
      expect(encodeNeighbour(e.fdb[1]).toString('hex')).to.equal(hex(`
        07 00 0000 09000000 8000 02 00
        0800 0100 c0a8140e
        0a00 0200 020000000004 0000`));
    });

    it('diff adds what is missing, deletes our stale permanent entries, leaves the kernel\'s and other devices\'', () => {
      const want = vxlanPeerEntries(9, peers, 'vxlan.nexthop').neighbours;
      const stale: NeighbourMsg = { ...want[0], dst: Uint8Array.of(10, 244, 5, 0) };
      const learned: NeighbourMsg = { ...want[0], dst: Uint8Array.of(10, 244, 6, 0), state: C.NUD_REACHABLE };
      const otherDev: NeighbourMsg = { ...want[0], ifindex: 2, dst: Uint8Array.of(10, 244, 7, 0) };
      const movedMac: NeighbourMsg = { ...want[1], lladdr: parseMac('02:00:00:00:00:99')! };
      const d = diffNeighbourEntries(want, [want[0], stale, learned, otherDev, movedMac], 9);
      expect(d.add).to.deep.equal([want[1]]);
      expect(d.del).to.deep.equal([stale, movedMac]);
    });

    it('diff of the wanted set against itself is empty (property)', () => {
      fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 250 }), { maxLength: 20 }), (ids) => {
        const ps = ids.map((i) => ({ node: `n${i}`, vtepAddress: `10.244.${i}.0`, vtepMac: formatMac(Uint8Array.of(2, 0, 0, 0, 0, i)), nodeAddress: `192.168.20.${i}` }));
        const e = vxlanPeerEntries(4, ps, 'vxlan.nexthop');
        for (const list of [e.neighbours, e.fdb]) {
          const d = diffNeighbourEntries(list, list, 4);
          expect(d.add).to.deep.equal([]);
          expect(d.del).to.deep.equal([]);
        }
      }));
    });

    it('a peer with a bad VTEP MAC is an error naming the peer', () => {
      expect(() => vxlanPeerEntries(4, [{ ...peers[0], vtepMac: 'nope' }], 'vxlan.nexthop')).to.throw(TunnelConfigError, /peer n3 vtepMac/);
    });
  });

  describe('MAC helpers', () => {
    it('vtepMacFor gives a stable, locally administered unicast MAC per node name', () => {
      fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 64 }), (name) => {
        const mac = vtepMacFor(name);
        expect(mac).to.equal(vtepMacFor(name));
        const b = parseMac(mac)!;
        expect(b[0] & 0x01, 'unicast').to.equal(0);
        expect(b[0] & 0x02, 'locally administered').to.equal(2);
      }));
      expect(vtepMacFor('n1')).to.not.equal(vtepMacFor('n2'));
    });

    it('vtepMacFor(name, 6): the IPv6 VTEP\'s MAC is as stable and well-formed, and never the node\'s IPv4 VTEP MAC', () => {
      fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 64 }), (name) => {
        const mac = vtepMacFor(name, 6);
        expect(mac).to.equal(vtepMacFor(name, 6));
        expect(mac).to.not.equal(vtepMacFor(name, 4));
        const b = parseMac(mac)!;
        expect(b[0] & 0x01, 'unicast').to.equal(0);
        expect(b[0] & 0x02, 'locally administered').to.equal(2);
      }));
      // The IPv4 MAC is what it always was (family defaults to 4): published MACs do not move.
      expect(vtepMacFor('n1', 4)).to.equal(vtepMacFor('n1')).and.to.equal('06:35:dc:00:52:80');
      expect(vtepMacFor('n1', 6)).to.equal('86:29:2c:30:47:a8');
      expect(vtepMacFor('n1', 6)).to.not.equal(vtepMacFor('n2', 6));
    });

    it('parseMac takes colons or dashes and rejects anything else', () => {
      expect(formatMac(parseMac('02-AA-bb-cc-dd-01')!)).to.equal('02:aa:bb:cc:dd:01');
      for (const bad of ['', '02:aa:bb:cc:dd', '02:aa:bb:cc:dd:01:02', 'g2:aa:bb:cc:dd:01']) expect(parseMac(bad)).to.equal(null);
    });
  });
});
