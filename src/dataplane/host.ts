// Host forwarding switches: net.ipv4.ip_forward (RFC 1812 §2.2.8.1 - a router forwards only when
// configured to) and, for IPv6 pools, net.ipv6.conf.all.forwarding (RFC 8504 §2: hosts do not
// forward by default). Written through /proc/sys of the namespace this process runs in. apply()
// is idempotent and records each value it changes (in memory, and in a state file when given, so
// a restarted agent still knows); teardown() puts back exactly those values and nothing else.

import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from './cni';

export const SYSCTL_IPV4_FORWARD = 'net/ipv4/ip_forward';
export const SYSCTL_IPV6_FORWARD = 'net/ipv6/conf/all/forwarding';

export class SysctlError extends Error {
  readonly code = 'SYSCTL';
  constructor(readonly key: string, readonly file: string, detail: string) {
    super(`sysctl ${key.replace(/\//g, '.')}: ${detail} (${file})`);
    this.name = 'SysctlError';
  }
}

export interface HostSetupOptions {
  /** Root of the sysctl tree; default /proc/sys (tests point it at a copy). */
  procSysRoot?: string;
  /** File that keeps the values we replaced, so teardown works after a restart. */
  statePath?: string;
}

interface HostState {
  /** sysctl key -> { before: value found, ours: value we wrote }. */
  sysctls: Record<string, { before: string; ours: string }>;
}

/** The sysctls a node needs for its pools. */
export function desiredSysctls(families: { ipv4: boolean; ipv6: boolean }): Record<string, string> {
  const out: Record<string, string> = {};
  if (families.ipv4) out[SYSCTL_IPV4_FORWARD] = '1';
  if (families.ipv6) out[SYSCTL_IPV6_FORWARD] = '1';
  return out;
}

export class HostSetup {
  private readonly root: string;
  private readonly statePath: string | undefined;
  private state: HostState;

  constructor(opts: HostSetupOptions = {}) {
    this.root = opts.procSysRoot ?? '/proc/sys';
    this.statePath = opts.statePath;
    this.state = this.loadState();
  }

  private loadState(): HostState {
    if (!this.statePath) return { sysctls: {} };
    try {
      const s = JSON.parse(fs.readFileSync(this.statePath, 'utf8')) as HostState;
      if (s && typeof s.sysctls === 'object') return s;
    } catch { /* absent or unreadable: start fresh */ }
    return { sysctls: {} };
  }

  private saveState(): void {
    if (!this.statePath) return;
    if (Object.keys(this.state.sysctls).length === 0) fs.rmSync(this.statePath, { force: true });
    else writeFileAtomic(this.statePath, JSON.stringify(this.state, null, 2) + '\n', 0o600);
  }

  private file(key: string): string {
    if (!/^[a-z0-9_.\-]+(\/[a-z0-9_.\-]+)+$/i.test(key) || key.includes('..')) throw new SysctlError(key, '', 'not a sysctl path');
    return path.join(this.root, key);
  }

  read(key: string): string {
    const f = this.file(key);
    try {
      return fs.readFileSync(f, 'utf8').trim();
    } catch (e) {
      throw new SysctlError(key, f, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  private write(key: string, value: string): void {
    const f = this.file(key);
    try {
      fs.writeFileSync(f, `${value}\n`);
    } catch (e) {
      throw new SysctlError(key, f, `cannot write ${value}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const back = this.read(key);
    if (back !== value) throw new SysctlError(key, f, `wrote ${value}, reads back ${back}`);
  }

  /** Sets each sysctl; returns the keys it had to change. */
  apply(sysctls: Record<string, string>): string[] {
    const changed: string[] = [];
    for (const [key, value] of Object.entries(sysctls)) {
      const now = this.read(key);
      if (now === value) continue;
      if (!this.state.sysctls[key]) this.state.sysctls[key] = { before: now, ours: value };
      else this.state.sysctls[key].ours = value;
      this.saveState();
      this.write(key, value);
      changed.push(key);
    }
    return changed;
  }

  /** The values we changed and what they were before. */
  changes(): Record<string, { before: string; ours: string }> {
    return { ...this.state.sysctls };
  }

  /**
   * Puts back the values we replaced - only where the value is still the one we wrote (someone
   * who changed it since owns it now) - and forgets them. Returns the keys restored.
   */
  teardown(): string[] {
    const restored: string[] = [];
    for (const [key, rec] of Object.entries(this.state.sysctls)) {
      if (this.read(key) === rec.ours) {
        this.write(key, rec.before);
        restored.push(key);
      }
      delete this.state.sysctls[key];
    }
    this.saveState();
    return restored;
  }
}
