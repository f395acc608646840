// Route reflection (RFC 4456) between nexthop and real routers, on one shared L2 segment (a bridge
// in a hub namespace, every router in its own namespace): the Calico shape, where reflected
// routes keep the originating node's NEXT_HOP and every node reaches every other directly.
//
//  1. nexthop (the Speaker runner) reflects for BIRD 2, FRR and GoBGP clients: each client's
//     block reaches the other two with the ORIGINAL next hop (RFC 4456 §10: a reflector must not
//     change NEXT_HOP), ORIGINATOR_ID = the originating client's router id (§8), CLUSTER_LIST =
//     [our CLUSTER_ID] (§8), and a withdrawal is reflected too.
//  2. two nexthop clients behind a BIRD 2 reflector and an FRR reflector at once: each learns the
//     other's block twice, once per reflector, each path with the original next hop, the
//     originator's id and that reflector's CLUSTER_LIST; a withdrawal removes both paths.
import { expect } from 'chai';
import { Lab, isRoot, nsExec, requireTool, waitFor } from '../helpers/lab';
import { Daemon, DaemonKind, ReceivedRoute, RouterSpec, daemonAvailable, startDaemon, waitEstablished, waitRoutes } from '../helpers/daemons';
import { RunnerSpec, SpeakerProcess } from '../helpers/speaker-runner';
import type { PathView } from '../../src/speaker/types';

const AS = 64600;
const SUBNET = '10.91.0';
const POOL = '10.92.0.0/16';
/** Our reflector's CLUSTER_ID, and the BIRD and FRR reflectors' (all distinct from router ids). */
const OUR_CLUSTER = '3.3.3.3';
const BIRD_CLUSTER = '1.1.1.1';
const FRR_CLUSTER = '2.2.2.2';

const addr = (host: number): string => `${SUBNET}.${host}`;
const block = (host: number): string => `10.92.${host}.0/24`;

/** The clients of our reflector: host number on the segment per daemon kind. */
const CLIENTS: { kind: DaemonKind; host: number }[] = [
  { kind: 'bird', host: 11 },
  { kind: 'frr', host: 12 },
  { kind: 'gobgp', host: 13 },
];
const OUR_RR = 1;
const BIRD_RR = 21;
const FRR_RR = 22;
const NH_A = 31;
const NH_B = 32;

/** RFC 4456 §8 attributes of one route as a daemon shows it. */
interface ReflectionAttrs { originatorId: string | null; clusterList: string[] }

/** Reads ORIGINATOR_ID and CLUSTER_LIST of `prefix` from a daemon's own CLI output. */
async function reflectionAttrs(d: Daemon, prefix: string): Promise<ReflectionAttrs> {
  if (d.kind === 'bird') {
    // "\tBGP.originator_id: 10.91.0.12" / "\tBGP.cluster_list: 3.3.3.3"
    const t = await d.command(['show', 'route', 'all', prefix]);
    const orig = /BGP\.originator_id:\s*(\S+)/.exec(t);
    const cl = /BGP\.cluster_list:\s*([^\n]*)/.exec(t);
    return { originatorId: orig ? orig[1] : null, clusterList: cl ? cl[1].trim().split(/\s+/).filter(Boolean) : [] };
  }
  if (d.kind === 'frr') {
    const j = JSON.parse(await d.command(`show bgp ipv4 unicast ${prefix} json`)) as { paths?: Record<string, unknown>[] };
    const p = (j.paths ?? [])[0] ?? {};
    const cl = p.clusterList as { list?: string[] } | string[] | undefined;
    return {
      originatorId: typeof p.originatorId === 'string' ? p.originatorId : null,
      clusterList: Array.isArray(cl) ? cl : cl?.list ?? [],
    };
  }
  if (d.kind === 'gobgp') {
    const j = JSON.parse(await d.command(['global', 'rib', '-a', 'ipv4', prefix, '-j'])) as Record<string, { attrs?: { type: number; value?: unknown }[] }[]>;
    const paths = Object.values(j)[0] ?? [];
    const attrs = paths[0]?.attrs ?? [];
    const orig = attrs.find((a) => a.type === 9); // ORIGINATOR_ID
    const cl = attrs.find((a) => a.type === 10); // CLUSTER_LIST
    return {
      originatorId: orig && typeof orig.value === 'string' ? orig.value : null,
      clusterList: cl && Array.isArray(cl.value) ? (cl.value as string[]) : [],
    };
  }
  throw new Error(`no reflection attribute reader for ${d.kind}`);
}

describe('interop: route reflection (RFC 4456) with BIRD, FRR and GoBGP', function () {
  this.timeout(90000);
  let lab: Lab;
  let hub: string;
  let ports = 0;
  let rr: SpeakerProcess;
  const clients: Partial<Record<DaemonKind, Daemon>> = {};
  let birdRr: Daemon;
  let frrRr: Daemon;
  let nhA: SpeakerProcess;
  let nhB: SpeakerProcess;

  /** A namespace on the shared segment with `host`'s address. */
  const attach = (name: string, host: number): string => {
    const ns = lab.netns(name);
    const port = `p${ports++}`;
    lab.link(hub, [], ns, [`${addr(host)}/24`], [port, 'eth0']);
    nsExec(hub, 'ip', ['link', 'set', port, 'master', 'br0']);
    return ns;
  };

  const speakerSpec = (host: number, peers: RunnerSpec['peers'], extra: { clusterId?: string; originate?: boolean } = {}): RunnerSpec => ({
    speaker: {
      localAs: AS,
      routerId: addr(host),
      listen: [{ address: addr(host), port: 179 }],
      nextHopIPv4: addr(host),
      pools: [POOL],
      clusterId: extra.clusterId,
      connectRetryTime: 1,
      holdTime: 30,
      backoff: { initialMs: 200, maxMs: 1000 },
      gracefulRestart: { enabled: false },
    },
    peers,
    originate: extra.originate ? [{ prefix: block(host) }] : [],
  });

  const clientSpec = (host: number, rrHost: number): RouterSpec => ({
    routerId: addr(host),
    asn: AS,
    neighbors: [{ address: addr(rrHost), asn: AS, localAddress: addr(host), holdTime: 30 }],
    routes: [{ prefix: block(host) }],
  });

  const rrSpec = (host: number, clusterId: string, clientHosts: number[]): RouterSpec => ({
    routerId: addr(host),
    asn: AS,
    clusterId,
    neighbors: clientHosts.map((h) => ({ address: addr(h), asn: AS, localAddress: addr(host), holdTime: 30, routeReflectorClient: true })),
  });

  before(async function () {
    if (!isRoot()) this.skip();
    for (const k of ['bird', 'frr', 'gobgp'] as const) requireTool(this, `${k} (daemon and CLI)`, daemonAvailable(k));
    lab = new Lab('rrx');
    hub = lab.netns('hub');
    nsExec(hub, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    nsExec(hub, 'ip', ['link', 'set', 'br0', 'up']);
    const nsRr = attach('rr', OUR_RR);
    const nsClients = CLIENTS.map((c) => attach(c.kind, c.host));
    const nsBirdRr = attach('birdrr', BIRD_RR);
    const nsFrrRr = attach('frrrr', FRR_RR);
    const nsA = attach('nha', NH_A);
    const nsB = attach('nhb', NH_B);
    // Everything starts at once; the sessions come up in any order.
    const rrPeers = CLIENTS.map((c) => ({ name: c.kind, address: addr(c.host), peerAs: AS, type: 'rr-client' as const }));
    const nhPeers = [
      { name: 'rr-bird', address: addr(BIRD_RR), peerAs: AS, type: 'rr-server' as const },
      { name: 'rr-frr', address: addr(FRR_RR), peerAs: AS, type: 'rr-server' as const },
    ];
    const started = await Promise.all([
      SpeakerProcess.start(lab, nsRr, speakerSpec(OUR_RR, rrPeers, { clusterId: OUR_CLUSTER })),
      ...CLIENTS.map((c, i) => startDaemon(lab, nsClients[i], c.kind, clientSpec(c.host, OUR_RR))),
      startDaemon(lab, nsBirdRr, 'bird', rrSpec(BIRD_RR, BIRD_CLUSTER, [NH_A, NH_B])),
      startDaemon(lab, nsFrrRr, 'frr', rrSpec(FRR_RR, FRR_CLUSTER, [NH_A, NH_B])),
      SpeakerProcess.start(lab, nsA, speakerSpec(NH_A, nhPeers, { originate: true })),
      SpeakerProcess.start(lab, nsB, speakerSpec(NH_B, nhPeers, { originate: true })),
    ]);
    rr = started[0] as SpeakerProcess;
    CLIENTS.forEach((c, i) => { clients[c.kind] = started[1 + i] as Daemon; });
    birdRr = started[4] as Daemon;
    frrRr = started[5] as Daemon;
    nhA = started[6] as SpeakerProcess;
    nhB = started[7] as SpeakerProcess;
  });

  after(async () => {
    await Promise.all([rr, nhA, nhB].map((p) => p?.stop().catch(() => undefined)));
    await Promise.all([...Object.values(clients), birdRr, frrRr].map((d) => d?.stop(1000).catch(() => undefined)));
    await lab?.destroy();
  });

  describe('nexthop as the reflector, BIRD / FRR / GoBGP as clients', () => {
    it('every client session is Established on both ends', async () => {
      for (const c of CLIENTS) await waitEstablished(clients[c.kind]!, addr(OUR_RR), 45000);
      await waitFor('our three client sessions Established', async () => {
        const st = await rr.status();
        return st.length === 3 && st.every((p) => p.state === 'Established');
      }, 20000, 250);
    });

    it('each client learns the other two blocks with the originating client\'s NEXT_HOP (RFC 4456 §10)', async () => {
      for (const c of CLIENTS) {
        const others = CLIENTS.filter((o) => o.kind !== c.kind);
        const got = await waitRoutes(clients[c.kind]!, others.map((o) => block(o.host)), { timeoutMs: 30000 });
        for (const o of others) {
          const r = got.find((x: ReceivedRoute) => x.prefix === block(o.host))!;
          expect(r.peer, `${c.kind} learns ${o.kind}'s block from us`).to.equal(addr(OUR_RR));
          expect(r.nextHops[0], `${c.kind}: next hop of ${o.kind}'s block`).to.equal(addr(o.host));
          expect(r.asPath, 'iBGP reflection adds no AS').to.deep.equal([]);
        }
        // RFC 4456 §8: its own block is never learned back from us.
        expect(got.filter((x) => x.prefix === block(c.host) && x.peer !== undefined), `${c.kind} does not learn its own block back`).to.deep.equal([]);
      }
    });

    it('reflected routes carry ORIGINATOR_ID = the originating client\'s router id and CLUSTER_LIST = [our CLUSTER_ID] (RFC 4456 §8)', async () => {
      for (const c of CLIENTS) {
        for (const o of CLIENTS.filter((x) => x.kind !== c.kind)) {
          const a = await reflectionAttrs(clients[c.kind]!, block(o.host));
          expect(a.originatorId, `${c.kind}: ORIGINATOR_ID of ${o.kind}'s block`).to.equal(addr(o.host));
          expect(a.clusterList, `${c.kind}: CLUSTER_LIST of ${o.kind}'s block`).to.deep.equal([OUR_CLUSTER]);
        }
      }
    });

    it('our Loc-RIB holds each block from its client with the client as next hop', async () => {
      const routes = await rr.routes('ipv4-unicast');
      for (const c of CLIENTS) {
        const r = routes.find((x) => x.prefix === block(c.host));
        expect(r, `${c.kind}'s block in our Loc-RIB`).to.not.equal(undefined);
        expect(r!.best.peer).to.equal(c.kind);
        expect(r!.nextHops).to.deep.equal([addr(c.host)]);
      }
    });

    it('a withdrawal by one client (GoBGP) is reflected to the others', async () => {
      const gobgp = CLIENTS.find((c) => c.kind === 'gobgp')!;
      await clients.gobgp!.command(['global', 'rib', 'del', block(gobgp.host), '-a', 'ipv4']);
      for (const c of CLIENTS.filter((x) => x.kind !== 'gobgp')) {
        await waitFor(`${c.kind} loses GoBGP's block`, async () =>
          !(await clients[c.kind]!.receivedRoutes('ipv4-unicast')).some((r) => r.prefix === block(gobgp.host)), 20000, 250);
      }
      expect((await rr.routes('ipv4-unicast')).some((r) => r.prefix === block(gobgp.host))).to.equal(false);
    });
  });

  describe('nexthop as a client of BIRD and FRR reflectors', () => {
    const pathFrom = (paths: PathView[], peer: string): PathView | undefined => paths.find((p) => p.peer === peer);

    it('both nexthop clients have both reflector sessions Established', async () => {
      for (const p of [nhA, nhB]) {
        await waitFor('rr-bird and rr-frr Established', async () => (await p.status()).every((s) => s.state === 'Established'), 45000, 250);
      }
      await waitEstablished(birdRr, addr(NH_A), 10000);
      await waitEstablished(frrRr, addr(NH_B), 10000);
    });

    it('each learns the other\'s block from both reflectors with the original NEXT_HOP, ORIGINATOR_ID and that reflector\'s CLUSTER_LIST', async () => {
      for (const [me, other] of [[nhA, NH_B], [nhB, NH_A]] as const) {
        await waitFor(`the block of ${addr(other)} from both reflectors`, async () => {
          const r = (await me.routes('ipv4-unicast')).find((x) => x.prefix === block(other));
          return r !== undefined && pathFrom(r.paths, 'rr-bird') !== undefined && pathFrom(r.paths, 'rr-frr') !== undefined;
        }, 30000, 250);
        const r = (await me.routes('ipv4-unicast')).find((x) => x.prefix === block(other))!;
        expect(r.nextHops[0]).to.equal(addr(other));
        for (const [peer, cluster] of [['rr-bird', BIRD_CLUSTER], ['rr-frr', FRR_CLUSTER]] as const) {
          const p = pathFrom(r.paths, peer)!;
          expect(p.nextHop, `next hop via ${peer}`).to.equal(addr(other));
          expect(p.originatorId, `ORIGINATOR_ID via ${peer}`).to.equal(addr(other));
          expect(p.clusterList, `CLUSTER_LIST via ${peer}`).to.deep.equal([cluster]);
          expect(p.asPath).to.deep.equal([]);
        }
        // RFC 4456 §8: our own block reflected back to us (FRR and BIRD may send it) is dropped.
        const mine = (await me.routes('ipv4-unicast')).find((x) => x.prefix === block(other === NH_B ? NH_A : NH_B));
        expect(mine?.paths.map((p) => p.peer)).to.deep.equal(['local']);
      }
      // The reflectors hold both blocks with the clients' own next hops.
      const atBird = await waitRoutes(birdRr, [block(NH_A), block(NH_B)], { timeoutMs: 10000 });
      expect(atBird.find((x) => x.prefix === block(NH_A))!.nextHops[0]).to.equal(addr(NH_A));
      const atFrr = await waitRoutes(frrRr, [block(NH_A), block(NH_B)], { timeoutMs: 10000 });
      expect(atFrr.find((x) => x.prefix === block(NH_B))!.nextHops[0]).to.equal(addr(NH_B));
    });

    it('a withdrawal by one nexthop client removes both reflected paths at the other', async () => {
      await nhA.request('withdraw', { prefix: block(NH_A) });
      await waitFor('B loses A\'s block', async () => !(await nhB.routes('ipv4-unicast')).some((x) => x.prefix === block(NH_A)), 20000, 250);
    });
  });
});
