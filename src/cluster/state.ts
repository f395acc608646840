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
import { ClusterEvent, EntryChange, StoredItem, BlockClaim, LivenessRecord, diffEntries, decodeEntry } from './keys';
import { parseCidr, cidrContains } from '../lib/ip';
import { selectorMatches } from './selector';

export class ClusterState {
  private readonly entries = new Map<string, string>();
  private readonly items = new Map<string, StoredItem>();
  /** Datastore revision of the last change applied (etcd revision; file: a counter). */
  revision = 0;

  /** Applies a batch of changes; returns the events and the problems (corrupt values skipped). */
  apply(changes: readonly EntryChange[]): { events: ClusterEvent[]; problems: string[] } {
    const events: ClusterEvent[] = [];
    const problems: string[] = [];
    for (const ch of changes) {
      if (ch.type === 'delete') {
        const prev = this.items.get(ch.key);
        this.entries.delete(ch.key);
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

  /** Only the entries whose keys start with `prefix`. */
  rawEntries(prefix = ''): Map<string, string> {
    const out = new Map<string, string>();
    for (const [k, v] of this.entries) if (k.startsWith(prefix)) out.set(k, v);
    return out;
  }

  resources(): Resource[] {
    const out: Resource[] = [];
    for (const it of this.items.values()) if (it.what === 'resource') out.push(it.resource);
    return out.sort((a, b) => (resourceId(a) < resourceId(b) ? -1 : 1));
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
  ipv4VXLANTunnelAddr?: string;
  vxlanTunnelMACAddr?: string;
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
  return { ...n, spec };
}
