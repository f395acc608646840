// Shared plumbing of the cluster CLI commands (apply, get, delete, ipam): opening the datastore
// named by --datastore or NEXTHOP_DATASTORE, turning the cluster layer's typed errors into one
// precise message and exit status 1, and closing the datastore in every case. No RFC.

import { Datastore } from './datastore';
import { openDatastore, DATASTORE_ENV } from './open';
import { DatastoreError, IpamError, ResourceError, SelectorError } from './errors';
import { UsageError } from '../cli/usage';

export const DATASTORE_HELP = `  --datastore SPEC   etcd:http://HOST:PORT[,http://HOST:PORT...][?prefix=/nexthop/v1/]
                     or file:PATH (a YAML file); default: $${DATASTORE_ENV}`;

/** Runs `fn` with the datastore open; typed errors become "nexthop CMD: message" and status 1. */
export async function withDatastore(cmd: string, spec: string | undefined, usage: string, fn: (ds: Datastore) => Promise<number>): Promise<number> {
  let ds: Datastore;
  try {
    ds = openDatastore(spec, { etcd: { callTimeoutMs: 5000, dialTimeoutMs: 3000 } });
  } catch (e) {
    if (e instanceof DatastoreError && e.code === 'BAD_DATASTORE_SPEC') throw new UsageError(e.message, usage);
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
