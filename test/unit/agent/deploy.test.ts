// The deployment files under deploy/ are checked for what can be checked without a cluster:
// every YAML parses; the cluster resources pass nexthop's own validation and give the sessions
// their comments promise; the ToR router configs agree with the BGPPeers (AS, password, GTSM,
// rack subnet, pool) and pass `bird -p` / `vtysh --dryrun`; the DaemonSet, systemd unit and
// Dockerfile use only real agent flags, with values the agent's parsers accept, and the probe
// ports, socket path and mounts line up. (The router configs are also run against peers in
// test/integration/agent-deploy-tor.test.ts.)
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as YAML from 'yaml';
import { repoPath } from '../../helpers/repo';
import { parseResources, Resource, BGPPeer, NodeResource, IPPool } from '../../../src/cluster/resources';
import { desiredPeers } from '../../../src/cluster/peers';
import { parseDatastoreSpec } from '../../../src/cluster/open';
import { parseListenAddress, DEFAULT_METRICS_PORT } from '../../../src/agent/http';
import { DEFAULT_CONTROL_SOCKET } from '../../../src/agent/control';
import { parseLogLevel } from '../../../src/agent/log';
import { peerTypeOf } from '../../../src/agent/status-format';
import { parseCidr, parseIP, cidrContainsIP } from '../../../src/lib/ip';

/** The `nexthop agent` flags (the agent's contract with these files); value-less ones: none. */
const AGENT_FLAGS = ['node', 'datastore', 'listen-address', 'listen-port', 'control-socket', 'metrics-address', 'cni-conf-dir', 'uplink', 'log-level'];

function read(...p: string[]): string {
  return fs.readFileSync(repoPath('deploy', ...p), 'utf8');
}

function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...allFiles(p));
    else out.push(p);
  }
  return out;
}

/** Flag → value of an `nexthop agent ...` argument list; throws on an unknown or valueless flag. */
function agentFlags(args: string[]): Record<string, string> {
  expect(args.slice(0, 2)).to.deep.equal(['nexthop', 'agent']);
  const out: Record<string, string> = {};
  for (let i = 2; i < args.length; i += 2) {
    const flag = args[i];
    expect(flag, `argument ${i}`).to.match(/^--/);
    const name = flag.slice(2);
    expect(AGENT_FLAGS, `unknown agent flag ${flag}`).to.include(name);
    expect(args[i + 1], `value of ${flag}`).to.be.a('string');
    out[name] = args[i + 1];
  }
  return out;
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

describe('deploy/ files', () => {
  it('every YAML file parses without errors or warnings', () => {
    const files = allFiles(repoPath('deploy')).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).to.be.at.least(3);
    for (const f of files) {
      const docs = YAML.parseAllDocuments(fs.readFileSync(f, 'utf8'));
      for (const d of docs) {
        expect(d.errors.map((e) => e.message), f).to.deep.equal([]);
        expect(d.warnings.map((e) => e.message), f).to.deep.equal([]);
      }
    }
  });

  describe('cluster resources', () => {
    it('route-reflectors.yaml: mesh off, every node peers with both reflectors, reflectors with their clients', () => {
      const res = parseResources(read('cluster', 'route-reflectors.yaml'), 'route-reflectors.yaml', { crossChecks: true }).map((l) => l.resource);
      const cfg = res.find((r) => r.kind === 'BGPConfiguration')!;
      expect(cfg.spec).to.include({ nodeToNodeMeshEnabled: false });
      const reflectors = res.filter((r): r is NodeResource => r.kind === 'Node' && r.spec.bgp?.routeReflectorClusterID !== undefined);
      expect(reflectors.map((r) => r.metadata.name)).to.deep.equal(['rr-1', 'rr-2']);
      for (const r of reflectors) expect(r.metadata.labels['route-reflector']).to.equal('true');
      const a = desiredPeers('node-a', res);
      expect(a.map((p) => [p.peerAddress, p.kind])).to.deep.equal([['10.0.1.10', 'rr-server'], ['10.0.2.10', 'rr-server']]);
      expect(a.map((p) => peerTypeOf(p, res))).to.deep.equal(['rr-server', 'rr-server']);
      const rr1 = desiredPeers('rr-1', res);
      expect([...new Set(rr1.map((p) => peerTypeOf(p, res)))]).to.deep.equal(['rr-client', 'rr-nonclient']);
      expect(rr1.filter((p) => p.kind === 'rr-client').map((p) => p.peerNode)).to.deep.equal(['node-a', 'node-b', 'node-f']);
      expect(rr1.filter((p) => p.kind === 'rr-nonclient').map((p) => p.peerNode)).to.deep.equal(['rr-2']);
    });

    it('tor-peering.yaml: one iBGP session per node, to its rack\'s ToR, with MD5, GTSM and restart time', () => {
      const res = parseResources(read('cluster', 'tor-peering.yaml'), 'tor-peering.yaml', { crossChecks: true }).map((l) => l.resource);
      const a = desiredPeers('node-a', res);
      expect(a).to.have.length(1);
      expect(a[0]).to.deep.include({ peerAddress: '10.0.1.1', peerAsn: 65001, localAsn: 65001, password: 'nexthop-rack-1', ttlSecurity: 1, maxRestartTime: 120 });
      expect(peerTypeOf(a[0], res)).to.equal('node-specific');
      // The same peer from a BGPPeer without node/nodeSelector is a global peer.
      const global = res.map((r) => (r.kind === 'BGPPeer' && r.metadata.name === 'rack-1-tor' ? { ...r, spec: { ...r.spec, nodeSelector: undefined } } : r));
      expect(peerTypeOf(desiredPeers('node-a', global)[0], global)).to.equal('global');
      const f = desiredPeers('node-f', res);
      expect(f.map((p) => [p.peerAddress, p.peerAsn, p.localAsn])).to.deep.equal([['10.0.2.1', 65002, 65002]]);
    });
  });

  describe('ToR router configs match tor-peering.yaml', () => {
    const res: Resource[] = parseResources(read('cluster', 'tor-peering.yaml'), 'tor-peering.yaml').map((l) => l.resource);
    const peer = res.find((r): r is BGPPeer => r.kind === 'BGPPeer' && r.metadata.name === 'rack-1-tor')!;
    const pool = res.find((r): r is IPPool => r.kind === 'IPPool')!;
    const rackNodes = res.filter((r): r is NodeResource => r.kind === 'Node' && r.metadata.labels.rack === 'rack-1');

    const checkRange = (range: string): void => {
      const c = parseCidr(range)!;
      expect(c, range).to.not.equal(null);
      for (const n of rackNodes) expect(cidrContainsIP(c, parseIP(n.spec.bgp!.ipv4Address!.split('/')[0])!), `${n.metadata.name} in ${range}`).to.equal(true);
      expect(cidrContainsIP(c, parseIP(peer.spec.peerIP!)!), `ToR ${peer.spec.peerIP} in ${range}`).to.equal(true);
    };

    it('FRR: AS, router address, password, GTSM, listen range, pool filter, max-prefix, graceful restart', () => {
      const conf = read('routers', 'frr-tor-rack1.conf');
      expect(conf).to.match(new RegExp(`^router bgp ${peer.spec.asNumber}$`, 'm'));
      expect(conf).to.match(new RegExp(`^ bgp router-id ${peer.spec.peerIP!.replace(/\./g, '\\.')}$`, 'm'));
      for (const n of rackNodes) expect(n.spec.bgp!.asNumber).to.equal(peer.spec.asNumber);
      expect(conf).to.match(new RegExp(`^ neighbor RACK1-NODES remote-as ${rackNodes[0].spec.bgp!.asNumber}$`, 'm'));
      expect(/^ neighbor RACK1-NODES password (\S+)$/m.exec(conf)?.[1]).to.equal(peer.spec.password);
      expect(/^ neighbor RACK1-NODES ttl-security hops (\d+)$/m.exec(conf)?.[1]).to.equal(String(peer.spec.ttlSecurity));
      checkRange(/^ bgp listen range (\S+) peer-group RACK1-NODES$/m.exec(conf)![1]);
      expect(/^ip prefix-list POD-BLOCKS seq \d+ permit (\S+) ge (\d+) le 32$/m.exec(conf)?.slice(1)).to.deep.equal([pool.spec.cidr, String(pool.spec.blockSize)]);
      expect(conf).to.match(/^ {2}neighbor RACK1-NODES prefix-list POD-BLOCKS in$/m);
      expect(conf).to.match(/^ {2}neighbor RACK1-NODES route-reflector-client$/m);
      expect(conf).to.match(/^ {2}neighbor RACK1-NODES maximum-prefix \d+/m);
      expect(conf).to.match(/^ bgp graceful-restart$/m);
    });

    it('BIRD: AS, router address, password, GTSM, neighbour range, pool filter, import limit, graceful restart', () => {
      const conf = read('routers', 'bird-tor-rack1.conf');
      expect(/define RACK_AS = (\d+);/.exec(conf)?.[1]).to.equal(String(peer.spec.asNumber));
      expect(conf).to.include(`local ${peer.spec.peerIP} as RACK_AS;`);
      expect(/password "([^"]+)";/.exec(conf)?.[1]).to.equal(peer.spec.password);
      expect(conf).to.include('ttl security on;');
      checkRange(/neighbor range (\S+) internal;/.exec(conf)![1]);
      const c = parseCidr(pool.spec.cidr)!;
      expect(conf).to.include(`define POD_BLOCKS = [ ${pool.spec.cidr}{${pool.spec.blockSize},32} ];`);
      expect(c.length).to.be.lessThan(pool.spec.blockSize);
      expect(conf).to.include('rr client;');
      expect(conf).to.match(/import limit \d+ action restart;/);
      expect(conf).to.include('graceful restart on;');
    });

    it('BIRD accepts bird-tor-rack1.conf (bird -p)', function () {
      if (!has('bird')) this.skip();
      const r = spawnSync('bird', ['-p', '-c', repoPath('deploy', 'routers', 'bird-tor-rack1.conf')], { encoding: 'utf8', timeout: 20000 });
      expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
    });

    it('FRR accepts frr-tor-rack1.conf (vtysh --dryrun)', function () {
      if (!has('vtysh')) this.skip();
      const r = spawnSync('vtysh', ['--dryrun', '-f', repoPath('deploy', 'routers', 'frr-tor-rack1.conf')], { encoding: 'utf8', timeout: 20000 });
      expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
      expect(`${r.stdout}${r.stderr}`).to.not.match(/Unknown command|error/i);
    });
  });

  describe('Kubernetes DaemonSet', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Kubernetes object, checked field by field below
    const docs = YAML.parseAllDocuments(read('kubernetes', 'nexthop-daemonset.yaml')).map((d) => d.toJS() as Record<string, any>);
    const ds = docs.find((d) => d.kind === 'DaemonSet')!;
    const pod = ds.spec.template.spec;
    const agent = pod.containers.find((c: { name: string }) => c.name === 'agent');

    it('runs `nexthop agent` with known flags and values the agent accepts', () => {
      const flags = agentFlags(agent.command);
      expect(flags.node).to.equal('$(NODE_NAME)');
      expect(agent.env.find((e: { name: string }) => e.name === 'NODE_NAME').valueFrom.fieldRef.fieldPath).to.equal('spec.nodeName');
      const store = parseDatastoreSpec(flags.datastore);
      expect(store.type).to.equal('etcd');
      if (store.type === 'etcd') for (const e of store.endpoints) expect(e).to.match(/^https:\/\//);
      expect(parseLogLevel(flags['log-level'])).to.equal('info');
      expect(flags['control-socket']).to.equal(DEFAULT_CONTROL_SOCKET);
      expect(parseListenAddress(flags['metrics-address'])).to.deep.equal({ host: '127.0.0.1', port: DEFAULT_METRICS_PORT });
    });

    it('uses the host network with NET_ADMIN and mounts /run/nexthop, /etc/cni/net.d, /opt/cni/bin', () => {
      expect(pod.hostNetwork).to.equal(true);
      expect(agent.securityContext.privileged === true || agent.securityContext.capabilities.add.includes('NET_ADMIN')).to.equal(true);
      const mounts = new Map<string, string>(agent.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m.name]));
      const volumes = new Map<string, { hostPath?: { path: string } }>(pod.volumes.map((v: { name: string }) => [v.name, v]));
      for (const p of ['/run/nexthop', '/etc/cni/net.d', '/opt/cni/bin']) {
        expect(mounts.has(p), `mount ${p}`).to.equal(true);
        expect(volumes.get(mounts.get(p)!)?.hostPath?.path, `hostPath for ${p}`).to.equal(p);
      }
      expect(path.dirname(agentFlags(agent.command)['control-socket'])).to.equal('/run/nexthop');
      expect(agentFlags(agent.command)['cni-conf-dir']).to.equal('/etc/cni/net.d');
    });

    it('probes /healthz and /readyz on the metrics address', () => {
      const addr = parseListenAddress(agentFlags(agent.command)['metrics-address']);
      expect(agent.livenessProbe.httpGet).to.deep.equal({ host: addr.host, path: '/healthz', port: addr.port });
      expect(agent.readinessProbe.httpGet).to.deep.equal({ host: addr.host, path: '/readyz', port: addr.port });
    });
  });

  describe('systemd unit', () => {
    const unit = read('systemd', 'nexthop.service');
    const keys = new Map<string, string>();
    for (const line of unit.replace(/\\\n\s*/g, ' ').split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (m) keys.set(m[1], m[2]);
    }

    it('restarts always, stops with SIGTERM (routes kept), owns /run/nexthop', () => {
      expect(keys.get('Restart')).to.equal('always');
      expect(keys.get('KillSignal')).to.equal('SIGTERM');
      expect(keys.get('RuntimeDirectory')).to.equal('nexthop');
      expect(keys.get('RuntimeDirectoryMode')).to.equal('0700');
      expect(unit).to.match(/SIGTERM[\s\S]*LEAVES ITS ROUTES IN THE FIB/);
    });

    it('runs `nexthop agent` with known flags only', () => {
      const args = keys.get('ExecStart')!.trim().split(/\s+/);
      expect(args[0]).to.equal('/usr/local/bin/nexthop');
      const flags = agentFlags(['nexthop', ...args.slice(1)]);
      expect(flags['control-socket']).to.equal(DEFAULT_CONTROL_SOCKET);
      expect(parseListenAddress(flags['metrics-address']).port).to.equal(DEFAULT_METRICS_PORT);
    });

    it('passes systemd-analyze verify (apart from the binary not being installed here)', function () {
      if (!has('systemd-analyze')) this.skip();
      const r = spawnSync('systemd-analyze', ['verify', repoPath('deploy', 'systemd', 'nexthop.service')], { encoding: 'utf8', timeout: 20000 });
      const complaints = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '' && !/\/usr\/local\/bin\/nexthop is not executable/.test(l));
      expect(complaints).to.deep.equal([]);
    });
  });

  describe('Dockerfile', () => {
    const df = read('Dockerfile');
    it('builds in one node:20-slim stage with npm ci and runs in another with iproute2 and nftables', () => {
      const froms = df.split('\n').filter((l) => l.startsWith('FROM '));
      expect(froms).to.deep.equal(['FROM node:20-slim AS build', 'FROM node:20-slim']);
      const [build, runtime] = df.split(/^FROM node:20-slim$/m);
      expect(build).to.match(/RUN npm ci /);
      expect(build).to.match(/npx tsc -p tsconfig\.json/);
      expect(runtime).to.match(/apt-get install -y --no-install-recommends[^\n]*\biproute2\b[^\n]*\bnftables\b/);
      expect(runtime).to.include('COPY --from=build /src/dist/src ./dist/src');
      // bin/nexthop loads dist/src/cli/main.js relative to itself.
      expect(fs.readFileSync(repoPath('bin', 'nexthop'), 'utf8')).to.include("path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js')");
    });
  });
});
