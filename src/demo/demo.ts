// `nexthop demo`: tells nexthop's story on one machine. It builds a virtual cluster in network
// namespaces - two racks (each an L2 segment: a bridge in the router namespace), N nodes per
// rack, the router between the racks running BIRD 2 as the ToR of both racks, one pod per node
// attached with the real CNI bridge plugin - runs one `nexthop agent` per node inside the
// node's namespace, and shows: a node's BGP sessions, the routes every agent wrote (direct
// inside a rack, VXLAN across racks), a pod-to-pod ping matrix; then it moves the live cluster
// from the node-to-node mesh to route reflectors by editing the datastore while a ping runs
// across the racks, and counts that no packet was lost. Everything it made is removed on exit,
// error, SIGINT or SIGTERM (unless --keep, which prints how to look around and clean up).
//
// Protocols shown: RFC 4271 (BGP-4 sessions, iBGP mesh, eBGP to the ToR), RFC 4456 (route
// reflection), RFC 4724 (graceful restart, offered by the agents), RFC 7348 (VXLAN).

import { writeFileAtomic } from '../lib/fs';
import * as fs from 'fs';
import * as path from 'path';
import { ControlClient } from '../agent/control';
import type { AgentStatus, PeerStatus } from '../agent/status-types';
import { DemoLab, LabProcess, isRoot, nsExec, run, sleep } from './lab';
import { Act, DATASTORE_FILE, DemoNode, RR_CLUSTER_ID, RR_LABEL, Topology, clusterResources, expectedPeers, planTopology, torBirdConfig } from './topology';
import { CNI_PATH, CNI_PLUGINS_NEEDED, PodAttachment, attachPod, findConflist, loadConflist } from './pods';
import { continuousPingArgs, parsePingOutput, pingMatrix, PingCount } from './ping';
import { Narrator, Writer, gridCounts, renderPingGrid, renderTable, seconds } from './render';

export interface DemoOptions {
  nodesPerRack: number;
  /** Leave the lab running at the end and print how to look around. */
  keep: boolean;
  /** Keep cluster state in a local etcd (started in the router namespace) instead of a file. */
  etcd: boolean;
  /** Whole-run bound in seconds; the demo cleans up and fails when it is reached. */
  timeoutSeconds: number;
  /** Interval of the continuous ping during the move to route reflectors. */
  pingIntervalMs: number;
  /** The nexthop CLI entry point (dist/src/cli/main.js) the agents run from. */
  cliMain: string;
  out: Writer;
  color?: boolean;
}

/** Something the demo needs is missing; lists every missing piece at once. */
export class DemoPreflightError extends Error {
  readonly code = 'DEMO_PREFLIGHT';
  constructor(readonly missing: string[]) {
    super(`the demo cannot run here:\n${missing.map((m) => `  - ${m}`).join('\n')}`);
    this.name = 'DemoPreflightError';
  }
}

/** A wait of the story did not finish in time; says what was still missing. */
export class DemoWaitError extends Error {
  readonly code = 'DEMO_TIMEOUT';
  constructor(readonly what: string, readonly timeoutMs: number, readonly lastProblem: string) {
    super(`timed out after ${seconds(timeoutMs)} waiting for ${what}${lastProblem ? `: ${lastProblem}` : ''}`);
    this.name = 'DemoWaitError';
  }
}

/** A node's agent died; carries its log tail. */
export class AgentExitedError extends Error {
  readonly code = 'DEMO_AGENT_EXITED';
  constructor(readonly node: string, readonly logFile: string, readonly logTail: string) {
    super(`the agent of ${node} exited (log ${logFile}):\n${logTail.split('\n').map((l) => `      ${l}`).join('\n')}`);
    this.name = 'AgentExitedError';
  }
}

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    const f = path.join(dir, cmd);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return f;
    } catch { /* next */ }
  }
  return null;
}

/** Everything missing for a run, in words an operator can act on. */
export function preflight(opts: Pick<DemoOptions, 'etcd' | 'cliMain'>): string[] {
  const missing: string[] = [];
  for (const [cmd, pkg] of [['ip', 'iproute2'], ['bird', 'bird2'], ['birdc', 'bird2'], ['ping', 'iputils-ping']] as const) {
    if (!which(cmd)) missing.push(`'${cmd}' not found (Debian package ${pkg})`);
  }
  for (const p of CNI_PLUGINS_NEEDED) {
    if (!fs.existsSync(path.join(CNI_PATH, p))) missing.push(`CNI plugin ${path.join(CNI_PATH, p)} not found (Debian package containernetworking-plugins)`);
  }
  if (opts.etcd && !which('etcd')) missing.push(`--etcd: 'etcd' not found (Debian package etcd-server)`);
  if (!fs.existsSync(path.join(path.dirname(opts.cliMain), 'commands', 'agent.js'))) {
    missing.push(`the nexthop agent is not built (${path.join(path.dirname(opts.cliMain), 'commands', 'agent.js')}): run npm run build`);
  }
  return missing;
}

interface NodeRuntime {
  node: DemoNode;
  ns: string;
  podNs: string;
  dir: string;
  socket: string;
  cniDir: string;
  agent?: LabProcess;
  client?: ControlClient;
  pod?: PodAttachment;
  block?: string;
}

/** A wait's answer "not yet", with what is still missing. */
class NotYet {
  constructor(readonly why: string) {}
}
const notYet = (why: string): NotYet => new NotYet(why);

/** A kernel route the agent wrote (rtm_protocol 78), as `ip -j route` shows it. */
interface KernelRoute { dst: string; gateway?: string; dev?: string; type?: string; flags?: string[] }

const NEXTHOP_RTPROT = '78';

export class Demo {
  private readonly say: Narrator;
  private readonly topo: Topology;
  private lab: DemoLab | null = null;
  private readonly nodes: NodeRuntime[] = [];
  private routerNs = '';
  private birdSocket = '';
  private datastoreSpec = '';
  private datastoreFile = '';
  private etcdEndpoint = '';
  private kept = false;
  private interrupted = false;
  private failures: string[] = [];

  constructor(private readonly opts: DemoOptions) {
    this.say = new Narrator(opts.out, opts.color);
    this.topo = planTopology(opts.nodesPerRack);
  }

  /** Runs the whole story; returns the exit code (0: told and every check held). */
  async run(): Promise<number> {
    if (!isRoot()) {
      this.say.line('nexthop demo builds network namespaces and needs root: please run it with sudo (sudo npm run demo).');
      return 1;
    }
    const missing = preflight(this.opts);
    if (missing.length > 0) throw new DemoPreflightError(missing);

    const lab = new DemoLab();
    this.lab = lab;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (this.interrupted) return;
      this.interrupted = true;
      this.say.stopSteps();
      this.say.line(`\n${sig}: stopping the demo and removing everything it made...`);
      lab.destroy().then(() => process.exit(sig === 'SIGINT' ? 130 : 143), () => process.exit(1));
    };
    const onExit = (): void => { if (!this.kept) lab.destroySync(); };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('exit', onExit);
    const timer = setTimeout(() => {
      if (this.interrupted) return;
      this.interrupted = true;
      this.say.stopSteps();
      this.say.line(this.say.bad(`\nthe demo did not finish within ${this.opts.timeoutSeconds}s (--timeout): removing everything it made.`));
      this.printLogTails();
      lab.destroy({ keepDir: true }).then(() => {
        this.say.line(`   logs kept in ${path.join(lab.workDir, 'logs')} (sudo nexthop demo --cleanup removes them)`);
        process.exit(1);
      }, () => process.exit(1));
    }, this.opts.timeoutSeconds * 1000);
    timer.unref();
    try {
      await this.tell();
      if (this.opts.keep) {
        this.kept = true;
        for (const n of this.nodes) n.client?.close();
        this.printKeepInstructions();
      } else {
        await this.cleanup();
      }
      if (this.failures.length > 0) {
        this.say.line(this.say.bad(`\nThe story did not hold: ${this.failures.join('; ')}.`));
        return 1;
      }
      return 0;
    } catch (e) {
      // Interrupted: the signal handler removes the lab and exits; the story just stops here.
      if (this.interrupted) return new Promise<number>(() => undefined);
      this.say.line(this.say.bad(`\nThe demo stopped: ${(e as Error).message}`));
      this.printLogTails();
      await this.cleanup(true);
      this.say.line(`   logs kept in ${path.join(this.lab.workDir, 'logs')} (sudo nexthop demo --cleanup removes them)`);
      return 1;
    } finally {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (!this.kept) process.off('exit', onExit);
    }
  }

  private async tell(): Promise<void> {
    const s = this.say;
    const n = this.topo.nodes.length;
    s.line(s.paint('bold', `nexthop demo: ${n} nodes in 2 racks, a router between them, one pod per node`));
    s.line(s.dim(`work directory ${this.lab!.workDir}; namespaces ${this.lab!.prefix}*`));

    s.section('1. The machine room', 'network namespaces play the nodes, the racks and the router; nothing touches this host\'s own network');
    await s.step('router namespace with one L2 segment per rack (10.0.1.0/24, 10.0.2.0/24)', () => this.buildRouter());
    await s.step(`${n} node namespaces, cabled into their rack, default route to the rack router`, () => this.buildNodes());
    await s.step(`datastore with the cluster's resources (${this.opts.etcd ? 'a local etcd' : 'a YAML file'}): IPPool 10.244.0.0/16, VXLAN across racks, node-to-node mesh`, () => this.startDatastore(), () => this.datastoreSpec);
    await s.step('BIRD 2 as the ToR on the router (AS 65000): eBGP with every node, installs pod blocks', () => this.startTor());

    s.section('2. One nexthop agent per node', 'each inside its node\'s namespace with its own control socket, metrics address, CNI directory and subnet.env');
    await s.step(`starting ${n} agents`, () => this.startAgents(), () => this.nodes.map((x) => `${x.node.name}=${x.block}`).join(' '));
    await s.step('pods: the real CNI bridge plugin with the conflist each agent wrote', () => this.attachPods(), () => this.nodes.map((x) => `${x.node.short}-pod=${x.pod!.ip}`).join(' '));
    await s.step('BGP sessions Established and every block in every node\'s FIB', () => this.waitConverged('mesh', 60_000));

    const client = this.topo.nodes.find((x) => !x.reflector) ?? this.topo.nodes[0];
    s.section(`3. The sessions of ${client.name}`, 'a full mesh: every other node, plus the ToR of its rack (a BGPPeer with a nodeSelector)');
    await this.showStatus(client);

    s.section('4. The routes each agent wrote (proto 78 = nexthop)',
      'direct inside a rack (the next hop is on the node\'s own subnet), VXLAN across racks; the ToR learns\n' +
      'every block over eBGP from every node of both racks (each node passes on what it learned), hence ECMP.');
    await this.showRoutes();

    s.section('5. Pod-to-pod ping matrix', 'and the ToR reaching every pod through the blocks it learned over BGP');
    await this.showPingMatrix('before');

    const reflectors = this.topo.nodes.filter((x) => x.reflector).map((x) => x.name);
    s.section('6. Live move from the mesh to route reflectors',
      `while a ping runs across the racks: ${reflectors.join(' and ')} become route reflectors (RFC 4456), then a BGPPeer\n` +
      'makes every node peer with them and nodeToNodeMeshEnabled becomes false. The agents add the new\n' +
      'sessions first and drop the mesh only once the new ones carry every route (make-before-break).');
    await this.moveToReflectors(client);

    s.section(`7. The sessions now`, `${client.name} keeps only the reflectors and its ToR; a reflector keeps a session with every node`);
    await this.showStatus(client);
    const reflector = this.topo.nodes.find((x) => x.reflector && x !== client);
    if (reflector) await this.showStatus(reflector);
    s.section('8. The ping matrix after the move');
    await this.showPingMatrix('after');
  }

  // --- building -----------------------------------------------------------------------------

  private buildRouter(): void {
    const lab = this.lab!;
    this.routerNs = lab.netns('router');
    nsExec(this.routerNs, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    for (const rack of this.topo.racks) lab.bridge(this.routerNs, rack.bridge, [`${rack.routerAddress}/24`]);
  }

  private buildNodes(): void {
    const lab = this.lab!;
    for (const node of this.topo.nodes) {
      const ns = lab.netns(node.short);
      const rack = this.topo.racks[node.rack - 1];
      lab.link(ns, 'eth0', [`${node.address}/${node.prefixLength}`], this.routerNs, `${node.short}`, { bridgeB: rack.bridge });
      nsExec(ns, 'ip', ['route', 'add', 'default', 'via', node.gateway]);
      const podNs = lab.netns(`${node.short}-pod`);
      const dir = lab.dir('nodes', node.name);
      this.nodes.push({ node, ns, podNs, dir, socket: path.join(dir, 'agent.sock'), cniDir: path.join(dir, 'cni') });
    }
  }

  private async startDatastore(): Promise<void> {
    const lab = this.lab!;
    const dir = lab.dir('datastore');
    this.datastoreFile = path.join(dir, DATASTORE_FILE);
    writeFileAtomic(this.datastoreFile, clusterResources(this.topo, 'mesh'));
    if (!this.opts.etcd) {
      this.datastoreSpec = `file:${this.datastoreFile}`;
      return;
    }
    // etcd runs in the router namespace, reachable from every node through its rack gateway.
    const addr = this.topo.racks[0].routerAddress;
    this.etcdEndpoint = `http://${addr}:2379`;
    lab.spawn('etcd', this.routerNs, 'etcd', [
      '--data-dir', path.join(dir, 'etcd'), '--name', 'nhdemo',
      '--listen-client-urls', `${this.etcdEndpoint},http://127.0.0.1:2379`, '--advertise-client-urls', this.etcdEndpoint,
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'nhdemo=http://127.0.0.1:2380',
    ]);
    this.datastoreSpec = `etcd:${this.etcdEndpoint}`;
    await this.waitFor('etcd to answer', 20_000, async () => {
      const r = await run('ip', ['netns', 'exec', this.routerNs, 'etcdctl', '--endpoints', this.etcdEndpoint, 'endpoint', 'health'], 5000);
      return r.status === 0 ? true : notYet(`${r.stdout}${r.stderr}`.trim());
    });
    await this.applyToEtcd(this.datastoreFile);
  }

  private async applyToEtcd(file: string): Promise<void> {
    const r = await run('ip', ['netns', 'exec', this.routerNs, process.execPath, this.opts.cliMain, 'apply', '--datastore', this.datastoreSpec, '-f', file], 30_000);
    if (r.status !== 0) throw new Error(`nexthop apply -f ${file} failed: ${(r.stderr || r.stdout).trim()}`);
  }

  private async startTor(): Promise<void> {
    const lab = this.lab!;
    const dir = lab.dir('tor');
    const conf = path.join(dir, 'bird.conf');
    fs.writeFileSync(conf, torBirdConfig(this.topo));
    this.birdSocket = path.join(dir, 'bird.ctl');
    const bird = lab.spawn('tor-bird', this.routerNs, 'bird', ['-f', '-c', conf, '-s', this.birdSocket, '-P', path.join(dir, 'bird.pid')]);
    await this.waitFor('BIRD to open its control socket', 15_000, () => {
      if (!lab.alive(bird)) throw new Error(`BIRD exited: ${lab.logTail(bird)}`);
      return fs.existsSync(this.birdSocket) ? true : notYet('no socket yet');
    });
  }

  private agentArgs(rt: NodeRuntime): string[] {
    return [
      this.opts.cliMain, 'agent',
      '--node', rt.node.name,
      '--datastore', this.datastoreSpec,
      '--listen-address', rt.node.address,
      '--control-socket', rt.socket,
      // Each node has its own loopback: the same port in every namespace.
      '--metrics-address', '127.0.0.1:9743',
      '--cni-conf-dir', rt.cniDir,
      '--subnet-env', path.join(rt.dir, 'subnet.env'),
      '--ipam-data-dir', path.join(rt.dir, 'cni-ipam'),
      '--state-dir', path.join(rt.dir, 'state'),
      '--uplink', 'eth0',
    ];
  }

  private async startAgents(): Promise<void> {
    const lab = this.lab!;
    for (const rt of this.nodes) {
      rt.agent = lab.spawn(`agent-${rt.node.name}`, rt.ns, process.execPath, this.agentArgs(rt));
    }
    for (const rt of this.nodes) {
      rt.client = new ControlClient({ socketPath: rt.socket, timeoutMs: 3000 });
      const st = await this.waitFor(`the agent of ${rt.node.name} to answer on ${rt.socket}`, 45_000, async () => {
        this.checkAgent(rt);
        const status = await this.status(rt);
        return status && status.blocks.length > 0 ? status : notYet(status ? 'no block claimed yet' : 'not answering yet');
      });
      rt.block = st.blocks.find((b) => !b.includes(':')) ?? st.blocks[0];
    }
  }

  private async attachPods(): Promise<void> {
    for (const rt of this.nodes) {
      const file = await this.waitFor(`the CNI conflist of ${rt.node.name} in ${rt.cniDir}`, 20_000, () => {
        this.checkAgent(rt);
        return findConflist(rt.cniDir) ?? notYet('not written yet');
      });
      const conflist = loadConflist(rt.node.name, file, path.join(rt.dir, 'cni-ipam'));
      rt.pod = attachPod(rt.node.name, rt.ns, rt.podNs, file, conflist);
    }
  }

  // --- watching -----------------------------------------------------------------------------

  private checkAgent(rt: NodeRuntime): void {
    if (rt.agent && !this.lab!.alive(rt.agent)) throw new AgentExitedError(rt.node.name, rt.agent.logFile, this.lab!.logTail(rt.agent));
  }

  private async status(rt: NodeRuntime): Promise<AgentStatus | null> {
    try {
      return await rt.client!.call<AgentStatus>('status');
    } catch {
      rt.client!.close();
      return null;
    }
  }

  private kernelRoutes(rt: NodeRuntime): KernelRoute[] {
    const text = nsExec(rt.ns, 'ip', ['-j', 'route', 'show', 'proto', NEXTHOP_RTPROT], { allowFail: true });
    try {
      return JSON.parse(text || '[]') as KernelRoute[];
    } catch {
      return [];
    }
  }

  /** What is still missing on one node for the act to be in place ('' when nothing). */
  private async nodeProblem(rt: NodeRuntime, act: Act): Promise<string> {
    this.checkAgent(rt);
    const st = await this.status(rt);
    if (!st) return `${rt.node.name}: agent not answering`;
    const want = expectedPeers(this.topo, rt.node, act);
    const have = st.peers.map((p: PeerStatus) => p.address).sort();
    const notUp = st.peers.filter((p) => want.includes(p.address) && p.state !== 'Established').map((p) => `${p.address} ${p.state}`);
    const absent = want.filter((a) => !have.includes(a));
    const extra = have.filter((a) => !want.includes(a));
    // The sessions must also have the act's role (RFC 4456 roles once reflectors exist).
    const roles: readonly string[] = act === 'mesh' ? ['mesh'] : ['rr-server', 'rr-client', 'rr-nonclient'];
    const clusterAddrs = new Set(this.topo.nodes.map((x) => x.address));
    const wrongRole = st.peers.filter((p) => clusterAddrs.has(p.address) && !roles.includes(p.type)).map((p) => `${p.address} is ${p.type}`);
    if (wrongRole.length) notUp.push(...wrongRole);
    if (absent.length || notUp.length || extra.length) {
      return `${rt.node.name}: sessions ${[absent.length ? `missing ${absent.join(',')}` : '', notUp.length ? `not up ${notUp.join(',')}` : '', extra.length ? `still ${extra.join(',')}` : ''].filter(Boolean).join('; ')}`;
    }
    const routes = new Set(this.kernelRoutes(rt).filter((r) => r.type !== 'blackhole').map((r) => r.dst));
    const lacking = this.nodes.filter((o) => o !== rt && o.block && !routes.has(o.block)).map((o) => o.block!);
    return lacking.length ? `${rt.node.name}: no kernel route yet for ${lacking.join(',')}` : '';
  }

  private async waitConverged(act: Act, timeoutMs: number): Promise<void> {
    await this.waitFor(`the sessions and routes of act '${act}'`, timeoutMs, async () => {
      const problems = (await Promise.all(this.nodes.map((rt) => this.nodeProblem(rt, act)))).filter(Boolean);
      return problems.length === 0 ? true : notYet(problems.join(' | '));
    }, 250);
  }

  /** Polls `check` until it returns something other than NotYet (which says what is missing). */
  private async waitFor<T>(what: string, timeoutMs: number, check: () => T | NotYet | Promise<T | NotYet>, intervalMs = 200): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (let i = 0; i < Math.ceil(timeoutMs / intervalMs) + 1; i++) {
      const v = await check();
      if (!(v instanceof NotYet)) return v;
      last = v.why;
      if (Date.now() > deadline) break;
      await sleep(intervalMs);
    }
    throw new DemoWaitError(what, timeoutMs, last);
  }

  // --- showing ------------------------------------------------------------------------------

  private async showStatus(node: DemoNode): Promise<void> {
    const rt = this.nodes.find((x) => x.node === node)!;
    this.say.line(this.say.dim(`$ ip netns exec ${rt.ns} nexthop status --control-socket ${rt.socket}`));
    const r = await run('ip', ['netns', 'exec', rt.ns, process.execPath, this.opts.cliMain, 'status', '--control-socket', rt.socket], 20_000);
    if (r.status !== 0) {
      this.failures.push(`nexthop status on ${node.name} failed`);
      this.say.block(this.say.bad(`nexthop status failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`));
      return;
    }
    this.say.block(r.stdout);
  }

  private async showRoutes(): Promise<void> {
    const rows: string[][] = [];
    const owners = new Map(this.nodes.map((x) => [x.block, x.node.name]));
    for (const rt of this.nodes) {
      for (const r of this.kernelRoutes(rt)) {
        if (r.type === 'blackhole') {
          rows.push([rt.node.name, r.dst, '-', '-', 'own block (blackhole: pods use the bridge)', '']);
          continue;
        }
        const vxlan = (r.dev ?? '').startsWith('vxlan');
        rows.push([rt.node.name, r.dst, r.gateway ?? '-', r.dev ?? '-', vxlan ? 'vxlan (other rack)' : 'direct (same rack)', owners.get(r.dst) ? `→ ${owners.get(r.dst)}` : '']);
      }
    }
    this.say.line(this.say.dim(`$ ip netns exec ${this.nodes[0].ns} ip route show proto ${NEXTHOP_RTPROT}    (and the same on every node)`));
    this.say.block(renderTable(['NODE', 'BLOCK', 'VIA', 'DEV', 'PATH', 'OWNER'], rows));
    this.say.line();
    this.say.line(this.say.dim(`$ ip netns exec ${this.routerNs} ip route show proto bird    (the ToR's FIB, from BGP)`));
    const torRows = this.torRoutes().map((r) => [r.dst, r.nexthops.join(', '), r.nexthops.length > 1 ? `ECMP over ${r.nexthops.length} nodes` : '', owners.get(r.dst) ?? '']);
    this.say.block(torRows.length ? renderTable(['BLOCK', 'VIA', '', 'OWNER'], torRows) : '(no routes)');
  }

  /** The ToR's kernel routes from BIRD: destination and next hops (several when ECMP). */
  private torRoutes(): Array<{ dst: string; nexthops: string[] }> {
    const text = nsExec(this.routerNs, 'ip', ['-j', 'route', 'show', 'proto', 'bird'], { allowFail: true });
    let routes: Array<KernelRoute & { nexthops?: Array<{ gateway?: string }> }>;
    try {
      routes = JSON.parse(text || '[]') as typeof routes;
    } catch {
      return [];
    }
    return routes.map((r) => ({ dst: r.dst, nexthops: r.nexthops ? r.nexthops.map((n) => n.gateway ?? '?') : [r.gateway ?? '?'] }));
  }

  private async showPingMatrix(when: 'before' | 'after'): Promise<void> {
    const sources = this.nodes.map((x) => ({ label: x.node.short, ns: x.podNs }));
    const targets = this.nodes.map((x) => ({ label: x.node.short, address: x.pod!.ip }));
    const result = await this.say.step(`${sources.length} pods ping each other, the ToR pings every pod`, () => pingMatrix([...sources, { label: 'tor', ns: this.routerNs }], targets));
    const grid = renderPingGrid([...sources.map((x) => x.label), 'tor'], targets.map((t) => t.label), result,
      (m, ok) => (ok === true ? this.say.ok(m) : ok === false ? this.say.bad(m) : this.say.dim(m)));
    this.say.block(grid);
    const { ok, failed } = gridCounts(result);
    this.say.line(`   ${failed === 0 ? this.say.ok(`all ${ok} pings answered ✓`) : this.say.bad(`${failed} of ${ok + failed} pings unanswered ✗`)}`);
    if (failed > 0) this.failures.push(`${failed} pings of the matrix ${when} the move unanswered`);
  }

  private async moveToReflectors(client: DemoNode): Promise<void> {
    const s = this.say;
    const lab = this.lab!;
    const rack1 = this.nodes.filter((x) => x.node.rack === 1);
    const rack2 = this.nodes.filter((x) => x.node.rack === 2);
    const from = rack1.find((x) => x.node === client) ?? rack1[rack1.length - 1];
    const to = rack2[rack2.length - 1];
    s.line(s.dim(`$ ip netns exec ${from.podNs} ping ${continuousPingArgs(to.pod!.ip, this.opts.pingIntervalMs).join(' ')}   (${from.node.short}-pod → ${to.node.short}-pod, across the racks)`));
    const pinger = lab.spawn('continuous-ping', from.podNs, 'ping', continuousPingArgs(to.pod!.ip, this.opts.pingIntervalMs));
    await sleep(1000);

    const reflectors = this.nodes.filter((x) => x.node.reflector).map((x) => x.node.name);
    s.line(s.dim(`   the edit: ${reflectors.join(', ')} get label ${RR_LABEL} and routeReflectorClusterID ${RR_CLUSTER_ID};`));
    s.line(s.dim('             new BGPPeer peer-with-route-reflectors {nodeSelector: all(), peerSelector: has(route-reflector)};'));
    s.line(s.dim('             BGPConfiguration default: nodeToNodeMeshEnabled: false'));
    await s.step(this.opts.etcd ? 'nexthop apply of the new resources to etcd' : `one edit of ${path.basename(this.datastoreFile)} (the agents watch it)`, () => this.applyAct('reflectors'));
    await s.step('sessions to the reflectors Established, mesh sessions gone, every route still in every FIB', () => this.waitConverged('reflectors', 90_000));
    // Let the ping run a little past the last change, then stop it and count.
    await sleep(1500);
    const count = await s.step('stopping the continuous ping', () => this.stopPing(pinger));
    const line = `sent ${count.sent}, received ${count.received}, ${count.lost} lost${count.inFlightAtStop ? ' (1 more was in flight when ping was stopped)' : ''}`;
    s.line(`   ${count.lost === 0 && count.sent > 0 ? s.ok(`${line} ✓`) : s.bad(`${line} ✗`)}`);
    if (count.lost > 0) this.failures.push(`${count.lost} pings lost during the move (icmp_seq ${count.missing.slice(0, 10).join(',')})`);
    if (count.sent === 0) this.failures.push('the continuous ping sent nothing');
  }

  /** Puts an act's resources into the datastore: the YAML file edited in place, or etcd apply. */
  private async applyAct(act: Act): Promise<void> {
    const file = path.join(path.dirname(this.datastoreFile), `${act}.yaml`);
    fs.writeFileSync(file, clusterResources(this.topo, act));
    if (this.opts.etcd) await this.applyToEtcd(file);
    else writeFileAtomic(this.datastoreFile, fs.readFileSync(file, 'utf8'));
  }

  private async stopPing(p: LabProcess): Promise<PingCount> {
    const lab = this.lab!;
    if (!lab.alive(p)) throw new Error(`ping exited early: ${lab.logTail(p)}`);
    process.kill(p.pid, 'SIGINT');
    await this.waitFor('ping to print its summary', 5000, () => (lab.alive(p) ? notYet('still running') : true), 50);
    return parsePingOutput(fs.readFileSync(p.logFile, 'utf8'));
  }

  // --- ending -------------------------------------------------------------------------------

  /** The last lines of every agent's log, so a failure explains itself. */
  private printLogTails(): void {
    if (!this.lab) return;
    for (const rt of this.nodes) {
      if (!rt.agent) continue;
      this.say.line(this.say.dim(`   --- last lines of ${rt.agent.logFile}`));
      this.say.block(this.lab.logTail(rt.agent, 6), '   | ');
    }
  }

  private async cleanup(keepLogs = false): Promise<void> {
    if (!this.lab) return;
    for (const n of this.nodes) n.client?.close();
    const count = this.lab.namespaces.length;
    const procs = this.lab.processes.length;
    await this.say.step('removing the lab', () => this.lab!.destroy({ keepDir: keepLogs }), () => `${procs} processes stopped, ${count} namespaces deleted`);
  }

  private printKeepInstructions(): void {
    const s = this.say;
    const lab = this.lab!;
    const client = this.nodes.find((x) => !x.node.reflector) ?? this.nodes[0];
    const other = this.nodes.find((x) => x.node.rack !== client.node.rack)!;
    const cli = `${process.execPath} ${this.opts.cliMain}`;
    s.section('The lab stays up (--keep)');
    s.block([
      `namespaces: ${lab.namespaces.join(' ')}`,
      `logs: ${path.join(lab.workDir, 'logs')}`,
      '',
      `sessions of a node:  ip netns exec ${client.ns} ${cli} status --control-socket ${client.socket}`,
      `its routes:          ip netns exec ${client.ns} ${cli} routes --control-socket ${client.socket}`,
      `why this path:       ip netns exec ${client.ns} ${cli} explain ${other.pod?.ip ?? ''} --control-socket ${client.socket}`,
      `kernel routes:       ip netns exec ${client.ns} ip route show proto ${NEXTHOP_RTPROT}`,
      `metrics:             ip netns exec ${client.ns} curl -s http://127.0.0.1:9743/metrics`,
      `the ToR (BIRD):      birdc -s ${this.birdSocket} show protocols`,
      `                     birdc -s ${this.birdSocket} show route`,
      `a pod's shell:       ip netns exec ${client.podNs} ping ${other.pod?.ip ?? ''}`,
      `the datastore:       ${this.opts.etcd ? `ip netns exec ${this.routerNs} ${cli} get nodes --datastore ${this.datastoreSpec}` : `${this.datastoreFile} (edit it: the agents follow)`}`,
      '',
      `clean up:            sudo ${cli} demo --cleanup`,
    ].join('\n'));
  }
}

/** The command `nexthop demo` runs. */
export async function runDemo(opts: DemoOptions): Promise<number> {
  return new Demo(opts).run();
}
