// Locates files of the repository from compiled tests, wherever the build output lives.
import * as fs from 'fs';
import * as path from 'path';

let root: string | null = null;

/** The repository root: the nearest ancestor of this file, or of the cwd, whose package.json is nexthop's. */
export function repoRoot(): string {
  if (root) return root;
  for (const start of [__dirname, process.cwd()]) {
    let dir = start;
    for (let i = 0; i < 12; i++) {
      const pj = path.join(dir, 'package.json');
      if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'nexthop') {
        root = dir;
        return dir;
      }
      const up = path.dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  throw new Error('cannot find the nexthop repository root (run tests from the repository)');
}

export function repoPath(...parts: string[]): string {
  return path.join(repoRoot(), ...parts);
}
