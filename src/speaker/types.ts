// The speaker's contract: how a speaker and its peers are configured (SpeakerConfig, PeerConfig),
// and the plain-data views it hands out (peer status, Loc-RIB routes, explain, Loc-RIB change
// batches for the dataplane). No behaviour here.
// RFC 4271 §8 (sessions), §9 (RIBs); RFC 4456 (reflection roles); RFC 4724 (graceful restart);
// RFC 4486 (max-prefix Cease); RFC 2385 (TCP MD5); RFC 5082 (GTSM).
import type { Family } from '../wire/types';
import type { PeerImportRule } from '../policy/import';
import type { DecisionReason, NextHopResolver } from '../rib/decision';

/**
 * Why we have a session (the cluster planner's roles, src/cluster/peers.ts DesiredPeer.kind):
 *  - mesh: node-to-node full mesh (iBGP, or eBGP when the nodes' ASes differ);
 *  - rr-client: we are a route reflector and the peer is our client (RFC 4456 §6);
 *  - rr-server: the peer is a route reflector and we are its client;
 *  - rr-nonclient: both ends are reflectors (RFC 4456 §6 non-client);
 *  - external: a router outside the cluster (ToR, BGPPeer), iBGP or eBGP by AS.
 */
export type PeerType = 'mesh' | 'rr-client' | 'rr-server' | 'rr-nonclient' | 'external';

export interface MaxPrefixSetting {
  /** Highest number of accepted prefixes per family. */
  limit: number;
  /** 'teardown': Cease subcode 1 (RFC 4486 §4); 'warn': log and count only. */
  action: 'teardown' | 'warn';
  /** After a teardown, start the session again after this many seconds (absent: stay down). */
  restartAfter?: number;
}

export interface PeerConfig {
  /** Unique, stable name, e.g. "node/node-b/v4" or "peer/10.0.0.1". */
  name: string;
  /** The peer's address (IPv4 or IPv6). One PeerConfig per address and listener. */
  address: string;
  /** Remote TCP port; default 179. */
  port?: number;
  peerAs: number;
  /** Our AS toward this peer; default SpeakerConfig.localAs. */
  localAs?: number;
  type: PeerType;
  /** Families to negotiate (RFC 4760); default: the family of `address`. */
  families?: Family[];
  /** RFC 2385 TCP MD5 key. */
  password?: string;
  /** RFC 5082 GTSM: maximum hops to the peer (1 = directly connected). */
  ttlSecurity?: number;
  /** Source address of our connections. */
  sourceAddress?: string;
  /** eBGP: do not set ourselves as NEXT_HOP (Calico keepOriginalNextHop). */
  keepOriginalNextHop?: boolean;
  /** iBGP: NEXT_HOP self for routes learned over eBGP (default false). */
  nextHopSelf?: boolean;
  /** Seconds we keep this peer's routes as stale while it restarts (caps its Restart Time). */
  maxRestartTime?: number;
  /** Advertise and honour graceful restart with this peer (RFC 4724); default SpeakerConfig's. */
  gracefulRestart?: boolean;
  /** Hold time in seconds (0 or >= 3); default SpeakerConfig.holdTime or 90. */
  holdTime?: number;
  /** Seconds between dials; default SpeakerConfig.connectRetryTime or 120. */
  connectRetryTime?: number;
  /** Never dial, only accept. */
  passive?: boolean;
  /** Maximum accepted prefixes per family (RFC 4486 §4). */
  maxPrefix?: MaxPrefixSetting;
  /**
   * Import rule. Default: cluster peers (mesh, rr-*) accept only prefixes inside an enabled pool,
   * and a mesh peer only with its own address (or `nodeAddresses`) as next hop; external peers
   * accept everything.
   */
  importRule?: PeerImportRule;
  /** The peer's node addresses for the cluster next-hop rule (mesh); default [address]. */
  nodeAddresses?: string[];
  /** Only prefixes inside these CIDRs are advertised to the peer. */
  exportPrefixes?: string[];
  /** RFC 4271 §9.1.1 degree of preference for routes from this eBGP peer (default 100). */
  importLocalPref?: number;
  /** Advertise Enhanced Route Refresh (RFC 7313). Default false. */
  enhancedRouteRefresh?: boolean;
}

export interface ListenSpec {
  /** '::' (dual stack), '0.0.0.0' or a specific local address. */
  address: string;
  /** Default 179; 0 picks a free port. */
  port?: number;
}

export interface SpeakerGracefulRestartConfig {
  /** Advertise the capability and keep restarting peers' routes (default true). */
  enabled?: boolean;
  /** Restart Time we advertise, seconds (default 120, at most 4095). */
  restartTime?: number;
  /**
   * We have just restarted with our forwarding state intact (the agent found its routes in the
   * FIB): advertise the R bit and the F bits (RFC 4724 §3) and defer best-path selection and
   * FIB changes until every GR peer sent End-of-RIB or the deferral timer expires (§4.1).
   */
  restarting?: boolean;
  /** Selection_Deferral_Timer, ms (default 120 000). */
  selectionDeferralMs?: number;
  /** Upper bound on keeping stale routes once a restarted peer is back, ms (default 360 000). */
  stalePathTimeMs?: number;
}

export interface SpeakerConfig {
  localAs: number;
  /** Our BGP Identifier (dotted quad, non-zero). */
  routerId: string;
  /** Listening sockets; default [{ address: '::', port: 179 }]; [] for dial-only. */
  listen?: ListenSpec[];
  /** Our node's addresses: NEXT_HOP of our own routes and of next-hop-self (RFC 4271 §5.1.3). */
  nextHopIPv4?: string;
  nextHopIPv6?: string;
  /** RFC 2545 §3: sent with the global IPv6 next hop toward directly connected eBGP peers. */
  nextHopIPv6LinkLocal?: string;
  /** CIDRs of the enabled IP pools (cluster import rule). */
  pools: string[];
  /** Our CLUSTER_ID when we are a route reflector (RFC 4456 §7). */
  clusterId?: string | null;
  gracefulRestart?: SpeakerGracefulRestartConfig;
  /** ECMP paths (1 = off). */
  maxPaths?: number;
  /** Defaults for peers. */
  holdTime?: number;
  connectRetryTime?: number;
  /** Idle-hold backoff after a failed session, ms (default 2000 .. 120 000). */
  backoff?: { initialMs?: number; maxMs?: number; stableMs?: number };
  /** Shown by FRR (hostname capability). */
  hostname?: string;
  /** Structured log sink; default: none. */
  log?: SpeakerLog;
  /**
   * Bytes of UPDATEs a congested peer's queue may hold beyond its socket buffer (default 4 MiB).
   * Past it the peer is out of sync: it is caught up with a diff when it drains (src/speaker/outbox.ts).
   */
  outputQueueLimitBytes?: number;
  /**
   * RFC 4271 §9.1.2: resolves a path's NEXT_HOP through this host's routing state (connected
   * subnets, non-BGP routes; src/dataplane/resolver.ts); null = unresolvable, the path is not
   * eligible. Its igpCost is the §9.1.2.2 (e) tie-breaker. Default: every next hop reachable at
   * cost 0. When what it answers changes, call Speaker.nextHopsChanged().
   */
  resolveNextHop?: NextHopResolver;
  /**
   * Run a synthetic reflection workload through the RIB and codec in start(), before any peer
   * starts, so V8 has compiled the UPDATE path when the first real burst arrives — a full table
   * from a ToR after a (re)start, or every client's table at a reflector (see
   * src/speaker/warmup.ts). Once per process: ~0.3 s and ~0.6 s of CPU, then one full garbage
   * collection returns its heap; what stays is the compiled code, ~5 MiB of RSS (measured idle,
   * bench/README.md "Speaker: learning 100k prefixes", session 3). Default: on for a route
   * reflector (clusterId set) and for a speaker with a peer that may send a full table ('external',
   * e.g. a ToR, or 'rr-nonclient'), at start or when the first such peer is added; off for a node
   * that only meshes with nodes or is a reflector's client (those send cluster blocks only).
   */
  warmUp?: boolean;
}

export type SpeakerLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** One path as the views show it. */
export interface PathView {
  /** Peer name, or 'local' for our own routes. */
  peer: string;
  peerAddress: string | null;
  kind: 'local' | 'ibgp' | 'ebgp';
  nextHop: string | null;
  asPath: number[];
  origin: 'igp' | 'egp' | 'incomplete';
  localPref?: number;
  med?: number;
  /** RFC 1997 communities as "asn:value". */
  communities: string[];
  largeCommunities: string[];
  originatorId?: string;
  clusterList?: string[];
  /** RFC 4724 §4.2: kept across the peer's restart. */
  stale: boolean;
  /** ms since the epoch. */
  receivedAt: number;
}

export interface RouteView {
  family: Family;
  prefix: string;
  best: PathView;
  reason: DecisionReason;
  /** Forwarding next hops (ECMP set; [] for our own routes). */
  nextHops: string[];
  /** All candidate paths, best first. */
  paths: PathView[];
}

export interface ExplainView {
  /** The address asked about. */
  address: string;
  /** The longest matching prefix in the Loc-RIB, or null. */
  prefix: string | null;
  route: RouteView | null;
  /** Decision steps that removed candidates, in order, with the peers removed. */
  eliminated: { step: string; peers: string[] }[];
  ineligible: { peer: string; why: string }[];
}

/** One Loc-RIB change for the dataplane (reported after selection deferral). */
export interface RouteChange {
  family: Family;
  prefix: string;
  /** The destination has no best path any more: remove it from the FIB. */
  withdrawn: boolean;
  /** Our own route (the node's block): the dataplane installs nothing for it. */
  local: boolean;
  /** Best path's peer name, 'local', or null when withdrawn. */
  peer: string | null;
  /** Forwarding next hops of the multipath set, best first. */
  nextHops: string[];
  /** The best path's attributes; null when withdrawn. */
  best: PathView | null;
}

export interface RouteChangeBatch {
  changes: RouteChange[];
}

export interface FamilyCounts {
  /** In the Adj-RIB-In (accepted + rejected). */
  received: number;
  accepted: number;
  rejected: number;
  stale: number;
  /** In our Adj-RIB-Out toward the peer. */
  advertised: number;
}

export interface PeerCapabilitiesView {
  peerId: string;
  peerAs: number;
  internal: boolean;
  holdTime: number;
  keepaliveTime: number;
  families: Family[];
  as4: boolean;
  routeRefresh: boolean;
  enhancedRouteRefresh: boolean;
  extendedMessage: boolean;
  addPathReceive: Family[];
  addPathSend: Family[];
  gracefulRestart: { restartTime: number; restarting: boolean; notification: boolean; families: { family: Family; forwardingPreserved: boolean }[] } | null;
  peerHostname: string | null;
}

export interface PeerStatusView {
  name: string;
  address: string;
  port: number;
  asn: number;
  localAs: number;
  type: PeerType;
  state: string;
  /** When `state` was entered, ms since the epoch. */
  since: number;
  lastError: string | null;
  /** Local/remote TCP endpoints of the Established session. */
  localAddress: string | null;
  messagesIn: number;
  messagesOut: number;
  updatesIn: number;
  updatesOut: number;
  flaps: number;
  families: Record<Family, FamilyCounts>;
  /** Rejections by import policy, by reason (current). */
  rejected: Record<string, number>;
  capabilities: PeerCapabilitiesView | null;
  gracefulRestart: {
    enabled: boolean;
    /** Families whose routes we keep as stale for this peer. */
    staleFamilies: Family[];
    /** When the stale routes go if nothing else happens, ms since the epoch. */
    staleUntil: number | null;
    endOfRibReceived: Family[];
    endOfRibSent: boolean;
  };
  /** Set while a family is over its max-prefix limit. */
  maxPrefixExceeded: { family: Family; limit: number; count: number } | null;
}

/**
 * What Speaker.onPeerEvent reports, for metrics (the listener counts; nothing is rate-limited).
 *  - notification-sent / -received: a NOTIFICATION ended an Established session (RFC 4271 §6.1,
 *    §8.2.2). `code`/`subcode` are as on the wire: a Hard Reset (RFC 8538 §3) is Cease/9, with
 *    the reason it wraps in `hardResetOf`.
 *  - route-rejected: import policy refused an announced path (DESIGN.md cluster rule, RFC 4271
 *    §9.1.2 loops, RFC 4456 §8), on arrival or when soft reconfiguration re-ran import.
 */
export type SpeakerPeerEvent =
  | {
    peer: string;
    kind: 'notification-sent' | 'notification-received';
    code: number;
    subcode: number;
    hardResetOf?: { code: number; subcode: number };
  }
  | { peer: string; kind: 'route-rejected'; reason: string; prefix: string; family: Family };

/** A configuration the speaker cannot run with, naming the field. */
export class SpeakerConfigError extends Error {
  constructor(readonly field: string, message: string, readonly peer?: string) {
    super(`${peer ? `peer ${peer}: ` : ''}${field}: ${message}`);
    this.name = 'SpeakerConfigError';
  }
}

/** An operation on a peer the speaker does not have. */
export class UnknownPeerNameError extends Error {
  constructor(readonly peer: string, readonly operation: string) {
    super(`${operation}: no peer named '${peer}'`);
    this.name = 'UnknownPeerNameError';
  }
}
