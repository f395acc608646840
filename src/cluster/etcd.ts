// The etcd v3 datastore backend (npm etcd3 over gRPC): the key layout of keys.ts under a prefix
// (default /nexthop/v1/), transactions with Create-revision/Value compares for IPAM and writes,
// a watch from the listing's revision, and resync: after a compaction cancels the watch, or
// after the connection is lost and comes back, it lists everything again and diffs it against
// what it had, so consumers see only real changes - never a mass delete because etcd was away.
// Reconnects with exponential backoff. Liveness is a key on a lease with a TTL, separate from
// block ownership. Security (etcd-security.ts): https:// endpoints with a CA, a client
// certificate and key, and etcd user/password authentication; TLS and auth failures surface as
// DatastoreErrors naming the endpoint and the file or setting to change. No RFC; etcd API v3
// (etcd 3.4); TLS per RFC 8446 via grpc-js.

import * as net from 'net';
import * as os from 'os';
import { Etcd3, IOptions, Watcher, IWatchResponse, ICompare, IRequestOp, Lease } from 'etcd3';
import { Datastore, LivenessHandle, LivenessStart, resourceEntries } from './datastore';
import { KvStore, KvTxn } from './kv';
import { DEFAULT_PREFIX, EntryChange, livenessKey, resourceKey, LivenessRecord } from './keys';
import { Kind, Located } from './resources';
import { DatastoreError } from './errors';
import { EtcdAccess, checkEtcdAccess, explainEtcdFailure, loadEtcdCredentials } from './etcd-security';

export interface EtcdOptions {
  /** Key prefix, ending in '/'. Default /nexthop/v1/. */
  prefix?: string;
  /** Deadline of each unary call (ms). Default 5000. */
  callTimeoutMs?: number;
  /** gRPC dial timeout (ms). Default 3000. */
  dialTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap (ms). Defaults 100 and 5000. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /**
   * Use a TCP connection of its own instead of sharing one with other clients to the same
   * endpoint in this process (gRPC pools them by default). For tests and benchmarks that
   * stand for many agents.
   */
  ownConnection?: boolean;
  /**
   * TLS files and user/password (see etcd-security.ts; openDatastore resolves them from flags and
   * ETCD_* variables). https:// endpoints without TLS files use the system's trusted CAs.
   */
  access?: EtcdAccess;
}

/** etcd allows 128 operations per transaction by default (--max-txn-ops). */
const MAX_TXN_OPS = 128;

/** The end of the key range that holds every key starting with `prefix` (etcd's prefix rule). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) { end[i]++; return end.subarray(0, i + 1); }
  }
  return Buffer.from([0]);
}

/**
 * A pass-through fault policy: etcd3's default retries and circuit breaker would hide outages
 * from us and retry for tens of seconds; we report and retry on our own terms instead.
 */
const passThrough = { execute: <T>(fn: () => T | Promise<T>) => Promise.resolve().then(fn) };

/** cockatiel's IBackoff shape, for the library's own watch-stream reconnects (which we cancel). */
function backoff(initial: number, max: number, d = initial): { duration: number; next(): ReturnType<typeof backoff> } {
  return { duration: d, next: () => backoff(initial, max, Math.min(max, d * 2)) };
}

/**
 * Node warns (DEP0123) when a TLS client sends an IP address as SNI; grpc-js always sends the
 * endpoint's host, so every https://IP endpoint would print a deprecation warning the operator
 * can do nothing about. Only that one warning is dropped, and only once an https://IP endpoint
 * is in use.
 */
let ipServernameWarningDropped = false;
function dropIpServernameWarning(): void {
  if (ipServernameWarningDropped) return;
  ipServernameWarningDropped = true;
  const emit = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]): void {
    const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
    if (code === 'DEP0123') return;
    (emit as (...a: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
}

export class EtcdKv implements KvStore {
  /**
   * `explain` turns a failed call's error into the one to throw (TLS and auth failures become
   * precise DatastoreErrors); by default errors pass unchanged.
   */
  constructor(private readonly client: Etcd3, private readonly prefix: string, private readonly callTimeoutMs: number,
    private readonly explain: (e: unknown) => unknown = (e) => e) {}

  private k(key: string): Buffer { return Buffer.from(this.prefix + key); }
  private opts() { return { deadline: Date.now() + this.callTimeoutMs }; }
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.explain(e);
    }
  }

  /** A listing with the revision it was taken at. */
  async listWithRevision(prefix: string): Promise<{ entries: Map<string, string>; revision: number }> {
    const key = this.k(prefix);
    const res = await this.call(() => this.client.kv.range({ key, range_end: prefixEnd(key) }, this.opts()));
    const entries = new Map<string, string>();
    for (const kv of res.kvs) entries.set(kv.key.toString().slice(this.prefix.length), kv.value.toString());
    return { entries, revision: Number(res.header.revision) };
  }

  async list(prefix: string): Promise<Map<string, string>> {
    return (await this.listWithRevision(prefix)).entries;
  }

  async listKeys(prefix: string): Promise<string[]> {
    const key = this.k(prefix);
    const res = await this.call(() => this.client.kv.range({ key, range_end: prefixEnd(key), keys_only: true }, this.opts()));
    return res.kvs.map((kv) => kv.key.toString().slice(this.prefix.length));
  }

  async get(key: string): Promise<string | undefined> {
    const res = await this.call(() => this.client.kv.range({ key: this.k(key) }, this.opts()));
    return res.kvs.length > 0 ? res.kvs[0].value.toString() : undefined;
  }

  async txn(t: KvTxn): Promise<boolean> {
    const compare: ICompare[] = [
      ...(t.absent ?? []).map((key): ICompare => ({ key: this.k(key), target: 'Create', result: 'Equal', create_revision: 0 })),
      ...(t.equal ?? []).map(([key, value]): ICompare => ({ key: this.k(key), target: 'Value', result: 'Equal', value: Buffer.from(value) })),
    ];
    const success: IRequestOp[] = [
      ...(t.put ?? []).map(([key, value, lease]): IRequestOp => ({ request_put: { key: this.k(key), value: Buffer.from(value), ...(lease !== undefined ? { lease } : {}) } })),
      ...(t.del ?? []).map((key): IRequestOp => ({ request_delete_range: { key: this.k(key) } })),
    ];
    if (compare.length + success.length > MAX_TXN_OPS) {
      throw new DatastoreError('UNAVAILABLE', `transaction of ${compare.length} compares and ${success.length} operations exceeds etcd's ${MAX_TXN_OPS}`);
    }
    const res = await this.call(() => this.client.kv.txn({ compare, success, failure: [] }, this.opts()));
    return res.succeeded;
  }

  /** Compacts history up to `revision` (tests and maintenance). */
  async compact(revision: number): Promise<void> {
    await this.call(() => this.client.kv.compact({ revision, physical: true }, this.opts()));
  }
}

export class EtcdDatastore extends Datastore {
  readonly description: string;
  readonly client: Etcd3;
  readonly kv: EtcdKv;
  readonly prefix: string;
  private readonly opts: Required<Omit<EtcdOptions, 'access'>>;
  private watcher: Watcher | null = null;
  private watching = false;
  private closed = false;
  private resyncTimer: NodeJS.Timeout | null = null;
  private resyncing = false;
  private delay: number;
  /** Leases of running keepAlive() handles; close() stops their heartbeats (the keys then expire). */
  private readonly leases = new Set<() => void>();
  private readonly explainFailure: (e: unknown) => unknown;
  /** How many full re-lists the watch has done (compaction, reconnection): for status and tests. */
  resyncs = 0;

  constructor(readonly endpoints: string[], options: EtcdOptions = {}) {
    super();
    this.opts = {
      prefix: options.prefix ?? DEFAULT_PREFIX,
      callTimeoutMs: options.callTimeoutMs ?? 5000,
      dialTimeoutMs: options.dialTimeoutMs ?? 3000,
      backoffInitialMs: options.backoffInitialMs ?? 100,
      backoffMaxMs: options.backoffMaxMs ?? 5000,
      ownConnection: options.ownConnection ?? false,
    };
    if (!this.opts.prefix.endsWith('/')) this.opts.prefix += '/';
    this.prefix = this.opts.prefix;
    this.delay = this.opts.backoffInitialMs;
    this.description = `etcd:${endpoints.join(',')}`;
    // Security: refuse combinations that cannot work, then read the files (errors name them).
    const access = options.access ?? {};
    checkEtcdAccess(endpoints, access);
    const secure = endpoints.some((e) => e.startsWith('https://'));
    const loaded = loadEtcdCredentials(access, secure);
    if (secure && endpoints.some((e) => net.isIP(new URL(e).hostname.replace(/^\[|\]$/g, '')) !== 0)) dropIpServernameWarning();
    const clientOptions: IOptions = {
      hosts: endpoints,
      dialTimeout: this.opts.dialTimeoutMs,
      // etcd3 types rootCertificate as Buffer; grpc-js createSsl takes null for the system's CAs.
      ...(loaded.tls ? { credentials: { ...loaded.tls, rootCertificate: loaded.tls.rootCertificate as Buffer } } : {}),
      // etcd v3 Authenticate: the token goes with every call; etcd3 gets a new one when it expires.
      ...(loaded.auth ? { auth: { ...loaded.auth, callOptions: () => ({ deadline: Date.now() + this.opts.callTimeoutMs }) } } : {}),
      ...(this.opts.ownConnection ? { grpcOptions: { 'grpc.use_local_subchannel_pool': 1 } } : {}),
      faultHandling: {
        global: passThrough as unknown as NonNullable<IOptions['faultHandling']>['global'],
        host: () => passThrough as unknown as ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>,
        watchBackoff: backoff(this.opts.backoffInitialMs, this.opts.backoffMaxMs) as unknown as NonNullable<IOptions['faultHandling']>['watchBackoff'],
      },
    };
    this.client = new Etcd3(clientOptions);
    const context = { endpoints, access, prefix: this.prefix, description: this.description };
    this.explainFailure = (e) => explainEtcdFailure(e, context) ?? e;
    this.kv = new EtcdKv(this.client, this.prefix, this.opts.callTimeoutMs, this.explainFailure);
  }

  protected get watchingNow(): boolean { return this.watching; }

  async load(): Promise<void> {
    this.assertOpen();
    let listing;
    try {
      listing = await this.kv.listWithRevision('');
    } catch (e) {
      if (e instanceof DatastoreError) throw e; // TLS or auth, already explained
      throw new DatastoreError('UNAVAILABLE', `etcd ${this.endpoints.join(',')} unreachable: ${(e as Error).message}`, this.description);
    }
    this.publish(this.state.replaceAll(listing.entries));
    this.state.revision = listing.revision;
    this.setConnection('connected', 'listed');
  }

  async watch(): Promise<void> {
    this.assertOpen();
    if (this.watching) return;
    this.watching = true;
    try {
      if (this.state.revision === 0) await this.load();
      await this.startWatcher(this.state.revision + 1);
    } catch (e) {
      // Not watching after all: the caller may retry (an agent starting while etcd is down).
      this.watching = false;
      throw e;
    }
  }

  private async startWatcher(fromRevision: number): Promise<void> {
    const w = await this.client.watch().prefix(this.prefix).startRevision(String(fromRevision)).create();
    if (this.closed) { await w.cancel().catch(() => undefined); return; }
    this.watcher = w;
    w.on('data', (res: IWatchResponse) => this.onWatchData(w, res));
    // The stream broke: keep everything we have, say so, and resync when etcd answers again.
    w.on('disconnected', (err: Error) => this.lost(w, `watch stream lost: ${err.message}`));
    // Cancelled by etcd, e.g. "mvcc: required revision has been compacted": list again.
    w.on('error', (err: Error) => this.lost(w, `watch cancelled: ${err.message}`));
  }

  private onWatchData(w: Watcher, res: IWatchResponse): void {
    if (w !== this.watcher) return;
    if (res.canceled) return; // handled through 'error'
    const changes: EntryChange[] = [];
    for (const ev of res.events ?? []) {
      const key = ev.kv.key.toString().slice(this.prefix.length);
      if (ev.type === 'Put') changes.push({ key, type: 'put', value: ev.kv.value.toString() });
      else changes.push({ key, type: 'delete', value: '' });
    }
    const rev = Number(res.header.revision);
    if (rev > this.state.revision) this.state.revision = rev;
    this.setConnection('connected', 'watching');
    if (changes.length > 0) this.publish(this.state.apply(changes));
  }

  private lost(w: Watcher, reason: string): void {
    if (w !== this.watcher || this.closed) return;
    this.watcher = null;
    // Stop the library's own reconnect for this watcher: our resync replaces it.
    w.removeAllListeners();
    w.on('error', () => undefined);
    w.cancel().catch(() => undefined);
    this.setConnection('disconnected', reason);
    this.scheduleResync(0);
  }

  private scheduleResync(delayMs: number): void {
    if (this.closed || this.resyncTimer || this.resyncing) return;
    this.resyncTimer = setTimeout(() => { this.resyncTimer = null; void this.resync(); }, delayMs);
  }

  /** Lists everything, diffs it into events, and watches again from the listing's revision. */
  private async resync(): Promise<void> {
    if (this.closed) return;
    this.resyncing = true;
    try {
      const listing = await this.kv.listWithRevision('');
      this.resyncs++;
      this.publish(this.state.replaceAll(listing.entries));
      this.state.revision = listing.revision;
      await this.startWatcher(listing.revision + 1);
      this.delay = this.opts.backoffInitialMs;
      this.setConnection('connected', 'resynced');
    } catch (e) {
      this.setConnection('disconnected', `etcd unreachable: ${(e as Error).message}`);
      const wait = this.delay;
      this.delay = Math.min(this.opts.backoffMaxMs, this.delay * 2);
      this.resyncing = false;
      this.scheduleResync(wait * (0.75 + Math.random() * 0.5));
      return;
    }
    this.resyncing = false;
  }

  protected async writeResources(items: Located[]): Promise<void> {
    const entries = resourceEntries(items);
    for (let i = 0; i < entries.length; i += MAX_TXN_OPS) {
      await this.kv.txn({ put: entries.slice(i, i + MAX_TXN_OPS) });
    }
  }

  protected async removeResource(kind: Kind, name: string): Promise<boolean> {
    const key = resourceKey(kind, name);
    const cur = await this.kv.get(key);
    if (cur === undefined) return false;
    return this.kv.txn({ equal: [[key, cur]], del: [key] });
  }

  /**
   * Puts liveness/<node> on a lease of `ttlSeconds` and keeps it alive; when the lease is lost
   * (etcd away longer than the TTL) it grants a new one as soon as etcd answers again.
   */
  async keepAlive(node: string, ttlSeconds: number): Promise<LivenessHandle> {
    const start = await this.beginLiveness(node, ttlSeconds);
    const [key, value, lease] = start.entry;
    try {
      await this.kv.txn({ put: [[key, value, lease]] });
    } catch {
      // The lease is kept alive (or re-granted when lost, which puts the key again).
    }
    return start.handle;
  }

  /**
   * Grants the liveness lease (one etcd call) and keeps it alive; the caller puts `entry` (the
   * liveness key on that lease) in its own transaction (register() puts it together with the
   * Node and the claims). When the lease is lost (etcd away longer than the TTL) a new one is
   * granted as soon as etcd answers again, and the key is put on it.
   */
  protected async beginLiveness(node: string, ttlSeconds: number): Promise<LivenessStart> {
    this.assertOpen();
    let stopped = false;
    let lease: Lease | null = null;
    let retry: NodeJS.Timeout | null = null;
    const record: LivenessRecord = { node, since: new Date().toISOString(), pid: process.pid, host: os.hostname() };
    const key = this.prefix + livenessKey(node);
    const newLease = (): Lease => {
      const l = this.client.lease(ttlSeconds, { autoKeepAlive: true });
      lease = l;
      l.on('lost', () => {
        if (stopped || lease !== l) return;
        retry = setTimeout(() => { retry = null; regrant().catch(() => undefined); }, this.opts.backoffInitialMs * 10);
      });
      return l;
    };
    const regrant = async (): Promise<void> => {
      if (stopped || this.closed) return;
      try {
        await newLease().put(key).value(JSON.stringify(record)).exec();
      } catch {
        // 'lost' fires too when the grant fails; the retry above takes it from there.
      }
    };
    let id: string;
    try {
      id = await newLease().grant();
    } catch (e) {
      stopped = true;
      throw this.kvFailure(e);
    }
    const release = () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      (lease as Lease | null)?.release();
    };
    this.leases.add(release);
    return {
      entry: [livenessKey(node), JSON.stringify(record), id],
      handle: {
        node,
        stop: async () => {
          this.leases.delete(release);
          stopped = true;
          if (retry) clearTimeout(retry);
          const l = lease as Lease | null;
          if (l) await l.revoke({ deadline: Date.now() + this.opts.callTimeoutMs }).catch(() => undefined);
        },
      },
    };
  }

  /** A failed call as the error to throw: TLS/auth explained, else UNAVAILABLE naming the endpoints. */
  private kvFailure(e: unknown): Error {
    const explained = this.explainFailure(e);
    if (explained instanceof DatastoreError) return explained;
    return new DatastoreError('UNAVAILABLE', `etcd ${this.endpoints.join(',')} unreachable: ${(e as Error).message}`, this.description);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    // Like a crashed agent: heartbeats stop, liveness expires after its TTL, blocks stay.
    for (const release of this.leases) release();
    this.leases.clear();
    const w = this.watcher;
    this.watcher = null;
    if (w) {
      w.removeAllListeners();
      w.on('error', () => undefined);
      await Promise.race([w.cancel().catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
    }
    this.client.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new DatastoreError('CLOSED', `${this.description} is closed`, this.description);
  }
}
