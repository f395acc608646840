// RR convergence benchmark (bgperf-style): BIRD 2, FRR, GoBGP and nexthop as the route reflector
// under test, with the same BIRD clients. Two scenarios:
//
//  convergence  N clients each announcing M /24s: time from "every session Established, all
//               clients enable their routes at once" to "every client (and a monitor client
//               that announces nothing) holds all N x M routes"; the reflector's CPU seconds
//               over that interval (/proc/PID/stat utime+stime), its peak RSS (VmHWM), and its
//               RSS at time zero and when done split into anonymous and file-backed pages
//               (VmRSS = RssAnon + RssFile, /proc/PID/status).
//  join         the Calico shape: 250 clients with one block each, converged; then 20 new nodes
//               join one at a time: time from the new node's session Established to every
//               other client holding its block, from the BIRD logs' millisecond timestamps.
//
// RFC 4456 (route reflection), RFC 4271 §9.2 (iBGP advertisement). Needs root (namespaces).
// Usage: node run.js [--sizes 10x1000,100x100,200x50] [--daemons bird,frr,gobgp,nexthop]
//        [--passes 3] [--timeout 300] [--join] [--no-convergence] [--join-clients 250]
//        [--joins 20] [--out FILE.json] [--node-args "--max-semi-space-size=1"]
import * as fs from 'fs';
import { performance } from 'perf_hooks';
import { Lab, isRoot } from '../../test/helpers/lab';
import {
  BenchError, ClientFleet, MONITOR_ADDRESS, REFLECTOR_ADDRESS, REFLECTOR_KINDS, type BirdClient, type ReflectorKind,
  addAddresses, clientAddress, clientPrefix, cpuSeconds, loadAverage, peakRssMiB, rssBreakdownMiB, sleep, startReflector, tail,
  type RssBreakdown,
} from './harness';

export interface ConvergenceResult {
  scenario: 'convergence';
  daemon: ReflectorKind;
  version: string;
  clients: number;
  perClient: number;
  pass: number;
  /** Seconds from time zero until every client and the monitor held all routes; null on timeout. */
  convergenceS: number | null;
  /** Seconds until the monitor alone held all routes. */
  monitorS: number | null;
  cpuS: number;
  peakRssMiB: number;
  /** Resident memory at time zero: every session up, no routes yet (VmRSS = anon + file). */
  rssAtZero?: RssBreakdown;
  /** Resident memory when done. */
  rssDone?: RssBreakdown;
  loadAverage: number;
  error?: string;
  at: string;
}

export interface JoinResult {
  scenario: 'join';
  daemon: ReflectorKind;
  version: string;
  clients: number;
  /** Per join: ms from the joiner's session Established to the last client holding its block. */
  joinMs: (number | null)[];
  /** Per join: ms from Established until the joiner held every other block. */
  joinerTableMs: (number | null)[];
  p50Ms: number | null;
  p99Ms: number | null;
  peakRssMiB: number;
  loadAverage: number;
  error?: string;
  at: string;
}

interface Options {
  sizes: { clients: number; perClient: number }[];
  daemons: ReflectorKind[];
  passes: number;
  timeoutS: number;
  convergence: boolean;
  join: boolean;
  joinClients: number;
  joins: number;
  out: string | null;
  /** Flags for nexthop's node process. */
  nodeArgs: string[];
}

function usage(msg: string): never {
  process.stderr.write(`${msg}\nusage: run.js [--sizes NxM,...] [--daemons ${REFLECTOR_KINDS.join(',')}] [--passes N] [--timeout S] [--join] [--no-convergence] [--join-clients N] [--joins N] [--out FILE] [--node-args FLAGS]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    sizes: [{ clients: 10, perClient: 1000 }, { clients: 100, perClient: 100 }, { clients: 200, perClient: 50 }],
    daemons: [...REFLECTOR_KINDS], passes: 3, timeoutS: 300, convergence: true, join: false, joinClients: 250, joins: 20, out: null, nodeArgs: [],
  };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) usage(`${flag}: expected an integer >= ${min}, got '${v ?? ''}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--sizes':
        o.sizes = (argv[++i] ?? '').split(',').map((s) => {
          const m = /^(\d+)x(\d+)$/.exec(s);
          if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) usage(`--sizes: '${s}' is not CLIENTSxPREFIXES (e.g. 100x100)`);
          return { clients: Number(m[1]), perClient: Number(m[2]) };
        });
        break;
      case '--daemons':
        o.daemons = (argv[++i] ?? '').split(',').map((d) => {
          if (!(REFLECTOR_KINDS as readonly string[]).includes(d)) usage(`--daemons: '${d}' is not one of ${REFLECTOR_KINDS.join(', ')}`);
          return d as ReflectorKind;
        });
        break;
      case '--passes': o.passes = int(a, argv[++i], 1); break;
      case '--timeout': o.timeoutS = int(a, argv[++i], 1); break;
      case '--join': o.join = true; break;
      case '--no-convergence': o.convergence = false; break;
      case '--join-clients': o.joinClients = int(a, argv[++i], 2); break;
      case '--joins': o.joins = int(a, argv[++i], 1); break;
      case '--out': o.out = argv[++i] ?? usage('--out needs a file'); break;
      case '--node-args': o.nodeArgs = (argv[++i] ?? usage('--node-args needs flags')).split(/\s+/).filter(Boolean); break;
      default: usage(`unknown argument '${a}'`);
    }
  }
  return o;
}

/** A lab with the reflector namespace, the clients' namespace and one veth between them. */
function makeLab(clientCount: number): { lab: Lab; nsR: string; nsC: string } {
  const lab = new Lab('rr');
  const nsR = lab.netns('rr');
  const nsC = lab.netns('cl');
  lab.link(nsR, [`${REFLECTOR_ADDRESS}/16`], nsC, [`${MONITOR_ADDRESS}/16`], ['rr0', 'cl0']);
  const addrs: string[] = [];
  for (let i = 0; i < clientCount; i++) addrs.push(`${clientAddress(i)}/16`);
  addAddresses(nsC, 'cl0', addrs);
  return { lab, nsR, nsC };
}

/** One convergence measurement: fresh namespaces, reflector and clients; everything removed after. */
export async function runConvergence(kind: ReflectorKind, clients: number, perClient: number, pass: number, timeoutS: number, nodeArgs: string[] = []): Promise<ConvergenceResult> {
  const { lab, nsR, nsC } = makeLab(clients);
  const total = clients * perClient;
  const res: ConvergenceResult = {
    scenario: 'convergence', daemon: kind, version: '', clients, perClient, pass,
    convergenceS: null, monitorS: null, cpuS: 0, peakRssMiB: 0, loadAverage: loadAverage(), at: new Date().toISOString(),
  };
  let fleet: ClientFleet | null = null;
  let stop: (() => Promise<void>) | null = null;
  try {
    const addrs = [...Array(clients).keys()].map(clientAddress);
    const refl = await startReflector(lab, nsR, kind, [...addrs, MONITOR_ADDRESS], nodeArgs);
    stop = refl.stop;
    res.version = refl.version;
    fleet = new ClientFleet(lab, nsC, { clients, perClient, monitor: true, staticDisabled: true, traceRoutes: false });
    await fleet.start();
    await fleet.waitEstablished(fleet.all(), 60000 + clients * 500);
    await sleep(1000); // let the End-of-RIB / keepalive exchange of the last sessions settle
    res.loadAverage = loadAverage();
    res.rssAtZero = rssBreakdownMiB(refl.pid);
    const cpu0 = cpuSeconds(refl.pid);
    const t0 = performance.now();
    // Time zero: every client enables its routes at once (commands sent without waiting in between).
    await Promise.all(fleet.clients.map((c) => c.control!.cmd('enable s1')));
    const deadline = t0 + timeoutS * 1000;
    const monitor = fleet.monitor!;
    // Phase 1: the monitor, polled every 20 ms (one cheap query; the clients are not disturbed).
    while ((await fleet.networks(monitor)) < total) {
      if (performance.now() > deadline) throw new BenchError('convergence', `monitor has ${await fleet.networks(monitor)} of ${total} routes after ${timeoutS} s`);
      await sleep(20);
    }
    res.monitorS = (performance.now() - t0) / 1000;
    // Phase 2: every client, polled every 50 ms until each holds all N x M (its own M included).
    let pending: BirdClient[] = fleet.clients;
    for (;;) {
      const counts = await Promise.all(pending.map((c) => fleet!.networks(c)));
      pending = pending.filter((_, k) => counts[k] < total);
      if (pending.length === 0) break;
      if (performance.now() > deadline) throw new BenchError('convergence', `${pending.length} clients short of ${total} routes after ${timeoutS} s`);
      await sleep(50);
    }
    res.convergenceS = (performance.now() - t0) / 1000;
    res.cpuS = cpuSeconds(refl.pid) - cpu0;
    res.peakRssMiB = peakRssMiB(refl.pid);
    res.rssDone = rssBreakdownMiB(refl.pid);
  } catch (e) {
    res.error = (e as Error).message;
  } finally {
    fleet?.close();
    await stop?.().catch(() => undefined);
    await lab.destroy();
  }
  return res;
}

/** BIRD log timestamp "2026-11-21 12:34:56.789" → ms (the clock is the same for every process). */
function logTime(line: string): number | null {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})/.exec(line);
  return m ? Date.parse(`${m[1]}T${m[2]}Z`) : null;
}

/** Lines appended to `file` since byte `offset`. */
function readFrom(file: string, offset: number): string[] {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= offset) return [];
    const buf = Buffer.alloc(size - offset);
    fs.readSync(fd, buf, 0, buf.length, offset);
    return buf.toString('utf8').split('\n');
  } finally {
    fs.closeSync(fd);
  }
}

function routeAddedAt(lines: string[], prefix: string): number | null {
  for (const l of lines) {
    // BIRD 2 route trace: "up1.ipv4 > added [best] 10.1.4.0/24 unicast".
    if (l.includes(` ${prefix} `) && / > added /.test(l)) return logTime(l);
  }
  return null;
}

function establishedAt(lines: string[]): number | null {
  for (const l of lines) if (/up1: BGP session established|up1: State changed to up/i.test(l)) return logTime(l);
  return null;
}

function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; // nearest rank
}

/** The Calico-shaped join case for one reflector. */
export async function runJoin(kind: ReflectorKind, clients: number, joins: number, nodeArgs: string[] = []): Promise<JoinResult> {
  const totalClients = clients + joins;
  const { lab, nsR, nsC } = makeLab(totalClients);
  const res: JoinResult = {
    scenario: 'join', daemon: kind, version: '', clients, joinMs: [], joinerTableMs: [], p50Ms: null, p99Ms: null,
    peakRssMiB: 0, loadAverage: loadAverage(), at: new Date().toISOString(),
  };
  let fleet: ClientFleet | null = null;
  let stop: (() => Promise<void>) | null = null;
  try {
    const addrs = [...Array(totalClients).keys()].map(clientAddress);
    const refl = await startReflector(lab, nsR, kind, addrs, nodeArgs);
    stop = refl.stop;
    res.version = refl.version;
    fleet = new ClientFleet(lab, nsC, { clients: totalClients, perClient: 1, monitor: false, staticDisabled: false, bgpDisabledFrom: clients, traceRoutes: true });
    await fleet.start();
    const base = fleet.clients.slice(0, clients);
    await fleet.waitEstablished(base, 60000 + clients * 500);
    // The initial mesh of blocks: every client holds all `clients` blocks.
    let pending = base;
    const deadline = Date.now() + 300000;
    while (pending.length > 0) {
      const counts = await Promise.all(pending.map((c) => fleet!.networks(c)));
      pending = pending.filter((_, k) => counts[k] < clients);
      if (pending.length > 0 && Date.now() > deadline) throw new BenchError('join', `${pending.length} clients never held the initial ${clients} blocks`);
      await sleep(250);
    }
    await sleep(1000);
    res.loadAverage = loadAverage();
    for (let k = 0; k < joins; k++) {
      const joiner = fleet.clients[clients + k];
      const block = clientPrefix(clients + k, 0, 1);
      const receivers = fleet.clients.slice(0, clients + k);
      const offsets = receivers.map((c) => fs.statSync(c.log).size);
      const joinerOffset = fs.statSync(joiner.log).size;
      await joiner.control!.cmd('enable up1');
      const arrivals: (number | null)[] = receivers.map(() => null);
      const stopAt = Date.now() + 30000;
      while (arrivals.some((a) => a === null) && Date.now() < stopAt) {
        await sleep(100);
        receivers.forEach((c, r) => {
          if (arrivals[r] === null) arrivals[r] = routeAddedAt(readFrom(c.log, offsets[r]), block);
        });
      }
      // The joiner's own view: its session up, and every other block learned.
      let est: number | null = null;
      let table: number | null = null;
      const tableDeadline = Date.now() + 30000;
      while (Date.now() < tableDeadline) {
        const lines = readFrom(joiner.log, joinerOffset);
        est = establishedAt(lines);
        const added = lines.filter((l) => / > added /.test(l)).map(logTime).filter((t): t is number => t !== null);
        if (est !== null && added.length >= clients + k) { table = added[clients + k - 1] - est; break; }
        await sleep(100);
      }
      const missing = arrivals.filter((a) => a === null).length;
      if (est === null || missing > 0) {
        res.joinMs.push(null);
        process.stderr.write(`join ${k} (${kind}): ${missing} clients without ${block}; joiner established: ${est !== null}; joiner log: ${tail(joiner.log)}\n`);
      } else {
        res.joinMs.push(Math.max(...(arrivals as number[])) - est);
      }
      res.joinerTableMs.push(table);
      await sleep(300);
    }
    const ok = res.joinMs.filter((x): x is number => x !== null);
    res.p50Ms = percentile(ok, 50);
    res.p99Ms = ok.length === joins ? percentile(ok, 99) : null;
    res.peakRssMiB = peakRssMiB(refl.pid);
  } catch (e) {
    res.error = (e as Error).message;
  } finally {
    fleet?.close();
    await stop?.().catch(() => undefined);
    await lab.destroy();
  }
  return res;
}

function fmt(x: number | null, digits = 2): string {
  return x === null ? 'timeout' : x.toFixed(digits);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (!isRoot()) usage('needs root (network namespaces)');
  const results: (ConvergenceResult | JoinResult)[] = [];
  const save = (): void => {
    if (o.out) fs.writeFileSync(o.out, `${JSON.stringify(results, null, 1)}\n`);
  };
  if (o.convergence) {
    for (const size of o.sizes) {
      for (let pass = 0; pass < o.passes; pass++) {
        // Rotate the order each pass so a change of machine load does not favour one daemon.
        const order = o.daemons.map((_, i) => o.daemons[(i + pass) % o.daemons.length]);
        for (const kind of order) {
          const r = await runConvergence(kind, size.clients, size.perClient, pass, o.timeoutS, o.nodeArgs);
          results.push(r);
          save();
          const zero = r.rssAtZero ? ` (at time zero ${r.rssAtZero.vmRss.toFixed(1)}: anon ${r.rssAtZero.anon.toFixed(1)} + file ${r.rssAtZero.file.toFixed(1)})` : '';
          console.log(`${kind.padEnd(8)} N=${size.clients} M=${size.perClient} pass ${pass}: ${fmt(r.convergenceS)} s (monitor ${fmt(r.monitorS)} s), cpu ${r.cpuS.toFixed(2)} s, peak RSS ${r.peakRssMiB.toFixed(1)} MiB${zero}, load ${r.loadAverage}${r.error ? `  ERROR ${r.error}` : ''}`);
        }
      }
    }
  }
  if (o.join) {
    for (const kind of o.daemons) {
      const r = await runJoin(kind, o.joinClients, o.joins, o.nodeArgs);
      results.push(r);
      save();
      console.log(`${kind.padEnd(8)} join ${o.joinClients}+${o.joins}: p50 ${fmt(r.p50Ms, 0)} ms, p99 ${fmt(r.p99Ms, 0)} ms, joiner table p50 ${fmt(percentile(r.joinerTableMs.filter((x): x is number => x !== null), 50), 0)} ms, peak RSS ${r.peakRssMiB.toFixed(1)} MiB, load ${r.loadAverage}${r.error ? `  ERROR ${r.error}` : ''}`);
      console.log(`         joins (ms): ${r.joinMs.map((x) => (x === null ? 'miss' : String(x))).join(' ')}`);
    }
  }
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`rr-convergence: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
