// Route-reflector topologies with real routers, on one shared L2 segment (a bridge in a hub
// namespace, every router in its own namespace), nexthop (the Speaker runner) as the reflectors.
//
//  1. Redundant pair: two nexthop reflectors with the SAME CLUSTER_ID, non-clients of each other;
//     a BIRD 2 client and an FRR client each peer with both. Each client learns the other's block
//     twice, once per reflector, with the original NEXT_HOP (RFC 4456 §10), ORIGINATOR_ID = the
//     originating client and CLUSTER_LIST = [the shared id] (§8). Each reflector drops what its
//     twin reflects to it (its own CLUSTER_ID in CLUSTER_LIST, §8). One reflector is killed
//     (SIGKILL): both clients keep the other's block through the survivor.
//  2. A nexthop reflector that also peers over eBGP with a BIRD ToR (next-hop-self) and an FRR ToR
//     (keepOriginalNextHop): the ToRs get the client blocks with our AS prepended and the chosen
//     next hop and without ORIGINATOR_ID / CLUSTER_LIST (RFC 4456 §8 attributes are optional
//     non-transitive, not for other ASes; RFC 4271 §5) and without LOCAL_PREF (RFC 4271 §5.1.5),
//     checked in the daemons' tables and in a tcpdump capture of the segment decoded with our
//     own pcap reader and codec (the daemons ignore a LOCAL_PREF received over eBGP);
//     the BIRD ToR's route reaches the nexthop clients with the ToR's next hop (or ours, with
//     next-hop-self toward that client), its AS_PATH and our LOCAL_PREF.
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Lab, isRoot, nsExec, waitFor } from '../helpers/lab';
import { Daemon, RouterSpec, daemonAvailable, startDaemon, waitEstablished, waitRoutes } from '../helpers/daemons';
import { RunnerSpec, SpeakerProcess } from '../helpers/speaker-runner';
import type { PeerConfig } from '../../src/speaker/types';
import { bgpMessagesFromPcap } from '../../src/cli/pcap';
import { codecContext, decodeMessage } from '../../src/wire';
import type { UpdateMessage } from '../../src/wire/types';

const AS = 64700;
const BIRD_TOR_AS = 65040;
const FRR_TOR_AS = 65041;
const SUBNET = '10.93.0';
const POOL = '10.94.0.0/16';
/** The twin reflectors' shared CLUSTER_ID, and the ToR-facing reflector's. */
const PAIR_CLUSTER = '5.5.5.5';
const TOR_RR_CLUSTER = '6.6.6.6';
const TOR_ROUTE = '198.51.100.0/24';

const addr = (host: number): string => `${SUBNET}.${host}`;
const block = (host: number): string => `10.94.${host}.0/24`;

// Hosts on the segment.
const RR1 = 1;
const RR2 = 2;
const BIRD_CLIENT = 11;
const FRR_CLIENT = 12;
const TOR_RR = 3;
const N31 = 31;
const N32 = 32;
const BIRD_TOR = 40;
const FRR_TOR = 41;

/** One path of a prefix as a daemon shows it, with the RFC 4456 and LOCAL_PREF attributes. */
interface DaemonPath {
  peer: string;
  nextHop: string | null;
  asPath: number[];
  originatorId: string | null;
  clusterList: string[];
  localPref: number | null;
}

/** Every path of `prefix` a daemon learned from a neighbor, read from its own CLI. */
async function daemonPaths(d: Daemon, prefix: string): Promise<DaemonPath[]> {
  if (d.kind === 'bird') {
    // One header line per path ("10.94.12.0/24  unicast [peer2 ...]" or, for the next path, the
    // same without the prefix), then "\tBGP.<attr>: value" lines.
    const t = await d.command(['show', 'route', 'all', prefix]);
    const out: DaemonPath[] = [];
    let cur: DaemonPath | null = null;
    for (const line of t.split('\n')) {
      const head = /^\S*\s+\w+\s+\[(peer(\d+))\s/.exec(line);
      if (head && !line.startsWith('\t')) {
        const n = d.spec.neighbors[Number(head[2]) - 1];
        cur = { peer: n.address, nextHop: null, asPath: [], originatorId: null, clusterList: [], localPref: null };
        out.push(cur);
        continue;
      }
      const a = /^\s+BGP\.(\w+):\s*(.*)$/.exec(line);
      if (!cur || !a) continue;
      const v = a[2].trim();
      if (a[1] === 'next_hop') cur.nextHop = v.split(/\s+/)[0];
      else if (a[1] === 'as_path') cur.asPath = (v.match(/\d+/g) ?? []).map(Number);
      else if (a[1] === 'originator_id') cur.originatorId = v;
      else if (a[1] === 'cluster_list') cur.clusterList = v.split(/\s+/).filter(Boolean);
      else if (a[1] === 'local_pref') cur.localPref = Number(v);
    }
    return out;
  }
  if (d.kind === 'frr') {
    const j = JSON.parse(await d.command(`show bgp ipv4 unicast ${prefix} json`)) as { paths?: Record<string, unknown>[] };
    return (j.paths ?? []).flatMap((p) => {
      const peer = (p.peer as { peerId?: string } | undefined)?.peerId;
      if (!peer || peer === '0.0.0.0') return [];
      const cl = p.clusterList as { list?: string[] } | undefined;
      const hops = (p.nexthops ?? []) as { ip?: string }[];
      return [{
        peer,
        nextHop: hops[0]?.ip ?? null,
        asPath: ((p.aspath as { string?: string } | undefined)?.string?.match(/\d+/g) ?? []).map(Number),
        originatorId: typeof p.originatorId === 'string' ? p.originatorId : null,
        clusterList: cl?.list ?? [],
        localPref: typeof p.locPrf === 'number' ? p.locPrf : null,
      }];
    });
  }
  throw new Error(`no path reader for ${d.kind}`);
}

describe('interop: route-reflector topologies (RFC 4456) with BIRD and FRR', function () {
  this.timeout(60000);
  let lab: Lab;
  let hub: string;
  let ports = 0;
  let rr1: SpeakerProcess;
  let rr2: SpeakerProcess;
  let birdClient: Daemon;
  let frrClient: Daemon;
  let torRr: SpeakerProcess;
  let n31: SpeakerProcess;
  let n32: SpeakerProcess;
  let birdTor: Daemon;
  let frrTor: Daemon;
  let capture: string;

  /** The UPDATEs the ToR-facing reflector sent, decoded from the capture so far. */
  const capturedUpdates = (): { to: string; update: UpdateMessage }[] => {
    const { messages } = bgpMessagesFromPcap(fs.readFileSync(capture));
    const out: { to: string; update: UpdateMessage }[] = [];
    for (const m of messages) {
      if (m.src.address !== addr(TOR_RR)) continue;
      const msg = decodeMessage(m.bytes, codecContext());
      if (msg.type === 'update') out.push({ to: m.dst.address, update: msg });
    }
    return out;
  };

  /** A namespace on the shared segment with `host`'s address. */
  const attach = (name: string, host: number): string => {
    const ns = lab.netns(name);
    const port = `p${ports++}`;
    lab.link(hub, [], ns, [`${addr(host)}/24`], [port, 'eth0']);
    nsExec(hub, 'ip', ['link', 'set', port, 'master', 'br0']);
    return ns;
  };

  const speakerSpec = (host: number, peers: PeerConfig[], extra: { clusterId?: string; originate?: boolean } = {}): RunnerSpec => ({
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

  /** A daemon client of both twin reflectors. */
  const pairClient = (host: number): RouterSpec => ({
    routerId: addr(host),
    asn: AS,
    neighbors: [RR1, RR2].map((rr) => ({ address: addr(rr), asn: AS, localAddress: addr(host), holdTime: 30 })),
    routes: [{ prefix: block(host) }],
  });

  const torSpec = (host: number, asn: number, routes: RouterSpec['routes']): RouterSpec => ({
    routerId: addr(host),
    asn,
    neighbors: [{ address: addr(TOR_RR), asn: AS, localAddress: addr(host), holdTime: 30 }],
    routes,
  });

  before(async function () {
    if (!isRoot()) this.skip();
    for (const k of ['bird', 'frr'] as const) if (!daemonAvailable(k)) this.skip();
    lab = new Lab('rrt');
    hub = lab.netns('hub');
    nsExec(hub, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    nsExec(hub, 'ip', ['link', 'set', 'br0', 'up']);
    // Every BGP segment to or from the ToR-facing reflector, written packet by packet (-U).
    capture = path.join(lab.tempDir(), 'tor-rr.pcap');
    const dump = lab.spawn(hub, 'tcpdump', ['-i', 'br0', '-U', '-s', '0', '-w', capture, 'tcp port 179 and host', addr(TOR_RR)]);
    let dumpErr = '';
    dump.stderr!.on('data', (d: Buffer) => { dumpErr += d.toString(); });
    await waitFor('tcpdump listening on br0', () => /listening on br0/.test(dumpErr), 10000, 50);
    const ns = {
      rr1: attach('rr1', RR1), rr2: attach('rr2', RR2), bird: attach('bird', BIRD_CLIENT), frr: attach('frr', FRR_CLIENT),
      torRr: attach('torrr', TOR_RR), n31: attach('n31', N31), n32: attach('n32', N32),
      birdTor: attach('birdtor', BIRD_TOR), frrTor: attach('frrtor', FRR_TOR),
    };
    const clientsOfPair: PeerConfig[] = [
      { name: 'bird', address: addr(BIRD_CLIENT), peerAs: AS, type: 'rr-client' },
      { name: 'frr', address: addr(FRR_CLIENT), peerAs: AS, type: 'rr-client' },
    ];
    const twin = (host: number): PeerConfig => ({ name: 'twin', address: addr(host), peerAs: AS, type: 'rr-nonclient' });
    const acceptAll = { kind: 'accept-all' as const };
    const toTorRr: PeerConfig = { name: 'rr', address: addr(TOR_RR), peerAs: AS, type: 'rr-server', importRule: acceptAll };
    const torRrPeers: PeerConfig[] = [
      { name: 'n31', address: addr(N31), peerAs: AS, type: 'rr-client' },
      // RFC 4271 §5.1.3: next-hop-self toward this client for routes learned over eBGP.
      { name: 'n32', address: addr(N32), peerAs: AS, type: 'rr-client', nextHopSelf: true },
      { name: 'bird-tor', address: addr(BIRD_TOR), peerAs: BIRD_TOR_AS, type: 'external', importLocalPref: 150 },
      { name: 'frr-tor', address: addr(FRR_TOR), peerAs: FRR_TOR_AS, type: 'external', keepOriginalNextHop: true },
    ];
    // Everything starts at once; the sessions come up in any order.
    const started = await Promise.all([
      SpeakerProcess.start(lab, ns.rr1, speakerSpec(RR1, [...clientsOfPair, twin(RR2)], { clusterId: PAIR_CLUSTER })),
      SpeakerProcess.start(lab, ns.rr2, speakerSpec(RR2, [...clientsOfPair, twin(RR1)], { clusterId: PAIR_CLUSTER })),
      startDaemon(lab, ns.bird, 'bird', pairClient(BIRD_CLIENT)),
      startDaemon(lab, ns.frr, 'frr', pairClient(FRR_CLIENT)),
      SpeakerProcess.start(lab, ns.torRr, speakerSpec(TOR_RR, torRrPeers, { clusterId: TOR_RR_CLUSTER })),
      SpeakerProcess.start(lab, ns.n31, speakerSpec(N31, [toTorRr], { originate: true })),
      SpeakerProcess.start(lab, ns.n32, speakerSpec(N32, [toTorRr], { originate: true })),
      startDaemon(lab, ns.birdTor, 'bird', torSpec(BIRD_TOR, BIRD_TOR_AS, [{ prefix: TOR_ROUTE }])),
      startDaemon(lab, ns.frrTor, 'frr', torSpec(FRR_TOR, FRR_TOR_AS, [])),
    ]);
    [rr1, rr2] = started.slice(0, 2) as SpeakerProcess[];
    [birdClient, frrClient] = started.slice(2, 4) as Daemon[];
    [torRr, n31, n32] = started.slice(4, 7) as SpeakerProcess[];
    [birdTor, frrTor] = started.slice(7, 9) as Daemon[];
  });

  after(async () => {
    await Promise.all([rr1, rr2, torRr, n31, n32].map((p) => p?.stop().catch(() => undefined)));
    await Promise.all([birdClient, frrClient, birdTor, frrTor].map((d) => d?.stop(1000).catch(() => undefined)));
    await lab?.destroy();
  });

  describe('redundant reflector pair with one CLUSTER_ID, BIRD and FRR clients', () => {
    const clients = () => [{ d: birdClient, host: BIRD_CLIENT, other: FRR_CLIENT }, { d: frrClient, host: FRR_CLIENT, other: BIRD_CLIENT }];

    it('every session is up: both clients with both reflectors, and the reflectors with each other', async () => {
      for (const { d } of clients()) {
        await waitEstablished(d, addr(RR1), 45000);
        await waitEstablished(d, addr(RR2), 45000);
      }
      for (const rr of [rr1, rr2]) {
        await waitFor('the reflector\'s three sessions Established', async () => {
          const st = await rr.status();
          return st.length === 3 && st.every((p) => p.state === 'Established');
        }, 20000, 250);
      }
    });

    it('each client learns the other\'s block from both reflectors: original NEXT_HOP, ORIGINATOR_ID, CLUSTER_LIST [shared id] (RFC 4456 §8, §10)', async () => {
      for (const { d, host, other } of clients()) {
        await waitFor(`${d.kind} has ${block(other)} via both reflectors`, async () => {
          const peers = (await daemonPaths(d, block(other))).map((p) => p.peer).sort();
          return peers.length === 2 && peers[0] === addr(RR1) && peers[1] === addr(RR2);
        }, 30000, 250);
        for (const p of await daemonPaths(d, block(other))) {
          expect(p.nextHop, `${d.kind}: next hop via ${p.peer}`).to.equal(addr(other));
          expect(p.originatorId, `${d.kind}: ORIGINATOR_ID via ${p.peer}`).to.equal(addr(other));
          expect(p.clusterList, `${d.kind}: CLUSTER_LIST via ${p.peer}`).to.deep.equal([PAIR_CLUSTER]);
          expect(p.asPath).to.deep.equal([]);
          expect(p.localPref, `${d.kind}: LOCAL_PREF via ${p.peer}`).to.equal(100);
        }
        // RFC 4456 §8: its own block is not installed from the reflectors.
        expect((await daemonPaths(d, block(host))).map((p) => p.peer), `${d.kind}'s own block from a reflector`).to.deep.equal([]);
      }
    });

    it('each reflector holds both blocks from the clients only, and drops its twin\'s reflections as cluster loops (RFC 4456 §8)', async () => {
      for (const rr of [rr1, rr2]) {
        await waitFor('twin\'s two reflections rejected', async () => (await rr.peer('twin'))!.rejected['cluster-loop'] === 2, 15000, 250);
        const twin = (await rr.peer('twin'))!;
        expect(twin.rejected).to.deep.equal({ 'cluster-loop': 2 });
        expect(twin.families['ipv4-unicast'].accepted).to.equal(0);
        const routes = await rr.routes('ipv4-unicast');
        for (const [name, host] of [['bird', BIRD_CLIENT], ['frr', FRR_CLIENT]] as const) {
          const r = routes.find((x) => x.prefix === block(host))!;
          expect(r.paths.map((p) => p.peer), `${block(host)} at a reflector`).to.deep.equal([name]);
          expect(r.nextHops).to.deep.equal([addr(host)]);
        }
      }
    });

    it('reflector 1 is killed (SIGKILL): both clients keep the other\'s block through reflector 2', async () => {
      await rr1.kill9();
      for (const { d } of clients()) await waitFor(`${d.kind} sees reflector 1 down`, async () => (await d.sessions())[addr(RR1)] !== 'established', 20000, 250);
      for (const { d, other } of clients()) {
        await waitFor(`${d.kind}: only the path via reflector 2 remains`, async () => {
          const ps = await daemonPaths(d, block(other));
          return ps.length === 1 && ps[0].peer === addr(RR2);
        }, 20000, 250);
        const [p] = await daemonPaths(d, block(other));
        expect(p.nextHop).to.equal(addr(other));
        expect(p.originatorId).to.equal(addr(other));
        expect(p.clusterList).to.deep.equal([PAIR_CLUSTER]);
        const got = await waitRoutes(d, [block(other)], { timeoutMs: 5000 });
        expect(got.find((x) => x.prefix === block(other))!.nextHops[0]).to.equal(addr(other));
      }
    });
  });

  describe('reflector with eBGP ToRs (BIRD: next-hop-self, FRR: keepOriginalNextHop)', () => {
    it('all sessions are up', async () => {
      await waitEstablished(birdTor, addr(TOR_RR), 45000);
      await waitEstablished(frrTor, addr(TOR_RR), 45000);
      await waitFor('the reflector\'s four sessions Established', async () => {
        const st = await torRr.status();
        return st.length === 4 && st.every((p) => p.state === 'Established');
      }, 30000, 250);
    });

    it('the ToRs get the client blocks with our AS prepended and the configured next hop, without ORIGINATOR_ID, CLUSTER_LIST or LOCAL_PREF', async () => {
      for (const [tor, nhOf] of [[birdTor, () => addr(TOR_RR)], [frrTor, (h: number) => addr(h)]] as const) {
        await waitRoutes(tor, [block(N31), block(N32)], { timeoutMs: 30000 });
        for (const h of [N31, N32]) {
          const ps = await daemonPaths(tor, block(h));
          expect(ps.length, `${tor.kind} ToR: paths of ${block(h)}`).to.equal(1);
          const p = ps[0];
          expect(p.peer).to.equal(addr(TOR_RR));
          expect(p.nextHop, `${tor.kind} ToR: next hop of ${block(h)} (RFC 4271 §5.1.3)`).to.equal(nhOf(h));
          expect(p.asPath, 'our AS prepended (RFC 4271 §5.1.2)').to.deep.equal([AS]);
          expect(p.originatorId, 'no ORIGINATOR_ID toward eBGP').to.equal(null);
          expect(p.clusterList, 'no CLUSTER_LIST toward eBGP').to.deep.equal([]);
          // LOCAL_PREF: both daemons ignore a received one over eBGP and BIRD shows its own
          // default, so the wire is checked below.
        }
      }
      // On the wire (captured on the segment's bridge): no UPDATE from the reflector to a ToR
      // carries ORIGINATOR_ID, CLUSTER_LIST (RFC 4456 §8 optional non-transitive, RFC 4271 §5)
      // or LOCAL_PREF (RFC 4271 §5.1.5).
      const toTor = capturedUpdates().filter((m) => m.to === addr(BIRD_TOR) || m.to === addr(FRR_TOR));
      const announced = toTor.filter((m) => m.update.nlri.length > 0);
      expect(announced.flatMap((m) => m.update.nlri.map((x) => `${m.to} ${x.prefix}`))).to.include.members(
        [BIRD_TOR, FRR_TOR].flatMap((t) => [N31, N32].map((h) => `${addr(t)} ${block(h)}`)));
      for (const { to, update } of announced) {
        const a = update.attributes;
        expect(a.originatorId, `ORIGINATOR_ID in an UPDATE to ${to}`).to.equal(undefined);
        expect(a.clusterList, `CLUSTER_LIST in an UPDATE to ${to}`).to.equal(undefined);
        expect(a.localPref, `LOCAL_PREF in an UPDATE to ${to}`).to.equal(undefined);
        expect(a.asPath?.flatMap((sg) => sg.asns)[0], `our AS first in AS_PATH to ${to}`).to.equal(AS);
      }
      // And the clients' UPDATEs from the reflector do carry LOCAL_PREF (RFC 4271 §5.1.5) and, for
      // reflected routes, the RFC 4456 §8 attributes.
      const toN31 = capturedUpdates().filter((m) => m.to === addr(N31) && m.update.nlri.some((x) => x.prefix === block(N32)));
      expect(toN31.length, 'captured reflection of n32\'s block to n31').to.be.greaterThan(0);
      for (const { update } of toN31) {
        expect(update.attributes.localPref).to.equal(100);
        expect(update.attributes.originatorId).to.equal(addr(N32));
        expect(update.attributes.clusterList).to.deep.equal([TOR_RR_CLUSTER]);
      }
    });

    it('the BIRD ToR\'s route reaches the clients with its AS_PATH, our LOCAL_PREF, and its next hop (or ours with next-hop-self), no RFC 4456 attributes', async () => {
      for (const [c, nh] of [[n31, addr(BIRD_TOR)], [n32, addr(TOR_RR)]] as const) {
        await waitFor('the ToR route at the client', async () => (await c.routes('ipv4-unicast')).some((r) => r.prefix === TOR_ROUTE), 30000, 250);
        const r = (await c.routes('ipv4-unicast')).find((x) => x.prefix === TOR_ROUTE)!;
        expect(r.best.peer).to.equal('rr');
        expect(r.nextHops).to.deep.equal([nh]);
        expect(r.best.asPath).to.deep.equal([BIRD_TOR_AS]);
        expect(r.best.localPref).to.equal(150);
        expect(r.best.originatorId).to.equal(undefined);
        expect(r.best.clusterList).to.equal(undefined);
      }
      // The FRR ToR gets it too, eBGP to eBGP: both ASes on the path, next hop kept (keepOriginalNextHop).
      await waitRoutes(frrTor, [TOR_ROUTE], { timeoutMs: 20000 });
      const [p] = await daemonPaths(frrTor, TOR_ROUTE);
      expect(p.asPath).to.deep.equal([AS, BIRD_TOR_AS]);
      expect(p.nextHop).to.equal(addr(BIRD_TOR));
      // Client blocks among themselves are reflected with their own next hops regardless of
      // next-hop-self (it applies to eBGP-learned routes only).
      const r = (await n32.routes('ipv4-unicast')).find((x) => x.prefix === block(N31))!;
      expect(r.nextHops).to.deep.equal([addr(N31)]);
      expect(r.best.originatorId).to.equal(addr(N31));
      expect(r.best.clusterList).to.deep.equal([TOR_RR_CLUSTER]);
    });
  });
});
