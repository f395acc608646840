// Firewall rules that let pod traffic through this host: FORWARD accept for the pools, and
// MASQUERADE for pod traffic leaving the pools where a pool says natOutgoing (RFC 3022
// traditional NAT; never toward another pool or another node's block, Calico's rule). Everything
// lives in our own table, `table inet nexthop`, replaced as a whole in one `nft -f -`
// transaction (atomic: the kernel commits the batch or nothing), then read back and verified.
// Where nft is absent, an iptables fallback keeps the same rules in our own chains
// NEXTHOP-FORWARD / NEXTHOP-POSTROUTING, loaded with iptables-restore --noflush and reached by
// one jump each from FORWARD / POSTROUTING. teardown() removes exactly those things.
//
// Note on nftables semantics: `accept` ends evaluation of this base chain only; another table's
// forward chain with a drop policy (Docker's iptables-nft FORWARD, say) still sees the packet.
// The iptables fallback has no such gap because our chain is jumped to from FORWARD itself.

import { Cidr, IpFamily, cidrContains, formatCidr, parseCidr } from '../lib/ip';
import { CommandError, CommandRunner, commandExists, mustRun, runCommand } from './exec';
import { PoolSpec } from './nexthop-decision';

export const NFT_TABLE = 'nexthop';
export const NFT_FAMILY = 'inet';
export const IPT_FORWARD_CHAIN = 'NEXTHOP-FORWARD';
export const IPT_POSTROUTING_CHAIN = 'NEXTHOP-POSTROUTING';
const IPT_COMMENT = 'nexthop';
/** Destinations never masqueraded besides the pools: IPv4 multicast, limited broadcast, IPv6 multicast. */
export const NEVER_MASQUERADE = ['224.0.0.0/4', '255.255.255.255/32', 'ff00::/8'];

/** What the rules are computed from. */
export interface FirewallInput {
  /** All pools; enabled ones get FORWARD accept, natOutgoing ones masquerade. */
  pools: PoolSpec[];
  /** The other nodes' blocks (pod traffic to them is never masqueraded, even outside a pool). */
  otherBlocks: string[];
}

/** The rules, per family, as sorted non-overlapping network lists. */
export interface FirewallRules {
  /** FORWARD accept from and to these (enabled pools). */
  forward: Record<IpFamily, string[]>;
  /** Masquerade traffic from these (natOutgoing pools)... */
  masqueradeFrom: Record<IpFamily, string[]>;
  /** ...unless it goes to one of these (all pools, disabled ones too, other nodes' blocks, multicast). */
  noMasqueradeTo: Record<IpFamily, string[]>;
}

export class FirewallError extends Error {
  constructor(readonly code: 'FIREWALL_INPUT' | 'FIREWALL_VERIFY' | 'FIREWALL_NO_BACKEND', readonly field: string, detail: string) {
    super(`firewall: ${field}: ${detail}`);
    this.name = 'FirewallError';
  }
}

/** Drops networks contained in another of the list; returns them sorted, canonical. */
export function coverNetworks(cidrs: Cidr[]): string[] {
  const kept: Cidr[] = [];
  for (const c of cidrs) {
    if (kept.some((k) => cidrContains(k, c))) continue;
    for (let i = kept.length - 1; i >= 0; i--) if (cidrContains(c, kept[i])) kept.splice(i, 1);
    kept.push(c);
  }
  return kept.map(formatCidr).sort();
}

function parseAll(texts: string[], field: string): Cidr[] {
  return texts.map((t) => {
    const c = parseCidr(t);
    if (!c) throw new FirewallError('FIREWALL_INPUT', field, `'${t}' is not a network address/length`);
    return c;
  });
}

/** Pure: the rule sets for the given pools and blocks. */
export function firewallRules(input: FirewallInput): FirewallRules {
  const pools = input.pools.map((p) => ({ p, c: parseAll([p.cidr], 'pools[].cidr')[0] }));
  const blocks = parseAll(input.otherBlocks, 'otherBlocks');
  const by = (fam: IpFamily, list: Cidr[]): string[] => coverNetworks(list.filter((c) => c.family === fam));
  const enabled = pools.filter((x) => !x.p.disabled).map((x) => x.c);
  const masq = pools.filter((x) => !x.p.disabled && x.p.natOutgoing).map((x) => x.c);
  // Multicast and limited broadcast are never translated (RFC 3022 §2.1 covers unicast
  // sessions); keeping them out also keeps the rule's counter honest (IGMP reports from the
  // bridge's pool address would otherwise match).
  const noMasq = [...pools.map((x) => x.c), ...blocks, ...NEVER_MASQUERADE.map((t) => parseCidr(t)!)];
  return {
    forward: { 4: by(4, enabled), 6: by(6, enabled) },
    masqueradeFrom: { 4: by(4, masq), 6: by(6, masq) },
    noMasqueradeTo: { 4: by(4, noMasq), 6: by(6, noMasq) },
  };
}

const FAM = { 4: { key: 'ip', type: 'ipv4_addr', suffix: 'v4' }, 6: { key: 'ip6', type: 'ipv6_addr', suffix: 'v6' } } as const;

/**
 * The nft script that replaces our table in one transaction: creating the table first makes the
 * delete valid when it did not exist yet, so the script is idempotent (nft 1.0.6 has no
 * `destroy`).
 */
export function renderNftScript(rules: FirewallRules): string {
  const out: string[] = [];
  out.push(`table ${NFT_FAMILY} ${NFT_TABLE}`);
  out.push(`delete table ${NFT_FAMILY} ${NFT_TABLE}`);
  out.push(`table ${NFT_FAMILY} ${NFT_TABLE} {`);
  const forwardRules: string[] = [];
  const natRules: string[] = [];
  for (const fam of [4, 6] as const) {
    const f = FAM[fam];
    const sets: Array<[string, string[]]> = [
      [`pools-${f.suffix}`, rules.forward[fam]],
      [`masq-from-${f.suffix}`, rules.masqueradeFrom[fam]],
      [`no-masq-to-${f.suffix}`, rules.noMasqueradeTo[fam]],
    ];
    for (const [name, elems] of sets) {
      out.push(`  set ${name} {`);
      out.push(`    type ${f.type}`);
      out.push('    flags interval');
      if (elems.length > 0) out.push(`    elements = { ${elems.join(', ')} }`);
      out.push('  }');
    }
    if (rules.forward[fam].length > 0) {
      forwardRules.push(`    ${f.key} saddr @pools-${f.suffix} counter accept comment "from pod pools"`);
      forwardRules.push(`    ${f.key} daddr @pools-${f.suffix} counter accept comment "to pod pools"`);
    }
    if (rules.masqueradeFrom[fam].length > 0) {
      natRules.push(`    ${f.key} saddr @masq-from-${f.suffix} ${f.key} daddr != @no-masq-to-${f.suffix} counter masquerade comment "natOutgoing"`);
    }
  }
  out.push('  chain forward {');
  out.push('    type filter hook forward priority filter; policy accept;');
  out.push(...forwardRules);
  out.push('  }');
  out.push('  chain postrouting {');
  out.push('    type nat hook postrouting priority srcnat; policy accept;');
  out.push(...natRules);
  out.push('  }');
  out.push('}');
  return out.join('\n') + '\n';
}

/** The script that removes our table (and nothing else), valid whether or not it exists. */
export function renderNftTeardown(): string {
  return `table ${NFT_FAMILY} ${NFT_TABLE}\ndelete table ${NFT_FAMILY} ${NFT_TABLE}\n`;
}

interface NftJsonItem {
  set?: { name: string; elem?: unknown[] };
  chain?: { name: string; hook?: string };
  rule?: { chain: string; comment?: string };
}

function nftElemText(e: unknown): string {
  if (typeof e === 'string') return e.includes('/') ? e : `${e}/${e.includes(':') ? 128 : 32}`;
  const o = e as { prefix?: { addr: string; len: number }; elem?: { val: unknown } };
  if (o.prefix) return `${o.prefix.addr}/${o.prefix.len}`;
  if (o.elem) return nftElemText(o.elem.val);
  return JSON.stringify(e);
}

/** What `nft -j list table inet nexthop` shows, reduced to what we compare. */
export interface NftTableState {
  sets: Record<string, string[]>;
  chains: Record<string, { hook?: string; rules: number }>;
}

export function parseNftTable(json: string): NftTableState {
  let doc: { nftables?: NftJsonItem[] };
  try { doc = JSON.parse(json); } catch (e) {
    throw new FirewallError('FIREWALL_VERIFY', 'nft -j output', `not JSON: ${(e as Error).message}`);
  }
  const state: NftTableState = { sets: {}, chains: {} };
  for (const item of doc.nftables ?? []) {
    if (item.set) {
      const elems = (item.set.elem ?? []).map(nftElemText).map((t) => {
        const c = parseCidr(t, false);
        return c ? formatCidr(c) : t;
      });
      state.sets[item.set.name] = elems.sort();
    } else if (item.chain) {
      state.chains[item.chain.name] = { hook: item.chain.hook, rules: state.chains[item.chain.name]?.rules ?? 0 };
    } else if (item.rule) {
      const c = state.chains[item.rule.chain] ?? (state.chains[item.rule.chain] = { rules: 0 });
      c.rules++;
    }
  }
  return state;
}

/** The state our script should produce, for comparison with parseNftTable. */
export function expectedNftState(rules: FirewallRules): NftTableState {
  const sets: Record<string, string[]> = {};
  let fwd = 0;
  let nat = 0;
  for (const fam of [4, 6] as const) {
    const s = FAM[fam].suffix;
    sets[`pools-${s}`] = [...rules.forward[fam]].sort();
    sets[`masq-from-${s}`] = [...rules.masqueradeFrom[fam]].sort();
    sets[`no-masq-to-${s}`] = [...rules.noMasqueradeTo[fam]].sort();
    if (rules.forward[fam].length > 0) fwd += 2;
    if (rules.masqueradeFrom[fam].length > 0) nat += 1;
  }
  return { sets, chains: { forward: { hook: 'forward', rules: fwd }, postrouting: { hook: 'postrouting', rules: nat } } };
}

/** Differences between two table states, as readable lines (empty when equal). */
export function diffNftState(want: NftTableState, have: NftTableState): string[] {
  const diffs: string[] = [];
  for (const [name, elems] of Object.entries(want.sets)) {
    const got = have.sets[name];
    if (!got) diffs.push(`set ${name} missing`);
    else if (got.join(',') !== elems.join(',')) diffs.push(`set ${name} holds [${got.join(', ')}], want [${elems.join(', ')}]`);
  }
  for (const [name, c] of Object.entries(want.chains)) {
    const got = have.chains[name];
    if (!got) diffs.push(`chain ${name} missing`);
    else {
      if (got.hook !== c.hook) diffs.push(`chain ${name} hooks ${got.hook ?? 'nothing'}, want ${c.hook}`);
      if (got.rules !== c.rules) diffs.push(`chain ${name} has ${got.rules} rules, want ${c.rules}`);
    }
  }
  return diffs;
}

/** iptables-restore input for one family: our two chains, flushed and refilled (--noflush keeps the rest). */
export function renderIptablesRestore(rules: FirewallRules, fam: IpFamily): string {
  const out: string[] = ['*filter', `:${IPT_FORWARD_CHAIN} - [0:0]`];
  for (const n of rules.forward[fam]) {
    out.push(`-A ${IPT_FORWARD_CHAIN} -s ${n} -m comment --comment "from pod pools" -j ACCEPT`);
    out.push(`-A ${IPT_FORWARD_CHAIN} -d ${n} -m comment --comment "to pod pools" -j ACCEPT`);
  }
  out.push('COMMIT', '*nat', `:${IPT_POSTROUTING_CHAIN} - [0:0]`);
  if (rules.masqueradeFrom[fam].length > 0) {
    // No ipset here: RETURN for every destination that must keep its source, then masquerade.
    for (const n of rules.noMasqueradeTo[fam]) out.push(`-A ${IPT_POSTROUTING_CHAIN} -d ${n} -m comment --comment "not masqueraded" -j RETURN`);
    for (const n of rules.masqueradeFrom[fam]) out.push(`-A ${IPT_POSTROUTING_CHAIN} -s ${n} -m comment --comment "natOutgoing" -j MASQUERADE`);
  }
  out.push('COMMIT');
  return out.join('\n') + '\n';
}

export type FirewallBackend = 'nft' | 'iptables';

export interface FirewallOptions {
  run?: CommandRunner;
  /** Force a backend; by default nft when the `nft` command exists, iptables otherwise. */
  backend?: FirewallBackend;
  /** Which families to program with iptables (ip6tables for 6). Default: both when ip6tables exists. */
  iptablesFamilies?: IpFamily[];
}

const JUMPS = [
  { table: 'filter', from: 'FORWARD', to: IPT_FORWARD_CHAIN },
  { table: 'nat', from: 'POSTROUTING', to: IPT_POSTROUTING_CHAIN },
] as const;

/**
 * Programs and removes our firewall rules. apply() is idempotent: it replaces our table (or our
 * chains) with the rules for the input, then reads them back and throws FirewallError when the
 * kernel holds something else.
 */
export class Firewall {
  private readonly run: CommandRunner;
  private backendChosen: FirewallBackend | null;
  private ipFamilies: IpFamily[] | null;

  constructor(opts: FirewallOptions = {}) {
    this.run = opts.run ?? ((c, a, i) => runCommand(c, a, i));
    this.backendChosen = opts.backend ?? null;
    this.ipFamilies = opts.iptablesFamilies ?? null;
  }

  async backend(): Promise<FirewallBackend> {
    if (this.backendChosen) return this.backendChosen;
    if (await commandExists(this.run, 'nft', ['--version'])) this.backendChosen = 'nft';
    else if (await commandExists(this.run, 'iptables-restore', ['--version'])) this.backendChosen = 'iptables';
    else throw new FirewallError('FIREWALL_NO_BACKEND', 'backend', 'neither nft nor iptables-restore is installed (Debian packages nftables or iptables)');
    return this.backendChosen;
  }

  private async families(): Promise<IpFamily[]> {
    if (this.ipFamilies) return this.ipFamilies;
    this.ipFamilies = (await commandExists(this.run, 'ip6tables-restore', ['--version'])) ? [4, 6] : [4];
    return this.ipFamilies;
  }

  async apply(input: FirewallInput): Promise<FirewallRules> {
    const rules = firewallRules(input);
    if ((await this.backend()) === 'nft') {
      await mustRun(this.run, 'nft', ['-f', '-'], renderNftScript(rules));
      const diffs = diffNftState(expectedNftState(rules), await this.readNft());
      if (diffs.length > 0) throw new FirewallError('FIREWALL_VERIFY', `table ${NFT_FAMILY} ${NFT_TABLE}`, diffs.join('; '));
      return rules;
    }
    for (const fam of await this.families()) {
      const tool = fam === 4 ? 'iptables' : 'ip6tables';
      await mustRun(this.run, `${tool}-restore`, ['-w', '5', '--noflush'], renderIptablesRestore(rules, fam));
      for (const j of JUMPS) {
        const spec = [j.from, '-m', 'comment', '--comment', IPT_COMMENT, '-j', j.to];
        const present = await this.run(tool, ['-w', '5', '-t', j.table, '-C', ...spec]);
        if (present.status !== 0) await mustRun(this.run, tool, ['-w', '5', '-t', j.table, '-I', j.from, '1', ...spec.slice(1)]);
      }
      const diffs = await this.verifyIptables(rules, fam);
      if (diffs.length > 0) throw new FirewallError('FIREWALL_VERIFY', `${tool} chains`, diffs.join('; '));
    }
    return rules;
  }

  /** Our table as the kernel has it, or null when absent. */
  async readNft(): Promise<NftTableState> {
    const r = await this.run('nft', ['-j', 'list', 'table', NFT_FAMILY, NFT_TABLE]);
    if (r.status !== 0) return { sets: {}, chains: {} };
    return parseNftTable(r.stdout);
  }

  private async verifyIptables(rules: FirewallRules, fam: IpFamily): Promise<string[]> {
    const tool = fam === 4 ? 'iptables' : 'ip6tables';
    const diffs: string[] = [];
    const fwd = await mustRun(this.run, tool, ['-w', '5', '-t', 'filter', '-S', IPT_FORWARD_CHAIN]);
    const fwdRules = fwd.split('\n').filter((l) => l.startsWith(`-A ${IPT_FORWARD_CHAIN}`)).length;
    if (fwdRules !== rules.forward[fam].length * 2) diffs.push(`${IPT_FORWARD_CHAIN} has ${fwdRules} rules, want ${rules.forward[fam].length * 2}`);
    const nat = await mustRun(this.run, tool, ['-w', '5', '-t', 'nat', '-S', IPT_POSTROUTING_CHAIN]);
    const natRules = nat.split('\n').filter((l) => l.startsWith(`-A ${IPT_POSTROUTING_CHAIN}`)).length;
    const wantNat = rules.masqueradeFrom[fam].length > 0 ? rules.noMasqueradeTo[fam].length + rules.masqueradeFrom[fam].length : 0;
    if (natRules !== wantNat) diffs.push(`${IPT_POSTROUTING_CHAIN} has ${natRules} rules, want ${wantNat}`);
    return diffs;
  }

  /** Removes our table, or our chains and the jumps to them; leaves everything else alone. */
  async teardown(): Promise<void> {
    if ((await this.backend()) === 'nft') {
      await mustRun(this.run, 'nft', ['-f', '-'], renderNftTeardown());
      return;
    }
    for (const fam of await this.families()) {
      const tool = fam === 4 ? 'iptables' : 'ip6tables';
      for (const j of JUMPS) {
        const spec = [j.from, '-m', 'comment', '--comment', IPT_COMMENT, '-j', j.to];
        // Delete every copy of our jump (bounded: a chain cannot hold more than a few of ours).
        for (let i = 0; i < 16; i++) {
          const r = await this.run(tool, ['-w', '5', '-t', j.table, '-D', ...spec]);
          if (r.status !== 0) break;
        }
        const exists = await this.run(tool, ['-w', '5', '-t', j.table, '-S', j.to]);
        if (exists.status !== 0) continue;
        await mustRun(this.run, tool, ['-w', '5', '-t', j.table, '-F', j.to]);
        await mustRun(this.run, tool, ['-w', '5', '-t', j.table, '-X', j.to]);
      }
    }
  }
}

export { CommandError };
