// OPEN capabilities (RFC 5492 §4): decode and encode of each one nexthop understands, unknown
// ones kept as bytes.
//
//   +------------------------------+
//   | Capability Code (1 octet)    |
//   +------------------------------+
//   | Capability Length (1 octet)  |
//   +------------------------------+
//   | Capability Value (variable)  |
//   +------------------------------+
//
// Codes: 1 multiprotocol (RFC 4760 §8), 2 route refresh (RFC 2918 §3), 6 extended message
// (RFC 8654 §3), 64 graceful restart (RFC 4724 §3, N bit RFC 8538 §2), 65 4-octet AS (RFC 6793 §3),
// 69 ADD-PATH (RFC 7911 §4), 70 enhanced route refresh (RFC 7313 §3), 73 FQDN
// (draft-walton-bgp-hostname-capability, as FRR sends it).
import { WireError, encodeError, ErrorCode, OpenSubcode } from './errors';
import type { Capability } from './types';
import { copyBytes, u16, u32 } from './reader';
import type { Writer } from './writer';

export const CapabilityCode = {
  MULTIPROTOCOL: 1,
  ROUTE_REFRESH: 2,
  EXTENDED_MESSAGE: 6,
  GRACEFUL_RESTART: 64,
  AS4: 65,
  ADD_PATH: 69,
  ENHANCED_ROUTE_REFRESH: 70,
  FQDN: 73,
} as const;

const ADD_PATH_MODES = ['receive', 'send', 'both'] as const;

function malformed(name: string, why: string, cap: Uint8Array): WireError {
  // RFC 5492 gives no subcode for a malformed capability; RFC 4271 §6.2: OPEN Message Error with
  // the unspecific subcode, the capability itself as data so the peer can see what we rejected.
  return new WireError({
    code: ErrorCode.OPEN_MESSAGE,
    subcode: OpenSubcode.UNSPECIFIC,
    data: cap,
    field: `OPEN capability ${name}`,
    message: `malformed ${name} capability: ${why}`,
  });
}

/** Decodes the capabilities in b[p, end) (the value of one Capabilities optional parameter). */
export function decodeCapabilities(b: Uint8Array, p: number, end: number, out: Capability[]): void {
  while (p < end) {
    if (end - p < 2) throw malformed('header', `${end - p} octet(s) left, a capability needs at least 2`, copyBytes(b, p, end));
    const code = b[p];
    const len = b[p + 1];
    const v = p + 2;
    const vend = v + len;
    if (vend > end) throw malformed(`code ${code}`, `length ${len} runs past the optional parameter`, copyBytes(b, p, end));
    out.push(decodeCapability(b, code, v, vend, p));
    p = vend;
  }
}

function decodeCapability(b: Uint8Array, code: number, v: number, end: number, start: number): Capability {
  const len = end - v;
  const whole = (): Uint8Array => copyBytes(b, start, end);
  switch (code) {
    case CapabilityCode.MULTIPROTOCOL:
      // RFC 4760 §8: AFI (2), Reserved (1), SAFI (1).
      if (len !== 4) throw malformed('multiprotocol', `length ${len}, expected 4`, whole());
      return { code: 1, kind: 'multiprotocol', afi: u16(b, v), safi: b[v + 3] };
    case CapabilityCode.ROUTE_REFRESH:
      // RFC 2918 §3: length 0.
      if (len !== 0) throw malformed('route-refresh', `length ${len}, expected 0`, whole());
      return { code: 2, kind: 'route-refresh' };
    case CapabilityCode.ENHANCED_ROUTE_REFRESH:
      // RFC 7313 §3: length 0.
      if (len !== 0) throw malformed('enhanced-route-refresh', `length ${len}, expected 0`, whole());
      return { code: 70, kind: 'enhanced-route-refresh' };
    case CapabilityCode.EXTENDED_MESSAGE:
      // RFC 8654 §3: length 0.
      if (len !== 0) throw malformed('extended-message', `length ${len}, expected 0`, whole());
      return { code: 6, kind: 'extended-message' };
    case CapabilityCode.AS4:
      // RFC 6793 §3: the 4-octet AS number.
      if (len !== 4) throw malformed('as4', `length ${len}, expected 4`, whole());
      return { code: 65, kind: 'as4', asn: u32(b, v) };
    case CapabilityCode.GRACEFUL_RESTART: {
      // RFC 4724 §3:
      //   +--------------------------------------------------+
      //   | Restart Flags (4 bits) | Restart Time (12 bits)  |
      //   +--------------------------------------------------+
      //   | AFI (16 bits) | SAFI (8 bits) | AF Flags (8 bits) |  repeated
      //   +--------------------------------------------------+
      // Restart Flags: R (0x8) restarted; N (0x4) RFC 8538 §2 notification support.
      // AF Flags: F (0x80) forwarding state preserved.
      if (len < 2 || (len - 2) % 4 !== 0) throw malformed('graceful-restart', `length ${len}, expected 2 + 4n`, whole());
      const head = u16(b, v);
      const families: { afi: number; safi: number; forwardingPreserved: boolean }[] = [];
      for (let q = v + 2; q < end; q += 4) {
        families.push({ afi: u16(b, q), safi: b[q + 2], forwardingPreserved: (b[q + 3] & 0x80) !== 0 });
      }
      return {
        code: 64,
        kind: 'graceful-restart',
        restarting: (head & 0x8000) !== 0,
        notification: (head & 0x4000) !== 0,
        restartTime: head & 0x0fff,
        families,
      };
    }
    case CapabilityCode.ADD_PATH: {
      // RFC 7911 §4: AFI (2), SAFI (1), Send/Receive (1: 1 receive, 2 send, 3 both), repeated.
      if (len === 0 || len % 4 !== 0) throw malformed('add-path', `length ${len}, expected a multiple of 4`, whole());
      const families: { afi: number; safi: number; mode: 'receive' | 'send' | 'both' }[] = [];
      for (let q = v; q < end; q += 4) {
        const sr = b[q + 3];
        // RFC 7911 §4: "If any other value is received, then the capability SHOULD be treated as
        // not understood and ignored." We ignore only that <AFI, SAFI> entry, keep the valid ones.
        if (sr < 1 || sr > 3) continue;
        families.push({ afi: u16(b, q), safi: b[q + 2], mode: ADD_PATH_MODES[sr - 1] });
      }
      // No valid entry left: the capability as a whole is not understood (RFC 5492 §3 — ignore
      // it); keep its bytes as an unknown capability so it still shows in `decode` output.
      if (families.length === 0) return { code, kind: 'unknown', value: copyBytes(b, v, end) };
      return { code: 69, kind: 'add-path', families };
    }
    case CapabilityCode.FQDN: {
      // FRR's hostname capability: Hostname Length (1), Hostname, Domain Length (1), Domain.
      if (len < 1) throw malformed('fqdn', 'empty', whole());
      const hl = b[v];
      if (v + 1 + hl + 1 > end) throw malformed('fqdn', `hostname length ${hl} runs past the capability`, whole());
      const dl = b[v + 1 + hl];
      if (v + 2 + hl + dl !== end) throw malformed('fqdn', `domain length ${dl} does not match the capability length`, whole());
      const text = (s: number, n: number): string => Buffer.from(b.buffer, b.byteOffset + s, n).toString('utf8');
      return { code: 73, kind: 'fqdn', hostname: text(v + 1, hl), domain: text(v + 2 + hl, dl) };
    }
    default:
      return { code, kind: 'unknown', value: copyBytes(b, v, end) };
  }
}

function u8Field(v: number, name: string, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw encodeError(name, `${v} is not an integer in 0..${max}`);
  return v;
}

/** Encodes one capability (code, length, value). */
export function encodeCapability(w: Writer, cap: Capability): void {
  const start = w.pos;
  w.u8(u8Field(cap.code, 'capability code', 255));
  w.u8(0);
  switch (cap.kind) {
    case 'multiprotocol':
      w.u16(u8Field(cap.afi, 'multiprotocol AFI', 0xffff));
      w.u8(0);
      w.u8(u8Field(cap.safi, 'multiprotocol SAFI', 255));
      break;
    case 'route-refresh':
    case 'enhanced-route-refresh':
    case 'extended-message':
      break;
    case 'as4':
      w.u32(u8Field(cap.asn, 'as4 capability AS number', 0xffffffff));
      break;
    case 'graceful-restart':
      w.u16((cap.restarting ? 0x8000 : 0) | (cap.notification ? 0x4000 : 0) |
        u8Field(cap.restartTime, 'graceful-restart restart time', 0x0fff));
      for (const f of cap.families) {
        w.u16(u8Field(f.afi, 'graceful-restart AFI', 0xffff));
        w.u8(u8Field(f.safi, 'graceful-restart SAFI', 255));
        w.u8(f.forwardingPreserved ? 0x80 : 0);
      }
      break;
    case 'add-path':
      for (const f of cap.families) {
        w.u16(u8Field(f.afi, 'add-path AFI', 0xffff));
        w.u8(u8Field(f.safi, 'add-path SAFI', 255));
        const mode = ADD_PATH_MODES.indexOf(f.mode);
        if (mode < 0) throw encodeError('add-path mode', `"${String(f.mode)}" is not receive, send or both`);
        w.u8(mode + 1);
      }
      break;
    case 'fqdn': {
      const host = Buffer.from(cap.hostname, 'utf8');
      const domain = Buffer.from(cap.domain, 'utf8');
      if (host.length > 255 || domain.length > 255) throw encodeError('fqdn capability', 'hostname and domain must each be at most 255 octets');
      w.u8(host.length);
      w.bytes(host);
      w.u8(domain.length);
      w.bytes(domain);
      break;
    }
    case 'unknown':
      w.bytes(cap.value);
      break;
    default:
      throw encodeError('capability', `unknown kind ${JSON.stringify((cap as { kind: unknown }).kind)}`);
  }
  const len = w.pos - start - 2;
  if (len > 255) throw encodeError(`capability ${cap.code}`, `value of ${len} octets exceeds 255`);
  w.patch8(start + 1, len);
}
