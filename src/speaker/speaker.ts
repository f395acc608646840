// The BGP speaker: the single writer of routing state. It owns the listening sockets, every peer
// (PeerConnection + FSM from src/transport and src/session, its Adj-RIB-In, its update group
// membership, its graceful-restart state) and the Loc-RIB (src/rib). Every socket and timer
// callback only ENQUEUES a job on ONE serial queue; jobs run one at a time, so the RIB is never
// touched concurrently. UPDATEs are applied to the Adj-RIB-In as they arrive; the decision process
// and the dissemination run once per burst (a "processing round", scheduled with setImmediate),
// and each round's Loc-RIB changes go to the onLocRibChange listeners (the dataplane) in one batch.
// Configuration changes are applied live where BGP allows (updatePeer, setPools, setClusterId):
// local policy without touching the session, the rest with a graceful (RFC 8538 §4) or, when our
// routes become wrong for the peer, a hard (§3) reset. onPeerEvent reports NOTIFICATIONs and
// import rejections for metrics.
//
// RFC 4271 §9 (UPDATE handling, decision, dissemination), §8 (sessions, via the transport);
// RFC 2918 / RFC 7313 (route refresh in and out); RFC 4486 §4 (max-prefix Cease subcode 1);
// RFC 4724 (graceful restart: §4.2 receiving speaker keeps a restarting peer's routes as stale
// until End-of-RIB or the restart/stale timers; §4.1 restarting speaker advertises the R and F
// bits and defers selection until End-of-RIB from its GR peers or the deferral timer);
// RFC 8538 (N bit; Hard Reset for administrative teardown); RFC 4456 (reflection roles, through
// src/policy); RFC 2545 (IPv6 next hops).
import { performance } from 'perf_hooks';
import type { BgpMessage, Family, PathAttributes, RouteRefreshMessage, UpdateMessage } from '../wire/types';
import { familyOf } from '../wire/family';
import { canonicalIP, formatCidr, parseCidr } from '../lib/ip';
import { BgpListener, PeerConnection, serialQueue, type Enqueue, type PeerEvent, type SessionEndpoints } from '../transport';
import type { DownReason, NegotiatedSession } from '../session/types';
import { Rib } from '../rib/rib';
import type { NextHopResolver } from '../rib/decision';
import type { AdjRibIn, MaxPrefixExceeded, UpdateResult } from '../rib/adj-rib-in';
import { GracefulRestartReceiver, SelectionDeferral, type GracefulRestartCapability, type RestartPlan } from '../rib/graceful-restart';
import { ribPeer, type RibPeer } from '../rib/route';
import type { GroupTx } from '../rib/adj-rib-out';
import { ROUTE_REFRESH_BORR, ROUTE_REFRESH_EORR, ROUTE_REFRESH_NORMAL } from '../rib/adj-rib-out';
import type { LocRibChange } from '../rib/loc-rib';
import {
  DEFAULT_SELECTION_DEFERRAL_MS, DEFAULT_STALE_PATH_TIME_MS, classifyPeerChange, exportProfile, grEnabled, importRule,
  peerFamilies, peerLocalAs, ribPeerInit, sessionConfig, validatePeerConfig, validateSpeakerConfig, type PeerChange,
} from './config';
import { longestMatch, routeChangeViews, routeView } from './views';
import { DEFAULT_OUTPUT_QUEUE_LIMIT, PeerOutbox, resyncMessages, type OutputSink } from './outbox';
import { warmUpOnce } from './warmup';
import { encodeMessage } from '../wire';
import { endOfRib } from '../wire/eor';
import type { UpdateGroup } from '../rib/adj-rib-out';
import {
  SpeakerConfigError, UnknownPeerNameError,
  type ExplainView, type FamilyCounts, type PeerConfig, type PeerStatusView, type RouteChangeBatch,
  type RouteView, type SpeakerConfig, type SpeakerLog, type SpeakerPeerEvent,
} from './types';

/** RFC 4486 §4 Cease subcodes used here. */
const CEASE_ADMIN_SHUTDOWN = 2;

/**
 * A processing round runs as soon as this many destinations wait for the decision process,
 * without waiting for the end of the burst: a full table arrives as ~100 UPDATEs per event-loop
 * turn, and deciding them in one round keeps every change record of the burst alive long enough
 * for V8 to move it to the old generation (the garbage then inflates RSS). Small rounds leave
 * short-lived garbage young, and a round of ~1,000 destinations (one full 4096-octet UPDATE of
 * /24s) still finds its destinations, paths and change records in the CPU's L2 cache when it
 * decides them: deciding one peer's 100k-prefix table in-process, one UPDATE per round used ~20%
 * less CPU than two (bench/README.md "Session 5").
 */
const ROUND_MAX_DESTINATIONS = 1000;
const CEASE_PEER_DECONFIGURED = 3;
/** RFC 4486 §4 Cease subcode 6, Other Configuration Change: a PeerConfig change needs a new session. */
const CEASE_OTHER_CONFIG_CHANGE = 6;
const CEASE = 6;
/** RFC 8538 §3: Cease subcode 9, Hard Reset. */
const CEASE_HARD_RESET = 9;

interface PeerEntry {
  /** The configuration in effect. */
  cfg: PeerConfig;
  /** The last configuration asked for (updatePeer), applied by a queued job. */
  desired: PeerConfig;
  conn: PeerConnection;
  rib: RibPeer;
  adjIn: AdjRibIn;
  gr: GracefulRestartReceiver;
  session: NegotiatedSession | null;
  endpoints: SessionEndpoints | null;
  /** Families of the session now up or last up (what its routes are stored under). */
  families: Family[];
  /** Joined its update group: our table and End-of-RIB have been queued for it. */
  joined: boolean;
  endOfRibSent: boolean;
  endOfRibReceived: Set<Family>;
  /**
   * Encoded messages waiting for the socket to drain (RFC 4271 has no flow control; TCP does),
   * bounded in bytes; past the bound the peer is caught up with a diff (src/speaker/outbox.ts).
   */
  outbox: PeerOutbox;
  since: number;
  grTimer: NodeJS.Timeout | null;
  restartTimer: NodeJS.Timeout | null;
  maxPrefixExceeded: { family: Family; limit: number; count: number } | null;
  removed: boolean;
  /** Flaps of the connections this peer had before a reset for a configuration change. */
  flapsCarried: number;
}

export interface StopOptions {
  /**
   * true: drop the TCP connections without a NOTIFICATION, so GR peers keep our routes as stale
   * (RFC 4724 §4.2: the session ends by TCP failure) — for a restart. false (default): Cease /
   * Administrative Shutdown with Hard Reset (RFC 8538 §3), so peers withdraw our routes now.
   */
  graceful?: boolean;
  /** RFC 9003 shutdown communication sent with a non-graceful stop. */
  message?: string;
}

export interface OriginateOptions {
  communities?: number[];
  largeCommunities?: [number, number, number][];
  med?: number;
  localPref?: number;
}

export class Speaker {
  readonly config: SpeakerConfig;
  private readonly enqueue: Enqueue;
  private readonly rib: Rib;
  private readonly peers = new Map<string, PeerEntry>();
  private readonly listeners: BgpListener[] = [];
  /** Canonical local address of each listener, same order. */
  private readonly listenAddresses: string[] = [];
  private readonly changeListeners: ((batch: RouteChangeBatch) => void)[] = [];
  private readonly peerEventListeners: ((ev: SpeakerPeerEvent) => void)[] = [];
  private readonly log: SpeakerLog;
  private readonly clock = (): number => performance.now();
  private readonly epochOffset = Date.now() - performance.now();
  private deferral: SelectionDeferral | null = null;
  /** We restarted (R bit) and selection is still deferred, or start() has not run yet. */
  private restarting: boolean;
  private deferralTimer: NodeJS.Timeout | null = null;
  private processScheduled = false;
  private started = false;
  /** This speaker has run (or found done in this process) the JIT warm-up. */
  private warmUpRan = false;
  private stopped = false;
  /**
   * Rounds run and changes reported, for tests and metrics. messagesEncoded / messagesWritten:
   * outgoing UPDATE and ROUTE-REFRESH messages encoded vs written to peers (an update group
   * encodes once for all its members); resyncs: slow peers caught up with a diff after their
   * queue overflowed.
   */
  readonly counters = { rounds: 0, changesReported: 0, updatesReceived: 0, jobErrors: 0, messagesEncoded: 0, messagesWritten: 0, resyncs: 0 };
  /** Encoded full tables, keyed by the group's cached table (same array while its Adj-RIB-Out is unchanged). */
  private readonly encodedTables = new WeakMap<readonly UpdateMessage[], Buffer[]>();

  constructor(config: SpeakerConfig) {
    validateSpeakerConfig(config);
    const limit = config.outputQueueLimitBytes;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 4096)) {
      throw new SpeakerConfigError('outputQueueLimitBytes', `must be an integer of at least 4096 bytes, got ${limit}`);
    }
    this.config = { ...config };
    this.log = config.log ?? (() => { /* silent */ });
    this.enqueue = serialQueue((e) => {
      this.counters.jobErrors++;
      this.log('error', `speaker job failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    });
    this.rib = new Rib({
      localAs: config.localAs,
      routerId: config.routerId,
      clusterId: config.clusterId ?? null,
      pools: config.pools,
      maxPaths: config.maxPaths,
      resolve: config.resolveNextHop,
    });
    for (const l of config.listen ?? [{ address: '::', port: 179 }]) {
      this.listenAddresses.push(canonicalIP(l.address)!);
      this.listeners.push(new BgpListener({
        address: l.address,
        port: l.port,
        onReject: (addr, reason) => this.log('debug', `refused connection from ${addr}: ${reason}`),
      }));
    }
    const gr = config.gracefulRestart ?? {};
    this.restarting = (gr.enabled ?? true) && gr.restarting === true;
  }

  // --- lifecycle --------------------------------------------------------------------------------

  /** Opens the listeners and starts every configured peer. */
  async start(): Promise<void> {
    if (this.started) return;
    for (const l of this.listeners) await l.listen();
    this.started = true;
    if (this.config.warmUp ?? (!!this.config.clusterId || [...this.peers.values()].some((e) => mayCarryFullTable(e.cfg)))) this.warmUp();
    if (this.restarting) {
      // RFC 4724 §4.1: wait for End-of-RIB from the peers configured now; a peer added while
      // the deferral runs is added to the expected set (createPeer).
      const gr = this.config.gracefulRestart ?? {};
      this.deferral = new SelectionDeferral(this.clock(), ['ipv4-unicast', 'ipv6-unicast'], [...this.peers.keys()], gr.selectionDeferralMs ?? DEFAULT_SELECTION_DEFERRAL_MS);
    }
    if (this.deferral) {
      const ms = Math.max(0, this.deferral.deadline - this.clock());
      // RFC 4724 §4.1 Selection_Deferral_Timer: when it fires, selection runs whatever is missing.
      this.deferralTimer = setTimeout(() => this.enqueue(() => this.processRound()), ms + 5);
      this.deferralTimer.unref?.();
    }
    this.enqueue(() => {
      for (const e of this.peers.values()) e.conn.start();
      this.scheduleProcess();
    });
  }

  /**
   * JIT warm-up (src/speaker/warmup.ts), once per process. Connections arriving meanwhile wait in
   * the listen backlog or the socket buffers. An optimization only: whatever goes wrong in it is
   * logged, never fatal.
   */
  private warmUp(): void {
    this.warmUpRan = true;
    try {
      const w = warmUpOnce(this.config);
      if (w) this.log('debug', `JIT warm-up: ${w.routes} synthetic routes, ${w.messagesOut} UPDATEs out, ${w.ms.toFixed(0)} ms`);
      else this.log('debug', 'JIT warm-up: this process is already warm');
    } catch (err) {
      this.log('warn', `JIT warm-up failed (the first UPDATEs will run cold): ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    }
  }

  /** The bound port of the first listener (tests use port 0). */
  get port(): number {
    return this.listeners[0]?.port ?? 0;
  }

  /** Stops every peer and closes the listeners. See StopOptions for `graceful`. */
  async stop(opts: StopOptions = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.enqueue(() => {
      for (const e of this.peers.values()) this.closePeer(e, opts.graceful ? 'graceful' : 'shutdown', opts.message);
      this.peers.clear();
    });
    if (this.deferralTimer) clearTimeout(this.deferralTimer);
    // Give the closing NOTIFICATIONs a moment to be written before the listeners go.
    await new Promise((r) => setTimeout(r, opts.graceful ? 0 : 50));
    for (const l of this.listeners) l.close();
  }

  // --- peers ------------------------------------------------------------------------------------

  addPeer(cfg: PeerConfig): void {
    validatePeerConfig(cfg);
    if (this.stopped) throw new SpeakerConfigError('name', 'the speaker is stopped', cfg.name);
    if (this.peers.has(cfg.name)) throw new SpeakerConfigError('name', 'a peer with this name exists (use updatePeer)', cfg.name);
    const addr = canonicalIP(cfg.address)!;
    for (const e of this.peers.values()) {
      if (canonicalIP(e.cfg.address) === addr) throw new SpeakerConfigError('address', `${addr} is already peer '${e.cfg.name}'`, cfg.name);
    }
    if (cfg.type === 'rr-client' && !this.config.clusterId) {
      this.log('warn', `peer ${cfg.name} is a route-reflector client but no clusterId is configured: routes are not reflected (RFC 4456 §7)`);
    }
    const entry = this.createPeer({ ...cfg });
    this.enqueue(() => {
      if (!this.started || entry.removed) return;
      // The first peer that may send a full table, added to a running speaker (see SpeakerConfig.warmUp).
      if (this.config.warmUp === undefined && mayCarryFullTable(cfg) && !this.warmUpRan) this.warmUp();
      entry.conn.start();
    });
  }

  /**
   * Applies a changed configuration of a live peer (see classifyPeerChange):
   *  - local policy — type / RFC 4456 client status, next-hop handling, export prefixes, import
   *    rule, node addresses, max-prefix, import preference — IN PLACE: no NOTIFICATION, no TCP
   *    reset. Import runs again over the Adj-RIB-In (soft reconfiguration inbound); when the
   *    export profile changed, the peer moves to its new update group and is sent only the
   *    difference (RFC 4271 §9.2);
   *  - what the OPEN or the TCP connection carries (port, password, ttlSecurity, families, hold
   *    time, source address, ...): a new session, ended so that a graceful-restart peer keeps our
   *    routes as stale and we keep its (RFC 8538 §4 Cease without Hard Reset when the N bit was
   *    negotiated, else RFC 4724 §4.2 a dropped TCP connection), then refreshed by both tables;
   *  - AS numbers, address, graceful restart on/off: Cease/Other Configuration Change with Hard
   *    Reset (RFC 8538 §3), both sides flush (our routes would be wrong for the peer).
   * Returns what it does.
   */
  updatePeer(cfg: PeerConfig): PeerChange {
    validatePeerConfig(cfg);
    const e = this.peers.get(cfg.name);
    if (!e) throw new UnknownPeerNameError(cfg.name, 'updatePeer');
    const next = { ...cfg };
    // Against the last configuration asked for: earlier updates may still wait in the queue.
    const change = classifyPeerChange(e.desired, next);
    if (change === 'none') return change;
    e.desired = next;
    if (next.type === 'rr-client' && !this.config.clusterId) {
      this.log('warn', `peer ${cfg.name} is a route-reflector client but no clusterId is configured: routes are not reflected (RFC 4456 §7)`);
    }
    this.enqueue(() => {
      // The entry now (a hard reset queued before this replaced it).
      const cur = this.peers.get(cfg.name);
      if (!cur || cur.removed) return;
      const how = classifyPeerChange(cur.cfg, next);
      if (how === 'none') return;
      this.log('info', `peer ${cfg.name}: configuration changed, ${how === 'in-place' ? 'applied in place' : how === 'graceful-reset' ? 'new session with graceful restart' : 'new session (Hard Reset)'}`);
      if (how === 'hard-reset') {
        this.closePeer(cur, 'reconfigured', 'configuration changed');
        this.peers.delete(cfg.name);
        const n = this.createPeer(next);
        if (this.started) n.conn.start();
        return;
      }
      this.applyInPlace(cur, next, how === 'in-place');
      if (how === 'graceful-reset') this.resetGracefully(cur);
    });
    return change;
  }

  /**
   * The enabled IP pools changed (DESIGN.md: cluster routes must lie inside one). Import runs
   * again over every Adj-RIB-In (soft reconfiguration inbound): a prefix outside the new pools
   * leaves the Loc-RIB (the change stream reports it withdrawn) and our Adj-RIBs-Out; one inside
   * them now is accepted. No session is reset.
   */
  setPools(pools: readonly string[]): void {
    validateSpeakerConfig({ ...this.config, pools: [...pools] });
    const next = pools.map((p) => formatCidr(parseCidr(p, true)!));
    this.enqueue(() => {
      if (this.stopped) return;
      this.config.pools = next;
      this.rib.setPools(next, this.clock());
      this.scheduleProcess();
    });
  }

  /**
   * Our CLUSTER_ID changed, or we became (or stopped being) a route reflector (RFC 4456 §7).
   * Import runs again (the §8 CLUSTER_LIST loop check uses the new id); every Established peer
   * moves to the update group of its new profile and is sent the difference: reflected routes
   * again with the new CLUSTER_LIST, withdrawals of what is no longer reflected. No session is
   * reset.
   */
  setClusterId(clusterId: string | null): void {
    validateSpeakerConfig({ ...this.config, clusterId });
    this.enqueue(() => {
      if (this.stopped || (this.config.clusterId ?? null) === clusterId) return;
      this.log('info', `cluster id ${this.config.clusterId ?? 'none'} -> ${clusterId ?? 'none'}`);
      this.config.clusterId = clusterId;
      this.rib.setClusterId(clusterId, this.clock());
      if (!clusterId && [...this.peers.values()].some((p) => p.cfg.type === 'rr-client')) {
        this.log('warn', 'route-reflector clients are configured but no clusterId: routes are not reflected (RFC 4456 §7)');
      }
      for (const p of this.peers.values()) this.regroup(p);
      this.scheduleProcess();
    });
  }

  /**
   * The host's routing state changed (a link, address or non-BGP route): RFC 4271 §9.1.2 next-hop
   * reachability and §9.1.2.2 (e) IGP costs may differ now. Every destination (of `family`, or
   * all) runs the decision process again in the next round; only destinations whose best path or
   * multipath set changes are disseminated and reported. No session is touched.
   */
  nextHopsChanged(family?: Family): void {
    this.enqueue(() => {
      if (this.stopped) return;
      this.rib.locRib.invalidateNextHops(family);
      this.scheduleProcess();
    });
  }

  /** Replaces the next-hop resolver (SpeakerConfig.resolveNextHop) and re-runs the decision. */
  setNextHopResolver(resolve: NextHopResolver): void {
    this.enqueue(() => {
      if (this.stopped) return;
      this.config.resolveNextHop = resolve;
      this.rib.locRib.setResolver(resolve);
      this.scheduleProcess();
    });
  }

  /**
   * Subscribes to peer events for metrics: NOTIFICATIONs sent and received, routes rejected by
   * import policy (SpeakerPeerEvent). Listeners run on the speaker's queue; keep them cheap.
   * Returns an unsubscribe.
   */
  onPeerEvent(listener: (ev: SpeakerPeerEvent) => void): () => void {
    this.peerEventListeners.push(listener);
    return () => {
      const i = this.peerEventListeners.indexOf(listener);
      if (i >= 0) this.peerEventListeners.splice(i, 1);
    };
  }

  /** Removes a peer: Cease / Peer De-configured (RFC 4486), its routes are withdrawn. */
  removePeer(name: string): void {
    const e = this.peers.get(name);
    if (!e) throw new UnknownPeerNameError(name, 'removePeer');
    this.enqueue(() => {
      // The entry now: a queued hard reset (updatePeer) may have replaced `e`.
      const cur = this.peers.get(name);
      if (!cur) return;
      this.closePeer(cur, 'deconfigured');
      this.peers.delete(name);
    });
  }

  hasPeer(name: string): boolean {
    return this.peers.has(name);
  }

  /** Sends ROUTE-REFRESH (RFC 2918) to a peer for its families (or one), when it supports it. */
  requestRefresh(name: string, family?: Family): boolean {
    const e = this.peers.get(name);
    if (!e) throw new UnknownPeerNameError(name, 'requestRefresh');
    const s = e.session;
    if (!s || !s.routeRefresh) return false;
    const fams = family ? [family] : s.families;
    this.enqueue(() => {
      for (const f of fams) {
        const [afi, safi] = afiSafi(f);
        this.sendTo(e, [{ type: 'route-refresh', afi, safi, subtype: ROUTE_REFRESH_NORMAL }]);
      }
    });
    return true;
  }

  // --- our own routes ---------------------------------------------------------------------------

  /** Originates a prefix (our pod block); exported with our node address as next hop. */
  originate(prefix: string, opts: OriginateOptions = {}): void {
    const c = parseCidr(prefix, true);
    if (!c) throw new SpeakerConfigError('prefix', `'${prefix}' is not a CIDR with host bits clear`);
    const u32 = (n: unknown): boolean => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffffffff;
    // RFC 1997: a community is 4 octets; RFC 8092: a large community is three 4-octet values.
    for (const v of opts.communities ?? []) if (!u32(v)) throw new SpeakerConfigError('communities', `${v} is not a 32-bit community (RFC 1997)`);
    for (const l of opts.largeCommunities ?? []) {
      if (l.length !== 3 || !l.every(u32)) throw new SpeakerConfigError('largeCommunities', `${JSON.stringify(l)} is not three 32-bit values (RFC 8092)`);
    }
    if (opts.med !== undefined && !u32(opts.med)) throw new SpeakerConfigError('med', `${opts.med} is not a 32-bit MED`);
    if (opts.localPref !== undefined && !u32(opts.localPref)) throw new SpeakerConfigError('localPref', `${opts.localPref} is not a 32-bit LOCAL_PREF`);
    const attrs: PathAttributes = { origin: 0, asPath: [] };
    if (opts.communities?.length) attrs.communities = [...opts.communities];
    if (opts.largeCommunities?.length) attrs.largeCommunities = opts.largeCommunities.map((l) => [...l] as [number, number, number]);
    if (opts.med !== undefined) attrs.med = opts.med;
    if (opts.localPref !== undefined) attrs.localPref = opts.localPref;
    // No next hop here for either family: the export supplies ours per peer and family
    // (RFC 4271 §5.1.3 NEXT_HOP for IPv4, RFC 4760 §3 MP_REACH_NLRI for IPv6).
    const canon = formatCidr(c);
    this.enqueue(() => {
      this.rib.locRib.originate(canon, attrs, this.clock());
      this.scheduleProcess();
    });
  }

  withdraw(prefix: string): void {
    const c = parseCidr(prefix, true);
    if (!c) throw new SpeakerConfigError('prefix', `'${prefix}' is not a CIDR with host bits clear`);
    const canon = formatCidr(c);
    this.enqueue(() => {
      this.rib.locRib.withdrawOriginated(canon);
      this.scheduleProcess();
    });
  }

  /** Called with each round's Loc-RIB changes (after selection deferral). Returns an unsubscribe. */
  onLocRibChange(listener: (batch: RouteChangeBatch) => void): () => void {
    this.changeListeners.push(listener);
    return () => {
      const i = this.changeListeners.indexOf(listener);
      if (i >= 0) this.changeListeners.splice(i, 1);
    };
  }

  // --- views ------------------------------------------------------------------------------------

  peerStatus(): PeerStatusView[] {
    return [...this.peers.values()].map((e) => this.statusOf(e));
  }

  /** The Loc-RIB: every destination with a best path. */
  routes(family?: Family): RouteView[] {
    const out: RouteView[] = [];
    const toEpoch = (t: number) => t + this.epochOffset;
    for (const d of this.rib.locRib.bests(family)) {
      const v = routeView(d, toEpoch);
      if (v) out.push(v);
    }
    return out;
  }

  /** Number of destinations with a best path (cheap; for benchmarks and health). */
  routeCount(family?: Family): number {
    return this.rib.locRib.bestCount(family);
  }

  /** Longest-prefix match of an address: the route, its peer and path, and why it won. */
  explain(address: string): ExplainView {
    const d = longestMatch(this.rib.locRib, address);
    if (!d) return { address, prefix: null, route: null, eliminated: [], ineligible: [] };
    const toEpoch = (t: number) => t + this.epochOffset;
    const ex = this.rib.locRib.explain(d.prefix, d.family);
    const name = (r: { peer: RibPeer }) => (r.peer.kind === 'local' ? 'local' : r.peer.id);
    return {
      address,
      prefix: d.prefix,
      route: routeView(d, toEpoch),
      eliminated: ex ? ex.trace.eliminated.map((s) => ({ step: s.step, peers: s.routes.map(name) })) : [],
      ineligible: ex ? ex.trace.ineligible.map((i) => ({ peer: name(i.route), why: i.why })) : [],
    };
  }

  /** True while our own best-path selection is deferred after a restart (RFC 4724 §4.1). */
  get selectionDeferred(): boolean {
    return this.restarting;
  }

  // --- internals: peer lifecycle ----------------------------------------------------------------

  private listenerFor(address: string): BgpListener | undefined {
    const v6 = address.includes(':');
    const i = this.listenAddresses.findIndex((a) => a === '::' || (a === '0.0.0.0' ? !v6 : a.includes(':') === v6));
    return i >= 0 ? this.listeners[i] : undefined;
  }

  private createPeer(cfg: PeerConfig): PeerEntry {
    const rp = ribPeer(ribPeerInit(this.config, cfg));
    const adjIn = this.rib.addPeer(rp, importRule(cfg), {
      maxPrefix: cfg.maxPrefix ? { limit: cfg.maxPrefix.limit, action: cfg.maxPrefix.action } : undefined,
    });
    const entry = {} as PeerEntry;
    Object.assign(entry, {
      cfg,
      desired: cfg,
      conn: null as unknown as PeerConnection,
      rib: rp,
      adjIn,
      gr: new GracefulRestartReceiver(cfg.name, this.config.gracefulRestart?.stalePathTimeMs ?? DEFAULT_STALE_PATH_TIME_MS),
      session: null,
      endpoints: null,
      families: peerFamilies(cfg),
      joined: false,
      endOfRibSent: false,
      endOfRibReceived: new Set<Family>(),
      outbox: new PeerOutbox(this.config.outputQueueLimitBytes ?? DEFAULT_OUTPUT_QUEUE_LIMIT),
      since: Date.now(),
      grTimer: null,
      restartTimer: null,
      maxPrefixExceeded: null,
      removed: false,
      flapsCarried: 0,
    } satisfies PeerEntry);
    adjIn.onReject = (family, prefix, reason) => {
      if (this.peerEventListeners.length > 0) this.emitPeerEvent({ peer: entry.cfg.name, kind: 'route-rejected', reason, prefix, family });
    };
    entry.conn = this.newConnection(entry);
    this.peers.set(cfg.name, entry);
    return entry;
  }

  /**
   * The transport and FSM of a peer for its current configuration. Events of a connection that
   * was replaced (resetGracefully) are dropped, except that its NOTIFICATIONs still count.
   */
  private newConnection(entry: PeerEntry): PeerConnection {
    const cfg = entry.cfg;
    const restarting = this.restarting && (this.deferral === null || !this.deferral.finished(this.clock()));
    // RFC 4724 §4.1: a peer configured while selection is deferred is waited for too.
    if (restarting && this.deferral) this.deferral.expect(cfg.name);
    const conn: PeerConnection = new PeerConnection({
      session: sessionConfig(this.config, cfg, restarting),
      transport: {
        remoteAddress: cfg.address,
        remotePort: cfg.port,
        localAddress: cfg.sourceAddress,
        md5Password: cfg.password,
        ttlSecurityHops: cfg.ttlSecurity,
      },
      listener: this.listenerFor(cfg.address),
      enqueue: this.enqueue,
      clock: this.clock,
      onEvent: (ev) => {
        if (ev.type === 'down') this.reportNotification(entry.cfg.name, ev.reason);
        if (entry.conn === conn) this.handlePeerEvent(entry, ev);
      },
    });
    return conn;
  }

  /**
   * Local policy of a live peer changed (see updatePeer): the import rule and max-prefix are
   * replaced and import runs again over the Adj-RIB-In (soft reconfiguration inbound); the
   * peer's RFC 4456 client status and preference change in the RIB (its routes are exported
   * again where that matters); with `regroup` (the session stays), it moves to the update group
   * of its new export profile and gets the difference, and a lowered max-prefix limit is checked
   * against what it sent (RFC 4486 §4).
   */
  private applyInPlace(e: PeerEntry, cfg: PeerConfig, regroup: boolean): void {
    e.cfg = cfg;
    const role = ribPeer(ribPeerInit(this.config, cfg));
    this.rib.addPeer(e.rib, importRule(cfg), { maxPrefix: cfg.maxPrefix ? { limit: cfg.maxPrefix.limit, action: cfg.maxPrefix.action } : undefined });
    this.rib.updatePeerRole(cfg.name, { rrClient: role.rrClient, importLocalPref: role.importLocalPref, nodeAddresses: role.nodeAddresses });
    e.adjIn.reapplyImport(this.clock());
    if (!cfg.maxPrefix) e.maxPrefixExceeded = null;
    // RFC 4486 §4: a lower limit applies to what the peer has already sent.
    if (e.session && regroup) for (const over of e.adjIn.recheckLimits()) this.onMaxPrefix(e, over);
    if (regroup) this.regroup(e);
    this.scheduleProcess();
  }

  /**
   * Replaces the peer's connection for a configuration the OPEN or TCP carries, as a graceful
   * restart where the session allows it: RFC 8538 §4 — with the N bit, a NOTIFICATION other than
   * Hard Reset keeps the routes on both sides as stale (Cease / Other Configuration Change,
   * RFC 4486 §4); RFC 4724 §4.2 — with graceful restart but no N bit, only a TCP failure does, so
   * the connection is dropped without NOTIFICATION. Without graceful restart: Cease / Other
   * Configuration Change with Hard Reset. The Adj-RIB-In and update group state stay with the
   * peer; the new session refreshes both tables and End-of-RIB ends the stale period.
   */
  private resetGracefully(e: PeerEntry): void {
    const old = e.conn;
    const s = e.session;
    e.flapsCarried += old.status().flaps + (s ? 1 : 0);
    const gr = s !== null && s.gracefulRestart !== null && grEnabled(this.config, e.cfg);
    if (gr && s!.gracefulRestart!.notification) old.close({ subcode: CEASE_OTHER_CONFIG_CHANGE, communication: 'configuration changed', hardReset: false });
    else if (gr) old.abort();
    else old.close({ subcode: CEASE_OTHER_CONFIG_CHANGE, communication: 'configuration changed', hardReset: true });
    // The old connection's events are dropped from now on: its end is handled here.
    if (s) this.onDown(e, gr, 'configuration changed: new session');
    if (e.restartTimer) clearTimeout(e.restartTimer);
    e.restartTimer = null;
    e.conn = this.newConnection(e);
    e.since = Date.now();
    if (this.started) e.conn.start();
  }

  /** Reports the NOTIFICATION that ended a session, if one did, to the peer event listeners. */
  private reportNotification(peer: string, reason: DownReason): void {
    const n = reason.notification;
    if (!n || this.peerEventListeners.length === 0) return;
    const kind = reason.kind === 'notification-received' ? 'notification-received' : 'notification-sent';
    const ev: SpeakerPeerEvent = { peer, kind, code: n.code, subcode: n.subcode };
    if (n.code === CEASE && n.subcode === CEASE_HARD_RESET && n.data.length >= 2) ev.hardResetOf = { code: n.data[0], subcode: n.data[1] };
    this.emitPeerEvent(ev);
  }

  private emitPeerEvent(ev: SpeakerPeerEvent): void {
    for (const l of [...this.peerEventListeners]) {
      try {
        l(ev);
      } catch (err) {
        this.log('error', `peer event listener failed: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Ends a peer. 'graceful': TCP dropped without NOTIFICATION (the peer keeps our routes, RFC
   * 4724 §4.2); 'shutdown' / 'deconfigured': Cease with Hard Reset (RFC 8538 §3) so the peer
   * flushes our routes. Either way the peer's routes leave our Loc-RIB at the next round.
   */
  private closePeer(e: PeerEntry, how: 'graceful' | 'shutdown' | 'deconfigured' | 'reconfigured', message?: string): void {
    if (e.removed) return;
    e.removed = true;
    if (e.grTimer) clearTimeout(e.grTimer);
    if (e.restartTimer) clearTimeout(e.restartTimer);
    e.outbox.clear();
    if (how === 'graceful') e.conn.abort();
    else {
      e.conn.close({
        subcode: how === 'deconfigured' ? CEASE_PEER_DECONFIGURED : how === 'reconfigured' ? CEASE_OTHER_CONFIG_CHANGE : CEASE_ADMIN_SHUTDOWN,
        communication: message,
        hardReset: true,
      });
    }
    this.rib.removePeer(e.cfg.name);
    this.deferral?.peerGone(e.cfg.name);
    this.scheduleProcess();
  }

  // --- internals: events --------------------------------------------------------------------------

  private handlePeerEvent(e: PeerEntry, ev: PeerEvent): void {
    if (e.removed) return;
    switch (ev.type) {
      case 'state':
        e.since = Date.now();
        this.log('debug', `peer ${e.cfg.name}: ${ev.from} -> ${ev.to}`);
        // RFC 4724 §4.1: a peer that cannot be reached is not waited for.
        if (this.deferral && (ev.to === 'Active' || ev.to === 'Idle') && !e.session) {
          this.deferral.peerGone(e.cfg.name);
          this.scheduleProcess();
        }
        return;
      case 'established': return this.onEstablished(e, ev.session, ev.endpoints);
      case 'update': return this.onUpdate(e, ev.message);
      case 'route-refresh': return this.onRouteRefresh(e, ev.message);
      case 'down': return this.onDown(e, ev.reason.graceful, ev.reason.text);
      case 'drain': return this.flushOutbox(e);
    }
  }

  private onEstablished(e: PeerEntry, session: NegotiatedSession, endpoints: SessionEndpoints): void {
    const now = this.clock();
    e.session = session;
    e.endpoints = endpoints;
    e.families = session.families;
    e.endOfRibSent = false;
    e.endOfRibReceived.clear();
    this.log('info', `peer ${e.cfg.name} established`, { peerId: session.peerId, families: session.families, local: endpoints.localAddress });
    this.rib.setPeerRouterId(e.cfg.name, session.peerId);
    const cap = grEnabled(this.config, e.cfg) ? peerGrCapability(session, e.cfg.maxRestartTime) : null;
    this.applyPlan(e, e.gr.sessionUp(now, cap, session.families));
    this.deferral?.peerUp(e.cfg.name, cap, session.families);
    this.joinIfReady(e);
    this.scheduleProcess();
  }

  private onUpdate(e: PeerEntry, msg: UpdateMessage): void {
    this.counters.updatesReceived++;
    let r: UpdateResult;
    try {
      r = this.rib.receive(e.cfg.name, msg, this.clock());
    } catch (err) {
      this.log('error', `peer ${e.cfg.name}: UPDATE not applied: ${(err as Error).message}`);
      return;
    }
    if (msg.treatAsWithdraw) {
      this.log('warn', `peer ${e.cfg.name}: ${msg.treatAsWithdraw.message} (${msg.treatAsWithdraw.field}): routes treated as withdrawn (RFC 7606 §2)`);
    }
    if (r.endOfRib) {
      // RFC 4724 §4.2: End-of-RIB ends the peer's restart for the family: stale routes go.
      e.endOfRibReceived.add(r.endOfRib);
      for (const f of e.gr.endOfRib(r.endOfRib)) e.adjIn.purgeStale(f);
      this.deferral?.endOfRib(e.cfg.name, r.endOfRib);
      this.scheduleProcess();
      return;
    }
    if (r.maxPrefix) this.onMaxPrefix(e, r.maxPrefix);
    if (r.changedDestinations.length > 0) {
      // Not while selection is deferred (RFC 4724 §4.1): the deferred destinations stay pending.
      if (!this.restarting && this.rib.locRib.pending >= ROUND_MAX_DESTINATIONS) this.processRound();
      else this.scheduleProcess();
    }
  }

  /** RFC 4486 §4: Cease subcode 1, or only a warning. */
  private onMaxPrefix(e: PeerEntry, exceeded: MaxPrefixExceeded): void {
    const { family, limit, count } = exceeded;
    e.maxPrefixExceeded = { family, limit, count };
    const mp = e.cfg.maxPrefix!;
    this.log('warn', `peer ${e.cfg.name}: ${count} ${family} prefixes exceed the limit of ${limit}${mp.action === 'teardown' ? ': closing the session (Cease/Maximum Number of Prefixes Reached)' : ''}`);
    if (mp.action !== 'teardown') return;
    // RFC 4486 §4: Cease subcode 1 with AFI, SAFI and the prefix upper bound as data.
    // RFC 8538 §3: Hard Reset, so the peer does not keep our routes as if we restarted.
    const n = exceeded.notification;
    e.conn.stop({ subcode: n.subcode, data: n.data, hardReset: true });
    if (mp.restartAfter !== undefined) {
      e.restartTimer = setTimeout(() => this.enqueue(() => {
        e.restartTimer = null;
        if (!e.removed) e.conn.start();
      }), mp.restartAfter * 1000);
    }
  }

  private onRouteRefresh(e: PeerEntry, m: RouteRefreshMessage): void {
    const family = familyOf(m.afi, m.safi);
    if (!e.families.includes(family)) return; // RFC 2918 §4: ignore a family not negotiated
    if (m.subtype === ROUTE_REFRESH_BORR) {
      e.adjIn.beginRouteRefresh(family); // RFC 7313 §4
      return;
    }
    if (m.subtype === ROUTE_REFRESH_EORR) {
      e.adjIn.endRouteRefresh(family);
      this.scheduleProcess();
      return;
    }
    if (m.subtype !== ROUTE_REFRESH_NORMAL) return; // RFC 7313 §5: unknown subtype ignored
    if (!e.joined) return; // our table follows once selection deferral ends (RFC 4724 §4.1)
    this.log('info', `peer ${e.cfg.name} asked for a route refresh of ${family}`);
    const { toGroup, toPeer } = this.rib.routeRefresh(e.cfg.name, family, e.session?.enhancedRouteRefresh ?? false);
    const g = this.rib.group(e.cfg.name);
    if (toGroup.length > 0 && g) this.sendToGroup(g, g.members, toGroup);
    // toPeer is [BoRR,] the group's cached table [, EoRR] (RFC 7313 §4): the table goes out from
    // the group's encoded cache, framed by the markers.
    const framed = toPeer.length >= 2 && toPeer[0].type === 'route-refresh';
    if (g && g.tx.families.includes(family)) this.sendTable(e, g, family, framed ? [toPeer[0]] : [], framed ? [toPeer[toPeer.length - 1]] : []);
    else this.sendTo(e, toPeer);
  }

  private onDown(e: PeerEntry, graceful: boolean, text: string): void {
    const now = this.clock();
    this.log('info', `peer ${e.cfg.name} down: ${text}${graceful ? ' (keeping its routes as stale, RFC 4724)' : ''}`);
    this.rib.leaveGroup(e.cfg.name);
    e.joined = false;
    e.outbox.clear();
    e.session = null;
    e.endpoints = null;
    const plan = graceful && grEnabled(this.config, e.cfg)
      ? e.gr.sessionDown(now, e.families)
      // Not graceful: every family is purged (RFC 4724 §4.2 does not apply).
      : e.gr.sessionDown(now, e.families, { notification: true, localNotificationSupport: false });
    this.applyPlan(e, plan);
    if (plan.markStale.length === 0) e.adjIn.clear(); // whatever else it held goes too
    this.deferral?.peerGone(e.cfg.name);
    this.scheduleProcess();
  }

  /** Applies a graceful-restart plan to the peer's Adj-RIB-In and arms its timer. */
  private applyPlan(e: PeerEntry, plan: RestartPlan): void {
    for (const f of plan.purge) e.adjIn.clear(f);
    for (const f of plan.markStale) e.adjIn.markStale(f);
    if (e.grTimer) clearTimeout(e.grTimer);
    e.grTimer = null;
    if (plan.deadline !== null) {
      const ms = Math.max(0, plan.deadline - this.clock());
      e.grTimer = setTimeout(() => this.enqueue(() => this.onGrTimer(e)), ms + 1);
      e.grTimer.unref?.();
    }
  }

  /** RFC 4724 §4.2: the restart time or the stale-path time ran out. */
  private onGrTimer(e: PeerEntry): void {
    e.grTimer = null;
    if (e.removed) return;
    const fams = e.gr.expire(this.clock());
    if (fams.length > 0) this.log('info', `peer ${e.cfg.name}: graceful restart timer expired, removing stale ${fams.join(', ')} routes`);
    for (const f of fams) e.adjIn.purgeStale(f);
    const next = e.gr.deadline;
    if (next !== null) this.applyPlan(e, { purge: [], markStale: [], deadline: next });
    this.scheduleProcess();
  }

  /**
   * Joins the peer's update group: its full table and End-of-RIB go out. Held while our own
   * selection is deferred (RFC 4724 §4.1: the initial UPDATEs follow best-path selection).
   */
  private joinIfReady(e: PeerEntry): void {
    if (e.joined || !e.session || e.removed) return;
    if (this.restarting) return;
    const s = e.session;
    const profile = exportProfile(this.config, e.cfg, e.endpoints?.localAddress ?? null);
    // toNew is the group's cached table per family + End-of-RIB; sendTable writes the same
    // table from its encoded cache instead of encoding it again for each joining member.
    const { group, toExisting } = this.rib.joinGroup(e.cfg.name, profile, groupTx(s));
    e.joined = true;
    this.sendToGroup(group, group.members, toExisting, e.cfg.name);
    for (const family of group.tx.families) this.sendTable(e, group, family);
    e.endOfRibSent = true;
  }

  /**
   * The peer's export profile changed on a live session (RFC 4456 client status, next-hop
   * handling, export prefixes, our CLUSTER_ID): it moves to its new update group and is sent the
   * difference between what it has and what the new group advertises — nothing when equal.
   */
  private regroup(e: PeerEntry): void {
    if (!e.joined || !e.session || e.removed) return;
    const profile = exportProfile(this.config, e.cfg, e.endpoints?.localAddress ?? null);
    const r = this.rib.moveGroup(e.cfg.name, profile, groupTx(e.session));
    if (!r.moved) return;
    this.sendToGroup(r.group, r.group.members, r.toExisting, e.cfg.name);
    // Not its own routes (RFC 4456 §6, as in sendToGroup): a withdrawal of one it never got from
    // us may still come, which it ignores.
    this.sendTo(e, r.toPeer.filter((m) => r.group.origin(m) !== e.cfg.name));
  }

  // --- internals: processing rounds -------------------------------------------------------------

  private scheduleProcess(): void {
    if (this.processScheduled) return;
    this.processScheduled = true;
    setImmediate(() => this.enqueue(() => {
      this.processScheduled = false;
      this.processRound();
    }));
  }

  /** One round: decision process, dissemination to update groups, Loc-RIB changes to listeners. */
  private processRound(): void {
    // Restarting and not started yet: nothing is selected before the deferral begins.
    if (this.restarting && !this.deferral) return;
    this.counters.rounds++;
    const now = this.clock();
    const deferral = this.deferral;
    const deferred = deferral ? (f: Family) => deferral.isDeferred(f, now) : undefined;
    const { changes, outputs } = this.rib.process(deferred);
    // RFC 4271 §9.2: each group's UPDATEs are encoded once; every member gets the same Buffers.
    for (const o of outputs) this.sendToGroup(o.group, o.members, o.messages);
    if (deferral && deferral.finished(now)) {
      // RFC 4724 §4.1: selection done; now send every peer our table and End-of-RIB.
      this.deferral = null;
      this.restarting = false;
      if (this.deferralTimer) clearTimeout(this.deferralTimer);
      this.deferralTimer = null;
      this.log('info', 'selection deferral finished (RFC 4724 §4.1)');
      for (const p of this.peers.values()) {
        // RFC 4724 §3: the Restart State bit only right after the restart — a session after a
        // later flap goes without it (the F bits stay as configured).
        p.conn.updateGracefulRestart(sessionConfig(this.config, p.cfg, false).gracefulRestart);
        this.joinIfReady(p);
      }
    }
    if (changes.length > 0 && this.changeListeners.length > 0) this.report(changes);
  }

  private report(changes: LocRibChange[]): void {
    const toEpoch = (t: number) => t + this.epochOffset;
    const out = routeChangeViews(changes, toEpoch);
    this.counters.changesReported += out.length;
    const batch: RouteChangeBatch = { changes: out };
    for (const l of [...this.changeListeners]) {
      try {
        l(batch);
      } catch (err) {
        this.log('error', `Loc-RIB listener failed: ${(err as Error).message}`);
      }
    }
  }

  // --- internals: output --------------------------------------------------------------------------

  /** Sends messages meant for one peer only (encoded for it). Group output goes through sendToGroup. */
  private sendTo(e: PeerEntry, msgs: readonly BgpMessage[]): void {
    if (msgs.length === 0 || e.removed || !e.session) return;
    const { messages, encoded } = this.encodeAll(msgs, (m) => e.conn.encode(m as UpdateMessage | RouteRefreshMessage), e.cfg.name);
    this.writeTo(e, messages, encoded);
  }

  /**
   * Sends a group's messages to the given members: encoded ONCE with the group's context (equal
   * for all members by construction of the group) and the same Buffers written to each — except
   * that a member is not sent the messages made only of routes it advertised itself (RFC 4456
   * §6: reflection serves the other clients; the originator would discard them, §8).
   */
  private sendToGroup(group: UpdateGroup, members: Iterable<string>, msgs: readonly BgpMessage[], except?: string): void {
    if (msgs.length === 0) return;
    let targets: PeerEntry[] | null = null;
    for (const m of members) {
      if (m === except) continue;
      const p = this.peers.get(m);
      if (p && p.joined && !p.removed && p.session) (targets ??= []).push(p);
    }
    if (!targets) return;
    const ctx = group.codecContext();
    const { messages, encoded } = this.encodeAll(msgs, (m) => encodeMessage(m, ctx), group.key);
    for (const p of targets) {
      const own = withoutOwnRoutes(group, p.cfg.name, messages, encoded);
      this.writeTo(p, own.messages, own.encoded);
    }
  }

  /**
   * The group's full table of `family` to one member, between `before` and `after` (default:
   * End-of-RIB after it, RFC 4724 §2, for a joining member; BoRR / EoRR for a route refresh,
   * RFC 7313 §4). The table's encoding is cached per group and Adj-RIB-Out version (the group's
   * cached table array), so N members joining cost one encoding, queued as shared Buffers.
   */
  private sendTable(e: PeerEntry, group: UpdateGroup, family: Family, before: BgpMessage[] = [], after: BgpMessage[] = [endOfRib(family)]): void {
    const table = group.table(family, false);
    let encoded = this.encodedTables.get(table);
    if (!encoded) {
      const ctx = group.codecContext();
      encoded = this.encodeAll(table, (m) => encodeMessage(m, ctx), group.key).encoded;
      // A message that failed to encode was logged and left out; keep the pairs aligned.
      if (encoded.length !== table.length) return this.sendTo(e, [...before, ...table, ...after]);
      this.encodedTables.set(table, encoded);
    }
    const own = withoutOwnRoutes(group, e.cfg.name, table, encoded);
    const uncork = e.conn.cork();
    try {
      this.sendTo(e, before);
      this.writeTo(e, own.messages, own.encoded, true);
      this.sendTo(e, after);
    } finally {
      uncork();
    }
  }

  private encodeAll(msgs: readonly BgpMessage[], encode: (m: BgpMessage) => Buffer, who: string): { messages: BgpMessage[]; encoded: Buffer[] } {
    const messages: BgpMessage[] = [];
    const encoded: Buffer[] = [];
    for (const m of msgs) {
      try {
        encoded.push(encode(m));
        messages.push(m);
      } catch (err) {
        this.log('error', `${who}: cannot encode ${m.type}: ${(err as Error).message}`, { message: describeMessage(m) });
      }
    }
    this.counters.messagesEncoded += encoded.length;
    return { messages, encoded };
  }

  private sinkOf(e: PeerEntry): OutputSink {
    return {
      write: (b) => {
        this.counters.messagesWritten++;
        return e.conn.sendEncoded(b);
      },
    };
  }

  /** Writes (or queues, see PeerOutbox) messages to one peer, all in one writev (PeerConnection.cork). */
  private writeTo(e: PeerEntry, messages: readonly BgpMessage[], encoded: readonly Buffer[], shared = false): void {
    if (messages.length === 0 || e.removed || !e.session) return;
    const wasInSync = !e.outbox.outOfSync;
    const uncork = e.conn.cork();
    try {
      e.outbox.send(this.sinkOf(e), messages, encoded, shared);
    } catch (err) {
      this.log('error', `peer ${e.cfg.name}: cannot send: ${(err as Error).message}`);
      return;
    } finally {
      uncork();
    }
    if (wasInSync && e.outbox.outOfSync) {
      this.log('warn', `peer ${e.cfg.name}: output queue over ${e.outbox.limitBytes} bytes while the socket is congested: dropping updates, the peer is resynchronized when it drains`);
    }
  }

  /** The socket drained: write what is queued; a peer out of sync then gets its resync diff. */
  private flushOutbox(e: PeerEntry): void {
    if (e.removed || !e.session) return;
    const uncork = e.conn.cork();
    try {
      const sink = this.sinkOf(e);
      if (e.outbox.pump(sink) !== 'resync-needed') return;
      const dirty = e.outbox.takeResync();
      const group = this.rib.group(e.cfg.name);
      // Not in a group: nothing advertised to bring up to date; the held markers still go out.
      if (!group) return void e.outbox.resync(sink, []);
      const msgs = resyncMessages(group, dirty);
      const ctx = group.codecContext();
      const { encoded } = this.encodeAll(msgs, (m) => encodeMessage(m, ctx), group.key);
      this.counters.resyncs++;
      this.log('info', `peer ${e.cfg.name}: resynchronized after its output queue overflowed (${msgs.length} UPDATEs for ${[...dirty.values()].reduce((n, s) => n + s.size, 0)} prefixes)`);
      e.outbox.resync(sink, encoded);
    } catch (err) {
      this.log('error', `peer ${e.cfg.name}: cannot send: ${(err as Error).message}`);
    } finally {
      uncork();
    }
  }

  /** The output queue of a peer: bytes and messages queued, out-of-sync state (tests, metrics). */
  peerOutput(name: string): { queuedBytes: number; queuedMessages: number; socketBytes: number; outOfSync: boolean; overflows: number } {
    const e = this.peers.get(name);
    if (!e) throw new UnknownPeerNameError(name, 'peerOutput');
    return {
      queuedBytes: e.outbox.queuedBytes,
      queuedMessages: e.outbox.queuedMessages,
      socketBytes: e.conn.bufferedBytes,
      outOfSync: e.outbox.outOfSync,
      overflows: e.outbox.overflows,
    };
  }

  // --- internals: status --------------------------------------------------------------------------

  private statusOf(e: PeerEntry): PeerStatusView {
    const st = e.conn.status();
    const s = e.session;
    const group = this.rib.group(e.cfg.name);
    const families: Record<Family, FamilyCounts> = {};
    for (const f of new Set([...peerFamilies(e.cfg), ...e.families, ...e.adjIn.families()])) {
      const c = e.adjIn.counts(f);
      families[f] = {
        received: c.total,
        accepted: c.accepted,
        rejected: c.rejected,
        stale: c.stale,
        advertised: e.joined && group ? group.sentRoutes(f).size : 0,
      };
    }
    const grDeadline = e.gr.deadline;
    return {
      name: e.cfg.name,
      address: canonicalIP(e.cfg.address)!,
      port: e.cfg.port ?? 179,
      asn: e.cfg.peerAs,
      localAs: peerLocalAs(this.config, e.cfg),
      type: e.cfg.type,
      state: st.state,
      since: e.since,
      lastError: st.lastError,
      localAddress: e.endpoints?.localAddress ?? null,
      messagesIn: st.messagesIn,
      messagesOut: st.messagesOut,
      updatesIn: st.updatesIn,
      updatesOut: st.updatesOut,
      flaps: st.flaps + e.flapsCarried,
      families,
      rejected: Object.fromEntries([...e.adjIn.rejectedNow].filter(([, n]) => n > 0)),
      capabilities: s ? {
        peerId: s.peerId,
        peerAs: s.peerAs,
        internal: s.internal,
        holdTime: s.holdTime,
        keepaliveTime: s.keepaliveTime,
        families: [...s.families],
        as4: s.as4,
        routeRefresh: s.routeRefresh,
        enhancedRouteRefresh: s.enhancedRouteRefresh,
        extendedMessage: s.extendedMessage,
        addPathReceive: [...s.addPath.receive],
        addPathSend: [...s.addPath.send],
        gracefulRestart: s.gracefulRestart ? {
          restartTime: s.gracefulRestart.restartTime,
          restarting: s.gracefulRestart.restarting,
          notification: s.gracefulRestart.notification,
          families: [...s.gracefulRestart.families].map(([family, v]) => ({ family, forwardingPreserved: v.forwardingPreserved })),
        } : null,
        peerHostname: s.peerHostname,
      } : null,
      gracefulRestart: {
        enabled: grEnabled(this.config, e.cfg),
        staleFamilies: [...e.gr.stale],
        staleUntil: grDeadline === null ? null : Math.round(grDeadline + this.epochOffset),
        endOfRibReceived: [...e.endOfRibReceived],
        endOfRibSent: e.endOfRibSent,
      },
      maxPrefixExceeded: e.maxPrefixExceeded,
    };
  }
}

/**
 * A peer that may send a table large enough for the JIT warm-up to pay off: a router outside the
 * cluster ('external', e.g. a ToR) or an iBGP non-client. Mesh nodes and reflectors send cluster
 * blocks only (import takes only prefixes inside an enabled pool).
 */
function mayCarryFullTable(cfg: PeerConfig): boolean {
  return cfg.type === 'external' || cfg.type === 'rr-nonclient';
}

/**
 * `messages` / `encoded` (same order) less those the group tagged as made only of `member`'s own
 * routes (UpdateGroup.origin). The same arrays when there are none (the common case).
 */
function withoutOwnRoutes(group: UpdateGroup, member: string, messages: readonly BgpMessage[], encoded: readonly Buffer[]): { messages: readonly BgpMessage[]; encoded: readonly Buffer[] } {
  let i = 0;
  while (i < messages.length && group.origin(messages[i]) !== member) i++;
  if (i === messages.length) return { messages, encoded };
  const m: BgpMessage[] = messages.slice(0, i);
  const b: Buffer[] = encoded.slice(0, i);
  for (; i < messages.length; i++) {
    if (group.origin(messages[i]) === member) continue;
    m.push(messages[i]);
    b.push(encoded[i]);
  }
  return { messages: m, encoded: b };
}

/** The sending context of a session, as far as its update group depends on it. */
function groupTx(s: NegotiatedSession): GroupTx {
  return { families: s.families, as4: s.as4, addPath: s.addPath.send, extendedMessage: s.extendedMessage };
}

function afiSafi(f: Family): [number, number] {
  if (f === 'ipv4-unicast') return [1, 1];
  if (f === 'ipv6-unicast') return [2, 1];
  const m = /^afi(\d+)-safi(\d+)$/.exec(f);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/**
 * The peer's RFC 4724 capability from its OPEN, with its Restart Time capped by our
 * maxRestartTime (how long we are willing to keep its routes).
 */
function peerGrCapability(s: NegotiatedSession, maxRestartTime: number | undefined): GracefulRestartCapability | null {
  if (!s.gracefulRestart) return null;
  const cap = s.peerOpen.capabilities.find((c): c is GracefulRestartCapability => c.kind === 'graceful-restart');
  if (!cap) return null;
  if (maxRestartTime === undefined || cap.restartTime <= maxRestartTime) return cap;
  return { ...cap, restartTime: maxRestartTime };
}

/** A short description of a message for logs (families and NLRI counts, next hops). */
function describeMessage(m: BgpMessage): string {
  if (m.type !== 'update') return m.type;
  const a = m.attributes;
  const parts = [`withdrawn ${m.withdrawn.length}`, `nlri ${m.nlri.length}`];
  if (a.nextHop) parts.push(`next hop ${a.nextHop}`);
  if (a.mpReach) parts.push(`MP_REACH ${familyOf(a.mpReach.afi, a.mpReach.safi)} next hops [${a.mpReach.nextHops.join(', ')}] nlri ${a.mpReach.nlri.map((n) => n.prefix).join(' ')}`);
  if (a.mpUnreach) parts.push(`MP_UNREACH ${familyOf(a.mpUnreach.afi, a.mpUnreach.safi)} ${a.mpUnreach.withdrawn.length}`);
  return parts.join(', ');
}
