// Inter-process locking and atomic replacement for the file datastore, so that several agents on
// one machine share FILE.state.json safely: an O_EXCL-created lock file holding the owner's pid
// and start time; a lock whose owner process is gone, or that is older than `staleMs`, is
// broken (renamed away first, so two breakers cannot both succeed); writes go to a temporary
// file that is fsync'ed and renamed over the target. No RFC.

import * as fs from 'fs';
import { DatastoreError } from './errors';

export interface LockOptions {
  /** Give up (DatastoreError LOCKED) after this long. Default 10000 ms. */
  timeoutMs?: number;
  /** A lock older than this is stale even if its pid exists (pid reuse). Default 30000 ms. */
  staleMs?: number;
}

interface LockInfo { pid: number; time: number; token: string }

function readLock(p: string): LockInfo | null {
  try {
    const v = JSON.parse(fs.readFileSync(p, 'utf8')) as LockInfo;
    return typeof v.pid === 'number' && typeof v.time === 'number' ? v : null;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let tokenCounter = 0;

/** Holds `lockPath` while `fn` runs. */
export async function withLock<T>(lockPath: string, fn: () => Promise<T> | T, opts: LockOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10000;
  const staleMs = opts.staleMs ?? 30000;
  const token = `${process.pid}-${Date.now()}-${tokenCounter++}-${Math.random().toString(36).slice(2)}`;
  const deadline = Date.now() + timeoutMs;
  let wait = 2;
  for (;;) {
    try {
      const fd = fs.openSync(lockPath, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o644);
      try { fs.writeSync(fd, JSON.stringify({ pid: process.pid, time: Date.now(), token })); } finally { fs.closeSync(fd); }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DatastoreError('LOCKED', `cannot create lock ${lockPath}: ${(e as Error).message}`);
      }
    }
    const holder = readLock(lockPath);
    let stat: fs.Stats | null = null;
    try { stat = fs.statSync(lockPath); } catch { /* gone meanwhile */ }
    // An empty/partial lock file is being written right now unless it is old.
    const age = stat ? Date.now() - stat.mtimeMs : 0;
    const stale = stat !== null && ((holder !== null && !pidAlive(holder.pid)) || age > staleMs);
    if (stale) breakLock(lockPath, holder);
    else if (Date.now() > deadline) {
      throw new DatastoreError('LOCKED', `lock ${lockPath} held by pid ${holder?.pid ?? '?'} for ${Math.round(age)} ms; gave up after ${timeoutMs} ms`);
    } else {
      await new Promise((r) => setTimeout(r, wait + Math.random() * wait));
      wait = Math.min(50, wait * 2);
    }
  }
  try {
    return await fn();
  } finally {
    // Remove only our own lock (it may have been broken as stale if we stalled very long).
    const now = readLock(lockPath);
    if (now && now.token === token) fs.rmSync(lockPath, { force: true });
  }
}

/** Moves a stale lock aside atomically; if what we moved turns out to be fresh, puts it back. */
function breakLock(lockPath: string, judged: LockInfo | null): void {
  const aside = `${lockPath}.stale.${process.pid}.${tokenCounter++}`;
  try {
    fs.renameSync(lockPath, aside);
  } catch {
    return; // someone else broke it first
  }
  const moved = readLock(aside);
  if (judged && moved && moved.token !== judged.token) {
    // A new holder took the lock between our check and the rename: give it back.
    try { fs.linkSync(aside, lockPath); } catch { /* a third process holds it now; the holder we moved re-checks its token */ }
  }
  fs.rmSync(aside, { force: true });
}

/** Writes a file atomically (src/lib/fs.ts): the state file and resources are never seen half-written. */
export { writeFileAtomic } from '../lib/fs';
