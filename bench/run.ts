// Runs every benchmark script bench/<name>/*.bench.js of this build, one after another, each in
// its own node process (so one's JIT state and heap do not colour the next). Extra arguments are
// passed to every script. Usage: node dist/bench/run.js [--passes N]
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const dir = __dirname; // dist/bench (or wherever this was built)
const scripts: string[] = [];
for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
  if (!entry.isDirectory()) continue;
  for (const f of fs.readdirSync(path.join(dir, entry.name))) {
    if (f.endsWith('.bench.js')) scripts.push(path.join(dir, entry.name, f));
  }
}
scripts.sort();
if (scripts.length === 0) {
  console.error(`no bench/*/*.bench.js under ${dir}`);
  process.exit(1);
}
let failed = 0;
for (const s of scripts) {
  console.log(`\n== ${path.relative(dir, s)}`);
  const r = spawnSync(process.execPath, [s, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.error(`${path.relative(dir, s)} exited with ${r.status ?? r.signal}`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
