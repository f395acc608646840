// NOTIFICATION (RFC 4271 §4.5) with the RFC 8203 / RFC 9003 shutdown communication, ROUTE-REFRESH
// (RFC 2918, RFC 7313), and notificationFromError.
import { expect } from 'chai';
import {
  codecContext, decodeMessage, encodeMessage, notificationFromError, shutdownNotification, CeaseSubcode,
  ErrorCode, UpdateSubcode, WireError, errorCodeName, errorSubcodeName, type NotificationMessage,
} from '../../../src/wire';
import { hex, message, wireError } from './bytes';

const ctx = codecContext();

describe('wire NOTIFICATION', () => {
  it('decodes a Hold Timer Expired with no data', () => {
    expect(decodeMessage(message(3, '04 00'), ctx)).to.deep.equal({ type: 'notification', code: 4, subcode: 0, data: new Uint8Array(0) });
  });

  it('decodes an UPDATE error with its data', () => {
    const n = decodeMessage(message(3, '03 05 4003 05 c000020100'), ctx) as NotificationMessage;
    expect([n.code, n.subcode, Buffer.from(n.data).toString('hex')]).to.deep.equal([3, 5, '400305c000020100']);
  });

  it('decodes an Administrative Shutdown with a UTF-8 communication (RFC 9003 §2)', () => {
    // "maintenance ☃": 12 ASCII octets + 3 for the snowman = 15 = 0x0f
    const bytes = message(3, '06 02 0f 6d61696e74656e616e636520 e29883');
    const n = decodeMessage(bytes, ctx) as NotificationMessage;
    expect(n.shutdownCommunication).to.equal('maintenance ☃');
    expect(encodeMessage(n, ctx).toString('hex')).to.equal(bytes.toString('hex'));
    expect(encodeMessage(shutdownNotification(2, 'maintenance ☃'), ctx).toString('hex')).to.equal(bytes.toString('hex'));
  });

  it('also decodes it for Administrative Reset, not for other Cease subcodes', () => {
    expect((decodeMessage(message(3, '06 04 02 6869'), ctx) as NotificationMessage).shutdownCommunication).to.equal('hi');
    expect((decodeMessage(message(3, '06 03 02 6869'), ctx) as NotificationMessage).shutdownCommunication).to.equal(undefined);
  });

  it('keeps the data but no communication when it is invalid (length past the data, bad UTF-8, length 0)', () => {
    for (const body of ['06 02 05 6869', '06 02 02 c328', '06 02 00']) {
      const n = decodeMessage(message(3, body), ctx) as NotificationMessage;
      expect(n.shutdownCommunication, body).to.equal(undefined);
      expect(Buffer.from(n.data).toString('hex')).to.equal(hex(body).subarray(2).toString('hex'));
    }
  });

  it('refuses a shutdown communication over 255 octets (RFC 9003 §2)', () => {
    expect(() => shutdownNotification(2, 'x'.repeat(256))).to.throw(WireError, /255/);
    expect(shutdownNotification(2, 'é'.repeat(127)).data.length).to.equal(255);
  });

  it('notificationFromError: the WireError\'s code, subcode and data; Cease for anything else', () => {
    const e = new WireError({ code: ErrorCode.UPDATE_MESSAGE, subcode: UpdateSubcode.MALFORMED_AS_PATH, field: 'attribute AS_PATH', message: 'x', data: Uint8Array.of(1) });
    expect(notificationFromError(e)).to.deep.equal({ type: 'notification', code: 3, subcode: 11, data: Uint8Array.of(1) });
    expect(notificationFromError(new TypeError('bug'))).to.deep.equal({ type: 'notification', code: 6, subcode: 0, data: new Uint8Array(0) });
    // and it encodes to the expected bytes
    expect(encodeMessage(notificationFromError(e), ctx).toString('hex')).to.equal(message(3, '03 0b 01').toString('hex'));
  });

  it('names codes and subcodes for logs', () => {
    expect(errorCodeName(ErrorCode.CEASE)).to.equal('Cease');
    expect(errorSubcodeName(ErrorCode.CEASE, CeaseSubcode.HARD_RESET)).to.equal('Hard Reset');
    expect(errorSubcodeName(3, 11)).to.equal('Malformed AS_PATH');
    expect(errorSubcodeName(9, 9)).to.equal('subcode 9');
    expect(errorCodeName(9)).to.equal('code 9');
  });
});

describe('wire ROUTE-REFRESH', () => {
  it('decodes and encodes a normal request and BoRR / EoRR (RFC 7313 §3)', () => {
    for (const [subtype, hexBody] of [[0, '0001 00 01'], [1, '0002 01 01'], [2, '0001 02 01']] as const) {
      const bytes = message(5, hexBody);
      const m = decodeMessage(bytes, ctx);
      expect(m).to.deep.equal({ type: 'route-refresh', afi: Number.parseInt(hexBody.slice(0, 4), 16), safi: 1, subtype });
      expect(encodeMessage(m, ctx).toString('hex')).to.equal(bytes.toString('hex'));
    }
  });

  it('BoRR with a wrong length is a ROUTE-REFRESH Message Error with the whole message as data (RFC 7313 §5)', () => {
    const bytes = message(5, '0001 01 01 00');
    const e = wireError(() => decodeMessage(bytes, ctx));
    expect([e.code, e.subcode, Buffer.from(e.data).toString('hex')]).to.deep.equal([7, 1, bytes.toString('hex')]);
  });

  it('a normal request with a wrong length is a Bad Message Length', () => {
    const e = wireError(() => decodeMessage(message(5, '0001 00'), ctx));
    expect([e.code, e.subcode, Buffer.from(e.data).toString('hex')]).to.deep.equal([1, 2, '0016']);
  });
});
