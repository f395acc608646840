// Plain-JSON snapshots of the agent's state, as they travel over the control socket to
// `nexthop status`, `nexthop routes` and `nexthop explain`, and as the metrics collector reads
// them at scrape time. The agent fills them from the speaker (sessions, RIB) and the dataplane
// (FIB); status-format.ts renders them. Only data here: no classes, no Dates (times are ms since
// the epoch), so a snapshot survives JSON.stringify/parse unchanged.
//
// Vocabulary: RFC 4271 §8.2.2 session states, RFC 4456 route reflection roles, RFC 4724
// graceful restart, RFC 4760 address families.

/** RFC 4271 §8.2.2 session states. */
export type PeerState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export const PEER_STATES: readonly PeerState[] = ['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'];

/**
 * Why we have this session (what `calicoctl node status` calls the peer type):
 * - mesh: node-to-node full mesh (or an explicit BGPPeer between two ordinary nodes);
 * - rr-server: the peer is a route reflector and we are its client (RFC 4456);
 * - rr-client: we are a route reflector and the peer is our client (RFC 4456 §6);
 * - rr-nonclient: both ends are reflectors (RFC 4456 §6 non-client);
 * - global: an external router from a BGPPeer that applies to every node;
 * - node-specific: an external router (typically the rack's ToR) from a BGPPeer with
 *   `node` or `nodeSelector`.
 */
export type PeerType = 'mesh' | 'rr-server' | 'rr-client' | 'rr-nonclient' | 'global' | 'node-specific';

export const PEER_TYPES: readonly PeerType[] = ['mesh', 'rr-server', 'rr-client', 'rr-nonclient', 'global', 'node-specific'];

/** Address family in the snapshots (RFC 4760 AFI/SAFI). */
export type StatusFamily = 'ipv4-unicast' | 'ipv6-unicast';

export interface PrefixCounts {
  /** Prefixes in the Adj-RIB-In (RFC 4271 §3.2), before import policy. */
  received: number;
  /** Of those, accepted by import policy (inside an enabled pool, next hop checked). */
  accepted: number;
  /** Prefixes in our Adj-RIB-Out towards this peer. */
  advertised: number;
}

export interface PeerGracefulRestart {
  /** The peer advertised the RFC 4724 capability. */
  peerCapable: boolean;
  /** The peer is restarting now: its routes are kept as stale (RFC 4724 §4.2). */
  restarting: boolean;
  /** When the restart timer for the peer's stale routes ends, ms since the epoch. */
  staleUntil?: number;
  /** Families whose stale routes we still keep. */
  staleFamilies?: StatusFamily[];
}

export interface PeerStatus {
  /** Stable session name, e.g. "node/node-b/v4" or "peer/10.0.0.1". */
  name: string;
  /** The peer's address (IPv4 or IPv6 text), as dialled / accepted. */
  address: string;
  /** TCP port when not 179. */
  port?: number;
  /** Peer's AS number. */
  asn: number;
  type: PeerType;
  /** The remote cluster node's name, for cluster peers. */
  node?: string;
  state: PeerState;
  /** When `state` was entered, ms since the epoch. */
  since: number;
  /**
   * One line on the current condition, BIRD-style: "Established", "Active: Connection refused",
   * "OpenSent", "Idle: waiting 30s before reconnecting"...
   */
  info: string;
  /** The last reason the session went down or failed, e.g. "Hold timer expired (sent NOTIFICATION 4/0)". */
  lastError?: string;
  /** When `lastError` happened, ms since the epoch. */
  lastErrorAt?: number;
  /** Summed over families. */
  prefixes: PrefixCounts;
  /** Per family, when the session carries more than one. */
  families?: Partial<Record<StatusFamily, PrefixCounts>>;
  /** BGP messages (all types) received / sent since the agent started. */
  messages: { in: number; out: number };
  /** UPDATE messages received / sent since the agent started. */
  updates?: { in: number; out: number };
  /** Negotiated capabilities, readable ("4-octet AS", "route refresh", "graceful restart", "add-path rx ipv4-unicast"...). */
  capabilities: string[];
  gracefulRestart?: PeerGracefulRestart;
  /** Where the session comes from, e.g. ["BGPPeer/rack-1-tor"]. */
  source?: string[];
  /** The session is wanted by the configuration (false while it is being removed). */
  desired?: boolean;
}

/** The answer of the 'status' control method. */
export interface AgentStatus {
  node: string;
  version: string;
  /** ms since the epoch. */
  startedAt: number;
  /** Local AS and router id. */
  asn: number;
  routerId: string;
  /** The node's own blocks (e.g. ["10.244.3.0/24"]). */
  blocks: string[];
  datastore: { kind: 'etcd' | 'file'; endpoint: string; connected: boolean; lastError?: string };
  peers: PeerStatus[];
  /** Whether /readyz answers 200, and the reasons when not. */
  ready: boolean;
  notReady?: string[];
  /** Time the snapshot was taken, ms since the epoch (durations are computed against it). */
  now: number;
}

/** The best path for a prefix in the Loc-RIB (RFC 4271 §9.1.2). */
export interface BestPathStatus {
  /** Session name or address of the peer it was learned from; "local" for our own block. */
  peer: string;
  nextHop: string;
  /** AS_PATH as text, e.g. "64512 65001" ("" for an iBGP route with an empty path). */
  asPath: string;
  /** Why this path won (RFC 4271 §9.1.2.2 step), e.g. "only path", "shortest AS_PATH", "lowest router id". */
  reason: string;
  /** Other peers whose paths are installed as ECMP alongside (multipath). */
  multipath: string[];
  /** Other candidate paths that lost, with the step they lost at. */
  alternatives?: { peer: string; nextHop: string; lostBecause: string }[];
  /** The route is kept as stale through a peer's graceful restart (RFC 4724 §4.2). */
  stale?: boolean;
}

/** How the dataplane has (or has not) programmed a prefix. */
export type FibState = 'in-sync' | 'missing' | 'extra' | 'differs' | 'skipped';

export interface FibStatus {
  /** Next-hop addresses of the kernel route (several for ECMP); empty for a blackhole. */
  nexthops: string[];
  /** Output device, e.g. "eth0", "tunl0", "vxlan.nexthop". */
  dev?: string;
  onlink: boolean;
  tunnel: 'none' | 'ipip' | 'vxlan';
  /** rtm_protocol name or number of the kernel route ("nexthop", "bird", "kernel"...). */
  protocol: string;
  /** Route type when not unicast ("blackhole" for our own block). */
  routeType?: string;
  /**
   * in-sync: kernel has what the RIB wants; missing: wanted, absent; extra: in the kernel with
   * our protocol but no longer wanted; differs: present but with other next hops;
   * skipped: not installed on purpose (see `note`).
   */
  state: FibState;
  /** Why a route was skipped or differs, e.g. "next hop 10.1.0.5 not reachable and encapsulation off". */
  note?: string;
}

export interface RouteStatus {
  prefix: string;
  family: StatusFamily;
  best?: BestPathStatus;
  fib?: FibStatus;
}

/** The answer of the 'routes' control method. */
export interface RoutesStatus {
  node: string;
  routes: RouteStatus[];
  now: number;
}

/** The answer of the 'explain' control method: how traffic to one address leaves this node. */
export interface ExplainResult {
  /** The address asked about. */
  address: string;
  /** The pool it falls in, if any, with the pool's encapsulation modes. */
  pool?: { name: string; cidr: string; ipipMode: string; vxlanMode: string; natOutgoing: boolean };
  /** The block (longest matching RIB prefix) it falls in, and the node that owns it. */
  block?: string;
  owner?: { node?: string; address: string; local: boolean };
  /** The route carrying it, from the RIB's point of view. */
  route?: RouteStatus;
  /** The kernel's own answer (`ip route get`), when the agent asked it. */
  kernel?: { dev?: string; via?: string; src?: string; table?: string };
  /** Why the dataplane chose direct / IPIP / VXLAN: e.g. "10.0.1.12 is on eth0's subnet 10.0.1.0/24". */
  decision?: string;
  /** Things that are wrong along the way, e.g. "session to node-c is Active: Connection refused". */
  problems: string[];
}
