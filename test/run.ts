// Test entry point: runs mocha over the compiled tests and ends with the plain summary line
// "N passed, N failed, N skipped" that CI reads. Usage: node dist/test/run.js [unit|integration|interop ...] [--grep RE]
import Mocha from 'mocha';
import * as fs from 'fs';
import * as path from 'path';

function collect(dir: string, out: string[]): void {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) collect(p, out);
    else if (entry.name.endsWith('.test.js')) out.push(p);
  }
}

const args = process.argv.slice(2);
let grep: string | undefined;
const suites: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--grep') grep = args[++i];
  else suites.push(args[i]);
}
const chosen = suites.length > 0 ? suites : ['unit', 'integration', 'interop'];
const files: string[] = [];
for (const s of chosen) collect(path.join(__dirname, s), files);
files.sort();
if (files.length === 0) {
  console.error(`no test files found under ${chosen.join(', ')}`);
  process.exit(1);
}

const mocha = new Mocha({ timeout: 20000, reporter: 'spec', grep });
for (const f of files) mocha.addFile(f);
const runner = mocha.run((failures) => {
  const stats = runner.stats!;
  console.log(`\n${stats.passes} passed, ${stats.failures} failed, ${stats.pending} skipped`);
  process.exitCode = failures > 0 ? 1 : 0;
  // Integration tests may leave handles (sockets, timers) that would keep us alive; they have
  // already cleaned up what they created, so end now.
  setTimeout(() => process.exit(process.exitCode), 200).unref();
});
