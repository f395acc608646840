// The speaker's interop suite, run against one real daemon (BIRD 2, FRR bgpd or GoBGP) by
// test/interop/speaker-{bird,frr,gobgp}.test.ts. Three namespaces: our speaker ("sp", the runner
// child process so it can be SIGKILLed), the daemon ("rt"), and a second speaker in another AS
// ("eb") for eBGP. Checks: iBGP over IPv4 and IPv6 sessions and eBGP, 4-octet ASes (RFC 6793),
// routes both ways with their next hops (RFC 4271 §5.1.3, RFC 2545 / RFC 4760) and communities
// (RFC 1997, RFC 8092), TCP MD5 (RFC 2385) right and wrong key, route refresh both ways
// (RFC 2918), and graceful restart both ways (RFC 4724: kill -9 our speaker, then the daemon).
import { expect } from 'chai';
import { Lab, isRoot, requireTool, waitFor } from './lab';
import { Daemon, DaemonKind, RouterSpec, daemonAvailable, startDaemon, waitEstablished, waitRoutes } from './daemons';
import { RunnerSpec, SpeakerProcess } from './speaker-runner';

const OUR_AS = 4200000001; // iBGP with the daemon: 4-octet AS on both sides
const EBGP_AS = 4200000009;

export function speakerInteropSuite(kind: DaemonKind, idx: number): void {
  describe(`interop: speaker <-> ${kind}`, function () {
    this.timeout(120000);
    let lab: Lab;
    let daemon: Daemon;
    let sp: SpeakerProcess;
    let eb: SpeakerProcess;
    let nsSp: string;
    let nsRt: string;
    let nsEb: string;
    // Addresses: sp-rt link 10.78.I.0/24 + fd78:I::/64, eb-rt link 10.88.I.0/24.
    const our4 = `10.78.${idx}.1`;
    const rt4 = `10.78.${idx}.2`;
    const ourMd5 = `10.78.${idx}.5`;
    const rtMd5 = `10.78.${idx}.6`;
    const our6 = `fd78:${idx}::1`;
    const rt6 = `fd78:${idx}::2`;
    const eb4 = `10.88.${idx}.1`;
    const rtEb4 = `10.88.${idx}.2`;
    const ourBlock4 = `10.244.${idx}.0/24`;
    const ourBlock6 = `fd77:244:${idx}::/64`;
    const rtRoute4 = `10.79.${idx}.0/24`;
    const rtRoute6 = `fd79:${idx}::/48`;
    const ebRoute4 = `10.80.${idx}.0/24`;
    const md5Key = `nh-md5-${kind}`;

    const daemonSpec: RouterSpec = {
      routerId: rt4,
      asn: OUR_AS,
      neighbors: [
        { address: our4, asn: OUR_AS, localAddress: rt4, password: md5Key, gracefulRestart: 60, holdTime: 9 },
        { address: our6, asn: OUR_AS, localAddress: rt6, gracefulRestart: 60, holdTime: 9 },
        { address: ourMd5, asn: OUR_AS, localAddress: rtMd5, password: `${md5Key}-right` },
        { address: eb4, asn: EBGP_AS, localAddress: rtEb4 },
      ],
      routes: [
        { prefix: rtRoute4, communities: ['65000:42'], largeCommunities: ['4200000001:1:2'] },
        { prefix: rtRoute6, communities: ['65000:46'] },
      ],
    };

    const speakerSpec = (restarting: boolean): RunnerSpec => ({
      speaker: {
        localAs: OUR_AS,
        routerId: our4,
        listen: [{ address: '::', port: 179 }],
        nextHopIPv4: our4,
        nextHopIPv6: our6,
        pools: ['10.244.0.0/16', 'fd77:244::/32'],
        connectRetryTime: 1,
        holdTime: 9,
        backoff: { initialMs: 200, maxMs: 1000, stableMs: 60000 },
        gracefulRestart: { restartTime: 60, restarting, selectionDeferralMs: 30000 },
      },
      peers: [
        { name: 'rt-v4', address: rt4, peerAs: OUR_AS, type: 'external', sourceAddress: our4, password: md5Key },
        { name: 'rt-v6', address: rt6, peerAs: OUR_AS, type: 'external', sourceAddress: our6 },
        { name: 'rt-md5-wrong', address: rtMd5, peerAs: OUR_AS, type: 'external', sourceAddress: ourMd5, password: `${md5Key}-wrong` },
      ],
      originate: [
        { prefix: ourBlock4, communities: ['65000:100'], largeCommunities: ['4200000001:7:8'] },
        { prefix: ourBlock6, communities: ['65000:106'] },
      ],
      verbose: true,
    });

    const ourRoute = async (prefix: string) => (await sp.routes()).find((r) => r.prefix === prefix);
    const peerState = async (p: SpeakerProcess, name: string) => (await p.peer(name))?.state;

    before(async function () {
      if (!isRoot()) this.skip();
      requireTool(this, `${kind} (daemon and CLI)`, daemonAvailable(kind));
      lab = new Lab(`sp${kind[0]}`);
      nsSp = lab.netns('sp');
      nsRt = lab.netns('rt');
      nsEb = lab.netns('eb');
      lab.link(nsSp, [`${our4}/24`, `${ourMd5}/24`, `${our6}/64`], nsRt, [`${rt4}/24`, `${rtMd5}/24`, `${rt6}/64`]);
      lab.link(nsEb, [`${eb4}/24`], nsRt, [`${rtEb4}/24`]);
      daemon = await startDaemon(lab, nsRt, kind, daemonSpec);
      sp = await SpeakerProcess.start(lab, nsSp, speakerSpec(false));
      eb = await SpeakerProcess.start(lab, nsEb, {
        speaker: {
          localAs: EBGP_AS, routerId: eb4, listen: [{ address: eb4, port: 179 }], nextHopIPv4: eb4, pools: [],
          connectRetryTime: 1, backoff: { initialMs: 200, maxMs: 1000 },
        },
        peers: [{ name: 'rt', address: rtEb4, peerAs: OUR_AS, type: 'external', sourceAddress: eb4 }],
        originate: [{ prefix: ebRoute4, communities: ['65009:9'] }],
      });
    });

    after(async () => {
      await sp?.stop().catch(() => undefined);
      await eb?.stop().catch(() => undefined);
      await daemon?.stop().catch(() => undefined);
      await lab?.destroy();
    });

    it('iBGP over IPv4 (with TCP MD5, the right key) and IPv6 sessions and eBGP come up, 4-octet ASes', async () => {
      await waitEstablished(daemon, our4, 45000);
      await waitEstablished(daemon, our6, 45000);
      await waitEstablished(daemon, eb4, 45000);
      await waitFor('our sessions Established', async () => (await peerState(sp, 'rt-v4')) === 'Established' && (await peerState(sp, 'rt-v6')) === 'Established', 20000, 250);
      const st = (await sp.peer('rt-v4'))!;
      expect(st.capabilities!.as4).to.equal(true);
      expect(st.capabilities!.peerAs).to.equal(OUR_AS);
      expect(st.capabilities!.internal).to.equal(true);
      expect(st.capabilities!.routeRefresh).to.equal(true);
      expect(st.capabilities!.gracefulRestart).to.not.equal(null);
      const e = (await eb.peer('rt'))!;
      expect(e.state).to.equal('Established');
      expect(e.capabilities!.internal).to.equal(false);
    });

    it('the daemon learns our IPv4 and IPv6 blocks with our next hops and communities', async () => {
      const got = await waitRoutes(daemon, [ourBlock4, ourBlock6], { timeoutMs: 20000 });
      const r4 = got.find((r) => r.prefix === ourBlock4 && r.peer === our4)!;
      expect(r4, 'IPv4 block from the IPv4 session').to.not.equal(undefined);
      expect(r4.nextHops[0]).to.equal(our4);
      expect(r4.asPath).to.deep.equal([]);
      expect(r4.communities).to.include('65000:100');
      expect(r4.largeCommunities).to.include('4200000001:7:8');
      const r6 = got.find((r) => r.prefix === ourBlock6 && r.peer === our6)!;
      expect(r6, 'IPv6 block from the IPv6 session').to.not.equal(undefined);
      expect(r6.nextHops[0]).to.equal(our6);
      expect(r6.communities).to.include('65000:106');
    });

    it('we learn the daemon\'s IPv4 and IPv6 routes with its next hops and communities', async () => {
      await waitFor('our Loc-RIB has the daemon routes', async () => (await ourRoute(rtRoute4)) && (await ourRoute(rtRoute6)), 20000, 250);
      const r4 = (await ourRoute(rtRoute4))!;
      expect(r4.best.peer).to.equal('rt-v4');
      expect(r4.nextHops).to.deep.equal([rt4]);
      expect(r4.best.communities).to.include('65000:42');
      expect(r4.best.largeCommunities).to.include('4200000001:1:2');
      expect(r4.best.asPath).to.deep.equal([]);
      const r6 = (await ourRoute(rtRoute6))!;
      expect(r6.best.peer).to.equal('rt-v6');
      expect(r6.nextHops[0]).to.equal(rt6);
      expect(r6.best.communities).to.include('65000:46');
    });

    it('eBGP: AS_PATH prepended and next-hop-self both ways, communities kept', async () => {
      const got = await waitRoutes(daemon, [ebRoute4], { timeoutMs: 20000 });
      const r = got.find((x) => x.prefix === ebRoute4)!;
      expect(r.asPath).to.deep.equal([EBGP_AS]);
      expect(r.nextHops[0]).to.equal(eb4);
      expect(r.communities).to.include('65009:9');
      await waitFor('eb learns the daemon route', async () => (await eb.routes()).some((x) => x.prefix === rtRoute4), 20000, 250);
      const back = (await eb.routes()).find((x) => x.prefix === rtRoute4)!;
      expect(back.best.asPath).to.deep.equal([OUR_AS]);
      expect(back.nextHops).to.deep.equal([rtEb4]);
      expect(back.best.communities).to.include('65000:42');
      // Our own iBGP block, passed on by the daemon over eBGP.
      await waitFor('eb learns our block through the daemon', async () => (await eb.routes()).some((x) => x.prefix === ourBlock4), 20000, 250);
    });

    it('TCP MD5 with a wrong key does not establish', async () => {
      await new Promise((r) => setTimeout(r, 3000));
      expect(await peerState(sp, 'rt-md5-wrong')).to.not.equal('Established');
      expect((await daemon.sessions())[ourMd5]).to.not.equal('established');
    });

    it('answers the daemon\'s route refresh request (BIRD, FRR), and the daemon answers ours', async () => {
      // GoBGP keeps every Adj-RIB-In: `gobgp neighbor X softresetin` re-runs its import policy
      // over it and sends no ROUTE-REFRESH (pkg/server softResetIn), so there is nothing to answer.
      const cmd: Partial<Record<DaemonKind, string>> = { bird: 'reload in peer1', frr: `clear bgp ${our4} soft in` };
      const ask = cmd[kind];
      if (ask) {
        const before = (await sp.peer('rt-v4'))!;
        await daemon.command(ask);
        await waitFor('we re-send our table', async () => (await sp.peer('rt-v4'))!.updatesOut > before.updatesOut, 15000, 250);
        expect(sp.log.some((l) => l.includes('asked for a route refresh of ipv4-unicast'))).to.equal(true);
      }
      const mid = (await sp.peer('rt-v4'))!;
      expect(await sp.request('refresh', { peer: 'rt-v4' })).to.equal(true);
      await waitFor('the daemon re-sends its table', async () => (await sp.peer('rt-v4'))!.updatesIn > mid.updatesIn, 15000, 250);
      expect(await ourRoute(rtRoute4)).to.not.equal(undefined);
    });

    it('graceful restart: kill -9 our speaker, the daemon keeps our routes, we come back restarting', async () => {
      await sp.kill9();
      await waitFor('the daemon sees our session down', async () => (await daemon.sessions())[our4] !== 'established', 20000, 250);
      // Still there a while later: kept as stale (RFC 4724 §4.2).
      await new Promise((r) => setTimeout(r, 2000));
      const kept = await daemon.receivedRoutes('ipv4-unicast');
      expect(kept.some((r) => r.prefix === ourBlock4), 'our block kept while we are away').to.equal(true);
      sp = await SpeakerProcess.start(lab, nsSp, speakerSpec(true));
      await waitEstablished(daemon, our4, 45000);
      await waitFor('we learn the daemon routes again', async () => (await ourRoute(rtRoute4)) && (await ourRoute(rtRoute6)), 30000, 250);
      await waitFor('selection deferral ended: we sent End-of-RIB', async () => (await sp.peer('rt-v4'))!.gracefulRestart.endOfRibSent, 30000, 250);
      const got = await waitRoutes(daemon, [ourBlock4, ourBlock6], { timeoutMs: 20000 });
      expect(got.find((r) => r.prefix === ourBlock4)!.nextHops[0]).to.equal(our4);
    });

    it('graceful restart: kill -9 the daemon, we keep its routes as stale until it returns', async () => {
      await waitFor('session up', async () => (await peerState(sp, 'rt-v4')) === 'Established', 30000, 250);
      process.kill(daemon.pid, 'SIGKILL');
      await waitFor('we see the session down', async () => (await peerState(sp, 'rt-v4')) !== 'Established', 30000, 250);
      const stale = (await ourRoute(rtRoute4))!;
      expect(stale, 'daemon route kept').to.not.equal(undefined);
      expect(stale.best.stale).to.equal(true);
      expect((await sp.peer('rt-v4'))!.gracefulRestart.staleFamilies).to.include('ipv4-unicast');
      daemon = await startDaemon(lab, nsRt, kind, daemonSpec);
      await waitFor('the session is back', async () => (await peerState(sp, 'rt-v4')) === 'Established', 45000, 250);
      await waitFor('the route is fresh again', async () => (await ourRoute(rtRoute4))?.best.stale === false, 30000, 250);
      expect((await ourRoute(rtRoute4))!.nextHops).to.deep.equal([rt4]);
    });
  });
}
