// BGP error model for the codec: NOTIFICATION error codes and subcodes, and the one error type
// (WireError) the codec throws. RFC 4271 §4.5, §6 (codes, subcodes, data); RFC 4486 and RFC 8538
// and RFC 9384 (Cease subcodes); RFC 8203 / RFC 9003 (shutdown communication); RFC 6608 (FSM error
// subcodes); RFC 7313 §5 (ROUTE-REFRESH message error); RFC 5492 §5 (unsupported capability);
// RFC 7606 §2 (error actions: session reset, treat-as-withdraw, attribute discard).
import type { ErrorAction, NotificationMessage, WireErrorInfo } from './types';

/** RFC 4271 §4.5 error codes (+ RFC 7313 §5 ROUTE-REFRESH Message Error). */
export const ErrorCode = {
  MESSAGE_HEADER: 1,
  OPEN_MESSAGE: 2,
  UPDATE_MESSAGE: 3,
  HOLD_TIMER_EXPIRED: 4,
  FSM: 5,
  CEASE: 6,
  ROUTE_REFRESH_MESSAGE: 7,
} as const;

/** RFC 4271 §6.1 Message Header Error subcodes. */
export const HeaderSubcode = {
  UNSPECIFIC: 0,
  CONNECTION_NOT_SYNCHRONIZED: 1,
  BAD_MESSAGE_LENGTH: 2,
  BAD_MESSAGE_TYPE: 3,
} as const;

/** RFC 4271 §6.2 OPEN Message Error subcodes; 7 from RFC 5492 §5; 11 from RFC 9234. */
export const OpenSubcode = {
  UNSPECIFIC: 0,
  UNSUPPORTED_VERSION_NUMBER: 1,
  BAD_PEER_AS: 2,
  BAD_BGP_IDENTIFIER: 3,
  UNSUPPORTED_OPTIONAL_PARAMETER: 4,
  /** 5 was Authentication Failure, deprecated by RFC 4271. */
  UNACCEPTABLE_HOLD_TIME: 6,
  UNSUPPORTED_CAPABILITY: 7,
  ROLE_MISMATCH: 11,
} as const;

/** RFC 4271 §6.3 UPDATE Message Error subcodes (7, AS Routing Loop, is deprecated). */
export const UpdateSubcode = {
  UNSPECIFIC: 0,
  MALFORMED_ATTRIBUTE_LIST: 1,
  UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: 2,
  MISSING_WELL_KNOWN_ATTRIBUTE: 3,
  ATTRIBUTE_FLAGS_ERROR: 4,
  ATTRIBUTE_LENGTH_ERROR: 5,
  INVALID_ORIGIN_ATTRIBUTE: 6,
  INVALID_NEXT_HOP_ATTRIBUTE: 8,
  OPTIONAL_ATTRIBUTE_ERROR: 9,
  INVALID_NETWORK_FIELD: 10,
  MALFORMED_AS_PATH: 11,
} as const;

/** RFC 4271 §6.5: Hold Timer Expired has no subcodes. */
export const HoldTimerSubcode = { UNSPECIFIC: 0 } as const;

/** RFC 6608 §3 Finite State Machine Error subcodes. */
export const FsmSubcode = {
  UNSPECIFIED: 0,
  UNEXPECTED_MESSAGE_IN_OPENSENT: 1,
  UNEXPECTED_MESSAGE_IN_OPENCONFIRM: 2,
  UNEXPECTED_MESSAGE_IN_ESTABLISHED: 3,
} as const;

/** RFC 4486 §4 Cease subcodes; 9 Hard Reset from RFC 8538 §3; 10 BFD Down from RFC 9384. */
export const CeaseSubcode = {
  UNSPECIFIC: 0,
  MAXIMUM_NUMBER_OF_PREFIXES_REACHED: 1,
  ADMINISTRATIVE_SHUTDOWN: 2,
  PEER_DECONFIGURED: 3,
  ADMINISTRATIVE_RESET: 4,
  CONNECTION_REJECTED: 5,
  OTHER_CONFIGURATION_CHANGE: 6,
  CONNECTION_COLLISION_RESOLUTION: 7,
  OUT_OF_RESOURCES: 8,
  HARD_RESET: 9,
  BFD_DOWN: 10,
} as const;

/** RFC 7313 §5 ROUTE-REFRESH Message Error subcodes. */
export const RouteRefreshSubcode = {
  RESERVED: 0,
  INVALID_MESSAGE_LENGTH: 1,
} as const;

/** RFC 9003 §2: a shutdown communication is at most 255 octets of UTF-8. */
export const MAX_SHUTDOWN_COMMUNICATION_OCTETS = 255;

const CODE_NAMES: Record<number, string> = {
  1: 'Message Header Error',
  2: 'OPEN Message Error',
  3: 'UPDATE Message Error',
  4: 'Hold Timer Expired',
  5: 'Finite State Machine Error',
  6: 'Cease',
  7: 'ROUTE-REFRESH Message Error',
};

const SUBCODE_NAMES: Record<number, Record<number, string>> = {
  1: { 1: 'Connection Not Synchronized', 2: 'Bad Message Length', 3: 'Bad Message Type' },
  2: {
    1: 'Unsupported Version Number', 2: 'Bad Peer AS', 3: 'Bad BGP Identifier',
    4: 'Unsupported Optional Parameter', 5: 'Authentication Failure (deprecated)',
    6: 'Unacceptable Hold Time', 7: 'Unsupported Capability', 11: 'Role Mismatch',
  },
  3: {
    1: 'Malformed Attribute List', 2: 'Unrecognized Well-known Attribute',
    3: 'Missing Well-known Attribute', 4: 'Attribute Flags Error', 5: 'Attribute Length Error',
    6: 'Invalid ORIGIN Attribute', 7: 'AS Routing Loop (deprecated)', 8: 'Invalid NEXT_HOP Attribute',
    9: 'Optional Attribute Error', 10: 'Invalid Network Field', 11: 'Malformed AS_PATH',
  },
  5: {
    1: 'Receive Unexpected Message in OpenSent State',
    2: 'Receive Unexpected Message in OpenConfirm State',
    3: 'Receive Unexpected Message in Established State',
  },
  6: {
    1: 'Maximum Number of Prefixes Reached', 2: 'Administrative Shutdown', 3: 'Peer De-configured',
    4: 'Administrative Reset', 5: 'Connection Rejected', 6: 'Other Configuration Change',
    7: 'Connection Collision Resolution', 8: 'Out of Resources', 9: 'Hard Reset', 10: 'BFD Down',
  },
  7: { 1: 'Invalid Message Length' },
};

/** Human name of a NOTIFICATION error code, e.g. "UPDATE Message Error"; "code N" when unknown. */
export function errorCodeName(code: number): string {
  return CODE_NAMES[code] ?? `code ${code}`;
}

/** Human name of a subcode within its code, e.g. "Malformed AS_PATH"; "Unspecific" for 0. */
export function errorSubcodeName(code: number, subcode: number): string {
  const name = SUBCODE_NAMES[code]?.[subcode];
  if (name) return name;
  return subcode === 0 ? 'Unspecific' : `subcode ${subcode}`;
}

const EMPTY = new Uint8Array(0);

export interface WireErrorInit {
  code: number;
  subcode: number;
  data?: Uint8Array;
  action?: ErrorAction;
  field: string;
  message: string;
}

/**
 * The only error the codec throws. It carries what the NOTIFICATION needs (code, subcode, data,
 * RFC 4271 §6) and what an operator needs (field, message). `action` is RFC 7606 §2's: the codec
 * only ever throws 'session-reset' errors; the milder actions are reported on the UpdateMessage.
 * Errors raised while encoding a local message use code 0 (no NOTIFICATION belongs to them).
 */
export class WireError extends Error implements WireErrorInfo {
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
  readonly action: ErrorAction;
  readonly field: string;

  constructor(init: WireErrorInit) {
    super(init.message);
    this.name = 'WireError';
    this.code = init.code;
    this.subcode = init.subcode;
    this.data = init.data ?? EMPTY;
    this.action = init.action ?? 'session-reset';
    this.field = init.field;
  }

  /** A plain-data copy (what UpdateMessage.treatAsWithdraw / discarded hold). */
  info(): WireErrorInfo {
    return errorInfo(this);
  }
}

/** A plain WireErrorInfo (no stack, no prototype): used for RFC 7606 non-fatal reports. */
export function errorInfo(init: WireErrorInit): WireErrorInfo {
  return {
    code: init.code,
    subcode: init.subcode,
    data: init.data ?? EMPTY,
    action: init.action ?? 'session-reset',
    field: init.field,
    message: init.message,
  };
}

/** An encoder-side error: the local message cannot be put on the wire. */
export function encodeError(field: string, message: string): WireError {
  return new WireError({ code: 0, subcode: 0, field, message: `cannot encode ${field}: ${message}` });
}

/**
 * The NOTIFICATION to send for an error. For a WireError with a protocol code (RFC 4271 §6) it is
 * that code, subcode and data. Anything else (an encoder error, a bug of ours) ends the session
 * with Cease, subcode 0 (RFC 4486 §4 defines no subcode for it): the peer did nothing wrong.
 */
export function notificationFromError(err: unknown): NotificationMessage {
  if (err instanceof WireError && err.code >= 1 && err.code <= 255) {
    return { type: 'notification', code: err.code, subcode: err.subcode & 0xff, data: err.data };
  }
  return { type: 'notification', code: ErrorCode.CEASE, subcode: CeaseSubcode.UNSPECIFIC, data: EMPTY };
}
