// Loc-RIB (RFC 4271 §3.2, §9.1): every accepted path per destination, the decision process run
// per processing round over the destinations that changed, and the resulting change events for
// the FIB and the update groups. Our own originated routes (the node's pod block) take part as
// 'local' paths. Pure: the speaker calls process() once per round of its event queue; time and
// next-hop reachability are passed in.
import type { Family, PathAttributes } from '../wire/types';
import { AttributeStore } from './attributes';
import type { RouteSink } from './adj-rib-in';
import { decide, ineligibility, multipathNextHops, type Decision, type DecisionConfig, type DecisionReason, type DecisionTrace, type NextHopResolution, type NextHopResolver } from './decision';
import { familyOfPrefix } from './family';
import { familyCode, familyOfCode, Route, ribPeer, type RibPeer } from './route';

const NO_ROUTES: readonly Route[] = Object.freeze([]) as readonly Route[];

/**
 * One Loc-RIB change, reported once per processing round per destination. The next-hop and
 * multipath lists are computed when read (most consumers read only `best`).
 */
export class LocRibChange {
  constructor(
    readonly family: Family,
    readonly prefix: string,
    /** The new best path, or null when the destination is gone (withdraw). */
    readonly best: Route | null,
    /** The best path before this round, or null when the destination is new. */
    readonly previous: Route | null,
    readonly reason: DecisionReason,
    private readonly set: readonly Route[] | null,
    private readonly previousSet: readonly Route[] | null,
  ) {}

  /** The multipath set, best first ([best] without ECMP, [] without best). */
  get multipath(): Route[] {
    return this.set ? [...this.set] : this.best ? [this.best] : [];
  }

  /** Distinct next hops of the multipath set (best first) for the FIB; [] for local routes. */
  get nextHops(): string[] {
    return multipathNextHops(this.set ?? (this.best ? [this.best] : NO_ROUTES));
  }

  get previousNextHops(): string[] {
    return multipathNextHops(this.previousSet ?? (this.previous ? [this.previous] : NO_ROUTES));
  }
}

/**
 * Decision reasons as small integers, so a Destination keeps its reason and its dirty mark in one
 * field (one pointer less per destination). Codes are handed out on first use.
 */
const reasonNames: DecisionReason[] = ['no-eligible-path', 'only-path'];
const reasonCodes = new Map<DecisionReason, number>([['no-eligible-path', 0], ['only-path', 1]]);
const NO_ELIGIBLE_PATH = 0;
const ONLY_PATH = 1;

function reasonCode(r: DecisionReason): number {
  let c = reasonCodes.get(r);
  if (c === undefined) {
    c = reasonNames.length;
    reasonNames.push(r);
    reasonCodes.set(r, c);
  }
  return c;
}

/** The rarely needed part of a Destination: paths after the first, an ECMP set, a best path that is not the first. */
class DestinationExtra {
  /** The paths after the first (may be empty until the next processing round). */
  more: Route[] = [];
  /** The multipath set when it has more than one path; null means [best]. */
  multipathSet: Route[] | null = null;
  /** The best path when it is not `first` (or `first` changed since the last round). */
  best: Route | null = null;
}

/** Destination.state layout: dirty mark, decision reason code, best-is-first mark, family code. */
const DIRTY = 1;
const REASON_SHIFT = 1;
const REASON_MASK = 255 << REASON_SHIFT;
const BEST_IS_FIRST = 1 << 9;
const FAMILY_SHIFT = 10;

/**
 * The paths of one prefix and the current decision. Most destinations have one path, which is
 * also the best: it is held inline (`first`), "best is first" is a bit, and further paths, an ECMP
 * set or a best path other than the first live in a DestinationExtra made only when needed. The
 * family, the decision reason and the dirty mark share one number. Four fields: a single-path
 * destination costs 56 bytes on 64-bit V8.
 */
export class Destination {
  /** The first path, or null when there is none. */
  first: Route | null = null;
  private extra: DestinationExtra | null = null;
  /** Bit fields: DIRTY, REASON_*, BEST_IS_FIRST, family code << FAMILY_SHIFT. */
  private state: number;

  constructor(family: Family, readonly prefix: string) {
    this.state = (familyCode(family) << FAMILY_SHIFT) | (NO_ELIGIBLE_PATH << REASON_SHIFT);
  }

  get family(): Family {
    return familyOfCode(this.state >> FAMILY_SHIFT);
  }

  /**
   * The best path as of the last processing round (until process() runs again it stays the path
   * that was best, even when that path has since been replaced or removed: the change report
   * needs it as `previous`).
   */
  get best(): Route | null {
    if ((this.state & BEST_IS_FIRST) !== 0) return this.first;
    return this.extra === null ? null : this.extra.best;
  }

  set best(r: Route | null) {
    if (r !== null && r === this.first) {
      this.state |= BEST_IS_FIRST;
      if (this.extra !== null) {
        this.extra.best = null;
        this.dropEmptyExtra();
      }
      return;
    }
    this.state &= ~BEST_IS_FIRST;
    if (r !== null) (this.extra ??= new DestinationExtra()).best = r;
    else if (this.extra !== null) {
      this.extra.best = null;
      this.dropEmptyExtra();
    }
  }

  /** `first` is about to change: a best path held as "the first" is kept by reference instead. */
  private pinBest(): void {
    if ((this.state & BEST_IS_FIRST) === 0) return;
    this.state &= ~BEST_IS_FIRST;
    (this.extra ??= new DestinationExtra()).best = this.first;
  }

  private dropEmptyExtra(): void {
    const x = this.extra;
    if (x !== null && x.more.length === 0 && x.multipathSet === null && x.best === null) this.extra = null;
  }

  /** Why `best` won (or why there is none), as of the last processing round. */
  get reason(): DecisionReason {
    return reasonNames[(this.state & REASON_MASK) >> REASON_SHIFT];
  }

  set reason(r: DecisionReason) {
    this.state = (this.state & ~REASON_MASK) | (reasonCode(r) << REASON_SHIFT);
  }

  /** @internal For LocRib.process: sets the reason by code and clears the dirty mark. */
  decided(code: number): void {
    this.state = (this.state & ~(REASON_MASK | DIRTY)) | (code << REASON_SHIFT);
  }

  /** Waiting for the decision process (queued in the Loc-RIB's dirty list). */
  get dirty(): boolean {
    return (this.state & DIRTY) !== 0;
  }

  set dirty(v: boolean) {
    this.state = v ? this.state | DIRTY : this.state & ~DIRTY;
  }

  /** The paths after the first (null when there are none). */
  get more(): Route[] | null {
    const x = this.extra;
    return x === null || x.more.length === 0 ? null : x.more;
  }

  /** The multipath set when it has more than one path; null means [best]. */
  get multipathSet(): Route[] | null {
    return this.extra === null ? null : this.extra.multipathSet;
  }

  set multipathSet(set: Route[] | null) {
    if (set !== null) (this.extra ??= new DestinationExtra()).multipathSet = set;
    else if (this.extra !== null) {
      this.extra.multipathSet = null;
      this.dropEmptyExtra();
    }
  }

  /** Every path (a new array; read-only use). */
  get paths(): Route[] {
    const f = this.first;
    if (f === null) return [];
    const m = this.more;
    return m === null ? [f] : [f, ...m];
  }

  get pathCount(): number {
    return this.first === null ? 0 : 1 + (this.extra === null ? 0 : this.extra.more.length);
  }

  addPath(r: Route): void {
    if (this.first === null) this.first = r;
    else (this.extra ??= new DestinationExtra()).more.push(r);
  }

  /** Removes `r` (by identity); false when it was not there. Order of the rest is not kept. */
  removePath(r: Route): boolean {
    const m = this.more;
    if (this.first === r) {
      this.pinBest();
      this.first = m === null ? null : m.pop()!;
    } else {
      if (m === null) return false;
      const i = m.indexOf(r);
      if (i < 0) return false;
      const last = m.pop()!;
      if (i < m.length) m[i] = last;
    }
    // An emptied extra stays while it holds an ECMP set or the previous best: process() needs them.
    this.dropEmptyExtra();
    return true;
  }

  /** Puts `next` where `prev` is (by identity); false when `prev` was not there. */
  replacePath(prev: Route, next: Route): boolean {
    if (this.first === prev) {
      this.pinBest();
      this.first = next;
      return true;
    }
    const m = this.more;
    if (m === null) return false;
    const i = m.indexOf(prev);
    if (i < 0) return false;
    m[i] = next;
    return true;
  }

  /** The path from `peer` with RFC 7911 path identifier `pathId` (0 without ADD-PATH). */
  pathOf(peer: RibPeer, pathId: number): Route | undefined {
    const f = this.first;
    if (f === null) return undefined;
    if (f.peer === peer && f.pathId === pathId) return f;
    const m = this.more;
    if (m === null) return undefined;
    for (let i = 0; i < m.length; i++) if (m[i].peer === peer && m[i].pathId === pathId) return m[i];
    return undefined;
  }

  /** The path from `peer`, when there is one (our own route: the local peer). */
  pathFrom(peer: RibPeer): Route | undefined {
    if (this.first === null) return undefined;
    if (this.first.peer === peer) return this.first;
    return this.more?.find((p) => p.peer === peer);
  }

  get multipath(): Route[] {
    return this.multipathSet ?? (this.best ? [this.best] : []);
  }
}

export interface LocRibConfig {
  localAs: number;
  /** Our BGP Identifier (the identifier of locally originated paths). */
  routerId: string;
  /** ECMP paths (1 = off). Default 1. */
  maxPaths?: number;
  alwaysCompareMed?: boolean;
  /** See DecisionConfig.preferNonStale; default false per RFC 4724 §4.2. */
  preferNonStale?: boolean;
  /** Next-hop resolution (RFC 4271 §9.1.2); default: every next hop reachable at cost 0. */
  resolve?: NextHopResolver;
}

export class LocRib implements RouteSink {
  private readonly tables = new Map<Family, Map<string, Destination>>();
  /** Destinations with a best path, per family (kept by process(), for O(1) counts). */
  private readonly bestCounts = new Map<Family, number>();
  private dirty: Destination[] = [];
  private readonly decisionConfig: DecisionConfig;
  private resolveCache = new Map<string, NextHopResolution | null>();
  private resolver: NextHopResolver;
  /** The peer our own routes come from. */
  readonly localPeer: RibPeer;
  /** Shared attribute store; AdjRibIns should be built on the same one. */
  readonly store: AttributeStore;

  constructor(config: LocRibConfig, store = new AttributeStore()) {
    this.store = store;
    this.resolver = config.resolve ?? (() => ({ igpCost: 0 }));
    this.localPeer = ribPeer({ id: 'local', kind: 'local', address: '0.0.0.0', asn: config.localAs, routerId: config.routerId });
    this.decisionConfig = {
      localAs: config.localAs,
      maxPaths: Math.max(1, config.maxPaths ?? 1),
      alwaysCompareMed: config.alwaysCompareMed ?? false,
      preferNonStale: config.preferNonStale ?? false,
      // Resolution is cached for one processing round.
      resolve: (nh, fam) => {
        const key = fam === 'ipv4-unicast' ? nh : `${fam} ${nh}`;
        let r = this.resolveCache.get(key);
        if (r === undefined) {
          r = this.resolver(nh, fam);
          this.resolveCache.set(key, r);
        }
        return r;
      },
    };
  }

  /**
   * The destination table of a family (created when missing). An Adj-RIB-In built on this Loc-RIB
   * keeps its accepted paths in it directly: one prefix-keyed entry per destination for both
   * RIBs (RFC 4271 §3.2 keeps them apart conceptually, not necessarily in storage), and tells the
   * Loc-RIB through pathsChanged().
   */
  familyTable(family: Family): Map<string, Destination> {
    let t = this.tables.get(family);
    if (!t) {
      t = new Map();
      this.tables.set(family, t);
    }
    return t;
  }

  /**
   * An Adj-RIB-In sharing the table changed the paths of `d` in place. `staleOnly`: only a stale
   * mark changed, which matters to the decision only when stale paths rank lower (RFC 4724 §4.2).
   * An emptied destination leaves the table at the next process(), after its withdrawal is reported.
   */
  pathsChanged(d: Destination, staleOnly: boolean): void {
    if (staleOnly && !this.decisionConfig.preferNonStale) return;
    this.markDirty(d);
  }

  private destination(family: Family, prefix: string, create: boolean): Destination | undefined {
    let t = this.tables.get(family);
    if (!t) {
      if (!create) return undefined;
      t = new Map();
      this.tables.set(family, t);
    }
    let d = t.get(prefix);
    if (!d && create) {
      d = new Destination(family, prefix);
      t.set(prefix, d);
    }
    return d;
  }

  private markDirty(d: Destination): void {
    if (!d.dirty) {
      d.dirty = true;
      this.dirty.push(d);
    }
  }

  /** RouteSink: an Adj-RIB-In's accepted path changed. */
  routeChanged(previous: Route | null, current: Route | null): void {
    const any = (current ?? previous)!;
    if (previous === current) {
      // Only the stale mark changed: it matters to the decision only when stale paths rank lower.
      if (this.decisionConfig.preferNonStale) {
        const d = this.destination(any.family, any.prefix, false);
        if (d) this.markDirty(d);
      }
      return;
    }
    const d = this.destination(any.family, any.prefix, true)!;
    if (previous) d.removePath(previous);
    if (current) d.addPath(current);
    this.markDirty(d);
  }

  /**
   * Originates (or replaces) a local route, e.g. the node's pod block: ORIGIN IGP, empty AS_PATH
   * unless given. Export sets the next hop to our address (RFC 4271 §5.1.3).
   */
  originate(prefix: string, attrs: PathAttributes = {}, now = 0, family: Family = familyOfPrefix(prefix)): Route {
    const d = this.destination(family, prefix, true)!;
    const rec = this.store.intern({ origin: 0, asPath: [], ...attrs });
    const old = d.pathFrom(this.localPeer);
    if (old && old.attrs === rec) return old;
    const route = new Route(this.localPeer, family, prefix, 0, rec, now);
    this.store.retain(rec);
    this.routeChanged(old ?? null, route);
    if (old) this.store.release(old.attrs);
    return route;
  }

  /** Stops originating a local route. */
  withdrawOriginated(prefix: string, family: Family = familyOfPrefix(prefix)): void {
    const d = this.destination(family, prefix, false);
    const old = d?.pathFrom(this.localPeer);
    if (!old) return;
    this.routeChanged(old, null);
    this.store.release(old.attrs);
  }

  /** Re-run the decision for the destination of `route` at the next round. */
  touch(route: Route): void {
    const d = this.destination(route.family, route.prefix, false);
    if (d) this.markDirty(d);
  }

  /** Next-hop reachability changed: re-run the decision for every destination (of a family). */
  invalidateNextHops(family?: Family): void {
    for (const [fam, t] of this.tables) {
      if (family !== undefined && fam !== family) continue;
      for (const d of t.values()) this.markDirty(d);
    }
  }

  setResolver(resolve: NextHopResolver): void {
    this.resolver = resolve;
    this.invalidateNextHops();
  }

  /** Destinations waiting for the decision process. */
  get pending(): number {
    return this.dirty.length;
  }

  /**
   * One processing round: runs the decision process for every destination changed since the
   * last round and returns what changed. Families for which `deferred(family)` is true keep
   * their pending destinations (RFC 4724 §4.1 selection deferral).
   */
  process(deferred?: (family: Family) => boolean): LocRibChange[] {
    const changes: LocRibChange[] = [];
    const keep: Destination[] = [];
    this.resolveCache = new Map();
    const cfg = this.decisionConfig;
    let countFamily: Family = '';
    let countDelta = 0;
    for (const d of this.dirty) {
      if (deferred && deferred(d.family)) {
        keep.push(d);
        continue;
      }
      const before = d.best;
      const beforeSet = d.multipathSet;
      const only = d.first;
      if (only !== null && d.more === null) {
        // The common case, without building a Decision.
        const eligible = ineligibility(only, cfg) === null;
        d.best = eligible ? only : null;
        d.decided(eligible ? ONLY_PATH : NO_ELIGIBLE_PATH);
        d.multipathSet = null;
      } else {
        const decision: Decision = decide(d.paths, cfg);
        d.best = decision.best;
        d.decided(reasonCode(decision.reason));
        d.multipathSet = decision.multipath.length > 1 ? decision.multipath : null;
        if (only === null) this.tables.get(d.family)?.delete(d.prefix);
      }
      if ((before === null) !== (d.best === null)) {
        // Counted per run of one family (a round is nearly always one family): no Map per change.
        if (d.family !== countFamily) {
          if (countDelta !== 0) this.bestCounts.set(countFamily, (this.bestCounts.get(countFamily) ?? 0) + countDelta);
          countFamily = d.family;
          countDelta = 0;
        }
        countDelta += d.best === null ? -1 : 1;
      }
      const after = d.multipathSet;
      const sameSet = beforeSet === null || after === null
        ? beforeSet === after
        : beforeSet.length === after.length && beforeSet.every((r, i) => r === after[i]);
      if (before === d.best && sameSet) continue;
      changes.push(new LocRibChange(d.family, d.prefix, d.best, before, d.reason, after, beforeSet));
    }
    if (countDelta !== 0) this.bestCounts.set(countFamily, (this.bestCounts.get(countFamily) ?? 0) + countDelta);
    this.dirty = keep;
    return changes;
  }

  lookup(prefix: string, family: Family = familyOfPrefix(prefix)): Destination | undefined {
    return this.tables.get(family)?.get(prefix);
  }

  /** The full decision for one prefix with every step's eliminations (for `nexthop explain`). */
  explain(prefix: string, family: Family = familyOfPrefix(prefix)): { decision: Decision; trace: DecisionTrace } | null {
    const d = this.lookup(prefix, family);
    if (!d) return null;
    const trace: DecisionTrace = { ineligible: [], eliminated: [] };
    this.resolveCache = new Map();
    return { decision: decide(d.paths, this.decisionConfig, trace), trace };
  }

  /** Every destination that has a best path (of one family, or all). */
  *bests(family?: Family): IterableIterator<Destination> {
    for (const [fam, t] of this.tables) {
      if (family !== undefined && fam !== family) continue;
      for (const d of t.values()) if (d.best) yield d;
    }
  }

  families(): Family[] {
    return [...this.tables.keys()];
  }

  /** Number of destinations with a best path (of one family, or all), without a walk. */
  bestCount(family?: Family): number {
    if (family !== undefined) return this.bestCounts.get(family) ?? 0;
    let n = 0;
    for (const c of this.bestCounts.values()) n += c;
    return n;
  }

  /** Number of destinations (of one family, or all). */
  size(family?: Family): number {
    let n = 0;
    for (const [fam, t] of this.tables) if (family === undefined || fam === family) n += t.size;
    return n;
  }
}
