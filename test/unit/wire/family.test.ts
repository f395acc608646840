// Families (RFC 4760 AFI/SAFI), End-of-RIB (RFC 4724 §2), codec contexts, IPv6 text.
import { expect } from 'chai';
import fc from 'fast-check';
import { formatIPv6, parseIPv6 } from '../../../src/lib/ip';
import {
  afiSafiOf, codecContext, decodeMessage, encodeMessage, endOfRib, endOfRibFamily, familyOf,
  type UpdateMessage,
} from '../../../src/wire';
import { formatIpv6At, parseIpv6Into } from '../../../src/wire/ipv6';
import { message } from './bytes';

const ctx = codecContext();

describe('wire families and End-of-RIB', () => {
  it('names families and parses the names back', () => {
    expect(familyOf(1, 1)).to.equal('ipv4-unicast');
    expect(familyOf(2, 1)).to.equal('ipv6-unicast');
    expect(familyOf(1, 128)).to.equal('afi1-safi128');
    expect(afiSafiOf('ipv6-unicast')).to.deep.equal({ afi: 2, safi: 1 });
    expect(afiSafiOf('afi25-safi70')).to.deep.equal({ afi: 25, safi: 70 });
    for (const bad of ['afi1-safi1', 'ipv4', 'afi01-safi2', 'afi70000-safi1']) expect(() => afiSafiOf(bad), bad).to.throw(RangeError);
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 255 }), (afi, safi) => {
      expect(afiSafiOf(familyOf(afi, safi))).to.deep.equal({ afi, safi });
    }));
  });

  it('builds and recognizes End-of-RIB markers on the wire (RFC 4724 §2)', () => {
    expect(encodeMessage(endOfRib('ipv4-unicast'), ctx).toString('hex')).to.equal(message(2, '0000 0000').toString('hex'));
    expect(encodeMessage(endOfRib('ipv6-unicast'), ctx).toString('hex')).to.equal(message(2, '0000 0006 800f03 0002 01').toString('hex'));
    for (const f of ['ipv4-unicast', 'ipv6-unicast', 'afi25-safi70']) {
      expect(endOfRibFamily(decodeMessage(encodeMessage(endOfRib(f), ctx), ctx) as UpdateMessage)).to.equal(f);
    }
  });

  it('does not take ordinary UPDATEs for End-of-RIB', () => {
    const base: UpdateMessage = { type: 'update', withdrawn: [], attributes: {}, nlri: [] };
    expect(endOfRibFamily({ ...base, withdrawn: [{ prefix: '10.0.0.0/8' }] })).to.equal(null);
    expect(endOfRibFamily({ ...base, attributes: { origin: 0 } })).to.equal(null);
    expect(endOfRibFamily({ ...base, attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [{ prefix: '::/0' }] } } })).to.equal(null);
    expect(endOfRibFamily({ ...base, attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [] }, origin: 0 } })).to.equal(null);
  });

  it('codecContext defaults: as4 on, no ADD-PATH, no extended messages', () => {
    const c = codecContext();
    expect([c.as4, c.addPath.size, c.extendedMessage]).to.deep.equal([true, 0, false]);
    expect(codecContext({ as4: false }).as4).to.equal(false);
  });
});

describe('wire IPv6 text', () => {
  it('formats like lib/ip (RFC 5952) for any address', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
      expect(formatIpv6At(b, 0)).to.equal(formatIPv6(b));
    }), { numRuns: 2000 });
    // zero runs that matter: many, single, leading, trailing
    for (const t of ['::', '::1', '1::', '1:0:1:0:0:1:0:1', '0:1:0:1:0:1:0:1', '1:0:0:1:0:0:0:1']) {
      expect(formatIpv6At(parseIPv6(t)!, 0), t).to.equal(formatIPv6(parseIPv6(t)!));
    }
  });

  it('parses like lib/ip, accepting the same texts', () => {
    const texts = fc.oneof(
      fc.ipV6(),
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIPv6(b)),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.'.split('')), maxLength: 45 }),
    );
    fc.assert(fc.property(texts, (t) => {
      const out = new Uint8Array(16);
      const ok = parseIpv6Into(t, out, 0);
      const ref = parseIPv6(t);
      expect(ok, t).to.equal(ref !== null);
      if (ref) expect(Buffer.from(out).toString('hex'), t).to.equal(Buffer.from(ref).toString('hex'));
    }), { numRuns: 5000 });
  });
});
