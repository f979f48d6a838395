// The indexing queue's cross-process lock: one window of a workspace runs the queue, the others hand
// it their jobs. A file created with O_EXCL holds the owner's pid, host and a token; the owner
// touches it on every heartbeat. A lock whose owner is gone, or whose heartbeat stopped, is taken over.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import * as z from 'zod/mini';
import { errnoCode } from '../util/errors';
import { parseJson } from '../util/json';
import type { Logger } from '../util/logger';
import { duration } from './embeddingsErrors';

const LockSchema = z.object({ pid: z.number(), host: z.string(), token: z.string(), startedAt: z.number() });
type LockInfo = z.infer<typeof LockSchema>;

/** A lock file that cannot be read (a write cut short) is taken over after this long. */
const unreadableLockStaleMs = 10_000;

export class QueueLock {
  private token: string | undefined;

  constructor(
    private readonly lockPath: string,
    /** A lock whose heartbeat stopped this long ago is taken over. */
    private readonly staleMs: number,
    private readonly logger: Logger,
  ) {}

  /** O_EXCL create; a lock whose owner is dead or whose heartbeat stopped is removed first. */
  async acquire(): Promise<boolean> {
    const token = randomBytes(12).toString('hex');
    const info: LockInfo = { pid: process.pid, host: hostname(), token, startedAt: Date.now() };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await fs.open(this.lockPath, 'wx');
        try {
          await handle.writeFile(JSON.stringify(info));
        } finally {
          await handle.close();
        }
        this.token = token;
        this.logger.info(`Indexing: this window runs the indexing queue (${this.lockPath}).`);
        return true;
      } catch (e) {
        if (errnoCode(e) !== 'EEXIST') throw e;
      }
      const stale = await this.staleOwner();
      if (!stale) return false;
      this.logger.info(`Indexing: taking over the lock of ${stale}.`);
      await fs.rm(this.lockPath, { force: true });
    }
    return false;
  }

  /**
   * The owner's heartbeat: true (and the lock touched) while it is still ours; false when another
   * process judged it stale and took it over (a suspended laptop, say).
   */
  async touch(): Promise<boolean> {
    const text = await fs.readFile(this.lockPath, 'utf8').catch(() => undefined);
    const owner = LockSchema.safeParse(parseJson(text ?? '').value);
    if (!owner.success || owner.data.token !== this.token) {
      this.token = undefined;
      return false;
    }
    const now = new Date();
    await fs.utimes(this.lockPath, now, now);
    return true;
  }

  /** Removes the lock if it is still ours. */
  async release(): Promise<void> {
    try {
      const text = await fs.readFile(this.lockPath, 'utf8');
      const owner = LockSchema.safeParse(parseJson(text).value);
      if (owner.success && owner.data.token === this.token) await fs.rm(this.lockPath, { force: true });
    } catch {
      // Gone already.
    }
    this.token = undefined;
  }

  /** Why the lock can be taken over (a description of its owner), or undefined while it is held. */
  private async staleOwner(): Promise<string | undefined> {
    let stat;
    let text: string;
    try {
      stat = await fs.stat(this.lockPath);
      text = await fs.readFile(this.lockPath, 'utf8');
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return 'a process that just left';
      throw e;
    }
    const age = Date.now() - stat.mtimeMs;
    const parsed = LockSchema.safeParse(parseJson(text).value);
    if (!parsed.success) return age > unreadableLockStaleMs ? 'an unreadable lock file' : undefined;
    const owner = parsed.data;
    if (owner.token === this.token) return undefined;
    if (owner.host === hostname() && !pidAlive(owner.pid)) return `process ${owner.pid}, which is gone`;
    if (age > this.staleMs) return `process ${owner.pid} on ${owner.host}, silent for ${duration(age)}`;
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, owned by someone else.
    return errnoCode(e) === 'EPERM';
  }
}
