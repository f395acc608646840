// AS_PATH helpers: length (RFC 4271 §9.1.2.2 a, RFC 5065), neighbour AS, prepend (RFC 4271
// §5.1.2), AS4 folding at the Adj-RIB-In (RFC 6793 §4.2.3).
import { expect } from 'chai';
import { asPathLength, neighborAs, prependAs, foldAs4 } from '../../../src/rib/aspath';

describe('rib/aspath', () => {
  it('counts AS_SET as 1 and confederation segments as 0', () => {
    expect(asPathLength([{ type: 2, asns: [1, 2, 3] }, { type: 1, asns: [4, 5] }, { type: 3, asns: [6, 7] }, { type: 4, asns: [8] }])).to.equal(4);
    expect(asPathLength(undefined)).to.equal(0);
  });

  it('finds the neighbouring AS past confederation segments; none for an empty path or a leading AS_SET', () => {
    expect(neighborAs([{ type: 3, asns: [64512] }, { type: 2, asns: [65100, 1] }])).to.equal(65100);
    expect(neighborAs([])).to.equal(null);
    expect(neighborAs([{ type: 1, asns: [5, 6] }])).to.equal(null);
  });

  it('prepends to the first AS_SEQUENCE, or opens a new one (empty, AS_SET first, or full), dropping confed segments', () => {
    expect(prependAs([], 65000)).to.deep.equal([{ type: 2, asns: [65000] }]);
    expect(prependAs([{ type: 2, asns: [1] }], 65000)).to.deep.equal([{ type: 2, asns: [65000, 1] }]);
    expect(prependAs([{ type: 1, asns: [1, 2] }], 65000)).to.deep.equal([{ type: 2, asns: [65000] }, { type: 1, asns: [1, 2] }]);
    const full = Array.from({ length: 255 }, (_, i) => i + 1);
    expect(prependAs([{ type: 2, asns: full }], 65000)).to.deep.equal([{ type: 2, asns: [65000] }, { type: 2, asns: full }]);
    expect(prependAs([{ type: 3, asns: [64512] }, { type: 2, asns: [7] }], 65000)).to.deep.equal([{ type: 2, asns: [65000, 7] }]);
  });

  it('folds AS4_PATH / AS4_AGGREGATOR from a 2-octet speaker into the real path', () => {
    const folded = foldAs4({
      asPath: [{ type: 2, asns: [65001, 23456, 23456] }],
      as4Path: [{ type: 2, asns: [4200000001, 4200000002] }],
      aggregator: { asn: 23456, address: '10.0.0.1' },
      as4Aggregator: { asn: 4200000002, address: '10.0.0.1' },
    });
    expect(folded.asPath).to.deep.equal([{ type: 2, asns: [65001, 4200000001, 4200000002] }]);
    expect(folded.aggregator).to.deep.equal({ asn: 4200000002, address: '10.0.0.1' });
    expect(folded.as4Path).to.equal(undefined);
    expect(folded.as4Aggregator).to.equal(undefined);
    const plain = { asPath: [{ type: 2 as const, asns: [1] }] };
    expect(foldAs4(plain)).to.equal(plain);
  });
});
