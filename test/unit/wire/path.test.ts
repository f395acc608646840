// RFC 6793 §4.2.3 AS path / aggregator reconstruction, RFC 4271 §9.1.2.2 path length, and
// RFC 4271 §5 / §9 re-advertisement of unknown attributes.
import { expect } from 'chai';
import fc from 'fast-check';
import {
  asPathLength, attributesForReadvertisement, codecContext, decodeMessage, effectiveAggregator,
  effectiveAsPath, encodeMessage, AS_TRANS, type PathAttributes, type UpdateMessage,
} from '../../../src/wire';

const T = AS_TRANS;

describe('wire AS4 reconciliation (RFC 6793 §4.2.3)', () => {
  it('without AS4_PATH the path is AS_PATH', () => {
    expect(effectiveAsPath({ asPath: [{ type: 2, asns: [1, 2] }] })).to.deep.equal([{ type: 2, asns: [1, 2] }]);
    expect(effectiveAsPath({})).to.deep.equal([]);
  });

  it('prepends the leading ASes AS_PATH has beyond AS4_PATH', () => {
    // An OLD speaker 65010 prepended itself after a NEW speaker built [T, T, 65001] with AS4_PATH [4200000001, 4200000002, 65001].
    const attrs: PathAttributes = {
      asPath: [{ type: 2, asns: [65010, T, T, 65001] }],
      as4Path: [{ type: 2, asns: [4200000001, 4200000002, 65001] }],
    };
    expect(effectiveAsPath(attrs)).to.deep.equal([{ type: 2, asns: [65010, 4200000001, 4200000002, 65001] }]);
  });

  it('ignores AS4_PATH when it counts more ASes than AS_PATH', () => {
    const attrs: PathAttributes = { asPath: [{ type: 2, asns: [T] }], as4Path: [{ type: 2, asns: [4200000001, 4200000002] }] };
    expect(effectiveAsPath(attrs)).to.deep.equal([{ type: 2, asns: [T] }]);
  });

  it('counts an AS_SET as one and confederation segments as none', () => {
    const attrs: PathAttributes = {
      asPath: [{ type: 3, asns: [64512] }, { type: 2, asns: [65010] }, { type: 1, asns: [T, 7] }],
      as4Path: [{ type: 1, asns: [4200000001, 7] }],
    };
    expect(asPathLength(attrs.asPath)).to.equal(2);
    expect(effectiveAsPath(attrs)).to.deep.equal([{ type: 3, asns: [64512] }, { type: 2, asns: [65010] }, { type: 1, asns: [4200000001, 7] }]);
  });

  it('ignores the AS4 attributes when AGGREGATOR holds a real 2-octet AS', () => {
    const attrs: PathAttributes = {
      asPath: [{ type: 2, asns: [65010, T] }], as4Path: [{ type: 2, asns: [4200000001] }],
      aggregator: { asn: 65010, address: '10.0.0.1' }, as4Aggregator: { asn: 4200000001, address: '10.0.0.2' },
    };
    expect(effectiveAsPath(attrs)).to.deep.equal([{ type: 2, asns: [65010, T] }]);
    expect(effectiveAggregator(attrs)).to.deep.equal({ asn: 65010, address: '10.0.0.1' });
    expect(effectiveAggregator({ ...attrs, aggregator: { asn: T, address: '10.0.0.1' } })).to.deep.equal({ asn: 4200000001, address: '10.0.0.2' });
  });

  it('keeps leading confederation segments from AS_PATH', () => {
    const attrs: PathAttributes = {
      asPath: [{ type: 3, asns: [64512, 64513] }, { type: 2, asns: [T, 65001] }],
      as4Path: [{ type: 2, asns: [4200000001, 65001] }],
    };
    expect(effectiveAsPath(attrs)).to.deep.equal([{ type: 3, asns: [64512, 64513] }, { type: 2, asns: [4200000001, 65001] }]);
  });

  it('property: any path with 4-octet ASNs built locally survives a 2-octet session (RFC 6793 §4.2.2 then §4.2.3)', () => {
    const asn = fc.oneof(fc.integer({ min: 1, max: 0xffff }).filter((a) => a !== T), fc.integer({ min: 0x10000, max: 0xffffffff }));
    // Confederation member ASNs stay 2-octet here: AS4_PATH cannot carry confederation segments
    // (RFC 6793 §3), so a 4-octet member AS cannot cross a 2-octet session at all.
    const memberAsn = fc.integer({ min: 1, max: 0xffff }).filter((a) => a !== T);
    const seg = (type: 1 | 2 | 3 | 4) => fc.array(type >= 3 ? memberAsn : asn, { minLength: 1, maxLength: 6 }).map((asns) => ({ type, asns }));
    // Canonical shape: optional leading confederation segments, then no two AS_SEQUENCEs in a row.
    const path = fc.tuple(fc.array(fc.oneof(seg(3), seg(4)), { maxLength: 2 }), fc.array(fc.oneof(seg(1), seg(2)), { maxLength: 4 }))
      .map(([confed, rest]) => [...confed, ...rest.filter((s, i) => !(s.type === 2 && i > 0 && rest[i - 1].type === 2))]);
    const ctx2 = codecContext({ as4: false });
    fc.assert(fc.property(path, fc.option(fc.record({ asn, address: fc.constant('10.0.0.1') }), { nil: undefined }), (asPath, aggregator) => {
      const attributes: PathAttributes = aggregator ? { asPath, aggregator } : { asPath };
      const d = decodeMessage(encodeMessage({ type: 'update', withdrawn: [], nlri: [], attributes }, ctx2), ctx2) as UpdateMessage;
      expect(effectiveAsPath(d.attributes)).to.deep.equal(asPath);
      expect(effectiveAggregator(d.attributes)).to.deep.equal(aggregator);
    }), { numRuns: 1000 });
  });

  it('a 4-octet path survives a trip through a 2-octet session', () => {
    const asPath = [{ type: 2 as const, asns: [65001, 4200000001, 65002] }, { type: 1 as const, asns: [4200000002, 3] }];
    const u: UpdateMessage = { type: 'update', withdrawn: [], nlri: [], attributes: { asPath, aggregator: { asn: 4200000009, address: '1.2.3.4' } } };
    const ctx2 = codecContext({ as4: false });
    const d = decodeMessage(encodeMessage(u, ctx2), ctx2) as UpdateMessage;
    expect(effectiveAsPath(d.attributes)).to.deep.equal(asPath);
    expect(effectiveAggregator(d.attributes)).to.deep.equal({ asn: 4200000009, address: '1.2.3.4' });
    // Re-advertised to a 4-octet peer: the real path, no AS4 attributes.
    const again = attributesForReadvertisement(d.attributes);
    expect(again.asPath).to.deep.equal(asPath);
    expect(again).to.not.have.any.keys('as4Path', 'as4Aggregator');
  });
});

describe('wire re-advertisement (RFC 4271 §5, §9)', () => {
  it('keeps unknown optional transitive attributes with Partial set, drops non-transitive ones', () => {
    const attrs: PathAttributes = {
      origin: 0,
      unknown: [
        { flags: 0xc0, code: 99, value: Uint8Array.of(1) },
        { flags: 0x80, code: 100, value: Uint8Array.of(2) },
        { flags: 0xe0, code: 101, value: Uint8Array.of(3) },
      ],
    };
    const out = attributesForReadvertisement(attrs);
    expect(out.unknown).to.deep.equal([
      { flags: 0xe0, code: 99, value: Uint8Array.of(1) },
      { flags: 0xe0, code: 101, value: Uint8Array.of(3) },
    ]);
    expect(attrs.unknown![0].flags).to.equal(0xc0); // input untouched
    expect(attributesForReadvertisement({ unknown: [{ flags: 0x80, code: 100, value: new Uint8Array(0) }] })).to.deep.equal({});
  });
});
