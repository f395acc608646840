// OPEN message body (RFC 4271 §4.2) with optional parameters (RFC 5492 §4: Capabilities, type 2)
// and the RFC 9072 extended optional parameters length.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+
//   |    Version    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     My Autonomous System      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |           Hold Time           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                         BGP Identifier                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | Opt Parm Len  |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |             Optional Parameters (variable)                    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Each optional parameter: Parm. Type (1), Parm. Length (1), Parm. Value. RFC 9072 §2: when Opt
// Parm Len is 255 and the first octet after it is 255, a 2-octet Extended Opt. Parm. Length
// follows and every parameter length is 2 octets.
import { WireError, encodeError, ErrorCode, OpenSubcode } from './errors';
import { decodeCapabilities, encodeCapability } from './capabilities';
import type { Capability, OpenMessage } from './types';
import { copyBytes, ipv4At, u16 } from './reader';
import { Writer } from './writer';
import { parseIPv4 } from '../lib/ip';

/** RFC 5492 §4: optional parameter type of Capabilities. */
export const OPT_PARAM_CAPABILITIES = 2;
/** RFC 9072 §2: marker type for the extended optional parameters length. */
const OPT_PARAM_EXTENDED = 255;

function openError(subcode: number, field: string, message: string, data?: Uint8Array): WireError {
  return new WireError({ code: ErrorCode.OPEN_MESSAGE, subcode, field, message, data });
}

/** Decodes an OPEN body b[p, end) (after the 19-octet header). */
export function decodeOpenBody(b: Uint8Array, p: number, end: number): OpenMessage {
  // Length >= 29 is checked with the header (RFC 4271 §6.1), so the fixed part is present.
  const version = b[p];
  if (version !== 4) {
    // RFC 4271 §6.2: data is the 2-octet largest locally supported version (we only do 4).
    throw openError(OpenSubcode.UNSUPPORTED_VERSION_NUMBER, 'OPEN version', `BGP version ${version} is not supported (only 4)`, Uint8Array.of(0, 4));
  }
  const myAs = u16(b, p + 1);
  const holdTime = u16(b, p + 3);
  // RFC 4271 §6.2: a Hold Time of 1 or 2 seconds MUST be rejected (0 is allowed: no keepalives).
  if (holdTime === 1 || holdTime === 2) {
    throw openError(OpenSubcode.UNACCEPTABLE_HOLD_TIME, 'OPEN hold time', `hold time ${holdTime} s is not allowed (0 or >= 3)`);
  }
  const bgpId = ipv4At(b, p + 5);
  // RFC 6286 §2.2: the BGP Identifier is any non-zero 32-bit value.
  if (b[p + 5] === 0 && b[p + 6] === 0 && b[p + 7] === 0 && b[p + 8] === 0) {
    throw openError(OpenSubcode.BAD_BGP_IDENTIFIER, 'OPEN BGP identifier', 'BGP identifier 0.0.0.0 is not valid');
  }
  let optLen = b[p + 9];
  let q = p + 10;
  let extended = false;
  if (optLen === 255 && q < end && b[q] === OPT_PARAM_EXTENDED) {
    // RFC 9072 §2: Non-Ext OP Type 255, then Extended Opt. Parm. Length (2 octets).
    if (end - q < 3) throw openError(OpenSubcode.UNSPECIFIC, 'OPEN optional parameters length', 'truncated extended optional parameters length');
    optLen = u16(b, q + 1);
    q += 3;
    extended = true;
  }
  if (q + optLen !== end) {
    throw openError(OpenSubcode.UNSPECIFIC, 'OPEN optional parameters length',
      `optional parameters length ${optLen} does not match the ${end - q} octet(s) that follow`);
  }
  const capabilities: Capability[] = [];
  const hdr = extended ? 3 : 2;
  while (q < end) {
    if (end - q < hdr) throw openError(OpenSubcode.UNSPECIFIC, 'OPEN optional parameter', 'truncated optional parameter header');
    const type = b[q];
    const len = extended ? u16(b, q + 1) : b[q + 1];
    const v = q + hdr;
    if (v + len > end) throw openError(OpenSubcode.UNSPECIFIC, 'OPEN optional parameter', `parameter type ${type} length ${len} runs past the message`);
    if (type !== OPT_PARAM_CAPABILITIES) {
      // RFC 4271 §6.2 (type 1, Authentication, is deprecated and unsupported too).
      throw openError(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, 'OPEN optional parameter',
        `optional parameter type ${type} is not supported`, copyBytes(b, q, v + len));
    }
    decodeCapabilities(b, v, v + len, capabilities);
    q = v + len;
  }
  return { type: 'open', version, myAs, holdTime, bgpId, capabilities };
}

function checkInt(v: number, max: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw encodeError(field, `${v} is not an integer in 0..${max}`);
  return v;
}

/**
 * Encodes an OPEN body. Capabilities go into as few Capabilities parameters as fit in 255 octets
 * each (RFC 5492 §4 allows one or many); if those need more than 255 octets of optional
 * parameters, the RFC 9072 extended form with a single parameter is used.
 */
export function encodeOpenBody(w: Writer, msg: OpenMessage): void {
  w.u8(checkInt(msg.version, 255, 'OPEN version'));
  w.u16(checkInt(msg.myAs, 0xffff, 'OPEN my AS'));
  const hold = checkInt(msg.holdTime, 0xffff, 'OPEN hold time');
  if (hold === 1 || hold === 2) throw encodeError('OPEN hold time', `${hold} s is not allowed (0 or >= 3), RFC 4271 §4.2`);
  w.u16(hold);
  const id = parseIPv4(msg.bgpId);
  if (!id) throw encodeError('OPEN BGP identifier', `"${msg.bgpId}" is not dotted-quad IPv4 text`);
  w.bytes(id);
  // Each capability separately, to pack them into parameters.
  const encoded: Buffer[] = [];
  for (const cap of msg.capabilities) {
    const cw = new Writer(32);
    encodeCapability(cw, cap);
    encoded.push(cw.finish());
  }
  const params: Buffer[][] = [];
  let cur: Buffer[] = [];
  let curLen = 0;
  for (const c of encoded) {
    if (curLen + c.length > 255 && cur.length > 0) {
      params.push(cur);
      cur = [];
      curLen = 0;
    }
    cur.push(c);
    curLen += c.length;
  }
  if (cur.length > 0) params.push(cur);
  const total = params.reduce((n, ps) => n + 2 + ps.reduce((m, c) => m + c.length, 0), 0);
  if (total <= 255 && encoded.every((c) => c.length <= 255)) {
    w.u8(total);
    for (const ps of params) {
      w.u8(OPT_PARAM_CAPABILITIES);
      w.u8(ps.reduce((m, c) => m + c.length, 0));
      for (const c of ps) w.bytes(c);
    }
    return;
  }
  // RFC 9072 §2: extended form, one Capabilities parameter with a 2-octet length.
  const all = Buffer.concat(encoded);
  if (all.length + 3 > 0xffff) throw encodeError('OPEN capabilities', `${all.length} octets of capabilities do not fit`);
  w.u8(255);
  w.u8(OPT_PARAM_EXTENDED);
  w.u16(all.length + 3);
  w.u8(OPT_PARAM_CAPABILITIES);
  w.u16(all.length);
  w.bytes(all);
}
