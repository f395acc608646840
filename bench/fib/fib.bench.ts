// FIB programming benchmark: installs N routes (default 100,000 IPv4 /32s via a gateway on a veth)
// into a fresh network namespace and removes them again, with four programmers side by side in
// the same run, each in its own fresh namespace:
//   - nexthop: FibReconciler (batched rtnetlink; monitor on, as in production), timed from
//     setRoutes() to the flush that returns with every request settled;
//   - nexthop raw: NetlinkSocket.execute() alone (codec + socket, no reconciler bookkeeping);
//   - ip -batch: iproute2 reading the same routes from a file (`ip -batch FILE`);
//   - BIRD 2: `protocol static` with the same routes (disabled at start) and
//     `protocol kernel { ipv4 { export all; }; }`; the clock starts at `birdc enable`, stops when
//     `ip route show proto bird | wc -l` (polled every 50 ms) shows all of them; removal is
//     `birdc disable` until the count is 0.
// Besides wall-clock rates it reports CPU per route of the programming process (user + system, so
// the kernel's work inside its send()/recv() counts; BIRD's from /proc/PID/stat, ip's from
// /usr/bin/time): the steadier figure on a shared, loaded machine.
// Each pass builds and destroys its namespaces with test/helpers/lab.ts (never the root
// namespace). One warm-up run of the two JS programmers (20,000 routes, not counted) comes first:
// the agent is a long-running process, so its steady state is JIT-compiled code. Prints a
// markdown table (median and range over the passes) for bench/README.md.
//
// Usage (root): npx tsc -p . --outDir /tmp/nhb-fibperf && node /tmp/nhb-fibperf/bench/fib/fib.bench.js [--routes N] [--passes P]
//   [--only reconciler|raw|ip|bird] (one programmer, e.g. under node --cpu-prof) [--batch N] (reconciler requests per send())
//   [--no-monitor] (reconciler without its route monitor)

import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as v8 from 'v8';
import * as vm from 'vm';
import { Lab, isRoot, nsExec, sh } from '../../test/helpers/lab';
import { FibReconciler } from '../../src/dataplane/fib/reconciler';
import { FibRoute } from '../../src/dataplane/fib/route';
import { openNetlinkIn, NetlinkRequest } from '../../src/dataplane/netlink/socket';
import { encodeRoute } from '../../src/dataplane/netlink/codec';
import * as C from '../../src/dataplane/netlink/constants';
import { parseIP } from '../../src/lib/ip';

const GATEWAY = '10.77.0.2';
/** Reconciler requests per send() (--batch); undefined = its default. */
let batchSize: number | undefined;
/** --no-monitor: the reconciler without its route monitor (to measure what the monitor costs). */
let monitor = true;

function addrOf(i: number): string {
  return `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
}

function countRoutes(ns: string, proto: string): number {
  const out = nsExec(ns, 'sh', ['-c', `ip -4 route show proto ${proto} | wc -l`]);
  return Number(out.trim());
}

function freshNamespace(lab: Lab): string {
  const ns = lab.netns('fib');
  const peer = lab.netns('gw');
  lab.link(ns, ['10.77.0.1/24'], peer, [`${GATEWAY}/24`], ['up0', 'gw0']);
  return ns;
}

/** Wall-clock and CPU (user + system of the programming process, so kernel work in its syscalls counts) per phase. */
interface Timing { installMs: number; removeMs: number; installCpuMs: number; removeCpuMs: number }

// A full collection before each timed phase of the JS programmers, so that the garbage of whatever
// ran before (the previous programmer's 100,000 routes, BIRD's 100,000-line config text) is not
// billed to the phase being measured. Same for both JS programmers; BIRD and ip run in their own
// processes anyway.
v8.setFlagsFromString('--expose-gc');
const fullGc = vm.runInNewContext('gc') as () => void;

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** utime + stime of a process in ms, from /proc/PID/stat (clock ticks of 10 ms). */
function procCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14, 15)
}

/** Runs `ip -n NS -batch FILE` under /usr/bin/time: wall ms and the child's user + system ms. */
function timedIpBatch(ns: string, file: string): { ms: number; cpuMs: number } {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', 'ip', '-n', ns, '-batch', file], { encoding: 'utf8', timeout: 300000 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`ip -batch failed: ${r.stderr}`);
  const [u, sys] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { ms, cpuMs: (u + sys) * 1000 };
}

async function benchReconciler(lab: Lab, n: number): Promise<Timing> {
  const ns = freshNamespace(lab);
  const fib = FibReconciler.open({ netns: ns, resyncIntervalMs: 0, debounceMs: 0, batchSize, monitor });
  try {
    await fib.start();
    const routes: FibRoute[] = [];
    for (let i = 0; i < n; i++) routes.push({ prefix: `${addrOf(i)}/32`, nexthops: [{ gateway: GATEWAY, ifname: 'up0' }] });
    fullGc();
    const t0 = performance.now();
    const c0 = cpuMs();
    fib.setRoutes(routes);
    const r = await fib.flush();
    const installMs = performance.now() - t0;
    const installCpuMs = cpuMs() - c0;
    if (r.added !== n || r.failed.length) throw new Error(`reconciler installed ${r.added}/${n}, ${r.failed.length} failed: ${r.failed[0]?.message}`);
    if (countRoutes(ns, '78') !== n) throw new Error('reconciler: route count mismatch after install');
    fullGc();
    const t1 = performance.now();
    const c1 = cpuMs();
    fib.setRoutes([]);
    const d = await fib.flush();
    const removeMs = performance.now() - t1;
    const removeCpuMs = cpuMs() - c1;
    if (d.deleted !== n) throw new Error(`reconciler deleted ${d.deleted}/${n}`);
    if (countRoutes(ns, '78') !== 0) throw new Error('reconciler: routes left after removal');
    return { installMs, removeMs, installCpuMs, removeCpuMs };
  } finally {
    await fib.stop();
  }
}

async function benchRaw(lab: Lab, n: number): Promise<Timing> {
  const ns = freshNamespace(lab);
  const sock = openNetlinkIn(ns);
  try {
    const oif = Number(nsExec(ns, 'cat', ['/sys/class/net/up0/ifindex']).trim());
    const gw = parseIP(GATEWAY)!;
    const msg = (i: number, del: boolean) => encodeRoute({
      family: C.AF_INET, dstLen: 32, srcLen: 0, tos: 0, table: 254, protocol: 78, scope: del ? C.RT_SCOPE_NOWHERE : 0, type: C.RTN_UNICAST,
      flags: 0, dst: parseIP(addrOf(i))!, priority: 0, ...(del ? {} : { gateway: gw, oif }),
    });
    fullGc();
    const t0 = performance.now();
    const c0 = cpuMs();
    const adds: NetlinkRequest<number>[] = [];
    for (let i = 0; i < n; i++) adds.push({ type: C.RTM_NEWROUTE, flags: C.NLM_F_CREATE | C.NLM_F_EXCL, payload: msg(i, false), context: i });
    const a = await sock.execute(adds);
    const installMs = performance.now() - t0;
    const installCpuMs = cpuMs() - c0;
    if (a.failures.length) throw new Error(`raw: ${a.failures.length} failed: ${a.failures[0].error.message}`);
    if (countRoutes(ns, '78') !== n) throw new Error('raw: route count mismatch');
    fullGc();
    const t1 = performance.now();
    const c1 = cpuMs();
    const dels: NetlinkRequest<number>[] = [];
    for (let i = 0; i < n; i++) dels.push({ type: C.RTM_DELROUTE, flags: 0, payload: msg(i, true), context: i });
    const d = await sock.execute(dels);
    const removeMs = performance.now() - t1;
    const removeCpuMs = cpuMs() - c1;
    if (d.failures.length) throw new Error(`raw delete: ${d.failures.length} failed`);
    return { installMs, removeMs, installCpuMs, removeCpuMs };
  } finally {
    sock.close();
  }
}

function benchIpBatch(lab: Lab, n: number): Timing {
  const ns = freshNamespace(lab);
  const dir = lab.tempDir();
  const add = path.join(dir, 'add');
  const del = path.join(dir, 'del');
  const addLines: string[] = [];
  const delLines: string[] = [];
  for (let i = 0; i < n; i++) {
    addLines.push(`route add ${addrOf(i)}/32 via ${GATEWAY} dev up0 proto 78`);
    delLines.push(`route del ${addrOf(i)}/32 proto 78`);
  }
  fs.writeFileSync(add, addLines.join('\n') + '\n');
  fs.writeFileSync(del, delLines.join('\n') + '\n');
  const ins = timedIpBatch(ns, add);
  if (countRoutes(ns, '78') !== n) throw new Error('ip -batch: route count mismatch');
  const rem = timedIpBatch(ns, del);
  if (countRoutes(ns, '78') !== 0) throw new Error('ip -batch: routes left');
  return { installMs: ins.ms, removeMs: rem.ms, installCpuMs: ins.cpuMs, removeCpuMs: rem.cpuMs };
}

async function pollUntil(ns: string, want: number, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < Math.ceil(timeoutMs / 50) + 1; i++) {
    if (countRoutes(ns, 'bird') === want) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`BIRD: route count did not reach ${want} within ${timeoutMs} ms`);
}

async function benchBird(lab: Lab, n: number): Promise<Timing> {
  const ns = freshNamespace(lab);
  const dir = lab.tempDir();
  const conf = path.join(dir, 'bird.conf');
  const ctl = path.join(dir, 'bird.ctl');
  const lines = [
    'router id 10.77.0.1;',
    'protocol device { scan time 3600; }',
    'protocol kernel { ipv4 { import none; export all; }; learn off; scan time 3600; }',
    'protocol static bench_static { disabled; ipv4;',
  ];
  for (let i = 0; i < n; i++) lines.push(`  route ${addrOf(i)}/32 via ${GATEWAY};`);
  lines.push('}');
  fs.writeFileSync(conf, lines.join('\n') + '\n');
  const proc = lab.spawn(ns, 'bird', ['-f', '-c', conf, '-s', ctl, '-P', path.join(dir, 'bird.pid')]);
  const birdc = (cmd: string): string => sh('birdc', ['-s', ctl, cmd], { allowFail: true });
  for (let i = 0; i < 200; i++) {
    if (fs.existsSync(ctl) && /bench_static\s+Static\s+---\s+down/.test(birdc('show protocols'))) break;
    if (proc.exitCode !== null) throw new Error('BIRD exited at start');
    await new Promise((r) => setTimeout(r, 100));
  }
  // `ip netns exec` execs bird in place, so the spawned pid is BIRD's own.
  const pid = proc.pid!;
  const c0 = procCpuMs(pid);
  const t0 = performance.now();
  birdc('enable bench_static');
  await pollUntil(ns, n, 120000);
  const installMs = performance.now() - t0;
  const c1 = procCpuMs(pid);
  const t1 = performance.now();
  birdc('disable bench_static');
  await pollUntil(ns, 0, 120000);
  const removeMs = performance.now() - t1;
  const c2 = procCpuMs(pid);
  return { installMs, removeMs, installCpuMs: c1 - c0, removeCpuMs: c2 - c1 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let n = 100000;
  let passes = 3;
  let only: string | null = null;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--routes') n = Number(args[++i]);
    else if (args[i] === '--passes') passes = Number(args[++i]);
    else if (args[i] === '--only') only = args[++i];
    else if (args[i] === '--batch') batchSize = Number(args[++i]);
    else if (args[i] === '--no-monitor') monitor = false;
    else throw new Error(`unknown argument ${args[i]} (usage: fib.bench.js [--routes N] [--passes P] [--only reconciler|raw|ip|bird] [--batch N] [--no-monitor])`);
  }
  if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10000)) throw new Error('--batch 1..10000');
  if (!Number.isInteger(n) || n < 1 || n > 1000000 || !Number.isInteger(passes) || passes < 1 || passes > 20) throw new Error('--routes 1..1000000, --passes 1..20');
  if (!isRoot()) {
    // `npm run bench` runs every benchmark: say why this one did not run instead of failing them all.
    console.log('skipped: the FIB benchmark needs root (it creates network namespaces)');
    return;
  }
  const all: [string, string, (lab: Lab) => Promise<Timing> | Timing][] = [
    ['reconciler', 'nexthop FibReconciler', (lab) => benchReconciler(lab, n)],
    ['raw', 'nexthop raw NetlinkSocket', (lab) => benchRaw(lab, n)],
    ['ip', 'ip -batch', (lab) => benchIpBatch(lab, n)],
    ['bird', 'BIRD 2 kernel protocol', (lab) => benchBird(lab, n)],
  ];
  if (only !== null && !all.some(([id]) => id === only)) throw new Error(`--only ${only}: not one of ${all.map(([id]) => id).join(', ')}`);
  const methods = all.filter(([id]) => only === null || id === only).map(([, name, fn]) => [name, fn] as const);
  // Warm-up (not counted): the agent is a long-running process, so measure JIT-compiled code.
  const warmN = Math.min(n, 20000);
  const warmups = [['reconciler', (lab: Lab) => benchReconciler(lab, warmN)], ['raw', (lab: Lab) => benchRaw(lab, warmN)]] as const;
  for (const [id, warm] of warmups) {
    if (only !== null && only !== id) continue;
    const lab = new Lab('bw');
    try {
      await warm(lab);
    } finally {
      await lab.destroy();
    }
  }
  const results = new Map<string, Timing[]>(methods.map(([name]) => [name, []]));
  for (let p = 0; p < passes; p++) {
    for (const [name, fn] of methods) {
      const lab = new Lab('bf');
      try {
        const t = await fn(lab);
        results.get(name)!.push(t);
        console.error(`pass ${p + 1} ${name}: install ${t.installMs.toFixed(0)} ms, remove ${t.removeMs.toFixed(0)} ms`);
      } finally {
        await lab.destroy();
      }
    }
  }
  const bird = results.get('BIRD 2 kernel protocol') ?? [];
  const ipb = results.get('ip -batch') ?? [];
  const rate = (ms: number): number => n / (ms / 1000);
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
  const us = (ms: number): string => ((ms * 1000) / n).toFixed(2);
  const med = (ts: Timing[], f: (t: Timing) => number): number => median(ts.map(f));
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const out: string[] = [];
  out.push(`${fmt(n)} IPv4 /32 routes via a gateway on a veth, ${passes} passes, median (min-max); kernel ${fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}, ${spawnSync('bird', ['--version'], { encoding: 'utf8' }).stderr.trim()}; load average at the end ${load}`);
  out.push('');
  out.push('| programmer | install routes/s (wall) | remove routes/s (wall) | install CPU µs/route | remove CPU µs/route | install vs BIRD wall / CPU | install vs ip -batch wall / CPU |');
  out.push('|---|---|---|---|---|---|---|');
  for (const [name] of methods) {
    const ts = results.get(name)!;
    const ins = ts.map((t) => rate(t.installMs));
    const rem = ts.map((t) => rate(t.removeMs));
    const ratio = (other: Timing[]): string => other.length === 0 ? '-' :
      `${(med(other, (t) => t.installMs) / med(ts, (t) => t.installMs)).toFixed(2)}x / ${(med(other, (t) => t.installCpuMs) / med(ts, (t) => t.installCpuMs)).toFixed(2)}x`;
    out.push(`| ${name} | ${fmt(median(ins))} (${fmt(Math.min(...ins))}-${fmt(Math.max(...ins))}) | ${fmt(median(rem))} (${fmt(Math.min(...rem))}-${fmt(Math.max(...rem))}) | ${us(med(ts, (t) => t.installCpuMs))} | ${us(med(ts, (t) => t.removeCpuMs))} | ${ratio(bird)} | ${ratio(ipb)} |`);
  }
  console.log(out.join('\n'));
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
