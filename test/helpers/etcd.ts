// A real etcd (Debian etcd-server) for tests and benchmarks: started on loopback with free ports
// and a temporary data dir owned by a Lab, health-checked over its /health endpoint, stopped
// (and restarted on the same data and ports) by pid. The Lab's destroy() kills it and removes
// the data dir, also when the test fails.
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { Lab } from './lab';

export function etcdAvailable(): boolean {
  return fs.existsSync('/usr/bin/etcd');
}

/** A free TCP port on 127.0.0.1 (bound and released; good enough for tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function healthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/health`, { timeout: 500 }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"true"')));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => { req.destroy(); resolve(false); });
  });
}

export class EtcdServer {
  process: ChildProcess | null = null;
  readonly dataDir: string;
  private log = '';

  private constructor(readonly lab: Lab, readonly clientPort: number, readonly peerPort: number, baseDir: string) {
    this.dataDir = path.join(baseDir, 'etcd-data');
  }

  get url(): string { return `http://127.0.0.1:${this.clientPort}`; }

  /** Starts a fresh etcd; resolves once it answers /health (or throws with its log). */
  static async start(lab: Lab, opts: { timeoutMs?: number } = {}): Promise<EtcdServer> {
    const s = new EtcdServer(lab, await freePort(), await freePort(), lab.tempDir());
    await s.run(opts.timeoutMs ?? 15000);
    return s;
  }

  private async run(timeoutMs: number): Promise<void> {
    this.log = '';
    const p = this.lab.spawn(null, 'etcd', [
      '--name', `nh${this.clientPort}`,
      '--data-dir', this.dataDir,
      '--listen-client-urls', this.url,
      '--advertise-client-urls', this.url,
      '--listen-peer-urls', `http://127.0.0.1:${this.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${this.peerPort}`,
      '--initial-cluster', `nh${this.clientPort}=http://127.0.0.1:${this.peerPort}`,
      '--log-level', 'warn',
      '--logger', 'zap',
    ]);
    const keep = (c: Buffer) => { this.log = (this.log + c.toString()).slice(-4000); };
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    this.process = p;
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`etcd exited (${p.exitCode ?? p.signalCode}): ${this.log}`);
      if (await healthy(this.url)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`etcd on ${this.url} not healthy after ${timeoutMs} ms: ${this.log}`);
  }

  /** Kills etcd (SIGKILL by pid) and waits until it is gone. */
  async kill(): Promise<void> {
    const p = this.process;
    if (!p || p.pid === undefined) return;
    if (p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      process.kill(p.pid, 'SIGKILL');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    }
    this.process = null;
  }

  /** Starts etcd again on the same ports and data dir. */
  async restart(timeoutMs = 15000): Promise<void> {
    await this.kill();
    await this.run(timeoutMs);
  }
}
