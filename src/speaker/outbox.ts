// Per-peer output queue with a byte bound and slow-peer handling (issue "Route reflection at
// cluster scale", part 2). An update group encodes each round's UPDATEs once; the same Buffers
// are handed to every member's PeerOutbox. A member whose socket keeps up gets them written at
// once; a congested one (its PeerConnection above the socket high-water mark) has them queued —
// but never more than `limitBytes` of them. Past the bound the peer is OUT OF SYNC: later deltas
// are not queued, only the prefixes they touch are remembered (one set entry per prefix, however
// many updates flow), and once the queue has drained the owner sends the peer the difference
// between what it holds and the group's current Adj-RIB-Out (resync()). Slow peers never hold
// back fast ones, and memory per slow peer stays bounded by the limit plus its touched-prefix set.
//
// Why the touched-prefix set is enough (RFC 4271 §9.2: the peer's Adj-RIB-In equals what we sent):
// everything queued before the peer fell out of sync is a prefix of the group's history, so after
// it drains the peer holds the group's Adj-RIB-Out as it was then, except for the prefixes touched
// by the messages dropped since. An untouched prefix has the same attributes in the group's
// Adj-RIB-Out now as then; a touched one is announced with its current attributes, or withdrawn
// when the group no longer has it (a withdrawal of a route the peer does not hold is harmless,
// RFC 4271 §9.1). Messages without prefixes are markers whose position matters: End-of-RIB
// (RFC 4724 §2) and route-refresh requests are held and sent after the resync; a dropped BoRR
// (RFC 7313 §4) drops its EoRR too (the resync is then a plain update, not a refresh cycle the
// peer would close by purging everything not re-sent), while an EoRR whose BoRR went out follows
// the resync, which re-announces every prefix the dropped part of the refreshed table carried.
import type { BgpMessage, Family, PathAttributes, UpdateMessage } from '../wire/types';
import type { UpdateGroup } from '../rib/adj-rib-out';
import type { InternedAttributes } from '../rib/attributes';
import { packAnnouncements, packWithdrawals } from '../rib/packing';
import { familyOf, IPV4_UNICAST } from '../wire/family';
import { endOfRibFamily } from '../wire/eor';

/** RFC 7313 §3 route refresh subtypes. */
const BORR = 1;
const EORR = 2;

/** Default bound on the bytes a peer's queue holds beyond its socket buffer: 4 MiB. */
export const DEFAULT_OUTPUT_QUEUE_LIMIT = 4 << 20;

/** Where encoded messages go: a PeerConnection (sendEncoded). */
export interface OutputSink {
  /** Writes one encoded message; false when the socket is now above its high-water mark. */
  write(encoded: Buffer): boolean;
}

interface Segment {
  bufs: readonly Buffer[];
  next: number;
  /** Counted against the bound (deltas); shared tables and resyncs are not. */
  counted: boolean;
}

/** What pump() stopped at. */
export type PumpResult = 'congested' | 'idle' | 'resync-needed';

export class PeerOutbox {
  private segments: Segment[] = [];
  private counted = 0;
  private dirty: Map<Family, Set<string>> | null = null;
  private held: Buffer[] = [];
  private readonly droppedBorr = new Set<Family>();
  /** The last write reported the socket above its high-water mark; cleared by pump() on drain. */
  private blocked = false;
  /** Times this peer fell out of sync (for metrics and tests). */
  overflows = 0;

  constructor(readonly limitBytes: number = DEFAULT_OUTPUT_QUEUE_LIMIT) {}

  /** Bytes of deltas queued and not yet written (what the bound applies to). */
  get queuedBytes(): number {
    return this.counted;
  }

  /** Messages queued and not yet written, shared tables included. */
  get queuedMessages(): number {
    let n = 0;
    for (const s of this.segments) n += s.bufs.length - s.next;
    return n;
  }

  get outOfSync(): boolean {
    return this.dirty !== null;
  }

  /** Prefixes remembered while out of sync. */
  get dirtyCount(): number {
    let n = 0;
    if (this.dirty) for (const s of this.dirty.values()) n += s.size;
    return n;
  }

  /** Nothing queued and in sync: a new message would be written at once. */
  get idle(): boolean {
    return this.segments.length === 0 && this.dirty === null;
  }

  /**
   * Sends `messages` (encoded as `encoded`, same order): written now while the socket takes them
   * and nothing is queued ahead, else queued within the bound, else dropped and remembered
   * (out of sync). `shared`: the buffers are a cached table shared by many peers — queued
   * without counting against the bound (they cost this peer nothing while the cache holds them).
   */
  send(sink: OutputSink, messages: readonly BgpMessage[], encoded: readonly Buffer[], shared = false): void {
    if (messages.length !== encoded.length) throw new RangeError(`PeerOutbox.send: ${messages.length} messages but ${encoded.length} buffers`);
    let i = 0;
    if (this.idle && !this.blocked) {
      while (i < encoded.length) {
        if (!sink.write(encoded[i++])) {
          this.blocked = true;
          break;
        }
      }
      if (i === encoded.length) return;
    }
    if (this.dirty === null) {
      let rest = 0;
      if (!shared) for (let j = i; j < encoded.length; j++) rest += encoded[j].length;
      if (this.counted + rest <= this.limitBytes) {
        this.segments.push({ bufs: encoded, next: i, counted: !shared });
        this.counted += rest;
        return;
      }
      this.dirty = new Map();
      this.overflows++;
    }
    for (let j = i; j < encoded.length; j++) this.drop(messages[j], encoded[j]);
  }

  /** Queues buffers ahead of nothing, outside the bound (a resync the owner computed). */
  private queueUncounted(bufs: readonly Buffer[]): void {
    if (bufs.length > 0) this.segments.push({ bufs, next: 0, counted: false });
  }

  /**
   * Writes queued buffers until the socket is congested or the queue is empty. 'resync-needed':
   * the queue drained while out of sync — call takeResync(), then resync().
   */
  pump(sink: OutputSink): PumpResult {
    this.blocked = false;
    while (this.segments.length > 0) {
      const s = this.segments[0];
      while (s.next < s.bufs.length) {
        const b = s.bufs[s.next++];
        if (s.counted) this.counted -= b.length;
        if (!sink.write(b)) {
          this.blocked = true;
          if (s.next === s.bufs.length) this.segments.shift();
          return 'congested';
        }
      }
      this.segments.shift();
    }
    return this.dirty === null ? 'idle' : 'resync-needed';
  }

  /** The prefixes touched while out of sync, per family; the peer is in sync again after resync(). */
  takeResync(): Map<Family, Set<string>> {
    const d = this.dirty ?? new Map<Family, Set<string>>();
    this.dirty = null;
    return d;
  }

  /**
   * Queues the resync (the UPDATEs that bring the peer to the group's Adj-RIB-Out, encoded) and
   * after it the markers held while out of sync, then writes what the socket takes.
   */
  resync(sink: OutputSink, encoded: readonly Buffer[]): PumpResult {
    this.queueUncounted(encoded);
    this.queueUncounted(this.held);
    this.held = [];
    this.droppedBorr.clear();
    return this.pump(sink);
  }

  /** Forgets everything (the session went down). */
  clear(): void {
    this.segments = [];
    this.counted = 0;
    this.dirty = null;
    this.held = [];
    this.droppedBorr.clear();
    this.blocked = false;
  }

  private drop(m: BgpMessage, buf: Buffer): void {
    if (m.type === 'update') {
      if (endOfRibFamily(m) !== null) this.held.push(buf); // RFC 4724 §2: after the resync
      else this.touch(m);
      return;
    }
    if (m.type === 'route-refresh') {
      const family = familyOf(m.afi, m.safi);
      if (m.subtype === BORR) {
        this.droppedBorr.add(family);
        return;
      }
      if (m.subtype === EORR && this.droppedBorr.delete(family)) return;
    }
    this.held.push(buf);
  }

  private touch(m: UpdateMessage): void {
    const d = this.dirty!;
    const mark = (family: Family, prefixes: readonly { prefix: string }[]): void => {
      if (prefixes.length === 0) return;
      let set = d.get(family);
      if (!set) {
        set = new Set();
        d.set(family, set);
      }
      for (const p of prefixes) set.add(p.prefix);
    };
    mark(IPV4_UNICAST, m.withdrawn);
    mark(IPV4_UNICAST, m.nlri);
    const a = m.attributes;
    if (a.mpReach) mark(familyOf(a.mpReach.afi, a.mpReach.safi), a.mpReach.nlri);
    if (a.mpUnreach) mark(familyOf(a.mpUnreach.afi, a.mpUnreach.safi), a.mpUnreach.withdrawn);
  }
}

/**
 * The UPDATEs that bring a peer which missed the changes to `dirty` prefixes up to `group`'s
 * Adj-RIB-Out: withdrawals for those the group no longer advertises, announcements (grouped by
 * attribute set) for those it does (RFC 4271 §9.2). Untouched prefixes need nothing (see the
 * header). Call after the group's flush() so its Adj-RIB-Out is current.
 */
export function resyncMessages(group: UpdateGroup, dirty: ReadonlyMap<Family, ReadonlySet<string>>): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  for (const [family, prefixes] of dirty) {
    if (!group.tx.families.includes(family)) continue;
    const sent = group.sentRoutes(family);
    const withdrawals: string[] = [];
    const announce = new Map<InternedAttributes, string[]>();
    for (const prefix of prefixes) {
      const attrs = sent.get(prefix);
      if (attrs === undefined) {
        withdrawals.push(prefix);
        continue;
      }
      let list = announce.get(attrs);
      if (!list) {
        list = [];
        announce.set(attrs, list);
      }
      list.push(prefix);
    }
    const ctx = group.packContext(family);
    out.push(...packWithdrawals(family, withdrawals, ctx));
    // These attribute sets are in the group's Adj-RIB-Out: they were packed for it before, they fit.
    for (const [attrs, list] of announce) out.push(...packAnnouncements(family, attrs.attrs as PathAttributes, list, ctx));
  }
  return out;
}
