// Shared plumbing of the cluster CLI commands (apply, get, delete, ipam): the datastore flags
// (--datastore and the etcd TLS/auth flags), opening the datastore they name (or
// NEXTHOP_DATASTORE / ETCD_* variables), turning the cluster layer's typed errors into one
// precise message and exit status 1, and closing the datastore in every case. No RFC.

import { Datastore } from './datastore';
import { openDatastore, DATASTORE_ENV } from './open';
import { DatastoreError, IpamError, ResourceError, SelectorError } from './errors';
import { EtcdAccessFlags, ETCD_ACCESS_FLAGS, ETCD_ENV } from './etcd-security';
import { UsageError } from '../cli/usage';

/** The parseFlags spec of the datastore flags; spread it into a command's own spec. */
export const DATASTORE_FLAGS = {
  datastore: 'string',
  [ETCD_ACCESS_FLAGS.caCert]: 'string',
  [ETCD_ACCESS_FLAGS.cert]: 'string',
  [ETCD_ACCESS_FLAGS.key]: 'string',
  [ETCD_ACCESS_FLAGS.username]: 'string',
  [ETCD_ACCESS_FLAGS.passwordFile]: 'string',
} as const;

export const DATASTORE_HELP = `  --datastore SPEC   etcd:http(s)://HOST:PORT[,URL...][?prefix=/nexthop/v1/], etcd: (URLs from
                     $${ETCD_ENV.endpoints}) or file:PATH (a YAML file); default: $${DATASTORE_ENV}
  --${ETCD_ACCESS_FLAGS.caCert} FILE
                     CA of the etcd server's certificate (default: $${ETCD_ENV.caCert}, else system CAs)
  --${ETCD_ACCESS_FLAGS.cert} FILE, --${ETCD_ACCESS_FLAGS.key} FILE
                     etcd client certificate and its key (default: $${ETCD_ENV.cert}, $${ETCD_ENV.key})
  --${ETCD_ACCESS_FLAGS.username} NAME, --${ETCD_ACCESS_FLAGS.passwordFile} FILE
                     etcd user, and a file holding its password (default: $${ETCD_ENV.username},
                     $${ETCD_ENV.passwordFile}, else the password in $${ETCD_ENV.password})`;

/** The etcd access flags out of parsed flags (absent ones stay undefined). */
export function etcdAccessFlags(flags: Record<string, unknown>): EtcdAccessFlags {
  const get = (name: string): string | undefined => (typeof flags[name] === 'string' ? flags[name] as string : undefined);
  return {
    caCert: get(ETCD_ACCESS_FLAGS.caCert),
    cert: get(ETCD_ACCESS_FLAGS.cert),
    key: get(ETCD_ACCESS_FLAGS.key),
    username: get(ETCD_ACCESS_FLAGS.username),
    passwordFile: get(ETCD_ACCESS_FLAGS.passwordFile),
  };
}

/**
 * Runs `fn` with the datastore named by `flags` (DATASTORE_FLAGS) open; typed errors become
 * "nexthop CMD: message" and status 1; a bad spec or flag combination is a UsageError.
 */
export async function withDatastore(cmd: string, flags: Record<string, unknown>, usage: string, fn: (ds: Datastore) => Promise<number>): Promise<number> {
  let ds: Datastore;
  try {
    ds = openDatastore(flags.datastore as string | undefined, { etcd: { callTimeoutMs: 5000, dialTimeoutMs: 3000 }, etcdAccess: etcdAccessFlags(flags) });
  } catch (e) {
    if (e instanceof DatastoreError && e.code === 'BAD_DATASTORE_SPEC') throw new UsageError(e.message, usage);
    if (e instanceof DatastoreError) {
      // A certificate, key or password file that cannot be used: named in the message.
      process.stderr.write(`nexthop ${cmd}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  try {
    return await fn(ds);
  } catch (e) {
    if (e instanceof ResourceError || e instanceof IpamError || e instanceof DatastoreError || e instanceof SelectorError) {
      process.stderr.write(`nexthop ${cmd}: ${e.message}\n`);
      return 1;
    }
    const err = e as Error & { code?: string };
    // gRPC/etcd failures: say which datastore, not a stack trace.
    if (/etcd|grpc|unavailable|deadline|ECONNREFUSED/i.test(`${err.name} ${err.message}`)) {
      process.stderr.write(`nexthop ${cmd}: ${ds.description}: ${err.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    await ds.close();
  }
}
