// File reads for scanning and indexing, on fs's callback forms: fs/promises' FileHandle costs several
// times more per small file, and a workspace has thousands. Each looks `fs` up when called, so a test
// can watch the calls (node:test's mock.method on the module).
import * as fs from 'node:fs';
import type { Stats } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';

export function statFile(file: string): Promise<Stats> {
  return new Promise((resolve, reject) => fs.stat(file, (err, st) => (err ? reject(err) : resolve(st))));
}

export function readWholeFile(file: string): Promise<Buffer> {
  return new Promise((resolve, reject) => fs.readFile(file, (err, bytes) => (err ? reject(err) : resolve(bytes))));
}

/** The first `buffer.length` bytes of the file into `buffer`; resolves with how many were read. */
export async function readHead(file: string, buffer: Buffer): Promise<number> {
  const fd = await new Promise<number>((resolve, reject) => fs.open(file, 'r', (err, fd) => (err ? reject(err) : resolve(fd))));
  try {
    return await new Promise<number>((resolve, reject) => fs.read(fd, buffer, 0, buffer.length, 0, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))));
  } finally {
    await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
  }
}

/** Whether a file or folder is there (and can be seen). */
export async function exists(file: string): Promise<boolean> {
  try {
    await fs.promises.access(file);
    return true;
  } catch {
    return false;
  }
}

/** Whether `path` is `folder` or inside it (both absolute, real paths for links). */
export function isWithin(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** lstat on callback fs (see above): a link itself, not what it points to. */
export function lstatFile(file: string): Promise<Stats> {
  return new Promise((resolve, reject) => fs.lstat(file, (err, st) => (err ? reject(err) : resolve(st))));
}

/** The real path, links resolved. */
export function realPath(file: string): Promise<string> {
  return new Promise((resolve, reject) => fs.realpath(file, (err, real) => (err ? reject(err) : resolve(real))));
}
