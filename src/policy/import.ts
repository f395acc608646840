// Import policy: which received routes may enter the Loc-RIB. Implements the cluster rule of
// DESIGN.md (a route from a cluster peer must lie in an enabled pool, and from a directly meshed
// node its next hop must be that node), simple per-BGPPeer rules for other peers, AS-path loop
// detection (RFC 4271 §9.1.2), route-reflection loop detection (RFC 4456 §8), and the RFC 4271
// §5.1.5 rule that LOCAL_PREF from an external peer is ignored (done in the decision process).
// Rejected routes are kept in the Adj-RIB-In with their reason (soft reconfiguration) and
// counted, never installed.
import type { Family } from '../wire/types';
import type { InternedAttributes } from '../rib/attributes';
import { loopsThrough } from '../rib/attributes';
import type { RibPeer } from '../rib/route';
import { PrefixSet } from './prefixes';
export { PolicyConfigError } from './prefixes';

/** Why a route was not accepted. Stable strings: they appear in metrics and `nexthop explain`. */
export const RejectReason = {
  /** RFC 4271 §9.1.2: our own AS in AS_PATH. */
  AS_LOOP: 'as-loop',
  /** RFC 4456 §8: our CLUSTER_ID in CLUSTER_LIST. */
  CLUSTER_LOOP: 'cluster-loop',
  /** RFC 4456 §8: ORIGINATOR_ID equal to our BGP Identifier. */
  ORIGINATOR_LOOP: 'originator-loop',
  /** DESIGN.md: cluster routes must lie inside an enabled IP pool. */
  OUTSIDE_POOL: 'outside-pool',
  /** DESIGN.md: a directly meshed node must announce itself as next hop. */
  NEXT_HOP_MISMATCH: 'next-hop-mismatch',
  /** The peer's accept list does not contain the prefix. */
  NOT_IN_PREFIX_LIST: 'not-in-prefix-list',
  /** The peer's rules reject the default route. */
  DEFAULT_ROUTE: 'default-route-rejected',
  /** A route without a usable next hop (RFC 4271 §5.1.3 / RFC 4760 §3). */
  NO_NEXT_HOP: 'no-next-hop',
  /** Only IPv4/IPv6 unicast are routed. */
  UNSUPPORTED_FAMILY: 'unsupported-family',
  /** The peer has no import rule at all: nothing is accepted. */
  NO_RULE: 'no-import-rule',
} as const;
export type RejectReasonCode = (typeof RejectReason)[keyof typeof RejectReason];

/** Per-peer import rule. */
export type PeerImportRule =
  /**
   * A cluster peer: mesh node, route reflector or RR client. Routes must lie inside an enabled
   * pool; with `nodeAddresses` (a directly meshed node) the next hop must be one of them.
   */
  | { kind: 'cluster'; nodeAddresses?: readonly string[] }
  /** A BGPPeer accepting everything (optionally except the default route). */
  | { kind: 'accept-all'; rejectDefault?: boolean }
  /**
   * A BGPPeer accepting only prefixes that lie within one of `prefixes` (the CIDR itself or any
   * longer prefix inside it), optionally never the default route.
   */
  | { kind: 'prefix-list'; prefixes: readonly string[]; rejectDefault?: boolean };

export interface ImportPolicyConfig {
  localAs: number;
  /** Our BGP Identifier (RFC 4456 §8 ORIGINATOR_ID check). */
  routerId: string;
  /** Our CLUSTER_ID when we are a route reflector (RFC 4456 §7), else null. */
  clusterId?: string | null;
  /** CIDRs of the enabled IP pools. */
  pools: readonly string[];
}

/**
 * A peer's rule as the checks read it. A class, not an object literal: V8 gives literals that
 * start with the same property name one hidden-class tree, so a rule literal (`{kind: ...}`)
 * shared its `kind` field with every other `{kind, ...}` object in the process — among them the
 * GC entries of perf_hooks that prom-client's default metrics observe, whose `kind` is a number.
 * The first such entry widened the field and threw away the compiled import check, mid-table
 * (seen with --trace-deopt and --trace-generalization).
 */
class CompiledRule {
  constructor(
    readonly kind: PeerImportRule['kind'],
    readonly nodeAddresses: readonly string[] | undefined,
    readonly prefixes: PrefixSet | undefined,
    readonly rejectDefault: boolean,
  ) {}
}

function isDefault(prefix: string): boolean {
  return prefix.endsWith('/0');
}

/**
 * The import policy of one speaker. Split in two so the Adj-RIB-In can check an UPDATE's
 * attributes once and each of its prefixes cheaply.
 */
export class ImportPolicy {
  private localAs: number;
  private routerId: string;
  private clusterId: string | null;
  private pools: PrefixSet;
  private readonly rules = new Map<string, CompiledRule>();

  constructor(config: ImportPolicyConfig) {
    this.localAs = config.localAs;
    this.routerId = config.routerId;
    this.clusterId = config.clusterId ?? null;
    this.pools = new PrefixSet(config.pools, 'IPPool.cidr');
  }

  /** Replace the enabled pools (then re-run import on the Adj-RIBs-In: soft reconfiguration). */
  setPools(pools: readonly string[]): void {
    this.pools = new PrefixSet(pools, 'IPPool.cidr');
  }

  setIdentity(localAs: number, routerId: string, clusterId: string | null): void {
    this.localAs = localAs;
    this.routerId = routerId;
    this.clusterId = clusterId;
  }

  /** Sets (or with null removes) the import rule of a peer. Throws PolicyConfigError on a bad CIDR. */
  setPeerRule(peerId: string, rule: PeerImportRule | null): void {
    if (!rule) {
      this.rules.delete(peerId);
      return;
    }
    this.rules.set(peerId, new CompiledRule(
      rule.kind,
      rule.kind === 'cluster' ? rule.nodeAddresses : undefined,
      rule.kind === 'prefix-list' ? new PrefixSet(rule.prefixes, `BGPPeer ${peerId} prefixes`) : undefined,
      rule.kind !== 'cluster' && rule.rejectDefault === true,
    ));
  }

  /** Checks that depend only on the peer and the attribute set; null when acceptable. */
  checkAttributes(peer: RibPeer, family: Family, rec: InternedAttributes): RejectReasonCode | null {
    if (family !== 'ipv4-unicast' && family !== 'ipv6-unicast') return RejectReason.UNSUPPORTED_FAMILY;
    const rule = this.rules.get(peer.id);
    if (!rule) return RejectReason.NO_RULE;
    // RFC 4271 §9.1.2: a route whose AS_PATH contains our AS is a loop — the speaker's AS and,
    // when it differs, the AS we present to this peer (a per-peer local AS).
    if (loopsThrough(rec, this.localAs)) return RejectReason.AS_LOOP;
    if (peer.localAs !== undefined && peer.localAs !== this.localAs && loopsThrough(rec, peer.localAs)) return RejectReason.AS_LOOP;
    // RFC 4456 §8: "a router that recognizes the ORIGINATOR_ID attribute SHOULD ignore a route
    // received with its BGP Identifier as the ORIGINATOR_ID" — whichever peer reflected it back
    // (a ToR reflecting our own block to us). Our CLUSTER_ID in the CLUSTER_LIST is a loop too.
    if (rec.attrs.originatorId === this.routerId) return RejectReason.ORIGINATOR_LOOP;
    if (this.clusterId !== null && rec.attrs.clusterList?.includes(this.clusterId)) return RejectReason.CLUSTER_LOOP;
    if (rec.nextHop === null) return RejectReason.NO_NEXT_HOP;
    if (rule.kind === 'cluster' && rule.nodeAddresses && !rule.nodeAddresses.includes(rec.nextHop)) {
      return RejectReason.NEXT_HOP_MISMATCH;
    }
    return null;
  }

  /**
   * checkPrefix for an IPv4 prefix given by number (network address as a signed 32-bit integer,
   * length): the same answers without the prefix text.
   */
  checkIpv4Prefix(peer: RibPeer, address: number, length: number): RejectReasonCode | null {
    const rule = this.rules.get(peer.id);
    if (!rule) return RejectReason.NO_RULE;
    switch (rule.kind) {
      case 'cluster':
        return this.pools.containsIpv4(address, length) ? null : RejectReason.OUTSIDE_POOL;
      case 'accept-all':
        return rule.rejectDefault && length === 0 ? RejectReason.DEFAULT_ROUTE : null;
      case 'prefix-list':
        if (rule.rejectDefault && length === 0) return RejectReason.DEFAULT_ROUTE;
        return rule.prefixes!.containsIpv4(address, length) ? null : RejectReason.NOT_IN_PREFIX_LIST;
    }
  }

  /** Checks that depend on the prefix; null when acceptable. */
  checkPrefix(peer: RibPeer, prefix: string): RejectReasonCode | null {
    const rule = this.rules.get(peer.id);
    if (!rule) return RejectReason.NO_RULE;
    switch (rule.kind) {
      case 'cluster':
        return this.pools.contains(prefix) ? null : RejectReason.OUTSIDE_POOL;
      case 'accept-all':
        return rule.rejectDefault && isDefault(prefix) ? RejectReason.DEFAULT_ROUTE : null;
      case 'prefix-list':
        if (rule.rejectDefault && isDefault(prefix)) return RejectReason.DEFAULT_ROUTE;
        return rule.prefixes!.contains(prefix) ? null : RejectReason.NOT_IN_PREFIX_LIST;
    }
  }
}
