// The demo's lab: network namespaces, veth links, bridges and daemon processes that
// `nexthop demo` creates, and that it always removes again - namespaces by name, processes by
// pid - on a normal end, an error, SIGINT or SIGTERM. Every namespace is named
// `nhdemo-<owner pid>-<name>` so that `nexthop demo --cleanup` can find what a crashed or
// `--keep` run left behind, and so that it can tell whether that run is still alive. Never
// touches the root namespace beyond `ip netns add/del` and files under its own work directory.
// No RFC: Linux plumbing (ip-netns(8), veth(4), bridge).

import { spawn, spawnSync, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const NS_PREFIX = 'nhdemo-';
/** Marker file in a demo work directory, so cleanup removes only directories we made. */
export const WORKDIR_MARKER = '.nhdemo';

/** A lab command failed; carries the command and what it printed. */
export class LabCommandError extends Error {
  readonly code = 'LAB_COMMAND';
  constructor(readonly command: string, readonly status: number | null, readonly output: string) {
    super(`'${command}' failed (${status === null ? 'no exit status' : `exit ${status}`}): ${output || 'no output'}`);
    this.name = 'LabCommandError';
  }
}

export interface ShOptions { input?: string; allowFail?: boolean; timeoutMs?: number; env?: NodeJS.ProcessEnv }

/** Runs a command synchronously and returns its stdout; throws LabCommandError when it fails. */
export function sh(cmd: string, args: string[], opts: ShOptions = {}): string {
  const r = spawnSync(cmd, args, { input: opts.input, encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000, env: opts.env });
  if ((r.status !== 0 || r.error) && !opts.allowFail) {
    throw new LabCommandError([cmd, ...args].join(' '), r.status, `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim());
  }
  return r.stdout ?? '';
}

/** `ip netns exec NS cmd args...`, synchronously. */
export function nsExec(ns: string, cmd: string, args: string[], opts: ShOptions = {}): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** `cmd args...` asynchronously (for work that runs in parallel, like the ping matrix). */
export function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    p.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { if (p.pid !== undefined) killPid(p.pid, 'SIGKILL'); }, timeoutMs);
    p.on('error', (e) => { clearTimeout(timer); resolve({ status: null, stdout, stderr: stderr + String(e) }); });
    p.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** True when `pid` names a live process (signal 0), a zombie waiting to be reaped not counted. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) state ..."; comm may hold spaces and parentheses.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal); } catch { /* already gone */ }
}

/** Every namespace whose name starts with nhdemo- (from `ip netns list`). */
export function listDemoNamespaces(): string[] {
  const out = sh('ip', ['netns', 'list'], { allowFail: true });
  return out.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((n) => n && n.startsWith(NS_PREFIX));
}

/** The pid of the demo run that owns a namespace, from its name `nhdemo-<pid>-...`. */
export function ownerPidOf(ns: string): number | null {
  const m = /^nhdemo-(\d+)-/.exec(ns);
  return m ? Number(m[1]) : null;
}

/** Whether `pid` is a live `nexthop demo` process (not a recycled pid of something else). */
export function isLiveDemo(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes('demo');
  } catch {
    return false;
  }
}

/** Pids of the processes inside a namespace (`ip netns pids NS`). */
export function pidsIn(ns: string): number[] {
  return sh('ip', ['netns', 'pids', ns], { allowFail: true }).split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

/**
 * Removes namespaces a demo run left behind (its processes killed by pid first) and their work
 * directories. Runs of a demo that is still alive are left alone unless `force`. Returns what
 * was removed.
 */
export async function cleanupLeftovers(opts: { force?: boolean; tmpDir?: string } = {}): Promise<{ namespaces: string[]; skipped: string[]; dirs: string[]; killed: number[] }> {
  const namespaces: string[] = [];
  const skipped: string[] = [];
  const killed: number[] = [];
  const deadOwners = new Set<number>();
  for (const ns of listDemoNamespaces()) {
    const owner = ownerPidOf(ns);
    if (!opts.force && owner !== null && owner !== process.pid && isLiveDemo(owner)) { skipped.push(ns); continue; }
    if (owner !== null) deadOwners.add(owner);
    for (const pid of pidsIn(ns)) { killPid(pid, 'SIGKILL'); killed.push(pid); }
    namespaces.push(ns);
  }
  if (killed.length > 0) await sleep(100);
  for (const ns of namespaces) sh('ip', ['netns', 'del', ns], { allowFail: true });
  const dirs: string[] = [];
  const tmp = opts.tmpDir ?? os.tmpdir();
  for (const name of safeReaddir(tmp)) {
    const m = /^nhdemo-(\d+)-/.exec(name);
    if (!m) continue;
    const dir = path.join(tmp, name);
    if (!fs.existsSync(path.join(dir, WORKDIR_MARKER))) continue;
    const owner = Number(m[1]);
    if (!opts.force && owner !== process.pid && isLiveDemo(owner) && !deadOwners.has(owner)) continue;
    fs.rmSync(dir, { recursive: true, force: true });
    dirs.push(dir);
  }
  return { namespaces, skipped, dirs, killed };
}

function safeReaddir(dir: string): string[] {
  try { return fs.readdirSync(dir); } catch { return []; }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A daemon started by the lab: its pid, name and log file. */
export interface LabProcess {
  name: string;
  ns: string;
  pid: number;
  logFile: string;
  child: ChildProcess;
}

/**
 * One demo run's namespaces, processes and work directory. Processes are started detached with
 * their output in log files (not pipes), so that with `--keep` they outlive the demo process;
 * `destroy()` kills them by pid, deletes the namespaces and the work directory.
 */
export class DemoLab {
  readonly prefix: string;
  readonly workDir: string;
  readonly namespaces: string[] = [];
  readonly processes: LabProcess[] = [];
  private linkCounter = 0;
  private destroyed = false;
  /** destroySync() ran: a later call (e.g. from the 'exit' handler) does nothing. */
  private finished = false;

  constructor(readonly ownerPid = process.pid) {
    this.prefix = `${NS_PREFIX}${ownerPid}-`;
    this.workDir = fs.mkdtempSync(path.join(os.tmpdir(), this.prefix));
    fs.writeFileSync(path.join(this.workDir, WORKDIR_MARKER), `nexthop demo run by pid ${ownerPid}\n`);
  }

  /** Full namespace name for a short name. */
  nsName(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** Creates namespace `nhdemo-<pid>-<name>` with loopback up; returns its full name. */
  netns(name: string): string {
    this.assertOpen(`netns ${name}`);
    const ns = this.nsName(name);
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    nsExec(ns, 'ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Once destroy() has begun (Ctrl-C, timeout), nothing new is created. */
  private assertOpen(what: string): void {
    if (this.destroyed) throw new LabCommandError(what, null, 'the lab is being removed');
  }

  /** A subdirectory of the work directory (created). */
  dir(...parts: string[]): string {
    const d = path.join(this.workDir, ...parts);
    fs.mkdirSync(d, { recursive: true });
    return d;
  }

  /**
   * A veth pair between `nsA` (interface `ifA`, addresses `addrsA`) and `nsB` (`ifB`). Both ends
   * are created inside the namespaces (never in the root namespace). When `bridgeB` is given the
   * B end is enslaved to that bridge instead of getting addresses.
   */
  link(nsA: string, ifA: string, addrsA: string[], nsB: string, ifB: string, opts: { addrsB?: string[]; bridgeB?: string } = {}): void {
    this.assertOpen(`link ${ifA}`);
    const i = this.linkCounter++;
    const tmpA = `nhd${this.ownerPid % 100000}l${i}a`.slice(0, 15);
    const tmpB = `nhd${this.ownerPid % 100000}l${i}b`.slice(0, 15);
    nsExec(nsA, 'ip', ['link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB, 'netns', nsB]);
    nsExec(nsA, 'ip', ['link', 'set', tmpA, 'name', ifA]);
    nsExec(nsB, 'ip', ['link', 'set', tmpB, 'name', ifB]);
    for (const a of addrsA) nsExec(nsA, 'ip', ['addr', 'add', a, 'dev', ifA]);
    for (const a of opts.addrsB ?? []) nsExec(nsB, 'ip', ['addr', 'add', a, 'dev', ifB]);
    if (opts.bridgeB) nsExec(nsB, 'ip', ['link', 'set', ifB, 'master', opts.bridgeB]);
    nsExec(nsA, 'ip', ['link', 'set', ifA, 'up']);
    nsExec(nsB, 'ip', ['link', 'set', ifB, 'up']);
  }

  /** A Linux bridge `name` in `ns` with `addrs`, up. */
  bridge(ns: string, name: string, addrs: string[]): void {
    nsExec(ns, 'ip', ['link', 'add', name, 'type', 'bridge']);
    for (const a of addrs) nsExec(ns, 'ip', ['addr', 'add', a, 'dev', name]);
    nsExec(ns, 'ip', ['link', 'set', name, 'up']);
  }

  /**
   * Starts `cmd args` inside the lab namespace `ns` (`ip netns exec` execs in place, so the pid is
   * the daemon's own), detached, stdout+stderr appended to `<workDir>/logs/<name>.log`. Only
   * namespaces of this lab are accepted: nothing the demo starts ever runs in the root namespace.
   */
  spawn(name: string, ns: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): LabProcess {
    this.assertOpen(`${name}: ${cmd}`);
    if (!this.namespaces.includes(ns)) throw new LabCommandError(`${cmd} ${args.join(' ')}`, null, `refusing to start ${name} outside this lab's namespaces (asked for '${ns}')`);
    const logFile = path.join(this.dir('logs'), `${name}.log`);
    const fd = fs.openSync(logFile, 'a');
    try {
      const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', fd, fd], detached: true, env: env ?? process.env });
      if (child.pid === undefined) throw new LabCommandError([cmd, ...args].join(' '), null, `could not start ${cmd}`);
      child.unref();
      const p: LabProcess = { name, ns, pid: child.pid, logFile, child };
      child.on('error', () => { /* reported through the exit check of the caller */ });
      this.processes.push(p);
      return p;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** True while the process has not exited. */
  alive(p: LabProcess): boolean {
    return p.child.exitCode === null && p.child.signalCode === null && pidAlive(p.pid);
  }

  /** The last `lines` lines of a process's log (for error messages). */
  logTail(p: LabProcess, lines = 15): string {
    try {
      return fs.readFileSync(p.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** Stops one process: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(p: LabProcess, graceMs = 2000): Promise<void> {
    if (!this.alive(p)) return;
    killPid(p.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && this.alive(p)) await sleep(50);
    if (this.alive(p)) killPid(p.pid, 'SIGKILL');
  }

  /**
   * Kills every process of the lab (SIGTERM, SIGKILL after a short grace), then anything still
   * running inside the lab's namespaces (children of those processes), deletes the namespaces and
   * the work directory (unless `keepDir`). Safe to call twice; synchronous parts only after the
   * first await, so a signal handler may call it.
   */
  async destroy(opts: { keepDir?: boolean; graceMs?: number } = {}): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.processes) if (this.alive(p)) killPid(p.pid, 'SIGTERM');
    const deadline = Date.now() + (opts.graceMs ?? 1500);
    while (Date.now() < deadline && this.processes.some((p) => this.alive(p))) await sleep(50);
    this.destroySync(opts);
  }

  /** The synchronous part of destroy(): SIGKILL by pid, netns del, rm work dir. For 'exit'. */
  destroySync(opts: { keepDir?: boolean } = {}): void {
    this.destroyed = true;
    if (this.finished) return;
    this.finished = true;
    for (const p of this.processes) if (this.alive(p)) killPid(p.pid, 'SIGKILL');
    for (const ns of this.namespaces) for (const pid of pidsIn(ns)) killPid(pid, 'SIGKILL');
    for (const ns of [...this.namespaces].reverse()) spawnSync('ip', ['netns', 'del', ns]);
    this.namespaces.length = 0;
    this.processes.length = 0;
    if (!opts.keepDir) fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}
