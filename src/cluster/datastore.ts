// The datastore interface the agent and the CLI use, with the behaviour both backends share:
// an in-memory ClusterState fed by the backend's watch, "change" events with decoded items,
// a "state" event ('connected' | 'disconnected') that never turns into deletions, and the
// writes built on the KvStore contract (apply with validation against what is stored, delete
// releasing a Node's blocks, IPAM claims, agent-written node status). Backends: etcd.ts, file.ts.
// No RFC: datastore plumbing (etcd's v3 API and the file format are not RFCs).

import { EventEmitter } from 'events';
import { ClusterState } from './state';
import { ClusterEvent, RESOURCES, BLOCKS, NODE_BLOCKS, encodeResource, resourceKey, nodeStatusKey, livenessKey, BlockClaim, decodeEntry } from './keys';
import { KvStore } from './kv';
import {
  Resource, Located, Kind, NodeStatusFields, NodeResource, validateSet, resourceId, kindPlural,
  decodeStored, toDocument, DEFAULT_API_VERSION,
} from './resources';
import {
  claimNodeBlocks, releaseNodeBlocks, planNodeClaims, readClaimInputs, decodeNodeIndex, ClaimInputs, MAX_CLAIM_ATTEMPTS,
} from './ipam';
import { IpamError } from './errors';
import { DatastoreError, ResourceError, ResourceProblem } from './errors';
import { parseCidr, cidrsOverlap } from '../lib/ip';

export type DatastoreState = 'connecting' | 'connected' | 'disconnected';

/**
 * Registrations pick a new block at random among this many of the lowest free ones: with 50
 * agents in flight, ~5% of first attempts collide (against ~100% when all take the lowest).
 */
const REGISTER_SPREAD = 1024;

/** A running liveness record; stop() removes it (etcd: revokes the lease). */
export interface LivenessHandle {
  readonly node: string;
  stop(): Promise<void>;
}

/** A liveness record ready to be put (key, value, etcd lease ID) and the handle that keeps it alive. */
export interface LivenessStart {
  entry: [key: string, value: string, lease?: string];
  handle: LivenessHandle;
}

/** What an agent registers at start (see Datastore.register). */
export interface RegisterOptions {
  /** Liveness TTL (etcd lease TTL), seconds. */
  ttlSeconds: number;
  /**
   * The addresses the agent detected: set on its Node (created when absent, else only these
   * fields change). Without them the Node must exist already (else IpamError UNKNOWN_NODE).
   */
  addresses?: { ipv4Address?: string; ipv6Address?: string };
  /** Labels and annotations of a Node created by this registration (an existing Node keeps its own). */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Registration {
  node: 'created' | 'updated' | 'unchanged';
  /** The node's blocks, one per pool that selects it (or its pins), sorted by pool name. */
  claims: BlockClaim[];
  /** The running liveness record (etcd: the key on the lease; stop() revokes it). */
  liveness: LivenessHandle;
  /** Decisions made: 1 unless a race was lost or the watched state could not decide (then read afresh). */
  attempts: number;
}

export interface ApplyResult { id: string; action: 'created' | 'configured' | 'unchanged' }

export interface DatastoreEvents {
  /** A batch of changes (from a watch event, a re-read of the file, or a resync after compaction). */
  change: [events: ClusterEvent[]];
  /** Connection state. While 'disconnected', the last state is kept: no deletions are emitted. */
  state: [state: DatastoreState, reason: string];
  /** Something stored could not be used (bad edit of the file, corrupt value); the last good value stays. */
  problem: [message: string];
  /**
   * A resource was accepted with a warning: it sets a Calico v3 field nexthop does not act on
   * (file datastore: the user's YAML; message names file, document and field). Emitted once per
   * distinct warning while it stays in the file.
   */
  warning: [message: string];
}

export abstract class Datastore extends EventEmitter {
  /** What the datastore has seen so far (kept through disconnections). */
  readonly state = new ClusterState();
  /** 'etcd:http://127.0.0.1:2379' or 'file:/etc/nexthop/cluster.yaml'. */
  abstract readonly description: string;
  protected abstract readonly kv: KvStore;
  /**
   * Whether resources are keys of the KvStore that a transaction may compare and write (etcd),
   * or read-only virtual keys (the file backend's YAML).
   */
  protected readonly resourcesInKv: boolean = true;
  private connState: DatastoreState = 'connecting';

  /** Reads everything into `state` once (no watch). */
  abstract load(): Promise<void>;
  /** Loads (if not yet) and keeps `state` current, emitting "change" events. */
  abstract watch(): Promise<void>;
  abstract close(): Promise<void>;
  /** Marks the node alive while the handle runs (etcd: a key on a lease with `ttlSeconds`). */
  abstract keepAlive(node: string, ttlSeconds: number): Promise<LivenessHandle>;
  /**
   * Starts liveness without writing it: etcd grants the lease (and keeps it alive); the returned
   * entry is the liveness key on it, for the caller's transaction.
   */
  protected abstract beginLiveness(node: string, ttlSeconds: number): Promise<LivenessStart>;
  /** Writes validated resources (one transaction where the backend allows). */
  protected abstract writeResources(items: Located[]): Promise<void>;
  /** Removes one resource; false when it did not exist. */
  protected abstract removeResource(kind: Kind, name: string): Promise<boolean>;

  get connection(): DatastoreState { return this.connState; }

  protected setConnection(s: DatastoreState, reason: string): void {
    if (s === this.connState) return;
    this.connState = s;
    this.emit('state', s, reason);
  }

  /** Feeds changes into the state and emits them. */
  protected publish(result: { events: ClusterEvent[]; problems: string[] }): void {
    for (const p of result.problems) this.emit('problem', p);
    if (result.events.length > 0) this.emit('change', result.events);
  }

  override on<K extends keyof DatastoreEvents>(event: K, listener: (...args: DatastoreEvents[K]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  /** Decoded resources by key, reused while the stored text is unchanged (listings repeat a lot). */
  private readonly decoded = new Map<string, { value: string; resource: Resource }>();

  /** The stored resources (of `kinds`, default all), read now from the backend (not the watched cache). */
  async readResources(kinds?: Kind[]): Promise<Resource[]> {
    const out: Resource[] = [];
    const listing = new Map<string, string>();
    const prefixes = kinds ? kinds.map((k) => `${RESOURCES}${kindPlural(k)}/`) : [RESOURCES];
    for (const listed of await Promise.all(prefixes.map((p) => this.kv.list(p)))) for (const [k, v] of listed) listing.set(k, v);
    for (const [k, v] of listing) {
      const hit = this.decoded.get(k);
      if (hit && hit.value === v) { out.push(hit.resource); continue; }
      const it = decodeEntry(k, v);
      if (it?.what === 'resource') {
        out.push(it.resource);
        this.decoded.set(k, { value: v, resource: it.resource });
      }
    }
    for (const k of this.decoded.keys()) if (!listing.has(k) && prefixes.some((p) => k.startsWith(p))) this.decoded.delete(k);
    return out;
  }

  /**
   * Validates `items` together with what is stored (pools overlapping, pinned blocks outside
   * pools, pinned blocks overlapping another node's pin or claim), then writes them all. Nothing
   * is written when anything is wrong (ResourceError).
   */
  async apply(items: Located[]): Promise<ApplyResult[]> {
    // Read only what the cross-resource checks need: pools and every node's pins when a pool
    // or a pinning Node is applied; otherwise just the previous versions of the applied keys.
    const pins = items.some((it) => it.resource.kind === 'Node' && (it.resource.spec.podCIDRs ?? []).length > 0);
    const pools = items.some((it) => it.resource.kind === 'IPPool');
    const kinds: Kind[] = pins || pools ? ['IPPool', 'Node'] : [];
    const stored = kinds.length > 0 ? await this.readResources(kinds) : [];
    const previous = new Map<string, string | undefined>();
    await Promise.all(items.map(async (it) => {
      const key = resourceKey(it.resource.kind, it.resource.metadata.name);
      previous.set(resourceId(it.resource), await this.kv.get(key));
    }));
    const merged = new Map<string, Located>();
    for (const r of stored) merged.set(resourceId(r), { resource: r, origin: { file: `${this.description} (stored)`, document: 0 } });
    for (const it of items) merged.set(resourceId(it.resource), it);
    validateSet([...merged.values()]);
    // A pinned block must not be held (claimed) by another node already.
    const problems: ResourceProblem[] = [];
    const claims = pins ? await this.readBlocks() : [];
    for (const it of items) {
      if (it.resource.kind !== 'Node') continue;
      const node = it.resource as NodeResource;
      (node.spec.podCIDRs ?? []).forEach((text, i) => {
        const pin = parseCidr(text)!;
        for (const b of claims) {
          const c = parseCidr(b.cidr);
          if (b.node !== node.metadata.name && c && cidrsOverlap(c, pin)) {
            problems.push({ origin: it.origin, resource: resourceId(node), field: `spec.podCIDRs[${i}]`,
              message: `block ${text} overlaps ${b.cidr}, which node ${b.node} holds` });
          }
        }
      });
    }
    if (problems.length > 0) throw new ResourceError(problems);
    const results: ApplyResult[] = items.map((it) => {
      const id = resourceId(it.resource);
      const prev = previous.get(id);
      return { id, action: prev === undefined ? 'created' : prev === encodeResource(it.resource) ? 'unchanged' : 'configured' };
    });
    await this.writeResources(items.filter((_, i) => results[i].action !== 'unchanged'));
    return results;
  }

  /**
   * Deletes a resource. Deleting a Node also releases its blocks and drops its agent-written
   * status and liveness. Throws DatastoreError NOT_FOUND when it does not exist.
   */
  async delete(kind: Kind, name: string): Promise<{ releasedBlocks: string[] }> {
    const existed = await this.removeResource(kind, name);
    let releasedBlocks: string[] = [];
    if (kind === 'Node') {
      releasedBlocks = await releaseNodeBlocks(this.kv, name);
      await this.kv.txn({ del: [nodeStatusKey(name), livenessKey(name)] });
    }
    if (!existed && releasedBlocks.length === 0) {
      throw new DatastoreError('NOT_FOUND', `${kind} ${name} not found in ${this.description}`, this.description);
    }
    return { releasedBlocks };
  }

  /** Claims (or finds again after a restart) the node's blocks; see ipam.ts. */
  async claimBlocks(node: string): Promise<BlockClaim[]> {
    return claimNodeBlocks(this.kv, node, await this.resourcesForClaim(node));
  }

  /** Whether watch() runs, so that `state` follows the backend. */
  protected abstract get watchingNow(): boolean;

  /**
   * The resources a claim decides with. While watching, the watched state (no full listing per
   * claim - what makes 1,000 agents starting at once cheap), with the node's own Node and the
   * pools read fresh. A pin applied a moment ago and not yet seen can at worst make the pinning
   * node's own claim fail with BLOCK_CONFLICT; a duplicate block is impossible either way,
   * because the claim transaction decides.
   */
  private async resourcesForClaim(node: string): Promise<Resource[]> {
    if (!this.watchingNow) return this.readResources();
    const fresh = await this.readResources(['IPPool']);
    const own = await this.kv.get(resourceKey('Node', node));
    const ownItem = own === undefined ? null : decodeEntry(resourceKey('Node', node), own);
    const out = this.state.resources().filter((r) => r.kind !== 'IPPool' && !(r.kind === 'Node' && r.metadata.name === node));
    out.push(...fresh);
    if (ownItem?.what === 'resource') out.push(ownItem.resource);
    return out;
  }

  /** Releases the node's blocks (what `delete node` does). */
  async releaseBlocks(node: string): Promise<string[]> {
    return releaseNodeBlocks(this.kv, node);
  }

  async readBlocks(): Promise<BlockClaim[]> {
    const out: BlockClaim[] = [];
    for (const [k, v] of await this.kv.list('ipam/blocks/')) {
      try {
        const it = decodeEntry(k, v);
        if (it?.what === 'block') out.push(it.block);
      } catch (e) {
        this.emit('problem', `${k}: ${(e as Error).message}`);
      }
    }
    return out;
  }

  /**
   * What an agent does at start (like calico-node): makes sure its Node exists with the
   * addresses it detected. Creates the Node when absent; otherwise sets only
   * spec.bgp.ipv4Address / ipv6Address (when given and different), keeping every field the user
   * set. Compare-and-swap on the stored value, so a concurrent `apply` is never overwritten.
   */
  async registerNode(name: string, addresses: { ipv4Address?: string; ipv6Address?: string }, labels: Record<string, string> = {}): Promise<'created' | 'updated' | 'unchanged'> {
    const key = resourceKey('Node', name);
    for (let attempt = 0; attempt < 50; attempt++) {
      const raw = await this.kv.get(key);
      const { text } = registeredNode(name, raw, addresses, { labels, annotations: {} });
      if (text === raw) return 'unchanged';
      const ok = await this.kv.txn(raw === undefined ? { absent: [key], put: [[key, text]] } : { equal: [[key, raw]], put: [[key, text]] });
      if (ok) return raw === undefined ? 'created' : 'updated';
    }
    throw new DatastoreError('UNAVAILABLE', `could not register node ${name}: too many concurrent writers`, this.description);
  }

  /**
   * An agent's whole registration in as few datastore writes as correctness allows (etcd: one
   * lease grant, then ONE transaction per attempt): the Node created or its addresses updated
   * (registerNode's rules), its blocks claimed in every pool that selects it (planNodeClaims:
   * create-if-absent on each new block key, reuse of what its index records, pins), and its
   * liveness key put on the lease. The transaction compares the Node's stored value (or its
   * absence), every block and index it decides on, and the pools it claims in, so a stale
   * snapshot only makes it fail, and the next attempt reads the store afresh and (after a lost
   * race) takes a random one of the lowest 64 free blocks. While watching, the first attempt
   * decides from the watched state alone (no reads). Nothing is written when it throws (the
   * lease is revoked). Throws IpamError (UNKNOWN_NODE, NO_POOL, POOL_EXHAUSTED, BLOCK_CONFLICT,
   * BLOCK_NOT_IN_POOL, CLAIM_CONTENTION), ResourceError (a bad address), DatastoreError.
   */
  async register(name: string, options: RegisterOptions): Promise<Registration> {
    const nodeKey = resourceKey('Node', name);
    const live = await this.beginLiveness(name, options.ttlSeconds);
    try {
      for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
        // The watched state decides the first attempt only; anything it cannot settle (the
        // Node not seen yet, a claim error) is decided again from fresh reads.
        const fromWatch = attempt === 0 && this.watchingNow && (options.addresses !== undefined || this.state.entry(nodeKey) !== undefined);
        const raw = fromWatch ? this.state.entry(nodeKey) : await this.kv.get(nodeKey);
        let node: NodeResource | undefined;
        let text: string | undefined;
        if (options.addresses !== undefined) {
          const meta = { labels: options.labels ?? {}, annotations: options.annotations ?? {} };
          ({ node, text } = registeredNode(name, raw, options.addresses, meta));
        } else if (raw !== undefined) {
          node = decodeStored(JSON.parse(raw), `datastore key ${nodeKey}`) as NodeResource;
          text = raw;
        }
        const { inputs, poolValues } = fromWatch ? this.claimInputsFromState(name, node) : await this.claimInputsFromStore(name, node);
        let plan;
        try {
          plan = planNodeClaims(name, inputs, attempt, poolValues, Math.random, { spreadFirst: true, spread: REGISTER_SPREAD });
        } catch (e) {
          if (fromWatch && e instanceof IpamError) continue; // maybe a stale view: decide from the store
          throw e;
        }
        const t = plan.txn;
        if (this.resourcesInKv) {
          if (raw === undefined) t.absent.push(nodeKey); else t.equal.push([nodeKey, raw]);
        } else {
          // Resources of a file datastore are the user's YAML: compared by nothing, written never
          // (a Node to create or change here makes the transaction fail with READ_ONLY).
          t.equal = t.equal.filter(([k]) => !k.startsWith(RESOURCES));
        }
        if (text !== raw) t.put.push([nodeKey, text!]);
        t.put.push(live.entry);
        if (await this.kv.txn(t)) {
          return { node: raw === undefined ? 'created' : text === raw ? 'unchanged' : 'updated', claims: plan.claims, liveness: live.handle, attempts: attempt + 1 };
        }
      }
      throw new IpamError('CLAIM_CONTENTION', `node ${name}: registration lost ${MAX_CLAIM_ATTEMPTS} races for its blocks or its Node; retry`, name);
    } catch (e) {
      await live.handle.stop().catch(() => undefined);
      throw e;
    }
  }

  /** Claim inputs from the watched state: no reads at all. */
  private claimInputsFromState(name: string, node: NodeResource | undefined): { inputs: ClaimInputs; poolValues: Map<string, string> } {
    const resources = this.state.resources().filter((r) => !(r.kind === 'Node' && r.metadata.name === name));
    if (node) resources.push(node);
    const ixPrefix = `${NODE_BLOCKS}${name}/`;
    const index = decodeNodeIndex([...this.state.rawEntries(ixPrefix)].map(([k, v]): [string, string] => [k.slice(ixPrefix.length), v]));
    const blocks = this.state.rawEntries(BLOCKS);
    const poolValues = new Map<string, string>();
    for (const [k, v] of this.state.rawEntries(`${RESOURCES}ippools/`)) poolValues.set(k.slice(`${RESOURCES}ippools/`.length), v);
    return { inputs: { resources, index, blockKeys: blocks.keys(), blockValue: (k) => blocks.get(k) }, poolValues };
  }

  /** Claim inputs read from the store: pools and the node's index and blocks fresh; other nodes' pins as for claimBlocks. */
  private async claimInputsFromStore(name: string, node: NodeResource | undefined): Promise<{ inputs: ClaimInputs; poolValues: Map<string, string> }> {
    const [others, poolEntries] = await Promise.all([
      this.watchingNow ? Promise.resolve(this.state.resources().filter((r) => r.kind === 'Node')) : this.readResources(['Node']),
      this.kv.list(`${RESOURCES}ippools/`),
    ]);
    const resources: Resource[] = others.filter((r) => r.metadata.name !== name);
    const poolValues = new Map<string, string>();
    for (const [k, v] of poolEntries) {
      const it = decodeEntry(k, v);
      if (it?.what === 'resource') { resources.push(it.resource); poolValues.set(it.resource.metadata.name, v); }
    }
    if (node) resources.push(node);
    return { inputs: await readClaimInputs(this.kv, name, resources), poolValues };
  }

  /**
   * Sets the agent-written fields of a node (tunnel addresses, VXLAN MAC). They are stored
   * apart from the Node resource, so neither the user's `apply` nor the agent overwrites the
   * other's fields. A field given as null is cleared; undefined leaves it.
   */
  async setNodeStatus(node: string, fields: { [K in keyof NodeStatusFields]?: string | null }): Promise<NodeStatusFields> {
    const key = nodeStatusKey(node);
    for (let attempt = 0; attempt < 50; attempt++) {
      const raw = await this.kv.get(key);
      const cur: NodeStatusFields = raw ? JSON.parse(raw) as NodeStatusFields : {};
      const next: Record<string, string> = { ...cur } as Record<string, string>;
      for (const [k, v] of Object.entries(fields)) {
        if (v === null) delete next[k];
        else if (v !== undefined) next[k] = v;
      }
      const text = JSON.stringify(next);
      if (text === raw) return next;
      const ok = await this.kv.txn(raw === undefined ? { absent: [key], put: [[key, text]] } : { equal: [[key, raw]], put: [[key, text]] });
      if (ok) return next;
    }
    throw new DatastoreError('UNAVAILABLE', `could not update status of node ${node}: too many concurrent writers`, this.description);
  }
}

/**
 * Pure: the Node an agent registration stores, given the stored text (`raw`, undefined when
 * absent): a new Node with the addresses (and `meta`) when absent; otherwise the stored one with
 * only spec.bgp.ipv4Address / ipv6Address set to the given ones. Validated exactly as `apply`
 * would (ResourceError naming the field). `text === raw` when nothing changes.
 */
export function registeredNode(name: string, raw: string | undefined, addresses: { ipv4Address?: string; ipv6Address?: string },
  meta: { labels: Record<string, string>; annotations: Record<string, string> }): { node: NodeResource; text: string } {
  let doc: Record<string, unknown>;
  if (raw === undefined) {
    const metadata: Record<string, unknown> = { name, labels: meta.labels };
    if (Object.keys(meta.annotations).length > 0) metadata.annotations = meta.annotations;
    doc = { apiVersion: DEFAULT_API_VERSION, kind: 'Node', metadata, spec: { bgp: { ...addresses } } };
  } else {
    const cur = decodeStored(JSON.parse(raw), `datastore key ${resourceKey('Node', name)}`) as NodeResource;
    const bgp = { ...(cur.spec.bgp ?? {}) };
    for (const k of ['ipv4Address', 'ipv6Address'] as const) if (addresses[k] !== undefined) bgp[k] = addresses[k];
    doc = toDocument({ ...cur, spec: { ...cur.spec, bgp } });
  }
  const node = decodeStored(doc, `node ${name} registration`) as NodeResource;
  return { node, text: encodeResource(node) };
}

/** Encodes resources for a put. */
export function resourceEntries(items: Located[]): [string, string][] {
  return items.map((it) => [resourceKey(it.resource.kind, it.resource.metadata.name), encodeResource(it.resource)]);
}
