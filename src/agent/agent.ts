// The node agent: the composition root that wires the cluster layer (datastore, IPAM, desired
// peers), the BGP speaker and the dataplane, and serves status over the control socket and
// metrics/health over HTTP. Flow at start: load and validate the resources → claim (or find
// again) the node's blocks → publish agent-written Node fields (VXLAN VTEP) → check the
// dataplane plan against this host (uplink, node address, tunnel support) before touching it
// → look for our routes in the FIB: if there are any we restarted with our forwarding state
// intact, so the speaker starts with the R and F bits and defers selection (RFC 4724 §4.1),
// and the FIB reconciler starts only once selection ran (no churn, no flush) → speaker starts,
// originates the blocks, adds the desired peers → Loc-RIB changes go to the dataplane →
// datastore changes apply live: peers through the make-before-break planner onto the speaker's
// live-reconfiguration API (a session that stays is updated — Speaker.updatePeer, in place for a
// role change such as mesh → route-reflector client — never removed and added again), pools and
// our CLUSTER_ID to the running speaker (setPools / setClusterId, no session reset), pools and
// nodes to the dataplane, own block changes (and BGPConfiguration.communities) to
// originate/withdraw. Only an AS, router id, node address or listen port change restarts the
// speaker (gracefully). NOTIFICATIONs and rejected routes the speaker reports go to the metrics.
//
// Before any of this changes something, the BGP listen address is bound once and released
// (checkListen: EADDRNOTAVAIL / EADDRINUSE stop the start with exit 1 and a message). A start
// that still fails after it began changing the host (surfaces, sysctls, tunnels, firewall, CNI,
// speaker, FIB) compares the host with a snapshot taken just before and undoes exactly what it
// changed (start-undo.ts); what a previous run left is adopted and kept. The error says what
// failed and what was undone (AgentStartError).
//
// Stop (SIGTERM/SIGINT): sessions are dropped without a NOTIFICATION so peers keep our routes
// as stale (RFC 4724 §4.2), and the FIB is left as it is for the next run to adopt.
//
// RFC 4271 (BGP-4), RFC 4724 (graceful restart), RFC 4456 (route reflection roles), RFC 8538
// (graceful / hard reset on reconfiguration), RFC 1997 / RFC 8092 (communities), RFC 7348
// (VXLAN VTEP fields).

import * as fs from 'fs';
import * as path from 'path';
import { execFile } from 'child_process';
import * as net from 'net';
import { Datastore } from '../cluster/datastore';
import { openDatastore } from '../cluster/open';
import { desiredPeers, diffPeers, DesiredPeer } from '../cluster/peers';
import { exportedBlocks } from '../cluster/state';
import type { ClusterView as ClusterStateView } from '../cluster/state';
import type { NodeStatusFields } from '../cluster/resources';
import { Speaker } from '../speaker';
import type { PeerStatusView, RouteChangeBatch, SpeakerPeerEvent } from '../speaker/types';
import { Dataplane, planDataplane, ClusterView as DataplaneClusterView, DataplanePlan } from '../dataplane/dataplane';
import { FibReconciler } from '../dataplane/fib/reconciler';
import { NEXTHOP_RTPROT } from '../dataplane/fib/protocol';
import { NetlinkSocket } from '../dataplane/netlink/socket';
import { listRoutes } from '../dataplane/netlink/rtnl';
import { AF_INET, AF_INET6, RTN_BLACKHOLE, RT_TABLE_MAIN } from '../dataplane/netlink/constants';
import { linksWithAddresses, hostInterfaces } from '../dataplane/links';
import { IPIP_DEVICE, VXLAN_DEVICE, VXLAN_V6_DEVICE } from '../dataplane/nexthop-decision';
import { TunnelUnsupportedError } from '../dataplane/tunnels';
import { SYSCTL_IPV4_FORWARD, SYSCTL_IPV6_FORWARD } from '../dataplane/host';
import { HostNextHopResolver } from '../dataplane/resolver';
import { HostSnapshot, SnapshotScope, captureHost, planUndo, applyUndo } from './start-undo';
import { formatIP, parseCidr, cidrContains, subnetCount, canonicalIP } from '../lib/ip';
import { Logging, Logger } from './log';
import { Metrics, PeerMetricsSnapshot } from './metrics';
import { StatusHttpServer, readinessConditions, ReadinessCondition } from './http';
import { ControlServer, ControlMethodError } from './control';
import type { AgentStatus, PeerStatus, RoutesStatus, ExplainResult, StatusFamily, PrefixCounts } from './status-types';
import type { AgentOptions } from './agent-config';
import {
  AgentConfigError, AgentStartError, NodeIdentity, nodeIdentity, desiredNodeStatus, withOwnStatus, dataplaneView, peerConfigFor,
  convergedPeers, coveredPeers, enabledPoolCidrs, nodePools, planPeerOperations, aliasLivePeers, speakerRestartKey,
  ownBlockCommunities, BlockCommunities,
} from './agent-plan';
import { InstalledRoute, peerStatusRow, routeStatuses, explainResult, ribRoutesForDataplane } from './agent-views';

/** Idle-hold backoff and connect retry for cluster sessions: peers come back within seconds. */
const CONNECT_RETRY_S = 5;
const BACKOFF = { initialMs: 500, maxMs: 30_000, stableMs: 10_000 };
/** Liveness record TTL in the datastore, seconds. */
const LIVENESS_TTL_S = 30;
/** How often a pending make-before-break transition is looked at again. */
const TRANSITION_TICK_MS = 500;

function agentVersion(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    try {
      const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pj.name === 'nexthop' && pj.version) return pj.version;
    } catch { /* not here */ }
    dir = path.dirname(dir);
  }
  return '0.0.0-dev';
}

/** Does this kernel have IPIP (tunl0 present in this namespace, the module loaded, or loadable)? */
export function ipipSupported(): boolean {
  if (fs.existsSync('/proc/sys/net/ipv4/conf/tunl0') || fs.existsSync('/sys/module/ipip')) return true;
  try {
    const release = fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    const base = `/lib/modules/${release}`;
    if (fs.readFileSync(`${base}/modules.builtin`, 'utf8').includes('/ipip.ko')) return true;
    const dep = fs.readFileSync(`${base}/modules.dep`, 'utf8');
    return /\/ipip\.ko(\.[a-z]+)?:/.test(dep);
  } catch {
    return false;
  }
}

function stripLen(a: string): string {
  const i = a.indexOf('/');
  return i < 0 ? a : a.slice(0, i);
}

export interface AgentDeps {
  /** Logging; default stdout, JSON unless a terminal. */
  logging?: Logging;
}

export class Agent {
  readonly logging: Logging;
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  private readonly version = agentVersion();
  private ds: Datastore | null = null;
  private speaker: Speaker | null = null;
  /** RFC 4271 §9.1.2: next hops resolve over connected subnets and non-BGP host routes. */
  private nextHopResolver: HostNextHopResolver | null = null;
  private dataplane: Dataplane | null = null;
  private fib: FibReconciler | null = null;
  private socket: NetlinkSocket | null = null;
  private control: ControlServer | null = null;
  private http: StatusHttpServer | null = null;
  private liveness: { stop(): Promise<void> } | null = null;
  readonly metrics: Metrics;

  private identity: NodeIdentity | null = null;
  private view: ClusterStateView | null = null;
  private ownBlocks: string[] = [];
  /** The own blocks we originate: ownBlocks less those of pools with disableBGPExport (Calico). */
  private announcedBlocks: string[] = [];
  private poolSignature = '';
  private plan: DataplanePlan | null = null;
  private dpView: DataplaneClusterView | null = null;
  /** The FIB reconciler runs (after selection deferral when we restarted). */
  private fibStarted = false;
  /** Loc-RIB changes go to the dataplane (false while a restarted speaker defers selection). */
  private ribFeeding = false;
  /** Our routes were in the FIB at start: graceful restart (RFC 4724 §4.1). */
  restarted = false;
  /** Sessions the speaker runs, by name, with the DesiredPeer they were made from. */
  private readonly running = new Map<string, DesiredPeer>();
  private desired: DesiredPeer[] = [];
  /** Peer address of every session name the speaker ran (metrics label peers by address; events may follow a removal). */
  private readonly peerAddresses = new Map<string, string>();
  /** Communities our own blocks are originated with (BGPConfiguration.communities). */
  private blockCommunities: BlockCommunities = { communities: [], largeCommunities: [] };
  /** The enabled pools the speaker was given, sorted, as JSON. */
  private speakerPools = '[]';
  private transitionSince: number | null = null;
  private transitionTimer: NodeJS.Timeout | null = null;
  private applyTimer: NodeJS.Timeout | null = null;
  private work: Promise<void> = Promise.resolve();
  private lastApplyError: string | undefined;
  private datastoreError: string | undefined;
  private stopping = false;
  private started = false;

  constructor(readonly options: AgentOptions, deps: AgentDeps = {}) {
    this.logging = deps.logging ?? new Logging({ level: options.logLevel ?? 'info', pinned: options.logLevel !== undefined, base: { node: options.node } });
    this.log = this.logging.component('agent');
    this.metrics = new Metrics({ node: options.node, version: this.version, peerSnapshot: () => this.peerSnapshot() });
  }

  // --- start ------------------------------------------------------------------------------------

  /**
   * Starts everything. Throws AgentConfigError (and the cluster/dataplane layers' typed errors)
   * for a configuration that cannot work, before the host is changed.
   */
  async start(): Promise<void> {
    const o = this.options;
    // 1. Resources (a bad resource file throws ResourceError naming the document and field).
    const ds = openDatastore(o.datastore, { etcdAccess: o.etcdAccess });
    this.ds = ds;
    // Calico fields nexthop accepts but does not act on: said once each, from the first read on.
    ds.on('warning', (m) => this.log.warn({ warning: m }, 'resource field accepted but not used'));
    await ds.load();
    let view = ds.state.view();
    const identity = nodeIdentity(view, o.node, { routerId: o.routerId, listenPort: o.listenPort }, ds.description);
    this.identity = identity;
    // logSeverityScreen applies unless --log-level pinned the level.
    this.logging.applySeverity(view.config.logSeverityScreen);
    // The BGP listen address must be usable before anything changes: peers connect to us too
    // (RFC 4271 §8.1.1 PassiveTcpEstablishment). EADDRNOTAVAIL is an address not on this host.
    await checkListen(o.node, this.listenAddress(identity), identity.listenPort);

    // 2. IPAM: the node's blocks (reused after a restart).
    const claims = await ds.claimBlocks(o.node);
    this.ownBlocks = claims.map((c) => c.cidr).sort();
    this.poolSignature = this.poolsKey(view);
    this.log.info({ blocks: this.ownBlocks }, 'blocks owned');

    // 3. Agent-written Node fields (VXLAN VTEP).
    const status = desiredNodeStatus(view, identity.node, this.ownBlocks);
    await this.publishStatus(view, status);
    view = withOwnStatus(view, o.node, status);
    this.view = view;

    // 4. The dataplane plan, checked against this host before anything changes on it.
    const socket = NetlinkSocket.open();
    this.socket = socket;
    const dpView = dataplaneView(view, o.node, this.ownBlocks);
    const links = await linksWithAddresses(socket);
    const interfaces = hostInterfaces(links, [IPIP_DEVICE, VXLAN_DEVICE, VXLAN_V6_DEVICE]);
    const plan = planDataplane(dpView, interfaces, o.uplink);
    if (plan.ipip && !ipipSupported()) {
      throw new TunnelUnsupportedError('ipip', 'ipip', 'CONFIG_NET_IPIP', 'a pool has ipipMode Always or CrossSubnet, and no ipip module is built in, loaded or installed');
    }
    this.dpView = dpView;

    // 5. Our routes already in the FIB? Then this is a restart with forwarding state kept.
    let ours = 0;
    for (const fam of [AF_INET, AF_INET6]) {
      for (const r of await listRoutes(socket, fam)) if (r.protocol === NEXTHOP_RTPROT && r.table === RT_TABLE_MAIN && r.type !== RTN_BLACKHOLE) ours++;
    }
    this.restarted = ours > 0 && o.restartTime > 0;
    this.log.info({ routesFound: ours, restarting: this.restarted }, this.restarted
      ? 'found our routes in the FIB: graceful restart, selection deferred until End-of-RIB (RFC 4724 §4.1)'
      : 'no routes of ours in the FIB: fresh start');

    // From here on the host changes. What it holds now is remembered, so that a start that fails
    // from here undoes exactly what it changed and keeps what a previous run left (adopted).
    const undoScope = this.undoScope(socket);
    const before = await captureHost(undoScope);
    let step = 'control socket';
    try {
      // 6. Operator surfaces (after the checks: they create the socket directory).
      await this.startSurfaces();

      // 7. The dataplane's host state (sysctls, tunnels, firewall, CNI); routes wait for the FIB start.
      step = 'dataplane';
      fs.mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
      const fib = FibReconciler.open({});
      this.fib = fib;
      fib.on('reconciled', (r) => {
        this.metrics.observeReconcile(r.durationMs / 1000);
        let v4 = 0;
        let v6 = 0;
        for (const k of fib.installedRoutes()) if (k.prefix.includes(':')) v6++; else v4++;
        this.metrics.fibRoutes('ipv4', v4);
        this.metrics.fibRoutes('ipv6', v6);
      });
      fib.on('error', (e) => { this.metrics.reconcileError(e.code); this.log.warn({ err: e.message }, 'FIB route failed'); });
      fib.on('conflict', (c) => this.log.warn({ conflict: c }, 'FIB route blocked by a route of another protocol'));
      this.dataplane = new Dataplane({
        socket, fib,
        firewall: o.firewall ? {} : false,
        cni: o.cniConfDir !== null ? {
          conflistPath: path.join(o.cniConfDir, o.cniConflistName),
          subnetEnvPath: o.subnetEnv ?? undefined,
          ipamDataDir: o.ipamDataDir,
        } : false,
        hostStatePath: path.join(o.stateDir, 'host-state.json'),
        uplink: o.uplink,
      });
      this.plan = await this.dataplane.updateCluster(dpView);

      // 8. The speaker.
      step = 'BGP speaker';
      this.desired = desiredPeers(o.node, view.resources);
      await this.startSpeaker(identity, view, this.restarted, this.desired);

      // 9. FIB: now, or when deferred selection has run (RFC 4724 §4.1).
      step = 'FIB';
      if (!this.restarted) await this.startFib();
      else this.afterSelection(() => this.startFib());

      // 10. Live changes and liveness.
      step = 'datastore watch';
      ds.on('change', () => this.scheduleApply());
      ds.on('problem', (m) => { this.datastoreError = m; this.log.warn({ problem: m }, 'datastore problem; keeping the last good state'); });
      ds.on('state', (s, reason) => {
        this.metrics.datastoreConnected(this.datastoreKind(), s === 'connected');
        if (s !== 'connected') this.datastoreError = reason; else this.datastoreError = undefined;
        this.log.info({ state: s, reason }, 'datastore connection');
      });
      await ds.watch();
      this.metrics.datastoreConnected(this.datastoreKind(), ds.connection === 'connected');
      this.liveness = await ds.keepAlive(o.node, LIVENESS_TTL_S);
    } catch (e) {
      throw await this.abandonStart(step, e as Error, undoScope, before);
    }
    this.updateIpamMetrics(view);
    // Whatever changed between the first read and the watch (another agent's claim or VTEP).
    this.scheduleApply();
    this.started = true;
    this.log.info({ node: o.node, blocks: this.ownBlocks }, 'agent started');
  }

  /** The address the BGP listener binds. */
  private listenAddress(identity: NodeIdentity): string {
    return this.options.listenAddress ?? (identity.ipv6 ? '::' : '0.0.0.0');
  }

  /** What an abandoned start may have changed on this host (see start-undo.ts). */
  private undoScope(socket: NetlinkSocket): SnapshotScope {
    const o = this.options;
    const files = [path.join(o.stateDir, 'host-state.json')];
    if (o.cniConfDir !== null) files.push(path.join(o.cniConfDir, o.cniConflistName));
    if (o.cniConfDir !== null && o.subnetEnv) files.push(o.subnetEnv);
    return {
      socket, protocol: NEXTHOP_RTPROT,
      devices: [VXLAN_DEVICE, VXLAN_V6_DEVICE],
      sysctls: [SYSCTL_IPV4_FORWARD, SYSCTL_IPV6_FORWARD],
      files,
      dirs: [o.stateDir, path.dirname(o.controlSocket)],
      firewall: o.firewall,
    };
  }

  /**
   * A start failed after it began changing the host: stop what runs, then put back exactly what
   * this start changed (compared with the snapshot taken before), and say so in the error.
   */
  private async abandonStart(step: string, failure: Error, scope: SnapshotScope, before: HostSnapshot): Promise<AgentStartError> {
    this.log.error({ step, err: failure.message }, 'start failed after the host was changed: undoing what this start did');
    // No graceful-restart hold for a start that never finished: sessions (if any) just close.
    await this.stop();
    let undone: string[] = [];
    let notUndone: string[] = [];
    const socket = NetlinkSocket.open();
    try {
      const after = await captureHost({ ...scope, socket });
      const r = await applyUndo(planUndo(before, after), after, { ...scope, socket });
      undone = r.done;
      notUndone = r.failed;
    } catch (e) {
      notUndone.push(`could not compare the host with its state before the start: ${(e as Error).message}`);
    } finally {
      socket.close();
    }
    this.log.info({ undone, notUndone }, 'abandoned start undone');
    return new AgentStartError(this.options.node, step, failure, undone, notUndone);
  }

  private datastoreKind(): 'etcd' | 'file' {
    return this.options.datastore.startsWith('etcd:') ? 'etcd' : 'file';
  }

  private async startSurfaces(): Promise<void> {
    const control = new ControlServer({ path: this.options.controlSocket, logger: this.logging.component('control') });
    control.handle('status', () => this.status());
    control.handle('peers', () => this.speaker?.peerStatus() ?? []);
    control.handle('routes', () => this.routes());
    control.handle('explain', (params) => {
      const address = (params as { address?: unknown } | undefined)?.address;
      if (typeof address !== 'string') throw new ControlMethodError('bad-params', "explain needs params {\"address\": \"IP\"}");
      return this.explain(address);
    });
    await control.start();
    this.control = control;
    if (this.options.metricsAddress !== null) {
      const http = new StatusHttpServer({
        address: this.options.metricsAddress,
        metrics: this.metrics,
        readiness: () => this.readiness(),
        logger: this.logging.component('http'),
      });
      await http.start();
      this.http = http;
    }
  }

  private async publishStatus(view: ClusterStateView, status: { [K in keyof NodeStatusFields]?: string | null }): Promise<void> {
    const me = view.nodes.find((n) => n.name === this.options.node);
    const differs = (Object.entries(status) as [keyof NodeStatusFields, string | null | undefined][])
      .some(([k, v]) => v !== undefined && (me?.[k] ?? null) !== v);
    if (!differs) return;
    await this.ds!.setNodeStatus(this.options.node, status);
    this.log.info({ status }, 'published agent-written node fields');
  }

  /** Creates and starts a speaker for `identity`, originating our blocks, with `peers`. */
  private async startSpeaker(identity: NodeIdentity, view: ClusterStateView, restarting: boolean, peers: readonly DesiredPeer[]): Promise<void> {
    const o = this.options;
    const speakerLog = this.logging.component('speaker');
    if (!this.nextHopResolver) {
      this.nextHopResolver = await HostNextHopResolver.open({
        onChange: () => this.speaker?.nextHopsChanged(),
        onError: (e) => this.log.warn({ err: e.message }, 'next-hop resolver refresh failed; keeping the last host snapshot'),
      });
      this.nextHopResolver.start();
    }
    const speaker = new Speaker({
      localAs: identity.asNumber,
      routerId: identity.routerId,
      listen: [{ address: this.listenAddress(identity), port: identity.listenPort }],
      nextHopIPv4: identity.ipv4,
      nextHopIPv6: identity.ipv6,
      pools: enabledPoolCidrs(view.resources),
      clusterId: identity.clusterId ?? null,
      maxPaths: o.maxPaths,
      resolveNextHop: this.nextHopResolver.resolve,
      gracefulRestart: { enabled: true, restartTime: o.restartTime, restarting },
      connectRetryTime: CONNECT_RETRY_S,
      backoff: BACKOFF,
      hostname: o.node,
      log: (level, message, fields) => speakerLog[level](fields ?? {}, message),
    });
    this.speaker = speaker;
    this.speakerPools = JSON.stringify(enabledPoolCidrs(view.resources).sort());
    this.running.clear();
    speaker.onLocRibChange((b) => { if (this.speaker === speaker) this.onRibChange(b); });
    speaker.onPeerEvent((ev) => this.onPeerEvent(ev));
    this.blockCommunities = ownBlockCommunities(view.resources, o.node);
    this.announcedBlocks = exportedBlocks(this.ownBlocks, view.pools);
    for (const b of this.announcedBlocks) this.originateOwn(speaker, b);
    for (const d of peers) this.addPeer(d);
    await speaker.start();
    this.log.info({ as: identity.asNumber, routerId: identity.routerId, clusterId: identity.clusterId, port: speaker.port, restarting,
      peers: [...this.running.keys()] }, 'BGP speaker started');
  }

  /** Originates one of our blocks with the configured communities (RFC 1997, RFC 8092). */
  private originateOwn(speaker: Speaker, block: string): void {
    const c = this.blockCommunities;
    speaker.originate(block, {
      ...(c.communities.length > 0 ? { communities: c.communities } : {}),
      ...(c.largeCommunities.length > 0 ? { largeCommunities: c.largeCommunities } : {}),
    });
  }

  /** Speaker peer events → metrics (labelled by peer address, like every per-peer series). */
  private onPeerEvent(ev: SpeakerPeerEvent): void {
    const peer = this.peerAddresses.get(ev.peer) ?? ev.peer;
    if (ev.kind === 'route-rejected') {
      this.metrics.routeRejected(peer, ev.reason);
      return;
    }
    this.metrics.notification(peer, ev.kind === 'notification-sent' ? 'sent' : 'received', ev.code, ev.subcode);
    this.log.info({ peer: ev.peer, address: peer, direction: ev.kind === 'notification-sent' ? 'sent' : 'received', code: ev.code, subcode: ev.subcode,
      ...(ev.hardResetOf ? { hardResetOf: ev.hardResetOf } : {}) }, 'NOTIFICATION');
  }

  /**
   * The node's AS, router id, addresses or listen port changed: these are fixed in a speaker
   * (the OPEN carries them, the listener is bound), so it is restarted in place the graceful
   * way. The old one drops its sessions without a NOTIFICATION (peers keep our routes, RFC
   * 4724 §4.2); the new one comes up as a restarting speaker (R bit, selection deferred, §4.1) with the FIB held as it is
   * until its first selection, then the FIB gets the new Loc-RIB in one replace.
   */
  private async restartSpeaker(identity: NodeIdentity, view: ClusterStateView, desired: readonly DesiredPeer[]): Promise<void> {
    const old = this.speaker!;
    this.log.warn({ before: { as: this.identity!.asNumber, routerId: this.identity!.routerId, ipv4: this.identity!.ipv4, ipv6: this.identity!.ipv6, listenPort: this.identity!.listenPort },
      after: { as: identity.asNumber, routerId: identity.routerId, ipv4: identity.ipv4, ipv6: identity.ipv6, listenPort: identity.listenPort } },
    'speaker identity changed: restarting the speaker gracefully (RFC 4724)');
    this.ribFeeding = false;
    // Sessions that stay come back with their new policy settings (role, cluster id) at once:
    // the restart is their reset. Removals and address/AS/key changes go through the planner.
    const wanted = new Map(desired.map((d) => [d.name, d]));
    const peers = [...this.running.values()].map((r) => {
      const d = wanted.get(r.name);
      return d && !diffPeers([r], [d]).changed.some((c) => c.needsReset) ? d : r;
    });
    await old.stop({ graceful: true });
    this.identity = identity;
    await this.startSpeaker(identity, view, true, peers);
    this.afterSelection(async () => {
      if (!this.fibStarted) return this.startFib();
      this.dataplane!.setRoutes(ribRoutesForDataplane(this.speaker!.routes()));
      this.ribFeeding = true;
      this.log.info('restarted speaker finished selection: FIB updated');
    });
  }

  /**
   * What a running speaker takes live: the enabled pools (import rule, Speaker.setPools: soft
   * reconfiguration inbound, no reset), our CLUSTER_ID (RFC 4456 §7, Speaker.setClusterId: peers
   * regrouped, no reset) and the communities of our blocks (originated again: an implicit
   * withdraw-and-replace, RFC 4271 §3.1).
   */
  private applyLiveSpeakerSettings(id: NodeIdentity, view: ClusterStateView): void {
    const speaker = this.speaker!;
    const pools = enabledPoolCidrs(view.resources);
    const poolsKey = JSON.stringify([...pools].sort());
    if (poolsKey !== this.speakerPools) {
      speaker.setPools(pools);
      this.log.info({ before: JSON.parse(this.speakerPools) as string[], after: pools }, 'pools changed: import rule updated in place, no session reset');
      this.speakerPools = poolsKey;
    }
    const clusterId = id.clusterId ?? null;
    if (clusterId !== (this.identity!.clusterId ?? null)) {
      speaker.setClusterId(clusterId);
      this.log.info({ before: this.identity!.clusterId ?? null, after: clusterId }, 'route-reflector cluster id changed: applied in place (RFC 4456 §7)');
    }
    this.identity = id;
    const communities = ownBlockCommunities(view.resources, this.options.node);
    if (JSON.stringify(communities) !== JSON.stringify(this.blockCommunities)) {
      this.blockCommunities = communities;
      for (const b of this.announcedBlocks) this.originateOwn(speaker, b);
      this.log.info({ communities: communities.communities, largeCommunities: communities.largeCommunities, blocks: this.announcedBlocks },
        'communities changed: own blocks originated again');
    }
  }

  // --- FIB --------------------------------------------------------------------------------------

  private async startFib(): Promise<void> {
    if (this.fibStarted || this.stopping || !this.dataplane || !this.speaker || !this.dpView) return;
    this.fibStarted = true;
    this.ribFeeding = true;
    const report = await this.dataplane.start(this.dpView, ribRoutesForDataplane(this.speaker.routes()));
    // Changes that arrived while start() ran: one full replace (the reconciler writes the diff).
    this.dataplane.setRoutes(ribRoutesForDataplane(this.speaker.routes()));
    this.log.info({ added: report.added, replaced: report.replaced, deleted: report.deleted, failed: report.failed.length }, 'FIB reconciler started (existing routes adopted)');
  }

  /** Runs `then` once the current speaker's deferred selection has run (RFC 4724 §4.1). */
  private afterSelection(then: () => Promise<void>): void {
    const deadline = Date.now() + 10 * 60_000;
    const speaker = this.speaker;
    const tick = (): void => {
      if (this.stopping || this.speaker !== speaker) return;
      if (!speaker!.selectionDeferred || Date.now() > deadline) {
        this.log.info('selection deferral over: reconciling the FIB');
        then().catch((e) => this.log.error({ err: (e as Error).message }, 'FIB update after selection failed'));
        return;
      }
      setTimeout(tick, 100).unref();
    };
    tick();
  }

  private onRibChange(batch: RouteChangeBatch): void {
    if (!this.fibStarted || !this.ribFeeding || !this.dataplane) return;
    const changes = batch.changes.filter((c) => !c.local).map((c) => ({ prefix: c.prefix, nexthops: c.withdrawn ? [] : [...c.nextHops] }));
    if (changes.length === 0) return;
    try {
      this.dataplane.updateRoutes(changes);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'dataplane rejected route changes');
    }
  }

  // --- datastore changes ------------------------------------------------------------------------

  private scheduleApply(): void {
    if (this.stopping || this.applyTimer) return;
    this.applyTimer = setTimeout(() => {
      this.applyTimer = null;
      this.work = this.work.then(() => this.applyCluster()).catch((e) => {
        this.lastApplyError = (e as Error).message;
        this.log.error({ err: (e as Error).message }, 'could not apply the datastore change; keeping the previous state');
      });
    }, 50);
    this.applyTimer.unref();
  }

  private poolsKey(view: ClusterStateView): string {
    const node = view.nodes.find((n) => n.name === this.options.node);
    if (!node) return '';
    const own = view.resources.find((r) => r.kind === 'Node' && r.metadata.name === this.options.node);
    const pins = own?.kind === 'Node' ? own.spec.podCIDRs ?? [] : [];
    return JSON.stringify([nodePools(view, node).map((p) => [p.name, p.cidr, p.blockSize]), pins]);
  }

  /** Applies the datastore's current state: blocks, node fields, dataplane, peers. */
  private async applyCluster(): Promise<void> {
    if (this.stopping || !this.ds || !this.speaker || !this.identity) return;
    const o = this.options;
    let view = this.ds.state.view();
    const me = view.nodes.find((n) => n.name === o.node);
    if (!me) {
      this.lastApplyError = `the Node resource ${o.node} is gone from ${this.ds.description}; keeping the last configuration`;
      this.log.error(this.lastApplyError);
      return;
    }
    const id = nodeIdentity(view, o.node, { routerId: o.routerId, listenPort: o.listenPort }, this.ds.description);
    const restartNeeded = speakerRestartKey(id) !== speakerRestartKey(this.identity);
    this.logging.applySeverity(view.config.logSeverityScreen);
    // Blocks: claim again when the pools selecting us (or our pins) changed.
    const sig = this.poolsKey(view);
    if (sig !== this.poolSignature) {
      const claims = await this.ds.claimBlocks(o.node);
      const next = claims.map((c) => c.cidr).sort();
      if (JSON.stringify(next) !== JSON.stringify(this.ownBlocks)) this.log.info({ before: this.ownBlocks, after: next }, 'own blocks changed');
      this.ownBlocks = next;
      this.poolSignature = sig;
    }
    // Originate what we own and may export; withdraw what we no longer own or may not export
    // (IPPool.disableBGPExport can change without any block changing).
    const announce = exportedBlocks(this.ownBlocks, view.pools);
    for (const b of announce) if (!this.announcedBlocks.includes(b)) this.originateOwn(this.speaker, b);
    for (const b of this.announcedBlocks) if (!announce.includes(b)) this.speaker.withdraw(b);
    if (JSON.stringify(announce) !== JSON.stringify(this.announcedBlocks)) this.log.info({ before: this.announcedBlocks, after: announce }, 'announced blocks changed');
    this.announcedBlocks = announce;
    const status = desiredNodeStatus(view, me, this.ownBlocks);
    await this.publishStatus(view, status);
    view = withOwnStatus(view, o.node, status);
    this.view = view;
    this.updateIpamMetrics(view);
    // Dataplane: pools, node endpoints, VTEPs, own blocks.
    const dpView = dataplaneView(view, o.node, this.ownBlocks);
    if (JSON.stringify(dpView) !== JSON.stringify(this.dpView) && this.dataplane) {
      this.plan = await this.dataplane.updateCluster(dpView);
      this.dpView = dpView;
      this.log.info({ pools: dpView.pools.map((p) => p.cidr), nodes: dpView.nodes.length }, 'dataplane updated for the new cluster state');
    }
    const fresh = desiredPeers(o.node, view.resources);
    if (restartNeeded) await this.restartSpeaker(id, view, fresh);
    else this.applyLiveSpeakerSettings(id, view);
    // A session the cluster names differently but that goes to the same peer keeps its live name.
    const desired = aliasLivePeers([...this.running.values()], fresh);
    // Peers: make-before-break.
    if (JSON.stringify(desired) !== JSON.stringify(this.desired)) {
      this.desired = desired;
      this.transitionSince = Date.now();
      this.log.info({ peers: desired.map((d) => d.name) }, 'desired sessions changed');
    }
    this.lastApplyError = undefined;
    this.transitionTick();
  }

  private addPeer(d: DesiredPeer): boolean {
    try {
      this.speaker!.addPeer(peerConfigFor(d));
      this.running.set(d.name, d);
      this.peerAddresses.set(d.name, d.peerAddress);
      return true;
    } catch (e) {
      this.log.warn({ peer: d.name, err: (e as Error).message }, 'cannot add peer yet');
      return false;
    }
  }

  /** One step of the make-before-break transition toward `desired` (src/cluster/peers.ts). */
  private transitionTick(): void {
    if (this.stopping || !this.speaker) return;
    const speaker = this.speaker;
    const statuses = speaker.peerStatus();
    const converged = convergedPeers(statuses);
    const desiredNames = new Set(this.desired.map((d) => d.name));
    const current = [...this.running.values()];
    const leaving = current.filter((c) => !desiredNames.has(c.name)).map((c) => c.name);
    const covered = leaving.length > 0 ? coveredPeers(speaker.routes(), leaving, desiredNames) : new Set<string>();
    const timedOut = this.transitionSince !== null && Date.now() - this.transitionSince > this.options.transitionTimeout * 1000;
    const gaveUp = new Set(timedOut ? this.desired.filter((d) => !converged.has(d.name)).map((d) => d.name) : []);
    // After the timeout, removals go ahead even if coverage could not be shown.
    const ops = planPeerOperations(current, this.desired, converged, timedOut ? { gaveUp } : { covered, gaveUp });
    this.desired = ops.desired;
    for (const d of ops.add) if (this.addPeer(d)) this.log.info({ peer: d.name, address: d.peerAddress, type: d.kind }, 'session added');
    for (const u of ops.update) {
      try {
        // The speaker decides how (src/speaker/config.ts classifyPeerChange): in place for role
        // and policy (RFC 4456 §6 client status), a graceful reset (RFC 8538 §4 / RFC 4724) for
        // what the OPEN or the connection carries, a Hard Reset (RFC 8538 §3) for AS/address.
        const change = speaker.updatePeer(u.config);
        // Per-peer series are labelled by address: a new address starts new ones.
        if (canonicalIP(u.before.peerAddress) !== canonicalIP(u.after.peerAddress)) this.metrics.removePeer(u.before.peerAddress);
        this.running.set(u.name, u.after);
        this.peerAddresses.set(u.name, u.after.peerAddress);
        this.log.info({ peer: u.name, fields: u.fields, type: u.after.kind, change }, `session changed: ${change}`);
      } catch (e) {
        this.log.warn({ peer: u.name, err: (e as Error).message }, 'cannot change peer');
      }
    }
    for (const d of ops.remove) {
      // Per-peer series go first: the Cease / Peer De-configured NOTIFICATION the removal sends
      // (RFC 4486 §3; in a Hard Reset, RFC 8538 §3) is reported by the speaker during or after
      // removePeer and stays counted.
      this.metrics.removePeer(d.peerAddress);
      if (speaker.hasPeer(d.name)) speaker.removePeer(d.name);
      this.running.delete(d.name);
      this.log.info({ peer: d.name }, 'session removed');
    }
    const pending = ops.pending
      || this.desired.some((d) => !this.running.has(d.name));
    if (pending) {
      if (this.transitionSince === null) this.transitionSince = Date.now();
      if (!this.transitionTimer) {
        this.transitionTimer = setTimeout(() => { this.transitionTimer = null; this.transitionTick(); }, TRANSITION_TICK_MS);
        this.transitionTimer.unref();
      }
    } else {
      this.transitionSince = null;
    }
  }

  // --- views ------------------------------------------------------------------------------------

  private peerRows(): PeerStatus[] {
    if (!this.speaker || !this.view) return [];
    const desired = new Map(this.desired.map((d) => [d.name, d]));
    return this.speaker.peerStatus().map((v) => peerStatusRow(v, desired.get(v.name) ?? this.running.get(v.name), this.view!.resources, !desired.has(v.name)));
  }

  private peerSnapshot(): PeerMetricsSnapshot[] {
    return this.peerRows().map((p) => ({
      peer: p.address, type: p.type, state: p.state,
      families: (p.families ?? {}) as Partial<Record<StatusFamily, PrefixCounts>>,
      updates: p.updates,
    }));
  }

  readiness(): ReadinessCondition[] {
    const rows = new Map(this.peerRows().map((p) => [p.name, p]));
    return readinessConditions({
      datastoreConnected: this.ds?.connection === 'connected',
      datastoreError: this.datastoreError,
      blocks: this.ownBlocks,
      sessions: this.desired.map((d) => {
        const r = rows.get(d.name);
        return { name: d.name, address: d.peerAddress, state: r?.state ?? 'Idle', peerRestarting: r?.gracefulRestart?.restarting, info: r?.info };
      }),
    });
  }

  status(): AgentStatus {
    const conds = this.readiness();
    const notReady = conds.filter((c) => !c.ready).map((c) => c.detail ?? c.name);
    if (this.lastApplyError) notReady.push(`last datastore change not applied: ${this.lastApplyError}`);
    const ds = this.ds!;
    const s: AgentStatus = {
      node: this.options.node,
      version: this.version,
      startedAt: this.startedAt,
      asn: this.identity?.asNumber ?? 0,
      routerId: this.identity?.routerId ?? '',
      blocks: [...this.ownBlocks],
      datastore: {
        kind: this.datastoreKind(), endpoint: ds.description.replace(/^(etcd|file):/, ''), connected: ds.connection === 'connected',
        ...(this.datastoreError ? { lastError: this.datastoreError } : {}),
      },
      peers: this.peerRows(),
      ready: notReady.length === 0,
      now: Date.now(),
    };
    if (notReady.length > 0) s.notReady = notReady;
    return s;
  }

  private async installed(): Promise<InstalledRoute[]> {
    if (!this.fib || !this.socket) return [];
    const names = new Map((await linksWithAddresses(this.socket)).map((l) => [l.link.index, l.link.name]));
    return this.fib.installedRoutes().filter((k) => k.table === RT_TABLE_MAIN).map((k) => ({
      prefix: k.prefix,
      type: k.rtType === RTN_BLACKHOLE ? 'blackhole' : k.rtType === 1 ? 'unicast' : `type ${k.rtType}`,
      gateways: k.nexthops.filter((n) => n.gateway).map((n) => formatIP(n.gateway!)),
      devs: [...new Set(k.nexthops.map((n) => (n.ifindex !== undefined ? names.get(n.ifindex) ?? `if${n.ifindex}` : n.ifname)).filter((x): x is string => !!x))],
      onlink: k.nexthops.some((n) => n.onlink),
    }));
  }

  async routes(): Promise<RoutesStatus> {
    const routes = this.speaker?.routes() ?? [];
    const installed = this.fibStarted ? await this.installed() : [];
    const ctx = this.fibStarted ? this.plan?.decision ?? null : null;
    return { node: this.options.node, routes: routeStatuses(routes, ctx, installed, this.ownBlocks), now: Date.now() };
  }

  async explain(address: string): Promise<ExplainResult> {
    if (!this.speaker || !this.view) throw new ControlMethodError('not-ready', 'the agent is still starting');
    const routes = (await this.routes()).routes;
    const kernel = await kernelRouteGet(address);
    return explainResult({
      address, nodeName: this.options.node, view: this.view, ownBlocks: this.ownBlocks,
      explain: this.speaker.explain(address), routes, ctx: this.plan?.decision ?? null, peers: this.peerRows(),
      kernel: kernel ?? undefined,
    });
  }

  private updateIpamMetrics(view: ClusterStateView): void {
    for (const p of view.pools) {
      const pc = parseCidr(p.cidr);
      if (!pc) continue;
      const inPool = view.blocks.filter((b) => { const c = parseCidr(b.cidr); return c !== null && cidrContains(pc, c); });
      this.metrics.ipamBlocks(p.name, {
        allocated: inPool.length,
        capacity: Number(subnetCount(pc, p.blockSize)),
        node: inPool.filter((b) => b.node === this.options.node).length,
      });
    }
  }

  // --- stop -------------------------------------------------------------------------------------

  /**
   * Graceful stop: sessions end without a NOTIFICATION (peers keep our routes as stale, RFC 4724
   * §4.2), the FIB and host state stay for the next run, the surfaces close.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of [this.applyTimer, this.transitionTimer]) if (t) clearTimeout(t);
    await this.work.catch(() => undefined);
    await this.speaker?.stop({ graceful: true }).catch((e) => this.log.warn({ err: (e as Error).message }, 'speaker stop'));
    this.nextHopResolver?.close();
    // The reconciler stops (routes stay); the dataplane's own netlink socket closes below.
    if (this.dataplane && this.fibStarted) await this.dataplane.stop().catch(() => undefined);
    else if (this.fib) await this.fib.stop().catch(() => undefined);
    await this.liveness?.stop().catch(() => undefined);
    await this.control?.close().catch(() => undefined);
    await this.http?.close().catch(() => undefined);
    await this.ds?.close().catch(() => undefined);
    this.socket?.close();
    this.log.info(this.started ? 'agent stopped; routes left in the FIB for the next start' : 'agent start abandoned; nothing left running');
  }
}

/**
 * Binds `address`:`port` once and closes it again: the BGP listener will be able to, so a start
 * does not get as far as changing the host only to fail there. Throws AgentConfigError (LISTEN)
 * naming the address and the errno, with a hint for the usual ones.
 */
export function checkListen(node: string, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (e: NodeJS.ErrnoException) => {
      const hint = e.code === 'EADDRNOTAVAIL' ? ': no interface of this host holds that address'
        : e.code === 'EADDRINUSE' ? ': another process (another agent or BGP daemon?) listens there'
          : e.code === 'EACCES' ? ': port below 1024 needs root or CAP_NET_BIND_SERVICE' : '';
      reject(new AgentConfigError('LISTEN', node, '--listen-address', `cannot listen for BGP on ${address.includes(':') ? `[${address}]` : address} port ${port}: ${e.code ?? e.message}${hint}`));
    });
    server.listen({ host: address, port, ipv6Only: false, exclusive: true }, () => server.close(() => resolve()));
  });
}

/** The kernel's answer for one address (`ip -j route get`), or null when it has none. */
export function kernelRouteGet(address: string): Promise<ExplainResult['kernel'] | null> {
  return new Promise((resolve) => {
    execFile('ip', ['-j', 'route', 'get', stripLen(address)], { timeout: 2000 }, (err, stdout) => {
      if (err) { resolve(null); return; }
      try {
        const r = (JSON.parse(stdout) as { dev?: string; gateway?: string; prefsrc?: string; table?: string | number; type?: string }[])[0];
        if (!r) { resolve(null); return; }
        const out: NonNullable<ExplainResult['kernel']> = {};
        if (r.dev) out.dev = r.dev;
        if (r.gateway) out.via = r.gateway;
        if (r.prefsrc) out.src = r.prefsrc;
        if (r.table !== undefined) out.table = String(r.table);
        else if (r.type && r.type !== 'unicast') out.table = `(${r.type})`;
        resolve(out);
      } catch {
        resolve(null);
      }
    });
  });
}

export type { PeerStatusView };
