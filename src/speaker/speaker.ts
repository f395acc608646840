// The BGP speaker: the single writer of routing state. It owns the listening sockets, every peer
// (PeerConnection + FSM from src/transport and src/session, its Adj-RIB-In, its update group
// membership, its graceful-restart state) and the Loc-RIB (src/rib). Every socket and timer
// callback only ENQUEUES a job on ONE serial queue; jobs run one at a time, so the RIB is never
// touched concurrently. UPDATEs are applied to the Adj-RIB-In as they arrive; the decision process
// and the dissemination run once per burst (a "processing round", scheduled with setImmediate),
// and each round's Loc-RIB changes go to the onLocRibChange listeners (the dataplane) in one batch.
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
import type { NegotiatedSession } from '../session/types';
import { Rib } from '../rib/rib';
import type { AdjRibIn, MaxPrefixExceeded, UpdateResult } from '../rib/adj-rib-in';
import { GracefulRestartReceiver, SelectionDeferral, type GracefulRestartCapability, type RestartPlan } from '../rib/graceful-restart';
import { ribPeer, type RibPeer } from '../rib/route';
import { ROUTE_REFRESH_BORR, ROUTE_REFRESH_EORR, ROUTE_REFRESH_NORMAL } from '../rib/adj-rib-out';
import type { LocRibChange } from '../rib/loc-rib';
import {
  DEFAULT_SELECTION_DEFERRAL_MS, DEFAULT_STALE_PATH_TIME_MS, changeableInPlace, exportProfile, grEnabled, importRule,
  peerFamilies, peerLocalAs, ribPeerInit, sessionConfig, validatePeerConfig, validateSpeakerConfig,
} from './config';
import { longestMatch, pathView, routeView } from './views';
import {
  SpeakerConfigError, UnknownPeerNameError,
  type ExplainView, type FamilyCounts, type PathView, type PeerConfig, type PeerStatusView, type RouteChange, type RouteChangeBatch,
  type RouteView, type SpeakerConfig, type SpeakerLog,
} from './types';

/** RFC 4486 §4 Cease subcodes used here. */
const CEASE_ADMIN_SHUTDOWN = 2;

/**
 * A processing round runs as soon as this many destinations wait for the decision process,
 * without waiting for the end of the burst: a full table arrives as ~100 UPDATEs per event-loop
 * turn, and deciding them in one round keeps every change record of the burst alive long enough
 * for V8 to move it to the old generation (the garbage then inflates RSS). Small rounds leave
 * short-lived garbage young.
 */
const ROUND_MAX_DESTINATIONS = 2048;
const CEASE_PEER_DECONFIGURED = 3;

interface PeerEntry {
  cfg: PeerConfig;
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
  /** Messages waiting for the socket to drain (RFC 4271 has no flow control; TCP does). */
  outbox: BgpMessage[];
  since: number;
  grTimer: NodeJS.Timeout | null;
  restartTimer: NodeJS.Timeout | null;
  maxPrefixExceeded: { family: Family; limit: number; count: number } | null;
  removed: boolean;
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
  private readonly log: SpeakerLog;
  private readonly clock = (): number => performance.now();
  private readonly epochOffset = Date.now() - performance.now();
  private deferral: SelectionDeferral | null = null;
  /** We restarted (R bit) and selection is still deferred, or start() has not run yet. */
  private restarting: boolean;
  private deferralTimer: NodeJS.Timeout | null = null;
  private processScheduled = false;
  private started = false;
  private stopped = false;
  /** Rounds run and changes reported, for tests and metrics. */
  readonly counters = { rounds: 0, changesReported: 0, updatesReceived: 0, jobErrors: 0 };

  constructor(config: SpeakerConfig) {
    validateSpeakerConfig(config);
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
      if (this.started && !entry.removed) entry.conn.start();
    });
  }

  /** Applies a changed configuration: in place when only import settings changed, else a reset. */
  updatePeer(cfg: PeerConfig): void {
    validatePeerConfig(cfg);
    const e = this.peers.get(cfg.name);
    if (!e) throw new UnknownPeerNameError(cfg.name, 'updatePeer');
    if (changeableInPlace(e.cfg, cfg)) {
      this.enqueue(() => {
        e.cfg = { ...cfg };
        this.rib.addPeer(e.rib, importRule(cfg), { maxPrefix: cfg.maxPrefix ? { limit: cfg.maxPrefix.limit, action: cfg.maxPrefix.action } : undefined });
        // Soft reconfiguration inbound: the stored routes go through the new rule.
        e.adjIn.reapplyImport(this.clock());
        this.scheduleProcess();
      });
      return;
    }
    this.enqueue(() => {
      this.closePeer(e, 'deconfigured', 'configuration changed');
      this.peers.delete(cfg.name);
    });
    this.enqueue(() => {
      const n = this.createPeer({ ...cfg });
      if (this.started) n.conn.start();
    });
  }

  /** Removes a peer: Cease / Peer De-configured (RFC 4486), its routes are withdrawn. */
  removePeer(name: string): void {
    const e = this.peers.get(name);
    if (!e) throw new UnknownPeerNameError(name, 'removePeer');
    this.enqueue(() => {
      this.closePeer(e, 'deconfigured');
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
    const restarting = this.restarting && (this.deferral === null || !this.deferral.finished(this.clock()));
    // RFC 4724 §4.1: a peer configured while selection is deferred is waited for too.
    if (restarting && this.deferral) this.deferral.expect(cfg.name);
    const entry = {} as PeerEntry;
    const conn = new PeerConnection({
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
      onEvent: (ev) => this.onPeerEvent(entry, ev),
    });
    Object.assign(entry, {
      cfg,
      conn,
      rib: rp,
      adjIn,
      gr: new GracefulRestartReceiver(cfg.name, this.config.gracefulRestart?.stalePathTimeMs ?? DEFAULT_STALE_PATH_TIME_MS),
      session: null,
      endpoints: null,
      families: peerFamilies(cfg),
      joined: false,
      endOfRibSent: false,
      endOfRibReceived: new Set<Family>(),
      outbox: [],
      since: Date.now(),
      grTimer: null,
      restartTimer: null,
      maxPrefixExceeded: null,
      removed: false,
    } satisfies PeerEntry);
    this.peers.set(cfg.name, entry);
    return entry;
  }

  /**
   * Ends a peer. 'graceful': TCP dropped without NOTIFICATION (the peer keeps our routes, RFC
   * 4724 §4.2); 'shutdown' / 'deconfigured': Cease with Hard Reset (RFC 8538 §3) so the peer
   * flushes our routes. Either way the peer's routes leave our Loc-RIB at the next round.
   */
  private closePeer(e: PeerEntry, how: 'graceful' | 'shutdown' | 'deconfigured', message?: string): void {
    if (e.removed) return;
    e.removed = true;
    if (e.grTimer) clearTimeout(e.grTimer);
    if (e.restartTimer) clearTimeout(e.restartTimer);
    e.outbox = [];
    if (how === 'graceful') e.conn.abort();
    else {
      e.conn.close({
        subcode: how === 'deconfigured' ? CEASE_PEER_DECONFIGURED : CEASE_ADMIN_SHUTDOWN,
        communication: message,
        hardReset: true,
      });
    }
    this.rib.removePeer(e.cfg.name);
    this.deferral?.peerGone(e.cfg.name);
    this.scheduleProcess();
  }

  // --- internals: events --------------------------------------------------------------------------

  private onPeerEvent(e: PeerEntry, ev: PeerEvent): void {
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
    if (r.changed.length > 0) {
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
    if (toGroup.length > 0 && g) for (const m2 of g.members) { const p = this.peers.get(m2); if (p) this.sendTo(p, toGroup); }
    this.sendTo(e, toPeer);
  }

  private onDown(e: PeerEntry, graceful: boolean, text: string): void {
    const now = this.clock();
    this.log('info', `peer ${e.cfg.name} down: ${text}${graceful ? ' (keeping its routes as stale, RFC 4724)' : ''}`);
    this.rib.leaveGroup(e.cfg.name);
    e.joined = false;
    e.outbox = [];
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
    const { group, toExisting, toNew } = this.rib.joinGroup(e.cfg.name, profile, {
      families: s.families,
      as4: s.as4,
      addPath: s.addPath.send,
      extendedMessage: s.extendedMessage,
    });
    e.joined = true;
    if (toExisting.length > 0) {
      for (const m of group.members) {
        if (m === e.cfg.name) continue;
        const p = this.peers.get(m);
        if (p) this.sendTo(p, toExisting);
      }
    }
    this.sendTo(e, toNew);
    e.endOfRibSent = true;
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
    for (const o of outputs) {
      for (const m of o.members) {
        const p = this.peers.get(m);
        if (p && p.joined) this.sendTo(p, o.messages);
      }
    }
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
    const out: RouteChange[] = new Array(changes.length);
    for (let i = 0; i < changes.length; i++) out[i] = new LazyRouteChange(changes[i], toEpoch);
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

  private sendTo(e: PeerEntry, msgs: readonly BgpMessage[]): void {
    if (msgs.length === 0 || e.removed || !e.session) return;
    if (e.outbox.length > 0) {
      for (const m of msgs) e.outbox.push(m);
      return;
    }
    for (let i = 0; i < msgs.length; i++) {
      let ok: boolean;
      try {
        ok = e.conn.send(msgs[i] as UpdateMessage | RouteRefreshMessage);
      } catch (err) {
        this.log('error', `peer ${e.cfg.name}: cannot send ${msgs[i].type}: ${(err as Error).message}`, { message: describeMessage(msgs[i]) });
        continue;
      }
      if (!ok) {
        // Above the socket's high-water mark: keep the rest until 'drain'.
        for (let j = i + 1; j < msgs.length; j++) e.outbox.push(msgs[j]);
        return;
      }
    }
  }

  private flushOutbox(e: PeerEntry): void {
    const pending = e.outbox;
    e.outbox = [];
    this.sendTo(e, pending);
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
      flaps: st.flaps,
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
 * A Loc-RIB change as the dataplane sees it. Everything is read from the Loc-RIB change when
 * asked, and the path view and next-hop list are built then: a full table is 100k changes, and
 * most consumers read only prefix, withdrawn and nextHops. (Four fields per change, not nine.)
 */
class LazyRouteChange implements RouteChange {
  constructor(private readonly change: LocRibChange, private readonly toEpoch: (t: number) => number) {}

  get family(): Family {
    return this.change.family;
  }

  get prefix(): string {
    return this.change.prefix;
  }

  get withdrawn(): boolean {
    return this.change.best === null;
  }

  get local(): boolean {
    const best = this.change.best;
    return best !== null && best.peer.kind === 'local';
  }

  get peer(): string | null {
    const best = this.change.best;
    return best === null ? null : best.peer.kind === 'local' ? 'local' : best.peer.id;
  }

  /** Built on each read (consumers read it once). */
  get nextHops(): string[] {
    return this.change.best === null ? [] : this.change.nextHops;
  }

  /** Built on each read (consumers read it once). */
  get best(): PathView | null {
    return this.change.best ? pathView(this.change.best, this.toEpoch) : null;
  }

  toJSON(): RouteChange {
    return { family: this.family, prefix: this.prefix, withdrawn: this.withdrawn, local: this.local, peer: this.peer, nextHops: this.nextHops, best: this.best };
  }
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
