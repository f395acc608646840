// fast-check generators of canonical BGP messages: values exactly as decodeMessage returns them
// in the given codec context, so decode(encode(x)) must deep-equal x. Shared by the wire tests.
import fc from 'fast-check';
import { formatIPv6 } from '../../../src/lib/ip';
import {
  codecContext, familyOf, type AsPathSegment, type BgpMessage, type Capability, type CodecContext,
  type Family, type MpReach, type MpUnreach, type Nlri, type PathAttributes, type RawAttribute,
  type UpdateMessage,
} from '../../../src/wire';

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const ipv4 = fc.tuple(u8, u8, u8, u8).map((b) => b.join('.'));

export const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIPv6(b));

/** IPv4 next hops that can be valid (RFC 4271 §6.3): not 0.0.0.0, multicast or class E. */
export const ipv4NextHop = fc.tuple(fc.integer({ min: 1, max: 223 }), u8, u8, u8).map((b) => b.join('.'));

/** An IPv6 next-hop list whose global address can be valid: not :: nor ff00::/8 (RFC 4291). */
export const ipv6NextHops = fc.tuple(
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => { if (b[0] === 0xff) b[0] = 0xfe; b[15] |= 0x01; return formatIPv6(b); }),
  fc.option(ipv6, { nil: undefined }),
).map(([g, ll]) => (ll === undefined ? [g] : [g, ll]));

/** Canonical text of the /len prefix holding address `a` (32 bits, either sign): host bits cleared. */
export function ipv4PrefixOf(a: number, len: number): string {
  const m = len === 0 ? 0 : (a & (~0 << (32 - len))) >>> 0;
  return `${m >>> 24}.${(m >>> 16) & 255}.${(m >>> 8) & 255}.${m & 255}/${len}`;
}

export const ipv4Prefix = fc.tuple(u32, fc.integer({ min: 0, max: 32 })).map(([a, len]) => ipv4PrefixOf(a, len));

export const ipv6Prefix = fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 })).map(([b, len]) => {
  const out = new Uint8Array(16);
  for (let bit = 0; bit < len; bit++) if (b[bit >> 3] & (0x80 >> (bit & 7))) out[bit >> 3] |= 0x80 >> (bit & 7);
  return `${formatIPv6(out)}/${len}`;
});

function nlriList(prefix: fc.Arbitrary<string>, addPath: boolean, max: number): fc.Arbitrary<Nlri[]> {
  return fc.array(addPath ? fc.tuple(prefix, u32).map(([p, id]) => ({ prefix: p, pathId: id })) : prefix.map((p) => ({ prefix: p })), { maxLength: max });
}

function segments(asn: fc.Arbitrary<number>, types: (1 | 2 | 3 | 4)[]): fc.Arbitrary<AsPathSegment[]> {
  return fc.array(
    fc.record({ type: fc.constantFrom(...types), asns: fc.array(asn, { minLength: 1, maxLength: 12 }) }),
    { maxLength: 4 },
  );
}

const hex16 = fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b).toString('hex'));

const KNOWN_ATTRS = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32]);

const rawAttributes: fc.Arbitrary<RawAttribute[]> = fc
  .uniqueArray(
    fc.record({
      // Optional bit set (an unknown well-known attribute is a session error), any of T/P.
      flags: fc.constantFrom(0x80, 0xc0, 0xa0, 0xe0),
      code: u8.filter((c) => !KNOWN_ATTRS.has(c)),
      value: fc.uint8Array({ maxLength: 300 }),
    }),
    { selector: (r) => r.code, maxLength: 3 },
  )
  .map((xs) => xs.sort((a, b) => a.code - b.code));

function mpReach(ctx: CodecContext): fc.Arbitrary<MpReach> {
  const v4 = fc.record({
    afi: fc.constant(1), safi: fc.constant(1),
    nextHops: fc.oneof(ipv4NextHop.map((a) => [a]), ipv6NextHops),
    nlri: nlriList(ipv4Prefix, ctx.addPath.has('ipv4-unicast'), 20),
  });
  const v6 = fc.record({
    afi: fc.constant(2), safi: fc.constant(1),
    nextHops: ipv6NextHops,
    nlri: nlriList(ipv6Prefix, ctx.addPath.has('ipv6-unicast'), 20),
  });
  const raw = fc.record({
    afi: u16, safi: u8,
    nextHops: fc.constant([] as string[]), nlri: fc.constant([] as Nlri[]),
    nextHopRaw: fc.uint8Array({ maxLength: 40 }), nlriRaw: fc.uint8Array({ maxLength: 100 }),
  }).filter((m) => !(m.safi === 1 && (m.afi === 1 || m.afi === 2)));
  return fc.oneof(v4, v6, raw);
}

function mpUnreach(ctx: CodecContext): fc.Arbitrary<MpUnreach> {
  const v4 = fc.record({ afi: fc.constant(1), safi: fc.constant(1), withdrawn: nlriList(ipv4Prefix, ctx.addPath.has('ipv4-unicast'), 20) });
  const v6 = fc.record({ afi: fc.constant(2), safi: fc.constant(1), withdrawn: nlriList(ipv6Prefix, ctx.addPath.has('ipv6-unicast'), 20) });
  const raw = fc.record({ afi: u16, safi: u8, withdrawn: fc.constant([] as Nlri[]), withdrawnRaw: fc.uint8Array({ maxLength: 60 }) })
    .filter((m) => !(m.safi === 1 && (m.afi === 1 || m.afi === 2)));
  return fc.oneof(v4, v6, raw);
}

export function pathAttributes(ctx: CodecContext): fc.Arbitrary<PathAttributes> {
  const asn = ctx.as4 ? u32 : u16;
  const model: { [K in keyof PathAttributes]-?: fc.Arbitrary<NonNullable<PathAttributes[K]>> } = {
    origin: fc.constantFrom(0 as const, 1 as const, 2 as const),
    asPath: segments(asn, [1, 2, 3, 4]),
    nextHop: ipv4NextHop,
    med: u32,
    localPref: u32,
    atomicAggregate: fc.constant(true as const),
    aggregator: fc.record({ asn, address: ipv4 }),
    communities: fc.array(u32, { minLength: 1, maxLength: 8 }),
    originatorId: ipv4,
    clusterList: fc.array(ipv4, { minLength: 1, maxLength: 4 }),
    mpReach: mpReach(ctx),
    mpUnreach: mpUnreach(ctx),
    extendedCommunities: fc.array(hex16, { minLength: 1, maxLength: 4 }),
    as4Path: segments(u32, [1, 2]),
    as4Aggregator: fc.record({ asn: u32, address: ipv4 }),
    largeCommunities: fc.array(fc.tuple(u32, u32, u32), { minLength: 1, maxLength: 3 }),
    unknown: rawAttributes.filter((xs) => xs.length > 0),
  };
  const m = model as Record<string, fc.Arbitrary<unknown>>;
  if (ctx.as4) {
    // RFC 6793 §3: never sent to, and discarded from, a 4-octet speaker.
    delete m.as4Path;
    delete m.as4Aggregator;
  }
  return fc.record(m, { requiredKeys: [] }) as fc.Arbitrary<PathAttributes>;
}

export function updateMessage(ctx: CodecContext): fc.Arbitrary<UpdateMessage> {
  const addV4 = ctx.addPath.has('ipv4-unicast');
  return fc.record({
    withdrawn: nlriList(ipv4Prefix, addV4, 30),
    attributes: pathAttributes(ctx),
    nlri: nlriList(ipv4Prefix, addV4, 30),
  }).map(({ withdrawn, attributes, nlri }) => {
    // RFC 7606 §3 d: with NLRI the mandatory attributes must be there, or decode reports
    // treat-as-withdraw; canonical values have them.
    const hasNlri = nlri.length > 0 || (attributes.mpReach !== undefined &&
      (attributes.mpReach.nlri.length > 0 || (attributes.mpReach.nlriRaw?.length ?? 0) > 0));
    const a: PathAttributes = { ...attributes };
    if (hasNlri) {
      a.origin ??= 0;
      a.asPath ??= [];
      if (nlri.length > 0) a.nextHop ??= '192.0.2.1';
    }
    return { type: 'update' as const, withdrawn, attributes: a, nlri };
  });
}

const KNOWN_CAPS = new Set([1, 2, 6, 64, 65, 69, 70, 73]);

export const capability: fc.Arbitrary<Capability> = fc.oneof(
  fc.record({ code: fc.constant(1 as const), kind: fc.constant('multiprotocol' as const), afi: u16, safi: u8 }),
  fc.constant({ code: 2 as const, kind: 'route-refresh' as const }),
  fc.constant({ code: 70 as const, kind: 'enhanced-route-refresh' as const }),
  fc.constant({ code: 6 as const, kind: 'extended-message' as const }),
  fc.record({ code: fc.constant(65 as const), kind: fc.constant('as4' as const), asn: u32 }),
  fc.record({
    code: fc.constant(64 as const), kind: fc.constant('graceful-restart' as const), restarting: fc.boolean(),
    notification: fc.boolean(), restartTime: fc.integer({ min: 0, max: 4095 }),
    families: fc.array(fc.record({ afi: u16, safi: u8, forwardingPreserved: fc.boolean() }), { maxLength: 4 }),
  }),
  fc.record({
    code: fc.constant(69 as const), kind: fc.constant('add-path' as const),
    families: fc.array(fc.record({ afi: u16, safi: u8, mode: fc.constantFrom('receive' as const, 'send' as const, 'both' as const) }), { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    code: fc.constant(73 as const), kind: fc.constant('fqdn' as const),
    hostname: fc.stringMatching(/^[a-z0-9-]{0,30}$/), domain: fc.stringMatching(/^[a-z0-9.-]{0,30}$/),
  }),
  fc.record({ code: u8.filter((c) => !KNOWN_CAPS.has(c)), kind: fc.constant('unknown' as const), value: fc.uint8Array({ maxLength: 40 }) }),
);

export const openMessage: fc.Arbitrary<BgpMessage> = fc.record({
  type: fc.constant('open' as const),
  version: fc.constant(4),
  myAs: u16,
  holdTime: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff })),
  bgpId: ipv4.filter((a) => a !== '0.0.0.0'),
  capabilities: fc.array(capability, { maxLength: 12 }),
});

export const notificationMessage: fc.Arbitrary<BgpMessage> = fc.oneof(
  fc.record({ type: fc.constant('notification' as const), code: u8.filter((c) => c !== 6), subcode: u8, data: fc.uint8Array({ maxLength: 60 }) }),
  fc.record({ type: fc.constant('notification' as const), code: fc.constant(6), subcode: u8.filter((s) => s !== 2 && s !== 4), data: fc.uint8Array({ maxLength: 60 }) }),
  fc.tuple(fc.constantFrom(2, 4), fc.string({ minLength: 1, maxLength: 60, unit: 'grapheme' }))
    .filter(([, text]) => Buffer.byteLength(text, 'utf8') <= 255).map(([subcode, text]) => {
    const bytes = Buffer.from(text, 'utf8');
    const data = new Uint8Array(1 + bytes.length);
    data[0] = bytes.length;
    data.set(bytes, 1);
    return { type: 'notification' as const, code: 6, subcode, data, shutdownCommunication: text };
  }),
  // Administrative Shutdown with no data at all.
  fc.constantFrom(2, 4).map((subcode) => ({ type: 'notification' as const, code: 6, subcode, data: new Uint8Array(0) })),
);

export const routeRefreshMessage: fc.Arbitrary<BgpMessage> = fc.record({
  type: fc.constant('route-refresh' as const), afi: u16, safi: u8, subtype: u8,
});

/** A codec context with any combination of as4, ADD-PATH families and extended messages. */
export const codecContexts: fc.Arbitrary<CodecContext> = fc.record({
  as4: fc.boolean(),
  addPath: fc.subarray(['ipv4-unicast', 'ipv6-unicast'] as Family[]).map((xs) => new Set(xs)),
  extendedMessage: fc.boolean(),
}).map((c) => codecContext(c));

export function anyMessage(ctx: CodecContext): fc.Arbitrary<BgpMessage> {
  return fc.oneof(
    { arbitrary: updateMessage(ctx), weight: 4 },
    { arbitrary: openMessage, weight: 2 },
    { arbitrary: notificationMessage, weight: 1 },
    { arbitrary: routeRefreshMessage, weight: 1 },
    { arbitrary: fc.constant({ type: 'keepalive' as const }), weight: 1 },
  );
}

export { familyOf };
