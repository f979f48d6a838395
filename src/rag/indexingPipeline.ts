// One indexing run, as a pipeline: up to `embedGroupsInFlight` groups of documents are embedded while
// the next files are read and chunked a few ahead and finished ones are committed, so the embeddings
// server always has the next request waiting (KoboldCpp embeds one request at a time). A document's
// chunks go into LanceDB in one commit, and the journal says so at once. The queue (indexingQueue.ts)
// owns the jobs, their progress and pauses; a run sees it through PipelineHost.
import { createHash } from 'node:crypto';
import { chunkText, contentHash, isProbablyBinary } from './chunker';
import { placeOfRange, markdownSegments } from './documents/chunkPlaces';
import { defaultMaxDocumentBytes, type TextSegment } from './documents/documentTypes';
import { extractDocument } from './documents/extractDocument';
import { extractedKindOf, type ExtractedKind, type SourcePlace } from '../shared/sourcePlace';
import { secretIn } from './secretScan';
import { describeEmbeddingsError, EmbeddingsError } from './embeddingsErrors';
import type { AddJob, IndexJob } from './indexingJobs';
import type { IndexingBackend, PauseCause } from './indexingQueue';
import type { MemoryChunk, MemoryDocument } from './memoryStore';
import { SharedMemoryError } from './sharedMemory';
import { MemoryStoreError } from './memoryStore';
import { errnoCode, errorText } from '../util/errors';
import { isWithin, lstatFile, readWholeFile, realPath, statFile } from '../util/fileIo';
import type { Logger } from '../util/logger';

/** Files larger than this are skipped unless the backend says otherwise. */
export const defaultMaxFileBytes = 1024 * 1024;
/** Files being read and prepared at once ahead of the one being embedded. */
const readAhead = 8;
/** A finished job waits at most this many in memory before the journal is written. */
const maxFinishedBeforeJournalWrite = 500;

export interface Entry {
  key: string;
  job: IndexJob;
  /** Taken by the run (being read, embedded, or waiting for its commit). */
  active: boolean;
}

/** A job whose work is done in memory and waits for the commit (or only for the journal). */
export interface Finished {
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
export type Prepared =
  | { kind: 'remove' }
  | { kind: 'unchanged' }
  | { kind: 'skipped'; reason: string }
  | { kind: 'failed'; message: string }
  | { kind: 'embed'; docHash: string; chunks: ReturnType<typeof chunkText>; places?: (SourcePlace | undefined)[] };

/** Thrown inside a run to pause it. */
export class Pause extends Error {
  constructor(
    readonly reason: string,
    readonly kind: PauseCause,
    readonly automaticRetry: boolean,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}


/** What a run needs of the queue. */
export interface PipelineHost {
  /** The next waiting job, marked active, with its file being read already (see prepareJob). */
  take(): { entry: Entry; prepared: Promise<Prepared> } | undefined;
  /** Whether the job is still the one waiting for its document (not dropped or replaced meanwhile). */
  isCurrent(entry: Entry): boolean;
  /** A committed (or finished) job leaves the queue and is counted, if it is still current. */
  done(f: Finished): void;
  /** The source shown as the one in progress. */
  setCurrent(source: string | undefined): void;
  progressed(): void;
  /** Writes the journal as the jobs are now. */
  persist(): Promise<void>;
  /** The server answered: the wait before a retry goes back to its shortest. */
  embedded(): void;
  /** Jobs the run had taken but not finished go back to waiting. */
  release(batch: Finished[], next: { entry: Entry } | undefined): void;
  pause(p: Pause): void;
  disposed(): boolean;
}

/** Batching limits of a run (IndexingQueueOptions). */
export interface PipelineLimits {
  batchMaxDocuments: number;
  batchMaxChunks: number;
  batchMaxWaitMs: number;
  embedGroupTexts: number;
  embedGroupsInFlight: number;
}

/** Runs the jobs the host hands out until none waits, the signal aborts, or the run pauses. */
export function runPipeline(backend: IndexingBackend, signal: AbortSignal, host: PipelineHost, limits: PipelineLimits, logger: Logger): Promise<void> {
  return new PipelineRun(backend, signal, host, limits, logger).run();
}

type Taken = { entry: Entry; prepared: Promise<Prepared> };

class PipelineRun {
  /** Finished jobs waiting for their commit. */
  private readonly batch: Finished[] = [];
  private batchChunks = 0;
  private batchSince = 0;
  /** Something was committed: the indexes are optimized once at the end of the run. */
  private wrote = false;
  private persistedAt = Date.now();
  /** Stops the groups in flight when the run fails. */
  private readonly groupAbort = new AbortController();
  private readonly groupSignal: AbortSignal;
  private readonly inFlight: EmbedGroup[] = [];
  /**
   * Files are read (stat, read, hash, chunk) a few ahead: one at a time, a re-add of thousands of
   * unchanged files would wait on each file system call in turn.
   */
  private readonly ahead: Taken[] = [];
  private next: Taken | undefined;
  private readonly embedded = () => this.host.embedded();

  constructor(
    private readonly backend: IndexingBackend,
    private readonly signal: AbortSignal,
    private readonly host: PipelineHost,
    private readonly limits: PipelineLimits,
    private readonly logger: Logger,
  ) {
    this.groupSignal = AbortSignal.any([signal, this.groupAbort.signal]);
  }

  async run(): Promise<void> {
    const { signal, host } = this;
    this.next = this.takeNext();
    try {
      await this.fill();
      while (this.inFlight.length > 0 && !signal.aborted) {
        const group = this.inFlight[0]!;
        if (group.current) {
          host.setCurrent(group.current);
          host.progressed();
        }
        const finished = await group.result;
        this.inFlight.shift();
        if (signal.aborted) break;
        // The next requests go out before this group is committed.
        await this.fill();
        if (signal.aborted) break;
        await this.collect(finished);
        // The run ends when nothing waits; jobs enqueued meanwhile are taken on the next turn.
        if (this.inFlight.length === 0) {
          this.next ??= this.takeNext();
          await this.fill();
        }
      }
      if (signal.aborted) {
        await settle(this.inFlight);
        host.release(this.batch, this.next);
        return;
      }
      await this.flush();
      this.embedded();
    } catch (e) {
      // Groups still in flight stop; their documents go back to waiting.
      this.groupAbort.abort();
      await settle(this.inFlight);
      if (signal.aborted) {
        host.release(this.batch, this.next);
        return;
      }
      const p = e instanceof Pause ? e : pauseFor(e, 'embeddings');
      // What is embedded already is worth keeping when only the server failed.
      if (p.kind !== 'storage') {
        await this.flush().catch((err: unknown) => this.logger.warn(`Indexing: could not commit before pausing: ${errorText(err)}`));
      }
      host.release(this.batch, this.next);
      host.pause(p);
    } finally {
      if (this.wrote && !host.disposed()) {
        // Once per run, not per file: the full-text index, and the vector index at scale. After a
        // cancel it runs on its own (the store queues it behind any write) so cancel returns at once.
        const optimizing = this.backend.store.optimize().catch((e: unknown) => this.logger.warn(`Memory: optimizing the index failed (search still works, without it): ${errorText(e)}`));
        if (!signal.aborted) await optimizing;
      }
    }
  }

  private takeNext(): Taken | undefined {
    while (this.ahead.length < readAhead) {
      const taken = this.host.take();
      if (!taken) break;
      this.ahead.push(taken);
    }
    return this.ahead.shift();
  }

  /** Starts groups until enough are in flight or nothing waits. */
  private async fill(): Promise<void> {
    const { embedGroupTexts, embedGroupsInFlight } = this.limits;
    const { host, backend, signal, groupSignal, embedded } = this;
    // A long file is a group of its own, however many texts; the requests in flight are bounded
    // by the embeddings client, over all the groups.
    while (this.next && !signal.aborted && this.inFlight.length < embedGroupsInFlight) {
      const items: { entry: Entry; p: Extract<Prepared, { kind: 'embed' }> }[] = [];
      const ready: Finished[] = [];
      let texts = 0;
      // Files with nothing to embed (unchanged, skipped) ride along, a bounded number at a time
      // so that progress and the journal keep up with a large re-add.
      while (this.next && texts < embedGroupTexts && ready.length < maxFinishedBeforeJournalWrite) {
        const { entry, prepared } = this.next;
        const p = await prepared;
        if (signal.aborted) return;
        if (p.kind === 'embed' && p.chunks.length > 0) {
          // Keep it for the next group: this one would be too large with it.
          if (texts > 0 && texts + p.chunks.length > embedGroupTexts) break;
          this.next = this.takeNext();
          // Dropped (forget) or replaced by a newer job while its file was read: nothing to embed.
          if (!host.isCurrent(entry)) continue;
          items.push({ entry, p });
          texts += p.chunks.length;
        } else {
          this.next = this.takeNext();
          if (!host.isCurrent(entry)) continue;
          ready.push(await finish(entry, p, backend, groupSignal, embedded));
        }
      }
      // Nothing waits (or only jobs dropped meanwhile).
      if (items.length === 0 && ready.length === 0) return;
      const result = (items.length ? embedGroup(items, backend, groupSignal, embedded) : Promise.resolve([])).then((done) => [...ready, ...done]);
      result.catch(() => {}); // awaited in order by run(); a rejection meanwhile is not unhandled
      this.inFlight.push({ result, current: items[0]?.entry.job.source });
      if (!items.length) break; // nothing sent: hand it over at once
    }
  }

  /** Adds a group's finished jobs to the batch, and commits it when it is full, old, or the last. */
  private async collect(finished: Finished[]): Promise<void> {
    const { batch, limits } = this;
    for (const f of finished) {
      if (batch.length === 0) this.batchSince = Date.now();
      // A newer job for the same document may already wait in the batch's place: keep the newest.
      const same = batch.findIndex((b) => b.entry.key === f.entry.key);
      if (same >= 0) batch.splice(same, 1);
      batch.push(f);
      this.batchChunks += f.doc?.chunks.length ?? 0;
    }
    const docsInBatch = batch.filter((f) => f.doc).length;
    const last = !this.next && this.inFlight.length === 0;
    if (
      last ||
      docsInBatch >= limits.batchMaxDocuments ||
      this.batchChunks >= limits.batchMaxChunks ||
      batch.length >= maxFinishedBeforeJournalWrite ||
      Date.now() - this.batchSince >= limits.batchMaxWaitMs
    ) {
      await this.flush(last);
    }
  }

  /** Commits the batch. `final`: the last flush of the run (or before a pause): the journal is written whatever it holds. */
  private async flush(final = true): Promise<void> {
    const { host } = this;
    if (this.batch.length === 0) return;
    const items = this.batch.splice(0);
    this.batchChunks = 0;
    // Only jobs still current: a job dropped (forget) or replaced (a newer version of the file)
    // meanwhile must not be written. Checked in the same tick as the upsert is issued, so a
    // forget issued after this point is queued behind the commit by the store.
    const current = items.filter((f) => host.isCurrent(f.entry));
    const docs = current.flatMap((f) => (f.doc ? [f.doc] : []));
    if (docs.length > 0) {
      try {
        await this.backend.store.upsertDocuments(docs);
        this.wrote = true;
      } catch (e) {
        for (const f of current) f.entry.active = false;
        throw pauseFor(e, 'storage');
      }
    }
    for (const f of current) host.done(f);
    host.setCurrent(undefined);
    // After a commit the journal must say so at once (a crash would otherwise embed it again).
    // Jobs that committed nothing (unchanged, skipped) only cost a second look if a crash comes
    // first: a re-add of thousands of unchanged files writes the journal every 2 s, not every 500.
    if (docs.length > 0 || final || Date.now() - this.persistedAt >= this.limits.batchMaxWaitMs) {
      try {
        await host.persist();
        this.persistedAt = Date.now();
      } catch (e) {
        throw pauseFor(e, 'storage');
      }
    }
    host.progressed();
  }
}

/**
 * Reads a job's file: what there is to do for it (embed its chunks, or nothing, and why). PDF, Word,
 * HTML and notebook files are read by a document reader in a process of its own; `signal` stops it.
 */
export async function prepareJob(job: IndexJob, backend: IndexingBackend, signal?: AbortSignal): Promise<Prepared> {
  if (job.kind === 'remove') return { kind: 'remove' };
  const documentKind = extractedKindOf(job.source);
  const maxBytes = documentKind ? (backend.maxDocumentBytes ?? defaultMaxDocumentBytes) : (backend.maxFileBytes ?? defaultMaxFileBytes);
  let bytes: Buffer;
  let size: number;
  try {
    // The file as it is now, not as it was when it was added: a link is followed only to a file
    // inside the job's root (as the scanner does), whatever the file was before.
    let stat = await lstatFile(job.path);
    if (stat.isSymbolicLink()) {
      const real = await realPath(job.path);
      if (!job.root || !isWithin(await realPath(job.root), real)) return { kind: 'skipped', reason: 'a link to a file outside the folder it was added from' };
      stat = await statFile(real);
    }
    if (!stat.isFile()) return { kind: 'failed', message: `${job.source} was not indexed: ${job.path} is not a file.` };
    if (stat.size > maxBytes) return { kind: 'skipped', reason: `larger than ${sizeText(maxBytes)} (${sizeText(stat.size)})` };
    size = stat.size;
    bytes = await readWholeFile(job.path);
  } catch (e) {
    return { kind: 'failed', message: readFailure(job, e) };
  }
  if (bytes.length > maxBytes) return { kind: 'skipped', reason: `larger than ${sizeText(maxBytes)} (${sizeText(bytes.length)})` };
  // A special file (/proc/self/environ says 0 bytes and reads as many) is not a document.
  if (size === 0 && bytes.length > 0) return { kind: 'skipped', reason: 'a special file' };
  if (documentKind) return prepareDocument(job, bytes, documentKind, backend, signal);
  if (isProbablyBinary(bytes)) return { kind: 'skipped', reason: 'binary file' };
  const text = decodeText(bytes);
  const secret = secretIn(text);
  if (secret) return { kind: 'skipped', reason: `it holds what looks like ${secret}` };
  const docHash = contentHash(text);
  if (await backend.store.hasDocument(job.source, job.kb, docHash)) return { kind: 'unchanged' };
  return chunked(text, docHash, backend, /\.(md|markdown)$/i.test(job.source) ? markdownSegments(text) : undefined);
}

/**
 * A PDF, Word, HTML or notebook file: the hash of its bytes decides whether it changed (an
 * unchanged document is never read again), then its text comes from the reader, with the page or
 * heading path of each stretch, or a reason to skip it in words.
 */
async function prepareDocument(job: AddJob, bytes: Buffer, kind: ExtractedKind, backend: IndexingBackend, signal: AbortSignal | undefined): Promise<Prepared> {
  const docHash = createHash('sha256').update(bytes).digest('hex');
  if (await backend.store.hasDocument(job.source, job.kb, docHash)) return { kind: 'unchanged' };
  // One document at a time is read (extractDocument queues them), while files are prepared several ahead.
  const outcome = await extractDocument(bytes, kind, backend.extractBudget, signal ? { signal } : {});
  if (!outcome.ok) return { kind: 'skipped', reason: outcome.message };
  const secret = secretIn(outcome.text);
  if (secret) return { kind: 'skipped', reason: `it holds what looks like ${secret}` };
  return chunked(outcome.text, docHash, backend, outcome.segments);
}

/** The text's chunks, with the place of each where the segments tell it. */
function chunked(text: string, docHash: string, backend: IndexingBackend, segments: readonly TextSegment[] | undefined): Prepared {
  const chunks = chunkText(text, {
    ...(backend.chunkTokens !== undefined ? { chunkTokens: backend.chunkTokens } : {}),
    ...(backend.overlapTokens !== undefined ? { overlapTokens: backend.overlapTokens } : {}),
  });
  if (!segments?.length) return { kind: 'embed', docHash, chunks };
  return { kind: 'embed', docHash, chunks, places: chunks.map((c) => placeOfRange(segments, c.startOffset, c.endOffset)) };
}


/** Embeds a prepared document; throws Pause when the server (not this document) is the problem. */
async function finish(entry: Entry, p: Prepared, backend: IndexingBackend, signal: AbortSignal, embedded: () => void): Promise<Finished> {
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
  embedded();
  return assemble(entry, p, vectors);
}

/**
 * Embeds the documents of a group in one call. When the server fails on one text, each document
 * is embedded again on its own, so that only the one holding that text fails.
 */
async function embedGroup(items: readonly { entry: Entry; p: Extract<Prepared, { kind: 'embed' }> }[], backend: IndexingBackend, signal: AbortSignal, embedded: () => void): Promise<Finished[]> {
  if (items.length === 1) return [await finish(items[0]!.entry, items[0]!.p, backend, signal, embedded)];
  let vectors: ArrayLike<number>[];
  try {
    vectors = await backend.embed(
      items.flatMap(({ p }) => p.chunks.map((c) => c.text)),
      signal,
    );
  } catch (e) {
    if (!isDocumentFailure(e)) throw pauseFor(e, 'embeddings');
    const one: Finished[] = [];
    for (const { entry, p } of items) one.push(await finish(entry, p, backend, signal, embedded));
    return one;
  }
  embedded();
  let offset = 0;
  return items.map(({ entry, p }) => {
    const own = vectors.slice(offset, offset + p.chunks.length);
    offset += p.chunks.length;
    return assemble(entry, p, own);
  });
}

/** The document to commit from its chunks and their vectors (in order), or why it cannot be. */
function assemble(entry: Entry, p: Extract<Prepared, { kind: 'embed' }>, vectors: readonly ArrayLike<number>[]): Finished {
  const { job } = entry;
  const doc: MemoryDocument = { source: job.source, kb: job.kb, docHash: p.docHash, chunks: [] };
  const chunks: MemoryChunk[] = [];
  for (const [i, c] of p.chunks.entries()) {
    const vector = vectors[i];
    if (!vector || !usableVector(vector)) {
      return { entry, outcome: 'failed', detail: `${job.source} was not indexed: the embeddings server sent an empty or zero vector for lines ${c.startLine}–${c.endLine}.` };
    }
    const place = p.places?.[i];
    chunks.push({ text: c.text, vector, startLine: c.startLine, endLine: c.endLine, tokenCount: c.tokenCount, index: c.index, ...(place ? { place } : {}) });
  }
  doc.chunks = chunks;
  return { entry, outcome: 'indexed', doc };
}


/** How an error that stops a run becomes a pause. */
export function pauseFor(e: unknown, fallback: PauseCause): Pause {
  if (e instanceof Pause) return e;
  if (EmbeddingsError.is(e, 'dimensionMismatch')) {
    return new Pause(describeEmbeddingsError(e), 'dimension', false, { cause: e });
  }
  if (MemoryStoreError.is(e, 'dimensionMismatch')) {
    return new Pause(`${e.message} The embeddings model changed: index the files again for it (Persona: Show Memory Status), or load the model used before.`, 'dimension', false, { cause: e });
  }
  if (EmbeddingsError.is(e)) return new Pause(describeEmbeddingsError(e), 'embeddings', true, { cause: e });
  if (SharedMemoryError.is(e)) {
    // A link that is down comes back by itself; refused credentials, a missing bucket or another model need a person.
    const retry = e.reason === 'unreachable' || e.reason === 'failed' || e.reason === 'forgetRaced';
    return new Pause(`${e.message}${retry ? ' Nothing was lost: indexing for it continues by itself once it answers.' : ' Files for the team memory wait until this is fixed; then Resume.'}`, 'storage', retry, { cause: e });
  }
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
/** Bytes as the indexing read them: UTF-8, or Latin-1 when they are not valid UTF-8. */
export function decodeText(bytes: Buffer): string {
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
