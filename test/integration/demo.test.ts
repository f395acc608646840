// `nexthop demo` run for real, non-interactively (no terminal, as in CI): the whole story with
// 2 nodes per rack (real agents, BIRD ToR, CNI bridge pods, the live move to route reflectors)
// must exit 0 with a full ✓ ping matrix before and after the move, "0 lost", and leave no
// nhdemo- namespace, process or work directory behind; --keep must leave a lab one can query
// and `--cleanup` must remove it; SIGINT mid-build must clean up; no root → a polite refusal.
// Covers what the demo shows: RFC 4271 sessions, RFC 4456 reflection, RFC 4724 graceful restart.
import { expect } from 'chai';
import { spawn, spawnSync, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as os from 'os';
import { isRoot, listDemoNamespaces, pidAlive, pidsIn } from '../../src/demo/lab';
import { requireTool } from '../helpers/lab';
import { planTopology, torBirdConfig } from '../../src/demo/topology';

const MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

interface Finished { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/**
 * Starts `nexthop demo ARGS`. `unprivileged`: the demo command's modules are loaded as root, then
 * the process drops to nobody before running it, so the test does not depend on nobody being able to
 * read the checkout (a clone under a 0700 directory, say).
 */
function start(args: string[], opts: { unprivileged?: boolean } = {}): { child: ChildProcess; done: Promise<Finished>; output: () => string } {
  const argv = opts.unprivileged
    ? ['-e', `const demo = require(${JSON.stringify(path.join(path.dirname(MAIN), 'commands', 'demo.js'))});
        process.setgid(65534); process.setuid(65534);
        demo.run(${JSON.stringify(args)}).then((code) => { process.exitCode = code; });`]
    : [MAIN, 'demo', ...args];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const done = new Promise<Finished>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, output: () => stdout };
}

function namespacesOf(pid: number): string[] {
  return listDemoNamespaces().filter((n) => n.startsWith(`nhdemo-${pid}-`));
}

/** Removes whatever a failed run of `pid` left (its namespaces' processes by pid, then the namespaces). */
function removeRun(pid: number | undefined): void {
  if (pid === undefined) return;
  for (const ns of namespacesOf(pid)) {
    for (const p of pidsIn(ns)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

function workDirOf(out: string): string {
  const m = /work directory (\S+);/.exec(out);
  expect(m, 'the demo names its work directory').to.not.equal(null);
  return m![1];
}

/** Pids of `pids` still alive after waiting up to `timeoutMs` for them to go. */
async function survivors(pids: number[], timeoutMs = 3000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && pids.some(pidAlive)) await new Promise((r) => setTimeout(r, 100));
  return pids.filter(pidAlive);
}

async function waitForOutput(get: () => string, re: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (re.test(get())) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${re} in the demo's output:\n${get()}`);
}

describe('integration: nexthop demo', function () {
  this.timeout(180_000);
  let pid: number | undefined;

  before(function () {
    if (!isRoot()) this.skip();
    requireTool(this, 'the CNI plugins (/usr/lib/cni/bridge, package containernetworking-plugins)', fs.existsSync('/usr/lib/cni/bridge'));
    requireTool(this, 'bird (package bird2)', !spawnSync('bird', ['--version']).error);
  });

  afterEach(() => {
    removeRun(pid);
    pid = undefined;
  });

  it('tells the whole story (mesh, routes, ping matrix, live move to reflectors, 0 lost) and leaves nothing behind', async () => {
    const run = start(['--nodes-per-rack', '2', '--timeout', '150']);
    pid = run.child.pid;
    const r = await run.done;
    const out = r.stdout;
    expect(r.code, `exit code; output:\n${out}\n${r.stderr}`).to.equal(0);
    // Not a terminal: no escape sequences.
    expect(out).to.not.include('\x1b[');
    // Both matrices complete: 4 pods x 3 others + the ToR to 4 pods = 16 answers, no ✗ anywhere.
    expect(out.match(/all 16 pings answered ✓/g) ?? []).to.have.length(2);
    expect(out).to.not.include('✗');
    const lost = /sent (\d+), received (\d+), (\d+) lost/.exec(out);
    expect(lost, 'the continuous ping was counted').to.not.equal(null);
    expect(Number(lost![1])).to.be.greaterThan(20);
    expect(lost![3]).to.equal('0');
    expect(Number(lost![2])).to.equal(Number(lost![1]));
    // The story's content: sessions, direct and VXLAN routes, the session table after the move.
    expect(out).to.match(/node-to-node mesh\s+up/);
    expect(out).to.match(/route reflector\s+up/);
    expect(out).to.include('direct (same rack)');
    expect(out).to.include('vxlan (other rack)');
    expect(out).to.match(/removing the lab: \d+ processes stopped, 9 namespaces deleted/);
    expect(namespacesOf(pid!)).to.deep.equal([]);
    expect(fs.existsSync(workDirOf(out))).to.equal(false);
  });

  it('--etcd: the same story with the cluster state in a local etcd', async function () {
    requireTool(this, 'etcd (package etcd-server)', !spawnSync('etcd', ['--version']).error);
    const run = start(['--nodes-per-rack', '1', '--etcd', '--timeout', '150']);
    pid = run.child.pid;
    const r = await run.done;
    expect(r.code, `exit code; output:\n${r.stdout}\n${r.stderr}`).to.equal(0);
    expect(r.stdout).to.include('etcd:http://10.0.1.1:2379');
    expect(r.stdout.match(/all 4 pings answered ✓/g) ?? []).to.have.length(2);
    expect(r.stdout).to.match(/sent \d+, received \d+, 0 lost/);
    expect(namespacesOf(pid!)).to.deep.equal([]);
  });

  it('--keep leaves a lab that answers nexthop status; --cleanup removes it all', async () => {
    const run = start(['--nodes-per-rack', '1', '--keep', '--timeout', '150']);
    pid = run.child.pid;
    const r = await run.done;
    expect(r.code, `exit code; output:\n${r.stdout}\n${r.stderr}`).to.equal(0);
    const namespaces = namespacesOf(pid!);
    expect(namespaces).to.have.length(5);
    const daemons = namespaces.flatMap(pidsIn);
    expect(daemons.length, 'agents and BIRD still run').to.be.greaterThanOrEqual(3);
    // The printed command works as printed.
    const m = /sessions of a node:\s+(.+)/.exec(r.stdout);
    expect(m).to.not.equal(null);
    const [cmd, ...args] = m![1].trim().split(/\s+/);
    const status = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
    expect(status.status, status.stderr).to.equal(0);
    expect(status.stdout).to.include('Established');

    const clean = spawnSync(process.execPath, [MAIN, 'demo', '--cleanup'], { encoding: 'utf8', timeout: 30_000 });
    expect(clean.status, clean.stderr).to.equal(0);
    expect(clean.stdout).to.match(/removed \d+ namespaces/);
    expect(namespacesOf(pid!)).to.deep.equal([]);
    expect(await survivors(daemons), 'every daemon of the kept lab is gone').to.deep.equal([]);
    expect(fs.existsSync(workDirOf(r.stdout))).to.equal(false);
  });

  it('SIGINT while the agents start removes everything it made', async () => {
    const run = start(['--nodes-per-rack', '1', '--timeout', '120']);
    pid = run.child.pid;
    await waitForOutput(run.output, /▸ starting 2 agents/, 60_000);
    await new Promise((res) => setTimeout(res, 300));
    const daemons = namespacesOf(pid!).flatMap(pidsIn);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).to.equal(130);
    expect(r.stdout).to.include('SIGINT: stopping the demo');
    expect(namespacesOf(pid!)).to.deep.equal([]);
    expect(daemons.length).to.be.greaterThan(0);
    expect(await survivors(daemons)).to.deep.equal([]);
    expect(fs.existsSync(workDirOf(r.stdout))).to.equal(false);
  });

  it('refuses politely when not root, and a bad flag gets a usage line', async () => {
    const nobody = start([], { unprivileged: true });
    const r = await nobody.done;
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('needs root');
    expect(namespacesOf(nobody.child.pid!)).to.deep.equal([]);

    const bad = spawnSync(process.execPath, [MAIN, 'demo', '--nodes-per-rack', '0'], { encoding: 'utf8' });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.include('--nodes-per-rack');
    expect(bad.stderr).to.include('usage: nexthop demo');
  });
});

describe('integration: nexthop demo ToR config', () => {
  it('is accepted by the installed BIRD 2 (bird -p parses it)', function () {
    requireTool(this, 'bird (package bird2)', !spawnSync('bird', ['--version']).error);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nhdemo-test-'));
    try {
      for (const n of [1, 3]) {
        const conf = path.join(dir, `bird-${n}.conf`);
        fs.writeFileSync(conf, torBirdConfig(planTopology(n)));
        const r = spawnSync('bird', ['-p', '-c', conf], { encoding: 'utf8' });
        expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
