// UPDATE message body (RFC 4271 §4.3) with the RFC 7606 revised error handling, RFC 4760
// multiprotocol attributes and RFC 7911 path identifiers.
//
//   +-----------------------------------------------------+
//   |   Withdrawn Routes Length (2 octets)                |
//   +-----------------------------------------------------+
//   |   Withdrawn Routes (variable)                       |
//   +-----------------------------------------------------+
//   |   Total Path Attribute Length (2 octets)            |
//   +-----------------------------------------------------+
//   |   Path Attributes (variable)                        |
//   +-----------------------------------------------------+
//   |   Network Layer Reachability Information (variable) |
//   +-----------------------------------------------------+
//
// Decode outcome (RFC 7606 §2): a session-reset error is thrown; treat-as-withdraw is reported in
// `treatAsWithdraw` (the first such error; parsing continues so a later session-reset error still
// wins, §3); attribute-discard in `discarded`. The NLRI are always returned so the receiver knows
// exactly what to withdraw.
import { WireError, errorInfo, ErrorCode, UpdateSubcode } from './errors';
import { decodeAttribute, encodeAttributes, attributeName, type AttrSpan } from './attributes';
import { IPV4_UNICAST } from './family';
import { decodeIpv4Prefixes, encodeIpv4Prefixes, type NlriField } from './nlri';
import { copyBytes, u16 } from './reader';
import type { CodecContext, Nlri, PathAttributes, UpdateMessage, WireErrorInfo } from './types';
import type { Writer } from './writer';

const WITHDRAWN_FIELD: NlriField = { name: 'withdrawn routes', subcode: UpdateSubcode.INVALID_NETWORK_FIELD };
const NLRI_FIELD: NlriField = { name: 'NLRI', subcode: UpdateSubcode.INVALID_NETWORK_FIELD };

function listError(field: string, message: string): WireError {
  // RFC 4271 §6.3: inconsistent Withdrawn Routes Length / Total Attribute Length -> Malformed
  // Attribute List (no data).
  return new WireError({ code: ErrorCode.UPDATE_MESSAGE, subcode: UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, field, message });
}

/** Decodes an UPDATE body b[p, end) (after the 19-octet header). */
export function decodeUpdateBody(b: Uint8Array, p: number, end: number, ctx: CodecContext): UpdateMessage {
  const addPathV4 = ctx.addPath.size > 0 && ctx.addPath.has(IPV4_UNICAST);
  if (end - p < 4) throw listError('UPDATE', `body of ${end - p} octets is shorter than the 4 length octets`);
  const wlen = u16(b, p);
  p += 2;
  if (p + wlen + 2 > end) throw listError('withdrawn routes length', `withdrawn routes length ${wlen} exceeds the message`);
  const withdrawn: Nlri[] = [];
  if (wlen > 0) decodeIpv4Prefixes(b, p, p + wlen, addPathV4, withdrawn, WITHDRAWN_FIELD, ctx.numericIpv4 === true);
  p += wlen;
  const alen = u16(b, p);
  p += 2;
  if (p + alen > end) throw listError('total path attribute length', `total path attribute length ${alen} exceeds the message`);
  const attrEnd = p + alen;
  const attributes: PathAttributes = {};
  const discarded: WireErrorInfo[] = [];
  let taw: WireErrorInfo | undefined;
  // Which attribute types were seen (RFC 7606 §3 g duplicates): bit masks for 0..31 and 32..63,
  // an array beyond.
  let seenLo = 0;
  let seenHi = 0;
  let seenRest: number[] | undefined;
  const span: AttrSpan = { b, flags: 0, code: 0, start: 0, v: 0, end: 0 };
  while (p < attrEnd) {
    const flags = b[p];
    const hdr = flags & 0x10 ? 4 : 3;
    if (attrEnd - p < hdr) {
      // RFC 7606 §4: too few octets left for an attribute header -> treat-as-withdraw; the Total
      // Attribute Length still locates the NLRI.
      taw ??= errorInfo({
        code: ErrorCode.UPDATE_MESSAGE, subcode: UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, action: 'treat-as-withdraw',
        field: 'path attributes', message: `path attributes: ${attrEnd - p} octet(s) left, too few for an attribute header`,
      });
      break;
    }
    const code = b[p + 1];
    const len = hdr === 4 ? u16(b, p + 2) : b[p + 2];
    const v = p + hdr;
    if (v + len > attrEnd) {
      // RFC 7606 §4: an attribute running past the path attribute area -> treat-as-withdraw ...
      // unless it is MP_REACH/MP_UNREACH, whose NLRI then cannot be located (§5.3 / §7.11):
      // session reset.
      const why = `${attributeName(code)}: length ${len} runs past the path attributes (${attrEnd - v} octet(s) left)`;
      if (code === 14 || code === 15) {
        throw new WireError({ code: ErrorCode.UPDATE_MESSAGE, subcode: UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, data: copyBytes(b, p, attrEnd), field: attributeName(code), message: why });
      }
      taw ??= errorInfo({
        code: ErrorCode.UPDATE_MESSAGE, subcode: UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, data: copyBytes(b, p, attrEnd),
        action: 'treat-as-withdraw', field: attributeName(code), message: why,
      });
      break;
    }
    let dup: boolean;
    if (code < 32) { dup = (seenLo & (1 << code)) !== 0; seenLo |= 1 << code; }
    else if (code < 64) { dup = (seenHi & (1 << (code - 32))) !== 0; seenHi |= 1 << (code - 32); }
    else { seenRest ??= []; dup = seenRest.includes(code); if (!dup) seenRest.push(code); }
    if (dup) {
      if (code === 14 || code === 15) {
        // RFC 7606 §3 g: a repeated MP_REACH_NLRI / MP_UNREACH_NLRI -> Malformed Attribute List.
        throw listError(attributeName(code), `${attributeName(code)} appears more than once`);
      }
      // RFC 7606 §3 g: other repeats: all but the first are discarded.
      discarded.push(errorInfo({
        code: ErrorCode.UPDATE_MESSAGE, subcode: UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, data: copyBytes(b, p, v + len),
        action: 'attribute-discard', field: attributeName(code), message: `${attributeName(code)} repeated; the repeat was discarded`,
      }));
      p = v + len;
      continue;
    }
    span.flags = flags;
    span.code = code;
    span.start = p;
    span.v = v;
    span.end = v + len;
    const err = decodeAttribute(span, attributes, ctx, discarded);
    if (err) {
      if (err.action === 'treat-as-withdraw') taw ??= err;
      else discarded.push(err);
    }
    p = v + len;
  }
  const nlri: Nlri[] = [];
  if (attrEnd < end) decodeIpv4Prefixes(b, attrEnd, end, addPathV4, nlri, NLRI_FIELD, ctx.numericIpv4 === true);
  // RFC 7606 §3 d: well-known mandatory attributes missing when there is NLRI to install ->
  // treat-as-withdraw. NEXT_HOP is needed only for the NLRI field (RFC 4760 §3: MP_REACH_NLRI
  // carries its own next hop). RFC 4271 §6.3: data is the missing attribute's type code.
  const mp = attributes.mpReach;
  const hasMpNlri = mp !== undefined && (mp.nlri.length > 0 || (mp.nlriRaw !== undefined && mp.nlriRaw.length > 0));
  if (!taw && (nlri.length > 0 || hasMpNlri)) {
    const missing = attributes.origin === undefined ? 1
      : attributes.asPath === undefined ? 2
        : nlri.length > 0 && attributes.nextHop === undefined ? 3 : 0;
    if (missing) {
      taw = errorInfo({
        code: ErrorCode.UPDATE_MESSAGE, subcode: UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE, data: Uint8Array.of(missing),
        action: 'treat-as-withdraw', field: attributeName(missing), message: `${attributeName(missing)} is missing`,
      });
    }
  }
  const msg: UpdateMessage = { type: 'update', withdrawn, attributes, nlri };
  if (taw) msg.treatAsWithdraw = taw;
  if (discarded.length > 0) msg.discarded = discarded;
  return msg;
}

/** Encodes an UPDATE body. treatAsWithdraw / discarded are receive-side reports and are ignored. */
export function encodeUpdateBody(w: Writer, msg: UpdateMessage, ctx: CodecContext): void {
  const addPathV4 = ctx.addPath.size > 0 && ctx.addPath.has(IPV4_UNICAST);
  const wAt = w.pos;
  w.u16(0);
  encodeIpv4Prefixes(w, msg.withdrawn, addPathV4, 'withdrawn routes');
  w.patch16(wAt, w.pos - wAt - 2);
  const aAt = w.pos;
  w.u16(0);
  encodeAttributes(w, msg.attributes, ctx);
  const alen = w.pos - aAt - 2;
  if (alen > 0xffff) throw new WireError({ code: 0, subcode: 0, field: 'path attributes', message: `cannot encode path attributes: ${alen} octets exceed 65535` });
  w.patch16(aAt, alen);
  encodeIpv4Prefixes(w, msg.nlri, addPathV4, 'NLRI');
}
