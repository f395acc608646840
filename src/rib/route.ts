// The RIB's view of a peer and of one path: what the decision process (RFC 4271 §9.1), the
// export rules (RFC 4271 §9.2, RFC 4456 §6) and graceful restart (RFC 4724 §4.2) need to know.
import type { Family } from '../wire/types';
import type { InternedAttributes } from './attributes';

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
 * One path in an Adj-RIB-In (and, when accepted, a candidate in the Loc-RIB). The attribute
 * record is shared (interned). A replaced path is a new Route object, so a Loc-RIB change can
 * report the previous path as it was; only the stale mark changes in place. The path identifier
 * and the stale mark share one numeric field, and a path import policy rejected is a
 * RejectedRoute (the reason lives only there): two pointers less per route, and a full table
 * holds one Route per prefix and peer.
 */
export class Route {
  /** RFC 7911 path identifier × 2, plus 1 while stale (RFC 4724 §4.2). */
  private idStale: number;

  constructor(
    readonly peer: RibPeer,
    readonly family: Family,
    readonly prefix: string,
    /** RFC 7911 path identifier; 0 when ADD-PATH is not in use. */
    pathId: number,
    readonly attrs: InternedAttributes,
    /** When it arrived (the speaker's clock, milliseconds). */
    readonly receivedAt: number,
  ) {
    this.idStale = pathId * 2;
  }

  /** Null when accepted by import policy, else why it was rejected (never installed). */
  get rejected(): string | null {
    return null;
  }

  /** RFC 7911 path identifier; 0 when ADD-PATH is not in use. */
  get pathId(): number {
    const v = this.idStale;
    return (v - (v % 2)) / 2;
  }

  /** RFC 4724 §4.2: retained across the peer's restart, awaiting refresh or purge. */
  get stale(): boolean {
    return this.idStale % 2 === 1;
  }

  set stale(v: boolean) {
    const id = this.idStale - (this.idStale % 2);
    this.idStale = v ? id + 1 : id;
  }

  /** The next hop the route resolves through (NEXT_HOP, or the first MP_REACH next hop). */
  get nextHop(): string | null {
    return this.attrs.nextHop;
  }
}

/** A path import policy rejected: kept in its Adj-RIB-In with the reason, never a candidate. */
export class RejectedRoute extends Route {
  constructor(peer: RibPeer, family: Family, prefix: string, pathId: number, attrs: InternedAttributes, receivedAt: number, readonly reason: string) {
    super(peer, family, prefix, pathId, attrs, receivedAt);
  }

  override get rejected(): string | null {
    return this.reason;
  }
}

/** The path object for an import decision: a Route when accepted (`reason` null), else a RejectedRoute. */
export function importedRoute(peer: RibPeer, family: Family, prefix: string, pathId: number, attrs: InternedAttributes, receivedAt: number, reason: string | null): Route {
  return reason === null ? new Route(peer, family, prefix, pathId, attrs, receivedAt) : new RejectedRoute(peer, family, prefix, pathId, attrs, receivedAt, reason);
}
