// The pure core of the host-backed next-hop resolver (src/dataplane/resolver.ts): RFC 4271
// §9.1.2 (unresolvable next hop -> null), §9.1.2.1 (never through our own BGP routes, protocol
// 78), §9.1.2.2 e (IGP cost: 0 connected, the route's metric otherwise), longest match, and the
// netlink message -> snapshot conversion.
import { expect } from 'chai';
import fc from 'fast-check';
import {
  affectsResolution, buildNextHopResolver, resolverAddressOf, resolverLinkOf, resolverRouteOf,
  type ResolverAddress, type ResolverLink, type ResolverRoute, type ResolverSnapshot,
} from '../../../src/dataplane/resolver';
import * as C from '../../../src/dataplane/netlink/constants';
import { NEXTHOP_RTPROT } from '../../../src/dataplane/fib/protocol';
import { parseIP } from '../../../src/lib/ip';

const ip = (t: string): Uint8Array => parseIP(t)!;
const link = (index: number, up = true): ResolverLink => ({ index, name: `if${index}`, up });
const addr = (index: number, cidr: string): ResolverAddress => {
  const [a, l] = cidr.split('/');
  return { index, address: ip(a), prefixLen: Number(l) };
};
const route = (cidr: string, over: Partial<ResolverRoute> = {}): ResolverRoute => {
  const [a, l] = cidr.split('/');
  return { dst: ip(a), dstLen: Number(l), protocol: C.RTPROT_STATIC, type: C.RTN_UNICAST, table: C.RT_TABLE_MAIN, metric: 0, oifs: [2], dead: false, ...over };
};
const snap = (s: Partial<ResolverSnapshot>): ResolverSnapshot => ({ links: [link(1), link(2)], addresses: [], routes: [], ...s });

describe('dataplane/resolver: next-hop resolution from host state (RFC 4271 §9.1.2)', () => {
  it('a next hop in a connected subnet of an up interface resolves at cost 0', () => {
    const r = buildNextHopResolver(snap({ addresses: [addr(2, '10.41.0.5/24'), addr(2, 'fd41::5/64')] }));
    expect(r.resolve('10.41.0.9', 'ipv4-unicast')).to.deep.equal({ igpCost: 0 });
    expect(r.resolve('fd41::9', 'ipv6-unicast')).to.deep.equal({ igpCost: 0 });
    expect(r.explain('10.41.0.9')).to.deep.equal({ igpCost: 0, via: 'connected', prefix: '10.41.0.0/24' });
    expect(r.resolve('10.41.1.9', 'ipv4-unicast')).to.equal(null);
    expect(r.resolve('fd42::9', 'ipv6-unicast')).to.equal(null);
  });

  it('an address on a down interface gives no connected subnet', () => {
    const r = buildNextHopResolver(snap({ links: [link(2, false)], addresses: [addr(2, '10.41.0.5/24')] }));
    expect(r.resolve('10.41.0.9', 'ipv4-unicast')).to.equal(null);
  });

  it('a covering non-BGP route resolves at its metric; the default route covers everything', () => {
    const r = buildNextHopResolver(snap({ routes: [route('10.42.0.0/16', { metric: 20 })] }));
    expect(r.resolve('10.42.3.4', 'ipv4-unicast')).to.deep.equal({ igpCost: 20 });
    expect(r.explain('10.42.3.4')).to.deep.equal({ igpCost: 20, via: 'route', prefix: '10.42.0.0/16' });
    expect(r.resolve('10.43.3.4', 'ipv4-unicast')).to.equal(null);
    const d = buildNextHopResolver(snap({ routes: [route('0.0.0.0/0', { metric: 100, protocol: C.RTPROT_BOOT }), route('::/0', { metric: 1024 })] }));
    expect(d.resolve('203.0.113.1', 'ipv4-unicast')).to.deep.equal({ igpCost: 100 });
    expect(d.resolve('2001:db8::1', 'ipv6-unicast')).to.deep.equal({ igpCost: 1024 });
  });

  it('never resolves through our own routes (protocol 78, RFC 4271 §9.1.2.1)', () => {
    const r = buildNextHopResolver(snap({ routes: [route('10.42.0.0/16', { protocol: NEXTHOP_RTPROT }), route('0.0.0.0/0', { protocol: NEXTHOP_RTPROT })] }));
    expect(r.resolve('10.42.3.4', 'ipv4-unicast')).to.equal(null);
    // ... but another daemon's routes (BIRD, protocol 12) do resolve.
    expect(buildNextHopResolver(snap({ routes: [route('10.42.0.0/16', { protocol: C.RTPROT_BIRD })] })).resolve('10.42.3.4', 'ipv4-unicast')).to.not.equal(null);
  });

  it('ignores non-unicast types, other tables, dead paths and routes whose every device is down', () => {
    const cases: ResolverRoute[] = [
      route('10.42.0.0/16', { type: C.RTN_BLACKHOLE, oifs: [] }),
      route('10.42.0.0/16', { type: C.RTN_UNREACHABLE, oifs: [] }),
      route('10.42.0.0/16', { table: 100 }),
      route('10.42.0.0/16', { table: C.RT_TABLE_LOCAL, type: C.RTN_LOCAL }),
      route('10.42.0.0/16', { dead: true }),
      route('10.42.0.0/16', { oifs: [3] }),
    ];
    for (const c of cases) {
      const r = buildNextHopResolver(snap({ links: [link(2), link(3, false)], routes: [c] }));
      expect(r.resolve('10.42.3.4', 'ipv4-unicast'), JSON.stringify({ ...c, dst: undefined })).to.equal(null);
    }
    // A multipath route with one live device still resolves.
    const m = buildNextHopResolver(snap({ links: [link(2), link(3, false)], routes: [route('10.42.0.0/16', { oifs: [3, 2], metric: 7 })] }));
    expect(m.resolve('10.42.3.4', 'ipv4-unicast')).to.deep.equal({ igpCost: 7 });
  });

  it('longest match wins; on equal prefixes connected beats a route and the lower metric beats the higher', () => {
    const r = buildNextHopResolver(snap({
      addresses: [addr(2, '10.41.0.5/24')],
      routes: [route('0.0.0.0/0', { metric: 100 }), route('10.41.0.0/16', { metric: 50 }), route('10.41.0.0/24', { metric: 5 }), route('10.41.0.128/25', { metric: 30 }), route('10.41.0.128/25', { metric: 9 })],
    }));
    expect(r.explain('10.41.0.9')).to.deep.equal({ igpCost: 0, via: 'connected', prefix: '10.41.0.0/24' });
    expect(r.explain('10.41.0.200')).to.deep.equal({ igpCost: 9, via: 'route', prefix: '10.41.0.128/25' });
    expect(r.explain('10.41.7.1')).to.deep.equal({ igpCost: 50, via: 'route', prefix: '10.41.0.0/16' });
    expect(r.explain('8.8.8.8')).to.deep.equal({ igpCost: 100, via: 'route', prefix: '0.0.0.0/0' });
  });

  it('bad next hops are unresolvable, not errors', () => {
    const r = buildNextHopResolver(snap({ routes: [route('0.0.0.0/0'), route('::/0')] }));
    for (const bad of ['', 'not-an-ip', '10.1.2', '10.1.2.256', 'fe80::1::2']) expect(r.resolve(bad, 'ipv4-unicast')).to.equal(null);
  });

  it('the fingerprint changes exactly when some answer can change', () => {
    const base = snap({ addresses: [addr(2, '10.41.0.5/24')], routes: [route('10.42.0.0/16', { metric: 5 })] });
    const a = buildNextHopResolver(base).fingerprint;
    // Same content, other order, other host address in the same subnet, and our own routes: same.
    expect(buildNextHopResolver({ ...base, routes: [route('10.99.0.0/16', { protocol: NEXTHOP_RTPROT }), ...base.routes].reverse() }).fingerprint).to.equal(a);
    expect(buildNextHopResolver({ ...base, addresses: [addr(2, '10.41.0.77/24')] }).fingerprint).to.equal(a);
    // A new metric, a new route, a link down: different.
    expect(buildNextHopResolver({ ...base, routes: [route('10.42.0.0/16', { metric: 6 })] }).fingerprint).to.not.equal(a);
    expect(buildNextHopResolver({ ...base, routes: [...base.routes, route('10.43.0.0/16')] }).fingerprint).to.not.equal(a);
    expect(buildNextHopResolver({ ...base, links: [link(2, false)] }).fingerprint).to.not.equal(a);
  });

  it('agrees with a linear longest-prefix scan (property)', () => {
    const v4 = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 }));
    const arbRoute = fc.record({ net: v4, len: fc.integer({ min: 0, max: 32 }), metric: fc.integer({ min: 0, max: 1000 }), ours: fc.boolean() });
    fc.assert(fc.property(fc.array(arbRoute, { maxLength: 12 }), fc.array(v4, { minLength: 1, maxLength: 8 }), (routes, probes) => {
      const rs = routes.map((x) => route(`10.${x.net[0]}.${x.net[1]}.0/${x.len}`, { metric: x.metric, protocol: x.ours ? NEXTHOP_RTPROT : C.RTPROT_STATIC }));
      const r = buildNextHopResolver(snap({ routes: rs }));
      for (const [a, b] of probes) {
        const target = ip(`10.${a}.${b}.1`);
        const toNum = (u: Uint8Array): number => ((u[0] << 24) >>> 0) + (u[1] << 16) + (u[2] << 8) + u[3];
        let best: { len: number; metric: number } | null = null;
        for (const x of rs) {
          if (x.protocol === NEXTHOP_RTPROT) continue;
          const mask = x.dstLen === 0 ? 0 : (0xffffffff << (32 - x.dstLen)) >>> 0;
          if (((toNum(target) & mask) >>> 0) !== ((toNum(x.dst) & mask) >>> 0)) continue;
          if (!best || x.dstLen > best.len || (x.dstLen === best.len && x.metric < best.metric)) best = { len: x.dstLen, metric: x.metric };
        }
        const got = r.resolve(`10.${a}.${b}.1`, 'ipv4-unicast');
        if ((got === null) !== (best === null)) return false;
        if (got && best && got.igpCost !== best.metric) return false;
      }
      return true;
    }), { numRuns: 300 });
  });

  describe('netlink messages -> snapshot', () => {
    it('links: up needs IFF_UP and IFF_LOWER_UP', () => {
      const base = { family: 0, type: 1, index: 4, change: 0, name: 'eth0' };
      expect(resolverLinkOf({ ...base, flags: C.IFF_UP | C.IFF_LOWER_UP }).up).to.equal(true);
      expect(resolverLinkOf({ ...base, flags: C.IFF_UP }).up).to.equal(false);
      expect(resolverLinkOf({ ...base, flags: 0 }).up).to.equal(false);
    });

    it('addresses: IFA_ADDRESS (the peer side on point-to-point) else IFA_LOCAL', () => {
      const base = { family: C.AF_INET, prefixLen: 24, flags: 0, scope: 0, index: 3 };
      expect(resolverAddressOf({ ...base, local: ip('10.0.0.1'), address: ip('10.0.0.1') })).to.deep.equal({ index: 3, address: ip('10.0.0.1'), prefixLen: 24 });
      expect(resolverAddressOf({ ...base, prefixLen: 32, local: ip('10.0.0.1'), address: ip('10.9.9.9') })?.address).to.deep.equal(ip('10.9.9.9'));
      expect(resolverAddressOf({ ...base, local: ip('10.0.0.1') })?.address).to.deep.equal(ip('10.0.0.1'));
      expect(resolverAddressOf(base)).to.equal(null);
    });

    it('routes: default destination, metric, multipath devices and dead/linkdown flags', () => {
      const base = { family: C.AF_INET, dstLen: 0, srcLen: 0, tos: 0, table: 254, protocol: 3, scope: 0, type: 1, flags: 0 };
      expect(resolverRouteOf({ ...base, oif: 2, priority: 100 })).to.deep.equal({ dst: new Uint8Array(4), dstLen: 0, protocol: 3, type: 1, table: 254, metric: 100, oifs: [2], dead: false });
      expect(resolverRouteOf({ ...base, oif: 2, flags: C.RTNH_F_LINKDOWN })?.dead).to.equal(true);
      const mp = resolverRouteOf({ ...base, multipath: [{ ifindex: 2, flags: C.RTNH_F_DEAD, weight: 1 }, { ifindex: 3, flags: 0, weight: 1 }] });
      expect(mp?.oifs).to.deep.equal([3]);
      expect(mp?.dead).to.equal(false);
      expect(resolverRouteOf({ ...base, multipath: [{ ifindex: 2, flags: C.RTNH_F_LINKDOWN, weight: 1 }] })?.dead).to.equal(true);
      expect(resolverRouteOf({ ...base, family: 7 })).to.equal(null);
    });

    it('notifications: our own route writes (protocol 78) do not trigger a refresh', () => {
      const rt = (type: number, proto: number) => ({ type, flags: 0, seq: 0, pid: 0, payload: Buffer.from([2, 24, 0, 0, 254, proto, 0, 1]) });
      expect(affectsResolution(rt(C.RTM_NEWROUTE, NEXTHOP_RTPROT))).to.equal(false);
      expect(affectsResolution(rt(C.RTM_DELROUTE, NEXTHOP_RTPROT))).to.equal(false);
      expect(affectsResolution(rt(C.RTM_NEWROUTE, C.RTPROT_STATIC))).to.equal(true);
      expect(affectsResolution(rt(C.RTM_NEWADDR, 0))).to.equal(true);
      expect(affectsResolution(rt(C.RTM_DELLINK, 0))).to.equal(true);
      expect(affectsResolution(rt(C.RTM_NEWNEIGH, 0))).to.equal(false);
    });
  });
});
