// The etcd datastore over TLS and with etcd authentication, against a real etcd (Debian
// etcd-server) started by the test with a throwaway PKI made by openssl: server certificate for
// 127.0.0.1, --client-cert-auth, --trusted-ca-file. Checks that the right CA and client
// certificate connect, claim a block and watch; that a client without a certificate, a client
// that does not trust the server's CA, a client certificate from another CA, and unusable files
// are refused with errors that name the endpoint and the file; that user/password (from a file)
// works, also after the auth token expired, and that a wrong password, a missing user, a user
// without permission on the prefix, and a user for an etcd without auth are explained. The CLI
// (ipam claim, get) takes the same flags and ETCD_* variables, and so does `nexthop agent`
// (run in a network namespace with etcd: it starts, claims its block and reports the datastore
// connected; without its certificate it stops before touching anything, naming the problem).
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Lab, isRoot, nsExec, waitFor } from '../helpers/lab';
import { EtcdServer, TestPki, etcdAvailable, makeTestPki, opensslAvailable } from '../helpers/etcd';
import { openDatastore } from '../../src/cluster/open';
import { Datastore } from '../../src/cluster/datastore';
import { EtcdAccessFlags } from '../../src/cluster/etcd-security';
import { DatastoreError } from '../../src/cluster/errors';
import { parseResources } from '../../src/cluster/resources';
import type { AgentStatus } from '../../src/agent/status-types';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

const RESOURCES = `apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: tls-pool}
spec: {cidr: 10.77.0.0/16}
---
apiVersion: nexthop.io/v1
kind: Node
metadata: {name: tls-node-1}
spec: {bgp: {ipv4Address: 192.168.77.1/24}}
`;
const nodeDoc = (name: string, ip: string) => `apiVersion: nexthop.io/v1
kind: Node
metadata: {name: ${name}}
spec: {bgp: {ipv4Address: ${ip}/24}}
`;

/** Runs `fn`, expecting a DatastoreError; returns it. */
async function refused(fn: () => Promise<unknown> | unknown): Promise<DatastoreError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof DatastoreError) return e;
    throw new Error(`expected a DatastoreError, got ${(e as Error)?.stack ?? e}`);
  }
  throw new Error('expected a DatastoreError, but it succeeded');
}

describe('integration: etcd datastore over TLS, with authentication', function () {
  this.timeout(90000);
  const lab = new Lab('etls');
  const opened: Datastore[] = [];
  let pki: TestPki;
  let dir: string;
  let counter = 0;

  before(function () {
    if (!etcdAvailable() || !opensslAvailable()) this.skip();
    dir = lab.tempDir();
    pki = makeTestPki(dir);
  });
  afterEach(async () => { await Promise.all(opened.splice(0).map((d) => d.close())); });
  after(async () => { await lab.destroy(); });

  /** An etcd datastore for `url` under `prefix` with `access`; ETCD_* come only from `env`. */
  const open = (url: string, prefix: string, access: EtcdAccessFlags, env: NodeJS.ProcessEnv = {}): Datastore => {
    const d = openDatastore(`etcd:${url}?prefix=${prefix}`, {
      etcd: { callTimeoutMs: 3000, dialTimeoutMs: 2000, backoffInitialMs: 50, backoffMaxMs: 500, ownConnection: true },
      etcdAccess: access, env,
    });
    opened.push(d);
    return d;
  };

  function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_') && k !== 'NEXTHOP_DATASTORE'));
      const p = lab.spawn(null, process.execPath, [CLI, ...args], { env: { ...clean, ...env } });
      let stdout = '';
      let stderr = '';
      p.stdout!.on('data', (c) => { stdout += c; });
      p.stderr!.on('data', (c) => { stderr += c; });
      const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`nexthop ${args.join(' ')} timed out`)); }, 60000);
      p.on('exit', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
    });
  }

  describe('TLS with client certificates', () => {
    let etcd: EtcdServer;
    let prefix: string;
    let good: EtcdAccessFlags;
    before(async () => {
      etcd = await EtcdServer.start(lab, { tls: { pki, clientCertAuth: true } });
      good = { caCert: pki.caCert, cert: pki.clientCert, key: pki.clientKey };
    });
    beforeEach(() => { prefix = `/nhtls${process.pid}-${counter++}/`; });

    it('connects with the CA and a client certificate, claims a block and watches', async () => {
      expect(etcd.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
      const admin = open(etcd.url, prefix, good);
      await admin.apply(parseResources(RESOURCES, 'tls.yaml'));
      const agent = open(etcd.url, prefix, good);
      await agent.watch();
      expect(agent.connection).to.equal('connected');
      const [block] = await agent.claimBlocks('tls-node-1');
      expect(block.cidr).to.match(/^10\.77\.\d+\.0\/24$/);
      expect(block.node).to.equal('tls-node-1');
      // The claim is in etcd, read back over another TLS connection by etcdctl.
      const stored = etcd.etcdctl(['get', '--prefix', `${prefix}ipam/blocks/`, '--print-value-only']);
      expect(JSON.parse(stored.trim().split('\n')[0])).to.include({ cidr: block.cidr, node: 'tls-node-1' });
      // The watch runs over TLS too: a node applied elsewhere arrives.
      await admin.apply(parseResources(nodeDoc('tls-node-2', '192.168.77.2'), 'n2.yaml'));
      await waitFor('tls-node-2 through the watch', () => agent.state.view().nodes.some((n) => n.name === 'tls-node-2'), 10000);
    });

    it('takes the endpoints, CA, certificate and key from ETCD_ENDPOINTS and ETCD_*_FILE as Calico does', async () => {
      const env = { ETCD_ENDPOINTS: etcd.url, ETCD_CA_CERT_FILE: pki.caCert, ETCD_CERT_FILE: pki.clientCert, ETCD_KEY_FILE: pki.clientKey };
      const d = openDatastore(undefined, { etcd: { prefix, callTimeoutMs: 3000, dialTimeoutMs: 2000, ownConnection: true }, env });
      opened.push(d);
      expect(d.description).to.equal(`etcd:${etcd.url}`);
      await d.apply(parseResources(RESOURCES, 'tls.yaml'));
      const [block] = await d.claimBlocks('tls-node-1');
      expect(block.pool).to.equal('tls-pool');
      // A flag wins over its variable: a wrong ETCD_CA_CERT_FILE is overridden by --etcd-ca-cert.
      const d2 = open(etcd.url, prefix, { caCert: pki.caCert }, { ...env, ETCD_CA_CERT_FILE: pki.otherCaCert });
      await d2.load();
      expect(d2.state.view().blocks.map((b) => b.cidr)).to.deep.equal([block.cidr]);
    });

    it('refuses a client without a certificate: the server requires one', async () => {
      const d = open(etcd.url, prefix, { caCert: pki.caCert });
      const e = await refused(() => d.load());
      expect(e.code).to.equal('TLS_HANDSHAKE');
      expect(e.message).to.contain(`etcd TLS handshake failed for ${etcd.url}: the server requires a client certificate`);
      expect(e.message).to.contain('--etcd-cert FILE and --etcd-key FILE');
    });

    it('refuses a server whose certificate is not signed by the given CA, naming the CA file', async () => {
      const d = open(etcd.url, prefix, { caCert: pki.otherCaCert, cert: pki.clientCert, key: pki.clientKey });
      const e = await refused(() => d.load());
      expect(e.code).to.equal('TLS_HANDSHAKE');
      expect(e.message).to.contain(`etcd TLS handshake failed for ${etcd.url}: certificate signed by unknown authority`);
      expect(e.message).to.contain(`the CA in ${pki.otherCaCert} (--etcd-ca-cert) did not sign it`);
      expect(e.file).to.equal(pki.otherCaCert);
      // Without any CA the system's trusted CAs are used, which do not know our test CA either.
      const sys = open(etcd.url, prefix, { cert: pki.clientCert, key: pki.clientKey });
      const e2 = await refused(() => sys.claimBlocks('tls-node-1'));
      expect(e2.code).to.equal('TLS_HANDSHAKE');
      expect(e2.message).to.match(/certificate signed by unknown authority .*not signed by a CA the system trusts; give the etcd CA with --etcd-ca-cert FILE or ETCD_CA_CERT_FILE/);
    });

    it('is refused by the server with a client certificate from another CA, naming the certificate', async () => {
      const d = open(etcd.url, prefix, { caCert: pki.caCert, cert: pki.otherClientCert, key: pki.otherClientKey });
      const e = await refused(() => d.load());
      expect(e.code).to.equal('TLS_HANDSHAKE');
      expect(e.message).to.contain(`etcd TLS handshake failed for ${etcd.url}: the server rejected the client certificate ${pki.otherClientCert} (--etcd-cert)`);
      expect(e.file).to.equal(pki.otherClientCert);
    });

    it('names the file when a CA, certificate or key cannot be used, before connecting', async () => {
      const missing = path.join(dir, 'no-such.key');
      const cases: [EtcdAccessFlags, string, RegExp][] = [
        [{ ...good, key: missing }, missing, /cannot use etcd client key \(--etcd-key\) .*no-such\.key: no such file/],
        [{ ...good, key: pki.otherClientKey }, pki.otherClientKey, /it is not the key of the certificate .*client\.crt/],
        [{ ...good, caCert: pki.clientKey }, pki.clientKey, /cannot use etcd CA certificate \(--etcd-ca-cert\) .*: no PEM certificate in it/],
        [{ ...good, key: pki.clientCert }, pki.clientCert, /no PEM private key in it/],
      ];
      for (const [access, file, re] of cases) {
        const e = await refused(() => open(etcd.url, prefix, access));
        expect(e.code, file).to.equal('CREDENTIALS_FILE');
        expect(e.file).to.equal(file);
        expect(e.message).to.match(re);
      }
      // TLS settings with a plain http:// endpoint are a usage error, not a silent downgrade.
      const e = await refused(() => open(etcd.url.replace('https', 'http'), prefix, good));
      expect(e.code).to.equal('BAD_DATASTORE_SPEC');
      expect(e.message).to.contain('is plain http://; use https://');
    });

    it('gives an etcd user an explained refusal when etcd has authentication off', async () => {
      const pw = path.join(dir, 'pw-noauth');
      fs.writeFileSync(pw, 'whatever\n');
      const d = open(etcd.url, prefix, { ...good, username: 'agent', passwordFile: pw });
      const e = await refused(() => d.load());
      expect(e.code).to.equal('AUTH_FAILED');
      expect(e.message).to.contain(`etcd at ${etcd.url} does not have authentication enabled, but user 'agent' is configured (--etcd-username)`);
    });

    it('CLI: ipam claim and get over TLS with flags and with ETCD_* variables; a refusal is one line, exit 1', async () => {
      const spec = `etcd:${etcd.url}?prefix=${prefix}`;
      const yaml = path.join(dir, `r${counter}.yaml`);
      fs.writeFileSync(yaml, RESOURCES);
      const flags = ['--etcd-ca-cert', pki.caCert, '--etcd-cert', pki.clientCert, '--etcd-key', pki.clientKey];
      const applied = await cli(['apply', '-f', yaml, '--datastore', spec, ...flags]);
      expect(applied.stderr).to.equal('');
      expect(applied.code).to.equal(0);
      const claim = await cli(['ipam', 'claim', '--node', 'tls-node-1', '--datastore', spec, ...flags]);
      expect(claim.code, claim.stderr).to.equal(0);
      expect(claim.stdout).to.match(/^10\.77\.\d+\.0\/24 tls-pool tls-node-1\n$/);
      const env = { ETCD_CA_CERT_FILE: pki.caCert, ETCD_CERT_FILE: pki.clientCert, ETCD_KEY_FILE: pki.clientKey };
      const got = await cli(['get', 'nodes', '--datastore', spec], env);
      expect(got.code, got.stderr).to.equal(0);
      expect(got.stderr).to.equal(''); // no deprecation warning about the IP in SNI either
      expect(got.stdout).to.contain(`tls-node-1   192.168.77.1/24`);
      expect(got.stdout).to.contain(claim.stdout.split(' ')[0]);
      const noCert = await cli(['get', 'nodes', '--datastore', spec, '--etcd-ca-cert', pki.caCert]);
      expect(noCert.code).to.equal(1);
      expect(noCert.stderr).to.match(new RegExp(`^nexthop get: etcd TLS handshake failed for ${etcd.url.replace(/\./g, '\\.')}: the server requires a client certificate`));
      expect(noCert.stderr.trim().split('\n')).to.have.length(1);
      const noKey = await cli(['delete', 'node', 'tls-node-1', '--datastore', spec, '--etcd-cert', pki.clientCert]);
      expect(noKey.code).to.equal(2);
      expect(noKey.stderr).to.contain('client certificate');
      expect(noKey.stderr).to.contain('given without its key');
    });
  });

  describe('user/password authentication (over TLS)', () => {
    let etcd: EtcdServer;
    const ROOT_PW = 'root-secret';
    const AGENT_PW = 'agent-s3cret with spaces';
    let agentPwFile: string;
    let wrongPwFile: string;
    let prefix: string;
    let tlsFlags: EtcdAccessFlags;
    before(async () => {
      // Tokens live 2 s, so the test sees one expire and be replaced.
      etcd = await EtcdServer.start(lab, { tls: { pki, clientCertAuth: true }, extraArgs: ['--auth-token-ttl', '2'] });
      tlsFlags = { caCert: pki.caCert, cert: pki.clientCert, key: pki.clientKey };
      etcd.etcdctl(['role', 'add', 'nexthop-agent']);
      etcd.etcdctl(['role', 'grant-permission', 'nexthop-agent', '--prefix=true', 'readwrite', '/nhauth/']);
      etcd.etcdctl(['user', 'add', 'agent', '--new-user-password', AGENT_PW]);
      etcd.etcdctl(['user', 'grant-role', 'agent', 'nexthop-agent']);
      etcd.etcdctl(['user', 'add', 'stranger', '--new-user-password', 'stranger-pw']);
      etcd.enableAuth(ROOT_PW);
      agentPwFile = path.join(dir, 'agent.pw');
      fs.writeFileSync(agentPwFile, `${AGENT_PW}\n`, { mode: 0o600 });
      wrongPwFile = path.join(dir, 'wrong.pw');
      fs.writeFileSync(wrongPwFile, 'not-the-password', { mode: 0o600 });
    });
    beforeEach(() => { prefix = `/nhauth/t${counter++}/`; });

    it('connects as a user with the password from a file, claims, watches, and keeps working after the token expires', async () => {
      const admin = open(etcd.url, prefix, { ...tlsFlags, username: 'agent', passwordFile: agentPwFile });
      await admin.apply(parseResources(RESOURCES, 'auth.yaml'));
      const agent = open(etcd.url, prefix, { ...tlsFlags, username: 'agent', passwordFile: agentPwFile });
      await agent.watch();
      const [block] = await agent.claimBlocks('tls-node-1');
      expect(block.node).to.equal('tls-node-1');
      const live = await agent.keepAlive('tls-node-1', 5);
      // Wait past the token's 2 s life: the next calls authenticate again on their own.
      await new Promise((r) => setTimeout(r, 3000));
      const [again] = await agent.claimBlocks('tls-node-1');
      expect(again.cidr).to.equal(block.cidr);
      await admin.apply(parseResources(nodeDoc('auth-node-2', '192.168.77.2'), 'n2.yaml'));
      await waitFor('auth-node-2 through the watch', () => agent.state.view().nodes.some((n) => n.name === 'auth-node-2'), 10000);
      // Liveness on its lease was written as the user too.
      await waitFor('liveness key', async () => etcd.etcdctl(['get', '--prefix', `${prefix}liveness/`, '--keys-only'], ['--user', `root:${ROOT_PW}`]).includes('tls-node-1'), 5000);
      await live.stop();
      // The same user and password also from ETCD_USERNAME and ETCD_PASSWORD_FILE.
      const fromEnv = open(etcd.url, prefix, tlsFlags, { ETCD_USERNAME: 'agent', ETCD_PASSWORD_FILE: agentPwFile });
      await fromEnv.load();
      expect(fromEnv.state.view().blocks.map((b) => b.cidr)).to.deep.equal([block.cidr]);
    });

    it('reports a wrong password as AUTH_FAILED naming the user and the password file', async () => {
      const d = open(etcd.url, prefix, { ...tlsFlags, username: 'agent', passwordFile: wrongPwFile });
      const e = await refused(() => d.load());
      expect(e.code).to.equal('AUTH_FAILED');
      expect(e.message).to.equal(`etcd authentication failed for user 'agent' at ${etcd.url}: wrong user name or password (the password in ${wrongPwFile} (--etcd-password-file))`);
      expect(e.file).to.equal(wrongPwFile);
      const ghost = open(etcd.url, prefix, { ...tlsFlags, username: 'ghost', passwordFile: agentPwFile });
      expect((await refused(() => ghost.claimBlocks('tls-node-1'))).code).to.equal('AUTH_FAILED');
    });

    it('says that credentials are needed when none are given, and which prefix a user may not use', async () => {
      const anonymous = open(etcd.url, prefix, tlsFlags);
      const e = await refused(() => anonymous.load());
      expect(e.code).to.equal('PERMISSION_DENIED');
      expect(e.message).to.contain(`etcd at ${etcd.url} denied access to ${prefix}: authentication is enabled there; give --etcd-username NAME and --etcd-password-file FILE`);
      // etcd's rule: with --client-cert-auth and no user given, the certificate's CN is the user.
      etcd.etcdctl(['user', 'add', pki.clientCommonName, '--new-user-password', 'unused-cn-pw'], ['--user', `root:${ROOT_PW}`]);
      etcd.etcdctl(['user', 'grant-role', pki.clientCommonName, 'nexthop-agent'], ['--user', `root:${ROOT_PW}`]);
      const byCn = open(etcd.url, prefix, tlsFlags);
      await byCn.load();
      expect(byCn.connection).to.equal('connected');
      const pw = path.join(dir, 'stranger.pw');
      fs.writeFileSync(pw, 'stranger-pw');
      const stranger = open(etcd.url, prefix, { ...tlsFlags, username: 'stranger', passwordFile: pw });
      const e2 = await refused(() => stranger.load());
      expect(e2.code).to.equal('PERMISSION_DENIED');
      expect(e2.message).to.equal(`etcd user 'stranger' may not read and write ${prefix} at ${etcd.url}: grant it a role with 'etcdctl role grant-permission ROLE --prefix=true readwrite ${prefix}'`);
    });

    it('CLI: apply and get with --etcd-username/--etcd-password-file; a wrong password exits 1 with one line', async () => {
      const spec = `etcd:${etcd.url}?prefix=${prefix}`;
      const yaml = path.join(dir, `a${counter}.yaml`);
      fs.writeFileSync(yaml, RESOURCES);
      const env = { ETCD_CA_CERT_FILE: pki.caCert, ETCD_CERT_FILE: pki.clientCert, ETCD_KEY_FILE: pki.clientKey };
      const applied = await cli(['apply', '-f', yaml, '--datastore', spec, '--etcd-username', 'agent', '--etcd-password-file', agentPwFile], env);
      expect(applied.code, applied.stderr).to.equal(0);
      const got = await cli(['get', 'ippools', '--datastore', spec, '--etcd-username', 'agent', '--etcd-password-file', agentPwFile], env);
      expect(got.code, got.stderr).to.equal(0);
      expect(got.stdout).to.contain('tls-pool');
      const wrong = await cli(['get', 'ippools', '--datastore', spec, '--etcd-username', 'agent', '--etcd-password-file', wrongPwFile], env);
      expect(wrong.code).to.equal(1);
      expect(wrong.stderr).to.equal(`nexthop get: etcd authentication failed for user 'agent' at ${etcd.url}: wrong user name or password (the password in ${wrongPwFile} (--etcd-password-file))\n`);
      // A password on the command line is not an option.
      const onCmdline = await cli(['get', 'ippools', '--datastore', spec, '--etcd-password', AGENT_PW], env);
      expect(onCmdline.code).to.equal(2);
      expect(onCmdline.stderr).to.contain("unknown option '--etcd-password'");
    });
  });

  describe('nexthop agent over TLS with a user (in a network namespace)', () => {
    let ns: string;
    let etcd: EtcdServer;
    let agentDir: string;
    let pwFile: string;
    const prefix = '/nhagent/';
    before(async function () {
      if (!isRoot()) this.skip();
      ns = lab.netns('agt');
      // The node's underlay: a bridge holding the node address (one node, no peers needed).
      nsExec(ns, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
      nsExec(ns, 'ip', ['addr', 'add', '192.168.77.1/24', 'dev', 'br0']);
      nsExec(ns, 'ip', ['link', 'set', 'br0', 'up']);
      etcd = await EtcdServer.start(lab, { tls: { pki }, ns });
      etcd.etcdctl(['role', 'add', 'agents']);
      etcd.etcdctl(['role', 'grant-permission', 'agents', '--prefix=true', 'readwrite', prefix]);
      etcd.etcdctl(['user', 'add', 'node-agent', '--new-user-password', 'node-agent-pw']);
      etcd.etcdctl(['user', 'grant-role', 'node-agent', 'agents']);
      etcd.enableAuth('root-pw');
      agentDir = lab.tempDir();
      pwFile = path.join(agentDir, 'password');
      fs.writeFileSync(pwFile, 'node-agent-pw\n', { mode: 0o600 });
      const yaml = path.join(agentDir, 'cluster.yaml');
      fs.writeFileSync(yaml, RESOURCES);
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, CLI, 'apply', '-f', yaml, '--datastore', `etcd:${etcd.url}?prefix=${prefix}`,
        '--etcd-ca-cert', pki.caCert, '--etcd-cert', pki.clientCert, '--etcd-key', pki.clientKey, '--etcd-username', 'node-agent', '--etcd-password-file', pwFile],
      { encoding: 'utf8', timeout: 30000 });
      expect(r.status, r.stderr).to.equal(0);
    });

    const agentArgs = (dir: string, tlsFlags: string[]) => [CLI, 'agent', '--node', 'tls-node-1', '--datastore', `etcd:${etcd.url}?prefix=${prefix}`,
      ...tlsFlags, '--etcd-username', 'node-agent', '--etcd-password-file', pwFile,
      '--control-socket', path.join(dir, 'nexthop.sock'), '--metrics-address', 'none', '--cni-conf-dir', 'none', '--subnet-env', 'none',
      '--state-dir', path.join(dir, 'state'), '--uplink', 'br0', '--listen-port', '17979', '--no-firewall'];

    it('stops before touching anything when the server refuses it, naming the problem (exit 1)', async () => {
      const dir = path.join(agentDir, 'refused');
      fs.mkdirSync(dir, { mode: 0o700 });
      const p = lab.spawn(ns, process.execPath, agentArgs(dir, ['--etcd-ca-cert', pki.caCert]));
      let stderr = '';
      p.stderr!.on('data', (c) => { stderr += c; });
      const code = await new Promise<number>((resolve) => p.on('exit', (c) => resolve(c ?? -1)));
      expect(code).to.equal(1);
      expect(stderr).to.contain(`etcd TLS handshake failed for ${etcd.url}: the server requires a client certificate`);
      expect(nsExec(ns, 'ip', ['route', 'show', 'proto', '78'])).to.equal('');
    });

    it('starts with --etcd-* flags, claims its block and reports the datastore connected', async () => {
      const dir = path.join(agentDir, 'ok');
      fs.mkdirSync(dir, { mode: 0o700 });
      const p = lab.spawn(ns, process.execPath, agentArgs(dir, ['--etcd-ca-cert', pki.caCert, '--etcd-cert', pki.clientCert, '--etcd-key', pki.clientKey]));
      let log = '';
      p.stdout!.on('data', (c) => { log += c; });
      p.stderr!.on('data', (c) => { log += c; });
      const status = (await waitFor('agent status with its block', () => {
        if (p.exitCode !== null) throw new Error(`agent exited ${p.exitCode}: ${log}`);
        const r = spawnSync(process.execPath, [CLI, 'status', '--json', '--control-socket', path.join(dir, 'nexthop.sock')], { encoding: 'utf8', timeout: 10000 });
        if (r.status !== 0) return null;
        const st = JSON.parse(r.stdout) as AgentStatus;
        return st.blocks.length > 0 ? st : null;
      }, 30000, 300).catch((e: Error) => { throw new Error(`${e.message}\n${log}`); }))!;
      expect(status.datastore).to.deep.include({ kind: 'etcd', connected: true });
      expect(status.blocks[0]).to.match(/^10\.77\.\d+\.0\/24$/);
      // The claim and the liveness key are in etcd, written as user node-agent over TLS.
      const blocks = etcd.etcdctl(['get', '--prefix', `${prefix}ipam/blocks/`, '--print-value-only'], ['--user', 'root:root-pw']);
      expect(blocks).to.contain(`"cidr":"${status.blocks[0]}"`);
      expect(nsExec(ns, 'ip', ['route', 'show', 'proto', '78'])).to.contain(`blackhole ${status.blocks[0]}`);
      p.kill('SIGTERM');
      const code = await new Promise<number>((resolve) => (p.exitCode !== null ? resolve(p.exitCode) : p.on('exit', (c) => resolve(c ?? -1))));
      expect(code).to.equal(0);
    });
  });
});
