// Opens a datastore from its textual spec, as given to `--datastore` or NEXTHOP_DATASTORE:
// "etcd:http://10.0.0.1:2379[,http://10.0.0.2:2379]" (optionally "etcd:URL?prefix=/x/"),
// "etcd:https://..." with TLS, "etcd:" (endpoints from ETCD_ENDPOINTS, Calico's variable) or
// "file:/path/to/cluster.yaml". With no spec and no NEXTHOP_DATASTORE, ETCD_ENDPOINTS alone
// selects etcd. etcd TLS files and user/password come from flags over ETCD_* variables
// (etcd-security.ts). No RFC.

import { Datastore } from './datastore';
import type { EtcdOptions } from './etcd';
import { FileDatastore, FileOptions } from './file';
import { DatastoreError } from './errors';
import { EtcdAccessFlags, ETCD_ACCESS_FLAGS, ETCD_ENV, checkEtcdAccess, resolveEtcdAccess } from './etcd-security';

export type DatastoreSpec =
  | { type: 'etcd'; endpoints: string[]; prefix?: string }
  | { type: 'file'; path: string };

export const DATASTORE_ENV = 'NEXTHOP_DATASTORE';

/**
 * Parses a datastore spec; throws DatastoreError BAD_DATASTORE_SPEC naming what is wrong.
 * "etcd:" without URLs takes them from $ETCD_ENDPOINTS (comma-separated, as Calico's).
 */
export function parseDatastoreSpec(text: string, env: NodeJS.ProcessEnv = process.env): DatastoreSpec {
  const bad = (why: string) => new DatastoreError('BAD_DATASTORE_SPEC', `datastore '${text}': ${why} (expected etcd:http(s)://HOST:PORT[,URL...] or file:PATH)`);
  const colon = text.indexOf(':');
  if (colon < 0) throw bad('no backend type');
  const type = text.slice(0, colon);
  let rest = text.slice(colon + 1);
  if (type === 'file') {
    if (rest.startsWith('//')) rest = rest.slice(2);
    if (rest === '') throw bad('no file path');
    return { type: 'file', path: rest };
  }
  if (type === 'etcd') {
    let prefix: string | undefined;
    const q = rest.indexOf('?');
    if (q >= 0) {
      const params = new URLSearchParams(rest.slice(q + 1));
      for (const k of params.keys()) if (k !== 'prefix') throw bad(`unknown parameter '${k}'`);
      prefix = params.get('prefix') ?? undefined;
      if (prefix !== undefined && !prefix.startsWith('/')) throw bad('prefix must start with /');
      rest = rest.slice(0, q);
    }
    let from = '';
    if (rest === '' && env[ETCD_ENV.endpoints]) {
      rest = env[ETCD_ENV.endpoints]!;
      from = ` (from ${ETCD_ENV.endpoints})`;
    }
    const endpoints = rest.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (endpoints.length === 0) throw bad(`no endpoint: give etcd:URL[,URL...] or set ${ETCD_ENV.endpoints}`);
    for (const e of endpoints) {
      if (!/^https?:\/\//.test(e)) throw bad(`'${e}'${from} must be http:// or https://`);
      let u: URL;
      try { u = new URL(e); } catch { throw bad(`'${e}'${from} is not a URL`); }
      if (!u.port) throw bad(`'${e}'${from} has no port`);
    }
    // One TLS setting serves every endpoint of a client: all https:// or all http://.
    const secure = endpoints.filter((e) => e.startsWith('https://')).length;
    if (secure > 0 && secure < endpoints.length) throw bad(`endpoints${from} mix http:// and https://; use one scheme for all`);
    return { type: 'etcd', endpoints, prefix };
  }
  throw bad(`unknown backend '${type}'`);
}

/**
 * The spec text to use: `spec`, else $NEXTHOP_DATASTORE, else "etcd:" when $ETCD_ENDPOINTS is
 * set; undefined when there is none.
 */
export function datastoreSpecText(spec: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return spec ?? (env[DATASTORE_ENV] || undefined) ?? (env[ETCD_ENV.endpoints] ? 'etcd:' : undefined);
}

export interface OpenOptions {
  etcd?: EtcdOptions;
  file?: FileOptions;
  /** etcd TLS files and user/password file from the command line; ETCD_* variables fill the gaps. */
  etcdAccess?: EtcdAccessFlags;
  /** Where ETCD_* and NEXTHOP_DATASTORE are read; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Creates (does not load) the datastore named by `spec` or, when undefined, by
 * $NEXTHOP_DATASTORE / $ETCD_ENDPOINTS. Throws DatastoreError: BAD_DATASTORE_SPEC (spec or
 * flag combination), CREDENTIALS_FILE (a TLS or password file that cannot be used).
 */
export function openDatastore(spec: string | undefined, options: OpenOptions = {}): Datastore {
  const env = options.env ?? process.env;
  const text = datastoreSpecText(spec, env);
  if (!text) throw new DatastoreError('BAD_DATASTORE_SPEC', `no datastore: give --datastore etcd:URL or --datastore file:PATH, or set ${DATASTORE_ENV} (or ${ETCD_ENV.endpoints})`);
  const s = parseDatastoreSpec(text, env);
  if (s.type === 'etcd') {
    const access = options.etcd?.access ?? resolveEtcdAccess(options.etcdAccess, env);
    checkEtcdAccess(s.endpoints, access);
    // Loaded on demand: the gRPC stack costs a few hundred ms of start-up that file users skip.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { EtcdDatastore } = require('./etcd') as typeof import('./etcd');
    return new EtcdDatastore(s.endpoints, { ...options.etcd, access, prefix: s.prefix ?? options.etcd?.prefix });
  }
  const given = Object.entries(options.etcdAccess ?? {}).filter(([, v]) => v !== undefined && v !== '');
  if (given.length > 0) {
    const flag = ETCD_ACCESS_FLAGS[given[0][0] as keyof typeof ETCD_ACCESS_FLAGS];
    throw new DatastoreError('BAD_DATASTORE_SPEC', `--${flag} applies to an etcd datastore, but the datastore is ${text}`);
  }
  return new FileDatastore(s.path, options.file);
}
