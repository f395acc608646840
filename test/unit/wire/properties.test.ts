// Property tests of the whole codec (fast-check): round trips in every codec context, robustness
// of decodeMessage and Framer against random and mutated bytes, framing independent of chunking.
import { expect } from 'chai';
import fc from 'fast-check';
import {
  codecContext, decodeMessage, encodeMessage, Framer, INTERNAL_ERROR_FIELD, WireError, type BgpMessage, type CodecContext,
} from '../../../src/wire';
import { anyMessage, codecContexts } from './arbitraries';

/** Encodes, or returns null when the message is too long for the context (a legitimate refusal). */
function tryEncode(msg: BgpMessage, ctx: CodecContext): Buffer | null {
  try {
    return encodeMessage(msg, ctx);
  } catch (e) {
    if (e instanceof WireError && e.field === 'message length') return null;
    throw e;
  }
}

const withContext = codecContexts.chain((ctx) => anyMessage(ctx).map((msg) => ({ ctx, msg })));

/** Decodes and requires that any failure is a WireError. */
function decodeOnlyWireError(bytes: Uint8Array, ctx: CodecContext): void {
  try {
    decodeMessage(bytes, ctx);
  } catch (e) {
    if (!(e instanceof WireError)) throw new Error(`decodeMessage threw ${String(e)} (not a WireError) for ${Buffer.from(bytes).toString('hex')}`);
    if (e.field === INTERNAL_ERROR_FIELD) throw new Error(`decoder bug (${e.message}) for ${Buffer.from(bytes).toString('hex')}`);
    expect(e.action).to.equal('session-reset');
    expect(e.code).to.be.within(1, 7);
    expect(e.field).to.be.a('string').and.not.equal('');
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(b: Buffer, ms: Mutation[], fixLength: boolean): Buffer {
  let out = Buffer.from(b);
  for (const m of ms) {
    // Leave the marker alone when fixing lengths, so mutations reach the body decoders.
    const lo = fixLength ? 19 : 0;
    const span = Math.max(1, out.length - lo);
    const at = lo + (m.at % span);
    if (m.kind === 'flip' && at < out.length) out[at] ^= m.bits;
    else if (m.kind === 'set' && at < out.length) out[at] = m.value;
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
    else if (m.kind === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.count)]);
    else if (m.kind === 'truncate') out = out.subarray(0, at);
  }
  if (fixLength && out.length >= 18 && out.length <= 0xffff) out.writeUInt16BE(out.length, 16);
  return out;
}

describe('wire properties', function () {
  this.timeout(120000);

  it('decode(encode(x)) deep-equals x for every message kind in every codec context', () => {
    fc.assert(fc.property(withContext, ({ ctx, msg }) => {
      const bytes = tryEncode(msg, ctx);
      fc.pre(bytes !== null);
      expect(decodeMessage(bytes!, ctx)).to.deep.equal(msg);
    }), { numRuns: 2000 });
  });

  it('encode(decode(b)) === b for canonical encodings', () => {
    fc.assert(fc.property(withContext, ({ ctx, msg }) => {
      const bytes = tryEncode(msg, ctx);
      fc.pre(bytes !== null);
      expect(encodeMessage(decodeMessage(bytes!, ctx), ctx).toString('hex')).to.equal(bytes!.toString('hex'));
    }), { numRuns: 1000 });
  });

  it('random bytes only ever yield a WireError from decodeMessage', () => {
    const header = fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 5 }), codecContexts).map(([body, type, ctx]) => {
      const b = Buffer.alloc(19 + body.length, 0xff);
      b.writeUInt16BE(b.length, 16);
      b[18] = type;
      b.set(body, 19);
      return { b, ctx };
    });
    fc.assert(fc.property(fc.oneof(
      fc.tuple(fc.uint8Array({ maxLength: 300 }), codecContexts).map(([b, ctx]) => ({ b, ctx })),
      header,
    ), ({ b, ctx }) => decodeOnlyWireError(b, ctx)), { numRuns: 5000 });
  });

  it('mutated valid messages only ever yield a WireError from decodeMessage', () => {
    const input = fc.tuple(withContext, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.boolean());
    fc.assert(fc.property(input, ([{ ctx, msg }, ms, fixLength, otherCtx]) => {
      const bytes = tryEncode(msg, ctx);
      fc.pre(bytes !== null);
      // Decoding in the wrong context (2- vs 4-octet AS, ADD-PATH) is a mutation of its own.
      const dctx = otherCtx ? codecContext({ as4: !ctx.as4, addPath: ctx.addPath.size ? new Set() : new Set(['ipv4-unicast', 'ipv6-unicast']), extendedMessage: ctx.extendedMessage }) : ctx;
      decodeOnlyWireError(mutate(bytes!, ms, fixLength), dctx);
    }), { numRuns: 5000 });
  });

  it('the Framer only ever throws WireError, whatever the stream', () => {
    const chunks = fc.array(fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 40 }).map((b) => { const h = Buffer.alloc(19 + b.length, 0xff); h.writeUInt16BE(h.length, 16); h[18] = 4; h.set(b, 19); return h; }),
    ), { maxLength: 10 });
    fc.assert(fc.property(chunks, fc.boolean(), (cs, ext) => {
      const f = new Framer(ext ? 65535 : 4096);
      try {
        for (const c of cs) for (const m of f.push(c)) expect(m.length).to.equal(m.readUInt16BE(16));
      } catch (e) {
        if (!(e instanceof WireError)) throw e;
        // After an error the framer keeps refusing.
        expect(() => f.push(new Uint8Array([0xff]))).to.throw(WireError);
      }
    }), { numRuns: 3000 });
  });

  it('the Framer gives identical output for every split of a stream', () => {
    const stream = codecContexts.chain((ctx) => fc.array(anyMessage(ctx), { minLength: 1, maxLength: 6 }).map((ms) => ({ ctx, ms })));
    fc.assert(fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), ({ ctx, ms }, cuts) => {
      const msgs = ms.map((m) => tryEncode(m, ctx)).filter((b): b is Buffer => b !== null);
      const all = Buffer.concat(msgs);
      const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
      const f = new Framer(ctx.extendedMessage ? 65535 : 4096);
      const out: Buffer[] = [];
      let prev = 0;
      for (const p of [...points, all.length]) {
        out.push(...f.push(all.subarray(prev, p)));
        prev = p;
      }
      expect(f.buffered).to.equal(0);
      expect(out.map((b) => b.toString('hex'))).to.deep.equal(msgs.map((b) => b.toString('hex')));
    }), { numRuns: 1000 });
  });

  it('the Framer gives identical output for every split point of one small stream (exhaustive)', () => {
    const ctx = codecContext();
    const msgs = [
      encodeMessage({ type: 'keepalive' }, ctx),
      encodeMessage({ type: 'update', withdrawn: [{ prefix: '10.0.0.0/8' }], attributes: {}, nlri: [] }, ctx),
      encodeMessage({ type: 'route-refresh', afi: 1, safi: 1, subtype: 0 }, ctx),
    ];
    const all = Buffer.concat(msgs);
    for (let i = 0; i <= all.length; i++) {
      for (let j = i; j <= all.length; j++) {
        const f = new Framer();
        const out = [...f.push(all.subarray(0, i)), ...f.push(all.subarray(i, j)), ...f.push(all.subarray(j))];
        expect(out.map((b) => b.toString('hex'))).to.deep.equal(msgs.map((b) => b.toString('hex')));
      }
    }
  });
});
