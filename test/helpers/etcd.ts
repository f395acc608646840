// A real etcd (Debian etcd-server) for tests and benchmarks: started on loopback with free ports
// and a temporary data dir owned by a Lab, health-checked over its /health endpoint, stopped
// (and restarted on the same data and ports) by pid. The Lab's destroy() kills it and removes
// the data dir, also when the test fails. TLS mode: a throwaway PKI made with `openssl` (a CA,
// a server certificate for 127.0.0.1, a client certificate, and a second, unrelated CA with its
// own client certificate), etcd serving https:// and, optionally, requiring client certificates
// (--client-cert-auth). Also `etcdctl` (ETCDCTL_API=3) against such a server, e.g. to turn
// on authentication.
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import * as path from 'path';
import { Lab, sh } from './lab';

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

/** Files of a throwaway PKI for an etcd on 127.0.0.1 (PEM; keys unencrypted). */
export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** Signed by `caCert`; CN `clientCommonName`. */
  clientCert: string;
  clientKey: string;
  clientCommonName: string;
  /** A second CA that has nothing to do with the server, and a client certificate it signed. */
  otherCaCert: string;
  otherClientCert: string;
  otherClientKey: string;
}

export function opensslAvailable(): boolean {
  return fs.existsSync('/usr/bin/openssl');
}

/**
 * Makes a CA, a server certificate (SAN IP:127.0.0.1, DNS:localhost), a client certificate (CN
 * `clientCommonName`), and an unrelated second CA with a client certificate, in `dir`. P-256 keys,
 * valid one day.
 */
export function makeTestPki(dir: string, clientCommonName = 'nexthop-test-client'): TestPki {
  const f = (name: string) => path.join(dir, name);
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name: string, cn: string) => sh('openssl', ['req', '-x509', ...ecKey, '-keyout', f(`${name}.key`), '-out', f(`${name}.crt`),
    '-days', '1', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (name: string, cn: string, caName: string, ext: string) => {
    sh('openssl', ['req', '-new', ...ecKey, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`]);
    fs.writeFileSync(f(`${name}.ext`), ext);
    sh('openssl', ['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${caName}.crt`), '-CAkey', f(`${caName}.key`), '-CAcreateserial',
      '-out', f(`${name}.crt`), '-days', '1', '-extfile', f(`${name}.ext`)]);
  };
  ca('ca', 'nexthop test CA');
  ca('other-ca', 'unrelated test CA');
  leaf('server', 'etcd test server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n');
  leaf('client', clientCommonName, 'ca', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
  leaf('other-client', clientCommonName, 'other-ca', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
  return {
    dir, caCert: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'),
    clientCert: f('client.crt'), clientKey: f('client.key'), clientCommonName,
    otherCaCert: f('other-ca.crt'), otherClientCert: f('other-client.crt'), otherClientKey: f('other-client.key'),
  };
}

export interface EtcdTlsMode {
  pki: TestPki;
  /** etcd --client-cert-auth: clients must present a certificate signed by the CA. Default true. */
  clientCertAuth?: boolean;
}

function healthy(url: string, tls?: EtcdTlsMode): Promise<boolean> {
  return new Promise((resolve) => {
    const get = tls
      ? (u: string, o: https.RequestOptions, cb: (res: http.IncomingMessage) => void) => https.get(u, {
        ...o, ca: fs.readFileSync(tls.pki.caCert), cert: fs.readFileSync(tls.pki.clientCert), key: fs.readFileSync(tls.pki.clientKey),
      }, cb)
      : (u: string, o: http.RequestOptions, cb: (res: http.IncomingMessage) => void) => http.get(u, o, cb);
    const req = get(`${url}/health`, { timeout: 500 }, (res) => {
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

  private constructor(readonly lab: Lab, readonly clientPort: number, readonly peerPort: number, baseDir: string,
    readonly tls?: EtcdTlsMode, private readonly extraArgs: string[] = [], readonly ns: string | null = null) {
    this.dataDir = path.join(baseDir, 'etcd-data');
  }

  get url(): string { return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.clientPort}`; }

  /**
   * Starts a fresh etcd; resolves once it answers /health (or throws with its log). With `tls`
   * it serves its clients over TLS with `tls.pki`'s server certificate; `extraArgs` go to etcd
   * as they are (e.g. --auth-token-ttl 2). With `ns` it runs inside that network namespace (its
   * own 127.0.0.1), health-checked with etcdctl there.
   */
  static async start(lab: Lab, opts: { timeoutMs?: number; tls?: EtcdTlsMode; extraArgs?: string[]; ns?: string } = {}): Promise<EtcdServer> {
    const s = new EtcdServer(lab, await freePort(), await freePort(), lab.tempDir(), opts.tls, opts.extraArgs, opts.ns ?? null);
    await s.run(opts.timeoutMs ?? 15000);
    return s;
  }

  /**
   * Runs `etcdctl` (API v3) against this server with the test CA and client certificate; throws
   * with its stderr when it fails. `extra` goes before the command (e.g. --user root:PW).
   */
  etcdctl(args: string[], extra: string[] = []): string {
    const tlsArgs = this.tls ? ['--cacert', this.tls.pki.caCert, '--cert', this.tls.pki.clientCert, '--key', this.tls.pki.clientKey] : [];
    const cmd = ['env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', this.url, '--dial-timeout', '3s', '--command-timeout', '5s', ...tlsArgs, ...extra, ...args];
    return this.ns ? sh('ip', ['netns', 'exec', this.ns, ...cmd]) : sh(cmd[0], cmd.slice(1));
  }

  /**
   * Turns on etcd authentication: user `root` (role root) with `rootPassword`, then `auth enable`.
   */
  enableAuth(rootPassword: string): void {
    this.etcdctl(['user', 'add', 'root', '--new-user-password', rootPassword]);
    this.etcdctl(['user', 'grant-role', 'root', 'root']);
    this.etcdctl(['auth', 'enable']);
  }

  private async run(timeoutMs: number): Promise<void> {
    this.log = '';
    const p = this.lab.spawn(this.ns, 'etcd', [
      '--name', `nh${this.clientPort}`,
      '--data-dir', this.dataDir,
      '--listen-client-urls', this.url,
      '--advertise-client-urls', this.url,
      '--listen-peer-urls', `http://127.0.0.1:${this.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${this.peerPort}`,
      '--initial-cluster', `nh${this.clientPort}=http://127.0.0.1:${this.peerPort}`,
      '--log-level', 'warn',
      '--logger', 'zap',
      ...(this.tls ? [
        '--cert-file', this.tls.pki.serverCert,
        '--key-file', this.tls.pki.serverKey,
        '--trusted-ca-file', this.tls.pki.caCert,
        ...(this.tls.clientCertAuth ?? true ? ['--client-cert-auth'] : []),
      ] : []),
      ...this.extraArgs,
    ]);
    const keep = (c: Buffer) => { this.log = (this.log + c.toString()).slice(-4000); };
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    this.process = p;
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`etcd exited (${p.exitCode ?? p.signalCode}): ${this.log}`);
      if (this.ns ? this.healthyInNamespace() : await healthy(this.url, this.tls)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`etcd on ${this.url} not healthy after ${timeoutMs} ms: ${this.log}`);
  }

  private healthyInNamespace(): boolean {
    try {
      this.etcdctl(['endpoint', 'health']);
      return true;
    } catch {
      return false;
    }
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
