// Persona's memory on disk: one LanceDB database per workspace, a table of chunks per embedding
// model and dimension. Plain Node; LanceDB and Arrow are loaded on `open`, never at import, so
// importing this module costs nothing. REFERENCE.md (in ../shared beside the repository),
// "LanceDB" and "Forgetting in LanceDB", has the measurements behind the choices made here.
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connection, Table } from '@lancedb/lancedb';
import type * as Arrow from 'apache-arrow';
import type { Logger } from '../util/logger';
import { silentLogger } from '../util/logger';
import type { LanceDbModule } from './lanceLoader';
import { loadLanceDb } from './lanceLoader';
import { PersonaError } from '../util/personaError';
import { SourcePlaceSchema, type SourcePlace } from '../shared/sourcePlace';

export interface MemoryChunk {
  text: string;
  /** The embedding as the model returned it; normalised on insert. */
  vector: ArrayLike<number>;
  startLine: number;
  endLine: number;
  tokenCount: number;
  /** Position of the chunk in its document, from 0. */
  index: number;
  /** Page, heading path or cell it came from (documents and Markdown). */
  place?: SourcePlace | undefined;
}

export interface MemoryDocument {
  /** Workspace-relative path, or the name of an upload. */
  source: string;
  /** 'workspace' (shared by every persona) or `persona:<id>`. */
  kb: string;
  /** Content hash of the whole document: unchanged hash, nothing to embed again. */
  docHash: string;
  chunks: MemoryChunk[];
}

export interface DocumentSummary {
  source: string;
  kb: string;
  docHash: string;
  chunkCount: number;
  /** Tokens over all its chunks (what the whole document would cost in a prompt). */
  tokens: number;
  /** Milliseconds since the epoch of the upsert that wrote it. */
  createdAt: number;
}

/** A stored chunk as the memory panel shows it (no vector). */
export interface StoredChunk {
  index: number;
  startLine: number;
  endLine: number;
  tokenCount: number;
  text: string;
  place?: SourcePlace;
}

export interface SearchOptions {
  /** How many hits to return. */
  k?: number;
  /** Knowledge bases in scope; none, no hits. */
  kbs: string[];
  /** Cosine similarity under which a hit found by its vector alone is dropped. */
  minScore?: number;
  /** The words of the query: adds full-text hits (exact identifiers) fused by rank. */
  queryText?: string;
}

export interface MemoryHit {
  text: string;
  source: string;
  kb: string;
  chunkIndex: number;
  startLine: number;
  endLine: number;
  place?: SourcePlace;
  /** Cosine similarity between the query and the chunk, whichever list found it. */
  score: number;
  /** Reciprocal-rank-fusion score the hits are ordered by (equals 1/(60+rank) without text). */
  fused: number;
  /** Which search found it. */
  via: 'vector' | 'text' | 'both';
}

export interface OpenOptions {
  /** Length of the model's vectors (1024 for BGE-M3). */
  dimension: number;
  /** Embedding model id; vectors of different models never share a table. */
  model: string;
  /** Rows from which `optimize()` builds a vector index; below it search scans (fast enough). */
  vectorIndexMinRows?: number;
  logger?: Logger;
  /**
   * A table on object storage (`dir` is then a URI such as `s3://bucket/path`) that this store is
   * the only writer of, among tables other stores write (team memory, sharedMemory.ts). Forgetting
   * and dropping then touch this store's own table only; cleanup never deletes files no version
   * references (another writer's upload may be one of them); there is no local folder to sweep; and
   * whether the table exists is asked by opening it (LanceDB lists no tables on some S3 servers).
   */
  remote?: RemoteTable;
}

export interface RemoteTable {
  /** LanceDB's object-store options: endpoint, region, credentials… */
  storageOptions: Record<string, string>;
  /** The table's name: one per writer. */
  tableName: string;
  /** Every row of the table is in this knowledge base: search needs no filter for it. */
  kb: string;
  /** Kept with the table's schema, so that a reader can tell what model made its vectors. */
  metadata?: Record<string, string>;
}

export interface UpsertResult {
  /** Table version after the commit; undefined when nothing was written. */
  version: number | undefined;
  inserted: number;
  updated: number;
  deleted: number;
}

export interface OptimizeResult {
  rows: number;
  /** What was built from scratch in this call. */
  built: ('fts' | 'vector')[];
  ms: number;
}

export interface ForgetResult {
  /** Chunks removed, over every model's table. */
  chunks: number;
  /** Tables that held any of them. */
  tables: string[];
}

/** What forgetting looks at in a row: its document, and its text when asked for. */
interface ForgetRow {
  source: string;
  kb: string;
  text?: string;
}

export type MemoryStoreErrorReason = 'unavailable' | 'dimensionMismatch' | 'invalidVector' | 'invalidDocument' | 'closed';

export class MemoryStoreError extends PersonaError<MemoryStoreErrorReason> {
  override readonly name = 'MemoryStoreError';
}

/** Default row count from which a vector index pays: REFERENCE measured flat `dot` at 25 ms p50 for 10k. */
export const defaultVectorIndexMinRows = 10_000;
/** LanceDB refuses to train a vector index on fewer rows. */
const minRowsForVectorIndex = 256;
const rrfK = 60;
const ftsIndexName = 'text_idx';
const vectorIndexName = 'vector_idx';
const tablePrefix = 'chunks_';
/** How long a lookup trusts the documents it read without asking the disk for a newer version. */
const documentsFreshMs = 250;
/** HNSW search breadth; REFERENCE: ef 64 gave recall@8 0.96-0.97 at 10k-100k rows. */
const hnswEf = 64;

const resultColumns = ['text', 'source', 'kb', 'chunkIndex', 'startLine', 'endLine', 'place'] as const;

/**
 * `chunks_<slug>_<hash>_<dim>`: the slug makes the folder recognisable, the hash of the exact
 * model id keeps two ids that slug alike ("bge-m3", "BGE_M3") apart.
 */
export function tableNameFor(model: string, dimension: number): string {
  const slug = model
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 40);
  const hash = sha256(model).slice(0, 8);
  return `${tablePrefix}${slug || 'model'}_${hash}_${dimension}`;
}

/**
 * Stable chunk id: the same chunk of the same document in the same knowledge base gets the same
 * id on every run, so a retried upsert matches instead of duplicating. The kb is part of it
 * because one file can sit in two knowledge bases.
 */
export function chunkId(kb: string, source: string, index: number, text: string): string {
  return sha256(`${kb}\0${source}\0${index}\0${sha256(text)}`).slice(0, 32);
}

/** LanceDB's answer to opening a table that does not exist. */
export function isTableNotFound(e: unknown): boolean {
  return /not found|does not exist/i.test(String(e));
}

/** A SQL string literal (DataFusion): quotes doubled, so paths with `'` stay paths. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** L2-normalised copy; throws on a vector that has no direction or is not numbers. */
export function normalise(vector: ArrayLike<number>, dimension: number): Float32Array {
  if (vector.length !== dimension) {
    throw new MemoryStoreError(
      'dimensionMismatch',
      `The embedding has ${vector.length} dimensions where this memory expects ${dimension}: the embedding model changed, or the server returned a failed item.`,
    );
  }
  let sum = 0;
  for (let i = 0; i < dimension; i++) {
    const x = vector[i]!;
    sum += x * x;
  }
  const norm = Math.sqrt(sum);
  if (!Number.isFinite(norm) || norm === 0) {
    throw new MemoryStoreError('invalidVector', 'The embedding is all zeros or not a number: it cannot be searched.');
  }
  const out = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) out[i] = vector[i]! / norm;
  return out;
}

export class MemoryStore {
  private table: Table | undefined;
  /** Writes under way and ended, so that a lookup knows whether what it read may be trusted for a while. */
  private writing = 0;
  private writesDone = 0;
  /** The open (or create) of the table under way, if any. */
  private tableOpening: Promise<Table | undefined> | undefined;
  private writes: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Documents of the table as of a version, so that hasDocument is a lookup, not a scan. */
  private documents: { version: number; byKey: Map<string, DocumentSummary>; checkedAt?: number } | undefined;

  private constructor(
    readonly dir: string,
    readonly tableName: string,
    readonly dimension: number,
    private readonly lancedb: LanceDbModule,
    private readonly arrow: typeof Arrow,
    private readonly connection: Connection,
    private readonly schema: Arrow.Schema,
    private readonly vectorIndexMinRows: number,
    private readonly logger: Logger,
    private readonly remote: RemoteTable | undefined,
  ) {}

  /** Opens (or prepares) the memory in `dir` for one model; throws MemoryStoreError('unavailable') where LanceDB cannot run. */
  static async open(dir: string, options: OpenOptions): Promise<MemoryStore> {
    if (!Number.isInteger(options.dimension) || options.dimension <= 0) {
      throw new MemoryStoreError('dimensionMismatch', `Invalid embedding dimension ${options.dimension}.`);
    }
    const loaded = await loadLanceDb();
    if (!loaded.ok) throw new MemoryStoreError('unavailable', loaded.reason);
    const arrow = require('apache-arrow') as typeof Arrow;
    // 0: every read checks for a newer version, so commits and cleanups by another process (a
    // second window, a killed-and-restarted indexer) are seen at once instead of failing later.
    const remote = options.remote;
    const connection = await loaded.lancedb.connect(dir, { readConsistencyInterval: 0, ...(remote ? { storageOptions: remote.storageOptions } : {}) });
    const store = new MemoryStore(
      dir,
      remote?.tableName ?? tableNameFor(options.model, options.dimension),
      options.dimension,
      loaded.lancedb,
      arrow,
      connection,
      chunkSchema(arrow, options.dimension, remote?.metadata),
      options.vectorIndexMinRows ?? defaultVectorIndexMinRows,
      options.logger ?? silentLogger,
      remote,
    );
    await store.openTable();
    return store;
  }

  /** Replaces every chunk of the document (source, kb) by `doc.chunks`, in one commit. */
  upsertDocument(doc: MemoryDocument): Promise<UpsertResult> {
    return this.upsertDocuments([doc]);
  }

  /**
   * Replaces the chunks of each document, all in one commit: a reader (or a process started after
   * a crash) sees every document either as it was or as it is now, never a mix. Batching several
   * documents per call matters at scale: a replacing commit scans the table once.
   */
  async upsertDocuments(docs: MemoryDocument[]): Promise<UpsertResult> {
    const keys = new Set<string>();
    const rows: ChunkRow[] = [];
    const createdAt = Date.now();
    for (const doc of docs) {
      const key = documentKey(doc.source, doc.kb);
      if (keys.has(key)) throw new MemoryStoreError('invalidDocument', `${doc.source} appears twice in one upsert.`);
      keys.add(key);
      rows.push(...this.rowsOf(doc, createdAt));
    }
    if (docs.length === 0) return { version: undefined, inserted: 0, updated: 0, deleted: 0 };
    return this.exclusive(() => this.retryOnFreshHandle(() => this.replaceDocuments(docs, rows, createdAt)));
  }

  /** Deletes the document's chunks (a file deleted from the workspace). Not forgetting: see forgetSource. */
  removeDocument(source: string, kb: string): Promise<UpsertResult> {
    return this.upsertDocuments([{ source, kb, docHash: '-', chunks: [] }]);
  }

  /** True when this exact version of the document is stored: re-adding it needs no embedding. */
  async hasDocument(source: string, kb: string, docHash: string): Promise<boolean> {
    const docs = await this.documentMap();
    return docs.get(documentKey(source, kb))?.docHash === docHash;
  }

  /**
   * The documents of `docs` that are not stored as given, read afresh from the storage: after a
   * commit, those another writer's commit at the same moment overwrote (object storage without
   * conditional writes). A document with no chunks counts as written when it is absent.
   */
  async notAsWritten(docs: readonly MemoryDocument[]): Promise<MemoryDocument[]> {
    if (docs.length === 0) return [];
    // The rows themselves, not the document map: an overwritten commit has the same version number.
    const where = docs.map((d) => `(source = ${sqlString(d.source)} AND kb = ${sqlString(d.kb)})`).join(' OR ');
    const rows: ResultRow[] = await this.read([], (table) => table.query().where(where).select(['source', 'kb', 'docHash']).toArray());
    const stored = new Map<string, { docHash: string; chunks: number }>();
    for (const r of rows) {
      const key = documentKey(String(r.source), String(r.kb));
      const s = stored.get(key);
      if (s && s.docHash === r.docHash) s.chunks++;
      else if (!s) stored.set(key, { docHash: String(r.docHash), chunks: 1 });
      else s.docHash = '';
    }
    this.documents = undefined;
    return docs.filter((d) => {
      const s = stored.get(documentKey(d.source, d.kb));
      return d.chunks.length === 0 ? s !== undefined : s?.docHash !== d.docHash || s.chunks !== d.chunks.length;
    });
  }

  /** Every document stored for this model, optionally of one knowledge base, by source; `fresh` asks the storage for its latest version. */
  async listDocuments(kb?: string, fresh = false): Promise<DocumentSummary[]> {
    const docs = [...(await this.documentMap(fresh)).values()];
    return docs
      .filter((d) => kb === undefined || d.kb === kb)
      .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : a.kb < b.kb ? -1 : 1));
  }

  /** The chunks of one document in order, without their vectors; [] when it is not stored. */
  async chunksOf(source: string, kb: string): Promise<StoredChunk[]> {
    const rows: ResultRow[] = await this.read([], (table) =>
      table
        .query()
        .where(`source = ${sqlString(source)} AND kb = ${sqlString(kb)}`)
        .select(['chunkIndex', 'startLine', 'endLine', 'tokenCount', 'text', 'place'])
        .toArray(),
    );
    return rows
      .map((r): StoredChunk => {
        const chunk: StoredChunk = { index: Number(r.chunkIndex), startLine: Number(r.startLine), endLine: Number(r.endLine), tokenCount: Number(r.tokenCount), text: String(r.text) };
        const place = parsePlace(r.place);
        return place ? { ...chunk, place } : chunk;
      })
      .sort((a, b) => a.index - b.index);
  }

  /** Version of this model's table (undefined before the first write): each commit adds one. */
  async tableVersion(): Promise<number | undefined> {
    return this.read(undefined, (table) => table.version());
  }

  /** Number of chunks stored for this model. */
  async countChunks(kb?: string): Promise<number> {
    return this.read(0, (table) => table.countRows(kb === undefined ? undefined : `kb = ${sqlString(kb)}`));
  }

  /**
   * The k chunks nearest to `vector` in the knowledge bases in scope; with `queryText`, fused by
   * reciprocal rank with a full-text search so exact identifiers that embeddings miss are found.
   */
  async search(vector: ArrayLike<number>, options: SearchOptions): Promise<MemoryHit[]> {
    const k = options.k ?? 8;
    if (options.kbs.length === 0 || k <= 0) return [];
    const query = normalise(vector, this.dimension);
    // The filter only when the table holds a knowledge base out of scope: a filtered search
    // first scans the kb column of every row (about 10 ms at 100k rows), the index search alone
    // takes a few. Read fresh, so a knowledge base another window just added is never let through.
    if (this.remote && !options.kbs.includes(this.remote.kb)) return [];
    const inTable = this.remote ? undefined : new Set([...(await this.documentMap(true)).values()].map((d) => d.kb));
    const scoped = inTable !== undefined && [...inTable].some((kb) => !options.kbs.includes(kb));
    const where = scoped ? `kb IN (${options.kbs.map(sqlString).join(', ')})` : undefined;
    const text = options.queryText?.trim() ?? '';
    const candidates = text ? Math.max(2 * k, 16) : k;

    const vectorRows: ResultRow[] = await this.read([], (table) => {
      const search = table
        .vectorSearch(query)
        // l2, not dot: on unit vectors both rank alike and scan as fast, but LanceDB 0.31's
        // HNSW_SQ index built for `dot` had recall@8 0.16 here, built for `l2` 0.975.
        .distanceType('l2')
        // HNSW refuses an ef below the number of results asked for.
        .ef(Math.max(hnswEf, candidates));
      return (where ? search.where(where) : search)
        .select([...resultColumns, '_distance'])
        .limit(candidates)
        .toArray();
    });
    const fused = new Map<string, MemoryHit>();
    let rank = 0;
    for (const row of vectorRows) {
      rank++;
      // LanceDB's l2 is the squared distance; on unit vectors it is 2 - 2·cosine.
      const score = 1 - Number(row._distance) / 2;
      if (options.minScore !== undefined && score < options.minScore) continue;
      fused.set(hitKey(row), { ...hitOf(row), score, fused: 1 / (rrfK + rank), via: 'vector' });
    }

    if (text) {
      const textRows: ResultRow[] = await this.read([], async (table) => {
        // Until optimize() builds the index there is no full-text search; the vector one stands.
        if (!(await table.listIndices()).some((i) => i.name === ftsIndexName)) return [];
        const search = table.query().fullTextSearch(text);
        return (where ? search.where(where) : search)
          // `_score` named so that LanceDB does not warn on every query that it adds it itself.
          .select([...resultColumns, 'vector', '_score'])
          .limit(candidates)
          .toArray();
      });
      rank = 0;
      for (const row of textRows) {
        rank++;
        const key = hitKey(row);
        const seen = fused.get(key);
        if (seen) {
          seen.fused += 1 / (rrfK + rank);
          seen.via = 'both';
        } else {
          // Kept whatever its cosine: the words matched, which is what the text search is for.
          const score = dot(query, row.vector.toArray() as Float32Array);
          fused.set(key, { ...hitOf(row), score, fused: 1 / (rrfK + rank), via: 'text' });
        }
      }
    }
    return [...fused.values()].sort((a, b) => b.fused - a.fused || b.score - a.score).slice(0, k);
  }

  /**
   * Builds what search needs as the table grows: the full-text index (once; later rows are
   * searched unindexed until this runs again), and from `vectorIndexMinRows` an IVF_HNSW_SQ
   * index (l2 on the unit vectors). Also folds new rows into the indexes and compacts small
   * fragments (a flat search over 200 one-document fragments took 45 ms, compacted 30 ms).
   * Call after a batch of documents, not after each one: an index build takes seconds.
   */
  optimize(): Promise<OptimizeResult> {
    return this.exclusive(async () => {
      const started = performance.now();
      const table = await this.openTable();
      if (!table) return { rows: 0, built: [], ms: 0 };
      const rows = await table.countRows();
      const indices = await table.listIndices();
      const built: OptimizeResult['built'] = [];
      if (rows > 0 && !indices.some((i) => i.name === ftsIndexName)) {
        await this.createFtsIndex(table);
        built.push('fts');
      }
      if (rows >= Math.max(this.vectorIndexMinRows, minRowsForVectorIndex) && !indices.some((i) => i.name === vectorIndexName)) {
        await this.createVectorIndex(table);
        built.push('vector');
      }
      // Folds unindexed rows into the indexes and compacts; old versions stay for a day so a
      // reader in another process is never cut off mid-query.
      await table.optimize({ cleanupOlderThan: new Date(Date.now() - 24 * 3600_000) });
      return { rows, built, ms: performance.now() - started };
    });
  }

  /** Removes every chunk of `source` (in one knowledge base, or in all) from the disk, in every model's table. */
  forgetSource(source: string, kb?: string): Promise<ForgetResult> {
    return this.forget((d) => d.source === source && (kb === undefined || d.kb === kb));
  }

  /** Removes every chunk whose source is `folder` or under it (`folder/…`), like forgetSource. */
  forgetFolder(folder: string, kb?: string): Promise<ForgetResult> {
    const path = folder.replace(/\/+$/, '');
    const prefix = `${path}/`;
    return this.forget((d) => (d.source === path || d.source.startsWith(prefix)) && (kb === undefined || d.kb === kb));
  }

  /**
   * Removes one chunk of a document — the rows of `source` in `kb` holding exactly `text`, in every
   * model's table — with the same provable removal as forgetting a document. The document's other
   * chunks stay; its hash too, so adding the unchanged file again does not bring the chunk back.
   */
  forgetChunk(source: string, kb: string, text: string): Promise<ForgetResult> {
    return this.forget((d) => d.source === source && d.kb === kb && d.text === text, ['text']);
  }

  /** Removes every chunk of one knowledge base (a persona's own files), in every model's table. */
  forgetKnowledgeBase(kb: string): Promise<ForgetResult> {
    return this.forget((d) => d.kb === kb);
  }

  /** Drops every table of this database (all models) and removes their folders. */
  forgetAll(): Promise<void> {
    return this.exclusive(async () => {
      this.table = undefined;
      this.documents = undefined;
      if (this.remote) {
        const table = await this.openRemoteTable();
        if (table) {
          table.close();
          await this.connection.dropTable(this.tableName);
        }
        return;
      }
      for (const name of await this.connection.tableNames()) {
        await this.connection.dropTable(name);
      }
      // dropTable removes the folder; what a killed write left beside it goes too.
      for (const entry of await readdir(this.dir).catch(() => [] as string[])) {
        if (entry.endsWith('.lance') || entry.startsWith('.tmp')) {
          await rm(join(this.dir, entry), { recursive: true, force: true });
        }
      }
    });
  }

  /** Waits for pending writes and releases the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.exclusive(async () => {
      this.closed = true;
      this.table?.close();
      this.table = undefined;
      this.connection.close();
    });
  }

  // ---------------------------------------------------------------------------------------------

  private async replaceDocuments(docs: MemoryDocument[], rows: ChunkRow[], createdAt: number): Promise<UpsertResult> {
    const nothing: UpsertResult = { version: undefined, inserted: 0, updated: 0, deleted: 0 };
    // Read again on every attempt: a commit that went through before an error is then seen,
    // and the retry merges instead of appending a second copy.
    const stored = await this.documentMap(true);
    const seenAt = this.documents?.version;
    const replacing = docs.filter((d) => stored.has(documentKey(d.source, d.kb)));
    if (replacing.length === 0) {
      if (rows.length === 0) return nothing;
      // None of these documents has a chunk stored: an append is the same single commit
      // without the merge's scan of the whole table (50 ms at 10k rows, growing with it).
      const table = (await this.openTable(true))!;
      const res = await table.add(this.toArrow(rows));
      this.noteCommitted(seenAt, res.version, docs, createdAt);
      return { version: res.version, inserted: rows.length, updated: 0, deleted: 0 };
    }
    const table = (await this.openTable(true))!;
    const docPredicate = replacing
      .map((d) => `(source = ${sqlString(d.source)} AND kb = ${sqlString(d.kb)})`)
      .join(' OR ');
    if (rows.length === 0) {
      const deleted = replacing.reduce((n, d) => n + stored.get(documentKey(d.source, d.kb))!.chunkCount, 0);
      const res = await table.delete(docPredicate);
      this.noteCommitted(seenAt, res.version, docs, createdAt);
      return { version: res.version, inserted: 0, updated: 0, deleted };
    }
    // One merge = one commit: chunks whose id matches are rewritten, new ones inserted, and the
    // chunks of these documents absent from their new version deleted, in the same manifest.
    const res = await table
      .mergeInsert('id')
      .whenMatchedUpdateAll()
      .whenNotMatchedInsertAll()
      .whenNotMatchedBySourceDelete({ where: docPredicate })
      .execute(this.toArrow(rows));
    this.noteCommitted(seenAt, res.version, docs, createdAt);
    return {
      version: res.version,
      inserted: res.numInsertedRows,
      updated: res.numUpdatedRows,
      deleted: res.numDeletedRows,
    };
  }

  private async forget(matches: (row: ForgetRow) => boolean, columns: readonly 'text'[] = []): Promise<ForgetResult> {
    return this.exclusive(async () => {
      const result: ForgetResult = { chunks: 0, tables: [] };
      const names = this.remote ? [this.tableName] : (await this.connection.tableNames()).filter((n) => n.startsWith(tablePrefix));
      for (const name of names) {
        const table = name === this.tableName ? await this.openTable() : await this.connection.openTable(name);
        if (!table) continue;
        try {
          const removed = await this.forgetInTable(table, name, matches, columns);
          if (removed > 0) {
            result.chunks += removed;
            result.tables.push(name);
          }
        } finally {
          if (table !== this.table) table.close();
        }
      }
      this.documents = undefined;
      return result;
    });
  }

  /** REFERENCE's measured sequence; any step left out leaves the text readable on disk. */
  private async forgetInTable(table: Table, name: string, matches: (row: ForgetRow) => boolean, columns: readonly 'text'[]): Promise<number> {
    const rows = await table.query().select(['id', 'source', 'kb', ...columns]).withRowId().toArray();
    const doomed = rows.filter((r) => matches({ source: r.source, kb: r.kb, ...(r.text !== undefined ? { text: String(r.text) } : {}) }));
    if (doomed.length === 0) return 0;
    // Deleted by id, never by source or text: the predicate is written into the transaction
    // file, and a path can itself be what the person wants forgotten.
    const ids = doomed.map((r) => sqlString(r.id as string));
    for (let i = 0; i < ids.length; i += 2000) {
      await table.delete(`id IN (${ids.slice(i, i + 2000).join(', ')})`);
    }
    // A delete only marks rows: the bytes stay in the fragment's data file for as long as any of
    // its rows live. Rewriting the survivors into new files lets cleanup drop the old ones.
    const fragments = [...new Set(doomed.map((r) => BigInt(r._rowid) >> 32n))];
    const ranges = fragments.map((f) => `(_rowid >= ${f << 32n} AND _rowid < ${(f + 1n) << 32n})`);
    for (let i = 0; i < ranges.length; i += 200) {
      await table.update({ where: ranges.slice(i, i + 200).join(' OR '), valuesSql: { id: 'id' } });
    }
    // Compacted before the indexes are rebuilt: over several fragments LanceDB's FTS build
    // writes a different token file from run to run for the same rows (1219 or 1478 bytes
    // here), so only a build over the compacted table can be compared byte for byte with one
    // from a table that never held the text (the test does).
    await table.optimize();
    // Index files keep the deleted text (FTS tokens) and vectors until rebuilt.
    const left = await table.countRows();
    for (const index of await table.listIndices()) {
      if (index.name === ftsIndexName) {
        if (left > 0) await this.createFtsIndex(table);
        else await table.dropIndex(index.name);
      } else if (index.name === vectorIndexName) {
        if (left >= minRowsForVectorIndex) await this.createVectorIndex(table);
        else await table.dropIndex(index.name);
      } else {
        // Not one of ours: it may hold the text too, and nothing here knows how to rebuild it.
        await table.dropIndex(index.name);
      }
    }
    if (this.remote) {
      // Every old version goes now, and with it the files only they referenced (the old data and
      // index files: verified deletions). Files no version references are left alone: one may be
      // another writer's upload whose commit has not landed yet.
      await table.optimize({ cleanupOlderThan: new Date() });
    } else {
      // deleteUnverified: files of any age that no version references — the old data and index
      // files — go now, not in 7 days. Safe because writes in this process are serialised and
      // Persona has one writer per workspace.
      await table.optimize({ cleanupOlderThan: new Date(), deleteUnverified: true });
      await sweepTemporaryFiles(join(this.dir, `${name}.lance`));
    }
    this.logger.info(`Memory: forgot ${doomed.length} chunks in ${name}; ${left} remain.`);
    return doomed.length;
  }

  private async createFtsIndex(table: Table): Promise<void> {
    // Positions only serve phrase queries, which retrieval does not make: a smaller index.
    await table.createIndex('text', {
      config: this.lancedb.Index.fts({ withPosition: false }),
      name: ftsIndexName,
      replace: true,
    });
  }

  private async createVectorIndex(table: Table): Promise<void> {
    // One partition: REFERENCE measured recall@8 0.96-0.97 with ef 64 up to 100k rows; more
    // partitions lower recall for the same ef. IVF_PQ's defaults had recall 0.36. `l2` because
    // the same index trained for `dot` found 16% of the true top 8 (see search).
    await table.createIndex('vector', {
      config: this.lancedb.Index.hnswSq({ distanceType: 'l2', numPartitions: 1 }),
      name: vectorIndexName,
      replace: true,
    });
  }

  /**
   * Keeps the document list current after our own commit without reading the table again (a
   * scan per upsert would cost more than the upsert at 100k rows). Only when nothing else
   * committed in between: otherwise the next read scans.
   */
  private noteCommitted(seenAt: number | undefined, committed: number, docs: MemoryDocument[], createdAt: number): void {
    const docsAt = this.documents;
    if (!docsAt || seenAt === undefined || docsAt.version !== seenAt || committed !== seenAt + 1) {
      this.documents = undefined;
      return;
    }
    for (const d of docs) {
      const key = documentKey(d.source, d.kb);
      if (d.chunks.length === 0) docsAt.byKey.delete(key);
      else docsAt.byKey.set(key, { source: d.source, kb: d.kb, docHash: d.docHash, chunkCount: d.chunks.length, tokens: d.chunks.reduce((n, c) => n + c.tokenCount, 0), createdAt });
    }
    docsAt.version = committed;
  }

  /**
   * The documents of the table. Asking for the table's version reads its latest manifest from disk
   * (another window may have committed): for lookups (`fresh` false) that is done at most every
   * `documentsFreshMs`, so re-adding 10k unchanged files is 10k map lookups, not 10k disk reads.
   * This store's own writes update or drop the map at once; a write always reads fresh.
   */
  private async documentMap(fresh = false): Promise<Map<string, DocumentSummary>> {
    const known = this.documents;
    if (!fresh && known?.checkedAt !== undefined && performance.now() - known.checkedAt < documentsFreshMs) return known.byKey;
    // Trusted later only if no write of this store started or ended while it was read: a read
    // that began before a commit may finish after it with the old version.
    const writesAtStart = this.writesDone;
    const trusted = () => (this.writing === 0 && this.writesDone === writesAtStart ? performance.now() : undefined);
    const read = await this.read(undefined, async (table) => {
      const version = await table.version();
      if (this.documents?.version === version) {
        this.documents.checkedAt = trusted();
        return { version, rows: undefined };
      }
      return { version, rows: await table.query().select(['source', 'kb', 'docHash', 'createdAt', 'tokenCount']).toArrow() };
    });
    if (!read) return new Map();
    const { version, rows } = read;
    if (!rows) return this.documents!.byKey;
    // Column by column: reading 100k rows as row objects took 310 ms, the columns a third of it (bench:memory, panel).
    const column = <T,>(name: string) => (rows.getChild(name)?.toArray() ?? []) as ArrayLike<T>;
    const sources = column<string>('source');
    const kbs = column<string>('kb');
    const hashes = column<string>('docHash');
    const created = column<number>('createdAt');
    const tokens = column<number>('tokenCount');
    const byKey = new Map<string, DocumentSummary>();
    for (let i = 0; i < rows.numRows; i++) {
      const key = documentKey(sources[i]!, kbs[i]!);
      const d = byKey.get(key);
      if (d) {
        d.chunkCount++;
        d.tokens += Number(tokens[i]);
      } else byKey.set(key, { source: sources[i]!, kb: kbs[i]!, docHash: hashes[i]!, chunkCount: 1, tokens: Number(tokens[i]), createdAt: Number(created[i]) });
    }
    this.documents = { version, byKey, checkedAt: trusted() };
    return byKey;
  }

  /**
   * The table of this model, opened once. Created only by a write, so that a memory that was
   * never used (or was forgotten) leaves no folder.
   */
  private async openTable(create = false): Promise<Table | undefined> {
    if (this.closed) throw new MemoryStoreError('closed', 'The memory store is closed.');
    // One open at a time: a lookup that listed the tables while the first write was creating this
    // one would find its folder before its first version and fail ("…/_versions not found").
    while (this.tableOpening) {
      await this.tableOpening.catch(() => undefined);
      if (this.closed) throw new MemoryStoreError('closed', 'The memory store is closed.');
    }
    if (this.table) return this.table;
    const opening = (async () => {
      // Remote: opened straight away (some S3 servers list no tables), absent when not found.
      const table = this.remote ? await this.openRemoteTable() : (await this.connection.tableNames()).includes(this.tableName) ? await this.connection.openTable(this.tableName) : undefined;
      if (table) {
        await this.checkDimension(table);
        await addPlaceColumn(table);
        this.table = table;
      } else if (create) {
        this.table = await this.connection.createEmptyTable(this.tableName, this.schema, { mode: 'create', existOk: true });
      }
      return this.table;
    })();
    this.tableOpening = opening;
    try {
      return await opening;
    } finally {
      if (this.tableOpening === opening) this.tableOpening = undefined;
    }
  }

  /** The remote table, or undefined when it does not exist. */
  private async openRemoteTable(): Promise<Table | undefined> {
    try {
      return await this.connection.openTable(this.tableName);
    } catch (e) {
      if (isTableNotFound(e)) return undefined;
      throw e;
    }
  }

  private async checkDimension(table: Table): Promise<void> {
    const field = (await table.schema()).fields.find((f) => f.name === 'vector');
    const size = (field?.type as { listSize?: number } | undefined)?.listSize;
    if (size !== this.dimension) {
      throw new MemoryStoreError(
        'dimensionMismatch',
        `The memory table ${this.tableName} holds vectors of ${size ?? 'unknown'} dimensions, not ${this.dimension}.`,
      );
    }
  }

  /**
   * A read on this model's table (`empty` while it does not exist), tried once more on a fresh
   * handle if it fails: a handle can point at files that another process's cleanup removed
   * (`Not found: …/data/<file>.lance`), or at a table another store dropped.
   */
  private async read<T>(empty: T, run: (table: Table) => Promise<T>): Promise<T> {
    const table = await this.openTable();
    if (!table) return empty;
    try {
      return await run(table);
    } catch (err) {
      this.logger.debug(`Memory: read failed (${String(err)}); retrying on a fresh handle.`);
      this.forgetHandle();
      const fresh = await this.openTable();
      return fresh ? run(fresh) : empty;
    }
  }

  /** A write tried once more on a fresh handle; `run` must read what it needs again. */
  private async retryOnFreshHandle<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (MemoryStoreError.is(err)) throw err;
      this.logger.debug(`Memory: write failed (${String(err)}); retrying on a fresh handle.`);
      this.forgetHandle();
      return run();
    }
  }

  /** Not closed: a concurrent read may still be using it. */
  private forgetHandle(): void {
    this.table = undefined;
    this.documents = undefined;
  }

  /** Writes run one at a time: LanceDB would retry conflicting commits, but forget must run alone. */
  private exclusive<T>(run: () => Promise<T>): Promise<T> {
    const next = this.writes.then(async () => {
      if (this.closed) throw new MemoryStoreError('closed', 'The memory store is closed.');
      this.writing++;
      try {
        return await run();
      } finally {
        this.writing--;
        this.writesDone++;
      }
    });
    this.writes = next.catch(() => undefined);
    return next;
  }

  private rowsOf(doc: MemoryDocument, createdAt: number): ChunkRow[] {
    if (!doc.source || !doc.kb || !doc.docHash) {
      throw new MemoryStoreError('invalidDocument', 'A document needs a source, a knowledge base and a content hash.');
    }
    const seen = new Set<number>();
    return doc.chunks.map((c) => {
      if (seen.has(c.index)) {
        throw new MemoryStoreError('invalidDocument', `Chunk index ${c.index} appears twice in ${doc.source}.`);
      }
      seen.add(c.index);
      return {
        id: chunkId(doc.kb, doc.source, c.index, c.text),
        vector: normalise(c.vector, this.dimension),
        text: c.text,
        source: doc.source,
        docHash: doc.docHash,
        chunkIndex: c.index,
        startLine: c.startLine,
        endLine: c.endLine,
        tokenCount: c.tokenCount,
        kb: doc.kb,
        createdAt,
        place: c.place ? JSON.stringify(c.place) : '',
      };
    });
  }

  /** Columns built directly: no per-row conversion of 1024 numbers through JS objects. */
  private toArrow(rows: ChunkRow[]): Arrow.Table {
    const a = this.arrow;
    const n = rows.length;
    const dim = this.dimension;
    const flat = new Float32Array(n * dim);
    rows.forEach((r, i) => flat.set(r.vector, i * dim));
    const vectorType = this.schema.fields[1]!.type as Arrow.FixedSizeList<Arrow.Float32>;
    const strings = (pick: (r: ChunkRow) => string) => a.vectorFromArray(rows.map(pick), new a.Utf8()).data[0]!;
    const ints = (pick: (r: ChunkRow) => number) =>
      a.makeData({ type: new a.Int32(), length: n, nullCount: 0, data: Int32Array.from(rows, pick) });
    const children = [
      strings((r) => r.id),
      a.makeData({
        type: vectorType,
        length: n,
        nullCount: 0,
        child: a.makeData({ type: new a.Float32(), length: n * dim, nullCount: 0, data: flat }),
      }),
      strings((r) => r.text),
      strings((r) => r.source),
      strings((r) => r.docHash),
      ints((r) => r.chunkIndex),
      ints((r) => r.startLine),
      ints((r) => r.endLine),
      ints((r) => r.tokenCount),
      strings((r) => r.kb),
      a.makeData({ type: new a.Float64(), length: n, nullCount: 0, data: Float64Array.from(rows, (r) => r.createdAt) }),
      strings((r) => r.place),
    ];
    const struct = a.makeData({ type: new a.Struct(this.schema.fields), length: n, nullCount: 0, children });
    return new a.Table(this.schema, [new a.RecordBatch(this.schema, struct)]);
  }
}

interface ChunkRow {
  id: string;
  vector: Float32Array;
  text: string;
  source: string;
  docHash: string;
  chunkIndex: number;
  startLine: number;
  endLine: number;
  tokenCount: number;
  kb: string;
  createdAt: number;
  /** JSON of the chunk's SourcePlace, '' when it has none. */
  place: string;
}

function chunkSchema(a: typeof Arrow, dimension: number, metadata?: Record<string, string>): Arrow.Schema {
  const f = (name: string, type: Arrow.DataType) => new a.Field(name, type, false);
  return new a.Schema(
    [
      f('id', new a.Utf8()),
      f('vector', new a.FixedSizeList(dimension, new a.Field('item', new a.Float32(), true))),
      f('text', new a.Utf8()),
      f('source', new a.Utf8()),
      f('docHash', new a.Utf8()),
      f('chunkIndex', new a.Int32()),
      f('startLine', new a.Int32()),
      f('endLine', new a.Int32()),
      f('tokenCount', new a.Int32()),
      f('kb', new a.Utf8()),
      f('createdAt', new a.Float64()),
      f('place', new a.Utf8()),
    ],
    metadata ? new Map(Object.entries(metadata)) : undefined,
  );
}

/**
 * Tables written before chunks had places get the column, empty, when first opened (a new table
 * version; the rows' data files are not rewritten). A build from before it still reads the table.
 */
async function addPlaceColumn(table: Table): Promise<void> {
  if ((await table.schema()).fields.some((f) => f.name === 'place')) return;
  try {
    await table.addColumns([{ name: 'place', valueSql: "''" }]);
  } catch (e) {
    // Another window added it first.
    if (!(await table.schema()).fields.some((f) => f.name === 'place')) throw e;
  }
}

function parsePlace(value: unknown): SourcePlace | undefined {
  if (typeof value !== 'string' || !value) return undefined;
  try {
    const parsed = SourcePlaceSchema.safeParse(JSON.parse(value));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function documentKey(source: string, kb: string): string {
  return `${kb}\0${source}`;
}

type ResultRow = any;

function hitKey(row: ResultRow): string {
  return `${row.kb}\0${row.source}\0${row.chunkIndex}`;
}

function hitOf(row: ResultRow): Pick<MemoryHit, 'text' | 'source' | 'kb' | 'chunkIndex' | 'startLine' | 'endLine' | 'place'> {
  const place = parsePlace(row.place);
  return {
    ...(place ? { place } : {}),
    text: row.text,
    source: row.source,
    kb: row.kb,
    chunkIndex: row.chunkIndex,
    startLine: row.startLine,
    endLine: row.endLine,
  };
}

function dot(a: Float32Array, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Removes what killed writes left (`data/.tmp*`, `_indices/<uuid>/.tmp*`): no optimize does, and
 * they can hold text. Only while no write runs on the table.
 */
export async function sweepTemporaryFiles(tableDir: string): Promise<number> {
  let removed = 0;
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.name.startsWith('.tmp')) {
        await rm(path, { recursive: true, force: true });
        removed++;
      } else if (e.isDirectory()) {
        await walk(path);
      }
    }
  };
  await walk(tableDir);
  return removed;
}
