// Pure mapping from the speaker's configuration to what the layers below need: validation with
// field-named errors, the session configuration of a peer (RFC 4271 §8 timers, RFC 4760 families,
// RFC 4724 capability with R/F bits, RFC 8538 N bit), the RIB's view of the peer (iBGP/eBGP,
// RFC 4456 client), its import rule (DESIGN.md cluster rule) and its export profile (RFC 4271
// §9.2, §5.1.2-5.1.3; RFC 4456 §6). Also decides whether a changed PeerConfig can be applied in
// place or needs a session reset.
import type { Family } from '../wire/types';
import { IPV4_UNICAST, IPV6_UNICAST } from '../wire/family';
import { canonicalIP, parseCidr } from '../lib/ip';
import type { SessionConfig } from '../session/types';
import type { PeerImportRule } from '../policy/import';
import type { ExportProfile } from '../policy/export';
import type { RibPeerInit } from '../rib/route';
import { SpeakerConfigError, type PeerConfig, type SpeakerConfig } from './types';

export const DEFAULT_RESTART_TIME = 120;
export const DEFAULT_SELECTION_DEFERRAL_MS = 120_000;
export const DEFAULT_STALE_PATH_TIME_MS = 360_000;

const asOk = (n: unknown): boolean => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 0xffffffff;
const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function familyOfAddress(address: string): Family {
  return address.includes(':') ? IPV6_UNICAST : IPV4_UNICAST;
}

/** Checks the speaker-wide configuration; throws SpeakerConfigError naming the field. */
export function validateSpeakerConfig(c: SpeakerConfig): void {
  if (!asOk(c.localAs)) throw new SpeakerConfigError('localAs', `${c.localAs} is not an AS number (1..4294967295, RFC 6793)`);
  const m = DOTTED_QUAD.exec(c.routerId ?? '');
  if (!m || m.slice(1).some((x) => Number(x) > 255) || c.routerId === '0.0.0.0') {
    throw new SpeakerConfigError('routerId', `'${c.routerId}' is not a non-zero dotted quad (RFC 6286 §2.1)`);
  }
  if (c.nextHopIPv4 !== undefined && (canonicalIP(c.nextHopIPv4) === null || c.nextHopIPv4.includes(':'))) {
    throw new SpeakerConfigError('nextHopIPv4', `'${c.nextHopIPv4}' is not an IPv4 address`);
  }
  if (c.nextHopIPv6 !== undefined && (canonicalIP(c.nextHopIPv6) === null || !c.nextHopIPv6.includes(':'))) {
    throw new SpeakerConfigError('nextHopIPv6', `'${c.nextHopIPv6}' is not an IPv6 address`);
  }
  if (c.nextHopIPv6LinkLocal !== undefined && (canonicalIP(c.nextHopIPv6LinkLocal) === null || !c.nextHopIPv6LinkLocal.toLowerCase().startsWith('fe80'))) {
    throw new SpeakerConfigError('nextHopIPv6LinkLocal', `'${c.nextHopIPv6LinkLocal}' is not an IPv6 link-local address`);
  }
  if (!Array.isArray(c.pools)) throw new SpeakerConfigError('pools', 'must be a list of CIDRs');
  for (const p of c.pools) if (!parseCidr(p, true)) throw new SpeakerConfigError('pools', `'${p}' is not a CIDR with host bits clear`);
  for (const l of c.listen ?? []) {
    if (!canonicalIP(l.address)) throw new SpeakerConfigError('listen.address', `'${l.address}' is not an IP address`);
    if (l.port !== undefined && !(Number.isInteger(l.port) && l.port >= 0 && l.port <= 65535)) throw new SpeakerConfigError('listen.port', `${l.port} is not a TCP port`);
  }
  const gr = c.gracefulRestart ?? {};
  const rt = gr.restartTime ?? DEFAULT_RESTART_TIME;
  if (!(Number.isInteger(rt) && rt >= 0 && rt <= 4095)) throw new SpeakerConfigError('gracefulRestart.restartTime', `${rt} must be 0..4095 seconds (RFC 4724 §3: 12 bits)`);
  if (c.clusterId !== undefined && c.clusterId !== null && !DOTTED_QUAD.test(c.clusterId)) {
    throw new SpeakerConfigError('clusterId', `'${c.clusterId}' is not a dotted quad (RFC 4456 §7)`);
  }
}

/** Checks one peer; throws SpeakerConfigError naming the peer and the field. */
export function validatePeerConfig(p: PeerConfig): void {
  const name = p.name;
  if (typeof name !== 'string' || name === '') throw new SpeakerConfigError('name', 'a peer needs a non-empty name');
  if (!canonicalIP(p.address ?? '')) throw new SpeakerConfigError('address', `'${p.address}' is not an IP address`, name);
  if (!asOk(p.peerAs)) throw new SpeakerConfigError('peerAs', `${p.peerAs} is not an AS number`, name);
  if (p.localAs !== undefined && !asOk(p.localAs)) throw new SpeakerConfigError('localAs', `${p.localAs} is not an AS number`, name);
  if (!['mesh', 'rr-client', 'rr-server', 'rr-nonclient', 'external'].includes(p.type)) {
    throw new SpeakerConfigError('type', `'${p.type}' is not one of mesh, rr-client, rr-server, rr-nonclient, external`, name);
  }
  if (p.port !== undefined && !(Number.isInteger(p.port) && p.port > 0 && p.port <= 65535)) throw new SpeakerConfigError('port', `${p.port} is not a TCP port`, name);
  if (p.sourceAddress !== undefined && !canonicalIP(p.sourceAddress)) throw new SpeakerConfigError('sourceAddress', `'${p.sourceAddress}' is not an IP address`, name);
  for (const f of p.families ?? []) {
    if (f !== IPV4_UNICAST && f !== IPV6_UNICAST) throw new SpeakerConfigError('families', `'${f}' is not routed (ipv4-unicast, ipv6-unicast)`, name);
  }
  if (p.maxPrefix) {
    if (!(Number.isInteger(p.maxPrefix.limit) && p.maxPrefix.limit >= 0)) throw new SpeakerConfigError('maxPrefix.limit', `${p.maxPrefix.limit} must be a non-negative integer`, name);
    if (p.maxPrefix.action !== 'teardown' && p.maxPrefix.action !== 'warn') throw new SpeakerConfigError('maxPrefix.action', `'${p.maxPrefix.action}' must be teardown or warn`, name);
  }
  if (p.ttlSecurity !== undefined && !(Number.isInteger(p.ttlSecurity) && p.ttlSecurity >= 1 && p.ttlSecurity <= 255)) {
    throw new SpeakerConfigError('ttlSecurity', `${p.ttlSecurity} must be 1..255 hops`, name);
  }
  if (p.password !== undefined && (p.password.length === 0 || Buffer.byteLength(p.password) > 80)) {
    throw new SpeakerConfigError('password', 'TCP MD5 key must be 1..80 octets (RFC 2385, Linux TCP_MD5SIG_MAXKEYLEN)', name);
  }
  for (const a of p.nodeAddresses ?? []) if (!canonicalIP(a)) throw new SpeakerConfigError('nodeAddresses', `'${a}' is not an IP address`, name);
  for (const c of p.exportPrefixes ?? []) if (!parseCidr(c, true)) throw new SpeakerConfigError('exportPrefixes', `'${c}' is not a CIDR`, name);
}

export function peerLocalAs(s: SpeakerConfig, p: PeerConfig): number {
  return p.localAs ?? s.localAs;
}

export function peerFamilies(p: PeerConfig): Family[] {
  return p.families && p.families.length > 0 ? [...new Set(p.families)] : [familyOfAddress(p.address)];
}

export function grEnabled(s: SpeakerConfig, p: PeerConfig): boolean {
  return p.gracefulRestart ?? s.gracefulRestart?.enabled ?? true;
}

/** iBGP or eBGP as the RIB sees it (RFC 4271 §9: internal when the ASes are equal). */
export function peerKind(s: SpeakerConfig, p: PeerConfig): 'ibgp' | 'ebgp' {
  return p.peerAs === peerLocalAs(s, p) ? 'ibgp' : 'ebgp';
}

export function ribPeerInit(s: SpeakerConfig, p: PeerConfig): RibPeerInit {
  const kind = peerKind(s, p);
  return {
    id: p.name,
    kind,
    address: canonicalIP(p.address)!,
    asn: p.peerAs,
    // RFC 4456 §6: only an internal peer can be a reflection client.
    rrClient: p.type === 'rr-client' && kind === 'ibgp',
    importLocalPref: p.importLocalPref,
    nodeAddresses: p.type === 'mesh' ? nodeAddresses(p) : undefined,
    // RFC 4271 §9.1.2: the AS-path loop check also looks for the AS we present to this peer.
    ...(peerLocalAs(s, p) !== s.localAs ? { localAs: peerLocalAs(s, p) } : {}),
  };
}

function nodeAddresses(p: PeerConfig): string[] {
  return (p.nodeAddresses && p.nodeAddresses.length > 0 ? p.nodeAddresses : [p.address]).map((a) => canonicalIP(a)!);
}

/**
 * DESIGN.md: a cluster peer's routes must lie in an enabled pool; a directly meshed node must be
 * the next hop of what it announces. Reflected routes (rr-*) carry other nodes' next hops.
 */
export function importRule(p: PeerConfig): PeerImportRule {
  if (p.importRule) return p.importRule;
  switch (p.type) {
    case 'mesh': return { kind: 'cluster', nodeAddresses: nodeAddresses(p) };
    case 'rr-client':
    case 'rr-server':
    case 'rr-nonclient': return { kind: 'cluster' };
    case 'external': return { kind: 'accept-all' };
  }
}

/**
 * The export profile of a peer. Our next hop per family is the configured node address, else
 * the local address of the session when it is of that family (RFC 4271 §5.1.3).
 */
export function exportProfile(s: SpeakerConfig, p: PeerConfig, sessionLocalAddress: string | null): ExportProfile {
  const local = sessionLocalAddress ? canonicalIP(sessionLocalAddress) : null;
  const v4 = s.nextHopIPv4 ?? (local && !local.includes(':') ? local : undefined);
  const v6 = s.nextHopIPv6 ?? (local && local.includes(':') && !local.startsWith('fe80') ? local : undefined);
  const kind = peerKind(s, p);
  return {
    peerKind: kind,
    rrClient: p.type === 'rr-client' && kind === 'ibgp',
    localAs: peerLocalAs(s, p),
    routerId: s.routerId,
    // RFC 4456 §7: reflection needs a CLUSTER_ID; without one we never reflect (split horizon).
    clusterId: s.clusterId ?? null,
    nextHopIPv4: v4,
    nextHopIPv6: v6,
    nextHopIPv6LinkLocal: s.nextHopIPv6LinkLocal,
    keepOriginalNextHop: p.keepOriginalNextHop ?? false,
    nextHopSelf: p.nextHopSelf ?? false,
    exportPrefixes: p.exportPrefixes,
  };
}

/**
 * The FSM configuration of a peer. RFC 4724 §3: Restart Time, R bit while we restart (until our
 * selection deferral ends, §4.1), F bit per family as configured (gracefulRestart.restarting:
 * our forwarding state survived the restart; it stays set for later sessions); RFC 8538 N bit
 * always.
 */
export function sessionConfig(s: SpeakerConfig, p: PeerConfig, restarting: boolean): SessionConfig {
  const families = peerFamilies(p);
  const gr = s.gracefulRestart ?? {};
  return {
    peerAddress: p.address,
    localAs: peerLocalAs(s, p),
    localId: s.routerId,
    peerAs: p.peerAs,
    holdTime: p.holdTime ?? s.holdTime,
    connectRetryTime: p.connectRetryTime ?? s.connectRetryTime,
    passive: p.passive,
    families,
    routeRefresh: true,
    enhancedRouteRefresh: p.enhancedRouteRefresh ?? false,
    extendedMessage: true,
    gracefulRestart: grEnabled(s, p)
      ? {
        restartTime: gr.restartTime ?? DEFAULT_RESTART_TIME,
        restarting,
        notification: true,
        forwardingPreserved: gr.restarting === true ? families : [],
      }
      : undefined,
    hostname: s.hostname,
    backoff: s.backoff,
  };
}

/**
 * Fields applied on a live session: they are local policy, not negotiated in the OPEN.
 * RFC 4456 §6 client status (type) and next-hop handling and export prefixes only change what
 * we send (the peer moves to another update group and gets the difference); import settings
 * are re-run over the Adj-RIB-In (soft reconfiguration inbound); maxRestartTime and
 * importLocalPref are ours alone.
 */
const IN_PLACE_FIELDS: readonly (keyof PeerConfig)[] = [
  'importRule', 'nodeAddresses', 'maxPrefix', 'type', 'keepOriginalNextHop', 'nextHopSelf', 'exportPrefixes',
  'importLocalPref', 'maxRestartTime',
];

/**
 * Fields whose change makes our routes wrong for the peer, or the peer another router: the
 * session ends with a Hard Reset (RFC 8538 §3) so neither side keeps the other's routes as stale.
 * AS numbers change AS_PATH, NEXT_HOP and LOCAL_PREF handling (RFC 4271 §5.1); another address
 * is another peer; turning graceful restart off must not leave routes behind as stale.
 */
const HARD_RESET_FIELDS: readonly (keyof PeerConfig)[] = ['peerAs', 'localAs', 'address', 'gracefulRestart'];

/**
 * How a changed PeerConfig is applied:
 *  - 'none': nothing changed;
 *  - 'in-place': only IN_PLACE_FIELDS changed — no NOTIFICATION, no TCP reset;
 *  - 'graceful-reset': something the OPEN or the TCP connection carries changed (port, password,
 *    ttlSecurity, families, add-path, hold time, source address, ...): a new session is needed,
 *    ended so that the peer keeps our routes as stale (RFC 4724 §4.2, RFC 8538 §4) and we keep its;
 *  - 'hard-reset': a HARD_RESET_FIELDS field changed.
 */
export type PeerChange = 'none' | 'in-place' | 'graceful-reset' | 'hard-reset';

/** JSON with object keys sorted at every level; undefined members left out (absent = undefined). */
function stableJson(v: unknown): string {
  if (v === undefined) return 'null';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
}

function canonical(c: PeerConfig, drop: readonly (keyof PeerConfig)[]): string {
  const o: Record<string, unknown> = { ...c };
  for (const f of drop) delete o[f];
  if (typeof o.address === 'string') o.address = canonicalIP(o.address) ?? o.address;
  return stableJson(o);
}

export function classifyPeerChange(prev: PeerConfig, next: PeerConfig): PeerChange {
  for (const f of HARD_RESET_FIELDS) {
    const a = f === 'address' ? canonicalIP(prev.address) : prev[f];
    const b = f === 'address' ? canonicalIP(next.address) : next[f];
    if (stableJson(a) !== stableJson(b)) return 'hard-reset';
  }
  if (canonical(prev, IN_PLACE_FIELDS) !== canonical(next, IN_PLACE_FIELDS)) return 'graceful-reset';
  return canonical(prev, []) === canonical(next, []) ? 'none' : 'in-place';
}

/** True when `next` differs from `prev` only in fields that can change without a reset. */
export function changeableInPlace(prev: PeerConfig, next: PeerConfig): boolean {
  const c = classifyPeerChange(prev, next);
  return c === 'none' || c === 'in-place';
}
