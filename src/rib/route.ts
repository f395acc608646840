// The RIB's view of a peer and of one path: what the decision process (RFC 4271 §9.1), the
// export rules (RFC 4271 §9.2, RFC 4456 §6) and graceful restart (RFC 4724 §4.2) need to know.
import type { Family } from '../wire/types';
import type { InternedAttributes } from './attributes';
import type { Destination } from './destination';

/**
 * Where a path came from. 'local' is this node (its own pod block); 'ibgp' an internal peer
 * (mesh node, route reflector, RR client); 'ebgp' an external peer (ToR router).
 */
export type PeerKind = 'local' | 'ibgp' | 'ebgp';

/** A peer as the RIB sees it. Create with ribPeer(); the speaker updates routerId per session. */
export interface RibPeer {
  /** Unique key of the peer (the speaker's peer id, e.g. its address). */
  readonly id: string;
  readonly kind: PeerKind;
  /** Transport address of the peer: RFC 4271 §9.1.2.2 g (lowest peer address). */
  readonly address: string;
  /** The peer's AS number. */
  readonly asn: number;
  /** BGP Identifier from the peer's OPEN (RFC 4271 §9.1.2.2 f); set per session. */
  routerId: string;
  /**
   * RFC 4456 §6: this iBGP peer is one of our route-reflector clients. Client status is purely
   * local export policy, so it may change on a live session (Rib.updatePeerRole).
   */
  rrClient: boolean;
  /**
   * RFC 4271 §9.1.1: degree of preference given to routes learned from this eBGP peer
   * (a configured value; LOCAL_PREF received from an external peer is ignored, §5.1.5).
   */
  importLocalPref: number;
  /**
   * A directly meshed cluster peer's node address(es), for status output. The import check
   * itself uses the PeerImportRule given to ImportPolicy.setPeerRule.
   */
  nodeAddresses?: readonly string[];
  /**
   * The AS we present to this peer when it differs from the speaker's (a per-peer local AS):
   * the AS-path loop check (RFC 4271 §9.1.2) looks for it too.
   */
  readonly localAs?: number;
}

export interface RibPeerInit {
  id: string;
  kind: PeerKind;
  address?: string;
  asn: number;
  routerId?: string;
  rrClient?: boolean;
  importLocalPref?: number;
  nodeAddresses?: readonly string[];
  localAs?: number;
}

/** RFC 4271 §5.1.5: the LOCAL_PREF assumed when none applies. */
export const DEFAULT_LOCAL_PREF = 100;

export function ribPeer(init: RibPeerInit): RibPeer {
  return {
    id: init.id,
    kind: init.kind,
    address: init.address ?? init.id,
    asn: init.asn,
    routerId: init.routerId ?? '0.0.0.0',
    rrClient: init.rrClient ?? false,
    importLocalPref: init.importLocalPref ?? DEFAULT_LOCAL_PREF,
    nodeAddresses: init.nodeAddresses,
    ...(init.localAs !== undefined ? { localAs: init.localAs } : {}),
  };
}

/**
 * Small integer codes for families, so a path and a destination keep their family inside a numeric
 * field instead of a pointer of their own (8 bytes per stored route on 64-bit V8). Codes are handed
 * out on first use; the table only grows by the families peers actually send.
 */
const familyNames: Family[] = ['ipv4-unicast', 'ipv6-unicast'];
const familyCodeOf = new Map<Family, number>([['ipv4-unicast', 0], ['ipv6-unicast', 1]]);
/** Room for family codes in a packed field; the AFI/SAFI space is larger, peers use a handful. */
export const FAMILY_CODES = 1 << 15;

/** The code of a family (assigned on first use). RangeError when the code space is exhausted. */
export function familyCode(family: Family): number {
  // The two families nexthop routes, without a Map lookup (this runs once per stored path).
  if (family === 'ipv4-unicast') return 0;
  if (family === 'ipv6-unicast') return 1;
  let c = familyCodeOf.get(family);
  if (c === undefined) {
    if (familyNames.length >= FAMILY_CODES) throw new RangeError(`too many address families in the RIB (${FAMILY_CODES})`);
    c = familyNames.length;
    familyNames.push(family);
    familyCodeOf.set(family, c);
  }
  return c;
}

/** The family of a code from familyCode(). */
export function familyOfCode(code: number): Family {
  return familyNames[code];
}

/**
 * One path in an Adj-RIB-In (and, when accepted, a candidate in the Loc-RIB). The attribute
 * record is shared (interned). A path never changes but for its stale mark: a replaced path is a
 * new Route, so a Loc-RIB change can report the previous path as it was. A full table holds one
 * Route per prefix and peer, so its fields are packed: the RFC 7911 path identifier, the family
 * and the stale mark share one number, and the arrival time is kept in tenths of a second.
 *
 * Where a path lives: the first path a destination ever gets is stored inline in the Destination
 * object (Destination extends Route: one object, not two, for a single-path prefix; see
 * destination.ts); every other path is a StandaloneRoute (one field more: its destination), and a
 * path import policy rejected a RejectedRoute (the reason lives only there).
 */
export abstract class Route {
  /** ((pathId × FAMILY_CODES) + family code) × 2, plus 1 while stale (RFC 4724 §4.2). Exact up to 2^53. */
  private bits: number;
  /**
   * When it arrived (the speaker's clock) in tenths of a second: a small integer (V8 Smi, up to
   * 6.8 years of uptime) where milliseconds would be a boxed double after 24.8 days.
   */
  private readonly receivedDs: number;

  protected constructor(
    readonly peer: RibPeer,
    family: Family,
    /** RFC 7911 path identifier; 0 when ADD-PATH is not in use. */
    pathId: number,
    readonly attrs: InternedAttributes,
    /** When it arrived (the speaker's clock, milliseconds). */
    receivedAt: number,
  ) {
    this.bits = (pathId * FAMILY_CODES + familyCode(family)) * 2;
    this.receivedDs = Math.floor(receivedAt / 100);
  }

  /** The prefix text (made on each read for a path of an IPv4 destination). */
  abstract get prefix(): string;

  /** The destination the path was stored in, or null for a path kept by its text (rejected). */
  abstract get destination(): Destination | null;

  get family(): Family {
    return familyNames[Math.floor(this.bits / 2) % FAMILY_CODES];
  }

  /** When it arrived (the speaker's clock, milliseconds, to a tenth of a second). */
  get receivedAt(): number {
    return this.receivedDs * 100;
  }

  /** Null when accepted by import policy, else why it was rejected (never installed). */
  get rejected(): string | null {
    return null;
  }

  /** RFC 7911 path identifier; 0 when ADD-PATH is not in use. */
  get pathId(): number {
    return Math.floor(this.bits / (2 * FAMILY_CODES));
  }

  /** RFC 4724 §4.2: retained across the peer's restart, awaiting refresh or purge. */
  get stale(): boolean {
    return this.bits % 2 === 1;
  }

  set stale(v: boolean) {
    const rest = this.bits - (this.bits % 2);
    this.bits = v ? rest + 1 : rest;
  }

  /** The next hop the route resolves through (NEXT_HOP, or the first MP_REACH next hop). */
  get nextHop(): string | null {
    return this.attrs.nextHop;
  }

  /** A plain record for logs and JSON (a stored path points to its destination, which points back). */
  toJSON(): { peer: string; family: Family; prefix: string; pathId: number; nextHop: string | null; stale: boolean; rejected: string | null } {
    return { peer: this.peer.id, family: this.family, prefix: this.prefix, pathId: this.pathId, nextHop: this.nextHop, stale: this.stale, rejected: this.rejected };
  }
}

/**
 * A path in an object of its own: every path but a destination's inline first one (a second
 * peer's path, a replaced path, our own originated routes, paths of a table kept by text). Five
 * fields: 64 bytes on 64-bit V8.
 */
export class StandaloneRoute extends Route {
  /** The destination the path belongs to, or the prefix text of a path kept outside one. */
  private readonly where: Destination | string;

  constructor(
    peer: RibPeer,
    family: Family,
    /** The path's destination (a stored path), or its prefix text. */
    where: Destination | string,
    pathId: number,
    attrs: InternedAttributes,
    receivedAt: number,
  ) {
    super(peer, family, pathId, attrs, receivedAt);
    this.where = where;
  }

  get prefix(): string {
    const w = this.where;
    return typeof w === 'string' ? w : w.prefix;
  }

  get destination(): Destination | null {
    const w = this.where;
    return typeof w === 'string' ? null : w;
  }
}

/**
 * A path import policy rejected: kept in its Adj-RIB-In with the reason, never a candidate. It is
 * in no destination, so it keeps its prefix text.
 */
export class RejectedRoute extends StandaloneRoute {
  constructor(peer: RibPeer, family: Family, prefix: string, pathId: number, attrs: InternedAttributes, receivedAt: number, readonly reason: string) {
    super(peer, family, prefix, pathId, attrs, receivedAt);
  }

  override get rejected(): string | null {
    return this.reason;
  }
}
