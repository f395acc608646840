// Running the host's own tools (nft, iptables-restore, ...) without a shell: argv arrays, input on
// stdin, a timeout, and a typed error that carries the command and its stderr for the operator.
// A CommandRunner is a parameter everywhere it is used, so callers choose the namespace: the agent
// runs them in its own, tests may prefix `ip netns exec NS`.
// No RFC: process execution only.

import { spawn } from 'child_process';

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

export type CommandRunner = (cmd: string, args: string[], input?: string) => Promise<CommandResult>;

export class CommandError extends Error {
  readonly code = 'COMMAND_FAILED';
  constructor(readonly command: string, readonly status: number, readonly stderr: string) {
    super(`${command} failed with status ${status}: ${stderr.trim() || '(no output)'}`);
    this.name = 'CommandError';
  }
}

/** Runs a command directly (no shell) in this process's namespaces; never throws for a non-zero exit. */
export function runCommand(cmd: string, args: string[], input?: string, timeoutMs = 15000): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', (e: NodeJS.ErrnoException) => resolve({ status: e.code === 'ENOENT' ? 127 : 126, stdout, stderr: `${stderr}${e.message}` }));
    child.on('close', (code, signal) => resolve({ status: code ?? (signal ? 128 : 1), stdout, stderr: signal ? `${stderr}killed by ${signal}` : stderr }));
    child.stdin.on('error', () => { /* the child exited before reading its input; its status says why */ });
    child.stdin.end(input ?? '');
  });
}

/** A runner that executes inside network namespace `ns` (for tests and tools, via `ip netns exec`). */
export function netnsRunner(ns: string): CommandRunner {
  return (cmd, args, input) => runCommand('ip', ['netns', 'exec', ns, cmd, ...args], input);
}

/** Runs and throws CommandError unless the exit status is 0; returns stdout. */
export async function mustRun(run: CommandRunner, cmd: string, args: string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input);
  if (r.status !== 0) throw new CommandError(`${cmd} ${args.join(' ')}`, r.status, r.stderr);
  return r.stdout;
}

/** True when `cmd` can be started (exit status 127 means it is not installed). */
export async function commandExists(run: CommandRunner, cmd: string, versionArgs: string[] = ['--version']): Promise<boolean> {
  const r = await run(cmd, versionArgs);
  // 127: not found by spawn; `ip netns exec` reports a missing program as its own failure.
  return r.status !== 127 && !/exec of "?[^ ]+"? failed: No such file/.test(r.stderr);
}
