// The FIB reconciler: keeps the kernel's routes that carry our rtm_protocol equal to the routes
// the agent wants, over rtnetlink. Like BIRD's kernel protocol (nest/krt.c: scan, then prune) and
// Calico Felix's route table: a full resync at start ADOPTS a previous run's routes (a route that
// is already right is not touched), a periodic resync repairs drift, and a netlink monitor
// notices changes by others between resyncs (a route of ours deleted by hand is back within the
// debounce interval). Changes are debounced and written in batches (many requests per send()).
// Routes of any other protocol are never changed or deleted: a foreign route on one of our keys
// is reported as a conflict and left alone; our deletes carry our protocol, so the kernel itself
// refuses to delete anything else. Known gap: a foreign route written between our dump/monitor
// read and our NLM_F_REPLACE of our own route at the same key could be replaced (a race window
// of one batch; NLM_F_REPLACE matches by key, not protocol).
// The monitor never sees our own writes (a kernel-side BPF filter on our request socket's port
// id, see NetlinkMonitor.ignorePortId); the cache learns them from the acks. Kernel-made changes
// (pid 0) and everyone else's are applied to the cache and the affected keys re-planned. A link
// change on a device our routes use triggers a full resync: the kernel drops IPv4 routes of a
// device that goes down without telling anyone.
//
// Write path (100,000 routes at start-up): setRoutes validates with a cheap canonical-IPv4 parse
// and shares single-path nexthop arrays; resolution of device names is done once per shared
// array; the diff skips lookups on an empty side; each request is encoded straight into the
// socket's reused send buffer (NetlinkSocket.executeEncoded: no buffer, message or request object
// per route), only the last request of a batch is acked (the kernel still answers every failure,
// mapped back by index); the cache keeps a three-field view per route we wrote (InstalledRoute).
//
// I/O shell around the pure planFib (diff.ts). All kernel access is serialized on one queue.
// IPv4 and IPv6. No RFC governs the FIB; RFC 2992 (ECMP) for multipath routes.
// No RFC: Linux rtnetlink (rtnetlink(7), netlink(7)); RFC 2992 multipath via RTA_MULTIPATH.

import { EventEmitter } from 'events';
import * as C from '../netlink/constants';
import { decodeLink, decodeRoute, dumpRequestPayload, encodeRouteInto, NetlinkMessage, RouteMsg } from '../netlink/codec';
import { NetlinkError, NetlinkMonitor, NetlinkSocket, ROUTE_MONITOR_GROUPS, openNetlinkIn } from '../netlink/socket';
import { FibConflict, planFib } from './diff';
import { NEXTHOP_RTPROT } from './protocol';
import {
  FibRoute, FibRouteInvalid, KernelRoute, NormNexthop, NormRoute, deleteMsgInto, describeRoute, installedView, kernelRoute,
  normalizeRoute, routeMsgInto, routeMsgLengthBound, sameKernelRoute, scratchRouteMsg,
} from './route';

/** Requests sent and settled per round of a large write (see write()). */
const WRITE_CHUNK = 10000;

/** A route the kernel refused (or that could not be resolved): names the route, the op and the errno. */
export class FibRouteError extends Error {
  constructor(
    readonly prefix: string,
    readonly table: number,
    readonly metric: number,
    readonly op: 'add' | 'replace' | 'delete' | 'resolve',
    readonly errno: number,
    readonly code: string,
    readonly reason?: string,
  ) {
    super(`${op} ${describeRoute({ prefix, table, metric })}: ${code}${reason ? `: ${reason}` : ''}`);
    this.name = 'FibRouteError';
  }
}

export interface FibMetrics {
  adds: number;
  replaces: number;
  deletes: number;
  errors: number;
  /** Desired routes currently blocked by another protocol's route. */
  conflicts: number;
  resyncs: number;
  /** Times the monitor lost notifications (ENOBUFS) and forced a resync. */
  monitorOverruns: number;
  /** Duration of the last apply or resync, milliseconds. */
  lastReconcileMs: number;
  /** Date.now() of the last completed full resync (0 = never). */
  lastResyncAt: number;
  desiredRoutes: number;
  installedRoutes: number;
  /** Desired routes currently failing. */
  failingRoutes: number;
}

export interface ReconcileReport {
  full: boolean;
  added: number;
  replaced: number;
  deleted: number;
  failed: FibRouteError[];
  conflicts: FibConflict[];
  durationMs: number;
}

export interface FibReconcilerOptions {
  /** Request socket (NetlinkSocket.open() in production, openNetlinkIn(ns) in tests). */
  socket: NetlinkSocket;
  /** Monitor socket joined to ROUTE_MONITOR_GROUPS; null = no monitor (resync only). */
  monitorSocket?: NetlinkSocket | null;
  /** rtm_protocol of our routes; default NEXTHOP_RTPROT. */
  protocol?: number;
  /** Full resync period; default 60 s; 0 disables the timer. */
  resyncIntervalMs?: number;
  /** Delay that batches bursts of changes before writing; default 10 ms. */
  debounceMs?: number;
  /** Retry period for routes that failed; default 2 s. */
  retryIntervalMs?: number;
  /** Requests per send(); default 200. */
  batchSize?: number;
  /** Monitor poll interval; default 20 ms. */
  monitorIntervalMs?: number;
}

export interface FibReconcilerEvents {
  conflict: (c: FibConflict) => void;
  error: (e: FibRouteError) => void;
  reconciled: (r: ReconcileReport) => void;
}

export declare interface FibReconciler {
  on<E extends keyof FibReconcilerEvents>(event: E, listener: FibReconcilerEvents[E]): this;
  emit<E extends keyof FibReconcilerEvents>(event: E, ...args: Parameters<FibReconcilerEvents[E]>): boolean;
}

/**
 * Usage: `const fib = new FibReconciler({ socket, monitorSocket }); fib.setRoutes([...]);
 * await fib.start();` then setRoutes/upsertRoute/removeRoute whenever the RIB changes; `stop()`
 * leaves the routes in place (a restart adopts them).
 *
 * Note: 'error' events are emitted only when someone listens (no unhandled-error throw).
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class FibReconciler extends EventEmitter {
  readonly protocol: number;
  private readonly socket: NetlinkSocket;
  private readonly monitor: NetlinkMonitor | null;
  private readonly opts: Required<Omit<FibReconcilerOptions, 'socket' | 'monitorSocket' | 'protocol'>>;

  /** Desired routes by key (devices unresolved). */
  private desired = new Map<string, NormRoute>();
  /** Set by setRoutes: the next pass looks at every key (cheaper than marking each one). */
  private allDirty = false;
  /** Bumped whenever the link table may have changed: invalidates resolved routes. */
  private linkGen = 0;
  /** Shared single-path nexthop array -> its resolved form, valid for link generation resolvedHopsGen. */
  private readonly resolvedHops = new Map<NormNexthop[], NormNexthop[]>();
  private resolvedHopsGen = -1;
  /** Kernel routes of our protocol by key. */
  private readonly ours = new Map<string, KernelRoute>();
  /** Kernel routes of other protocols, by key. */
  private readonly foreign = new Map<string, KernelRoute>();
  /** Links: name -> index and index -> name. */
  private readonly linkByName = new Map<string, number>();
  private readonly linkByIndex = new Map<number, string>();

  private readonly dirty = new Set<string>();
  private readonly failing = new Map<string, FibRouteError>();
  private readonly conflicting = new Map<string, FibConflict>();

  private queue: Promise<unknown> = Promise.resolve();
  private applyTimer: NodeJS.Timeout | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private resyncPending = false;
  private started = false;
  private stopped = false;

  private readonly counters: FibMetrics = {
    adds: 0, replaces: 0, deletes: 0, errors: 0, conflicts: 0, resyncs: 0, monitorOverruns: 0,
    lastReconcileMs: 0, lastResyncAt: 0, desiredRoutes: 0, installedRoutes: 0, failingRoutes: 0,
  };

  constructor(options: FibReconcilerOptions) {
    super();
    this.socket = options.socket;
    this.protocol = options.protocol ?? NEXTHOP_RTPROT;
    if (!Number.isInteger(this.protocol) || this.protocol <= C.RTPROT_STATIC || this.protocol > 255) {
      throw new RangeError(`rtm_protocol ${this.protocol} must be 5..255 (0-4 belong to the kernel and to static routes)`);
    }
    this.opts = {
      resyncIntervalMs: options.resyncIntervalMs ?? 60000,
      debounceMs: options.debounceMs ?? 10,
      retryIntervalMs: options.retryIntervalMs ?? 2000,
      batchSize: options.batchSize ?? 200,
      monitorIntervalMs: options.monitorIntervalMs ?? 20,
    };
    this.monitor = options.monitorSocket
      ? new NetlinkMonitor(options.monitorSocket, {
        onMessages: (msgs) => this.onNotifications(msgs),
        onOverrun: () => {
          this.counters.monitorOverruns++;
          this.scheduleResync(0);
        },
      }, this.opts.monitorIntervalMs)
      : null;
    // Our own writes' notifications are dropped in the kernel (onNotifications skips them too,
    // should the filter be refused).
    this.monitor?.ignorePortId(this.socket.portId);
  }

  /**
   * Opens the request and monitor sockets in the process's own namespace (production), or in the
   * named namespace (tests, benchmarks: see openNetlinkIn), and builds a reconciler on them.
   */
  static open(options: Omit<FibReconcilerOptions, 'socket' | 'monitorSocket'> & { netns?: string; monitor?: boolean } = {}): FibReconciler {
    const { netns, monitor, ...rest } = options;
    const socket = netns ? openNetlinkIn(netns) : NetlinkSocket.open();
    let monitorSocket: NetlinkSocket | null = null;
    try {
      if (monitor !== false) {
        const o = { groups: ROUTE_MONITOR_GROUPS, rcvbuf: 64 << 20 };
        monitorSocket = netns ? openNetlinkIn(netns, o) : NetlinkSocket.open(o);
      }
      return new FibReconciler({ ...rest, socket, monitorSocket });
    } catch (e) {
      socket.close();
      monitorSocket?.close();
      throw e;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Desired state (synchronous; writes are scheduled)
  // ------------------------------------------------------------------------------------------

  /**
   * Replaces the whole desired set. Validates every route first; on the first invalid one throws
   * FibRouteInvalid and changes nothing. Two routes with the same key are an error too.
   */
  setRoutes(routes: FibRoute[]): void {
    const next = new Map<string, NormRoute>();
    const previous = this.desired;
    const hadAny = previous.size > 0;
    for (let i = 0; i < routes.length; i++) {
      const n = normalizeRoute(routes[i]);
      // An unchanged route keeps its object (and with it its resolved devices).
      const old = hadAny ? previous.get(n.key) : undefined;
      const size = next.size;
      next.set(n.key, old && sameDesired(old, n) ? old : n);
      // The key was there already (one hash lookup instead of has + set); `next` is dropped.
      if (next.size === size) throw new FibRouteInvalid(n.prefix, 'prefix', `given twice for table ${n.table} metric ${n.metric}`);
    }
    this.desired = next;
    this.allDirty = true;
    this.usedLinks = null;
    this.counters.desiredRoutes = this.desired.size;
    this.scheduleApply();
  }

  /** Adds or changes one desired route; throws FibRouteInvalid. */
  upsertRoute(route: FibRoute): void {
    const n = normalizeRoute(route);
    const old = this.desired.get(n.key);
    if (old && sameDesired(old, n)) return;
    this.desired.set(n.key, n);
    this.counters.desiredRoutes = this.desired.size;
    this.markDirty(n.key);
    this.scheduleApply();
  }

  /** Withdraws one desired route (by prefix, table and metric as given when it was added). */
  removeRoute(prefix: string, table?: number, metric?: number): void {
    const n = normalizeRoute({ prefix, type: 'blackhole', table, metric });
    if (this.desired.delete(n.key)) {
      this.counters.desiredRoutes = this.desired.size;
      this.markDirty(n.key);
      this.scheduleApply();
    }
  }

  /** The desired routes (normalized), for status output. */
  desiredRoutes(): NormRoute[] {
    return [...this.desired.values()];
  }

  /** Our routes as last seen in the kernel. */
  installedRoutes(): KernelRoute[] {
    return [...this.ours.values()];
  }

  conflicts(): FibConflict[] {
    return [...this.conflicting.values()];
  }

  failures(): FibRouteError[] {
    return [...this.failing.values()];
  }

  get metrics(): Readonly<FibMetrics> {
    return this.counters;
  }

  // ------------------------------------------------------------------------------------------
  // Lifecycle
  // ------------------------------------------------------------------------------------------

  /** Full resync (adopting what is already right), then monitor and periodic resync. */
  async start(): Promise<ReconcileReport> {
    if (this.started) throw new Error('FibReconciler already started');
    this.started = true;
    const report = await this.resync();
    this.monitor?.start();
    if (this.opts.resyncIntervalMs > 0) {
      this.resyncTimer = setInterval(() => this.scheduleResync(0), this.opts.resyncIntervalMs);
      this.resyncTimer.unref();
    }
    return report;
  }

  /** Stops timers and the monitor, waits for writes in flight, closes the sockets. Routes stay. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.applyTimer, this.retryTimer]) if (t) clearTimeout(t);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.applyTimer = this.retryTimer = this.resyncTimer = null;
    this.monitor?.stop();
    await this.queue.catch(() => undefined);
    this.monitor?.close();
    this.socket.close();
  }

  /**
   * Writes pending changes now and resolves when they are done. The report sums every pass that
   * finished meanwhile (a pass the monitor or a timer had already queued may do part of the work).
   */
  async flush(): Promise<ReconcileReport> {
    if (this.applyTimer) clearTimeout(this.applyTimer);
    this.applyTimer = null;
    const reports: ReconcileReport[] = [];
    const collect = (r: ReconcileReport): void => { reports.push(r); };
    this.on('reconciled', collect);
    try {
      await this.enqueue(() => this.applyDirty());
    } finally {
      this.off('reconciled', collect);
    }
    return mergeReports(reports);
  }

  /** Dumps the kernel's routes and links and reconciles every key. */
  async resync(): Promise<ReconcileReport> {
    return this.enqueue(() => this.fullResync());
  }

  // ------------------------------------------------------------------------------------------
  // Scheduling
  // ------------------------------------------------------------------------------------------

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private markDirty(key: string): void {
    this.dirty.add(key);
    this.usedLinks = null;
  }

  private scheduleApply(): void {
    if (!this.started || this.stopped || this.applyTimer) return;
    this.applyTimer = setTimeout(() => {
      this.applyTimer = null;
      this.enqueue(() => this.applyDirty()).catch((e) => this.reportInternal(e));
    }, this.opts.debounceMs);
    this.applyTimer.unref();
  }

  private scheduleResync(delayMs: number): void {
    if (!this.started || this.stopped || this.resyncPending) return;
    this.resyncPending = true;
    const t = setTimeout(() => {
      this.enqueue(() => this.fullResync()).catch((e) => this.reportInternal(e));
    }, delayMs);
    t.unref();
  }

  private scheduleRetry(): void {
    if (!this.started || this.stopped || this.retryTimer || this.failing.size === 0) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      for (const k of this.failing.keys()) this.markDirty(k);
      this.scheduleApply();
    }, this.opts.retryIntervalMs);
    this.retryTimer.unref();
  }

  private reportInternal(e: unknown): void {
    // A broken socket or an unexpected kernel reply: count it, tell listeners, try a resync later.
    this.counters.errors++;
    const err = e instanceof FibRouteError ? e : new FibRouteError('*', 0, 0, 'resolve', (e as NetlinkError).errno ?? 0, (e as NetlinkError).code ?? 'EIO', String((e as Error).message ?? e));
    if (this.listenerCount('error') > 0) this.emit('error', err);
    if (!this.stopped) this.scheduleResync(this.opts.retryIntervalMs);
  }

  // ------------------------------------------------------------------------------------------
  // Kernel state
  // ------------------------------------------------------------------------------------------

  private async fullResync(): Promise<ReconcileReport> {
    this.resyncPending = false;
    const t0 = performance.now();
    // Notifications queued before the dump are superseded by it; those after it are applied in
    // order afterwards (they are idempotent state updates).
    this.monitor?.drain();
    const links = await this.socket.dump(C.RTM_GETLINK, dumpRequestPayload(C.RTM_GETLINK, C.AF_UNSPEC));
    this.linkByName.clear();
    this.linkByIndex.clear();
    for (const m of links) if (m.type === C.RTM_NEWLINK) this.noteLink(decodeLink(m.payload), true);
    this.ours.clear();
    this.foreign.clear();
    let interrupted = false;
    for (const family of [C.AF_INET, C.AF_INET6]) {
      const msgs = await this.socket.dump(C.RTM_GETROUTE, dumpRequestPayload(C.RTM_GETROUTE, family));
      if (msgs.interrupted) interrupted = true;
      for (const m of msgs) if (m.type === C.RTM_NEWROUTE) this.noteRoute(decodeRoute(m.payload), true);
    }
    this.usedLinks = null;
    this.counters.resyncs++;
    this.counters.lastResyncAt = Date.now();
    this.dirty.clear();
    const report = await this.write(planFib(this.resolvedDesired(), this.ours, this.foreign), true, t0, true);
    if (interrupted) this.scheduleResync(this.opts.debounceMs);
    return report;
  }

  private async applyDirty(): Promise<ReconcileReport> {
    const t0 = performance.now();
    this.monitor?.drain();
    if (this.allDirty) {
      this.allDirty = false;
      this.dirty.clear();
      return this.write(planFib(this.resolvedDesired(), this.ours, this.foreign), false, t0, true);
    }
    const keys = [...this.dirty];
    this.dirty.clear();
    return this.write(planFib(this.resolvedDesired(keys), this.ours, this.foreign, keys), false, t0);
  }

  /**
   * Desired routes with device names resolved (in place, copy on write); unresolvable ones are
   * recorded as failing and either left out or, when ours is installed, kept as installed. For
   * all keys, returns the desired map itself unless something could not be resolved.
   */
  private resolvedDesired(keys?: string[]): ReadonlyMap<string, NormRoute> {
    const overrides = new Map<string, NormRoute | null>();
    if (this.resolvedHopsGen !== this.linkGen || this.resolvedHops.size > 4096) {
      this.resolvedHops.clear();
      this.resolvedHopsGen = this.linkGen;
    }
    const memo = this.resolvedHops;
    const resolve = (k: string, r: NormRoute): void => {
      if (r.resolvedGen === this.linkGen) return;
      // Single-path arrays are shared by many routes (normalizeRoute interns them): resolve each once.
      const shared = r.nexthops.length === 1 ? r.nexthops : null;
      if (shared) {
        const done = memo.get(shared);
        if (done) {
          r.nexthops = done;
          r.resolvedGen = this.linkGen;
          return;
        }
      }
      let hops: NormNexthop[] | null = null;
      for (const [i, h] of r.nexthops.entries()) {
        if (h.ifname === undefined) continue;
        const idx = this.linkByName.get(h.ifname);
        if (idx === undefined) {
          this.fail(r, new FibRouteError(r.prefix, r.table, r.metric, 'resolve', 19, 'ENODEV', `device "${h.ifname}" does not exist`));
          // Keep our installed route (if any) rather than deleting it: wanted as it is.
          const have = this.ours.get(k);
          overrides.set(k, have ? { ...r, nexthops: have.nexthops, source: have.source, mtu: have.mtu, type: have.rtType === C.RTN_BLACKHOLE ? 'blackhole' : 'unicast' } : null);
          return;
        }
        if (idx === h.ifindex) continue;
        // Copy on write: the old array may be shared with the installed view of this route.
        hops ??= r.nexthops.slice();
        hops[i] = { gateway: h.gateway, ifname: h.ifname, ifindex: idx, onlink: h.onlink, weight: h.weight };
      }
      if (hops) r.nexthops = hops;
      if (shared) memo.set(shared, r.nexthops);
      r.resolvedGen = this.linkGen;
    };
    if (keys) {
      const out = new Map<string, NormRoute>();
      for (const k of keys) {
        const r = this.desired.get(k);
        if (!r) continue;
        resolve(k, r);
        const o = overrides.get(k);
        if (o !== null) out.set(k, o ?? r);
      }
      return out;
    }
    for (const [k, r] of this.desired) resolve(k, r);
    if (overrides.size === 0) return this.desired;
    const out = new Map(this.desired);
    for (const [k, o] of overrides) {
      if (o) out.set(k, o);
      else out.delete(k);
    }
    return out;
  }

  /** `everyKey`: the plan looked at all keys, so state about keys it did not mention is stale. */
  private async write(plan: ReturnType<typeof planFib>, full: boolean, t0: number, everyKey = false): Promise<ReconcileReport> {
    const failed: FibRouteError[] = [];
    for (const k of [...this.failing.keys()]) if (!this.desired.has(k)) this.failing.delete(k);
    // Conflicts: report new ones, clear resolved ones (for the keys this pass looked at).
    const conflictKeys = new Set(plan.conflicts.map((c) => c.route.key));
    for (const c of plan.conflicts) {
      if (!this.conflicting.has(c.route.key)) {
        this.conflicting.set(c.route.key, c);
        this.emit('conflict', c);
      }
    }
    if (this.conflicting.size > conflictKeys.size) {
      const looked = new Set<string>([...plan.add, ...plan.replace].map((r) => r.key));
      for (const k of plan.delete) looked.add(k.key);
      for (const k of [...this.conflicting.keys()]) {
        if (conflictKeys.has(k)) continue;
        if (everyKey || looked.has(k) || !this.desired.has(k) || !this.foreign.has(k)) this.conflicting.delete(k);
      }
    }

    let added = 0; let replaced = 0; let deleted = 0;
    let resyncNeeded = false;
    // Adds and replaces first, deletes last: a route moving to a new key never has a gap.
    // Each request is encoded straight into the socket's send buffer from the plan (one reused
    // RouteMsg, no buffer or request object per route); failures come back by index. A chunk
    // is sent and settled at a time so the event loop gets a turn between chunks.
    const nAdd = plan.add.length;
    const nNew = nAdd + plan.replace.length;
    const total = nNew + plan.delete.length;
    const routeAt = (i: number): NormRoute => (i < nAdd ? plan.add[i] : plan.replace[i - nAdd]);
    let maxHops = 1;
    for (let i = 0; i < nNew; i++) { const h = routeAt(i).nexthops.length; if (h > maxHops) maxHops = h; }
    const scratch = scratchRouteMsg();
    const protocol = this.protocol;
    const opOf = (i: number): 'add' | 'replace' | 'delete' => (i < nAdd ? 'add' : i < nNew ? 'replace' : 'delete');
    for (let start = 0; start < total; start += WRITE_CHUNK) {
      const end = Math.min(total, start + WRITE_CHUNK);
      const res = await this.socket.executeEncoded({
        count: end - start,
        maxPayload: routeMsgLengthBound(maxHops),
        type: (j) => (start + j < nNew ? C.RTM_NEWROUTE : C.RTM_DELROUTE),
        flags: (j) => {
          const i = start + j;
          return i < nAdd ? C.NLM_F_CREATE | C.NLM_F_EXCL : i < nNew ? C.NLM_F_CREATE | C.NLM_F_REPLACE : 0;
        },
        encode: (j, buf, off) => {
          const i = start + j;
          return encodeRouteInto(buf, off, i < nNew ? routeMsgInto(scratch, routeAt(i), protocol) : deleteMsgInto(scratch, plan.delete[i - nNew]));
        },
        describe: (j) => {
          const i = start + j;
          return `${opOf(i)} ${describeRoute(i < nNew ? routeAt(i) : plan.delete[i - nNew])}`;
        },
      }, { batchSize: this.opts.batchSize });
      let errors: Map<number, NetlinkError> | null = null;
      if (res.failures.length > 0) {
        errors = new Map();
        for (const f of res.failures) errors.set(start + f.index, f.error);
      }
      for (let i = start; i < end; i++) {
        const err = errors ? errors.get(i) : undefined;
        if (i >= nNew) {
          const k = plan.delete[i - nNew];
          if (!err || err.code === 'ESRCH') { // ESRCH: already gone
            if (!err) { deleted++; this.counters.deletes++; }
            if (this.ours.get(k.key) === k) this.ours.delete(k.key);
            continue;
          }
          const fe = new FibRouteError(k.prefix, k.table, k.metric, 'delete', err.errno, err.code, err.reason);
          failed.push(fe);
          this.counters.errors++;
          if (this.listenerCount('error') > 0) this.emit('error', fe);
          resyncNeeded = true;
          continue;
        }
        const r = routeAt(i);
        const add = i < nAdd;
        if (!err) {
          this.ours.set(r.key, installedView(r, protocol));
          if (this.failing.size > 0) this.failing.delete(r.key);
          if (add) { added++; this.counters.adds++; } else { replaced++; this.counters.replaces++; }
          continue;
        }
        const fe = new FibRouteError(r.prefix, r.table, r.metric, add ? 'add' : 'replace', err.errno, err.code, err.reason);
        failed.push(fe);
        this.fail(r, fe);
        // EEXIST on add: something holds the key that our view missed; ENOBUFS/ETIMEDOUT: the
        // outcome is unknown. Either way our cache is stale: resync.
        if (err.code === 'EEXIST' || err.code === 'ENOBUFS' || err.code === 'ETIMEDOUT') resyncNeeded = true;
      }
    }
    if (total > 0) this.usedLinks = null;
    this.counters.installedRoutes = this.ours.size;
    this.counters.conflicts = this.conflicting.size;
    this.counters.failingRoutes = this.failing.size;
    this.counters.lastReconcileMs = performance.now() - t0;
    if (resyncNeeded) this.scheduleResync(this.opts.retryIntervalMs);
    this.scheduleRetry();
    const report: ReconcileReport = { full, added, replaced, deleted, failed, conflicts: plan.conflicts, durationMs: this.counters.lastReconcileMs };
    this.emit('reconciled', report);
    return report;
  }

  private fail(r: NormRoute, e: FibRouteError): void {
    this.failing.set(r.key, e);
    this.counters.errors++;
    this.counters.failingRoutes = this.failing.size;
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  // ------------------------------------------------------------------------------------------
  // Notifications
  // ------------------------------------------------------------------------------------------

  /**
   * Updates the kernel view from a dumped or notified route. Returns its key when the view
   * changed, null when not (e.g. the echo of our own write) or when it is no route we track.
   */
  private noteRoute(m: RouteMsg, present: boolean): string | null {
    const k = kernelRoute(m);
    if (!k) return null;
    const map = m.protocol === this.protocol ? this.ours : this.foreign;
    const old = map.get(k.key);
    if (present) {
      map.set(k.key, k);
      return old && old.protocol === k.protocol && sameKernelRoute(old, k) ? null : k.key;
    }
    if (!old || old.protocol !== m.protocol) return null;
    map.delete(k.key);
    return k.key;
  }

  private noteLink(l: ReturnType<typeof decodeLink>, present: boolean): void {
    this.linkGen++;
    const oldName = this.linkByIndex.get(l.index);
    if (oldName !== undefined && this.linkByName.get(oldName) === l.index) this.linkByName.delete(oldName);
    this.linkByIndex.delete(l.index);
    if (present && l.name) {
      this.linkByName.set(l.name, l.index);
      this.linkByIndex.set(l.index, l.name);
    }
  }

  private onNotifications(msgs: NetlinkMessage[]): void {
    let linksChanged = false;
    const self = this.socket.isClosed ? -1 : this.socket.portId;
    for (const m of msgs) {
      try {
        if (m.type === C.RTM_NEWROUTE || m.type === C.RTM_DELROUTE) {
          // The echo of our own write (nlmsg_pid is our request socket's port id): the cache was
          // updated from its ack already. Kernel-made changes carry pid 0, others their own.
          if (m.pid === self && self !== 0) continue;
          // Only changed keys that we want or own matter (our own writes echo back unchanged).
          const key = this.noteRoute(decodeRoute(m.payload), m.type === C.RTM_NEWROUTE);
          if (key && (this.desired.has(key) || this.ours.has(key))) this.markDirty(key);
        } else if (m.type === C.RTM_NEWLINK || m.type === C.RTM_DELLINK) {
          const l = decodeLink(m.payload);
          const before = this.linkByIndex.get(l.index);
          this.noteLink(l, m.type === C.RTM_NEWLINK);
          if (this.linkMatters(l.index, l.name ?? before)) linksChanged = true;
        }
      } catch {
        // A notification we cannot decode: our view may now be stale; a resync fixes it.
        this.scheduleResync(this.opts.debounceMs);
      }
    }
    // The kernel flushes IPv4 routes of a device that goes down without RTM_DELROUTE
    // notifications, so any change to a device our routes use gets a full resync.
    if (linksChanged) this.scheduleResync(this.opts.debounceMs);
    if (this.dirty.size > 0) this.scheduleApply();
  }

  /** Devices (by name and index) that desired or installed routes use; rebuilt when stale. */
  private usedLinks: { names: Set<string>; indexes: Set<number> } | null = null;

  private linkMatters(index: number, name: string | undefined): boolean {
    if (!this.usedLinks) {
      const names = new Set<string>();
      const indexes = new Set<number>();
      for (const r of this.desired.values()) {
        for (const h of r.nexthops) {
          if (h.ifname !== undefined) names.add(h.ifname);
          if (h.ifindex !== undefined) indexes.add(h.ifindex);
        }
      }
      for (const k of this.ours.values()) for (const h of k.nexthops) if (h.ifindex !== undefined) indexes.add(h.ifindex);
      this.usedLinks = { names, indexes };
    }
    return this.usedLinks.indexes.has(index) || (name !== undefined && this.usedLinks.names.has(name));
  }
}

function mergeReports(rs: ReconcileReport[]): ReconcileReport {
  const out: ReconcileReport = { full: false, added: 0, replaced: 0, deleted: 0, failed: [], conflicts: [], durationMs: 0 };
  for (const r of rs) {
    out.full ||= r.full;
    out.added += r.added;
    out.replaced += r.replaced;
    out.deleted += r.deleted;
    out.failed.push(...r.failed);
    out.conflicts.push(...r.conflicts);
    out.durationMs += r.durationMs;
  }
  return out;
}

function sameDesired(a: NormRoute, b: NormRoute): boolean {
  if (a.type !== b.type || a.mtu !== b.mtu || a.nexthops.length !== b.nexthops.length) return false;
  if ((a.source === undefined) !== (b.source === undefined)) return false;
  if (a.source && b.source && Buffer.compare(a.source, b.source) !== 0) return false;
  for (let i = 0; i < a.nexthops.length; i++) {
    const x = a.nexthops[i];
    const y = b.nexthops[i];
    // A device given by name compares by name (the index is the reconciler's resolution of it).
    if (x.ifname !== y.ifname || (x.ifname === undefined && x.ifindex !== y.ifindex) || x.onlink !== y.onlink || x.weight !== y.weight) return false;
    if ((x.gateway === undefined) !== (y.gateway === undefined)) return false;
    if (x.gateway && y.gateway && Buffer.compare(x.gateway, y.gateway) !== 0) return false;
  }
  return true;
}
