// Typed errors of the cluster layer: resource validation, selector syntax, IPAM and datastore
// failures. Each carries the fields an operator needs to find the problem (file, document,
// field, position, pool, node) and a stable `code` that callers and tests can match on.
// No RFC: error types.

/** Where a resource came from: a file (or "-"/"etcd") and the 1-based document index in it. */
export interface ResourceOrigin {
  file: string;
  /** 1-based index of the YAML/JSON document in the file; 0 when not from a multi-document source. */
  document: number;
}

/** One problem with one field of one resource. */
export interface ResourceProblem {
  origin: ResourceOrigin;
  /** Kind and name when they could be read ("BGPPeer/rack-a-tor"), else "". */
  resource: string;
  /** Dotted path of the field, e.g. "spec.asNumber" or "spec.podCIDRs[1]". */
  field: string;
  message: string;
}

export function formatProblem(p: ResourceProblem): string {
  const where = p.origin.document > 0 ? `${p.origin.file}: document ${p.origin.document}` : p.origin.file;
  const what = p.resource ? ` (${p.resource})` : '';
  const field = p.field ? `: ${p.field}` : '';
  return `${where}${what}${field}: ${p.message}`;
}

/** A set of resources failed validation; nothing of it was applied. */
export class ResourceError extends Error {
  readonly code = 'INVALID_RESOURCE';
  constructor(readonly problems: ResourceProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ResourceError';
  }
}

/** A selector expression could not be parsed; `position` is the 0-based offset of the fault. */
export class SelectorError extends Error {
  readonly code = 'INVALID_SELECTOR';
  constructor(readonly selector: string, readonly position: number, readonly reason: string) {
    super(`${reason} at position ${position} in selector "${selector}"`);
    this.name = 'SelectorError';
  }
}

export type IpamErrorCode =
  | 'POOL_EXHAUSTED'      // no free block left in a pool
  | 'BLOCK_CONFLICT'      // a pinned block is held by another node
  | 'BLOCK_NOT_IN_POOL'   // a pinned block lies in no enabled pool
  | 'NO_POOL'             // no enabled pool applies to the node
  | 'UNKNOWN_NODE'        // the node has no Node resource
  | 'CLAIM_CONTENTION';   // too many lost create-if-absent races in a row

export class IpamError extends Error {
  constructor(readonly code: IpamErrorCode, message: string, readonly node?: string, readonly pool?: string, readonly block?: string) {
    super(message);
    this.name = 'IpamError';
  }
}

export type DatastoreErrorCode =
  | 'BAD_DATASTORE_SPEC'  // --datastore / NEXTHOP_DATASTORE not understood
  | 'UNAVAILABLE'         // the backend could not be reached within the deadline
  | 'LOCKED'              // the file datastore's lock could not be taken in time
  | 'CORRUPT_STATE'       // a stored value could not be decoded
  | 'NOT_FOUND'           // delete/get of a resource that does not exist
  | 'READ_ONLY'           // write attempted where the backend does not allow it
  | 'CLOSED'              // used after close()
  | 'CREDENTIALS_FILE'    // an etcd CA/certificate/key/password file is unreadable, not PEM, or not a pair
  | 'TLS_HANDSHAKE'       // the etcd server's certificate was not trusted, or the server refused ours
  | 'AUTH_FAILED'         // etcd rejected the user name/password, or wants credentials we did not give
  | 'PERMISSION_DENIED';  // etcd authenticated us but the user's roles do not cover the key prefix

export class DatastoreError extends Error {
  /** `file`: the credentials file at fault (CREDENTIALS_FILE, TLS_HANDSHAKE, AUTH_FAILED), when there is one. */
  constructor(readonly code: DatastoreErrorCode, message: string, readonly backend?: string, readonly file?: string) {
    super(message);
    this.name = 'DatastoreError';
  }
}
