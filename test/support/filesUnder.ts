// Every file under a folder, for tests that read what the disk holds (after a forget, nothing of it).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every file under `root` (none when it does not exist). */
export function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  try {
    walk(root);
  } catch {
    /* nothing there */
  }
  return out;
}
