// Files that a crash mid-write must not tear: write a temp file beside the target, fsync it, then
// rename over the target (atomic on POSIX and on NTFS for same-volume renames).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** The temp files this process is writing: a sweep running at the same time must leave them alone. */
const writing = new Set<string>();

export async function writeFileAtomic(file: string, data: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  writing.add(tmp);
  try {
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fs.rename(tmp, file);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
  } finally {
    writing.delete(tmp);
  }
}

/** Removes temp files left by a write that was killed before its rename. */
export async function sweepTempFiles(dir: string): Promise<number> {
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch {
    return 0;
  }
  const stale = entries.filter((e) => e.startsWith('.') && e.endsWith('.tmp') && !writing.has(path.join(dir, e)));
  await Promise.all(stale.map((e) => fs.rm(path.join(dir, e), { force: true })));
  return stale.length;
}
