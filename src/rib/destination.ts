// The destinations of the RIB (RFC 4271 §3.2: one entry per prefix holding every path to it) and
// the table that finds them. IPv4 destinations are keyed by number (network address and length)
// and print their prefix text only when asked: a full table is 100k destinations, and a string
// per prefix costs its building, its hashing, and ~32 bytes the young-generation GC copies twice.
import type { Family } from '../wire/types';
import { ipv4PrefixText, parseIpv4Prefix } from '../wire/nlri';
import type { DecisionReason } from './decision';
import type { InternedAttributes } from './attributes';
import { familyCode, familyOfCode, Route, StandaloneRoute, type RibPeer } from './route';

/**
 * Decision reasons as small integers, so a Destination keeps its reason and its dirty mark in one
 * field (one pointer less per destination). Codes are handed out on first use.
 */
const reasonNames: DecisionReason[] = ['no-eligible-path', 'only-path'];
const reasonCodes = new Map<DecisionReason, number>([['no-eligible-path', 0], ['only-path', 1]]);
export const NO_ELIGIBLE_PATH = 0;
export const ONLY_PATH = 1;

export function reasonCode(r: DecisionReason): number {
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

/**
 * Destination.state layout (a small integer): dirty mark, decision reason code, best-is-first
 * mark, IPv4 prefix length (numeric keys), family code.
 */
const DIRTY = 1;
const REASON_SHIFT = 1;
const REASON_MASK = 255 << REASON_SHIFT;
const BEST_IS_FIRST = 1 << 9;
const LENGTH_SHIFT = 10;
const LENGTH_MASK = 63;
const FAMILY_SHIFT = 16;

/**
 * The paths of one prefix and the current decision. Most destinations have one path, which is
 * also the best. That path is stored in the Destination object itself: a Destination is also the
 * Route of its first path (its `peer`, `attrs`, path id and arrival time), so a single-path prefix
 * costs one object, not two, and the young-generation GC copies 32 bytes less per learned route
 * (bench/README.md, "Session 7"). The inline path is, like every Route, never changed but for its
 * stale mark: when it is replaced or withdrawn, `first` moves on to another path (a
 * StandaloneRoute) and the inline fields stay as they were for whoever still holds the old path
 * (a Loc-RIB change's `previous`); the slot is not used again. A destination made without a path
 * has no inline path (`peer` and `attrs` are null, never read: `first` is never the destination).
 *
 * `first` is the first path (the destination itself for the inline path), "best is first" is a
 * bit, and further paths, an ECMP set or a best path other than the first live in a
 * DestinationExtra made only when needed. The family, the decision reason and the dirty mark
 * share one number. Eight fields: a single-path destination with its path costs 88 bytes on
 * 64-bit V8 (a Destination and a Route: 120).
 */
export class Destination extends Route {
  /** The first path (this destination itself for its inline path), or null when there is none. */
  first: Route | null;
  private extra: DestinationExtra | null = null;
  /** Bit fields: DIRTY, REASON_*, BEST_IS_FIRST, length << LENGTH_SHIFT, family code << FAMILY_SHIFT. */
  private state: number;
  /**
   * The prefix: for a destination of a DestinationTable's IPv4 index, the network address as a
   * signed 32-bit integer (length in `state`, text made when read); otherwise its text.
   */
  private readonly key: string | number;

  /** A destination keyed by its prefix text (no path yet). */
  constructor(family: Family, prefix: string);
  /** @internal DestinationTable: an IPv4 destination keyed by address (signed 32-bit) and length, no path yet. */
  constructor(family: Family, address: number, length: number);
  /** @internal DestinationTable: the same, with its first path stored inline (see the class comment). */
  constructor(family: Family, address: number, length: number, peer: RibPeer, pathId: number, attrs: InternedAttributes, receivedAt: number);
  constructor(family: Family, key: string | number, length = 0, peer: RibPeer | null = null, pathId = 0, attrs: InternedAttributes | null = null, receivedAt = 0) {
    // Without a path the inline fields hold null; `first` then never points here, so they are not read.
    super(peer as RibPeer, family, pathId, attrs as InternedAttributes, receivedAt);
    this.first = peer === null ? null : this;
    this.key = key;
    this.state = (familyCode(family) << FAMILY_SHIFT) | (length << LENGTH_SHIFT) | (NO_ELIGIBLE_PATH << REASON_SHIFT);
  }

  /** The inline path's destination: this one. */
  get destination(): Destination {
    return this;
  }

  /**
   * The inline path's record (Route.toJSON: a path in a change or a status reads as a path).
   * A destination without one is never reached as a path; serialized as itself it gives its
   * prefix and family, with no peer (''), instead of failing on the null inline fields.
   */
  override toJSON(): ReturnType<Route['toJSON']> {
    if (this.peer === null) return { peer: '', family: this.family, prefix: this.prefix, pathId: 0, nextHop: null, stale: false, rejected: null };
    return super.toJSON();
  }

  get family(): Family {
    return familyOfCode(this.state >>> FAMILY_SHIFT);
  }

  /** The prefix text (made on each read for a numerically keyed IPv4 destination). */
  get prefix(): string {
    const k = this.key;
    return typeof k === 'string' ? k : ipv4PrefixText(k, (this.state >> LENGTH_SHIFT) & LENGTH_MASK);
  }

  /** @internal DestinationTable: the IPv4 address key, or null for a text-keyed destination. */
  get ipv4Address(): number | null {
    return typeof this.key === 'number' ? this.key : null;
  }

  /** @internal DestinationTable: the IPv4 prefix length of a numerically keyed destination. */
  get ipv4Length(): number {
    return (this.state >> LENGTH_SHIFT) & LENGTH_MASK;
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

  /**
   * @internal LocRib.process, the common case: the destination's only path, when it keeps nothing
   * else (no further path, no ECMP set, no best path held across a replacement: no
   * DestinationExtra); otherwise null, and the full decision applies.
   */
  get onlyPath(): Route | null {
    return this.extra === null ? this.first : null;
  }

  /**
   * @internal LocRib.process: decides a destination whose onlyPath is not null — that path is the
   * best when `eligible`, else there is none (RFC 4271 §9.1.2) — and clears the dirty mark, in one
   * write. Returns the best path as of the last round.
   */
  decideOnlyPath(eligible: boolean): Route | null {
    const st = this.state;
    const before = (st & BEST_IS_FIRST) !== 0 ? this.first : null;
    this.state = eligible
      ? (st & ~(REASON_MASK | DIRTY)) | (ONLY_PATH << REASON_SHIFT) | BEST_IS_FIRST
      : (st & ~(REASON_MASK | DIRTY | BEST_IS_FIRST)) | (NO_ELIGIBLE_PATH << REASON_SHIFT);
    return before;
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

/**
 * Canonical IPv4 prefix text ("10.0.0.0/24": no leading zeros, host bits clear) as the table's
 * numeric key: [network address as a signed 32-bit integer, length]; null for any other text
 * (it is then kept by its text).
 */
function ipv4Key(text: string): [number, number] | null {
  let packed: number;
  try {
    packed = parseIpv4Prefix(text, 'prefix');
  } catch {
    return null;
  }
  const length = packed % 64;
  return [((packed - length) / 64) | 0, length];
}

/** Consecutive networks of one prefix length that share a block of an Ipv4LengthIndex. */
const BLOCK_BITS = 4;
const BLOCK_SLOTS = 1 << BLOCK_BITS;
const SLOT_MASK = BLOCK_SLOTS - 1;

/** A block of BLOCK_SLOTS consecutive networks (holes are undefined). */
type Block = (Destination | undefined)[];

/**
 * The IPv4 destinations of one prefix length, by network number (the address's top `length`
 * bits), in blocks of 16 consecutive networks: a Map from block number to the block, and the
 * block last used kept at hand. A table arrives mostly in runs of neighbouring prefixes (a pod
 * pool's blocks, a router's sorted table), and a run then costs one Map lookup per 16 prefixes
 * whose block stays in cache, where a Map keyed by address paid a lookup, cache misses at 100k
 * entries and a growth rehash per prefix (bench/README.md, "Session 6"). A block holding a
 * single destination is that destination (no array), so a sparse table costs what a Map by
 * address cost.
 */
class Ipv4LengthIndex {
  private readonly blocks = new Map<number, Destination | Block>();
  /** The block last found or made, and its number (-1: none). */
  private lastKey = -1;
  private last: Block | null = null;

  constructor(private readonly length: number) {}

  /** The network number of an address (signed 32-bit, host bits clear): 0 .. 2^length - 1. */
  private network(address: number): number {
    return this.length === 0 ? 0 : address >>> (32 - this.length);
  }

  private block(key: number): Destination | Block | undefined {
    if (key === this.lastKey) return this.last!;
    const b = this.blocks.get(key);
    if (Array.isArray(b)) {
      this.lastKey = key;
      this.last = b;
    }
    return b;
  }

  get(address: number): Destination | undefined {
    const n = this.network(address);
    const b = this.block(n >>> BLOCK_BITS);
    if (b === undefined) return undefined;
    if (Array.isArray(b)) return b[n & SLOT_MASK];
    return b.ipv4Address === address ? b : undefined;
  }

  /** Adds `d` (the caller found no destination at its address). */
  add(address: number, d: Destination): void {
    const n = this.network(address);
    const key = n >>> BLOCK_BITS;
    const b = this.block(key);
    if (b === undefined) {
      this.blocks.set(key, d);
    } else if (Array.isArray(b)) {
      b[n & SLOT_MASK] = d;
    } else {
      // A second destination in the block: the single one moves into an array.
      const arr: Block = new Array<Destination | undefined>(BLOCK_SLOTS).fill(undefined);
      arr[this.network(b.ipv4Address!) & SLOT_MASK] = b;
      arr[n & SLOT_MASK] = d;
      this.blocks.set(key, arr);
      this.lastKey = key;
      this.last = arr;
    }
  }

  /** Removes `d` from `address`; false when another destination (or none) is there. */
  delete(address: number, d: Destination): boolean {
    const n = this.network(address);
    const key = n >>> BLOCK_BITS;
    const b = this.block(key);
    if (b === undefined) return false;
    if (!Array.isArray(b)) {
      if (b !== d) return false;
      this.blocks.delete(key);
      return true;
    }
    const slot = n & SLOT_MASK;
    if (b[slot] !== d) return false;
    b[slot] = undefined;
    for (let i = 0; i < BLOCK_SLOTS; i++) if (b[i] !== undefined) return true;
    this.blocks.delete(key);
    if (this.lastKey === key) {
      this.lastKey = -1;
      this.last = null;
    }
    return true;
  }

  *values(): IterableIterator<Destination> {
    for (const b of this.blocks.values()) {
      if (!Array.isArray(b)) yield b;
      else for (let i = 0; i < BLOCK_SLOTS; i++) if (b[i] !== undefined) yield b[i]!;
    }
  }
}

/**
 * The destinations of one family, by prefix. IPv4 unicast keeps one Ipv4LengthIndex per prefix
 * length, keyed by network number (no string is built, hashed or kept per prefix); every other
 * family, and IPv4 text that is not canonical, is keyed by its text.
 */
export class DestinationTable {
  /** IPv4 unicast: index = prefix length (0..32), key = network address (signed 32-bit). */
  private readonly byLength: Ipv4LengthIndex[] | null;
  private readonly byText = new Map<string, Destination>();
  private count = 0;

  constructor(readonly family: Family) {
    this.byLength = family === 'ipv4-unicast' ? Array.from({ length: 33 }, (_, length) => new Ipv4LengthIndex(length)) : null;
  }

  /** Number of destinations. */
  get size(): number {
    return this.count;
  }

  get(prefix: string): Destination | undefined {
    if (this.byLength !== null) {
      const k = ipv4Key(prefix);
      if (k !== null) return this.byLength[k[1]].get(k[0]);
    }
    return this.byText.get(prefix);
  }

  /** An IPv4 unicast destination by network address (signed 32-bit, host bits clear) and length. */
  getIpv4(address: number, length: number): Destination | undefined {
    return this.byLength === null ? undefined : this.byLength[length].get(address);
  }

  /** The destination of `prefix`, made (without paths) when missing. */
  obtain(prefix: string): Destination {
    if (this.byLength !== null) {
      const k = ipv4Key(prefix);
      if (k !== null) return this.obtainIpv4(k[0], k[1]);
    }
    let d = this.byText.get(prefix);
    if (d === undefined) {
      d = new Destination(this.family, prefix);
      this.byText.set(prefix, d);
      this.count++;
    }
    return d;
  }

  /** The IPv4 unicast destination of address/length, made (without paths) when missing. */
  obtainIpv4(address: number, length: number): Destination {
    return this.getIpv4(address, length) ?? this.addIpv4(address, length);
  }

  /**
   * A new IPv4 unicast destination for address/length, which the caller has just looked up and
   * not found (one hash lookup less than obtainIpv4 on the full-table path).
   */
  addIpv4(address: number, length: number): Destination {
    if (this.byLength === null) return this.obtain(ipv4PrefixText(address, length));
    return this.insertIpv4(this.byLength, new Destination(this.family, address, length));
  }

  /**
   * addIpv4 with the destination's first path, from `peer`, stored inline (see Destination): the
   * full-table path, one object per learned prefix. Returns the destination, which is that path.
   */
  addIpv4WithPath(address: number, length: number, peer: RibPeer, pathId: number, attrs: InternedAttributes, receivedAt: number): Destination {
    if (this.byLength === null) {
      const d = this.obtain(ipv4PrefixText(address, length));
      d.addPath(new StandaloneRoute(peer, this.family, d, pathId, attrs, receivedAt));
      return d;
    }
    return this.insertIpv4(this.byLength, new Destination(this.family, address, length, peer, pathId, attrs, receivedAt));
  }

  /** Puts a new numerically keyed destination `d` into its index (none is there yet). */
  private insertIpv4(byLength: Ipv4LengthIndex[], d: Destination): Destination {
    byLength[d.ipv4Length].add(d.ipv4Address!, d);
    this.count++;
    return d;
  }

  /** The destination this table holds for the same prefix as `d` (which may be another table's). */
  like(d: Destination): Destination | undefined {
    const a = d.ipv4Address;
    return a !== null && this.byLength !== null ? this.byLength[d.ipv4Length].get(a) : this.get(d.prefix);
  }

  /** The table's own destination for the same prefix as `d`, made when missing. */
  obtainLike(d: Destination): Destination {
    const a = d.ipv4Address;
    return a !== null ? this.obtainIpv4(a, d.ipv4Length) : this.obtain(d.prefix);
  }

  /** Removes `d` (this table's own); false when it was not there. */
  delete(d: Destination): boolean {
    const a = d.ipv4Address;
    if (a !== null && this.byLength !== null) {
      if (!this.byLength[d.ipv4Length].delete(a, d)) return false;
    } else {
      const text = d.prefix;
      if (this.byText.get(text) !== d) return false;
      this.byText.delete(text);
    }
    this.count--;
    return true;
  }

  *values(): IterableIterator<Destination> {
    if (this.byLength !== null) for (const m of this.byLength) yield* m.values();
    yield* this.byText.values();
  }
}
