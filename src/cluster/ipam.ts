// Block IPAM: each node holds one block (IPPool.blockSize, default /24 for IPv4 and /120 for
// IPv6) of every enabled pool that selects it, or the blocks it pins with spec.podCIDRs.
// Ownership is by node name and is recorded with a create-if-absent transaction on the block's
// key, so no two nodes ever hold the same block however many claim at once; the node's index
// key (compare-and-swapped in the same transaction) makes one node never take two blocks of a
// pool and lets it find its blocks again after a restart. Blocks are released only by
// releaseNodeBlocks() (when the Node is deleted), never because a node's liveness lapsed.
// The decision is pure (planNodeClaims: every pool of the node in ONE guarded transaction, which
// Datastore.register extends with the Node and the liveness key) and separate from the I/O
// against a KvStore.
// RFC 4632 §3.1 (CIDR prefix notation) for the block arithmetic; the allocation scheme itself is
// nexthop's own (like Calico's block affinity), no RFC.

import { Resource, NodeResource } from './resources';
import { PoolView, poolsOf, poolsForNode } from './state';
import { BLOCKS, BlockClaim, blockKey, nodeBlockKey, NODE_BLOCKS, keyPartToCidr, resourceKey } from './keys';
import { KvStore, KvTxn } from './kv';
import { IpamError } from './errors';
import { parseCidr, formatCidr, nthSubnet, subnetCount, subnetIndex, cidrContains, cidrsOverlap, Cidr } from '../lib/ip';

/** Lost create-if-absent races tolerated per pool before giving up with CLAIM_CONTENTION. */
export const MAX_CLAIM_ATTEMPTS = 200;

/**
 * Picks a free block of `pool` not in `taken` (exact block cidrs) and overlapping none of
 * `reserved` (blocks of other sizes, other nodes' pinned blocks). Attempt 0 takes the lowest free
 * block (compact allocation); later attempts, after losing a race, take a random one of the
 * lowest `spread` free blocks so that many concurrent claimers stop colliding. Null = exhausted.
 */
export function chooseBlock(pool: PoolView, taken: ReadonlySet<string>, reserved: readonly Cidr[], attempt: number,
  random: () => number = Math.random, spread = 64): string | null {
  const blocks = poolBlocks(parseCidr(pool.cidr)!, pool.blockSize);
  const isFree = (i: number): string | null => {
    const text = blocks.text(i);
    if (taken.has(text)) return null;
    if (reserved.length > 0) { const b = blocks.cidr(i); if (reserved.some((r) => cidrsOverlap(r, b))) return null; }
    return text;
  };
  // The wanted rank among the free blocks: 0 on a first attempt, else uniform in [0, spread).
  const rank = attempt === 0 ? 0 : Math.floor(random() * spread);
  const free: string[] = [];
  for (let i = 0; i < blocks.count && free.length <= rank; i++) {
    const text = isFree(i);
    if (text !== null) free.push(text);
  }
  if (free.length === 0) return null;
  if (free.length > rank) return free[rank];
  // Fewer than `spread` free blocks in the whole pool: uniform among those there are.
  return free[Math.floor(random() * free.length)];
}

/**
 * The blocks of `cidr` of size `/blockSize` by index: canonical text and Cidr. IPv4 in plain
 * 32-bit arithmetic (a 1,000-node claim storm looks at millions of blocks); IPv6 through the
 * bigint helpers of lib/ip. Pools have at most 2^24 blocks (resources.ts).
 */
function poolBlocks(cidr: Cidr, blockSize: number): { count: number; text(i: number): string; cidr(i: number): Cidr } {
  const count = Number(subnetCount(cidr, blockSize));
  if (cidr.family === 4) {
    const base = ((cidr.bytes[0] << 24) | (cidr.bytes[1] << 16) | (cidr.bytes[2] << 8) | cidr.bytes[3]) >>> 0;
    const step = 2 ** (32 - blockSize);
    const addr = (i: number) => base + i * step;
    return {
      count,
      text: (i) => { const a = addr(i); return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}/${blockSize}`; },
      cidr: (i) => { const a = addr(i); return { family: 4, bytes: new Uint8Array([a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff]), length: blockSize }; },
    };
  }
  return { count, text: (i) => formatCidr(nthSubnet(cidr, blockSize, BigInt(i))), cidr: (i) => nthSubnet(cidr, blockSize, BigInt(i)) };
}

/** A node's index of one pool (`ipam/nodes/<node>/<pool>`): the stored text and the cidrs in it. */
export interface NodeIndexEntry { raw: string; cidrs: string[] }

/** Decodes a node's index entries (keys relative to `ipam/nodes/<node>/`); a corrupt one reads as empty. */
export function decodeNodeIndex(entries: Iterable<[pool: string, raw: string]>): Map<string, NodeIndexEntry> {
  const out = new Map<string, NodeIndexEntry>();
  for (const [pool, raw] of entries) {
    let cidrs: unknown;
    try { cidrs = JSON.parse(raw); } catch { cidrs = []; }
    out.set(pool, { raw, cidrs: Array.isArray(cidrs) ? cidrs.filter((c): c is string => typeof c === 'string') : [] });
  }
  return out;
}

/** The node's blocks per pool as recorded in its index keys, read from the store. */
async function readIndex(kv: KvStore, node: string): Promise<Map<string, NodeIndexEntry>> {
  const prefix = `${NODE_BLOCKS}${node}/`;
  return decodeNodeIndex([...await kv.list(prefix)].map(([k, v]): [string, string] => [k.slice(prefix.length), v]));
}

function claimValue(cidr: string, pool: string, node: string, pinned: boolean): string {
  const c: BlockClaim = { cidr, pool, node, claimedAt: new Date().toISOString(), pinned };
  return JSON.stringify(c);
}

function ownerOf(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  try { return (JSON.parse(raw) as BlockClaim).node; } catch { return undefined; }
}

/** What a claim decides with: a snapshot of the store (watched state or fresh reads). */
export interface ClaimInputs {
  /** Every resource, including the claiming node's own Node (as it will be after the transaction). */
  resources: readonly Resource[];
  /** The node's index per pool name. */
  index: ReadonlyMap<string, NodeIndexEntry>;
  /** Every key under ipam/blocks/ (relative to the prefix, e.g. "ipam/blocks/10.244.3.0-24"). */
  blockKeys: Iterable<string>;
  /** The stored claim of a block key, for the keys of `blockKeysToRead` (index and pinned blocks). */
  blockValue(key: string): string | undefined;
}

/** The block keys whose values a claim for `nodeName` needs (its pins, and what its index records). */
export function blockKeysToRead(nodeName: string, resources: readonly Resource[], index: ReadonlyMap<string, NodeIndexEntry>): string[] {
  const node = resources.find((r): r is NodeResource => r.kind === 'Node' && r.metadata.name === nodeName);
  const keys = new Set<string>();
  for (const t of node?.spec.podCIDRs ?? []) { const c = parseCidr(t); if (c) keys.add(blockKey(formatCidr(c))); }
  for (const e of index.values()) for (const cidr of e.cidrs) keys.add(blockKey(cidr));
  return [...keys];
}

export interface PlanOptions {
  /**
   * Spread even the first attempt over the lowest `spread` free blocks at random (Calico picks
   * new blocks at random too). For registrations, which come in storms when a cluster starts:
   * with the lowest free block first, every agent in flight picks the same one and all but one
   * lose the race. Default false: the lowest free block first (compact, deterministic).
   */
  spreadFirst?: boolean;
  /** How many of the lowest free blocks a spread choice picks among (default 64). */
  spread?: number;
}

/** The outcome of planNodeClaims: the node's blocks, and the one transaction that makes them so. */
export interface ClaimPlan {
  claims: BlockClaim[];
  /** Compares (blocks absent or unchanged, index unchanged, pools unchanged) and writes. */
  txn: Required<KvTxn>;
  /** True when nothing needs writing (every block already held and recorded). */
  unchanged: boolean;
}

/**
 * Pure: the claims of `nodeName` in every enabled pool that selects it, as ONE transaction over
 * all pools, decided from `inputs`. Per pool: the pinned blocks (spec.podCIDRs), else the block
 * the index records (reuse after restart), else a free block (chooseBlock: the lowest on
 * attempt 0, a random one of the lowest 64 free after a lost race). Every block written is
 * guarded by create-if-absent (etcd Create revision = 0), every block reused by its stored
 * value, the index by its stored value (or absence), and each pool decided in by its stored
 * resource - so a stale snapshot can only make the transaction fail, never give one block to
 * two nodes. Throws IpamError: UNKNOWN_NODE, NO_POOL, POOL_EXHAUSTED, BLOCK_CONFLICT,
 * BLOCK_NOT_IN_POOL.
 */
export function planNodeClaims(nodeName: string, inputs: ClaimInputs, attempt: number,
  poolValues: ReadonlyMap<string, string> = new Map(), random: () => number = Math.random, options: PlanOptions = {}): ClaimPlan {
  const { resources } = inputs;
  const node = resources.find((r): r is NodeResource => r.kind === 'Node' && r.metadata.name === nodeName);
  if (!node) throw new IpamError('UNKNOWN_NODE', `node ${nodeName} has no Node resource; apply one before claiming blocks`, nodeName);
  const allPools = poolsOf(resources);
  const pools = poolsForNode(allPools, node.metadata.labels);
  const pins = (node.spec.podCIDRs ?? []).map((t) => parseCidr(t)!);
  for (const pin of pins) {
    if (!pools.some((p) => cidrContains(parseCidr(p.cidr)!, pin))) {
      throw new IpamError('BLOCK_NOT_IN_POOL', `node ${nodeName}: pinned block ${formatCidr(pin)} lies in no enabled pool that selects the node`, nodeName, undefined, formatCidr(pin));
    }
  }
  if (pools.length === 0) {
    throw new IpamError('NO_POOL', `node ${nodeName}: no enabled IPPool selects this node (pools: ${allPools.map((p) => `${p.name}${p.disabled ? ' (disabled)' : ''}`).join(', ') || 'none'})`, nodeName);
  }
  // Other nodes' pinned blocks are never handed out automatically, even before they claim them.
  const reservedByOthers: Cidr[] = [];
  for (const r of resources) {
    if (r.kind === 'Node' && r.metadata.name !== nodeName) for (const t of r.spec.podCIDRs ?? []) reservedByOthers.push(parseCidr(t)!);
  }
  // Stored blocks: the texts of those of a pool's block size (keys are written from canonical
  // cidrs, so text equality is block equality), parsed cidrs of any other size.
  const bySize = new Map<number, Set<string>>();
  const otherSizes: Cidr[] = [];
  for (const k of inputs.blockKeys) {
    const text = keyPartToCidr(k.slice(BLOCKS.length));
    const len = Number(text.slice(text.lastIndexOf('/') + 1));
    if (pools.some((p) => p.blockSize === len)) {
      let set = bySize.get(len);
      if (!set) { set = new Set(); bySize.set(len, set); }
      set.add(text);
    } else {
      const c = parseCidr(text);
      if (c) otherSizes.push(c);
    }
  }
  const t: Required<KvTxn> = { absent: [], equal: [], put: [], del: [] };
  const claims: BlockClaim[] = [];
  for (const pool of pools) {
    const pv = poolValues.get(pool.name);
    if (pv !== undefined) t.equal.push([resourceKey('IPPool', pool.name), pv]);
    const poolCidr = parseCidr(pool.cidr)!;
    const ixKey = nodeBlockKey(nodeName, pool.name);
    const index = inputs.index.get(pool.name);
    const guardIndex = () => { if (index) t.equal.push([ixKey, index.raw]); else t.absent.push(ixKey); };
    const pinsHere = pins.filter((p) => cidrContains(poolCidr, p)).map(formatCidr);
    if (pinsHere.length > 0) {
      for (const cidr of pinsHere) {
        const key = blockKey(cidr);
        const raw = inputs.blockValue(key);
        const owner = ownerOf(raw);
        if (raw !== undefined && owner !== nodeName) {
          throw new IpamError('BLOCK_CONFLICT', `node ${nodeName}: pinned block ${cidr} is held by node ${owner ?? '(unreadable claim)'}`, nodeName, pool.name, cidr);
        }
        if (raw === undefined) {
          const v = claimValue(cidr, pool.name, nodeName, true);
          t.absent.push(key);
          t.put.push([key, v]);
          claims.push(JSON.parse(v) as BlockClaim);
        } else {
          t.equal.push([key, raw]);
          claims.push(JSON.parse(raw) as BlockClaim);
        }
      }
      // Blocks this node held automatically in the pool before it pinned others are given back.
      for (const old of index?.cidrs ?? []) {
        if (pinsHere.includes(old)) continue;
        const key = blockKey(old);
        const raw = inputs.blockValue(key);
        if (raw !== undefined && ownerOf(raw) === nodeName) { t.equal.push([key, raw]); t.del.push(key); }
      }
      const newIndex = JSON.stringify([...pinsHere].sort());
      guardIndex();
      if (!index || index.raw !== newIndex) t.put.push([ixKey, newIndex]);
      continue;
    }
    // Reuse after restart: the block recorded for this node in this pool.
    let reused: BlockClaim | null = null;
    for (const cidr of index?.cidrs ?? []) {
      const c = parseCidr(cidr);
      if (!c || !cidrContains(poolCidr, c) || c.length !== pool.blockSize) continue;
      const key = blockKey(cidr);
      const raw = inputs.blockValue(key);
      if (raw !== undefined && ownerOf(raw) === nodeName) {
        t.equal.push([key, raw]);
        reused = JSON.parse(raw) as BlockClaim;
        break;
      }
      if (raw === undefined) {
        // The index survived but the claim did not (e.g. removed by hand): take it again.
        const v = claimValue(cidr, pool.name, nodeName, false);
        t.absent.push(key);
        t.put.push([key, v]);
        reused = JSON.parse(v) as BlockClaim;
        break;
      }
    }
    if (reused) { guardIndex(); claims.push(reused); continue; }
    // Blocks of this size outside the pool are never candidates, so all of them may count as taken.
    const taken = bySize.get(pool.blockSize) ?? new Set<string>();
    const reserved = [...reservedByOthers];
    for (const [len, set] of bySize) {
      if (len === pool.blockSize) continue;
      for (const text of set) { const c = parseCidr(text)!; if (cidrsOverlap(poolCidr, c)) reserved.push(c); }
    }
    for (const c of otherSizes) if (cidrsOverlap(poolCidr, c)) reserved.push(c);
    const choice = chooseBlock(pool, taken, reserved, options.spreadFirst ? Math.max(1, attempt) : attempt, random, options.spread ?? 64);
    if (!choice) {
      const total = subnetCount(poolCidr, pool.blockSize);
      const claimed = [...taken].filter((t) => { const c = parseCidr(t); return c !== null && cidrContains(poolCidr, c); }).length;
      throw new IpamError('POOL_EXHAUSTED',
        `pool ${pool.name} (${pool.cidr}) is exhausted: all ${total} /${pool.blockSize} blocks are held (${claimed} claimed, the rest pinned or overlapping); node ${nodeName} gets none. Add a pool or delete unused nodes (nexthop delete node NAME)`,
        nodeName, pool.name);
    }
    const v = claimValue(choice, pool.name, nodeName, false);
    t.absent.push(blockKey(choice));
    guardIndex();
    t.put.push([blockKey(choice), v], [ixKey, JSON.stringify([choice])]);
    claims.push(JSON.parse(v) as BlockClaim);
  }
  return { claims, txn: t, unchanged: t.put.length === 0 && t.del.length === 0 };
}

/** Reads what planNodeClaims needs from the store itself (no watched state). */
export async function readClaimInputs(kv: KvStore, nodeName: string, resources: readonly Resource[]): Promise<ClaimInputs> {
  const [index, blockKeys] = await Promise.all([readIndex(kv, nodeName), kv.listKeys(BLOCKS)]);
  const keys = blockKeysToRead(nodeName, resources, index);
  const values = new Map<string, string | undefined>();
  await Promise.all(keys.map(async (k) => { values.set(k, await kv.get(k)); }));
  return { resources, index, blockKeys, blockValue: (k) => values.get(k) };
}

/**
 * Claims (or finds again) the node's blocks in every enabled pool that selects it: one
 * transaction for all pools per attempt (planNodeClaims), retried on a lost race. Returns them
 * sorted by pool name. Throws IpamError: UNKNOWN_NODE, NO_POOL, POOL_EXHAUSTED,
 * BLOCK_CONFLICT, BLOCK_NOT_IN_POOL, CLAIM_CONTENTION.
 */
export async function claimNodeBlocks(kv: KvStore, nodeName: string, resources: readonly Resource[]): Promise<BlockClaim[]> {
  for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
    const plan = planNodeClaims(nodeName, await readClaimInputs(kv, nodeName, resources), attempt);
    if (plan.unchanged) return plan.claims;
    if (await kv.txn(plan.txn)) return plan.claims;
  }
  throw new IpamError('CLAIM_CONTENTION', `node ${nodeName}: lost ${MAX_CLAIM_ATTEMPTS} claim races; retry`, nodeName);
}

/**
 * Releases every block the node holds (its index and any claim naming it). Called when the
 * Node is deleted. Returns the released cidrs.
 */
export async function releaseNodeBlocks(kv: KvStore, node: string): Promise<string[]> {
  const released: string[] = [];
  for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
    const owned: [string, string][] = [];
    for (const [k, v] of await kv.list(BLOCKS)) if (ownerOf(v) === node) owned.push([k, v]);
    const index = await kv.list(`${NODE_BLOCKS}${node}/`);
    if (owned.length === 0 && index.size === 0) return released.sort();
    const ok = await kv.txn({
      equal: [...owned, ...index],
      del: [...owned.map(([k]) => k), ...index.keys()],
    });
    if (ok) {
      released.push(...owned.map(([k]) => keyPartToCidr(k.slice(BLOCKS.length))));
      return released.sort();
    }
  }
  throw new IpamError('CLAIM_CONTENTION', `node ${node}: could not release its blocks after ${MAX_CLAIM_ATTEMPTS} attempts`, node);
}

/** Index of a block within its pool (for display): "10.244.3.0/24" in 10.244.0.0/16 → 3. */
export function blockIndex(pool: PoolView, cidr: string): bigint | null {
  const p = parseCidr(pool.cidr);
  const c = parseCidr(cidr);
  if (!p || !c || !cidrContains(p, c)) return null;
  return subnetIndex(p, c);
}

/** A summary of one pool's use, for `nexthop ipam show`. */
export interface PoolUsage {
  pool: PoolView;
  totalBlocks: bigint;
  claimed: BlockClaim[];
}

export function poolUsage(pools: readonly PoolView[], blocks: readonly BlockClaim[]): PoolUsage[] {
  return pools.map((pool) => {
    const p = parseCidr(pool.cidr)!;
    const claimed = blocks.filter((b) => { const c = parseCidr(b.cidr); return c !== null && cidrContains(p, c); })
      .sort((a, b) => { const x = blockIndex(pool, a.cidr) ?? 0n; const y = blockIndex(pool, b.cidr) ?? 0n; return x < y ? -1 : x > y ? 1 : 0; });
    return { pool, totalBlocks: subnetCount(p, pool.blockSize), claimed };
  });
}
