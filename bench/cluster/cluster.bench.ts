// Cluster datastore benchmark against one real local etcd (started here on loopback, removed
// after): N nodes (default 1,000) register - their Node, liveness on a lease, their blocks -
// through C concurrent etcd clients (default 50, one TCP connection each, each
// watching like an agent), while one more node watches from its own process. Reports the time
// until every node holds a block, the time until the watcher has seen every Node and block,
// the watch latency p50/p99 (a probe in the watcher's process puts a key every 10 ms during the
// storm, stamped just before the put → its event), and the same for the Node applies (stamped
// before the registration's first read, carried in an annotation). Median of --passes runs
// (default 3), range. --mode register (default): Datastore.register, one lease grant + one
// transaction per node; --mode separate: apply the Node, keepAlive, claimBlocks (three calls,
// four etcd writes). --mode both runs each pass in both modes, alternating.
// Usage: node dist/bench/cluster/cluster.bench.js [--nodes N] [--clients C] [--passes P] [--mode register|separate|both]
import { fork } from 'child_process';
import * as os from 'os';
import { Lab } from '../../test/helpers/lab';
import { EtcdServer } from '../../test/helpers/etcd';
import { EtcdDatastore } from '../../src/cluster/etcd';
import { parseResources } from '../../src/cluster/resources';
import { LivenessHandle } from '../../src/cluster/datastore';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const NODES = arg('nodes', 1000);
const CLIENTS = arg('clients', 50);
const PASSES = arg('passes', 3);
type Mode = 'register' | 'separate';
const MODE_ARG = process.argv.includes('--mode') ? process.argv[process.argv.indexOf('--mode') + 1] : 'register';
if (!['register', 'separate', 'both'].includes(MODE_ARG)) throw new Error(`--mode ${MODE_ARG}: one of register, separate, both`);
const MODES: Mode[] = MODE_ARG === 'both' ? ['register', 'separate'] : [MODE_ARG as Mode];

const POOLS = `apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: pods}
spec: {cidr: 10.0.0.0/8}
`;

const nodeAddress = (i: number) => `172.16.${Math.floor(i / 250)}.${(i % 250) + 1}/16`;
const nodeYaml = (i: number) => `apiVersion: nexthop.io/v1
kind: Node
metadata: {name: node-${i}}
spec: {bgp: {ipv4Address: ${nodeAddress(i)}}}
`;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface PassResult { txns: number; failedTxns: number; benchCpuMs: number; claimAllMs: number; seenAllMs: number; p50: number; p99: number; max: number; applyP50: number; applyP99: number; probes: number }

/** Wall-clock milliseconds with sub-ms resolution, comparable between processes. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The watching node, in its own process (so the writers' work does not delay its event loop):
 * reports when it has seen every Node and block, and the latency of each Node put, from the
 * send time the writer put into the Node's annotations.
 */
async function watcherProcess(url: string, prefix: string, nodes: number): Promise<void> {
  const w = new EtcdDatastore([url], { prefix, callTimeoutMs: 30000 });
  const latencies: number[] = [];
  const applyLatencies: number[] = [];
  let probing = true;
  let nodesSeen = 0;
  let blocksSeen = 0;
  w.on('change', (events) => {
    const t = now();
    for (const e of events) {
      if (e.type !== 'put') continue;
      if (e.item.what === 'resource' && e.item.resource.kind === 'Node') {
        nodesSeen++;
        const sent = Number(e.item.resource.metadata.annotations['bench/sent']);
        if (sent) applyLatencies.push(t - sent);
      }
      // Probe writes: the send time (taken just before the put) rides in the record's "since".
      if (e.item.what === 'liveness' && e.item.record.node.startsWith('probe-')) latencies.push(t - Number(e.item.record.since));
      if (e.item.what === 'block') blocksSeen++;
    }
    if (nodesSeen >= nodes && blocksSeen >= nodes && probing) {
      probing = false;
      process.send!({ seenAllAt: t, latencies, applyLatencies });
      setTimeout(() => process.exit(0), 100);
    }
  });
  await w.watch();
  process.send!({ ready: true });
  // The probe: a small key put every 10 ms over a connection of its own, stamped just before
  // the put, while the storm runs - the pure write → watch-event latency under load.
  const probe = new EtcdDatastore([url], { prefix, callTimeoutMs: 30000, ownConnection: true });
  for (let i = 0; probing; i++) {
    const rec = { node: `probe-${i}`, since: String(now()), pid: process.pid, host: 'bench' };
    await probe.kv.txn({ put: [[`liveness/probe-${i}`, JSON.stringify(rec)]] });
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function pass(lab: Lab, etcd: EtcdServer, n: number, mode: Mode): Promise<PassResult> {
  const prefix = `/bench${n}-${mode}/`;
  const opts = { prefix, callTimeoutMs: 30000, dialTimeoutMs: 5000 };
  const admin = new EtcdDatastore([etcd.url], opts);
  await admin.apply(parseResources(POOLS, 'pools.yaml'));
  const child = fork(__filename, ['--watcher', etcd.url, prefix, String(NODES)], { stdio: 'inherit' });
  lab.adoptPid(child.pid!);
  const messages: { ready?: boolean; seenAllAt?: number; latencies?: number[]; applyLatencies?: number[] }[] = [];
  child.on('message', (m) => messages.push(m as (typeof messages)[number]));
  const waitMsg = async (pred: (m: (typeof messages)[number]) => boolean, what: string) => {
    for (let i = 0; i < 6000; i++) {
      const m = messages.find(pred);
      if (m) return m;
      if (child.exitCode !== null) throw new Error(`watcher exited (${child.exitCode}) before ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  await waitMsg((m) => m.ready === true, 'watcher ready');
  const clients = Array.from({ length: CLIENTS }, () => new EtcdDatastore([etcd.url], { ...opts, ownConnection: true }));
  // Each client watches, like every agent does (its claims then decide from the watched state).
  await Promise.all(clients.map((c) => c.watch()));
  const handles: LivenessHandle[] = [];
  let next = 0;
  // Count the etcd write calls the registrations make: transactions sent (and how many failed
  // their compares, i.e. lost a race) and lease grants (one per node in both modes).
  let txns = 0;
  let failedTxns = 0;
  for (const c of clients) {
    const txn = c.kv.txn.bind(c.kv);
    c.kv.txn = async (t) => { txns++; const ok = await txn(t); if (!ok) failedTxns++; return ok; };
  }
  const cpu0 = process.cpuUsage();
  const t0 = now();
  await Promise.all(clients.map(async (c) => {
    for (let i = next++; i < NODES; i = next++) {
      if (mode === 'register') {
        const r = await c.register(`node-${i}`, { ttlSeconds: 60, addresses: { ipv4Address: nodeAddress(i) }, annotations: { 'bench/sent': String(now()) } });
        handles.push(r.liveness);
        continue;
      }
      const items = parseResources(nodeYaml(i).replace('metadata: {name:', `metadata: {annotations: {bench/sent: "${now()}"}, name:`), `node-${i}.yaml`, { crossChecks: false });
      await c.apply(items);
      handles.push(await c.keepAlive(`node-${i}`, 60));
      await c.claimBlocks(`node-${i}`);
    }
  }));
  const claimAllMs = now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const benchCpuMs = (cpu.user + cpu.system) / 1000;
  const done = await waitMsg((m) => m.seenAllAt !== undefined, 'watcher to see everything');
  await Promise.all(handles.map((h) => h.stop()));
  await Promise.all([...clients, admin].map((c) => c.close()));
  const latencies = done.latencies!.sort((a, b) => a - b);
  const applyLatencies = done.applyLatencies!.sort((a, b) => a - b);
  return { txns, failedTxns, benchCpuMs, claimAllMs, seenAllMs: done.seenAllAt! - t0, p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies[latencies.length - 1],
    applyP50: pct(applyLatencies, 50), applyP99: pct(applyLatencies, 99), probes: latencies.length };
}

function summary(xs: number[], digits = 0): string {
  const s = [...xs].sort((a, b) => a - b);
  const med = s[Math.floor(s.length / 2)];
  return `${med.toFixed(digits)} (${s[0].toFixed(digits)}–${s[s.length - 1].toFixed(digits)})`;
}

async function main(): Promise<void> {
  const w = process.argv.indexOf('--watcher');
  if (w >= 0) {
    await watcherProcess(process.argv[w + 1], process.argv[w + 2], Number(process.argv[w + 3]));
    return new Promise(() => undefined); // runs until it has seen everything
  }
  const lab = new Lab('bench');
  try {
    const etcd = await EtcdServer.start(lab);
    const results = new Map<Mode, PassResult[]>(MODES.map((m) => [m, []]));
    for (let i = 0; i < PASSES; i++) {
      for (const mode of (i % 2 === 0 ? MODES : [...MODES].reverse())) {
        const r = await pass(lab, etcd, i, mode);
        console.log(`pass ${i + 1} (${mode}): ${NODES} nodes registered+claimed in ${r.claimAllMs.toFixed(0)} ms with ${r.txns} transactions (${r.failedTxns} lost a race) + ${NODES} lease grants; CPU of this process ${r.benchCpuMs.toFixed(0)} ms; watcher saw all in ${r.seenAllMs.toFixed(0)} ms; ` +
          `watch latency (${r.probes} probes) p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms max ${r.max.toFixed(1)} ms; ` +
          `Node write started → event p50 ${r.applyP50.toFixed(1)} ms p99 ${r.applyP99.toFixed(1)} ms; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
        results.get(mode)!.push(r);
      }
    }
    for (const [mode, rs] of results) {
      console.log(`\n| measurement (${mode}: ${NODES} nodes, ${CLIENTS} clients, ${PASSES} passes) | median (range) |`);
      console.log('|---|---|');
      console.log(`| all nodes registered (Node + lease + block claim) | ${summary(rs.map((r) => r.claimAllMs))} ms |`);
      console.log(`| etcd transactions sent, of them lost a race (+ ${NODES} lease grants) | ${summary(rs.map((r) => r.txns))}, ${summary(rs.map((r) => r.failedTxns))} |`);
      console.log(`| CPU of the benchmark process (50 clients, their watches) during the storm | ${summary(rs.map((r) => r.benchCpuMs))} ms |`);
      console.log(`| watcher has seen every Node and every block | ${summary(rs.map((r) => r.seenAllMs))} ms |`);
      console.log(`| watch latency p50 (put sent → event at the watcher, during the storm) | ${summary(rs.map((r) => r.p50), 1)} ms |`);
      console.log(`| watch latency p99 | ${summary(rs.map((r) => r.p99), 1)} ms |`);
      const what = mode === 'register' ? 'registration started → Node event' : 'Node apply started → event';
      console.log(`| ${what} p50 | ${summary(rs.map((r) => r.applyP50), 1)} ms |`);
      console.log(`| ${what} p99 | ${summary(rs.map((r) => r.applyP99), 1)} ms |`);
    }
  } finally {
    await lab.destroy();
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
