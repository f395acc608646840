// ROUTE-REFRESH message body (RFC 2918 §3) with the RFC 7313 §3 message subtypes.
//
//    0       7      15      23      31
//   +-------+-------+-------+-------+
//   |      AFI      | Subtype| SAFI  |
//   +-------+-------+-------+-------+
//
// Subtype (RFC 7313 §3; "Reserved" in RFC 2918): 0 normal route refresh, 1 Beginning of
// Route-Refresh (BoRR), 2 End of Route-Refresh (EoRR), 255 reserved. RFC 7313 §5: other values
// are to be ignored by the receiver; the codec returns them and leaves ignoring to the session.
import { WireError, encodeError, ErrorCode, HeaderSubcode, RouteRefreshSubcode } from './errors';
import type { RouteRefreshMessage } from './types';
import { copyBytes, u16 } from './reader';
import type { Writer } from './writer';

export const RouteRefreshSubtype = { NORMAL: 0, BORR: 1, EORR: 2 } as const;

/** Decodes a ROUTE-REFRESH; `msgStart` is where its header begins (for error data). */
export function decodeRouteRefreshBody(b: Uint8Array, msgStart: number, p: number, end: number): RouteRefreshMessage {
  const len = end - p;
  if (len !== 4) {
    const subtype = len >= 3 ? b[p + 2] : 0;
    if (subtype === 1 || subtype === 2) {
      // RFC 7313 §5: BoRR/EoRR with a body other than 4 octets -> ROUTE-REFRESH Message Error /
      // Invalid Message Length, the data being the complete message.
      throw new WireError({
        code: ErrorCode.ROUTE_REFRESH_MESSAGE, subcode: RouteRefreshSubcode.INVALID_MESSAGE_LENGTH,
        data: copyBytes(b, msgStart, end), field: 'ROUTE-REFRESH length',
        message: `ROUTE-REFRESH (subtype ${subtype}) of ${len + 19} octets; expected 23`,
      });
    }
    // RFC 2918 §3 fixes the length; RFC 4271 §6.1: Bad Message Length with the length as data.
    const total = len + 19;
    throw new WireError({
      code: ErrorCode.MESSAGE_HEADER, subcode: HeaderSubcode.BAD_MESSAGE_LENGTH,
      data: Uint8Array.of(total >> 8, total & 0xff), field: 'message length',
      message: `ROUTE-REFRESH of ${total} octets; expected 23`,
    });
  }
  return { type: 'route-refresh', afi: u16(b, p), subtype: b[p + 2], safi: b[p + 3] };
}

export function encodeRouteRefreshBody(w: Writer, msg: RouteRefreshMessage): void {
  const check = (v: number, max: number, f: string): number => {
    if (!Number.isInteger(v) || v < 0 || v > max) throw encodeError(`ROUTE-REFRESH ${f}`, `${v} is not 0..${max}`);
    return v;
  };
  w.u16(check(msg.afi, 0xffff, 'AFI'));
  w.u8(check(msg.subtype, 255, 'subtype'));
  w.u8(check(msg.safi, 255, 'SAFI'));
}
