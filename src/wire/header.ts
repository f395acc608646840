// The 19-octet message header (RFC 4271 §4.1) and its checks (RFC 4271 §6.1), with the RFC 8654
// extended message length.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                                                               |
//   +                                                               +
//   |                           Marker (16 octets of 0xFF)          |
//   +                                                               +
//   |                                                               |
//   +                                                               +
//   |                                                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |          Length               |      Type     |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
import { WireError, ErrorCode, HeaderSubcode } from './errors';
import { MessageType } from './types';

export const HEADER_LENGTH = 19;
/** RFC 4271 §4: the largest message without RFC 8654. */
export const MAX_MESSAGE_LENGTH = 4096;
/** RFC 8654 §2: the largest message once the Extended Message capability is negotiated. */
export const MAX_EXTENDED_MESSAGE_LENGTH = 65535;

/** RFC 4271 §4.2-§4.5, RFC 2918 §3: minimum length of each message type. */
const MIN_LENGTH: Record<number, number> = {
  [MessageType.OPEN]: 29,
  [MessageType.UPDATE]: 23,
  [MessageType.NOTIFICATION]: 21,
  [MessageType.KEEPALIVE]: 19,
  [MessageType.ROUTE_REFRESH]: 19, // the body check gives the RFC 7313 §5 error
};

export function badLength(length: number, why: string): WireError {
  // RFC 4271 §6.1: Bad Message Length; the data is the erroneous Length field.
  return new WireError({
    code: ErrorCode.MESSAGE_HEADER,
    subcode: HeaderSubcode.BAD_MESSAGE_LENGTH,
    data: Uint8Array.of((length >> 8) & 0xff, length & 0xff),
    field: 'message length',
    message: `bad message length ${length}: ${why}`,
  });
}

/**
 * Checks the header at b[p, p+19) (the caller guarantees 19 octets) and returns the message
 * length. `maxLength` is 4096, or 65535 with RFC 8654; OPEN and KEEPALIVE stay within 4096
 * (RFC 8654 §4).
 */
export function checkHeader(b: Uint8Array, p: number, maxLength: number): number {
  // RFC 4271 §6.1: the marker must be all ones -> Connection Not Synchronized.
  for (let i = 0; i < 16; i++) {
    if (b[p + i] !== 0xff) {
      throw new WireError({
        code: ErrorCode.MESSAGE_HEADER,
        subcode: HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED,
        field: 'message marker',
        message: `marker octet ${i} is 0x${b[p + i].toString(16).padStart(2, '0')}, not 0xff`,
      });
    }
  }
  const length = (b[p + 16] << 8) | b[p + 17];
  const type = b[p + 18];
  if (length < HEADER_LENGTH) throw badLength(length, 'shorter than the 19-octet header');
  if (length > maxLength) throw badLength(length, `longer than the maximum ${maxLength}`);
  const min = MIN_LENGTH[type];
  if (min === undefined) {
    // RFC 4271 §6.1: unknown type -> Bad Message Type; the data is the type field.
    throw new WireError({
      code: ErrorCode.MESSAGE_HEADER,
      subcode: HeaderSubcode.BAD_MESSAGE_TYPE,
      data: Uint8Array.of(type),
      field: 'message type',
      message: `unknown message type ${type}`,
    });
  }
  if (length < min) throw badLength(length, `shorter than the minimum ${min} of message type ${type}`);
  if (type === MessageType.KEEPALIVE && length !== HEADER_LENGTH) throw badLength(length, 'a KEEPALIVE is exactly 19 octets');
  if (type === MessageType.OPEN && length > MAX_MESSAGE_LENGTH) throw badLength(length, 'an OPEN stays within 4096 octets (RFC 8654 §4)');
  return length;
}
