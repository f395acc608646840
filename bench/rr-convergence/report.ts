// Turns the JSON written by run.ts (--out) into the markdown tables of bench/README.md and the
// plot bench/rr-convergence/convergence.png (convergence time vs number of clients, one line per
// reflector, log scale; drawn by gnuplot from Debian's gnuplot-nox, a bench-only tool).
// Usage: node report.js RESULTS.json [RESULTS2.json ...] [--png FILE.png]
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { ConvergenceResult, JoinResult } from './run';
import { REFLECTOR_KINDS } from './harness';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function range(xs: number[], digits: number): string {
  return `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
}

function main(): void {
  const args = process.argv.slice(2);
  let png: string | null = null;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--png') png = args[++i] ?? null;
    else files.push(args[i]);
  }
  if (files.length === 0) {
    process.stderr.write('usage: report.js RESULTS.json [...] [--png FILE.png]\n');
    process.exit(2);
  }
  const all: (ConvergenceResult | JoinResult)[] = files.flatMap((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
  const conv = all.filter((r): r is ConvergenceResult => r.scenario === 'convergence');
  const joins = all.filter((r): r is JoinResult => r.scenario === 'join');
  const sizes = [...new Map(conv.map((r) => [`${r.clients}x${r.perClient}`, { n: r.clients, m: r.perClient }])).values()].sort((a, b) => a.n - b.n);
  const kinds = REFLECTOR_KINDS.filter((k) => all.some((r) => r.daemon === k));
  const plot: Record<string, { n: number; s: number }[]> = {};
  if (conv.length > 0) {
    console.log('| N clients x M prefixes | reflector | convergence, s (median, range) | monitor only, s | reflector CPU, s | peak RSS, MiB | passes | load avg |');
    console.log('|---|---|---:|---:|---:|---:|---:|---|');
    for (const { n, m } of sizes) {
      for (const k of kinds) {
        const rs = conv.filter((r) => r.daemon === k && r.clients === n && r.perClient === m);
        if (rs.length === 0) continue;
        const ok = rs.filter((r) => r.convergenceS !== null);
        const failed = rs.length - ok.length;
        if (ok.length === 0) {
          console.log(`| ${n} x ${m} | ${k} | no pass finished (${rs[0].error ?? 'timeout'}) | | | | ${rs.length} | ${range(rs.map((r) => r.loadAverage), 1)} |`);
          continue;
        }
        const c = ok.map((r) => r.convergenceS!);
        (plot[k] ??= []).push({ n, s: median(c) });
        console.log(`| ${n} x ${m} | ${k} | ${median(c).toFixed(2)} (${range(c, 2)}) | ${median(ok.map((r) => r.monitorS!)).toFixed(2)} | ${median(ok.map((r) => r.cpuS)).toFixed(2)} | ${median(ok.map((r) => r.peakRssMiB)).toFixed(0)} | ${ok.length}${failed ? ` (+${failed} failed)` : ''} | ${range(rs.map((r) => r.loadAverage), 1)} |`);
      }
    }
  }
  const withRss = conv.filter((r) => r.convergenceS !== null && r.rssAtZero && r.rssDone);
  if (withRss.length > 0) {
    // Resident memory split as /proc/PID/status does: anonymous (heap, stacks) + file-backed
    // (the program's and libraries' pages, shared with other processes of the same binary).
    console.log('');
    console.log('| N clients x M prefixes | reflector | RSS at time zero, MiB (anon + file) | RSS when done, MiB (anon + file) | peak RSS, MiB |');
    console.log('|---|---|---:|---:|---:|');
    const f = (x: number): string => x.toFixed(1);
    for (const { n, m } of sizes) {
      for (const k of kinds) {
        const rs = withRss.filter((r) => r.daemon === k && r.clients === n && r.perClient === m);
        if (rs.length === 0) continue;
        const med = (g: (r: ConvergenceResult) => number): number => median(rs.map(g));
        console.log(`| ${n} x ${m} | ${k} | ${f(med((r) => r.rssAtZero!.vmRss))} (${f(med((r) => r.rssAtZero!.anon))} + ${f(med((r) => r.rssAtZero!.file))}) | ${f(med((r) => r.rssDone!.vmRss))} (${f(med((r) => r.rssDone!.anon))} + ${f(med((r) => r.rssDone!.file))}) | ${med((r) => r.peakRssMiB).toFixed(0)} |`);
      }
    }
  }
  if (joins.length > 0) {
    console.log('');
    console.log('| reflector | clients | joins | join p50, ms | join p99, ms | joiner learns all blocks, p50 ms | peak RSS, MiB | load avg |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of joins) {
      const ok = r.joinMs.filter((x): x is number => x !== null);
      const table = r.joinerTableMs.filter((x): x is number => x !== null);
      console.log(`| ${r.daemon} | ${r.clients} | ${ok.length}/${r.joinMs.length} | ${r.p50Ms ?? '—'} | ${r.p99Ms ?? '—'} | ${table.length ? median(table) : '—'} | ${r.peakRssMiB.toFixed(0)} | ${r.loadAverage} |${r.error ? ` ${r.error}` : ''}`);
    }
  }
  if (png && Object.keys(plot).length > 0) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rr-plot-'));
    const lines: string[] = [];
    const datas: string[] = [];
    for (const k of Object.keys(plot)) {
      const f = path.join(dir, `${k}.dat`);
      fs.writeFileSync(f, plot[k].map((p) => `${p.n} ${p.s}`).join('\n') + '\n');
      datas.push(`'${f}' using 1:2 with linespoints lw 2 pt 7 title '${k}'`);
    }
    lines.push(
      `set terminal pngcairo size 900,560 font 'sans,11'`,
      `set output '${path.resolve(png)}'`,
      `set title 'Route reflector convergence: N clients x M prefixes (${sizes.map((s) => `${s.n}x${s.m}`).join(', ')})'`,
      `set xlabel 'clients N (x prefixes per client M)'`,
      `set xrange [0:${Math.max(...sizes.map((s) => s.n)) * 1.1}]`,
      `set ylabel 'seconds until every client holds all N x M routes (median)'`,
      'set logscale y',
      'set grid',
      'set key top left',
      `set xtics rotate by -30 (${sizes.map((s) => `'${s.n}x${s.m}' ${s.n}`).join(', ')})`,
      `plot ${datas.join(', ')}`,
    );
    const script = path.join(dir, 'plot.gp');
    fs.writeFileSync(script, lines.join('\n') + '\n');
    const r = spawnSync('gnuplot', [script], { encoding: 'utf8' });
    if (r.status !== 0) {
      process.stderr.write(`gnuplot failed (${r.status ?? r.error?.message}): ${r.stderr}\n`);
      process.exitCode = 1;
    } else {
      console.log(`\nwrote ${png}`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
