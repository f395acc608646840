// Block IPAM: each node holds one block (IPPool.blockSize, default /24 for IPv4 and /120 for
// IPv6) of every enabled pool that selects it, or the blocks it pins with spec.podCIDRs.
// Ownership is by node name and is recorded with a create-if-absent transaction on the block's
// key, so no two nodes ever hold the same block however many claim at once; the node's index
// key (compare-and-swapped in the same transaction) makes one node never take two blocks of a
// pool and lets it find its blocks again after a restart. Blocks are released only by
// releaseNodeBlocks() (when the Node is deleted), never because a node's liveness lapsed.
// The pure choice of a candidate block is separate from the I/O against a KvStore.
// RFC 4632 §3.1 (CIDR prefix notation) for the block arithmetic; the allocation scheme itself is
// nexthop's own (like Calico's block affinity), no RFC.

import { Resource, NodeResource } from './resources';
import { PoolView, poolsOf, poolsForNode } from './state';
import { BLOCKS, BlockClaim, blockKey, nodeBlockKey, NODE_BLOCKS, keyPartToCidr } from './keys';
import { KvStore } from './kv';
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
  const cidr = parseCidr(pool.cidr)!;
  const count = subnetCount(cidr, pool.blockSize);
  const want = attempt === 0 ? 1 : spread;
  const free: string[] = [];
  for (let i = 0n; i < count && free.length < want; i++) {
    const block = nthSubnet(cidr, pool.blockSize, i);
    const text = formatCidr(block);
    if (taken.has(text)) continue;
    if (reserved.some((r) => cidrsOverlap(r, block))) continue;
    free.push(text);
  }
  if (free.length === 0) return null;
  return free[Math.floor(random() * free.length)];
}

/** The node's blocks per pool as recorded in its index keys. */
async function readIndex(kv: KvStore, node: string): Promise<Map<string, { raw: string; cidrs: string[] }>> {
  const out = new Map<string, { raw: string; cidrs: string[] }>();
  const prefix = `${NODE_BLOCKS}${node}/`;
  for (const [k, v] of await kv.list(prefix)) {
    let cidrs: string[];
    try { cidrs = JSON.parse(v) as string[]; } catch { cidrs = []; }
    out.set(k.slice(prefix.length), { raw: v, cidrs: Array.isArray(cidrs) ? cidrs : [] });
  }
  return out;
}

function claimValue(cidr: string, pool: string, node: string, pinned: boolean): string {
  const c: BlockClaim = { cidr, pool, node, claimedAt: new Date().toISOString(), pinned };
  return JSON.stringify(c);
}

function ownerOf(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  try { return (JSON.parse(raw) as BlockClaim).node; } catch { return undefined; }
}

/**
 * Claims (or finds again) the node's blocks in every enabled pool that selects it. Returns
 * them sorted by pool name. Throws IpamError: UNKNOWN_NODE, NO_POOL, POOL_EXHAUSTED,
 * BLOCK_CONFLICT, BLOCK_NOT_IN_POOL, CLAIM_CONTENTION.
 */
export async function claimNodeBlocks(kv: KvStore, nodeName: string, resources: readonly Resource[]): Promise<BlockClaim[]> {
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
  const out: BlockClaim[] = [];
  for (const pool of pools) {
    const poolCidr = parseCidr(pool.cidr)!;
    const pinsHere = pins.filter((p) => cidrContains(poolCidr, p)).map(formatCidr);
    if (pinsHere.length > 0) out.push(...await claimPinned(kv, nodeName, pool, pinsHere));
    else out.push(await claimAuto(kv, nodeName, pool, reservedByOthers));
  }
  return out;
}

async function claimPinned(kv: KvStore, node: string, pool: PoolView, pins: string[]): Promise<BlockClaim[]> {
  const ixKey = nodeBlockKey(node, pool.name);
  for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
    const index = (await readIndex(kv, node)).get(pool.name);
    const t: { absent: string[]; equal: [string, string][]; put: [string, string][]; del: string[] } = { absent: [], equal: [], put: [], del: [] };
    const claims: BlockClaim[] = [];
    for (const cidr of pins) {
      const key = blockKey(cidr);
      const raw = await kv.get(key);
      const owner = ownerOf(raw);
      if (raw !== undefined && owner !== node) {
        throw new IpamError('BLOCK_CONFLICT', `node ${node}: pinned block ${cidr} is held by node ${owner ?? '(unreadable claim)'}`, node, pool.name, cidr);
      }
      if (raw === undefined) {
        t.absent.push(key);
        const v = claimValue(cidr, pool.name, node, true);
        t.put.push([key, v]);
        claims.push(JSON.parse(v) as BlockClaim);
      } else {
        t.equal.push([key, raw]);
        claims.push({ ...(JSON.parse(raw) as BlockClaim) });
      }
    }
    // Blocks this node held automatically in the pool before it pinned others are given back.
    for (const old of index?.cidrs ?? []) {
      if (pins.includes(old)) continue;
      const key = blockKey(old);
      const raw = await kv.get(key);
      if (raw !== undefined && ownerOf(raw) === node) { t.equal.push([key, raw]); t.del.push(key); }
    }
    const newIndex = JSON.stringify([...pins].sort());
    if (index) t.equal.push([ixKey, index.raw]); else t.absent.push(ixKey);
    if (!index || index.raw !== newIndex) t.put.push([ixKey, newIndex]);
    if (t.put.length === 0 && t.del.length === 0) return claims;
    if (await kv.txn(t)) return claims;
  }
  throw new IpamError('CLAIM_CONTENTION', `node ${node}: gave up claiming pinned blocks in pool ${pool.name} after ${MAX_CLAIM_ATTEMPTS} conflicting attempts`, node, pool.name);
}

async function claimAuto(kv: KvStore, node: string, pool: PoolView, reservedByOthers: Cidr[]): Promise<BlockClaim> {
  const ixKey = nodeBlockKey(node, pool.name);
  const poolCidr = parseCidr(pool.cidr)!;
  for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
    const index = (await readIndex(kv, node)).get(pool.name);
    // Reuse after restart: the block recorded for this node in this pool.
    for (const cidr of index?.cidrs ?? []) {
      const c = parseCidr(cidr);
      if (!c || !cidrContains(poolCidr, c) || c.length !== pool.blockSize) continue;
      const raw = await kv.get(blockKey(cidr));
      if (raw !== undefined && ownerOf(raw) === node) return JSON.parse(raw) as BlockClaim;
      if (raw === undefined) {
        // The index survived but the claim did not (e.g. removed by hand): take it again.
        const v = claimValue(cidr, pool.name, node, false);
        if (await kv.txn({ absent: [blockKey(cidr)], equal: [[ixKey, index!.raw]], put: [[blockKey(cidr), v]] })) return JSON.parse(v) as BlockClaim;
        continue;
      }
    }
    const taken = new Set<string>();
    const reserved = [...reservedByOthers];
    for (const k of await kv.listKeys(BLOCKS)) {
      const c = parseCidr(keyPartToCidr(k.slice(BLOCKS.length)));
      if (!c || !cidrsOverlap(poolCidr, c)) continue;
      if (c.length === pool.blockSize) taken.add(formatCidr(c)); else reserved.push(c);
    }
    const choice = chooseBlock(pool, taken, reserved, attempt);
    if (!choice) {
      const total = subnetCount(poolCidr, pool.blockSize);
      throw new IpamError('POOL_EXHAUSTED',
        `pool ${pool.name} (${pool.cidr}) is exhausted: all ${total} /${pool.blockSize} blocks are held (${taken.size} claimed, the rest pinned or overlapping); node ${node} gets none. Add a pool or delete unused nodes (nexthop delete node NAME)`,
        node, pool.name);
    }
    const v = claimValue(choice, pool.name, node, false);
    const newIndex = JSON.stringify([choice]);
    const ok = await kv.txn({
      absent: index ? [blockKey(choice)] : [blockKey(choice), ixKey],
      equal: index ? [[ixKey, index.raw]] : [],
      put: [[blockKey(choice), v], [ixKey, newIndex]],
    });
    if (ok) return JSON.parse(v) as BlockClaim;
  }
  throw new IpamError('CLAIM_CONTENTION', `node ${node}: lost ${MAX_CLAIM_ATTEMPTS} claim races in pool ${pool.name}; retry`, node, pool.name);
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
