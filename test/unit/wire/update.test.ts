// UPDATE (RFC 4271 §4.3) with every attribute we decode, hand-computed bytes, and the RFC 7606
// error handling: which action, subcode, field and data each malformation gets.
import { expect } from 'chai';
import {
  codecContext, decodeMessage, encodeMessage, pathAttributesLength, ErrorCode, UpdateSubcode, type CodecContext,
  type UpdateMessage,
} from '../../../src/wire';
import { hex, message, wireError } from './bytes';

const ctx = codecContext();
const ctx2 = codecContext({ as4: false });

/** An UPDATE from hand-written withdrawn routes, attributes and NLRI (lengths filled in). */
function update(attrs: string, nlri = '18 0a0000', withdrawn = ''): Buffer {
  const w = hex(withdrawn);
  const a = hex(attrs);
  const body = Buffer.concat([Buffer.from([w.length >> 8, w.length & 255]), w, Buffer.from([a.length >> 8, a.length & 255]), a, hex(nlri)]);
  return message(2, body.toString('hex'));
}

function decode(b: Buffer, c: CodecContext = ctx): UpdateMessage {
  return decodeMessage(b, c) as UpdateMessage;
}

const ORIGIN = '40 01 01 00';
const AS_PATH = '40 02 0a 02 02 0000fde9 0000fdea'; // AS_SEQUENCE 65001 65002, 4-octet
const NEXT_HOP = '40 03 04 c0000201'; // 192.0.2.1
const BASE = ORIGIN + AS_PATH + NEXT_HOP;

describe('wire UPDATE', () => {
  it('decodes a plain IPv4 UPDATE and encodes it back byte for byte', () => {
    const bytes = update(BASE, '18 0a0000 10 ac10 00 20 c0a80101', '08 0b');
    const expected: UpdateMessage = {
      type: 'update',
      withdrawn: [{ prefix: '11.0.0.0/8' }],
      attributes: { origin: 0, asPath: [{ type: 2, asns: [65001, 65002] }], nextHop: '192.0.2.1' },
      nlri: [{ prefix: '10.0.0.0/24' }, { prefix: '172.16.0.0/16' }, { prefix: '0.0.0.0/0' }, { prefix: '192.168.1.1/32' }],
    };
    expect(decode(bytes)).to.deep.equal(expected);
    expect(encodeMessage(expected, ctx).toString('hex')).to.equal(bytes.toString('hex'));
  });

  it('decodes every attribute a route reflector sees, with an IPv6 MP_REACH_NLRI', () => {
    const attrs =
      '80 0e 36 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00 40 20010db800010000 30 20010db80002 00' + // 2+1+1+32+1 + 9+7+1 = 54 octets
      ORIGIN +
      '40 02 00' + // empty AS_PATH (iBGP)
      '80 04 04 00000064' + // MED 100
      '40 05 04 000000c8' + // LOCAL_PREF 200
      '40 06 00' + // ATOMIC_AGGREGATE
      'c0 07 08 0000fde9 0a000001' + // AGGREGATOR 65001 10.0.0.1
      'c0 08 08 fde80064 ffffff01' + // COMMUNITIES 65000:100, NO_EXPORT
      '80 09 04 0a000005' + // ORIGINATOR_ID 10.0.0.5
      '80 0a 08 0a00ff01 0a00ff02' + // CLUSTER_LIST
      'c0 10 08 0002fde800000064' + // EXTENDED_COMMUNITIES route target 65000:100
      'c0 20 0c 0000fde8 00000001 00000002'; // LARGE_COMMUNITY 65000:1:2
    const bytes = update(attrs, '');
    const expected: UpdateMessage = {
      type: 'update', withdrawn: [], nlri: [],
      attributes: {
        mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::1', 'fe80::1'], nlri: [{ prefix: '2001:db8:1::/64' }, { prefix: '2001:db8:2::/48' }, { prefix: '::/0' }] },
        origin: 0, asPath: [], med: 100, localPref: 200, atomicAggregate: true,
        aggregator: { asn: 65001, address: '10.0.0.1' },
        communities: [65000 * 65536 + 100, 0xffffff01],
        originatorId: '10.0.0.5', clusterList: ['10.0.255.1', '10.0.255.2'],
        extendedCommunities: ['0002fde800000064'],
        largeCommunities: [[65000, 1, 2]],
      },
    };
    expect(decode(bytes)).to.deep.equal(expected);
    expect(encodeMessage(expected, ctx).toString('hex')).to.equal(bytes.toString('hex'));
  });

  it('decodes MP_UNREACH_NLRI for IPv6 and keeps other families raw (RFC 4760 §4)', () => {
    const bytes = update('80 0f 0b 0002 01 30 20010db80001 00', '');
    expect(decode(bytes).attributes.mpUnreach).to.deep.equal({ afi: 2, safi: 1, withdrawn: [{ prefix: '2001:db8:1::/48' }, { prefix: '::/0' }] });
    const raw = update('80 0f 06 0001 80 aabbcc', '');
    expect(decode(raw).attributes.mpUnreach).to.deep.equal({ afi: 1, safi: 128, withdrawn: [], withdrawnRaw: hex('aabbcc') });
    expect(encodeMessage(decode(raw), ctx).toString('hex')).to.equal(raw.toString('hex'));
    // MP_UNREACH twice: RFC 7606 §3 g -> session reset.
    const e = wireError(() => decode(update('80 0f 06 0001 80 aabbcc' + '80 0f 03 0002 01', '')));
    expect([e.code, e.subcode, e.field]).to.deep.equal([3, 1, 'attribute MP_UNREACH_NLRI']);
  });

  it('keeps an unknown family\'s MP_REACH_NLRI raw and re-encodes it unchanged', () => {
    const bytes = update('80 0e 0d 0001 80 04 0a000001 00 aabbccdd' + ORIGIN + '40 02 00', '');
    const u = decode(bytes);
    expect(u.attributes.mpReach).to.deep.equal({ afi: 1, safi: 128, nextHops: [], nlri: [], nextHopRaw: new Uint8Array(hex('0a000001')), nlriRaw: new Uint8Array(hex('aabbccdd')) });
    expect(encodeMessage(u, ctx).toString('hex')).to.equal(bytes.toString('hex'));
  });

  it('accepts IPv4 NLRI with an IPv6 next hop in MP_REACH_NLRI (RFC 8950)', () => {
    const u = decode(update('80 0e 19 0001 01 10 20010db8000000000000000000000001 00 18 0a0000' + ORIGIN + '40 02 00', ''));
    expect(u.attributes.mpReach).to.deep.equal({ afi: 1, safi: 1, nextHops: ['2001:db8::1'], nlri: [{ prefix: '10.0.0.0/24' }] });
  });

  it('clears trailing bits beyond the prefix length (RFC 4271 §4.3)', () => {
    expect(decode(update(BASE, '17 0a0001 01 ff')).nlri).to.deep.equal([{ prefix: '10.0.0.0/23' }, { prefix: '128.0.0.0/1' }]);
  });

  it('reads and writes ADD-PATH path identifiers where the context says (RFC 7911 §3)', () => {
    const c = codecContext({ addPath: new Set(['ipv4-unicast']) });
    const bytes = update(BASE, '00000001 18 0a0000 00000002 18 0a0000', '00000007 08 0b');
    const u = decode(bytes, c);
    expect(u.nlri).to.deep.equal([{ prefix: '10.0.0.0/24', pathId: 1 }, { prefix: '10.0.0.0/24', pathId: 2 }]);
    expect(u.withdrawn).to.deep.equal([{ prefix: '11.0.0.0/8', pathId: 7 }]);
    expect(encodeMessage(u, c).toString('hex')).to.equal(bytes.toString('hex'));
    expect(wireError(() => encodeMessage({ ...u, nlri: [{ prefix: '10.0.0.0/24' }] }, c)).message).to.match(/no pathId/);
  });

  it('uses the 2-octet AS_PATH and AGGREGATOR toward a 2-octet speaker (RFC 6793 §4.2.2)', () => {
    const u: UpdateMessage = {
      type: 'update', withdrawn: [], nlri: [{ prefix: '10.0.0.0/24' }],
      attributes: {
        origin: 0, asPath: [{ type: 2, asns: [65001, 4200000001] }, { type: 1, asns: [7, 4200000002] }], nextHop: '192.0.2.1',
        aggregator: { asn: 4200000001, address: '10.0.0.1' },
      },
    };
    const bytes = encodeMessage(u, ctx2);
    const expected = update(
      ORIGIN +
      '40 02 0c 02 02 fde9 5ba0 01 02 0007 5ba0' + // AS_TRANS = 0x5ba0
      NEXT_HOP +
      'c0 07 06 5ba0 0a000001' +
      'c0 11 14 02 02 0000fde9 fa56ea01 01 02 00000007 fa56ea02' + // AS4_PATH, 2 x (2 + 8) octets
      'c0 12 08 fa56ea01 0a000001'); // AS4_AGGREGATOR
    expect(bytes.toString('hex')).to.equal(expected.toString('hex'));
    const d = decode(bytes, ctx2);
    expect(d.attributes.asPath).to.deep.equal([{ type: 2, asns: [65001, 23456] }, { type: 1, asns: [7, 23456] }]);
    expect(d.attributes.as4Path).to.deep.equal(u.attributes.asPath);
    expect(d.attributes.as4Aggregator).to.deep.equal({ asn: 4200000001, address: '10.0.0.1' });
    // Re-encoding the decoded form gives the same bytes.
    expect(encodeMessage(d, ctx2).toString('hex')).to.equal(bytes.toString('hex'));
  });

  it('does not send AS4_PATH when every ASN fits in 2 octets, nor ever to a 4-octet speaker', () => {
    const u: UpdateMessage = { type: 'update', withdrawn: [], nlri: [], attributes: { asPath: [{ type: 2, asns: [65001] }], as4Path: [{ type: 2, asns: [1] }] } };
    expect(encodeMessage(u, ctx).toString('hex')).to.equal(update('40 02 06 02 01 0000fde9', '').toString('hex'));
    const v: UpdateMessage = { type: 'update', withdrawn: [], nlri: [], attributes: { asPath: [{ type: 2, asns: [65001] }] } };
    expect(encodeMessage(v, ctx2).toString('hex')).to.equal(update('40 02 04 02 01 fde9', '').toString('hex'));
  });

  it('uses the Extended Length form for attributes over 255 octets', () => {
    const communities = Array.from({ length: 70 }, (_, i) => i);
    const bytes = encodeMessage({ type: 'update', withdrawn: [], nlri: [], attributes: { communities } }, ctx);
    expect(bytes.subarray(23, 27).toString('hex')).to.equal('d0080118'); // flags 0xc0|0x10, type 8, length 280
    expect(decode(bytes).attributes.communities).to.deep.equal(communities);
    // And decodes Extended Length on a short attribute too.
    expect(decode(update('50 01 0001 00' + AS_PATH + NEXT_HOP)).attributes.origin).to.equal(0);
  });

  it('keeps unknown optional attributes, flags without Extended Length; unknown well-known ones reset', () => {
    const u = decode(update(BASE + 'd0 63 0002 abcd' + '80 fe 00'));
    expect(u.attributes.unknown).to.deep.equal([{ flags: 0xc0, code: 99, value: hex('abcd') }, { flags: 0x80, code: 254, value: new Uint8Array(0) }]);
    const e = wireError(() => decode(update(BASE + '40 63 02 abcd')));
    expect([e.code, e.subcode, Buffer.from(e.data).toString('hex'), e.field]).to.deep.equal([3, 2, '406302abcd', 'attribute 99']);
  });

  it('pathAttributesLength is exactly what encodeMessage writes for the attributes', () => {
    for (const c of [ctx, ctx2]) {
      const attributes: UpdateMessage['attributes'] = {
        origin: 0, asPath: [{ type: 2, asns: [65001, 4200000001] }], nextHop: '192.0.2.1', communities: Array.from({ length: 80 }, (_, i) => i),
        aggregator: { asn: 4200000001, address: '10.0.0.1' }, unknown: [{ flags: 0xc0, code: 99, value: new Uint8Array(3) }],
        mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::1'], nlri: [{ prefix: '2001:db8::/32' }] },
      };
      const bytes = encodeMessage({ type: 'update', withdrawn: [], attributes, nlri: [] }, c);
      expect(pathAttributesLength(attributes, c)).to.equal(bytes.readUInt16BE(21)).and.to.equal(bytes.length - 23);
    }
  });

  it('an End-of-RIB for IPv4 is an empty UPDATE, with no mandatory attributes needed', () => {
    const u = decode(message(2, '0000 0000'));
    expect(u).to.deep.equal({ type: 'update', withdrawn: [], attributes: {}, nlri: [] });
  });
});

interface Case {
  name: string;
  attrs: string;
  nlri?: string;
  ctx?: CodecContext;
  action: 'treat-as-withdraw' | 'attribute-discard' | 'session-reset';
  subcode: number;
  field: string;
  data?: string;
}

// RFC 7606 §7 per attribute, §3 for flags, duplicates and missing attributes, §4 lengths, §5.3 NLRI.
const CASES: Case[] = [
  { name: 'ORIGIN length 2 (§7.1)', attrs: '40 01 02 0000' + AS_PATH + NEXT_HOP, action: 'treat-as-withdraw', subcode: 5, field: 'attribute ORIGIN', data: '4001020000' },
  { name: 'ORIGIN value 3 (§7.1)', attrs: '40 01 01 03' + AS_PATH + NEXT_HOP, action: 'treat-as-withdraw', subcode: 6, field: 'attribute ORIGIN', data: '40010103' },
  { name: 'ORIGIN with the Optional bit (§3 c)', attrs: 'c0 01 01 00' + AS_PATH + NEXT_HOP, action: 'treat-as-withdraw', subcode: 4, field: 'attribute ORIGIN', data: 'c0010100' },
  { name: 'AS_PATH segment of length 0 (§7.2)', attrs: ORIGIN + '40 02 02 02 00' + NEXT_HOP, action: 'treat-as-withdraw', subcode: 11, field: 'attribute AS_PATH', data: '' },
  { name: 'AS_PATH unknown segment type (§7.2)', attrs: ORIGIN + '40 02 06 05 01 0000fde9' + NEXT_HOP, action: 'treat-as-withdraw', subcode: 11, field: 'attribute AS_PATH' },
  { name: 'AS_PATH segment overrun (§7.2)', attrs: ORIGIN + '40 02 06 02 02 0000fde9' + NEXT_HOP, action: 'treat-as-withdraw', subcode: 11, field: 'attribute AS_PATH' },
  { name: 'AS_PATH single trailing octet (§7.2)', attrs: ORIGIN + '40 02 07 02 01 0000fde9 02' + NEXT_HOP, action: 'treat-as-withdraw', subcode: 11, field: 'attribute AS_PATH' },
  { name: 'AS_PATH 2-octet bytes in a 4-octet session (§7.2)', attrs: ORIGIN + '40 02 04 02 01 fde9' + NEXT_HOP, action: 'treat-as-withdraw', subcode: 11, field: 'attribute AS_PATH' },
  { name: 'NEXT_HOP length 5 (§7.3)', attrs: ORIGIN + AS_PATH + '40 03 05 c000020100', action: 'treat-as-withdraw', subcode: 5, field: 'attribute NEXT_HOP', data: '400305c000020100' },
  { name: 'MULTI_EXIT_DISC length 3 (§7.4)', attrs: BASE + '80 04 03 000064', action: 'treat-as-withdraw', subcode: 5, field: 'attribute MULTI_EXIT_DISC' },
  { name: 'MULTI_EXIT_DISC marked transitive (§3 c)', attrs: BASE + 'c0 04 04 00000064', action: 'treat-as-withdraw', subcode: 4, field: 'attribute MULTI_EXIT_DISC' },
  { name: 'LOCAL_PREF length 2 (§7.5)', attrs: BASE + '40 05 02 0064', action: 'treat-as-withdraw', subcode: 5, field: 'attribute LOCAL_PREF' },
  { name: 'ATOMIC_AGGREGATE length 1 (§7.6)', attrs: BASE + '40 06 01 00', action: 'attribute-discard', subcode: 5, field: 'attribute ATOMIC_AGGREGATE' },
  { name: 'AGGREGATOR length 6 in a 4-octet session (§7.7)', attrs: BASE + 'c0 07 06 fde9 0a000001', action: 'attribute-discard', subcode: 5, field: 'attribute AGGREGATOR' },
  { name: 'AGGREGATOR length 8 in a 2-octet session (§7.7)', attrs: ORIGIN + '40 02 04 02 01 fde9' + NEXT_HOP + 'c0 07 08 0000fde9 0a000001', ctx: ctx2, action: 'attribute-discard', subcode: 5, field: 'attribute AGGREGATOR' },
  { name: 'COMMUNITIES length 3 (§7.8)', attrs: BASE + 'c0 08 03 000001', action: 'treat-as-withdraw', subcode: 9, field: 'attribute COMMUNITIES', data: 'c00803000001' },
  { name: 'COMMUNITIES length 0 (§7.8)', attrs: BASE + 'c0 08 00', action: 'treat-as-withdraw', subcode: 9, field: 'attribute COMMUNITIES' },
  { name: 'ORIGINATOR_ID length 5 (§7.9)', attrs: BASE + '80 09 05 0a00000100', action: 'treat-as-withdraw', subcode: 5, field: 'attribute ORIGINATOR_ID' },
  { name: 'CLUSTER_LIST length 6 (§7.10)', attrs: BASE + '80 0a 06 0a0000010000', action: 'treat-as-withdraw', subcode: 9, field: 'attribute CLUSTER_LIST' },
  { name: 'EXTENDED_COMMUNITIES length 7 (§7.14)', attrs: BASE + 'c0 10 07 00000000000000', action: 'treat-as-withdraw', subcode: 9, field: 'attribute EXTENDED_COMMUNITIES' },
  { name: 'LARGE_COMMUNITY length 11 (RFC 8092 §5)', attrs: BASE + 'c0 20 0b 0000000000000000000000', action: 'treat-as-withdraw', subcode: 9, field: 'attribute LARGE_COMMUNITY' },
  { name: 'MP_REACH_NLRI IPv6 next hop length 5 (§7.11)', attrs: '80 0e 0b 0002 01 05 0000000000 00 00' + BASE, action: 'session-reset', subcode: 9, field: 'attribute MP_REACH_NLRI', data: '800e0b0002010500000000000000' },
  { name: 'MP_REACH_NLRI next hop running past it (§7.11)', attrs: '80 0e 05 0002 01 10 00' + BASE, action: 'session-reset', subcode: 9, field: 'attribute MP_REACH_NLRI' },
  { name: 'MP_REACH_NLRI NLRI length 129 (§5.3)', attrs: '80 0e 17 0002 01 10 20010db8000000000000000000000001 00 81 00' + BASE, action: 'session-reset', subcode: 9, field: 'attribute MP_REACH_NLRI' },
  { name: 'MP_REACH_NLRI marked transitive', attrs: 'c0 0e 05 0002 01 00 00' + BASE, action: 'session-reset', subcode: 4, field: 'attribute MP_REACH_NLRI' },
  { name: 'MP_UNREACH_NLRI too short (§7.11)', attrs: '80 0f 02 0002' + BASE, action: 'session-reset', subcode: 9, field: 'attribute MP_UNREACH_NLRI' },
  { name: 'MP_UNREACH_NLRI prefix overrun (§5.3)', attrs: '80 0f 05 0002 01 40 2001' + BASE, action: 'session-reset', subcode: 9, field: 'attribute MP_UNREACH_NLRI' },
  { name: 'MP_REACH_NLRI twice (§3 g)', attrs: '80 0e 05 0001 80 00 00' + '80 0e 05 0001 80 00 00' + BASE, action: 'session-reset', subcode: 1, field: 'attribute MP_REACH_NLRI' },
  { name: 'ORIGIN missing (§3 d)', attrs: AS_PATH + NEXT_HOP, action: 'treat-as-withdraw', subcode: 3, field: 'attribute ORIGIN', data: '01' },
  { name: 'AS_PATH missing (§3 d)', attrs: ORIGIN + NEXT_HOP, action: 'treat-as-withdraw', subcode: 3, field: 'attribute AS_PATH', data: '02' },
  { name: 'NEXT_HOP missing with IPv4 NLRI (§3 d)', attrs: ORIGIN + AS_PATH, action: 'treat-as-withdraw', subcode: 3, field: 'attribute NEXT_HOP', data: '03' },
  { name: 'last attribute running past the attributes (§4)', attrs: BASE + 'c0 08 08 00000001', action: 'treat-as-withdraw', subcode: 5, field: 'attribute COMMUNITIES' },
  { name: 'two octets left in the attributes (§4)', attrs: BASE + 'c0 08', action: 'treat-as-withdraw', subcode: 1, field: 'path attributes' },
  { name: 'MP_REACH_NLRI running past the attributes', attrs: BASE + '80 0e 20 0002 01', action: 'session-reset', subcode: 5, field: 'attribute MP_REACH_NLRI' },
  { name: 'NLRI prefix length 33 (§5.3)', attrs: BASE, nlri: '21 0a000000 00', action: 'session-reset', subcode: 10, field: 'NLRI' },
  { name: 'NLRI prefix overrun (§5.3)', attrs: BASE, nlri: '18 0a00', action: 'session-reset', subcode: 10, field: 'NLRI' },
  { name: 'a later session-reset error wins over treat-as-withdraw (§3)', attrs: '40 01 01 07' + AS_PATH + NEXT_HOP + 'c0 0e 05 0002 01 00 00', action: 'session-reset', subcode: 4, field: 'attribute MP_REACH_NLRI' },
  { name: 'AS4_AGGREGATOR length 6 from a 2-octet speaker (RFC 6793 §6)', attrs: ORIGIN + '40 02 04 02 01 fde9' + NEXT_HOP + 'c0 12 06 fde9 0a000001', ctx: ctx2, action: 'attribute-discard', subcode: 5, field: 'attribute AS4_AGGREGATOR' },
  { name: 'malformed AS4_PATH from a 2-octet speaker (RFC 6793 §6)', attrs: ORIGIN + '40 02 04 02 01 fde9' + NEXT_HOP + 'c0 11 02 02 00', ctx: ctx2, action: 'attribute-discard', subcode: 9, field: 'attribute AS4_PATH' },
  { name: 'AS4_PATH from a 4-octet speaker (RFC 6793 §3)', attrs: BASE + 'c0 11 06 02 01 0000fde9', action: 'attribute-discard', subcode: 9, field: 'attribute AS4_PATH' },
  { name: 'a repeated ORIGIN (§3 g)', attrs: BASE + '40 01 01 02', action: 'attribute-discard', subcode: 1, field: 'attribute ORIGIN', data: '40010102' },
];

describe('wire UPDATE: RFC 7606 error handling', () => {
  for (const c of CASES) {
    it(`${c.name}: ${c.action}`, () => {
      const bytes = update(c.attrs, c.nlri);
      const check = (info: { code: number; subcode: number; field: string; action: string; data: Uint8Array }): void => {
        expect([info.code, info.subcode, info.field, info.action]).to.deep.equal([ErrorCode.UPDATE_MESSAGE, c.subcode, c.field, c.action]);
        if (c.data !== undefined) expect(Buffer.from(info.data).toString('hex')).to.equal(hex(c.data).toString('hex'));
      };
      if (c.action === 'session-reset') {
        check(wireError(() => decode(bytes, c.ctx)));
        return;
      }
      const u = decode(bytes, c.ctx);
      if (c.action === 'treat-as-withdraw') {
        expect(u.treatAsWithdraw, 'treatAsWithdraw').to.not.equal(undefined);
        check(u.treatAsWithdraw!);
        // The NLRI are still reported, so they can be withdrawn.
        expect(u.nlri).to.deep.equal([{ prefix: '10.0.0.0/24' }]);
      } else {
        expect(u.treatAsWithdraw).to.equal(undefined);
        expect(u.discarded).to.have.length(1);
        check(u.discarded![0]);
      }
    });
  }

  it('attribute-discard leaves the rest of the route intact', () => {
    const u = decode(update(BASE + '40 06 01 00' + '40 01 01 02'));
    expect(u.attributes).to.deep.equal({ origin: 0, asPath: [{ type: 2, asns: [65001, 65002] }], nextHop: '192.0.2.1' });
    expect(u.discarded!.map((d) => d.field)).to.deep.equal(['attribute ATOMIC_AGGREGATE', 'attribute ORIGIN']);
  });

  it('an AS4_PATH with confederation segments keeps the rest (RFC 6793 §3)', () => {
    const u = decode(update(ORIGIN + '40 02 04 02 01 5ba0' + NEXT_HOP + 'c0 11 0c 03 01 00000001 02 01 fa56ea01'), ctx2);
    expect(u.attributes.as4Path).to.deep.equal([{ type: 2, asns: [4200000001] }]);
    expect(u.discarded).to.have.length(1);
  });

  it('needs no NEXT_HOP when the NLRI are only in MP_REACH_NLRI (RFC 4760 §3), and no attributes for withdrawals', () => {
    const u = decode(update('80 0e 1c 0002 01 10 20010db8000000000000000000000001 00 30 20010db80001' + ORIGIN + '40 02 00', ''));
    expect(u.treatAsWithdraw).to.equal(undefined);
    expect(decode(update('', '', '18 0a0000')).treatAsWithdraw).to.equal(undefined);
  });

  it('a NEXT_HOP that can never be valid is Invalid NEXT_HOP, treat-as-withdraw (RFC 4271 §6.3, RFC 7606 §7.3)', () => {
    const bad: [string, RegExp][] = [
      ['00000000', /0\.0\.0\.0/], ['e0000005', /224\.0\.0\.5 is a multicast/], ['efffffff', /multicast/],
      ['f0000001', /class E/], ['ffffffff', /255\.255\.255\.255 .*limited broadcast/],
    ];
    for (const [nh, why] of bad) {
      const u = decode(update(ORIGIN + AS_PATH + `40 03 04 ${nh}`));
      expect(u.nlri, nh).to.deep.equal([{ prefix: '10.0.0.0/24' }]);
      const t = u.treatAsWithdraw!;
      expect([t.code, t.subcode, t.action, t.field], nh).to.deep.equal([3, UpdateSubcode.INVALID_NEXT_HOP_ATTRIBUTE, 'treat-as-withdraw', 'attribute NEXT_HOP']);
      expect(t.message, nh).to.match(why);
      // RFC 4271 §6.3: the data is the incorrect attribute.
      expect(Buffer.from(t.data).toString('hex'), nh).to.equal(`400304${nh}`);
    }
    // The edges of what stays valid: 0.0.0.1, 223.255.255.255.
    for (const nh of ['00000001', 'dfffffff']) expect(decode(update(ORIGIN + AS_PATH + `40 03 04 ${nh}`)).treatAsWithdraw, nh).to.equal(undefined);
  });

  it('an MP_REACH_NLRI global next hop :: or ff00::/8 is treat-as-withdraw, not a session reset (RFC 4760 §7)', () => {
    for (const [nh, why] of [['00000000000000000000000000000000', /unspecified/], ['ff020000000000000000000000000001', /ff02::1 is a multicast/]] as const) {
      const u = decode(update(`80 0e 1c 0002 01 10 ${nh} 00 30 20010db80001` + ORIGIN + '40 02 00', ''));
      expect(u.attributes.mpReach!.nlri, nh).to.deep.equal([{ prefix: '2001:db8:1::/48' }]);
      const t = u.treatAsWithdraw!;
      expect([t.code, t.subcode, t.action, t.field], nh).to.deep.equal([3, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, 'treat-as-withdraw', 'attribute MP_REACH_NLRI']);
      expect(t.message, nh).to.match(why);
    }
    // A link-local second next hop is fine, and so is an IPv4 one carried in MP_REACH (RFC 8950)
    // unless it is invalid by the NEXT_HOP rules.
    expect(decode(update('80 0e 2c 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00 30 20010db80001' + ORIGIN + '40 02 00', '')).treatAsWithdraw).to.equal(undefined);
    expect(decode(update('80 0e 0d 0001 01 04 e0000001 00 18 0a0000' + ORIGIN + '40 02 00', '')).treatAsWithdraw!.field).to.equal('attribute MP_REACH_NLRI');
  });

  it('withdrawn routes length or total attribute length beyond the message: Malformed Attribute List', () => {
    for (const body of ['0005 0000', '0000 0010 400101']) {
      const e = wireError(() => decode(message(2, body)));
      expect([e.code, e.subcode, e.action]).to.deep.equal([3, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, 'session-reset']);
    }
  });

  it('refuses to encode bad attribute values, naming the field', () => {
    const base: UpdateMessage = { type: 'update', withdrawn: [], nlri: [], attributes: {} };
    const field = (a: UpdateMessage['attributes']): string => wireError(() => encodeMessage({ ...base, attributes: a }, ctx)).field;
    expect(field({ nextHop: '1.2.3' })).to.equal('attribute NEXT_HOP');
    expect(field({ med: -1 })).to.equal('attribute MULTI_EXIT_DISC');
    expect(field({ extendedCommunities: ['xyz'] })).to.equal('attribute EXTENDED_COMMUNITIES');
    expect(field({ asPath: [{ type: 2, asns: [] }] })).to.equal('attribute AS_PATH');
    expect(field({ unknown: [{ flags: 0xc0, code: 8, value: new Uint8Array(4) }] })).to.equal('attribute COMMUNITIES');
    expect(field({ unknown: [{ flags: 0x40, code: 99, value: new Uint8Array(1) }] })).to.equal('attribute 99');
    expect(field({ mpReach: { afi: 2, safi: 1, nextHops: ['not-v6'], nlri: [] } })).to.equal('attribute MP_REACH_NLRI next hop');
    expect(wireError(() => encodeMessage({ ...base, nlri: [{ prefix: '10.0.0.1/24' }] }, ctx)).message).to.match(/host bits/);
    expect(wireError(() => encodeMessage({ ...base, nlri: [{ prefix: '10.0.0.0/33' }] }, ctx)).field).to.equal('NLRI');
    expect(wireError(() => encodeMessage({ ...base, withdrawn: [{ prefix: '010.0.0.0/8' }] }, ctx)).field).to.equal('withdrawn routes');
  });
});
