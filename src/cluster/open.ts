// Opens a datastore from its textual spec, as given to `--datastore` or NEXTHOP_DATASTORE:
// "etcd:http://10.0.0.1:2379[,http://10.0.0.2:2379]" (optionally "etcd:URL?prefix=/x/") or
// "file:/path/to/cluster.yaml". No RFC.

import { Datastore } from './datastore';
import type { EtcdOptions } from './etcd';
import { FileDatastore, FileOptions } from './file';
import { DatastoreError } from './errors';

export type DatastoreSpec =
  | { type: 'etcd'; endpoints: string[]; prefix?: string }
  | { type: 'file'; path: string };

export const DATASTORE_ENV = 'NEXTHOP_DATASTORE';

/** Parses a datastore spec; throws DatastoreError BAD_DATASTORE_SPEC naming what is wrong. */
export function parseDatastoreSpec(text: string): DatastoreSpec {
  const bad = (why: string) => new DatastoreError('BAD_DATASTORE_SPEC', `datastore '${text}': ${why} (expected etcd:http://HOST:PORT[,URL...] or file:PATH)`);
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
    const endpoints = rest.split(',').filter((s) => s !== '');
    if (endpoints.length === 0) throw bad('no endpoint');
    for (const e of endpoints) {
      if (!/^https?:\/\//.test(e)) throw bad(`'${e}' must be http:// or https://`);
      let u: URL;
      try { u = new URL(e); } catch { throw bad(`'${e}' is not a URL`); }
      if (!u.port) throw bad(`'${e}' has no port`);
    }
    return { type: 'etcd', endpoints, prefix };
  }
  throw bad(`unknown backend '${type}'`);
}

/** Creates (does not load) the datastore named by `spec` or, when undefined, by $NEXTHOP_DATASTORE. */
export function openDatastore(spec: string | undefined, options: { etcd?: EtcdOptions; file?: FileOptions } = {}): Datastore {
  const text = spec ?? process.env[DATASTORE_ENV];
  if (!text) throw new DatastoreError('BAD_DATASTORE_SPEC', `no datastore: give --datastore etcd:URL or --datastore file:PATH, or set ${DATASTORE_ENV}`);
  const s = parseDatastoreSpec(text);
  if (s.type === 'etcd') {
    // Loaded on demand: the gRPC stack costs a few hundred ms of start-up that file users skip.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { EtcdDatastore } = require('./etcd') as typeof import('./etcd');
    return new EtcdDatastore(s.endpoints, { ...options.etcd, prefix: s.prefix ?? options.etcd?.prefix });
  }
  return new FileDatastore(s.path, options.file);
}
