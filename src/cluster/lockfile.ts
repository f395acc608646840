// Inter-process locking and atomic replacement for the file datastore, so that several agents on
// one machine share FILE.state.json safely: an O_EXCL-created lock file holding the owner's pid
// and start time; a lock whose owner process is gone, or that is older than `staleMs`, is
// broken (only while it is still the lock that was judged, one breaker at a time); writes go to a temporary
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

function parseLock(text: string | null): LockInfo | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as LockInfo;
    return typeof v.pid === 'number' && typeof v.time === 'number' ? v : null;
  } catch {
    return null;
  }
}

function readText(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

function readLock(p: string): LockInfo | null {
  return parseLock(readText(p));
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
    const text = readText(lockPath);
    const holder = parseLock(text);
    let stat: fs.Stats | null = null;
    try { stat = fs.statSync(lockPath); } catch { /* gone meanwhile */ }
    // An empty/partial lock file is being written right now unless it is old.
    const age = stat ? Date.now() - stat.mtimeMs : 0;
    const stale = text !== null && stat !== null && ((holder !== null && !pidAlive(holder.pid)) || age > staleMs);
    if (stale && breakLock(lockPath, text, staleMs)) continue;
    if (Date.now() > deadline) {
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

/**
 * Removes a lock judged stale, but only if it is still the very lock that was judged (same
 * content: owner pid, time and token). Breakers take turns through a second O_EXCL lock file, so
 * between the re-check and the unlink nobody else can remove the judged lock, and nobody can
 * create a new one while it exists: a live holder's lock is never touched. (The earlier
 * rename-aside-and-put-back scheme could lose a live holder's lock to a third process in the
 * instant between the rename and the put-back, letting two processes write the state at once.)
 * A breaker that died while holding the break lock leaves it behind; it is removed once older
 * than `staleMs`. True when the judged lock was removed.
 */
export function breakLock(lockPath: string, judged: string, staleMs: number): boolean {
  const breakPath = `${lockPath}.break`;
  let fd: number;
  try {
    fd = fs.openSync(breakPath, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return false;
    try {
      if (Date.now() - fs.statSync(breakPath).mtimeMs > staleMs) fs.rmSync(breakPath, { force: true });
    } catch { /* gone meanwhile */ }
    return false; // another process is breaking it; the caller waits and looks again
  }
  try {
    fs.closeSync(fd);
    if (readText(lockPath) !== judged) return false;
    fs.rmSync(lockPath, { force: true });
    return true;
  } finally {
    fs.rmSync(breakPath, { force: true });
  }
}

/** Writes a file atomically (src/lib/fs.ts): the state file and resources are never seen half-written. */
export { writeFileAtomic } from '../lib/fs';
