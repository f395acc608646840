// The datastore key layout (relative to the backend's prefix, default "/nexthop/v1/"), the
// decoding of stored values into typed items, and the diff of two key/value maps into events.
// Both backends store the same keys: etcd as real keys, the file backend as virtual keys (the
// resource YAML) plus the entries of its state file. Documented in src/cluster/README.md.
// Pure: no I/O.
// No RFC: storage layout.

import { Kind, KINDS, Resource, NodeStatusFields, kindPlural, decodeStored, decodeNodeStatus, toDocument } from './resources';

export const DEFAULT_PREFIX = '/nexthop/v1/';

export const RESOURCES = 'resources/';
export const BLOCKS = 'ipam/blocks/';
export const NODE_BLOCKS = 'ipam/nodes/';
export const NODE_STATUS = 'status/nodes/';
export const LIVENESS = 'liveness/';

/** resources/<plural kind>/<name> → the resource document as JSON. */
export function resourceKey(kind: Kind, name: string): string {
  return `${RESOURCES}${kindPlural(kind)}/${name}`;
}

/** "10.244.3.0/24" → "10.244.3.0-24": '/' is the key separator. */
export function cidrToKeyPart(cidr: string): string {
  return cidr.replace('/', '-');
}
export function keyPartToCidr(part: string): string {
  const i = part.lastIndexOf('-');
  return `${part.slice(0, i)}/${part.slice(i + 1)}`;
}

/** ipam/blocks/<block cidr> → BlockClaim as JSON. One key per block: a block has one owner. */
export function blockKey(cidr: string): string {
  return `${BLOCKS}${cidrToKeyPart(cidr)}`;
}

/** ipam/nodes/<node>/<pool name> → the block cidr: the node's claim index, read on restart. */
export function nodeBlockKey(node: string, pool: string): string {
  return `${NODE_BLOCKS}${node}/${pool}`;
}

export function nodeStatusKey(node: string): string {
  return `${NODE_STATUS}${node}`;
}

export function livenessKey(node: string): string {
  return `${LIVENESS}${node}`;
}

/** Who holds a block. Ownership is by node name and never expires. */
export interface BlockClaim {
  cidr: string;
  pool: string;
  node: string;
  /** ISO time of the claim (informational). */
  claimedAt: string;
  /** True when the block came from the node's spec.podCIDRs. */
  pinned: boolean;
}

/** A node's liveness record: present while the agent keeps its lease (etcd) or heartbeat (file). */
export interface LivenessRecord {
  node: string;
  since: string;
  pid: number;
  host: string;
  /** File backend only: epoch ms after which the record counts as expired. */
  expiresAt?: number;
}

export type StoredItem =
  | { what: 'resource'; resource: Resource }
  | { what: 'block'; block: BlockClaim }
  | { what: 'nodeBlock'; node: string; pool: string; cidr: string }
  | { what: 'nodeStatus'; node: string; fields: NodeStatusFields }
  | { what: 'liveness'; record: LivenessRecord };

export interface ClusterEvent {
  type: 'put' | 'delete';
  key: string;
  /** The decoded item; for a delete, the last value seen before it. */
  item: StoredItem;
}

/** Decodes one stored entry; throws (ResourceError / Error) when the value is corrupt. */
export function decodeEntry(key: string, value: string): StoredItem | null {
  if (key.startsWith(RESOURCES)) {
    const rest = key.slice(RESOURCES.length).split('/');
    const kind = KINDS.find((k) => kindPlural(k) === rest[0]);
    if (!kind || rest.length !== 2) return null;
    const r = decodeStored(JSON.parse(value), `datastore key ${key}`);
    if (r.kind !== kind || r.metadata.name !== rest[1]) throw new Error(`datastore key ${key} holds ${r.kind}/${r.metadata.name}`);
    return { what: 'resource', resource: r };
  }
  if (key.startsWith(BLOCKS)) {
    const b = JSON.parse(value) as BlockClaim;
    if (typeof b.node !== 'string' || typeof b.cidr !== 'string' || typeof b.pool !== 'string') throw new Error(`datastore key ${key}: not a block claim`);
    return { what: 'block', block: { cidr: b.cidr, pool: b.pool, node: b.node, claimedAt: String(b.claimedAt ?? ''), pinned: b.pinned === true } };
  }
  if (key.startsWith(NODE_BLOCKS)) {
    const [node, pool] = key.slice(NODE_BLOCKS.length).split('/');
    return { what: 'nodeBlock', node, pool, cidr: value };
  }
  if (key.startsWith(NODE_STATUS)) {
    return { what: 'nodeStatus', node: key.slice(NODE_STATUS.length), fields: decodeNodeStatus(value, `datastore key ${key}`) };
  }
  if (key.startsWith(LIVENESS)) {
    const r = JSON.parse(value) as LivenessRecord;
    return { what: 'liveness', record: { ...r, node: key.slice(LIVENESS.length) } };
  }
  return null;
}

export function encodeResource(r: Resource): string {
  return JSON.stringify(toDocument(r));
}

/** One change between two key/value maps. */
export interface EntryChange { key: string; type: 'put' | 'delete'; value: string; previous?: string }

/** The puts and deletes that turn `before` into `after` (sorted by key; equal values skipped). */
export function diffEntries(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): EntryChange[] {
  const out: EntryChange[] = [];
  for (const [k, v] of after) {
    const prev = before.get(k);
    if (prev !== v) out.push({ key: k, type: 'put', value: v, previous: prev });
  }
  for (const [k, v] of before) if (!after.has(k)) out.push({ key: k, type: 'delete', value: v, previous: v });
  out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return out;
}
