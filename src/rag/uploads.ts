// Files dropped on the chat view as bytes are copied to `<workspace storage>/memory/uploads/<hash>/<name>`
// and indexed from there. Forgetting them must remove those copies too: they are the text itself.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isWithin } from '../util/fileIo';

/** The upload copy a memory source names (an absolute path inside `uploadsDir`), or undefined. */
export function uploadCopyOf(source: string, uploadsDir: string): string | undefined {
  const native = source.split('/').join(path.sep);
  if (!path.isAbsolute(native)) return undefined;
  const file = path.resolve(native);
  return isWithin(uploadsDir, file) && file !== path.resolve(uploadsDir) ? file : undefined;
}

/**
 * Removes the upload copies of the given sources (each with its content-named folder once empty),
 * or, with 'all', every upload. Returns how many files went.
 */
export async function removeUploadCopies(uploadsDir: string, sources: readonly string[] | 'all'): Promise<number> {
  if (sources === 'all') {
    let count = 0;
    for (const dir of await readdirOrEmpty(uploadsDir)) count += (await readdirOrEmpty(path.join(uploadsDir, dir))).length;
    await fs.rm(uploadsDir, { recursive: true, force: true });
    return count;
  }
  let count = 0;
  for (const source of sources) {
    const file = uploadCopyOf(source, uploadsDir);
    if (!file) continue;
    try {
      await fs.rm(file);
      count++;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const dir = path.dirname(file);
    if (dir !== path.resolve(uploadsDir) && (await readdirOrEmpty(dir)).length === 0) await fs.rmdir(dir).catch(() => undefined);
  }
  return count;
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
}
