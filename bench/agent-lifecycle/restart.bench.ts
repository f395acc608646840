// The agent's lifecycle, timed on real processes: three `nexthop agent`s (the compiled CLI) in
// network namespaces on one bridge, a file datastore. Per pass: (1) cold start: spawn → every
// node has its 2 sessions Established and the other 2 blocks in its FIB; (2) kill -9 of one
// agent and a restart: spawn → its sessions Established again and its FIB reconciled (every
// route in sync), with the route changes seen on that node by `ip monitor route` (graceful
// restart, RFC 4724 §4.1: should be 0) and the packets lost by a 20 pkt/s ping between two
// blocks across the whole kill/restart (should be 0); (3) SIGTERM → exit. Median of N passes,
// range in brackets. Needs root (namespaces). No RFC beyond the graceful restart being measured.
// Run: npm run build && node dist/bench/agent-lifecycle/restart.bench.js [--passes N] [--json]
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { Lab, isRoot, nsExec } from '../../test/helpers/lab';
import { callAgent } from '../../src/agent/control';
import type { AgentStatus, RoutesStatus } from '../../src/agent/status-types';

const MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const args = process.argv.slice(2);
const passes = args.includes('--passes') ? Math.max(1, Number(args[args.indexOf('--passes') + 1]) || 3) : 3;
const json = args.includes('--json');

interface Node { name: string; ns: string; addr: string; block: string; dir: string; proc?: ChildProcess }

function yaml(nodes: Node[]): string {
  return [
    'apiVersion: nexthop.io/v1\nkind: IPPool\nmetadata: { name: pods }\nspec: { cidr: 10.69.0.0/16 }',
    ...nodes.map((n) => `apiVersion: nexthop.io/v1\nkind: Node\nmetadata: { name: ${n.name} }\nspec: { bgp: { ipv4Address: ${n.addr}/24 }, podCIDRs: [${n.block}] }`),
  ].join('\n---\n') + '\n';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try { if (await check()) return; } catch { /* not yet */ }
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const sock = (n: Node) => path.join(n.dir, 'run', 'nexthop.sock');

async function meshUp(n: Node): Promise<boolean> {
  const s = await callAgent<AgentStatus>('status', {}, { socketPath: sock(n), timeoutMs: 1000 });
  return s.peers.filter((p) => p.state === 'Established').length === 2;
}

async function fibInSync(n: Node): Promise<boolean> {
  const r = await callAgent<RoutesStatus>('routes', {}, { socketPath: sock(n), timeoutMs: 1000 });
  return r.routes.length === 3 && r.routes.every((x) => x.fib?.state === 'in-sync');
}

function start(lab: Lab, n: Node, file: string): void {
  n.proc = lab.spawn(n.ns, process.execPath, [MAIN, 'agent', '--node', n.name, '--datastore', `file:${file}`, '--control-socket', sock(n),
    '--metrics-address', 'none', '--cni-conf-dir', 'none', '--subnet-env', 'none', '--state-dir', path.join(n.dir, 'state'), '--log-level', 'warn']);
}

async function pass(): Promise<Record<string, number>> {
  const lab = new Lab('agb');
  try {
    const dir = lab.tempDir();
    const file = path.join(dir, 'cluster.yaml');
    const sw = lab.netns('sw');
    nsExec(sw, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    nsExec(sw, 'ip', ['link', 'set', 'br0', 'up']);
    const nodes: Node[] = [];
    for (let i = 1; i <= 3; i++) {
      const ns = lab.netns(`n${i}`);
      const [, p] = lab.link(ns, [`10.68.0.${i}/24`], sw, [], ['eth0', `p${i}`]);
      nsExec(sw, 'ip', ['link', 'set', p, 'master', 'br0']);
      nsExec(ns, 'ip', ['addr', 'add', `10.69.${i}.1/32`, 'dev', 'lo']);
      const n = { name: `n${i}`, ns, addr: `10.68.0.${i}`, block: `10.69.${i}.0/24`, dir: path.join(dir, `n${i}`) };
      fs.mkdirSync(n.dir, { mode: 0o700 });
      nodes.push(n);
    }
    fs.writeFileSync(file, yaml(nodes));
    const t0 = performance.now();
    for (const n of nodes) start(lab, n, file);
    for (const n of nodes) {
      await until(`${n.name} mesh`, () => meshUp(n));
      await until(`${n.name} FIB`, () => nsExec(n.ns, 'ip', ['route', 'show', 'proto', '78']).split('\n').filter((l) => l.includes(' via ')).length === 2);
    }
    const coldMs = performance.now() - t0;

    const [a, b] = nodes;
    const ping = lab.spawn(a.ns, 'ping', ['-i', '0.05', '-W', '1', '-I', '10.69.1.1', '10.69.2.1']);
    let pingOut = '';
    ping.stdout?.on('data', (d: Buffer) => { pingOut += d.toString(); });
    await sleep(500);
    const dead = new Promise((r) => b.proc!.once('exit', r));
    process.kill(b.proc!.pid!, 'SIGKILL');
    await dead;
    const monitor = lab.spawn(b.ns, 'ip', ['-o', 'monitor', 'route']);
    let events = '';
    monitor.stdout?.on('data', (d: Buffer) => { events += d.toString(); });
    await sleep(200);
    const t1 = performance.now();
    start(lab, b, file);
    await until('b mesh again', () => meshUp(b));
    const sessionsMs = performance.now() - t1;
    await until('b FIB in sync', () => fibInSync(b));
    const restartMs = performance.now() - t1;
    await sleep(500);
    process.kill(ping.pid!, 'SIGINT');
    await new Promise((r) => ping.once('exit', r));
    process.kill(monitor.pid!, 'SIGKILL');
    const m = /(\d+) packets transmitted, (\d+) received/.exec(pingOut);
    const lost = m ? Number(m[1]) - Number(m[2]) : NaN;
    const churn = events.split('\n').filter((l) => l.includes('10.69.')).length;

    const t2 = performance.now();
    const exited = new Promise((r) => nodes[2].proc!.once('exit', r));
    process.kill(nodes[2].proc!.pid!, 'SIGTERM');
    await exited;
    const stopMs = performance.now() - t2;
    return { coldMs, sessionsMs, restartMs, lost, churn, stopMs, sent: m ? Number(m[1]) : NaN };
  } finally {
    await lab.destroy();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.log('agent-lifecycle bench: needs root (network namespaces); skipped');
    return;
  }
  const results: Record<string, number>[] = [];
  for (let i = 0; i < passes; i++) results.push(await pass());
  const row = (key: string, unit: string, digits = 0) => {
    const xs = results.map((r) => r[key]);
    return `${median(xs).toFixed(digits)} ${unit} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
  };
  if (json) {
    console.log(JSON.stringify(results));
    return;
  }
  console.log(`agent lifecycle, 3 nodes, ${passes} passes (median, range):`);
  console.log(`  cold start → mesh up + FIB complete on all 3:   ${row('coldMs', 'ms')}`);
  console.log(`  kill -9 restart → sessions Established again:    ${row('sessionsMs', 'ms')}`);
  console.log(`  kill -9 restart → FIB reconciled (all in sync):  ${row('restartMs', 'ms')}`);
  console.log(`  route changes on the restarted node:             ${row('churn', '')}`);
  console.log(`  pings lost over kill + restart (20 pkt/s):       ${row('lost', '')} of ~${median(results.map((r) => r.sent))}`);
  console.log(`  SIGTERM → exit:                                   ${row('stopMs', 'ms')}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
