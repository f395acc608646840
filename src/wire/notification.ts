// NOTIFICATION (RFC 4271 §4.5) and KEEPALIVE (RFC 4271 §4.4) bodies, with the shutdown
// communication of RFC 8203 / RFC 9003 for Cease subcodes Administrative Shutdown (2) and
// Administrative Reset (4).
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | Error code    | Error subcode |   Data (variable)             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Shutdown communication in Data (RFC 9003 §2):
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Length    | Shutdown Communication (UTF-8, Length octets) |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
import { encodeError, ErrorCode, CeaseSubcode, MAX_SHUTDOWN_COMMUNICATION_OCTETS } from './errors';
import type { NotificationMessage } from './types';
import { copyBytes, utf8OrNull } from './reader';
import type { Writer } from './writer';

function carriesCommunication(code: number, subcode: number): boolean {
  return code === ErrorCode.CEASE &&
    (subcode === CeaseSubcode.ADMINISTRATIVE_SHUTDOWN || subcode === CeaseSubcode.ADMINISTRATIVE_RESET);
}

/**
 * Decodes a NOTIFICATION body b[p, end). Never fails (RFC 4271 §6.4: no NOTIFICATION answers a
 * NOTIFICATION): a shutdown communication that is not valid (length past the data, bad UTF-8)
 * is simply not decoded, the data is still returned.
 */
export function decodeNotificationBody(b: Uint8Array, p: number, end: number): NotificationMessage {
  const code = b[p];
  const subcode = b[p + 1];
  const data = copyBytes(b, p + 2, end);
  const msg: NotificationMessage = { type: 'notification', code, subcode, data };
  if (carriesCommunication(code, subcode) && data.length >= 1) {
    const n = data[0];
    // RFC 9003 §2: Length 0 means no communication; a length running past the data is invalid.
    if (n > 0 && 1 + n <= data.length) {
      const text = utf8OrNull(data.subarray(1, 1 + n));
      if (text !== null) msg.shutdownCommunication = text;
    }
  }
  return msg;
}

/** The Data field for a shutdown communication (RFC 9003 §2); throws when it exceeds 255 octets. */
export function shutdownCommunicationData(text: string): Uint8Array {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > MAX_SHUTDOWN_COMMUNICATION_OCTETS) {
    throw encodeError('shutdown communication', `${bytes.length} octets of UTF-8 exceed ${MAX_SHUTDOWN_COMMUNICATION_OCTETS} (RFC 9003 §2)`);
  }
  const out = new Uint8Array(1 + bytes.length);
  out[0] = bytes.length;
  out.set(bytes, 1);
  return out;
}

/**
 * Encodes a NOTIFICATION body. `data` is sent as given; when it is empty and the message is a
 * Cease / Administrative Shutdown or Reset with `shutdownCommunication`, the data is built from it.
 */
export function encodeNotificationBody(w: Writer, msg: NotificationMessage): void {
  if (!Number.isInteger(msg.code) || msg.code < 0 || msg.code > 255) throw encodeError('NOTIFICATION error code', `${msg.code} is not 0..255`);
  if (!Number.isInteger(msg.subcode) || msg.subcode < 0 || msg.subcode > 255) throw encodeError('NOTIFICATION error subcode', `${msg.subcode} is not 0..255`);
  w.u8(msg.code);
  w.u8(msg.subcode);
  if (msg.data.length === 0 && msg.shutdownCommunication !== undefined && msg.shutdownCommunication !== '' &&
    carriesCommunication(msg.code, msg.subcode)) {
    w.bytes(shutdownCommunicationData(msg.shutdownCommunication));
  } else {
    w.bytes(msg.data);
  }
}

/**
 * A Cease NOTIFICATION for an administrative shutdown or reset with an optional shutdown
 * communication (RFC 8203 / RFC 9003).
 */
export function shutdownNotification(subcode: 2 | 4, communication = ''): NotificationMessage {
  const data = communication === '' ? new Uint8Array(0) : shutdownCommunicationData(communication);
  const msg: NotificationMessage = { type: 'notification', code: ErrorCode.CEASE, subcode, data };
  if (communication !== '') msg.shutdownCommunication = communication;
  return msg;
}
