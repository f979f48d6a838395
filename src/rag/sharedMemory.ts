// Team memory (issue 14): one knowledge base on S3-compatible object storage that the Persona of
// several people reads and writes, with no server of ours in between. Plain Node; LanceDB loads on
// `open`, as for the local memory.
//
// Layout under the base's URI (`s3://bucket/path`):
//   persona_members.lance          who writes here: member, table, embedding model and dimension
//   chunks_<model>_m_<member>.lance one table per member (per machine and workspace), written by it alone
//
// Why a table per member: a LanceDB commit on S3 is safe against a concurrent one only where the
// storage honours conditional writes (`If-None-Match: *` on PUT; AWS S3 since August 2024,
// Cloudflare R2, recent MinIO). Where it does not (s3rver, older MinIO, some vendors' gateways),
// two commits to one table both "succeed" and one of them is lost, silently: ten concurrent adds
// here left one. With a table per member, indexing never commits to a table another process
// commits to, on any storage. Only forgetting writes into other members' tables (the text must go
// for everyone); on storage without conditional writes a forget can race a member's commit, so the
// forget reads every table again afterwards and repeats, and a writer reads its documents back
// after each commit and writes them again if they are gone.
//
// Readers search every member's table and merge by similarity. LanceDB cannot list tables on every
// S3 server (s3rver lists none), so the members are found in `persona_members`, not by listing.
import { createHash } from 'node:crypto';
import type { Connection, Table } from '@lancedb/lancedb';
import type * as Arrow from 'apache-arrow';
import { SHARED_KB } from './knowledgeBases';
import type { LanceLoadResult } from './lanceLoader';
import { loadLanceDb } from './lanceLoader';
import type { DocumentSummary, ForgetResult, MemoryDocument, MemoryHit, StoredChunk, UpsertResult } from './memoryStore';
import { isTableNotFound, MemoryStore, MemoryStoreError, tableNameFor } from './memoryStore';
import type { Logger } from '../util/logger';
import { silentLogger } from '../util/logger';
import { PersonaError } from '../util/personaError';
import { errorText } from '../util/errors';

/** Where the team's knowledge base is and how to reach it (user settings, never a workspace's). */
export interface SharedBaseSettings {
  /** `s3://bucket/path`. */
  uri: string;
  /** The S3 API's URL for storage other than AWS (MinIO, R2, a local test server); '' for AWS. */
  endpoint: string;
  region: string;
  /** `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key` (MinIO, most local servers). */
  pathStyle: boolean;
  /** Allow an `http://` endpoint (a server on this machine or a trusted network). */
  allowHttp: boolean;
}

/** From SecretStorage, never settings. */
export interface SharedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SharedBase {
  settings: SharedBaseSettings;
  /** Absent: the storage's default chain (environment variables, an instance role). */
  credentials?: SharedCredentials;
  /** This writer: one per machine and workspace (see the header). Letters, digits, `_`. */
  member: string;
}

export interface SharedModel {
  model: string;
  dimension: number;
}

export type SharedMemoryErrorReason =
  /** The settings do not make a usable base (a URI that is not `s3://bucket/…`, http not allowed). */
  | 'config'
  /** The storage refused the credentials (or there were none it accepts). */
  | 'credentials'
  | 'noBucket'
  /** Nothing answered, or too slowly: a link that is down. */
  | 'unreachable'
  /** The base was built with another embedding model: its vectors and ours must not mix. */
  | 'modelMismatch'
  /** A forget raced another member's commit and the text was still there after the retries. */
  | 'forgetRaced'
  | 'failed';

export class SharedMemoryError extends PersonaError<SharedMemoryErrorReason> {
  override readonly name = 'SharedMemoryError';
}

const membersTable = 'persona_members';
/** How long the list of members is trusted before it is read again (readers see a new member within this). */
const membersFreshMs = 5_000;
/** Forget reads every table again after it and repeats this many times at most. */
const forgetRounds = 3;
/** A writer whose documents were gone after its commit writes them again this many times at most. */
const writeRounds = 3;
/** Joining the list of members: tries, a moment apart, while other members join at the same moment. */
const registerRounds = 8;

/** A commit refused (or a create that lost) because another writer's landed at the same moment. */
function isCommitRace(e: unknown): boolean {
  return /Incompatible transaction|Commit conflict|conflict|concurrent|already exists/i.test(errorText(e));
}

/** `s3://bucket/path` → its parts; throws SharedMemoryError('config'). */
export function parseSharedUri(uri: string): { bucket: string; path: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(uri.trim());
  if (!m) {
    throw new SharedMemoryError('config', `The team memory's location must look like s3://bucket/folder (a bucket name of 3–63 lower-case letters, digits, dots and dashes); it is "${uri}".`);
  }
  return { bucket: m[1]!, path: (m[2] ?? '').replace(/\/+$/, '') };
}

/** LanceDB's storage options for the base. */
export function storageOptionsFor(base: SharedBase): Record<string, string> {
  const s = base.settings;
  const options: Record<string, string> = {
    region: s.region || 'us-east-1',
    // A link that is down fails in seconds, not after the default retries' minutes.
    connect_timeout: '3s',
  };
  if (s.endpoint) {
    let url: URL;
    try {
      url = new URL(s.endpoint);
    } catch {
      throw new SharedMemoryError('config', `The team memory's endpoint "${s.endpoint}" is not a URL.`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new SharedMemoryError('config', `The team memory's endpoint must be an http(s) URL, not "${s.endpoint}".`);
    if (url.protocol === 'http:' && !s.allowHttp) {
      throw new SharedMemoryError('config', `The team memory's endpoint ${url.origin} is plain http: the credentials and the documents would cross the network unencrypted. Use https, or allow http in the setting persona.teamMemory.allowHttp for a server you trust.`);
    }
    options.endpoint = url.origin + url.pathname.replace(/\/+$/, '');
    if (url.protocol === 'http:') options.allow_http = 'true';
  }
  options.virtual_hosted_style_request = s.pathStyle ? 'false' : 'true';
  if (base.credentials) {
    options.aws_access_key_id = base.credentials.accessKeyId;
    options.aws_secret_access_key = base.credentials.secretAccessKey;
    if (base.credentials.sessionToken) options.aws_session_token = base.credentials.sessionToken;
  }
  return options;
}

/** A member id from what identifies this writer (machine, workspace): stable, and no path in the bucket. */
export function memberIdFor(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}

/** The table a member writes for a model. */
export function memberTableName(model: SharedModel, member: string): string {
  return `${tableNameFor(model.model, model.dimension)}_m_${member}`;
}

/** What went wrong with the storage, as a person can act on it. LanceDB's errors carry the S3 error code and the transport's. */
export function sharedErrorOf(e: unknown, base: SharedBase): unknown {
  if (e instanceof SharedMemoryError || MemoryStoreError.is(e)) return e;
  const text = errorText(e);
  const where = base.settings.endpoint ? `${base.settings.uri} at ${safeOrigin(base.settings.endpoint)}` : base.settings.uri;
  const code = /<Code>([A-Za-z]+)<\/Code>/.exec(text)?.[1];
  if (code === 'NoSuchBucket') return new SharedMemoryError('noBucket', `The bucket of the team memory (${where}) does not exist.`, { cause: e });
  if (code && /^(InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|InvalidToken|ExpiredToken|AuthorizationHeaderMalformed)$/.test(code)) {
    return new SharedMemoryError('credentials', `The storage of the team memory (${where}) refused the credentials (${code}). Set them again with "Persona: Set Team Memory Credentials".`, { cause: e });
  }
  if (/\b403 Forbidden\b/.test(text)) return new SharedMemoryError('credentials', `The storage of the team memory (${where}) refused access (403). Check the credentials ("Persona: Set Team Memory Credentials") and the bucket's permissions.`, { cause: e });
  if (/error sending request|Connection refused|connect error|tcp connect|dns error|timed out|operation timed out|Timeout|ConnectionReset|connection closed/i.test(text)) {
    return new SharedMemoryError('unreachable', `The storage of the team memory (${where}) cannot be reached.`, { cause: e });
  }
  if (/credential|NoCredentials|Missing/i.test(text) && !base.credentials) {
    return new SharedMemoryError('credentials', `No credentials for the team memory (${where}): set them with "Persona: Set Team Memory Credentials".`, { cause: e });
  }
  return new SharedMemoryError('failed', `The team memory (${where}) failed: ${text.split('\n')[0]!.slice(0, 300)}`, { cause: e });
}

function safeOrigin(endpoint: string): string {
  try {
    return new URL(endpoint).origin;
  } catch {
    return endpoint;
  }
}

interface Member {
  member: string;
  table: string;
  model: string;
  dimension: number;
  /** In the list of members (false: found only by listing the storage's tables). */
  registered: boolean;
}

export interface SharedOpenOptions {
  logger?: Logger;
  /** For tests. */
  loadLanceDb?: () => Promise<LanceLoadResult>;
  vectorIndexMinRows?: number;
}

export interface SharedSearchOptions {
  k?: number;
  minScore?: number;
  queryText?: string;
}

/** A document of the base; `members` wrote it (two members may index the same file). */
export interface SharedDocumentSummary extends DocumentSummary {
  members: number;
}

export class SharedMemory {
  private members: { at: number; list: Member[] } | undefined;
  private readonly stores = new Map<string, Promise<MemoryStore>>();
  private registered = false;
  private closed = false;

  private constructor(
    readonly base: SharedBase,
    readonly model: SharedModel,
    private readonly storageOptions: Record<string, string>,
    private readonly connection: Connection,
    private readonly arrow: typeof Arrow,
    private readonly logger: Logger,
    private readonly options: SharedOpenOptions,
  ) {}

  /**
   * Connects and reads who writes here. Throws SharedMemoryError: 'modelMismatch' when the base
   * holds only another model's vectors, and the storage's errors as a person can act on them.
   */
  static async open(base: SharedBase, model: SharedModel, options: SharedOpenOptions = {}): Promise<SharedMemory> {
    parseSharedUri(base.settings.uri);
    if (!/^[A-Za-z0-9_]{1,40}$/.test(base.member)) throw new SharedMemoryError('config', `Invalid team memory member id "${base.member}".`);
    const storageOptions = storageOptionsFor(base);
    const loaded = await (options.loadLanceDb ?? loadLanceDb)();
    if (!loaded.ok) throw new MemoryStoreError('unavailable', loaded.reason);
    const arrow = require('apache-arrow') as typeof Arrow;
    try {
      const connection = await loaded.lancedb.connect(base.settings.uri.trim(), { readConsistencyInterval: 0, storageOptions });
      // The access check: opening a table the storage refuses says "not found", a listing says why.
      await connection.tableNames();
      const shared = new SharedMemory(base, model, storageOptions, connection, arrow, options.logger ?? silentLogger, options);
      await shared.checkModel();
      return shared;
    } catch (e) {
      throw sharedErrorOf(e, base);
    }
  }

  /** The model the base's vectors were made with, when it has any: [] for a new base. */
  async baseModels(): Promise<SharedModel[]> {
    const seen = new Map<string, SharedModel>();
    for (const m of await this.memberList()) seen.set(`${m.model}\0${m.dimension}`, { model: m.model, dimension: m.dimension });
    return [...seen.values()];
  }

  // ---- writing (the indexing queue's store) -------------------------------------------------------

  hasDocument(source: string, kb: string, docHash: string): Promise<boolean> {
    return this.guard(async () => (await this.ownStore()).hasDocument(source, kb, docHash));
  }

  /**
   * Commits the documents to this member's table, then reads them back: a forget by another member
   * committed at the same moment can overwrite the commit on storage without conditional writes.
   */
  upsertDocuments(docs: MemoryDocument[]): Promise<UpsertResult> {
    return this.guard(async () => {
      for (const d of docs) {
        if (d.kb !== SHARED_KB) throw new MemoryStoreError('invalidDocument', `${d.source} is for ${d.kb}, not the team memory.`);
      }
      await this.ensureListed(false);
      const store = await this.ownStore();
      let result = await store.upsertDocuments(docs);
      for (let round = 1; round < writeRounds; round++) {
        const lost = await store.notAsWritten(docs);
        if (lost.length === 0) break;
        this.logger.warn(`Team memory: ${lost.length} document(s) were not in the table after the commit (another member wrote at the same moment); writing them again.`);
        result = await store.upsertDocuments(lost);
      }
      // Read the list of members again after each commit: on storage without conditional writes a
      // member joining at the same moment can write the list over this one's entry.
      await this.ensureListed(true);
      return result;
    });
  }

  optimize(): Promise<unknown> {
    return this.guard(async () => (this.registered ? (await this.ownStore()).optimize() : undefined));
  }

  // ---- reading -------------------------------------------------------------------------------------

  /** The k passages nearest to `vector` over every member's table, by similarity. */
  search(vector: ArrayLike<number>, options: SharedSearchOptions = {}): Promise<MemoryHit[]> {
    return this.guard(async () => {
      const k = options.k ?? 8;
      const tables = await this.readableTables();
      const lists = await Promise.all(
        tables.map(async (t) => {
          try {
            return await (await this.storeFor(t)).search(vector, { kbs: [SHARED_KB], k, ...(options.minScore !== undefined ? { minScore: options.minScore } : {}), ...(options.queryText ? { queryText: options.queryText } : {}) });
          } catch (e) {
            if (MemoryStoreError.is(e, 'dimensionMismatch')) return [];
            throw e;
          }
        }),
      );
      // The same passage from two members (both indexed the file) is one hit.
      const byPassage = new Map<string, MemoryHit>();
      for (const hit of lists.flat()) {
        const key = `${hit.source}\0${hit.chunkIndex}\0${hit.text}`;
        const seen = byPassage.get(key);
        if (!seen || hit.score > seen.score) byPassage.set(key, hit);
      }
      return [...byPassage.values()].sort((a, b) => b.score - a.score || b.fused - a.fused).slice(0, k);
    });
  }

  /** Every document of the base, once per source (the newest copy when members share a file). */
  listDocuments(): Promise<SharedDocumentSummary[]> {
    return this.guard(async () => {
      const bySource = new Map<string, SharedDocumentSummary>();
      for (const t of await this.readableTables()) {
        for (const d of await (await this.storeFor(t)).listDocuments(SHARED_KB, true)) {
          const seen = bySource.get(d.source);
          if (!seen) bySource.set(d.source, { ...d, members: 1 });
          else bySource.set(d.source, { ...(d.createdAt > seen.createdAt ? d : seen), members: seen.members + 1 });
        }
      }
      return [...bySource.values()].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
    });
  }

  /** The chunks of a document, from the newest copy. */
  chunksOf(source: string): Promise<StoredChunk[]> {
    return this.guard(async () => {
      let newest: { at: number; store: MemoryStore } | undefined;
      for (const t of await this.readableTables()) {
        const store = await this.storeFor(t);
        const d = (await store.listDocuments(SHARED_KB, true)).find((x) => x.source === source);
        if (d && (!newest || d.createdAt > newest.at)) newest = { at: d.createdAt, store };
      }
      return newest ? newest.store.chunksOf(source, SHARED_KB) : [];
    });
  }

  async countChunks(): Promise<number> {
    return (await this.listDocuments()).reduce((n, d) => n + d.chunkCount, 0);
  }

  // ---- forgetting: for everyone --------------------------------------------------------------------

  /** Removes `source` (or everything under the folder `source/`) from every member's table, provably (see the header). */
  forgetFolder(folder: string): Promise<ForgetResult> {
    const path = folder.replace(/\/+$/, '');
    return this.forgetEverywhere(
      (store) => store.forgetFolder(path, SHARED_KB),
      async (store) => (await store.listDocuments(SHARED_KB, true)).some((d) => d.source === path || d.source.startsWith(`${path}/`)),
    );
  }

  /** Removes the chunks of `source` holding exactly `text`, in every member's table. */
  forgetChunk(source: string, text: string): Promise<ForgetResult> {
    return this.forgetEverywhere(
      (store) => store.forgetChunk(source, SHARED_KB, text),
      async (store) => (await store.chunksOf(source, SHARED_KB)).some((c) => c.text === text),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.stores.values()) await s.then((x) => x.close()).catch(() => {});
    this.stores.clear();
    this.connection.close();
  }

  // -------------------------------------------------------------------------------------------------

  private forgetEverywhere(forget: (store: MemoryStore) => Promise<ForgetResult>, stillThere: (store: MemoryStore) => Promise<boolean>): Promise<ForgetResult> {
    return this.guard(async () => {
      const result: ForgetResult = { chunks: 0, tables: [] };
      for (let round = 0; round < forgetRounds; round++) {
        for (const t of await this.everyTable(true)) {
          const r = await forget(await this.storeFor(t));
          result.chunks += r.chunks;
          if (r.chunks > 0 && !result.tables.includes(t.table)) result.tables.push(t.table);
        }
        // Read every table again: a member's commit at the same moment may have brought it back.
        let left = false;
        for (const t of await this.everyTable(true)) if (await stillThere(await this.storeFor(t))) left = true;
        if (!left) return result;
        this.logger.warn('Team memory: the text was still there after forgetting (a member wrote at the same moment); forgetting again.');
      }
      throw new SharedMemoryError('forgetRaced', 'Another member kept writing the same text while it was being forgotten: it is still in the team memory. Try again once their indexing has finished.');
    });
  }

  /** Tables of this model's members (own included once it exists); `fresh` reads the list of members again. */
  private async readableTables(fresh = false): Promise<Member[]> {
    return (await this.everyTable(fresh)).filter((m) => m.model === this.model.model && m.dimension === this.model.dimension);
  }

  /** Every member's table, whatever its model: what forgetting goes through. */
  private async everyTable(fresh = false): Promise<Member[]> {
    const own = memberTableName(this.model, this.base.member);
    const tables = [...(await this.memberList(fresh))];
    if (this.registered && !tables.some((m) => m.table === own)) tables.push({ member: this.base.member, table: own, ...this.model, registered: true });
    return tables;
  }

  private async memberList(fresh = false): Promise<Member[]> {
    if (!fresh && this.members && performance.now() - this.members.at < membersFreshMs) return this.members.list;
    const table = await this.openMembers(false);
    const list: Member[] = [];
    if (table) {
      try {
        const rows = await table.query().select(['member', 'table', 'model', 'dimension']).toArray();
        for (const r of rows) {
          if (!list.some((m) => m.table === String(r.table))) list.push({ member: String(r.member), table: String(r.table), model: String(r.model), dimension: Number(r.dimension), registered: true });
        }
      } finally {
        table.close();
      }
    }
    // Where the storage lists tables (AWS S3, R2, MinIO; s3rver lists none), a member's table is
    // found even if its entry was lost to a concurrent commit on storage without conditional writes.
    const mine = tableNameFor(this.model.model, this.model.dimension);
    for (const name of await this.connection.tableNames()) {
      const m = /^chunks_.*_(\d+)_m_([A-Za-z0-9_]+)$/.exec(name);
      if (!m || list.some((x) => x.table === name)) continue;
      const ours = name.startsWith(`${mine}_m_`);
      list.push({ member: m[2]!, table: name, model: ours ? this.model.model : `another model (${name})`, dimension: Number(m[1]), registered: false });
    }
    this.members = { at: performance.now(), list };
    return list;
  }

  /** Refuses to mix: a base whose members all write another model's vectors is not ours to write or read. */
  private async checkModel(): Promise<void> {
    const models = await this.baseModels();
    if (models.length === 0 || models.some((m) => m.model === this.model.model && m.dimension === this.model.dimension)) return;
    const theirs = models.map((m) => `${m.model} (${m.dimension} dimensions)`).join(', ');
    throw new SharedMemoryError(
      'modelMismatch',
      `The team memory ${this.base.settings.uri} was built with ${theirs}; your embeddings server runs ${this.model.model} (${this.model.dimension} dimensions). Vectors of different models mean nothing to each other, so the team memory is not used: load ${models[0]!.model} in your embeddings server to use it.`,
    );
  }

  /** Makes sure this member is in the list of members (`fresh`: read afresh, else the list read in the last few seconds). */
  private async ensureListed(fresh: boolean): Promise<void> {
    const own = memberTableName(this.model, this.base.member);
    if ((await this.memberList(fresh && this.registered)).some((m) => m.registered && m.table === own)) {
      this.registered = true;
      return;
    }
    await this.register();
  }

  /**
   * Puts this member in the list and reads it back until it is there. Members joining at the same
   * moment commit to the same small table: LanceDB refuses one of two conflicting commits (or, on
   * storage without conditional writes, one overwrites the other); each tries again a moment apart.
   */
  private async register(): Promise<void> {
    const own = memberTableName(this.model, this.base.member);
    for (let round = 0; round < registerRounds; round++) {
      try {
        const list = await this.memberList(true);
        if (list.some((m) => m.registered && m.table === own)) {
          this.registered = true;
          return;
        }
        const others = list.filter((m) => m.model !== this.model.model || m.dimension !== this.model.dimension);
        if (others.length > 0 && others.length === list.length) await this.checkModel();
        const table = (await this.openMembers(true))!;
        try {
          await table.add(this.memberRow(own));
        } finally {
          table.close();
        }
      } catch (e) {
        if (!isCommitRace(e)) throw e;
        this.logger.info(`Team memory: joining met another member's commit (${errorText(e).split('\n')[0]}); trying again.`);
      }
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 150 * (round + 1)));
    }
    throw new SharedMemoryError('failed', 'This machine could not join the team memory: its entry in the list of members kept disappearing (other members joined at the same moment). Try again.');
  }

  private memberRow(table: string): Arrow.Table {
    const a = this.arrow;
    return a.tableFromArrays({
      member: a.vectorFromArray([this.base.member], new a.Utf8()),
      table: a.vectorFromArray([table], new a.Utf8()),
      model: a.vectorFromArray([this.model.model], new a.Utf8()),
      dimension: a.vectorFromArray([this.model.dimension], new a.Int32()),
      joinedAt: a.vectorFromArray([Date.now()], new a.Float64()),
    } as never) as unknown as Arrow.Table;
  }

  private async openMembers(create: boolean): Promise<Table | undefined> {
    try {
      return await this.connection.openTable(membersTable);
    } catch (e) {
      if (!isTableNotFound(e)) throw e;
    }
    if (!create) return undefined;
    const a = this.arrow;
    const f = (name: string, type: Arrow.DataType) => new a.Field(name, type, false);
    const schema = new a.Schema([f('member', new a.Utf8()), f('table', new a.Utf8()), f('model', new a.Utf8()), f('dimension', new a.Int32()), f('joinedAt', new a.Float64())]);
    return this.connection.createEmptyTable(membersTable, schema, { mode: 'create', existOk: true });
  }

  private ownStore(): Promise<MemoryStore> {
    return this.storeFor({ member: this.base.member, table: memberTableName(this.model, this.base.member), ...this.model, registered: true });
  }

  /** The store of a member's table, opened for the model it was written with. */
  private storeFor(member: Member): Promise<MemoryStore> {
    if (this.closed) return Promise.reject(new MemoryStoreError('closed', 'The team memory is closed.'));
    const table = member.table;
    let store = this.stores.get(table);
    if (!store) {
      store = MemoryStore.open(this.base.settings.uri.trim(), {
        model: member.model,
        dimension: member.dimension,
        logger: this.logger,
        ...(this.options.vectorIndexMinRows !== undefined ? { vectorIndexMinRows: this.options.vectorIndexMinRows } : {}),
        remote: { storageOptions: this.storageOptions, tableName: table, kb: SHARED_KB, metadata: { 'persona.model': member.model } },
      });
      store.catch(() => this.stores.delete(table));
      this.stores.set(table, store);
    }
    return store;
  }

  private async guard<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      throw sharedErrorOf(e, this.base);
    }
  }
}
