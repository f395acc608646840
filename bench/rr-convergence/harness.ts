// Route-reflection benchmark harness (the method of osrg/bgperf, adapted to a 2-core machine):
// a fleet of BIRD 2 clients in one network namespace (one process per client, each with its own
// address and router id, its routes in a `protocol static` that starts disabled), the reflector
// under test (BIRD 2, FRR bgpd, GoBGP or nexthop's Speaker runner) in another, one veth between
// them. The clients are driven and polled over their BIRD control sockets (kept open, no birdc
// process per query); the reflector's CPU time and peak RSS come from /proc.
//
// RFC 4456 (route reflection: the reflector keeps NEXT_HOP, adds ORIGINATOR_ID / CLUSTER_LIST),
// RFC 4271 §9.2 (what an iBGP speaker may advertise). Every process is started through a
// test/helpers/lab.ts Lab, so it is killed by pid and its namespace deleted when the lab goes.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { Lab, nsExec } from '../../test/helpers/lab';
import { SpeakerProcess } from '../../test/helpers/speaker-runner';

export type ReflectorKind = 'bird' | 'frr' | 'gobgp' | 'nexthop';
export const REFLECTOR_KINDS: readonly ReflectorKind[] = ['bird', 'frr', 'gobgp', 'nexthop'];

/** The AS of the whole cluster: every session is iBGP, as in Calico with reflectors. */
export const CLUSTER_AS = 64512;
/** The reflector's address, router id and CLUSTER_ID. */
export const REFLECTOR_ADDRESS = '172.20.0.1';
/** The monitor: a client that announces nothing and only receives. */
export const MONITOR_ADDRESS = '172.20.0.2';
/** The pool the clients' blocks come from (nexthop's cluster import rule needs it). */
export const ROUTE_POOL = '10.0.0.0/8';
/** Hold time everywhere: long enough that a loaded 2-core machine never drops a session. */
const HOLD_TIME = 90;

export class BenchError extends Error {
  constructor(readonly what: string, message: string) {
    super(`${what}: ${message}`);
    this.name = 'BenchError';
  }
}

/** Address of client `i` (0-based): 172.20.1.1, 172.20.1.2, ... 250 per /24, never .0 or .255. */
export function clientAddress(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= 250 * 200) throw new BenchError('clientAddress', `client index ${i} out of range`);
  return `172.20.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

/** The `j`-th /24 of client `i` when each client announces `perClient`: 10.0.0.0/24, 10.0.1.0/24, ... */
export function clientPrefix(i: number, j: number, perClient: number): string {
  const k = i * perClient + j;
  if (k >= 65536) throw new BenchError('clientPrefix', `prefix #${k} does not fit 10.0.0.0/8 in /24s`);
  return `10.${k >> 8}.${k & 255}.0/24`;
}

// ---------------------------------------------------------------------------------------------
// BIRD control socket (the protocol birdc speaks): a greeting "0001 BIRD x ready.", then per
// command reply lines "NNNN-text" or " text", ending with a line "NNNN text" (code + space).

export class BirdControl {
  private sock: net.Socket;
  private buf = '';
  private lines: string[] = [];
  private waiting: { resolve: (l: string[]) => void; reject: (e: Error) => void; greeting: boolean } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(readonly socketPath: string) {
    this.sock = net.createConnection(socketPath);
    this.sock.setEncoding('utf8');
    this.sock.on('data', (d: string) => this.onData(d));
    this.sock.on('error', (e) => this.fail(new BenchError(`bird control ${socketPath}`, e.message)));
    this.sock.on('close', () => this.fail(new BenchError(`bird control ${socketPath}`, 'connection closed')));
  }

  static async open(socketPath: string): Promise<BirdControl> {
    const c = new BirdControl(socketPath);
    await new Promise<string[]>((resolve, reject) => { c.waiting = { resolve, reject, greeting: true }; });
    return c;
  }

  private fail(e: Error): void {
    this.closed = true;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
  }

  private onData(d: string): void {
    this.buf += d;
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      this.lines.push(line);
      if (/^\d{4} /.test(line) && this.waiting) {
        const w = this.waiting;
        const out = this.lines;
        this.waiting = null;
        this.lines = [];
        w.resolve(out);
      }
    }
  }

  /** Sends one command and resolves with its reply lines; commands are serialised per socket. */
  cmd(text: string, timeoutMs = 30000): Promise<string[]> {
    const run = (): Promise<string[]> => new Promise<string[]>((resolve, reject) => {
      if (this.closed) { reject(new BenchError(`bird control ${this.socketPath}`, 'closed')); return; }
      const t = setTimeout(() => {
        this.waiting = null;
        reject(new BenchError(`bird control ${this.socketPath}`, `no answer to '${text}' in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = {
        resolve: (l) => { clearTimeout(t); resolve(l); },
        reject: (e) => { clearTimeout(t); reject(e); },
        greeting: false,
      };
      this.sock.write(`${text}\n`);
    });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}

/** "show route count" → the number of networks in the table (BIRD 2: "N of M routes for K networks in table master4"). */
export function parseNetworkCount(lines: string[]): number {
  for (const l of lines) {
    const m = /(\d+) of (\d+) routes for (\d+) networks/.exec(l);
    if (m) return Number(m[3]);
  }
  throw new BenchError('show route count', `no route count in reply: ${lines.join(' | ').slice(0, 300)}`);
}

/** "show protocols NAME" → true when the BGP session is Established. */
export function parseEstablished(lines: string[]): boolean {
  return lines.some((l) => /\bEstablished\b/.test(l));
}

// ---------------------------------------------------------------------------------------------
// The client fleet

export interface ClientOptions {
  /** Number of announcing clients. */
  clients: number;
  /** Prefixes each client announces. */
  perClient: number;
  /** Add a monitor client (announces nothing). */
  monitor: boolean;
  /** Static routes start disabled (enabled at time zero) instead of enabled. */
  staticDisabled: boolean;
  /** Clients whose BGP protocol starts disabled (the joiners of the join scenario), by index. */
  bgpDisabledFrom?: number;
  /** Log route imports and session state changes with millisecond timestamps. */
  traceRoutes: boolean;
}

export interface BirdClient {
  index: number; // -1 for the monitor
  address: string;
  dir: string;
  socket: string;
  log: string;
  pid: number;
  control: BirdControl | null;
}

/** BIRD 2 configuration of one client: one iBGP session to the reflector, its /24s in `protocol static s1`. */
export function clientConfig(address: string, prefixes: string[], opts: { staticDisabled: boolean; bgpDisabled: boolean; traceRoutes: boolean; log: string }): string {
  const L: string[] = [];
  L.push(`router id ${address};`);
  L.push(opts.traceRoutes ? `log "${opts.log}" all;` : `log "${opts.log}" { warning, error, fatal, bug };`);
  L.push('timeformat log "%F %T.%3f";', 'timeformat protocol "%F %T.%3f";');
  L.push('protocol device {}');
  if (prefixes.length > 0) {
    L.push('protocol static s1 {', '  ipv4;');
    if (opts.staticDisabled) L.push('  disabled;');
    for (const p of prefixes) L.push(`  route ${p} unreachable;`);
    L.push('}');
  }
  L.push('protocol bgp up1 {');
  if (opts.bgpDisabled) L.push('  disabled;');
  // strict bind: every client listens on its own address only (all share one namespace).
  L.push(`  local ${address} as ${CLUSTER_AS};`, `  neighbor ${REFLECTOR_ADDRESS} as ${CLUSTER_AS};`, '  strict bind on;');
  L.push(`  hold time ${HOLD_TIME};`, '  connect retry time 1;', '  connect delay time 1;', '  error wait time 1, 5;');
  if (opts.traceRoutes) L.push('  debug { states, routes };');
  // RFC 4271 §9.2: we announce only our own routes. The reflected routes' NEXT_HOPs are other
  // clients' addresses, which are local in this shared namespace: BIRD's direct gateway mode
  // would reject them ("address is local"), so they are kept as recursive (unresolved) routes.
  L.push('  ipv4 { import all; export where source = RTS_STATIC; gateway recursive; };', '}');
  return L.join('\n') + '\n';
}

export class ClientFleet {
  readonly clients: BirdClient[] = [];
  monitor: BirdClient | null = null;

  constructor(readonly lab: Lab, readonly ns: string, readonly opts: ClientOptions) {}

  /** Writes the configs, starts every BIRD and opens its control socket. */
  async start(): Promise<void> {
    const base = this.lab.tempDir();
    fs.chmodSync(base, 0o755);
    const make = (index: number, address: string, prefixes: string[]): BirdClient => {
      const dir = path.join(base, index < 0 ? 'mon' : `c${index}`);
      fs.mkdirSync(dir);
      const log = path.join(dir, 'bird.log');
      const conf = path.join(dir, 'bird.conf');
      const socket = path.join(dir, 'ctl');
      const bgpDisabled = index >= 0 && this.opts.bgpDisabledFrom !== undefined && index >= this.opts.bgpDisabledFrom;
      fs.writeFileSync(conf, clientConfig(address, prefixes, { staticDisabled: this.opts.staticDisabled, bgpDisabled, traceRoutes: this.opts.traceRoutes, log }));
      const p = this.lab.spawn(this.ns, 'bird', ['-f', '-c', conf, '-s', socket, '-P', path.join(dir, 'pid')], { stdio: 'ignore' });
      if (p.pid === undefined) throw new BenchError(`client ${address}`, 'bird did not start');
      return { index, address, dir, socket, log, pid: p.pid, control: null };
    };
    for (let i = 0; i < this.opts.clients; i++) {
      const prefixes: string[] = [];
      for (let j = 0; j < this.opts.perClient; j++) prefixes.push(clientPrefix(i, j, this.opts.perClient));
      this.clients.push(make(i, clientAddress(i), prefixes));
    }
    if (this.opts.monitor) this.monitor = make(-1, MONITOR_ADDRESS, []);
    const all = this.all();
    const deadline = Date.now() + 60000 + all.length * 200;
    for (const c of all) {
      for (;;) {
        if (fs.existsSync(c.socket)) {
          try { c.control = await BirdControl.open(c.socket); break; } catch { /* not accepting yet */ }
        }
        if (Date.now() > deadline) throw new BenchError(`client ${c.address}`, `bird control socket never answered; log: ${tail(c.log)}`);
        await sleep(50);
      }
    }
  }

  all(): BirdClient[] {
    return this.monitor ? [...this.clients, this.monitor] : [...this.clients];
  }

  /** Waits until every client in `which` has its session to the reflector Established. */
  async waitEstablished(which: BirdClient[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let pending = which;
    while (pending.length > 0) {
      const states = await Promise.all(pending.map(async (c) => parseEstablished(await c.control!.cmd('show protocols up1'))));
      pending = pending.filter((_, k) => !states[k]);
      if (pending.length === 0) return;
      if (Date.now() > deadline) throw new BenchError('sessions', `${pending.length} client sessions not Established after ${timeoutMs} ms (first: ${pending[0].address}; log: ${tail(pending[0].log)})`);
      await sleep(250);
    }
  }

  async networks(c: BirdClient): Promise<number> {
    return parseNetworkCount(await c.control!.cmd('show route count'));
  }

  close(): void {
    for (const c of this.all()) c.control?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Reflectors under test

export interface Reflector {
  kind: ReflectorKind;
  version: string;
  /** The process whose CPU and memory we measure (bgpd for FRR). */
  pid: number;
  stop(): Promise<void>;
}

/** BIRD 2 reflector: one passive `rr client` protocol per client, from a template. */
export function birdReflectorConfig(clients: string[], log: string): string {
  const L: string[] = [
    `router id ${REFLECTOR_ADDRESS};`,
    `log "${log}" { warning, error, fatal, bug };`,
    'protocol device {}',
    'template bgp rrc {',
    `  local ${REFLECTOR_ADDRESS} as ${CLUSTER_AS};`,
    '  passive on;',
    '  direct;',
    // RFC 4456 §7: our CLUSTER_ID; `rr client` makes the peer a client (§6).
    '  rr client;',
    `  rr cluster id ${REFLECTOR_ADDRESS};`,
    `  hold time ${HOLD_TIME};`,
    '  ipv4 { import all; export all; gateway direct; };',
    '}',
  ];
  clients.forEach((a, i) => L.push(`protocol bgp c${i} from rrc { neighbor ${a} as ${CLUSTER_AS}; }`));
  return L.join('\n') + '\n';
}

/** FRR bgpd reflector: one peer group of passive route-reflector clients. */
export function frrReflectorConfig(clients: string[], log: string): string {
  const L: string[] = [
    'frr defaults datacenter', 'hostname rrbench', `log file ${log}`, '!',
    `router bgp ${CLUSTER_AS}`,
    ` bgp router-id ${REFLECTOR_ADDRESS}`,
    ` bgp cluster-id ${REFLECTOR_ADDRESS}`,
    ' no bgp ebgp-requires-policy',
    ' no bgp default ipv4-unicast',
    ' no bgp network import-check',
    ' neighbor CL peer-group',
    ` neighbor CL remote-as ${CLUSTER_AS}`,
    ' neighbor CL passive',
    ` neighbor CL timers ${HOLD_TIME / 3} ${HOLD_TIME}`,
    ` neighbor CL update-source ${REFLECTOR_ADDRESS}`,
  ];
  for (const a of clients) L.push(` neighbor ${a} peer-group CL`);
  L.push(' address-family ipv4 unicast', '  neighbor CL activate', '  neighbor CL route-reflector-client', ' exit-address-family', 'exit', '!');
  return L.join('\n') + '\n';
}

/** GoBGP reflector: one passive route-reflector-client neighbor per client. */
export function gobgpReflectorConfig(clients: string[]): string {
  const L: string[] = ['[global.config]', `  as = ${CLUSTER_AS}`, `  router-id = "${REFLECTOR_ADDRESS}"`, `  local-address-list = ["${REFLECTOR_ADDRESS}"]`, ''];
  for (const a of clients) {
    L.push('[[neighbors]]', '  [neighbors.config]', `    neighbor-address = "${a}"`, `    peer-as = ${CLUSTER_AS}`,
      '  [neighbors.transport.config]', '    passive-mode = true', `    local-address = "${REFLECTOR_ADDRESS}"`,
      '  [neighbors.timers.config]', `    hold-time = ${HOLD_TIME}`, `    keepalive-interval = ${HOLD_TIME / 3}`,
      '  [neighbors.route-reflector.config]', '    route-reflector-client = true', `    route-reflector-cluster-id = "${REFLECTOR_ADDRESS}"`,
      '  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]', '      afi-safi-name = "ipv4-unicast"', '');
  }
  return L.join('\n');
}

function versionOf(kind: ReflectorKind): string {
  const run = (cmd: string, args: string[]): string => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10000 });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0];
  };
  switch (kind) {
    case 'bird': return run('bird', ['--version']);
    case 'frr': return `FRR ${run('/usr/lib/frr/bgpd', ['--version']).replace(/^bgpd version /, '')}`;
    case 'gobgp': return run('gobgpd', ['--version']);
    case 'nexthop': return `nexthop (node ${process.version})`;
  }
}

/**
 * Starts the reflector of `kind` in `ns` for the given client addresses and waits until it
 * listens. `nodeArgs`: flags for nexthop's node process (e.g. --max-semi-space-size=1).
 */
export async function startReflector(lab: Lab, ns: string, kind: ReflectorKind, clients: string[], nodeArgs: string[] = []): Promise<Reflector> {
  const dir = lab.tempDir();
  fs.chmodSync(dir, 0o777);
  const version = kind === 'nexthop' && nodeArgs.length > 0 ? `${versionOf(kind)} ${nodeArgs.join(' ')}` : versionOf(kind);
  const logFd = (name: string): number => fs.openSync(path.join(dir, name), 'a');
  if (kind === 'bird') {
    const conf = path.join(dir, 'bird.conf');
    const sock = path.join(dir, 'ctl');
    fs.writeFileSync(conf, birdReflectorConfig(clients, path.join(dir, 'bird.log')));
    const out = logFd('bird.out');
    const p = lab.spawn(ns, 'bird', ['-f', '-c', conf, '-s', sock, '-P', path.join(dir, 'pid')], { stdio: ['ignore', out, out] });
    await waitUntil('bird reflector control socket', () => fs.existsSync(sock), 15000, () => tail(path.join(dir, 'bird.out')));
    return { kind, version, pid: p.pid!, stop: () => stopPid(p.pid!) };
  }
  if (kind === 'frr') {
    const conf = path.join(dir, 'bgpd.conf');
    const vty = path.join(dir, 'vty');
    fs.mkdirSync(vty);
    fs.chmodSync(vty, 0o777);
    const log = path.join(dir, 'bgpd.log');
    fs.writeFileSync(conf, frrReflectorConfig(clients, log));
    const out = logFd('bgpd.out');
    // -Z: no zebra. The reflector installs nothing in a FIB (like the BIRD and GoBGP ones here);
    // bgpd without zebra takes every NEXT_HOP as reachable. --log-level crit: no line per route.
    const p = lab.spawn(ns, '/usr/lib/frr/bgpd', ['-Z', '-S', '-f', conf, '-i', path.join(dir, 'bgpd.pid'), '--vty_socket', vty,
      '-A', '127.0.0.1', '-P', '0', '--log-level', 'crit'], { stdio: ['ignore', out, out] });
    await waitUntil('frr bgpd vty socket', () => fs.existsSync(path.join(vty, 'bgpd.vty')), 20000, () => `${tail(path.join(dir, 'bgpd.out'))} ${tail(log)}`);
    return { kind, version, pid: p.pid!, stop: () => stopPid(p.pid!) };
  }
  if (kind === 'gobgp') {
    const conf = path.join(dir, 'gobgpd.toml');
    fs.writeFileSync(conf, gobgpReflectorConfig(clients));
    const apiPort = 51000 + Math.floor(Math.random() * 9000);
    const out = logFd('gobgpd.out');
    const p = lab.spawn(ns, 'gobgpd', ['-f', conf, '-t', 'toml', '--api-hosts', `127.0.0.1:${apiPort}`, '--pprof-disable', '-l', 'warn'], { stdio: ['ignore', out, out] });
    await waitUntil('gobgpd API', () => nsExec(ns, 'gobgp', ['-u', '127.0.0.1', '-p', String(apiPort), 'global'], { allowFail: true }).includes('AS:'), 20000,
      () => tail(path.join(dir, 'gobgpd.out')));
    return { kind, version, pid: p.pid!, stop: () => stopPid(p.pid!) };
  }
  // nexthop: the Speaker runner (src/speaker/runner.ts) as its own process.
  const sp = await SpeakerProcess.start(lab, ns, {
    speaker: {
      localAs: CLUSTER_AS,
      routerId: REFLECTOR_ADDRESS,
      listen: [{ address: REFLECTOR_ADDRESS, port: 179 }],
      nextHopIPv4: REFLECTOR_ADDRESS,
      pools: [ROUTE_POOL],
      clusterId: REFLECTOR_ADDRESS,
      holdTime: HOLD_TIME,
      gracefulRestart: { enabled: false },
    },
    peers: clients.map((a, i) => ({ name: `c${i}`, address: a, peerAs: CLUSTER_AS, type: 'rr-client' as const, passive: true })),
  }, 30000, nodeArgs);
  return { kind, version, pid: sp.proc.pid!, stop: () => sp.stop(false) };
}

// ---------------------------------------------------------------------------------------------
// /proc

/** utime + stime of a process (all its threads) in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" that ends the command name: state is field 3; utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  return ticks / clockTicks();
}

let hz = 0;
function clockTicks(): number {
  if (hz === 0) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    hz = Number(r.stdout.trim()) || 100;
  }
  return hz;
}

/** Peak resident set size (VmHWM) in MiB. */
export function peakRssMiB(pid: number): number {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(st);
  if (!m) throw new BenchError(`pid ${pid}`, 'no VmHWM in /proc/PID/status');
  return Number(m[1]) / 1024;
}

/** Resident memory now (MiB): VmRSS and its anonymous and file-backed parts (RssAnon, RssFile). */
export interface RssBreakdown {
  vmRss: number;
  anon: number;
  file: number;
}

export function rssBreakdownMiB(pid: number): RssBreakdown {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(st);
    if (!m) throw new BenchError(`pid ${pid}`, `no ${field} in /proc/PID/status`);
    return Number(m[1]) / 1024;
  };
  return { vmRss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

export function loadAverage(): number {
  return Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

// ---------------------------------------------------------------------------------------------

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-600);
  } catch {
    return '(no log)';
  }
}

async function waitUntil(what: string, ok: () => boolean, timeoutMs: number, diag: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new BenchError(what, `not ready after ${timeoutMs} ms: ${diag()}`);
    await sleep(100);
  }
}

async function stopPid(pid: number): Promise<void> {
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  for (let i = 0; i < 30; i++) {
    await sleep(100);
    try { process.kill(pid, 0); } catch { return; }
  }
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** Adds many addresses to one interface with a single `ip -batch` run. */
export function addAddresses(ns: string, dev: string, cidrs: string[]): void {
  if (cidrs.length === 0) return;
  nsExec(ns, 'ip', ['-batch', '-'], { input: cidrs.map((c) => `addr add ${c} dev ${dev}`).join('\n') + '\n', timeoutMs: 60000 });
}
