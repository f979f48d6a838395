// The vectors of memory items, in LanceDB: a table per embedding model and dimension, one row per
// item (its id, its persona, the hash of the text it was made from, the vector), never the text
// itself, which stays in the item's record (memoryItems.ts). Loaded lazily like the rest of memory.
//
// Removing rows rebuilds the table without them (drop, then create with the rows that stay):
// LanceDB keeps deleted rows in older versions and in fragments shared with rows that stay
// (REFERENCE.md, "Forgetting in LanceDB"); an item table is small enough to write again whole.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connection, Table } from '@lancedb/lancedb';
import type * as Arrow from 'apache-arrow';
import { SerialQueue } from '../util/serialQueue';
import { loadLanceDb, type LanceLoadResult } from './lanceLoader';
import { MemoryStoreError, normalise, sqlString, tableNameFor } from './memoryStore';

export interface ItemVector {
  id: string;
  personaId: string;
  textHash: string;
  vector: ArrayLike<number>;
}

export interface ItemHit {
  id: string;
  /** Cosine similarity between the query and the item. */
  score: number;
}

const tablePrefix = 'items_';

/** `items_<slug>_<hash>_<dim>`, named like the chunk tables of the same model. */
export function itemTableName(model: string, dimension: number): string {
  return tablePrefix + tableNameFor(model, dimension).replace(/^chunks_/, '');
}

/** Vectors written between two compactions of an item table. */
const OPTIMIZE_EVERY = 200;

export class ItemVectors {
  private connection: Promise<Connection> | undefined;
  private arrow: typeof Arrow | undefined;
  private readonly queue = new SerialQueue();

  constructor(
    /** LanceDB's folder, e.g. `<globalStorage>/memory-items/db`. */
    readonly dir: string,
    private readonly load: () => Promise<LanceLoadResult> = loadLanceDb,
  ) {}

  /**
   * Which items of the persona have a vector for this model, with the hash of the text it was made
   * from. Asked every turn: kept per table version, so only a write (here or in another window) reads again.
   */
  async hashes(personaId: string, model: string, dimension: number): Promise<Map<string, string>> {
    const table = await this.table(model, dimension);
    if (!table) return new Map();
    try {
      const key = `${itemTableName(model, dimension)}\0${personaId}`;
      const version = await table.version();
      const known = this.hashCache.get(key);
      if (known?.version === version) return new Map(known.hashes);
      const rows = (await table.query().where(`personaId = ${sqlString(personaId)}`).select(['id', 'textHash']).toArray()) as { id: string; textHash: string }[];
      const hashes = new Map(rows.map((r) => [String(r.id), String(r.textHash)]));
      this.hashCache.set(key, { version, hashes });
      return new Map(hashes);
    } finally {
      table.close();
    }
  }

  private readonly hashCache = new Map<string, { version: number; hashes: Map<string, string> }>();
  /** Writes since the item table was last compacted. */
  private writesSinceOptimize = 0;

  /** Stores vectors (normalised), replacing an item's earlier one. */
  put(model: string, dimension: number, vectors: ItemVector[]): Promise<void> {
    if (vectors.length === 0) return Promise.resolve();
    return this.queue.run(async () => {
      const rows = vectors.map((v) => ({ ...v, vector: normalise(v.vector, dimension) }));
      const table = (await this.table(model, dimension, true))!;
      try {
        await table.delete(`id IN (${vectors.map((v) => sqlString(v.id)).join(', ')})`);
        await table.add(toArrow(this.arrow!, rows, dimension));
        // Each write adds small files and two versions: a table never compacted reads slower every
        // turn (bench:memory measured 630 files at 10k items). Versions are kept ten minutes for a
        // reader in another window.
        this.writesSinceOptimize += vectors.length;
        if (this.writesSinceOptimize >= OPTIMIZE_EVERY) {
          this.writesSinceOptimize = 0;
          await table.optimize({ cleanupOlderThan: new Date(Date.now() - 10 * 60_000) });
        }
      } finally {
        table.close();
      }
    });
  }

  /** The `k` items of the persona nearest to `vector`, best first. */
  async search(personaId: string, model: string, dimension: number, vector: ArrayLike<number>, k: number): Promise<ItemHit[]> {
    if (k <= 0) return [];
    const table = await this.table(model, dimension);
    if (!table) return [];
    let rows: { id: string; _distance: number }[];
    try {
      rows = (await table
        .vectorSearch(Array.from(normalise(vector, dimension)))
        .distanceType('l2')
        .where(`personaId = ${sqlString(personaId)}`)
        .select(['id', '_distance'])
        .limit(k)
        .toArray()) as { id: string; _distance: number }[];
    } finally {
      table.close();
    }
    // On unit vectors LanceDB's (squared) l2 is 2 - 2·cosine.
    return rows.map((r) => ({ id: String(r.id), score: 1 - Number(r._distance) / 2 }));
  }

  /**
   * Removes the vectors of these items (or of every item of `personaId` with `ids` 'all') from every
   * model's table, rebuilding each table that held one so that no older version keeps them.
   */
  remove(personaId: string, ids: readonly string[] | 'all'): Promise<number> {
    if (ids !== 'all' && ids.length === 0) return Promise.resolve(0);
    const gone = ids === 'all' ? undefined : new Set(ids);
    return this.queue.run(async () => {
      const connection = await this.connect();
      if (!connection) return 0;
      // A rebuilt table counts its versions from 1 again: what was kept by version means nothing now.
      // (A rebuild in another window can meet an equal version here: the worst is an item embedded
      // twice or a vector looked for that is gone, never a wrong memory.)
      this.hashCache.clear();
      let removed = 0;
      for (const name of (await connection.tableNames()).filter((n) => n.startsWith(tablePrefix))) {
        const table = await connection.openTable(name);
        const dimension = Number(/_(\d+)$/.exec(name)?.[1]);
        const all = (await table.query().select(['id', 'personaId', 'textHash', 'vector']).toArray()) as { id: string; personaId: string; textHash: string; vector: ArrayLike<number> }[];
        const keep = all.filter((r) => !(String(r.personaId) === personaId && (gone === undefined || gone.has(String(r.id)))));
        table.close();
        if (keep.length === all.length) continue;
        removed += all.length - keep.length;
        await connection.dropTable(name);
        await rm(join(this.dir, `${name}.lance`), { recursive: true, force: true });
        const rebuilt = await connection.createEmptyTable(name, itemSchema(this.arrow!, dimension), { mode: 'create', existOk: false });
        if (keep.length > 0) {
          const rows = keep.map((r) => ({ id: String(r.id), personaId: String(r.personaId), textHash: String(r.textHash), vector: Float32Array.from(r.vector) }));
          await rebuilt.add(toArrow(this.arrow!, rows, dimension));
        }
        rebuilt.close();
      }
      await this.sweep();
      return removed;
    });
  }

  /**
   * The item ids of every table in every version LanceDB still keeps (what a removal must leave
   * nothing of: a deleted row stays readable in the versions before the delete).
   */
  async idsInEveryVersion(): Promise<Map<string, Set<string>>> {
    const connection = await this.connect();
    const out = new Map<string, Set<string>>();
    for (const name of await connection.tableNames()) {
      const table = await connection.openTable(name);
      const ids = new Set<string>();
      for (const v of await table.listVersions()) {
        await table.checkout(v.version);
        for (const r of (await table.query().select(['id']).toArray()) as { id: string }[]) ids.add(String(r.id));
      }
      table.close();
      out.set(name, ids);
    }
    return out;
  }

  async close(): Promise<void> {
    const connection = await this.connection?.catch(() => undefined);
    connection?.close();
    this.connection = undefined;
  }

  // ---- LanceDB -------------------------------------------------------------------------------------

  private connect(): Promise<Connection> {
    this.connection ??= (async () => {
      const loaded = await this.load();
      if (!loaded.ok) throw new MemoryStoreError('unavailable', loaded.reason);
      this.arrow = require('apache-arrow') as typeof Arrow;
      return loaded.lancedb.connect(this.dir, { readConsistencyInterval: 0 });
    })();
    return this.connection;
  }

  private async table(model: string, dimension: number, create = false): Promise<Table | undefined> {
    const connection = await this.connect();
    const name = itemTableName(model, dimension);
    if ((await connection.tableNames()).includes(name)) return connection.openTable(name);
    if (!create) return undefined;
    return connection.createEmptyTable(name, itemSchema(this.arrow!, dimension), { mode: 'create', existOk: true });
  }

  /** What a killed rebuild left beside the tables. */
  private async sweep(): Promise<void> {
    const connection = await this.connect();
    const live = new Set((await connection.tableNames()).map((n) => `${n}.lance`));
    for (const entry of await readdir(this.dir).catch(() => [] as string[])) {
      if ((entry.startsWith(tablePrefix) && entry.endsWith('.lance') && !live.has(entry)) || entry.startsWith('.tmp')) {
        await rm(join(this.dir, entry), { recursive: true, force: true });
      }
    }
  }
}

function itemSchema(a: typeof Arrow, dimension: number): Arrow.Schema {
  const f = (name: string, type: Arrow.DataType) => new a.Field(name, type, false);
  return new a.Schema([
    f('id', new a.Utf8()),
    f('personaId', new a.Utf8()),
    f('textHash', new a.Utf8()),
    f('vector', new a.FixedSizeList(dimension, new a.Field('item', new a.Float32(), true))),
  ]);
}

function toArrow(a: typeof Arrow, rows: { id: string; personaId: string; textHash: string; vector: Float32Array }[], dimension: number): Arrow.Table {
  const schema = itemSchema(a, dimension);
  const n = rows.length;
  const flat = new Float32Array(n * dimension);
  rows.forEach((r, i) => flat.set(r.vector, i * dimension));
  const strings = (pick: (r: (typeof rows)[number]) => string) => a.vectorFromArray(rows.map(pick), new a.Utf8()).data[0]!;
  const children = [
    strings((r) => r.id),
    strings((r) => r.personaId),
    strings((r) => r.textHash),
    a.makeData({
      type: schema.fields[3]!.type as Arrow.FixedSizeList<Arrow.Float32>,
      length: n,
      nullCount: 0,
      child: a.makeData({ type: new a.Float32(), length: n * dimension, nullCount: 0, data: flat }),
    }),
  ];
  const struct = a.makeData({ type: new a.Struct(schema.fields), length: n, nullCount: 0, children });
  return new a.Table(schema, [new a.RecordBatch(schema, struct)]);
}
