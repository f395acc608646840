// Smoke test of the real-router harness (test/helpers/daemons.ts): every pair of BIRD 2, FRR,
// GoBGP and ExaBGP establishes an eBGP session (RFC 4271) in two namespaces over a veth link,
// IPv4 and IPv6 (RFC 4760, RFC 2545 next hops), and each side learns the other's route with its
// communities (RFC 1997), large communities (RFC 8092) and route targets (RFC 4360).
import { expect } from 'chai';
import { Lab, isRoot, requireTool } from '../helpers/lab';
import { DAEMON_KINDS, DaemonKind, Daemon, daemonAvailable, startDaemon, waitEstablished, waitRoutes } from '../helpers/daemons';

const pairs: [DaemonKind, DaemonKind][] = [];
for (let i = 0; i < DAEMON_KINDS.length; i++) {
  for (let j = i + 1; j < DAEMON_KINDS.length; j++) pairs.push([DAEMON_KINDS[i], DAEMON_KINDS[j]]);
}

describe('interop: daemon harness', function () {
  this.timeout(90000);
  let lab: Lab;

  before(function () {
    if (!isRoot()) this.skip();
  });
  afterEach(async () => { await lab?.destroy(); });

  pairs.forEach(([ka, kb], idx) => {
    it(`${ka} <-> ${kb}: IPv4 and IPv6 sessions establish and routes arrive with communities`, async function () {
      for (const k of [ka, kb]) requireTool(this, `${k} (daemon and CLI)`, daemonAvailable(k));
      lab = new Lab('dh');
      const nsA = lab.netns('a');
      const nsB = lab.netns('b');
      const a4 = `10.231.${idx}.1`; const b4 = `10.231.${idx}.2`;
      const a6 = `fd00:231:${idx + 1}::1`; const b6 = `fd00:231:${idx + 1}::2`;
      lab.link(nsA, [`${a4}/24`, `${a6}/64`], nsB, [`${b4}/24`, `${b6}/64`]);
      const routeA4 = `10.232.${idx}.0/24`; const routeB4 = `10.233.${idx}.0/24`;
      const routeA6 = `fd00:232:${idx + 1}::/48`; const routeB6 = `fd00:233:${idx + 1}::/48`;
      const da: Daemon = await startDaemon(lab, nsA, ka, {
        routerId: a4, asn: 65101,
        neighbors: [
          { address: b4, asn: 4200000102, localAddress: a4 },
          { address: b6, asn: 4200000102, localAddress: a6 },
        ],
        routes: [
          { prefix: routeA4, communities: ['65101:7'], largeCommunities: ['4200000101:1:2'], routeTargets: ['65101:9'] },
          { prefix: routeA6, communities: ['65101:6'] },
        ],
      });
      const db: Daemon = await startDaemon(lab, nsB, kb, {
        routerId: b4, asn: 4200000102,
        neighbors: [
          { address: a4, asn: 65101, localAddress: b4, passive: true },
          { address: a6, asn: 65101, localAddress: b6, passive: true },
        ],
        routes: [{ prefix: routeB4, largeCommunities: ['4200000102:3:4'] }, { prefix: routeB6 }],
      });
      await waitEstablished(da, b4, 45000);
      await waitEstablished(db, a4, 45000);
      await waitEstablished(da, b6, 45000);
      await waitEstablished(db, a6, 45000);

      const atB = await waitRoutes(db, [routeA4, routeA6], { timeoutMs: 30000 });
      const r4 = atB.find((r) => r.prefix === routeA4)!;
      expect(r4.peer).to.equal(a4);
      expect(r4.asPath).to.deep.equal([65101]);
      expect(r4.nextHops[0]).to.equal(a4);
      expect(r4.communities).to.include('65101:7');
      expect(r4.largeCommunities).to.include('4200000101:1:2');
      expect(r4.extendedCommunities).to.include('rt:65101:9');
      const r6 = atB.find((r) => r.prefix === routeA6)!;
      expect(r6.nextHops[0]).to.equal(a6);
      expect(r6.communities).to.include('65101:6');

      const atA = await waitRoutes(da, [routeB4, routeB6], { timeoutMs: 30000 });
      const s4 = atA.find((r) => r.prefix === routeB4)!;
      expect(s4.asPath).to.deep.equal([4200000102]);
      expect(s4.largeCommunities).to.include('4200000102:3:4');
      expect(atA.find((r) => r.prefix === routeB6)!.nextHops[0]).to.equal(b6);

      await da.stop();
      await db.stop();
    });
  });

  it('route reflection with TCP MD5: BIRD reflects FRR\'s route to GoBGP and GoBGP\'s to ExaBGP (RFC 4456, RFC 2385)', async function () {
    for (const k of DAEMON_KINDS) requireTool(this, `${k} (daemon and CLI)`, daemonAvailable(k));
    lab = new Lab('rr');
    const rr = lab.netns('rr');
    const c1 = lab.netns('c1'); const c2 = lab.netns('c2'); const c3 = lab.netns('c3');
    lab.link(rr, ['10.234.1.1/24'], c1, ['10.234.1.2/24']);
    lab.link(rr, ['10.234.2.1/24'], c2, ['10.234.2.2/24']);
    lab.link(rr, ['10.234.3.1/24'], c3, ['10.234.3.2/24']);
    const asn = 65200;
    const key = 'nexthop-md5';
    const reflector = await startDaemon(lab, rr, 'bird', {
      routerId: '10.234.0.1', asn, clusterId: '10.234.0.1',
      neighbors: [1, 2, 3].map((i) => ({ address: `10.234.${i}.2`, asn, localAddress: `10.234.${i}.1`, password: key, routeReflectorClient: true, passive: true })),
    });
    const frr = await startDaemon(lab, c1, 'frr', {
      routerId: '10.234.1.2', asn, neighbors: [{ address: '10.234.1.1', asn, localAddress: '10.234.1.2', password: key }],
      routes: [{ prefix: '10.235.1.0/24', communities: ['65200:1'] }],
    });
    const gobgp = await startDaemon(lab, c2, 'gobgp', {
      routerId: '10.234.2.2', asn, neighbors: [{ address: '10.234.2.1', asn, localAddress: '10.234.2.2', password: key }],
      routes: [{ prefix: '10.235.2.0/24' }],
    });
    const exa = await startDaemon(lab, c3, 'exabgp', {
      routerId: '10.234.3.2', asn, neighbors: [{ address: '10.234.3.1', asn, localAddress: '10.234.3.2', password: key }],
    });
    for (const i of [1, 2, 3]) await waitEstablished(reflector, `10.234.${i}.2`, 45000);
    // iBGP routes reach another client only through reflection.
    const atGobgp = await waitRoutes(gobgp, ['10.235.1.0/24'], { timeoutMs: 30000 });
    expect(atGobgp.find((r) => r.prefix === '10.235.1.0/24')!.communities).to.include('65200:1');
    const atExa = await waitRoutes(exa, ['10.235.1.0/24', '10.235.2.0/24'], { timeoutMs: 30000 });
    expect(atExa.find((r) => r.prefix === '10.235.2.0/24')!.nextHops[0]).to.equal('10.234.2.2');
    expect(await frr.sessions()).to.deep.equal({ '10.234.1.1': 'established' });
  });

  it('a wrong TCP MD5 key keeps the session down (RFC 2385)', async function () {
    for (const k of ['bird', 'gobgp'] as const) requireTool(this, `${k} (daemon and CLI)`, daemonAvailable(k));
    lab = new Lab('md');
    const a = lab.netns('a'); const b = lab.netns('b');
    lab.link(a, ['10.236.0.1/24'], b, ['10.236.0.2/24']);
    const da = await startDaemon(lab, a, 'bird', { routerId: '10.236.0.1', asn: 65301, neighbors: [{ address: '10.236.0.2', asn: 65302, password: 'right' }] });
    const db = await startDaemon(lab, b, 'gobgp', { routerId: '10.236.0.2', asn: 65302, neighbors: [{ address: '10.236.0.1', asn: 65301, password: 'wrong', passive: true }] });
    await new Promise((r) => setTimeout(r, 5000));
    expect((await da.sessions())['10.236.0.2']).to.not.equal('established');
    expect((await db.sessions())['10.236.0.1']).to.not.equal('established');
  });
});
