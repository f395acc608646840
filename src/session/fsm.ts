// The BGP finite state machine of one peer, sans I/O: events in, actions out. No sockets, no
// clocks: time is the `now` passed with each event, timers are start/stop actions and come back as
// timer events. One PeerFsm owns every TCP connection to its peer (at most one outgoing dial and
// the incoming ones), so connection collisions are resolved here, purely.
//
// RFC 4271 §8 (FSM), §8.2.2 (per-state behaviour), §6.8 (collision detection), §4.4 (keepalive),
// §10 (timers, jitter); RFC 6608 (FSM error subcodes); RFC 4486 (Cease subcodes);
// RFC 6286 §2.3 (collisions with equal identifiers); RFC 4724 §4.2 + RFC 8538 §4 (whether an
// ended session keeps the peer's routes as stale); RFC 9003 (shutdown communication).
//
// Deviations, all in the direction of real daemons (BIRD, FRR):
//  - a failed or timed-out dial waits in Active (still accepting the peer's connection) for a
//    ConnectRetryTimer that doubles with each consecutive failure, instead of dropping to Idle;
//  - a session that fails after the TCP connection was up (NOTIFICATION sent or received, hold
//    timer expiry, connection lost) goes to Idle with an IdleHoldTimer that doubles with each
//    consecutive failure and resets once a session stayed Established for `stableMs`
//    (§8.1.1 DampPeerOscillations); we never dial during it, but only a peer that broke the
//    protocol (we sent the NOTIFICATION) has its incoming connections refused meanwhile;
//  - the HoldTimer is not restarted per received message; the time of the last message is kept
//    and an expiry that comes early re-arms itself for the remainder (same observable behaviour,
//    no timer action per UPDATE);
//  - DelayOpen (§8.1.1) is per connection: a connected socket waiting for the peer's OPEN
//    reports Connect (we dialed) or Active (it was incoming);
//  - KEEPALIVEs go out every KeepaliveTime even while UPDATEs flow (§8.2.2 would restart the
//    timer on each UPDATE sent; an extra KEEPALIVE is harmless, an action per UPDATE is not);
//  - a new OPEN on a second connection while Established, from a peer that negotiated Graceful
//    Restart, ends the old session as a graceful restart (RFC 4724 §4.2) instead of losing the
//    collision; without GR the new connection is closed with Cease/Connection Collision Resolution.

import type { BgpMessage, NotificationMessage, OpenMessage } from '../wire/types';
import { CeaseSubcode, ErrorCode, FsmSubcode } from '../wire/errors';
import {
  NotificationInfo, describeNotification, encodeShutdownCommunication, hardResetWrap, isHardReset,
} from './notification';
import { OpenError, buildOpen, configProblems, negotiate, outgoingWinsCollision } from './negotiate';
import type {
  BackoffConfig, DownKind, DownReason, FsmAction, FsmEvent, LocalGracefulRestart, NegotiatedSession, SessionConfig, SessionState, TimerName,
} from './types';

/** A configuration the FSM cannot run with. */
export class SessionConfigError extends Error {
  constructor(readonly peer: string, readonly problems: string[]) {
    super(`peer ${peer}: ${problems.join('; ')}`);
    this.name = 'SessionConfigError';
  }
}

/**
 * Where one TCP connection is. 'OpenDelay' is RFC 4271's Connect (outgoing) or Active (incoming)
 * state with the DelayOpenTimer running: connected, our OPEN held back (§8.1.1 DelayOpen).
 */
type ConnState = 'Connect' | 'OpenDelay' | 'OpenSent' | 'OpenConfirm' | 'Established';

const RANK: Record<ConnState, number> = { Connect: 0, OpenDelay: 1, OpenSent: 2, OpenConfirm: 3, Established: 4 };

interface Connection {
  id: number;
  outgoing: boolean;
  state: ConnState;
  negotiated: NegotiatedSession | null;
  /** The OPEN we sent on this connection (negotiation compares the peer's with this one). */
  sentOpen: OpenMessage | null;
  /** Time the last message arrived (hold timer reference). */
  lastRxAt: number;
  establishedAt: number | null;
}

/** Peer-wide timers use connection id 0. */
const PEER = 0;

export const DEFAULT_BACKOFF: BackoffConfig = { initialMs: 2000, maxMs: 120_000, stableMs: 60_000 };

/** A snapshot for the status table. */
export interface SessionStatus {
  state: SessionState;
  /** The last thing that went wrong, e.g. "hold timer expired"; null if nothing yet. */
  lastError: string | null;
  lastErrorAt: number | null;
  lastDown: DownReason | null;
  establishedAt: number | null;
  /** Established sessions that ended. */
  flaps: number;
  /** Consecutive failed sessions / failed dials, driving the backoff. */
  failures: { session: number; dial: number };
  /** Connections we closed with Cease/Connection Collision Resolution (RFC 4271 §6.8). */
  collisions: number;
  session: NegotiatedSession | null;
}

export class PeerFsm {
  private cfg: SessionConfig;
  /** The OPEN for connections from now on (see updateGracefulRestart). */
  private localOpen: OpenMessage;
  private readonly backoff: BackoffConfig;
  private readonly jitter: () => number;
  private readonly connectRetryMs: number;
  private readonly openHoldMs: number;
  private readonly delayOpenMs: number;

  private readonly conns = new Map<number, Connection>();
  /** Armed timers and when they are due. */
  private readonly deadlines = new Map<string, number>();
  private started = false;
  private idleHolding = false;
  /** The failure that started the IdleHoldTimer was the peer's protocol error. */
  private idleHoldRefusesIncoming = false;
  private nextId = 1;
  private sessionFailures = 0;
  private dialFailures = 0;
  private reported: SessionState = 'Idle';

  private lastError: string | null = null;
  private lastErrorAt: number | null = null;
  private lastDown: DownReason | null = null;
  private flaps = 0;
  private collisions = 0;

  // Per-call scratch: the actions of the event being handled, and its time.
  private out: FsmAction[] = [];
  private now = 0;

  constructor(config: SessionConfig) {
    const problems = configProblems(config);
    if (problems.length > 0) throw new SessionConfigError(config.peerAddress, problems);
    this.cfg = config;
    this.localOpen = buildOpen(config);
    this.backoff = { ...DEFAULT_BACKOFF, ...config.backoff };
    this.jitter = config.jitter ?? (() => 0.75 + Math.random() * 0.25);
    this.connectRetryMs = (config.connectRetryTime ?? 120) * 1000;
    this.openHoldMs = config.openHoldMs ?? 240_000;
    this.delayOpenMs = (config.delayOpenTime ?? 0) * 1000;
  }

  get config(): SessionConfig {
    return this.cfg;
  }

  /**
   * Changes the Graceful Restart capability advertised in OPENs sent from now on; sessions
   * already up or in negotiation keep the OPEN they sent. RFC 4724 §3: the Restart State bit is
   * set only in the OPENs right after a restart, so the speaker clears it here once its
   * selection deferral (§4.1) has ended, and a session after a later flap goes without it.
   */
  updateGracefulRestart(gracefulRestart: LocalGracefulRestart | undefined): void {
    const next: SessionConfig = { ...this.cfg, gracefulRestart };
    const problems = configProblems(next);
    if (problems.length > 0) throw new SessionConfigError(next.peerAddress, problems);
    this.cfg = next;
    this.localOpen = buildOpen(next);
  }

  /** An id for a connection the driver is about to report with tcp-incoming. */
  newConnectionId(): number {
    return this.nextId++;
  }

  get state(): SessionState {
    return this.reported;
  }

  /** The session negotiated on the Established connection, if any. */
  get session(): NegotiatedSession | null {
    for (const c of this.conns.values()) if (c.state === 'Established') return c.negotiated;
    return null;
  }

  /** The connection id carrying the Established session, if any. */
  get establishedConnection(): number | null {
    for (const c of this.conns.values()) if (c.state === 'Established') return c.id;
    return null;
  }

  /** Whether the timer is armed (for drivers and tests). */
  timerArmed(timer: TimerName, conn = PEER): boolean {
    return this.deadlines.has(`${timer}:${conn}`);
  }

  status(): SessionStatus {
    const est = [...this.conns.values()].find((c) => c.state === 'Established');
    return {
      state: this.reported,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      lastDown: this.lastDown,
      establishedAt: est?.establishedAt ?? null,
      flaps: this.flaps,
      failures: { session: this.sessionFailures, dial: this.dialFailures },
      collisions: this.collisions,
      session: est?.negotiated ?? null,
    };
  }

  /** Feeds one event at time `now` (ms, monotonic); returns the actions to perform, in order. */
  handle(event: FsmEvent, now: number): FsmAction[] {
    // Safe against a driver that feeds an event while executing the actions of another.
    const outer = this.out;
    this.out = [];
    this.now = now;
    this.dispatch(event);
    const next = this.deriveState();
    if (next !== this.reported) {
      this.out.push({ type: 'state', from: this.reported, to: next });
      this.reported = next;
    }
    const out = this.out;
    this.out = outer;
    return out;
  }

  // ---------------------------------------------------------------------------------------------

  private dispatch(ev: FsmEvent): void {
    switch (ev.type) {
      case 'start': return this.onStart();
      case 'stop': return this.onStop(ev);
      case 'timer': return this.onTimer(ev.timer, ev.conn);
      case 'tcp-connected': return this.onTcpConnected(ev.conn);
      case 'tcp-incoming': return this.onTcpIncoming(ev.conn);
      case 'tcp-failed': return this.onTcpFailed(ev.conn, ev.reason);
      case 'message': return this.onMessage(ev.conn, ev.message);
      case 'decode-error': {
        const c = this.conns.get(ev.conn);
        if (!c || c.state === 'Connect') return;
        // RFC 4271 §6.1-§6.3, §8.2.2 (BGPHeaderErr, BGPOpenMsgErr, UpdateMsgErr): NOTIFICATION, close.
        const e = ev.error;
        this.fail(c, 'notification-sent', { code: e.code, subcode: e.subcode, data: e.data }, `${e.field}: ${e.message}`);
        return;
      }
    }
  }

  private deriveState(): SessionState {
    if (!this.started || this.idleHolding) return 'Idle';
    let best: Connection | null = null;
    for (const c of this.conns.values()) if (best === null || RANK[c.state] > RANK[best.state]) best = c;
    if (!best) return 'Active';
    if (best.state === 'OpenDelay') return best.outgoing ? 'Connect' : 'Active';
    return best.state;
  }

  // --- timers ------------------------------------------------------------------------------------

  private startTimer(timer: TimerName, conn: number, ms: number): void {
    const delay = Math.max(0, Math.round(ms));
    this.deadlines.set(`${timer}:${conn}`, this.now + delay);
    this.out.push({ type: 'start-timer', timer, conn, ms: delay });
  }

  private stopTimer(timer: TimerName, conn: number): void {
    if (this.deadlines.delete(`${timer}:${conn}`)) this.out.push({ type: 'stop-timer', timer, conn });
  }

  private onTimer(timer: TimerName, conn: number): void {
    const key = `${timer}:${conn}`;
    const due = this.deadlines.get(key);
    if (due === undefined) return; // stopped after the expiry was queued: stale
    if (this.now < due) {
      this.out.push({ type: 'start-timer', timer, conn, ms: due - this.now }); // fired early
      return;
    }
    this.deadlines.delete(key);
    switch (timer) {
      case 'idle-hold': return this.onIdleHoldExpired();
      case 'connect-retry': return this.onConnectRetryExpired();
      case 'hold': return this.onHoldExpired(conn);
      case 'keepalive': return this.onKeepaliveExpired(conn);
      case 'delay-open': return this.onDelayOpenExpired(conn);
    }
  }

  /** RFC 4271 §10: ConnectRetryTimer and KeepaliveTimer get jitter (×0.75..1). */
  private jittered(ms: number): number {
    const f = Math.min(1, Math.max(0.75, this.jitter()));
    return ms * f;
  }

  private backoffMs(failures: number, base: number): number {
    const exp = Math.min(failures - 1, 30);
    return Math.min(base * 2 ** exp, Math.max(this.backoff.maxMs, base));
  }

  // --- start / stop ------------------------------------------------------------------------------

  private onStart(): void {
    if (this.started) return;
    this.started = true;
    this.sessionFailures = 0;
    this.dialFailures = 0;
    this.automaticStart();
  }

  /** Idle → Connect (dial) or Active (passive: wait for the peer, RFC 4271 §8.1.1). */
  private automaticStart(): void {
    this.idleHolding = false;
    if (!this.config.passive) this.dial();
  }

  private dial(): void {
    // RFC 4271 §8.2.2 Idle/Active: initiate a TCP connection, (re)start ConnectRetryTimer. The
    // timer doubles as the dial's timeout; the driver is also told, as a safety net.
    const id = this.nextId++;
    this.conns.set(id, { id, outgoing: true, state: 'Connect', negotiated: null, sentOpen: null, lastRxAt: this.now, establishedAt: null });
    this.out.push({ type: 'connect', conn: id, timeoutMs: this.connectRetryMs });
    this.startTimer('connect-retry', PEER, this.connectRetryMs);
  }

  private onStop(ev: Extract<FsmEvent, { type: 'stop' }>): void {
    if (!this.started) return;
    this.started = false;
    this.idleHolding = false;
    this.stopTimer('connect-retry', PEER);
    this.stopTimer('idle-hold', PEER);
    const subcode = ev.subcode ?? CeaseSubcode.ADMINISTRATIVE_SHUTDOWN;
    const withText = subcode === CeaseSubcode.ADMINISTRATIVE_SHUTDOWN || subcode === CeaseSubcode.ADMINISTRATIVE_RESET;
    const cease: NotificationInfo = {
      code: ErrorCode.CEASE,
      subcode,
      // RFC 4486 §4: a subcode's own data (e.g. AFI, SAFI and the prefix upper bound for
      // subcode 1) when the caller gives it; RFC 9003 communication for shutdown and reset.
      data: ev.data ? Uint8Array.from(ev.data)
        : withText && ev.communication ? encodeShutdownCommunication(ev.communication) : new Uint8Array(0),
      communication: withText ? ev.communication : undefined,
    };
    for (const c of [...this.conns.values()]) {
      if (c.state === 'Connect') {
        this.drop(c);
        continue;
      }
      // RFC 8538 §3: a hard reset goes out as Cease/Hard Reset wrapping the real reason.
      const n = ev.hardReset && c.negotiated?.gracefulRestart?.notification ? hardResetWrap(cease) : cease;
      this.sendNotification(c, n);
      const wasUp = c.state === 'Established';
      this.drop(c);
      if (wasUp) this.sessionDown(c, 'stopped', `stopped: sent NOTIFICATION ${describeNotification(n)}`, n);
    }
    this.sessionFailures = 0;
    this.dialFailures = 0;
  }

  private onIdleHoldExpired(): void {
    // RFC 4271 §8.1.1: IdleHoldTimer_Expires with DampPeerOscillations → automatic start.
    if (!this.started) return;
    this.automaticStart();
  }

  private onConnectRetryExpired(): void {
    if (!this.started || this.idleHolding) return;
    let timedOut = false;
    for (const c of [...this.conns.values()]) {
      if (c.state === 'Connect') {
        timedOut = true;
        this.drop(c);
      }
    }
    if (this.conns.size > 0) return; // another connection got further; it carries on
    if (timedOut) {
      this.recordError(`connect timed out after ${this.connectRetryMs} ms`);
      this.dialFailed();
      return;
    }
    // RFC 4271 §8.2.2 Active: ConnectRetryTimer_Expires → initiate a TCP connection, go to Connect.
    if (!this.config.passive) this.dial();
  }

  /** A dial failed and nothing else is in progress: wait in Active, retry with backoff. */
  private dialFailed(): void {
    this.dialFailures++;
    if (this.config.passive) return;
    this.startTimer('connect-retry', PEER, this.jittered(this.backoffMs(this.dialFailures, this.connectRetryMs)));
  }

  // --- TCP ---------------------------------------------------------------------------------------

  private onTcpConnected(id: number): void {
    const c = this.conns.get(id);
    if (!c) {
      // A dial we gave up on (timed out, stopped): make sure it is closed.
      this.out.push({ type: 'close', conn: id });
      return;
    }
    if (c.state !== 'Connect') return; // a duplicate report; the connection is already up
    this.dialFailures = 0;
    if (![...this.conns.values()].some((o) => o.state === 'Connect' && o !== c)) this.stopTimer('connect-retry', PEER);
    this.connectionUp(c);
  }

  private onTcpIncoming(id: number): void {
    // RFC 4271 §8.2.2 Idle: refuse incoming connections when stopped.
    if (!this.started || this.conns.has(id)) {
      this.out.push({ type: 'close', conn: id });
      return;
    }
    if (this.idleHolding) {
      // §8.1.1 DampPeerOscillations: after the peer broke the protocol, refuse it for the whole
      // IdleHoldTime. After it merely went away (connection lost, hold timer, its own Cease) it
      // is welcome back at once: a restarted peer reconnects without waiting out our backoff.
      // We still do not dial before the timer ends, so a broken peer is never hammered.
      if (this.idleHoldRefusesIncoming) {
        this.out.push({ type: 'close', conn: id });
        return;
      }
      this.stopTimer('idle-hold', PEER);
      this.idleHolding = false;
    }
    // Keep at most one incoming connection waiting for its OPEN: a newer one replaces it.
    for (const o of [...this.conns.values()]) {
      if (!o.outgoing && (o.state === 'OpenSent' || o.state === 'OpenDelay')) this.drop(o);
    }
    const c: Connection = { id, outgoing: false, state: 'OpenSent', negotiated: null, sentOpen: null, lastRxAt: this.now, establishedAt: null };
    this.conns.set(id, c);
    // RFC 4271 §8.2.2 Active/Connect TcpConnectionConfirmed: stop ConnectRetryTimer (unless a dial is pending).
    if (![...this.conns.values()].some((o) => o.state === 'Connect')) this.stopTimer('connect-retry', PEER);
    this.connectionUp(c);
  }

  /**
   * TCP is up (Tcp_CR_Acked / TcpConnectionConfirmed). RFC 4271 §8.2.2 Connect/Active: with
   * DelayOpen, start the DelayOpenTimer and wait for the peer's OPEN; otherwise send ours.
   */
  private connectionUp(c: Connection): void {
    if (this.delayOpenMs > 0) {
      c.state = 'OpenDelay';
      c.lastRxAt = this.now;
      this.startTimer('delay-open', c.id, this.delayOpenMs);
      return;
    }
    this.openSent(c);
  }

  /** RFC 4271 §8.2.2 DelayOpenTimer_Expires (Event 12): send our OPEN now. */
  private onDelayOpenExpired(id: number): void {
    const c = this.conns.get(id);
    if (c?.state === 'OpenDelay') this.openSent(c);
  }

  /** Send OPEN, arm the large initial hold timer (RFC 4271 §8.2.2: 4 minutes suggested). */
  private openSent(c: Connection): void {
    c.state = 'OpenSent';
    c.lastRxAt = this.now;
    c.sentOpen = this.localOpen;
    this.out.push({ type: 'send', conn: c.id, message: this.localOpen });
    this.startTimer('hold', c.id, this.openHoldMs);
  }

  private onTcpFailed(id: number, reason: string): void {
    const c = this.conns.get(id);
    if (!c) return;
    if (c.state === 'Connect') {
      this.drop(c);
      if (this.conns.size > 0) return;
      this.recordError(`connect failed: ${reason}`);
      this.stopTimer('connect-retry', PEER);
      this.dialFailed();
      return;
    }
    this.fail(c, 'tcp-failure', null, reason);
  }

  // --- messages ----------------------------------------------------------------------------------

  private onMessage(id: number, m: BgpMessage): void {
    const c = this.conns.get(id);
    if (!c || c.state === 'Connect') return;
    c.lastRxAt = this.now;
    if (m.type === 'notification') return this.onNotification(c, m);
    switch (c.state) {
      case 'OpenDelay':
        if (m.type === 'open') {
          // RFC 4271 §8.2.2 Connect/Active, BGPOpen with DelayOpenTimer running: stop it, send
          // our OPEN, then process theirs as in OpenSent (KEEPALIVE, OpenConfirm).
          this.stopTimer('delay-open', c.id);
          c.sentOpen = this.localOpen;
          this.out.push({ type: 'send', conn: c.id, message: this.localOpen });
          c.state = 'OpenSent';
          return this.onOpen(c, m);
        }
        // RFC 4271 §8.2.2 Connect/Active, any other message: drop the connection (no OPEN was
        // sent, so no NOTIFICATION either).
        return this.fail(c, 'protocol-error', null, `unexpected ${m.type.toUpperCase()} before the OPEN (DelayOpen)`);
      case 'OpenSent':
        if (m.type === 'open') return this.onOpen(c, m);
        return this.fsmError(c, FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENSENT, m);
      case 'OpenConfirm':
        if (m.type === 'keepalive') return this.onEstablished(c);
        return this.fsmError(c, FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENCONFIRM, m);
      case 'Established':
        if (m.type === 'keepalive') return; // RFC 4271 §8.2.2: restarts the HoldTimer (lastRxAt)
        if (m.type === 'update') {
          this.out.push({ type: 'deliver', conn: c.id, message: m });
          return;
        }
        if (m.type === 'route-refresh') {
          // RFC 2918 §4: ignore a ROUTE-REFRESH when we did not advertise the capability.
          if (c.negotiated?.localOpen.capabilities.some((cap) => cap.kind === 'route-refresh')) {
            this.out.push({ type: 'deliver', conn: c.id, message: m });
          }
          return;
        }
        return this.fsmError(c, FsmSubcode.UNEXPECTED_MESSAGE_IN_ESTABLISHED, m);
    }
  }

  /** RFC 4271 §8.2.2 + RFC 6608 §4: an unexpected message is an FSM error. */
  private fsmError(c: Connection, subcode: number, m: BgpMessage): void {
    this.fail(c, 'notification-sent', { code: ErrorCode.FSM, subcode, data: new Uint8Array(0) },
      `unexpected ${m.type.toUpperCase()} in ${c.state}`);
  }

  private onNotification(c: Connection, m: NotificationMessage): void {
    const info: NotificationInfo = { code: m.code, subcode: m.subcode, data: m.data, communication: m.shutdownCommunication };
    // The peer resolved a collision against this connection (RFC 4271 §6.8): the other one carries on.
    if (m.code === ErrorCode.CEASE && m.subcode === CeaseSubcode.CONNECTION_COLLISION_RESOLUTION && this.conns.size > 1 && c.state !== 'Established') {
      this.drop(c);
      return;
    }
    this.fail(c, 'notification-received', info, null);
  }

  private onOpen(c: Connection, open: OpenMessage): void {
    let n: NegotiatedSession;
    try {
      n = negotiate(this.config, c.sentOpen ?? this.localOpen, open);
    } catch (e) {
      if (!(e instanceof OpenError)) throw e;
      // RFC 4271 §6.2: OPEN errors → NOTIFICATION OPEN Message Error with the subcode.
      this.fail(c, 'notification-sent', { code: e.code, subcode: e.subcode, data: e.data }, e.message);
      return;
    }
    // RFC 4271 §6.8: collision detection once the peer's identifier is known.
    for (const o of [...this.conns.values()]) {
      if (o === c || !o.negotiated) continue;
      if (o.state === 'Established') {
        if (o.negotiated.gracefulRestart && open.capabilities.some((cap) => cap.kind === 'graceful-restart')) {
          // RFC 4724 §4.2: a new OPEN from a GR peer means it restarted: the old session ends,
          // its routes stay as stale, the new connection proceeds.
          this.drop(o);
          this.sessionDown(o, 'peer-restarted', 'peer restarted: new OPEN while Established (RFC 4724 §4.2)', undefined, true);
          continue;
        }
        // RFC 4271 §6.8: a collision with an Established connection closes the new one.
        this.collisionLoser(c);
        return;
      }
      // o is in OpenConfirm: keep the connection initiated by the higher identifier.
      const keepOutgoing = outgoingWinsCollision(this.config.localId, n.peerId, this.config.localAs, n.peerAs);
      const loser = c.outgoing === keepOutgoing ? o : c;
      this.collisionLoser(loser);
      if (loser === c) return;
    }
    c.negotiated = n;
    c.state = 'OpenConfirm';
    this.out.push({ type: 'negotiated', conn: c.id, session: n });
    // RFC 4271 §8.2.2 OpenSent/BGPOpen: send KEEPALIVE, set the HoldTimer to the negotiated value.
    this.out.push({ type: 'send', conn: c.id, message: { type: 'keepalive' } });
    this.stopTimer('hold', c.id);
    if (n.holdTime > 0) {
      this.startTimer('hold', c.id, n.holdTime * 1000);
      this.startTimer('keepalive', c.id, this.jittered(n.keepaliveTime * 1000));
    }
  }

  private collisionLoser(c: Connection): void {
    // RFC 4486 §4 subcode 7; not a failure of the peer.
    this.collisions++;
    this.sendNotification(c, { code: ErrorCode.CEASE, subcode: CeaseSubcode.CONNECTION_COLLISION_RESOLUTION, data: new Uint8Array(0) });
    this.drop(c);
  }

  private onEstablished(c: Connection): void {
    c.state = 'Established';
    c.establishedAt = this.now;
    // Pending dials are no longer needed.
    for (const o of [...this.conns.values()]) if (o.state === 'Connect') this.drop(o);
    this.stopTimer('connect-retry', PEER);
    this.dialFailures = 0;
    this.out.push({ type: 'established', conn: c.id, session: c.negotiated! });
  }

  private onHoldExpired(id: number): void {
    const c = this.conns.get(id);
    if (!c) return;
    if (c.state === 'OpenConfirm' || c.state === 'Established') {
      const holdMs = c.negotiated!.holdTime * 1000;
      const due = c.lastRxAt + holdMs;
      if (this.now < due) {
        this.startTimer('hold', c.id, due - this.now);
        return;
      }
    }
    // RFC 4271 §8.2.2 HoldTimer_Expires: NOTIFICATION Hold Timer Expired, close.
    this.fail(c, 'hold-timer-expired', { code: ErrorCode.HOLD_TIMER_EXPIRED, subcode: 0, data: new Uint8Array(0) }, null);
  }

  private onKeepaliveExpired(id: number): void {
    const c = this.conns.get(id);
    if (!c || (c.state !== 'OpenConfirm' && c.state !== 'Established') || !c.negotiated) return;
    // RFC 4271 §8.2.2 KeepaliveTimer_Expires: send KEEPALIVE, restart the timer.
    this.out.push({ type: 'send', conn: c.id, message: { type: 'keepalive' } });
    this.startTimer('keepalive', c.id, this.jittered(c.negotiated.keepaliveTime * 1000));
  }

  // --- endings -----------------------------------------------------------------------------------

  private sendNotification(c: Connection, n: NotificationInfo): void {
    const msg: NotificationMessage = { type: 'notification', code: n.code, subcode: n.subcode, data: n.data };
    if (n.communication !== undefined) msg.shutdownCommunication = n.communication;
    this.out.push({ type: 'send', conn: c.id, message: msg });
  }

  /** Forgets a connection: stops its timers and asks the driver to close it. */
  private drop(c: Connection): void {
    this.stopTimer('delay-open', c.id);
    this.stopTimer('hold', c.id);
    this.stopTimer('keepalive', c.id);
    this.conns.delete(c.id);
    this.out.push({ type: 'close', conn: c.id });
  }

  /**
   * A connection ends in error: send the NOTIFICATION (for kinds that send one), close, record
   * the reason, report the session down if it was up, and back off if nothing else is alive.
   */
  private fail(c: Connection, kind: DownKind, n: NotificationInfo | null, detail: string | null): void {
    if (n && kind !== 'notification-received') this.sendNotification(c, n);
    let text: string;
    switch (kind) {
      case 'hold-timer-expired': text = 'hold timer expired'; break;
      case 'notification-sent': text = `sent NOTIFICATION ${describeNotification(n!)}${detail ? ` (${detail})` : ''}`; break;
      case 'notification-received': text = `received NOTIFICATION ${describeNotification(n!)}`; break;
      case 'tcp-failure': text = `connection lost${c.state === 'Established' ? '' : ` in ${c.state}`}: ${detail ?? 'closed'}`; break;
      default: text = detail ?? kind;
    }
    const wasUp = c.state === 'Established';
    const stableFor = wasUp && c.establishedAt !== null ? this.now - c.establishedAt : 0;
    this.drop(c);
    this.recordError(text);
    if (wasUp) this.sessionDown(c, kind, text, n ?? undefined);
    if (this.conns.size > 0 || !this.started) return;
    // RFC 4271 §8.1.1 DampPeerOscillations: Idle, IdleHoldTimer doubling per consecutive failure,
    // reset by a session that stayed up for the stable period.
    if (stableFor >= this.backoff.stableMs) this.sessionFailures = 0;
    this.sessionFailures++;
    this.stopTimer('connect-retry', PEER);
    this.idleHolding = true;
    this.idleHoldRefusesIncoming = kind === 'notification-sent' || kind === 'protocol-error';
    this.startTimer('idle-hold', PEER, this.backoffMs(this.sessionFailures, this.backoff.initialMs));
  }

  /** Reports the end of an Established session upward, deciding whether routes are kept stale. */
  private sessionDown(c: Connection, kind: DownKind, text: string, n?: NotificationInfo, forceGraceful?: boolean): void {
    const gr = c.negotiated?.gracefulRestart ?? null;
    let graceful = false;
    if (gr) {
      switch (kind) {
        // RFC 4724 §4.2: TCP failure (and a restart seen as a new OPEN) keeps routes as stale.
        case 'tcp-failure':
        case 'peer-restarted': graceful = true; break;
        // RFC 8538 §4: with the N bit, hold timer expiry and NOTIFICATIONs other than Hard Reset too.
        case 'hold-timer-expired': graceful = gr.notification; break;
        case 'notification-sent':
        case 'notification-received':
        case 'stopped': graceful = gr.notification && !!n && !isHardReset(n); break;
      }
    }
    if (forceGraceful !== undefined) graceful = forceGraceful && gr !== null;
    const reason: DownReason = { kind, text, graceful };
    if (n) reason.notification = n;
    this.lastDown = reason;
    this.flaps++;
    this.out.push({ type: 'down', conn: c.id, reason });
  }

  private recordError(text: string): void {
    this.lastError = text;
    this.lastErrorAt = this.now;
  }
}
