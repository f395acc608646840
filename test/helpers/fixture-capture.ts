// Regenerates proto-fixtures/ from real routers: runs BIRD 2, FRR, GoBGP and ExaBGP against each
// other in network namespaces (test/helpers/daemons.ts), records every session with tcpdump
// inside the namespace, reassembles the TCP streams (src/cli/pcap.ts) and writes one file per
// message, named by what it is, under proto-fixtures/<sending daemon>/, plus a few whole
// captures under proto-fixtures/pcap/, a machine-readable manifest.json (sender, receiver,
// versions, scenario, the RFC 6793 / RFC 7911 / RFC 8654 decoding context of each message) and
// README.md. Run it through scripts/capture-fixtures (as root). Non-canonical markings already in
// the manifest are kept when a file is captured again.
import * as fs from 'fs';
import * as path from 'path';
import { ChildProcess } from 'child_process';
import { Lab, isRoot } from './lab';
import { Daemon, DaemonKind, RouterSpec, daemonVersion, startDaemon, waitEstablished, waitRoutes } from './daemons';
import { repoPath } from './repo';
import { bgpMessagesFromPcap, endpointText } from '../../src/cli/pcap';
import { sessionContext } from '../../src/cli/commands/decode';
import { decodeMessage, encodeMessage, endOfRibFamily, familyOf, type BgpMessage, type CodecContext, type OpenMessage } from '../../src/wire';

export interface ManifestParty {
  daemon: DaemonKind;
  version: string;
  address: string;
  asn: number;
}

/** One captured message file. */
export interface MessageFixture {
  file: string;
  type: BgpMessage['type'];
  sender: ManifestParty;
  receiver: ManifestParty;
  scenario: string;
  captured: string;
  /** The decoding context of this direction, from both OPENs of its TCP connection. */
  context: { as4: boolean; addPath: string[]; extendedMessage: boolean };
  /** encode(decode(bytes)) gives back the same bytes. */
  canonical: boolean;
  /** Why the daemon's encoding differs from ours (required when canonical is false). */
  nonCanonicalReason?: string;
  description: string;
}

export interface PcapFixture {
  file: string;
  scenario: string;
  captured: string;
  linkType: string;
  timestampPrecision: 'micro' | 'nano';
  messages: number;
  description: string;
}

export interface Manifest {
  generatedBy: string;
  messages: MessageFixture[];
  pcaps: PcapFixture[];
}

interface ScenarioNode {
  kind: DaemonKind;
  spec: RouterSpec;
  /** Name of this daemon's OPEN fixture in this scenario (absent: its OPEN is not kept). */
  openName?: string;
}

interface Scenario {
  name: string;
  description: string;
  /** Namespaces by node name, the links between them, addresses per node. */
  nodes: Record<string, ScenarioNode>;
  links: { a: string; b: string; addrsA: string[]; addrsB: string[] }[];
  /** Where tcpdump listens: node name, and 'any' or the link index on that node. */
  capture: { node: string; iface: 'any' | number; linkType?: 'LINUX_SLL' | 'LINUX_SLL2'; nano?: boolean; keepAs?: string };
  run(d: Record<string, Daemon>): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const SCENARIOS: Scenario[] = [
  {
    name: 'basic',
    description: 'BIRD (AS 65001) dials FRR (AS 65002, passive) over IPv4 and over IPv6; no graceful restart, no ADD-PATH. '
      + 'Each originates an IPv4 /24 with communities, large communities and a route target, and an IPv6 /48. '
      + 'Then: route refresh both ways, withdrawals, BIRD `disable peer1 "..."` (Cease with shutdown communication), '
      + 'BIRD re-enabled, FRR `neighbor X shutdown message ...`. At session start FRR (passive) closes a second, '
      + 'concurrent connection from BIRD with an FSM Error (5/0, frr/notification-fsm-error.bin).',
    nodes: {
      a: {
        kind: 'bird', openName: 'open',
        spec: {
          routerId: '10.77.1.1', asn: 65001,
          neighbors: [
            { address: '10.77.1.2', asn: 65002, localAddress: '10.77.1.1', gracefulRestart: false },
            { address: 'fd77:1::2', asn: 65002, localAddress: 'fd77:1::1', gracefulRestart: false },
          ],
          routes: [
            { prefix: '10.77.101.0/24', communities: ['65001:100'], largeCommunities: ['65001:1:2'], routeTargets: ['65001:300'] },
            { prefix: 'fd77:101::/48', communities: ['65001:106'] },
          ],
        },
      },
      b: {
        kind: 'frr', openName: 'open',
        spec: {
          routerId: '10.77.1.2', asn: 65002,
          neighbors: [
            { address: '10.77.1.1', asn: 65001, localAddress: '10.77.1.2', passive: true },
            { address: 'fd77:1::1', asn: 65001, localAddress: 'fd77:1::2', passive: true },
          ],
          routes: [
            { prefix: '10.77.102.0/24', communities: ['65002:200'], largeCommunities: ['65002:3:4'], routeTargets: ['65002:400'], med: 50 },
            { prefix: 'fd77:102::/48', largeCommunities: ['65002:5:6'] },
          ],
        },
      },
    },
    links: [{ a: 'a', b: 'b', addrsA: ['10.77.1.1/24', 'fd77:1::1/64'], addrsB: ['10.77.1.2/24', 'fd77:1::2/64'] }],
    capture: { node: 'b', iface: 0, keepAs: 'bird-frr-ethernet.pcap' },
    async run(d) {
      await waitEstablished(d.a, '10.77.1.2'); await waitEstablished(d.a, 'fd77:1::2');
      await waitRoutes(d.b, ['10.77.101.0/24', 'fd77:101::/48']);
      await waitRoutes(d.a, ['10.77.102.0/24', 'fd77:102::/48']);
      await sleep(1000);
      await d.a.command(['reload', 'in', 'peer1']);
      await d.a.command(['reload', 'in', 'peer2']);
      await sleep(1000);
      await d.b.command('clear bgp 10.77.1.1 soft in');
      await d.b.command('clear bgp fd77:1::1 soft in');
      await sleep(1500);
      await d.a.command(['disable', 'static_ipv4']);
      await d.a.command(['disable', 'static_ipv6']);
      await d.b.command(['configure terminal', 'router bgp 65002', 'address-family ipv4 unicast', 'no network 10.77.102.0/24',
        'exit-address-family', 'address-family ipv6 unicast', 'no network fd77:102::/48']);
      await sleep(2000);
      // birdc joins its arguments into one command line: the message needs its quotes.
      await d.a.command(['disable', 'peer1', '"nexthop fixture: BIRD planned maintenance"']);
      await sleep(1500);
      await d.a.command(['enable', 'peer1']);
      await waitEstablished(d.a, '10.77.1.2');
      await sleep(1000);
      await d.b.command(['configure terminal', 'router bgp 65002', 'neighbor 10.77.1.1 shutdown message nexthop fixture: FRR maintenance']);
      await sleep(1500);
    },
  },
  {
    name: 'gr-addpath',
    description: 'BIRD (AS 65001) dials GoBGP (AS 65003, passive) over IPv4 and IPv6 with graceful restart (120 s) and ADD-PATH send+receive '
      + 'on both sides. Then: GoBGP soft reset in (route refresh), BIRD reload in, withdrawals from both, '
      + 'GoBGP `neighbor X disable --reason ...` (Cease with shutdown communication). Captured with nanosecond timestamps.',
    nodes: {
      a: {
        kind: 'bird', openName: 'open-gr-addpath',
        spec: {
          routerId: '10.78.1.1', asn: 65001,
          neighbors: [
            { address: '10.78.1.2', asn: 65003, localAddress: '10.78.1.1', gracefulRestart: 120, addPath: 'both' },
            { address: 'fd78:1::2', asn: 65003, localAddress: 'fd78:1::1', gracefulRestart: 120, addPath: 'both' },
          ],
          routes: [{ prefix: '10.78.101.0/24', communities: ['65001:101'] }, { prefix: 'fd78:101::/48', largeCommunities: ['65001:7:8'] }],
        },
      },
      b: {
        kind: 'gobgp', openName: 'open-gr-addpath',
        spec: {
          routerId: '10.78.1.2', asn: 65003,
          neighbors: [
            { address: '10.78.1.1', asn: 65001, localAddress: '10.78.1.2', passive: true, gracefulRestart: 120, addPath: 'both' },
            { address: 'fd78:1::1', asn: 65001, localAddress: 'fd78:1::2', passive: true, gracefulRestart: 120, addPath: 'both' },
          ],
          routes: [
            { prefix: '10.78.102.0/24', communities: ['65003:300'], largeCommunities: ['65003:1:1'], routeTargets: ['65003:9'] },
            { prefix: 'fd78:102::/48', communities: ['65003:306'] },
          ],
        },
      },
    },
    links: [{ a: 'a', b: 'b', addrsA: ['10.78.1.1/24', 'fd78:1::1/64'], addrsB: ['10.78.1.2/24', 'fd78:1::2/64'] }],
    capture: { node: 'a', iface: 0, nano: true, keepAs: 'bird-gobgp-gr-addpath-nanosecond.pcap' },
    async run(d) {
      await waitEstablished(d.a, '10.78.1.2'); await waitEstablished(d.a, 'fd78:1::2');
      await waitRoutes(d.b, ['10.78.101.0/24', 'fd78:101::/48']);
      await waitRoutes(d.a, ['10.78.102.0/24', 'fd78:102::/48']);
      await sleep(1000);
      await d.b.command(['neighbor', '10.78.1.1', 'softresetin', '-a', 'ipv4']);
      await d.b.command(['neighbor', 'fd78:1::1', 'softresetin', '-a', 'ipv6']);
      await d.a.command(['reload', 'in', 'peer1']);
      await sleep(1500);
      await d.b.command(['global', 'rib', 'del', '10.78.102.0/24', '-a', 'ipv4']);
      await d.b.command(['global', 'rib', 'del', 'fd78:102::/48', '-a', 'ipv6']);
      await d.a.command(['disable', 'static_ipv4']);
      await d.a.command(['disable', 'static_ipv6']);
      await sleep(2000);
      // RFC 8203 shutdown communication: `shutdown` where this gobgp has it, else `disable`.
      try {
        await d.b.command(['neighbor', '10.78.1.1', 'shutdown', '--reason', 'nexthop fixture: GoBGP maintenance']);
      } catch {
        await d.b.command(['neighbor', '10.78.1.1', 'disable', '--reason', 'nexthop fixture: GoBGP maintenance']);
      }
      await sleep(1500);
    },
  },
  {
    name: 'exabgp-frr-gr-addpath',
    description: 'ExaBGP (AS 65004) dials FRR (AS 65002, passive) over IPv4 and IPv6 with graceful restart and ADD-PATH send/receive on both. '
      + 'ExaBGP announces static routes with communities, large communities and route targets; then it sends a route refresh '
      + '(`announce route-refresh`), withdraws, and is told `teardown 2`. ExaBGP 4.2.21 closes the TCP connection without a '
      + 'NOTIFICATION there and on SIGTERM (seen in the capture), so there is no ExaBGP NOTIFICATION fixture. FRR answers '
      + 'concurrent ExaBGP connection attempts with an FSM Error (5/0) here too. '
      + 'Captured with tcpdump -i any -y LINUX_SLL2.',
    nodes: {
      a: {
        kind: 'exabgp', openName: 'open-gr-addpath',
        spec: {
          routerId: '10.79.1.1', asn: 65004,
          neighbors: [
            { address: '10.79.1.2', asn: 65002, localAddress: '10.79.1.1', gracefulRestart: 120, addPath: 'both' },
            { address: 'fd79:1::2', asn: 65002, localAddress: 'fd79:1::1', gracefulRestart: 120, addPath: 'both' },
          ],
          routes: [
            { prefix: '10.79.101.0/24', communities: ['65004:400'], largeCommunities: ['65004:1:2'], routeTargets: ['65004:44'], med: 10 },
            { prefix: 'fd79:101::/48', communities: ['65004:406'] },
          ],
        },
      },
      b: {
        kind: 'frr', openName: 'open-gr-addpath',
        spec: {
          routerId: '10.79.1.2', asn: 65002,
          neighbors: [
            { address: '10.79.1.1', asn: 65004, localAddress: '10.79.1.2', passive: true, gracefulRestart: 120, addPath: 'both' },
            { address: 'fd79:1::1', asn: 65004, localAddress: 'fd79:1::2', passive: true, gracefulRestart: 120, addPath: 'both' },
          ],
          routes: [{ prefix: '10.79.102.0/24', communities: ['65002:202'] }, { prefix: 'fd79:102::/48', communities: ['65002:206'] }],
        },
      },
    },
    links: [{ a: 'a', b: 'b', addrsA: ['10.79.1.1/24', 'fd79:1::1/64'], addrsB: ['10.79.1.2/24', 'fd79:1::2/64'] }],
    capture: { node: 'b', iface: 'any', linkType: 'LINUX_SLL2', keepAs: 'exabgp-frr-sll2.pcap' },
    async run(d) {
      await waitEstablished(d.a, '10.79.1.2'); await waitEstablished(d.a, 'fd79:1::2');
      await waitRoutes(d.b, ['10.79.101.0/24', 'fd79:101::/48']);
      await waitRoutes(d.a, ['10.79.102.0/24', 'fd79:102::/48']);
      await sleep(1000);
      await d.a.command('neighbor 10.79.1.2 announce route-refresh ipv4 unicast');
      await d.a.command('neighbor fd79:1::2 announce route-refresh ipv6 unicast');
      await d.b.command('clear bgp 10.79.1.1 soft in');
      await sleep(1500);
      await d.a.command('neighbor 10.79.1.2 withdraw route 10.79.101.0/24 next-hop self');
      await d.a.command('neighbor fd79:1::2 withdraw route fd79:101::/48 next-hop self');
      await sleep(2000);
      await d.a.command('neighbor 10.79.1.2 teardown 2');
      await sleep(1500);
    },
  },
  {
    name: 'as2',
    description: 'ExaBGP (AS 65004, `asn4 disable`) announces 10.80.101.0/24 with AS_PATH [65004 4200000009] to BIRD (AS 65001, '
      + '`enable as4 off` on both sessions), which re-advertises it to FRR (AS 65002). Both 2-octet-AS speakers send AS_TRANS '
      + '(23456) in AS_PATH and the real path in AS4_PATH (RFC 6793 §4.2.2). Captured on BIRD with tcpdump -i any -y LINUX_SLL.',
    nodes: {
      a: {
        kind: 'exabgp', openName: 'open-as2',
        spec: {
          routerId: '10.80.1.1', asn: 65004,
          neighbors: [{ address: '10.80.1.2', asn: 65001, localAddress: '10.80.1.1', as4: false }],
          routes: [{ prefix: '10.80.101.0/24', asPathPrepend: [65004, 4200000009], communities: ['65004:480'] }],
        },
      },
      b: {
        kind: 'bird', openName: 'open-as2',
        spec: {
          routerId: '10.80.1.2', asn: 65001,
          neighbors: [
            { address: '10.80.1.1', asn: 65004, localAddress: '10.80.1.2', as4: false, passive: true },
            { address: '10.80.2.2', asn: 65002, localAddress: '10.80.2.1', as4: false },
          ],
        },
      },
      c: {
        kind: 'frr', openName: 'open-to-as2-peer',
        spec: {
          routerId: '10.80.2.2', asn: 65002,
          neighbors: [{ address: '10.80.2.1', asn: 65001, localAddress: '10.80.2.2', passive: true }],
        },
      },
    },
    links: [
      { a: 'a', b: 'b', addrsA: ['10.80.1.1/24'], addrsB: ['10.80.1.2/24'] },
      { a: 'b', b: 'c', addrsA: ['10.80.2.1/24'], addrsB: ['10.80.2.2/24'] },
    ],
    capture: { node: 'b', iface: 'any', linkType: 'LINUX_SLL', keepAs: 'exabgp-bird-frr-as2-sll.pcap' },
    async run(d) {
      await waitEstablished(d.b, '10.80.1.1'); await waitEstablished(d.b, '10.80.2.2');
      await waitRoutes(d.c, ['10.80.101.0/24']);
      await sleep(1500);
    },
  },
  {
    name: 'gobgp-exabgp',
    description: 'GoBGP (AS 65003) dials ExaBGP (AS 65004, passive) over IPv4 and IPv6, defaults otherwise (no graceful restart, no ADD-PATH). '
      + 'GoBGP originates routes with communities, large communities and route targets through `gobgp global rib add`; '
      + 'ExaBGP answers with its own static routes.',
    nodes: {
      a: {
        kind: 'gobgp', openName: 'open',
        spec: {
          routerId: '10.81.1.1', asn: 65003,
          neighbors: [
            { address: '10.81.1.2', asn: 65004, localAddress: '10.81.1.1' },
            { address: 'fd81:1::2', asn: 65004, localAddress: 'fd81:1::1' },
          ],
          routes: [
            { prefix: '10.81.101.0/24', communities: ['65003:100', '65003:101'], largeCommunities: ['65003:2:3'], routeTargets: ['65003:7'] },
            { prefix: 'fd81:101::/48', communities: ['65003:106'] },
          ],
        },
      },
      b: {
        kind: 'exabgp', openName: 'open',
        spec: {
          routerId: '10.81.1.2', asn: 65004,
          neighbors: [
            { address: '10.81.1.1', asn: 65003, localAddress: '10.81.1.2', passive: true },
            { address: 'fd81:1::1', asn: 65003, localAddress: 'fd81:1::2', passive: true },
          ],
          routes: [
            { prefix: '10.81.102.0/24', communities: ['65004:200'], largeCommunities: ['65004:5:6'], routeTargets: ['65004:8'] },
            { prefix: 'fd81:102::/48', largeCommunities: ['65004:9:9'] },
          ],
        },
      },
    },
    links: [{ a: 'a', b: 'b', addrsA: ['10.81.1.1/24', 'fd81:1::1/64'], addrsB: ['10.81.1.2/24', 'fd81:1::2/64'] }],
    capture: { node: 'a', iface: 0 },
    async run(d) {
      await waitEstablished(d.a, '10.81.1.2'); await waitEstablished(d.a, 'fd81:1::2');
      await waitRoutes(d.b, ['10.81.101.0/24', 'fd81:101::/48']);
      await waitRoutes(d.a, ['10.81.102.0/24', 'fd81:102::/48']);
      await sleep(1500);
    },
  },
];

/** Starts tcpdump in `ns`; resolves once it is capturing. */
async function startTcpdump(lab: Lab, ns: string, iface: string, file: string, opts: { linkType?: string; nano?: boolean }): Promise<ChildProcess> {
  const args = ['-i', iface, '-U', '-s', '0', '-w', file];
  if (opts.linkType) args.push('-y', opts.linkType);
  if (opts.nano) args.push('--time-stamp-precision=nano');
  args.push('tcp', 'port', '179');
  const p = lab.spawn(ns, 'tcpdump', args);
  let err = '';
  p.stderr?.on('data', (c: Buffer) => { err += c.toString(); });
  for (let i = 0; i < 100 && !/listening on/.test(err); i++) {
    if (p.exitCode !== null) throw new Error(`tcpdump in ${ns} exited: ${err}`);
    await sleep(100);
  }
  if (!/listening on/.test(err)) throw new Error(`tcpdump in ${ns} did not start: ${err}`);
  return p;
}

async function stopTcpdump(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.pid === undefined) return;
  const done = new Promise<void>((r) => p.once('exit', () => r()));
  process.kill(p.pid, 'SIGINT');
  await Promise.race([done, sleep(5000)]);
}

function familyText(afi: number, safi: number): string {
  return familyOf(afi, safi);
}

const NOTIFICATION_NAMES: Record<string, string> = {
  '6/2': 'cease-admin-shutdown', '6/3': 'cease-peer-deconfigured', '6/4': 'cease-admin-reset',
  '6/5': 'cease-connection-rejected', '6/6': 'cease-config-change', '6/7': 'cease-collision', '6/9': 'cease-hard-reset',
  '4/0': 'hold-timer-expired', '5/0': 'fsm-error',
};

/** A fixture name from what the message is; `ctx` adds '-as2' when AS numbers are 2 octets. */
export function fixtureName(msg: BgpMessage, ctx: CodecContext): string {
  switch (msg.type) {
    case 'keepalive': return 'keepalive';
    case 'notification': {
      const n = NOTIFICATION_NAMES[`${msg.code}/${msg.subcode}`] ?? `code${msg.code}-subcode${msg.subcode}`;
      return `notification-${n}${msg.shutdownCommunication !== undefined ? '-message' : msg.data.length ? '-data' : ''}`;
    }
    case 'route-refresh':
      return `route-refresh-${familyText(msg.afi, msg.safi)}${msg.subtype === 1 ? '-borr' : msg.subtype === 2 ? '-eorr' : ''}`;
    case 'open': return 'open';
    case 'update': {
      const eor = endOfRibFamily(msg);
      if (eor) return `eor-${eor}`;
      const a = msg.attributes;
      const reachFamily = msg.nlri.length ? 'ipv4-unicast' : a.mpReach ? familyText(a.mpReach.afi, a.mpReach.safi) : null;
      const unreachFamily = msg.withdrawn.length ? 'ipv4-unicast' : a.mpUnreach ? familyText(a.mpUnreach.afi, a.mpUnreach.safi) : null;
      const tags: string[] = [];
      const nlri = [...msg.nlri, ...msg.withdrawn, ...(a.mpReach?.nlri ?? []), ...(a.mpUnreach?.withdrawn ?? [])];
      if (nlri.some((n) => n.pathId !== undefined)) tags.push('addpath');
      if (!ctx.as4) tags.push('as2');
      if (a.as4Path) tags.push('as4path');
      if (a.communities) tags.push('communities');
      if (a.largeCommunities) tags.push('large');
      if (a.extendedCommunities) tags.push('ext');
      if (a.mpReach && a.mpReach.nextHops.length === 2) tags.push('ll');
      const base = reachFamily ? `update-${reachFamily}` : unreachFamily ? `withdraw-${unreachFamily}` : 'update-empty';
      const both = reachFamily && unreachFamily ? `-withdraw-${unreachFamily}` : '';
      return [base + both, ...tags].join('-');
    }
  }
}

function describe(msg: BgpMessage): string {
  switch (msg.type) {
    case 'keepalive': return 'KEEPALIVE';
    case 'open': return `OPEN AS ${msg.myAs}, hold ${msg.holdTime}, id ${msg.bgpId}, capabilities: ${msg.capabilities.map((c) => c.kind).join(', ')}`;
    case 'notification': return `NOTIFICATION ${msg.code}/${msg.subcode}${msg.shutdownCommunication !== undefined ? ` "${msg.shutdownCommunication}"` : ''}`;
    case 'route-refresh': return `ROUTE-REFRESH ${familyOf(msg.afi, msg.safi)} subtype ${msg.subtype}`;
    case 'update': {
      const eor = endOfRibFamily(msg);
      if (eor) return `UPDATE End-of-RIB ${eor}`;
      const a = msg.attributes;
      const reach = [...msg.nlri, ...(a.mpReach?.nlri ?? [])].map((n) => n.prefix + (n.pathId !== undefined ? ` (path ${n.pathId})` : ''));
      const gone = [...msg.withdrawn, ...(a.mpUnreach?.withdrawn ?? [])].map((n) => n.prefix);
      const parts = [];
      if (reach.length) parts.push(`announces ${reach.join(', ')}`);
      if (gone.length) parts.push(`withdraws ${gone.join(', ')}`);
      if (a.mpReach) parts.push(`next hops ${a.mpReach.nextHops.join(' ')}`);
      if (a.nextHop) parts.push(`next hop ${a.nextHop}`);
      if (a.asPath) parts.push(`AS_PATH ${a.asPath.map((s) => s.asns.join(' ')).join(' | ')}`);
      if (a.as4Path) parts.push(`AS4_PATH ${a.as4Path.map((s) => s.asns.join(' ')).join(' | ')}`);
      return `UPDATE ${parts.join('; ')}`;
    }
  }
}

/**
 * Why a daemon's bytes differ from our canonical encoding, found by reading the raw message:
 * empty when none of the known, permitted variations is present (then a human must look).
 */
export function nonCanonicalReasons(b: Buffer): string[] {
  const reasons: string[] = [];
  const type = b[18];
  if (type === 1 && b.length >= 29) {
    let p = 29;
    const end = 29 + b[28];
    let capParams = 0;
    while (p + 2 <= end) {
      if (b[p] === 2) capParams++;
      p += 2 + b[p + 1];
    }
    if (capParams > 1) {
      reasons.push(`each capability in its own Capabilities optional parameter (${capParams} of them; RFC 5492 §4 allows this), where we send one parameter with all capabilities`);
    }
  }
  if (type === 2 && b.length >= 23) {
    const wl = b.readUInt16BE(19);
    let p = 21 + wl;
    const al = b.readUInt16BE(p);
    p += 2;
    const end = p + al;
    const extended: number[] = [];
    const codes: number[] = [];
    while (p + 3 <= end) {
      const flags = b[p];
      const code = b[p + 1];
      const ext = (flags & 0x10) !== 0;
      const len = ext ? b.readUInt16BE(p + 2) : b[p + 2];
      if (ext && len < 256) extended.push(code);
      codes.push(code);
      p += (ext ? 4 : 3) + len;
    }
    if (extended.length) {
      reasons.push(`Extended Length bit set on attribute(s) ${extended.join(', ')} shorter than 256 octets (RFC 4271 §4.3 allows it; we use a 1-octet length)`);
    }
    const mp = codes.filter((c) => c === 14 || c === 15);
    if (mp.length && codes.slice(0, mp.length).some((c) => c !== 14 && c !== 15)) {
      reasons.push(`MP_REACH_NLRI/MP_UNREACH_NLRI not the first attribute (order ${codes.join(', ')}; RFC 7606 §5.1 says SHOULD be first, as we send it)`);
    }
    const rest = codes.filter((c) => c !== 14 && c !== 15);
    if (rest.some((c, i) => i > 0 && c < rest[i - 1])) {
      reasons.push(`path attributes not in ascending type-code order (${codes.join(', ')}; RFC 4271 §5 says SHOULD), where we sort them`);
    }
  }
  return reasons;
}

interface CaptureOutput {
  messages: { name: string; bytes: Buffer; fixture: MessageFixture }[];
  pcap?: { name: string; bytes: Buffer; fixture: PcapFixture };
}

async function runScenario(sc: Scenario, today: string): Promise<CaptureOutput> {
  const lab = new Lab('fx');
  try {
    const ns: Record<string, string> = {};
    for (const name of Object.keys(sc.nodes)) ns[name] = lab.netns(name);
    const ifaces: Record<string, string[]> = {};
    for (const l of sc.links) {
      const [ia, ib] = lab.link(ns[l.a], l.addrsA, ns[l.b], l.addrsB);
      (ifaces[l.a] ??= []).push(ia);
      (ifaces[l.b] ??= []).push(ib);
    }
    const dir = lab.tempDir();
    const pcapFile = path.join(dir, 'capture.pcap');
    const capIface = sc.capture.iface === 'any' ? 'any' : ifaces[sc.capture.node][sc.capture.iface];
    const tcpdump = await startTcpdump(lab, ns[sc.capture.node], capIface, pcapFile, { linkType: sc.capture.linkType, nano: sc.capture.nano });
    const daemons: Record<string, Daemon> = {};
    // Passive sides first, so the active side's first connection attempt is answered.
    const order = Object.keys(sc.nodes).sort((x, y) => Number(sc.nodes[y].spec.neighbors.every((n) => n.passive)) - Number(sc.nodes[x].spec.neighbors.every((n) => n.passive)));
    for (const name of order) daemons[name] = await startDaemon(lab, ns[name], sc.nodes[name].kind, sc.nodes[name].spec);
    await sc.run(daemons);
    // Stop the daemons while still capturing: what each sends when told to stop (SIGTERM) is
    // worth keeping too. Active sides first, so their peers stay up to receive it.
    for (const name of [...order].reverse()) {
      await daemons[name].stop();
      await sleep(500);
    }
    await stopTcpdump(tcpdump);
    const pcapBytes = fs.readFileSync(pcapFile);
    return extract(sc, pcapBytes, today);
  } finally {
    await lab.destroy();
  }
}

function partyOf(sc: Scenario, address: string): ManifestParty {
  for (const node of Object.values(sc.nodes)) {
    const own = new Set<string>();
    own.add(node.spec.routerId);
    for (const n of node.spec.neighbors) if (n.localAddress) own.add(n.localAddress);
    if (own.has(address)) return { daemon: node.kind, version: daemonVersion(node.kind), address, asn: node.spec.asn };
  }
  throw new Error(`scenario ${sc.name}: no node owns address ${address}`);
}

function extract(sc: Scenario, pcapBytes: Buffer, today: string): CaptureOutput {
  const cap = bgpMessagesFromPcap(pcapBytes);
  // A fixture capture must be whole: tcpdump is stopped cleanly before the file is read.
  if (cap.truncated) throw new Error(`scenario ${sc.name}: the capture is cut short: ${cap.truncated.message}`);
  const out: CaptureOutput = { messages: [] };
  const opens = new Map<string, OpenMessage>();
  const seen = new Set<string>();
  for (const m of cap.messages) {
    const src = endpointText(m.src);
    const dst = endpointText(m.dst);
    const sender = partyOf(sc, m.src.address);
    const receiver = partyOf(sc, m.dst.address);
    const sent = opens.get(`${m.connection}|${src}`);
    const got = opens.get(`${m.connection}|${dst}`);
    const ctx: CodecContext = sent && got ? sessionContext(sent, got) : { as4: true, addPath: new Set(), extendedMessage: false };
    let msg: BgpMessage;
    let name: string;
    try {
      msg = decodeMessage(m.bytes, ctx);
    } catch (e) {
      throw new Error(`scenario ${sc.name}: ${sender.daemon} -> ${receiver.daemon} message ${m.bytes.toString('hex')} does not decode: ${(e as Error).message}`);
    }
    if (msg.type === 'open') {
      opens.set(`${m.connection}|${src}`, msg);
      const node = Object.values(sc.nodes).find((n) => n.kind === sender.daemon && n.spec.asn === sender.asn);
      if (!node?.openName) continue;
      // The OPEN of an IPv4 session is the plain name; the IPv6 session's gets a suffix.
      name = m.src.address.includes(':') ? `${node.openName}-ipv6-session` : node.openName;
    } else {
      name = fixtureName(msg, ctx);
    }
    const file = `${sender.daemon}/${name}.bin`;
    if (seen.has(file)) continue;
    seen.add(file);
    let canonical = false;
    try { canonical = encodeMessage(msg, ctx).equals(m.bytes); } catch { canonical = false; }
    const openCtx = msg.type === 'open' ? { as4: true, addPath: [], extendedMessage: false } : { as4: ctx.as4, addPath: [...ctx.addPath].sort(), extendedMessage: ctx.extendedMessage };
    out.messages.push({
      name: file, bytes: m.bytes,
      fixture: {
        file, type: msg.type, sender, receiver, scenario: sc.name, captured: today,
        context: openCtx, canonical, description: describe(msg),
      },
    });
  }
  if (sc.capture.keepAs) {
    const lt = pcapBytes.readUInt32LE(20) & 0xffff;
    out.pcap = {
      name: `pcap/${sc.capture.keepAs}`, bytes: pcapBytes,
      fixture: {
        file: `pcap/${sc.capture.keepAs}`, scenario: sc.name, captured: today,
        linkType: lt === 1 ? 'ETHERNET' : lt === 113 ? 'LINUX_SLL' : lt === 276 ? 'LINUX_SLL2' : String(lt),
        timestampPrecision: sc.capture.nano ? 'nano' : 'micro',
        messages: cap.messages.length,
        description: `tcpdump -w on ${sc.capture.iface === 'any' ? 'any' : 'the veth'} in the ${sc.nodes[sc.capture.node].kind} namespace, scenario ${sc.name}`,
      },
    };
  }
  return out;
}

function readmeText(manifest: Manifest, malformed: { file: string; expect: Record<string, unknown>; description?: string }[], scenarios: Scenario[]): string {
  const L: string[] = [];
  L.push('# proto-fixtures', '');
  L.push('Real BGP messages captured from BIRD 2, FRR, GoBGP and ExaBGP talking to each other in network');
  L.push('namespaces, one file per message (raw bytes, header included), under `<daemon that SENT it>/`;');
  L.push('whole captures under `pcap/`; hand-made broken messages under `malformed/`.');
  L.push('');
  L.push('Regenerate with `sudo scripts/capture-fixtures` (needs the Debian packages of scripts/setup).');
  L.push('`manifest.json` is the machine-readable form of this file: the fixture test');
  L.push('(test/unit/wire/fixtures.test.ts) reads it to decode every message with its session context.');
  L.push('');
  L.push('Context columns: **as4** = both OPENs carried the 4-octet AS capability (RFC 6793);');
  L.push('**add-path** = families whose NLRI carry path identifiers in this direction (RFC 7911);');
  L.push('**ext-msg** = RFC 8654 extended messages. OPENs need no context.');
  L.push('**canonical** = our encoder gives back the same bytes; where not, the reason is given.');
  L.push('');
  L.push('## Scenarios', '');
  for (const sc of scenarios) {
    const who = Object.values(sc.nodes).map((n) => `${n.kind} AS ${n.spec.asn}`).join(', ');
    L.push(`- **${sc.name}** (${who}): ${sc.description}`);
  }
  L.push('');
  L.push('Each node\'s configuration is generated by test/helpers/daemons.ts from this description');
  L.push('(RouterSpec; the same for every daemon kind):', '');
  for (const sc of scenarios) {
    L.push(`### ${sc.name}`, '');
    for (const [name, n] of Object.entries(sc.nodes)) {
      L.push(`- node ${name}: **${n.kind}** \`${JSON.stringify(n.spec)}\``);
    }
    L.push('');
  }
  L.push('');
  L.push('## Versions', '');
  const versions = new Map<string, string>();
  for (const m of manifest.messages) { versions.set(m.sender.daemon, m.sender.version); versions.set(m.receiver.daemon, m.receiver.version); }
  for (const [d, v] of [...versions].sort()) L.push(`- ${d}: ${v}`);
  L.push('');
  L.push('## Messages', '');
  L.push('| file | sender → receiver | scenario | captured | as4 | add-path | ext-msg | canonical | what |');
  L.push('|---|---|---|---|---|---|---|---|---|');
  for (const m of manifest.messages) {
    const canon = m.canonical ? 'yes' : `no: ${m.nonCanonicalReason ?? '(reason missing)'}`;
    L.push(`| \`${m.file}\` | ${m.sender.daemon} ${m.sender.address} (AS ${m.sender.asn}) → ${m.receiver.daemon} ${m.receiver.address} (AS ${m.receiver.asn}) | ${m.scenario} | ${m.captured} | ${m.context.as4 ? 'yes' : 'no'} | ${m.context.addPath.join(', ') || '-'} | ${m.context.extendedMessage ? 'yes' : 'no'} | ${canon} | ${m.description.replace(/\|/g, '\\|')} |`);
  }
  L.push('');
  L.push('## Captures', '');
  L.push('| file | scenario | link type | timestamps | messages | how |');
  L.push('|---|---|---|---|---|---|');
  for (const p of manifest.pcaps) L.push(`| \`${p.file}\` | ${p.scenario} | ${p.linkType} | ${p.timestampPrecision} | ${p.messages} | ${p.description} |`);
  L.push('');
  L.push('## Malformed messages', '');
  L.push('Hand-made (not captured). Each `malformed/NAME.hex` (hex text, `#` comments) has a sidecar');
  L.push('`malformed/NAME.json` with the error the decoder must report: `{code, subcode, action, field}`');
  L.push('and, where the error depends on it, the decoding `context`.');
  L.push('');
  L.push('| file | code/subcode | action | field | what |');
  L.push('|---|---|---|---|---|');
  for (const m of malformed) {
    const e = m.expect;
    L.push(`| \`${m.file}\` | ${e.code}/${e.subcode} | ${e.action} | ${e.field} | ${(m.description ?? '').replace(/\|/g, '\\|')} |`);
  }
  L.push('');
  return L.join('\n');
}

/** Reads the malformed fixtures' sidecars (for the README). */
export function malformedEntries(root: string): { file: string; expect: Record<string, unknown>; description?: string }[] {
  const dir = path.join(root, 'malformed');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => {
    const j = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { expect: Record<string, unknown>; description?: string };
    const base = f.replace(/\.json$/, '');
    const data = fs.existsSync(path.join(dir, `${base}.hex`)) ? `${base}.hex` : `${base}.bin`;
    return { file: `malformed/${data}`, expect: j.expect, description: j.description };
  });
}

/** Rewrites README.md from manifest.json and the malformed sidecars (no capture). */
export function writeReadme(root: string): void {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'manifest.json'), 'utf8')) as Manifest;
  fs.writeFileSync(path.join(root, 'README.md'), readmeText(manifest, malformedEntries(root), SCENARIOS));
}

export async function captureAll(only?: string[]): Promise<Manifest> {
  if (!isRoot()) throw new Error('capturing fixtures needs root (network namespaces, tcpdump)');
  const root = repoPath('proto-fixtures');
  fs.mkdirSync(root, { recursive: true });
  const manifestPath = path.join(root, 'manifest.json');
  const old: Manifest = fs.existsSync(manifestPath) ? JSON.parse(fs.readFileSync(manifestPath, 'utf8')) : { generatedBy: '', messages: [], pcaps: [] };
  const oldReason = new Map(old.messages.filter((m) => m.nonCanonicalReason).map((m) => [m.file, m.nonCanonicalReason!]));
  const today = new Date().toISOString().slice(0, 10);
  const manifest: Manifest = { generatedBy: 'scripts/capture-fixtures', messages: [], pcaps: [] };
  // Scenarios not re-run keep their old entries.
  const chosen = SCENARIOS.filter((s) => !only || only.includes(s.name));
  manifest.messages.push(...old.messages.filter((m) => !chosen.some((s) => s.name === m.scenario)));
  manifest.pcaps.push(...old.pcaps.filter((p) => !chosen.some((s) => s.name === p.scenario)));
  // Files of the scenarios captured again go away first: a message a daemon no longer sends
  // must not linger on disk without a manifest entry.
  for (const f of [...old.messages, ...old.pcaps]) {
    if (chosen.some((s) => s.name === f.scenario)) fs.rmSync(path.join(root, f.file), { force: true });
  }
  for (const sc of chosen) {
    process.stderr.write(`capture-fixtures: scenario ${sc.name}\n`);
    const out = await runScenario(sc, today);
    for (const m of out.messages) {
      if (manifest.messages.some((x) => x.file === m.fixture.file)) continue; // an earlier scenario has it
      const target = path.join(root, m.name);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, m.bytes);
      const found = nonCanonicalReasons(m.bytes);
      const reason = found.length ? found.join('; ') : oldReason.get(m.fixture.file);
      if (!m.fixture.canonical && reason) m.fixture.nonCanonicalReason = reason;
      manifest.messages.push(m.fixture);
      process.stderr.write(`  ${m.name}${m.fixture.canonical ? '' : '  (not canonical)'}\n`);
    }
    if (out.pcap) {
      const target = path.join(root, out.pcap.name);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, out.pcap.bytes);
      manifest.pcaps.push(out.pcap.fixture);
      process.stderr.write(`  ${out.pcap.name} (${out.pcap.bytes.length} bytes)\n`);
    }
  }
  manifest.messages.sort((a, b) => a.file.localeCompare(b.file));
  manifest.pcaps.sort((a, b) => a.file.localeCompare(b.file));
  fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  fs.writeFileSync(path.join(root, 'README.md'), readmeText(manifest, malformedEntries(root), SCENARIOS));
  return manifest;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const run = args[0] === '--readme-only'
    ? Promise.resolve(writeReadme(repoPath('proto-fixtures')))
    : captureAll(args.length ? args : undefined).then((m) => {
      const missing = m.messages.filter((x) => !x.canonical && !x.nonCanonicalReason);
      process.stderr.write(`capture-fixtures: ${m.messages.length} messages, ${m.pcaps.length} captures`
        + `${missing.length ? `; ${missing.length} not canonical without a reason in manifest.json: ${missing.map((x) => x.file).join(', ')}` : ''}\n`);
    });
  run.then(() => process.exit(0), (e) => {
    process.stderr.write(`capture-fixtures: ${e instanceof Error ? e.stack : e}\n`);
    process.exit(1);
  });
}
