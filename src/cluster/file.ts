// The file datastore backend: resources from a user's multi-document YAML (or JSON) file, and the
// agents' own writes (block claims, node index, agent-written node status, liveness) in
// FILE.state.json beside it, changed only under an O_EXCL lock file with atomic renames so that
// several agents on one machine share it. IPAM and status writes never rewrite the user's YAML;
// only an explicit `nexthop apply` / `delete` against the file edits it (other documents and
// their comments kept). Both files are re-read on change (fs.watch on the directory plus a
// periodic stat, debounced); a bad edit is reported through "problem" and the last good state
// is kept. No RFC.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { Datastore, LivenessHandle, LivenessStart } from './datastore';
import { KvStore, KvTxn } from './kv';
import { RESOURCES, resourceKey, encodeResource, livenessKey, LivenessRecord } from './keys';
import { Kind, Located, parseResources, toDocument, KINDS } from './resources';
import { DatastoreError, ResourceError, formatProblem, type ResourceProblem } from './errors';
import { withLock, writeFileAtomic, LockOptions } from './lockfile';

export interface FileOptions extends LockOptions {
  /** Stat poll interval (ms) backing up fs.watch. Default 1000. */
  pollMs?: number;
  /** Quiet time after a change before re-reading (ms). Default 100. */
  debounceMs?: number;
  /** State file path. Default FILE.state.json. */
  statePath?: string;
}

interface StateFile { version: 1; entries: Record<string, string> }

export class FileKv implements KvStore {
  /** Resource entries from the last good read of the YAML (null: none yet). */
  private good: Map<string, string> | null = null;

  get resources(): Map<string, string> { return this.good ?? new Map(); }
  set resources(m: Map<string, string>) { this.good = m; }

  constructor(readonly resourcePath: string, readonly statePath: string, readonly lockPath: string, private readonly lockOpts: LockOptions) {}

  /**
   * Reads and validates the YAML; throws ResourceError on a bad file. Missing file = empty.
   * Fields accepted with a warning (Calico fields nexthop does not use) go to `warnings`.
   */
  readResourceFile(warnings?: ResourceProblem[]): Map<string, string> {
    let text: string;
    try {
      text = fs.readFileSync(this.resourcePath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw e;
    }
    const out = new Map<string, string>();
    for (const it of parseResources(text, this.resourcePath, { warnings })) out.set(resourceKey(it.resource.kind, it.resource.metadata.name), encodeResource(it.resource));
    return out;
  }

  /** Reads the state file; throws DatastoreError CORRUPT_STATE when it cannot be decoded. */
  readState(): Map<string, string> {
    let text: string;
    try {
      text = fs.readFileSync(this.statePath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw e;
    }
    try {
      const v = JSON.parse(text) as StateFile;
      if (v.version !== 1 || typeof v.entries !== 'object' || v.entries === null) throw new Error('not a nexthop state file (version 1)');
      return new Map(Object.entries(v.entries).filter(([, x]) => typeof x === 'string'));
    } catch (e) {
      throw new DatastoreError('CORRUPT_STATE', `${this.statePath}: ${(e as Error).message}`, `file:${this.resourcePath}`);
    }
  }

  private writeState(entries: Map<string, string>): void {
    const sorted = [...entries.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
    const doc: StateFile = { version: 1, entries: Object.fromEntries(sorted) };
    writeFileAtomic(this.statePath, JSON.stringify(doc, null, 1) + '\n');
  }

  private all(): Map<string, string> {
    return new Map([...this.resources, ...this.readState()]);
  }

  async list(prefix: string): Promise<Map<string, string>> {
    if (RESOURCES.startsWith(prefix) || prefix.startsWith(RESOURCES)) {
      try {
        this.good = this.readResourceFile();
      } catch (e) {
        // Keep the last good resources; with none yet (a CLI run, a fresh agent), say why.
        if (this.good === null) throw e;
      }
    }
    const out = new Map<string, string>();
    for (const [k, v] of this.all()) if (k.startsWith(prefix)) out.set(k, v);
    return out;
  }

  async listKeys(prefix: string): Promise<string[]> {
    return [...(await this.list(prefix)).keys()];
  }

  async get(key: string): Promise<string | undefined> {
    if (key.startsWith(RESOURCES)) return (await this.list(key)).get(key);
    return this.readState().get(key);
  }

  async txn(t: KvTxn): Promise<boolean> {
    const touched = [...(t.absent ?? []), ...(t.equal ?? []).map(([k]) => k), ...(t.put ?? []).map(([k]) => k), ...(t.del ?? [])];
    const bad = touched.find((k) => k.startsWith(RESOURCES));
    if (bad) throw new DatastoreError('READ_ONLY', `${bad}: resources of a file datastore change only by editing ${this.resourcePath}`);
    return withLock(this.lockPath, () => {
      const entries = this.readState();
      for (const k of t.absent ?? []) if (entries.has(k)) return false;
      for (const [k, v] of t.equal ?? []) if (entries.get(k) !== v) return false;
      let changed = false;
      for (const [k, v] of t.put ?? []) { if (entries.get(k) !== v) changed = true; entries.set(k, v); }
      for (const k of t.del ?? []) if (entries.delete(k)) changed = true;
      if (changed) this.writeState(entries);
      return true;
    }, this.lockOpts);
  }
}

export class FileDatastore extends Datastore {
  readonly description: string;
  protected override readonly resourcesInKv = false;
  readonly kv: FileKv;
  readonly resourcePath: string;
  readonly statePath: string;
  private readonly opts: Required<Omit<FileOptions, 'statePath'>>;
  private watchers: fs.FSWatcher[] = [];
  private pollTimer: NodeJS.Timeout | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private lastStat = '';
  private closed = false;
  private loaded = false;
  private lastProblem = '';
  /** Warnings of the last good read of the YAML (each emitted once while it stays). */
  private lastWarnings = new Set<string>();

  constructor(resourcePath: string, options: FileOptions = {}) {
    super();
    this.resourcePath = path.resolve(resourcePath);
    this.statePath = options.statePath ? path.resolve(options.statePath) : `${this.resourcePath}.state.json`;
    this.opts = {
      pollMs: options.pollMs ?? 1000,
      debounceMs: options.debounceMs ?? 100,
      timeoutMs: options.timeoutMs ?? 10000,
      staleMs: options.staleMs ?? 30000,
    };
    this.description = `file:${this.resourcePath}`;
    this.kv = new FileKv(this.resourcePath, this.statePath, `${this.statePath}.lock`, this.opts);
  }

  /**
   * Reads both files into the state. The first load throws on a bad resource file (there is no
   * last good state yet); later re-reads report the problem and keep the last good resources.
   */
  async load(): Promise<void> {
    if (this.closed) throw new DatastoreError('CLOSED', `${this.description} is closed`, this.description);
    let resources: Map<string, string>;
    let problem = '';
    const warnings: ResourceProblem[] = [];
    try {
      resources = this.kv.readResourceFile(warnings);
      this.kv.resources = resources;
      // Keyed by resource and field, not by document number: moving a document is no news.
      const now = new Set<string>();
      for (const w of warnings) {
        const key = `${w.resource}\u0000${w.field}\u0000${w.message}`;
        if (!this.lastWarnings.has(key) && !now.has(key)) this.emit('warning', formatProblem(w));
        now.add(key);
      }
      this.lastWarnings = now;
    } catch (e) {
      if (!this.loaded) throw e;
      problem = e instanceof ResourceError ? `${this.resourcePath} not applied, keeping the last good state:\n${e.message}` : (e as Error).message;
      resources = this.kv.resources;
    }
    let stateEntries: Map<string, string>;
    try {
      stateEntries = this.kv.readState();
    } catch (e) {
      if (!this.loaded) throw e;
      problem = problem ? `${problem}\n${(e as Error).message}` : (e as Error).message;
      stateEntries = this.state.rawEntries();
      for (const k of [...stateEntries.keys()]) if (k.startsWith(RESOURCES)) stateEntries.delete(k);
    }
    if (problem && problem !== this.lastProblem) this.emit('problem', problem);
    this.lastProblem = problem;
    const result = this.state.replaceAll(new Map([...resources, ...stateEntries]));
    if (result.events.length > 0) this.state.revision++;
    this.loaded = true;
    this.setConnection('connected', 'read');
    this.publish(result);
  }

  // The file backend reads both files whole on every claim anyway: always fresh.
  protected get watchingNow(): boolean { return false; }

  async watch(): Promise<void> {
    if (!this.loaded) await this.load();
    if (this.watchers.length > 0 || this.pollTimer) return;
    // Watch the directories, not the files: an editor's save or our atomic rename replaces the
    // inode, which ends a watch on the file itself.
    const names = new Set([path.basename(this.resourcePath), path.basename(this.statePath)]);
    for (const dir of new Set([path.dirname(this.resourcePath), path.dirname(this.statePath)])) {
      try {
        const w = fs.watch(dir, { persistent: false }, (_ev, name) => {
          if (name === null || names.has(name.toString())) this.changed();
        });
        w.on('error', () => undefined); // the stat poll carries on
        this.watchers.push(w);
      } catch {
        // inotify unavailable or out of watches: the stat poll alone notices changes.
      }
    }
    this.lastStat = this.statSignature();
    this.pollTimer = setInterval(() => {
      const sig = this.statSignature();
      if (sig !== this.lastStat) { this.lastStat = sig; this.changed(); }
    }, this.opts.pollMs);
    this.pollTimer.unref();
  }

  private statSignature(): string {
    return [this.resourcePath, this.statePath].map((p) => {
      try { const s = fs.statSync(p); return `${s.ino}:${s.size}:${s.mtimeMs}`; } catch { return 'none'; }
    }).join('|');
  }

  private changed(): void {
    if (this.closed) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      this.lastStat = this.statSignature();
      this.load().catch((e) => this.emit('problem', (e as Error).message));
    }, this.opts.debounceMs);
  }

  /** Rewrites the user's file: documents of applied resources replaced, new ones appended. */
  protected async writeResources(items: Located[]): Promise<void> {
    if (items.length === 0) return;
    await this.editResourceFile((docs) => {
      for (const it of items) {
        const i = docs.findIndex((d) => sameResource(d, it.resource.kind, it.resource.metadata.name));
        const fresh = new YAML.Document(toDocument(it.resource));
        if (i >= 0) { fresh.commentBefore = docs[i].commentBefore; docs[i] = fresh; } else docs.push(fresh);
      }
      return true;
    });
  }

  protected async removeResource(kind: Kind, name: string): Promise<boolean> {
    let found = false;
    await this.editResourceFile((docs) => {
      const i = docs.findIndex((d) => sameResource(d, kind, name));
      if (i < 0) return false;
      docs.splice(i, 1);
      found = true;
      return true;
    });
    return found;
  }

  private async editResourceFile(edit: (docs: YAML.Document[]) => boolean): Promise<void> {
    await withLock(`${this.statePath}.lock`, () => {
      let text = '';
      try { text = fs.readFileSync(this.resourcePath, 'utf8'); } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      const docs = YAML.parseAllDocuments(text) as YAML.Document[];
      const kept = docs.filter((d) => d.contents !== null || d.commentBefore);
      if (!edit(kept)) return;
      kept.forEach((d, i) => { d.directives!.docStart = i > 0 ? true : null; });
      const out = kept.map((d) => String(d).replace(/\n*$/, '\n')).join('');
      // Re-validate what we are about to write: never leave the user a file that does not load.
      parseResources(out, this.resourcePath);
      writeFileAtomic(this.resourcePath, out);
    }, this.opts);
    this.kv.resources = this.kv.readResourceFile();
  }

  /** Liveness in the state file: a record with an expiry, refreshed every ttl/3. */
  async keepAlive(node: string, ttlSeconds: number): Promise<LivenessHandle> {
    const start = await this.beginLiveness(node, ttlSeconds);
    await this.kv.txn({ put: [start.entry] });
    return start.handle;
  }

  /** The first liveness record (for the caller's transaction) and the heartbeat that renews it. */
  protected async beginLiveness(node: string, ttlSeconds: number): Promise<LivenessStart> {
    const key = livenessKey(node);
    const since = new Date().toISOString();
    const record = (): string => JSON.stringify({ node, since, pid: process.pid, host: os.hostname(), expiresAt: Date.now() + ttlSeconds * 1000 } satisfies LivenessRecord);
    const beat = async () => { await this.kv.txn({ put: [[key, record()]] }); };
    const timer = setInterval(() => { beat().catch((e) => this.emit('problem', `liveness of ${node}: ${(e as Error).message}`)); }, Math.max(200, (ttlSeconds * 1000) / 3));
    timer.unref();
    return {
      entry: [key, record()],
      handle: {
        node,
        stop: async () => {
          clearInterval(timer);
          await this.kv.txn({ del: [key] });
        },
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.pollTimer = null;
  }
}

function sameResource(d: YAML.Document, kind: Kind, name: string): boolean {
  const v = d.toJS() as { kind?: unknown; metadata?: { name?: unknown } } | null;
  return v !== null && typeof v === 'object' && KINDS.includes(v.kind as Kind) && v.kind === kind && v.metadata?.name === name;
}
