// The agent's Prometheus metrics, on a registry of their own (never prom-client's global one):
// BGP sessions (state, transitions, prefixes, UPDATEs, NOTIFICATIONs, rejected routes), the FIB
// (routes, reconcile duration and errors), IPAM blocks, the datastore connection, and Node.js
// process metrics (prefix nexthop_). Event-driven values come through typed methods the agent
// calls; per-peer numbers that change with every message (prefix counts, UPDATE totals) can
// instead be read from a snapshot function at scrape time, so the hot path pays nothing.
// Every metric is documented in deploy/README.md ("Metrics").
//
// RFC 4273 (BGP4-MIB bgpPeerState numbering for the session state gauge), RFC 4271 §8.2.2
// (session states), RFC 4271 §4.5 (NOTIFICATION error codes/subcodes as labels).

import { Registry, Gauge, Counter, Histogram, collectDefaultMetrics } from 'prom-client';
import type { PeerState, PeerType, PrefixCounts, StatusFamily } from './status-types';

/** RFC 4273 bgpPeerState: idle(1) connect(2) active(3) opensent(4) openconfirm(5) established(6). */
export const SESSION_STATE_CODE: Record<PeerState, number> = {
  Idle: 1, Connect: 2, Active: 3, OpenSent: 4, OpenConfirm: 5, Established: 6,
};

/** What the scrape-time snapshot gives for one peer. `peer` is the peer's address. */
export interface PeerMetricsSnapshot {
  peer: string;
  type: PeerType;
  state: PeerState;
  /** Prefix counts per family (RFC 4760). */
  families: Partial<Record<StatusFamily, PrefixCounts>>;
  /**
   * UPDATE messages received / sent, cumulative since the agent started. Give these OR call
   * updateIn/updateOut for a peer, not both (they would be counted twice).
   */
  updates?: { in: number; out: number };
}

export interface MetricsOptions {
  /** Labels of nexthop_build_info. */
  node?: string;
  version?: string;
  /** Node.js process metrics (CPU, memory, event loop lag, GC, handles); default true. */
  processMetrics?: boolean;
  /** Per-peer numbers read at scrape time. */
  peerSnapshot?: () => PeerMetricsSnapshot[];
}

export type NotificationDirection = 'sent' | 'received';
export type IpFamilyLabel = 'ipv4' | 'ipv6';

const RECONCILE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new Registry();
  private peerSnapshot: (() => PeerMetricsSnapshot[]) | undefined;
  /** One snapshot per scrape: every collect() of a scrape runs in the same synchronous turn. */
  private scrapeCache: PeerMetricsSnapshot[] | null = null;

  // Per-peer bookkeeping: last state (transitions), label sets used (so removePeer removes all).
  private readonly lastState = new Map<string, { type: PeerType; state: PeerState }>();
  private readonly lastUpdates = new Map<string, { in: number; out: number }>();
  private readonly rareLabels = new Map<string, Map<string, { metric: Counter<string>; labels: Record<string, string> }>>();

  private readonly sessionState: Gauge<'peer' | 'type'>;
  private readonly sessionTransitions: Counter<'peer' | 'type' | 'from' | 'to'>;
  private readonly sessionLastChange: Gauge<'peer' | 'type'>;
  private readonly prefixesReceived: Gauge<'peer' | 'family'>;
  private readonly prefixesAccepted: Gauge<'peer' | 'family'>;
  private readonly prefixesAdvertised: Gauge<'peer' | 'family'>;
  private readonly updatesReceived: Counter<'peer'>;
  private readonly updatesSent: Counter<'peer'>;
  private readonly notifications: Counter<'peer' | 'direction' | 'code' | 'subcode'>;
  private readonly routesRejected: Counter<'peer' | 'reason'>;
  private readonly fibRoutesGauge: Gauge<'family'>;
  private readonly reconcileDuration: Histogram<string>;
  private readonly reconcileErrors: Counter<'reason'>;
  private readonly ipamAllocated: Gauge<'pool'>;
  private readonly ipamCapacity: Gauge<'pool'>;
  private readonly ipamNode: Gauge<'pool'>;
  private readonly datastore: Gauge<'kind'>;

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    this.peerSnapshot = opts.peerSnapshot;
    const self = this;

    new Gauge({
      name: 'nexthop_build_info', help: 'Always 1; labels carry the agent version and node name.',
      labelNames: ['version', 'node'], registers,
    }).set({ version: opts.version ?? 'unknown', node: opts.node ?? '' }, 1);

    this.sessionState = new Gauge({
      name: 'nexthop_bgp_session_state',
      help: 'BGP session state as in BGP4-MIB bgpPeerState: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established.',
      labelNames: ['peer', 'type'], registers,
      collect() { self.collectStates(); },
    });
    this.sessionTransitions = new Counter({
      name: 'nexthop_bgp_session_transitions_total', help: 'BGP session state changes, by old and new state.',
      labelNames: ['peer', 'type', 'from', 'to'], registers,
    });
    this.sessionLastChange = new Gauge({
      name: 'nexthop_bgp_session_last_transition_timestamp_seconds', help: 'Unix time of the last state change of the session.',
      labelNames: ['peer', 'type'], registers,
    });
    const prefixGauge = (what: 'received' | 'accepted' | 'advertised', help: string): Gauge<'peer' | 'family'> => new Gauge({
      name: `nexthop_bgp_prefixes_${what}`, help, labelNames: ['peer', 'family'], registers,
      collect() { self.collectPrefixes(this, what); },
    });
    this.prefixesReceived = prefixGauge('received', 'Prefixes in the Adj-RIB-In from the peer, before import policy.');
    this.prefixesAccepted = prefixGauge('accepted', 'Prefixes from the peer accepted by import policy.');
    this.prefixesAdvertised = prefixGauge('advertised', 'Prefixes advertised to the peer (Adj-RIB-Out).');
    this.updatesReceived = new Counter({
      name: 'nexthop_bgp_updates_received_total', help: 'BGP UPDATE messages received from the peer.',
      labelNames: ['peer'], registers,
      collect() { self.collectUpdates(); },
    });
    this.updatesSent = new Counter({
      name: 'nexthop_bgp_updates_sent_total', help: 'BGP UPDATE messages sent to the peer.',
      labelNames: ['peer'], registers,
      collect() { self.collectUpdates(); },
    });
    this.notifications = new Counter({
      name: 'nexthop_bgp_notifications_total', help: 'BGP NOTIFICATION messages by direction and RFC 4271 §4.5 error code/subcode.',
      labelNames: ['peer', 'direction', 'code', 'subcode'], registers,
    });
    this.routesRejected = new Counter({
      name: 'nexthop_bgp_routes_rejected_total', help: 'Routes from the peer dropped by import policy or RFC 7606 treat-as-withdraw, by reason.',
      labelNames: ['peer', 'reason'], registers,
    });
    this.fibRoutesGauge = new Gauge({
      name: 'nexthop_fib_routes', help: 'Routes the agent has in the kernel FIB (its own rtm_protocol), by family.',
      labelNames: ['family'], registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'nexthop_fib_reconcile_duration_seconds', help: 'Time one FIB reconcile pass took.',
      buckets: RECONCILE_BUCKETS, registers,
    });
    this.reconcileErrors = new Counter({
      name: 'nexthop_fib_reconcile_errors_total', help: 'Failed FIB operations, by reason (e.g. netlink errno name).',
      labelNames: ['reason'], registers,
    });
    this.ipamAllocated = new Gauge({
      name: 'nexthop_ipam_blocks_allocated', help: 'Blocks of the pool claimed by any node.',
      labelNames: ['pool'], registers,
    });
    this.ipamCapacity = new Gauge({
      name: 'nexthop_ipam_blocks_capacity', help: 'Blocks the pool can hold.',
      labelNames: ['pool'], registers,
    });
    this.ipamNode = new Gauge({
      name: 'nexthop_ipam_node_blocks', help: 'Blocks of the pool owned by this node.',
      labelNames: ['pool'], registers,
    });
    this.datastore = new Gauge({
      name: 'nexthop_datastore_connected', help: '1 when the datastore (etcd or file) was reached at the last attempt, else 0.',
      labelNames: ['kind'], registers,
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'nexthop_' });
  }

  /** Sets (or replaces) the function read at scrape time for per-peer numbers. */
  setPeerSnapshot(fn: (() => PeerMetricsSnapshot[]) | undefined): void {
    this.peerSnapshot = fn;
  }

  /** The exposition text for GET /metrics. */
  async render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  // ------------------------------------------------------------------- sessions

  /** Records the session state of `peer`; a change of state counts one transition. */
  peerState(peer: string, type: PeerType, state: PeerState, at: number = Date.now()): void {
    this.sessionState.set({ peer, type }, SESSION_STATE_CODE[state]);
    const prev = this.lastState.get(peer);
    if (prev && prev.type !== type) this.sessionState.remove({ peer, type: prev.type });
    if (!prev || prev.state !== state) {
      if (prev) this.countTransition(peer, type, prev.state, state);
      this.sessionLastChange.set({ peer, type }, at / 1000);
    }
    this.lastState.set(peer, { type, state });
  }

  updateIn(peer: string, n = 1): void {
    this.updatesReceived.inc({ peer }, n);
  }

  updateOut(peer: string, n = 1): void {
    this.updatesSent.inc({ peer }, n);
  }

  /** Prefix counts for one peer and family, when not using the snapshot. */
  peerPrefixes(peer: string, family: StatusFamily, counts: PrefixCounts): void {
    const labels = { peer, family };
    this.prefixesReceived.set(labels, counts.received);
    this.prefixesAccepted.set(labels, counts.accepted);
    this.prefixesAdvertised.set(labels, counts.advertised);
  }

  /** A NOTIFICATION sent or received (RFC 4271 §4.5 code / subcode). */
  notification(peer: string, direction: NotificationDirection, code: number, subcode: number): void {
    this.incRare(peer, 'notifications', this.notifications, { peer, direction, code: String(code), subcode: String(subcode) }, 1);
  }

  /** Routes from `peer` dropped: e.g. reason 'outside-pool', 'bad-nexthop', 'treat-as-withdraw'. */
  routeRejected(peer: string, reason: string, n = 1): void {
    this.incRare(peer, 'rejected', this.routesRejected, { peer, reason }, n);
  }

  /** Forgets every series of a peer that is no longer configured. */
  removePeer(peer: string): void {
    const st = this.lastState.get(peer);
    if (st) {
      this.sessionState.remove({ peer, type: st.type });
      this.sessionLastChange.remove({ peer, type: st.type });
    }
    this.lastState.delete(peer);
    this.lastUpdates.delete(peer);
    for (const family of ['ipv4-unicast', 'ipv6-unicast'] as const) {
      for (const g of [this.prefixesReceived, this.prefixesAccepted, this.prefixesAdvertised]) g.remove({ peer, family });
    }
    this.updatesReceived.remove({ peer });
    this.updatesSent.remove({ peer });
    for (const { metric, labels } of this.rareLabels.get(peer)?.values() ?? []) metric.remove(labels);
    this.rareLabels.delete(peer);
  }

  // ------------------------------------------------------------------- FIB, IPAM, datastore

  fibRoutes(family: IpFamilyLabel, count: number): void {
    this.fibRoutesGauge.set({ family }, count);
  }

  observeReconcile(seconds: number): void {
    this.reconcileDuration.observe(seconds);
  }

  /** Starts timing a reconcile pass; call the result when it ends (returns the seconds). */
  startReconcile(): () => number {
    return this.reconcileDuration.startTimer();
  }

  reconcileError(reason: string, n = 1): void {
    this.reconcileErrors.inc({ reason }, n);
  }

  ipamBlocks(pool: string, counts: { allocated: number; capacity: number; node: number }): void {
    this.ipamAllocated.set({ pool }, counts.allocated);
    this.ipamCapacity.set({ pool }, counts.capacity);
    this.ipamNode.set({ pool }, counts.node);
  }

  /** Forgets a pool that was deleted. */
  removePool(pool: string): void {
    for (const g of [this.ipamAllocated, this.ipamCapacity, this.ipamNode]) g.remove({ pool });
  }

  datastoreConnected(kind: 'etcd' | 'file', connected: boolean): void {
    this.datastore.set({ kind }, connected ? 1 : 0);
  }

  // ------------------------------------------------------------------- scrape-time collection

  private snapshot(): PeerMetricsSnapshot[] | null {
    if (!this.peerSnapshot) return null;
    if (this.scrapeCache === null) {
      this.scrapeCache = this.peerSnapshot();
      // All collect() calls of one scrape run synchronously (prom-client calls every metric's
      // get() before awaiting any); drop the cache once this turn ends.
      queueMicrotask(() => { this.scrapeCache = null; });
    }
    return this.scrapeCache;
  }

  private collectStates(): void {
    const snap = this.snapshot();
    if (!snap) return;
    // The snapshot is authoritative for which peers exist: forget the ones it no longer lists.
    const present = new Set(snap.map((p) => p.peer));
    for (const peer of [...this.lastState.keys()]) if (!present.has(peer)) this.removePeer(peer);
    for (const p of snap) this.peerState(p.peer, p.type, p.state);
  }

  private collectPrefixes(gauge: Gauge<'peer' | 'family'>, what: keyof PrefixCounts): void {
    const snap = this.snapshot();
    if (!snap) return;
    gauge.reset();
    for (const p of snap) {
      for (const [family, counts] of Object.entries(p.families)) {
        if (counts) gauge.set({ peer: p.peer, family }, counts[what]);
      }
    }
  }

  /** Turns cumulative totals from the snapshot into counter increments (a drop means the source restarted). */
  private collectUpdates(): void {
    const snap = this.snapshot();
    if (!snap) return;
    for (const p of snap) {
      if (!p.updates) continue;
      const last = this.lastUpdates.get(p.peer) ?? { in: 0, out: 0 };
      const dIn = p.updates.in >= last.in ? p.updates.in - last.in : p.updates.in;
      const dOut = p.updates.out >= last.out ? p.updates.out - last.out : p.updates.out;
      if (dIn > 0) this.updatesReceived.inc({ peer: p.peer }, dIn);
      if (dOut > 0) this.updatesSent.inc({ peer: p.peer }, dOut);
      this.lastUpdates.set(p.peer, { in: p.updates.in, out: p.updates.out });
    }
  }

  private countTransition(peer: string, type: PeerType, from: PeerState, to: PeerState): void {
    this.incRare(peer, 'transitions', this.sessionTransitions as Counter<string>, { peer, type, from, to }, 1);
  }

  /** Increments a counter whose label sets are rare enough to remember for removePeer. */
  private incRare(peer: string, kind: string, metric: Counter<string>, labels: Record<string, string>, n: number): void {
    metric.inc(labels, n);
    let m = this.rareLabels.get(peer);
    if (!m) this.rareLabels.set(peer, (m = new Map()));
    const key = kind + JSON.stringify(labels);
    if (!m.has(key)) m.set(key, { metric, labels });
  }
}
