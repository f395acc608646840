// The BGP decision process over the paths of one destination (RFC 4271 §9.1): eligibility
// (§9.1.2: resolvable next hop, no AS loop), degree of preference (§9.1.1), and the §9.1.2.2
// tie-breaking rules with the RFC 4456 §9 changes for route reflection. Each step removes
// candidates as the RFC describes it (set elimination, so the result does not depend on the
// order paths arrived in), and the step that decided is recorded as the best path's `reason`.
// Equal-cost multipath: the paths still tied after the IGP-cost step.
import type { Family } from '../wire/types';
import { loopsThrough } from './attributes';
import { parseIP } from '../lib/ip';
import { DEFAULT_LOCAL_PREF, type Route } from './route';

/** The steps, in the order they run. Stable names: they are shown by `nexthop explain`. */
export const DecisionSteps = [
  'locally-originated', // our own routes first (like a weight)
  'non-stale', // only when DecisionConfig.preferNonStale (off by default, see below)
  'local-pref', // §9.1.1 / §9.1.2.2: highest degree of preference
  'as-path-length', // §9.1.2.2 a
  'origin', // §9.1.2.2 b
  'med', // §9.1.2.2 c
  'ebgp-over-ibgp', // §9.1.2.2 d
  'igp-cost', // §9.1.2.2 e
  'router-id', // §9.1.2.2 f, RFC 4456 §9 ORIGINATOR_ID in place of the BGP Identifier
  'cluster-list-length', // RFC 4456 §9, between f and g
  'peer-address', // §9.1.2.2 g
  'path-id', // RFC 7911: several paths from one peer; lowest path identifier (determinism)
] as const;
export type DecisionStep = (typeof DecisionSteps)[number];

/** Why the best path is best: the deciding step, or a degenerate case. */
export type DecisionReason = DecisionStep | 'only-path' | 'no-eligible-path';

/** Why a path could not be used at all (RFC 4271 §9.1.2). */
export type IneligibleReason = 'unresolvable-next-hop' | 'as-loop';

export interface NextHopResolution {
  /** Cost of the interior route to the next hop (RFC 4271 §9.1.2.2 e); 0 on a connected subnet. */
  igpCost: number;
}

/** Resolves a BGP next hop through the routing table; null when it cannot be reached (§9.1.2). */
export type NextHopResolver = (nextHop: string, family: Family) => NextHopResolution | null;

export interface DecisionConfig {
  localAs: number;
  /** Equal paths kept for ECMP; 1 turns multipath off. */
  maxPaths: number;
  /** Compare MED between routes from different neighbouring ASes too. */
  alwaysCompareMed: boolean;
  /**
   * Rank stale (graceful-restart retained) paths below fresh ones. Off by default: RFC 4724
   * §4.2 says the receiving speaker "MUST NOT differentiate between stale and other routing
   * information during forwarding", so stale paths compete normally and are replaced by the
   * peer's fresh announcements or purged. Only for operators who want LLGR-like behaviour.
   */
  preferNonStale: boolean;
  resolve: NextHopResolver;
}

export interface Decision {
  best: Route | null;
  reason: DecisionReason;
  /** Paths used for forwarding, best first: [best] without ECMP, [] when no best. */
  multipath: Route[];
}

export interface DecisionTrace {
  ineligible: { route: Route; why: IneligibleReason }[];
  /** Paths removed at each step, in order. */
  eliminated: { step: DecisionStep; routes: Route[] }[];
}

/** RFC 4271 §9.1.1: LOCAL_PREF for internal routes; the configured preference for external ones. */
export function degreeOfPreference(r: Route): number {
  // RFC 4271 §5.1.5: LOCAL_PREF received from an external peer is ignored.
  if (r.peer.kind === 'ebgp') return r.peer.importLocalPref;
  return r.attrs.attrs.localPref ?? DEFAULT_LOCAL_PREF;
}

function ipv4Number(text: string): number {
  let v = 0;
  let octet = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      v = v * 256 + octet;
      octet = 0;
    } else octet = octet * 10 + (c - 48);
  }
  return v * 256 + octet;
}

const routerIdNumbers = new Map<string, number>();

/** RFC 4456 §9: ORIGINATOR_ID stands in for the BGP Identifier of the advertising speaker. */
function effectiveRouterId(r: Route): number {
  const text = r.attrs.attrs.originatorId ?? r.peer.routerId;
  let n = routerIdNumbers.get(text);
  if (n === undefined) {
    if (routerIdNumbers.size > 10_000) routerIdNumbers.clear();
    n = ipv4Number(text);
    routerIdNumbers.set(text, n);
  }
  return n;
}

function compareAddresses(a: string, b: string): number {
  if (a === b) return 0;
  const x = parseIP(a);
  const y = parseIP(b);
  if (!x || !y) return a < b ? -1 : 1;
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

/**
 * The pairwise final tie-breakers: §9.1.2.2 f (BGP Identifier / ORIGINATOR_ID), RFC 4456 §9
 * (CLUSTER_LIST length), §9.1.2.2 g (peer address), then the path identifier. Negative when `a`
 * is better.
 */
function finalCompare(a: Route, b: Route): number {
  let c = effectiveRouterId(a) - effectiveRouterId(b);
  if (c !== 0) return c;
  c = a.attrs.clusterListLength - b.attrs.clusterListLength;
  if (c !== 0) return c;
  c = compareAddresses(a.peer.address, b.peer.address);
  if (c !== 0) return c;
  return a.pathId - b.pathId;
}

/** Which final tie-breaker separates `a` from `b`. */
function finalStep(a: Route, b: Route): DecisionStep {
  if (effectiveRouterId(a) !== effectiveRouterId(b)) return 'router-id';
  if (a.attrs.clusterListLength !== b.attrs.clusterListLength) return 'cluster-list-length';
  if (compareAddresses(a.peer.address, b.peer.address) !== 0) return 'peer-address';
  return 'path-id';
}

/** The elimination steps that run before the pairwise tie-breakers, in order. */
const ELIMINATION_STEPS: readonly DecisionStep[] = ['locally-originated', 'non-stale', 'local-pref', 'as-path-length', 'origin', 'med', 'ebgp-over-ibgp', 'igp-cost'];

/** The value a path is ranked by at elimination step `i` (lower is better). MED is handled apart. */
function score(i: number, r: Route, cfg: DecisionConfig): number {
  switch (i) {
    case 0: return r.peer.kind === 'local' ? 0 : 1;
    case 1: return cfg.preferNonStale && r.stale ? 1 : 0;
    // §9.1.2.2 (via §9.1.2): highest degree of preference.
    case 2: return -degreeOfPreference(r);
    // §9.1.2.2 a: fewest AS numbers in AS_PATH.
    case 3: return r.attrs.asPathLength;
    // §9.1.2.2 b: lowest ORIGIN.
    case 4: return r.attrs.origin;
    // §9.1.2.2 d: prefer routes learned by eBGP when any remain.
    case 6: return r.peer.kind === 'ibgp' ? 1 : 0;
    // §9.1.2.2 e: lowest interior cost to the next hop.
    default: return igpCost(r, cfg);
  }
}

/** Keeps (in place) the candidates with the lowest score at step `i`; records the removed ones. */
function keepLowest(cands: Route[], i: number, cfg: DecisionConfig, trace?: DecisionTrace): void {
  let min = Infinity;
  for (const r of cands) {
    const v = score(i, r, cfg);
    if (v < min) min = v;
  }
  let k = 0;
  let removed: Route[] | null = null;
  for (const r of cands) {
    if (score(i, r, cfg) === min) cands[k++] = r;
    else if (trace) (removed ??= []).push(r);
  }
  cands.length = k;
  if (removed) trace!.eliminated.push({ step: ELIMINATION_STEPS[i], routes: removed });
}

/**
 * RFC 4271 §9.1.2.2 c: among routes with the same neighbouring AS, remove those whose MED is
 * higher than the lowest; a missing MED is the lowest value (0). With alwaysCompareMed all
 * routes form one group. A route with an empty AS_PATH has our own AS as neighbour.
 */
function medStep(cands: Route[], cfg: DecisionConfig, trace?: DecisionTrace): void {
  const groupOf = (r: Route): number => (cfg.alwaysCompareMed ? -1 : r.attrs.neighborAs ?? cfg.localAs);
  const minByAs = new Map<number, number>();
  for (const r of cands) {
    const g = groupOf(r);
    const m = minByAs.get(g);
    if (m === undefined || r.attrs.med < m) minByAs.set(g, r.attrs.med);
  }
  let k = 0;
  let removed: Route[] | null = null;
  for (const r of cands) {
    if (r.attrs.med === minByAs.get(groupOf(r))) cands[k++] = r;
    else if (trace) (removed ??= []).push(r);
  }
  cands.length = k;
  if (removed) trace!.eliminated.push({ step: 'med', routes: removed });
}

/** RFC 4271 §9.1.2: why a path cannot be used, or null. */
export function ineligibility(r: Route, cfg: DecisionConfig): IneligibleReason | null {
  if (r.peer.kind === 'local') return null;
  if (loopsThrough(r.attrs, cfg.localAs)) return 'as-loop';
  const nh = r.attrs.nextHop;
  if (nh === null || cfg.resolve(nh, r.family) === null) return 'unresolvable-next-hop';
  return null;
}

function igpCost(r: Route, cfg: DecisionConfig): number {
  if (r.peer.kind === 'local' || r.attrs.nextHop === null) return 0;
  return cfg.resolve(r.attrs.nextHop, r.family)?.igpCost ?? Infinity;
}

const NO_PATHS: Route[] = [];

/** Runs the decision process over all paths of one destination. */
export function decide(paths: readonly Route[], cfg: DecisionConfig, trace?: DecisionTrace): Decision {
  if (paths.length === 1 && !trace) {
    const only = paths[0];
    if (ineligibility(only, cfg) !== null) return { best: null, reason: 'no-eligible-path', multipath: NO_PATHS };
    return { best: only, reason: 'only-path', multipath: [only] };
  }
  const cands: Route[] = [];
  for (const r of paths) {
    const why = ineligibility(r, cfg);
    if (why === null) cands.push(r);
    else trace?.ineligible.push({ route: r, why });
  }
  if (cands.length === 0) return { best: null, reason: 'no-eligible-path', multipath: NO_PATHS };
  if (cands.length === 1) return { best: cands[0], reason: 'only-path', multipath: [cands[0]] };

  for (let i = 0; i < ELIMINATION_STEPS.length; i++) {
    if (i === 5) medStep(cands, cfg, trace);
    else keepLowest(cands, i, cfg, trace);
    if (cands.length === 1) return { best: cands[0], reason: ELIMINATION_STEPS[i], multipath: [cands[0]] };
  }
  // Several paths are equal up to the IGP cost: they are the multipath set. The remaining
  // tie-breakers (§9.1.2.2 f, RFC 4456 §9, §9.1.2.2 g) order them and pick the best.
  let reason: DecisionStep = 'path-id';
  if (cfg.maxPaths > 1) {
    const sorted = cands.slice().sort(finalCompare);
    reason = finalStep(sorted[0], sorted[1]);
    return { best: sorted[0], reason, multipath: sorted.slice(0, cfg.maxPaths) };
  }
  let best = cands[0];
  let runnerUp: Route | null = null;
  for (let i = 1; i < cands.length; i++) {
    const r = cands[i];
    if (finalCompare(r, best) < 0) {
      runnerUp = best;
      best = r;
    } else if (runnerUp === null || finalCompare(r, runnerUp) < 0) runnerUp = r;
  }
  reason = finalStep(best, runnerUp!);
  if (trace) {
    // Report the pairwise steps as eliminations, for `nexthop explain`.
    for (const r of cands) if (r !== best) trace.eliminated.push({ step: finalStep(best, r), routes: [r] });
  }
  return { best, reason, multipath: [best] };
}

/** The distinct next hops of a multipath set, for the FIB (best path's first). */
export function multipathNextHops(multipath: readonly Route[]): string[] {
  const out: string[] = [];
  for (const r of multipath) {
    const nh = r.attrs.nextHop;
    if (nh !== null && !out.includes(nh)) out.push(nh);
  }
  return out;
}
