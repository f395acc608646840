// The demo cluster on paper: racks, nodes, addresses, the cluster resources of each act of the
// story (node-to-node mesh, then route reflectors), the ToR router's BIRD 2 configuration, and
// which BGP sessions every node should have in each act. Pure: no I/O, so the plan can be
// checked on its own (test/unit/demo/topology.test.ts).
//
//   rack r (1, 2):  L2 subnet 10.0.r.0/24 (a bridge in the router namespace), router 10.0.r.1,
//                   node i at 10.0.r.(10+i), one pod per node (CNI bridge plugin)
//   pods:           IPPool 10.244.0.0/16, one /24 block per node, VXLAN across racks only
//                   (vxlanMode CrossSubnet: RFC 7348), direct routes inside a rack
//   BGP:            nodes AS 64512 (iBGP full mesh, RFC 4271), the ToR AS 65000 (eBGP to each
//                   node of both racks, from BGPPeer rack-r-tor); act 2 turns the mesh off and
//                   makes node 1 of each rack a route reflector (RFC 4456) for the others.

import * as YAML from 'yaml';

export const RACK_COUNT = 2;
export const NODE_AS = 64512;
export const TOR_AS = 65000;
export const POOL_CIDR = '10.244.0.0/16';
export const POOL_BLOCK_SIZE = 24;
/** Calico's customary cluster id for a set of route reflectors (RFC 4456 §7 CLUSTER_ID). */
export const RR_CLUSTER_ID = '224.0.0.1';
export const RR_LABEL = 'route-reflector';
export const MAX_NODES_PER_RACK = 8;
export const DATASTORE_FILE = 'cluster.yaml';

export interface DemoNode {
  /** Cluster node name, e.g. "rack1-node2". */
  name: string;
  /** Short name used in namespace names, e.g. "r1n2". */
  short: string;
  rack: number;
  index: number;
  /** Underlay address, e.g. "10.0.1.12". */
  address: string;
  prefixLength: number;
  /** The rack router's address on this node's subnet (default gateway, ToR BGP peer). */
  gateway: string;
  /** Whether the node is a route reflector in act 2. */
  reflector: boolean;
}

export interface DemoRack {
  index: number;
  name: string;
  subnet: string;
  routerAddress: string;
  /** Name of the bridge in the router namespace that is this rack's L2 segment. */
  bridge: string;
  nodes: DemoNode[];
}

export interface Topology {
  racks: DemoRack[];
  nodes: DemoNode[];
}

export class TopologyError extends Error {
  readonly code = 'DEMO_TOPOLOGY';
  constructor(readonly field: string, detail: string) {
    super(`demo topology: ${field}: ${detail}`);
    this.name = 'TopologyError';
  }
}

/** The cluster for `nodesPerRack` nodes in each of the two racks (1..8 per rack). */
export function planTopology(nodesPerRack: number): Topology {
  if (!Number.isInteger(nodesPerRack) || nodesPerRack < 1 || nodesPerRack > MAX_NODES_PER_RACK) {
    throw new TopologyError('nodesPerRack', `${nodesPerRack} is not a whole number from 1 to ${MAX_NODES_PER_RACK}`);
  }
  const racks: DemoRack[] = [];
  for (let r = 1; r <= RACK_COUNT; r++) {
    const nodes: DemoNode[] = [];
    for (let i = 1; i <= nodesPerRack; i++) {
      nodes.push({
        name: `rack${r}-node${i}`,
        short: `r${r}n${i}`,
        rack: r,
        index: i,
        address: `10.0.${r}.${10 + i}`,
        prefixLength: 24,
        gateway: `10.0.${r}.1`,
        // One reflector per rack (node 1) when the rack has another node to serve.
        reflector: i === 1,
      });
    }
    racks.push({ index: r, name: `rack-${r}`, subnet: `10.0.${r}.0/24`, routerAddress: `10.0.${r}.1`, bridge: `rack${r}`, nodes });
  }
  return { racks, nodes: racks.flatMap((r) => r.nodes) };
}

/** The acts of the story: the node-to-node mesh; route reflectors with the mesh off. */
export type Act = 'mesh' | 'reflectors';

/** The cluster resources (a multi-document YAML) of one act of the story. */
export function clusterResources(topo: Topology, act: Act): string {
  const docs: unknown[] = [];
  docs.push({
    apiVersion: 'nexthop.io/v1',
    kind: 'BGPConfiguration',
    metadata: { name: 'default' },
    spec: { asNumber: NODE_AS, nodeToNodeMeshEnabled: act === 'mesh', logSeverityScreen: 'Info' },
  });
  docs.push({
    apiVersion: 'nexthop.io/v1',
    kind: 'IPPool',
    metadata: { name: 'demo-pods' },
    // VXLAN only where the next hop is not on a connected subnet (across racks).
    spec: { cidr: POOL_CIDR, blockSize: POOL_BLOCK_SIZE, ipipMode: 'Never', vxlanMode: 'CrossSubnet', natOutgoing: true },
  });
  for (const rack of topo.racks) {
    docs.push({
      apiVersion: 'nexthop.io/v1',
      kind: 'BGPPeer',
      metadata: { name: `${rack.name}-tor` },
      spec: { nodeSelector: `rack == '${rack.name}'`, peerIP: rack.routerAddress, asNumber: TOR_AS },
    });
  }
  if (act === 'reflectors') {
    // Every node peers with every reflector; reflectors with each other (RFC 4456 §6).
    docs.push({
      apiVersion: 'nexthop.io/v1',
      kind: 'BGPPeer',
      metadata: { name: 'peer-with-route-reflectors' },
      spec: { nodeSelector: 'all()', peerSelector: `has(${RR_LABEL})` },
    });
  }
  for (const n of topo.nodes) {
    const labels: Record<string, string> = { rack: `rack-${n.rack}` };
    const bgp: Record<string, unknown> = { ipv4Address: `${n.address}/${n.prefixLength}` };
    if (act === 'reflectors' && n.reflector) {
      labels[RR_LABEL] = 'true';
      bgp.routeReflectorClusterID = RR_CLUSTER_ID;
    }
    docs.push({ apiVersion: 'nexthop.io/v1', kind: 'Node', metadata: { name: n.name, labels }, spec: { bgp } });
  }
  const header = act === 'mesh'
    ? '# nexthop demo, act 1: node-to-node full mesh; every node also peers with its rack\'s ToR.\n'
    : '# nexthop demo, act 2: route reflectors (one per rack, RFC 4456), mesh off.\n';
  return header + docs.map((d) => YAML.stringify(d)).join('---\n');
}

/** The peer addresses a node should have Established in an act (cluster peers and its ToR). */
export function expectedPeers(topo: Topology, node: DemoNode, act: Act): string[] {
  const others = topo.nodes.filter((n) => n !== node);
  const cluster = act === 'mesh' || node.reflector ? others : others.filter((n) => n.reflector);
  return [...cluster.map((n) => n.address), node.gateway].sort();
}

/** BIRD 2 configuration of the router between the racks: the ToR of both racks, AS 65000. */
export function torBirdConfig(topo: Topology): string {
  const lines = [
    '# nexthop demo: the router between the racks, ToR of both racks (written by `nexthop demo`).',
    `router id ${topo.racks[0].routerAddress};`,
    'protocol device {}',
    '# Pod blocks learned from the nodes go into this router\'s FIB, so the fabric reaches pods.',
    'protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }',
    `# Only pod blocks (RFC 4271 §9.1.1 import policy): nothing else a node might announce.`,
    `filter pod_blocks { if net ~ [ ${POOL_CIDR}{${POOL_BLOCK_SIZE},32} ] then accept; reject; }`,
  ];
  for (const rack of topo.racks) {
    lines.push(
      `# ${rack.name}: any node of ${rack.subnet} may connect (eBGP, the nodes dial us).`,
      `protocol bgp ${rack.bridge} {`,
      `  local ${rack.routerAddress} as ${TOR_AS};`,
      `  neighbor range ${rack.subnet} as ${NODE_AS};`,
      `  dynamic name "${rack.bridge}_";`,
      '  direct;',
      '  passive on;',
      '  connect retry time 1;',
      '  # RFC 4724 helper: keep a node\'s block while its agent restarts gracefully.',
      '  graceful restart on;',
      '  ipv4 { import filter pod_blocks; export none; };',
      '}',
    );
  }
  return lines.join('\n') + '\n';
}
