// Benchmark: learning 100,000 IPv4 prefixes from one iBGP peer (RFC 4271 §9: UPDATE → Adj-RIB-In
// → decision → Loc-RIB), our Speaker side by side with BIRD 2 and FRR bgpd learning the same feed
// in the same run. Method (shared/LAB.md): the feed is a BIRD generator with `protocol static`
// routes, disabled until the clock starts (or, with --feeder exabgp, ExaBGP given the table through
// its API at time zero); each sink runs in its own namespace pair with its own generator; the
// session is Established before the clock starts (`birdc enable gen` is time zero); the sink is
// polled every 0.1 s until it holds every prefix; no export back to the generator (iBGP split
// horizon, RFC 4271 §9.2). RSS is the sink process's VmRSS when done, and
// the growth from the Established, empty state divided by the prefix count.
//
// Needs root (network namespaces). Usage: node learn.bench.js [--passes N] [--prefixes N] [--json]
//   [--sinks nexthop,bird,frr] [--node-args "--max-semi-space-size=1"] [--memory] [--settle-ms N]
//   [--poll-ms N (default 100)] [--warm-up on|off (default: the speaker's, on)]
//   [--feeder bird|exabgp (default bird)]
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Lab, isRoot, nsExec, waitFor } from '../../test/helpers/lab';
import { Daemon, daemonAvailable, daemonVersion, startDaemon, waitEstablished } from '../../test/helpers/daemons';
import { SpeakerProcess } from '../../test/helpers/speaker-runner';

type Sink = 'nexthop' | 'bird' | 'frr';
const AS = 64900;
const GEN = '10.90.0.1';
const SINK = '10.90.0.2';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

function prefixOf(i: number): string {
  return `${16 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}.0/24`;
}

function generatorConfig(n: number): string {
  const L = [`router id ${GEN};`, 'protocol device {}', 'protocol static gen {', '  ipv4;', '  disabled;'];
  for (let i = 0; i < n; i++) L.push(`  route ${prefixOf(i)} unreachable;`);
  L.push('}', 'protocol bgp sink {', `  local ${GEN} as ${AS};`, `  neighbor ${SINK} as ${AS};`,
    '  connect retry time 1;', '  ipv4 { import none; export all; };', '}', '');
  return L.join('\n');
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Extra node flags for the speaker process: --node-args "--max-semi-space-size=1 ...". */
const NODE_ARGS = (() => {
  const i = process.argv.indexOf('--node-args');
  return i >= 0 ? process.argv[i + 1].split(/\s+/).filter(Boolean) : [];
})();

/** User + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15, 100 Hz ticks). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** How often the sink's route count is read (--poll-ms N, default 100 as in shared/LAB.md's bgperf method). */
const POLL_MS = arg('--poll-ms', 100);

/** --warm-up on|off: the speaker's JIT warm-up at start (default: the speaker's default). */
const WARM_UP: boolean | null = (() => {
  const i = process.argv.indexOf('--warm-up');
  if (i < 0) return null;
  const v = process.argv[i + 1];
  if (v !== 'on' && v !== 'off') usage(`--warm-up takes on or off, not '${v ?? ''}'`);
  return v === 'on';
})();

function usage(why: string): never {
  console.error(`learn.bench: ${why}`);
  console.error('usage: node learn.bench.js [--passes N] [--prefixes N] [--json] [--sinks nexthop,bird,frr] [--node-args "..."] [--memory] [--settle-ms N] [--poll-ms N] [--warm-up on|off] [--feeder bird|exabgp]');
  process.exit(2);
}

if (!Number.isInteger(POLL_MS) || POLL_MS < 1) usage(`--poll-ms needs a positive integer of milliseconds`);

/** --feeder bird|exabgp: what sends the table (default bird, the method of shared/LAB.md). */
const FEEDER: 'bird' | 'exabgp' = (() => {
  const i = process.argv.indexOf('--feeder');
  if (i < 0) return 'bird';
  const v = process.argv[i + 1];
  if (v !== 'bird' && v !== 'exabgp') usage(`--feeder takes bird or exabgp, not '${v ?? ''}'`);
  return v;
})();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PassResult { sink: Sink; seconds: number; cpu: number; rssMiB: number; bytesPerRoute: number; settledBytesPerRoute: number }
/** How long after completion the second RSS reading is taken (--settle-ms N, default 3000). */
const SETTLE_MS = arg('--settle-ms', 3000);

/** The generator in its own namespace: its session to the sink, and time zero. */
interface Feeder {
  /** Resolves when the generator's session to the sink is Established. */
  established(): Promise<void>;
  /** Time zero: the generator starts sending the table. */
  start(): Promise<void>;
}

/**
 * BIRD (shared/LAB.md's method): `protocol static` routes, disabled until `birdc enable gen`.
 * ExaBGP (the issue's "fed by GoBGP or ExaBGP"): the session comes up empty and time zero hands
 * ExaBGP the table through its API, ~1,000 prefixes per `announce attributes ... nlri` command.
 */
async function startFeeder(lab: Lab, nsGen: string, genConf: string, n: number): Promise<Feeder> {
  if (FEEDER === 'exabgp') {
    const exa = await startDaemon(lab, nsGen, 'exabgp', { routerId: GEN, asn: AS, neighbors: [{ address: SINK, asn: AS, localAddress: GEN, holdTime: 90 }] });
    const commands: string[] = [];
    for (let i = 0; i < n; i += 1000) {
      const nlri: string[] = [];
      for (let j = i; j < Math.min(n, i + 1000); j++) nlri.push(prefixOf(j));
      commands.push(`announce attributes next-hop ${GEN} origin igp local-preference 100 nlri ${nlri.join(' ')}`);
    }
    return {
      established: () => waitEstablished(exa, SINK, 30000),
      start: async () => { await exa.command(commands); },
    };
  }
  const dir = lab.tempDir();
  fs.chmodSync(dir, 0o755);
  const conf = path.join(dir, 'gen.conf');
  const sock = path.join(dir, 'gen.ctl');
  fs.writeFileSync(conf, genConf);
  lab.spawn(nsGen, 'bird', ['-f', '-c', conf, '-s', sock, '-P', path.join(dir, 'gen.pid')]);
  const birdc = (...a: string[]) => nsExec(nsGen, 'birdc', ['-s', sock, ...a], { allowFail: true, timeoutMs: 30000 });
  await waitFor('generator BIRD up', () => fs.existsSync(sock) && birdc('show', 'status').includes('Daemon is up'), 60000, 200);
  return {
    established: () => waitFor('generator session Established', () => /Established/.test(birdc('show', 'protocols', 'sink')), 30000, 200).then(() => undefined),
    start: async () => { birdc('enable', 'gen'); },
  };
}

async function onePass(sink: Sink, n: number, genConf: string): Promise<PassResult> {
  const lab = new Lab('bsp');
  try {
    const nsGen = lab.netns('gen');
    const nsSink = lab.netns('sink');
    lab.link(nsGen, [`${GEN}/24`], nsSink, [`${SINK}/24`]);
    const feed = await startFeeder(lab, nsGen, genConf, n);

    let pid: number;
    let count: () => Promise<number>;
    let speaker: SpeakerProcess | null = null;
    let daemon: Daemon | null = null;
    if (sink === 'nexthop') {
      speaker = await SpeakerProcess.start(lab, nsSink, {
        speaker: { localAs: AS, routerId: SINK, listen: [{ address: SINK, port: 179 }], pools: [], connectRetryTime: 1, ...(WARM_UP === null ? {} : { warmUp: WARM_UP }) },
        peers: [{ name: 'gen', address: GEN, peerAs: AS, type: 'external', sourceAddress: SINK, holdTime: 90 }],
      }, 15000, NODE_ARGS);
      pid = speaker.proc.pid!;
      const sp = speaker;
      await waitFor('nexthop Established', async () => (await sp.peer('gen'))?.state === 'Established', 30000, 100);
      count = async () => sp.request<number>('count', { family: 'ipv4-unicast' });
    } else {
      daemon = await startDaemon(lab, nsSink, sink, { routerId: SINK, asn: AS, neighbors: [{ address: GEN, asn: AS, localAddress: SINK }] });
      pid = daemon.pid;
      await waitEstablished(daemon, GEN, 30000);
      const d = daemon;
      count = sink === 'bird'
        ? async () => Number(/(\d+) of \d+ routes/.exec(await d.command('show route count'))?.[1] ?? 0)
        : async () => {
          const j = JSON.parse(await d.command('show bgp ipv4 unicast summary json')) as { peers?: Record<string, { pfxRcd?: number }> };
          return j.peers?.[GEN]?.pfxRcd ?? 0;
        };
    }
    await feed.established();
    await sleep(500);
    const rss0 = rssKiB(pid);
    const cpu0 = cpuSeconds(pid);
    const t0 = process.hrtime.bigint();
    await feed.start();
    let got = 0;
    for (let i = 0; i < 600_000 / POLL_MS && got < n; i++) {
      got = await count();
      if (got >= n) break;
      await sleep(POLL_MS);
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (got < n) throw new Error(`${sink} learned only ${got} of ${n} prefixes`);
    const rss1 = rssKiB(pid);
    const cpu = cpuSeconds(pid) - cpu0;
    // And once the process had a second to settle (V8's memory reducer runs when allocation stops).
    await sleep(SETTLE_MS);
    const rss2 = rssKiB(pid);
    if (speaker && process.argv.includes('--memory')) {
      // Where our RSS is: V8 heap spaces used vs committed, before and after a full GC.
      console.error(JSON.stringify(await speaker.request('memory', {})));
      console.error(JSON.stringify(await speaker.request('memory', { gc: true })));
    }
    await speaker?.stop();
    await daemon?.stop();
    return { sink, seconds, cpu, rssMiB: rss1 / 1024, bytesPerRoute: ((rss1 - rss0) * 1024) / n, settledBytesPerRoute: ((rss2 - rss0) * 1024) / n };
  } finally {
    await lab.destroy();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.log('learn.bench: needs root for network namespaces; skipped');
    return;
  }
  const passes = arg('--passes', 3);
  const n = arg('--prefixes', 100_000);
  // --sinks nexthop,bird: run only these (default: all three).
  const si = process.argv.indexOf('--sinks');
  const wanted = si >= 0 ? process.argv[si + 1].split(',') : ['nexthop', 'bird', 'frr'];
  const sinks: Sink[] = ['nexthop', 'bird', 'frr'].filter((s) => wanted.includes(s) && (s === 'nexthop' || daemonAvailable(s as 'bird' | 'frr'))) as Sink[];
  const genConf = generatorConfig(n);
  const results: PassResult[] = [];
  const load0 = os.loadavg()[0];
  for (let p = 0; p < passes; p++) {
    for (const s of sinks) {
      const r = await onePass(s, n, genConf);
      results.push(r);
      console.error(`pass ${p + 1} ${s}: ${r.seconds.toFixed(2)} s (CPU ${r.cpu.toFixed(2)} s), RSS ${r.rssMiB.toFixed(1)} MiB, ${r.bytesPerRoute.toFixed(0)} B/route, ${r.settledBytesPerRoute.toFixed(0)} B/route settled`);
    }
  }
  const load1 = os.loadavg()[0];
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({ prefixes: n, passes, load: [load0, load1], results }));
    return;
  }
  const ver: Record<Sink, string> = { nexthop: `nexthop (node ${process.version})`, bird: daemonVersion('bird'), frr: daemonVersion('frr') };
  console.log(`${n} IPv4 prefixes from one iBGP peer, ${passes} passes, load average ${load0.toFixed(1)} → ${load1.toFixed(1)} on ${os.cpus().length} CPUs`);
  console.log(`| sink | time, median (range) | sink CPU, median (range) | RSS when done, median | RSS growth per route when done, median (range) | RSS growth per route ${SETTLE_MS / 1000} s later, median (range) |`);
  console.log('|---|---|---|---|---|---|');
  for (const s of sinks) {
    const rs = results.filter((r) => r.sink === s);
    const t = rs.map((r) => r.seconds);
    const b = rs.map((r) => r.bytesPerRoute);
    const b2 = rs.map((r) => r.settledBytesPerRoute);
    const range = (xs: number[], d: number) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;
    console.log(`| ${ver[s]}${s === 'nexthop' && NODE_ARGS.length ? ` \`${NODE_ARGS.join(' ')}\`` : ''} | ${range(t, 2)} s | ${range(rs.map((r) => r.cpu), 2)} s | ${median(rs.map((r) => r.rssMiB)).toFixed(1)} MiB | ${range(b, 0)} B | ${range(b2, 0)} B |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
