// Unit tests of the pure FIB core: desired-route validation, kernel route decoding, equality
// (adoption without churn), the rtnetlink messages we write, and planFib's minimal writes.
import { expect } from 'chai';
import fc from 'fast-check';
import * as C from '../../../../src/dataplane/netlink/constants';
import { RouteMsg } from '../../../../src/dataplane/netlink/codec';
import { planFib } from '../../../../src/dataplane/fib/diff';
import {
  FibRoute, FibRouteInvalid, KernelRoute, NEXTHOP_RTPROT, NormRoute, installedView, kernelRoute, normalizeRoute, routeMatches,
  toDeleteMsg, toRouteMsg,
} from '../../../../src/dataplane/fib/route';
import { parseIP } from '../../../../src/lib/ip';

const ip = (s: string): Uint8Array => parseIP(s)!;

/** Resolves ifname to a fixed index, as the reconciler does with its link table. */
function resolved(r: FibRoute, links: Record<string, number> = { eth0: 2, eth1: 3 }): NormRoute {
  const n = normalizeRoute(r);
  return { ...n, nexthops: n.nexthops.map((h) => (h.ifname ? { gateway: h.gateway, ifindex: links[h.ifname], onlink: h.onlink, weight: h.weight } : h)) };
}

function kernelOf(msg: RouteMsg): KernelRoute {
  const k = kernelRoute(msg);
  if (!k) throw new Error('not a route');
  return k;
}

describe('dataplane/fib route model', () => {
  it('fills in defaults: main table, metric 0 (IPv4) / 1024 (IPv6), unicast', () => {
    const v4 = normalizeRoute({ prefix: '10.1.0.0/24', nexthops: [{ gateway: '10.0.0.2' }] });
    expect(v4).to.deep.include({ key: '10.1.0.0/24', table: 254, metric: 0, type: 'unicast' }); // main table, metric 0: the prefix alone
    expect(normalizeRoute({ prefix: '10.1.0.0/24', table: 100, nexthops: [{ gateway: '10.0.0.2' }] }).key).to.equal('100 10.1.0.0/24 0');
    const v6 = normalizeRoute({ prefix: 'FD00:0::/64', type: 'blackhole' });
    expect(v6.key).to.equal('254 fd00::/64 1024');
  });

  it('names the field of an invalid route', () => {
    const bad: [FibRoute, RegExp][] = [
      [{ prefix: '10.1.0.1/24', nexthops: [{ gateway: '10.0.0.1' }] }, /prefix/],
      [{ prefix: '10.1.0.0/24' }, /nexthops: a unicast route needs/],
      [{ prefix: '10.1.0.0/24', nexthops: [{ gateway: 'fd00::1' }] }, /nexthops\[0\]\.gateway/],
      [{ prefix: '10.1.0.0/24', nexthops: [{ gateway: '10.0.0.1', onlink: true }] }, /nexthops\[0\]\.onlink/],
      [{ prefix: '10.1.0.0/24', nexthops: [{ gateway: '10.0.0.1' }, { gateway: '10.0.0.2', weight: 0 }] }, /nexthops\[1\]\.weight/],
      [{ prefix: '10.1.0.0/24', nexthops: [{}] }, /needs a gateway or a device/],
      [{ prefix: '10.1.0.0/24', type: 'blackhole', table: 255 }, /table/],
      [{ prefix: '10.1.0.0/24', type: 'blackhole', metric: -1 }, /metric/],
      [{ prefix: '10.1.0.0/24', type: 'blackhole', source: 'x' }, /source/],
      [{ prefix: '10.1.0.0/24', type: 'local' as 'unicast' }, /type/],
    ];
    for (const [r, re] of bad) expect(() => normalizeRoute(r), JSON.stringify(r)).to.throw(FibRouteInvalid, re);
  });

  it('writes a single onlink path with RTNH_F_ONLINK in rtm_flags, our protocol, explicit priority', () => {
    const m = toRouteMsg(resolved({ prefix: '10.1.0.0/24', nexthops: [{ gateway: '192.168.0.9', ifname: 'eth0', onlink: true }] }), NEXTHOP_RTPROT);
    expect(m).to.deep.include({ protocol: 78, flags: C.RTNH_F_ONLINK, oif: 2, priority: 0, scope: C.RT_SCOPE_UNIVERSE, type: C.RTN_UNICAST, table: 254 });
    expect(m.multipath).to.equal(undefined);
  });

  it('writes ECMP as RTA_MULTIPATH with weights, device routes with scope link, blackholes without paths', () => {
    const mp = toRouteMsg(resolved({ prefix: '10.1.0.0/24', nexthops: [{ gateway: '10.0.0.2', ifname: 'eth0' }, { gateway: '10.0.1.2', ifname: 'eth1', weight: 5 }] }), 78);
    expect(mp.multipath!.map((h) => [h.ifindex, h.weight])).to.deep.equal([[2, 1], [3, 5]]);
    expect(mp.gateway).to.equal(undefined);
    const dev = toRouteMsg(resolved({ prefix: '10.1.0.0/24', nexthops: [{ ifname: 'eth0' }] }), 78);
    expect(dev.scope).to.equal(C.RT_SCOPE_LINK);
    const bh = toRouteMsg(normalizeRoute({ prefix: 'fd00::/64', type: 'blackhole' }), 78);
    expect(bh).to.deep.include({ type: C.RTN_BLACKHOLE, family: C.AF_INET6, priority: 1024 });
    expect(bh.oif).to.equal(undefined);
  });

  it('deletes with the installed identity and our protocol, scope "any"', () => {
    const k = kernelOf({ family: C.AF_INET, dstLen: 24, srcLen: 0, tos: 0, table: 100, protocol: 78, scope: 0, type: 1, flags: 0, dst: ip('10.1.0.0'), gateway: ip('10.0.0.2'), oif: 2, priority: 7 });
    expect(toDeleteMsg(k)).to.deep.include({ table: 100, protocol: 78, priority: 7, dstLen: 24, scope: C.RT_SCOPE_NOWHERE, type: 1 });
  });

  describe('routeMatches: adopting what the kernel already has', () => {
    const want = resolved({ prefix: '10.1.0.0/24', nexthops: [{ gateway: '10.0.0.2', ifname: 'eth0' }, { gateway: '10.0.1.2', ifname: 'eth1', weight: 2 }] });
    const base: RouteMsg = { family: C.AF_INET, dstLen: 24, srcLen: 0, tos: 0, table: 254, protocol: 78, scope: 0, type: 1, flags: 0, dst: ip('10.1.0.0') };

    it('matches ECMP paths in any order, ignoring kernel-added nexthop flags', () => {
      const have = kernelOf({ ...base, multipath: [{ gateway: ip('10.0.1.2'), ifindex: 3, flags: C.RTNH_F_LINKDOWN, weight: 2 }, { gateway: ip('10.0.0.2'), ifindex: 2, flags: 0, weight: 1 }] });
      expect(routeMatches(want, have)).to.equal(true);
    });

    it('does not match on a different weight, gateway, device, onlink, type, mtu or source', () => {
      const mp = (w: number, gw = '10.0.1.2', idx = 3, flags = 0): RouteMsg => ({ ...base, multipath: [{ gateway: ip('10.0.0.2'), ifindex: 2, flags: 0, weight: 1 }, { gateway: ip(gw), ifindex: idx, flags, weight: w }] });
      expect(routeMatches(want, kernelOf(mp(3)))).to.equal(false);
      expect(routeMatches(want, kernelOf(mp(2, '10.0.1.3')))).to.equal(false);
      expect(routeMatches(want, kernelOf(mp(2, '10.0.1.2', 4)))).to.equal(false);
      expect(routeMatches(want, kernelOf(mp(2, '10.0.1.2', 3, C.RTNH_F_ONLINK)))).to.equal(false);
      expect(routeMatches(want, kernelOf({ ...mp(2), type: C.RTN_BLACKHOLE }))).to.equal(false);
      expect(routeMatches(want, kernelOf({ ...mp(2), mtu: 1400 }))).to.equal(false);
      expect(routeMatches(want, kernelOf({ ...mp(2), prefsrc: ip('10.0.0.1') }))).to.equal(false);
    });

    it('lets the kernel choose the device when the desired path names none', () => {
      const w = resolved({ prefix: '10.1.0.0/24', nexthops: [{ gateway: '10.0.0.2' }] });
      expect(routeMatches(w, kernelOf({ ...base, gateway: ip('10.0.0.2'), oif: 9 }))).to.equal(true);
    });

    it('treats an IPv6 blackhole reported with "dev lo" as the blackhole we asked for', () => {
      const w = normalizeRoute({ prefix: 'fd00::/64', type: 'blackhole' });
      const k = kernelOf({ family: C.AF_INET6, dstLen: 64, srcLen: 0, tos: 0, table: 254, protocol: 78, scope: 0, type: C.RTN_BLACKHOLE, flags: 0, dst: ip('fd00::'), oif: 1, priority: 1024 });
      expect(k.key).to.equal(w.key);
      expect(routeMatches(w, k)).to.equal(true);
    });

    it('every route we write reads back as matching (installedView)', () => {
      const routes: FibRoute[] = [
        { prefix: '10.1.0.0/24', nexthops: [{ gateway: '10.0.0.2', ifname: 'eth0', onlink: true }] },
        { prefix: '10.2.0.0/16', nexthops: [{ gateway: '10.0.0.2', ifname: 'eth0' }, { gateway: '10.0.0.3', ifname: 'eth1', weight: 7 }], metric: 5, table: 1000 },
        { prefix: '2001:db8::/32', nexthops: [{ gateway: 'fe80::1', ifname: 'eth0' }], mtu: 1400 },
        { prefix: '10.3.0.0/24', type: 'blackhole', source: '10.0.0.1' },
      ];
      for (const r of routes) {
        const n = resolved(r);
        expect(routeMatches(n, kernelOf(toRouteMsg(n, 78))), r.prefix).to.equal(true);
        expect(routeMatches(n, installedView(n, 78)), r.prefix).to.equal(true);
      }
    });
  });
});

describe('dataplane/fib planFib', () => {
  const desiredOf = (routes: FibRoute[]): Map<string, NormRoute> => new Map(routes.map((r) => { const n = resolved(r); return [n.key, n]; }));
  const kernelMap = (routes: KernelRoute[]): Map<string, KernelRoute> => new Map(routes.map((k) => [k.key, k]));
  const ours = (r: FibRoute, protocol = 78): KernelRoute => kernelOf(toRouteMsg(resolved(r), protocol));

  const a: FibRoute = { prefix: '10.1.0.0/24', nexthops: [{ gateway: '10.0.0.2', ifname: 'eth0' }] };
  const b: FibRoute = { prefix: '10.2.0.0/24', nexthops: [{ gateway: '10.0.0.3', ifname: 'eth0' }] };
  const c: FibRoute = { prefix: 'fd00:1::/64', type: 'blackhole' };

  it('adopts: nothing to write when the kernel already has exactly the desired routes', () => {
    const plan = planFib(desiredOf([a, b, c]), kernelMap([ours(a), ours(b), ours(c)]), new Map());
    expect(plan).to.deep.equal({ add: [], replace: [], delete: [], conflicts: [] });
  });

  it('adds what is missing, replaces what differs, deletes our routes no longer wanted', () => {
    const bOld = ours({ ...b, nexthops: [{ gateway: '10.0.0.99', ifname: 'eth0' }] });
    const stale = ours({ prefix: '10.9.0.0/24', type: 'blackhole' });
    const plan = planFib(desiredOf([a, b]), kernelMap([bOld, stale]), new Map());
    expect(plan.add.map((r) => r.prefix)).to.deep.equal(['10.1.0.0/24']);
    expect(plan.replace.map((r) => r.prefix)).to.deep.equal(['10.2.0.0/24']);
    expect(plan.delete.map((r) => r.prefix)).to.deep.equal(['10.9.0.0/24']);
  });

  it('never writes over a foreign route on a desired key: reports a conflict', () => {
    const foreign = ours(a, C.RTPROT_STATIC);
    const plan = planFib(desiredOf([a]), new Map(), kernelMap([foreign]));
    expect(plan.add).to.deep.equal([]);
    expect(plan.conflicts.map((x) => [x.route.prefix, x.foreign.protocol])).to.deep.equal([['10.1.0.0/24', 4]]);
    // Not even when ours is also there but wrong (a REPLACE could hit the foreign one).
    const wrong = ours({ ...a, nexthops: [{ gateway: '10.0.0.77', ifname: 'eth0' }] });
    expect(planFib(desiredOf([a]), kernelMap([wrong]), kernelMap([foreign])).replace).to.deep.equal([]);
  });

  it('a different metric or table is a different key (coexists with a foreign route)', () => {
    const foreign = ours(a, C.RTPROT_STATIC);
    const plan = planFib(desiredOf([{ ...a, metric: 10 }]), new Map(), kernelMap([foreign]));
    expect(plan.add.map((r) => r.key)).to.deep.equal(['254 10.1.0.0/24 10']);
    expect(plan.conflicts).to.deep.equal([]);
  });

  it('restricts the plan to the given keys (incremental apply)', () => {
    const plan = planFib(desiredOf([a, b]), kernelMap([ours({ prefix: '10.9.0.0/24', type: 'blackhole' })]), new Map(), [normalizeRoute(b).key]);
    expect(plan.add.map((r) => r.prefix)).to.deep.equal(['10.2.0.0/24']);
    expect(plan.delete).to.deep.equal([]);
  });

  it('converges: applying a plan to a model kernel leaves nothing to do (property)', () => {
    const routeArb = fc.record({
      n: fc.integer({ min: 0, max: 40 }),
      kind: fc.constantFrom('gw', 'ecmp', 'bh', 'v6'),
      w: fc.integer({ min: 1, max: 4 }),
      gw: fc.integer({ min: 2, max: 5 }),
      metric: fc.constantFrom(undefined, 0, 10),
    }).map(({ n, kind, w, gw, metric }): FibRoute => {
      if (kind === 'bh') return { prefix: `10.${n}.0.0/16`, type: 'blackhole', metric };
      if (kind === 'v6') return { prefix: `fd00:${n}::/64`, nexthops: [{ gateway: `fd00::${gw}`, ifname: 'eth0' }], metric };
      if (kind === 'ecmp') return { prefix: `10.${n}.0.0/16`, nexthops: [{ gateway: `10.0.0.${gw}`, ifname: 'eth0' }, { gateway: '10.0.1.1', ifname: 'eth1', weight: w }], metric };
      return { prefix: `10.${n}.0.0/16`, nexthops: [{ gateway: `10.0.0.${gw}`, ifname: 'eth0' }], metric };
    });
    const uniq = (rs: FibRoute[]): FibRoute[] => [...new Map(rs.map((r) => [normalizeRoute(r).key, r])).values()];
    fc.assert(fc.property(fc.array(routeArb, { maxLength: 30 }), fc.array(routeArb, { maxLength: 30 }), fc.array(routeArb, { maxLength: 5 }), (want, have, foreignRs) => {
      const desired = desiredOf(uniq(want));
      const kernel = kernelMap(uniq(have).map((r) => ours(r)));
      const foreign = kernelMap(uniq(foreignRs).map((r) => ours(r, C.RTPROT_BOOT)));
      for (const k of foreign.keys()) kernel.delete(k); // one route per key in this model
      const plan = planFib(desired, kernel, foreign);
      for (const r of [...plan.add, ...plan.replace]) kernel.set(r.key, kernelOf(toRouteMsg(r, 78)));
      for (const k of plan.delete) kernel.delete(k.key);
      // Foreign routes were not touched; every desired key is ours or in conflict; nothing else is ours.
      for (const k of plan.delete) expect(k.protocol).to.equal(78);
      const again = planFib(desired, kernel, foreign);
      expect(again.add.length + again.replace.length + again.delete.length).to.equal(0);
      expect(again.conflicts.length).to.equal(plan.conflicts.length);
      for (const k of kernel.keys()) expect(desired.has(k)).to.equal(true);
    }), { numRuns: 300 });
  });
});
