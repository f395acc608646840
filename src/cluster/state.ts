// The cluster state a datastore has seen: the raw key/value entries, their decoded items, and
// the views that the agent, the speaker and the dataplane read (effective BGP configuration,
// pools, nodes with their blocks, agent-written tunnel fields and liveness). Pure: the
// backends feed it changes; it returns events. A corrupt stored value is reported and the last
// good value for that key is kept.
// No RFC: an in-memory view; the protocol values in it (AS numbers, cluster IDs) were checked in
// resources.ts (RFC 6793, RFC 4456).

import {
  Resource, BGPConfiguration, IPPool, NodeResource, BGPPeer, NodeStatusFields, Community, LogSeverity, EncapMode,
  DEFAULT_AS_NUMBER, DEFAULT_LISTEN_PORT, resourceId,
} from './resources';
import { ClusterEvent, EntryChange, StoredItem, BlockClaim, LivenessRecord, RESOURCES, BLOCKS, NODE_BLOCKS, diffEntries, decodeEntry } from './keys';
import { parseCidr, cidrContains } from '../lib/ip';
import { selectorMatches } from './selector';

/** Key prefixes kept apart as well: what a claim reads from the watched state (keys.ts). */
const INDEXED_PREFIXES = [BLOCKS, NODE_BLOCKS, `${RESOURCES}ippools/`];

export class ClusterState {
  private readonly entries = new Map<string, string>();
  private readonly items = new Map<string, StoredItem>();
  /** Datastore revision of the last change applied (etcd revision; file: a counter). */
  revision = 0;
  /** The entries under each of INDEXED_PREFIXES, so that rawEntries() of them scans only those. */
  private readonly indexed = new Map<string, Map<string, string>>(INDEXED_PREFIXES.map((p) => [p, new Map()]));
  /** resources(), sorted, until a resource changes (claims read it once per registration). */
  private resourceList: Resource[] | null = null;

  /** Applies a batch of changes; returns the events and the problems (corrupt values skipped). */
  apply(changes: readonly EntryChange[]): { events: ClusterEvent[]; problems: string[] } {
    const events: ClusterEvent[] = [];
    const problems: string[] = [];
    for (const ch of changes) {
      if (ch.key.startsWith(RESOURCES)) this.resourceList = null;
      if (ch.type === 'delete') {
        const prev = this.items.get(ch.key);
        this.entries.delete(ch.key);
        this.indexFor(ch.key)?.delete(ch.key);
        this.items.delete(ch.key);
        if (prev) events.push({ type: 'delete', key: ch.key, item: prev });
        continue;
      }
      if (this.entries.get(ch.key) === ch.value) continue; // already seen (watch replay after a resync)
      let item: StoredItem | null;
      try {
        item = decodeEntry(ch.key, ch.value);
      } catch (e) {
        problems.push(`${ch.key}: ${(e as Error).message}`);
        continue;
      }
      if (!item) continue; // a key outside the layout: ignored
      this.entries.set(ch.key, ch.value);
      this.indexFor(ch.key)?.set(ch.key, ch.value);
      this.items.set(ch.key, item);
      events.push({ type: 'put', key: ch.key, item });
    }
    return { events, problems };
  }

  /** Replaces the whole state with `all` (a full listing), returning the diff as events. */
  replaceAll(all: ReadonlyMap<string, string>): { events: ClusterEvent[]; problems: string[] } {
    const next = new Map(all);
    // Keys whose new value is corrupt keep their old value (apply() skips them); keys that are
    // simply gone are deleted.
    return this.apply(diffEntries(this.entries, next));
  }

  /** The stored text of one key, as last seen. */
  entry(key: string): string | undefined {
    return this.entries.get(key);
  }

  private indexFor(key: string): Map<string, string> | undefined {
    for (const p of INDEXED_PREFIXES) if (key.startsWith(p)) return this.indexed.get(p);
    return undefined;
  }

  /** Only the entries whose keys start with `prefix`. */
  rawEntries(prefix = ''): Map<string, string> {
    const from = INDEXED_PREFIXES.find((p) => prefix.startsWith(p));
    const source = from ? this.indexed.get(from)! : this.entries;
    if (from === prefix) return new Map(source);
    const out = new Map<string, string>();
    for (const [k, v] of source) if (k.startsWith(prefix)) out.set(k, v);
    return out;
  }

  /** Every resource, sorted by kind/name (a fresh array; the resources themselves are shared). */
  resources(): Resource[] {
    if (!this.resourceList) {
      const out: { id: string; r: Resource }[] = [];
      for (const it of this.items.values()) if (it.what === 'resource') out.push({ id: resourceId(it.resource), r: it.resource });
      this.resourceList = out.sort((a, b) => (a.id < b.id ? -1 : 1)).map((x) => x.r);
    }
    return [...this.resourceList];
  }

  blocks(): BlockClaim[] {
    const out: BlockClaim[] = [];
    for (const it of this.items.values()) if (it.what === 'block') out.push(it.block);
    return out;
  }

  nodeStatus(): Map<string, NodeStatusFields> {
    const out = new Map<string, NodeStatusFields>();
    for (const it of this.items.values()) if (it.what === 'nodeStatus') out.set(it.node, it.fields);
    return out;
  }

  /** Live nodes; file-backend records past their expiry (relative to `now`) do not count. */
  liveness(now = Date.now()): Map<string, LivenessRecord> {
    const out = new Map<string, LivenessRecord>();
    for (const it of this.items.values()) {
      if (it.what === 'liveness' && (it.record.expiresAt === undefined || it.record.expiresAt > now)) out.set(it.record.node, it.record);
    }
    return out;
  }

  view(now = Date.now()): ClusterView {
    return buildView(this.resources(), this.blocks(), this.nodeStatus(), this.liveness(now));
  }
}

// ---------------------------------------------------------------------------------------------
// Views.

export interface EffectiveBgpConfig {
  asNumber: number;
  nodeToNodeMeshEnabled: boolean;
  listenPort: number;
  logSeverityScreen: LogSeverity;
  communities: Community[];
  /** Graceful restart time (s) for mesh sessions, from the "default" BGPConfiguration only (Calico). */
  nodeMeshMaxRestartTime?: number;
}

/**
 * The BGPConfiguration that applies to `nodeName`: 'node.<nodeName>' fields over 'default'
 * fields over the defaults (asNumber 64512, mesh on, listenPort 179, logSeverityScreen Info).
 */
export function effectiveConfig(resources: readonly Resource[], nodeName?: string): EffectiveBgpConfig {
  const configs = resources.filter((r): r is BGPConfiguration => r.kind === 'BGPConfiguration');
  const global = configs.find((c) => c.metadata.name === 'default')?.spec ?? {};
  const own = nodeName ? configs.find((c) => c.metadata.name === `node.${nodeName}`)?.spec ?? {} : {};
  return {
    asNumber: own.asNumber ?? global.asNumber ?? DEFAULT_AS_NUMBER,
    nodeToNodeMeshEnabled: own.nodeToNodeMeshEnabled ?? global.nodeToNodeMeshEnabled ?? true,
    listenPort: own.listenPort ?? global.listenPort ?? DEFAULT_LISTEN_PORT,
    logSeverityScreen: own.logSeverityScreen ?? global.logSeverityScreen ?? 'Info',
    communities: own.communities ?? global.communities ?? [],
    ...(global.nodeMeshMaxRestartTime !== undefined ? { nodeMeshMaxRestartTime: global.nodeMeshMaxRestartTime } : {}),
  };
}

export interface PoolView {
  name: string;
  cidr: string;
  family: 4 | 6;
  blockSize: number;
  ipipMode: EncapMode;
  vxlanMode: EncapMode;
  natOutgoing: boolean;
  disabled: boolean;
  nodeSelector: string;
  /** Calico disableBGPExport: nodes do not originate this pool's blocks (see exportedBlocks). */
  disableBGPExport: boolean;
}

export function poolsOf(resources: readonly Resource[]): PoolView[] {
  return resources.filter((r): r is IPPool => r.kind === 'IPPool').map((p) => ({
    name: p.metadata.name,
    cidr: p.spec.cidr,
    family: parseCidr(p.spec.cidr)!.family,
    blockSize: p.spec.blockSize,
    ipipMode: p.spec.ipipMode,
    vxlanMode: p.spec.vxlanMode,
    natOutgoing: p.spec.natOutgoing,
    disabled: p.spec.disabled,
    nodeSelector: p.spec.nodeSelector,
    disableBGPExport: p.spec.disableBGPExport ?? false,
  })).sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** The enabled pools whose nodeSelector matches the node. */
export function poolsForNode(pools: readonly PoolView[], labels: Readonly<Record<string, string>>): PoolView[] {
  return pools.filter((p) => !p.disabled && selectorMatches(p.nodeSelector, labels));
}

/** The enabled pool containing `cidr`, or undefined: the rule for accepting routes from peers. */
export function poolContaining(pools: readonly PoolView[], cidr: string): PoolView | undefined {
  const c = parseCidr(cidr, false);
  if (!c) return undefined;
  return pools.find((p) => !p.disabled && cidrContains(parseCidr(p.cidr)!, c));
}

/**
 * The blocks of `blocks` (a node's own, e.g. its claims) that it originates into BGP: all of them
 * except those inside a pool with disableBGPExport (Calico: "disable exporting routes from this
 * IP Pool's IPAM blocks into BGP"). A block in no known pool is kept: the pool may have been
 * deleted a moment ago, and withdrawing then is the reconcile's job, not this filter's.
 * Pure; the order of `blocks` is kept.
 */
export function exportedBlocks(blocks: readonly string[], pools: readonly PoolView[]): string[] {
  const silenced = pools.filter((p) => p.disableBGPExport).map((p) => parseCidr(p.cidr)!);
  if (silenced.length === 0) return [...blocks];
  return blocks.filter((b) => {
    const c = parseCidr(b, false);
    return c === null || !silenced.some((p) => cidrContains(p, c));
  });
}

export interface NodeView {
  name: string;
  labels: Record<string, string>;
  /** "addr/len" as in spec.bgp.ipv4Address; undefined when the node does not run BGP on v4. */
  ipv4Address?: string;
  ipv6Address?: string;
  /** The node's AS number (its own, else the cluster's). */
  asNumber: number;
  routeReflectorClusterId?: string;
  /** Claimed blocks (both families), sorted. */
  blocks: string[];
  ipv4IPIPTunnelAddr?: string;
  /** IPv4 VTEP (RFC 7348) address and MAC: for IPv4 pools over VXLAN (vxlan.nexthop). */
  ipv4VXLANTunnelAddr?: string;
  vxlanTunnelMACAddr?: string;
  /** IPv6 VTEP address and MAC: for IPv6 pools over VXLAN (vxlan6.nexthop). */
  ipv6VXLANTunnelAddr?: string;
  vxlanTunnelMACAddrV6?: string;
  alive: boolean;
}

export interface ClusterView {
  config: EffectiveBgpConfig;
  pools: PoolView[];
  nodes: NodeView[];
  peers: BGPPeer[];
  blocks: BlockClaim[];
  resources: Resource[];
}

export function buildView(resources: Resource[], blocks: BlockClaim[], status: Map<string, NodeStatusFields>,
  live: Map<string, LivenessRecord>): ClusterView {
  const config = effectiveConfig(resources);
  const byNode = new Map<string, string[]>();
  for (const b of blocks) {
    const l = byNode.get(b.node) ?? [];
    l.push(b.cidr);
    byNode.set(b.node, l);
  }
  const nodes = resources.filter((r): r is NodeResource => r.kind === 'Node').map((n): NodeView => {
    const st = status.get(n.metadata.name) ?? {};
    const bgp = n.spec.bgp ?? {};
    return {
      name: n.metadata.name,
      labels: n.metadata.labels,
      ipv4Address: bgp.ipv4Address,
      ipv6Address: bgp.ipv6Address,
      asNumber: bgp.asNumber ?? config.asNumber,
      routeReflectorClusterId: bgp.routeReflectorClusterID,
      blocks: (byNode.get(n.metadata.name) ?? []).sort(),
      // Agent-written values win over anything a user typed into the spec.
      ipv4IPIPTunnelAddr: st.ipv4IPIPTunnelAddr ?? bgp.ipv4IPIPTunnelAddr,
      ipv4VXLANTunnelAddr: st.ipv4VXLANTunnelAddr ?? n.spec.ipv4VXLANTunnelAddr,
      vxlanTunnelMACAddr: st.vxlanTunnelMACAddr ?? n.spec.vxlanTunnelMACAddr,
      ipv6VXLANTunnelAddr: st.ipv6VXLANTunnelAddr ?? n.spec.ipv6VXLANTunnelAddr,
      vxlanTunnelMACAddrV6: st.vxlanTunnelMACAddrV6 ?? n.spec.vxlanTunnelMACAddrV6,
      alive: live.has(n.metadata.name),
    };
  }).sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    config,
    pools: poolsOf(resources),
    nodes,
    peers: resources.filter((r): r is BGPPeer => r.kind === 'BGPPeer'),
    blocks,
    resources,
  };
}

/** A Node resource with the agent-written fields merged into its spec (for `get node -o yaml`). */
export function mergeNodeStatus(n: NodeResource, st: NodeStatusFields | undefined): NodeResource {
  if (!st) return n;
  const spec = { ...n.spec };
  if (st.ipv4IPIPTunnelAddr) spec.bgp = { ...(spec.bgp ?? {}), ipv4IPIPTunnelAddr: st.ipv4IPIPTunnelAddr };
  if (st.ipv4VXLANTunnelAddr) spec.ipv4VXLANTunnelAddr = st.ipv4VXLANTunnelAddr;
  if (st.vxlanTunnelMACAddr) spec.vxlanTunnelMACAddr = st.vxlanTunnelMACAddr;
  if (st.ipv6VXLANTunnelAddr) spec.ipv6VXLANTunnelAddr = st.ipv6VXLANTunnelAddr;
  if (st.vxlanTunnelMACAddrV6) spec.vxlanTunnelMACAddrV6 = st.vxlanTunnelMACAddrV6;
  return { ...n, spec };
}
