// Integration tests of the FIB reconciler against the real kernel, inside namespaces made by Lab:
// programming IPv4/IPv6/ECMP/onlink/blackhole routes, adopting a previous run's routes without
// churn (counted with an independent netlink monitor), repairing a route deleted by hand within a
// second, leaving other protocols' routes alone, reporting a failing route with its prefix, a
// 10,000-route batch, and recovery after a link flap. Needs root (skips otherwise).
import { expect } from 'chai';
import { Lab, isRoot, nsExec, waitFor } from '../helpers/lab';
import { FibReconciler, FibRouteError } from '../../src/dataplane/fib/reconciler';
import { FibRoute } from '../../src/dataplane/fib/route';
import { FibConflict } from '../../src/dataplane/fib/diff';
import { NetlinkSocket, openNetlinkIn } from '../../src/dataplane/netlink/socket';
import { decodeRoute } from '../../src/dataplane/netlink/codec';
import * as C from '../../src/dataplane/netlink/constants';

interface IpRoute { dst: string; gateway?: string; dev?: string; protocol?: string; type?: string; metric?: number; flags?: string[]; nexthops?: { gateway: string; dev: string; weight: number }[] }

function ipRoutes(ns: string, v6 = false, filter: string[] = ['proto', '78']): IpRoute[] {
  return JSON.parse(nsExec(ns, 'ip', ['-j', ...(v6 ? ['-6'] : []), 'route', 'show', ...filter]) || '[]') as IpRoute[];
}

/** Counts route add/delete notifications in `ns` with its own monitor socket. */
class ChangeCounter {
  readonly sock: NetlinkSocket;
  changes: string[] = [];
  constructor(ns: string) {
    this.sock = openNetlinkIn(ns, { groups: [C.RTNLGRP_IPV4_ROUTE, C.RTNLGRP_IPV6_ROUTE], rcvbuf: 32 << 20 });
  }
  drain(): string[] {
    for (let i = 0; i < 1000; i++) {
      const msgs = this.sock.recvAvailable();
      if (msgs.length === 0) break;
      for (const m of msgs) {
        if (m.type !== C.RTM_NEWROUTE && m.type !== C.RTM_DELROUTE) continue;
        const r = decodeRoute(m.payload);
        if (r.protocol === 78) this.changes.push(`${m.type === C.RTM_NEWROUTE ? 'new' : 'del'} ${r.dstLen}`);
      }
    }
    return this.changes;
  }
  close(): void { this.sock.close(); }
}

describe('integration: FIB reconciler (netns)', function () {
  this.timeout(60000);
  let lab: Lab;
  let ns: string;
  let fibs: FibReconciler[] = [];

  const open = (opts: Parameters<typeof FibReconciler.open>[0] = {}): FibReconciler => {
    const f = FibReconciler.open({ netns: ns, resyncIntervalMs: 0, ...opts });
    fibs.push(f);
    return f;
  };

  before(function () {
    if (!isRoot()) this.skip();
  });

  beforeEach(() => {
    lab = new Lab('fib');
    ns = lab.netns('n1');
    const peer = lab.netns('n2');
    lab.link(ns, ['10.77.0.1/24', 'fd77::1/64'], peer, ['10.77.0.2/24', 'fd77::2/64'], ['up0', 'peer0']);
    lab.link(ns, ['10.77.1.1/24'], peer, ['10.77.1.2/24'], ['up1', 'peer1']);
  });

  afterEach(async () => {
    for (const f of fibs) await f.stop().catch(() => undefined);
    fibs = [];
    await lab.destroy();
  });

  const routes: FibRoute[] = [
    { prefix: '10.78.1.0/24', nexthops: [{ gateway: '10.77.0.2', ifname: 'up0' }] },
    { prefix: '10.78.2.0/24', nexthops: [{ gateway: '10.77.0.2', ifname: 'up0' }, { gateway: '10.77.1.2', ifname: 'up1', weight: 3 }] },
    { prefix: '10.78.3.0/24', nexthops: [{ gateway: '192.168.77.7', ifname: 'up1', onlink: true }] },
    { prefix: '10.78.4.0/24', type: 'blackhole' },
    { prefix: '10.78.5.0/24', nexthops: [{ ifname: 'up1' }], metric: 30, table: 100 },
    { prefix: 'fd78:1::/64', nexthops: [{ gateway: 'fd77::2', ifname: 'up0' }] },
    { prefix: 'fd78:2::/64', nexthops: [{ gateway: 'fd77::2', ifname: 'up0' }, { gateway: 'fe80::99', ifname: 'up1' }] },
    { prefix: 'fd78:3::/64', type: 'blackhole' },
  ];

  it('programs IPv4/IPv6 routes, ECMP with weights, onlink, blackholes, other tables', async () => {
    const fib = open();
    fib.setRoutes(routes);
    const report = await fib.start();
    expect(report.failed.map((f) => f.message)).to.deep.equal([]);
    expect(report.added).to.equal(routes.length);
    const v4 = ipRoutes(ns);
    const by = (p: string, list: IpRoute[]): IpRoute => list.find((r) => r.dst === p)!;
    expect(by('10.78.1.0/24', v4)).to.deep.include({ gateway: '10.77.0.2', dev: 'up0' });
    expect(by('10.78.2.0/24', v4).nexthops!.map((h) => [h.gateway, h.dev, h.weight])).to.deep.equal([['10.77.0.2', 'up0', 1], ['10.77.1.2', 'up1', 3]]);
    expect(by('10.78.3.0/24', v4).flags).to.include('onlink');
    expect(by('10.78.4.0/24', v4).type).to.equal('blackhole');
    const t100 = ipRoutes(ns, false, ['table', '100', 'proto', '78']);
    expect(by('10.78.5.0/24', t100)).to.deep.include({ dev: 'up1', metric: 30 });
    const v6 = ipRoutes(ns, true);
    expect(by('fd78:1::/64', v6)).to.deep.include({ gateway: 'fd77::2', dev: 'up0' });
    expect(by('fd78:2::/64', v6).nexthops!.map((h) => h.gateway)).to.have.members(['fd77::2', 'fe80::99']);
    expect(by('fd78:3::/64', v6).type).to.equal('blackhole');
    expect(fib.metrics).to.deep.include({ adds: routes.length, errors: 0, installedRoutes: routes.length });
    // Our own writes' notifications (IPv6 ECMP included) cause no further writes.
    await new Promise((r) => setTimeout(r, 300));
    expect(fib.metrics).to.deep.include({ adds: routes.length, replaces: 0, deletes: 0, errors: 0 });
  });

  it('adopts a previous run\'s routes on restart: zero netlink changes, then only the real difference', async () => {
    const first = open();
    first.setRoutes(routes);
    await first.start();
    await first.stop();
    const counter = new ChangeCounter(ns);
    try {
      const second = open();
      second.setRoutes(routes);
      const report = await second.start();
      expect([report.added, report.replaced, report.deleted]).to.deep.equal([0, 0, 0]);
      await new Promise((r) => setTimeout(r, 100));
      expect(counter.drain()).to.deep.equal([]);
      // A changed route is one replace; a dropped one is one delete; nothing else moves.
      second.setRoutes([...routes.slice(1, -1), { ...routes[routes.length - 1], metric: 1024 }, { ...routes[0], nexthops: [{ gateway: '10.77.1.2', ifname: 'up1' }] }]);
      const r2 = await second.flush();
      expect([r2.added, r2.replaced, r2.deleted]).to.deep.equal([0, 1, 0]);
      second.setRoutes(routes.slice(1));
      const r3 = await second.flush();
      expect([r3.added, r3.replaced, r3.deleted]).to.deep.equal([0, 0, 1]);
      await new Promise((r) => setTimeout(r, 50));
      expect(counter.drain()).to.deep.equal(['new 24', 'del 24']);
      expect(ipRoutes(ns).find((r) => r.dst === '10.78.1.0/24')).to.equal(undefined);
    } finally {
      counter.close();
    }
  });

  it('puts back a route of ours deleted by hand within a second', async () => {
    const fib = open();
    fib.setRoutes(routes);
    await fib.start();
    for (const [prefix, v6] of [['10.78.2.0/24', false], ['fd78:1::/64', true]] as const) {
      nsExec(ns, 'ip', [...(v6 ? ['-6'] : []), 'route', 'del', prefix]);
      const t0 = Date.now();
      await waitFor(`${prefix} back`, () => ipRoutes(ns, v6).some((r) => r.dst === prefix), 1000, 20);
      expect(Date.now() - t0).to.be.below(1000);
    }
    // Changed by hand (another gateway): replaced back too.
    nsExec(ns, 'ip', ['route', 'replace', '10.78.1.0/24', 'via', '10.77.1.2', 'dev', 'up1', 'proto', '78']);
    await waitFor('10.78.1.0/24 repaired', () => ipRoutes(ns).find((r) => r.dst === '10.78.1.0/24')?.gateway === '10.77.0.2', 1000, 20);
    expect(fib.metrics.adds).to.equal(routes.length + 2);
  });

  it('never changes or deletes another protocol\'s route: a conflict is reported and left alone', async () => {
    nsExec(ns, 'ip', ['route', 'add', '10.78.1.0/24', 'via', '10.77.1.2', 'proto', 'static']);
    nsExec(ns, 'ip', ['route', 'add', '10.79.0.0/24', 'via', '10.77.1.2', 'proto', 'bird']);
    nsExec(ns, 'ip', ['-6', 'route', 'add', 'fd78:1::/64', 'via', 'fd77::2', 'proto', 'boot']);
    const fib = open();
    const conflicts: FibConflict[] = [];
    fib.on('conflict', (c) => conflicts.push(c));
    fib.setRoutes(routes);
    const report = await fib.start();
    expect(report.conflicts.map((c) => [c.route.prefix, c.foreign.protocol]).sort()).to.deep.equal([['10.78.1.0/24', 4], ['fd78:1::/64', 3]]);
    expect(conflicts).to.have.length(2);
    expect(fib.metrics.conflicts).to.equal(2);
    const foreignV4 = () => ipRoutes(ns, false, ['proto', 'static']).concat(ipRoutes(ns, false, ['proto', 'bird']));
    expect(foreignV4().map((r) => [r.dst, r.gateway])).to.deep.equal([['10.78.1.0/24', '10.77.1.2'], ['10.79.0.0/24', '10.77.1.2']]);
    // Withdrawing everything removes ours only.
    fib.setRoutes([]);
    await fib.flush();
    expect(ipRoutes(ns)).to.deep.equal([]);
    expect(ipRoutes(ns, true)).to.deep.equal([]);
    expect(foreignV4()).to.have.length(2);
    expect(ipRoutes(ns, true, ['proto', 'boot']).map((r) => r.dst)).to.deep.equal(['fd78:1::/64']);
    // Once the foreign route goes, ours is installed (the monitor notices).
    fib.setRoutes(routes);
    await fib.flush();
    nsExec(ns, 'ip', ['route', 'del', '10.78.1.0/24', 'proto', 'static']);
    await waitFor('ours installed after the foreign route left', () => ipRoutes(ns).some((r) => r.dst === '10.78.1.0/24'), 1000, 20);
    await waitFor('conflict cleared', () => fib.metrics.conflicts === 1, 1000, 20);
  });

  it('reports a failing route with its prefix and errno, installs the rest, retries', async () => {
    const fib = open({ retryIntervalMs: 200 });
    const errors: FibRouteError[] = [];
    fib.on('error', (e) => errors.push(e));
    fib.setRoutes([...routes, { prefix: '10.78.9.0/24', nexthops: [{ gateway: '10.66.0.1', ifname: 'up0' }] }, { prefix: '10.78.10.0/24', nexthops: [{ gateway: '10.77.0.2', ifname: 'nosuch0' }] }]);
    const report = await fib.start();
    expect(report.added).to.equal(routes.length);
    const unreachable = report.failed.find((f) => f.prefix === '10.78.9.0/24')!;
    expect(unreachable).to.deep.include({ op: 'add', code: 'ENETUNREACH', table: 254 });
    expect(unreachable.message).to.match(/10\.78\.9\.0\/24.*ENETUNREACH/);
    expect(errors.map((e) => e.prefix)).to.include.members(['10.78.9.0/24', '10.78.10.0/24']);
    expect(fib.failures().find((f) => f.prefix === '10.78.10.0/24')).to.deep.include({ op: 'resolve', code: 'ENODEV' });
    // Make the gateway reachable: the retry installs it.
    nsExec(ns, 'ip', ['addr', 'add', '10.66.0.5/24', 'dev', 'up0']);
    await waitFor('retried route installed', () => ipRoutes(ns).some((r) => r.dst === '10.78.9.0/24'), 3000, 50);
    expect(fib.failures().map((f) => f.prefix)).to.deep.equal(['10.78.10.0/24']);
  });

  it('comes back after a link flap (the kernel flushes IPv4 routes silently)', async () => {
    const fib = open();
    fib.setRoutes(routes);
    await fib.start();
    nsExec(ns, 'ip', ['link', 'set', 'up1', 'down']);
    await waitFor('routes via up1 reported failing', () => fib.failures().length > 0, 2000, 20);
    nsExec(ns, 'ip', ['link', 'set', 'up1', 'up']);
    await waitFor('routes via up1 back', () => {
      const v4 = ipRoutes(ns);
      return ['10.78.2.0/24', '10.78.3.0/24'].every((p) => v4.some((r) => r.dst === p)) &&
        ipRoutes(ns, false, ['table', '100', 'proto', '78']).length === 1;
    }, 5000, 50);
  });

  it('recovers from a monitor overrun (ENOBUFS) with a full resync', async () => {
    const socket = openNetlinkIn(ns);
    // A tiny receive buffer: a burst of changes by others overflows it.
    const monitorSocket = openNetlinkIn(ns, { groups: [C.RTNLGRP_IPV4_ROUTE, C.RTNLGRP_IPV6_ROUTE, C.RTNLGRP_LINK], rcvbuf: 4096 });
    const fib = new FibReconciler({ socket, monitorSocket, resyncIntervalMs: 0, monitorIntervalMs: 200 });
    fibs.push(fib);
    fib.setRoutes(routes);
    await fib.start();
    const lines = ['route del 10.78.1.0/24'];
    for (let i = 0; i < 3000; i++) lines.push(`route add 10.${120 + (i >> 8)}.${i & 255}.0/24 via 10.77.0.2 proto static`);
    nsExec(ns, 'ip', ['-batch', '-'], { input: lines.join('\n') + '\n' });
    await waitFor('overrun noticed and route restored', () => fib.metrics.monitorOverruns > 0 && ipRoutes(ns).some((r) => r.dst === '10.78.1.0/24'), 3000, 50);
    expect(fib.metrics.resyncs).to.be.at.least(2);
    expect(ipRoutes(ns, false, ['proto', 'static'])).to.have.length(3000);
  });

  it('programs and removes a 10,000-route batch', async () => {
    const fib = open({ monitor: false });
    const big: FibRoute[] = [];
    for (let i = 0; i < 10000; i++) big.push({ prefix: `10.${100 + (i >> 8)}.${i & 255}.0/24`, nexthops: [{ gateway: '10.77.0.2', ifname: 'up0' }] });
    fib.setRoutes(big);
    const t0 = Date.now();
    const report = await fib.start();
    const ms = Date.now() - t0;
    expect(report.added).to.equal(10000);
    expect(report.failed).to.deep.equal([]);
    expect(Number(nsExec(ns, 'sh', ['-c', 'ip route show proto 78 | wc -l']).trim())).to.equal(10000);
    expect(ms).to.be.below(20000);
    const again = await fib.resync();
    expect([again.added, again.replaced, again.deleted]).to.deep.equal([0, 0, 0]);
    fib.setRoutes([]);
    const gone = await fib.flush();
    expect(gone.deleted).to.equal(10000);
    expect(Number(nsExec(ns, 'sh', ['-c', 'ip route show proto 78 | wc -l']).trim())).to.equal(0);
  });
});
