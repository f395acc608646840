// Security of the etcd datastore connection: TLS (a CA to check the server, a client certificate
// and key for etcd's --client-cert-auth) and etcd user/password authentication.
//   - resolveEtcdAccess: flags (--etcd-ca-cert, --etcd-cert, --etcd-key, --etcd-username,
//     --etcd-password-file) over Calico's environment variables (ETCD_CA_CERT_FILE,
//     ETCD_CERT_FILE, ETCD_KEY_FILE, ETCD_USERNAME, ETCD_PASSWORD) and our ETCD_PASSWORD_FILE;
//     combinations that cannot work are refused before any I/O.
//   - loadEtcdCredentials: reads the PEM and password files; an unreadable, non-PEM or mismatched
//     file is named in the error (CREDENTIALS_FILE).
//   - explainEtcdFailure: turns gRPC/TLS and etcd auth failures into DatastoreErrors that say
//     what failed and what to change (TLS_HANDSHAKE, AUTH_FAILED, PERMISSION_DENIED).
// Pure except loadEtcdCredentials. TLS: RFC 8446 §6.2 / RFC 5246 §7.2 alerts (bad_certificate
// 42, unknown_ca 48, certificate_required 116), RFC 5280 §6 path validation, RFC 6125 §6 server
// identity (the SAN must hold the endpoint's address). etcd v3 auth API (Authenticate, tokens).

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as tls from 'tls';
import { DatastoreError } from './errors';

/** The environment variables read for etcd access (Calico's names, plus ETCD_PASSWORD_FILE). */
export const ETCD_ENV = {
  endpoints: 'ETCD_ENDPOINTS',
  caCert: 'ETCD_CA_CERT_FILE',
  cert: 'ETCD_CERT_FILE',
  key: 'ETCD_KEY_FILE',
  username: 'ETCD_USERNAME',
  passwordFile: 'ETCD_PASSWORD_FILE',
  password: 'ETCD_PASSWORD',
} as const;

/** The command-line flags for etcd access, as given (file paths; never a password). */
export interface EtcdAccessFlags {
  /** --etcd-ca-cert */
  caCert?: string;
  /** --etcd-cert */
  cert?: string;
  /** --etcd-key */
  key?: string;
  /** --etcd-username */
  username?: string;
  /** --etcd-password-file */
  passwordFile?: string;
}

/** The flag names of EtcdAccessFlags, for parseFlags specs and help texts. */
export const ETCD_ACCESS_FLAGS = {
  caCert: 'etcd-ca-cert',
  cert: 'etcd-cert',
  key: 'etcd-key',
  username: 'etcd-username',
  passwordFile: 'etcd-password-file',
} as const;

/** TLS files of the etcd client (PEM). */
export interface EtcdTlsFiles {
  /** The CA(s) that signed the server's certificate; default: the system's trusted CAs. */
  caCertFile?: string;
  /** Client certificate (chain) and its private key, for etcd --client-cert-auth; both or neither. */
  certFile?: string;
  keyFile?: string;
}

/** etcd user/password authentication. */
export interface EtcdAuth {
  username: string;
  /** File holding the password; one trailing newline is not part of it. Wins over `password`. */
  passwordFile?: string;
  /** The password itself (from $ETCD_PASSWORD, Calico's variable). */
  password?: string;
}

/** Everything about how to reach etcd securely, resolved from flags and environment. */
export interface EtcdAccess {
  tls?: EtcdTlsFiles;
  auth?: EtcdAuth;
  /** Where each setting came from ("--etcd-key", "ETCD_KEY_FILE"), for error messages. */
  sources?: Partial<Record<keyof EtcdAccessFlags | 'password', string>>;
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/**
 * Flags over environment. Throws DatastoreError BAD_DATASTORE_SPEC (a usage error) for a client
 * certificate without its key (or the reverse), a user without a password or a password without
 * a user. Returns {} when nothing is configured.
 */
export function resolveEtcdAccess(flags: EtcdAccessFlags = {}, env: NodeJS.ProcessEnv = process.env): EtcdAccess {
  const sources: NonNullable<EtcdAccess['sources']> = {};
  const pick = (k: keyof EtcdAccessFlags, envName: string | undefined): string | undefined => {
    const fromFlag = nonEmpty(flags[k]);
    if (fromFlag !== undefined) { sources[k] = `--${ETCD_ACCESS_FLAGS[k]}`; return fromFlag; }
    const fromEnv = envName === undefined ? undefined : nonEmpty(env[envName]);
    if (fromEnv !== undefined) sources[k] = envName;
    return fromEnv;
  };
  const caCertFile = pick('caCert', ETCD_ENV.caCert);
  const certFile = pick('cert', ETCD_ENV.cert);
  const keyFile = pick('key', ETCD_ENV.key);
  const username = pick('username', ETCD_ENV.username);
  const passwordFile = pick('passwordFile', ETCD_ENV.passwordFile);
  const password = passwordFile === undefined ? nonEmpty(env[ETCD_ENV.password]) : undefined;
  if (password !== undefined) sources.password = ETCD_ENV.password;
  const bad = (why: string) => new DatastoreError('BAD_DATASTORE_SPEC', `etcd access: ${why}`);
  if (certFile !== undefined && keyFile === undefined) {
    throw bad(`client certificate ${certFile} (${sources.cert}) given without its key: give --${ETCD_ACCESS_FLAGS.key} FILE or set ${ETCD_ENV.key}`);
  }
  if (keyFile !== undefined && certFile === undefined) {
    throw bad(`client key ${keyFile} (${sources.key}) given without its certificate: give --${ETCD_ACCESS_FLAGS.cert} FILE or set ${ETCD_ENV.cert}`);
  }
  if (username !== undefined && passwordFile === undefined && password === undefined) {
    throw bad(`etcd user '${username}' (${sources.username}) has no password: give --${ETCD_ACCESS_FLAGS.passwordFile} FILE or set ${ETCD_ENV.passwordFile}`);
  }
  if (username === undefined && (passwordFile !== undefined || password !== undefined)) {
    throw bad(`a password is given (${sources.passwordFile ?? sources.password}) but no user name: give --${ETCD_ACCESS_FLAGS.username} NAME or set ${ETCD_ENV.username}`);
  }
  const access: EtcdAccess = { sources };
  if (caCertFile !== undefined || certFile !== undefined) access.tls = { caCertFile, certFile, keyFile };
  if (username !== undefined) access.auth = { username, passwordFile, password };
  return access;
}

/**
 * Checks that the endpoints and the access settings fit together: TLS files need https://
 * endpoints (sending the client certificate's key material over plain TCP is never what an
 * operator meant, and etcd3 would silently use TLS for every endpoint). Throws BAD_DATASTORE_SPEC.
 */
export function checkEtcdAccess(endpoints: readonly string[], access: EtcdAccess): void {
  const plain = endpoints.filter((e) => e.startsWith('http://'));
  if (access.tls && plain.length > 0) {
    const what = [access.tls.caCertFile && `CA ${access.sources?.caCert ?? 'file'}`, access.tls.certFile && `client certificate ${access.sources?.cert ?? 'file'}`]
      .filter(Boolean).join(' and ');
    throw new DatastoreError('BAD_DATASTORE_SPEC', `etcd access: ${what} given, but endpoint ${plain[0]} is plain http://; use https:// endpoints or drop the TLS settings`);
  }
}

/** What etcd3's client options take: PEM buffers and the password itself. */
export interface LoadedEtcdCredentials {
  /** Present when any endpoint is https:// or TLS files were given. `rootCertificate` null: system CAs. */
  tls?: { rootCertificate: Buffer | null; certChain?: Buffer; privateKey?: Buffer };
  auth?: { username: string; password: string };
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/**
 * Reads the files named by `access`. Throws DatastoreError CREDENTIALS_FILE naming the file (and
 * the flag or variable it came from) when it cannot be read, holds no PEM of the right type, a
 * certificate does not parse, or the key does not belong to the certificate.
 */
export function loadEtcdCredentials(access: EtcdAccess, secure: boolean, readFile: (path: string) => Buffer = (p) => fs.readFileSync(p)): LoadedEtcdCredentials {
  const src = access.sources ?? {};
  const fail = (file: string, what: string, why: string) =>
    new DatastoreError('CREDENTIALS_FILE', `cannot use ${what} ${file}: ${why}`, undefined, file);
  const read = (file: string, what: string): Buffer => {
    try {
      return readFile(file);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw fail(file, what, err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.message);
    }
  };
  const certificates = (file: string, what: string): Buffer => {
    const pem = read(file, what);
    const blocks = [...pem.toString('utf8').matchAll(PEM_BLOCK)];
    const certs = blocks.filter((b) => b[1] === 'CERTIFICATE');
    if (certs.length === 0) throw fail(file, what, 'no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)');
    certs.forEach((b, i) => {
      try {
        const c = new crypto.X509Certificate(b[0]);
        // RFC 5280 §4.1.2.5: outside notBefore..notAfter the handshake would fail later, less clearly.
        if (Date.parse(c.validTo) < Date.now()) throw new Error(`certificate ${i + 1} (${c.subject.replace(/\n/g, ', ')}) expired on ${c.validTo}`);
      } catch (e) {
        throw fail(file, what, (e as Error).message.startsWith('certificate ') ? (e as Error).message : `certificate ${i + 1} does not parse: ${(e as Error).message}`);
      }
    });
    return pem;
  };
  const out: LoadedEtcdCredentials = {};
  const t = access.tls;
  if (t || secure) {
    const ca = t?.caCertFile !== undefined ? certificates(t.caCertFile, `etcd CA certificate (${src.caCert})`) : null;
    let certChain: Buffer | undefined;
    let privateKey: Buffer | undefined;
    if (t?.certFile !== undefined && t.keyFile !== undefined) {
      const certWhat = `etcd client certificate (${src.cert})`;
      const keyWhat = `etcd client key (${src.key})`;
      certChain = certificates(t.certFile, certWhat);
      privateKey = read(t.keyFile, keyWhat);
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKey.toString('utf8'))) {
        throw fail(t.keyFile, keyWhat, 'no PEM private key in it (expected -----BEGIN PRIVATE KEY----- or an RSA/EC variant)');
      }
      try {
        tls.createSecureContext({ cert: certChain, key: privateKey });
      } catch (e) {
        const m = (e as Error).message;
        if (/key values mismatch/i.test(m)) throw fail(t.keyFile, keyWhat, `it is not the key of the certificate ${t.certFile}`);
        if (/bad decrypt|pass phrase|encrypted/i.test(m)) throw fail(t.keyFile, keyWhat, 'the key is encrypted; give an unencrypted PEM key');
        throw fail(t.keyFile, keyWhat, m);
      }
    }
    out.tls = { rootCertificate: ca, certChain, privateKey };
  }
  if (access.auth) {
    const a = access.auth;
    let password = a.password;
    if (a.passwordFile !== undefined) {
      password = read(a.passwordFile, `etcd password file (${src.passwordFile})`).toString('utf8').replace(/\r?\n$/, '');
      if (password === '') throw fail(a.passwordFile, `etcd password file (${src.passwordFile})`, 'it is empty');
    }
    out.auth = { username: a.username, password: password ?? '' };
  }
  return out;
}

/** What explainEtcdFailure needs to know about the connection that failed. */
export interface EtcdFailureContext {
  endpoints: readonly string[];
  access: EtcdAccess;
  /** The key prefix, for permission errors. */
  prefix: string;
  /** The datastore's description ("etcd:https://..."), carried as the error's backend. */
  description: string;
}

/**
 * The last error grpc-js recorded for a channel that could not connect, shortened: an OpenSSL
 * alert line ("...:sslv3 alert bad certificate:...:SSL alert number 42") becomes
 * "TLS alert 42, bad certificate".
 */
export function lastConnectError(message: string): string {
  const m = /Last error: (?:Error: )?([\s\S]*?)(?:\s*\(\d{4}-\d\d-\d\dT[^)]*\))?\.?\s*(?:Resolution note:.*)?$/.exec(message);
  const detail = (m ? m[1] : message).trim();
  const alert = /alert ([a-z ]+?):[\s\S]*SSL alert number (\d+)/i.exec(detail);
  return alert ? `TLS alert ${alert[2]}, ${alert[1]}` : detail;
}

/**
 * A DatastoreError that names the endpoint(s) and the file or setting to change, for failures
 * that come from TLS or etcd authentication; undefined for anything else (the caller keeps its
 * own handling: unreachable, deadline, ...). Already-translated DatastoreErrors pass through.
 */
export function explainEtcdFailure(err: unknown, ctx: EtcdFailureContext): DatastoreError | undefined {
  if (err instanceof DatastoreError) return err;
  if (!(err instanceof Error)) return undefined;
  const msg = err.message;
  const where = ctx.endpoints.join(',');
  const src = ctx.access.sources ?? {};
  const t = ctx.access.tls;
  const handshake = (why: string, file?: string) =>
    new DatastoreError('TLS_HANDSHAKE', `etcd TLS handshake failed for ${where}: ${why}`, ctx.description, file);
  const detail = lastConnectError(msg);

  // The server's certificate does not chain to a CA we trust (RFC 5280 §6).
  if (/unable to verify the first certificate|unable to get local issuer certificate|self[- ]signed certificate|certificate signature failure|UNABLE_TO_VERIFY_LEAF_SIGNATURE/i.test(msg)) {
    const trusted = t?.caCertFile !== undefined
      ? `the CA in ${t.caCertFile} (${src.caCert}) did not sign it`
      : `it is not signed by a CA the system trusts; give the etcd CA with --${ETCD_ACCESS_FLAGS.caCert} FILE or ${ETCD_ENV.caCert}`;
    return handshake(`certificate signed by unknown authority (${detail}): ${trusted}`, t?.caCertFile);
  }
  if (/certificate has expired|certificate is not yet valid/i.test(msg)) {
    return handshake(`the server's certificate is outside its validity period (${detail})`);
  }
  // RFC 6125 §6: the endpoint's name or address must be in the certificate's subjectAltName.
  if (/does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/i.test(msg)) {
    return handshake(`the server's certificate is not valid for this address (${detail}); connect by a name or IP in its subjectAltName`);
  }
  // The server refused our certificate (or its absence): RFC 8446 §6.2 alerts bad_certificate (42),
  // unknown_ca (48), certificate_required (116), certificate_expired (45), certificate_unknown (46).
  if (/alert (bad certificate|unknown ca|certificate required|certificate expired|certificate unknown|handshake failure)|SSL alert number (40|42|45|46|48|116)\b/i.test(msg)) {
    if (t?.certFile === undefined) {
      return handshake(`the server requires a client certificate (${detail}): give --${ETCD_ACCESS_FLAGS.cert} FILE and --${ETCD_ACCESS_FLAGS.key} FILE, or set ${ETCD_ENV.cert} and ${ETCD_ENV.key}`);
    }
    return handshake(`the server rejected the client certificate ${t.certFile} (${src.cert}) (${detail}): it must be signed by a CA in the server's --trusted-ca-file and be valid for client authentication`, t.certFile);
  }
  // An https:// endpoint that does not speak TLS.
  if (/wrong version number|packet length too long|disconnected before secure TLS connection|unknown protocol/i.test(msg)) {
    return handshake(`the server did not answer with TLS (${detail}); is it serving plain http:// on that port?`);
  }
  // etcd authentication (etcd v3 Authenticate; the token then goes with every call).
  const user = ctx.access.auth?.username;
  const pwFrom = ctx.access.auth?.passwordFile !== undefined ? `the password in ${ctx.access.auth.passwordFile} (${src.passwordFile})` : `the password in ${src.password ?? 'the environment'}`;
  if (/authentication failed, invalid user ID or password/i.test(msg)) {
    return new DatastoreError('AUTH_FAILED', `etcd authentication failed for user '${user}' at ${where}: wrong user name or password (${pwFrom})`, ctx.description, ctx.access.auth?.passwordFile);
  }
  if (/authentication is not enabled/i.test(msg)) {
    return new DatastoreError('AUTH_FAILED', `etcd at ${where} does not have authentication enabled, but user '${user}' is configured (${src.username}); drop the user name and password or run 'etcdctl auth enable'`, ctx.description);
  }
  if (/user name is empty|user name not found|invalid auth token/i.test(msg) && user === undefined) {
    return new DatastoreError('AUTH_FAILED', `etcd at ${where} requires authentication: give --${ETCD_ACCESS_FLAGS.username} NAME and --${ETCD_ACCESS_FLAGS.passwordFile} FILE (or set ${ETCD_ENV.username} and ${ETCD_ENV.passwordFile})`, ctx.description);
  }
  if (/permission denied/i.test(msg) || err.constructor?.name === 'EtcdPermissionDeniedError') {
    if (user === undefined) {
      return new DatastoreError('PERMISSION_DENIED', `etcd at ${where} denied access to ${ctx.prefix}: authentication is enabled there; give --${ETCD_ACCESS_FLAGS.username} NAME and --${ETCD_ACCESS_FLAGS.passwordFile} FILE (or a client certificate whose CN is an etcd user with access)`, ctx.description);
    }
    return new DatastoreError('PERMISSION_DENIED', `etcd user '${user}' may not read and write ${ctx.prefix} at ${where}: grant it a role with 'etcdctl role grant-permission ROLE --prefix=true readwrite ${ctx.prefix}'`, ctx.description);
  }
  return undefined;
}
