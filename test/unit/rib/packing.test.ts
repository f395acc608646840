// UPDATE packing: sizes computed here equal what src/wire encodes, messages never exceed the
// negotiated maximum and are filled (the next prefix would not have fit), identical attributes
// share messages, IPv4 in the NLRI / withdrawn fields and IPv6 in MP_REACH / MP_UNREACH.
import { expect } from 'chai';
import fc from 'fast-check';
import { encodeMessage, decodeMessage, codecContext } from '../../../src/wire';
import type { PathAttributes, UpdateMessage } from '../../../src/wire/types';
import { packAnnouncements, packWithdrawals, updateSize, pathAttributesSize, PackingError, type PackContext } from '../../../src/rib/packing';
import { nlriSize } from '../../../src/rib/family';

function ctxFor(p: PackContext) {
  const family = new Set<string>();
  if (p.addPath) {
    family.add('ipv4-unicast');
    family.add('ipv6-unicast');
  }
  return codecContext({ as4: p.as4, addPath: family, extendedMessage: p.maxSize > 4096 });
}

function v4Prefixes(n: number, len = 24): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = (10 << 24) + i * (1 << (32 - len));
    out.push(`${(x >>> 24) & 255}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}/${len}`);
  }
  return out;
}

function v6Prefixes(n: number, len = 64): string[] {
  return Array.from({ length: n }, (_, i) => `fd00:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/${len}`);
}

/** Checks size exactness, the limit, and fullness for a run of messages of one attribute set. */
function checkRun(msgs: UpdateMessage[], p: PackContext, nextSize: (m: UpdateMessage, i: number) => number): void {
  msgs.forEach((m, i) => {
    const wire = encodeMessage(m, ctxFor(p));
    expect(wire.length, `message ${i}`).to.equal(updateSize(m, p));
    expect(wire.length).to.be.at.most(p.maxSize);
    if (i < msgs.length - 1) expect(wire.length + nextSize(m, i)).to.be.greaterThan(p.maxSize);
  });
}

const attrs: PathAttributes = { origin: 0, asPath: [{ type: 2, asns: [65000, 4200000000] }], nextHop: '10.0.0.1', localPref: 100, communities: [1, 2, 3] };

describe('rib/packing', () => {
  for (const p of [
    { as4: true, addPath: false, maxSize: 4096 },
    { as4: false, addPath: false, maxSize: 4096 },
    { as4: true, addPath: true, maxSize: 4096 },
    { as4: true, addPath: false, maxSize: 65535 },
  ]) {
    const label = `as4=${p.as4} addPath=${p.addPath} max=${p.maxSize}`;

    it(`IPv4 announcements: exact sizes, never over the maximum, full (${label})`, () => {
      const prefixes = [...v4Prefixes(3000, 24), ...v4Prefixes(500, 17), ...v4Prefixes(200, 32)];
      const msgs = packAnnouncements('ipv4-unicast', attrs, prefixes, p);
      checkRun(msgs, p, (_m, i) => nlriSize(msgs[i + 1].nlri[0].prefix, p.addPath));
      expect(msgs.flatMap((m) => m.nlri.map((n) => n.prefix))).to.deep.equal(prefixes);
      if (p.addPath) expect(msgs[0].nlri[0].pathId).to.equal(1);
      // Round trip through the decoder.
      const back = decodeMessage(encodeMessage(msgs[0], ctxFor(p)), ctxFor(p)) as UpdateMessage;
      expect(back.nlri.map((n) => n.prefix)).to.deep.equal(msgs[0].nlri.map((n) => n.prefix));
    });

    it(`IPv4 withdrawals (${label})`, () => {
      const prefixes = v4Prefixes(5000, 24);
      const msgs = packWithdrawals('ipv4-unicast', prefixes, p);
      checkRun(msgs, p, (_m, i) => nlriSize(msgs[i + 1].withdrawn[0].prefix, p.addPath));
      expect(msgs.flatMap((m) => m.withdrawn.map((n) => n.prefix))).to.deep.equal(prefixes);
    });

    it(`IPv6 announcements in MP_REACH, one and two next hops (${label})`, () => {
      for (const nextHops of [['fd00::1'], ['fd00::1', 'fe80::1']]) {
        const a: PathAttributes = { origin: 0, asPath: [], localPref: 100, mpReach: { afi: 2, safi: 1, nextHops, nlri: [] } };
        const prefixes = [...v6Prefixes(3000, 64), ...v6Prefixes(100, 128), ...v6Prefixes(10, 48)];
        const msgs = packAnnouncements('ipv6-unicast', a, prefixes, p);
        checkRun(msgs, p, (_m, i) => nlriSize(msgs[i + 1].attributes.mpReach!.nlri[0].prefix, p.addPath));
        expect(msgs.flatMap((m) => m.attributes.mpReach!.nlri.map((n) => n.prefix))).to.deep.equal(prefixes);
        expect(msgs.every((m) => m.nlri.length === 0 && m.attributes.nextHop === undefined)).to.equal(true);
      }
    });

    it(`IPv6 withdrawals in MP_UNREACH (${label})`, () => {
      const prefixes = v6Prefixes(4000, 64);
      const msgs = packWithdrawals('ipv6-unicast', prefixes, p);
      checkRun(msgs, p, (_m, i) => nlriSize(msgs[i + 1].attributes.mpUnreach!.withdrawn[0].prefix, p.addPath));
      expect(msgs.flatMap((m) => m.attributes.mpUnreach!.withdrawn.map((n) => n.prefix))).to.deep.equal(prefixes);
    });
  }

  it('attribute sizes match the encoder for arbitrary attribute sets', () => {
    const seg = fc.record({ type: fc.constantFrom(1, 2) as fc.Arbitrary<1 | 2>, asns: fc.array(fc.integer({ min: 1, max: 0xffffffff }), { minLength: 1, maxLength: 40 }) });
    const arb = fc.record({
      origin: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
      asPath: fc.array(seg, { maxLength: 8 }),
      med: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
      communities: fc.option(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 80 }), { nil: undefined }),
      clusterList: fc.option(fc.array(fc.constantFrom('1.1.1.1', '2.2.2.2'), { maxLength: 5 }), { nil: undefined }),
      largeCommunities: fc.option(fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { maxLength: 30 }), { nil: undefined }),
      aggregator: fc.option(fc.record({ asn: fc.integer({ min: 1, max: 0xffffffff }), address: fc.constant('10.1.1.1') }), { nil: undefined }),
      as4: fc.boolean(),
    });
    fc.assert(
      fc.property(arb, (x) => {
        const { as4, ...rest } = x;
        const a: PathAttributes = { ...rest, nextHop: '10.0.0.1' };
        const m: UpdateMessage = { type: 'update', withdrawn: [], attributes: a, nlri: [{ prefix: '10.0.0.0/8' }] };
        const p = { as4, addPath: false, maxSize: 65535 };
        expect(encodeMessage(m, ctxFor(p)).length).to.equal(23 + pathAttributesSize(a, as4) + 2);
      }),
      { numRuns: 200 },
    );
  });

  it('attributes too large for any NLRI: PackingError', () => {
    const huge: PathAttributes = { origin: 0, asPath: [], nextHop: '10.0.0.1', communities: Array.from({ length: 1100 }, (_, i) => i) };
    expect(() => packAnnouncements('ipv4-unicast', huge, ['10.0.0.0/24'], { as4: true, addPath: false, maxSize: 4096 })).to.throw(PackingError, /no room for NLRI/);
    expect(packAnnouncements('ipv4-unicast', huge, ['10.0.0.0/24'], { as4: true, addPath: false, maxSize: 65535 })).to.have.length(1);
  });
});
