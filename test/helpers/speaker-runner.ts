// Drives src/speaker/runner.ts as a child process inside a Lab namespace: JSON-line requests over
// stdin, answers and events from stdout. The process is registered with the Lab (killed by pid on
// destroy); kill9() is the abrupt death the graceful-restart tests (RFC 4724) need.
import * as fs from 'fs';
import * as path from 'path';
import type { ChildProcess } from 'child_process';
import type { Lab } from './lab';
import type { PeerConfig, PeerStatusView, RouteView, SpeakerConfig } from '../../src/speaker/types';

export interface RunnerSpec {
  speaker: Omit<SpeakerConfig, 'log'>;
  peers: PeerConfig[];
  originate?: { prefix: string; communities?: string[]; largeCommunities?: string[]; med?: number }[];
  verbose?: boolean;
}

/** The compiled runner next to this compiled helper (dist/ or a private outDir). */
export const RUNNER_JS = path.join(__dirname, '..', '..', 'src', 'speaker', 'runner.js');

export class SpeakerProcess {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly log: string[] = [];
  private exited = false;

  private constructor(readonly proc: ChildProcess) {
    let buf = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.onLine(line);
      }
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => this.log.push(`stderr: ${d}`));
    proc.on('exit', () => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`speaker runner exited; log tail: ${this.log.slice(-10).join('\n')}`));
      this.pending.clear();
    });
  }

  private readyResolve: ((port: number) => void) | null = null;

  private onLine(line: string): void {
    let m: { id?: number; ok?: boolean; result?: unknown; error?: string; event?: string; port?: number };
    try {
      m = JSON.parse(line);
    } catch {
      this.log.push(line);
      return;
    }
    if (m.event) {
      if (m.event === 'ready') this.readyResolve?.(m.port ?? 0);
      if (m.event === 'log') this.log.push(line);
      return;
    }
    const p = m.id !== undefined ? this.pending.get(m.id) : undefined;
    if (!p) return;
    this.pending.delete(m.id!);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(m.error));
  }

  /** Starts the runner in `ns` with `spec` and waits until it listens. */
  static async start(lab: Lab, ns: string, spec: RunnerSpec, timeoutMs = 15000, nodeArgs: string[] = []): Promise<SpeakerProcess> {
    const dir = lab.tempDir();
    const file = path.join(dir, 'speaker.json');
    fs.writeFileSync(file, JSON.stringify(spec));
    const proc = lab.spawn(ns, process.execPath, [...nodeArgs, RUNNER_JS, file], { stdio: ['pipe', 'pipe', 'pipe'] });
    const sp = new SpeakerProcess(proc);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`speaker runner did not start in ${timeoutMs} ms: ${sp.log.join('\n')}`)), timeoutMs);
      sp.readyResolve = () => { clearTimeout(t); resolve(); };
      proc.once('exit', (code) => { clearTimeout(t); reject(new Error(`speaker runner exited (${code}): ${sp.log.join('\n')}`)); });
    });
    return sp;
  }

  request<T = unknown>(op: string, args: Record<string, unknown> = {}, timeoutMs = 10000): Promise<T> {
    if (this.exited) return Promise.reject(new Error('speaker runner is not running'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`speaker runner: no answer to ${op} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => { clearTimeout(t); resolve(v as T); },
        reject: (e) => { clearTimeout(t); reject(e); },
      });
      this.proc.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  status(): Promise<PeerStatusView[]> {
    return this.request('status');
  }

  routes(family?: string): Promise<RouteView[]> {
    return this.request('routes', family ? { family } : {});
  }

  async peer(name: string): Promise<PeerStatusView | undefined> {
    return (await this.status()).find((p) => p.name === name);
  }

  /** SIGKILL: no NOTIFICATION, no FIN from the application (the kernel closes the sockets). */
  async kill9(): Promise<void> {
    if (this.exited || this.proc.pid === undefined) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    process.kill(this.proc.pid, 'SIGKILL');
    await gone;
  }

  async stop(graceful = false): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    await this.request('stop', { graceful }).catch(() => undefined);
    await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
    await this.kill9();
  }
}
