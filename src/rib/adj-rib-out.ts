// Adj-RIB-Out and update groups (RFC 4271 §3.2, §9.2). Peers with the same outbound policy
// (ExportProfile) and the same sending context (4-octet AS, ADD-PATH, message size) form one
// UPDATE GROUP: the group holds one Adj-RIB-Out (what its members have been sent), turns Loc-RIB
// changes into a diff against it, and packs the diff into UPDATEs once for all members — the
// route-reflector fan-out costs one computation per group, not per client. A joining member gets
// the group's current Adj-RIB-Out (no per-prefix policy run) followed by End-of-RIB
// (RFC 4724 §2). Route refresh (RFC 2918) re-sends a family's table, framed by BoRR/EoRR when
// enhanced route refresh is negotiated (RFC 7313 §4).
// Every UPDATE the group packs carries routes of one outgoing attribute set; when all routes
// exported with that set came from one peer, the message is tagged with it (origin()): the
// speaker then does not send that member its own routes back. RFC 4456 §6 reflects a client's
// routes to the OTHER clients' benefit; the originator would only discard them (§8,
// ORIGINATOR_ID), so sending them is wasted work on both sides — 1/N of every client's input.
import type { BgpMessage, CodecContext, Family, PathAttributes, RouteRefreshMessage, UpdateMessage } from '../wire/types';
import { encodeMessage } from '../wire/message';
import { exportAttributes, exportProfileKey, exportRefusal, type ExportProfile } from '../policy/export';
import { PrefixSet } from '../policy/prefixes';
import { AttributeStore, type InternedAttributes } from './attributes';
import { familyCodes } from './family';
import type { LocRib, LocRibChange } from './loc-rib';
import {
  endOfRibMessage,
  MAX_EXTENDED_MESSAGE_SIZE,
  MAX_MESSAGE_SIZE,
  packAnnouncements,
  packWithdrawals,
  PackingError,
  pathAttributesSize,
  type AttributeSizer,
  type PackContext,
} from './packing';
import type { RibPeer, Route } from './route';
import type { Destination } from './destination';

function prefixText(where: Destination | string): string {
  return typeof where === 'string' ? where : where.prefix;
}

/** The sending side of a negotiated session, as far as UPDATE contents depend on it. */
export interface GroupTx {
  /** Families negotiated with the members (RFC 4760 §8). */
  families: readonly Family[];
  /** RFC 6793. */
  as4: boolean;
  /** RFC 7911: families for which the members receive path identifiers. */
  addPath: ReadonlySet<Family>;
  /** RFC 8654. */
  extendedMessage: boolean;
}

/** The key that decides group membership: equal profile and equal tx context. */
export function updateGroupKey(profile: ExportProfile, tx: GroupTx): string {
  return `${exportProfileKey(profile)}|${[...tx.families].sort().join(',')}|${tx.as4 ? 4 : 2}|${[...tx.addPath].sort().join(',')}|${tx.extendedMessage ? 'x' : ''}`;
}

/** Marker in the pending map: the prefix should not be advertised (withdraw if it was). */
const WITHDRAW = null;

/** RFC 7313 §3 route refresh subtypes. */
export const ROUTE_REFRESH_NORMAL = 0;
export const ROUTE_REFRESH_BORR = 1;
export const ROUTE_REFRESH_EORR = 2;

export interface UpdateGroupOptions {
  /** Measures non-MP path attributes; default matches src/wire's encoder. */
  sizer?: AttributeSizer;
}

export class UpdateGroup {
  readonly members = new Set<string>();
  /** Adj-RIB-Out: per family, prefix → attributes last sent. */
  private readonly sent = new Map<Family, Map<string, InternedAttributes>>();
  /**
   * Changes since the last flush: prefix → attributes wanted (null: not advertised), one queue
   * per family the members receive, made with the group (`tx` is fixed).
   */
  private readonly pending = new Map<Family, Map<string, InternedAttributes | null>>();
  /** Outgoing attribute sets, interned so equal sets are grouped into shared UPDATEs. */
  private readonly store = new AttributeStore();
  /**
   * Export result per (family, source attribute set, source peer): interned attributes or a
   * refusal. The family is part of the key because the export differs by family for the same
   * source attributes (RFC 4760 §3: an IPv6 route's next hop goes in MP_REACH_NLRI, an IPv4
   * one's in NEXT_HOP, RFC 4271 §5.1.3).
   */
  private exportCache = new Map<Family, Map<InternedAttributes, Map<RibPeer, InternedAttributes | string>>>();
  private exportCacheSize = 0;
  /**
   * The last exportCache answer: consecutive changes nearly always share the source attribute
   * set and peer (one UPDATE's NLRI), so most lookups end here without three Map reads.
   */
  private lastExport: { family: Family; attrs: InternedAttributes; peer: RibPeer; out: InternedAttributes | string } | null = null;
  private readonly filter: PrefixSet | null;
  private readonly sizer: AttributeSizer;
  /** Packed full tables per family, valid until the Adj-RIB-Out changes. */
  private readonly tableCache = new Map<Family, UpdateMessage[]>();
  private readonly refusedByReason = new Map<string, number>();
  /**
   * The reason of the current run of refusals ('' with a length of 0: no run). A string from the
   * start, never null: the compiled count() compares strings, and a new group's null would throw
   * that code away at its first refusal (V8 deopt "wrong instance type", seen mid-table).
   */
  private refusalRun = '';
  private refusalRunLength = 0;
  /**
   * The one peer whose routes were exported with an outgoing attribute set, or null once routes
   * of two peers shared it (a set we never saw exported is absent). Only ever widens.
   */
  private readonly sourceOf = new WeakMap<InternedAttributes, RibPeer | null>();
  /** Packed messages whose every route came from one peer: that peer's id. */
  private readonly origins = new WeakMap<UpdateMessage, string>();

  constructor(readonly key: string, readonly profile: ExportProfile, readonly tx: GroupTx, options: UpdateGroupOptions = {}) {
    this.filter = profile.exportPrefixes ? new PrefixSet(profile.exportPrefixes, 'exportPrefixes') : null;
    this.sizer = options.sizer ?? pathAttributesSize;
    // Made here, not on a family's first change: that `new Map()` would run only before V8 keeps
    // type feedback for the function, and the compiled change loop (routesChanged) would then be
    // thrown away at the first change of a new group, mid-table (seen with --trace-deopt).
    for (const family of tx.families) this.pending.set(family, new Map());
  }

  packContext(family: Family): PackContext {
    return {
      as4: this.tx.as4,
      addPath: this.tx.addPath.has(family),
      maxSize: this.tx.extendedMessage ? MAX_EXTENDED_MESSAGE_SIZE : MAX_MESSAGE_SIZE,
    };
  }

  /**
   * The member every route of `m` came from (see the header), or null: a message of ours, of
   * several peers' routes, a withdrawal or a marker goes to every member.
   */
  origin(m: BgpMessage): string | null {
    return m.type === 'update' ? this.origins.get(m) ?? null : null;
  }

  /** Tags messages packed from one attribute set with its source peer, when it has exactly one. */
  private tag(attrs: InternedAttributes, msgs: readonly UpdateMessage[]): void {
    const src = this.sourceOf.get(attrs);
    // Our own routes (the 'local' peer) are never a member's.
    if (!src || src.kind === 'local') return;
    for (const m of msgs) this.origins.set(m, src.id);
  }

  /**
   * Counts one refusal. A run of the same reason (a whole table refused by split horizon) is
   * counted in a number and added to the Map when the reason changes or the Map is read.
   */
  private count(reason: string): void {
    if (reason === this.refusalRun && this.refusalRunLength > 0) {
      this.refusalRunLength++;
      return;
    }
    this.endRefusalRun();
    this.refusalRun = reason;
    this.refusalRunLength = 1;
  }

  private endRefusalRun(): void {
    const r = this.refusalRun;
    if (this.refusalRunLength === 0) return;
    this.refusedByReason.set(r, (this.refusedByReason.get(r) ?? 0) + this.refusalRunLength);
    this.refusalRun = '';
    this.refusalRunLength = 0;
  }

  /** Best paths not sent, by reason (counter for metrics and explain). */
  get refused(): ReadonlyMap<string, number> {
    this.endRefusalRun();
    return this.refusedByReason;
  }

  /** The outgoing attributes for `route`, or why it is not sent (cached per attribute set and peer). */
  private exported(route: Route): InternedAttributes | string {
    const last = this.lastExport;
    if (last !== null && last.attrs === route.attrs && last.peer === route.peer && last.family === route.family) return last.out;
    const out = this.exportedUncached(route);
    this.lastExport = { family: route.family, attrs: route.attrs, peer: route.peer, out };
    return out;
  }

  private exportedUncached(route: Route): InternedAttributes | string {
    let byAttrs = this.exportCache.get(route.family);
    if (!byAttrs) {
      byAttrs = new Map();
      this.exportCache.set(route.family, byAttrs);
    }
    let byPeer = byAttrs.get(route.attrs);
    if (!byPeer) {
      if (this.exportCacheSize > 100_000) {
        // Bound the cache: rebuilding it costs one export per attribute set.
        this.invalidateExportCache();
        byAttrs = new Map();
        this.exportCache.set(route.family, byAttrs);
      }
      byPeer = new Map();
      byAttrs.set(route.attrs, byPeer);
    }
    let out = byPeer.get(route.peer);
    if (out === undefined) {
      const refusal = exportRefusal(route, this.profile);
      if (refusal !== null) out = refusal;
      else {
        out = this.store.intern(exportAttributes(route, this.profile));
        this.store.retain(out); // held by the cache
        const seen = this.sourceOf.get(out);
        if (seen === undefined) this.sourceOf.set(out, route.peer);
        else if (seen !== null && seen !== route.peer) this.sourceOf.set(out, null);
      }
      byPeer.set(route.peer, out);
      this.exportCacheSize++;
    }
    return out;
  }

  /**
   * Forget cached exports of one source peer (when its identity, e.g. its BGP Identifier,
   * changed), or of all.
   */
  invalidateExportCache(source?: RibPeer): void {
    this.lastExport = null;
    if (source) {
      for (const byAttrs of this.exportCache.values()) {
        for (const m of byAttrs.values()) {
          const v = m.get(source);
          if (v === undefined) continue;
          if (typeof v !== 'string') this.store.release(v);
          m.delete(source);
          this.exportCacheSize--;
        }
      }
      return;
    }
    for (const byAttrs of this.exportCache.values()) {
      for (const m of byAttrs.values()) for (const v of m.values()) if (typeof v !== 'string') this.store.release(v);
    }
    this.exportCache = new Map();
    this.exportCacheSize = 0;
  }

  /** `where`: the prefix, as text or as its Loc-RIB destination (text made only when needed). */
  private want(family: Family, where: Destination | string, best: Route | null): void {
    const p = this.pendingOf(family);
    if (p !== null) this.wantIn(family, p, where, best);
  }

  /** The queue of a family the members receive, or null for one they do not. */
  private pendingOf(family: Family): Map<string, InternedAttributes | null> | null {
    return this.pending.get(family) ?? null;
  }

  /** want() with the family's queue already found. */
  private wantIn(family: Family, p: Map<string, InternedAttributes | null>, where: Destination | string, best: Route | null): void {
    if (best === null) {
      this.wantWithdrawn(family, p, where);
      return;
    }
    if (this.filter && !this.filter.contains(prefixText(where))) {
      this.count('export-filtered');
      this.wantWithdrawn(family, p, where);
      return;
    }
    const out = this.exported(best);
    if (typeof out === 'string') {
      this.count(out);
      this.wantWithdrawn(family, p, where);
    } else p.set(prefixText(where), out);
  }

  /**
   * Queues "not advertised" for a prefix — only when it makes a difference: the members have it
   * (Adj-RIB-Out) or an announcement of it is queued. A learned route this group never gets
   * (split horizon, RFC 4271 §9.2) then costs no queue entry, nor its prefix text while nothing
   * is queued or sent: a full table from an iBGP peer is 100k of those.
   */
  private wantWithdrawn(family: Family, p: Map<string, InternedAttributes | null>, where: Destination | string): void {
    const sent = this.sent.get(family);
    if (p.size === 0 && (sent === undefined || sent.size === 0)) return;
    const prefix = prefixText(where);
    if (p.has(prefix) || sent?.has(prefix)) p.set(prefix, WITHDRAW);
  }

  /** Queues Loc-RIB changes; nothing is computed for members until flush(). */
  routesChanged(changes: readonly LocRibChange[]): void {
    // The family's queue is looked up once per run of one family (a round is nearly always one).
    let family: Family | null = null;
    let p: Map<string, InternedAttributes | null> | null = null;
    for (const c of changes) {
      if (c.family !== family) {
        family = c.family;
        p = this.pendingOf(family);
      }
      if (p !== null) this.wantIn(family, p, c.destination, c.best);
    }
  }

  routeChanged(c: LocRibChange): void {
    this.want(c.family, c.destination, c.best);
  }

  /** Queues a prefix again with its current best path (its export may have changed). */
  requeue(family: Family, prefix: string, best: Route | null): void {
    this.want(family, prefix, best);
  }

  /** Queues every current best path of the Loc-RIB (a new group, or after an export policy change). */
  seed(locRib: LocRib): void {
    for (const family of this.tx.families) for (const d of locRib.bests(family)) this.want(family, d, d.best);
    // Prefixes sent but no longer in the Loc-RIB are withdrawn.
    for (const [family, sent] of this.sent) {
      for (const prefix of sent.keys()) if (!locRib.lookup(prefix, family)?.best) this.want(family, prefix, null);
    }
  }

  /** Number of prefixes with queued changes. */
  get pendingCount(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.size;
    return n;
  }

  /**
   * Applies the queued changes to the Adj-RIB-Out and returns the UPDATEs that carry the
   * difference, packed (withdrawals first, then one run of messages per attribute set). The
   * same messages go to every member; encode them once.
   */
  flush(): UpdateMessage[] {
    const out: UpdateMessage[] = [];
    for (const [family, p] of this.pending) {
      if (p.size === 0) continue;
      let sent = this.sent.get(family);
      if (!sent) {
        sent = new Map();
        this.sent.set(family, sent);
      }
      const withdrawals: string[] = [];
      const announce = new Map<InternedAttributes, string[]>();
      for (const [prefix, wanted] of p) {
        const had = sent.get(prefix);
        if (wanted === had) continue;
        if (wanted === WITHDRAW) {
          if (had === undefined) continue;
          sent.delete(prefix);
          this.store.release(had);
          withdrawals.push(prefix);
          continue;
        }
        let list = announce.get(wanted);
        if (!list) {
          list = [];
          announce.set(wanted, list);
        }
        list.push(prefix);
      }
      p.clear();
      const before = out.length;
      const ctx = this.packContext(family);
      if (withdrawals.length > 0) out.push(...packWithdrawals(family, withdrawals, ctx));
      for (const [attrs, prefixes] of announce) {
        let msgs: UpdateMessage[];
        try {
          msgs = packAnnouncements(family, attrs.attrs as PathAttributes, prefixes, ctx, this.sizer);
        } catch (e) {
          if (!(e instanceof PackingError)) throw e;
          // Cannot be sent to these peers at all: withdraw what they had instead.
          const gone: string[] = [];
          for (const prefix of prefixes) {
            const had = sent.get(prefix);
            if (had !== undefined) {
              sent.delete(prefix);
              this.store.release(had);
              gone.push(prefix);
            }
            this.count('attributes-too-large');
          }
          out.push(...packWithdrawals(family, gone, ctx));
          continue;
        }
        for (const prefix of prefixes) {
          const had = sent.get(prefix);
          this.store.retain(attrs);
          if (had !== undefined) this.store.release(had);
          sent.set(prefix, attrs);
        }
        this.tag(attrs, msgs);
        out.push(...msgs);
      }
      if (out.length > before) this.tableCache.delete(family);
    }
    return out;
  }

  /**
   * The whole Adj-RIB-Out of a family as UPDATEs, grouped by attribute set, optionally
   * followed by End-of-RIB. Computed once per Adj-RIB-Out version and shared.
   */
  table(family: Family, endOfRib = true): UpdateMessage[] {
    let msgs = this.tableCache.get(family);
    if (!msgs) {
      msgs = [];
      const sent = this.sent.get(family);
      if (sent && sent.size > 0) {
        const byAttrs = new Map<InternedAttributes, string[]>();
        for (const [prefix, attrs] of sent) {
          let list = byAttrs.get(attrs);
          if (!list) {
            list = [];
            byAttrs.set(attrs, list);
          }
          list.push(prefix);
        }
        const ctx = this.packContext(family);
        for (const [attrs, prefixes] of byAttrs) {
          const packed = packAnnouncements(family, attrs.attrs as PathAttributes, prefixes, ctx, this.sizer);
          this.tag(attrs, packed);
          msgs.push(...packed);
        }
      }
      this.tableCache.set(family, msgs);
    }
    return endOfRib ? [...msgs, endOfRibMessage(family)] : msgs;
  }

  /**
   * A peer joins the group. `toExisting`: the pending changes, for the members already in the
   * group (send before anything else). `toNew`: the group's full table for the new member,
   * each family followed by End-of-RIB (RFC 4724 §2).
   */
  join(peerId: string): { toExisting: UpdateMessage[]; toNew: UpdateMessage[] } {
    const toExisting = this.flush();
    this.members.add(peerId);
    const toNew: UpdateMessage[] = [];
    for (const family of this.tx.families) toNew.push(...this.table(family, true));
    return { toExisting: this.members.size > 1 ? toExisting : [], toNew };
  }

  /**
   * The UPDATEs that bring a peer holding `had` (per family, prefix → attribute key, see
   * attributesKey) to this group's Adj-RIB-Out: withdrawals for prefixes it has and the group
   * does not advertise, announcements for prefixes it lacks or holds with other attributes
   * (RFC 4271 §9.2: only changes are advertised). Used when a member moves here from another
   * group on a live session; call after flush() so the Adj-RIB-Out is current.
   */
  diffFrom(had: ReadonlyMap<Family, ReadonlyMap<string, string>>): UpdateMessage[] {
    const out: UpdateMessage[] = [];
    for (const family of this.tx.families) {
      const sent = this.sent.get(family) ?? new Map<string, InternedAttributes>();
      const before = had.get(family) ?? new Map<string, string>();
      const withdrawals: string[] = [];
      for (const prefix of before.keys()) if (!sent.has(prefix)) withdrawals.push(prefix);
      const announce = new Map<InternedAttributes, string[]>();
      for (const [prefix, attrs] of sent) {
        if (before.get(prefix) === attrs.key) continue;
        let list = announce.get(attrs);
        if (!list) {
          list = [];
          announce.set(attrs, list);
        }
        list.push(prefix);
      }
      const ctx = this.packContext(family);
      if (withdrawals.length > 0) out.push(...packWithdrawals(family, withdrawals, ctx));
      // These sets were packed for this group before (they are in its Adj-RIB-Out): they fit.
      for (const [attrs, prefixes] of announce) {
        const packed = packAnnouncements(family, attrs.attrs as PathAttributes, prefixes, ctx, this.sizer);
        this.tag(attrs, packed);
        out.push(...packed);
      }
    }
    return out;
  }

  /** A member leaves; returns true when the group is now empty (the speaker may drop it). */
  leave(peerId: string): boolean {
    this.members.delete(peerId);
    return this.members.size === 0;
  }

  /**
   * RFC 2918 §4: the peer asked for a family again; re-send the Adj-RIB-Out. With enhanced
   * route refresh (RFC 7313 §4) the table is framed by BoRR and EoRR. Call after flush() so
   * the table is current.
   */
  refresh(family: Family, enhanced: boolean): BgpMessage[] {
    const table = this.tx.families.includes(family) ? this.table(family, false) : [];
    if (!enhanced) return [...table];
    const codes = familyCodes(family);
    if (!codes) return [...table];
    const rr = (subtype: number): RouteRefreshMessage => ({ type: 'route-refresh', afi: codes.afi, safi: codes.safi, subtype });
    return [rr(ROUTE_REFRESH_BORR), ...table, rr(ROUTE_REFRESH_EORR)];
  }

  /** The codec context of every member's sending direction (equal by construction of the group). */
  codecContext(): CodecContext {
    return { as4: this.tx.as4, addPath: this.tx.addPath, extendedMessage: this.tx.extendedMessage };
  }

  /** Encodes messages once for all members (src/wire encoder with the group's context). */
  encode(messages: readonly BgpMessage[]): Buffer[] {
    const ctx = this.codecContext();
    return messages.map((m) => encodeMessage(m, ctx));
  }

  /** What the members have been sent for a family: prefix → attributes. */
  sentRoutes(family: Family): ReadonlyMap<string, InternedAttributes> {
    return this.sent.get(family) ?? new Map();
  }
}
