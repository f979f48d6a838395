// What the indexing queue does, as data: add a file to a knowledge base, or remove a document; and
// which jobs a `drop` takes out. Stored in the journal and handed between windows through the inbox.
import * as z from 'zod/mini';

export interface AddJob {
  kind: 'add';
  /** Workspace-relative path with '/', or the name of an upload. */
  source: string;
  /** The file to read, absolute. */
  path: string;
  /** 'workspace' or `persona:<id>`. */
  kb: string;
  /**
   * The folder a link at `path` must point inside (its workspace folder, or a picked file's folder),
   * checked when the file is read: after a `git pull` an indexed file can have become a link to
   * ~/.ssh. Absent (a journal from before): links are not followed.
   */
  root?: string;
}

export interface RemoveJob {
  kind: 'remove';
  source: string;
  kb: string;
}

export type IndexJob = AddJob | RemoveJob;

/** Which jobs `drop` takes out: one source, everything under a folder, or all (optionally in one kb). */
export type JobSelector = { source: string; kb?: string } | { folder: string; kb?: string } | { all: true };

export const JobSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('add'), source: z.string().check(z.minLength(1)), path: z.string().check(z.minLength(1)), kb: z.string().check(z.minLength(1)), root: z.optional(z.string().check(z.minLength(1))) }),
  z.object({ kind: z.literal('remove'), source: z.string().check(z.minLength(1)), kb: z.string().check(z.minLength(1)) }),
]);

export const SelectorSchema = z.union([
  z.object({ source: z.string(), kb: z.optional(z.string()) }),
  z.object({ folder: z.string(), kb: z.optional(z.string()) }),
  z.object({ all: z.literal(true) }),
]);

/** Whether a job falls under a selector; a folder selects itself and everything under `folder/`. */
export function selects(selector: JobSelector, job: IndexJob): boolean {
  if ('all' in selector) return true;
  if (selector.kb !== undefined && selector.kb !== job.kb) return false;
  if ('source' in selector) return job.source === selector.source;
  const folder = selector.folder.replace(/\/+$/, '');
  return folder === '' || job.source === folder || job.source.startsWith(`${folder}/`);
}
