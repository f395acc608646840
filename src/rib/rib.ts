// The RIB as one object for the speaker to drive from its serial event queue: the shared
// attribute store, import policy, one Adj-RIB-In per peer, the Loc-RIB, and the update groups
// (Adj-RIBs-Out). RFC 4271 §3.2 / §9: UPDATEs go into Adj-RIBs-In, process() runs the decision
// process (§9.1) and the dissemination (§9.2) for one round and returns the Loc-RIB changes
// (for the FIB) and, per update group, the UPDATEs to write to its members. Live policy changes:
// new pools / CLUSTER_ID re-run import (soft reconfiguration inbound), a peer's RFC 4456 client
// status changes in place (updatePeerRole), and a member whose export profile changed moves to
// another group receiving only the Adj-RIB-Out difference (moveGroup).
import type { BgpMessage, Family, UpdateMessage } from '../wire/types';
import { ImportPolicy, type PeerImportRule } from '../policy/import';
import type { ExportProfile } from '../policy/export';
import { AdjRibIn, type AdjRibInOptions, type UpdateResult } from './adj-rib-in';
import { UpdateGroup, updateGroupKey, type GroupTx, type UpdateGroupOptions } from './adj-rib-out';
import { AttributeStore } from './attributes';
import { LocRib, type LocRibChange, type LocRibConfig } from './loc-rib';
import type { RibPeer } from './route';

export interface RibConfig extends LocRibConfig {
  /** Our CLUSTER_ID when we are a route reflector (RFC 4456 §7). */
  clusterId?: string | null;
  /** CIDRs of the enabled IP pools (cluster import rule). */
  pools: readonly string[];
  groupOptions?: UpdateGroupOptions;
}

/** UPDATEs for the members of one group, computed once. */
export interface GroupOutput {
  group: UpdateGroup;
  members: string[];
  messages: UpdateMessage[];
}

/** Unknown peer id passed to the RIB: a bug in the caller, named precisely. */
export class UnknownPeerError extends Error {
  constructor(readonly peerId: string, readonly operation: string) {
    super(`${operation}: peer ${peerId} is not in the RIB`);
    this.name = 'UnknownPeerError';
  }
}

export class Rib {
  readonly store = new AttributeStore();
  readonly locRib: LocRib;
  readonly importPolicy: ImportPolicy;
  private readonly adjIn = new Map<string, AdjRibIn>();
  private readonly groups = new Map<string, UpdateGroup>();
  private readonly groupOf = new Map<string, UpdateGroup>();
  private currentClusterId: string | null;

  constructor(readonly config: RibConfig) {
    this.currentClusterId = config.clusterId ?? null;
    this.locRib = new LocRib(config, this.store);
    this.importPolicy = new ImportPolicy({ localAs: config.localAs, routerId: config.routerId, clusterId: config.clusterId ?? null, pools: config.pools });
  }

  /** Adds a peer (or replaces its import rule and options) and returns its Adj-RIB-In. */
  addPeer(peer: RibPeer, rule: PeerImportRule, options: AdjRibInOptions = {}): AdjRibIn {
    this.importPolicy.setPeerRule(peer.id, rule);
    let a = this.adjIn.get(peer.id);
    if (!a || a.peer !== peer) {
      if (a) a.clear();
      a = new AdjRibIn(peer, this.store, this.importPolicy, this.locRib, options);
      this.adjIn.set(peer.id, a);
    } else a.maxPrefix = options.maxPrefix;
    return a;
  }

  /** Removes a peer: its routes leave the Loc-RIB at the next process(). */
  removePeer(peerId: string): void {
    const a = this.adjIn.get(peerId);
    if (!a) return;
    a.clear();
    this.adjIn.delete(peerId);
    this.importPolicy.setPeerRule(peerId, null);
    this.leaveGroup(peerId);
  }

  adjRibIn(peerId: string): AdjRibIn {
    const a = this.adjIn.get(peerId);
    if (!a) throw new UnknownPeerError(peerId, 'adjRibIn');
    return a;
  }

  peers(): AdjRibIn[] {
    return [...this.adjIn.values()];
  }

  /** An UPDATE from a peer. Call process() at the end of the round. */
  receive(peerId: string, update: UpdateMessage, now: number): UpdateResult {
    const a = this.adjIn.get(peerId);
    if (!a) throw new UnknownPeerError(peerId, 'receive');
    return a.apply(update, now);
  }

  /** Soft reconfiguration inbound (after pools or peer rules changed): re-run import everywhere. */
  reapplyImport(now: number): void {
    for (const a of this.adjIn.values()) a.reapplyImport(now);
  }

  /** Our CLUSTER_ID now (RFC 4456 §7), null when we are not a reflector. */
  get clusterId(): string | null {
    return this.currentClusterId;
  }

  /**
   * The enabled pools changed (DESIGN.md cluster rule): every Adj-RIB-In goes through import
   * again (soft reconfiguration inbound), so a prefix outside the new pools leaves the Loc-RIB,
   * and the groups, at the next process(). Throws PolicyConfigError on a bad CIDR.
   */
  setPools(pools: readonly string[], now: number): void {
    this.importPolicy.setPools(pools);
    this.reapplyImport(now);
  }

  /**
   * Our CLUSTER_ID changed (RFC 4456 §7): the CLUSTER_LIST loop check (§8) uses the new one, so
   * import runs again over every Adj-RIB-In. Update groups carry the cluster id in their
   * profile: the speaker moves each member to its new group (moveGroup), which re-sends the
   * reflected routes with the new CLUSTER_LIST.
   */
  setClusterId(clusterId: string | null, now: number): void {
    if (clusterId === this.currentClusterId) return;
    this.currentClusterId = clusterId;
    this.importPolicy.setIdentity(this.config.localAs, this.config.routerId, clusterId);
    this.reapplyImport(now);
  }

  /**
   * A peer's local role changed on a live session: RFC 4456 §6 client status, the degree of
   * preference of its routes (RFC 4271 §9.1.1), its node addresses. None of them is negotiated,
   * so the session stays. Routes learned from the peer are exported differently now (a client's
   * routes are reflected to everyone, a non-client's only to clients): cached exports of the
   * peer's routes are dropped and those it is best for are queued again in every group; with a
   * new preference its destinations are decided again. Returns true when anything changed.
   */
  updatePeerRole(peerId: string, role: { rrClient: boolean; importLocalPref: number; nodeAddresses?: readonly string[] }): boolean {
    const a = this.adjIn.get(peerId);
    if (!a) throw new UnknownPeerError(peerId, 'updatePeerRole');
    const p = a.peer;
    p.nodeAddresses = role.nodeAddresses;
    if (p.rrClient === role.rrClient && p.importLocalPref === role.importLocalPref) return false;
    const prefChanged = p.importLocalPref !== role.importLocalPref;
    p.rrClient = role.rrClient;
    p.importLocalPref = role.importLocalPref;
    for (const g of this.groups.values()) g.invalidateExportCache(p);
    for (const family of a.families()) {
      for (const r of a.routes(family)) {
        if (r.rejected !== null) continue;
        if (prefChanged) this.locRib.touch(r);
        if (this.locRib.lookup(r.prefix, family)?.best === r) for (const g of this.groups.values()) g.requeue(family, r.prefix, r);
      }
    }
    return true;
  }

  /**
   * A member's export profile changed on a live session (RFC 4456 client status, next-hop
   * handling, export prefixes, our CLUSTER_ID): it moves to the group of its new profile
   * without a new session. What the peer holds is the old group's Adj-RIB-Out; it is sent only
   * the difference to the new group's (RFC 4271 §9.2: announcements for what is new or changed,
   * withdrawals for what it may no longer have) — no End-of-RIB, no re-send of what stays.
   * `toExisting`: pending changes for the new group's earlier members (send them first).
   * Not a member yet: joins like joinGroup (toPeer is then the full table).
   */
  moveGroup(peerId: string, profile: ExportProfile, tx: GroupTx): { group: UpdateGroup; toExisting: UpdateMessage[]; toPeer: UpdateMessage[]; moved: boolean } {
    const old = this.groupOf.get(peerId);
    const key = updateGroupKey(profile, tx);
    if (!old) {
      const j = this.joinGroup(peerId, profile, tx);
      return { group: j.group, toExisting: j.toExisting, toPeer: j.toNew, moved: true };
    }
    if (old.key === key) return { group: old, toExisting: [], toPeer: [], moved: false };
    // The peer's view: what its old group sent (pending changes of that group never reached it).
    const had = new Map<Family, Map<string, string>>();
    for (const family of old.tx.families) {
      const m = new Map<string, string>();
      for (const [prefix, attrs] of old.sentRoutes(family)) m.set(prefix, attrs.key);
      had.set(family, m);
    }
    const { group, toExisting } = this.joinGroup(peerId, profile, tx); // leaves the old group
    const toPeer = group.diffFrom(had);
    return { group, toExisting, toPeer, moved: true };
  }

  /**
   * A new session's BGP Identifier (RFC 4271 §4.2). It takes part in the decision (§9.1.2.2 f)
   * and becomes ORIGINATOR_ID when we reflect the peer's routes (RFC 4456 §8), so cached exports
   * are dropped and the peer's destinations decided again.
   */
  setPeerRouterId(peerId: string, routerId: string): void {
    const a = this.adjIn.get(peerId);
    if (!a) throw new UnknownPeerError(peerId, 'setPeerRouterId');
    if (a.peer.routerId === routerId) return;
    a.peer.routerId = routerId;
    for (const g of this.groups.values()) g.invalidateExportCache(a.peer);
    // Only destinations holding this peer's paths (kept as stale across a restart) are affected:
    // decide them again, and re-export those it is best for (its ORIGINATOR_ID changed).
    for (const family of a.families()) {
      for (const r of a.routes(family)) {
        if (r.rejected !== null) continue;
        this.locRib.touch(r);
        if (this.locRib.lookup(r.prefix, family)?.best === r) for (const g of this.groups.values()) g.requeue(family, r.prefix, r);
      }
    }
  }

  /**
   * A peer's session is established: it joins the update group for its profile and tx context
   * (created and seeded from the Loc-RIB when new). Returns the group and the messages: pending
   * changes for the group's earlier members, and the full table + End-of-RIB for the new one.
   * While our own selection is deferred (RFC 4724 §4.1) join only after it ends: the initial
   * table and End-of-RIB must follow best-path selection.
   */
  joinGroup(peerId: string, profile: ExportProfile, tx: GroupTx): { group: UpdateGroup; toExisting: UpdateMessage[]; toNew: UpdateMessage[] } {
    this.leaveGroup(peerId);
    const key = updateGroupKey(profile, tx);
    let g = this.groups.get(key);
    if (!g) {
      g = new UpdateGroup(key, profile, tx, this.config.groupOptions);
      g.seed(this.locRib);
      this.groups.set(key, g);
    }
    const { toExisting, toNew } = g.join(peerId);
    this.groupOf.set(peerId, g);
    return { group: g, toExisting, toNew };
  }

  /** A peer's session ended: it leaves its group; empty groups are dropped. */
  leaveGroup(peerId: string): void {
    const g = this.groupOf.get(peerId);
    if (!g) return;
    this.groupOf.delete(peerId);
    if (g.leave(peerId)) this.groups.delete(g.key);
  }

  /**
   * RFC 2918 / RFC 7313: the peer asked for a family again. `toGroup`: pending changes for all
   * members of the peer's group (flushed first so the table is current); `toPeer`: the table
   * for the requesting peer, framed by BoRR/EoRR when enhanced route refresh was negotiated.
   */
  routeRefresh(peerId: string, family: Family, enhanced: boolean): { toGroup: UpdateMessage[]; toPeer: BgpMessage[] } {
    const g = this.groupOf.get(peerId);
    if (!g) throw new UnknownPeerError(peerId, 'routeRefresh');
    const toGroup = g.flush();
    return { toGroup, toPeer: g.refresh(family, enhanced) };
  }

  group(peerId: string): UpdateGroup | undefined {
    return this.groupOf.get(peerId);
  }

  updateGroups(): UpdateGroup[] {
    return [...this.groups.values()];
  }

  /**
   * One processing round: the decision process over every changed destination (families for
   * which `deferred` is true wait, RFC 4724 §4.1), then the changes go to every update group,
   * which diff and pack them.
   */
  process(deferred?: (family: Family) => boolean): { changes: LocRibChange[]; outputs: GroupOutput[] } {
    const changes = this.locRib.process(deferred);
    const outputs: GroupOutput[] = [];
    for (const g of this.groups.values()) {
      if (changes.length > 0) g.routesChanged(changes);
      const messages = g.flush();
      if (messages.length > 0) outputs.push({ group: g, members: [...g.members], messages });
    }
    return { changes, outputs };
  }
}
