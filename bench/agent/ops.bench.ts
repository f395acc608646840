// The operator paths of the agent, measured: (1) a Prometheus scrape (Metrics.render) with the
// per-peer numbers read from a snapshot at scrape time, for 100 and 1,000 peers with two
// families each, process metrics included; (2) the same scrape over HTTP on loopback
// (StatusHttpServer, a real client); (3) the hot-path cost of the event-driven counter
// (Metrics.updateIn) per call; (4) the control socket: a `nexthop status`-style call on a fresh
// connection (connect, ping, close) and a 'routes' answer of 10,000 RouteStatus objects (the
// JSON a large cluster's `nexthop routes` carries); (5) rendering that routes view as text.
// Median of N passes, range in brackets. No RFC.
// Run: npm run build && node dist/bench/agent/ops.bench.js [--passes N] [--json]
import { performance } from 'perf_hooks';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { Metrics, PeerMetricsSnapshot } from '../../src/agent/metrics';
import { StatusHttpServer } from '../../src/agent/http';
import { ControlServer, ControlClient, callAgent } from '../../src/agent/control';
import { formatRoutes } from '../../src/agent/status-format';
import type { RouteStatus } from '../../src/agent/status-types';

const args = process.argv.slice(2);
const passes = args.includes('--passes') ? Math.max(1, Number(args[args.indexOf('--passes') + 1]) || 5) : 5;
const json = args.includes('--json');

function peerAddr(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

function snapshot(peers: number, tick: number): PeerMetricsSnapshot[] {
  const out: PeerMetricsSnapshot[] = [];
  for (let i = 0; i < peers; i++) {
    out.push({
      peer: peerAddr(i + 1), type: i < 2 ? 'rr-server' : 'mesh', state: 'Established',
      families: {
        'ipv4-unicast': { received: 1, accepted: 1, advertised: 1 },
        'ipv6-unicast': { received: 1, accepted: 1, advertised: 1 },
      },
      updates: { in: 100 + tick, out: 50 + tick },
    });
  }
  return out;
}

function routes(n: number): RouteStatus[] {
  const out: RouteStatus[] = [];
  for (let i = 0; i < n; i++) {
    const nh = `10.0.${(i >> 8) & 255}.${i & 255}`;
    out.push({
      prefix: `10.${64 + (i >> 8)}.${i & 255}.0/24`, family: 'ipv4-unicast',
      best: { peer: `node/node-${i}/v4`, nextHop: nh, asPath: '', reason: 'only path', multipath: [] },
      fib: { nexthops: [nh], dev: i % 2 ? 'eth0' : 'tunl0', onlink: i % 2 === 0, tunnel: i % 2 ? 'none' : 'ipip', protocol: 'nexthop', state: 'in-sync' },
    });
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface Row { measurement: string; median: number; min: number; max: number; unit: string; note?: string }
const rows: Row[] = [];

async function measure(measurement: string, unit: string, fn: () => Promise<number>, note?: (v: number) => string): Promise<void> {
  await fn(); // warm-up
  const xs: number[] = [];
  for (let i = 0; i < passes; i++) xs.push(await fn());
  const m = median(xs);
  rows.push({ measurement, median: m, min: Math.min(...xs), max: Math.max(...xs), unit, note: note?.(m) });
}

function get(port: number, p: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => { n += c.length; });
      res.on('end', () => resolve(n));
    }).on('error', reject);
  });
}

async function main(): Promise<void> {
  let bytes = 0;
  for (const peers of [100, 1000]) {
    let tick = 0;
    const m = new Metrics({ node: 'bench', version: 'bench', peerSnapshot: () => snapshot(peers, tick++) });
    await measure(`scrape (render), ${peers.toLocaleString('en')} peers x 2 families`, 'ms', async () => {
      const t0 = performance.now();
      bytes = (await m.render()).length;
      return performance.now() - t0;
    }, () => `${Math.round(bytes / 1024)} KiB of text`);
    if (peers === 1000) {
      const server = new StatusHttpServer({ address: '127.0.0.1:0', metrics: m, readiness: () => [] });
      const { port } = await server.start();
      await measure('GET /metrics over loopback HTTP, 1,000 peers', 'ms', async () => {
        const t0 = performance.now();
        await get(port, '/metrics');
        return performance.now() - t0;
      });
      await server.close();
    }
  }

  const hot = new Metrics({ processMetrics: false });
  const names = Array.from({ length: 100 }, (_, i) => peerAddr(i + 1));
  await measure('Metrics.updateIn(peer), per call (1,000,000 calls over 100 peers)', 'ns', async () => {
    const t0 = performance.now();
    for (let i = 0; i < 1_000_000; i++) hot.updateIn(names[i % 100]);
    return ((performance.now() - t0) * 1e6) / 1_000_000;
  });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nexthop-bench-'));
  const sock = path.join(dir, 'run', 'nexthop.sock');
  const big = routes(10_000);
  let routeBytes = 0;
  const control = new ControlServer({ path: sock });
  control.handle('routes', () => ({ node: 'bench', routes: big, now: Date.now() }));
  await control.start();
  try {
    await measure('control socket: connect + ping + close (one CLI call)', 'ms', async () => {
      const t0 = performance.now();
      await callAgent('ping', undefined, { socketPath: sock });
      return performance.now() - t0;
    });
    const client = new ControlClient({ socketPath: sock, timeoutMs: 30_000 });
    await measure("control socket: 'routes' with 10,000 routes (one connection)", 'ms', async () => {
      const t0 = performance.now();
      const r = await client.call<{ routes: RouteStatus[] }>('routes');
      routeBytes = JSON.stringify(r).length;
      return performance.now() - t0;
    }, () => `${(routeBytes / 1e6).toFixed(1)} MB of JSON`);
    client.close();
  } finally {
    await control.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  await measure('formatRoutes, 10,000 routes', 'ms', async () => {
    const t0 = performance.now();
    formatRoutes(big);
    return performance.now() - t0;
  });

  if (json) {
    console.log(JSON.stringify(rows, null, 2));
  } else {
    console.log(`| measurement (median of ${passes}, range) | result |`);
    console.log('|---|---|');
    const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
    for (const r of rows) {
      console.log(`| ${r.measurement} | ${fmt(r.median)} ${r.unit} (${fmt(r.min)}–${fmt(r.max)})${r.note ? `; ${r.note}` : ''} |`);
    }
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
