// Real-router harness for interop tests and fixture captures: starts BIRD 2, FRR bgpd, GoBGP and
// ExaBGP inside a network namespace of a test/helpers/lab.ts Lab, each with its own config,
// control socket, pid and log files in a lab temp dir, from one small typed description of the
// router (RouterSpec). Query helpers return session states and received routes in one normalised
// JSON shape, whatever the daemon (birdc text, vtysh ... json, gobgp -j, ExaBGP's JSON API).
// Stopping kills by pid. Configures: RFC 4271 sessions, RFC 2385 TCP MD5, RFC 4724 graceful
// restart, RFC 7911 ADD-PATH, RFC 4456 route reflection, RFC 1997/4360/8092 communities,
// RFC 6793 (BIRD `enable as4 off`, ExaBGP `asn4 disable`).
import * as fs from 'fs';
import * as path from 'path';
import { ChildProcess, spawnSync } from 'child_process';
import { Lab, nsExec, waitFor } from './lab';
import { canonicalIP, formatCidr, parseCidr } from '../../src/lib/ip';

export type DaemonKind = 'bird' | 'frr' | 'gobgp' | 'exabgp';
export const DAEMON_KINDS: readonly DaemonKind[] = ['bird', 'frr', 'gobgp', 'exabgp'];

export type HarnessFamily = 'ipv4-unicast' | 'ipv6-unicast';

export interface NeighborSpec {
  /** The peer's address (IPv4 or IPv6); the session runs over this address family. */
  address: string;
  /** The peer's AS. Equal to the router's AS → iBGP. */
  asn: number;
  /** Our source address for this session (BIRD `local`, FRR update-source, GoBGP/ExaBGP local-address). */
  localAddress?: string;
  /** RFC 2385 TCP MD5 key. */
  password?: string;
  /** Wait for the peer to connect; never dial. */
  passive?: boolean;
  /** Families to negotiate; default: the family of `address`. */
  families?: HarnessFamily[];
  /** RFC 7911 ADD-PATH for every negotiated family. */
  addPath?: 'send' | 'receive' | 'both';
  /** RFC 4724 graceful restart; a number is the restart time in seconds (default 120). */
  gracefulRestart?: boolean | number;
  /** RFC 4456: this neighbor is our route-reflector client. */
  routeReflectorClient?: boolean;
  /** RFC 6793: false makes the daemon a 2-octet-AS speaker toward this peer (BIRD, ExaBGP only). */
  as4?: boolean;
  /** Hold time in seconds (default: the daemon's). */
  holdTime?: number;
  /** Always put our own address in NEXT_HOP, also over iBGP. */
  nextHopSelf?: boolean;
}

export interface StaticRouteSpec {
  /** "10.1.0.0/24" or "fd00:1::/48"; originated toward every neighbor of the same family. */
  prefix: string;
  /** Communities "65000:100" (RFC 1997). */
  communities?: string[];
  /** Large communities "65000:1:2" (RFC 8092). */
  largeCommunities?: string[];
  /** Route-target extended communities "65000:100" (RFC 4360 §4, type 0x00/0x02). */
  routeTargets?: string[];
  /** MULTI_EXIT_DISC. */
  med?: number;
  /** ASNs put in front of the path (BIRD: prepended; ExaBGP: the whole AS_PATH for eBGP after our AS). */
  asPathPrepend?: number[];
}

export interface RouterSpec {
  routerId: string;
  asn: number;
  neighbors: NeighborSpec[];
  routes?: StaticRouteSpec[];
  /** RFC 4456 cluster id for a route reflector (default: the router id). */
  clusterId?: string;
}

/** One route as a daemon holds it, in a shape common to all daemons. */
export interface ReceivedRoute {
  prefix: string;
  /** The neighbor address it was learned from (absent for locally originated routes). */
  peer?: string;
  /** RFC 7911 path id when the daemon shows it. */
  pathId?: number;
  nextHops: string[];
  /** AS_PATH flattened in order (sets included in order of appearance). */
  asPath: number[];
  communities: string[];
  largeCommunities: string[];
  /** Extended communities in the daemon's own text, normalised to "rt:ASN:VALUE" for route targets. */
  extendedCommunities: string[];
}

export type SessionState = 'idle' | 'connect' | 'active' | 'opensent' | 'openconfirm' | 'established' | 'unknown';

/** A running daemon; every method runs its CLI inside the daemon's namespace. */
export interface Daemon {
  readonly kind: DaemonKind;
  readonly ns: string;
  readonly dir: string;
  readonly spec: RouterSpec;
  readonly pid: number;
  readonly version: string;
  /** Session state per neighbor address. */
  sessions(): Promise<Record<string, SessionState>>;
  /** Routes the daemon has learned from its neighbors (and, for some daemons, its own). */
  receivedRoutes(family?: HarnessFamily): Promise<ReceivedRoute[]>;
  /** Runs one command of the daemon's CLI (birdc / vtysh -c / gobgp args / ExaBGP API line). */
  command(cmd: string | string[]): Promise<string>;
  /** SIGTERM by pid, SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export class DaemonError extends Error {
  constructor(readonly kind: DaemonKind, readonly ns: string, message: string) {
    super(`${kind} in ${ns}: ${message}`);
    this.name = 'DaemonError';
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function familyOfAddress(addr: string): HarnessFamily {
  return addr.includes(':') ? 'ipv6-unicast' : 'ipv4-unicast';
}

function familyOfPrefix(prefix: string): HarnessFamily {
  return familyOfAddress(prefix.split('/')[0]);
}

function familiesOf(n: NeighborSpec): HarnessFamily[] {
  return n.families ?? [familyOfAddress(n.address)];
}

function grTime(n: NeighborSpec): number | null {
  if (n.gracefulRestart === undefined || n.gracefulRestart === false) return null;
  return n.gracefulRestart === true ? 120 : n.gracefulRestart;
}

function splitCommunity(c: string, parts: number, what: string): number[] {
  const xs = c.split(':').map((x) => Number(x));
  if (xs.length !== parts || xs.some((x) => !Number.isInteger(x) || x < 0)) {
    throw new Error(`bad ${what} '${c}': expected ${parts} colon-separated integers`);
  }
  return xs;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Version string of an installed daemon (first line of its --version output). */
export function daemonVersion(kind: DaemonKind): string {
  const run = (cmd: string, args: string[]): string => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10000 });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`;
  };
  switch (kind) {
    case 'bird': return run('bird', ['--version']).trim().split('\n')[0];
    case 'frr': return `FRR ${run('/usr/lib/frr/bgpd', ['--version']).split('\n')[0].replace(/^bgpd version /, '')}`.trim();
    case 'gobgp': return run('gobgpd', ['--version']).trim().split('\n')[0];
    case 'exabgp': return run('exabgp', ['--version']).trim().split('\n')[0].replace(/\s*:\s*/, ' ').replace(/\s+/g, ' ');
  }
}

/** True when the daemon and its CLI are installed (FRR: bgpd and zebra at Debian's path, and vtysh). */
export function daemonAvailable(kind: DaemonKind): boolean {
  const onPath = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  switch (kind) {
    case 'bird': return onPath('bird') && onPath('birdc');
    case 'frr': return fs.existsSync('/usr/lib/frr/bgpd') && fs.existsSync('/usr/lib/frr/zebra') && onPath('vtysh');
    case 'gobgp': return onPath('gobgpd') && onPath('gobgp');
    case 'exabgp': return onPath('exabgp');
  }
}

async function stopProcess(p: ChildProcess, graceMs: number): Promise<void> {
  if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  try { process.kill(p.pid, 'SIGTERM'); } catch { return; }
  const t = sleep(graceMs).then(() => 'timeout');
  if ((await Promise.race([exited.then(() => 'exit'), t])) === 'timeout') {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
    await Promise.race([exited, sleep(1000)]);
  }
}

function normaliseState(s: string): SessionState {
  const x = s.toLowerCase().replace(/[^a-z]/g, '');
  const known: SessionState[] = ['idle', 'connect', 'active', 'opensent', 'openconfirm', 'established'];
  return (known as string[]).includes(x) ? (x as SessionState) : 'unknown';
}

/** Waits until the daemon reports `peer` Established. */
export async function waitEstablished(d: Daemon, peer: string, timeoutMs = 30000): Promise<void> {
  await waitFor(`${d.kind} session to ${peer} Established`, async () => (await d.sessions())[peer] === 'established', timeoutMs, 250);
}

/** Waits until `d` has at least one route for each of `prefixes` (optionally from `peer`). */
export async function waitRoutes(d: Daemon, prefixes: string[], opts: { peer?: string; timeoutMs?: number } = {}): Promise<ReceivedRoute[]> {
  const got = await waitFor<ReceivedRoute[] | null>(`${d.kind} to learn ${prefixes.join(', ')}`, async () => {
    const fams = [...new Set(prefixes.map(familyOfPrefix))];
    const all: ReceivedRoute[] = [];
    for (const f of fams) all.push(...(await d.receivedRoutes(f)));
    const got = all.filter((r) => opts.peer === undefined || r.peer === opts.peer);
    return prefixes.every((p) => got.some((r) => r.prefix === p)) ? got : null;
  }, opts.timeoutMs ?? 30000, 250);
  return got ?? [];
}

/** Starts a daemon of `kind` in `ns`, configured from `spec`, and waits until its CLI answers. */
export async function startDaemon(lab: Lab, ns: string, kind: DaemonKind, spec: RouterSpec): Promise<Daemon> {
  const dir = lab.tempDir();
  fs.chmodSync(dir, 0o755);
  const s = canonicalSpec(spec);
  const d = await (kind === 'bird' ? startBird(lab, ns, dir, s)
    : kind === 'frr' ? startFrr(lab, ns, dir, s)
      : kind === 'gobgp' ? startGobgp(lab, ns, dir, s)
        : startExabgp(lab, ns, dir, s));
  // Daemons print addresses in canonical form; so do we, whatever form the caller used.
  const sessions = d.sessions.bind(d);
  const received = d.receivedRoutes.bind(d);
  return Object.assign(d, {
    async sessions() {
      const raw = await sessions();
      const out: Record<string, SessionState> = {};
      for (const [k, v] of Object.entries(raw)) out[canon(k)] = v;
      for (const n of spec.neighbors) out[n.address] = out[canon(n.address)] ?? 'unknown';
      return out;
    },
    async receivedRoutes(family?: HarnessFamily) {
      return (await received(family)).map((r) => ({
        ...r,
        prefix: canonPrefix(r.prefix),
        ...(r.peer !== undefined ? { peer: canon(r.peer) } : {}),
        nextHops: r.nextHops.map(canon),
      }));
    },
  });
}

function canon(addr: string): string {
  return canonicalIP(addr) ?? addr;
}

function canonPrefix(prefix: string): string {
  const c = parseCidr(prefix, false);
  return c ? formatCidr(c) : prefix;
}

function canonicalSpec(spec: RouterSpec): RouterSpec {
  return {
    ...spec,
    neighbors: spec.neighbors.map((n) => ({ ...n, address: canon(n.address), ...(n.localAddress ? { localAddress: canon(n.localAddress) } : {}) })),
    routes: (spec.routes ?? []).map((r) => ({ ...r, prefix: canonPrefix(r.prefix) })),
  };
}

function collectOutput(p: ChildProcess, file: string): void {
  const out = fs.createWriteStream(file, { flags: 'a' });
  p.stdout?.pipe(out);
  p.stderr?.pipe(out);
}

function logTail(file: string): string {
  try {
    const t = fs.readFileSync(file, 'utf8');
    return t.slice(-2000);
  } catch {
    return '(no log)';
  }
}

async function waitStarted(kind: DaemonKind, ns: string, p: ChildProcess, logFile: string, ready: () => boolean, timeoutMs = 15000): Promise<void> {
  try {
    await waitFor(`${kind} in ${ns} to start`, () => {
      if (p.exitCode !== null || p.signalCode !== null) {
        throw new DaemonError(kind, ns, `exited (${p.exitCode ?? p.signalCode}): ${logTail(logFile)}`);
      }
      return ready();
    }, timeoutMs, 200);
  } catch (e) {
    throw e instanceof DaemonError ? e : new DaemonError(kind, ns, `${(e as Error).message}; log: ${logTail(logFile)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// BIRD 2

/** BIRD 2 configuration text for `spec`; protocol names are peer1, peer2, ... in neighbor order. */
export function birdConfig(spec: RouterSpec): string {
  const L: string[] = [];
  L.push(`router id ${spec.routerId};`, 'protocol device {}', '');
  const rt = (r: StaticRouteSpec): string => {
    const f: string[] = [];
    for (const c of r.communities ?? []) f.push(`bgp_community.add((${splitCommunity(c, 2, 'community').join(',')}));`);
    for (const c of r.largeCommunities ?? []) f.push(`bgp_large_community.add((${splitCommunity(c, 3, 'large community').join(',')}));`);
    for (const c of r.routeTargets ?? []) f.push(`bgp_ext_community.add((rt,${splitCommunity(c, 2, 'route target').join(',')}));`);
    if (r.med !== undefined) f.push(`bgp_med = ${r.med};`);
    for (const a of [...(r.asPathPrepend ?? [])].reverse()) f.push(`bgp_path.prepend(${a});`);
    return `  route ${r.prefix} unreachable${f.length ? ` { ${f.join(' ')} }` : ''};`;
  };
  for (const fam of ['ipv4-unicast', 'ipv6-unicast'] as const) {
    const rs = (spec.routes ?? []).filter((r) => familyOfPrefix(r.prefix) === fam);
    if (!rs.length) continue;
    const ch = fam === 'ipv4-unicast' ? 'ipv4' : 'ipv6';
    L.push(`protocol static static_${ch} {`, `  ${ch};`, ...rs.map(rt), '}', '');
  }
  spec.neighbors.forEach((n, i) => {
    L.push(`protocol bgp peer${i + 1} {`);
    L.push(`  local ${n.localAddress ?? ''} as ${spec.asn};`.replace('local  as', 'local as'));
    L.push(`  neighbor ${n.address} as ${n.asn};`);
    if (n.password !== undefined) L.push(`  password "${n.password}";`);
    if (n.passive) L.push('  passive on;');
    if (n.as4 === false) L.push('  enable as4 off;'); // RFC 6793 §4.2.1: act as an OLD speaker
    if (n.holdTime !== undefined) L.push(`  hold time ${n.holdTime};`);
    L.push('  connect retry time 1;', '  connect delay time 1;', '  error wait time 1, 10;');
    const gr = grTime(n);
    if (gr !== null) L.push('  graceful restart on;', `  graceful restart time ${gr};`);
    else L.push('  graceful restart off;');
    if (n.routeReflectorClient) {
      L.push('  rr client;');
      L.push(`  rr cluster id ${spec.clusterId ?? spec.routerId};`);
    }
    for (const fam of familiesOf(n)) {
      const ch = fam === 'ipv4-unicast' ? 'ipv4' : 'ipv6';
      const opts = ['import all;', 'export all;'];
      if (n.addPath) opts.push(`add paths ${n.addPath === 'send' ? 'tx' : n.addPath === 'receive' ? 'rx' : 'on'};`);
      if (n.nextHopSelf) opts.push('next hop self;');
      // BIRD resolves next hops of direct eBGP peers on the shared interface; routes stay
      // visible even when their next hop is not reachable.
      L.push(`  ${ch} { ${opts.join(' ')} };`);
    }
    L.push('}', '');
  });
  return L.join('\n');
}

/** Parses `birdc show route all` output into routes. Exported for the harness's own tests. */
export function parseBirdRoutes(text: string, protoToPeer: Record<string, string>): ReceivedRoute[] {
  const out: ReceivedRoute[] = [];
  let prefix = '';
  let cur: ReceivedRoute | null = null;
  for (const line of text.split('\n')) {
    // "10.1.0.0/24          unicast [peer1 12:00:00.000] * (100) [AS65002i]" or, for another
    // path of the same prefix, the same line with the prefix column blank.
    const head = /^(\S+)?\s+(?:unicast|unreachable|blackhole|prohibited)\s+\[(\S+)\s/.exec(line);
    if (head && !line.startsWith('\t') && !/^\s*(Table|BIRD|Access)/.test(line)) {
      if (head[1]) prefix = head[1];
      cur = { prefix, nextHops: [], asPath: [], communities: [], largeCommunities: [], extendedCommunities: [] };
      const peer = protoToPeer[head[2]];
      if (peer !== undefined) cur.peer = peer;
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const attr = /^\s+BGP\.(\w+):\s*(.*)$/.exec(line);
    if (!attr) continue;
    const [, name, value] = attr;
    if (name === 'as_path') cur.asPath = (value.match(/\d+/g) ?? []).map(Number);
    else if (name === 'next_hop') cur.nextHops = value.trim().split(/\s+/).filter(Boolean);
    else if (name === 'community') cur.communities = [...value.matchAll(/\((\d+),\s*(\d+)\)/g)].map((m) => `${m[1]}:${m[2]}`);
    else if (name === 'large_community') cur.largeCommunities = [...value.matchAll(/\((\d+),\s*(\d+),\s*(\d+)\)/g)].map((m) => `${m[1]}:${m[2]}:${m[3]}`);
    else if (name === 'ext_community') cur.extendedCommunities = [...value.matchAll(/\((\w+),\s*([\w.]+),\s*(\d+)\)/g)].map((m) => `${m[1]}:${m[2]}:${m[3]}`);
  }
  return out;
}

async function startBird(lab: Lab, ns: string, dir: string, spec: RouterSpec): Promise<Daemon> {
  const conf = path.join(dir, 'bird.conf');
  const sock = path.join(dir, 'bird.ctl');
  const pidFile = path.join(dir, 'bird.pid');
  const log = path.join(dir, 'bird.log');
  fs.writeFileSync(conf, birdConfig(spec));
  const p = lab.spawn(ns, 'bird', ['-f', '-c', conf, '-s', sock, '-P', pidFile]);
  collectOutput(p, log);
  const birdc = (args: string[]): string => nsExec(ns, 'birdc', ['-s', sock, ...args], { allowFail: true, timeoutMs: 10000 });
  await waitStarted('bird', ns, p, log, () => fs.existsSync(sock) && birdc(['show', 'status']).includes('Daemon is up'));
  const protoToPeer: Record<string, string> = {};
  spec.neighbors.forEach((n, i) => { protoToPeer[`peer${i + 1}`] = n.address; });
  return {
    kind: 'bird', ns, dir, spec, pid: p.pid!, version: daemonVersion('bird'),
    async sessions() {
      const res: Record<string, SessionState> = {};
      for (const [proto, peer] of Object.entries(protoToPeer)) {
        const t = birdc(['show', 'protocols', 'all', proto]);
        const m = /BGP state:\s+(\S+)/.exec(t);
        res[peer] = m ? normaliseState(m[1]) : 'unknown';
      }
      return res;
    },
    async receivedRoutes(family?: HarnessFamily) {
      const t = birdc(['show', 'route', 'all', ...(family ? ['table', family === 'ipv4-unicast' ? 'master4' : 'master6'] : [])]);
      return parseBirdRoutes(t, protoToPeer).filter((r) => r.peer !== undefined);
    },
    async command(cmd) {
      return birdc(Array.isArray(cmd) ? cmd : [cmd]);
    },
    async stop(graceMs = 3000) { await stopProcess(p, graceMs); },
  };
}

// ---------------------------------------------------------------------------------------------
// FRR bgpd (without zebra)

/** FRR bgpd configuration text for `spec`. */
export function frrConfig(spec: RouterSpec, logFile: string): string {
  const L: string[] = ['frr defaults datacenter', `hostname r${spec.routerId.replace(/\./g, '-')}`, `log file ${logFile}`, '!'];
  const routes = spec.routes ?? [];
  routes.forEach((r, i) => {
    L.push(`route-map ORIG${i} permit 10`);
    if (r.communities?.length) L.push(` set community ${r.communities.join(' ')} additive`);
    if (r.largeCommunities?.length) L.push(` set large-community ${r.largeCommunities.join(' ')} additive`);
    if (r.routeTargets?.length) L.push(` set extcommunity rt ${r.routeTargets.join(' ')}`);
    if (r.med !== undefined) L.push(` set metric ${r.med}`);
    if (r.asPathPrepend?.length) L.push(` set as-path prepend ${r.asPathPrepend.join(' ')}`);
    L.push('exit', '!');
  });
  L.push(`router bgp ${spec.asn}`, ` bgp router-id ${spec.routerId}`, ' no bgp ebgp-requires-policy',
    ' no bgp default ipv4-unicast', ' no bgp network import-check');
  if (spec.neighbors.some((n) => n.routeReflectorClient)) L.push(` bgp cluster-id ${spec.clusterId ?? spec.routerId}`);
  if (spec.neighbors.some((n) => grTime(n) !== null)) {
    L.push(' bgp graceful-restart');
    const t = Math.max(...spec.neighbors.map((n) => grTime(n) ?? 0));
    L.push(` bgp graceful-restart restart-time ${t}`);
  }
  for (const n of spec.neighbors) {
    const a = n.address;
    L.push(` neighbor ${a} remote-as ${n.asn}`);
    L.push(` neighbor ${a} timers connect 1`);
    if (n.holdTime !== undefined) L.push(` neighbor ${a} timers ${Math.max(1, Math.floor(n.holdTime / 3))} ${n.holdTime}`);
    if (n.localAddress) L.push(` neighbor ${a} update-source ${n.localAddress}`);
    if (n.password !== undefined) L.push(` neighbor ${a} password ${n.password}`);
    if (n.passive) L.push(` neighbor ${a} passive`);
    if (grTime(n) !== null) L.push(` neighbor ${a} graceful-restart`);
    if (n.as4 === false) throw new Error('FRR cannot act as a 2-octet-AS speaker (as4: false); use bird or exabgp');
  }
  for (const fam of ['ipv4-unicast', 'ipv6-unicast'] as const) {
    const ns = spec.neighbors.filter((n) => familiesOf(n).includes(fam));
    const rs = routes.map((r, i) => ({ r, i })).filter(({ r }) => familyOfPrefix(r.prefix) === fam);
    if (!ns.length && !rs.length) continue;
    L.push(` address-family ${fam.replace('-', ' ')}`);
    for (const { r, i } of rs) L.push(`  network ${r.prefix} route-map ORIG${i}`);
    for (const n of ns) {
      L.push(`  neighbor ${n.address} activate`);
      // RFC 7911: FRR advertises ADD-PATH receive by default; send needs addpath-tx.
      if (n.addPath === 'send' || n.addPath === 'both') L.push(`  neighbor ${n.address} addpath-tx-all-paths`);
      if (n.addPath === 'send') L.push(`  neighbor ${n.address} disable-addpath-rx`);
      if (n.routeReflectorClient) L.push(`  neighbor ${n.address} route-reflector-client`);
      if (n.nextHopSelf) L.push(`  neighbor ${n.address} next-hop-self`);
    }
    L.push(' exit-address-family');
  }
  L.push('exit', '!');
  return L.join('\n') + '\n';
}

function communityText(x: unknown): string[] {
  if (x && typeof x === 'object' && typeof (x as { string?: unknown }).string === 'string') {
    return ((x as { string: string }).string).split(/\s+/).filter(Boolean);
  }
  return [];
}

async function startFrr(lab: Lab, ns: string, dir: string, spec: RouterSpec): Promise<Daemon> {
  const conf = path.join(dir, 'bgpd.conf');
  const pidFile = path.join(dir, 'bgpd.pid');
  const log = path.join(dir, 'bgpd.log');
  const vtyDir = path.join(dir, 'vty');
  fs.mkdirSync(vtyDir);
  fs.writeFileSync(conf, frrConfig(spec, log));
  // zebra gives bgpd the interfaces: FRR drops IPv6 routes with a link-local next hop when it
  // cannot tell which interface the peer is on ("no peer interface information"). zebra also
  // installs the learned routes into this namespace's FIB, which is the test's own.
  const zserv = path.join(dir, 'zserv.api');
  const zconf = path.join(dir, 'zebra.conf');
  const zlog = path.join(dir, 'zebra.log');
  fs.writeFileSync(zconf, `hostname z${spec.routerId.replace(/\./g, '-')}\n`);
  // zebra drops privileges to user frr: let it write its socket, pid and log here.
  fs.chmodSync(dir, 0o777);
  fs.chmodSync(vtyDir, 0o777);
  const z = lab.spawn(ns, '/usr/lib/frr/zebra', ['-f', zconf, '-i', path.join(dir, 'zebra.pid'),
    '-z', zserv, '--vty_socket', vtyDir, '-A', '127.0.0.1', '-P', '0', '--log-level', 'crit']);
  collectOutput(z, zlog);
  await waitStarted('frr', ns, z, zlog, () => fs.existsSync(zserv));
  const p = lab.spawn(ns, '/usr/lib/frr/bgpd', ['-z', zserv, '-S', '-f', conf, '-i', pidFile, '--vty_socket', vtyDir,
    '-A', '127.0.0.1', '-P', '0', '--log-level', 'crit']);
  collectOutput(p, path.join(dir, 'bgpd.out'));
  const vtysh = (cmds: string[]): string =>
    nsExec(ns, 'vtysh', ['--vty_socket', vtyDir, ...cmds.flatMap((c) => ['-c', c])], { allowFail: true, timeoutMs: 15000 });
  await waitStarted('frr', ns, p, log, () => fs.existsSync(path.join(vtyDir, 'bgpd.vty')) && vtysh(['show bgp summary json']).trim().startsWith('{'));
  const json = (cmd: string): Record<string, unknown> => {
    const t = vtysh([cmd]);
    try { return JSON.parse(t) as Record<string, unknown>; } catch { throw new DaemonError('frr', ns, `'${cmd}' gave no JSON: ${t.slice(0, 300)}`); }
  };
  return {
    kind: 'frr', ns, dir, spec, pid: p.pid!, version: daemonVersion('frr'),
    async sessions() {
      const res: Record<string, SessionState> = {};
      const j = json('show bgp neighbors json');
      for (const n of spec.neighbors) {
        const e = j[n.address] as { bgpState?: string } | undefined;
        res[n.address] = e?.bgpState ? normaliseState(e.bgpState) : 'unknown';
      }
      return res;
    },
    async receivedRoutes(family?: HarnessFamily) {
      const out: ReceivedRoute[] = [];
      for (const fam of family ? [family] : (['ipv4-unicast', 'ipv6-unicast'] as const)) {
        const afi = fam === 'ipv4-unicast' ? 'ipv4' : 'ipv6';
        const list = json(`show bgp ${afi} unicast json`);
        const routes = (list.routes ?? {}) as Record<string, unknown>;
        for (const prefix of Object.keys(routes)) {
          const detail = json(`show bgp ${afi} unicast ${prefix} json`);
          for (const pth of (detail.paths ?? []) as Record<string, unknown>[]) {
            const peerObj = pth.peer as { peerId?: string } | undefined;
            const peer = peerObj?.peerId;
            if (!peer || peer === '0.0.0.0' || peer === '::') continue; // locally originated
            const aspath = pth.aspath as { string?: string } | undefined;
            const r: ReceivedRoute = {
              prefix, peer,
              // Global next hop first, then the link-local one (RFC 2545 §3 order).
              nextHops: ((pth.nexthops ?? []) as { ip?: string; scope?: string }[])
                .sort((x, y) => Number(x.scope === 'link-local') - Number(y.scope === 'link-local'))
                .map((h) => h.ip ?? '').filter(Boolean),
              asPath: (aspath?.string?.match(/\d+/g) ?? []).map(Number),
              communities: communityText(pth.community),
              largeCommunities: communityText(pth.largeCommunity),
              extendedCommunities: communityText(pth.extendedCommunity).filter((x) => x !== 'RT').map((x) => (x.startsWith('RT:') ? `rt:${x.slice(3)}` : x)),
            };
            if (typeof pth.addpathRxId === 'number') r.pathId = pth.addpathRxId;
            out.push(r);
          }
        }
      }
      return out;
    },
    async command(cmd) {
      return vtysh(Array.isArray(cmd) ? cmd : [cmd]);
    },
    async stop(graceMs = 3000) {
      await stopProcess(p, graceMs);
      await stopProcess(z, graceMs);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// GoBGP

/** GoBGP TOML configuration for `spec`. */
export function gobgpConfig(spec: RouterSpec): string {
  const L: string[] = ['[global.config]', `  as = ${spec.asn}`, `  router-id = "${spec.routerId}"`, ''];
  for (const n of spec.neighbors) {
    if (n.as4 === false) throw new Error('GoBGP cannot act as a 2-octet-AS speaker (as4: false); use bird or exabgp');
    L.push('[[neighbors]]', '  [neighbors.config]', `    neighbor-address = "${n.address}"`, `    peer-as = ${n.asn}`);
    if (n.password !== undefined) L.push(`    auth-password = "${n.password}"`);
    L.push('  [neighbors.transport.config]');
    if (n.passive) L.push('    passive-mode = true');
    if (n.localAddress) L.push(`    local-address = "${n.localAddress}"`);
    L.push('  [neighbors.timers.config]', '    connect-retry = 1');
    if (n.holdTime !== undefined) L.push(`    hold-time = ${n.holdTime}`, `    keepalive-interval = ${Math.max(1, Math.floor(n.holdTime / 3))}`);
    const gr = grTime(n);
    if (gr !== null) L.push('  [neighbors.graceful-restart.config]', '    enabled = true', `    restart-time = ${gr}`);
    if (n.routeReflectorClient) {
      L.push('  [neighbors.route-reflector.config]', '    route-reflector-client = true', `    route-reflector-cluster-id = "${spec.clusterId ?? spec.routerId}"`);
    }
    if (n.nextHopSelf) L.push('  [neighbors.apply-policy.config]', '    export-policy-list = ["next-hop-self"]', '    default-export-policy = "accept-route"');
    for (const fam of familiesOf(n)) {
      L.push('  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]', `      afi-safi-name = "${fam}"`);
      if (gr !== null) L.push('    [neighbors.afi-safis.mp-graceful-restart.config]', '      enabled = true');
      if (n.addPath) {
        L.push('    [neighbors.afi-safis.add-paths.config]');
        if (n.addPath !== 'send') L.push('      receive = true');
        if (n.addPath !== 'receive') L.push('      send-max = 8');
      }
    }
    L.push('');
  }
  if (spec.neighbors.some((n) => n.nextHopSelf)) {
    L.push('[[policy-definitions]]', '  name = "next-hop-self"', '  [[policy-definitions.statements]]', '    name = "self"',
      '    [policy-definitions.statements.actions]', '      route-disposition = "accept-route"',
      '      [policy-definitions.statements.actions.bgp-actions]', '        set-next-hop = "self"', '');
  }
  return L.join('\n');
}

interface GobgpAttr { type: number; [k: string]: unknown }

function gobgpRoute(prefix: string, p: Record<string, unknown>): ReceivedRoute {
  const attrs = (p.attrs ?? []) as GobgpAttr[];
  const r: ReceivedRoute = { prefix, nextHops: [], asPath: [], communities: [], largeCommunities: [], extendedCommunities: [] };
  const peer = (p['neighbor-ip'] ?? p.neighbor_ip) as string | undefined;
  if (peer && peer !== '<nil>' && peer !== '0.0.0.0' && peer !== '::') r.peer = peer;
  const nlri = p.nlri as { path_id?: number } | undefined;
  if (nlri && typeof nlri.path_id === 'number' && nlri.path_id !== 0) r.pathId = nlri.path_id;
  for (const a of attrs) {
    if (a.type === 2) {
      for (const s of (a.as_paths ?? []) as { asns?: number[] }[]) r.asPath.push(...(s.asns ?? []));
    } else if (a.type === 3) {
      r.nextHops.push(String(a.nexthop));
    } else if (a.type === 14) {
      r.nextHops.push(...(((a.nexthop as string | undefined) ? [a.nexthop as string] : []) as string[]));
      if (typeof a.linklocal_nexthop === 'string' && a.linklocal_nexthop) r.nextHops.push(a.linklocal_nexthop);
    } else if (a.type === 8) {
      r.communities = ((a.communities ?? []) as number[]).map((c) => `${Math.floor(c / 65536)}:${c % 65536}`);
    } else if (a.type === 32) {
      // gobgp -j prints {ASN, LocalData1, LocalData2} (Go field names).
      r.largeCommunities = ((a.value ?? []) as Record<string, number>[]).map((c) =>
        `${c.ASN ?? c.asn}:${c.LocalData1 ?? c.local_data1}:${c.LocalData2 ?? c.local_data2}`);
    } else if (a.type === 16) {
      r.extendedCommunities = ((a.value ?? []) as { subtype?: number; value?: string; as?: number; local_admin?: number }[]).map((c) =>
        c.subtype === 2 && c.as !== undefined ? `rt:${c.as}:${c.local_admin}` : c.subtype === 2 && typeof c.value === 'string' ? `rt:${c.value}` : JSON.stringify(c));
    }
  }
  return r;
}

async function startGobgp(lab: Lab, ns: string, dir: string, spec: RouterSpec): Promise<Daemon> {
  const conf = path.join(dir, 'gobgpd.toml');
  const log = path.join(dir, 'gobgpd.log');
  fs.writeFileSync(conf, gobgpConfig(spec));
  const apiPort = 50100 + Math.floor(Math.random() * 10000);
  const p = lab.spawn(ns, 'gobgpd', ['-f', conf, '-t', 'toml', '--api-hosts', `127.0.0.1:${apiPort}`, '--pprof-disable', '-p', '-l', 'info']);
  collectOutput(p, log);
  const gobgp = (args: string[]): string => nsExec(ns, 'gobgp', ['-u', '127.0.0.1', '-p', String(apiPort), ...args], { allowFail: true, timeoutMs: 15000 });
  const gobgpOk = (args: string[]): string => nsExec(ns, 'gobgp', ['-u', '127.0.0.1', '-p', String(apiPort), ...args], { timeoutMs: 15000 });
  await waitStarted('gobgp', ns, p, log, () => gobgp(['global']).includes('AS:'));
  // GoBGP originates through its API: one `global rib add` per route.
  for (const r of spec.routes ?? []) {
    const fam = familyOfPrefix(r.prefix);
    const args = ['global', 'rib', 'add', r.prefix];
    if (r.asPathPrepend?.length) args.push('aspath', r.asPathPrepend.join(','));
    if (r.communities?.length) args.push('community', r.communities.join(','));
    if (r.largeCommunities?.length) args.push('large-community', r.largeCommunities.join(','));
    if (r.routeTargets?.length) args.push('rt', ...r.routeTargets);
    if (r.med !== undefined) args.push('med', String(r.med));
    args.push('-a', fam === 'ipv4-unicast' ? 'ipv4' : 'ipv6');
    try { gobgpOk(args); } catch (e) { throw new DaemonError('gobgp', ns, `cannot originate ${r.prefix}: ${(e as Error).message}`); }
  }
  return {
    kind: 'gobgp', ns, dir, spec, pid: p.pid!, version: daemonVersion('gobgp'),
    async sessions() {
      const res: Record<string, SessionState> = {};
      let list: { conf?: { neighbor_address?: string }; state?: { session_state?: number | string; neighbor_address?: string } }[] = [];
      try { list = JSON.parse(gobgp(['neighbor', '-j'])); } catch { /* not answering yet */ }
      // gobgp api: SessionState UNKNOWN=0 IDLE=1 CONNECT=2 ACTIVE=3 OPENSENT=4 OPENCONFIRM=5 ESTABLISHED=6
      const byNum: SessionState[] = ['unknown', 'idle', 'connect', 'active', 'opensent', 'openconfirm', 'established'];
      for (const n of spec.neighbors) res[n.address] = 'unknown';
      for (const e of list ?? []) {
        const addr = e.conf?.neighbor_address ?? e.state?.neighbor_address;
        const s = e.state?.session_state;
        if (!addr) continue;
        res[addr] = typeof s === 'number' ? (byNum[s] ?? 'unknown') : normaliseState(String(s ?? '').replace(/^SESSION_STATE_/, ''));
      }
      return res;
    },
    async receivedRoutes(family?: HarnessFamily) {
      const out: ReceivedRoute[] = [];
      for (const fam of family ? [family] : (['ipv4-unicast', 'ipv6-unicast'] as const)) {
        const t = gobgp(['global', 'rib', '-a', fam === 'ipv4-unicast' ? 'ipv4' : 'ipv6', '-j']);
        let j: Record<string, Record<string, unknown>[]> = {};
        try { j = JSON.parse(t || '{}'); } catch { throw new DaemonError('gobgp', ns, `global rib gave no JSON: ${t.slice(0, 300)}`); }
        for (const [prefix, paths] of Object.entries(j ?? {})) {
          for (const pth of paths) {
            const r = gobgpRoute(prefix, pth);
            if (r.peer !== undefined) out.push(r);
          }
        }
      }
      return out;
    },
    async command(cmd) {
      return gobgpOk(Array.isArray(cmd) ? cmd : cmd.split(/\s+/));
    },
    async stop(graceMs = 3000) { await stopProcess(p, graceMs); },
  };
}

// ---------------------------------------------------------------------------------------------
// ExaBGP 4.2 (a feeder process for API commands, a receiver process writing JSON lines)

/**
 * ExaBGP configuration for `spec`; `feedScript` prints API commands on its stdout, `recvScript`
 * stores the JSON ExaBGP writes to its stdin (ExaBGP runs them without a shell: no quoting).
 */
export function exabgpConfig(spec: RouterSpec, feedScript: string, recvScript: string): string {
  const L: string[] = [
    `process feed {\n  run ${feedScript};\n  encoder text;\n}`,
    `process recv {\n  run ${recvScript};\n  encoder json;\n}`,
    '',
  ];
  for (const n of spec.neighbors) {
    if (n.passive && !n.localAddress) {
      throw new Error(`ExaBGP listens only on configured addresses: passive neighbor ${n.address} needs localAddress`);
    }
    const fams = familiesOf(n);
    L.push(`neighbor ${n.address} {`, `  router-id ${spec.routerId};`, `  local-as ${spec.asn};`, `  peer-as ${n.asn};`);
    if (n.localAddress) L.push(`  local-address ${n.localAddress};`);
    if (n.password !== undefined) L.push(`  md5-password "${n.password}";`);
    if (n.passive) L.push('  passive true;');
    if (n.holdTime !== undefined) L.push(`  hold-time ${n.holdTime};`);
    if (n.routeReflectorClient) L.push(`  cluster-id ${spec.clusterId ?? spec.routerId};`);
    L.push(`  family {\n${fams.map((f) => `    ${f.replace('-', ' ')};`).join('\n')}\n  }`);
    const caps = ['    route-refresh enable;', `    asn4 ${n.as4 === false ? 'disable' : 'enable'};`];
    if (n.addPath) caps.push(`    add-path ${n.addPath === 'both' ? 'send/receive' : n.addPath};`);
    const gr = grTime(n);
    if (gr !== null) caps.push(`    graceful-restart ${gr};`);
    L.push(`  capability {\n${caps.join('\n')}\n  }`);
    L.push('  api {\n    processes [ feed ];\n  }');
    L.push('  api {\n    processes [ recv ];\n    neighbor-changes;\n    receive {\n      parsed;\n      update;\n      notification;\n      refresh;\n    }\n  }');
    const rs = (spec.routes ?? []).filter((r) => fams.includes(familyOfPrefix(r.prefix)) && familyOfPrefix(r.prefix) === familyOfAddress(n.address));
    if (rs.length) {
      L.push('  static {');
      for (const r of rs) {
        const parts = [`route ${r.prefix} next-hop self`];
        if (r.asPathPrepend?.length) parts.push(`as-path [ ${r.asPathPrepend.join(' ')} ]`);
        if (r.med !== undefined) parts.push(`med ${r.med}`);
        if (r.communities?.length) parts.push(`community [ ${r.communities.join(' ')} ]`);
        if (r.largeCommunities?.length) parts.push(`large-community [ ${r.largeCommunities.join(' ')} ]`);
        if (r.routeTargets?.length) parts.push(`extended-community [ ${r.routeTargets.map((t) => `target:${t}`).join(' ')} ]`);
        L.push(`    ${parts.join(' ')};`);
      }
      L.push('  }');
    }
    L.push('}', '');
  }
  return L.join('\n');
}

/** Replays ExaBGP JSON lines into session states and an Adj-RIB-In. Exported for tests. */
export function replayExabgp(lines: string[]): { states: Record<string, SessionState>; routes: ReceivedRoute[] } {
  const states: Record<string, SessionState> = {};
  const rib = new Map<string, ReceivedRoute>();
  for (const line of lines) {
    let j: Record<string, unknown>;
    try { j = JSON.parse(line); } catch { continue; }
    const nb = j.neighbor as Record<string, unknown> | undefined;
    const peer = (nb?.address as { peer?: string } | undefined)?.peer;
    if (!nb || !peer) continue;
    if (j.type === 'state') {
      const s = String(nb.state);
      states[peer] = s === 'up' ? 'established' : s === 'connected' ? 'opensent' : 'idle';
      if (s === 'down') for (const k of [...rib.keys()]) if (k.startsWith(`${peer}|`)) rib.delete(k);
      continue;
    }
    if (j.type !== 'update') continue;
    const upd = ((nb.message as Record<string, unknown> | undefined)?.update ?? {}) as Record<string, unknown>;
    const attr = (upd.attribute ?? {}) as Record<string, unknown>;
    const key = (fam: string, nlri: string, pathId: unknown): string => `${peer}|${fam}|${nlri}|${pathId ?? ''}`;
    for (const [fam, list] of Object.entries((upd.withdraw ?? {}) as Record<string, { nlri: string; 'path-information'?: string }[]>)) {
      for (const w of list) rib.delete(key(fam, w.nlri, w['path-information']));
    }
    // ExaBGP lists an IPv6 route once per next hop (global, then link-local): merge them.
    const inThisUpdate = new Set<string>();
    for (const [fam, byNh] of Object.entries((upd.announce ?? {}) as Record<string, Record<string, { nlri: string; 'path-information'?: string }[]>>)) {
      for (const [nh, list] of Object.entries(byNh)) {
        for (const a of list) {
          const k = key(fam, a.nlri, a['path-information']);
          const known = rib.get(k);
          if (known && inThisUpdate.has(k)) {
            known.nextHops.push(...nh.split(/[ ,]+/).filter(Boolean));
            continue;
          }
          inThisUpdate.add(k);
          const r: ReceivedRoute = {
            prefix: a.nlri, peer,
            nextHops: nh.split(/[ ,]+/).filter(Boolean),
            asPath: ((attr['as-path'] ?? []) as unknown[]).flat(3).map(Number).filter((x) => !Number.isNaN(x)),
            communities: ((attr.community ?? []) as number[][]).map((c) => c.join(':')),
            largeCommunities: ((attr['large-community'] ?? []) as number[][]).map((c) => c.join(':')),
            extendedCommunities: ((attr['extended-community'] ?? []) as { string?: string }[]).map((c) => (c.string ?? '').replace(/^target:/, 'rt:')),
          };
          const pi = a['path-information'];
          if (pi) {
            const n = pi.split('.').reduce((acc, x) => acc * 256 + Number(x), 0);
            r.pathId = n;
          }
          rib.set(k, r);
        }
      }
    }
  }
  return { states, routes: [...rib.values()] };
}

async function startExabgp(lab: Lab, ns: string, dir: string, spec: RouterSpec): Promise<Daemon> {
  const conf = path.join(dir, 'exabgp.conf');
  const cmdFile = path.join(dir, 'commands');
  const recvFile = path.join(dir, 'received.jsonl');
  const log = path.join(dir, 'exabgp.log');
  fs.writeFileSync(cmdFile, '');
  fs.writeFileSync(recvFile, '');
  const feed = path.join(dir, 'feed.sh');
  const recv = path.join(dir, 'recv.sh');
  // --pid: the feeder ends with ExaBGP even when ExaBGP is killed (SIGKILL) and cannot stop it.
  fs.writeFileSync(feed, `#!/bin/sh\nexec /usr/bin/tail -n +1 -F --pid=$PPID '${cmdFile}'\n`, { mode: 0o755 });
  // Not exec: the shell keeps ExaBGP's stdout pipe open; ExaBGP takes its EOF for a death.
  fs.writeFileSync(recv, `#!/bin/sh\n/bin/cat >> '${recvFile}'\n`, { mode: 0o755 });
  fs.writeFileSync(conf, exabgpConfig(spec, feed, recv));
  const binds = [...new Set(spec.neighbors.filter((n) => n.passive).map((n) => n.localAddress).filter((x): x is string => !!x))];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    'exabgp.daemon.user': 'root',
    'exabgp.daemon.drop': 'false',
    'exabgp.daemon.daemonize': 'false',
    'exabgp.api.cli': 'false',
    'exabgp.log.destination': log,
    'exabgp.log.level': 'INFO',
    'exabgp.tcp.bind': binds.join(' '),
    'exabgp.tcp.port': '179',
    'exabgp.tcp.delay': '0',
  };
  const p = lab.spawn(ns, 'exabgp', [conf], { env });
  const outFile = path.join(dir, 'exabgp.out');
  collectOutput(p, outFile);
  const loaded = (f: string): boolean => fs.existsSync(f) && /loaded new configuration successfully/.test(fs.readFileSync(f, 'utf8'));
  await waitStarted('exabgp', ns, p, outFile, () => loaded(outFile) || loaded(log));
  const read = () => replayExabgp(fs.readFileSync(recvFile, 'utf8').split('\n'));
  return {
    kind: 'exabgp', ns, dir, spec, pid: p.pid!, version: daemonVersion('exabgp'),
    async sessions() {
      const { states } = read();
      const res: Record<string, SessionState> = {};
      for (const n of spec.neighbors) res[n.address] = states[n.address] ?? 'idle';
      return res;
    },
    async receivedRoutes(family?: HarnessFamily) {
      return read().routes.filter((r) => family === undefined || familyOfPrefix(r.prefix) === family);
    },
    async command(cmd) {
      // ExaBGP reads API commands from the feeder process's stdout (tail -F on cmdFile).
      for (const c of Array.isArray(cmd) ? cmd : [cmd]) fs.appendFileSync(cmdFile, `${c}\n`);
      return '';
    },
    async stop(graceMs = 3000) { await stopProcess(p, graceMs); },
  };
}
