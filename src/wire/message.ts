// Whole messages: header + body, decode and encode (RFC 4271 §4), within the negotiated maximum
// length (RFC 8654 §4). The entry points of the codec.
import { WireError, encodeError, ErrorCode, HeaderSubcode } from './errors';
import { HEADER_LENGTH, MAX_EXTENDED_MESSAGE_LENGTH, MAX_MESSAGE_LENGTH, badLength, checkHeader } from './header';
import { decodeNotificationBody, encodeNotificationBody } from './notification';
import { decodeOpenBody, encodeOpenBody } from './open';
import { decodeRouteRefreshBody, encodeRouteRefreshBody } from './route-refresh';
import { MessageType, type BgpMessage, type CodecContext } from './types';
import { decodeUpdateBody, encodeUpdateBody } from './update';
import { Writer } from './writer';

/** The `field` of the WireError that wraps an unexpected exception inside the decoder. */
export const INTERNAL_ERROR_FIELD = 'internal decoder error';

/** The largest message allowed in this context (RFC 4271 §4 / RFC 8654 §2). */
export function maxMessageLength(ctx: CodecContext): number {
  return ctx.extendedMessage ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH;
}

/**
 * Decodes one whole message (header included; `bytes` must be exactly the message, as the Framer
 * returns it). Throws only WireError, whatever the bytes; RFC 7606 non-fatal outcomes are
 * reported on the UpdateMessage (treatAsWithdraw, discarded).
 */
export function decodeMessage(bytes: Uint8Array, ctx: CodecContext): BgpMessage {
  try {
    return decode(bytes, ctx);
  } catch (e) {
    if (e instanceof WireError) throw e;
    // A bug of ours must still come out as a protocol-shaped error, never a crash. The field
    // says so, and the tests assert it never happens.
    throw new WireError({
      code: ErrorCode.MESSAGE_HEADER, subcode: HeaderSubcode.UNSPECIFIC, field: INTERNAL_ERROR_FIELD,
      message: `internal decoder error: ${e instanceof Error ? e.message : String(e)}`,
    });
  }
}

function decode(bytes: Uint8Array, ctx: CodecContext): BgpMessage {
  if (bytes.length < HEADER_LENGTH) {
    const declared = bytes.length >= 18 ? (bytes[16] << 8) | bytes[17] : bytes.length;
    throw badLength(declared, `only ${bytes.length} octet(s), shorter than the 19-octet header`);
  }
  const length = checkHeader(bytes, 0, maxMessageLength(ctx));
  if (length !== bytes.length) throw badLength(length, `the header says ${length} octets but ${bytes.length} were given`);
  const type = bytes[18];
  switch (type) {
    case MessageType.UPDATE: return decodeUpdateBody(bytes, HEADER_LENGTH, length, ctx);
    case MessageType.KEEPALIVE: return { type: 'keepalive' };
    case MessageType.OPEN: return decodeOpenBody(bytes, HEADER_LENGTH, length);
    case MessageType.NOTIFICATION: return decodeNotificationBody(bytes, HEADER_LENGTH, length);
    default: return decodeRouteRefreshBody(bytes, 0, HEADER_LENGTH, length); // checkHeader allows no other type
  }
}

const MARKER = Buffer.alloc(16, 0xff);

/**
 * Encodes one whole message with its header. Throws WireError (field named) when a field cannot
 * be encoded or the message exceeds the negotiated maximum (RFC 4271 §4: 4096; RFC 8654: 65535
 * for all but OPEN and KEEPALIVE).
 */
export function encodeMessage(msg: BgpMessage, ctx: CodecContext): Buffer {
  const w = new Writer(msg.type === 'update' ? 1024 : 128);
  w.bytes(MARKER);
  w.u16(0);
  let max = maxMessageLength(ctx);
  switch (msg.type) {
    case 'open':
      w.u8(MessageType.OPEN);
      encodeOpenBody(w, msg);
      max = MAX_MESSAGE_LENGTH;
      break;
    case 'update':
      w.u8(MessageType.UPDATE);
      encodeUpdateBody(w, msg, ctx);
      break;
    case 'notification':
      w.u8(MessageType.NOTIFICATION);
      encodeNotificationBody(w, msg);
      break;
    case 'keepalive':
      w.u8(MessageType.KEEPALIVE);
      break;
    case 'route-refresh':
      w.u8(MessageType.ROUTE_REFRESH);
      encodeRouteRefreshBody(w, msg);
      break;
    default:
      throw encodeError('message type', `unknown message type ${JSON.stringify((msg as { type: unknown }).type)}`);
  }
  if (w.pos > max) {
    throw new WireError({
      code: ErrorCode.MESSAGE_HEADER, subcode: HeaderSubcode.BAD_MESSAGE_LENGTH, field: 'message length',
      message: `cannot encode ${msg.type}: ${w.pos} octets exceed the maximum message length ${max}`,
    });
  }
  w.patch16(16, w.pos);
  return w.finish();
}
