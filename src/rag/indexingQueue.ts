// The background indexing queue: files to embed into memory (and documents to remove), kept in a
// journal on disk so that a reload or a crash resumes where it stopped. Plain Node: no `vscode` here.
//
// Guarantees, and what gives them:
// - A job is on disk before `enqueue` resolves (journal written temp-then-rename), and leaves the
//   journal only after its effect is committed in LanceDB (or it needs no commit: unchanged,
//   skipped, failed). A crash in between redoes the job, which is then "unchanged": no embedding.
// - Search never sees half a document: a document's chunks go in one `upsertDocuments` commit
//   (several documents may share one), and that commit replaces the document's old chunks.
// - One process runs the queue per storage folder (two VS Code windows on one workspace): a lock
//   file with a heartbeat. The other process hands its jobs over through `inbox/` files.
//
// Files in `dir`: `journal.json` (the jobs: queueJournal.ts), `lock` (pid, host, token; mtime =
// heartbeat: queueLock.ts), `inbox/<time>-<pid>-<random>.json` (operations from a process without
// the lock: queueInbox.ts). The jobs themselves are in indexingJobs.ts; this file runs them.
import { watch, type FSWatcher, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { sweepTempFiles } from '../util/atomicFile';
import type { Logger } from '../util/logger';
import { silentLogger } from '../util/logger';
import { duration } from './embeddingsErrors';
import type { MemoryDocument } from './memoryStore';
import { errorText } from '../util/errors';
import { exists } from '../util/fileIo';
import { PersonaError } from '../util/personaError';
import { JobSchema, selects, type IndexJob, type JobSelector } from './indexingJobs';
import type { ExtractBudget } from './documents/documentTypes';
import { pauseFor, prepareJob, runPipeline, type Entry, type Finished, type Pause, type Prepared } from './indexingPipeline';
import { postToInbox, readInboxFiles, type InboxOp } from './queueInbox';
import { QueueJournal } from './queueJournal';
import { QueueLock } from './queueLock';

// ---- progress ----------------------------------------------------------------------------------------------

/**
 * - 'idle': nothing to do (the counters describe the last run until the next one starts).
 * - 'running': indexing in this process.
 * - 'paused': jobs are kept; `pausedReason` says why, `retryAt` when it tries again by itself
 *   (absent: it waits for `resume()`, e.g. after the embeddings model changed).
 * - 'elsewhere': another process (window) holds the lock and runs the queue; jobs enqueued here go
 *   to it. This process takes over by itself when that one goes away.
 */
export type IndexingState = 'idle' | 'running' | 'paused' | 'elsewhere';

export type PauseCause =
  /** The embeddings server is down, busy, refuses the key, has no model, or failed: retried later. */
  | 'embeddings'
  /** The embeddings model makes vectors of another length than this memory holds: needs a person. */
  | 'dimension'
  /** Writing to disk (LanceDB or the journal) failed: retried later. */
  | 'storage';

export interface IndexingProgress {
  state: IndexingState;
  /** Jobs finished in this run (committed, unchanged, skipped or failed). */
  done: number;
  /** `done` + jobs still waiting (the one in progress included). */
  total: number;
  /** Source of the document being read or embedded. */
  current?: string;
  /** Documents written (embedded and committed) in this run. */
  indexed: number;
  /** Documents whose stored version already had the same content: nothing embedded. */
  unchanged: number;
  /** Documents removed from memory in this run. */
  removed: number;
  /** Files not indexed on purpose (binary, too large), at most `maxListed`; `skippedCount` has them all. */
  skipped: { source: string; reason: string }[];
  skippedCount: number;
  /** Files that could not be indexed (vanished, unreadable, the server failed on a text), at most `maxListed`. */
  failed: { source: string; message: string }[];
  failedCount: number;
  pausedReason?: string;
  pauseCause?: PauseCause;
  /** Epoch milliseconds of the next automatic try while paused; absent when it waits for `resume()`. */
  retryAt?: number;
}

/** The store operations the queue needs (MemoryStore has them). */
export interface IndexingStore {
  hasDocument(source: string, kb: string, docHash: string): Promise<boolean>;
  upsertDocuments(docs: MemoryDocument[]): Promise<unknown>;
  optimize(): Promise<unknown>;
}

/** What a run works with; asked for again at the start of every run (after a pause too). */
export interface IndexingBackend {
  store: IndexingStore;
  /** One vector per text; must honour `signal` (EmbeddingsClient.embed does). */
  embed(texts: readonly string[], signal: AbortSignal): Promise<ArrayLike<number>[]>;
  chunkTokens?: number;
  overlapTokens?: number;
  /** Files larger than this are skipped. Default 1 MiB. */
  maxFileBytes?: number;
  /** PDF, Word, HTML and notebook files larger than this are skipped. Default 50 MiB. */
  maxDocumentBytes?: number;
  /** Limits of the document reader (time, memory, pages); the defaults where unset. */
  extractBudget?: Partial<ExtractBudget>;
}

export interface IndexingQueueOptions {
  /** Folder for the journal, the lock and the inbox (created if missing). */
  dir: string;
  /**
   * Opens what a run needs (probe the embeddings server, open the store). A throw pauses the queue
   * with the error's text (EmbeddingsError → describeEmbeddingsError) and retries later.
   */
  connect: (signal: AbortSignal) => Promise<IndexingBackend>;
  logger?: Logger;
  /** First wait after a pause; doubled on each failed retry up to `maxRetryDelayMs`. Default 30 s. */
  retryDelayMs?: number;
  /** Default 5 min. */
  maxRetryDelayMs?: number;
  /** Documents per commit. Default 16. */
  batchMaxDocuments?: number;
  /** Chunks per commit. Default 512. */
  batchMaxChunks?: number;
  /** Longest an embedded document waits for its commit (and a finished job for the journal). Default 2 s. */
  batchMaxWaitMs?: number;
  /** A lock whose heartbeat is older than this is taken over. Default 2 min. */
  lockStaleMs?: number;
  /** How often the lock holder touches the lock (and a process without it tries to take it). Default 20 s. */
  heartbeatMs?: number;
  /** How often the lock holder looks into the inbox besides watching it. Default 2 s. */
  inboxPollMs?: number;
  /** Progress events at most this often while running (state changes always go at once). Default 100 ms. */
  progressIntervalMs?: number;
  /**
   * Texts per embed call: small documents share one call (one request), so the server is not paid
   * its per-request cost for every file. Default 32, EmbeddingsClient's batch size.
   */
  embedGroupTexts?: number;
  /**
   * Embed calls in flight at once, so the server has the next request while the client reads the
   * last reply and commits. Default 2, EmbeddingsClient's requests in flight.
   */
  embedGroupsInFlight?: number;
}

export type IndexingErrorReason = 'disposed' | 'invalidJob';

export class IndexingError extends PersonaError<IndexingErrorReason> {
  override readonly name = 'IndexingError';
}

/** Longest lists of skipped and failed files kept in the progress. */
export const maxListed = 200;

const defaults = {
  retryDelayMs: 30_000,
  maxRetryDelayMs: 300_000,
  batchMaxDocuments: 16,
  batchMaxChunks: 512,
  batchMaxWaitMs: 2000,
  lockStaleMs: 120_000,
  heartbeatMs: 20_000,
  inboxPollMs: 2000,
  progressIntervalMs: 100,
  embedGroupTexts: 32,
  embedGroupsInFlight: 2,
} as const;

export class IndexingQueue {
  private readonly dir: string;
  private readonly journal: QueueJournal;
  private readonly lock: QueueLock;
  private readonly inboxDir: string;
  private readonly logger: Logger;
  private readonly connect: IndexingQueueOptions['connect'];
  private readonly o: Required<Omit<IndexingQueueOptions, 'dir' | 'connect' | 'logger'>>;

  private readonly jobs = new Map<string, Entry>();
  /** Where `take` goes on from; made again at the start of every run. */
  private takeCursor: Iterator<Entry> | undefined;
  private holder = false;
  private disposed = false;

  private runPromise: Promise<void> | undefined;
  private runAbort: AbortController | undefined;
  private paused: { reason: string; cause: PauseCause; retryAt?: number } | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;

  private heartbeatTimer: NodeJS.Timeout | undefined;
  private inboxTimer: NodeJS.Timeout | undefined;
  private inboxWatcher: FSWatcher | undefined;
  private inboxReading: Promise<void> | undefined;
  private inboxAgain = false;
  /** Inbox files this process wrote while it had no lock, not yet picked up. */
  private readonly myInboxFiles = new Set<string>();


  private counters = freshCounters();
  /** A run (or runs with pauses between) is under way: its counters add up until it ends idle. */
  private session = false;
  private current: string | undefined;
  private readonly listeners = new Set<(p: IndexingProgress) => void>();
  private emitTimer: NodeJS.Timeout | undefined;
  private readonly idleWaiters = new Set<() => void>();

  private constructor(options: IndexingQueueOptions) {
    this.dir = options.dir;
    this.inboxDir = path.join(options.dir, 'inbox');
    this.logger = options.logger ?? silentLogger;
    this.connect = options.connect;
    this.o = {
      retryDelayMs: options.retryDelayMs ?? defaults.retryDelayMs,
      maxRetryDelayMs: options.maxRetryDelayMs ?? defaults.maxRetryDelayMs,
      batchMaxDocuments: options.batchMaxDocuments ?? defaults.batchMaxDocuments,
      batchMaxChunks: options.batchMaxChunks ?? defaults.batchMaxChunks,
      batchMaxWaitMs: options.batchMaxWaitMs ?? defaults.batchMaxWaitMs,
      lockStaleMs: options.lockStaleMs ?? defaults.lockStaleMs,
      heartbeatMs: options.heartbeatMs ?? defaults.heartbeatMs,
      inboxPollMs: options.inboxPollMs ?? defaults.inboxPollMs,
      progressIntervalMs: options.progressIntervalMs ?? defaults.progressIntervalMs,
      embedGroupTexts: options.embedGroupTexts ?? defaults.embedGroupTexts,
      embedGroupsInFlight: options.embedGroupsInFlight ?? defaults.embedGroupsInFlight,
    };
    this.retryDelay = this.o.retryDelayMs;
    this.lock = new QueueLock(path.join(options.dir, 'lock'), this.o.lockStaleMs, this.logger);
    this.journal = new QueueJournal(options.dir, this.logger);
  }

  /**
   * Opens the queue in `dir`: takes the lock if it is free (or stale), loads the journal left by an
   * earlier process and starts working on it; without the lock, watches for it to become free.
   */
  static async open(options: IndexingQueueOptions): Promise<IndexingQueue> {
    const queue = new IndexingQueue(options);
    await fs.mkdir(queue.inboxDir, { recursive: true });
    await queue.tryBecomeHolder();
    queue.heartbeatTimer = setInterval(() => void queue.heartbeat(), queue.o.heartbeatMs);
    queue.heartbeatTimer.unref();
    queue.emitNow();
    return queue;
  }

  /** True when this process runs the queue; false when another one does ('elsewhere'). */
  get holdsLock(): boolean {
    return this.holder;
  }

  /**
   * Adds jobs; resolves once they are on disk (in the journal, or in the inbox for the process that
   * holds the lock). A job for a (source, kb) already waiting replaces it: the latest wins.
   */
  async enqueue(jobs: readonly IndexJob[]): Promise<void> {
    this.checkOpen();
    const checked = jobs.map((job) => {
      const parsed = JobSchema.safeParse(job);
      if (!parsed.success) throw new IndexingError('invalidJob', `Not an indexing job: ${JSON.stringify(job)}`);
      return parsed.data as IndexJob;
    });
    if (checked.length === 0) return;
    if (!this.holder) return this.post([{ op: 'enqueue', jobs: checked }]);
    this.add(checked);
    await this.persist();
    this.kick();
  }

  /**
   * Takes waiting jobs out (for a source being forgotten). A matching job in progress is not
   * committed. Resolves once the journal is written; returns how many jobs were dropped.
   * Without the lock, the request goes to the holder through the inbox (0 is returned).
   */
  async drop(selector: JobSelector): Promise<number> {
    this.checkOpen();
    if (!this.holder) {
      await this.post([{ op: 'drop', selector }]);
      return 0;
    }
    const dropped = this.dropMatching(selector);
    if (dropped > 0) {
      await this.persist();
      this.emitNow();
    }
    return dropped;
  }

  /**
   * Stops the run now (the embeddings request in flight is aborted), drops every waiting job from
   * the journal and leaves what was committed. Documents embedded but not yet committed are not
   * written. Without the lock, asks the holder to cancel.
   */
  async cancel(): Promise<void> {
    this.checkOpen();
    if (!this.holder) return this.post([{ op: 'cancel' }]);
    this.cancelHere();
    await this.persist();
    await this.runPromise;
    this.emitNow();
  }

  /** While paused: try again now. */
  resume(): void {
    if (this.disposed || !this.holder || !this.paused) return;
    this.clearPause();
    this.kick();
  }

  progress(): IndexingProgress {
    const state = this.state();
    const c = this.counters;
    return {
      state,
      done: c.done,
      total: c.done + this.jobs.size,
      ...(this.current && state === 'running' ? { current: this.current } : {}),
      indexed: c.indexed,
      unchanged: c.unchanged,
      removed: c.removed,
      skipped: [...c.skipped],
      skippedCount: c.skippedCount,
      failed: [...c.failed],
      failedCount: c.failedCount,
      ...(this.paused
        ? { pausedReason: this.paused.reason, pauseCause: this.paused.cause, ...(this.paused.retryAt !== undefined ? { retryAt: this.paused.retryAt } : {}) }
        : {}),
    };
  }

  /** Calls `listener` on every change of progress (at most every `progressIntervalMs` while running). */
  onProgress(listener: (progress: IndexingProgress) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** The jobs waiting (the one in progress included), oldest first. */
  pendingJobs(): IndexJob[] {
    return [...this.jobs.values()].map((e) => e.job);
  }

  /**
   * Resolves when nothing is left to do now: idle, paused (waiting for a retry or `resume()`), or,
   * without the lock, once the holder has picked up every inbox file this process wrote.
   */
  whenIdle(): Promise<void> {
    if (this.settled()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.add(resolve));
  }

  /** Stops the run (jobs stay in the journal for the next time), releases the lock and the timers. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.inboxTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.emitTimer);
    this.inboxWatcher?.close();
    this.runAbort?.abort();
    await this.runPromise;
    await this.journal.settled();
    await this.inboxReading;
    if (this.holder) await this.lock.release();
    this.holder = false;
    this.listeners.clear();
    for (const resolve of this.idleWaiters) resolve();
    this.idleWaiters.clear();
  }

  // ---- state ----------------------------------------------------------------------------------------------

  private state(): IndexingState {
    if (!this.holder) return 'elsewhere';
    if (this.paused) return 'paused';
    if (this.runPromise || this.jobs.size > 0) return 'running';
    return 'idle';
  }

  private settled(): boolean {
    if (this.disposed) return true;
    if (!this.holder) return this.myInboxFiles.size === 0;
    return !this.runPromise && (this.jobs.size === 0 || this.paused !== undefined);
  }

  private checkOpen(): void {
    if (this.disposed) throw new IndexingError('disposed', 'The indexing queue is closed.');
  }

  private add(jobs: readonly IndexJob[]): void {
    for (const job of jobs) {
      const key = jobKey(job.source, job.kb);
      // Deleted first so the latest job also takes the latest place in the order.
      this.jobs.delete(key);
      this.jobs.set(key, { key, job, active: false });
    }
    this.emitSoon();
  }

  private dropMatching(selector: JobSelector): number {
    let dropped = 0;
    for (const [key, entry] of this.jobs) {
      if (selects(selector, entry.job)) {
        this.jobs.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  private cancelHere(): void {
    this.jobs.clear();
    this.runAbort?.abort();
    this.clearPause();
    this.logger.info('Indexing cancelled: waiting jobs dropped.');
  }

  /** Starts a run if there is work, this process holds the lock, and nothing stops it. */
  private kick(): void {
    if (this.disposed || !this.holder || this.runPromise || this.paused || this.jobs.size === 0) {
      this.notifyIfSettled();
      return;
    }
    if (!this.session) {
      this.counters = freshCounters();
      this.session = true;
    }
    const abort = new AbortController();
    this.runAbort = abort;
    this.runPromise = this.run(abort.signal)
      .catch((e: unknown) => this.logger.error(`Indexing stopped on an unexpected error: ${errorText(e)}`))
      .finally(() => {
        this.runPromise = undefined;
        this.runAbort = undefined;
        this.current = undefined;
        if (this.jobs.size === 0 && !this.paused) this.session = false;
        this.emitNow();
        // Jobs that came in as the run ended (it leaves when it finds none waiting).
        this.kick();
      });
    this.emitNow();
  }

  private notifyIfSettled(): void {
    if (!this.settled()) return;
    for (const resolve of this.idleWaiters) resolve();
    this.idleWaiters.clear();
  }

  private pause(p: Pause): void {
    if (this.disposed) return;
    const retryAt = p.automaticRetry ? Date.now() + this.retryDelay : undefined;
    this.paused = { reason: p.reason, cause: p.kind, ...(retryAt !== undefined ? { retryAt } : {}) };
    this.logger.warn(`Indexing paused (${p.kind}): ${p.reason}${retryAt !== undefined ? ` Trying again in ${duration(this.retryDelay)}.` : ''}`);
    if (retryAt !== undefined) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.paused = undefined;
        this.kick();
      }, this.retryDelay);
      this.retryTimer.unref();
      this.retryDelay = Math.min(this.o.maxRetryDelayMs, this.retryDelay * 2);
    }
    this.emitNow();
  }

  private clearPause(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.paused = undefined;
  }

  // ---- one run ---------------------------------------------------------------------------------------------

  /** One run: connects to the backend, then works through the jobs as a pipeline (indexingPipeline.ts). */
  private async run(signal: AbortSignal): Promise<void> {
    let backend: IndexingBackend;
    try {
      backend = await this.connect(signal);
    } catch (e) {
      if (!signal.aborted) this.pause(pauseFor(e, 'embeddings'));
      return;
    }
    if (signal.aborted) return;
    this.takeCursor = undefined;
    await runPipeline(
      backend,
      signal,
      {
        take: () => this.take(backend),
        isCurrent: (entry) => this.jobs.get(entry.key) === entry,
        done: (f) => {
          if (this.jobs.get(f.entry.key) !== f.entry) return;
          this.jobs.delete(f.entry.key);
          this.count(f);
        },
        setCurrent: (source) => {
          this.current = source;
        },
        progressed: () => this.emitSoon(),
        persist: () => this.persist(),
        embedded: () => {
          this.retryDelay = this.o.retryDelayMs;
        },
        release: (batch, next) => this.release(batch, next),
        pause: (p) => this.pause(p),
        disposed: () => this.disposed,
      },
      this.o,
      this.logger,
    );
  }

  /** The next waiting job, marked active, with its file being read already. */
  private take(backend: IndexingBackend): { entry: Entry; prepared: Promise<Prepared> } | undefined {
    // Goes on from where the last take stopped (a Map's iterator sees entries added after it was
    // made, and a re-added job moves to the end), so the active jobs before it are not stepped over
    // again for every file; once at the end, it starts again from the front.
    for (let round = 0; round < 2; round++) {
      this.takeCursor ??= this.jobs.values();
      for (let it = this.takeCursor.next(); !it.done; it = this.takeCursor.next()) {
        const entry = it.value;
        if (entry.active) continue;
        return this.start(entry, backend);
      }
      this.takeCursor = undefined;
    }
    return undefined;
  }

  /** Marks the job active and starts reading its file. */
  private start(entry: Entry, backend: IndexingBackend): { entry: Entry; prepared: Promise<Prepared> } {
    entry.active = true;
    const prepared = prepareJob(entry.job, backend, this.runAbort?.signal);
    // Awaited later; a rejection meanwhile must not count as unhandled.
    prepared.catch(() => {});
    return { entry, prepared };
  }

  /** Jobs the run had taken but not finished go back to waiting. */
  private release(batch: Finished[], next: { entry: Entry } | undefined): void {
    for (const f of batch) f.entry.active = false;
    if (next) next.entry.active = false;
    for (const entry of this.jobs.values()) entry.active = false;
    batch.length = 0;
  }

  private count(f: Finished): void {
    const c = this.counters;
    c.done++;
    switch (f.outcome) {
      case 'indexed':
        c.indexed++;
        break;
      case 'removed':
        c.removed++;
        break;
      case 'unchanged':
        c.unchanged++;
        break;
      case 'skipped':
        c.skippedCount++;
        if (c.skipped.length < maxListed) c.skipped.push({ source: f.entry.job.source, reason: f.detail ?? '' });
        break;
      case 'failed':
        c.failedCount++;
        if (c.failed.length < maxListed) c.failed.push({ source: f.entry.job.source, message: f.detail ?? '' });
        this.logger.warn(`Indexing: ${f.detail}`);
        break;
    }
  }

  // ---- journal ---------------------------------------------------------------------------------------------

  /** Writes the journal as the jobs are now; concurrent callers share the next write. */
  private persist(): Promise<void> {
    // The journal belongs to the lock holder: one that lost the lock must not overwrite it.
    return this.journal.write(() => (this.holder ? [...this.jobs.values()].map((e) => e.job) : undefined));
  }

  private async loadJournal(): Promise<void> {
    const jobs = await this.journal.load();
    this.add(jobs);
    if (jobs.length > 0) this.logger.info(`Indexing: resuming ${jobs.length} jobs from the journal.`);
  }

  // ---- inbox (operations from a process without the lock) ---------------------------------------------------

  private async post(ops: InboxOp[]): Promise<void> {
    this.myInboxFiles.add(await postToInbox(this.inboxDir, ops));
    this.watchMyInboxFiles();
  }

  /** Without the lock: notices when the holder has taken our inbox files (for whenIdle). */
  private watchMyInboxFiles(): void {
    if (this.inboxTimer) return;
    this.inboxTimer = setInterval(() => {
      void (async () => {
        for (const name of this.myInboxFiles) {
          if (!(await exists(path.join(this.inboxDir, name)))) this.myInboxFiles.delete(name);
        }
        if (this.myInboxFiles.size === 0 && !this.holder) {
          clearInterval(this.inboxTimer);
          this.inboxTimer = undefined;
        }
        this.notifyIfSettled();
      })();
    }, Math.min(this.o.inboxPollMs, 250));
    this.inboxTimer.unref();
  }

  private readInboxSoon(): void {
    if (this.inboxReading) {
      this.inboxAgain = true;
      return;
    }
    this.inboxReading = this.readInbox()
      .catch((e: unknown) => this.logger.warn(`Indexing: reading the inbox failed: ${errorText(e)}`))
      .finally(() => {
        this.inboxReading = undefined;
        if (this.inboxAgain && !this.disposed) {
          this.inboxAgain = false;
          this.readInboxSoon();
        }
      });
  }

  /** Applies every inbox file in the order written, writes the journal, then deletes them. */
  private async readInbox(): Promise<void> {
    if (!this.holder || this.disposed) return;
    const { ops, files: taken } = await readInboxFiles(this.inboxDir, this.logger);
    if (taken.length === 0) return;
    const changed = ops.length > 0;
    for (const op of ops) {
      if (op.op === 'enqueue') this.add(op.jobs as IndexJob[]);
      else if (op.op === 'drop') this.dropMatching(op.selector as JobSelector);
      else this.cancelHere();
    }
    if (changed) await this.persist();
    // Deleted only once their jobs are in the journal: a crash in between applies them twice, which
    // collapses to the same jobs.
    await Promise.all(taken.map((f) => fs.rm(f, { force: true })));
    if (changed) {
      this.logger.info(`Indexing: took ${taken.length} request(s) from another window.`);
      this.kick();
      this.emitNow();
    }
  }

  // ---- lock -------------------------------------------------------------------------------------------------

  private async tryBecomeHolder(): Promise<void> {
    if (this.holder || this.disposed) return;
    if (!(await this.lock.acquire())) {
      this.emitNow();
      return;
    }
    this.holder = true;
    try {
      // Only the holder writes the journal, so only it may sweep what a killed write left.
      await sweepTempFiles(this.dir);
      await this.loadJournal();
    } catch (e) {
      this.logger.error(`Indexing: the journal could not be read: ${errorText(e)}`);
    }
    try {
      this.inboxWatcher = watch(this.inboxDir, () => this.readInboxSoon());
      this.inboxWatcher.on('error', () => {});
    } catch {
      // Polling below is enough where watching is not supported.
    }
    clearInterval(this.inboxTimer);
    this.inboxTimer = setInterval(() => this.readInboxSoon(), this.o.inboxPollMs);
    this.inboxTimer.unref();
    this.myInboxFiles.clear();
    this.readInboxSoon();
    await this.inboxReading;
    this.kick();
    this.emitNow();
  }

  /** Holder: touches the lock and checks it is still ours. Others: try to take it. */
  private async heartbeat(): Promise<void> {
    if (this.disposed) return;
    try {
      if (!this.holder) {
        await this.tryBecomeHolder();
        return;
      }
      if (!(await this.lock.touch())) {
        // Another process judged our lock stale (a suspended laptop, say) and took it: it runs the
        // journal now. Stop here rather than run twice.
        this.logger.warn('Indexing: another window took over the indexing queue; this one stops running it.');
        this.holder = false;
        this.runAbort?.abort();
        this.inboxWatcher?.close();
        this.inboxWatcher = undefined;
        clearInterval(this.inboxTimer);
        this.inboxTimer = undefined;
        this.clearPause();
        this.jobs.clear();
        this.emitNow();
        return;
      }
    } catch (e) {
      this.logger.warn(`Indexing: lock heartbeat failed: ${errorText(e)}`);
    }
  }

  // ---- progress events ------------------------------------------------------------------------------------

  private emitSoon(): void {
    if (this.emitTimer || this.disposed) return;
    this.emitTimer = setTimeout(() => {
      this.emitTimer = undefined;
      this.emitNow();
    }, this.o.progressIntervalMs);
    this.emitTimer.unref();
  }

  private emitNow(): void {
    if (this.disposed) return;
    clearTimeout(this.emitTimer);
    this.emitTimer = undefined;
    const progress = this.progress();
    for (const listener of this.listeners) {
      try {
        listener(progress);
      } catch (e) {
        this.logger.warn(`Indexing: a progress listener threw: ${errorText(e)}`);
      }
    }
    this.notifyIfSettled();
  }
}

// ---- helpers -------------------------------------------------------------------------------------------------

function freshCounters() {
  return {
    done: 0,
    indexed: 0,
    unchanged: 0,
    removed: 0,
    skipped: [] as { source: string; reason: string }[],
    skippedCount: 0,
    failed: [] as { source: string; message: string }[],
    failedCount: 0,
  };
}

function jobKey(source: string, kb: string): string {
  return `${kb}\0${source}`;
}


