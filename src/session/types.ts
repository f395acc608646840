// The session layer's contract: configuration of one peer, the events fed into its state machine,
// the actions it asks its driver to perform, the negotiated result of an OPEN exchange, and why a
// session went down. Plain data. RFC 4271 §8.1 (events, timers), §4.2 (OPEN), §6.8 (collisions);
// RFC 5492 (capabilities); RFC 4724 + RFC 8538 (graceful restart, notification support).

import type { BgpMessage, CodecContext, Family, OpenMessage, WireErrorInfo } from '../wire/types';
import type { NotificationInfo } from './notification';

/** RFC 4271 §8.2.2 session states. */
export type SessionState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export type AddPathMode = 'receive' | 'send' | 'both';

/** What we advertise in our RFC 4724 Graceful Restart capability. */
export interface LocalGracefulRestart {
  /** Seconds the peer should keep our routes while we restart (12 bits, ≤ 4095). */
  restartTime: number;
  /** R bit: we are restarting now (RFC 4724 §3). */
  restarting: boolean;
  /** N bit: we support RFC 8538 graceful notification. */
  notification: boolean;
  /** Families whose forwarding state we preserved across our restart (F bit). */
  forwardingPreserved: Family[];
}

/** Backoff between attempts: RFC 4271 §8.1.1 IdleHoldTime / DampPeerOscillations. */
export interface BackoffConfig {
  /** First delay after a failure, ms. */
  initialMs: number;
  /** Cap of the exponential growth, ms. */
  maxMs: number;
  /** A session Established this long, ms, resets the backoff when it ends. */
  stableMs: number;
}

export interface SessionConfig {
  /** Used in error texts only. */
  peerAddress: string;
  localAs: number;
  /** Our BGP Identifier, dotted quad. */
  localId: string;
  peerAs: number;
  /** Seconds; 0 (no keepalives) or ≥ 3 (RFC 4271 §4.2). Default 90. */
  holdTime?: number;
  /** Seconds (RFC 4271 §10 suggests 120). Default 120. Also the timeout of one dial. */
  connectRetryTime?: number;
  /** Never dial, only accept (RFC 4271 §8.1.1 PassiveTcpEstablishment). */
  passive?: boolean;
  /** Families we advertise with the Multiprotocol capability (RFC 4760). Default ipv4-unicast. */
  families?: Family[];
  /** RFC 7911 ADD-PATH modes per family. */
  addPath?: Record<Family, AddPathMode>;
  /** Advertise Route Refresh (RFC 2918). Default true. */
  routeRefresh?: boolean;
  /** Advertise Enhanced Route Refresh (RFC 7313). Default false. */
  enhancedRouteRefresh?: boolean;
  /** Advertise Extended Message (RFC 8654). Default true. */
  extendedMessage?: boolean;
  /** Advertise Graceful Restart (RFC 4724); absent: not advertised. */
  gracefulRestart?: LocalGracefulRestart;
  /** FQDN capability (draft-walton-bgp-hostname-capability), shown by FRR. */
  hostname?: string;
  /** Capability codes the peer must advertise, or we refuse with Unsupported Capability (RFC 5492 §5). */
  requiredCapabilities?: number[];
  /**
   * RFC 4271 §8.1.1 DelayOpen: seconds to wait for the peer's OPEN after TCP is up before sending
   * ours (0 or absent: send at once).
   */
  delayOpenTime?: number;
  /** Hold time while waiting for the peer's OPEN, ms (RFC 4271 §8.2.2 "large value", 4 min). */
  openHoldMs?: number;
  /** Backoff after session failures (idle hold) and after failed dials (connect retry). */
  backoff?: Partial<BackoffConfig>;
  /**
   * RFC 4271 §10 jitter: returns a factor in [0.75, 1] applied to ConnectRetryTimer and
   * KeepaliveTimer. Default: random. Tests pass `() => 1`.
   */
  jitter?: () => number;
}

/** Timers the machine runs. `conn` is 0 for the peer-wide ones. */
export type TimerName = 'connect-retry' | 'idle-hold' | 'hold' | 'keepalive' | 'delay-open';

/** RFC 4271 §8.1 events, in the shapes the driver feeds them. */
export type FsmEvent =
  /** ManualStart (Event 1), or AutomaticStart with PassiveTcpEstablishment (Event 5) when configured passive. */
  | { type: 'start' }
  /**
   * ManualStop (Event 2): Cease/Administrative Shutdown (or `subcode`) with an optional RFC 9003
   * communication. With `hardReset` and RFC 8538 negotiated, wrapped in Cease/Hard Reset.
   * `data`: the NOTIFICATION's data field for the subcode (RFC 4486 §4: AFI, SAFI and prefix
   * upper bound for Maximum Number of Prefixes Reached); takes precedence over `communication`.
   */
  | { type: 'stop'; subcode?: number; communication?: string; hardReset?: boolean; data?: Uint8Array }
  /**
   * ConnectRetryTimer_Expires (9), HoldTimer_Expires (10), KeepaliveTimer_Expires (11),
   * DelayOpenTimer_Expires (12), IdleHoldTimer_Expires (13).
   */
  | { type: 'timer'; timer: TimerName; conn: number }
  /** Tcp_CR_Acked (16): our dial on `conn` completed. */
  | { type: 'tcp-connected'; conn: number }
  /** TcpConnectionConfirmed (17): the driver accepted an incoming connection; `conn` from newConnectionId(). */
  | { type: 'tcp-incoming'; conn: number }
  /** TcpConnectionFails (18): a dial failed or an open connection closed/reset. */
  | { type: 'tcp-failed'; conn: number; reason: string }
  /** BGPOpen (19), NotifMsg (24/25), KeepAliveMsg (26), UpdateMsg (27), ROUTE-REFRESH. */
  | { type: 'message'; conn: number; message: BgpMessage }
  /** BGPHeaderErr (21), BGPOpenMsgErr (22), UpdateMsgErr (28): the codec refused a message. */
  | { type: 'decode-error'; conn: number; error: WireErrorInfo };

/** Work the driver must do, in order. */
export type FsmAction =
  /** Dial the peer; give up after `timeoutMs` (then feed tcp-failed). */
  | { type: 'connect'; conn: number; timeoutMs: number }
  | { type: 'send'; conn: number; message: BgpMessage }
  /** Close the connection once what was sent before has been written. */
  | { type: 'close'; conn: number }
  | { type: 'start-timer'; timer: TimerName; conn: number; ms: number }
  | { type: 'stop-timer'; timer: TimerName; conn: number }
  /** The OPEN exchange succeeded on `conn`: decode/encode with these contexts from now on. */
  | { type: 'negotiated'; conn: number; session: NegotiatedSession }
  /** KEEPALIVE received in OpenConfirm: the session is up on `conn`. */
  | { type: 'established'; conn: number; session: NegotiatedSession }
  /** An UPDATE or ROUTE-REFRESH received in Established, for the speaker. */
  | { type: 'deliver'; conn: number; message: BgpMessage }
  /** The Established session on `conn` ended. */
  | { type: 'down'; conn: number; reason: DownReason }
  | { type: 'state'; from: SessionState; to: SessionState };

/** Peer's RFC 4724 capability as received, when both sides advertised Graceful Restart. */
export interface NegotiatedGracefulRestart {
  restartTime: number;
  /** R bit: the peer has just restarted. */
  restarting: boolean;
  /** RFC 8538 N bit, advertised by both sides. */
  notification: boolean;
  /** Families the peer will preserve, with its F bit. */
  families: Map<Family, { forwardingPreserved: boolean }>;
}

/** The outcome of a successful OPEN exchange (RFC 4271 §4.2, RFC 5492). */
export interface NegotiatedSession {
  localAs: number;
  /** The peer's real AS (from the 4-octet AS capability when present, RFC 6793 §4.1). */
  peerAs: number;
  localId: string;
  peerId: string;
  /** iBGP: same AS. */
  internal: boolean;
  /** Seconds, min(ours, theirs); 0 means no hold timer and no keepalives (RFC 4271 §4.2). */
  holdTime: number;
  /** Seconds between our KEEPALIVEs: holdTime / 3 (RFC 4271 §4.4, §10). */
  keepaliveTime: number;
  /** RFC 6793: both advertised 4-octet AS. */
  as4: boolean;
  /** Families both advertised (RFC 4760 §8: none advertised means ipv4-unicast). */
  families: Family[];
  /** RFC 7911 §4: families where we receive / send path identifiers. */
  addPath: { receive: Set<Family>; send: Set<Family> };
  /** RFC 8654: both advertised. */
  extendedMessage: boolean;
  /** RFC 2918: the peer may be sent ROUTE-REFRESH (both advertised). */
  routeRefresh: boolean;
  /** RFC 7313: both advertised. */
  enhancedRouteRefresh: boolean;
  gracefulRestart: NegotiatedGracefulRestart | null;
  /** The peer's FQDN capability, when sent. */
  peerHostname: string | null;
  /** For decoding what the peer sends. */
  rxContext: CodecContext;
  /** For encoding what we send. */
  txContext: CodecContext;
  localOpen: OpenMessage;
  peerOpen: OpenMessage;
}

export type DownKind =
  | 'notification-sent'
  | 'notification-received'
  | 'hold-timer-expired'
  | 'tcp-failure'
  /** A message the state does not allow, on a connection where no NOTIFICATION can be sent. */
  | 'protocol-error'
  | 'stopped'
  | 'peer-restarted';

/** Why an Established session ended. */
export interface DownReason {
  kind: DownKind;
  /** Operator text, e.g. "hold timer expired", "received NOTIFICATION Cease/Administrative Shutdown: 'maintenance'". */
  text: string;
  notification?: NotificationInfo;
  /**
   * Keep the peer's routes as stale (RFC 4724 §4.2) instead of withdrawing them: GR was negotiated
   * and the end was a TCP failure, or with RFC 8538 N bit anything but a Cease/Hard Reset.
   */
  graceful: boolean;
}
