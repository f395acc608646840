// Loc-RIB (RFC 4271 §3.2, §9.1): every accepted path per destination, the decision process run
// per processing round over the destinations that changed, and the resulting change events for
// the FIB and the update groups. Our own originated routes (the node's pod block) take part as
// 'local' paths. Pure: the speaker calls process() once per round of its event queue; time and
// next-hop reachability are passed in.
import type { Family, PathAttributes } from '../wire/types';
import { AttributeStore, type InternedAttributes } from './attributes';
import type { RouteSink } from './adj-rib-in';
import { decide, ineligibility, multipathNextHops, type Decision, type DecisionConfig, type DecisionReason, type DecisionTrace, type NextHopResolution, type NextHopResolver } from './decision';
import { Destination, DestinationTable, NO_ELIGIBLE_PATH, ONLY_PATH, reasonCode } from './destination';
import { familyOfPrefix } from './family';
import { StandaloneRoute, ribPeer, type Route, type RibPeer } from './route';

export { Destination, DestinationTable } from './destination';

const NO_ROUTES: readonly Route[] = Object.freeze([]) as readonly Route[];

/**
 * One Loc-RIB change, reported once per processing round per destination. The next-hop and
 * multipath lists are computed when read (most consumers read only `best`).
 */
export class LocRibChange {
  constructor(
    readonly family: Family,
    /** The destination that changed (its prefix: `prefix`). */
    readonly destination: Destination,
    /** The new best path, or null when the destination is gone (withdraw). */
    readonly best: Route | null,
    /** The best path before this round, or null when the destination is new. */
    readonly previous: Route | null,
    readonly reason: DecisionReason,
    private readonly set: readonly Route[] | null,
    private readonly previousSet: readonly Route[] | null,
  ) {}

  /** The prefix text (made on each read for an IPv4 destination: read it once). */
  get prefix(): string {
    return this.destination.prefix;
  }

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
  private readonly tables = new Map<Family, DestinationTable>();
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
  familyTable(family: Family): DestinationTable {
    let t = this.tables.get(family);
    if (!t) {
      t = new DestinationTable(family);
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
    if (!create) return this.tables.get(family)?.get(prefix);
    return this.familyTable(family).obtain(prefix);
  }

  /** Our destination for the prefix of `r` (whose destination may be another table's). */
  private destinationOf(r: Route, create: boolean): Destination | undefined {
    const own = r.destination;
    if (own === null) return this.destination(r.family, r.prefix, create);
    return create ? this.familyTable(r.family).obtainLike(own) : this.tables.get(r.family)?.like(own);
  }

  private markDirty(d: Destination): void {
    if (!d.dirty) {
      d.dirty = true;
      const dirty = this.dirty;
      dirty[dirty.length] = d; // indexed append, as in process()
    }
  }

  /** RouteSink: an Adj-RIB-In's accepted path changed. */
  routeChanged(previous: Route | null, current: Route | null): void {
    const any = (current ?? previous)!;
    if (previous === current) {
      // Only the stale mark changed: it matters to the decision only when stale paths rank lower.
      if (this.decisionConfig.preferNonStale) {
        const d = this.destinationOf(any, false);
        if (d) this.markDirty(d);
      }
      return;
    }
    const d = this.destinationOf(any, true)!;
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
    const route = new StandaloneRoute(this.localPeer, family, d, 0, rec, now);
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
    const d = this.destinationOf(route, false);
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
    // Eligibility depends on the path's peer, attributes and family only (RFC 4271 §9.1.2: AS
    // loop, next-hop resolution, cached for the round): a full table shares a few attribute
    // records, so the last answer is kept for the next path with the same three.
    let lastAttrs: InternedAttributes | null = null;
    let lastPeer: RibPeer | null = null;
    let lastFamily: Family = '';
    let lastEligible = false;
    // An indexed loop, not for-of: V8 compiles the array iterator against the list's hidden
    // class, and the list a Loc-RIB starts with (an empty array of small integers, until the first
    // destination is marked) is another than later lists; the speaker's first round, before any
    // UPDATE, then threw the compiled loop away ("wrong map" with --trace-deopt) and it was
    // compiled again in the middle of the first table.
    const dirty = this.dirty;
    for (let i = 0; i < dirty.length; i++) {
      const d = dirty[i];
      const family = d.family;
      if (deferred && deferred(family)) {
        keep.push(d);
        continue;
      }
      const only = d.first;
      // The common case, one path and nothing else kept, is decided in one write (onlyPath).
      const simple = d.onlyPath !== null;
      let before: Route | null;
      let beforeSet: Route[] | null = null;
      let best: Route | null;
      let after: Route[] | null = null;
      let reason: DecisionReason;
      if (only !== null && (simple || d.more === null)) {
        // One path: without building a Decision.
        if (only.attrs !== lastAttrs || only.peer !== lastPeer || family !== lastFamily) {
          lastAttrs = only.attrs;
          lastPeer = only.peer;
          lastFamily = family;
          lastEligible = ineligibility(only, cfg) === null;
        }
        const eligible = lastEligible;
        best = eligible ? only : null;
        reason = eligible ? 'only-path' : 'no-eligible-path';
        if (simple) before = d.decideOnlyPath(eligible);
        else {
          before = d.best;
          beforeSet = d.multipathSet;
          d.best = best;
          d.decided(eligible ? ONLY_PATH : NO_ELIGIBLE_PATH);
          d.multipathSet = null;
        }
      } else {
        before = d.best;
        beforeSet = d.multipathSet;
        const decision: Decision = decide(d.paths, cfg);
        best = decision.best;
        reason = decision.reason;
        d.best = best;
        d.decided(reasonCode(reason));
        after = decision.multipath.length > 1 ? decision.multipath : null;
        d.multipathSet = after;
        if (only === null) this.tables.get(family)?.delete(d);
      }
      if ((before === null) !== (best === null)) {
        // Counted per run of one family (a round is nearly always one family): no Map per change.
        if (family !== countFamily) {
          if (countDelta !== 0) this.bestCounts.set(countFamily, (this.bestCounts.get(countFamily) ?? 0) + countDelta);
          countFamily = family;
          countDelta = 0;
        }
        countDelta += best === null ? -1 : 1;
      }
      const sameSet = beforeSet === null || after === null
        ? beforeSet === after
        : beforeSet.length === after.length && beforeSet.every((r, i) => r === after![i]);
      if (before === best && sameSet) continue;
      // V8 (Node 20) calls its Array push builtin at this site instead of inlining it; an indexed
      // append stays inline (~7% fewer instructions per learned route, bench/README.md "Session 5").
      changes[changes.length] = new LocRibChange(family, d, best, before, reason, after, beforeSet);
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
