// The agent's small HTTP endpoint (node:http, default 127.0.0.1:9743): /metrics in the
// Prometheus text format, /healthz (liveness: answered while the event loop turns), /readyz
// (readiness: 200 only when the datastore was reached, the node owns its block and every desired
// session is Established or its peer is in graceful restart; otherwise 503 with a JSON body that
// lists what is not ready). The agent passes the metrics renderer and the readiness conditions
// in; readinessConditions() is the pure rule it can use to build them.
//
// RFC 4724 §4.2 (a session whose peer is restarting counts as ready: its routes are kept).

import * as http from 'http';
import { monitorEventLoopDelay, IntervalHistogram } from 'perf_hooks';
import type { Logger } from './log';
import type { PeerState } from './status-types';

export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:9743';
export const DEFAULT_METRICS_PORT = 9743;

export interface ListenAddress {
  /** '' means every address (IPv6 and IPv4 where the kernel allows). */
  host: string;
  port: number;
}

export class ListenAddressError extends Error {
  readonly code = 'bad-listen-address';
  constructor(readonly value: string, readonly field: string, reason: string) {
    super(`${field}: '${value}' ${reason} (expected HOST:PORT, [IPv6]:PORT or :PORT, e.g. ${DEFAULT_METRICS_ADDRESS})`);
    this.name = 'ListenAddressError';
  }
}

/** Parses "127.0.0.1:9743", "[::1]:9743", "0.0.0.0:9743", ":9743" (all addresses), "9743" (loopback). */
export function parseListenAddress(text: string, field = '--metrics-address'): ListenAddress {
  const v = text.trim();
  let host: string;
  let portText: string;
  if (/^\d+$/.test(v)) {
    host = '127.0.0.1';
    portText = v;
  } else if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end < 0 || v[end + 1] !== ':') throw new ListenAddressError(text, field, 'has an unterminated IPv6 bracket or no port');
    host = v.slice(1, end);
    portText = v.slice(end + 2);
  } else {
    const colon = v.lastIndexOf(':');
    if (colon < 0) throw new ListenAddressError(text, field, 'has no port');
    host = v.slice(0, colon);
    portText = v.slice(colon + 1);
    if (host.includes(':')) throw new ListenAddressError(text, field, 'is an IPv6 address without brackets');
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new ListenAddressError(text, field, `has a bad port '${portText}'`);
  }
  if (host !== '' && !/^[A-Za-z0-9.:%_-]+$/.test(host)) throw new ListenAddressError(text, field, `has a bad host '${host}'`);
  return { host, port: Number(portText) };
}

export function formatListenAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

// ---------------------------------------------------------------------------------------------
// Readiness

export interface ReadinessCondition {
  /** Short id: "datastore", "block", "session node/node-b/v4"... */
  name: string;
  ready: boolean;
  /** Why not (or a short note when ready). */
  detail?: string;
}

export interface ReadinessInput {
  datastoreConnected: boolean;
  datastoreError?: string;
  /** The node's own blocks; empty until IPAM gave one. */
  blocks: string[];
  /** Desired sessions only (the agent leaves out ones being removed). */
  sessions: { name: string; address: string; state: PeerState; peerRestarting?: boolean; info?: string }[];
}

/**
 * The readiness rule: the datastore was reached, the node owns a block, and every desired
 * session is Established or its peer is restarting (RFC 4724 §4.2: its routes stay in use).
 * A node with no desired sessions (a one-node cluster) is ready on the first two alone.
 */
export function readinessConditions(input: ReadinessInput): ReadinessCondition[] {
  const out: ReadinessCondition[] = [];
  out.push(input.datastoreConnected
    ? { name: 'datastore', ready: true }
    : { name: 'datastore', ready: false, detail: `datastore not reached${input.datastoreError ? `: ${input.datastoreError}` : ''}` });
  out.push(input.blocks.length > 0
    ? { name: 'block', ready: true, detail: input.blocks.join(', ') }
    : { name: 'block', ready: false, detail: 'no pod block owned yet' });
  for (const s of input.sessions) {
    const name = `session ${s.name}`;
    if (s.state === 'Established') out.push({ name, ready: true, detail: `${s.address} Established` });
    else if (s.peerRestarting) out.push({ name, ready: true, detail: `${s.address} in graceful restart (routes kept)` });
    else out.push({ name, ready: false, detail: `${s.address} is ${s.info && s.info !== s.state ? s.info : s.state}` });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The server

export interface MetricsRenderer {
  render(): Promise<string>;
  readonly contentType: string;
}

export interface StatusHttpOptions {
  /** Where to listen; default 127.0.0.1:9743. Port 0 picks a free port (tests). */
  address?: ListenAddress | string;
  metrics: MetricsRenderer;
  readiness: () => ReadinessCondition[] | Promise<ReadinessCondition[]>;
  /** Extra liveness check (e.g. "the speaker's event queue is draining"); default: always alive. */
  liveness?: () => { ok: boolean; detail?: string };
  logger?: Logger;
}

/** The listen socket could not be opened: names the address and the errno. */
export class HttpListenError extends Error {
  constructor(readonly address: string, readonly code: string, reason: string) {
    super(`cannot serve metrics/health on ${address}: ${reason} (${code})`);
    this.name = 'HttpListenError';
  }
}

const ENDPOINTS = ['/metrics', '/healthz', '/readyz'];

export class StatusHttpServer {
  private readonly server: http.Server;
  private readonly address: ListenAddress;
  private readonly loopDelay: IntervalHistogram;
  private readonly startedAt = Date.now();
  private bound: ListenAddress | null = null;

  constructor(private readonly opts: StatusHttpOptions) {
    this.address = typeof opts.address === 'string' ? parseListenAddress(opts.address)
      : opts.address ?? parseListenAddress(DEFAULT_METRICS_ADDRESS);
    this.loopDelay = monitorEventLoopDelay({ resolution: 20 });
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.opts.logger?.error({ err, path: req.url }, 'HTTP handler failed');
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `internal error: ${errorText(err)}\n`);
        else res.destroy();
      });
    });
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 5_000;
    this.server.keepAliveTimeout = 5_000;
    this.server.maxConnections = 64;
  }

  /** Starts listening; resolves with the bound address (the real port when 0 was asked). */
  async start(): Promise<ListenAddress> {
    const text = formatListenAddress(this.address);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const reason = err.code === 'EADDRINUSE' ? 'address already in use'
          : err.code === 'EADDRNOTAVAIL' ? 'no such local address'
            : err.code === 'EACCES' ? 'permission denied' : err.message;
        reject(new HttpListenError(text, err.code ?? 'EUNKNOWN', reason));
      };
      this.server.once('error', onError);
      this.server.listen({ host: this.address.host === '' ? undefined : this.address.host, port: this.address.port }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.server.on('error', (err) => this.opts.logger?.error({ err }, 'HTTP server error'));
    this.loopDelay.enable();
    const a = this.server.address();
    this.bound = a && typeof a === 'object' ? { host: a.address, port: a.port } : this.address;
    this.opts.logger?.info({ address: formatListenAddress(this.bound) }, 'serving /metrics, /healthz, /readyz');
    return this.bound;
  }

  /** The bound address after start(). */
  get listening(): ListenAddress | null {
    return this.bound;
  }

  /** Stops listening and drops open connections. */
  async close(): Promise<void> {
    this.loopDelay.disable();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.bound = null;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (!ENDPOINTS.includes(path)) {
      send(res, 404, 'text/plain; charset=utf-8', `not found: ${path}\nendpoints: ${ENDPOINTS.join(' ')}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', `method ${req.method} not allowed\n`);
      return;
    }
    const head = req.method === 'HEAD';
    if (path === '/metrics') {
      const text = await this.opts.metrics.render();
      send(res, 200, this.opts.metrics.contentType, text, head);
    } else if (path === '/healthz') {
      const extra = this.opts.liveness ? this.opts.liveness() : { ok: true };
      const body = {
        status: extra.ok ? 'alive' : 'unhealthy',
        ...(extra.detail ? { detail: extra.detail } : {}),
        uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
        eventLoopDelayMs: {
          p99: round(this.loopDelay.percentile(99) / 1e6),
          max: round(this.loopDelay.max / 1e6),
        },
      };
      send(res, extra.ok ? 200 : 503, 'application/json', JSON.stringify(body) + '\n', head);
    } else {
      let conditions: ReadinessCondition[];
      try {
        conditions = await this.opts.readiness();
      } catch (err) {
        conditions = [{ name: 'readiness', ready: false, detail: `readiness check failed: ${errorText(err)}` }];
      }
      const notReady = conditions.filter((c) => !c.ready);
      const body = notReady.length === 0
        ? { ready: true, conditions }
        : { ready: false, notReady: notReady.map((c) => ({ name: c.name, detail: c.detail ?? '' })), conditions };
      send(res, notReady.length === 0 ? 200 : 503, 'application/json', JSON.stringify(body, null, 2) + '\n', head);
    }
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string, headOnly = false): void {
  const buf = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': buf.length, 'Cache-Control': 'no-store' });
  res.end(headOnly ? undefined : buf);
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 100) / 100 : 0;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
