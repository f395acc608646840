// Adj-RIB-In: UPDATE application (withdrawn, NLRI, MP_REACH/MP_UNREACH, RFC 7606 treat-as-withdraw,
// End-of-RIB), attribute interning, import rejections kept with reasons, soft reconfiguration,
// max-prefix (RFC 4486), and stale marking / purging (RFC 4724 §4.2).
import { expect } from 'chai';
import { AdjRibIn, type RouteSink } from '../../../src/rib/adj-rib-in';
import { AttributeStore } from '../../../src/rib/attributes';
import { ImportPolicy } from '../../../src/policy/import';
import type { Route } from '../../../src/rib/route';
import { peer, seq, v4Update, v6Update, v6Withdraw } from './fixtures';

class RecordingSink implements RouteSink {
  events: [Route | null, Route | null][] = [];
  routeChanged(previous: Route | null, current: Route | null): void {
    this.events.push([previous, current]);
  }
}

function setup(opts: { maxPrefix?: { limit: number; action: 'teardown' | 'warn' } } = {}) {
  const store = new AttributeStore();
  const policy = new ImportPolicy({ localAs: 65000, routerId: '10.0.0.100', clusterId: null, pools: ['10.244.0.0/16', 'fd00:244::/48'] });
  const p = peer('10.0.0.1');
  policy.setPeerRule(p.id, { kind: 'cluster', nodeAddresses: ['10.0.0.1', 'fd00::1'] });
  const sink = new RecordingSink();
  const rib = new AdjRibIn(p, store, policy, sink, opts);
  return { store, policy, p, sink, rib };
}

const base = { origin: 0 as const, asPath: [], nextHop: '10.0.0.1', localPref: 100 };

describe('rib/adj-rib-in', () => {
  it('announces, replaces and withdraws IPv4 routes, reporting changed prefixes', () => {
    const { rib, sink } = setup();
    const r1 = rib.apply(v4Update(['10.244.1.0/24', '10.244.2.0/24'], base), 1000);
    expect(r1.changed).to.deep.equal(['10.244.1.0/24', '10.244.2.0/24']);
    expect(r1.announced).to.equal(2);
    const first = rib.get('ipv4-unicast', '10.244.1.0/24')!;
    expect(first.receivedAt).to.equal(1000);
    // The same attributes again: nothing changes.
    expect(rib.apply(v4Update(['10.244.1.0/24'], base), 2000).changed).to.deep.equal([]);
    // New attributes: a new route object replaces the old one.
    const r2 = rib.apply(v4Update(['10.244.1.0/24'], { ...base, med: 5 }), 3000);
    expect(r2.changed).to.deep.equal(['10.244.1.0/24']);
    const second = rib.get('ipv4-unicast', '10.244.1.0/24')!;
    expect(second).to.not.equal(first);
    expect(sink.events.at(-1)).to.deep.equal([first, second]);
    const r3 = rib.apply(v4Update([], {}, ['10.244.1.0/24', '10.244.9.0/24']), 4000);
    expect(r3.changed).to.deep.equal(['10.244.1.0/24']);
    expect(r3.withdrawn).to.equal(2);
    expect(rib.get('ipv4-unicast', '10.244.1.0/24')).to.equal(undefined);
    expect(rib.counts('ipv4-unicast')).to.deep.equal({ total: 1, accepted: 1, rejected: 0, stale: 0 });
  });

  it('handles MP_REACH / MP_UNREACH for IPv6, keeping the MP next hops', () => {
    const { rib } = setup();
    const r = rib.apply(v6Update(['fd00:244:0:1::/64'], { origin: 0, asPath: [] }, ['fd00::1', 'fe80::1']), 0);
    expect(r.changed).to.deep.equal(['fd00:244:0:1::/64']);
    const route = rib.get('ipv6-unicast', 'fd00:244:0:1::/64')!;
    expect(route.nextHop).to.equal('fd00::1');
    expect(route.attrs.attrs.mpReach!.nlri).to.deep.equal([]);
    expect(rib.apply(v6Withdraw(['fd00:244:0:1::/64']), 0).changed).to.deep.equal(['fd00:244:0:1::/64']);
    expect(rib.counts('ipv6-unicast').total).to.equal(0);
  });

  it('RFC 7606 treat-as-withdraw: every NLRI of the UPDATE is withdrawn', () => {
    const { rib } = setup();
    rib.apply(v4Update(['10.244.1.0/24', '10.244.2.0/24'], base), 0);
    rib.apply(v6Update(['fd00:244:0:1::/64'], { origin: 0, asPath: [] }, ['fd00::1']), 0);
    const bad = v4Update(['10.244.1.0/24'], base);
    bad.attributes.mpReach = { afi: 2, safi: 1, nextHops: ['fd00::1'], nlri: [{ prefix: 'fd00:244:0:1::/64' }] };
    bad.treatAsWithdraw = { code: 3, subcode: 1, data: new Uint8Array(), action: 'treat-as-withdraw', field: 'attribute ORIGIN', message: 'bad' };
    const r = rib.apply(bad, 0);
    expect(r.changed).to.have.members(['10.244.1.0/24', 'fd00:244:0:1::/64']);
    expect(rib.get('ipv4-unicast', '10.244.1.0/24')).to.equal(undefined);
    expect(rib.get('ipv4-unicast', '10.244.2.0/24')).to.not.equal(undefined);
  });

  it('recognises End-of-RIB markers (RFC 4724 §2)', () => {
    const { rib } = setup();
    expect(rib.apply({ type: 'update', withdrawn: [], attributes: {}, nlri: [] }, 0).endOfRib).to.equal('ipv4-unicast');
    expect(rib.apply(v6Withdraw([]), 0).endOfRib).to.equal('ipv6-unicast');
    expect(rib.apply(v6Withdraw(['fd00:244::/64']), 0).endOfRib).to.equal(null);
  });

  it('interns attributes: routes with equal attributes share one record', () => {
    const { rib, store } = setup();
    const prefixes = Array.from({ length: 200 }, (_, i) => `10.244.${i}.0/24`);
    rib.apply(v4Update(prefixes.slice(0, 100), { ...base }), 0);
    rib.apply(v4Update(prefixes.slice(100), { ...base, communities: [] , asPath: [] }), 0);
    rib.apply(v4Update(prefixes.slice(100), { ...base }), 0);
    const a = rib.get('ipv4-unicast', prefixes[0])!;
    const b = rib.get('ipv4-unicast', prefixes[150])!;
    expect(a.attrs).to.equal(b.attrs);
    expect(a.attrs.refs).to.equal(200);
    expect(store.size).to.equal(1); // the communities:[] set was released when replaced
    rib.clear();
    expect(store.size).to.equal(0);
  });

  it('keeps rejected routes with their reason, counts them, and never passes them on', () => {
    const { rib, sink } = setup();
    const r = rib.apply(v4Update(['10.244.1.0/24', '192.168.0.0/24'], base), 0);
    expect(r.rejected).to.equal(1);
    expect(r.changed).to.deep.equal(['10.244.1.0/24']);
    expect(rib.get('ipv4-unicast', '192.168.0.0/24')!.rejected).to.equal('outside-pool');
    const nh = rib.apply(v4Update(['10.244.3.0/24'], { ...base, nextHop: '10.0.0.99' }), 0);
    expect(nh.rejected).to.equal(1);
    expect(rib.get('ipv4-unicast', '10.244.3.0/24')!.rejected).to.equal('next-hop-mismatch');
    const loop = rib.apply(v4Update(['10.244.4.0/24'], { ...base, asPath: seq(65001, 65000) }), 0);
    expect(loop.rejected).to.equal(1);
    expect(rib.get('ipv4-unicast', '10.244.4.0/24')!.rejected).to.equal('as-loop');
    expect(Object.fromEntries(rib.rejectedNow)).to.deep.equal({ 'outside-pool': 1, 'next-hop-mismatch': 1, 'as-loop': 1 });
    expect(sink.events.every(([, cur]) => cur === null || cur.rejected === null)).to.equal(true);
    // Withdrawing a rejected route changes nothing accepted.
    expect(rib.apply(v4Update([], {}, ['192.168.0.0/24']), 0).changed).to.deep.equal([]);
    expect(rib.rejectedNow.get('outside-pool')).to.equal(0);
    expect(rib.rejectedTotal.get('outside-pool')).to.equal(1);
  });

  it('soft reconfiguration: re-running import after a pool change accepts and rejects stored routes', () => {
    const { rib, policy, sink } = setup();
    rib.apply(v4Update(['10.244.1.0/24', '10.245.1.0/24'], base), 0);
    expect(rib.get('ipv4-unicast', '10.245.1.0/24')!.rejected).to.equal('outside-pool');
    policy.setPools(['10.245.0.0/16']);
    sink.events = [];
    const changed = rib.reapplyImport(5);
    expect(changed).to.have.members(['10.244.1.0/24', '10.245.1.0/24']);
    expect(rib.get('ipv4-unicast', '10.245.1.0/24')!.rejected).to.equal(null);
    expect(rib.get('ipv4-unicast', '10.244.1.0/24')!.rejected).to.equal('outside-pool');
    expect(sink.events.length).to.equal(2);
    expect(rib.counts('ipv4-unicast')).to.deep.equal({ total: 2, accepted: 1, rejected: 1, stale: 0 });
  });

  it('max-prefix: reports once with the RFC 4486 Cease data when the limit is exceeded', () => {
    const { rib } = setup({ maxPrefix: { limit: 2, action: 'teardown' } });
    expect(rib.apply(v4Update(['10.244.1.0/24', '10.244.2.0/24'], base), 0).maxPrefix).to.equal(null);
    const r = rib.apply(v4Update(['10.244.3.0/24'], base), 0);
    expect(r.maxPrefix).to.not.equal(null);
    expect(r.maxPrefix!).to.include({ family: 'ipv4-unicast', limit: 2, count: 3, action: 'teardown' });
    expect(r.maxPrefix!.notification.code).to.equal(6);
    expect(r.maxPrefix!.notification.subcode).to.equal(1);
    expect([...r.maxPrefix!.notification.data]).to.deep.equal([0, 1, 1, 0, 0, 0, 2]);
    expect(rib.apply(v4Update(['10.244.4.0/24'], base), 0).maxPrefix).to.equal(null); // reported once
    // Rejected routes do not count.
    const { rib: rib2 } = setup({ maxPrefix: { limit: 1, action: 'warn' } });
    expect(rib2.apply(v4Update(['10.244.1.0/24', '192.168.1.0/24'], base), 0).maxPrefix).to.equal(null);
    expect(rib2.apply(v4Update(['10.244.2.0/24'], base), 0).maxPrefix!.action).to.equal('warn');
  });

  it('RFC 4724 §4.2: stale marking, refresh by the peer, purge; consecutive restarts delete old stale routes', () => {
    const { rib } = setup();
    rib.apply(v4Update(['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'], base), 0);
    rib.markStale('ipv4-unicast');
    expect(rib.counts('ipv4-unicast').stale).to.equal(3);
    // Fresh announcements replace stale routes (same attributes: the mark is cleared).
    rib.apply(v4Update(['10.244.1.0/24'], base), 1);
    rib.apply(v4Update(['10.244.2.0/24'], { ...base, med: 1 }), 1);
    expect(rib.get('ipv4-unicast', '10.244.1.0/24')!.stale).to.equal(false);
    expect(rib.get('ipv4-unicast', '10.244.2.0/24')!.stale).to.equal(false);
    expect(rib.counts('ipv4-unicast').stale).to.equal(1);
    // A second restart before End-of-RIB: the still-stale route is deleted, the rest marked.
    const changed = rib.markStale('ipv4-unicast');
    expect(rib.get('ipv4-unicast', '10.244.3.0/24')).to.equal(undefined);
    expect(changed).to.include('10.244.3.0/24');
    expect(rib.counts('ipv4-unicast').stale).to.equal(2);
    expect(rib.purgeStale('ipv4-unicast')).to.have.members(['10.244.1.0/24', '10.244.2.0/24']);
    expect(rib.counts('ipv4-unicast')).to.deep.equal({ total: 0, accepted: 0, rejected: 0, stale: 0 });
  });

  it('RFC 7313 §4: BoRR marks the family stale, re-advertised routes are fresh again, EoRR purges the rest', () => {
    const { rib } = setup();
    rib.apply(v4Update(['10.244.1.0/24', '10.244.2.0/24'], base), 0);
    rib.beginRouteRefresh('ipv4-unicast');
    expect(rib.counts('ipv4-unicast').stale).to.equal(2);
    rib.apply(v4Update(['10.244.1.0/24'], base), 1);
    expect(rib.endRouteRefresh('ipv4-unicast')).to.deep.equal(['10.244.2.0/24']);
    expect(rib.counts('ipv4-unicast')).to.deep.equal({ total: 1, accepted: 1, rejected: 0, stale: 0 });
  });
});
