// bin/nexthop, the launcher: `agent` runs under node --max-semi-space-size=4 (re-executed when
// neither the node command line nor NODE_OPTIONS sets it), other subcommands run in-process;
// exit codes, stdio and a terminating signal come through unchanged. The launcher is copied
// into a temporary tree whose dist/ is this build (or a stand-in main.js that reports what it
// saw). No RFC.
import { expect } from 'chai';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { repoPath } from '../../helpers/repo';

const BIN = repoPath('bin', 'nexthop');
/** The compiled tree this test runs from (dist/ in CI, an --outDir elsewhere): it has src/cli/main.js. */
const BUILD = path.join(__dirname, '..', '..', '..');

interface Launcher { needsSemiSpaceReexec(args: string[], execArgv: string[], env: NodeJS.ProcessEnv): boolean }
const launcher = require(BIN) as Launcher;

/** A copy of bin/nexthop in tmp/bin with tmp/dist pointing at `dist`. */
function tree(dist: string): { dir: string; bin: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nh-bin-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.copyFileSync(BIN, path.join(dir, 'bin', 'nexthop'));
  fs.symlinkSync(dist, path.join(dir, 'dist'));
  return { dir, bin: path.join(dir, 'bin', 'nexthop') };
}

/** The environment without any NODE_OPTIONS or re-exec marker of the test runner itself. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!('NODE_OPTIONS' in extra)) delete env.NODE_OPTIONS;
  delete env.NEXTHOP_REEXECUTED;
  return env;
}

// A stand-in CLI: prints the node flags it runs under, then exits with the code in its first
// argument, or waits (for the signal test) when that is "wait".
const STAND_IN = `'use strict';
exports.main = async (args) => {
  process.stdout.write(JSON.stringify({ execArgv: process.execArgv, args, pid: process.pid }) + '\\n');
  if (args[1] === 'wait') return new Promise(() => { setInterval(() => {}, 1000); });
  return Number(args[1] ?? 0);
};
`;

describe('bin/nexthop', function () {
  this.timeout(30000);
  const dirs: string[] = [];
  after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

  it('decides to re-execute only for agent, only without the flag in execArgv or NODE_OPTIONS', () => {
    const f = launcher.needsSemiSpaceReexec;
    expect(f(['agent', '--node', 'n1'], [], {})).to.equal(true);
    expect(f(['decode', 'x.bin'], [], {})).to.equal(false);
    expect(f([], [], {})).to.equal(false);
    expect(f(['agent'], ['--max-semi-space-size=4'], {})).to.equal(false);
    expect(f(['agent'], ['--max_semi_space_size=4'], {})).to.equal(false);
    expect(f(['agent'], [], { NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=2' })).to.equal(false);
    expect(f(['agent'], [], { NODE_OPTIONS: '--max-old-space-size=512' })).to.equal(true);
    expect(f(['agent'], [], { NEXTHOP_REEXECUTED: '1' })).to.equal(false);
  });

  it('runs the real decode in-process: output and exit codes unchanged', () => {
    const t = tree(BUILD); dirs.push(t.dir);
    const ok = spawnSync(t.bin, ['decode', '--hex', '-'], { input: `${'ff'.repeat(16)} 0013 04`, encoding: 'utf8', env: cleanEnv() });
    expect(ok.status, ok.stderr).to.equal(0);
    expect(JSON.parse(ok.stdout.trim()).message).to.deep.equal({ type: 'keepalive' });
    const missing = spawnSync(t.bin, ['decode', '/nonexistent/file.bin'], { encoding: 'utf8', env: cleanEnv() });
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.match(/cannot read/);
  });

  it('runs the real `agent --help` (re-executed) with exit 0, and a bad agent flag with exit 2', () => {
    const t = tree(BUILD); dirs.push(t.dir);
    const help = spawnSync(t.bin, ['agent', '--help'], { encoding: 'utf8', env: cleanEnv() });
    expect(help.status, help.stderr).to.equal(0);
    expect(help.stdout).to.match(/nexthop agent/);
    const bad = spawnSync(t.bin, ['agent', '--no-such-flag'], { encoding: 'utf8', env: cleanEnv() });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/no-such-flag/);
  });

  it('gives agent the flag once, keeps other flags and NODE_OPTIONS, and passes exit codes through', () => {
    const fake = fs.mkdtempSync(path.join(os.tmpdir(), 'nh-bin-dist-')); dirs.push(fake);
    fs.mkdirSync(path.join(fake, 'src', 'cli'), { recursive: true });
    fs.writeFileSync(path.join(fake, 'src', 'cli', 'main.js'), STAND_IN);
    const t = tree(fake); dirs.push(t.dir);
    const seen = (args: string[], env = cleanEnv(), nodeArgs: string[] = []) => {
      const r = spawnSync(process.execPath, [...nodeArgs, t.bin, ...args], { encoding: 'utf8', env });
      return { status: r.status, ...JSON.parse(r.stdout.trim()) as { execArgv: string[]; args: string[] } };
    };
    expect(seen(['agent', '7'])).to.deep.include({ status: 7, execArgv: ['--max-semi-space-size=4'], args: ['agent', '7'] });
    expect(seen(['agent', '0'], cleanEnv(), ['--stack-size=2000']).execArgv).to.deep.equal(['--max-semi-space-size=4', '--stack-size=2000']);
    expect(seen(['status', '3'])).to.deep.include({ status: 3, execArgv: [] });
    expect(seen(['agent', '0'], cleanEnv({ NODE_OPTIONS: '--max-semi-space-size=4' })).execArgv).to.deep.equal([]);
    expect(seen(['agent', '0'], cleanEnv(), ['--max-semi-space-size=2']).execArgv).to.deep.equal(['--max-semi-space-size=2']);
  });

  it('the deploy files start the agent with the flag in NODE_OPTIONS (no re-executed second process)', () => {
    const read = (...p: string[]) => fs.readFileSync(repoPath('deploy', ...p), 'utf8');
    expect(read('Dockerfile')).to.match(/^ENV NODE_OPTIONS=--max-semi-space-size=4$/m);
    expect(read('systemd', 'nexthop.service')).to.match(/^Environment=NODE_OPTIONS=--max-semi-space-size=4$/m);
    expect(read('kubernetes', 'nexthop-daemonset.yaml')).to.match(/- name: NODE_OPTIONS\n\s+value: --max-semi-space-size=4\n/);
    const env = { NODE_OPTIONS: '--max-semi-space-size=4' };
    expect(launcher.needsSemiSpaceReexec(['agent'], [], env)).to.equal(false);
  });

  it('passes SIGTERM to the re-executed agent and ends by the same signal', async () => {
    const fake = fs.mkdtempSync(path.join(os.tmpdir(), 'nh-bin-dist-')); dirs.push(fake);
    fs.mkdirSync(path.join(fake, 'src', 'cli'), { recursive: true });
    fs.writeFileSync(path.join(fake, 'src', 'cli', 'main.js'), STAND_IN);
    const t = tree(fake); dirs.push(t.dir);
    const p = spawn(t.bin, ['agent', 'wait'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const childPid = await new Promise<number>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no output from the launcher: ${out}`)), 15000);
        p.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) { clearTimeout(timer); resolve((JSON.parse(out.trim()) as { pid: number }).pid); }
        });
      });
      expect(childPid).to.not.equal(p.pid);
      const ended = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => p.on('exit', (c, s) => resolve([c, s])));
      p.kill('SIGTERM');
      expect(await ended).to.deep.equal([null, 'SIGTERM']);
      let alive = true;
      try { process.kill(childPid, 0); } catch { alive = false; }
      expect(alive, 'the re-executed child is gone').to.equal(false);
    } finally {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  });
});
