// The small transactional key/value contract that IPAM and resource writes are built on, so the
// same claim logic runs against etcd (a Txn with Create-revision and Value compares) and
// against the file backend (read-check-write of the state file under its lock). Keys are
// relative to the backend's prefix (see keys.ts).
// No RFC: a storage contract.

/** A compare-and-swap: all conditions hold → all operations happen, atomically; else nothing. */
export interface KvTxn {
  /** Keys that must not exist. */
  absent?: string[];
  /** Keys that must exist with exactly this value. */
  equal?: [key: string, value: string][];
  /**
   * Writes. A third element attaches the key to that etcd lease (its ID, from the backend's
   * liveness grant): the key goes when the lease expires. Backends without leases ignore it.
   */
  put?: [key: string, value: string, lease?: string][];
  del?: string[];
}

export interface KvStore {
  /** Every entry whose key starts with `prefix`. */
  list(prefix: string): Promise<Map<string, string>>;
  /** Only the keys under `prefix` (cheaper on etcd: no values transferred). */
  listKeys(prefix: string): Promise<string[]>;
  get(key: string): Promise<string | undefined>;
  /** Runs the transaction; true when its conditions held and its operations were applied. */
  txn(t: KvTxn): Promise<boolean>;
}
