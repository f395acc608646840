// OPEN messages: the one we send, the checks on the one we receive, and what the two negotiate.
// Pure functions. RFC 4271 §4.2 (OPEN), §6.2 (OPEN errors), §4.4/§10 (hold and keepalive);
// RFC 6286 §2 (BGP Identifier); RFC 6793 §4.1 (AS_TRANS, 4-octet AS); RFC 7607 (AS 0);
// RFC 5492 §5 (capabilities); RFC 4760 §8 (implied IPv4 unicast); RFC 7911 §4 (ADD-PATH);
// RFC 8654 (extended messages); RFC 2918 / RFC 7313 (route refresh); RFC 4724 + RFC 8538 (GR).

import type { Capability, CodecContext, Family, OpenMessage } from '../wire/types';
import { ErrorCode, OpenSubcode } from '../wire/errors';
import { afiSafiOf, familyOf } from '../wire/family';
import { parseIPv4 } from '../lib/ip';
import type { AddPathMode, NegotiatedGracefulRestart, NegotiatedSession, SessionConfig } from './types';

/** RFC 6793 §9: the 2-octet placeholder for a 4-octet AS. */
export const AS_TRANS = 23456;
/** RFC 4271 §4.2: the only version we speak. */
export const BGP_VERSION = 4;
export const DEFAULT_HOLD_TIME = 90;

/** An OPEN we refuse: the NOTIFICATION to send, and what was wrong (RFC 4271 §6.2). */
export class OpenError extends Error {
  readonly code = ErrorCode.OPEN_MESSAGE;
  constructor(
    readonly subcode: number,
    readonly data: Uint8Array,
    /** Which OPEN field was at fault, e.g. "OPEN my AS". */
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'OpenError';
  }
}

/** True when `text` is a dotted quad. */
function isDottedQuad(text: string): boolean {
  return parseIPv4(text) !== null;
}

/** Checks a session configuration; returns the problems found (empty when fine). */
export function configProblems(c: SessionConfig): string[] {
  const p: string[] = [];
  const asOk = (n: number) => Number.isInteger(n) && n >= 1 && n <= 0xffffffff;
  if (!asOk(c.localAs)) p.push(`localAs ${c.localAs} is not an AS number (1..4294967295)`);
  if (!asOk(c.peerAs)) p.push(`peerAs ${c.peerAs} is not an AS number (1..4294967295)`);
  if (!isDottedQuad(c.localId) || c.localId === '0.0.0.0') p.push(`localId '${c.localId}' is not a non-zero dotted quad (RFC 6286 §2.1)`);
  const hold = c.holdTime ?? DEFAULT_HOLD_TIME;
  if (!Number.isInteger(hold) || hold < 0 || hold > 65535 || hold === 1 || hold === 2) p.push(`holdTime ${hold} must be 0 or 3..65535 seconds (RFC 4271 §4.2)`);
  const retry = c.connectRetryTime ?? 120;
  if (!(retry > 0)) p.push(`connectRetryTime ${retry} must be positive`);
  const delay = c.delayOpenTime ?? 0;
  if (!(delay >= 0 && delay <= 65535)) p.push(`delayOpenTime ${delay} must be 0..65535 seconds`);
  for (const f of c.families ?? []) {
    try { afiSafiOf(f); } catch (e) { p.push((e as Error).message); }
  }
  for (const f of Object.keys(c.addPath ?? {})) {
    try { afiSafiOf(f); } catch (e) { p.push(`addPath: ${(e as Error).message}`); }
  }
  if (c.hostname !== undefined && (c.hostname === '' || Buffer.byteLength(c.hostname) > 255)) {
    p.push(`hostname must be 1..255 octets (FQDN capability)`);
  }
  for (const [f, mode] of Object.entries(c.addPath ?? {})) {
    if (mode !== 'receive' && mode !== 'send' && mode !== 'both') p.push(`addPath ${f}: mode '${mode}' is not receive, send or both (RFC 7911 §4)`);
  }
  const gr = c.gracefulRestart;
  if (gr && (!Number.isInteger(gr.restartTime) || gr.restartTime < 0 || gr.restartTime > 4095)) {
    p.push(`gracefulRestart.restartTime ${gr.restartTime} must be 0..4095 seconds (RFC 4724 §3)`);
  }
  return p;
}

/** The families we advertise: configured, or IPv4 unicast. */
export function localFamilies(c: SessionConfig): Family[] {
  return c.families && c.families.length > 0 ? [...new Set(c.families)] : ['ipv4-unicast'];
}

/** Our OPEN (RFC 4271 §4.2) with the capabilities the configuration asks for (RFC 5492). */
export function buildOpen(c: SessionConfig): OpenMessage {
  const caps: Capability[] = [];
  for (const f of localFamilies(c)) {
    const { afi, safi } = afiSafiOf(f);
    caps.push({ code: 1, kind: 'multiprotocol', afi, safi });
  }
  if (c.routeRefresh ?? true) caps.push({ code: 2, kind: 'route-refresh' });
  if (c.enhancedRouteRefresh ?? false) caps.push({ code: 70, kind: 'enhanced-route-refresh' });
  // RFC 6793 §3: a 4-octet-AS speaker always advertises the capability.
  caps.push({ code: 65, kind: 'as4', asn: c.localAs });
  if (c.extendedMessage ?? true) caps.push({ code: 6, kind: 'extended-message' });
  const addPath = Object.entries(c.addPath ?? {});
  if (addPath.length > 0) {
    caps.push({
      code: 69,
      kind: 'add-path',
      families: addPath.map(([f, mode]) => ({ ...afiSafiOf(f), mode })),
    });
  }
  const gr = c.gracefulRestart;
  if (gr) {
    const preserved = new Set(gr.forwardingPreserved);
    caps.push({
      code: 64,
      kind: 'graceful-restart',
      restarting: gr.restarting,
      notification: gr.notification,
      restartTime: gr.restartTime,
      families: localFamilies(c).map((f) => ({ ...afiSafiOf(f), forwardingPreserved: preserved.has(f) })),
    });
  }
  if (c.hostname) caps.push({ code: 73, kind: 'fqdn', hostname: c.hostname, domain: '' });
  return {
    type: 'open',
    version: BGP_VERSION,
    myAs: c.localAs > 0xffff ? AS_TRANS : c.localAs, // RFC 6793 §4.1
    holdTime: c.holdTime ?? DEFAULT_HOLD_TIME,
    bgpId: c.localId,
    capabilities: caps,
  };
}

function capsOf<K extends Capability['kind']>(open: OpenMessage, kind: K): Extract<Capability, { kind: K }>[] {
  return open.capabilities.filter((c): c is Extract<Capability, { kind: K }> => c.kind === kind);
}

/** Families an OPEN advertises; RFC 4760 §8: none means IPv4 unicast. */
export function advertisedFamilies(open: OpenMessage): Family[] {
  const mp = capsOf(open, 'multiprotocol');
  if (mp.length === 0) return ['ipv4-unicast'];
  return [...new Set(mp.map((c) => familyOf(c.afi, c.safi)))];
}

function addPathModes(open: OpenMessage): Map<Family, AddPathMode> {
  const out = new Map<Family, AddPathMode>();
  for (const cap of capsOf(open, 'add-path')) {
    for (const f of cap.families) out.set(familyOf(f.afi, f.safi), f.mode);
  }
  return out;
}

const sends = (m: AddPathMode | undefined) => m === 'send' || m === 'both';
const receives = (m: AddPathMode | undefined) => m === 'receive' || m === 'both';

/**
 * The peer's real AS from its OPEN (RFC 6793 §4.1): the 4-octet capability when present, else
 * the My AS field. Throws OpenError Bad Peer AS when the two disagree or the AS is 0 (RFC 7607).
 */
export function peerAsOf(open: OpenMessage): number {
  const as4 = capsOf(open, 'as4');
  if (as4.length === 0) {
    if (open.myAs === 0) throw new OpenError(OpenSubcode.BAD_PEER_AS, new Uint8Array(0), 'OPEN my AS', 'peer AS 0 is reserved (RFC 7607 §2)');
    return open.myAs;
  }
  const asn = as4[0].asn;
  if (asn === 0) throw new OpenError(OpenSubcode.BAD_PEER_AS, new Uint8Array(0), 'OPEN 4-octet AS capability', 'peer AS 0 is reserved (RFC 7607 §2)');
  // RFC 6793 §4.1: My AS carries AS_TRANS exactly when the AS needs four octets.
  const expected = asn > 0xffff ? AS_TRANS : asn;
  if (open.myAs !== expected) {
    throw new OpenError(OpenSubcode.BAD_PEER_AS, new Uint8Array(0), 'OPEN my AS',
      `My AS field ${open.myAs} does not match the 4-octet AS capability ${asn} (expected ${expected}, RFC 6793 §4.1)`);
  }
  return asn;
}

/**
 * Validates the peer's OPEN against our configuration and negotiates the session. Throws
 * OpenError with the NOTIFICATION subcode and data RFC 4271 §6.2 prescribes.
 */
export function negotiate(c: SessionConfig, localOpen: OpenMessage, peerOpen: OpenMessage): NegotiatedSession {
  // RFC 4271 §6.2: version; the data is the largest version we support below theirs, else our smallest: 4.
  if (peerOpen.version !== BGP_VERSION) {
    throw new OpenError(OpenSubcode.UNSUPPORTED_VERSION_NUMBER, Uint8Array.of(0, BGP_VERSION), 'OPEN version',
      `peer speaks BGP version ${peerOpen.version}, we speak ${BGP_VERSION}`);
  }
  // RFC 4271 §6.2 Bad Peer AS; RFC 6793 §4.1 for the 4-octet form.
  const peerAs = peerAsOf(peerOpen);
  if (peerAs !== c.peerAs) {
    throw new OpenError(OpenSubcode.BAD_PEER_AS, new Uint8Array(0), 'OPEN my AS', `peer AS ${peerAs}, configured ${c.peerAs}`);
  }
  // RFC 4271 §6.2: hold time 1 or 2 is unacceptable.
  if (peerOpen.holdTime === 1 || peerOpen.holdTime === 2) {
    throw new OpenError(OpenSubcode.UNACCEPTABLE_HOLD_TIME, new Uint8Array(0), 'OPEN hold time',
      `hold time ${peerOpen.holdTime} s is neither 0 nor at least 3 s`);
  }
  // RFC 6286 §2.2: zero is always bad; our own identifier is bad only from an internal peer.
  const internal = peerAs === c.localAs;
  if (!isDottedQuad(peerOpen.bgpId) || peerOpen.bgpId === '0.0.0.0') {
    throw new OpenError(OpenSubcode.BAD_BGP_IDENTIFIER, new Uint8Array(0), 'OPEN BGP identifier', `BGP identifier '${peerOpen.bgpId}' is not a non-zero address`);
  }
  if (internal && peerOpen.bgpId === c.localId) {
    throw new OpenError(OpenSubcode.BAD_BGP_IDENTIFIER, new Uint8Array(0), 'OPEN BGP identifier',
      `internal peer uses our own BGP identifier ${c.localId} (RFC 6286 §2.2)`);
  }
  // RFC 5492 §5: a capability we require and the peer did not advertise.
  const missing = (c.requiredCapabilities ?? []).filter((code) => !peerOpen.capabilities.some((cap) => cap.code === code));
  if (missing.length > 0) {
    const data = new Uint8Array(missing.length * 2);
    missing.forEach((code, i) => { data[i * 2] = code; data[i * 2 + 1] = 0; });
    throw new OpenError(OpenSubcode.UNSUPPORTED_CAPABILITY, data, 'OPEN capabilities',
      `peer did not advertise required capabilit${missing.length === 1 ? 'y' : 'ies'} ${missing.join(', ')}`);
  }

  // RFC 4271 §4.2: the hold time is the smaller of the two; keepalive a third of it (§4.4, §10).
  const holdTime = Math.min(localOpen.holdTime, peerOpen.holdTime);
  const keepaliveTime = holdTime / 3;

  const has = (open: OpenMessage, kind: Capability['kind']) => open.capabilities.some((cap) => cap.kind === kind);
  const as4 = has(localOpen, 'as4') && has(peerOpen, 'as4');
  const peerFamilies = new Set(advertisedFamilies(peerOpen));
  const families = advertisedFamilies(localOpen).filter((f) => peerFamilies.has(f));

  // RFC 7911 §4: we receive path ids where we said receive and they said send; and the reverse.
  const ourModes = addPathModes(localOpen);
  const theirModes = addPathModes(peerOpen);
  const addPath = { receive: new Set<Family>(), send: new Set<Family>() };
  for (const f of families) {
    if (receives(ourModes.get(f)) && sends(theirModes.get(f))) addPath.receive.add(f);
    if (sends(ourModes.get(f)) && receives(theirModes.get(f))) addPath.send.add(f);
  }

  const extendedMessage = has(localOpen, 'extended-message') && has(peerOpen, 'extended-message');

  let gracefulRestart: NegotiatedGracefulRestart | null = null;
  const ourGr = capsOf(localOpen, 'graceful-restart')[0];
  const theirGr = capsOf(peerOpen, 'graceful-restart')[0];
  if (ourGr && theirGr) {
    const grFamilies = new Map<Family, { forwardingPreserved: boolean }>();
    for (const f of theirGr.families) grFamilies.set(familyOf(f.afi, f.safi), { forwardingPreserved: f.forwardingPreserved });
    gracefulRestart = {
      restartTime: theirGr.restartTime,
      restarting: theirGr.restarting,
      notification: ourGr.notification && theirGr.notification, // RFC 8538 §2
      families: grFamilies,
    };
  }
  const fqdn = capsOf(peerOpen, 'fqdn')[0];

  const rxContext: CodecContext = { as4, addPath: addPath.receive, extendedMessage };
  const txContext: CodecContext = { as4, addPath: addPath.send, extendedMessage };
  return {
    localAs: c.localAs,
    peerAs,
    localId: c.localId,
    peerId: peerOpen.bgpId,
    internal,
    holdTime,
    keepaliveTime,
    as4,
    families,
    addPath,
    extendedMessage,
    routeRefresh: has(localOpen, 'route-refresh') && has(peerOpen, 'route-refresh'),
    enhancedRouteRefresh: has(localOpen, 'enhanced-route-refresh') && has(peerOpen, 'enhanced-route-refresh'),
    gracefulRestart,
    peerHostname: fqdn ? (fqdn.domain ? `${fqdn.hostname}.${fqdn.domain}` : fqdn.hostname) : null,
    rxContext,
    txContext,
    localOpen,
    peerOpen,
  };
}

/** BGP Identifier as an unsigned 32-bit number, for §6.8 comparisons. */
export function bgpIdValue(id: string): number {
  const b = parseIPv4(id);
  if (!b) return 0;
  return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
}

/**
 * RFC 4271 §6.8 collision resolution: true when the connection WE initiated survives. The one
 * initiated by the speaker with the higher BGP Identifier is kept; RFC 6286 §2.3: with equal
 * identifiers (eBGP only), the one initiated by the speaker with the larger AS number.
 */
export function outgoingWinsCollision(localId: string, peerId: string, localAs: number, peerAs: number): boolean {
  const l = bgpIdValue(localId);
  const p = bgpIdValue(peerId);
  if (l !== p) return l > p;
  return localAs > peerAs;
}
