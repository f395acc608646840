// The pure core of the FIB reconciler: given the desired routes (devices already resolved), the
// kernel's routes carrying our protocol, and the keys held by routes of other protocols, compute
// the minimal set of writes - add, replace, delete - and the conflicts. Same idea as BIRD's krt
// scan-and-prune (nest/krt.c: krt_got_route / krt_prune) and Calico Felix's route table diff:
// a route that already is what we want is left alone (so a restart adopts, never flushes).
//
// Never writes over another protocol's route: a desired key held by a foreign route is reported
// as a conflict and skipped (DESIGN.md rule: "we never change or delete a route with another
// protocol number").
// No RFC: Linux FIB semantics (rtnetlink(7)); RFC 2992 for the ECMP routes it compares.

import { KernelRoute, NormRoute, routeMatches } from './route';

export interface FibConflict {
  /** The desired route that could not be installed. */
  route: NormRoute;
  /** The other protocol's route occupying its key. */
  foreign: KernelRoute;
}

export interface FibPlan {
  add: NormRoute[];
  replace: NormRoute[];
  delete: KernelRoute[];
  conflicts: FibConflict[];
}

/**
 * Plans the writes for `keys` (all keys of both sides when omitted). `desired` and `ours` are
 * keyed by route key; `foreign` holds, per key, a route of another protocol.
 */
export function planFib(
  desired: ReadonlyMap<string, NormRoute>,
  ours: ReadonlyMap<string, KernelRoute>,
  foreign: ReadonlyMap<string, KernelRoute>,
  keys?: Iterable<string>,
): FibPlan {
  const plan: FibPlan = { add: [], replace: [], delete: [], conflicts: [] };
  const visit = (key: string, want: NormRoute | undefined): void => {
    // A fresh start (nothing of ours in the kernel) skips the lookups on the empty side.
    const have = ours.size > 0 ? ours.get(key) : undefined;
    if (!want) {
      if (have) plan.delete.push(have); // ours, no longer wanted: prune (krt_prune)
      return;
    }
    const other = foreign.size > 0 ? foreign.get(key) : undefined;
    if (other) {
      // A foreign route shares the key. If ours is there too and right, leave both; otherwise do
      // not write: an IPv4/IPv6 NLM_F_REPLACE could land on the foreign route instead of ours.
      if (!have || !routeMatches(want, have)) plan.conflicts.push({ route: want, foreign: other });
      return;
    }
    if (!have) plan.add.push(want);
    else if (!routeMatches(want, have)) plan.replace.push(want);
  };
  if (keys) {
    for (const k of new Set(keys)) visit(k, desired.get(k));
  } else {
    for (const [k, want] of desired) visit(k, want);
    for (const [k, have] of ours) if (!desired.has(k)) plan.delete.push(have); // krt_prune
  }
  return plan;
}
