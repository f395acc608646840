// `nexthop decode`: prints BGP messages as JSON lines, from raw bytes (binary, or hex text with
// --hex), or from a classic pcap written by `tcpdump -w` (TCP port 179, IPv4/IPv6, reassembled
// per direction by src/cli/pcap.ts). The decoding context of each direction of each TCP
// connection comes from the OPEN messages seen (RFC 6793 §4 4-octet AS: both sides sent the
// capability; RFC 7911 §4 ADD-PATH: sender may send and receiver may receive, per family;
// RFC 8654 §3 Extended Messages: both sides sent it), or from flags when there is no OPEN.
// A malformed message prints a JSON error naming the RFC 4271 §4.5 code/subcode and the field,
// and the command exits 1 after printing everything it could; so does a pcap cut short.
import * as fs from 'fs';
import {
  decodeMessage, errorCodeName, errorSubcodeName, familyOf, afiSafiOf, maxMessageLength,
  WireError, type BgpMessage, type CodecContext, type Family, type OpenMessage, type WireErrorInfo,
} from '../../wire';
import { parseFlags, UsageError } from '../usage';
import { bgpMessagesFromPcap, endpointText, isPcap, isPcapng, PcapError } from '../pcap';

export const summary = 'decode BGP messages (raw, hex, or a tcpdump pcap) into JSON lines';

const USAGE = 'usage: nexthop decode [--hex] [--add-path FAMILY]... [--two-octet-as] [--extended-message] [FILE|-]';

const HELP = `${USAGE}

Decodes BGP messages and prints one JSON object per line per message.

Input (FILE, or standard input when FILE is - or absent):
  - raw BGP messages, one after another, header included (marker, length, type);
  - with --hex: the same bytes as hex text; whitespace, colons, "0x" prefixes and
    "#" comments to the end of a line are ignored;
  - a classic pcap file as written by \`tcpdump -w FILE port 179\` (recognised by its magic
    number; Ethernet, Linux cooked SLL/SLL2, raw IP link types; IPv4 and IPv6). TCP is
    reassembled per connection and direction; retransmissions and reordering are handled.
    pcapng is not read: convert with \`editcap -F pcap IN OUT\`.

Session context (how UPDATEs are read):
  In a pcap, per TCP connection and direction, from the OPEN messages of both sides:
    4-octet AS numbers if both sent the capability (RFC 6793), ADD-PATH path identifiers for
    the families the sender may send and the receiver may receive (RFC 7911), extended
    messages up to 65535 octets if both sent the capability (RFC 8654).
  In raw input, an OPEN sets the context for the messages after it as if its peer had
  agreed to everything it offers. Before any OPEN (or without one) the flags apply:
  --add-path FAMILY     NLRI of FAMILY carry path identifiers (repeatable);
                        FAMILY is ipv4-unicast, ipv6-unicast or afiN-safiM
  --two-octet-as        AS numbers in AS_PATH/AGGREGATOR are 2 octets (no AS4 capability)
  --extended-message    allow messages up to 65535 octets (RFC 8654)
  --hex                 the input is hex text, not binary
  --help                this text

Output:
  {"offset":0,"length":29,"message":{"type":"open",...}}                           (raw input)
  {"time":"...Z","connection":0,"src":"10.0.0.1:179","dst":"10.0.0.2:40000",
   "direction":"server->client","length":..,"message":{...}}                      (pcap)
  Byte fields print as hex; communities as "65000:100", large communities as "a:b:c".
  A malformed message prints {"error":{"code","subcode","codeName","subcodeName","action",
  "field","message","data"}} in place of "message"; the exit status is then 1.

Examples:
  nexthop decode proto-fixtures/bird/open.bin
  echo 'ffffffffffffffffffffffffffffffff 0013 04' | nexthop decode --hex
  nexthop decode --add-path ipv4-unicast proto-fixtures/gobgp/update-ipv4-unicast-addpath-communities-large-ext.bin
  tcpdump -i eth0 -w bgp.pcap port 179; nexthop decode bgp.pcap

  A pcap whose last record is cut short (tcpdump killed while writing) prints every
  message of the complete records, then a warning naming the offset of the cut; exit 1.

Exit status: 0 all decoded, 1 a message was malformed or the input unreadable or cut
short, 2 bad usage.`;

/** What one side said in its OPEN, as far as the codec context is concerned. */
interface OpenSummary {
  as4: boolean;
  extendedMessage: boolean;
  addPathSend: Set<Family>;
  addPathReceive: Set<Family>;
}

/** Extracts the context-relevant capabilities of an OPEN (RFC 5492 capabilities). */
export function summariseOpen(open: OpenMessage): OpenSummary {
  const s: OpenSummary = { as4: false, extendedMessage: false, addPathSend: new Set(), addPathReceive: new Set() };
  for (const c of open.capabilities) {
    if (c.kind === 'as4') s.as4 = true;
    else if (c.kind === 'extended-message') s.extendedMessage = true;
    else if (c.kind === 'add-path') {
      for (const f of c.families) {
        const fam = familyOf(f.afi, f.safi);
        if (f.mode === 'send' || f.mode === 'both') s.addPathSend.add(fam);
        if (f.mode === 'receive' || f.mode === 'both') s.addPathReceive.add(fam);
      }
    }
  }
  return s;
}

/**
 * The context for messages sent by the speaker of `senderOpen` to the speaker of
 * `receiverOpen`. RFC 6793 §4: 4-octet AS only when both advertised it; RFC 7911 §4: a family
 * carries path ids when the sender said send/both and the receiver said receive/both;
 * RFC 8654 §3: extended messages when both advertised it.
 */
export function sessionContext(senderOpen: OpenMessage, receiverOpen: OpenMessage): CodecContext {
  const s = summariseOpen(senderOpen);
  const r = summariseOpen(receiverOpen);
  const addPath = new Set<Family>([...s.addPathSend].filter((f) => r.addPathReceive.has(f)));
  return { as4: s.as4 && r.as4, addPath, extendedMessage: s.extendedMessage && r.extendedMessage };
}

/** The context after only one OPEN is known: its peer is assumed to agree to all it offers. */
export function contextFromOneOpen(open: OpenMessage): CodecContext {
  const s = summariseOpen(open);
  return { as4: s.as4, addPath: s.addPathSend, extendedMessage: s.extendedMessage };
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** A JSON-ready copy of a message: bytes as hex, communities as text. */
export function messageToJson(msg: BgpMessage): unknown {
  return toJson(msg, '');
}

function toJson(v: unknown, key: string): unknown {
  if (v instanceof Uint8Array) return hex(v);
  if (v instanceof Set) return [...v].map((x) => toJson(x, key));
  if (Array.isArray(v)) {
    if (key === 'communities') return v.map((c: number) => `${Math.floor(c / 65536)}:${c % 65536}`);
    if (key === 'largeCommunities') return v.map((c: number[]) => c.join(':'));
    return v.map((x) => toJson(x, key));
  }
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toJson(x, k);
    return out;
  }
  return v;
}

/**
 * RFC 7606 §2 outcomes that do not throw: the UPDATE decoded, but as treat-as-withdraw or with
 * attributes discarded. The input was still malformed, so the command reports it.
 */
export function nonFatalError(msg: BgpMessage): WireErrorInfo | null {
  if (msg.type !== 'update') return null;
  return msg.treatAsWithdraw ?? msg.discarded?.[0] ?? null;
}

/** The JSON error object for a decoding failure. */
export function errorToJson(e: WireErrorInfo): { error: Record<string, unknown> } {
  return {
    error: {
      code: e.code,
      subcode: e.subcode,
      codeName: errorCodeName(e.code),
      subcodeName: errorSubcodeName(e.code, e.subcode),
      action: e.action,
      field: e.field,
      message: e.message,
      data: hex(e.data),
    },
  };
}

/** Hex text to bytes: whitespace, colons, 0x prefixes and # comments ignored. */
export function parseHex(text: string): Buffer {
  const cleaned = text.split('\n').map((l) => l.replace(/#.*$/, '')).join(' ')
    .replace(/0x/gi, '').replace(/[\s:]/g, '');
  const bad = /[^0-9a-fA-F]/.exec(cleaned);
  if (bad) throw new InputError(`--hex input: '${bad[0]}' is not a hex digit`);
  if (cleaned.length % 2 !== 0) throw new InputError(`--hex input: odd number of hex digits (${cleaned.length})`);
  return Buffer.from(cleaned, 'hex');
}

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

export interface DecodeOptions {
  hex: boolean;
  /** Context before any OPEN is seen. */
  context: CodecContext;
}

/** Decodes an input buffer into output lines (JSON objects) and whether everything decoded. */
export function decodeInput(input: Buffer, opts: DecodeOptions): { lines: object[]; ok: boolean; warnings: string[] } {
  if (!opts.hex && (isPcap(input) || isPcapng(input))) return decodePcap(input, opts.context);
  const bytes = opts.hex ? parseHex(input.toString('utf8')) : input;
  return decodeRaw(bytes, opts.context);
}

function decodeRaw(bytes: Buffer, initial: CodecContext): { lines: object[]; ok: boolean; warnings: string[] } {
  const lines: object[] = [];
  let ctx = initial;
  let ok = true;
  let offset = 0;
  // RFC 4271 §4.1: the Length field delimits messages. A header error (marker, length, type)
  // leaves the stream unframeable, so decoding stops there, as a speaker would reset.
  while (offset < bytes.length) {
    const left = bytes.length - offset;
    const declared = left >= 18 ? bytes.readUInt16BE(offset + 16) : left;
    const take = declared >= 19 && declared <= left ? declared : Math.min(left, Math.max(19, declared));
    const m = bytes.subarray(offset, offset + take);
    try {
      if (left < 19 || declared > left) {
        // A bad marker or length is reported as such (the decoder checks the header first);
        // a good header over too few octets is a truncated input.
        const markerOk = m.subarray(0, Math.min(16, m.length)).every((x) => x === 0xff);
        if (!markerOk || (left >= 19 && (declared < 19 || declared > maxMessageLength(ctx)))) decodeMessage(m, ctx);
        throw new WireError({
          code: 1, subcode: 2, field: 'message header', data: Buffer.alloc(0),
          message: `input ends inside a message: the header says ${declared} octets, ${left} left`,
        });
      }
      const msg = decodeMessage(m, ctx);
      const nonFatal = nonFatalError(msg);
      lines.push({ offset, length: m.length, message: messageToJson(msg), ...(nonFatal ? errorToJson(nonFatal) : {}) });
      if (nonFatal) ok = false;
      if (msg.type === 'open') {
        const c = contextFromOneOpen(msg);
        // A flag that forces 2-octet AS stays in force; --add-path families stay on.
        ctx = { ...c, as4: c.as4 && initial.as4, addPath: new Set([...c.addPath, ...initial.addPath]) };
      }
      offset += m.length;
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      lines.push({ offset, length: m.length, ...errorToJson(e) });
      ok = false;
      const headerError = e.code === 1;
      if (headerError) break;
      offset += m.length;
    }
  }
  return { lines, ok, warnings: [] };
}

function isoTime(sec: number, nsec: number): string {
  const base = new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  return `${base}.${String(nsec).padStart(9, '0')}Z`;
}

function decodePcap(input: Buffer, fallback: CodecContext): { lines: object[]; ok: boolean; warnings: string[] } {
  let cap;
  try {
    cap = bgpMessagesFromPcap(input);
  } catch (e) {
    if (e instanceof PcapError) throw new InputError(`${e.field}: ${e.message}`);
    throw e;
  }
  const lines: object[] = [];
  let ok = true;
  // The OPEN each side of each connection sent; keyed "connection|src endpoint".
  const opens = new Map<string, OpenMessage>();
  for (const m of cap.messages) {
    const src = endpointText(m.src);
    const dst = endpointText(m.dst);
    const sent = opens.get(`${m.connection}|${src}`);
    const received = opens.get(`${m.connection}|${dst}`);
    let ctx: CodecContext = fallback;
    if (sent && received) ctx = sessionContext(sent, received);
    else if (sent) ctx = { ...contextFromOneOpen(sent), as4: contextFromOneOpen(sent).as4 && fallback.as4 };
    const meta = { time: isoTime(m.sec, m.nsec), connection: m.connection, src, dst, direction: m.direction, length: m.bytes.length };
    try {
      const msg = decodeMessage(m.bytes, ctx);
      if (msg.type === 'open') opens.set(`${m.connection}|${src}`, msg);
      const nonFatal = nonFatalError(msg);
      lines.push({ ...meta, message: messageToJson(msg), ...(nonFatal ? errorToJson(nonFatal) : {}) });
      if (nonFatal) ok = false;
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      lines.push({ ...meta, ...errorToJson(e) });
      ok = false;
    }
  }
  const warnings = cap.warnings.map((w) => `connection ${w.connection}: ${w.message}`);
  // A capture cut short (tcpdump killed mid-write): everything before the cut is printed above;
  // the cut itself is reported, and the input counts as unreadable (exit 1).
  if (cap.truncated) {
    warnings.push(`${cap.truncated.field}: ${cap.truncated.message}; the capture was cut short (tcpdump killed while writing?)`);
    ok = false;
  }
  return { lines, ok, warnings };
}

function parseFamily(text: string): Family {
  try {
    const { afi, safi } = afiSafiOf(text);
    return familyOf(afi, safi);
  } catch {
    throw new UsageError(`--add-path: '${text}' is not a family (ipv4-unicast, ipv6-unicast, afiN-safiM)`, USAGE);
  }
}

async function readAll(file: string): Promise<Buffer> {
  if (file !== '-') return fs.readFileSync(file);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const { flags, positional } = parseFlags(args, {
    hex: 'boolean', 'add-path': 'strings', 'two-octet-as': 'boolean', 'extended-message': 'boolean',
  }, USAGE);
  if (positional.length > 1) throw new UsageError(`expected one FILE, got ${positional.length}`, USAGE);
  const addPath = new Set(((flags['add-path'] as string[] | undefined) ?? []).map(parseFamily));
  const context: CodecContext = {
    as4: !flags['two-octet-as'],
    addPath,
    extendedMessage: !!flags['extended-message'],
  };
  const file = positional[0] ?? '-';
  let input: Buffer;
  try {
    input = await readAll(file);
  } catch (e) {
    process.stderr.write(`nexthop decode: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message}\n`);
    return 1;
  }
  let result;
  try {
    result = decodeInput(input, { hex: !!flags.hex, context });
  } catch (e) {
    if (e instanceof InputError) {
      process.stderr.write(`nexthop decode: ${file}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const out = result.lines.map((l) => JSON.stringify(l)).join('\n');
  if (out) process.stdout.write(out + '\n');
  for (const w of result.warnings) process.stderr.write(`nexthop decode: warning: ${w}\n`);
  if (result.lines.length === 0) {
    process.stderr.write(`nexthop decode: ${file}: no BGP messages found\n`);
  }
  return result.ok ? 0 : 1;
}
