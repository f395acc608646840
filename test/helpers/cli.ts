// The compiled `nexthop` CLI for integration tests: its path, a synchronous run (for short
// commands such as status/routes/get), an agent spawned in a lab namespace, and an agent's status
// over its control socket.
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync, type ChildProcess } from 'child_process';
import type { AgentStatus } from '../../src/agent/status-types';
import type { Lab } from './lab';

/** The compiled CLI entry point beside these compiled tests. */
export const CLI_MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

export interface CliResult { status: number; stdout: string; stderr: string }

/** Runs `nexthop ARGS` to completion (20 s at most). */
export function runCli(args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI_MAIN, ...args], { encoding: 'utf8', timeout: 20000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** `nexthop status --json` of the agent behind `socket`, or null when it does not answer. */
export function agentStatus(socket: string): AgentStatus | null {
  const r = runCli(['status', '--json', '--control-socket', socket]);
  return r.status === 0 ? JSON.parse(r.stdout) as AgentStatus : null;
}

/** A node whose agent an integration test runs: its namespace, its files under `dir`, its output in `log`. */
export interface AgentNode { name: string; ns: string; dir: string; log?: string; proc?: ChildProcess }

/** The agent's control socket under its node directory. */
export function agentSocket(n: { dir: string }): string {
  return path.join(n.dir, 'run', 'nexthop.sock');
}

/**
 * Spawns `nexthop agent` for `n` in its namespace (registered with `lab`: killed by pid at the
 * end) on the file datastore `yamlPath`, with its control socket, CNI conf, subnet.env and state
 * under n.dir, no metrics listener and info logging; `extra` adds flags. Its output is appended
 * to n.log.
 */
export function spawnAgent(lab: Lab, n: AgentNode, yamlPath: string, extra: string[] = []): ChildProcess {
  fs.mkdirSync(n.dir, { recursive: true, mode: 0o700 });
  const p = lab.spawn(n.ns, process.execPath, [CLI_MAIN, 'agent', '--node', n.name, '--datastore', `file:${yamlPath}`,
    '--control-socket', agentSocket(n), '--metrics-address', 'none', '--cni-conf-dir', path.join(n.dir, 'cni'),
    '--subnet-env', path.join(n.dir, 'subnet.env'), '--state-dir', path.join(n.dir, 'state'), '--log-level', 'info', ...extra]);
  p.stdout?.on('data', (d: Buffer) => { n.log = (n.log ?? '') + d.toString(); });
  p.stderr?.on('data', (d: Buffer) => { n.log = (n.log ?? '') + d.toString(); });
  n.proc = p;
  return p;
}
