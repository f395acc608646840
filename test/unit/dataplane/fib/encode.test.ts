// Unit tests of the FIB reconciler's allocation-light write path (engineer "fibperf"): one reused
// RouteMsg filled per route (routeMsgInto / deleteMsgInto) must give exactly the messages of
// toRouteMsg / toDeleteMsg; encodeRouteInto at any offset of a dirty buffer must write exactly
// encodeRoute's bytes (padding included) and stay within routeMsgLengthBound; the compact
// installed view must read like the kernel's own report; shared single-path nexthop arrays; the
// fast IPv4 prefix parse must agree with lib/ip's parseCidr.
import { expect } from 'chai';
import fc from 'fast-check';
import { formatCidr, parseCidr } from '../../../../src/lib/ip';
import * as C from '../../../../src/dataplane/netlink/constants';
import { RouteMsg, decodeRoute, encodeRoute, encodeRouteInto, routeEncodedLength } from '../../../../src/dataplane/netlink/codec';
import {
  FibRoute, FibRouteInvalid, KernelRoute, NormRoute, deleteMsgInto, installedView, kernelRoute, normalizeRoute, routeMatches, routeMsgInto,
  routeMsgLengthBound, scratchRouteMsg, toDeleteMsg, toRouteMsg,
} from '../../../../src/dataplane/fib/route';

/** Resolves ifname to a fixed index, as the reconciler does with its link table (copy on write). */
function resolved(r: FibRoute): NormRoute {
  const n = normalizeRoute(r);
  return { ...n, nexthops: n.nexthops.map((h) => (h.ifname ? { ...h, ifindex: h.ifname === 'eth0' ? 2 : 3 } : h)) };
}

/** Drops the fields a scratch message carries as `undefined`, to compare with toRouteMsg's. */
function defined(m: RouteMsg): Partial<RouteMsg> {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined));
}

const samples: FibRoute[] = [
  { prefix: '10.1.0.0/24', nexthops: [{ gateway: '10.0.0.2', ifname: 'eth0' }] },
  { prefix: '10.1.1.0/24', nexthops: [{ gateway: '10.0.0.2', ifname: 'eth0', onlink: true }], mtu: 1450 },
  { prefix: '10.2.0.0/16', nexthops: [{ gateway: '10.0.0.2', ifname: 'eth0' }, { gateway: '10.0.0.3', ifname: 'eth1', weight: 7 }], metric: 5, table: 1000 },
  { prefix: '10.4.0.0/24', nexthops: [{ ifname: 'eth1' }], source: '10.0.0.1' },
  { prefix: '2001:db8::/32', nexthops: [{ gateway: 'fe80::1', ifname: 'eth0' }], mtu: 1400, source: '2001:db8::1' },
  { prefix: '2001:db8:1::/48', nexthops: [{ gateway: 'fe80::1', ifname: 'eth0' }, { gateway: 'fe80::2', ifname: 'eth1' }, { gateway: 'fe80::3', ifname: 'eth1', weight: 256 }] },
  { prefix: '10.3.0.0/24', type: 'blackhole', source: '10.0.0.1' },
  { prefix: 'fd00::/64', type: 'blackhole' },
];

describe('dataplane/fib allocation-light write path', () => {
  it('routeMsgInto on one reused message gives exactly toRouteMsg, route after route (no leftovers)', () => {
    const scratch = scratchRouteMsg();
    // Forwards and backwards, so every route follows one with different optional fields.
    for (const r of [...samples, ...[...samples].reverse()]) {
      const n = resolved(r);
      expect(defined(routeMsgInto(scratch, n, 78)), r.prefix).to.deep.equal(toRouteMsg(n, 78));
    }
  });

  it('deleteMsgInto gives exactly toDeleteMsg, also after a fuller message', () => {
    const scratch = scratchRouteMsg();
    for (const r of samples) {
      const k = installedView(resolved(r), 78);
      routeMsgInto(scratch, resolved(samples[4]), 78); // leaves gateway, prefsrc, mtu set
      expect(defined(deleteMsgInto(scratch, k)), r.prefix).to.deep.equal(toDeleteMsg(k));
    }
  });

  it('encodeRouteInto writes encodeRoute\'s exact bytes at any offset of a dirty buffer, within the length bound', () => {
    const scratch = scratchRouteMsg();
    for (const r of samples) {
      const n = resolved(r);
      const msg = routeMsgInto(scratch, n, 78);
      const want = encodeRoute(toRouteMsg(n, 78));
      for (const off of [0, 4, 100]) {
        const buf = Buffer.alloc(off + 400, 0xff);
        const len = encodeRouteInto(buf, off, msg);
        expect(len, r.prefix).to.equal(want.length);
        expect(routeEncodedLength(msg)).to.equal(len);
        expect(buf.subarray(off, off + len).toString('hex'), r.prefix).to.equal(want.toString('hex'));
        expect(buf[off + len], 'writes nothing past its end').to.equal(0xff);
      }
      expect(want.length, r.prefix).to.be.at.most(routeMsgLengthBound(n.nexthops.length));
      expect(decodeRoute(want).dst).to.deep.equal(n.cidr.bytes);
    }
  });

  it('zeroes the padding of an attribute whose value is not a multiple of 4 bytes', () => {
    const buf = Buffer.alloc(64, 0xff);
    const msg: RouteMsg = { family: C.AF_INET, dstLen: 16, srcLen: 0, tos: 0, table: 254, protocol: 78, scope: 0, type: C.RTN_UNICAST, flags: 0, dst: Uint8Array.of(10, 9) };
    const len = encodeRouteInto(buf, 0, msg);
    expect(buf.subarray(0, len).toString('hex')).to.equal(encodeRoute(msg).toString('hex'));
    expect(buf.subarray(len - 2, len).toString('hex')).to.equal('0000');
  });

  it('the installed view reads like the kernel\'s report of the message we wrote, and serializes as one', () => {
    for (const r of samples) {
      const n = resolved(r);
      const view = installedView(n, 78);
      const k = kernelRoute(toRouteMsg(n, 78)) as KernelRoute;
      for (const f of ['key', 'prefix', 'family', 'protocol', 'rtType', 'table', 'metric', 'tos', 'scope', 'source', 'mtu', 'dst', 'dstLen'] as const) {
        expect(view[f], `${r.prefix} ${f}`).to.deep.equal(k[f]);
      }
      expect(routeMatches(n, view), r.prefix).to.equal(true);
      const json = JSON.parse(JSON.stringify(view)) as Record<string, unknown>;
      expect(json.key).to.equal(k.key);
      expect(json.rtType).to.equal(k.rtType);
    }
  });

  it('routes via the same gateway and device share one nexthop array; others do not', () => {
    const a = normalizeRoute({ prefix: '10.5.0.0/24', nexthops: [{ gateway: '10.0.0.9', ifname: 'eth0' }] });
    const b = normalizeRoute({ prefix: '10.5.1.0/24', nexthops: [{ gateway: '10.0.0.9', ifname: 'eth0' }] });
    const onlink = normalizeRoute({ prefix: '10.5.2.0/24', nexthops: [{ gateway: '10.0.0.9', ifname: 'eth0', onlink: true }] });
    const otherDev = normalizeRoute({ prefix: '10.5.3.0/24', nexthops: [{ gateway: '10.0.0.9', ifname: 'eth1' }] });
    const byIndex = normalizeRoute({ prefix: '10.5.4.0/24', nexthops: [{ gateway: '10.0.0.9', ifindex: 2 }] });
    expect(a.nexthops).to.equal(b.nexthops);
    for (const x of [onlink, otherDev, byIndex]) expect(x.nexthops).to.not.equal(a.nexthops);
    expect(onlink.nexthops[0]).to.include({ onlink: true, ifname: 'eth0' });
    expect(byIndex.nexthops[0]).to.include({ ifindex: 2, ifname: undefined });
  });

  it('the fast IPv4 prefix parse agrees with lib/ip parseCidr on every prefix (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), (a, len) => {
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      const net = (a & mask) >>> 0;
      const text = `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`;
      const n = normalizeRoute({ prefix: text, type: 'blackhole' });
      const ref = parseCidr(text, true)!;
      expect(n.prefix).to.equal(text);
      expect({ family: n.cidr.family, bytes: n.cidr.bytes, length: n.cidr.length }).to.deep.equal(ref);
      expect(formatCidr(n.cidr)).to.equal(text);
      // The lowest bit is a host bit unless len = 32: set, the prefix is refused, naming the field.
      if (len < 32) {
        const bad = `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${(net & 255) | 1}/${len}`;
        expect(() => normalizeRoute({ prefix: bad, type: 'blackhole' })).to.throw(FibRouteInvalid, /prefix: not a CIDR with clear host bits/);
      }
    }), { numRuns: 500 });
  });

  it('IPv4 text the fast parse refuses is refused with the field named: host bits, bad length, junk', () => {
    expect(() => normalizeRoute({ prefix: '10.1.0.1/24', type: 'blackhole' })).to.throw(/prefix: not a CIDR/);
    expect(() => normalizeRoute({ prefix: '10.1.0.0/33', type: 'blackhole' })).to.throw(/prefix: not a CIDR/);
    expect(() => normalizeRoute({ prefix: '10.1.0.0/24x', type: 'blackhole' })).to.throw(/prefix: not a CIDR/);
    expect(() => normalizeRoute({ prefix: '256.1.0.0/24', type: 'blackhole' })).to.throw(/prefix: not a CIDR/);
    const cidr = normalizeRoute({ prefix: '10.1.0.0/24', type: 'blackhole' }).cidr;
    cidr.bytes[0] = 99; // a caller cannot change the prefix through the bytes it was given
    expect([...cidr.bytes]).to.deep.equal([10, 1, 0, 0]);
  });
});
