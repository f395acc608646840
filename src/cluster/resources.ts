// Cluster resources: BGPConfiguration, BGPPeer, IPPool and Node with Calico v3 field names
// (apiVersion projectcalico.org/v3 or nexthop.io/v1), parsed from multi-document YAML or JSON
// and validated field by field. Every problem names the file, the document, the resource and
// the field; unknown fields and impossible values are rejected before anything is applied.
// Cross-resource checks (pools overlapping, pinned blocks outside pools or held twice,
// duplicate names) are in validateSet(). Fields of Calico's projectcalico.org/v3 API that
// nexthop does not act on (CALICO_UNUSED_FIELDS) are accepted with a warning naming file,
// document and field, so a Calico user's YAML reads unchanged; other fields are rejected.
// Pure: no I/O.
//
// Protocol limits cited where they apply: RFC 6793 (4-octet AS numbers, AS_TRANS), RFC 5082
// (GTSM hop counts), RFC 4724 §4.2 (restart time), RFC 1997 / RFC 8092 (community formats).

import * as YAML from 'yaml';
import { parseCidr, parseIP, formatCidr, canonicalIP, cidrContains, cidrsOverlap, Cidr } from '../lib/ip';
import { ResourceError, ResourceProblem, ResourceOrigin } from './errors';
import { parseSelector } from './selector';
import { SelectorError } from './errors';

export const API_VERSIONS = ['nexthop.io/v1', 'projectcalico.org/v3'] as const;
export const DEFAULT_API_VERSION = 'nexthop.io/v1';

export type Kind = 'BGPConfiguration' | 'BGPPeer' | 'IPPool' | 'Node';
export const KINDS: Kind[] = ['BGPConfiguration', 'BGPPeer', 'IPPool', 'Node'];

/** Defaults (documented in src/cluster/README.md). */
export const DEFAULT_AS_NUMBER = 64512;
export const DEFAULT_LISTEN_PORT = 179;
export const DEFAULT_BLOCK_SIZE_V4 = 24;
export const DEFAULT_BLOCK_SIZE_V6 = 120;
export const DEFAULT_BGP_PORT = 179;

export interface Metadata {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface Community { name: string; value: string }

export interface BGPConfigurationSpec {
  asNumber?: number;
  nodeToNodeMeshEnabled?: boolean;
  listenPort?: number;
  logSeverityScreen?: LogSeverity;
  communities?: Community[];
  /**
   * Calico nodeMeshMaxRestartTime: the graceful restart time (seconds; written as a Go duration
   * such as "120s") offered for node-to-node mesh sessions (RFC 4724 §3 Restart Time). Only in
   * the BGPConfiguration named "default", as in Calico.
   */
  nodeMeshMaxRestartTime?: number;
}
export type LogSeverity = 'Debug' | 'Info' | 'Warning' | 'Error' | 'Fatal';

export interface BGPPeerSpec {
  node?: string;
  nodeSelector?: string;
  peerIP?: string;        // canonical address, port split off into peerPort
  peerPort?: number;
  peerSelector?: string;
  asNumber?: number;
  password?: string;
  keepOriginalNextHop?: boolean;
  ttlSecurity?: number;
  /** Seconds (Calico writes a Go duration such as "120s" or "2m0s"). */
  maxRestartTime?: number;
  /** 'UseNodeIP' (default), 'None', or an explicit local address (our extension). */
  sourceAddress?: string;
}

export type EncapMode = 'Always' | 'CrossSubnet' | 'Never';

export interface IPPoolSpec {
  cidr: string;
  blockSize: number;
  ipipMode: EncapMode;
  vxlanMode: EncapMode;
  natOutgoing: boolean;
  disabled: boolean;
  nodeSelector: string;
  /**
   * Calico disableBGPExport: the nodes do not originate this pool's blocks into BGP (routes into
   * it are still accepted from peers and programmed). Kept only when the document gives it, so
   * pools stored before the field existed encode the same.
   */
  disableBGPExport?: boolean;
}

export interface NodeBGPSpec {
  ipv4Address?: string;   // "addr/len", canonical
  ipv6Address?: string;
  asNumber?: number;
  routeReflectorClusterID?: string;
  ipv4IPIPTunnelAddr?: string;
}

export interface NodeSpec {
  bgp?: NodeBGPSpec;
  podCIDRs?: string[];
  ipv4VXLANTunnelAddr?: string;
  vxlanTunnelMACAddr?: string;
  /** The IPv6 VTEP (RFC 7348) for IPv6 pools over VXLAN, and its MAC: the twins of the two above. */
  ipv6VXLANTunnelAddr?: string;
  vxlanTunnelMACAddrV6?: string;
}

interface Base<K extends Kind, S> {
  apiVersion: string;
  kind: K;
  metadata: Metadata;
  spec: S;
}
export type BGPConfiguration = Base<'BGPConfiguration', BGPConfigurationSpec>;
export type BGPPeer = Base<'BGPPeer', BGPPeerSpec>;
export type IPPool = Base<'IPPool', IPPoolSpec>;
export type NodeResource = Base<'Node', NodeSpec>;
export type Resource = BGPConfiguration | BGPPeer | IPPool | NodeResource;

/** A resource together with where it was read from (for error messages). */
export interface Located<R extends Resource = Resource> { resource: R; origin: ResourceOrigin }

/** The agent-written fields of a Node, kept apart from the user's spec in the datastore. */
export interface NodeStatusFields {
  ipv4IPIPTunnelAddr?: string;
  ipv4VXLANTunnelAddr?: string;
  vxlanTunnelMACAddr?: string;
  ipv6VXLANTunnelAddr?: string;
  vxlanTunnelMACAddrV6?: string;
}

// ---------------------------------------------------------------------------------------------
// Kind names as the CLI accepts them (case-insensitive, plurals and calicoctl short names).

const KIND_ALIASES: Record<string, Kind> = {
  bgpconfiguration: 'BGPConfiguration', bgpconfigurations: 'BGPConfiguration', bgpconfig: 'BGPConfiguration',
  bgpconfigs: 'BGPConfiguration', bgpc: 'BGPConfiguration',
  bgppeer: 'BGPPeer', bgppeers: 'BGPPeer', bgpp: 'BGPPeer', bgpps: 'BGPPeer', bp: 'BGPPeer', bps: 'BGPPeer',
  ippool: 'IPPool', ippools: 'IPPool', ipp: 'IPPool', ipps: 'IPPool', pool: 'IPPool', pools: 'IPPool',
  node: 'Node', nodes: 'Node', no: 'Node', nos: 'Node',
};

/** The canonical kind for a user-typed name, or null. */
export function kindFromName(name: string): Kind | null {
  return KIND_ALIASES[name.toLowerCase()] ?? null;
}

/** Plural lower-case kind used in datastore keys ("bgppeers"). */
export function kindPlural(kind: Kind): string {
  return `${kind.toLowerCase()}s`;
}

export function resourceId(r: { kind: Kind; metadata: { name: string } }): string {
  return `${r.kind}/${r.metadata.name}`;
}

// ---------------------------------------------------------------------------------------------
// Parsing.

/**
 * Parses a YAML (multi-document) or JSON text into validated resources. A JSON array or a
 * Kubernetes-style `kind: List` with `items` is also accepted. Throws ResourceError listing
 * every problem found (not only the first). With crossChecks false, only duplicates within the
 * text are checked across documents (Datastore.apply checks the merged set).
 */
export function parseResources(text: string, file: string, opts: ParseOptions = {}): Located[] {
  const problems: ResourceProblem[] = [];
  const out: Located[] = [];
  let docs: YAML.Document.Parsed[];
  try {
    docs = YAML.parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true }) as YAML.Document.Parsed[];
    if (!Array.isArray(docs)) docs = [docs as unknown as YAML.Document.Parsed];
  } catch (e) {
    throw new ResourceError([{ origin: { file, document: 0 }, resource: '', field: '', message: `not YAML/JSON: ${(e as Error).message}` }]);
  }
  let index = 0;
  for (const doc of docs) {
    index++;
    const origin = { file, document: index };
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        problems.push({ origin, resource: '', field: '', message: `YAML syntax: ${err.message.split('\n')[0]}` });
      }
      continue;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue; // empty document (e.g. trailing '---')
    // A list: a JSON array, a Kubernetes `kind: List`, or what `calicoctl get KIND -o yaml` prints
    // (`kind: IPPoolList` etc., with its own list metadata, which is ignored).
    const isList = isObject(value) && Array.isArray(value.items) &&
      (value.kind === 'List' || (typeof value.kind === 'string' && (KINDS as string[]).includes(value.kind.replace(/List$/, '')) && value.kind.endsWith('List')));
    const items = Array.isArray(value) ? value : isList ? (value.items as unknown[]) : [value];
    for (const item of items) {
      const r = validateResource(item, origin, problems, opts.warnings);
      if (r) out.push({ resource: r, origin });
    }
  }
  if (problems.length > 0) throw new ResourceError(problems);
  // Cross-resource checks need the whole set: on for a complete file (the file datastore), off
  // when the documents are merged with a datastore's resources first (Datastore.apply).
  if (opts.crossChecks ?? true) validateSet(out);
  else {
    const dup = duplicateProblems(out);
    if (dup.length > 0) throw new ResourceError(dup);
  }
  return out;
}

export interface ParseOptions {
  /** Cross-resource checks over the parsed set (default true); see parseResources. */
  crossChecks?: boolean;
  /**
   * Receives one entry per Calico v3 field that was accepted but is not used by nexthop
   * (file, document, resource and field named), for the caller to print or log.
   */
  warnings?: ResourceProblem[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Fields of Calico's projectcalico.org/v3 resources (API of Calico 3.2x–3.3x: the Go types in
 * github.com/projectcalico/api pkg/apis/projectcalico/v3 and docs.tigera.io reference pages)
 * that nexthop reads without acting on them. Keyed by kind and the path of the enclosing
 * mapping ("spec", "spec.bgp"). A document that uses one is accepted with a warning.
 */
export const CALICO_UNUSED_FIELDS: Readonly<Record<Kind, Readonly<Record<string, readonly string[]>>>> = {
  BGPConfiguration: {
    spec: ['serviceClusterIPs', 'serviceExternalIPs', 'serviceLoadBalancerIPs', 'serviceLoadBalancerAggregation',
      'prefixAdvertisements', 'nodeMeshPassword', 'bindMode', 'ignoredInterfaces',
      'localWorkloadPeeringIPV4', 'localWorkloadPeeringIPV6', 'programClusterRoutes'],
  },
  BGPPeer: {
    spec: ['filters', 'numAllowedLocalASNumbers', 'reachableBy', 'failureDetectionMode', 'restartMode',
      'birdGatewayMode', 'keepaliveTime', 'localWorkloadSelector', 'nextHopMode', 'reversePeering', 'localASNumber'],
  },
  IPPool: {
    // 'ipip' and 'nat-outgoing' are the deprecated v1-style spellings Calico's v3 type still carries.
    spec: ['allowedUses', 'assignmentMode', 'namespaceSelector', 'ipip', 'nat-outgoing'],
  },
  Node: {
    spec: ['orchRefs', 'addresses', 'wireguard'],
  },
};

/** Collects problems (and warnings) for one document while validating it. */
class Checker {
  constructor(readonly origin: ResourceOrigin, readonly problems: ResourceProblem[], public resource = '',
    readonly warnings: ResourceProblem[] = []) {}
  bad(field: string, message: string): undefined {
    this.problems.push({ origin: this.origin, resource: this.resource, field, message });
    return undefined;
  }
  warn(field: string, message: string): void {
    this.warnings.push({ origin: this.origin, resource: this.resource, field, message });
  }
  /**
   * Reports keys of `obj` not in `allowed` as problems, except the Calico v3 fields nexthop
   * does not use (`calicoUnused`), which are warnings.
   */
  onlyKeys(obj: Record<string, unknown>, allowed: string[], at: string, calicoUnused: readonly string[] = []): void {
    for (const k of Object.keys(obj)) {
      if (allowed.includes(k)) continue;
      const field = at ? `${at}.${k}` : k;
      if (calicoUnused.includes(k)) this.warn(field, 'Calico v3 field accepted but not used by nexthop (ignored)');
      else this.bad(field, `unknown field (allowed: ${allowed.join(', ')}; Calico fields accepted but not used: ${calicoUnused.length > 0 ? calicoUnused.join(', ') : 'none'})`);
    }
  }
  object(v: unknown, field: string): Record<string, unknown> | undefined {
    if (v === undefined || v === null) return undefined;
    if (!isObject(v)) return this.bad(field, `must be a mapping, got ${describe(v)}`);
    return v;
  }
  string(v: unknown, field: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') return this.bad(field, `must be a string, got ${describe(v)}`);
    return v;
  }
  bool(v: unknown, field: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') return this.bad(field, `must be true or false, got ${describe(v)}`);
    return v;
  }
  int(v: unknown, field: string, min: number, max: number): number | undefined {
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) return this.bad(field, `must be an integer, got ${describe(v)}`);
    if (n < min || n > max) return this.bad(field, `${n} is out of range ${min}..${max}`);
    return n;
  }
  stringMap(v: unknown, field: string): Record<string, string> {
    const o = this.object(v, field);
    const out: Record<string, string> = {};
    if (!o) return out;
    for (const [k, val] of Object.entries(o)) {
      if (typeof val !== 'string') this.bad(`${field}.${k}`, `must be a string, got ${describe(val)}`);
      else out[k] = val;
    }
    return out;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** RFC 1123 DNS subdomain, which Calico requires for resource names. */
const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** RFC 6793 §2: AS numbers are 4 octets; 0 is reserved (RFC 7607) and 23456 is AS_TRANS. */
function checkAsn(c: Checker, v: unknown, field: string): number | undefined {
  // Calico also accepts asdot notation "1.10" (RFC 5396) = 1 * 65536 + 10.
  if (typeof v === 'string' && /^\d+\.\d+$/.test(v)) {
    const [hi, lo] = v.split('.').map(Number);
    if (hi > 65535 || lo > 65535) return c.bad(field, `asdot ${v} is out of range (each half 0..65535)`);
    v = hi * 65536 + lo;
  }
  const n = c.int(v, field, 1, 4294967295);
  if (n === 23456) return c.bad(field, '23456 is AS_TRANS (RFC 6793 §2) and cannot be a configured AS number');
  return n;
}

function checkSelector(c: Checker, v: unknown, field: string): string | undefined {
  const s = c.string(v, field);
  if (s === undefined) return undefined;
  try {
    parseSelector(s);
    return s;
  } catch (e) {
    if (e instanceof SelectorError) return c.bad(field, e.message);
    throw e;
  }
}

/** "addr" or "addr/len" → canonical "addr/len" (host bits allowed: it is an interface address). */
function checkInterfaceAddress(c: Checker, v: unknown, field: string, family: 4 | 6): string | undefined {
  const s = c.string(v, field);
  if (s === undefined) return undefined;
  const text = s.includes('/') ? s : `${s}/${family === 4 ? 32 : 128}`;
  const slash = text.indexOf('/');
  const addr = parseIP(text.slice(0, slash));
  const cidr = parseCidr(text, false);
  if (!addr || !cidr) return c.bad(field, `'${s}' is not an IPv${family} address with optional /prefix-length`);
  if (cidr.family !== family) return c.bad(field, `'${s}' is not an IPv${family} address`);
  return `${canonicalIP(text.slice(0, slash))}/${cidr.length}`;
}

function checkAddress(c: Checker, v: unknown, field: string, family?: 4 | 6): string | undefined {
  const s = c.string(v, field);
  if (s === undefined) return undefined;
  const b = parseIP(s);
  if (!b || (family && b.length !== (family === 4 ? 4 : 16))) return c.bad(field, `'${s}' is not an IPv${family ?? '4 or IPv6'} address`);
  return canonicalIP(s)!;
}

/**
 * Go duration (time.ParseDuration units h, m, s, ms, us/µs, ns: "120s", "2m0s", "1h", "1.5m"), or
 * a bare number of seconds → whole seconds (rounded). No sign: a restart time is never negative.
 */
export function parseDuration(text: string): number | null {
  if (/^\d+$/.test(text)) return Number(text);
  const re = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|μs|ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index !== consumed) return null;
    consumed = m.index + m[0].length;
    const n = Number(m[1]);
    const unit = m[2];
    total += unit === 'h' ? n * 3600 : unit === 'm' ? n * 60 : unit === 's' ? n : unit === 'ms' ? n / 1e3 : unit === 'ns' ? n / 1e9 : n / 1e6;
  }
  if (consumed !== text.length || consumed === 0) return null;
  return Math.round(total);
}

/** A graceful restart time: a Go duration ("120s", "2m0s") or whole seconds → seconds. */
function checkRestartTime(c: Checker, v: unknown, field: string): number | undefined {
  const secs = typeof v === 'number' && Number.isInteger(v) ? v : typeof v === 'string' ? parseDuration(v) : null;
  if (secs === null) return c.bad(field, `${describe(v)} is not a duration such as "120s" or "2m0s"`);
  // RFC 4724 §3: Restart Time is a 12-bit field (0..4095 seconds).
  if (secs < 0 || secs > 4095) return c.bad(field, `${secs}s is out of range 0..4095 s (RFC 4724 §3 Restart Time is 12 bits)`);
  return secs;
}

function checkEncap(c: Checker, v: unknown, field: string): EncapMode | undefined {
  const s = c.string(v, field);
  if (s === undefined) return undefined;
  const m = (['Always', 'CrossSubnet', 'Never'] as const).find((x) => x.toLowerCase() === s.toLowerCase());
  if (!m) return c.bad(field, `'${s}' is not one of Always, CrossSubnet, Never`);
  return m;
}

/** Validates one decoded document; returns the normalized resource or undefined (problems noted). */
export function validateResource(doc: unknown, origin: ResourceOrigin, problems: ResourceProblem[], warnings: ResourceProblem[] = []): Resource | undefined {
  // Warnings of a document that turns out invalid are dropped: its problems are what matter.
  const mine: ResourceProblem[] = [];
  const c = new Checker(origin, problems, '', mine);
  if (!isObject(doc)) return c.bad('', `a resource must be a mapping with apiVersion, kind, metadata, spec; got ${describe(doc)}`);
  const kindText = c.string(doc.kind, 'kind');
  const kind = kindText === undefined ? undefined : KINDS.find((k) => k === kindText);
  const name = isObject(doc.metadata) && typeof doc.metadata.name === 'string' ? doc.metadata.name : '';
  c.resource = `${kindText ?? '?'}/${name || '?'}`;
  if (kindText === undefined) return c.bad('kind', `missing; one of ${KINDS.join(', ')}`);
  if (!kind) return c.bad('kind', `'${kindText}' is not one of ${KINDS.join(', ')}`);
  c.onlyKeys(doc, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], '');
  const apiVersion = c.string(doc.apiVersion, 'apiVersion');
  if (apiVersion === undefined) c.bad('apiVersion', `missing; one of ${API_VERSIONS.join(', ')}`);
  else if (!(API_VERSIONS as readonly string[]).includes(apiVersion)) c.bad('apiVersion', `'${apiVersion}' is not one of ${API_VERSIONS.join(', ')}`);
  const before = problems.length;
  const metadata = checkMetadata(c, doc.metadata, kind);
  const specRaw = doc.spec === undefined ? {} : c.object(doc.spec, 'spec') ?? {};
  let spec: unknown;
  switch (kind) {
    case 'BGPConfiguration': spec = checkBgpConfiguration(c, specRaw, name); break;
    case 'BGPPeer': spec = checkBgpPeer(c, specRaw); break;
    case 'IPPool': spec = checkIpPool(c, specRaw); break;
    case 'Node': spec = checkNode(c, specRaw); break;
  }
  if (problems.length > before || !metadata || !spec) return undefined;
  warnings.push(...mine);
  return { apiVersion: apiVersion ?? DEFAULT_API_VERSION, kind, metadata, spec } as Resource;
}

function checkMetadata(c: Checker, v: unknown, kind: Kind): Metadata | undefined {
  const m = c.object(v, 'metadata');
  if (!m) return c.bad('metadata', 'missing; metadata.name is required');
  // Server-set fields are tolerated so that `get -o yaml` output can be applied again.
  c.onlyKeys(m, ['name', 'labels', 'annotations', 'resourceVersion', 'creationTimestamp', 'uid', 'namespace', 'generation'], 'metadata');
  const name = c.string(m.name, 'metadata.name');
  if (name === undefined) return c.bad('metadata.name', 'missing');
  if (name.length > 253 || !NAME_RE.test(name)) {
    return c.bad('metadata.name', `'${name}' is not a valid name (lower-case letters, digits, '-' and '.', at most 253 characters)`);
  }
  if (kind === 'BGPConfiguration' && name !== 'default' && !name.startsWith('node.')) {
    return c.bad('metadata.name', `a BGPConfiguration is named 'default' (cluster-wide) or 'node.<nodename>' (one node), not '${name}'`);
  }
  const labels = c.stringMap(m.labels, 'metadata.labels');
  for (const k of Object.keys(labels)) {
    if (!/^([A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9_.\-]*[A-Za-z0-9])?$/.test(k) || k.length > 316) {
      c.bad(`metadata.labels.${k}`, 'is not a valid label key');
    }
  }
  return { name, labels, annotations: c.stringMap(m.annotations, 'metadata.annotations') };
}

function checkBgpConfiguration(c: Checker, s: Record<string, unknown>, name: string): BGPConfigurationSpec {
  c.onlyKeys(s, ['asNumber', 'nodeToNodeMeshEnabled', 'listenPort', 'logSeverityScreen', 'communities', 'nodeMeshMaxRestartTime'], 'spec',
    CALICO_UNUSED_FIELDS.BGPConfiguration.spec);
  const out: BGPConfigurationSpec = {};
  if (s.asNumber !== undefined) out.asNumber = checkAsn(c, s.asNumber, 'spec.asNumber');
  if (s.nodeToNodeMeshEnabled !== undefined) out.nodeToNodeMeshEnabled = c.bool(s.nodeToNodeMeshEnabled, 'spec.nodeToNodeMeshEnabled');
  if (s.listenPort !== undefined) out.listenPort = c.int(s.listenPort, 'spec.listenPort', 1, 65535);
  if (s.logSeverityScreen !== undefined) {
    const v = c.string(s.logSeverityScreen, 'spec.logSeverityScreen');
    const sev = (['Debug', 'Info', 'Warning', 'Error', 'Fatal'] as const).find((x) => x.toLowerCase() === v?.toLowerCase());
    if (v !== undefined && !sev) c.bad('spec.logSeverityScreen', `'${v}' is not one of Debug, Info, Warning, Error, Fatal`);
    out.logSeverityScreen = sev;
  }
  if (s.nodeMeshMaxRestartTime !== undefined) {
    // Calico: "can only be set on the default BGPConfiguration instance".
    if (name !== 'default') c.bad('spec.nodeMeshMaxRestartTime', `only the BGPConfiguration named "default" may set it (this one is "${name}")`);
    else out.nodeMeshMaxRestartTime = checkRestartTime(c, s.nodeMeshMaxRestartTime, 'spec.nodeMeshMaxRestartTime');
  }
  if (s.communities !== undefined) {
    if (!Array.isArray(s.communities)) c.bad('spec.communities', `must be a list, got ${describe(s.communities)}`);
    else {
      out.communities = [];
      s.communities.forEach((item, i) => {
        const f = `spec.communities[${i}]`;
        const o = c.object(item, f);
        if (!o) { if (item === null || item === undefined) c.bad(f, 'must be a mapping with name and value'); return; }
        c.onlyKeys(o, ['name', 'value'], f);
        const name = c.string(o.name, `${f}.name`);
        const value = c.string(o.value, `${f}.value`);
        if (name === undefined) c.bad(`${f}.name`, 'missing');
        if (value === undefined) { c.bad(`${f}.value`, 'missing'); return; }
        // RFC 1997 §3: standard community AA:NN (two 16-bit halves); RFC 8092 §3: large
        // community GA:LD1:LD2 (three 32-bit parts).
        const parts = value.split(':');
        const ok = /^\d+(:\d+){1,2}$/.test(value) &&
          parts.every((p) => Number(p) <= (parts.length === 2 ? 65535 : 4294967295));
        if (!ok) c.bad(`${f}.value`, `'${value}' is neither a standard community AA:NN (RFC 1997) nor a large community A:B:C (RFC 8092)`);
        else if (name !== undefined) out.communities!.push({ name, value });
      });
    }
  }
  return out;
}

function checkBgpPeer(c: Checker, s: Record<string, unknown>): BGPPeerSpec {
  c.onlyKeys(s, ['node', 'nodeSelector', 'peerIP', 'peerSelector', 'asNumber', 'password', 'keepOriginalNextHop',
    'ttlSecurity', 'maxRestartTime', 'sourceAddress'], 'spec', CALICO_UNUSED_FIELDS.BGPPeer.spec);
  const out: BGPPeerSpec = {};
  out.node = c.string(s.node, 'spec.node');
  if (out.node !== undefined && !NAME_RE.test(out.node)) c.bad('spec.node', `'${out.node}' is not a valid node name`);
  out.nodeSelector = checkSelector(c, s.nodeSelector, 'spec.nodeSelector');
  out.peerSelector = checkSelector(c, s.peerSelector, 'spec.peerSelector');
  if (s.node !== undefined && s.nodeSelector !== undefined) {
    c.bad('spec.nodeSelector', 'node and nodeSelector cannot both be set (node picks one node, nodeSelector several)');
  }
  if (s.peerIP !== undefined) {
    const text = c.string(s.peerIP, 'spec.peerIP');
    if (text !== undefined) {
      // Calico: "10.0.0.1", "10.0.0.1:1790", "2001:db8::1", "[2001:db8::1]:1790".
      let host = text;
      let port: number | undefined;
      const v6port = /^\[([^\]]+)\]:(\d+)$/.exec(text);
      const v4port = /^([0-9.]+):(\d+)$/.exec(text);
      if (v6port) { host = v6port[1]; port = Number(v6port[2]); } else if (v4port) { host = v4port[1]; port = Number(v4port[2]); }
      const ip = canonicalIP(host);
      if (!ip) c.bad('spec.peerIP', `'${text}' is not an IP address (optionally with :port)`);
      else if (port !== undefined && (port < 1 || port > 65535)) c.bad('spec.peerIP', `port ${port} is out of range 1..65535`);
      else { out.peerIP = ip; if (port !== undefined) out.peerPort = port; }
    }
  }
  if (s.peerIP !== undefined && s.peerSelector !== undefined) {
    c.bad('spec.peerSelector', 'peerIP and peerSelector cannot both be set (peerIP names one peer, peerSelector selects nodes)');
  }
  if (s.peerIP === undefined && s.peerSelector === undefined) c.bad('spec', 'one of peerIP or peerSelector is required');
  if (s.asNumber !== undefined) out.asNumber = checkAsn(c, s.asNumber, 'spec.asNumber');
  if (s.peerSelector !== undefined && s.asNumber !== undefined) {
    c.bad('spec.asNumber', 'asNumber cannot be set with peerSelector (the selected nodes\' own AS numbers are used)');
  }
  if (s.peerIP !== undefined && s.asNumber === undefined) c.bad('spec.asNumber', 'required when peerIP is set');
  if (s.password !== undefined) {
    if (isObject(s.password)) {
      c.bad('spec.password', 'secretKeyRef passwords need a Kubernetes secret store; give the TCP MD5 password as a string');
    } else {
      const p = c.string(s.password, 'spec.password');
      // RFC 2385 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN).
      if (p !== undefined && (p.length === 0 || Buffer.byteLength(p) > 80)) c.bad('spec.password', 'must be 1..80 bytes (TCP MD5 key, RFC 2385)');
      else out.password = p;
    }
  }
  if (s.keepOriginalNextHop !== undefined) out.keepOriginalNextHop = c.bool(s.keepOriginalNextHop, 'spec.keepOriginalNextHop');
  // RFC 5082 §3: GTSM expects TTL >= 255 - (hops - 1); 1..255 hops.
  if (s.ttlSecurity !== undefined) out.ttlSecurity = c.int(s.ttlSecurity, 'spec.ttlSecurity', 1, 255);
  if (s.maxRestartTime !== undefined) out.maxRestartTime = checkRestartTime(c, s.maxRestartTime, 'spec.maxRestartTime');
  if (s.sourceAddress !== undefined) {
    const v = c.string(s.sourceAddress, 'spec.sourceAddress');
    if (v === 'UseNodeIP' || v === 'None') out.sourceAddress = v;
    else if (v !== undefined) {
      const ip = canonicalIP(v);
      if (!ip) c.bad('spec.sourceAddress', `'${v}' is neither UseNodeIP, None nor an IP address`);
      else out.sourceAddress = ip;
    }
  }
  for (const k of Object.keys(out) as (keyof BGPPeerSpec)[]) if (out[k] === undefined) delete out[k];
  return out;
}

function checkIpPool(c: Checker, s: Record<string, unknown>): IPPoolSpec | undefined {
  c.onlyKeys(s, ['cidr', 'blockSize', 'ipipMode', 'vxlanMode', 'natOutgoing', 'disabled', 'nodeSelector', 'disableBGPExport'], 'spec',
    CALICO_UNUSED_FIELDS.IPPool.spec);
  const text = c.string(s.cidr, 'spec.cidr');
  if (text === undefined) return c.bad('spec.cidr', 'missing');
  const cidr = parseCidr(text, true);
  if (!cidr) {
    const loose = parseCidr(text, false);
    return c.bad('spec.cidr', loose ? `'${text}' has host bits set; did you mean ${formatCidr(loose)}?` : `'${text}' is not a CIDR (address/prefix-length)`);
  }
  const bits = cidr.family === 4 ? 32 : 128;
  const blockSize = s.blockSize === undefined ? (cidr.family === 4 ? DEFAULT_BLOCK_SIZE_V4 : DEFAULT_BLOCK_SIZE_V6)
    : c.int(s.blockSize, 'spec.blockSize', 0, bits);
  if (blockSize === undefined) return undefined;
  if (blockSize < cidr.length) return c.bad('spec.blockSize', `/${blockSize} blocks do not fit in the /${cidr.length} pool ${text}`);
  // Blocks are numbered with 32-bit indexes in datastore listings; keep pools enumerable.
  if (blockSize - cidr.length > 24) return c.bad('spec.blockSize', `/${blockSize} blocks in a /${cidr.length} pool make 2^${blockSize - cidr.length} blocks; at most 2^24 are supported`);
  const ipipMode = checkEncap(c, s.ipipMode, 'spec.ipipMode') ?? 'Never';
  const vxlanMode = checkEncap(c, s.vxlanMode, 'spec.vxlanMode') ?? 'Never';
  if (cidr.family === 6 && ipipMode !== 'Never') c.bad('spec.ipipMode', 'IPIP carries IPv4 only; an IPv6 pool must use ipipMode: Never');
  if (ipipMode !== 'Never' && vxlanMode !== 'Never') c.bad('spec.vxlanMode', 'ipipMode and vxlanMode cannot both be enabled on one pool');
  const natOutgoing = c.bool(s.natOutgoing, 'spec.natOutgoing') ?? false;
  const disabled = c.bool(s.disabled, 'spec.disabled') ?? false;
  const nodeSelector = checkSelector(c, s.nodeSelector, 'spec.nodeSelector') ?? 'all()';
  const disableBGPExport = c.bool(s.disableBGPExport, 'spec.disableBGPExport');
  return { cidr: formatCidr(cidr), blockSize, ipipMode, vxlanMode, natOutgoing, disabled, nodeSelector,
    ...(disableBGPExport !== undefined ? { disableBGPExport } : {}) };
}

function checkNode(c: Checker, s: Record<string, unknown>): NodeSpec {
  c.onlyKeys(s, ['bgp', 'podCIDRs', 'ipv4VXLANTunnelAddr', 'vxlanTunnelMACAddr', 'ipv6VXLANTunnelAddr', 'vxlanTunnelMACAddrV6'], 'spec',
    CALICO_UNUSED_FIELDS.Node.spec);
  const out: NodeSpec = {};
  const bgp = c.object(s.bgp, 'spec.bgp');
  if (bgp) {
    c.onlyKeys(bgp, ['ipv4Address', 'ipv6Address', 'asNumber', 'routeReflectorClusterID', 'ipv4IPIPTunnelAddr'], 'spec.bgp');
    const b: NodeBGPSpec = {};
    if (bgp.ipv4Address !== undefined) b.ipv4Address = checkInterfaceAddress(c, bgp.ipv4Address, 'spec.bgp.ipv4Address', 4);
    if (bgp.ipv6Address !== undefined) b.ipv6Address = checkInterfaceAddress(c, bgp.ipv6Address, 'spec.bgp.ipv6Address', 6);
    if (bgp.asNumber !== undefined) b.asNumber = checkAsn(c, bgp.asNumber, 'spec.bgp.asNumber');
    if (bgp.routeReflectorClusterID !== undefined) {
      // RFC 4456 §7: CLUSTER_ID is a 4-octet value; Calico writes it as an IPv4 address.
      b.routeReflectorClusterID = checkAddress(c, bgp.routeReflectorClusterID, 'spec.bgp.routeReflectorClusterID', 4);
    }
    if (bgp.ipv4IPIPTunnelAddr !== undefined) b.ipv4IPIPTunnelAddr = checkAddress(c, bgp.ipv4IPIPTunnelAddr, 'spec.bgp.ipv4IPIPTunnelAddr', 4);
    if (!b.ipv4Address && !b.ipv6Address && Object.keys(bgp).length > 0) {
      c.bad('spec.bgp', 'needs ipv4Address or ipv6Address (the address the node peers from and is the next hop for its block)');
    }
    for (const k of Object.keys(b) as (keyof NodeBGPSpec)[]) if (b[k] === undefined) delete b[k];
    out.bgp = b;
  }
  if (s.podCIDRs !== undefined) {
    if (!Array.isArray(s.podCIDRs)) c.bad('spec.podCIDRs', `must be a list of CIDRs, got ${describe(s.podCIDRs)}`);
    else {
      out.podCIDRs = [];
      s.podCIDRs.forEach((v, i) => {
        const f = `spec.podCIDRs[${i}]`;
        const t = c.string(v, f);
        if (t === undefined) { if (v === null) c.bad(f, 'must be a CIDR'); return; }
        const cidr = parseCidr(t, true);
        if (!cidr) c.bad(f, `'${t}' is not a CIDR with host bits clear`);
        else out.podCIDRs!.push(formatCidr(cidr));
      });
    }
  }
  // VXLAN endpoints (RFC 7348 §4: the VTEP's address and MAC), one pair per overlay family.
  Object.assign(out, checkVtepFields(c, s, 'spec.'));
  return out;
}

/** "aa:bb:cc:dd:ee:ff" (any case) → lower case; Calico's vxlanTunnelMACAddr(V6) format. */
function checkMac(c: Checker, v: unknown, field: string): string | undefined {
  const m = c.string(v, field);
  if (m === undefined) return undefined;
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(m)) return c.bad(field, `'${m}' is not a MAC address aa:bb:cc:dd:ee:ff`);
  // A VTEP's MAC is a unicast station address (IEEE 802: the I/G bit, the least significant bit
  // of the first octet, is 0; all zeros is no address): the kernel refuses a multicast or zero
  // MAC in the neighbour and FDB entries of the tunnel.
  if ((parseInt(m.slice(0, 2), 16) & 1) === 1) return c.bad(field, `'${m}' is a multicast MAC address; a VTEP needs a unicast one`);
  if (/^00(:00){5}$/.test(m)) return c.bad(field, `'${m}' is the all-zero MAC address; a VTEP needs a unicast one`);
  return m.toLowerCase();
}

/**
 * The VTEP fields of a Node spec or of the agent-written status: ipv4VXLANTunnelAddr (an IPv4
 * address) with vxlanTunnelMACAddr, and their IPv6 twins ipv6VXLANTunnelAddr (an IPv6 address)
 * with vxlanTunnelMACAddrV6. Fields absent or invalid are left out (problems noted).
 */
function checkVtepFields(c: Checker, s: Record<string, unknown>, at: string): Pick<NodeSpec, 'ipv4VXLANTunnelAddr' | 'vxlanTunnelMACAddr' | 'ipv6VXLANTunnelAddr' | 'vxlanTunnelMACAddrV6'> {
  const out: Pick<NodeSpec, 'ipv4VXLANTunnelAddr' | 'vxlanTunnelMACAddr' | 'ipv6VXLANTunnelAddr' | 'vxlanTunnelMACAddrV6'> = {};
  if (s.ipv4VXLANTunnelAddr !== undefined) out.ipv4VXLANTunnelAddr = checkAddress(c, s.ipv4VXLANTunnelAddr, `${at}ipv4VXLANTunnelAddr`, 4);
  if (s.vxlanTunnelMACAddr !== undefined) out.vxlanTunnelMACAddr = checkMac(c, s.vxlanTunnelMACAddr, `${at}vxlanTunnelMACAddr`);
  if (s.ipv6VXLANTunnelAddr !== undefined) out.ipv6VXLANTunnelAddr = checkAddress(c, s.ipv6VXLANTunnelAddr, `${at}ipv6VXLANTunnelAddr`, 6);
  if (s.vxlanTunnelMACAddrV6 !== undefined) out.vxlanTunnelMACAddrV6 = checkMac(c, s.vxlanTunnelMACAddrV6, `${at}vxlanTunnelMACAddrV6`);
  for (const k of Object.keys(out) as (keyof typeof out)[]) if (out[k] === undefined) delete out[k];
  return out;
}

/**
 * Decodes the agent-written fields of a node as stored (`status/nodes/<node>`, JSON): each known
 * field validated as in a Node spec (addresses of the right family, MACs aa:bb:cc:dd:ee:ff), so
 * that a value another agent (or a hand edit) stored wrongly never reaches the dataplane. Keys
 * this version does not know are dropped (a newer agent may write more). Throws ResourceError
 * naming `where` and the field.
 */
export function decodeNodeStatus(value: string, where: string): NodeStatusFields {
  const problems: ResourceProblem[] = [];
  const c = new Checker({ file: where, document: 0 }, problems);
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch (e) {
    throw new ResourceError([{ origin: { file: where, document: 0 }, resource: '', field: '', message: `not JSON: ${(e as Error).message}` }]);
  }
  const o = c.object(doc, '');
  if (!o) {
    if (problems.length === 0) c.bad('', `agent-written node fields must be a JSON object, got ${describe(doc)}`);
    throw new ResourceError(problems);
  }
  const out: NodeStatusFields = { ...checkVtepFields(c, o, '') };
  if (o.ipv4IPIPTunnelAddr !== undefined) {
    const a = checkAddress(c, o.ipv4IPIPTunnelAddr, 'ipv4IPIPTunnelAddr', 4);
    if (a !== undefined) out.ipv4IPIPTunnelAddr = a;
  }
  if (problems.length > 0) throw new ResourceError(problems);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cross-resource checks.

/**
 * Checks a set of resources as a whole: no duplicate kind/name within the set, pools do not
 * overlap, a Node's pinned podCIDRs each lie in exactly one enabled pool, have that pool's
 * block size, and no two nodes pin overlapping blocks. Throws ResourceError.
 */
function duplicateProblems(items: Located[]): ResourceProblem[] {
  const problems: ResourceProblem[] = [];
  const seen = new Map<string, Located>();
  for (const it of items) {
    const id = resourceId(it.resource);
    const prev = seen.get(id);
    if (prev) {
      problems.push({ origin: it.origin, resource: id, field: 'metadata.name',
        message: `defined twice (also in ${prev.origin.file} document ${prev.origin.document})` });
    }
    seen.set(id, it);
  }
  return problems;
}

export function validateSet(items: Located[]): void {
  const problems = duplicateProblems(items);
  const pools = items.filter((it): it is Located<IPPool> => it.resource.kind === 'IPPool');
  for (let i = 0; i < pools.length; i++) {
    for (let j = i + 1; j < pools.length; j++) {
      const a = parseCidr(pools[i].resource.spec.cidr)!;
      const b = parseCidr(pools[j].resource.spec.cidr)!;
      if (cidrsOverlap(a, b)) {
        problems.push({ origin: pools[j].origin, resource: resourceId(pools[j].resource), field: 'spec.cidr',
          message: `${pools[j].resource.spec.cidr} overlaps pool ${pools[i].resource.metadata.name} (${pools[i].resource.spec.cidr})` });
      }
    }
  }
  const pinned: { node: Located<NodeResource>; cidr: Cidr; index: number }[] = [];
  for (const it of items) {
    if (it.resource.kind !== 'Node') continue;
    const node = it as Located<NodeResource>;
    (node.resource.spec.podCIDRs ?? []).forEach((text, index) => {
      const cidr = parseCidr(text)!;
      const field = `spec.podCIDRs[${index}]`;
      const pool = pools.find((p) => cidrContains(parseCidr(p.resource.spec.cidr)!, cidr));
      if (!pool) {
        problems.push({ origin: it.origin, resource: resourceId(it.resource), field, message: `block ${text} lies outside every IPPool` });
      } else if (pool.resource.spec.disabled) {
        problems.push({ origin: it.origin, resource: resourceId(it.resource), field, message: `block ${text} lies in pool ${pool.resource.metadata.name}, which is disabled` });
      } else if (cidr.length !== pool.resource.spec.blockSize) {
        problems.push({ origin: it.origin, resource: resourceId(it.resource), field,
          message: `block ${text} is a /${cidr.length} but pool ${pool.resource.metadata.name} hands out /${pool.resource.spec.blockSize} blocks` });
      }
      for (const other of pinned) {
        if (cidrsOverlap(other.cidr, cidr)) {
          problems.push({ origin: it.origin, resource: resourceId(it.resource), field,
            message: `block ${text} overlaps ${formatCidr(other.cidr)} pinned by node ${other.node.resource.metadata.name}` });
        }
      }
      pinned.push({ node, cidr, index });
    });
  }
  if (problems.length > 0) throw new ResourceError(problems);
}

// ---------------------------------------------------------------------------------------------
// Output.

/** The resource as a plain object in Calico's layout (for `get -o yaml|json` and storage). */
export function toDocument(r: Resource): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: r.metadata.name };
  if (Object.keys(r.metadata.labels).length > 0) metadata.labels = r.metadata.labels;
  if (Object.keys(r.metadata.annotations).length > 0) metadata.annotations = r.metadata.annotations;
  const spec = stripUndefined(r.spec) as Record<string, unknown>;
  if (r.kind === 'BGPPeer' && r.spec.peerIP !== undefined && r.spec.peerPort !== undefined) {
    // Calico writes the port into peerIP: "10.0.0.1:1790", "[2001:db8::1]:1790".
    spec.peerIP = r.spec.peerIP.includes(':') ? `[${r.spec.peerIP}]:${r.spec.peerPort}` : `${r.spec.peerIP}:${r.spec.peerPort}`;
    delete spec.peerPort;
  }
  return { apiVersion: r.apiVersion, kind: r.kind, metadata, spec };
}

function stripUndefined<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** Re-validates a stored document (from etcd or the state file); throws ResourceError. */
export function decodeStored(doc: unknown, where: string): Resource {
  const problems: ResourceProblem[] = [];
  const r = validateResource(doc, { file: where, document: 0 }, problems);
  if (!r) throw new ResourceError(problems);
  return r;
}
