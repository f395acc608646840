// Public API of the cluster layer (resources, datastores, IPAM, desired peers) for agent/, cli/
// and speaker/. See src/cluster/README.md for the key layout and defaults.
// No RFC: re-exports only.

export * from './errors';
export * from './selector';
export * from './resources';
export * from './keys';
export * from './state';
export * from './kv';
export * from './ipam';
export * from './peers';
export * from './datastore';
export { EtcdDatastore, EtcdKv, EtcdOptions } from './etcd';
export { FileDatastore, FileKv, FileOptions } from './file';
export * from './open';
