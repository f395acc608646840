// OPEN (RFC 4271 §4.2) and capabilities (RFC 5492 and the capability RFCs), hand-computed bytes.
import { expect } from 'chai';
import { codecContext, decodeMessage, encodeMessage, ErrorCode, OpenSubcode, type OpenMessage } from '../../../src/wire';
import { hex, message, wireError } from './bytes';

const ctx = codecContext();

// An OPEN as FRR sends it: AS 65001, hold 180, id 10.0.0.1, one Capabilities parameter holding
// MP ipv4/ipv6 unicast, route refresh, enhanced RR, 4-octet AS 4200000001, ADD-PATH ipv4 receive,
// FQDN "node1"/"", graceful restart (R and N set, 120 s, ipv4 F), extended message.
const FRR_LIKE_BODY =
  '04 fde9 00b4 0a000001 31' + // 49 octets of optional parameters
  '02 2f' + // one Capabilities parameter of 47 octets
  '01 04 0001 00 01' +
  '01 04 0002 00 01' +
  '02 00' +
  '46 00' +
  '41 04 fa56ea01' +
  '45 04 0001 01 01' +
  '49 07 05 6e6f646531 00' + // hostname length 5 "node1", domain length 0: 1+5+1 = 7
  '40 06 c078 0001 01 80' +
  '06 00';

const FRR_LIKE: OpenMessage = {
  type: 'open', version: 4, myAs: 65001, holdTime: 180, bgpId: '10.0.0.1',
  capabilities: [
    { code: 1, kind: 'multiprotocol', afi: 1, safi: 1 },
    { code: 1, kind: 'multiprotocol', afi: 2, safi: 1 },
    { code: 2, kind: 'route-refresh' },
    { code: 70, kind: 'enhanced-route-refresh' },
    { code: 65, kind: 'as4', asn: 4200000001 },
    { code: 69, kind: 'add-path', families: [{ afi: 1, safi: 1, mode: 'receive' }] },
    { code: 73, kind: 'fqdn', hostname: 'node1', domain: '' },
    { code: 64, kind: 'graceful-restart', restarting: true, notification: true, restartTime: 120, families: [{ afi: 1, safi: 1, forwardingPreserved: true }] },
    { code: 6, kind: 'extended-message' },
  ],
};

describe('wire OPEN', () => {
  it('decodes an FRR-style OPEN with every capability we know, and encodes it back byte for byte', () => {
    const bytes = message(1, FRR_LIKE_BODY);
    expect(decodeMessage(bytes, ctx)).to.deep.equal(FRR_LIKE);
    expect(encodeMessage(FRR_LIKE, ctx).toString('hex')).to.equal(bytes.toString('hex'));
  });

  it('accepts capabilities spread over several parameters (RFC 5492 §4, as GoBGP sends them)', () => {
    const bytes = message(1, '04 fde9 005a 0a000001 10 02 06 01 04 0001 00 01 02 02 02 00 02 02 46 00');
    expect((decodeMessage(bytes, ctx) as OpenMessage).capabilities).to.deep.equal([
      { code: 1, kind: 'multiprotocol', afi: 1, safi: 1 }, { code: 2, kind: 'route-refresh' }, { code: 70, kind: 'enhanced-route-refresh' },
    ]);
  });

  it('keeps unknown capabilities as bytes (e.g. 128, the old Cisco route refresh; 71 long-lived GR)', () => {
    const bytes = message(1, '04 fde9 005a 0a000001 0b 02 09 80 00 47 05 0001 01 0000');
    expect((decodeMessage(bytes, ctx) as OpenMessage).capabilities).to.deep.equal([
      { code: 128, kind: 'unknown', value: new Uint8Array(0) },
      { code: 71, kind: 'unknown', value: Uint8Array.of(0, 1, 1, 0, 0) },
    ]);
    expect(encodeMessage(decodeMessage(bytes, ctx), ctx).toString('hex')).to.equal(bytes.toString('hex'));
  });

  it('decodes the RFC 9072 extended optional parameters length', () => {
    // Opt Parm Len 255, Non-Ext OP Type 255, Extended Opt. Parm. Length 0x0009, then one
    // parameter with a 2-octet length: type 2, length 0x0006, MP ipv4 unicast.
    const bytes = message(1, '04 fde9 005a 0a000001 ff ff 0009 02 0006 01 04 0001 00 01');
    expect((decodeMessage(bytes, ctx) as OpenMessage).capabilities).to.deep.equal([{ code: 1, kind: 'multiprotocol', afi: 1, safi: 1 }]);
  });

  it('encodes more than 255 octets of capabilities in the RFC 9072 form, and decodes them back', () => {
    // 50 x 6 = 300 octets: as plain parameters 2 + 252 + 2 + 48 = 304 > 255.
    const caps = Array.from({ length: 50 }, (_, i) => ({ code: 1 as const, kind: 'multiprotocol' as const, afi: 1, safi: i }));
    const open: OpenMessage = { type: 'open', version: 4, myAs: 1, holdTime: 3, bgpId: '1.1.1.1', capabilities: caps };
    const bytes = encodeMessage(open, ctx);
    // Opt Parm Len 255, type 255, Extended Opt. Parm. Length 3 + 300 = 0x012f, parameter type 2.
    expect(bytes.subarray(28, 33).toString('hex')).to.equal('ffff012f02');
    expect(decodeMessage(bytes, ctx)).to.deep.equal(open);
  });

  it('rejects version 3 with Unsupported Version Number, data = 4 (RFC 4271 §6.2)', () => {
    const e = wireError(() => decodeMessage(message(1, '03 fde9 005a 0a000001 00'), ctx));
    expect([e.code, e.subcode, Buffer.from(e.data).toString('hex'), e.field]).to.deep.equal([2, 1, '0004', 'OPEN version']);
  });

  it('rejects a hold time of 1 or 2 with Unacceptable Hold Time; 0 and 3 are fine', () => {
    for (const h of ['0001', '0002']) {
      const e = wireError(() => decodeMessage(message(1, `04 fde9 ${h} 0a000001 00`), ctx));
      expect([e.code, e.subcode, e.field]).to.deep.equal([ErrorCode.OPEN_MESSAGE, OpenSubcode.UNACCEPTABLE_HOLD_TIME, 'OPEN hold time']);
    }
    expect((decodeMessage(message(1, '04 fde9 0000 0a000001 00'), ctx) as OpenMessage).holdTime).to.equal(0);
    expect((decodeMessage(message(1, '04 fde9 0003 0a000001 00'), ctx) as OpenMessage).holdTime).to.equal(3);
  });

  it('rejects BGP identifier 0 with Bad BGP Identifier (RFC 6286 §2.2)', () => {
    const e = wireError(() => decodeMessage(message(1, '04 fde9 005a 00000000 00'), ctx));
    expect([e.code, e.subcode]).to.deep.equal([2, 3]);
  });

  it('rejects an optional parameter other than Capabilities with Unsupported Optional Parameter', () => {
    const e = wireError(() => decodeMessage(message(1, '04 fde9 005a 0a000001 04 01 02 abcd'), ctx));
    expect([e.code, e.subcode, Buffer.from(e.data).toString('hex')]).to.deep.equal([2, 4, '0102abcd']);
  });

  it('rejects an optional parameters length that disagrees with the message', () => {
    const e = wireError(() => decodeMessage(message(1, '04 fde9 005a 0a000001 05 02 02 02 00'), ctx));
    expect([e.code, e.subcode, e.field]).to.deep.equal([2, 0, 'OPEN optional parameters length']);
  });

  it('rejects malformed known capabilities, naming them', () => {
    const cases: [string, string][] = [
      ['02 05 41 03 000001', 'OPEN capability as4'],
      ['02 05 01 03 000100', 'OPEN capability multiprotocol'],
      ['02 03 02 01 00', 'OPEN capability route-refresh'],
      ['02 05 40 03 007800', 'OPEN capability graceful-restart'],
      ['02 05 45 03 0001 01', 'OPEN capability add-path'],
      ['02 05 49 03 05 6e 6f', 'OPEN capability fqdn'],
      ['02 03 41 04 00', 'OPEN capability code 65'],
    ];
    for (const [params, field] of cases) {
      const len = hex(params).length.toString(16).padStart(2, '0');
      const e = wireError(() => decodeMessage(message(1, `04 fde9 005a 0a000001 ${len} ${params}`), ctx));
      expect([e.code, e.subcode, e.field], params).to.deep.equal([2, 0, field]);
    }
  });

  it('ignores ADD-PATH entries whose Send/Receive is outside 1..3 instead of failing the OPEN (RFC 7911 §4)', () => {
    // Two entries: ipv4 unicast Send/Receive 4 (invalid), ipv6 unicast 3 (both).
    const mixed = message(1, '04 fde9 005a 0a000001 0c 02 0a 45 08 0001 01 04 0002 01 03');
    expect((decodeMessage(mixed, ctx) as OpenMessage).capabilities).to.deep.equal([
      { code: 69, kind: 'add-path', families: [{ afi: 2, safi: 1, mode: 'both' }] },
    ]);
    // Only an invalid entry (Send/Receive 0): the capability is kept as not understood.
    const none = message(1, '04 fde9 005a 0a000001 08 02 06 45 04 0001 01 00');
    expect((decodeMessage(none, ctx) as OpenMessage).capabilities).to.deep.equal([
      { code: 69, kind: 'unknown', value: Uint8Array.of(0, 1, 1, 0) },
    ]);
  });

  it('refuses to encode an OPEN with a bad field', () => {
    const base: OpenMessage = { type: 'open', version: 4, myAs: 65001, holdTime: 90, bgpId: '1.2.3.4', capabilities: [] };
    expect(wireError(() => encodeMessage({ ...base, myAs: 70000 }, ctx)).field).to.equal('OPEN my AS');
    expect(wireError(() => encodeMessage({ ...base, holdTime: 2 }, ctx)).field).to.equal('OPEN hold time');
    expect(wireError(() => encodeMessage({ ...base, bgpId: 'x' }, ctx)).field).to.equal('OPEN BGP identifier');
    expect(wireError(() => encodeMessage({ ...base, capabilities: [{ code: 64, kind: 'graceful-restart', restarting: false, notification: false, restartTime: 5000, families: [] }] }, ctx)).field)
      .to.equal('graceful-restart restart time');
  });
});
