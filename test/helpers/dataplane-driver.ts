// A one-node dataplane driver for lab tests: run INSIDE a node's namespace
// (`ip netns exec NODE node dataplane-driver.js apply|teardown CONFIG.json`), it builds the real
// Dataplane on sockets of that namespace - the same path the agent takes - applies the cluster
// view and a static route feed (the BGP speaker is not involved), or tears everything down, and
// prints a JSON report on stdout. Each run is a fresh process, so `teardown` also proves that a
// restarted agent removes what an earlier run added. Refuses to run anywhere but the namespace its config names.
import * as fs from 'fs';
import { Dataplane, ClusterView } from '../../src/dataplane/dataplane';
import { FibReconciler } from '../../src/dataplane/fib/reconciler';
import { NetlinkSocket } from '../../src/dataplane/netlink/socket';
import { LocRibRoute } from '../../src/dataplane/nexthop-decision';
import { FirewallBackend } from '../../src/dataplane/firewall';

export interface DriverConfig {
  /** The namespace the driver must find itself in (checked before anything is touched). */
  netns: string;
  cluster: ClusterView;
  routes: LocRibRoute[];
  cni: { conflistPath: string; subnetEnvPath?: string; ipamDataDir?: string; bridge?: string } | false;
  hostStatePath: string;
  firewall: { backend?: FirewallBackend } | false;
}

/**
 * True when this process runs in the named namespace (/run/netns/NAME is the same nsfs inode as
 * our own). A positive check: the driver runs only where the test meant it to, never elsewhere.
 */
function inNamespace(name: string): boolean {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) return false;
  try {
    const self = fs.statSync('/proc/self/ns/net');
    const want = fs.statSync(fs.existsSync(`/run/netns/${name}`) ? `/run/netns/${name}` : `/var/run/netns/${name}`);
    return self.ino === want.ino && self.dev === want.dev;
  } catch {
    return false;
  }
}

async function main(): Promise<number> {
  const [command, configPath] = process.argv.slice(2);
  if ((command !== 'apply' && command !== 'teardown') || !configPath) {
    process.stderr.write('usage: dataplane-driver apply|teardown CONFIG.json (inside ip netns exec NODE)\n');
    return 2;
  }
  const config = JSON.parse(fs.readFileSync(configPath, 'utf8')) as DriverConfig;
  if (!inNamespace(config.netns)) {
    process.stderr.write(`dataplane-driver: not running inside namespace "${config.netns}"; refusing\n`);
    return 2;
  }
  const socket = NetlinkSocket.open();
  const fib = FibReconciler.open({ monitor: false, resyncIntervalMs: 0, retryIntervalMs: 200 });
  const dp = new Dataplane({ socket, fib, cni: config.cni, hostStatePath: config.hostStatePath, firewall: config.firewall });
  try {
    if (command === 'apply') {
      const report = await dp.start(config.cluster, config.routes);
      const failures = fib.failures().map((f) => f.message);
      const status = dp.status();
      process.stdout.write(JSON.stringify({
        ok: report.failed.length === 0,
        added: report.added, replaced: report.replaced, deleted: report.deleted,
        failed: report.failed.map((f) => f.message), failures,
        skipped: status.skipped,
        mtu: status.plan?.cni.options.mtu,
      }) + '\n');
      await dp.stop();
      return report.failed.length === 0 ? 0 : 1;
    }
    const removed = await dp.teardown(config.cluster);
    process.stdout.write(JSON.stringify({ ok: true, removed }) + '\n');
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string; module?: string; config?: string };
    process.stdout.write(JSON.stringify({ ok: false, error: err.name, code: err.code, module: err.module, config: err.config, message: err.message }) + '\n');
    try { await fib.stop(); } catch { /* already stopped */ }
    return 1;
  } finally {
    if (!socket.isClosed) socket.close();
  }
}

main().then((rc) => process.exit(rc), (e) => {
  process.stderr.write(`dataplane-driver: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
