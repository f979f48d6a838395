// The workspace memory as one object: what the extension talks to for adding files, forgetting them,
// the indexing progress and the passages of a chat turn. Plain Node: no `vscode` here.
//
// Nothing heavy happens at construction. The first call that needs memory loads LanceDB (or finds
// that it cannot run here: status 'unavailable', chat goes on without memory) and opens the indexing
// queue, which resumes a journal left by an earlier session. The embeddings server is asked for its
// model and vector length when indexing starts, never for listing or forgetting: the last model seen
// is kept in `memory.json`, so memory can be listed, searched for emptiness and forgotten while the
// server is down.
//
// Layout of `dir`: `db/` (LanceDB, a table per embedding model and dimension), `queue/` (journal,
// lock, inbox: see indexingQueue.ts), `memory.json` (the models seen).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod/mini';
import { writeFileAtomic } from '../util/atomicFile';
import { errorCode } from '../providers/serverText';
import type { Logger } from '../util/logger';
import { describeEmbeddingsError, EmbeddingsError } from './embeddingsErrors';
import { EmbeddingsClient } from './embeddingsClient';
import type { IndexJob } from './indexingJobs';
import type { IndexingBackend, IndexingProgress, IndexingQueue, IndexingQueueOptions } from './indexingQueue';
import type { LanceLoadResult } from './lanceLoader';
import { loadLanceDb } from './lanceLoader';
import type { DocumentSummary, MemoryHit, StoredChunk } from './memoryStore';
import { MemoryStore, tableNameFor } from './memoryStore';
import type { HistoryTurn, RetrievedPassage } from './retrieval';
import { SHARED_KB } from './knowledgeBases';
import type { SharedBase, SharedDocumentSummary, SharedMemory, SharedModel } from './sharedMemory';
import { errorText } from '../util/errors';
import { exists } from '../util/fileIo';
import { parseJson } from '../util/json';
import { PersonaError } from '../util/personaError';

export interface MemorySettings {
  /** OpenAI-compatible base URL of the embeddings server (KoboldCpp: http://127.0.0.1:5001/v1). */
  baseUrl: string;
  /** Sent as `model`; the name the server answers with is the one memory is kept under. */
  model: string;
  apiKey?: string;
  chunkTokens: number;
  overlapTokens: number;
  maxFileBytes: number;
  /** PDF, Word, HTML and notebook files. */
  maxDocumentBytes?: number;
  topK: number;
  minScore: number;
  /** Tokens the memory section of a prompt may take. */
  tokenBudget: number;
}

/** The embeddings calls memory makes (EmbeddingsClient has them). */
export interface MemoryEmbedder {
  embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]>;
  probe(signal?: AbortSignal): Promise<{ dimension: number; model?: string }>;
  /** The model the server named in its last reply. */
  readonly lastModel: string | undefined;
}

export interface MemoryServiceOptions {
  /** Folder of this workspace's memory (created on first write), e.g. `<storageUri>/memory`. */
  dir: string;
  /** Read on every use: a change of settings applies to the next run or the next turn. */
  settings: () => MemorySettings;
  logger: Logger;
  /** Token counter for the memory budget; default: gpt-tokenizer's o200k (loaded on first use). */
  countTokens?: (text: string) => number;
  // ---- for tests ----
  loadLanceDb?: () => Promise<LanceLoadResult>;
  /**
   * `purpose` 'retrieval' wants few retries (a chat turn waits for it); 'indexing' the defaults, and
   * awaits `beforeRequest` before each of its requests (it holds indexing while a turn retrieves).
   */
  createEmbedder?: (settings: MemorySettings, options: EmbedderOptions) => MemoryEmbedder;
  queueOptions?: Partial<Omit<IndexingQueueOptions, 'dir' | 'connect' | 'logger'>>;
  /**
   * The team memory (sharedMemory.ts), when one is set up: asked on every use, so a change of
   * settings or credentials applies to the next turn. Its knowledge base is SHARED_KB.
   */
  teamMemory?: () => Promise<TeamMemoryConfig | undefined>;
}

export interface TeamMemoryConfig extends SharedBase {
  /** A turn waits this long for the team memory's passages, then goes on without them. */
  latencyBudgetMs: number;
}

export interface EmbedderOptions {
  expectedDimension?: number;
  purpose: 'indexing' | 'retrieval';
  beforeRequest?: (signal?: AbortSignal) => Promise<void>;
}

export type MemoryServiceStatus =
  /** Nothing loaded yet (no call needed memory so far). */
  | { state: 'notStarted' }
  | { state: 'starting' }
  /** `model`/`dimension`: the embedding model memory is kept for, once one was seen. */
  | { state: 'ready'; model?: string; dimension?: number }
  /** LanceDB cannot run on this machine; every method but `retrieve` throws MemoryServiceError('unavailable'). */
  | { state: 'unavailable'; reason: string }
  | { state: 'disposed' };

export interface RetrieveResult {
  passages: RetrievedPassage[];
  /** Why memory gave nothing when it might have (server down, model changed, …): the text to show once. */
  reason?: string;
  /** Why the team memory was not used this turn (too slow, unreachable, another model, …). */
  teamReason?: string;
}

export interface OtherModelDocuments {
  model: string;
  dimension: number;
  documents: DocumentSummary[];
}

export type MemoryServiceErrorReason = 'unavailable' | 'disposed';

export class MemoryServiceError extends PersonaError<MemoryServiceErrorReason> {
  override readonly name = 'MemoryServiceError';
}

const ModelSchema = z.object({ model: z.string().check(z.minLength(1)), dimension: z.int().check(z.gte(1)) });
type ModelKey = z.infer<typeof ModelSchema>;
const StateSchema = z.object({
  version: z.literal(1),
  /** The model the embeddings server answered with last. */
  current: z.optional(ModelSchema),
  /** Every model memory has held documents for. */
  models: z.array(ModelSchema),
});
type MemoryState = z.infer<typeof StateSchema>;

/**
 * A chat turn waits for retrieval. KoboldCpp embeds one request at a time and answers 503 to the
 * others: indexing holds back its next request while a turn retrieves, and the turn's request
 * retries busy answers for a few seconds (the indexing request in flight finishes meanwhile).
 */
const retrievalClient = { retries: 6, retryDelayMs: 250, maxRetryDelayMs: 2000, requestTimeoutMs: 20_000 } as const;
/** After a turn found the server down, the next turns say so at once for this long instead of retrying. */
const downMemoryMs = 30_000;

const idleProgress: IndexingProgress = {
  state: 'idle',
  done: 0,
  total: 0,
  indexed: 0,
  unchanged: 0,
  removed: 0,
  skipped: [],
  skippedCount: 0,
  failed: [],
  failedCount: 0,
};

interface Opened {
  queue: IndexingQueue;
}

export class MemoryService {
  private readonly dir: string;
  private readonly dbDir: string;
  private readonly statePath: string;
  private readonly logger: Logger;
  private readonly settings: () => MemorySettings;
  private readonly load: () => Promise<LanceLoadResult>;
  private readonly createEmbedder: NonNullable<MemoryServiceOptions['createEmbedder']>;
  private countTokens: ((text: string) => number) | undefined;
  private readonly queueOptions: MemoryServiceOptions['queueOptions'];

  private currentStatus: MemoryServiceStatus = { state: 'notStarted' };
  private opening: Promise<Opened> | undefined;
  private opened: Opened | undefined;
  private state: MemoryState = { version: 1, models: [] };
  /** One store per model, opened once and kept: the queue and retrieval may use it at once. */
  private readonly stores = new Map<string, Promise<MemoryStore>>();
  private readonly listeners = new Set<() => void>();
  private disposed = false;
  /** Chat turns retrieving now, and what indexing waits on before its next request. */
  private retrievals = 0;
  private retrievalsDone: { promise: Promise<void>; resolve: () => void } | undefined;
  /** The last turn found the server down: the same answer until `until`, for this base URL. */
  private down: { baseUrl: string; until: number; reason: string } | undefined;
  private readonly teamConfig: (() => Promise<TeamMemoryConfig | undefined>) | undefined;
  /** The team memory open (or opening) for a configuration and model, by key. */
  private team: { key: string; memory: Promise<SharedMemory> } | undefined;
  /** An open of the team memory that failed: not tried again for this key until `until`. */
  private teamFailed: { key: string; until: number; error: unknown } | undefined;

  constructor(options: MemoryServiceOptions) {
    this.dir = options.dir;
    this.dbDir = path.join(options.dir, 'db');
    this.statePath = path.join(options.dir, 'memory.json');
    this.logger = options.logger;
    this.settings = options.settings;
    this.load = options.loadLanceDb ?? loadLanceDb;
    this.countTokens = options.countTokens;
    this.queueOptions = options.queueOptions;
    this.teamConfig = options.teamMemory;
    this.createEmbedder =
      options.createEmbedder ??
      ((s, { expectedDimension, purpose, beforeRequest }) =>
        new EmbeddingsClient({
          baseUrl: s.baseUrl,
          model: s.model,
          ...(s.apiKey ? { apiKey: s.apiKey } : {}),
          logger: this.logger,
          ...(expectedDimension !== undefined ? { expectedDimension } : {}),
          ...(beforeRequest ? { beforeRequest } : {}),
          ...(purpose === 'retrieval' ? { ...retrievalClient, fetch: refusedFailsFast(s.baseUrl) } : {}),
        }));
  }

  // ---- lifecycle and status ---------------------------------------------------------------------------

  /** Loads LanceDB and opens the queue (resuming a journal) if not done yet. Never throws; see status(). */
  async start(): Promise<void> {
    await this.open().catch(() => {});
  }

  status(): MemoryServiceStatus {
    return this.currentStatus;
  }

  /** The indexing queue's progress; idle until memory is opened. */
  progress(): IndexingProgress {
    return this.opened?.queue.progress() ?? { ...idleProgress, skipped: [], failed: [] };
  }

  /** Files waiting to be indexed (the one in progress included); [] until memory is opened. */
  pendingJobs(): { source: string; kb: string; kind: 'add' | 'remove' }[] {
    return (this.opened?.queue.pendingJobs() ?? []).map((j) => ({ source: j.source, kb: j.kb, kind: j.kind }));
  }

  /** Called on every change of status or progress (progress at most every 100 ms while indexing). */
  onDidChange(listener: () => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Resolves when the queue has nothing to do now (idle or paused; see IndexingQueue.whenIdle). */
  async whenIdle(): Promise<void> {
    const opened = this.opened ?? (this.opening ? await this.opening.catch(() => undefined) : undefined);
    await opened?.queue.whenIdle();
  }

  /** Stops indexing (jobs stay in the journal for next time) and closes the database. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const opened = this.opened ?? (this.opening ? await this.opening.catch(() => undefined) : undefined);
    await opened?.queue.dispose();
    for (const store of this.stores.values()) {
      await store.then((s) => s.close()).catch(() => {});
    }
    this.stores.clear();
    await this.closeTeam();
    this.currentStatus = { state: 'disposed' };
    this.listeners.clear();
  }

  // ---- adding and removing ------------------------------------------------------------------------------

  /** Queues files for indexing into `kb`; resolves once the jobs are on disk. */
  /** `root`: the folder a file that is a link must point inside when it is read (see AddJob.root). */
  async add(files: readonly { absPath: string; source: string; root?: string }[], kb: string): Promise<void> {
    const { queue } = await this.open();
    await queue.enqueue(files.map((f): IndexJob => ({ kind: 'add', source: f.source, path: f.absPath, kb, ...(f.root ? { root: f.root } : {}) })));
  }

  /** Queues the removal of a document (its file was deleted). Not forgetting: see forget. */
  async remove(source: string, kb: string): Promise<void> {
    const { queue } = await this.open();
    await queue.enqueue([{ kind: 'remove', source, kb }]);
  }

  /** Stops indexing and drops the waiting jobs; committed documents stay. */
  async cancel(): Promise<void> {
    await this.opened?.queue.cancel();
  }

  /** While paused: try again now (after starting the server, setting a key, …). */
  resume(): void {
    this.opened?.queue.resume();
  }

  // ---- reading ---------------------------------------------------------------------------------------------

  /** Documents of the current embedding model (optionally of one kb); [] before anything was indexed. */
  async listDocuments(kb?: string): Promise<DocumentSummary[]> {
    await this.open();
    const store = await this.currentStore();
    return store ? store.listDocuments(kb) : [];
  }

  /** The chunks of one document of the current model, in order (the memory panel's view of a file). */
  async chunks(source: string, kb: string): Promise<StoredChunk[]> {
    await this.open();
    if (kb === SHARED_KB) return (await (await this.currentTeam())?.chunksOf(source)) ?? [];
    const store = await this.currentStore();
    return store ? store.chunksOf(source, kb) : [];
  }

  /** The team memory's documents; [] when none is set up. Throws the storage's errors (SharedMemoryError). */
  async listTeamDocuments(): Promise<SharedDocumentSummary[]> {
    await this.open();
    const team = await this.currentTeam();
    return team ? team.listDocuments() : [];
  }

  /** Forgets a source or a folder from the team memory, for every member; waiting jobs for it are dropped first. */
  async forgetTeam(target: string): Promise<number> {
    const folder = target.replace(/\/+$/, '');
    const { queue } = await this.open();
    await queue.drop({ folder, kb: SHARED_KB });
    const team = await this.currentTeam();
    if (!team || folder === '') return 0;
    const result = await team.forgetFolder(folder);
    this.logger.info(`Team memory: forgot ${result.chunks} passages of ${target} in ${result.tables.length} member table(s).`);
    this.changed();
    return result.chunks;
  }

  /** Forgets one chunk of a team memory document, for every member. */
  async forgetTeamChunk(source: string, index: number): Promise<number> {
    await this.open();
    const team = await this.currentTeam();
    const chunk = (await team?.chunksOf(source))?.find((c) => c.index === index);
    if (!team || !chunk) return 0;
    const result = await team.forgetChunk(source, chunk.text);
    this.changed();
    return result.chunks;
  }

  /** The model and dimension memory is kept for now; undefined before anything was indexed. */
  currentModel(): { model: string; dimension: number } | undefined {
    const c = this.state.current;
    return c ? { model: c.model, dimension: c.dimension } : undefined;
  }

  /**
   * Documents kept for other embedding models than the current one: after the model changed, the
   * current one's memory starts empty while these are not searched. Offer to re-index them
   * (add their files again) and then `discardOtherModels()`.
   */
  async otherModelDocuments(): Promise<OtherModelDocuments[]> {
    await this.open();
    const current = this.state.current;
    const result: OtherModelDocuments[] = [];
    for (const m of this.state.models) {
      if (current && m.model === current.model && m.dimension === current.dimension) continue;
      const documents = await (await this.storeFor(m)).listDocuments();
      if (documents.length > 0) result.push({ model: m.model, dimension: m.dimension, documents });
    }
    return result;
  }

  /**
   * The passages for a chat turn. Never throws for a server that is down, a model that changed or a
   * memory that cannot run: `reason` says why nothing came back. Quick (no request, no LanceDB load)
   * while nothing was ever indexed. Rethrows only an abort of `signal`.
   */
  async retrieve(history: HistoryTurn[], kbs: string[], signal?: AbortSignal, options: { tokenBudget?: number; k?: number; minScore?: number } = {}): Promise<RetrieveResult> {
    if (kbs.length === 0 || this.disposed) return { passages: [] };
    const localKbs = kbs.filter((kb) => kb !== SHARED_KB);
    const team = kbs.includes(SHARED_KB) ? await this.teamConfig?.() : undefined;
    // Before LanceDB is loaded: a memory that never held anything has no state file.
    if (!team && !this.opened && !(await exists(this.statePath))) return { passages: [] };
    try {
      await this.open();
    } catch (e) {
      return { passages: [], reason: errorText(e) };
    }
    const current = this.state.current;
    const store = current && localKbs.length > 0 ? await this.storeFor(current) : undefined;
    const local = store !== undefined && (await store.listDocuments()).some((d) => localKbs.includes(d.kb));
    if (!local && !team) return { passages: [] };

    const settings = this.settings();
    if (this.down && this.down.baseUrl === settings.baseUrl && Date.now() < this.down.until) return { passages: [], reason: this.down.reason };
    const embedder = this.createEmbedder(settings, { ...(current ? { expectedDimension: current.dimension } : {}), purpose: 'retrieval' });
    const { retrieve } = await import('./retrieval');
    const countTokens = this.countTokens ?? (await defaultTokenCounter());
    this.countTokens = countTokens;
    let localError: unknown;
    let teamReason: string | undefined;
    this.beginRetrieval();
    try {
      const passages = await retrieve({
        search: async (vector, opts) => {
          const model = embedder.lastModel;
          const searches: Promise<MemoryHit[]>[] = [];
          if (local && current) {
            // A model of the same dimension makes vectors that fit the table and mean nothing there.
            if (model && model !== current.model) localError = new ModelChanged(current.model, { model, dimension: vector.length });
            else searches.push(store!.search(vector, { ...opts, kbs: localKbs }));
          }
          if (team) {
            searches.push(
              this.searchTeam(team, { model: model ?? current?.model ?? (settings.model || 'unknown'), dimension: vector.length }, vector, opts).then((r) => {
                teamReason = r.reason;
                return r.hits;
              }),
            );
          }
          const lists = await Promise.all(searches);
          if (localError && lists.length === 0) throw localError;
          // Each list is in its own order (reciprocal-rank fusion); merged by that, then by similarity.
          return lists.flat().sort((a, b) => b.fused - a.fused || b.score - a.score).slice(0, opts.k);
        },
        embed: (texts, s) => embedder.embed(texts, s),
        history,
        kbs,
        k: options.k ?? settings.topK,
        minScore: options.minScore ?? settings.minScore,
        tokenBudget: options.tokenBudget ?? settings.tokenBudget,
        countTokens,
        ...(signal ? { signal } : {}),
      });
      this.down = undefined;
      if (localError instanceof ModelChanged) {
        await this.useModel(localError.now);
        return { passages, reason: localError.message, ...(teamReason ? { teamReason } : {}) };
      }
      return { passages, ...(teamReason ? { teamReason } : {}) };
    } catch (e) {
      if (signal?.aborted) throw signal.reason ?? e;
      // The server runs another model now: memory follows it (empty for it until files are indexed
      // again), so that Show Memory Status can offer to index them again for it.
      if (e instanceof ModelChanged) {
        await this.useModel(e.now);
        return { passages: [], reason: e.message };
      }
      if (EmbeddingsError.is(e, 'dimensionMismatch') && e.model && e.actualDimension) await this.useModel({ model: e.model, dimension: e.actualDimension });
      if (EmbeddingsError.is(e)) {
        const reason = describeEmbeddingsError(e);
        if (e.reason === 'serverDown') this.down = { baseUrl: settings.baseUrl, until: Date.now() + downMemoryMs, reason };
        return { passages: [], reason };
      }
      this.logger.warn(`Memory: retrieval failed: ${errorText(e)}`);
      return { passages: [], reason: `memory could not be searched (${errorText(e)}).` };
    } finally {
      this.endRetrieval();
    }
  }

  /**
   * The team memory's hits for a turn, within its latency budget (opening it included): past it,
   * or on any failure, none, and why. The search left behind finishes on its own.
   */
  private async searchTeam(team: TeamMemoryConfig, model: SharedModel, vector: Float32Array, opts: { k: number; minScore: number; queryText: string }): Promise<{ hits: MemoryHit[]; reason?: string }> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), team.latencyBudgetMs)));
    const search = this.teamMemory(team, model).then((memory) => memory.search(vector, { k: opts.k, minScore: opts.minScore, ...(opts.queryText ? { queryText: opts.queryText } : {}) }));
    search.catch(() => {});
    try {
      const hits = await Promise.race([search, late]);
      if (hits === 'late') return { hits: [], reason: `it did not answer within ${team.latencyBudgetMs} ms (persona.teamMemory.latencyBudgetMs), so this reply went on without it.` };
      return { hits };
    } catch (e) {
      this.logger.warn(`Team memory: ${errorText(e)}`);
      return { hits: [], reason: errorText(e) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The team memory for this configuration and model, opened once; a failed open is not retried for 30 s. */
  private teamMemory(team: TeamMemoryConfig, model: SharedModel): Promise<SharedMemory> {
    const key = JSON.stringify([team.settings, team.credentials?.accessKeyId, team.credentials?.secretAccessKey, team.credentials?.sessionToken, team.member, model.model, model.dimension]);
    if (this.team?.key === key) return this.team.memory;
    if (this.teamFailed?.key === key && Date.now() < this.teamFailed.until) return Promise.reject(this.teamFailed.error);
    const previous = this.team;
    const memory = import('./sharedMemory').then(({ SharedMemory }) => SharedMemory.open(team, model, { logger: this.logger, loadLanceDb: this.load }));
    this.team = { key, memory };
    memory.catch((error: unknown) => {
      if (this.team?.memory === memory) this.team = undefined;
      this.teamFailed = { key, until: Date.now() + downMemoryMs, error };
    });
    void previous?.memory.then((m) => m.close()).catch(() => {});
    return memory;
  }

  private async closeTeam(): Promise<void> {
    const team = this.team;
    this.team = undefined;
    await team?.memory.then((m) => m.close()).catch(() => {});
  }

  /** The team memory as it is set up now, for the model memory is kept for (or the embeddings server's). */
  private async currentTeam(): Promise<SharedMemory | undefined> {
    const team = await this.teamConfig?.();
    if (!team) return undefined;
    const settings = this.settings();
    let model = this.state.current;
    if (!model) {
      const probe = await this.createEmbedder(settings, { purpose: 'indexing' }).probe();
      model = { model: probe.model ?? (settings.model || 'unknown'), dimension: probe.dimension };
    }
    return this.teamMemory(team, model);
  }

  private beginRetrieval(): void {
    if (this.retrievals++ === 0) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.retrievalsDone = { promise, resolve };
    }
  }

  private endRetrieval(): void {
    if (--this.retrievals === 0) {
      this.retrievalsDone?.resolve();
      this.retrievalsDone = undefined;
    }
  }

  /** Indexing's next request waits while a chat turn retrieves (KoboldCpp serves one at a time). */
  private async yieldToRetrieval(signal: AbortSignal | undefined): Promise<void> {
    while (this.retrievalsDone) {
      const waiting = this.retrievalsDone.promise;
      if (!signal) {
        await waiting;
        continue;
      }
      signal.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        void waiting.then(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
  }

  // ---- forgetting --------------------------------------------------------------------------------------------

  /**
   * Forgets a source, or everything under a folder (`a/b` forgets `a/b` and `a/b/…`), in every
   * knowledge base and every model's table: waiting jobs for them are dropped first (a job in
   * progress is not committed), then their chunks are removed from the disk. '' forgets everything.
   */
  async forget(target: string): Promise<void> {
    const folder = target.replace(/\/+$/, '');
    if (folder === '') return this.forgetAll();
    const { queue } = await this.open();
    await queue.drop({ folder });
    const store = await this.anyStore();
    const result = await store.forgetFolder(folder);
    this.logger.info(`Memory: forgot ${result.chunks} passages of ${target}.`);
    this.changed();
  }

  /** Forgets a whole knowledge base (a persona's own files): its waiting jobs, then its chunks in every model's table. */
  async forgetKnowledgeBase(kb: string): Promise<number> {
    const { queue } = await this.open();
    await queue.drop({ folder: '', kb });
    const result = await (await this.anyStore()).forgetKnowledgeBase(kb);
    this.logger.info(`Memory: forgot ${result.chunks} passages of ${kb}.`);
    this.changed();
    return result.chunks;
  }

  /** Forgets one chunk of a document (as the memory panel shows it), in every model's table. Resolves to the chunks removed. */
  async forgetChunk(source: string, kb: string, index: number): Promise<number> {
    await this.open();
    const store = await this.currentStore();
    const chunk = (await store?.chunksOf(source, kb))?.find((c) => c.index === index);
    if (!store || !chunk) return 0;
    const result = await (await this.anyStore()).forgetChunk(source, kb, chunk.text);
    this.logger.info(`Memory: forgot ${result.chunks} passage(s) of ${source}.`);
    this.changed();
    return result.chunks;
  }

  /** Cancels indexing and removes every table of this workspace's memory from the disk. */
  async forgetAll(): Promise<void> {
    const { queue } = await this.open();
    await queue.cancel();
    const store = await this.anyStore();
    await store.forgetAll();
    this.state = { version: 1, ...(this.state.current ? { current: this.state.current } : {}), models: [] };
    await this.saveState();
    this.logger.info('Memory: forgot everything.');
    this.changed();
  }

  /** Removes the tables of every model but the current one (after re-indexing for it). */
  async discardOtherModels(): Promise<void> {
    await this.open();
    const current = this.state.current;
    const lancedb = await this.load();
    if (!lancedb.ok) return;
    const keep = current ? tableNameFor(current.model, current.dimension) : undefined;
    const others = this.state.models.filter((m) => tableNameFor(m.model, m.dimension) !== keep);
    const connection = await lancedb.lancedb.connect(this.dbDir);
    try {
      for (const m of others) {
        const name = tableNameFor(m.model, m.dimension);
        const store = this.stores.get(name);
        this.stores.delete(name);
        await store?.then((s) => s.close()).catch(() => {});
        if ((await connection.tableNames()).includes(name)) await connection.dropTable(name);
        await fs.rm(path.join(this.dbDir, `${name}.lance`), { recursive: true, force: true });
      }
    } finally {
      connection.close();
    }
    this.state = { ...this.state, models: this.state.models.filter((m) => !others.includes(m)) };
    await this.saveState();
    this.changed();
  }

  // ---- opening -----------------------------------------------------------------------------------------------

  private open(): Promise<Opened> {
    if (this.disposed) return Promise.reject(new MemoryServiceError('disposed', 'Memory is closed.'));
    if (this.opened) return Promise.resolve(this.opened);
    // openOnce runs a tick later, once `opening` is set: it tells listeners 'starting' right away,
    // and a listener that asks for memory (as the extension's does) must wait for this opening, not
    // start a second one (two queues in one process, one of them locked out).
    this.opening ??= Promise.resolve().then(() => this.openOnce()).then(
      (opened) => {
        this.opened = opened;
        return opened;
      },
      (e: unknown) => {
        // Unavailable stays unavailable; anything else (a disk error) may be tried again.
        if (!MemoryServiceError.is(e, 'unavailable')) this.opening = undefined;
        throw e;
      },
    );
    return this.opening;
  }

  private async openOnce(): Promise<Opened> {
    this.setStatus({ state: 'starting' });
    const loaded = await this.load();
    if (!loaded.ok) {
      this.setStatus({ state: 'unavailable', reason: loaded.reason });
      this.logger.warn(`Memory is off: ${loaded.reason}`);
      throw new MemoryServiceError('unavailable', `Memory is off on this machine: ${loaded.reason}`);
    }
    try {
      await this.loadState();
      const { IndexingQueue } = await import('./indexingQueue');
      const queue = await IndexingQueue.open({
        ...this.queueOptions,
        dir: path.join(this.dir, 'queue'),
        logger: this.logger,
        connect: (signal) => this.connectForIndexing(signal),
      });
      queue.onProgress(() => this.changed());
      this.setStatus(this.readyStatus());
      return { queue };
    } catch (e) {
      this.setStatus({ state: 'notStarted' });
      throw e;
    }
  }

  /**
   * The model the server serves now becomes the one memory is kept under (its own table); the
   * documents of the one before stay, offered for indexing again (otherModelDocuments).
   */
  private async useModel(model: ModelKey): Promise<void> {
    const previous = this.state.current;
    if (!previous || previous.model !== model.model || previous.dimension !== model.dimension) {
      if (previous) this.logger.info(`Memory: the embeddings model is now ${model.model} (${model.dimension}-d), was ${previous.model} (${previous.dimension}-d).`);
      this.state = { ...this.state, current: model };
    }
    if (!this.state.models.some((m) => m.model === model.model && m.dimension === model.dimension)) {
      this.state = { ...this.state, models: [...this.state.models, model] };
    }
    await this.saveState();
    this.setStatus(this.readyStatus());
  }

  /** Each indexing run: asks the server which model it serves now and opens that model's table. */
  private async connectForIndexing(signal: AbortSignal): Promise<IndexingBackend> {
    const settings = this.settings();
    const probe = await this.createEmbedder(settings, { purpose: 'indexing' }).probe(signal);
    const model: ModelKey = { model: probe.model ?? (settings.model || 'unknown'), dimension: probe.dimension };
    await this.useModel(model);
    const store = await this.storeFor(model);
    // Every indexing request (retries too) waits while a chat turn waits for its passages.
    const embedder = this.createEmbedder(settings, { expectedDimension: model.dimension, purpose: 'indexing', beforeRequest: (signal) => this.yieldToRetrieval(signal) });
    const team = this.teamConfig;
    let shared: Promise<SharedMemory> | undefined;
    const teamStore = () => {
      shared ??= (async () => {
        const config = await team?.();
        if (!config) {
          const { SharedMemoryError } = await import('./sharedMemory');
          throw new SharedMemoryError('config', 'No team memory is set up (persona.teamMemory.uri in your user settings): files added to it wait until one is.');
        }
        return this.teamMemory(config, model);
      })();
      return shared;
    };
    return {
      // Documents for the team memory go to it, the rest to this workspace's memory: each its own commit.
      store: {
        hasDocument: async (source, kb, docHash) => (kb === SHARED_KB ? (await teamStore()).hasDocument(source, kb, docHash) : store.hasDocument(source, kb, docHash)),
        upsertDocuments: async (docs) => {
          const mine = docs.filter((d) => d.kb !== SHARED_KB);
          const theirs = docs.filter((d) => d.kb === SHARED_KB);
          if (mine.length > 0) await store.upsertDocuments(mine);
          if (theirs.length > 0) await (await teamStore()).upsertDocuments(theirs);
        },
        optimize: async () => {
          await store.optimize();
          if (shared) await (await shared).optimize();
        },
      },
      embed: async (texts, s) => {
        const vectors = await embedder.embed(texts, s);
        const named = embedder.lastModel;
        // Same length, other model: its vectors would sit among the old ones and mean nothing there.
        if (named && named !== model.model) {
          throw new EmbeddingsError('dimensionMismatch', `The embeddings server now answers with ${named}, not ${model.model}`, {
            baseUrl: settings.baseUrl,
            model: named,
            expectedDimension: model.dimension,
            actualDimension: vectors[0]?.length ?? model.dimension,
          });
        }
        return vectors;
      },
      chunkTokens: settings.chunkTokens,
      overlapTokens: settings.overlapTokens,
      maxFileBytes: settings.maxFileBytes,
      ...(settings.maxDocumentBytes !== undefined ? { maxDocumentBytes: settings.maxDocumentBytes } : {}),
    };
  }

  private storeFor(m: ModelKey): Promise<MemoryStore> {
    const name = tableNameFor(m.model, m.dimension);
    let store = this.stores.get(name);
    if (!store) {
      store = MemoryStore.open(this.dbDir, { dimension: m.dimension, model: m.model, logger: this.logger });
      store.catch(() => this.stores.delete(name));
      this.stores.set(name, store);
    }
    return store;
  }

  private async currentStore(): Promise<MemoryStore | undefined> {
    return this.state.current ? this.storeFor(this.state.current) : undefined;
  }

  /**
   * A store to forget through (forgetting covers every model's table, whichever store does it).
   * Without any model seen yet, one for a placeholder model: it opens no table of its own.
   */
  private async anyStore(): Promise<MemoryStore> {
    const m = this.state.current ?? this.state.models[0] ?? { model: 'persona-forget', dimension: 1 };
    return this.storeFor(m);
  }

  private readyStatus(): MemoryServiceStatus {
    const c = this.state.current;
    return c ? { state: 'ready', model: c.model, dimension: c.dimension } : { state: 'ready' };
  }

  private async loadState(): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(this.statePath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    const parsed = StateSchema.safeParse(parseJson(text).value);
    if (parsed.success) {
      this.state = parsed.data;
    } else {
      // Only a cache of what the server said: the next indexing run writes it again.
      this.logger.warn(`Memory: ${this.statePath} could not be read; the embeddings model is asked again on the next run.`);
    }
  }

  private saveState(): Promise<void> {
    return writeFileAtomic(this.statePath, JSON.stringify(this.state));
  }

  private setStatus(status: MemoryServiceStatus): void {
    if (this.disposed) return;
    this.currentStatus = status;
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (e) {
        this.logger.warn(`Memory: a listener threw: ${errorText(e)}`);
      }
    }
  }
}

class ModelChanged extends Error {
  constructor(
    stored: string,
    readonly now: ModelKey,
  ) {
    super(`the embeddings server now uses ${now.model}, but this memory was made with ${stored} — index the files again for it (Persona: Show Memory Status), or load ${stored} again.`);
  }
}

/**
 * `fetch` for a chat turn's client: nothing listening fails at once instead of being retried like a
 * busy answer (the client retries both alike; a turn should wait for a busy server, not a dead one).
 */
function refusedFailsFast(baseUrl: string): typeof globalThis.fetch {
  return async (input, init) => {
    try {
      return await globalThis.fetch(input, init);
    } catch (e) {
      if (errorCode(e) === 'ECONNREFUSED') {
        throw new EmbeddingsError('serverDown', `Cannot connect to the embeddings server at ${baseUrl} (ECONNREFUSED)`, { baseUrl: baseUrl.replace(/\/+$/, ''), detail: 'ECONNREFUSED', attempts: 1, cause: e });
      }
      throw e;
    }
  };
}

/** gpt-tokenizer's o200k, the chunker's: loaded on the first turn that searches memory. */
/** gpt-tokenizer's count, loaded on first use (what the memory budget is counted in). */
export async function defaultTokenCounter(): Promise<(text: string) => number> {
  const { encodeForChunking } = await import('./chunker');
  return (text) => encodeForChunking(text).length;
}
