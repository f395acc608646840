// Datastore specs (--datastore / NEXTHOP_DATASTORE) and the file lock.
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseDatastoreSpec, openDatastore } from '../../../src/cluster/open';
import { DatastoreError } from '../../../src/cluster/errors';
import { breakLock, withLock, writeFileAtomic } from '../../../src/cluster/lockfile';
import { FileDatastore } from '../../../src/cluster/file';

describe('cluster/open', () => {
  it('parses etcd and file specs', () => {
    expect(parseDatastoreSpec('etcd:https://10.0.0.1:2379,https://10.0.0.2:2379')).to.deep.equal(
      { type: 'etcd', endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'], prefix: undefined });
    expect(parseDatastoreSpec('etcd:http://127.0.0.1:1?prefix=/x/')).to.deep.include({ prefix: '/x/' });
    expect(parseDatastoreSpec('file:/etc/nexthop/c.yaml')).to.deep.equal({ type: 'file', path: '/etc/nexthop/c.yaml' });
    expect(parseDatastoreSpec('file://rel.yaml')).to.deep.equal({ type: 'file', path: 'rel.yaml' });
  });
  it('rejects bad specs precisely', () => {
    const bad: [string, RegExp][] = [
      ['etcd', /no backend type/], ['zk:x', /unknown backend 'zk'/], ['etcd:', /no endpoint/],
      ['etcd:127.0.0.1:2379', /must be http/], ['etcd:http://h', /has no port/], ['etcd:http://h:1?x=1', /unknown parameter 'x'/],
      ['file:', /no file path/], ['etcd:http://10.0.0.1:2379,https://10.0.0.2:2379', /mix http:\/\/ and https:\/\//],
    ];
    for (const [spec, re] of bad) {
      expect(() => parseDatastoreSpec(spec, {}), spec).to.throw(DatastoreError, re);
    }
  });
  it('falls back to NEXTHOP_DATASTORE', () => {
    const saved = process.env.NEXTHOP_DATASTORE;
    try {
      process.env.NEXTHOP_DATASTORE = 'file:/nonexistent/c.yaml';
      expect(openDatastore(undefined)).to.be.instanceOf(FileDatastore);
      delete process.env.NEXTHOP_DATASTORE;
      expect(() => openDatastore(undefined)).to.throw(/no datastore/);
    } finally {
      if (saved === undefined) delete process.env.NEXTHOP_DATASTORE; else process.env.NEXTHOP_DATASTORE = saved;
    }
  });
});

describe('cluster/lockfile', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nh-lock-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('serializes critical sections in one process and removes the lock', async () => {
    const lock = path.join(dir, 'l');
    let inside = 0;
    let maxInside = 0;
    await Promise.all(Array.from({ length: 20 }, () => withLock(lock, async () => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await new Promise((r) => setTimeout(r, 2));
      inside--;
    })));
    expect(maxInside).to.equal(1);
    expect(fs.existsSync(lock)).to.equal(false);
  });

  it('treats an old lock as stale even when its pid exists', async () => {
    const lock = path.join(dir, 'l');
    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, time: 0, token: 'old' }));
    const old = new Date(Date.now() - 60000);
    fs.utimesSync(lock, old, old);
    expect(await withLock(lock, () => 42, { staleMs: 1000, timeoutMs: 2000 })).to.equal(42);
  });

  it('breaks only the lock it judged stale: a live holder that took over meanwhile keeps its lock', () => {
    const lock = path.join(dir, 'l');
    const dead = JSON.stringify({ pid: 4194303, time: 1, token: 'dead' });
    const live = JSON.stringify({ pid: process.pid, time: Date.now(), token: 'live' });
    // The dead holder's lock was released and a live process created its own before we broke it.
    fs.writeFileSync(lock, live);
    expect(breakLock(lock, dead, 30000)).to.equal(false);
    expect(fs.readFileSync(lock, 'utf8')).to.equal(live);
    // The judged lock is still there: it goes, and the break lock is not left behind.
    fs.writeFileSync(lock, dead);
    expect(breakLock(lock, dead, 30000)).to.equal(true);
    expect(fs.readdirSync(dir)).to.deep.equal([]);
  });

  it('breakers take turns; a break lock left by a dead breaker goes once it is old', () => {
    const lock = path.join(dir, 'l');
    const dead = JSON.stringify({ pid: 4194303, time: 1, token: 'dead' });
    fs.writeFileSync(lock, dead);
    fs.writeFileSync(`${lock}.break`, '');
    expect(breakLock(lock, dead, 30000)).to.equal(false);
    expect(fs.existsSync(lock)).to.equal(true);
    const old = new Date(Date.now() - 60000);
    fs.utimesSync(`${lock}.break`, old, old);
    expect(breakLock(lock, dead, 30000)).to.equal(false); // removes the old break lock only
    expect(breakLock(lock, dead, 30000)).to.equal(true);
    expect(fs.readdirSync(dir)).to.deep.equal([]);
  });

  it('writes atomically', () => {
    const f = path.join(dir, 'f');
    writeFileAtomic(f, 'one');
    writeFileAtomic(f, 'two');
    expect(fs.readFileSync(f, 'utf8')).to.equal('two');
    expect(fs.readdirSync(dir)).to.deep.equal(['f']);
  });
});
