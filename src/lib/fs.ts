// Durable file writes shared by the datastore (state file, resources), the dataplane (CNI
// conflist, subnet.env, host state) and the demo: a reader never sees a half-written file. No RFC.
import * as fs from 'fs';
import * as path from 'path';

let tempCounter = 0;

/**
 * Writes `content` to `file` atomically: a temporary file in the same directory (unique per
 * process and call, so concurrent writers never share one), fsync, rename over the target.
 */
export function writeFileAtomic(file: string, content: string, mode = 0o644): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${tempCounter++}.tmp`);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/**
 * Like writeFileAtomic, creating the directory when needed, but only when the content differs
 * from what is there (so reconciling unchanged files changes nothing). Returns whether it wrote.
 */
export function writeFileIfChanged(file: string, content: string, mode = 0o644): boolean {
  try {
    if (fs.readFileSync(file, 'utf8') === content) return false;
  } catch { /* absent: write it */ }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, content, mode);
  return true;
}
