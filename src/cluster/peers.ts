// Desired BGP sessions of one node, derived from the cluster resources with Calico's semantics:
// the node-to-node full mesh (BGPConfiguration nodeToNodeMeshEnabled, default true), route
// reflector sessions (nodes with spec.bgp.routeReflectorClusterID are reflectors; BGPPeer
// nodeSelector/peerSelector pick which nodes peer with which, in both directions), and global
// or per-node external peers (ToR routers) with their AS, TCP MD5 password, GTSM hop count,
// source address, next-hop handling and graceful-restart time. Plus the diff of two session
// sets and a make-before-break planner for changing them on a live node. Pure.
//
// RFC 4456 (route reflection: client / non-client roles, CLUSTER_ID), RFC 4271 §9.1.3
// (iBGP routes are not re-advertised to iBGP peers without reflection), RFC 2385 (TCP MD5),
// RFC 5082 (GTSM), RFC 4724 (graceful restart, End-of-RIB as the convergence signal).

import { Resource, NodeResource, BGPPeer, BGPPeerSpec, DEFAULT_BGP_PORT } from './resources';
import { effectiveConfig } from './state';
import { selectorMatches } from './selector';
import { parseIP, canonicalIP } from '../lib/ip';

/**
 * - mesh: plain node-to-node session (full mesh, or an explicit BGPPeer between two
 *   non-reflectors); routes learned over it are not re-advertised to iBGP peers (RFC 4271 §9.1.3).
 * - rr-client: we are a reflector and the peer is our client (RFC 4456 §6).
 * - rr-server: the peer is a reflector and we are its client.
 * - rr-nonclient: both ends are reflectors (same or different cluster ID) - RFC 4456 §6 non-client.
 * - external: a peer that is not a cluster node (ToR, other router), by peerIP.
 */
export type PeerKind = 'mesh' | 'rr-client' | 'rr-server' | 'rr-nonclient' | 'external';

export interface DesiredPeer {
  /** Stable id: "node/<name>/v4", "node/<name>/v6" for cluster nodes, "peer/<ip>[:port]" otherwise. */
  name: string;
  family: 4 | 6;
  peerAddress: string;
  peerPort: number;
  peerAsn: number;
  localAsn: number;
  kind: PeerKind;
  /** The remote node's name when the peer is a cluster node. */
  peerNode?: string;
  /** RFC 4456 §7 CLUSTER_ID to use, set when the local node is a reflector. */
  routeReflectorClusterId?: string;
  /** TCP MD5 key (RFC 2385). */
  password?: string;
  /** GTSM: maximum hop count to the peer (RFC 5082). */
  ttlSecurity?: number;
  /** Local address to bind the session to; undefined = let the kernel choose. */
  sourceAddress?: string;
  /** Do not rewrite NEXT_HOP to ourselves when advertising to this (eBGP) peer. */
  keepOriginalNextHop: boolean;
  /** Seconds to keep this peer's routes while it restarts (RFC 4724 §4.2); undefined = speaker default. */
  maxRestartTime?: number;
  /** Where the session came from, e.g. ["BGPConfiguration/default (node-to-node mesh)", "BGPPeer/rr-clients"]. */
  source: string[];
}

const MESH_SOURCE = 'BGPConfiguration/default (node-to-node mesh)';

function addressOf(n: NodeResource, family: 4 | 6): string | undefined {
  const a = family === 4 ? n.spec.bgp?.ipv4Address : n.spec.bgp?.ipv6Address;
  return a ? a.slice(0, a.indexOf('/')) : undefined;
}

function familyOf(ip: string): 4 | 6 {
  return parseIP(ip)!.length === 4 ? 4 : 6;
}

/** True when BGPPeer `p` applies to (is configured on) node `n`: its node / nodeSelector, or global. */
function appliesTo(p: BGPPeer, n: NodeResource): boolean {
  if (p.spec.node !== undefined) return p.spec.node === n.metadata.name;
  if (p.spec.nodeSelector !== undefined) return selectorMatches(p.spec.nodeSelector, n.metadata.labels);
  return true;
}

/**
 * The exact set of sessions node `nodeName` should have, sorted by name. Empty when the node has
 * no Node resource or no BGP address. Deterministic: the same resources give the same result.
 */
export function desiredPeers(nodeName: string, resources: readonly Resource[]): DesiredPeer[] {
  const nodes = resources.filter((r): r is NodeResource => r.kind === 'Node').sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  const local = nodes.find((n) => n.metadata.name === nodeName);
  if (!local || !local.spec.bgp || (!local.spec.bgp.ipv4Address && !local.spec.bgp.ipv6Address)) return [];
  const globalCfg = effectiveConfig(resources);
  const localCfg = effectiveConfig(resources, nodeName);
  const asnOf = (n: NodeResource) => n.spec.bgp?.asNumber ?? (n === local ? localCfg.asNumber : globalCfg.asNumber);
  const localAsn = asnOf(local);
  const localRR = local.spec.bgp.routeReflectorClusterID;
  const portOf = (n: NodeResource) => effectiveConfig(resources, n.metadata.name).listenPort;

  const out = new Map<string, DesiredPeer>();

  /** Role of a node-to-node session from the two ends' reflector status (RFC 4456 §6). */
  const classify = (remote: NodeResource, peerAsn: number): PeerKind => {
    // Route reflection exists only inside one AS (RFC 4456 §1): eBGP between nodes is plain.
    if (peerAsn !== localAsn) return 'mesh';
    const remoteRR = remote.spec.bgp?.routeReflectorClusterID;
    if (localRR && remoteRR) return 'rr-nonclient';
    if (localRR) return 'rr-client';
    if (remoteRR) return 'rr-server';
    return 'mesh';
  };

  const sourceAddressFor = (spec: BGPPeerSpec | undefined, family: 4 | 6): string | undefined => {
    const s = spec?.sourceAddress ?? 'UseNodeIP';
    if (s === 'None') return undefined;
    if (s === 'UseNodeIP') return addressOf(local, family);
    return familyOf(s) === family ? s : undefined;
  };

  const put = (p: DesiredPeer, explicit: boolean): void => {
    const prev = out.get(p.name);
    if (!prev) { out.set(p.name, p); return; }
    const source = [...new Set([...prev.source, ...p.source])].sort();
    // An explicit BGPPeer is more specific than the mesh; between two explicit peers the first
    // (by resource name) keeps its settings.
    if (explicit && prev.source.every((s) => s === MESH_SOURCE)) out.set(p.name, { ...p, source });
    else prev.source = source;
  };

  const nodeSession = (remote: NodeResource, family: 4 | 6, spec: BGPPeerSpec | undefined, source: string, explicit: boolean): void => {
    const peerAddress = addressOf(remote, family);
    if (!peerAddress || !addressOf(local, family) || remote === local) return;
    // A BGPPeer's own asNumber (peerIP form) wins over the node's, as in Calico.
    const peerAsn = spec?.asNumber ?? asnOf(remote);
    const kind = explicit ? classify(remote, peerAsn) : 'mesh';
    const rrId = localRR && (kind === 'rr-client' || kind === 'rr-nonclient') ? localRR : undefined;
    put(strip({
      name: `node/${remote.metadata.name}/v${family}`,
      family,
      peerAddress,
      peerPort: spec?.peerPort ?? portOf(remote),
      peerAsn,
      localAsn,
      kind,
      peerNode: remote.metadata.name,
      routeReflectorClusterId: rrId,
      password: spec?.password,
      ttlSecurity: spec?.ttlSecurity,
      sourceAddress: sourceAddressFor(spec, family),
      keepOriginalNextHop: spec?.keepOriginalNextHop ?? false,
      // Mesh sessions take Calico's nodeMeshMaxRestartTime (RFC 4724 §3 Restart Time); an
      // explicit BGPPeer only its own maxRestartTime.
      maxRestartTime: explicit ? spec?.maxRestartTime : globalCfg.nodeMeshMaxRestartTime,
      source: [source],
    }), explicit);
  };

  // 1. The node-to-node mesh: every other node with an address of the same family.
  if (globalCfg.nodeToNodeMeshEnabled) {
    for (const remote of nodes) for (const fam of [4, 6] as const) nodeSession(remote, fam, undefined, MESH_SOURCE, false);
  }

  // 2. Explicit BGPPeers, in name order.
  const bgpPeers = resources.filter((r): r is BGPPeer => r.kind === 'BGPPeer').sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  const byAddress = new Map<string, NodeResource>();
  for (const n of nodes) for (const fam of [4, 6] as const) { const a = addressOf(n, fam); if (a) byAddress.set(a, n); }
  for (const p of bgpPeers) {
    const source = `BGPPeer/${p.metadata.name}`;
    if (p.spec.peerIP !== undefined) {
      if (!appliesTo(p, local)) continue;
      const ip = canonicalIP(p.spec.peerIP)!;
      const family = familyOf(ip);
      const asNode = byAddress.get(ip);
      if (asNode === local) continue; // a node never peers with itself
      if (asNode) { nodeSession(asNode, family, p.spec, source, true); continue; }
      if (!addressOf(local, family)) continue; // no address of that family to peer from
      const peerAsn = p.spec.asNumber!;
      put(strip({
        name: p.spec.peerPort ? `peer/${family === 6 ? `[${ip}]` : ip}:${p.spec.peerPort}` : `peer/${ip}`,
        family,
        peerAddress: ip,
        peerPort: p.spec.peerPort ?? DEFAULT_BGP_PORT,
        peerAsn,
        localAsn,
        kind: 'external',
        // A reflector treats an iBGP external router (same AS) as a non-client (RFC 4456 §6).
        routeReflectorClusterId: localRR && peerAsn === localAsn ? localRR : undefined,
        password: p.spec.password,
        ttlSecurity: p.spec.ttlSecurity,
        sourceAddress: sourceAddressFor(p.spec, family),
        keepOriginalNextHop: p.spec.keepOriginalNextHop ?? false,
        maxRestartTime: p.spec.maxRestartTime,
        source: [source],
      }), true);
      continue;
    }
    // peerSelector: sessions between every node the peer applies to and every selected node.
    // Calico configures both directions, so the selected node also gets the session back.
    const sel = p.spec.peerSelector!;
    if (appliesTo(p, local)) {
      for (const remote of nodes) {
        if (remote !== local && selectorMatches(sel, remote.metadata.labels)) {
          for (const fam of [4, 6] as const) nodeSession(remote, fam, p.spec, source, true);
        }
      }
    }
    if (selectorMatches(sel, local.metadata.labels)) {
      for (const remote of nodes) {
        if (remote !== local && appliesTo(p, remote)) {
          for (const fam of [4, 6] as const) nodeSession(remote, fam, p.spec, source, true);
        }
      }
    }
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function strip(p: DesiredPeer): DesiredPeer {
  for (const k of Object.keys(p) as (keyof DesiredPeer)[]) if (p[k] === undefined) delete p[k];
  return p;
}

// ---------------------------------------------------------------------------------------------
// Diff and transition planning.

/** Fields whose change needs the TCP session (and its OPEN) to be made again. */
const RESET_FIELDS: (keyof DesiredPeer)[] = ['family', 'peerAddress', 'peerPort', 'peerAsn', 'localAsn', 'password', 'ttlSecurity', 'sourceAddress'];
/** Fields that are local policy and change in place (the speaker re-evaluates Adj-RIB-Out). */
const SOFT_FIELDS: (keyof DesiredPeer)[] = ['kind', 'routeReflectorClusterId', 'keepOriginalNextHop', 'maxRestartTime', 'peerNode'];

export interface PeerChange {
  before: DesiredPeer;
  after: DesiredPeer;
  /** Names of the fields that differ. */
  fields: (keyof DesiredPeer)[];
  /** True when a field that is part of the session itself (address, AS, key, GTSM, source) changed. */
  needsReset: boolean;
}

export interface PeerDiff {
  added: DesiredPeer[];
  removed: DesiredPeer[];
  changed: PeerChange[];
  unchanged: DesiredPeer[];
}

/** Compares two session sets by name. `source` differences alone count as unchanged. */
export function diffPeers(current: readonly DesiredPeer[], desired: readonly DesiredPeer[]): PeerDiff {
  const cur = new Map(current.map((p) => [p.name, p]));
  const des = new Map(desired.map((p) => [p.name, p]));
  const diff: PeerDiff = { added: [], removed: [], changed: [], unchanged: [] };
  for (const [name, after] of des) {
    const before = cur.get(name);
    if (!before) { diff.added.push(after); continue; }
    const fields = [...RESET_FIELDS, ...SOFT_FIELDS].filter((f) => before[f] !== after[f]);
    if (fields.length === 0) diff.unchanged.push(after);
    else diff.changed.push({ before, after, fields, needsReset: fields.some((f) => RESET_FIELDS.includes(f)) });
  }
  for (const [name, before] of cur) if (!des.has(name)) diff.removed.push(before);
  return diff;
}

export interface PeerTransitionPlan {
  /** New sessions: configure and start now. */
  add: DesiredPeer[];
  /** Policy-only changes (role, cluster ID, next-hop handling, restart time): apply in place now. */
  update: PeerChange[];
  /** Sessions to stop now: nothing is waiting to converge, and their routes are covered. */
  removeNow: DesiredPeer[];
  /** Sessions to keep until the desired set has converged (call the planner again later). */
  removeAfterConverged: DesiredPeer[];
  /** Sessions whose address/AS/key/GTSM/source changed: reset now (nothing else pending). */
  resetNow: PeerChange[];
  /** Such sessions whose reset waits until the rest of the desired set has converged. */
  resetAfterConverged: PeerChange[];
}

export interface TransitionOptions {
  /**
   * Names of current sessions every route of which the speaker also holds over a session that
   * stays (it computes this from its Adj-RIB-In). When given, a removal waits until the
   * session is in this set (or is not converged, i.e. carries nothing). This closes the gap
   * where a reflector has not yet started reflecting what a dropped mesh session carried.
   */
  covered?: ReadonlySet<string>;
  /** Desired sessions the speaker has stopped waiting for (peer down too long); they count as converged. */
  gaveUp?: ReadonlySet<string>;
}

/**
 * Make-before-break: what to do now to move from `current` toward `desired`, given the set of
 * sessions that are `converged` (Established and End-of-RIB received, RFC 4724 §2). Stateless:
 * the speaker calls it again whenever `converged` changes, with `current` = what it runs now,
 * until removeAfterConverged and resetAfterConverged are empty.
 */
export function planPeerTransition(current: readonly DesiredPeer[], desired: readonly DesiredPeer[],
  converged: ReadonlySet<string>, options: TransitionOptions = {}): PeerTransitionPlan {
  const diff = diffPeers(current, desired);
  const settled = (name: string) => converged.has(name) || (options.gaveUp?.has(name) ?? false);
  const resetNames = new Set(diff.changed.filter((c) => c.needsReset).map((c) => c.after.name));
  // Everything wanted that is not a pending reset must be up before anything goes down.
  const waiting = desired.filter((p) => !resetNames.has(p.name) && !settled(p.name));
  const plan: PeerTransitionPlan = {
    add: diff.added,
    update: diff.changed.filter((c) => !c.needsReset),
    removeNow: [],
    removeAfterConverged: [],
    resetNow: [],
    resetAfterConverged: [],
  };
  for (const r of diff.removed) {
    const carriesNothing = !converged.has(r.name);
    const covered = options.covered === undefined || options.covered.has(r.name) || carriesNothing;
    if (waiting.length === 0 && covered) plan.removeNow.push(r);
    else plan.removeAfterConverged.push(r);
  }
  for (const c of diff.changed.filter((x) => x.needsReset)) {
    if (waiting.length === 0) plan.resetNow.push(c);
    else plan.resetAfterConverged.push(c);
  }
  return plan;
}
