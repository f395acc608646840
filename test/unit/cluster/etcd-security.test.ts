// etcd access settings (flags over ETCD_* variables), the checks that need no I/O, the
// endpoints from ETCD_ENDPOINTS, the agent's --etcd-* flags, and the translation of the gRPC/TLS
// and etcd auth failures into DatastoreErrors. The failure messages below are the ones grpc-js
// and etcd 3.4 produced against a real TLS etcd (see test/integration/cluster-etcd-tls.test.ts).
import { expect } from 'chai';
import { resolveEtcdAccess, checkEtcdAccess, explainEtcdFailure, lastConnectError, EtcdAccess } from '../../../src/cluster/etcd-security';
import { parseDatastoreSpec, datastoreSpecText, openDatastore } from '../../../src/cluster/open';
import { DatastoreError } from '../../../src/cluster/errors';
import { parseAgentArgs } from '../../../src/agent/agent-config';
import { UsageError } from '../../../src/cli/usage';

const BAD_CERT = '14 UNAVAILABLE: No connection established. Last error: 80FC6356377F0000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42\n (2026-11-21T12:53:54.951Z). Resolution note: ';
const UNKNOWN_CA = '14 UNAVAILABLE: No connection established. Last error: Error: unable to verify the first certificate. Resolution note: ';
const NOT_TLS = '14 UNAVAILABLE: No connection established. Last error: Error: Client network socket disconnected before secure TLS connection was established. Resolution note: ';
const REFUSED = '14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1 (2026-11-21T12:54:06.803Z). Resolution note: ';
const AUTH = '3 INVALID_ARGUMENT: etcdserver: authentication failed, invalid user ID or password';
const DENIED = '7 PERMISSION_DENIED: etcdserver: permission denied';
const NOT_ENABLED = '9 FAILED_PRECONDITION: etcdserver: authentication is not enabled';

const EP = ['https://127.0.0.1:2379'];
const ctx = (access: EtcdAccess) => ({ endpoints: EP, access, prefix: '/nexthop/v1/', description: `etcd:${EP[0]}` });
const bad = (fn: () => unknown): DatastoreError => {
  try { fn(); } catch (e) { if (e instanceof DatastoreError) return e; throw e; }
  throw new Error('expected a DatastoreError');
};

describe('cluster/etcd-security', () => {
  describe('resolveEtcdAccess', () => {
    it('takes Calico\'s variables, and flags over them, recording where each came from', () => {
      const env = { ETCD_CA_CERT_FILE: '/e/ca', ETCD_CERT_FILE: '/e/crt', ETCD_KEY_FILE: '/e/key', ETCD_USERNAME: 'u', ETCD_PASSWORD_FILE: '/e/pw' };
      expect(resolveEtcdAccess({}, env)).to.deep.equal({
        tls: { caCertFile: '/e/ca', certFile: '/e/crt', keyFile: '/e/key' },
        auth: { username: 'u', passwordFile: '/e/pw', password: undefined },
        sources: { caCert: 'ETCD_CA_CERT_FILE', cert: 'ETCD_CERT_FILE', key: 'ETCD_KEY_FILE', username: 'ETCD_USERNAME', passwordFile: 'ETCD_PASSWORD_FILE' },
      });
      const a = resolveEtcdAccess({ caCert: '/f/ca', passwordFile: '/f/pw' }, env);
      expect(a.tls!.caCertFile).to.equal('/f/ca');
      expect(a.sources!.caCert).to.equal('--etcd-ca-cert');
      expect(a.tls!.certFile).to.equal('/e/crt');
      expect(a.auth!.passwordFile).to.equal('/f/pw');
      expect(a.sources!.passwordFile).to.equal('--etcd-password-file');
    });
    it('uses ETCD_PASSWORD only when no password file is given; empty variables count as unset', () => {
      expect(resolveEtcdAccess({}, { ETCD_USERNAME: 'u', ETCD_PASSWORD: 'p' }).auth).to.deep.equal({ username: 'u', passwordFile: undefined, password: 'p' });
      expect(resolveEtcdAccess({ passwordFile: '/pw' }, { ETCD_USERNAME: 'u', ETCD_PASSWORD: 'p' }).auth!.password).to.equal(undefined);
      expect(resolveEtcdAccess({}, { ETCD_CA_CERT_FILE: '', ETCD_USERNAME: '' })).to.deep.equal({ sources: {} });
    });
    it('refuses a certificate without its key, a key without its certificate, a user without a password and the reverse', () => {
      const cases: [Parameters<typeof resolveEtcdAccess>, RegExp][] = [
        [[{ cert: '/c' }, {}], /client certificate \/c \(--etcd-cert\) given without its key: give --etcd-key FILE or set ETCD_KEY_FILE/],
        [[{}, { ETCD_KEY_FILE: '/k' }], /client key \/k \(ETCD_KEY_FILE\) given without its certificate: give --etcd-cert FILE/],
        [[{ username: 'agent' }, {}], /etcd user 'agent' \(--etcd-username\) has no password: give --etcd-password-file FILE or set ETCD_PASSWORD_FILE/],
        [[{ passwordFile: '/pw' }, {}], /a password is given \(--etcd-password-file\) but no user name: give --etcd-username NAME/],
        [[{}, { ETCD_PASSWORD: 'x' }], /a password is given \(ETCD_PASSWORD\) but no user name/],
      ];
      for (const [args, re] of cases) {
        const e = bad(() => resolveEtcdAccess(...args));
        expect(e.code).to.equal('BAD_DATASTORE_SPEC');
        expect(e.message).to.match(re);
      }
    });
  });

  describe('endpoints and TLS settings together', () => {
    it('refuses TLS files with http:// endpoints, naming the setting', () => {
      const e = bad(() => checkEtcdAccess(['http://10.0.0.1:2379'], resolveEtcdAccess({}, { ETCD_CA_CERT_FILE: '/ca' })));
      expect(e.message).to.equal('etcd access: CA ETCD_CA_CERT_FILE given, but endpoint http://10.0.0.1:2379 is plain http://; use https:// endpoints or drop the TLS settings');
      expect(() => checkEtcdAccess(['https://10.0.0.1:2379'], resolveEtcdAccess({ caCert: '/ca' }, {}))).not.to.throw();
      // A user and password alone work over http:// (etcd allows it).
      expect(() => checkEtcdAccess(['http://10.0.0.1:2379'], resolveEtcdAccess({ username: 'u', passwordFile: '/p' }, {}))).not.to.throw();
    });
    it('takes the endpoints from ETCD_ENDPOINTS for "etcd:" and when no datastore is named at all', () => {
      const env = { ETCD_ENDPOINTS: 'https://10.0.0.1:2379, https://10.0.0.2:2379' };
      expect(parseDatastoreSpec('etcd:', env)).to.deep.equal({ type: 'etcd', endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'], prefix: undefined });
      expect(parseDatastoreSpec('etcd:?prefix=/p/', env)).to.deep.include({ prefix: '/p/' });
      // An explicit URL wins over the variable.
      expect(parseDatastoreSpec('etcd:http://10.9.9.9:2379', env)).to.deep.include({ endpoints: ['http://10.9.9.9:2379'] });
      expect(datastoreSpecText(undefined, env)).to.equal('etcd:');
      expect(datastoreSpecText(undefined, { ...env, NEXTHOP_DATASTORE: 'file:/x.yaml' })).to.equal('file:/x.yaml');
      expect(datastoreSpecText(undefined, {})).to.equal(undefined);
      expect(() => parseDatastoreSpec('etcd:', { ETCD_ENDPOINTS: '10.0.0.1:2379' })).to.throw(DatastoreError, /'10\.0\.0\.1:2379' \(from ETCD_ENDPOINTS\) must be http:\/\/ or https:\/\//);
      expect(() => parseDatastoreSpec('etcd:', {})).to.throw(DatastoreError, /no endpoint: give etcd:URL\[,URL\.\.\.\] or set ETCD_ENDPOINTS/);
    });
    it('openDatastore refuses etcd flags for a file datastore, and unreadable files before connecting', () => {
      expect(() => openDatastore('file:/tmp/x.yaml', { etcdAccess: { caCert: '/ca' }, env: {} })).to.throw(DatastoreError, /--etcd-ca-cert applies to an etcd datastore, but the datastore is file:\/tmp\/x\.yaml/);
      const e = bad(() => openDatastore('etcd:https://127.0.0.1:1', { etcdAccess: { caCert: '/nonexistent/nexthop-ca.crt' }, env: {} }));
      expect(e.code).to.equal('CREDENTIALS_FILE');
      expect(e.file).to.equal('/nonexistent/nexthop-ca.crt');
      expect(e.message).to.equal('cannot use etcd CA certificate (--etcd-ca-cert) /nonexistent/nexthop-ca.crt: no such file');
      const p = bad(() => openDatastore('etcd:http://127.0.0.1:1', { etcdAccess: { username: 'u', passwordFile: '/nonexistent/pw' }, env: {} }));
      expect(p.message).to.equal('cannot use etcd password file (--etcd-password-file) /nonexistent/pw: no such file');
    });
  });

  describe('explainEtcdFailure', () => {
    const mtls = resolveEtcdAccess({ caCert: '/ca.crt', cert: '/client.crt', key: '/client.key' }, {});
    it('shortens grpc-js connection errors to their cause', () => {
      expect(lastConnectError(BAD_CERT)).to.equal('TLS alert 42, bad certificate');
      expect(lastConnectError(UNKNOWN_CA)).to.equal('unable to verify the first certificate');
      expect(lastConnectError(REFUSED)).to.equal('connect ECONNREFUSED 127.0.0.1:1');
    });
    it('explains a server that wants a client certificate, and one that refuses ours', () => {
      const none = explainEtcdFailure(new Error(BAD_CERT), ctx(resolveEtcdAccess({ caCert: '/ca.crt' }, {})))!;
      expect(none.code).to.equal('TLS_HANDSHAKE');
      expect(none.message).to.equal('etcd TLS handshake failed for https://127.0.0.1:2379: the server requires a client certificate (TLS alert 42, bad certificate): give --etcd-cert FILE and --etcd-key FILE, or set ETCD_CERT_FILE and ETCD_KEY_FILE');
      const ours = explainEtcdFailure(new Error(BAD_CERT), ctx(mtls))!;
      expect(ours.message).to.match(/^etcd TLS handshake failed for https:\/\/127\.0\.0\.1:2379: the server rejected the client certificate \/client\.crt \(--etcd-cert\) \(TLS alert 42, bad certificate\)/);
      expect(ours.file).to.equal('/client.crt');
    });
    it('explains an untrusted server certificate with the CA file or the system CAs', () => {
      const withCa = explainEtcdFailure(new Error(UNKNOWN_CA), ctx(mtls))!;
      expect(withCa.message).to.equal('etcd TLS handshake failed for https://127.0.0.1:2379: certificate signed by unknown authority (unable to verify the first certificate): the CA in /ca.crt (--etcd-ca-cert) did not sign it');
      expect(withCa.file).to.equal('/ca.crt');
      const system = explainEtcdFailure(new Error(UNKNOWN_CA), ctx({}))!;
      expect(system.message).to.contain('it is not signed by a CA the system trusts; give the etcd CA with --etcd-ca-cert FILE or ETCD_CA_CERT_FILE');
      expect(explainEtcdFailure(new Error(NOT_TLS), ctx({}))!.message).to.contain('the server did not answer with TLS');
    });
    it('explains authentication and permission failures, and leaves other failures alone', () => {
      const user = resolveEtcdAccess({ username: 'agent', passwordFile: '/pw' }, {});
      const auth = explainEtcdFailure(new Error(AUTH), ctx(user))!;
      expect(auth.code).to.equal('AUTH_FAILED');
      expect(auth.message).to.equal("etcd authentication failed for user 'agent' at https://127.0.0.1:2379: wrong user name or password (the password in /pw (--etcd-password-file))");
      expect(explainEtcdFailure(new Error(NOT_ENABLED), ctx(user))!.message).to.contain("does not have authentication enabled, but user 'agent' is configured (--etcd-username)");
      expect(explainEtcdFailure(new Error(DENIED), ctx(user))!.message).to.equal("etcd user 'agent' may not read and write /nexthop/v1/ at https://127.0.0.1:2379: grant it a role with 'etcdctl role grant-permission ROLE --prefix=true readwrite /nexthop/v1/'");
      expect(explainEtcdFailure(new Error(DENIED), ctx({}))!.code).to.equal('PERMISSION_DENIED');
      expect(explainEtcdFailure(new Error('etcdserver: user name is empty'), ctx({}))!.message).to.contain('requires authentication: give --etcd-username NAME and --etcd-password-file FILE');
      expect(explainEtcdFailure(new Error(REFUSED), ctx(mtls))).to.equal(undefined);
      expect(explainEtcdFailure('not an error', ctx(mtls))).to.equal(undefined);
    });
  });

  describe('agent flags', () => {
    const base = ['--node', 'n1'];
    it('accepts --etcd-* flags and passes them through', () => {
      const o = parseAgentArgs([...base, '--datastore', 'etcd:https://10.0.0.5:2379', '--etcd-ca-cert', '/ca', '--etcd-cert', '/c', '--etcd-key', '/k',
        '--etcd-username', 'agent', '--etcd-password-file', '/pw'], {});
      if (o === 'help') throw new Error('help');
      expect(o.etcdAccess).to.deep.equal({ caCert: '/ca', cert: '/c', key: '/k', username: 'agent', passwordFile: '/pw' });
    });
    it('takes the datastore from ETCD_ENDPOINTS and refuses what cannot work as usage errors', () => {
      const o = parseAgentArgs(base, { ETCD_ENDPOINTS: 'https://10.0.0.5:2379' });
      if (o === 'help') throw new Error('help');
      expect(o.datastore).to.equal('etcd:');
      expect(() => parseAgentArgs([...base, '--datastore', 'etcd:https://10.0.0.5:2379', '--etcd-cert', '/c'], {})).to.throw(UsageError, /given without its key/);
      expect(() => parseAgentArgs([...base, '--datastore', 'etcd:http://10.0.0.5:2379'], { ETCD_CA_CERT_FILE: '/ca' })).to.throw(UsageError, /is plain http:\/\//);
      expect(() => parseAgentArgs([...base, '--datastore', 'file:/c.yaml', '--etcd-username', 'u'], {})).to.throw(UsageError, /apply to an etcd datastore/);
      expect(() => parseAgentArgs([...base, '--datastore', 'etcd:https://10.0.0.5:2379', '--etcd-password', 'x'], {})).to.throw(UsageError, /unknown option '--etcd-password'/);
    });
  });
});
