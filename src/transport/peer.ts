// PeerConnection: the I/O shell around one peer's pure FSM (src/session). It turns socket events
// (data, close, accepted connections, completed dials) and real timers into FSM events, and FSM
// actions into dials, framed writes, closes and timers; it reports upward: state changes,
// established(negotiated session), UPDATE / ROUTE-REFRESH messages, down(reason, graceful), and
// drain (the write buffer fell below the high-water mark again).
//
// Every socket and timer callback only ENQUEUES a job on the serial queue the owner provides (the
// speaker's event queue, DESIGN.md); framing and decoding happen inside that job, so a message is
// decoded with the codec context negotiated by everything processed before it. Upward events are
// emitted synchronously from within the job.
//
// RFC 4271 §8 (FSM events from TCP and timers), §4.1 (framing), §6.1 (header errors); RFC 8654
// (extended message length after negotiation); RFC 2385 / RFC 5082 via the dialer and listener.

import * as net from 'net';
import { performance } from 'perf_hooks';
import { Framer, WireError, codecContext, decodeMessage, encodeMessage, maxMessageLength } from '../wire';
import type { CodecContext, RouteRefreshMessage, UpdateMessage } from '../wire/types';
import { PeerFsm } from '../session/fsm';
import type { SessionStatus } from '../session/fsm';
import type { DownReason, FsmAction, FsmEvent, LocalGracefulRestart, NegotiatedSession, SessionConfig, SessionState } from '../session/types';
import { BGP_PORT, dial, DialOptions } from './dialer';
import type { BgpListener } from './listener';
import { TransportError, normalizeAddress } from './sockopt';

/** Runs jobs one at a time, in order. The speaker passes its own; see serialQueue(). */
export type Enqueue = (job: () => void) => void;

/**
 * A minimal run-to-completion queue: a job enqueued while another runs waits for it. A job that
 * throws is reported to `onError` and the queue carries on.
 */
export function serialQueue(onError: (e: unknown) => void = (e) => { process.nextTick(() => { throw e; }); }): Enqueue {
  const jobs: (() => void)[] = [];
  let running = false;
  return (job) => {
    jobs.push(job);
    if (running) return;
    running = true;
    try {
      for (let i = 0; i < jobs.length; i++) {
        try { jobs[i](); } catch (e) { onError(e); }
      }
    } finally {
      jobs.length = 0;
      running = false;
    }
  };
}

/**
 * Where and how to reach the peer: the dial options (address, port, source, RFC 2385 MD5 key -
 * also installed on the listener for incoming connections -, RFC 5082 GTSM hops, TTL) less the
 * per-dial timeout and signal, which the connection manages itself.
 */
export interface PeerTransportOptions extends Omit<DialOptions, 'timeoutMs' | 'signal'> {
  /** Bytes queued on the socket above which the peer reports itself congested. Default 1 MiB. */
  highWaterMark?: number;
  /** How long a closing connection may take to flush its last NOTIFICATION. Default 1 s. */
  closeGraceMs?: number;
}

export type PeerEvent =
  | { type: 'state'; from: SessionState; to: SessionState }
  /** `endpoints`: the TCP addresses of the session (the local one is our NEXT_HOP for next-hop-self). */
  | { type: 'established'; session: NegotiatedSession; endpoints: SessionEndpoints }
  | { type: 'update'; message: UpdateMessage }
  | { type: 'route-refresh'; message: RouteRefreshMessage }
  | { type: 'down'; reason: DownReason }
  /** The write buffer drained below the high-water mark: the speaker may send again. */
  | { type: 'drain' };

export interface SessionEndpoints {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

export interface PeerConnectionOptions {
  session: SessionConfig;
  transport: PeerTransportOptions;
  /** Where incoming connections from this peer arrive; without one the peer only dials. */
  listener?: BgpListener;
  onEvent: (e: PeerEvent) => void;
  /** The owner's serial event queue. Default: a private serialQueue(). */
  enqueue?: Enqueue;
  /** Monotonic milliseconds. Default performance.now(). */
  clock?: () => number;
}

/** The Cease NOTIFICATION of stop() and close(). */
export interface StopNotification {
  /** Cease subcode (RFC 4486 §4); default Administrative Shutdown (stop) / Peer De-configured (close). */
  subcode?: number;
  /** RFC 9003 shutdown communication (Administrative Shutdown / Reset only). */
  communication?: string;
  /** RFC 8538 §3: wrap in Cease/Hard Reset when the N bit was negotiated. */
  hardReset?: boolean;
  /** The data field for the subcode; takes precedence over `communication`. */
  data?: Uint8Array;
}

export interface PeerConnectionStatus extends SessionStatus {
  remoteAddress: string;
  /** Open TCP connections (a collision means two). */
  connections: number;
  congested: boolean;
  messagesIn: number;
  messagesOut: number;
  updatesIn: number;
  updatesOut: number;
}

interface ConnIO {
  id: number;
  socket: net.Socket | null;
  dialAbort: AbortController | null;
  framer: Framer;
  rx: CodecContext;
  tx: CodecContext;
  /** errno name of the last socket error, for the down reason. */
  error: string | null;
}

const DEFAULT_HIGH_WATER = 1 << 20;
const NO_CORK = (): void => { /* not Established: nothing corked */ };
const PRE_NEGOTIATION = codecContext();

export class PeerConnection {
  readonly fsm: PeerFsm;
  readonly remoteAddress: string;
  private readonly t: PeerTransportOptions;
  private readonly enqueue: Enqueue;
  private readonly clock: () => number;
  private readonly onEvent: (e: PeerEvent) => void;
  private readonly listener: BgpListener | null;
  private readonly highWaterMark: number;
  private readonly conns = new Map<number, ConnIO>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private established: ConnIO | null = null;
  private closed = false;
  private unregistered = false;
  private counters = { messagesIn: 0, messagesOut: 0, updatesIn: 0, updatesOut: 0 };

  constructor(o: PeerConnectionOptions) {
    const remote = normalizeAddress(o.transport.remoteAddress);
    this.remoteAddress = remote;
    this.fsm = new PeerFsm({ ...o.session, peerAddress: o.session.peerAddress || remote });
    this.t = o.transport;
    this.enqueue = o.enqueue ?? serialQueue();
    this.clock = o.clock ?? (() => performance.now());
    this.onEvent = o.onEvent;
    this.listener = o.listener ?? null;
    this.highWaterMark = o.transport.highWaterMark ?? DEFAULT_HIGH_WATER;
    this.listener?.addPeer(remote, {
      md5Password: o.transport.md5Password,
      ttlSecurityHops: o.transport.ttlSecurityHops,
      ttl: o.transport.ttl,
      onConnection: (s) => this.enqueue(() => this.onIncoming(s)),
    });
  }

  get state(): SessionState {
    return this.fsm.state;
  }

  /** The negotiated session while Established. */
  get session(): NegotiatedSession | null {
    return this.fsm.session;
  }

  /** True when the Established connection's write buffer is above the high-water mark. */
  get congested(): boolean {
    const s = this.established?.socket;
    return !!s && s.writableLength >= this.highWaterMark;
  }

  /** Addresses and ports of the Established connection, or null. */
  get endpoints(): SessionEndpoints | null {
    const s = this.established?.socket;
    if (!s || s.localAddress === undefined || s.remoteAddress === undefined) return null;
    return {
      localAddress: normalizeAddress(s.localAddress),
      localPort: s.localPort ?? 0,
      remoteAddress: normalizeAddress(s.remoteAddress),
      remotePort: s.remotePort ?? 0,
    };
  }

  status(): PeerConnectionStatus {
    return {
      ...this.fsm.status(),
      remoteAddress: this.remoteAddress,
      connections: [...this.conns.values()].filter((c) => c.socket).length,
      congested: this.congested,
      ...this.counters,
    };
  }

  /** ManualStart (RFC 4271 §8.1.2 Event 1), through the queue. */
  start(): void {
    this.enqueue(() => this.handle({ type: 'start' }));
  }

  /**
   * ManualStop (Event 2): Cease (Administrative Shutdown unless `subcode`), through the queue.
   * `data` is the NOTIFICATION's data field for the subcode (RFC 4486 §4: for Maximum Number of
   * Prefixes Reached, AFI, SAFI and the upper bound, as AdjRibIn's MaxPrefixExceeded carries).
   */
  stop(opts: StopNotification = {}): void {
    this.enqueue(() => this.handle({ type: 'stop', ...opts }));
  }

  /**
   * Changes the Graceful Restart capability of the OPENs sent from now on (RFC 4724 §3: the
   * Restart State bit only right after our restart). Sessions up or being negotiated keep theirs.
   */
  updateGracefulRestart(gracefulRestart: LocalGracefulRestart | undefined): void {
    this.enqueue(() => this.fsm.updateGracefulRestart(gracefulRestart));
  }

  /**
   * Drops every TCP connection at once WITHOUT a NOTIFICATION (for a graceful stop: the peer
   * sees a TCP failure and, with graceful restart, keeps our routes as stale, RFC 4724 §4.2),
   * unregisters from the listener, and forgets all sockets and timers, like close(). The
   * Established session, if any, is reported down (graceful when GR was negotiated).
   */
  abort(): void {
    this.unregister();
    this.enqueue(() => {
      if (this.closed) return;
      for (const io of [...this.conns.values()]) {
        // destroy() before the FSM hears of it: nothing it might still write goes out.
        io.socket?.destroy();
        if (this.conns.get(io.id) === io) this.handle({ type: 'tcp-failed', conn: io.id, reason: 'connection aborted locally' });
      }
      this.closed = true;
      for (const t of this.timers.values()) clearTimeout(t);
      this.timers.clear();
      for (const io of [...this.conns.values()]) this.closeConn(io);
    });
  }

  /**
   * Sends an UPDATE or ROUTE-REFRESH on the Established session, encoded with the negotiated
   * context. Returns false when the socket is now above the high-water mark (pause until 'drain').
   * Throws TransportError ENOTCONN when not Established, WireError when the message cannot be
   * encoded in this session (e.g. too long without RFC 8654).
   */
  send(message: UpdateMessage | RouteRefreshMessage): boolean {
    const io = this.established;
    if (!io?.socket) throw new TransportError('send to', this.remoteAddress, 'ENOTCONN', `session is ${this.fsm.state}, not Established`);
    const bytes = encodeMessage(message, io.tx);
    io.socket.write(bytes);
    this.counters.messagesOut++;
    if (message.type === 'update') this.counters.updatesOut++;
    return io.socket.writableLength < this.highWaterMark;
  }

  /**
   * Encodes a message with the Established session's negotiated context (RFC 6793 AS size,
   * RFC 7911 path identifiers, RFC 8654 length), for sendEncoded(). Throws like send().
   */
  encode(message: UpdateMessage | RouteRefreshMessage): Buffer {
    const io = this.established;
    if (!io?.socket) throw new TransportError('encode for', this.remoteAddress, 'ENOTCONN', `session is ${this.fsm.state}, not Established`);
    return encodeMessage(message, io.tx);
  }

  /**
   * Writes one already-encoded UPDATE or ROUTE-REFRESH (a whole message, header included) on the
   * Established session: an update group encodes once and hands the same Buffer to every member.
   * The caller guarantees it was encoded with this session's context. Returns false when the
   * socket is now above the high-water mark (pause until 'drain'). Throws TransportError ENOTCONN
   * when not Established.
   */
  sendEncoded(bytes: Buffer): boolean {
    const io = this.established;
    if (!io?.socket) throw new TransportError('send to', this.remoteAddress, 'ENOTCONN', `session is ${this.fsm.state}, not Established`);
    io.socket.write(bytes);
    this.counters.messagesOut++;
    if (bytes.length > 18 && bytes[18] === 2) this.counters.updatesOut++; // RFC 4271 §4.1: type 2 = UPDATE
    return io.socket.writableLength < this.highWaterMark;
  }

  /**
   * Holds the Established connection's writes until the returned function is called, which hands
   * them to the kernel in ONE writev: the UPDATEs a processing round has for this peer leave as
   * one TCP push instead of one syscall (with Nagle off, one segment train and one wake-up of the
   * peer) per message. Corks nest; call the returned function exactly once (try/finally).
   */
  cork(): () => void {
    const s = this.established?.socket;
    if (!s) return NO_CORK;
    s.cork();
    return () => {
      if (!s.destroyed) s.uncork();
    };
  }

  /** Bytes written to the Established connection and not yet taken by the kernel. */
  get bufferedBytes(): number {
    return this.established?.socket?.writableLength ?? 0;
  }

  /**
   * Stops / resumes reading from the Established connection, so a speaker whose queue is
   * backlogged can push back on a fast peer through TCP flow control. KEEPALIVEs are not read
   * meanwhile either: pause for less than the hold time.
   */
  pauseReading(): void {
    this.established?.socket?.pause();
  }

  resumeReading(): void {
    this.established?.socket?.resume();
  }

  /**
   * Stops the peer (with `opts` as for stop()), unregisters it from the listener, and after the
   * closing NOTIFICATION had a chance to be flushed, forgets all sockets and timers.
   */
  close(opts: StopNotification = {}): void {
    this.unregister();
    this.enqueue(() => {
      if (this.closed) return;
      this.handle({ type: 'stop', ...opts, subcode: opts.subcode ?? 3 }); // RFC 4486 §4: Peer De-configured
      this.closed = true;
      for (const t of this.timers.values()) clearTimeout(t);
      this.timers.clear();
      for (const io of [...this.conns.values()]) this.closeConn(io);
    });
  }

  /** Unregister at once, so a replacement PeerConnection for the same address can register now. */
  private unregister(): void {
    if (this.listener?.hasPeer(this.remoteAddress) && !this.unregistered) {
      this.listener.removePeer(this.remoteAddress);
      this.unregistered = true;
    }
  }

  // --- FSM plumbing ----------------------------------------------------------------------------

  private handle(ev: FsmEvent): void {
    if (this.closed) return;
    const actions = this.fsm.handle(ev, this.clock());
    for (const a of actions) this.execute(a);
  }

  private execute(a: FsmAction): void {
    switch (a.type) {
      case 'connect': return this.startDial(a.conn, a.timeoutMs);
      case 'send': {
        const io = this.conns.get(a.conn);
        if (!io?.socket || io.socket.destroyed) return;
        io.socket.write(encodeMessage(a.message, io.tx));
        this.counters.messagesOut++;
        return;
      }
      case 'close': {
        const io = this.conns.get(a.conn);
        if (io) this.closeConn(io);
        return;
      }
      case 'start-timer': {
        const key = `${a.timer}:${a.conn}`;
        const old = this.timers.get(key);
        if (old) clearTimeout(old);
        const ev: FsmEvent = { type: 'timer', timer: a.timer, conn: a.conn };
        this.timers.set(key, setTimeout(() => {
          this.timers.delete(key);
          this.enqueue(() => this.handle(ev));
        }, a.ms));
        return;
      }
      case 'stop-timer': {
        const key = `${a.timer}:${a.conn}`;
        const t = this.timers.get(key);
        if (t) clearTimeout(t);
        this.timers.delete(key);
        return;
      }
      case 'negotiated': {
        const io = this.conns.get(a.conn);
        if (!io) return;
        // IPv4 NLRI as numbers: the RIB keys IPv4 destinations by number (src/rib/destination.ts).
        io.rx = { ...a.session.rxContext, numericIpv4: true };
        io.tx = a.session.txContext;
        io.framer.setMaxLength(maxMessageLength(io.rx)); // RFC 8654 §4
        return;
      }
      case 'established':
        this.established = this.conns.get(a.conn) ?? null;
        this.onEvent({
          type: 'established',
          session: a.session,
          endpoints: this.endpoints ?? { localAddress: '', localPort: 0, remoteAddress: this.remoteAddress, remotePort: 0 },
        });
        return;
      case 'deliver':
        if (a.message.type === 'update') this.onEvent({ type: 'update', message: a.message });
        else if (a.message.type === 'route-refresh') this.onEvent({ type: 'route-refresh', message: a.message });
        return;
      case 'down':
        if (this.established?.id === a.conn) this.established = null;
        this.onEvent({ type: 'down', reason: a.reason });
        return;
      case 'state':
        this.onEvent({ type: 'state', from: a.from, to: a.to });
        return;
    }
  }

  private newIO(id: number): ConnIO {
    const io: ConnIO = { id, socket: null, dialAbort: null, framer: new Framer(), rx: PRE_NEGOTIATION, tx: PRE_NEGOTIATION, error: null };
    this.conns.set(id, io);
    return io;
  }

  private startDial(id: number, timeoutMs: number): void {
    const io = this.newIO(id);
    io.dialAbort = new AbortController();
    dial({
      remoteAddress: this.remoteAddress,
      remotePort: this.t.remotePort ?? BGP_PORT,
      localAddress: this.t.localAddress,
      md5Password: this.t.md5Password,
      ttlSecurityHops: this.t.ttlSecurityHops,
      ttl: this.t.ttl,
      // The FSM's ConnectRetryTimer normally ends a hanging dial first; this is the backstop.
      timeoutMs: timeoutMs + 1000,
      signal: io.dialAbort.signal,
    }).then(
      (socket) => this.enqueue(() => {
        if (this.conns.get(id) !== io || this.closed) {
          socket.destroy();
          return;
        }
        io.dialAbort = null;
        this.attach(io, socket);
        this.handle({ type: 'tcp-connected', conn: id });
      }),
      (e: unknown) => this.enqueue(() => {
        if (this.conns.get(id) !== io) return; // given up on already
        this.conns.delete(id);
        this.handle({ type: 'tcp-failed', conn: id, reason: dialFailureText(e) });
      }),
    );
  }

  private onIncoming(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const id = this.fsm.newConnectionId();
    const io = this.newIO(id);
    this.attach(io, socket);
    this.handle({ type: 'tcp-incoming', conn: id });
  }

  private attach(io: ConnIO, socket: net.Socket): void {
    io.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.enqueue(() => this.onData(io, chunk)));
    socket.on('error', (e: NodeJS.ErrnoException) => { io.error = e.code ?? e.message; });
    socket.on('close', () => this.enqueue(() => {
      if (this.conns.get(io.id) !== io) return; // we closed it
      this.conns.delete(io.id);
      this.handle({ type: 'tcp-failed', conn: io.id, reason: io.error ?? 'closed by peer' });
    }));
    socket.on('drain', () => this.enqueue(() => {
      if (this.established === io) this.onEvent({ type: 'drain' });
    }));
  }

  private onData(io: ConnIO, chunk: Buffer): void {
    if (this.conns.get(io.id) !== io) return;
    let frames: Buffer[];
    try {
      frames = io.framer.push(chunk);
    } catch (e) {
      this.decodeFailed(io, e);
      return;
    }
    for (const frame of frames) {
      if (this.conns.get(io.id) !== io) return; // closed by an earlier message of this chunk
      let message;
      try {
        message = decodeMessage(frame, io.rx);
      } catch (e) {
        this.decodeFailed(io, e);
        return;
      }
      this.counters.messagesIn++;
      if (message.type === 'update') this.counters.updatesIn++;
      this.handle({ type: 'message', conn: io.id, message });
    }
  }

  private decodeFailed(io: ConnIO, e: unknown): void {
    if (!(e instanceof WireError)) throw e;
    // RFC 4271 §6.1-§6.3: the FSM answers with the NOTIFICATION the codec determined.
    this.handle({ type: 'decode-error', conn: io.id, error: e.info() });
  }

  private closeConn(io: ConnIO): void {
    if (this.conns.get(io.id) === io) this.conns.delete(io.id);
    if (this.established === io) this.established = null;
    io.dialAbort?.abort();
    io.dialAbort = null;
    const s = io.socket;
    if (!s) return;
    io.socket = null;
    s.removeAllListeners('data');
    s.on('error', () => { /* the peer may reset while we flush */ });
    // Flush what was written (the NOTIFICATION), then FIN; destroy if the peer does not read.
    s.end();
    setTimeout(() => s.destroy(), this.t.closeGraceMs ?? 1000).unref();
  }
}

function dialFailureText(e: unknown): string {
  if (e instanceof TransportError) {
    if (e.code === 'ETIMEDOUT') return 'timed out';
    return e.code === 'EINVAL' || e.code === 'EIO' ? e.message : e.code;
  }
  return e instanceof Error ? e.message : String(e);
}
