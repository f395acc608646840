// The file datastore with real processes: several child processes claiming blocks from one
// state file at once (lock file + atomic rename), a stale lock left by a dead process, and the
// watch: an edit is picked up, a bad edit is reported while the last good state stays.
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Lab, waitFor } from '../helpers/lab';
import { FileDatastore } from '../../src/cluster/file';
import { ClusterEvent } from '../../src/cluster/keys';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const lab = new Lab('file');

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Started through the lab: killed by pid when the suite ends, whatever happens.
    const p = lab.spawn(null, process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (c) => { stdout += c; });
    p.stderr!.on('data', (c) => { stderr += c; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`nexthop ${args.join(' ')} timed out`)); }, 60000);
    p.on('exit', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
  });
}

const POOL = `# the pool
apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: pods}
spec: {cidr: 10.50.0.0/20}
`;
const nodeDoc = (n: string) => `---\napiVersion: nexthop.io/v1\nkind: Node\nmetadata: {name: ${n}}\nspec: {bgp: {ipv4Address: 10.0.0.1/24}}\n`;

describe('integration: cluster file datastore', function () {
  this.timeout(120000);
  after(async () => { await lab.destroy(); });

  it('lets 12 processes claim from one state file at once without a duplicate, leaving the YAML untouched', async () => {
    const dir = lab.tempDir();
    const file = path.join(dir, 'cluster.yaml');
    const names = Array.from({ length: 12 }, (_, i) => `n${i}`);
    const yaml = POOL + names.map(nodeDoc).join('');
    fs.writeFileSync(file, yaml);
    const results = await Promise.all(names.map((n) => cli(['ipam', 'claim', '--node', n, '-o', 'json', '--datastore', `file:${file}`])));
    for (const r of results) expect(r.code, r.stderr).to.equal(0);
    const blocks = results.map((r) => (JSON.parse(r.stdout) as { cidr: string }[])[0].cidr);
    expect(new Set(blocks).size).to.equal(12);
    expect(fs.readFileSync(file, 'utf8')).to.equal(yaml);
    const state = JSON.parse(fs.readFileSync(`${file}.state.json`, 'utf8')) as { entries: Record<string, string> };
    expect(Object.keys(state.entries).filter((k) => k.startsWith('ipam/blocks/'))).to.have.length(12);
    expect(fs.existsSync(`${file}.state.json.lock`)).to.equal(false);
    // A second round (agents restarting) gets the same blocks.
    const again = await Promise.all(names.map((n) => cli(['ipam', 'claim', '--node', n, '-o', 'json', '--datastore', `file:${file}`])));
    expect(again.map((r) => (JSON.parse(r.stdout) as { cidr: string }[])[0].cidr)).to.deep.equal(blocks);
  });

  it('breaks a lock left by a dead process', async () => {
    const dir = lab.tempDir();
    const file = path.join(dir, 'cluster.yaml');
    fs.writeFileSync(file, POOL + nodeDoc('a'));
    // A pid that cannot be alive (above pid_max's default range) holds the lock.
    fs.writeFileSync(`${file}.state.json.lock`, JSON.stringify({ pid: 4194303, time: Date.now(), token: 'dead' }));
    const ds = new FileDatastore(file, { timeoutMs: 3000 });
    const [b] = await ds.claimBlocks('a');
    expect(b.cidr).to.equal('10.50.0.0/24');
    expect(fs.existsSync(`${file}.state.json.lock`)).to.equal(false);
    await ds.close();
  });

  it('times out with a precise error on a lock held by a live process', async () => {
    const dir = lab.tempDir();
    const file = path.join(dir, 'cluster.yaml');
    fs.writeFileSync(file, POOL + nodeDoc('a'));
    fs.writeFileSync(`${file}.state.json.lock`, JSON.stringify({ pid: process.pid, time: Date.now(), token: 'live' }));
    const ds = new FileDatastore(file, { timeoutMs: 300 });
    try {
      await ds.claimBlocks('a');
      expect.fail('claimed while the lock was held');
    } catch (e) {
      expect((e as Error).message).to.match(/lock .*cluster.yaml.state.json.lock held by pid \d+ .*gave up after 300 ms/);
    }
    await ds.close();
  });

  it('re-reads the file on change, reports a bad edit and keeps the last good state', async () => {
    const dir = lab.tempDir();
    const file = path.join(dir, 'cluster.yaml');
    fs.writeFileSync(file, POOL + nodeDoc('a'));
    const ds = new FileDatastore(file, { pollMs: 200, debounceMs: 50 });
    const events: ClusterEvent[] = [];
    const problems: string[] = [];
    ds.on('change', (evs) => events.push(...evs));
    ds.on('problem', (p) => problems.push(p));
    await ds.watch();
    expect(ds.state.resources().map((r) => r.metadata.name)).to.deep.equal(['pods', 'a']);
    // An editor-style replace (write elsewhere, rename over).
    fs.writeFileSync(`${file}.tmp`, POOL + nodeDoc('a') + nodeDoc('b'));
    fs.renameSync(`${file}.tmp`, file);
    await waitFor('node b', () => events.some((e) => e.key === 'resources/nodes/b'), 5000, 50);
    const count = events.length;
    // A bad edit: reported, nothing deleted.
    fs.writeFileSync(file, POOL + nodeDoc('a') + nodeDoc('b').replace('ipv4Address: 10.0.0.1/24', 'ipv4Address: 10.0.0.300/24'));
    await waitFor('problem report', () => problems.length > 0, 5000, 50);
    expect(problems[0]).to.match(/document 3 \(Node\/b\): spec.bgp.ipv4Address: '10.0.0.300\/24' is not an IPv4 address/);
    expect(events.length).to.equal(count);
    expect(ds.state.resources().map((r) => r.metadata.name)).to.include('b');
    // Another process claims a block: the state file change shows up as an event too.
    const r = await cli(['ipam', 'claim', '--node', 'a', '--datastore', `file:${file}`]);
    expect(r.code).to.equal(1); // the YAML is bad right now: the CLI refuses to use it
    expect(r.stderr).to.match(/is not an IPv4 address/);
    fs.writeFileSync(file, POOL + nodeDoc('a'));
    await waitFor('b removed after the fix', () => events.some((e) => e.type === 'delete' && e.key === 'resources/nodes/b'), 5000, 50);
    const r2 = await cli(['ipam', 'claim', '--node', 'a', '--datastore', `file:${file}`]);
    expect(r2.code, r2.stderr).to.equal(0);
    await waitFor('block event', () => events.some((e) => e.item.what === 'block'), 5000, 50);
    await ds.close();
  });

  it('says once which Calico fields it accepts without acting on them, and again only for a new one', async () => {
    const dir = lab.tempDir();
    const file = path.join(dir, 'cluster.yaml');
    const config = (extra: string) => `---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: {asNumber: 64512, bindMode: NodeIP${extra}}\n`;
    fs.writeFileSync(file, POOL + nodeDoc('a') + config(''));
    const ds = new FileDatastore(file, { pollMs: 200, debounceMs: 50 });
    const warnings: string[] = [];
    const events: ClusterEvent[] = [];
    ds.on('warning', (w) => warnings.push(w));
    ds.on('change', (evs) => events.push(...evs));
    await ds.watch();
    expect(warnings, warnings.join('\n')).to.have.length(1);
    expect(warnings[0]).to.match(/cluster\.yaml.*document 3 \(BGPConfiguration\/default\).*spec\.bindMode.*not used by nexthop/);
    // A re-read with the same field says nothing new; a second unused field is reported alone.
    fs.writeFileSync(file, POOL + nodeDoc('a') + nodeDoc('b') + config(''));
    await waitFor('node b', () => events.some((e) => e.key === 'resources/nodes/b'), 5000, 50);
    expect(warnings).to.have.length(1);
    fs.writeFileSync(file, POOL + nodeDoc('a') + nodeDoc('b') + config(', ignoredInterfaces: [eth9]'));
    await waitFor('second warning', () => warnings.length > 1, 5000, 50);
    expect(warnings).to.have.length(2);
    expect(warnings[1]).to.match(/spec\.ignoredInterfaces/);
    await ds.close();
  });
});
