// Message header (RFC 4271 §4.1, §6.1), Framer, KEEPALIVE, and encode-side length limits (RFC 8654).
import { expect } from 'chai';
import {
  codecContext, decodeMessage, encodeMessage, Framer, ErrorCode, HeaderSubcode, type UpdateMessage,
} from '../../../src/wire';
import { hex, message, wireError } from './bytes';

const ctx = codecContext();
const KEEPALIVE = hex('ffffffffffffffffffffffffffffffff 0013 04');

describe('wire header and framer', () => {
  it('decodes and encodes a KEEPALIVE (RFC 4271 §4.4: header only)', () => {
    expect(decodeMessage(KEEPALIVE, ctx)).to.deep.equal({ type: 'keepalive' });
    expect(encodeMessage({ type: 'keepalive' }, ctx).toString('hex')).to.equal(KEEPALIVE.toString('hex'));
  });

  it('rejects a bad marker with Connection Not Synchronized (RFC 4271 §6.1)', () => {
    const b = Buffer.from(KEEPALIVE);
    b[3] = 0xfe;
    const e = wireError(() => decodeMessage(b, ctx));
    expect([e.code, e.subcode, e.field, e.action]).to.deep.equal([ErrorCode.MESSAGE_HEADER, HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED, 'message marker', 'session-reset']);
  });

  it('rejects bad lengths with Bad Message Length and the length field as data', () => {
    const cases: [string, string][] = [
      ['ffffffffffffffffffffffffffffffff 0012 04', '0012'], // below 19
      ['ffffffffffffffffffffffffffffffff 0014 04 00', '0014'], // KEEPALIVE must be 19
      ['ffffffffffffffffffffffffffffffff 0016 02 000000', '0016'], // UPDATE below 23
      ['ffffffffffffffffffffffffffffffff 0014 03 06', '0014'], // NOTIFICATION below 21
      ['ffffffffffffffffffffffffffffffff 001c 01' + '04fde9005a0a000001', '001c'], // OPEN below 29
    ];
    for (const [bytes, data] of cases) {
      const e = wireError(() => decodeMessage(hex(bytes), ctx));
      expect([e.code, e.subcode, Buffer.from(e.data).toString('hex')], bytes).to.deep.equal([1, 2, data]);
    }
  });

  it('rejects a length that disagrees with the bytes given', () => {
    const e = wireError(() => decodeMessage(Buffer.concat([KEEPALIVE, hex('00')]), ctx));
    expect([e.code, e.subcode]).to.deep.equal([1, 2]);
  });

  it('rejects an unknown type with Bad Message Type and the type as data', () => {
    const e = wireError(() => decodeMessage(hex('ffffffffffffffffffffffffffffffff 0013 06'), ctx));
    expect([e.code, e.subcode, Buffer.from(e.data).toString('hex')]).to.deep.equal([1, 3, '06']);
  });

  it('allows messages above 4096 only with RFC 8654, and never for OPEN', () => {
    const big = message(2, '0000 0000' + '00'.repeat(5000)); // 5000 NLRI octets of 0.0.0.0/0
    const e = wireError(() => decodeMessage(big, ctx));
    expect([e.code, e.subcode, Buffer.from(e.data).toString('hex')]).to.deep.equal([1, 2, (big.length).toString(16).padStart(4, '0')]);
    const ext = codecContext({ extendedMessage: true });
    expect((decodeMessage(big, ext) as UpdateMessage).nlri).to.have.length(5000);
    const open = message(1, '04 fde9 005a 0a000001 00' + '00'.repeat(4100));
    const eo = wireError(() => decodeMessage(open, ext));
    expect([eo.code, eo.subcode]).to.deep.equal([1, 2]);
  });

  it('refuses to encode an UPDATE beyond the negotiated maximum, naming the field', () => {
    const nlri = Array.from({ length: 1100 }, (_, i) => ({ prefix: `10.${i >> 8}.${i & 255}.0/24` }));
    const u: UpdateMessage = { type: 'update', withdrawn: [], attributes: { origin: 0, asPath: [], nextHop: '192.0.2.1' }, nlri };
    const e = wireError(() => encodeMessage(u, ctx));
    expect(e.field).to.equal('message length');
    expect(e.message).to.match(/exceed the maximum message length 4096/);
    expect(encodeMessage(u, codecContext({ extendedMessage: true })).length).to.equal(19 + 2 + 2 + 4 + 3 + 7 + 1100 * 4); // header, lengths, ORIGIN, empty AS_PATH, NEXT_HOP, /24s
  });

  it('frames a stream split at every byte, and keeps the unfinished rest', () => {
    const stream = Buffer.concat([KEEPALIVE, message(5, '0001 00 01'), KEEPALIVE.subarray(0, 10)]);
    const f = new Framer();
    const out: Buffer[] = [];
    for (const byte of stream) out.push(...f.push(Uint8Array.of(byte)));
    expect(out.map((b) => b.toString('hex'))).to.deep.equal([KEEPALIVE.toString('hex'), message(5, '0001 00 01').toString('hex')]);
    expect(f.buffered).to.equal(10);
  });

  it('framer: header errors as soon as the header is complete, and stays failed', () => {
    const f = new Framer();
    const bad = hex('ffffffffffffffffffffffffffffffff 1001 02'); // 4097 > 4096
    expect(f.push(bad.subarray(0, 18))).to.deep.equal([]);
    const e = wireError(() => f.push(bad.subarray(18)));
    expect([e.code, e.subcode, Buffer.from(e.data).toString('hex')]).to.deep.equal([1, 2, '1001']);
    expect(() => f.push(KEEPALIVE)).to.throw(/bad message length 4097/);
  });

  it('framer: 65535 after setMaxLength (RFC 8654), OPEN still limited to 4096', () => {
    const f = new Framer();
    f.setMaxLength(65535);
    const big = message(2, '0000 0000' + '00'.repeat(5000));
    expect(f.push(big)).to.have.length(1);
    const e = wireError(() => new Framer(65535).push(hex('ffffffffffffffffffffffffffffffff 1001 01')));
    expect(e.message).to.match(/OPEN stays within 4096/);
    expect(() => new Framer(100)).to.throw(RangeError);
  });

  it('framer: a bad marker is Connection Not Synchronized', () => {
    const e = wireError(() => new Framer().push(hex('00'.repeat(19))));
    expect([e.code, e.subcode]).to.deep.equal([1, 1]);
  });
});
