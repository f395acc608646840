// Pure mapping from the cluster layer's view to what the speaker and the dataplane take: the
// node's own identity (AS, router id, addresses, reflector cluster id), the dataplane's
// ClusterView (pools, node endpoints with blocks and VXLAN endpoints), the speaker's PeerConfig
// for each DesiredPeer, the agent-written VTEP fields, and the convergence / coverage sets the
// make-before-break planner (src/cluster/peers.ts) needs. No I/O.
//
// Also the mapping of a desired-peer change onto the speaker's live-reconfiguration API
// (planPeerOperations: which sessions to add, which to change with Speaker.updatePeer, which to
// remove), the speaker settings that change live (pools, cluster id) versus those that need a
// speaker restart (AS, router id, addresses, listen port), and the communities our own blocks
// carry (BGPConfiguration.communities).
//
// RFC 4271 §4.2 (BGP Identifier), RFC 6286 §2.1 (router id: a non-zero 32-bit value), RFC 4456
// §7 (CLUSTER_ID), RFC 4724 §2 (End-of-RIB as the convergence signal), RFC 7348 (VXLAN VTEP),
// RFC 1997 / RFC 8092 (standard / large communities).

import type { ClusterView as ClusterStateView, NodeView, PoolView } from '../cluster/state';
import { effectiveConfig, poolsForNode } from '../cluster/state';
import { planPeerTransition, type DesiredPeer, type PeerChange as DesiredPeerChange, type TransitionOptions } from '../cluster/peers';
import type { Resource, NodeStatusFields } from '../cluster/resources';
import type { ClusterView as DataplaneClusterView } from '../dataplane/dataplane';
import type { PeerConfig, PeerStatusView, RouteView } from '../speaker/types';
import { vtepMacFor } from '../dataplane/tunnels';
import { parseCidr, formatIP, cidrContains, canonicalIP } from '../lib/ip';

/** Why the agent cannot start (or apply a change): names the node and the field or resource. */
export class AgentConfigError extends Error {
  constructor(readonly code: 'UNKNOWN_NODE' | 'NO_ADDRESS' | 'NO_ROUTER_ID' | 'NO_BLOCK' | 'IPIP_UNSUPPORTED' | 'DATASTORE' | 'DATAPLANE' | 'LISTEN' | 'START_ABANDONED',
    readonly node: string, readonly field: string, detail: string) {
    super(`node ${node}: ${field}: ${detail}`);
    this.name = 'AgentConfigError';
  }
}

/**
 * A start that failed after it began changing the host: carries the failure, what was undone
 * (only what this start created; a previous run's state is adopted and kept) and what could not be.
 */
export class AgentStartError extends AgentConfigError {
  constructor(node: string, readonly step: string, readonly failure: Error, readonly undone: string[], readonly notUndone: string[]) {
    super('START_ABANDONED', node, step, `${failure.message}; start abandoned, ${undone.length > 0 ? `undid what it changed: ${undone.join(', ')}` : 'it had changed nothing on the host'}`
      + (notUndone.length > 0 ? `; NOT undone: ${notUndone.join('; ')}` : ''));
    this.name = 'AgentStartError';
  }
}

function stripLen(a: string): string {
  const i = a.indexOf('/');
  return i < 0 ? a : a.slice(0, i);
}

/** The node's identity as the speaker needs it. */
export interface NodeIdentity {
  node: NodeView;
  asNumber: number;
  routerId: string;
  ipv4?: string;
  ipv6?: string;
  clusterId?: string;
  listenPort: number;
}

/**
 * This node's identity from the cluster view; throws AgentConfigError when the Node resource is
 * missing, has no address, or has no IPv4 address to take the router id from.
 */
export function nodeIdentity(view: ClusterStateView, nodeName: string, flags: { routerId?: string; listenPort?: number }, description: string): NodeIdentity {
  const node = view.nodes.find((n) => n.name === nodeName);
  if (!node) {
    const known = view.nodes.map((n) => n.name);
    throw new AgentConfigError('UNKNOWN_NODE', nodeName, 'Node', `no Node resource named ${nodeName} in ${description} (nodes: ${known.join(', ') || 'none'})`);
  }
  if (!node.ipv4Address && !node.ipv6Address) {
    throw new AgentConfigError('NO_ADDRESS', nodeName, 'spec.bgp.ipv4Address', 'the Node has neither spec.bgp.ipv4Address nor spec.bgp.ipv6Address; the agent needs its underlay address');
  }
  const ipv4 = node.ipv4Address ? stripLen(node.ipv4Address) : undefined;
  const ipv6 = node.ipv6Address ? stripLen(node.ipv6Address) : undefined;
  // RFC 6286 §2.1: the BGP Identifier is a 32-bit value; by convention the node's IPv4 address.
  const routerId = flags.routerId ?? ipv4;
  if (!routerId) throw new AgentConfigError('NO_ROUTER_ID', nodeName, '--router-id', 'the node has no IPv4 address to use as BGP identifier; give --router-id A.B.C.D');
  const cfg = effectiveConfig(view.resources, nodeName);
  const own = view.resources.find((r) => r.kind === 'Node' && r.metadata.name === nodeName);
  const asNumber = (own?.kind === 'Node' ? own.spec.bgp?.asNumber : undefined) ?? cfg.asNumber;
  return {
    node, asNumber, routerId, ipv4, ipv6,
    clusterId: node.routeReflectorClusterId,
    listenPort: flags.listenPort ?? cfg.listenPort,
  };
}

/** The enabled pools that select this node. */
export function nodePools(view: ClusterStateView, node: NodeView): PoolView[] {
  return poolsForNode(view.pools, node.labels);
}

/**
 * The agent-written fields this node should publish: its VXLAN tunnel endpoints (RFC 7348 §4,
 * the VTEP's inner address and MAC), one per overlay family, as Calico names them.
 *  - IPv4 (ipv4VXLANTunnelAddr, vxlanTunnelMACAddr) when an IPv4 pool that selects the node has
 *    vxlanMode Always or CrossSubnet;
 *  - IPv6 (ipv6VXLANTunnelAddr, vxlanTunnelMACAddrV6) when an IPv6 pool that selects it does, and
 *    the node has an IPv6 address (spec.bgp.ipv6Address: the outer source of the IPv6 overlay,
 *    device vxlan6.nexthop).
 * The VTEP address is the network address of the node's block of that family in such a pool:
 * an address of the overlay, as Calico's (it allocates ipv4/ipv6VXLANTunnelAddr from the VXLAN
 * pool's IPAM blocks, calico/node allocateip.go) and flannel's (the subnet's network address for
 * both its v4 and v6 VTEPs) - host-local never hands it to a pod, and other nodes already route
 * the block to us. The MACs are derived from the node name (stable across restarts), distinct
 * per family (vtepMacFor). A family without such a pool (or block) gets null: clear the fields.
 */
export function desiredNodeStatus(view: ClusterStateView, node: NodeView, ownBlocks: readonly string[]): { [K in keyof NodeStatusFields]?: string | null } {
  const vtepFor = (family: 4 | 6): string | null => {
    if (family === 6 && !node.ipv6Address) return null;
    for (const p of nodePools(view, node).filter((x) => x.family === family && x.vxlanMode !== 'Never')) {
      const pool = parseCidr(p.cidr)!;
      const block = ownBlocks.map((b) => parseCidr(b)).find((c) => c !== null && c.family === family && cidrContains(pool, c));
      if (block) return formatIP(block.bytes);
    }
    return null;
  };
  const v4 = vtepFor(4);
  const v6 = vtepFor(6);
  return {
    ipv4VXLANTunnelAddr: v4,
    vxlanTunnelMACAddr: v4 ? vtepMacFor(node.name, 4) : null,
    ipv6VXLANTunnelAddr: v6,
    vxlanTunnelMACAddrV6: v6 ? vtepMacFor(node.name, 6) : null,
  };
}

/** Applies our own published fields to our NodeView (the watch may not have delivered them yet). */
export function withOwnStatus(view: ClusterStateView, nodeName: string, status: { [K in keyof NodeStatusFields]?: string | null }): ClusterStateView {
  return {
    ...view,
    nodes: view.nodes.map((n) => {
      if (n.name !== nodeName) return n;
      const m = { ...n };
      for (const [k, v] of Object.entries(status) as [keyof NodeStatusFields, string | null | undefined][]) {
        if (v === null) delete m[k];
        else if (v !== undefined) m[k] = v;
      }
      return m;
    }),
  };
}

/** The dataplane's cluster view: pools, every node's endpoints and blocks, our own blocks. */
export function dataplaneView(view: ClusterStateView, nodeName: string, ownBlocks: readonly string[]): DataplaneClusterView {
  return {
    nodeName,
    pools: view.pools.map((p) => ({ cidr: p.cidr, ipipMode: p.ipipMode, vxlanMode: p.vxlanMode, natOutgoing: p.natOutgoing, disabled: p.disabled })),
    nodes: view.nodes.map((n) => strip({
      name: n.name,
      ipv4Address: n.ipv4Address,
      ipv6Address: n.ipv6Address,
      ipv4VXLANTunnelAddr: n.ipv4VXLANTunnelAddr,
      vxlanTunnelMACAddr: n.vxlanTunnelMACAddr,
      ipv6VXLANTunnelAddr: n.ipv6VXLANTunnelAddr,
      vxlanTunnelMACAddrV6: n.vxlanTunnelMACAddrV6,
      ipv4IPIPTunnelAddr: n.ipv4IPIPTunnelAddr,
      blocks: n.name === nodeName ? [...ownBlocks] : n.blocks,
    })),
    ownBlocks: [...ownBlocks],
  };
}

function strip<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** The speaker's PeerConfig for a desired session. */
export function peerConfigFor(d: DesiredPeer): PeerConfig {
  return strip<PeerConfig>({
    name: d.name,
    address: d.peerAddress,
    port: d.peerPort,
    peerAs: d.peerAsn,
    localAs: d.localAsn,
    type: d.kind,
    password: d.password,
    ttlSecurity: d.ttlSecurity,
    sourceAddress: d.sourceAddress,
    keepOriginalNextHop: d.keepOriginalNextHop || undefined,
    maxRestartTime: d.maxRestartTime,
  });
}

/**
 * Sessions that have converged: Established and End-of-RIB received for every family they
 * carry (RFC 4724 §2), or Established without graceful restart negotiated (no End-of-RIB is
 * promised then; RFC 4724 §4: a speaker SHOULD send it anyway, so we wait for it when GR is on).
 */
export function convergedPeers(statuses: readonly PeerStatusView[]): Set<string> {
  const out = new Set<string>();
  for (const s of statuses) {
    if (s.state !== 'Established') continue;
    const fams = s.capabilities?.families ?? [];
    const eor = new Set(s.gracefulRestart.endOfRibReceived);
    if (!s.capabilities?.gracefulRestart || fams.every((f) => eor.has(f))) out.add(s.name);
  }
  return out;
}

/**
 * Sessions every route of which is also learned over a session in `staying` (so removing them
 * loses nothing). Computed from the candidate paths of the Loc-RIB.
 */
export function coveredPeers(routes: readonly RouteView[], current: readonly string[], staying: ReadonlySet<string>): Set<string> {
  const uncovered = new Set<string>();
  for (const r of routes) {
    const peers = new Set(r.paths.map((p) => p.peer));
    const keptElsewhere = [...peers].some((p) => staying.has(p) || p === 'local');
    if (!keptElsewhere) for (const p of peers) uncovered.add(p);
  }
  return new Set(current.filter((n) => !uncovered.has(n)));
}

/** The enabled pools' CIDRs (the speaker's import rule for cluster peers). */
export function enabledPoolCidrs(resources: readonly Resource[]): string[] {
  return resources.filter((r) => r.kind === 'IPPool' && !r.spec.disabled).map((r) => (r.kind === 'IPPool' ? r.spec.cidr : ''));
}

// ---------------------------------------------------------------------------------------------
// Desired-peer changes onto the speaker's live-reconfiguration API.

/** What identifies one BGP session on the wire: the speaker runs at most one per peer address. */
function sessionKey(d: DesiredPeer): string {
  return `${d.family}|${canonicalIP(d.peerAddress) ?? d.peerAddress}`;
}

/**
 * `desired` with each session that the cluster now names differently from the live session to
 * the same peer (same address and family; the speaker runs one session per address, so a
 * second one could never be added beside it) renamed to the live session's name. The session
 * then goes through the planner as a change of the live peer (Speaker.updatePeer: in place for
 * a role or policy change, a graceful or hard reset when the AS, port or key differs) instead
 * of an add that cannot happen before the removal that waits for it. Pure; stable for a given
 * input, so it can be applied again on every datastore change and every transition step.
 */
export function aliasLivePeers(running: readonly DesiredPeer[], desired: readonly DesiredPeer[]): DesiredPeer[] {
  const desiredNames = new Set(desired.map((d) => d.name));
  const runningNames = new Set(running.map((r) => r.name));
  // Live sessions the desired set no longer names, by session key.
  const orphans = new Map<string, DesiredPeer>();
  for (const r of running) if (!desiredNames.has(r.name)) orphans.set(sessionKey(r), r);
  return desired.map((d) => {
    if (runningNames.has(d.name)) return d;
    const live = orphans.get(sessionKey(d));
    if (!live) return d;
    orphans.delete(sessionKey(d));
    return { ...d, name: live.name };
  });
}

/** One live peer to reconfigure with Speaker.updatePeer. */
export interface PeerUpdate {
  /** The speaker's name of the session (the live one). */
  name: string;
  config: PeerConfig;
  /** DesiredPeer fields that differ. */
  fields: (keyof DesiredPeer)[];
  /** The cluster layer's view: the session itself (address, AS, key, GTSM, source) changes. */
  reset: boolean;
  before: DesiredPeer;
  after: DesiredPeer;
}

/** What the agent does to the speaker in one step of a peer-set change. */
export interface PeerOperations {
  /** `desired` with live names kept for renamed sessions (aliasLivePeers): the set to keep as desired. */
  desired: DesiredPeer[];
  /** New sessions: Speaker.addPeer (make-before-break: before anything is removed). */
  add: DesiredPeer[];
  /** Live sessions whose configuration changed: Speaker.updatePeer, never remove + add. */
  update: PeerUpdate[];
  /** Sessions to end now: Speaker.removePeer. */
  remove: DesiredPeer[];
  /** Something waits for convergence (a removal or a session reset): look again later. */
  pending: boolean;
}

/**
 * Maps the move from the sessions the speaker runs (`running`) toward `desired` onto speaker
 * calls, through the make-before-break planner (src/cluster/peers.ts planPeerTransition):
 * a session whose address and family stay is never removed and added again, it is updated —
 * in place when only its role (mesh → rr-client / rr-server, RFC 4456 §6) or local policy
 * changed, with a reset (graceful RFC 8538 / RFC 4724, or hard) decided by the speaker when
 * the OPEN or the TCP connection changes; the reset of such sessions waits until every other
 * desired session has converged (RFC 4724 §2 End-of-RIB). Genuinely new sessions are added
 * first; sessions no longer wanted go once the rest converged and their routes are covered.
 */
export function planPeerOperations(running: readonly DesiredPeer[], desired: readonly DesiredPeer[],
  converged: ReadonlySet<string>, options: TransitionOptions = {}): PeerOperations {
  const aliased = aliasLivePeers(running, desired);
  const plan = planPeerTransition(running, aliased, converged, options);
  const update = (c: DesiredPeerChange): PeerUpdate => ({
    name: c.after.name, config: peerConfigFor(c.after), fields: c.fields, reset: c.needsReset, before: c.before, after: c.after,
  });
  return {
    desired: aliased,
    add: plan.add,
    update: [...plan.update, ...plan.resetNow].map(update),
    remove: plan.removeNow,
    pending: plan.removeAfterConverged.length + plan.resetAfterConverged.length > 0,
  };
}

/** The speaker settings that only a new speaker can take (RFC 4271 §4.2 OPEN: AS, identifier; next hops; listener). */
export function speakerRestartKey(id: NodeIdentity): string {
  return JSON.stringify([id.asNumber, id.routerId, id.ipv4 ?? null, id.ipv6 ?? null, id.listenPort]);
}

/** Communities our own blocks carry, from BGPConfiguration.communities (values as on the wire). */
export interface BlockCommunities {
  communities: number[];
  largeCommunities: [number, number, number][];
}

/**
 * The communities to attach to the node's own blocks: every community of the BGPConfiguration
 * that applies to the node ('node.<name>' over 'default'), in order, duplicates dropped. A
 * standard community AA:NN (RFC 1997 §3) is the 32-bit value AA * 65536 + NN; a large one
 * GA:LD1:LD2 (RFC 8092 §3) three 32-bit values. The resource layer validated the formats; a
 * value out of range here is skipped (never thrown: it cannot stop the agent).
 */
export function ownBlockCommunities(resources: readonly Resource[], nodeName: string): BlockCommunities {
  const out: BlockCommunities = { communities: [], largeCommunities: [] };
  const seen = new Set<string>();
  for (const c of effectiveConfig(resources, nodeName).communities) {
    const parts = c.value.split(':');
    if (!parts.every((p) => /^\d+$/.test(p))) continue;
    const n = parts.map(Number);
    if (n.length === 2 && n.every((x) => x <= 0xffff)) {
      const v = (n[0] * 0x10000 + n[1]) >>> 0;
      if (!seen.has(`s${v}`)) { seen.add(`s${v}`); out.communities.push(v); }
    } else if (n.length === 3 && n.every((x) => x <= 0xffffffff)) {
      const k = `l${n.join(':')}`;
      if (!seen.has(k)) { seen.add(k); out.largeCommunities.push([n[0], n[1], n[2]]); }
    }
  }
  return out;
}
