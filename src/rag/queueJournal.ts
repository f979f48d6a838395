// The indexing queue's journal: the jobs still to do, on disk, so a reload or a crash resumes where it
// stopped. Written temp-then-rename; writes run one after another and a write asked for while one is
// waiting shares it, so the file always ends as the latest state.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod/mini';
import { writeFileAtomic } from '../util/atomicFile';
import { errnoCode } from '../util/errors';
import { parseJson } from '../util/json';
import type { Logger } from '../util/logger';
import { JobSchema, type IndexJob } from './indexingJobs';

const JournalSchema = z.object({
  version: z.literal(1),
  jobs: z.array(JobSchema),
});

export class QueueJournal {
  private readonly file: string;
  private chain: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {
    this.file = path.join(dir, 'journal.json');
  }

  /**
   * Writes the jobs `snapshot` gives when the write runs (undefined: write nothing, e.g. the lock was
   * lost and the journal is another process's now). Concurrent callers share the next write.
   */
  write(snapshot: () => readonly IndexJob[] | undefined): Promise<void> {
    if (this.queued) return this.queued;
    const write = this.chain.then(() => {
      this.queued = undefined;
      const jobs = snapshot();
      if (!jobs) return;
      return writeFileAtomic(this.file, JSON.stringify({ version: 1 as const, jobs }));
    });
    this.queued = write;
    this.chain = write.catch(() => {});
    return write;
  }

  /** Resolves when no write is running or waiting. */
  settled(): Promise<void> {
    return this.chain;
  }

  /** The jobs an earlier process left; [] when there is no journal. An unreadable one is moved aside. */
  async load(): Promise<IndexJob[]> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return [];
      throw e;
    }
    const parsed = JournalSchema.safeParse(parseJson(text).value);
    if (!parsed.success) {
      // Kept beside, never deleted: a person (or a later version) may still read it.
      const aside = path.join(this.dir, `journal.unreadable-${Date.now()}.json`);
      await fs.rename(this.file, aside).catch(() => {});
      this.logger.error(`Indexing: the journal could not be read and was moved to ${aside}; its jobs are not resumed. Add the files again.`);
      return [];
    }
    return parsed.data.jobs as IndexJob[];
  }
}
