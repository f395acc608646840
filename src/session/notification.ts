// NOTIFICATION codes as the session layer uses them: names for status/log text ("received
// NOTIFICATION Cease/Administrative Shutdown: 'maintenance'"), the shutdown communication
// (RFC 8203 / RFC 9003) we put into a Cease we send, and the RFC 8538 Hard Reset wrapper.
// RFC 4271 §4.5 (codes), §6 (subcodes); RFC 4486 (Cease subcodes); RFC 6608 (FSM error
// subcodes); RFC 5492 §5 (Unsupported Capability); RFC 8538 §3 (Hard Reset); RFC 9003.
// The code/subcode constants and names themselves live in wire/errors.ts.

import { CeaseSubcode, ErrorCode, MAX_SHUTDOWN_COMMUNICATION_OCTETS, errorCodeName, errorSubcodeName } from '../wire/errors';

/** "Cease/Administrative Shutdown", "OPEN Message Error/Bad Peer AS", "Cease" (subcode 0). */
export function notificationName(code: number, subcode: number): string {
  const c = errorCodeName(code);
  return subcode === 0 ? c : `${c}/${errorSubcodeName(code, subcode)}`;
}

/** A NOTIFICATION's content, as the session records it. */
export interface NotificationInfo {
  code: number;
  subcode: number;
  data: Uint8Array;
  /** RFC 9003 shutdown communication, when the Cease carried one. */
  communication?: string;
}

/** The text of a NOTIFICATION for the status table: name, then the communication if any. */
export function describeNotification(n: NotificationInfo): string {
  const base = notificationName(n.code, n.subcode);
  if (n.communication !== undefined && n.communication !== '') return `${base}: '${n.communication}'`;
  // RFC 8538 §3: a Hard Reset carries the real reason as code, subcode, data.
  if (n.code === ErrorCode.CEASE && n.subcode === CeaseSubcode.HARD_RESET && n.data.length >= 2) {
    const inner = decodeShutdownCommunication(n.data[0], n.data[1], n.data.subarray(2));
    return `${base} (${describeNotification({ code: n.data[0], subcode: n.data[1], data: n.data.subarray(2), communication: inner ?? undefined })})`;
  }
  return base;
}

/**
 * RFC 9003 §2: the data of a Cease/Administrative Shutdown or Administrative Reset is a length
 * octet and that many octets of UTF-8. Longer text is cut at a character boundary.
 */
export function encodeShutdownCommunication(text: string): Uint8Array {
  let bytes = Buffer.from(text, 'utf8');
  if (bytes.length > MAX_SHUTDOWN_COMMUNICATION_OCTETS) {
    let cut = MAX_SHUTDOWN_COMMUNICATION_OCTETS;
    while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--; // do not split a UTF-8 sequence
    bytes = bytes.subarray(0, cut);
  }
  const out = new Uint8Array(1 + bytes.length);
  out[0] = bytes.length;
  out.set(bytes, 1);
  return out;
}

/** The communication in a Cease/2 or Cease/4 data field, or null when there is none or it is malformed. */
export function decodeShutdownCommunication(code: number, subcode: number, data: Uint8Array): string | null {
  if (code !== ErrorCode.CEASE || (subcode !== CeaseSubcode.ADMINISTRATIVE_SHUTDOWN && subcode !== CeaseSubcode.ADMINISTRATIVE_RESET)) return null;
  if (data.length < 1 || data[0] === 0 || data.length < 1 + data[0]) return null;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(1, 1 + data[0]));
  } catch {
    return null;
  }
}

/** RFC 8538 §3: Cease/Hard Reset whose data is the code, subcode and data of the real reason. */
export function hardResetWrap(inner: NotificationInfo): NotificationInfo {
  const data = new Uint8Array(2 + inner.data.length);
  data[0] = inner.code;
  data[1] = inner.subcode;
  data.set(inner.data, 2);
  return { code: ErrorCode.CEASE, subcode: CeaseSubcode.HARD_RESET, data, communication: inner.communication };
}

/** RFC 8538 §4: only a Cease/Hard Reset ends a session with N-bit GR without keeping routes. */
export function isHardReset(n: { code: number; subcode: number }): boolean {
  return n.code === ErrorCode.CEASE && n.subcode === CeaseSubcode.HARD_RESET;
}
