// The destination table keys IPv4 unicast destinations by number (address and length) and makes
// their prefix text only when read; the speaker's receive path decodes IPv4 NLRI as numbers
// (CodecContext.numericIpv4). These tests hold the two keyings to one answer: text lookups and
// numeric lookups meet on the same destination, the text read back is the canonical text, and a
// RIB fed the same UPDATEs as numbers or as text reports the same Loc-RIB changes and ends with
// the same Loc-RIB, counters and rejections (property test over random tables, withdrawals,
// rejections and restarts).
import { expect } from 'chai';
import fc from 'fast-check';
import { DestinationTable } from '../../../src/rib/destination';
import type { Route } from '../../../src/rib/route';
import { Rib } from '../../../src/rib/rib';
import { codecContext, decodeMessage, encodeMessage, type UpdateMessage } from '../../../src/wire';
import { Ipv4Nlri, ipv4PrefixText } from '../../../src/wire/nlri';
import { ipv4Prefix, ipv4PrefixOf } from '../wire/arbitraries';
import { peer, v4Update } from './fixtures';

/** The signed 32-bit address and the length of canonical IPv4 prefix text. */
function numbersOf(prefix: string): [number, number] {
  const [a, len] = prefix.split('/');
  const o = a.split('.').map(Number);
  return [(o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3], Number(len)];
}

describe('rib/destination-table', () => {
  it('text and numeric lookups of an IPv4 prefix meet on one destination whose text reads back', () => {
    const t = new DestinationTable('ipv4-unicast');
    for (const prefix of ['0.0.0.0/0', '10.244.1.0/24', '128.0.0.0/1', '255.255.255.255/32', '192.0.2.128/25']) {
      const d = t.obtain(prefix);
      const [address, length] = numbersOf(prefix);
      expect(t.getIpv4(address, length), prefix).to.equal(d);
      expect(t.obtainIpv4(address, length), prefix).to.equal(d);
      expect(t.get(prefix), prefix).to.equal(d);
      expect(d.prefix).to.equal(prefix);
      expect(d.family).to.equal('ipv4-unicast');
    }
    expect(t.size).to.equal(5);
    // Same address, other length: another destination.
    expect(t.getIpv4(numbersOf('10.244.1.0/24')[0], 23)).to.equal(undefined);
  });

  it('keeps text that is not canonical IPv4 by its text, apart from the canonical prefix', () => {
    const t = new DestinationTable('ipv4-unicast');
    const canonical = t.obtain('10.0.0.0/8');
    for (const odd of ['010.0.0.0/8', '10.0.0.1/8', '10.0.0.0/08', '10.0.0/8', '10.0.0.0/33']) {
      const d = t.obtain(odd);
      expect(d, odd).to.not.equal(canonical);
      expect(d.prefix).to.equal(odd);
      expect(t.get(odd)).to.equal(d);
    }
    expect(t.size).to.equal(6);
    expect([...t.values()].map((d) => d.prefix)).to.have.members(['10.0.0.0/8', '010.0.0.0/8', '10.0.0.1/8', '10.0.0.0/08', '10.0.0/8', '10.0.0.0/33']);
  });

  it('deletes only its own destination, by number or by text', () => {
    const t = new DestinationTable('ipv4-unicast');
    const a = t.obtain('10.244.1.0/24');
    const b = t.obtain('10.0.0/8');
    const other = new DestinationTable('ipv4-unicast').obtain('10.244.1.0/24');
    expect(t.like(other)).to.equal(a);
    expect(t.delete(other)).to.equal(false);
    expect(t.delete(a)).to.equal(true);
    expect(t.delete(a)).to.equal(false);
    expect(t.get('10.244.1.0/24')).to.equal(undefined);
    expect(t.delete(b)).to.equal(true);
    expect(t.size).to.equal(0);
    expect([...t.values()]).to.deep.equal([]);
  });

  it('a stored path and its destination serialize to JSON (the path names its prefix, not the destination)', () => {
    const rib = new Rib({ localAs: 65000, routerId: '10.0.0.100', pools: ['10.244.0.0/16'] });
    const p = peer('10.0.0.1');
    rib.addPeer(p, { kind: 'cluster', nodeAddresses: ['10.0.0.1'] });
    rib.receive(p.id, decodeMessage(encodeMessage(v4Update(['10.244.1.0/24'], { origin: 0, asPath: [], nextHop: '10.0.0.1' }), codecContext()), codecContext({ numericIpv4: true })) as UpdateMessage, 0);
    rib.process();
    const d = rib.locRib.lookup('10.244.1.0/24')!;
    expect(JSON.parse(JSON.stringify(d.best))).to.deep.equal({ peer: '10.0.0.1', family: 'ipv4-unicast', prefix: '10.244.1.0/24', pathId: 0, nextHop: '10.0.0.1', stale: false, rejected: null });
    expect(() => JSON.stringify(d)).to.not.throw();
  });

  it('keys IPv6 destinations by text', () => {
    const t = new DestinationTable('ipv6-unicast');
    const d = t.obtain('fd00:244:0:1::/64');
    expect(t.get('fd00:244:0:1::/64')).to.equal(d);
    expect(t.getIpv4(0, 0)).to.equal(undefined);
    expect(d.prefix).to.equal('fd00:244:0:1::/64');
  });

  it('decodes IPv4 NLRI as numbers with the same text, and encodes them back to the same bytes', () => {
    const text = codecContext();
    const numeric = codecContext({ numericIpv4: true });
    fc.assert(fc.property(fc.array(ipv4Prefix, { maxLength: 30 }), fc.array(ipv4Prefix, { maxLength: 30 }), (nlri, withdrawn) => {
      const msg: UpdateMessage = { ...v4Update(nlri, { origin: 0, asPath: [], nextHop: '192.0.2.1' }, withdrawn) };
      if (nlri.length === 0) msg.attributes = {};
      const bytes = encodeMessage(msg, text);
      const asText = decodeMessage(bytes, text) as UpdateMessage;
      const asNumbers = decodeMessage(bytes, numeric) as UpdateMessage;
      for (const n of [...asNumbers.nlri, ...asNumbers.withdrawn]) expect(n).to.be.instanceOf(Ipv4Nlri);
      expect(asNumbers.nlri.map((n) => n.prefix)).to.deep.equal(asText.nlri.map((n) => n.prefix));
      expect(asNumbers.withdrawn.map((n) => n.prefix)).to.deep.equal(asText.withdrawn.map((n) => n.prefix));
      expect(JSON.parse(JSON.stringify(asNumbers.nlri))).to.deep.equal(asText.nlri);
      expect(Buffer.from(encodeMessage(asNumbers, text))).to.deep.equal(Buffer.from(bytes));
    }), { numRuns: 200 });
  });

  it('finds, adds and deletes like a Map by prefix, through runs of neighbouring prefixes, single and shared blocks', () => {
    // Prefixes from a small set of neighbours (so blocks of 16 networks fill, empty and fill
    // again), at every kind of length including /0, /1, /31 and /32, near addresses with the top
    // bit set (negative as signed 32-bit); and prefixes from anywhere (single-destination blocks).
    const near: string[] = [];
    for (const b of [0x0af40000, 0xfffffff0]) {
      for (const len of [0, 1, 24, 31, 32]) for (let off = 0; off < 4; off++) near.push(ipv4PrefixOf(b + (len === 0 ? 0 : off * 2 ** (32 - len)), len));
    }
    const prefixArb = fc.oneof({ arbitrary: fc.constantFrom(...new Set(near)), weight: 4 }, { arbitrary: ipv4Prefix, weight: 1 });
    const op = fc.tuple(fc.constantFrom('add', 'add', 'delete', 'delete', 'get'), prefixArb);
    fc.assert(
      fc.property(fc.array(op, { minLength: 40, maxLength: 300 }), (ops) => {
        const t = new DestinationTable('ipv4-unicast');
        const model = new Map<string, ReturnType<DestinationTable['obtain']>>();
        for (const [kind, prefix] of ops) {
          const [address, length] = numbersOf(prefix);
          const found = t.getIpv4(address, length);
          expect(found, `${kind} ${prefix}`).to.equal(model.get(prefix));
          if (kind === 'add' && found === undefined) {
            const d = t.addIpv4(address, length);
            expect(d.prefix).to.equal(prefix);
            model.set(prefix, d);
          } else if (kind === 'delete' && found !== undefined) {
            expect(t.delete(found)).to.equal(true);
            expect(t.delete(found)).to.equal(false);
            model.delete(prefix);
          }
          expect(t.size).to.equal(model.size);
        }
        for (const [prefix, d] of model) expect(t.get(prefix), prefix).to.equal(d);
        const listed = [...t.values()];
        expect(listed).to.have.length(model.size);
        expect(new Set(listed).size).to.equal(model.size);
        for (const d of model.values()) expect(listed.includes(d), d.prefix).to.equal(true);
      }),
      { numRuns: 300 },
    );
  });

  it('a learned prefix is one object: its first path is stored in the destination, and kept as it was once replaced', () => {
    const numeric = codecContext({ numericIpv4: true });
    const rib = new Rib({ localAs: 65000, routerId: '10.0.0.100', pools: ['10.244.0.0/16'] });
    const [a, b] = ['10.0.0.1', '10.0.0.2'].map((addr) => peer(addr, { routerId: addr }));
    for (const p of [a, b]) rib.addPeer(p, { kind: 'cluster', nodeAddresses: [p.id] });
    const receive = (p: typeof a, med: number, nlri: string[], withdrawn: string[] = []) => {
      const msg = v4Update(nlri, { origin: 0, asPath: [], nextHop: p.id, med }, withdrawn);
      if (nlri.length === 0) msg.attributes = {};
      rib.receive(p.id, decodeMessage(encodeMessage(msg, codecContext()), numeric) as UpdateMessage, 0);
      return rib.process().changes;
    };
    receive(a, 1, ['10.244.1.0/24']);
    const d = rib.locRib.lookup('10.244.1.0/24')!;
    expect([d.first, d.best, d.destination, d.prefix, d.peer, d.pathCount]).to.deep.equal([d, d, d, '10.244.1.0/24', a, 1]);

    // Replaced: the new path is a Route of its own; the inline one is reported as it was.
    const [replaced] = receive(a, 2, ['10.244.1.0/24']);
    expect(replaced.previous).to.equal(d);
    expect([d.attrs.attrs.med, replaced.best!.attrs.attrs.med, replaced.best === d]).to.deep.equal([1, 2, false]);
    expect([d.first, d.best, rib.adjRibIn(a.id).get('ipv4-unicast', '10.244.1.0/24')]).to.deep.equal([replaced.best, replaced.best, replaced.best]);

    // The slot is not used again: a second peer's path is a Route of its own too.
    receive(b, 0, ['10.244.1.0/24']);
    expect(d.paths.includes(d)).to.equal(false);
    expect(d.pathCount).to.equal(2);

    // Withdrawn everywhere, the destination goes; a new announcement makes a new one, inline again.
    receive(a, 0, [], ['10.244.1.0/24']);
    const [gone] = receive(b, 0, [], ['10.244.1.0/24']);
    expect([gone.best, rib.locRib.lookup('10.244.1.0/24')]).to.deep.equal([null, undefined]);
    receive(b, 3, ['10.244.1.0/24']);
    const again = rib.locRib.lookup('10.244.1.0/24')!;
    expect([again === d, again.first, again.peer, again.attrs.attrs.med]).to.deep.equal([false, again, b, 3]);
  });

  it('prints every address and length as canonical text', () => {
    fc.assert(fc.property(ipv4Prefix, (prefix) => {
      const [address, length] = numbersOf(prefix);
      expect(ipv4PrefixText(address, length)).to.equal(prefix);
    }), { numRuns: 500 });
  });

  it('a RIB fed UPDATEs as numbers reports the same changes and ends where one fed the same UPDATEs as text ends', () => {
    // Prefixes from a small space so announcements, replacements and withdrawals collide; the
    // pool admits half of them (the rest are rejected and kept with their reason).
    const prefix = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 7 }), fc.constantFrom(16, 24, 25))
      .map(([a, b, len]) => `10.${244 + a}.${len === 16 ? 0 : b}.${len === 25 ? 128 : 0}/${len}`);
    const step = fc.oneof(
      fc.record({ kind: fc.constant('update' as const), from: fc.integer({ min: 0, max: 1 }), nlri: fc.array(prefix, { maxLength: 6 }), withdrawn: fc.array(prefix, { maxLength: 4 }), med: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ kind: fc.constant('restart' as const), from: fc.integer({ min: 0, max: 1 }) }),
      fc.record({ kind: fc.constant('end-of-rib' as const), from: fc.integer({ min: 0, max: 1 }) }),
    );
    const text = codecContext();
    const numeric = codecContext({ numericIpv4: true });
    // A path as a Loc-RIB change reports it: the numeric RIB stores a destination's first path
    // inline in the Destination, the text RIB as a Route of its own; a replaced inline path must
    // still read as it was when reported as `previous`.
    const pathText = (r: Route | null) => (r === null ? '-' : `${r.prefix} via ${r.peer.id} med ${r.attrs.attrs.med}${r.stale ? ' stale' : ''}`);
    fc.assert(fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
      const ribs = [text, numeric].map((ctx) => {
        const rib = new Rib({ localAs: 65000, routerId: '10.0.0.100', pools: ['10.244.0.0/15'] });
        const peers = ['10.0.0.1', '10.0.0.2'].map((a) => peer(a, { routerId: a }));
        for (const p of peers) rib.addPeer(p, { kind: 'cluster', nodeAddresses: [p.id] });
        return { ctx, rib, peers, reported: [] as string[] };
      });
      for (const s of steps) {
        for (const { ctx, rib, peers, reported } of ribs) {
          const p = peers[s.from];
          if (s.kind === 'restart') rib.adjRibIn(p.id).markStale('ipv4-unicast');
          else if (s.kind === 'end-of-rib') rib.adjRibIn(p.id).purgeStale('ipv4-unicast');
          else {
            const msg = v4Update(s.nlri, { origin: 0, asPath: [], nextHop: p.id, med: s.med }, s.withdrawn);
            if (s.nlri.length === 0) msg.attributes = {};
            rib.receive(p.id, decodeMessage(encodeMessage(msg, text), ctx) as UpdateMessage, 0);
          }
          for (const c of rib.process().changes) {
            reported.push(`${c.prefix}: ${pathText(c.previous)} [${c.previousNextHops}] -> ${pathText(c.best)} [${c.nextHops}] (${c.reason})`);
          }
        }
      }
      const [a, b] = ribs.map(({ rib, peers, reported }) => ({
        reported,
        bests: [...rib.locRib.bests('ipv4-unicast')].map((d) => `${d.prefix} via ${d.best!.peer.id} med ${d.best!.attrs.attrs.med}`).sort(),
        size: rib.locRib.size('ipv4-unicast'),
        counts: peers.map((p) => rib.adjRibIn(p.id).counts('ipv4-unicast')),
        routes: peers.map((p) => [...rib.adjRibIn(p.id).routes('ipv4-unicast')].map((r) => `${r.prefix} ${r.rejected ?? 'ok'} ${r.stale} held ${r.attrs.refs}`).sort()),
        attributeSets: rib.locRib.store.size,
      }));
      expect(b).to.deep.equal(a);
    }), { numRuns: 150 });
  });
});
