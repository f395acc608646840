// The codec against real routers' bytes: every message captured from BIRD 2, FRR, GoBGP and
// ExaBGP (proto-fixtures/, see its README.md and manifest.json) decodes with its session
// context (RFC 6793 4-octet AS, RFC 7911 ADD-PATH, RFC 8654 extended messages), re-encodes to
// the same bytes where the daemon's encoding is canonical (else decode∘encode∘decode is
// stable), and frames identically however the TCP stream is cut (RFC 4271 §4.1 Length). Every
// hand-made malformed message gives exactly its expected error (RFC 4271 §6, RFC 7606).
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { repoPath } from '../../helpers/repo';
import {
  codecContext, decodeMessage, encodeMessage, endOfRibFamily, Framer, WireError, MAX_EXTENDED_MESSAGE_LENGTH,
  type BgpMessage, type CodecContext, type WireErrorInfo,
} from '../../../src/wire';
import { bgpMessagesFromPcap } from '../../../src/cli/pcap';

interface ManifestMessage {
  file: string;
  type: string;
  sender: { daemon: string; version: string; address: string; asn: number };
  receiver: { daemon: string; version: string; address: string; asn: number };
  scenario: string;
  context: { as4: boolean; addPath: string[]; extendedMessage: boolean };
  canonical: boolean;
  nonCanonicalReason?: string;
}

interface ManifestPcap {
  file: string;
  linkType: string;
  timestampPrecision: string;
  messages: number;
}

interface Manifest {
  messages: ManifestMessage[];
  pcaps: ManifestPcap[];
}

const ROOT = repoPath('proto-fixtures');
const DAEMONS = ['bird', 'frr', 'gobgp', 'exabgp'];

function loadManifest(): Manifest {
  const file = path.join(ROOT, 'manifest.json');
  if (!fs.existsSync(file)) throw new Error(`no ${file}: run scripts/capture-fixtures`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
}

/** Every .bin under proto-fixtures/<daemon>/, relative to proto-fixtures. */
function binFilesOnDisk(): string[] {
  const out: string[] = [];
  for (const d of DAEMONS) {
    const dir = path.join(ROOT, d);
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir)) if (f.endsWith('.bin')) out.push(`${d}/${f}`);
  }
  return out.sort();
}

function ctxOf(c: { as4?: boolean; addPath?: string[]; extendedMessage?: boolean }): CodecContext {
  return codecContext({ as4: c.as4 ?? true, addPath: new Set(c.addPath ?? []), extendedMessage: c.extendedMessage ?? false });
}

function framerFor(ctx: CodecContext): Framer {
  const f = new Framer();
  if (ctx.extendedMessage) f.setMaxLength(MAX_EXTENDED_MESSAGE_LENGTH);
  return f;
}

/**
 * Undoes the encoding choices RFCs leave to the sender, as our encoder makes them: one
 * Capabilities optional parameter (RFC 5492 §4), 1-octet attribute lengths below 256
 * (RFC 4271 §4.3), MP_REACH/MP_UNREACH first (RFC 7606 §5.1), then ascending type codes
 * (RFC 4271 §5).
 */
function normalise(b: Buffer): Buffer {
  const type = b[18];
  if (type === 1) {
    const params: Buffer[] = [];
    const caps: Buffer[] = [];
    let p = 29;
    const end = 29 + b[28];
    while (p + 2 <= end) {
      const len = b[p + 1];
      if (b[p] === 2) caps.push(b.subarray(p + 2, p + 2 + len));
      else params.push(b.subarray(p, p + 2 + len));
      p += 2 + len;
    }
    const capBody = Buffer.concat(caps);
    const opt = Buffer.concat([...(caps.length ? [Buffer.from([2, capBody.length]), capBody] : []), ...params]);
    const out = Buffer.concat([b.subarray(0, 28), Buffer.from([opt.length]), opt]);
    out.writeUInt16BE(out.length, 16);
    return out;
  }
  if (type !== 2) return b;
  const wl = b.readUInt16BE(19);
  const aStart = 23 + wl;
  const al = b.readUInt16BE(21 + wl);
  const attrs: { code: number; flags: number; value: Buffer; mp: boolean }[] = [];
  for (let p = aStart; p < aStart + al;) {
    const flags = b[p];
    const code = b[p + 1];
    const ext = (flags & 0x10) !== 0;
    const len = ext ? b.readUInt16BE(p + 2) : b[p + 2];
    const v = p + (ext ? 4 : 3);
    attrs.push({ code, flags, value: b.subarray(v, v + len), mp: code === 14 || code === 15 });
    p = v + len;
  }
  const ordered = [...attrs.filter((a) => a.mp), ...attrs.filter((a) => !a.mp).sort((x, y) => x.code - y.code)];
  const enc = Buffer.concat(ordered.map((a) => {
    const ext = a.value.length > 255;
    const h = ext ? Buffer.from([(a.flags | 0x10), a.code, a.value.length >> 8, a.value.length & 0xff]) : Buffer.from([a.flags & ~0x10, a.code, a.value.length]);
    return Buffer.concat([h, a.value]);
  }));
  const alBuf = Buffer.alloc(2);
  alBuf.writeUInt16BE(enc.length);
  const out = Buffer.concat([b.subarray(0, 21 + wl), alBuf, enc, b.subarray(aStart + al)]);
  out.writeUInt16BE(out.length, 16);
  return out;
}

// Loaded at definition time so that each fixture gets its own test; an empty or missing
// manifest makes the loader test below fail rather than silently testing nothing.
let manifest: Manifest = { messages: [], pcaps: [] };
let loadError: Error | null = null;
try { manifest = loadManifest(); } catch (e) { loadError = e as Error; }

describe('wire: real-router fixtures (proto-fixtures/)', () => {
  describe('loader', () => {
    it('finds the manifest and message files, and they agree', () => {
      if (loadError) throw loadError;
      const onDisk = binFilesOnDisk();
      expect(onDisk.length, 'no .bin fixtures found under proto-fixtures/<daemon>/').to.be.greaterThan(20);
      expect(manifest.messages.length, 'manifest.json lists no messages').to.be.greaterThan(20);
      expect(manifest.messages.map((m) => m.file).sort()).to.deep.equal(onDisk);
      for (const p of manifest.pcaps) expect(fs.existsSync(path.join(ROOT, p.file)), p.file).to.equal(true);
    });

    it('has the files the README and CLI examples name', () => {
      expect(fs.existsSync(path.join(ROOT, 'bird', 'open.bin'))).to.equal(true);
      expect(fs.existsSync(path.join(ROOT, 'README.md'))).to.equal(true);
    });

    it('covers what the codec must read from real routers', () => {
      const decoded = manifest.messages.map((m) => ({ m, msg: decodeMessage(fs.readFileSync(path.join(ROOT, m.file)), ctxOf(m.context)) }));
      const has = (what: string, pred: (x: { m: ManifestMessage; msg: BgpMessage }) => boolean): void => {
        expect(decoded.some(pred), `no fixture with ${what}`).to.equal(true);
      };
      for (const d of DAEMONS) has(`an OPEN from ${d}`, (x) => x.m.sender.daemon === d && x.msg.type === 'open');
      has('an IPv4 UPDATE', (x) => x.msg.type === 'update' && x.msg.nlri.length > 0);
      has('an IPv6 UPDATE with global and link-local next hops', (x) => x.msg.type === 'update' && x.msg.attributes.mpReach?.afi === 2 && x.msg.attributes.mpReach.nextHops.length === 2);
      has('communities', (x) => x.msg.type === 'update' && !!x.msg.attributes.communities?.length);
      has('large communities', (x) => x.msg.type === 'update' && !!x.msg.attributes.largeCommunities?.length);
      has('extended communities', (x) => x.msg.type === 'update' && !!x.msg.attributes.extendedCommunities?.length);
      has('AS4_PATH from a 2-octet-AS speaker', (x) => x.msg.type === 'update' && !x.m.context.as4 && !!x.msg.attributes.as4Path);
      has('ADD-PATH NLRI', (x) => x.msg.type === 'update' && [...x.msg.nlri, ...(x.msg.attributes.mpReach?.nlri ?? [])].some((n) => n.pathId !== undefined));
      has('a graceful restart capability', (x) => x.msg.type === 'open' && x.msg.capabilities.some((c) => c.kind === 'graceful-restart'));
      has('an ADD-PATH capability', (x) => x.msg.type === 'open' && x.msg.capabilities.some((c) => c.kind === 'add-path'));
      has('End-of-RIB IPv4', (x) => x.msg.type === 'update' && endOfRibFamily(x.msg) === 'ipv4-unicast');
      has('End-of-RIB IPv6', (x) => x.msg.type === 'update' && endOfRibFamily(x.msg) === 'ipv6-unicast');
      has('a Cease with a shutdown communication', (x) => x.msg.type === 'notification' && x.msg.code === 6 && x.msg.shutdownCommunication !== undefined);
      has('a ROUTE-REFRESH', (x) => x.msg.type === 'route-refresh');
      has('a KEEPALIVE', (x) => x.msg.type === 'keepalive');
      has('an IPv4 withdrawal', (x) => x.msg.type === 'update' && x.msg.withdrawn.length > 0);
      has('an IPv6 withdrawal', (x) => x.msg.type === 'update' && !!x.msg.attributes.mpUnreach?.withdrawn.length);
    });
  });

  describe('captured messages', () => {
    for (const m of manifest.messages) {
      it(`${m.file} (${m.sender.daemon} -> ${m.receiver.daemon}, ${m.scenario})`, () => {
        const bytes = fs.readFileSync(path.join(ROOT, m.file));
        const ctx = ctxOf(m.context);
        const msg = decodeMessage(bytes, ctx);
        expect(msg.type).to.equal(m.type);
        if (msg.type === 'update') {
          expect(msg.treatAsWithdraw, 'a real router sent it: no RFC 7606 error expected').to.equal(undefined);
          expect(msg.discarded, 'a real router sent it: nothing should be discarded').to.equal(undefined);
        }
        const again = encodeMessage(msg, ctx);
        if (m.canonical) {
          expect(again.toString('hex'), 'marked canonical: re-encoding must give the same bytes').to.equal(bytes.toString('hex'));
        } else {
          expect(m.nonCanonicalReason, 'non-canonical fixtures must say why').to.be.a('string').and.not.equal('');
          expect(again.equals(bytes), 'marked non-canonical but re-encodes byte-exact: fix the manifest').to.equal(false);
          expect(decodeMessage(again, ctx)).to.deep.equal(msg);
          // The permitted variations named in the reason account for every differing octet.
          expect(normalise(bytes).toString('hex'), `not explained by: ${m.nonCanonicalReason}`).to.equal(again.toString('hex'));
        }
        // RFC 4271 §4.1: the stream may be cut anywhere; the framer must give the same message.
        for (let cut = 1; cut < bytes.length; cut++) {
          const f = framerFor(ctx);
          const got = [...f.push(bytes.subarray(0, cut)), ...f.push(bytes.subarray(cut))];
          expect(got.length, `cut at ${cut}`).to.equal(1);
          expect(Buffer.from(got[0]).equals(bytes), `cut at ${cut}`).to.equal(true);
          expect(f.buffered).to.equal(0);
        }
      });
    }

    it('each sender\'s messages, concatenated and fed one octet at a time, frame and decode identically', () => {
      for (const d of DAEMONS) {
        const mine = manifest.messages.filter((m) => m.sender.daemon === d);
        expect(mine.length, d).to.be.greaterThan(0);
        // One stream per context (a TCP connection has one context per direction).
        const byCtx = new Map<string, ManifestMessage[]>();
        for (const m of mine) {
          const k = JSON.stringify(m.context);
          byCtx.set(k, [...(byCtx.get(k) ?? []), m]);
        }
        for (const [k, ms] of byCtx) {
          const ctx = ctxOf(JSON.parse(k));
          const parts = ms.map((m) => fs.readFileSync(path.join(ROOT, m.file)));
          const stream = Buffer.concat(parts);
          const f = framerFor(ctx);
          const got: Buffer[] = [];
          for (let i = 0; i < stream.length; i++) got.push(...f.push(stream.subarray(i, i + 1)));
          expect(got.length, `${d} ${k}`).to.equal(parts.length);
          got.forEach((g, i) => {
            expect(Buffer.from(g).equals(parts[i])).to.equal(true);
            expect(decodeMessage(g, ctx)).to.deep.equal(decodeMessage(parts[i], ctx));
          });
        }
      }
    });
  });

  describe('captures (proto-fixtures/pcap/)', () => {
    for (const p of manifest.pcaps) {
      it(`${p.file}: ${p.messages} messages reassemble, none malformed`, () => {
        const cap = bgpMessagesFromPcap(fs.readFileSync(path.join(ROOT, p.file)));
        expect(cap.warnings).to.deep.equal([]);
        expect(cap.truncated, 'the capture file is whole').to.equal(undefined);
        expect(cap.messages.length).to.equal(p.messages);
        for (const m of cap.messages) expect(m.bytes.readUInt16BE(16)).to.equal(m.bytes.length);
      });
    }
  });
});

interface MalformedCase {
  name: string;
  bytes: Buffer;
  description: string;
  context: CodecContext;
  expect: { code: number; subcode: number; action: string; field: string };
}

function loadMalformed(): MalformedCase[] {
  const dir = path.join(ROOT, 'malformed');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => {
    const side = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    const base = f.replace(/\.json$/, '');
    const hexFile = path.join(dir, `${base}.hex`);
    const bytes = fs.existsSync(hexFile)
      ? Buffer.from(fs.readFileSync(hexFile, 'utf8').split('\n').map((l) => l.replace(/#.*$/, '')).join('').replace(/\s/g, ''), 'hex')
      : fs.readFileSync(path.join(dir, `${base}.bin`));
    return { name: base, bytes, description: side.description, context: ctxOf(side.context ?? {}), expect: side.expect };
  });
}

/** The error decoding reports: thrown (session reset) or on the UPDATE (RFC 7606 milder actions). */
function errorOf(bytes: Buffer, ctx: CodecContext): WireErrorInfo | null {
  try {
    const msg = decodeMessage(bytes, ctx);
    if (msg.type !== 'update') return null;
    return msg.treatAsWithdraw ?? msg.discarded?.[0] ?? null;
  } catch (e) {
    if (e instanceof WireError) return e;
    throw e;
  }
}

const malformed = loadMalformed();

describe('wire: malformed fixtures (proto-fixtures/malformed/)', () => {
  it('are there, and cover header, OPEN, UPDATE, NOTIFICATION and ROUTE-REFRESH errors', () => {
    expect(malformed.length).to.be.greaterThan(30);
    for (const code of [1, 2, 3, 7]) expect(malformed.some((m) => m.expect.code === code), `error code ${code}`).to.equal(true);
    for (const action of ['session-reset', 'treat-as-withdraw', 'attribute-discard']) {
      expect(malformed.some((m) => m.expect.action === action), action).to.equal(true);
    }
  });

  for (const m of malformed) {
    it(`${m.name}: ${m.expect.code}/${m.expect.subcode} ${m.expect.action} (${m.expect.field})`, () => {
      const e = errorOf(m.bytes, m.context);
      expect(e, `${m.description}: decoded without error`).to.not.equal(null);
      expect({ code: e!.code, subcode: e!.subcode, action: e!.action, field: e!.field }).to.deep.equal(m.expect);
      // A header error must come out of the framer as well (it sees the header first).
      if (m.expect.code === 1) {
        let framed: Buffer[] = [];
        try {
          framed = new Framer().push(m.bytes);
        } catch (fe) {
          expect(fe).to.be.instanceOf(WireError);
          expect([(fe as WireError).code, (fe as WireError).subcode]).to.deep.equal([m.expect.code, m.expect.subcode]);
          return;
        }
        // The framer passed it on whole; the decoder reports it (per-type minimum lengths).
        expect(framed.length).to.equal(1);
      }
    });
  }
});
