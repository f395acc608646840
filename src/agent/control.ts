// The agent's control socket: a unix stream socket only root can use (default
// /run/nexthop/nexthop.sock, mode 0600, in a directory made 0700), speaking newline-delimited
// JSON: each request line {"id", "method", "params"} gets one response line {"id", "result"} or
// {"id", "error": {"code", "message"}}; several requests may be in flight on one connection and
// answers carry the request's id. The agent registers handlers ('status', 'routes',
// 'explain', ...); the CLI calls them with callAgent()/ControlClient, which time out and say
// plainly when the agent is not running. A stale socket file left by a crashed agent is
// replaced; a live agent's socket, or a file that is not a socket, is never touched.
// No RFC: operator plumbing.

import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import type { Logger } from './log';

export const DEFAULT_CONTROL_SOCKET = '/run/nexthop/nexthop.sock';
/** Longest request line the server reads (bytes, without the newline). */
export const MAX_REQUEST_BYTES = 1 << 20;
/** Longest response line the client reads (the routes of a big cluster fit easily). */
export const MAX_RESPONSE_BYTES = 256 << 20;
export const DEFAULT_CALL_TIMEOUT_MS = 5000;

export type RequestId = string | number | null;

export interface ControlRequest {
  id: RequestId;
  method: string;
  params?: unknown;
}

export interface ControlErrorBody {
  /** parse-error | invalid-request | unknown-method | bad-params | too-large | handler-error | <handler's own code> */
  code: string;
  message: string;
}

export type ControlResponse = { id: RequestId; result: unknown } | { id: RequestId; error: ControlErrorBody };

/** What a handler gets besides its params. */
export interface CallContext {
  method: string;
}

export type ControlHandler = (params: unknown, ctx: CallContext) => unknown | Promise<unknown>;

/** A handler throws this to answer with a specific error code, e.g. 'bad-params'. */
export class ControlMethodError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'ControlMethodError';
  }
}

/** The server could not take its socket path; `code` says why, `path` where. */
export class ControlSocketError extends Error {
  constructor(readonly code: 'in-use' | 'not-a-socket' | 'insecure-dir' | 'listen-failed', readonly path: string, message: string) {
    super(message);
    this.name = 'ControlSocketError';
  }
}

export interface ControlServerOptions {
  /** Socket path; default /run/nexthop/nexthop.sock. */
  path?: string;
  logger?: Logger;
  maxRequestBytes?: number;
  /** Simultaneous connections; more are refused. Default 32. */
  maxConnections?: number;
}

// ---------------------------------------------------------------------------------------------
// Server

export class ControlServer {
  readonly path: string;
  private readonly handlers = new Map<string, ControlHandler>();
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private inode: number | null = null;
  private readonly maxRequestBytes: number;

  constructor(private readonly opts: ControlServerOptions = {}) {
    this.path = path.resolve(opts.path ?? DEFAULT_CONTROL_SOCKET);
    this.maxRequestBytes = opts.maxRequestBytes ?? MAX_REQUEST_BYTES;
    // Built in: lets the CLI check that the agent answers, and see what it can ask.
    this.handle('ping', () => ({ pong: true, pid: process.pid }));
    this.handle('methods', () => [...this.handlers.keys()].sort());
  }

  /** Registers (or replaces) the handler of `method`. */
  handle(method: string, fn: ControlHandler): this {
    this.handlers.set(method, fn);
    return this;
  }

  /**
   * Prepares the directory (created 0700; an existing one must not be writable by others unless
   * sticky), replaces a stale socket file, listens, and makes the socket 0600.
   */
  async start(): Promise<void> {
    if (this.server) return;
    prepareDirectory(path.dirname(this.path));
    await removeStaleSocket(this.path);
    const server = net.createServer({ allowHalfOpen: false }, (sock) => this.accept(sock));
    server.maxConnections = this.opts.maxConnections ?? 32;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(err.code === 'EADDRINUSE'
          ? new ControlSocketError('in-use', this.path, `control socket ${this.path} appeared while starting: is another nexthop agent starting? (EADDRINUSE)`)
          : new ControlSocketError('listen-failed', this.path, `cannot listen on control socket ${this.path}: ${err.message} (${err.code ?? 'EUNKNOWN'})`));
      };
      server.once('error', onError);
      server.listen(this.path, () => {
        server.off('error', onError);
        resolve();
      });
    });
    // The directory is 0700, so nobody else can reach the socket in the moment before chmod.
    fs.chmodSync(this.path, 0o600);
    this.inode = fs.statSync(this.path).ino;
    server.on('error', (err) => this.opts.logger?.error({ err, path: this.path }, 'control socket error'));
    this.server = server;
    this.opts.logger?.info({ path: this.path }, 'control socket listening');
  }

  /** Stops listening, closes connections, and removes the socket file if it is still ours. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      // Node removes the file on close; if something else now sits at the path, leave it.
      const st = fs.lstatSync(this.path);
      if (st.isSocket() && st.ino === this.inode) fs.unlinkSync(this.path);
    } catch { /* already gone */ }
    this.inode = null;
  }

  private accept(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.setEncoding('utf8');
    let buf = '';
    let refused = false;
    sock.on('data', (chunk: string) => {
      if (refused) return;
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() !== '') void this.respond(line).then((text) => writeText(sock, text));
        nl = buf.indexOf('\n');
      }
      if (Buffer.byteLength(buf) > this.maxRequestBytes) {
        writeLine(sock, { id: null, error: { code: 'too-large', message: `request longer than ${this.maxRequestBytes} bytes` } });
        buf = '';
        refused = true;
        sock.end();
      }
    });
    sock.on('error', () => { /* the client went away; nothing to tell it */ });
    sock.on('close', () => this.sockets.delete(sock));
  }

  /**
   * Answers one request line with the response line (no newline), serialized once. A result
   * that cannot be serialized (a BigInt, a cycle) becomes a handler-error. Never throws.
   */
  async respond(line: string): Promise<string> {
    const resp = await this.dispatch(line);
    try {
      return JSON.stringify(resp);
    } catch (err) {
      const what = 'result' in resp ? 'result' : 'response';
      this.opts.logger?.error({ err }, `control ${what} not serializable`);
      return JSON.stringify({ id: resp.id, error: { code: 'handler-error', message: `${what} is not serializable: ${(err as Error).message}` } });
    }
  }

  /** Answers one request line. Never throws. */
  async dispatch(line: string): Promise<ControlResponse> {
    if (Buffer.byteLength(line) > this.maxRequestBytes) {
      return { id: null, error: { code: 'too-large', message: `request longer than ${this.maxRequestBytes} bytes` } };
    }
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch (err) {
      return { id: null, error: { code: 'parse-error', message: `request is not JSON: ${(err as Error).message}` } };
    }
    if (typeof req !== 'object' || req === null || Array.isArray(req)) {
      return { id: null, error: { code: 'invalid-request', message: 'request must be a JSON object {id, method, params}' } };
    }
    const r = req as Record<string, unknown>;
    const id = r.id;
    if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number') {
      return { id: null, error: { code: 'invalid-request', message: 'id must be a string or a number' } };
    }
    const rid: RequestId = (id ?? null) as RequestId;
    if (typeof r.method !== 'string' || r.method === '') {
      return { id: rid, error: { code: 'invalid-request', message: 'method must be a non-empty string' } };
    }
    const handler = this.handlers.get(r.method);
    if (!handler) {
      return { id: rid, error: { code: 'unknown-method', message: `unknown method '${r.method}' (known: ${[...this.handlers.keys()].sort().join(', ')})` } };
    }
    try {
      const result = await handler(r.params, { method: r.method });
      return { id: rid, result: result ?? null };
    } catch (err) {
      if (err instanceof ControlMethodError) return { id: rid, error: { code: err.code, message: err.message } };
      this.opts.logger?.error({ err, method: r.method }, 'control method failed');
      const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'handler-error';
      return { id: rid, error: { code, message: err instanceof Error ? err.message : String(err) } };
    }
  }
}

function writeLine(sock: net.Socket, resp: ControlResponse): void {
  writeText(sock, JSON.stringify(resp));
}

function writeText(sock: net.Socket, text: string): void {
  if (sock.destroyed || !sock.writable) return;
  sock.write(text + '\n');
}

/** Creates the socket's directory 0700, or checks that an existing one is safe to use. */
function prepareDirectory(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    return;
  }
  if (!st.isDirectory()) throw new ControlSocketError('insecure-dir', dir, `control socket directory ${dir} is not a directory`);
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  if (st.uid !== uid && st.uid !== 0) {
    throw new ControlSocketError('insecure-dir', dir, `control socket directory ${dir} belongs to uid ${st.uid}, not to us (uid ${uid}) or root`);
  }
  // Writable by group/others without the sticky bit: someone else could swap our socket.
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
    throw new ControlSocketError('insecure-dir', dir,
      `control socket directory ${dir} is writable by group or others (mode ${(st.mode & 0o7777).toString(8)}); make it 0700 or 0755`);
  }
}

/** Removes a socket file nobody listens on; refuses a live socket or a non-socket file. */
async function removeStaleSocket(p: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) {
    throw new ControlSocketError('not-a-socket', p, `${p} exists and is not a socket; not removing it (choose another --control-socket or remove it)`);
  }
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(p);
    const timer = setTimeout(() => { c.destroy(); resolve(true); }, 1000);
    c.once('connect', () => { clearTimeout(timer); c.destroy(); resolve(true); });
    c.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // ECONNREFUSED: nobody listens - a crashed agent's leftover. Anything else: assume alive.
      resolve(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT');
    });
  });
  if (alive) throw new ControlSocketError('in-use', p, `another nexthop agent is serving ${p} (or it does not answer); not replacing it`);
  try {
    fs.unlinkSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Client

/** The agent's socket cannot be reached (not running, or no permission). */
export class AgentUnreachableError extends Error {
  constructor(readonly path: string, readonly code: string) {
    super(code === 'EACCES' || code === 'EPERM'
      ? `cannot reach nexthop agent at ${path}: permission denied, run as root (${code})`
      : `cannot reach nexthop agent at ${path}: is it running? (${code})`);
    this.name = 'AgentUnreachableError';
  }
}

/** The agent did not answer in time. */
export class AgentTimeoutError extends Error {
  constructor(readonly path: string, readonly method: string, readonly timeoutMs: number) {
    super(`nexthop agent at ${path} did not answer '${method}' within ${timeoutMs} ms`);
    this.name = 'AgentTimeoutError';
  }
}

/** The agent answered with an error. */
export class AgentRequestError extends Error {
  constructor(readonly method: string, readonly code: string, readonly detail: string) {
    super(`nexthop agent: '${method}' failed: ${detail} (${code})`);
    this.name = 'AgentRequestError';
  }
}

/** The agent's answer broke the protocol (not JSON, too long, connection closed mid-call). */
export class AgentProtocolError extends Error {
  constructor(readonly path: string, detail: string) {
    super(`nexthop agent at ${path}: ${detail}`);
    this.name = 'AgentProtocolError';
  }
}

export interface ClientOptions {
  /** Socket path; default /run/nexthop/nexthop.sock. */
  socketPath?: string;
  /** Per call, ms; default 5000. Also bounds connecting. */
  timeoutMs?: number;
  maxResponseBytes?: number;
}

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** One connection to the agent; several calls may be in flight. */
export class ControlClient {
  readonly path: string;
  private sock: net.Socket | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(opts: ClientOptions = {}) {
    this.path = path.resolve(opts.socketPath ?? DEFAULT_CONTROL_SOCKET);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  }

  async connect(): Promise<void> {
    if (this.sock) return;
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(this.path);
      const timer = setTimeout(() => { s.destroy(); reject(new AgentTimeoutError(this.path, 'connect', this.timeoutMs)); }, this.timeoutMs);
      s.once('connect', () => { clearTimeout(timer); resolve(s); });
      s.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new AgentUnreachableError(this.path, err.code ?? 'EUNKNOWN'));
      });
    });
    sock.setEncoding('utf8');
    let buf = '';
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        this.onLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
      if (buf.length > this.maxResponseBytes) {
        this.failAll(new AgentProtocolError(this.path, `response longer than ${this.maxResponseBytes} bytes`));
        sock.destroy();
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => this.failAll(new AgentProtocolError(this.path, `connection failed: ${err.message}`)));
    sock.on('close', () => {
      this.sock = null;
      this.failAll(new AgentProtocolError(this.path, 'the agent closed the connection before answering'));
    });
    this.sock = sock;
  }

  /** Calls `method`; resolves with its result, rejects with AgentRequestError/AgentTimeoutError/... */
  async call<T = unknown>(method: string, params?: unknown): Promise<T> {
    await this.connect();
    const sock = this.sock!;
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AgentTimeoutError(this.path, method, this.timeoutMs));
      }, this.timeoutMs);
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
      sock.write(JSON.stringify({ id, method, params: params ?? null }) + '\n');
    });
  }

  close(): void {
    this.sock?.destroy();
    this.sock = null;
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    let resp: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(line);
      if (typeof v !== 'object' || v === null) throw new Error('not an object');
      resp = v as Record<string, unknown>;
    } catch (err) {
      this.failAll(new AgentProtocolError(this.path, `answer is not JSON: ${(err as Error).message}`));
      return;
    }
    const p = typeof resp.id === 'number' ? this.pending.get(resp.id) : undefined;
    if (!p) {
      // An error without an id (e.g. too-large) concerns the whole connection.
      const e = resp.error as ControlErrorBody | undefined;
      if (resp.id === null && e) this.failAll(new AgentRequestError('?', e.code, e.message));
      return;
    }
    this.pending.delete(resp.id as number);
    clearTimeout(p.timer);
    if (resp.error && typeof resp.error === 'object') {
      const e = resp.error as ControlErrorBody;
      p.reject(new AgentRequestError(p.method, String(e.code), String(e.message)));
    } else {
      p.resolve(resp.result);
    }
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}

/** One call on a fresh connection: what `nexthop status` and friends use. */
export async function callAgent<T = unknown>(method: string, params?: unknown, opts: ClientOptions = {}): Promise<T> {
  const c = new ControlClient(opts);
  try {
    return await c.call<T>(method, params);
  } finally {
    c.close();
  }
}
