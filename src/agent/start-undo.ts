// Undo of an abandoned agent start. Before the agent first changes the host, it takes a
// snapshot of everything its start may change there: our tunnel devices, the routes of our
// rtm_protocol, the forwarding sysctls, our firewall table (or iptables chains), and the files
// and directories it writes (CNI conflist, subnet.env, host-state file, socket and state dirs).
// When the start then fails, a second snapshot is taken and planUndo() (pure) lists exactly the
// differences THIS start made; applyUndo() reverts them. What a previous run left (a device, a
// route, a table that were there before) is in the first snapshot, so it is adopted and left
// alone - a failed start never removes the forwarding state a running cluster relies on.
//
// RFC 1812 §2.2.8.1 (the forwarding switch we put back), RFC 7348 (VXLAN device), RFC 4724 §4.1
// (a previous run's routes are the forwarding state a restart keeps: never removed here).

import * as fs from 'fs';
import * as path from 'path';
import type { NetlinkSocket } from '../dataplane/netlink/socket';
import { listRoutes, getLink, deleteLink } from '../dataplane/netlink/rtnl';
import { encodeRoute } from '../dataplane/netlink/codec';
import { AF_INET, AF_INET6, RTM_DELROUTE } from '../dataplane/netlink/constants';
import { KernelRoute, kernelRoute, toDeleteMsg } from '../dataplane/fib/route';
import { isErrno, ESRCH, ENOENT, ENODEV } from '../dataplane/links';
import { CommandRunner, runCommand, commandExists } from '../dataplane/exec';
import { NFT_FAMILY, NFT_TABLE, IPT_FORWARD_CHAIN, IPT_POSTROUTING_CHAIN, renderNftTeardown, Firewall } from '../dataplane/firewall';

/** What the host held, as far as an agent start can change it. */
export interface HostSnapshot {
  /** Our tunnel devices (by name) that exist. */
  devices: string[];
  /** Routes of our protocol, by route key (table/prefix/metric/tos/src). */
  routes: Record<string, KernelRoute>;
  /** sysctl key (net/ipv4/ip_forward) -> value, null when unreadable. */
  sysctls: Record<string, string | null>;
  /** File -> content, null when absent. */
  files: Record<string, string | null>;
  /** Directory -> exists. */
  dirs: Record<string, boolean>;
  /**
   * Our firewall state: for nft the text of `nft list table inet nexthop` (null: no table); for
   * iptables whether our chains exist; 'none' when the agent writes no firewall rules.
   */
  firewall: { backend: 'nft'; table: string | null } | { backend: 'iptables'; present: boolean } | { backend: 'none' };
}

export type UndoAction =
  | { kind: 'firewall-remove'; backend: 'nft' | 'iptables' }
  | { kind: 'firewall-restore'; table: string }
  | { kind: 'route'; key: string; prefix: string }
  | { kind: 'device'; name: string }
  | { kind: 'sysctl'; key: string; value: string }
  | { kind: 'file'; path: string; content: string | null }
  | { kind: 'dir'; path: string };

/** Pure: what to do to bring the host from `after` back to `before`, in the order to do it. */
export function planUndo(before: HostSnapshot, after: HostSnapshot): UndoAction[] {
  const out: UndoAction[] = [];
  const fb = before.firewall;
  const fa = after.firewall;
  if (fb.backend === 'nft' && fa.backend === 'nft') {
    if (fb.table === null && fa.table !== null) out.push({ kind: 'firewall-remove', backend: 'nft' });
    else if (fb.table !== null && fa.table !== fb.table) out.push({ kind: 'firewall-restore', table: fb.table });
  } else if (fb.backend === 'iptables' && fa.backend === 'iptables' && !fb.present && fa.present) {
    out.push({ kind: 'firewall-remove', backend: 'iptables' });
  }
  // Routes first (before their device goes), only those this start added.
  for (const [key, r] of Object.entries(after.routes)) if (!(key in before.routes)) out.push({ kind: 'route', key, prefix: r.prefix });
  for (const name of after.devices) if (!before.devices.includes(name)) out.push({ kind: 'device', name });
  for (const [key, value] of Object.entries(before.sysctls)) {
    if (value !== null && key in after.sysctls && after.sysctls[key] !== null && after.sysctls[key] !== value) out.push({ kind: 'sysctl', key, value });
  }
  for (const [file, content] of Object.entries(before.files)) {
    if (file in after.files && after.files[file] !== content) out.push({ kind: 'file', path: file, content });
  }
  // Directories we created, deepest first (each is removed only when empty).
  const made = Object.entries(before.dirs).filter(([d, existed]) => !existed && after.dirs[d]).map(([d]) => d);
  made.sort((a, b) => b.split(path.sep).length - a.split(path.sep).length || (a < b ? 1 : -1));
  for (const d of made) out.push({ kind: 'dir', path: d });
  return out;
}

/** Pure: one line per action, for the operator. */
export function describeUndo(a: UndoAction): string {
  switch (a.kind) {
    case 'firewall-remove': return a.backend === 'nft' ? `removed firewall table ${NFT_FAMILY} ${NFT_TABLE}` : `removed iptables chains ${IPT_FORWARD_CHAIN}, ${IPT_POSTROUTING_CHAIN}`;
    case 'firewall-restore': return `restored firewall table ${NFT_FAMILY} ${NFT_TABLE} as it was`;
    case 'route': return `removed route ${a.prefix}`;
    case 'device': return `removed device ${a.name}`;
    case 'sysctl': return `put sysctl ${a.key.replace(/\//g, '.')} back to ${a.value}`;
    case 'file': return a.content === null ? `removed ${a.path}` : `restored ${a.path}`;
    case 'dir': return `removed directory ${a.path}`;
  }
}

/** The directories on the way to `p` (its parents, outermost first), plus `p` itself when asked. */
function ancestors(p: string, self: boolean): string[] {
  const out: string[] = [];
  let d = path.resolve(self ? p : path.dirname(p));
  for (let i = 0; i < 64 && d !== path.dirname(d); i++) {
    out.unshift(d);
    d = path.dirname(d);
  }
  return out;
}

export interface SnapshotScope {
  socket: NetlinkSocket;
  /** Our rtm_protocol. */
  protocol: number;
  /** Our tunnel device names. */
  devices: string[];
  /** sysctl keys relative to /proc/sys. */
  sysctls: string[];
  /** Files the start may write (their parent directories are watched too). */
  files: string[];
  /** Directories the start may create. */
  dirs: string[];
  /** Whether the agent programs firewall rules. */
  firewall: boolean;
  procSysRoot?: string;
  run?: CommandRunner;
}

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Takes the snapshot of everything in `scope` (read-only). */
export async function captureHost(scope: SnapshotScope): Promise<HostSnapshot> {
  const run = scope.run ?? ((c, a, i) => runCommand(c, a, i));
  const devices: string[] = [];
  for (const name of scope.devices) if (await getLink(scope.socket, name)) devices.push(name);
  const routes: Record<string, KernelRoute> = {};
  for (const fam of [AF_INET, AF_INET6]) {
    for (const m of await listRoutes(scope.socket, fam)) {
      if (m.protocol !== scope.protocol) continue;
      const k = kernelRoute(m);
      if (k) routes[k.key] = k;
    }
  }
  const root = scope.procSysRoot ?? '/proc/sys';
  const sysctls: Record<string, string | null> = {};
  for (const key of scope.sysctls) sysctls[key] = readOrNull(path.join(root, key))?.trim() ?? null;
  const files: Record<string, string | null> = {};
  const dirs: Record<string, boolean> = {};
  for (const f of scope.files) {
    files[path.resolve(f)] = readOrNull(f);
    for (const d of ancestors(f, false)) dirs[d] = fs.existsSync(d);
  }
  for (const dir of scope.dirs) for (const d of ancestors(dir, true)) dirs[d] = fs.existsSync(d);
  let firewall: HostSnapshot['firewall'] = { backend: 'none' };
  if (scope.firewall) {
    if (await commandExists(run, 'nft', ['--version'])) {
      const r = await run('nft', ['list', 'table', NFT_FAMILY, NFT_TABLE]);
      firewall = { backend: 'nft', table: r.status === 0 ? r.stdout : null };
    } else if (await commandExists(run, 'iptables', ['--version'])) {
      const r = await run('iptables', ['-w', '5', '-t', 'filter', '-S', IPT_FORWARD_CHAIN]);
      firewall = { backend: 'iptables', present: r.status === 0 };
    }
  }
  return { devices, routes, sysctls, files, dirs, firewall };
}

/**
 * Reverts `actions` (from planUndo) on the host; `after` is the snapshot they were planned from
 * (it holds the exact identity of each route to delete). Every action is tried; returns what
 * was done and what failed, as lines for the operator.
 */
export async function applyUndo(actions: UndoAction[], after: HostSnapshot, scope: SnapshotScope): Promise<{ done: string[]; failed: string[] }> {
  const run = scope.run ?? ((c, a, i) => runCommand(c, a, i));
  const done: string[] = [];
  const failed: string[] = [];
  const root = scope.procSysRoot ?? '/proc/sys';
  for (const a of actions) {
    try {
      switch (a.kind) {
        case 'firewall-remove':
          if (a.backend === 'nft') {
            const r = await run('nft', ['-f', '-'], renderNftTeardown());
            if (r.status !== 0) throw new Error(r.stderr.trim());
          } else {
            await new Firewall({ run, backend: 'iptables' }).teardown();
          }
          break;
        case 'firewall-restore': {
          const r = await run('nft', ['-f', '-'], `${renderNftTeardown()}${a.table}`);
          if (r.status !== 0) throw new Error(r.stderr.trim());
          break;
        }
        case 'route': {
          // The delete carries our protocol: the kernel refuses to remove anyone else's route.
          const k = after.routes[a.key];
          await scope.socket.request(RTM_DELROUTE, 0, encodeRoute(toDeleteMsg(k)), `delete route ${k.prefix}`);
          break;
        }
        case 'device': {
          const l = await getLink(scope.socket, a.name);
          if (l) await deleteLink(scope.socket, l.index);
          break;
        }
        case 'sysctl':
          fs.writeFileSync(path.join(root, a.key), `${a.value}\n`);
          break;
        case 'file':
          if (a.content === null) fs.rmSync(a.path, { force: true });
          else fs.writeFileSync(a.path, a.content);
          break;
        case 'dir':
          // Only an empty directory goes: anything else in it is not ours to remove.
          if (fs.existsSync(a.path) && fs.readdirSync(a.path).length === 0) fs.rmdirSync(a.path);
          else if (fs.existsSync(a.path)) throw new Error('not empty; left in place');
          break;
      }
      done.push(describeUndo(a));
    } catch (e) {
      // A route or device the kernel already dropped (with its device) is gone: nothing to undo.
      if ((a.kind === 'route' || a.kind === 'device') && isErrno(e, ESRCH, ENOENT, ENODEV)) { done.push(describeUndo(a)); continue; }
      failed.push(`not undone (${describeUndo(a)}): ${(e as Error).message}`);
    }
  }
  return { done, failed };
}
