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
import { chunkText, contentHash, isProbablyBinary } from './chunker';
import { describeEmbeddingsError, duration, EmbeddingsError } from './embeddingsErrors';
import { readWholeFile, statFile } from '../util/fileIo';
import type { MemoryChunk, MemoryDocument } from './memoryStore';
import { MemoryStoreError } from './memoryStore';
import { errnoCode, errorText } from '../util/errors';
import { exists } from '../util/fileIo';
import { PersonaError } from '../util/personaError';
import { JobSchema, selects, type AddJob, type IndexJob, type JobSelector } from './indexingJobs';
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

export const defaultMaxFileBytes = 1024 * 1024;
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

/** Files being read and prepared at once ahead of the one being embedded. */
const readAhead = 8;
/** A finished job waits at most this many in memory before the journal is written. */
const maxFinishedBeforeJournalWrite = 500;

interface Entry {
  key: string;
  job: IndexJob;
  /** Taken by the run (being read, embedded, or waiting for its commit). */
  active: boolean;
}

/** A job whose work is done in memory and waits for the commit (or only for the journal). */
interface Finished {
  entry: Entry;
  /** The document to commit; absent for unchanged, skipped and failed jobs. */
  doc?: MemoryDocument;
  outcome: 'indexed' | 'removed' | 'unchanged' | 'skipped' | 'failed';
  detail?: string;
}

/** Documents being embedded together (one embed call). */
interface EmbedGroup {
  /** Every job of the group, embedded or not; rejects with a Pause when the server is the problem. */
  result: Promise<Finished[]>;
  /** Source shown as the one in progress. */
  current: string | undefined;
}

/** Waits until every group has settled (their requests stopped), whatever they ended with. */
async function settle(groups: readonly EmbedGroup[]): Promise<void> {
  await Promise.allSettled(groups.map((g) => g.result));
}

/** What reading a job's file gave. */
type Prepared =
  | { kind: 'remove' }
  | { kind: 'unchanged' }
  | { kind: 'skipped'; reason: string }
  | { kind: 'failed'; message: string }
  | { kind: 'embed'; docHash: string; chunks: ReturnType<typeof chunkText> };

/** Thrown inside a run to pause it. */
class Pause extends Error {
  constructor(
    readonly reason: string,
    readonly kind: PauseCause,
    readonly automaticRetry: boolean,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

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

  private async run(signal: AbortSignal): Promise<void> {
    let backend: IndexingBackend;
    try {
      backend = await this.connect(signal);
    } catch (e) {
      if (!signal.aborted) this.pause(pauseFor(e, 'embeddings'));
      return;
    }
    if (signal.aborted) return;

    const batch: Finished[] = [];
    let batchChunks = 0;
    let batchSince = 0;
    let wrote = false;
    let persistedAt = Date.now();
    /** `final`: the last flush of the run (or before a pause): the journal is written whatever it holds. */
    const flush = async (final = true) => {
      if (batch.length === 0) return;
      const items = batch.splice(0);
      batchChunks = 0;
      // Only jobs still current: a job dropped (forget) or replaced (a newer version of the file)
      // meanwhile must not be written. Checked in the same tick as the upsert is issued, so a
      // forget issued after this point is queued behind the commit by the store.
      const current = items.filter((f) => this.jobs.get(f.entry.key) === f.entry);
      const docs = current.flatMap((f) => (f.doc ? [f.doc] : []));
      if (docs.length > 0) {
        try {
          await backend.store.upsertDocuments(docs);
          wrote = true;
        } catch (e) {
          for (const f of current) f.entry.active = false;
          throw pauseFor(e, 'storage');
        }
      }
      for (const f of current) {
        if (this.jobs.get(f.entry.key) !== f.entry) continue;
        this.jobs.delete(f.entry.key);
        this.count(f);
      }
      this.current = undefined;
      // After a commit the journal must say so at once (a crash would otherwise embed it again).
      // Jobs that committed nothing (unchanged, skipped) only cost a second look if a crash comes
      // first: a re-add of thousands of unchanged files writes the journal every 2 s, not every 500.
      if (docs.length > 0 || final || Date.now() - persistedAt >= this.o.batchMaxWaitMs) {
        try {
          await this.persist();
          persistedAt = Date.now();
        } catch (e) {
          throw pauseFor(e, 'storage');
        }
      }
      this.emitSoon();
    };

    // Embedding runs as a pipeline: up to `embedGroupsInFlight` groups of documents are being
    // embedded while the next files are read and chunked and finished ones are committed, so the
    // server always has the next request waiting (KoboldCpp embeds one request at a time).
    const groupAbort = new AbortController();
    const groupSignal = AbortSignal.any([signal, groupAbort.signal]);
    const inFlight: EmbedGroup[] = [];
    // Files are read (stat, read, hash, chunk) a few ahead: one at a time, a re-add of thousands of
    // unchanged files would wait on each file system call in turn.
    const ahead: { entry: Entry; prepared: Promise<Prepared> }[] = [];
    this.takeCursor = undefined;
    const takeNext = () => {
      while (ahead.length < readAhead) {
        const taken = this.take(backend);
        if (!taken) break;
        ahead.push(taken);
      }
      return ahead.shift();
    };
    let next: { entry: Entry; prepared: Promise<Prepared> } | undefined = takeNext();

    /** Starts groups until enough are in flight or nothing waits. */
    const fill = async (): Promise<void> => {
      const { embedGroupTexts, embedGroupsInFlight } = this.o;
      // A long file is a group of its own, however many texts; the requests in flight are bounded
      // by the embeddings client, over all the groups.
      while (next && !signal.aborted && inFlight.length < embedGroupsInFlight) {
        const items: { entry: Entry; p: Extract<Prepared, { kind: 'embed' }> }[] = [];
        const ready: Finished[] = [];
        let texts = 0;
        // Files with nothing to embed (unchanged, skipped) ride along, a bounded number at a time
        // so that progress and the journal keep up with a large re-add.
        while (next && texts < embedGroupTexts && ready.length < maxFinishedBeforeJournalWrite) {
          const { entry, prepared } = next;
          const p = await prepared;
          if (signal.aborted) return;
          if (p.kind === 'embed' && p.chunks.length > 0) {
            // Keep it for the next group: this one would be too large with it.
            if (texts > 0 && texts + p.chunks.length > embedGroupTexts) break;
            next = takeNext();
            // Dropped (forget) or replaced by a newer job while its file was read: nothing to embed.
            if (this.jobs.get(entry.key) !== entry) continue;
            items.push({ entry, p });
            texts += p.chunks.length;
          } else {
            next = takeNext();
            if (this.jobs.get(entry.key) !== entry) continue;
            ready.push(await this.finish(entry, p, backend, groupSignal));
          }
        }
        // Nothing waits (or only jobs dropped meanwhile).
        if (items.length === 0 && ready.length === 0) return;
        const result = (items.length ? this.embedGroup(items, backend, groupSignal) : Promise.resolve([])).then((done) => [...ready, ...done]);
        result.catch(() => {}); // awaited in order below; a rejection meanwhile is not unhandled
        inFlight.push({ result, current: items[0]?.entry.job.source });
        if (!items.length) break; // nothing sent: hand it over at once
      }
    };

    try {
      await fill();
      while (inFlight.length > 0 && !signal.aborted) {
        const group = inFlight[0]!;
        if (group.current) {
          this.current = group.current;
          this.emitSoon();
        }
        const finished = await group.result;
        inFlight.shift();
        if (signal.aborted) break;
        // The next requests go out before this group is committed.
        await fill();
        if (signal.aborted) break;
        for (const f of finished) {
          if (batch.length === 0) batchSince = Date.now();
          // A newer job for the same document may already wait in the batch's place: keep the newest.
          const same = batch.findIndex((b) => b.entry.key === f.entry.key);
          if (same >= 0) batch.splice(same, 1);
          batch.push(f);
          batchChunks += f.doc?.chunks.length ?? 0;
        }
        const docsInBatch = batch.filter((f) => f.doc).length;
        const last = !next && inFlight.length === 0;
        if (
          last ||
          docsInBatch >= this.o.batchMaxDocuments ||
          batchChunks >= this.o.batchMaxChunks ||
          batch.length >= maxFinishedBeforeJournalWrite ||
          Date.now() - batchSince >= this.o.batchMaxWaitMs
        ) {
          await flush(last);
        }
        // The run ends when nothing waits; jobs enqueued meanwhile are taken on the next turn.
        if (inFlight.length === 0) {
          next ??= takeNext();
          await fill();
        }
      }
      if (signal.aborted) {
        await settle(inFlight);
        this.release(batch, next);
        return;
      }
      await flush();
      this.retryDelay = this.o.retryDelayMs;
    } catch (e) {
      // Groups still in flight stop; their documents go back to waiting.
      groupAbort.abort();
      await settle(inFlight);
      if (signal.aborted) {
        this.release(batch, next);
        return;
      }
      const p = e instanceof Pause ? e : pauseFor(e, 'embeddings');
      // What is embedded already is worth keeping when only the server failed.
      if (p.kind !== 'storage') {
        await flush().catch((err: unknown) => this.logger.warn(`Indexing: could not commit before pausing: ${errorText(err)}`));
      }
      this.release(batch, next);
      this.pause(p);
    } finally {
      if (wrote && !this.disposed) {
        // Once per run, not per file: the full-text index, and the vector index at scale. After a
        // cancel it runs on its own (the store queues it behind any write) so cancel returns at once.
        const optimizing = backend.store.optimize().catch((e: unknown) => this.logger.warn(`Memory: optimizing the index failed (search still works, without it): ${errorText(e)}`));
        if (!signal.aborted) await optimizing;
      }
    }
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
    const prepared = this.prepare(entry.job, backend);
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

  private async prepare(job: IndexJob, backend: IndexingBackend): Promise<Prepared> {
    if (job.kind === 'remove') return { kind: 'remove' };
    const maxBytes = backend.maxFileBytes ?? defaultMaxFileBytes;
    let bytes: Buffer;
    try {
      const stat = await statFile(job.path);
      if (!stat.isFile()) return { kind: 'failed', message: `${job.source} was not indexed: ${job.path} is not a file.` };
      if (stat.size > maxBytes) return { kind: 'skipped', reason: `larger than ${sizeText(maxBytes)} (${sizeText(stat.size)})` };
      bytes = await readWholeFile(job.path);
    } catch (e) {
      return { kind: 'failed', message: readFailure(job, e) };
    }
    if (bytes.length > maxBytes) return { kind: 'skipped', reason: `larger than ${sizeText(maxBytes)} (${sizeText(bytes.length)})` };
    if (isProbablyBinary(bytes)) return { kind: 'skipped', reason: 'binary file' };
    const text = decodeText(bytes);
    const docHash = contentHash(text);
    if (await backend.store.hasDocument(job.source, job.kb, docHash)) return { kind: 'unchanged' };
    const chunks = chunkText(text, {
      ...(backend.chunkTokens !== undefined ? { chunkTokens: backend.chunkTokens } : {}),
      ...(backend.overlapTokens !== undefined ? { overlapTokens: backend.overlapTokens } : {}),
    });
    return { kind: 'embed', docHash, chunks };
  }

  /** Embeds a prepared document; throws Pause when the server (not this document) is the problem. */
  private async finish(entry: Entry, p: Prepared, backend: IndexingBackend, signal: AbortSignal): Promise<Finished> {
    const { job } = entry;
    switch (p.kind) {
      case 'remove':
        return { entry, outcome: 'removed', doc: { source: job.source, kb: job.kb, docHash: '-', chunks: [] } };
      case 'unchanged':
        return { entry, outcome: 'unchanged' };
      case 'skipped':
        return { entry, outcome: 'skipped', detail: p.reason };
      case 'failed':
        return { entry, outcome: 'failed', detail: p.message };
    }
    if (p.chunks.length === 0) return { entry, outcome: 'indexed', doc: { source: job.source, kb: job.kb, docHash: p.docHash, chunks: [] } };
    let vectors: ArrayLike<number>[];
    try {
      vectors = await backend.embed(
        p.chunks.map((c) => c.text),
        signal,
      );
    } catch (e) {
      if (isDocumentFailure(e)) {
        return { entry, outcome: 'failed', detail: `${job.source} was not indexed: ${describeEmbeddingsError(e)}` };
      }
      throw pauseFor(e, 'embeddings');
    }
    this.retryDelay = this.o.retryDelayMs;
    return this.assemble(entry, p, vectors);
  }

  /**
   * Embeds the documents of a group in one call. When the server fails on one text, each document
   * is embedded again on its own, so that only the one holding that text fails.
   */
  private async embedGroup(items: readonly { entry: Entry; p: Extract<Prepared, { kind: 'embed' }> }[], backend: IndexingBackend, signal: AbortSignal): Promise<Finished[]> {
    if (items.length === 1) return [await this.finish(items[0]!.entry, items[0]!.p, backend, signal)];
    let vectors: ArrayLike<number>[];
    try {
      vectors = await backend.embed(
        items.flatMap(({ p }) => p.chunks.map((c) => c.text)),
        signal,
      );
    } catch (e) {
      if (!isDocumentFailure(e)) throw pauseFor(e, 'embeddings');
      const one: Finished[] = [];
      for (const { entry, p } of items) one.push(await this.finish(entry, p, backend, signal));
      return one;
    }
    this.retryDelay = this.o.retryDelayMs;
    let offset = 0;
    return items.map(({ entry, p }) => {
      const own = vectors.slice(offset, offset + p.chunks.length);
      offset += p.chunks.length;
      return this.assemble(entry, p, own);
    });
  }

  /** The document to commit from its chunks and their vectors (in order), or why it cannot be. */
  private assemble(entry: Entry, p: Extract<Prepared, { kind: 'embed' }>, vectors: readonly ArrayLike<number>[]): Finished {
    const { job } = entry;
    const doc: MemoryDocument = { source: job.source, kb: job.kb, docHash: p.docHash, chunks: [] };
    const chunks: MemoryChunk[] = [];
    for (const [i, c] of p.chunks.entries()) {
      const vector = vectors[i];
      if (!vector || !usableVector(vector)) {
        return { entry, outcome: 'failed', detail: `${job.source} was not indexed: the embeddings server sent an empty or zero vector for lines ${c.startLine}–${c.endLine}.` };
      }
      chunks.push({ text: c.text, vector, startLine: c.startLine, endLine: c.endLine, tokenCount: c.tokenCount, index: c.index });
    }
    doc.chunks = chunks;
    return { entry, outcome: 'indexed', doc };
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


/** How an error that stops a run becomes a pause. */
function pauseFor(e: unknown, fallback: PauseCause): Pause {
  if (e instanceof Pause) return e;
  if (EmbeddingsError.is(e, 'dimensionMismatch')) {
    return new Pause(describeEmbeddingsError(e), 'dimension', false, { cause: e });
  }
  if (MemoryStoreError.is(e, 'dimensionMismatch')) {
    return new Pause(`${e.message} The embeddings model changed: index the files again for it (Persona: Show Memory Status), or load the model used before.`, 'dimension', false, { cause: e });
  }
  if (EmbeddingsError.is(e)) return new Pause(describeEmbeddingsError(e), 'embeddings', true, { cause: e });
  if (MemoryStoreError.is(e, 'unavailable')) return new Pause(e.message, 'storage', false, { cause: e });
  if (fallback === 'storage' || errnoCode(e)) {
    const code = errnoCode(e);
    const what = code === 'ENOSPC' ? 'the disk is full' : errorText(e);
    return new Pause(`Memory could not be written to disk (${what}). Nothing was lost: indexing continues by itself once it can write again.`, 'storage', true, { cause: e });
  }
  return new Pause(`Indexing stopped: ${errorText(e)}`, fallback, true, { cause: e });
}

/** The server failed on a text, not as a whole: the document holding it fails, the queue goes on. */
function isDocumentFailure(e: unknown): boolean {
  return EmbeddingsError.is(e, 'itemFailed') || (EmbeddingsError.is(e, 'http') && isDocumentStatus(e.status));
}

/** HTTP statuses that say "this input", not "this server": the document fails, the queue goes on. */
function isDocumentStatus(status: number | undefined): boolean {
  return status === 400 || status === 413 || status === 422;
}

function usableVector(vector: ArrayLike<number>): boolean {
  if (vector.length === 0) return false;
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  return Number.isFinite(sum) && sum > 0;
}

function readFailure(job: AddJob, e: unknown): string {
  const code = errnoCode(e);
  if (code === 'ENOENT') return `${job.source} was not indexed: the file was deleted or moved before it could be read.`;
  if (code === 'EACCES' || code === 'EPERM') return `${job.source} was not indexed: permission to read ${job.path} was denied.`;
  if (code === 'EISDIR') return `${job.source} was not indexed: ${job.path} is a folder.`;
  return `${job.source} was not indexed: ${job.path} could not be read (${errorText(e)}).`;
}

/** UTF-8 when it is (a BOM dropped); else Latin-1, which the binary check lets through and every byte of which is a character. */
function decodeText(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}
