// The compiled `nexthop` CLI for integration tests: its path, a synchronous run (for short
// commands such as status/routes/get), and an agent's status over its control socket.
import * as path from 'path';
import { spawnSync } from 'child_process';
import type { AgentStatus } from '../../src/agent/status-types';

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
