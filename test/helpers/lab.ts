// Test lab: network namespaces, veth links and child processes that a test creates and that are
// always removed again - by name for namespaces, by pid for processes - when the test ends, fails
// or the test process exits. Never touches the root namespace beyond creating/deleting netns.
import { spawn, spawnSync, ChildProcess, SpawnOptions } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * For a test that needs an installed tool (a BGP daemon, etcd, the CNI plugins): when it is
 * missing, skip the test only when not running as root. As root (CI, which installs every
 * package listed in scripts/setup) a missing tool means a broken install, so the test fails
 * naming what is missing instead of skipping silently.
 */
export function requireTool(ctx: Mocha.Context, what: string, available: boolean): void {
  if (available) return;
  if (!isRoot()) ctx.skip();
  throw new Error(`${what} is not installed, but this test runs as root, where every package in scripts/setup must be present (a skip would hide a broken install)`);
}

/** Runs a command synchronously; throws with its stderr when it fails. */
export function sh(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): string {
  const r = spawnSync(cmd, args, { input: opts.input, encoding: 'utf8', timeout: opts.timeoutMs ?? 30000 });
  if ((r.status !== 0 || r.error) && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.error}): ${r.stderr?.trim()}`);
  }
  return r.stdout ?? '';
}

/** Runs `ip netns exec NS cmd args...` synchronously. */
export function nsExec(ns: string, cmd: string, args: string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

let counter = 0;
const liveNamespaces = new Set<string>();
const liveProcesses = new Set<ChildProcess>();
const liveDirs = new Set<string>();

function cleanupAll(): void {
  for (const p of liveProcesses) killNow(p);
  liveProcesses.clear();
  for (const ns of liveNamespaces) spawnSync('ip', ['netns', 'del', ns]);
  liveNamespaces.clear();
  for (const d of liveDirs) fs.rmSync(d, { recursive: true, force: true });
  liveDirs.clear();
}
process.on('exit', cleanupAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => { cleanupAll(); process.exit(130); });
}

function killNow(p: ChildProcess): void {
  if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
}

/**
 * A set of namespaces, links, processes and temp dirs belonging to one test; `destroy()` removes
 * all of them. Names are prefixed with "nh" + pid so parallel runs do not collide.
 */
export class Lab {
  readonly tag: string;
  readonly namespaces: string[] = [];
  readonly processes: ChildProcess[] = [];
  private dirs: string[] = [];

  constructor(label = 't') {
    this.tag = `nh${process.pid % 100000}${label}${counter++}`;
  }

  /** Creates a namespace named `<tag>-<name>` with loopback up; returns its full name. */
  netns(name: string): string {
    const ns = `${this.tag}-${name}`.slice(0, 31);
    sh('ip', ['netns', 'add', ns]);
    liveNamespaces.add(ns);
    this.namespaces.push(ns);
    nsExec(ns, 'ip', ['link', 'set', 'lo', 'up']);
    // A new namespace inherits IPv4 forwarding from the root namespace (devconf_inherit_init_net
    // = 0); start every lab host from the kernel default, whatever the machine has.
    nsExec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
    return ns;
  }

  /**
   * A veth pair between two namespaces with addresses ("10.0.0.1/24", "fd00::1/64", ...).
   * Interface names default to `veth-<other ns suffix>`-ish short names; returns them.
   */
  link(nsA: string, addrsA: string[], nsB: string, addrsB: string[], names?: [string, string]): [string, string] {
    const i = counter++;
    const [ifA, ifB] = names ?? [`ve${i}a`, `ve${i}b`];
    const tmpA = `nhv${process.pid % 10000}x${i}a`.slice(0, 15);
    const tmpB = `nhv${process.pid % 10000}x${i}b`.slice(0, 15);
    // Create both ends directly inside the namespaces (never in the root namespace).
    nsExec(nsA, 'ip', ['link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB, 'netns', nsB]);
    nsExec(nsA, 'ip', ['link', 'set', tmpA, 'name', ifA]);
    nsExec(nsB, 'ip', ['link', 'set', tmpB, 'name', ifB]);
    for (const a of addrsA) nsExec(nsA, 'ip', ['addr', 'add', a, 'dev', ifA, ...(a.includes(':') ? ['nodad'] : [])]);
    for (const a of addrsB) nsExec(nsB, 'ip', ['addr', 'add', a, 'dev', ifB, ...(a.includes(':') ? ['nodad'] : [])]);
    nsExec(nsA, 'ip', ['link', 'set', ifA, 'up']);
    nsExec(nsB, 'ip', ['link', 'set', ifB, 'up']);
    return [ifA, ifB];
  }

  /** A temporary directory removed with the lab. */
  tempDir(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `${this.tag}-`));
    liveDirs.add(d);
    this.dirs.push(d);
    return d;
  }

  /** Starts a process (inside `ns` when given); it is killed by pid when the lab is destroyed. */
  spawn(ns: string | null, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const full = ns ? ['netns', 'exec', ns, cmd, ...args] : args;
    const p = spawn(ns ? 'ip' : cmd, full, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    liveProcesses.add(p);
    this.processes.push(p);
    p.on('exit', () => liveProcesses.delete(p));
    return p;
  }

  /** Registers a process started elsewhere (e.g. a daemon that forks) by pid for cleanup. */
  adoptPid(pid: number): void {
    const fake = { pid, exitCode: null, signalCode: null } as unknown as ChildProcess;
    liveProcesses.add(fake);
    this.processes.push(fake);
  }

  /** Kills every process (SIGKILL by pid), deletes every namespace and temp dir of this lab. */
  async destroy(): Promise<void> {
    for (const p of this.processes) {
      killNow(p);
      liveProcesses.delete(p);
    }
    await new Promise((r) => setTimeout(r, 50));
    for (const ns of this.namespaces) {
      spawnSync('ip', ['netns', 'del', ns]);
      liveNamespaces.delete(ns);
    }
    for (const d of this.dirs) {
      fs.rmSync(d, { recursive: true, force: true });
      liveDirs.delete(d);
    }
    this.processes.length = 0;
    this.namespaces.length = 0;
    this.dirs.length = 0;
  }
}

/** Polls `check` every `intervalMs` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < Math.ceil(timeoutMs / intervalMs) + 1; i++) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
}
