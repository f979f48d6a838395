// `npm run bench:memory` (also the second half of `npm run bench`): how fast memory is, measured on
// real parts — LanceDB on disk, files on disk, the fake KoboldCpp over loopback HTTP — and printed as
// ratios against the embedding server alone. Speed is measured, never asserted: the bench prints a
// table beside the issue's targets and writes what it measured to .bench/memory.json. About 8
// minutes on 2 cores, most of it building the 100k-chunk index and keeping 10k memory items, 50 s
// more for the documents part and 6½ minutes for the team part.
//
//   npm run bench:memory                 everything
//   npm run bench:memory -- --quick      small sizes (1k/5k chunks, 1k files, 1k documents, 1k items, 5k team chunks): checks the bench runs
//   npm run bench:memory -- --only indexing|retrieval|readd|panel|items|documents|team   one part
//
// 1. Indexing: a workspace of prose and code files added through MemoryService (scan results →
//    queue → read → chunk → embed → commit → indexes), against the same chunks sent straight to the
//    server in the same batches with the server kept busy. The server spends a fixed time per request
//    and per text, one request at a time (KoboldCpp with --multiuser): the ratio says how much of the
//    server's time our code leaves unused.
// 2. Retrieval: top-8 of clustered 1024-d unit vectors at 10k and 100k chunks after optimize (the
//    IVF_HNSW_SQ index from 10k rows), p50/p95 of the vector search and of the hybrid search a chat
//    turn runs (vector + full-text, fused), and recall@8 of the vector search against an exact scan.
// 3. Re-adding an unchanged workspace of 10k files: scan (gitignore, excludes, sizes) + queue
//    (hash check per file, no embedding call).
// 4. The memory panel's first page over 10k documents of 10 chunks (100k chunks): MemoryStore's
//    listDocuments then the controller's sort and slice, on a store opened afresh (cold) and on one
//    already open (warm), and one document's chunks.
// 5. Memory items: 10k items of one persona (records on disk, vectors in LanceDB), the recall a chat
//    turn runs (k 8, minScore 0.35), without pins and with 50 pinned, against one embedding request
//    for the same query sent straight to the server; and the steps of a recall one by one.
// 6. Documents: PDFs laid out as manuals (10, 50 and 200 pages of 400–600 words) read by the bundled
//    reader as the extension runs it (one child process kept from document to document), in pages/s, against the same
//    text chunked and embedded through EmbeddingsClient, in pages/s: extraction must not become the
//    bottleneck. What a document costs before its first page (a process, the bundle, a 1-page PDF)
//    apart; then one large PDF and a folder of small ones indexed end to end through MemoryService.
//    About 50 s.
// 7. Team memory: top-8 over the knowledge base on S3-compatible storage (s3rver on loopback, in
//    this process) against the local store at the same size, 100k chunks, both filled alike (the
//    same chunks, commits of 5k) and optimized (full-text and HNSW indexes): p50/p95 of the vector
//    and of the hybrid search with one member's table of 100k, and with four members' tables of
//    25k that a reader searches all and merges. The ratio team/local is what a chat turn pays for
//    reading the team's memory over HTTP instead of from disk: each search asks the storage for the
//    table's latest version and reads its hits' rows with range requests; the indexes stay in
//    memory after the first queries. That is about 9 requests per table for a vector search and
//    35 for a hybrid one (the full-text search asks for the version and the index again, and reads
//    the vector of each hit it finds), which s3rver, one JavaScript thread, answers in turn: four
//    tables cost about four times one. Loopback has no network latency: a real bucket answers in
//    parallel but adds its round trips to these. About 6½ minutes, nearly all of it building the
//    three stores' HNSW indexes (about 110 s each).
import { fork, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chunkText } from '../src/rag/chunker';
import { extractDocument } from '../src/rag/documents/extractDocument';
import { EmbeddingsClient } from '../src/rag/embeddingsClient';
import { scanPaths } from '../src/rag/fileScanner';
import { MemoryItems } from '../src/rag/itemRecall';
import { itemTextHash } from '../src/rag/memoryItems';
import { defaultTokenCounter, MemoryService, type MemorySettings } from '../src/rag/memoryService';
import { SHARED_KB } from '../src/rag/knowledgeBases';
import { MemoryStore, type DocumentSummary, type MemoryDocument, type MemoryHit, type OptimizeResult } from '../src/rag/memoryStore';
import { retrievalQuery, type HistoryTurn } from '../src/rag/retrieval';
import { SharedMemory, type SharedBase } from '../src/rag/sharedMemory';
import type { DocumentRow } from '../src/shared/memoryPanelProtocol';
import { silentLogger } from '../src/util/logger';
import { now, startFakeKoboldCpp, type FakeKoboldCpp } from '../test/support/fakeKoboldCpp';
import { removeS3Folder, startS3Server, type S3TestServer } from '../test/support/s3Server';

const repoRoot = resolve(__dirname, '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

const D = 1024;
const sizes = quick
  ? { indexingFiles: 40, retrieval: [1_000, 5_000], readdFiles: 1_000, panel: { documents: 1_000, chunksPerDocument: 10 }, items: 1_000, documentPages: [10, 50], documentFolder: { files: 5, pages: 10 }, team: 5_000 }
  : { indexingFiles: 120, retrieval: [10_000, 100_000], readdFiles: 10_000, panel: { documents: 10_000, chunksPerDocument: 10 }, items: 10_000, documentPages: [10, 50, 200], documentFolder: { files: 20, pages: 10 }, team: 100_000 };
/** A GPU-class embedding server: 5 ms per request + 4 ms per 500-token text (BGE-M3 on a mid-range GPU). */
const SERVER = { latencyMs: 5, latencyPerItemMs: 4 };
/** EmbeddingsClient's defaults for KoboldCpp. */
const CLIENT = { batchSize: 32, maxInFlight: 2 };

const targets = { indexingRatio: 0.9, p95At100kMs: 10, recallAt8: 0.95, readdMs: 2000, panelFirstPageP95Ms: 100 };

const root = mkdtempSync(join(tmpdir(), 'persona-bench-memory-'));
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version, loadAverageAtStart: loadavg().map((l) => round(l, 2)) },
  quick,
  server: SERVER,
};

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function progress(text: string): void {
  process.stderr.write(`bench:memory: ${text}\n`);
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

// ---- deterministic content ------------------------------------------------------------------------

let seed = 20261202;
function rnd(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function gauss(): number {
  return Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
}
function unit(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}
function near(c: Float32Array, noise: number): Float32Array {
  const v = new Float32Array(c.length);
  for (let i = 0; i < c.length; i++) v[i] = c[i]! + (noise * gauss()) / Math.sqrt(c.length);
  return unit(v);
}

const vocabulary = (
  'the a of to and in is for that with on as it be are this by from or an at config parser token memory vector ' +
  'search index table chunk file line request server cache queue deploy build release handler error retry timeout ' +
  'session user account payment invoice schedule report metric latency throughput module package import export'
).split(' ');

function prose(words: number): string {
  const lines: string[] = [];
  let line: string[] = [];
  for (let i = 0; i < words; i++) {
    line.push(vocabulary[Math.floor(rnd() * vocabulary.length)]!);
    if (line.length >= 12) {
      lines.push(line.join(' ') + '.');
      line = [];
      if (rnd() < 0.15) lines.push('');
    }
  }
  if (line.length) lines.push(line.join(' ') + '.');
  return lines.join('\n') + '\n';
}

function code(functions: number, name: string): string {
  const out: string[] = [`// ${name}`, `import { readFile } from 'node:fs/promises';`, ''];
  for (let f = 0; f < functions; f++) {
    out.push(`export async function ${name}Step${f}(input: string, limit = ${f * 7 + 3}): Promise<number> {`);
    for (let l = 0; l < 8; l++) out.push(`  const v${l} = input.length * ${l + f} + (await readFile(input, 'utf8')).split('${vocabulary[(f + l) % vocabulary.length]}').length;`);
    out.push(`  return Math.min(limit, v0 + v7);`, '}', '');
  }
  return out.join('\n');
}

// ---- 1. indexing throughput -------------------------------------------------------------------------

function settings(baseUrl: string): MemorySettings {
  return { baseUrl, model: 'bge-m3', chunkTokens: 500, overlapTokens: 50, maxFileBytes: 1024 * 1024, topK: 8, minScore: 0.35, tokenBudget: 1500 };
}

async function rawServerRun(server: FakeKoboldCpp, texts: string[]): Promise<number> {
  const batches: string[][] = [];
  for (let i = 0; i < texts.length; i += CLIENT.batchSize) batches.push(texts.slice(i, i + CLIENT.batchSize));
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const input = batches[next++]!;
      const res = await fetch(`${server.url}/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input, model: 'bge-m3' }) });
      const body = (await res.json()) as { data: { embedding: number[] }[] };
      if (body.data.length !== input.length) throw new Error('short reply');
    }
  };
  await Promise.all(Array.from({ length: CLIENT.maxInFlight }, worker));
  return performance.now() - started;
}

async function personaIndexingRun(server: FakeKoboldCpp, files: { absPath: string; source: string }[], run: number): Promise<{ ms: number; chunks: number; head: number; tail: number }> {
  const dir = join(root, `indexing-${run}`);
  const service = new MemoryService({ dir, settings: () => settings(server.url), logger: silentLogger });
  await service.start(); // LanceDB loads once per window; not what this measures
  const before = server.embeddedItems;
  const requestsBefore = server.requests.length;
  const startedAt = now();
  const started = performance.now();
  await service.add(files, 'workspace');
  await service.whenIdle();
  const ms = performance.now() - started;
  const endedAt = now();
  const p = service.progress();
  if (p.failedCount > 0 || p.indexed !== files.length) throw new Error(`indexing ended with ${JSON.stringify(p)}`);
  const chunks = server.embeddedItems - before;
  // Where the time beyond the server's went: before its first request, and after its last reply.
  const mine = server.requests.slice(requestsBefore).filter((r) => r.path.endsWith('/embeddings'));
  const head = Math.min(...mine.map((r) => r.receivedAt)) - startedAt;
  const tail = endedAt - Math.max(...mine.map((r) => r.endedAt ?? r.receivedAt));
  await service.dispose();
  return { ms, chunks, head, tail };
}

async function benchIndexing(): Promise<void> {
  const ws = join(root, 'indexing-ws');
  const files: { absPath: string; source: string }[] = [];
  const texts: string[] = [];
  for (let i = 0; i < sizes.indexingFiles; i++) {
    const rel = i % 3 === 0 ? `src/module${i}.ts` : `docs/note${i}.md`;
    const text = i % 3 === 0 ? code(6 + (i % 5) * 3, `module${i}`) : `# Note ${i}\n\n${prose(400 + ((i * 137) % 1600))}`;
    const absPath = join(ws, rel);
    mkdirSync(join(absPath, '..'), { recursive: true });
    writeFileSync(absPath, text);
    files.push({ absPath, source: rel });
    texts.push(...chunkText(text, { chunkTokens: 500, overlapTokens: 50 }).map((c) => c.text));
  }
  const server = await startFakeKoboldCpp({ dimension: D, ...SERVER, serial: true, control: false });
  try {
    await rawServerRun(server, texts.slice(0, 64)); // warm the connection and JIT
    const raw: number[] = [];
    const persona: number[] = [];
    let chunks = 0;
    for (let run = 0; run < 3; run++) {
      raw.push(await rawServerRun(server, texts));
      const p = await personaIndexingRun(server, files, run);
      persona.push(p.ms);
      chunks = p.chunks;
      progress(`indexing run ${run + 1}: server alone ${Math.round(raw.at(-1)!)} ms, Persona ${Math.round(p.ms)} ms for ${p.chunks} chunks (${Math.round(p.head)} ms to the first request, ${Math.round(p.tail)} ms after the last reply)`);
    }
    // One more: the probe that asks the server for its model and dimension before a run.
    if (chunks !== texts.length + 1) throw new Error(`Persona embedded ${chunks} texts, the chunker makes ${texts.length} (+ 1 probe)`);
    const rawMs = percentile(raw, 0.5);
    const personaMs = percentile(persona, 0.5);
    const serverBusyMs = Math.ceil(texts.length / CLIENT.batchSize) * SERVER.latencyMs + texts.length * SERVER.latencyPerItemMs;
    results.indexing = {
      files: files.length,
      chunks: texts.length,
      serverBusyMs,
      rawMs: round(rawMs),
      personaMs: round(personaMs),
      rawChunksPerSecond: round((texts.length / rawMs) * 1000),
      personaChunksPerSecond: round((texts.length / personaMs) * 1000),
      ratio: round(rawMs / personaMs, 3),
      runs: { raw: raw.map((x) => round(x)), persona: persona.map((x) => round(x)) },
    };
  } finally {
    await server.close();
  }
}

// ---- 2. retrieval latency and recall ----------------------------------------------------------------

/**
 * Every stored vector in one buffer, with its key: 100k separate arrays in this process would make
 * the garbage collector's pauses part of the search times (the extension host holds no such thing).
 */
class Stored {
  readonly vectors: Float32Array;
  readonly keys: string[] = [];
  constructor(readonly capacity: number) {
    this.vectors = new Float32Array(capacity * D);
  }
  get length(): number {
    return this.keys.length;
  }
  push(vector: Float32Array, key: string): Float32Array {
    const at = this.keys.length * D;
    this.vectors.set(vector, at);
    this.keys.push(key);
    return this.vectors.subarray(at, at + D);
  }
  vector(i: number): Float32Array {
    return this.vectors.subarray(i * D, (i + 1) * D);
  }
}

/** What chunks are written to: the local store, or the team memory (part 7). */
interface ChunkSink {
  upsertDocuments(docs: MemoryDocument[]): Promise<unknown>;
}

/**
 * Writes `rows` chunks to `store` in documents of `chunksPerDoc` (`src/f<n>.ts`, knowledge base
 * `kb`), `docsPerCommit` documents per commit, each document's vectors clustered around one of 200
 * topics; with `stored`, every vector is kept there too (for exact top-k). Resolves to the time
 * spent in the upserts.
 */
async function fillChunks(
  store: ChunkSink,
  rows: number,
  chunksPerDoc: number,
  stored?: { push(vector: Float32Array, key: string): unknown },
  { kb = 'workspace', docsPerCommit = 50 }: { kb?: string; docsPerCommit?: number } = {},
): Promise<number> {
  const topics = Array.from({ length: 200 }, () => unit(Float32Array.from({ length: D }, gauss)));
  let written = 0;
  let docNo = 0;
  let insertMs = 0;
  while (written < rows) {
    const docs: MemoryDocument[] = [];
    for (let d = 0; d < docsPerCommit && written < rows; d++, docNo++) {
      const centre = near(topics[docNo % topics.length]!, 1.0);
      const chunks = [];
      for (let i = 0; i < chunksPerDoc && written < rows; i++, written++) {
        const vector = near(centre, 0.9);
        const text = `doc ${docNo} chunk ${i} ident${docNo}x${i} ${prose(60)}`;
        chunks.push({ text, vector, startLine: i * 20 + 1, endLine: i * 20 + 20, tokenCount: 90, index: i });
        stored?.push(vector, `src/f${docNo}.ts#${i}`);
      }
      docs.push({ source: `src/f${docNo}.ts`, kb, docHash: 'h', chunks });
    }
    const t0 = performance.now();
    await store.upsertDocuments(docs);
    insertMs += performance.now() - t0;
  }
  return insertMs;
}

async function benchRetrieval(rows: number): Promise<Record<string, unknown>> {
  const dir = join(root, `retrieval-${rows}`);
  const store = await MemoryStore.open(dir, { dimension: D, model: 'bge-m3' });
  const stored = new Stored(rows);
  const insertMs = await fillChunks(store, rows, 20, stored);
  progress(`retrieval ${rows}: inserted in ${Math.round(insertMs)} ms; optimizing (indexes)`);
  const t0 = performance.now();
  const optimized = await store.optimize();
  const optimizeMs = performance.now() - t0;
  progress(`retrieval ${rows}: optimize built ${optimized.built.join(', ') || 'nothing'} in ${Math.round(optimizeMs)} ms`);

  const queries = Array.from({ length: 200 }, () => near(stored.vector(Math.floor(rnd() * stored.length)), 0.8));
  const kbs = ['workspace', 'persona:sam'];
  // The first queries after opening load the index.
  for (const q of queries.slice(0, 5)) await store.search(q, { kbs, queryText: 'parser timeout' });
  const vectorMs: number[] = [];
  const hybridMs: number[] = [];
  let found = 0;
  let asked = 0;
  const recallQueries = quick ? 30 : rows > 50_000 ? 40 : 60;
  // Each kind of search in a run of its own; recall on the vector search's results.
  const vectorHits: MemoryHit[][] = [];
  for (const q of queries) {
    const s = performance.now();
    vectorHits.push(await store.search(q, { kbs, k: 8 }));
    vectorMs.push(performance.now() - s);
  }
  for (const [n, q] of queries.entries()) {
    const s = performance.now();
    await store.search(q, { kbs, k: 8, queryText: `ident${n * 7}x3 parser timeout` });
    hybridMs.push(performance.now() - s);
  }
  for (const [n, q] of queries.slice(0, recallQueries).entries()) {
    const exact = topK(stored, q, 8);
    const got = new Set(vectorHits[n]!.map((h) => `${h.source}#${h.chunkIndex}`));
    found += exact.filter((key) => got.has(key)).length;
    asked += 8;
  }
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    rows,
    insertRowsPerSecond: round((rows / insertMs) * 1000, 0),
    optimizeMs: round(optimizeMs, 0),
    built: optimized.built,
    vector: { p50: round(percentile(vectorMs, 0.5), 2), p95: round(percentile(vectorMs, 0.95), 2) },
    hybrid: { p50: round(percentile(hybridMs, 0.5), 2), p95: round(percentile(hybridMs, 0.95), 2) },
    recallAt8: round(found / asked, 3),
    recallQueries,
  };
}

function topK(stored: Stored, q: Float32Array, k: number): string[] {
  const best: { key: string; d: number }[] = [];
  const all = stored.vectors;
  for (let n = 0; n < stored.length; n++) {
    let d = 0;
    const base = n * D;
    for (let i = 0; i < D; i++) d += all[base + i]! * q[i]!;
    if (best.length < k || d > best[best.length - 1]!.d) {
      best.push({ key: stored.keys[n]!, d });
      best.sort((a, b) => b.d - a.d);
      if (best.length > k) best.pop();
    }
  }
  return best.map((b) => b.key);
}

// ---- 3. re-adding an unchanged workspace ------------------------------------------------------------

async function benchReadd(): Promise<void> {
  const ws = join(root, 'readd-ws');
  for (let i = 0; i < sizes.readdFiles; i++) {
    const dir = join(ws, `pkg${i % 50}`, `area${i % 7}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `file${i}.md`), `# File ${i}\n\n${prose(30 + (i % 40))}`);
  }
  writeFileSync(join(ws, '.gitignore'), 'node_modules/\n*.log\n');
  const server = await startFakeKoboldCpp({ dimension: D, control: false });
  const service = new MemoryService({ dir: join(root, 'readd-memory'), settings: () => settings(server.url), logger: silentLogger });
  try {
    const scanOptions = { root: ws, exclude: ['**/.env', '**/*.pem'], maxFileBytes: 1024 * 1024 };
    const toJobs = (files: { absPath: string; relPath: string }[]) => files.map((f) => ({ absPath: f.absPath, source: f.relPath }));
    let t0 = performance.now();
    const first = (await scanPaths([ws], scanOptions)).files;
    await service.add(toJobs(first), 'workspace');
    await service.whenIdle();
    const firstMs = performance.now() - t0;
    // The files and the .gitignore (a text file like any other).
    if (first.length !== sizes.readdFiles + 1 || service.progress().indexed !== first.length) throw new Error(`first add of ${first.length} files: ${JSON.stringify(service.progress())}`);
    progress(`re-add: first add of ${first.length} files took ${Math.round(firstMs)} ms`);
    const embeddingRequests = () => server.requests.filter((r) => r.path.endsWith('/embeddings')).length;
    const requestsBefore = embeddingRequests();

    // Three re-adds, a moment after the first add (LanceDB settles its index build): the median.
    const runs: { scanMs: number; totalMs: number; files: number }[] = [];
    for (let run = 0; run < 3; run++) {
      await new Promise((r) => setTimeout(r, 1000));
      t0 = performance.now();
      const scanned = await scanPaths([ws], scanOptions);
      const scanMs = performance.now() - t0;
      await service.add(toJobs(scanned.files), 'workspace');
      await service.whenIdle();
      const totalMs = performance.now() - t0;
      const p = service.progress();
      if (p.unchanged !== scanned.files.length) throw new Error(`re-add: ${JSON.stringify(p)}`);
      runs.push({ scanMs, totalMs, files: scanned.files.length });
      progress(`re-add ${run + 1}: ${Math.round(totalMs)} ms (scan ${Math.round(scanMs)} ms)`);
    }
    const median = [...runs].sort((a, b) => a.totalMs - b.totalMs)[1]!;
    results.readd = {
      files: median.files,
      firstAddMs: round(firstMs, 0),
      scanMs: round(median.scanMs, 0),
      queueMs: round(median.totalMs - median.scanMs, 0),
      totalMs: round(median.totalMs, 0),
      runsMs: runs.map((r) => round(r.totalMs, 0)),
      // One per re-add: the probe that asks the server which model it runs before each indexing run.
      embeddingRequests: (embeddingRequests() - requestsBefore) / runs.length,
    };
  } finally {
    await service.dispose();
    await server.close();
  }
}

// ---- 4. the memory panel's first page ----------------------------------------------------------------

const panelPageSize = 100;

/**
 * MemoryController.documentsPage after `MemoryService.listDocuments(kb)`: rows by source, failures
 * and pending jobs merged (none here: an idle memory), sorted by source, the first page sliced.
 */
function firstPage(documents: DocumentSummary[], kb: string): { total: number; documents: DocumentRow[] } {
  const rows = new Map<string, DocumentRow>();
  for (const d of documents) rows.set(d.source, { source: d.source, kb, state: 'ready', chunks: d.chunkCount, tokens: d.tokens, indexedAt: d.createdAt });
  const all = [...rows.values()].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  return { total: all.length, documents: all.slice(0, panelPageSize) };
}

type Spread = { p50: number; p95: number };

function spread(xs: number[], digits = 2): Spread {
  return { p50: round(percentile(xs, 0.5), digits), p95: round(percentile(xs, 0.95), digits) };
}

async function benchPanel(): Promise<void> {
  const { documents, chunksPerDocument } = sizes.panel;
  const rows = documents * chunksPerDocument;
  const kb = 'workspace';
  const dir = join(root, 'panel');
  // No vector index: the panel reads no vector, and building one at 100k rows takes about two minutes.
  const open = () => MemoryStore.open(dir, { dimension: D, model: 'bge-m3', vectorIndexMinRows: Number.MAX_SAFE_INTEGER });
  const writer = await open();
  const insertMs = await fillChunks(writer, rows, chunksPerDocument);
  // Compacted as after indexing: the scan reads a few fragments, not one per commit.
  const optimized = await writer.optimize();
  await writer.close();
  progress(`panel: ${documents} documents / ${rows} chunks inserted in ${Math.round(insertMs)} ms, optimized in ${Math.round(optimized.ms)} ms`);

  // Cold: a store opened afresh (the window's first look), its first listDocuments scans the table.
  // The files are in the OS cache after the first round: the disk itself is not what this measures.
  const reps = quick ? 10 : 20;
  const coldOpenMs: number[] = [];
  const coldListMs: number[] = [];
  const coldPageMs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const store = await open();
    const t1 = performance.now();
    const listed = await store.listDocuments(kb);
    const t2 = performance.now();
    const page = firstPage(listed, kb);
    const t3 = performance.now();
    if (page.total !== documents || page.documents.length !== panelPageSize || page.documents[0]!.chunks !== chunksPerDocument) {
      throw new Error(`panel: first page of ${page.total} documents, ${page.documents.length} rows, ${page.documents[0]?.chunks} chunks in the first`);
    }
    coldOpenMs.push(t1 - t0);
    coldListMs.push(t2 - t1);
    coldPageMs.push(t3 - t0);
    await store.close();
  }

  // Warm: the same store asked again. Within documentsFreshMs (250 ms) of its last read it answers
  // from memory; later it reads the table's version from disk first (another window may have
  // written) and answers from memory when nothing changed: a person paging through the list.
  const store = await open();
  await store.listDocuments(kb);
  const cachedMs: number[] = [];
  const checkedMs: number[] = [];
  const pageOnlyMs: number[] = [];
  for (let r = 0; r < reps * 2; r++) {
    const t0 = performance.now();
    firstPage(await store.listDocuments(kb), kb);
    cachedMs.push(performance.now() - t0);
  }
  for (let r = 0; r < reps; r++) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const t0 = performance.now();
    const listed = await store.listDocuments(kb);
    const t1 = performance.now();
    firstPage(listed, kb);
    const t2 = performance.now();
    checkedMs.push(t2 - t0);
    pageOnlyMs.push(t2 - t1);
  }

  // A document's chunks, as the panel shows them when a row is opened.
  const chunksMs: number[] = [];
  for (let r = 0; r < reps * 2; r++) {
    const source = `src/f${Math.floor(rnd() * documents)}.ts`;
    const t0 = performance.now();
    const chunks = await store.chunksOf(source, kb);
    chunksMs.push(performance.now() - t0);
    if (chunks.length !== chunksPerDocument || chunks[0]!.index !== 0) throw new Error(`panel: ${source} has ${chunks.length} chunks`);
  }
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  results.panel = {
    documents,
    chunks: rows,
    pageSize: panelPageSize,
    reps,
    insertMs: round(insertMs, 0),
    optimizeMs: round(optimized.ms, 0),
    cold: { open: spread(coldOpenMs), listDocuments: spread(coldListMs), firstPage: spread(coldPageMs) },
    warm: { firstPage: spread(checkedMs), firstPageCached: spread(cachedMs), sortAndSlice: spread(pageOnlyMs) },
    chunksOf: spread(chunksMs),
  };
}

// ---- 5. memory items: a chat turn's recall at 10k items, and with 50 pinned ---------------------------

const itemWords = {
  names: 'Ada Ben Clara Dev Elena Farid Greta Hugo Ines Jonas Kaito Lena Mateo Nadia Oskar Priya Quinn Rosa Sami Tess Umar Vera Wim Xenia Yusuf Zoe Alma Bruno Cora Dario Edith Felix Gemma Hamid Iris Jules Karin Levi Mira Noor'.split(' '),
  relations: 'daughter son sister brother mother father wife husband friend neighbour colleague grandmother'.split(' '),
  activities: [
    'plays the cello', 'grows tomatoes', 'bakes sourdough bread', 'collects old stamps', 'runs half marathons', 'paints watercolours', 'repairs bicycles', 'reads crime novels',
    'swims in the lake', 'builds model trains', 'studies astronomy', 'knits warm scarves', 'climbs at the gym', 'writes short poems', 'watches old films', 'plays chess online',
    'cooks Thai curries', 'keeps two cats', 'learns Japanese', 'sings in a choir', 'fixes old radios', 'walks the dog', 'dances salsa', 'brews ginger beer',
    'photographs birds', 'plays football', 'sews quilts', 'restores furniture', 'tends bees', 'skates in winter',
  ],
  when: 'on Sundays|every morning|after work|in the summer|twice a week|on holidays|at weekends|before breakfast|in the evenings|every spring'.split('|'),
  foods: 'peanuts shellfish gluten lactose eggs strawberries sesame kiwi soy mustard celery walnuts'.split(' '),
  jobs: 'nurse teacher plumber architect baker pilot lawyer chemist librarian carpenter designer translator'.split(' '),
  cities: 'Lisbon Oslo Leeds Lyon Porto Graz Turin Ghent Krakow Bergen Malmo Utrecht Bilbao Tartu Cork Brno'.split(' '),
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

/** `n` different short facts of the kinds a person asks a persona to keep. */
function itemTexts(n: number): string[] {
  const texts = new Set<string>();
  while (texts.size < n) {
    const kind = rnd();
    const name = pick(itemWords.names);
    if (kind < 0.6) texts.add(`My ${pick(itemWords.relations)} ${name} ${pick(itemWords.activities)} ${pick(itemWords.when)}.`);
    else if (kind < 0.8) texts.add(`${name}, my ${pick(itemWords.relations)}, is allergic to ${pick(itemWords.foods)} and ${pick(itemWords.foods)}.`);
    else texts.add(`My ${pick(itemWords.relations)} ${name} works as a ${pick(itemWords.jobs)} in ${pick(itemWords.cities)} since ${1990 + Math.floor(rnd() * 35)}.`);
  }
  return [...texts];
}

/** A chat turn: two turns of small talk, then a short question about someone (so the query takes the turns before it). */
function chatTurn(): HistoryTurn[] {
  const name = pick(itemWords.names);
  return [
    { role: 'user', content: 'Good morning! I have a free afternoon today.' },
    { role: 'assistant', content: 'Lovely. Anything you would like to plan for it?' },
    { role: 'user', content: `Something with my ${pick(itemWords.relations)} ${name}. What does ${name} do ${pick(itemWords.when)}?` },
  ];
}

async function rawEmbedding(server: FakeKoboldCpp, text: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${server.url}/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: [text], model: 'bge-m3' }) });
  const body = (await res.json()) as { data: { embedding: number[] }[] };
  if (body.data[0]?.embedding.length !== D) throw new Error('short reply');
  return performance.now() - started;
}

/** Files and commits of a LanceDB table folder: what a scan opens, and what is never cleaned up. */
function lanceFiles(tableDir: string): { dataFiles: number; versions: number; deletionFiles: number } {
  const count = (sub: string) => (existsSync(join(tableDir, sub)) ? readdirSync(join(tableDir, sub)).length : 0);
  return { dataFiles: count('data'), versions: count('_versions'), deletionFiles: count('_deletions') };
}

async function benchItems(): Promise<void> {
  const n = sizes.items;
  const personaId = 'sam';
  const dir = join(root, 'items');
  const server = await startFakeKoboldCpp({ dimension: D, ...SERVER, serial: true, control: false });
  // As itemsController.ts makes it: a new client for each use, with the chat's short retries.
  const client = () => new EmbeddingsClient({ baseUrl: server.url, model: 'bge-m3', logger: silentLogger, retries: 2, retryDelayMs: 250, requestTimeoutMs: 20_000 });
  const items = new MemoryItems({ dir, embedder: client, logger: silentLogger });
  const countTokens = await defaultTokenCounter();
  const recallOptions = { personaId, k: 8, minScore: 0.35, tokenBudget: 1500, countTokens };
  try {
    // Kept as an import keeps them, 1,000 per call, with a server that answers at once (the
    // embedding of 10k texts is the server's time, not ours).
    server.setLatency(0, 0);
    const texts = itemTexts(n);
    const batch = 1_000;
    const recordMs: number[] = [];
    const embedMs: number[] = [];
    for (let i = 0; i < texts.length; i += batch) {
      const requestsBefore = server.requests.length;
      const startedAt = now();
      const added = await items.addMany(
        personaId,
        texts.slice(i, i + batch).map((text) => ({ text, origin: { via: 'import' as const } })),
      );
      const endedAt = now();
      if (added.added.length !== Math.min(batch, texts.length - i) || !added.embedded) throw new Error(`items: added ${added.added.length}, embedded ${added.embedded}`);
      const firstRequest = server.requests[requestsBefore]!.receivedAt;
      recordMs.push(firstRequest - startedAt);
      embedMs.push(endedAt - firstRequest);
      progress(`items: ${i + batch} kept (record ${Math.round(recordMs.at(-1)!)} ms, embedding and LanceDB ${Math.round(embedMs.at(-1)!)} ms)`);
    }
    server.setLatency(SERVER.latencyMs, SERVER.latencyPerItemMs);
    const vectorsDir = join(dir, 'db', readdirSync(join(dir, 'db')).find((f) => f.startsWith('items_'))!);
    const filesAfterAdd = lanceFiles(vectorsDir);

    const turns = Array.from({ length: quick ? 30 : 60 }, chatTurn);
    const run = async (label: string): Promise<{ recallMs: number[]; rawMs: number[]; found: number[]; used: number[]; pinnedUsed: number[]; tokens: number[] }> => {
      for (const history of turns.slice(0, 5)) await items.recall({ ...recallOptions, history });
      const out = { recallMs: [] as number[], rawMs: [] as number[], found: [] as number[], used: [] as number[], pinnedUsed: [] as number[], tokens: [] as number[] };
      // The raw request and the recall in turns, so that both meet the same moments of load.
      for (const history of turns) {
        out.rawMs.push(await rawEmbedding(server, retrievalQuery(history)));
        const t0 = performance.now();
        const recalled = await items.recall({ ...recallOptions, history });
        out.recallMs.push(performance.now() - t0);
        if (recalled.reason) throw new Error(`items: recall said ${recalled.reason}`);
        out.found.push(recalled.items.filter((r) => r.score !== undefined).length);
        out.pinnedUsed.push(recalled.items.filter((r) => r.score === undefined).length);
        out.used.push(recalled.items.length);
        out.tokens.push(recalled.tokens);
      }
      progress(`items ${label}: recall p50 ${round(percentile(out.recallMs, 0.5))} ms, raw embedding p50 ${round(percentile(out.rawMs, 0.5))} ms`);
      return out;
    };
    const plain = await run('unpinned');

    // Where a recall's time goes, each step alone: the record file read and checked, the query's
    // embedding through the client, LanceDB asked which items have a vector (every turn), the hash
    // of every item's text compared with it, and the vector search.
    const steps = { list: [] as number[], embed: [] as number[], hashes: [] as number[], textHashes: [] as number[], search: [] as number[] };
    for (const history of turns) {
      let t0 = performance.now();
      const all = await items.list(personaId);
      steps.list.push(performance.now() - t0);
      const embedder = client();
      t0 = performance.now();
      const [vector] = await embedder.embed([retrievalQuery(history)]);
      steps.embed.push(performance.now() - t0);
      const model = embedder.lastModel ?? 'default';
      t0 = performance.now();
      const have = await items.vectors.hashes(personaId, model, D);
      steps.hashes.push(performance.now() - t0);
      t0 = performance.now();
      const missing = all.filter((i) => have.get(i.id) !== itemTextHash(i.text)).length;
      steps.textHashes.push(performance.now() - t0);
      if (missing !== 0) throw new Error(`items: ${missing} items without a vector`);
      t0 = performance.now();
      await items.vectors.search(personaId, model, D, vector!, recallOptions.k + 8);
      steps.search.push(performance.now() - t0);
    }

    // 50 pinned, through update as the panel pins them (each rewrites the record file).
    const all = await items.list(personaId);
    const pinMs: number[] = [];
    for (let p = 0; p < 50; p++) {
      const t0 = performance.now();
      await items.update(personaId, all[Math.floor((p * all.length) / 50)]!.id, { pinned: true });
      pinMs.push(performance.now() - t0);
    }
    const pinned = await run('50 pinned');
    const filesAtEnd = lanceFiles(vectorsDir);

    const summary = (r: typeof plain) => ({
      recall: spread(r.recallMs),
      rawEmbedding: spread(r.rawMs),
      ratio: round(percentile(r.recallMs, 0.5) / percentile(r.rawMs, 0.5), 2),
      ratioP95: round(percentile(r.recallMs, 0.95) / percentile(r.rawMs, 0.95), 2),
      found: { mean: round(r.found.reduce((a, b) => a + b, 0) / r.found.length, 2), min: Math.min(...r.found), max: Math.max(...r.found), turnsWithNone: r.found.filter((f) => f === 0).length },
      inSection: { mean: round(r.used.reduce((a, b) => a + b, 0) / r.used.length, 1), pinned: Math.min(...r.pinnedUsed), tokensMax: Math.max(...r.tokens) },
    });
    results.items = {
      items: n,
      turns: turns.length,
      recallOptions: { k: recallOptions.k, minScore: recallOptions.minScore, tokenBudget: recallOptions.tokenBudget },
      setup: { batch, recordMs: recordMs.map((x) => round(x, 0)), embedMs: embedMs.map((x) => round(x, 0)) },
      pinUpdate: spread(pinMs),
      unpinned: summary(plain),
      pinned50: summary(pinned),
      steps: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, spread(v)])),
      vectorTable: { afterAdd: filesAfterAdd, atEnd: filesAtEnd },
    };
  } finally {
    await items.close();
    await server.close();
  }
}

// ---- 6. documents: PDF extraction against the embedding server ----------------------------------------

/** The reader as the packaged extension runs it (esbuild.mjs bundles src/rag/documents/extractWorker.ts). */
const documentWorkerBundle = join(repoRoot, 'dist', 'documentWorker.js');

/** Builds dist/ when the bundled reader is missing; says so when it is older than its sources. */
function bundledReader(): { script: string; stale: boolean } {
  if (!existsSync(documentWorkerBundle)) {
    progress('documents: dist/documentWorker.js is missing; building (node esbuild.mjs --production)');
    const built = spawnSync(process.execPath, ['esbuild.mjs', '--production'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
    if (built.status !== 0 || !existsSync(documentWorkerBundle)) throw new Error('documents: the build of dist/documentWorker.js failed');
  }
  const sources = join(repoRoot, 'src', 'rag', 'documents');
  const newestSource = Math.max(...readdirSync(sources).map((f) => statSync(join(sources, f)).mtimeMs));
  return { script: documentWorkerBundle, stale: statSync(documentWorkerBundle).mtimeMs < newestSource };
}

const manualWords = (
  'the a an of to and in is for that with on as it be are this by from or at you your can will when each ' +
  'configuration settings installation device network connection authentication password account server client ' +
  'request response document section page chapter table figure value default option parameter temperature ' +
  'pressure voltage current sensor display button menu screen select press hold release open close start stop ' +
  'maintenance warranty service technician replace check clean inspect battery cable adapter firmware update ' +
  'version release note important warning caution ensure before after during within between following previous ' +
  'procedure described shown listed required recommended optional available supported automatically manually ' +
  'operation performance capacity interval minimum maximum approximately normally typically'
).split(' ');

/** Sentences of a manual's prose: 8–22 words, now and then a comma, a number with a unit, a reference. */
function manualProse(words: number): string[] {
  const out: string[] = [];
  let sentence: string[] = [];
  let length = 8 + Math.floor(rnd() * 15);
  for (let i = 0; i < words; i++) {
    const r = rnd();
    let word = r < 0.03 ? `${Math.floor(rnd() * 240)}.${Math.floor(rnd() * 10)} ${pick(['mm', 'V', 'kPa', 'ms', '°C'])}` : r < 0.05 ? `(see ${pick(['Table', 'Figure', 'Section'])} ${1 + Math.floor(rnd() * 30)}.${1 + Math.floor(rnd() * 9)})` : pick(manualWords);
    if (sentence.length === 0) word = word[0]!.toUpperCase() + word.slice(1);
    else if (rnd() < 0.06) sentence[sentence.length - 1] += ',';
    sentence.push(word);
    if (sentence.length >= length || i === words - 1) {
      out.push(sentence.join(' ') + '.');
      sentence = [];
      length = 8 + Math.floor(rnd() * 15);
    }
  }
  return out;
}

/**
 * A PDF laid out as a manual: A4, a heading, paragraphs of 10 pt Helvetica wrapped to the margins
 * (one text line per drawing operation, as word processors write them), 400–600 words a page, a
 * page number at the foot.
 */
async function manualPdf(pages: number): Promise<{ bytes: Uint8Array; words: number }> {
  const { PDFDocument, StandardFonts } = await import('pdf-lib');
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const bold = await doc.embedFont(StandardFonts.HelveticaBold);
  const width = 495;
  let words = 0;
  for (let n = 1; n <= pages; n++) {
    const page = doc.addPage([595, 842]);
    page.drawText(`${n}. ${pick(['Installation', 'Operation', 'Maintenance', 'Troubleshooting', 'Specifications', 'Safety'])} of the ${pick(manualWords)} ${pick(manualWords)}`, { x: 50, y: 790, size: 14, font: bold });
    let y = 764;
    let left = 400 + Math.floor(rnd() * 201);
    while (left > 0) {
      const paragraph = Math.min(left, 40 + Math.floor(rnd() * 80));
      left -= paragraph;
      let line = '';
      const lines: string[] = [];
      for (const word of manualProse(paragraph).join(' ').split(' ')) {
        const next = line ? `${line} ${word}` : word;
        if (font.widthOfTextAtSize(next, 10) > width && line) {
          lines.push(line);
          line = word;
        } else line = next;
      }
      if (line) lines.push(line);
      for (const l of lines) {
        if (y < 50) throw new Error('documents: a page overflowed; fewer words per page');
        page.drawText(l, { x: 50, y, size: 10, font });
        y -= 13;
      }
      words += paragraph;
      y -= 7;
    }
    page.drawText(String(n), { x: 292, y: 28, size: 9, font });
  }
  return { bytes: await doc.save(), words };
}

/** Milliseconds from forking `script` (as extractDocument forks its reader) to its first message. */
function forkUntilMessage(script: string, args: string[] = []): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = fork(script, args, { execArgv: ['--max-old-space-size=256'], env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.once('message', () => {
      const ms = performance.now() - started;
      child.kill('SIGKILL');
      resolvePromise(ms);
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`documents: ${script} exited with ${code} before it answered`)));
  });
}

async function timedExtract(bytes: Uint8Array, workerScript: string, isolation: 'process' | 'thread' = 'process'): Promise<{ ms: number; text: string; pages: number }> {
  const started = performance.now();
  const outcome = await extractDocument(bytes, 'pdf', {}, { workerScript, isolation });
  const ms = performance.now() - started;
  if (!outcome.ok) throw new Error(`documents: the reader skipped a generated PDF: ${outcome.message}`);
  return { ms, text: outcome.text, pages: outcome.pageCount ?? 0 };
}

async function documentsIndexingRun(server: FakeKoboldCpp, files: { absPath: string; source: string }[], run: string): Promise<{ ms: number; chunks: number }> {
  const service = new MemoryService({ dir: join(root, `documents-memory-${run}`), settings: () => settings(server.url), logger: silentLogger });
  await service.start(); // LanceDB loads once per window; not what this measures
  const before = server.embeddedItems;
  const started = performance.now();
  await service.add(files, 'workspace');
  await service.whenIdle();
  const ms = performance.now() - started;
  const p = service.progress();
  await service.dispose();
  if (p.failedCount > 0 || p.skippedCount > 0 || p.indexed !== files.length) throw new Error(`documents: indexing ended with ${JSON.stringify(p)}`);
  return { ms, chunks: server.embeddedItems - before - 1 }; // - the model probe
}

async function benchDocuments(): Promise<void> {
  const reader = bundledReader();
  const reps = quick ? 2 : 3;
  const countTokens = await defaultTokenCounter();
  const pdfs: { pages: number; bytes: Uint8Array; words: number }[] = [];
  let t0 = performance.now();
  for (const pages of [1, ...sizes.documentPages]) pdfs.push({ pages, ...(await manualPdf(pages)) });
  const folder = await Promise.all(Array.from({ length: sizes.documentFolder.files }, () => manualPdf(sizes.documentFolder.pages)));
  progress(`documents: generated PDFs of ${pdfs.map((p) => p.pages).join(', ')} pages and ${folder.length} of ${sizes.documentFolder.pages} in ${Math.round(performance.now() - t0)} ms`);

  // What the first document costs before its first page: a process, the 2 MB bundle loaded, PDF.js's first document;
  // later documents find the reader started (extractDocument keeps it).
  const bare = join(root, 'bareChild.js');
  writeFileSync(bare, `process.send('ready', () => process.exit(0));\n`);
  const loader = join(root, 'loadReader.js');
  writeFileSync(loader, `require(process.argv[2]); process.send('ready', () => process.exit(0));\n`);
  const bareMs: number[] = [];
  const loadedMs: number[] = [];
  for (let r = 0; r < 5; r++) {
    bareMs.push(await forkUntilMessage(bare));
    loadedMs.push(await forkUntilMessage(loader, [reader.script]));
  }
  // The reader from source under tsx: what the end-to-end runs below use (documentWorkerScript() under tsx).
  const sourceReader = join(repoRoot, 'src', 'rag', 'documents', 'extractWorker.ts');
  const onePageSourceMs: number[] = [];
  // For comparison: the same bundle in a worker thread (extractDocument's other isolation), no process to start.
  const threadMs: Record<number, number[]> = {};

  const extraction: { pages: number; words: number; bytes: number; ms: number[]; text: string }[] = [];
  for (const pdf of pdfs) {
    const ms: number[] = [];
    let text = '';
    for (let r = 0; r < (pdf.pages === 1 ? 5 : reps); r++) {
      const got = await timedExtract(pdf.bytes, reader.script);
      if (got.pages !== pdf.pages) throw new Error(`documents: the reader found ${got.pages} of ${pdf.pages} pages`);
      ms.push(got.ms);
      text = got.text;
    }
    extraction.push({ pages: pdf.pages, words: pdf.words, bytes: pdf.bytes.length, ms, text });
    progress(`documents: extraction of ${pdf.pages} page${pdf.pages === 1 ? '' : 's'} (${Math.round(pdf.bytes.length / 1024)} KB): ${ms.map((x) => Math.round(x)).join(', ')} ms`);
  }
  // After the bundle's runs: another script needs another reader process.
  for (const pdf of pdfs.filter((p) => p.pages <= sizes.documentPages[0]!)) {
    for (let r = 0; r < (pdf.pages === 1 ? 5 : reps); r++) {
      if (pdf.pages === 1) onePageSourceMs.push((await timedExtract(pdf.bytes, sourceReader)).ms);
      (threadMs[pdf.pages] ??= []).push((await timedExtract(pdf.bytes, reader.script, 'thread')).ms);
    }
  }

  const server = await startFakeKoboldCpp({ dimension: D, ...SERVER, serial: true, control: false });
  try {
    // The same texts as indexing sends them: chunked at the defaults (500 tokens, 50 overlap), through the client's batches.
    const client = new EmbeddingsClient({ baseUrl: server.url, model: 'bge-m3', logger: silentLogger, batchSize: CLIENT.batchSize, maxInFlight: CLIENT.maxInFlight });
    await client.embed(chunkText(extraction[0]!.text).map((c) => c.text)); // warm the connection
    const rows: Record<string, unknown>[] = [];
    for (const e of extraction.slice(1)) {
      t0 = performance.now();
      const chunks = chunkText(e.text).map((c) => c.text);
      const chunkMs = performance.now() - t0;
      const embedMs: number[] = [];
      for (let r = 0; r < reps; r++) {
        t0 = performance.now();
        const vectors = await client.embed(chunks);
        embedMs.push(performance.now() - t0);
        if (vectors.length !== chunks.length) throw new Error('documents: short reply');
      }
      const extractMs = percentile(e.ms, 0.5);
      const embeddingMs = percentile(embedMs, 0.5);
      const tokens = countTokens(e.text);
      rows.push({
        pages: e.pages,
        wordsPerPage: round(e.words / e.pages, 0),
        tokensPerPage: round(tokens / e.pages, 0),
        kb: round(e.bytes / 1024, 0),
        chunks: chunks.length,
        chunkMs: round(chunkMs, 1),
        extractMs: round(extractMs, 0),
        embedMs: round(embeddingMs, 0),
        extractPagesPerSecond: round((e.pages / extractMs) * 1000, 1),
        embedPagesPerSecond: round((e.pages / embeddingMs) * 1000, 1),
        ratio: round(embeddingMs / extractMs, 2),
        // The embedding server would have to take less than this per 500-token text for this reader to hold it up.
        breakEvenMsPerText: round(extractMs / chunks.length, 1),
        runs: { extractMs: e.ms.map((x) => round(x, 0)), embedMs: embedMs.map((x) => round(x, 0)) },
      });
      progress(`documents: ${e.pages} pages → ${chunks.length} chunks; embedding ${embedMs.map((x) => Math.round(x)).join(', ')} ms`);
    }

    // End to end through MemoryService (the queue, prepareJob, the pipeline, LanceDB): one large PDF,
    // and a folder of small ones, where the pipeline reads the next file while the last is embedded.
    const docsDir = join(root, 'documents-ws');
    mkdirSync(docsDir, { recursive: true });
    const largest = pdfs.at(-1)!;
    writeFileSync(join(docsDir, `manual-${largest.pages}.pdf`), largest.bytes);
    folder.forEach((f, i) => writeFileSync(join(docsDir, `leaflet-${i}.pdf`), f.bytes));
    const large = [{ absPath: join(docsDir, `manual-${largest.pages}.pdf`), source: `manual-${largest.pages}.pdf` }];
    const leaflets = folder.map((_, i) => ({ absPath: join(docsDir, `leaflet-${i}.pdf`), source: `leaflet-${i}.pdf` }));
    const endToEnd: Record<string, unknown>[] = [];
    for (const [label, files, pages] of [
      ['large', large, largest.pages],
      ['folder', leaflets, folder.length * sizes.documentFolder.pages],
    ] as const) {
      const ms: number[] = [];
      let chunks = 0;
      for (let r = 0; r < 2; r++) {
        const got = await documentsIndexingRun(server, [...files], `${label}-${r}`);
        ms.push(got.ms);
        chunks = got.chunks;
        progress(`documents: end to end, ${label} (${files.length} PDF${files.length === 1 ? '' : 's'}, ${pages} pages, ${got.chunks} chunks): ${Math.round(got.ms)} ms`);
      }
      if (label === 'large' && chunks !== (rows.at(-1) as { chunks: number }).chunks) throw new Error(`documents: indexing embedded ${chunks} chunks, the chunker makes ${(rows.at(-1) as { chunks: number }).chunks}`);
      const best = Math.min(...ms);
      endToEnd.push({ label, files: files.length, pages, chunks, ms: ms.map((x) => round(x, 0)), pagesPerSecond: round((pages / best) * 1000, 1) });
    }
    const onePage = percentile(extraction[0]!.ms, 0.5);
    const big = extraction.at(-1)!;
    const perPageMs = (percentile(big.ms, 0.5) - onePage) / (big.pages - 1);
    results.documents = {
      reader: { script: 'dist/documentWorker.js', isolation: 'process', stale: reader.stale },
      perDocument: {
        processMs: spread(bareMs, 0),
        processAndBundleMs: spread(loadedMs, 0),
        onePagePdfMs: spread(extraction[0]!.ms, 0),
        onePagePdfFromSourceMs: spread(onePageSourceMs, 0),
      },
      inAThread: Object.entries(threadMs).map(([pages, ms]) => ({ pages: Number(pages), ms: spread(ms, 0) })),
      onePageFirstMs: round(extraction[0]!.ms[0]!, 0),
      perPageMs: round(perPageMs, 2),
      pagesPerSecondAfterTheFirst: round(1000 / perPageMs, 0),
      sizes: rows,
      endToEnd,
    };
  } finally {
    await server.close();
  }
}

// ---- 7. team memory: the same chunks on S3-compatible storage ------------------------------------------

const TEAM = {
  chunksPerDocument: 20,
  /** 5,000 chunks a commit: each upsert is one commit over HTTP, and the team's writer reads its documents back after each. */
  docsPerCommit: 250,
  members: ['alice', 'bob', 'carol', 'dave'],
  warmUp: 5,
  queries: 50,
  /** Below the default 10k, so that at --quick's size too every table has its vector index. */
  vectorIndexMinRows: 1_000,
};
const teamModel = { model: 'bge-m3', dimension: D };

type TeamSearch = (vector: Float32Array, queryText?: string) => Promise<MemoryHit[]>;
type SearchRun = { vector: Spread; hybrid: Spread; top: Set<string>[] };

/** The retrieval part's two searches, each in a run of its own after a few warm-up queries (they load the indexes). */
async function timeSearches(search: TeamSearch, queries: Float32Array[]): Promise<SearchRun> {
  for (const q of queries.slice(0, TEAM.warmUp)) await search(q, 'parser timeout');
  const measured = queries.slice(TEAM.warmUp);
  const vectorMs: number[] = [];
  const hybridMs: number[] = [];
  const top: Set<string>[] = [];
  for (const q of measured) {
    const s = performance.now();
    const hits = await search(q);
    vectorMs.push(performance.now() - s);
    top.push(new Set(hits.map((h) => `${h.source}#${h.chunkIndex}`)));
  }
  for (const [n, q] of measured.entries()) {
    const s = performance.now();
    await search(q, `ident${n * 7}x3 parser timeout`);
    hybridMs.push(performance.now() - s);
  }
  return { vector: spread(vectorMs), hybrid: spread(hybridMs), top };
}

function teamBase(s3: S3TestServer, folder: string, member: string): SharedBase {
  return {
    settings: { uri: `s3://${s3.bucket}/${folder}`, endpoint: s3.endpoint, region: 'us-east-1', pathStyle: true, allowHttp: true },
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    member,
  };
}

/**
 * Fills a team base with `rows` chunks, the documents split in order among `members` (the first
 * quarter by the first of four, and so on: a commit goes to one member's table), then each member
 * optimizes its table. Members write one after another, as the local store is written.
 */
async function fillTeam(s3: S3TestServer, folder: string, members: string[], rows: number): Promise<{ fillMs: number; optimizeMs: number; built: string[][] }> {
  const writers: SharedMemory[] = [];
  try {
    for (const m of members) writers.push(await SharedMemory.open(teamBase(s3, folder, m), teamModel, { vectorIndexMinRows: TEAM.vectorIndexMinRows }));
    const documents = Math.ceil(rows / TEAM.chunksPerDocument);
    let seen = 0;
    const sink: ChunkSink = {
      async upsertDocuments(docs) {
        const byMember = new Map<number, MemoryDocument[]>();
        for (const d of docs) {
          const m = Math.floor((seen++ * members.length) / documents);
          byMember.set(m, [...(byMember.get(m) ?? []), d]);
        }
        for (const [m, part] of byMember) await writers[m]!.upsertDocuments(part);
      },
    };
    const fillMs = await fillChunks(sink, rows, TEAM.chunksPerDocument, undefined, { kb: SHARED_KB, docsPerCommit: TEAM.docsPerCommit });
    const t0 = performance.now();
    const built: string[][] = [];
    for (const w of writers) built.push(((await w.optimize()) as OptimizeResult).built);
    return { fillMs, optimizeMs: performance.now() - t0, built };
  } finally {
    for (const w of writers) await w.close();
  }
}

function sameTop8(a: Set<string>[], b: Set<string>[]): number {
  let shared = 0;
  let asked = 0;
  for (const [n, got] of a.entries()) {
    for (const key of got) if (b[n]!.has(key)) shared++;
    asked += b[n]!.size;
  }
  return round(shared / asked, 3);
}

const ratioOf = (team: Spread, local: Spread): Spread => ({ p50: round(team.p50 / local.p50, 2), p95: round(team.p95 / local.p95, 2) });

/**
 * The local store filled as the team's will be, optimized and searched; and the queries, each
 * near a chunk picked at even steps through the fill.
 */
async function teamLocal(rows: number): Promise<{ local: { fillMs: number; optimizeMs: number; built: string[] } & SearchRun; queries: Float32Array[] }> {
  const dir = join(root, 'team-local');
  const store = await MemoryStore.open(dir, { dimension: D, model: 'bge-m3', vectorIndexMinRows: TEAM.vectorIndexMinRows });
  try {
    const wanted = TEAM.warmUp + TEAM.queries;
    const every = Math.floor(rows / wanted);
    const picked: Float32Array[] = [];
    let chunkNo = 0;
    const sample = {
      push(vector: Float32Array): void {
        if (chunkNo++ % every === 0 && picked.length < wanted) picked.push(vector);
      },
    };
    const fillMs = await fillChunks(store, rows, TEAM.chunksPerDocument, sample, { docsPerCommit: TEAM.docsPerCommit });
    progress(`team: local store filled in ${Math.round(fillMs)} ms; optimizing`);
    const t0 = performance.now();
    const { built } = await store.optimize();
    const optimizeMs = performance.now() - t0;
    const queries = picked.map((v) => near(v, 0.8));
    const run = await timeSearches((q, queryText) => store.search(q, { kbs: ['workspace'], k: 8, ...(queryText ? { queryText } : {}) }), queries);
    progress(`team: local store optimized in ${Math.round(optimizeMs)} ms (${built.join(' + ')}); vector p50 ${run.vector.p50} ms, hybrid p50 ${run.hybrid.p50} ms`);
    return { local: { fillMs, optimizeMs, built, ...run }, queries };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchTeam(): Promise<void> {
  const started = performance.now();
  const rows = sizes.team;
  const check = (what: string, built: string[]) => {
    if (!built.includes('fts') || !built.includes('vector')) throw new Error(`team: optimize built ${built.join(' + ') || 'nothing'} for ${what}, not the full-text and the vector index`);
  };
  // Every store gets the same chunks: the same stretch of the random sequence, from here.
  const from = seed;
  const { local, queries } = await teamLocal(rows);
  check('the local store', local.built);

  const s3 = await startS3Server({ bucket: 'team' });
  try {
    const team: Record<'oneMember' | 'fourMembers', Record<string, unknown>> = { oneMember: {}, fourMembers: {} };
    for (const [key, members] of [
      ['oneMember', TEAM.members.slice(0, 1)],
      ['fourMembers', TEAM.members],
    ] as const) {
      seed = from;
      const filled = await fillTeam(s3, key, [...members], rows);
      filled.built.forEach((b, i) => check(`${members[i]}'s table`, b));
      progress(`team: ${members.length} member${members.length === 1 ? '' : 's'} filled in ${Math.round(filled.fillMs)} ms, optimized in ${Math.round(filled.optimizeMs)} ms`);
      // A teammate who writes nothing reads: every member's table, merged.
      const reader = await SharedMemory.open(teamBase(s3, key, 'erin'), teamModel);
      let run: SearchRun;
      try {
        run = await timeSearches((q, queryText) => reader.search(q, { k: 8, ...(queryText ? { queryText } : {}) }), queries);
      } finally {
        await reader.close();
      }
      progress(`team: ${members.length} member${members.length === 1 ? '' : 's'}: vector p50 ${run.vector.p50} ms, hybrid p50 ${run.hybrid.p50} ms`);
      team[key] = {
        members: members.length,
        rowsPerTable: rows / members.length,
        fillMs: round(filled.fillMs, 0),
        optimizeMs: round(filled.optimizeMs, 0),
        built: filled.built,
        vector: run.vector,
        hybrid: run.hybrid,
        ratio: { vector: ratioOf(run.vector, local.vector), hybrid: ratioOf(run.hybrid, local.hybrid) },
        sameTop8AsLocal: sameTop8(run.top, local.top),
      };
    }
    results.team = {
      rows,
      chunksPerCommit: TEAM.chunksPerDocument * TEAM.docsPerCommit,
      queries: TEAM.queries,
      storage: 's3rver on loopback (in this process)',
      local: { fillMs: round(local.fillMs, 0), optimizeMs: round(local.optimizeMs, 0), built: local.built, vector: local.vector, hybrid: local.hybrid },
      ...team,
      wallMs: round(performance.now() - started, 0),
    };
  } finally {
    await removeS3Folder(s3);
  }
}

// ---- report -------------------------------------------------------------------------------------------

function verdict(ok: boolean): string {
  return ok ? 'met' : 'MISSED';
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

async function main(): Promise<void> {
  const retrieval: Record<string, unknown>[] = [];
  const want = (part: string) => only === undefined || only === part;
  try {
    if (want('indexing')) {
      progress(`indexing ${sizes.indexingFiles} files`);
      await benchIndexing();
    }
    if (want('retrieval')) {
      for (const rows of sizes.retrieval) {
        progress(`retrieval at ${rows} chunks`);
        retrieval.push(await benchRetrieval(rows));
      }
      results.retrieval = retrieval;
    }
    if (want('readd')) {
      progress(`re-adding ${sizes.readdFiles} unchanged files`);
      await benchReadd();
    }
    if (want('panel')) {
      progress(`memory panel over ${sizes.panel.documents} documents of ${sizes.panel.chunksPerDocument} chunks`);
      await benchPanel();
    }
    if (want('items')) {
      progress(`recall of ${sizes.items} memory items`);
      await benchItems();
    }
    // Last: its generated documents draw on the same random sequence as the parts above.
    if (want('documents')) {
      progress(`documents: PDFs of ${sizes.documentPages.join(', ')} pages, read and embedded`);
      await benchDocuments();
    }
    if (want('team')) {
      progress(`team memory: ${sizes.team} chunks on s3rver, in one member's table and in four, against the local store`);
      await benchTeam();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  results.machine = { ...(results.machine as object), loadAverageAtEnd: loadavg().map((l) => round(l, 2)) };
  mkdirSync(join(repoRoot, '.bench'), { recursive: true });
  writeFileSync(join(repoRoot, '.bench', 'memory.json'), JSON.stringify(results, null, 2) + '\n');

  const ix = results.indexing as { files: number; chunks: number; rawChunksPerSecond: number; personaChunksPerSecond: number; ratio: number; serverBusyMs: number; rawMs: number; personaMs: number } | undefined;
  const rd = results.readd as { files: number; scanMs: number; queueMs: number; totalMs: number; unchanged: number; embeddingRequests: number } | undefined;
  const rows: string[][] = [['', 'Persona', 'target', '']];
  if (ix) {
    rows.push([
      `Indexing ${ix.files} files (${ix.chunks} chunks): chunks/s, against the server alone`,
      `${ix.ratio}× (${ix.personaChunksPerSecond} / ${ix.rawChunksPerSecond} chunks/s)`,
      `≥ ${targets.indexingRatio}×`,
      verdict(ix.ratio >= targets.indexingRatio),
    ]);
  }
  for (const r of retrieval as { rows: number; vector: { p50: number; p95: number }; hybrid: { p50: number; p95: number }; recallAt8: number; built: string[]; optimizeMs: number }[]) {
    const big = r.rows >= 100_000;
    rows.push([
      `Top-8 at ${r.rows.toLocaleString('en')} chunks: vector p50 / p95; recall@8`,
      `${r.vector.p50} / ${r.vector.p95} ms; ${r.recallAt8}`,
      big ? `p95 ≤ ${targets.p95At100kMs} ms; ≥ ${targets.recallAt8}` : `recall ≥ ${targets.recallAt8}`,
      big ? verdict(r.vector.p95 <= targets.p95At100kMs && r.recallAt8 >= targets.recallAt8) : verdict(r.recallAt8 >= targets.recallAt8),
    ]);
    rows.push([`  hybrid (vector + full text, as a chat turn searches) p50 / p95`, `${r.hybrid.p50} / ${r.hybrid.p95} ms`, '', '']);
    rows.push([`  index built in`, `${(r.optimizeMs / 1000).toFixed(1)} s (${r.built.join(' + ') || 'none'})`, '', '']);
  }
  if (rd) {
    rows.push([
      `Re-adding ${rd.files.toLocaleString('en')} unchanged files: scan + hash checks`,
      `${(rd.totalMs / 1000).toFixed(2)} s (scan ${rd.scanMs} ms, queue ${rd.queueMs} ms); ${rd.embeddingRequests} embedding request${rd.embeddingRequests === 1 ? ' (the model probe)' : 's'}`,
      `≤ ${targets.readdMs / 1000} s`,
      verdict(rd.totalMs <= targets.readdMs && rd.embeddingRequests <= 1),
    ]);
  }
  const pn = results.panel as
    | { documents: number; chunks: number; pageSize: number; cold: Record<'open' | 'listDocuments' | 'firstPage', Spread>; warm: Record<'firstPage' | 'firstPageCached' | 'sortAndSlice', Spread>; chunksOf: Spread }
    | undefined;
  if (pn) {
    rows.push([
      `Memory panel, ${pn.documents.toLocaleString('en')} documents / ${pn.chunks.toLocaleString('en')} chunks: first page (${pn.pageSize} rows by source), warm p50 / p95`,
      `${pn.warm.firstPage.p50} / ${pn.warm.firstPage.p95} ms`,
      `p95 < ${targets.panelFirstPageP95Ms} ms`,
      verdict(pn.warm.firstPage.p95 < targets.panelFirstPageP95Ms),
    ]);
    rows.push([`  of it sorting and slicing (the controller's part); within 250 ms of the last read`, `${pn.warm.sortAndSlice.p50} / ${pn.warm.sortAndSlice.p95} ms; ${pn.warm.firstPageCached.p50} / ${pn.warm.firstPageCached.p95} ms`, '', '']);
    rows.push([
      `  cold (a store opened afresh, its first listDocuments scans the table) p50 / p95`,
      `${pn.cold.firstPage.p50} / ${pn.cold.firstPage.p95} ms (open ${pn.cold.open.p50}, list ${pn.cold.listDocuments.p50} ms p50)`,
      `(p95 < ${targets.panelFirstPageP95Ms} ms)`,
      verdict(pn.cold.firstPage.p95 < targets.panelFirstPageP95Ms),
    ]);
    rows.push([`  one document's chunks (chunksOf) p50 / p95`, `${pn.chunksOf.p50} / ${pn.chunksOf.p95} ms`, '', '']);
  }
  type ItemRun = { recall: Spread; rawEmbedding: Spread; ratio: number; ratioP95: number; found: { mean: number; min: number; max: number; turnsWithNone: number }; inSection: { mean: number; pinned: number; tokensMax: number } };
  const it = results.items as { items: number; turns: number; unpinned: ItemRun; pinned50: ItemRun; steps: Record<'list' | 'embed' | 'hashes' | 'textHashes' | 'search', Spread>; pinUpdate: Spread } | undefined;
  if (it) {
    const line = (r: ItemRun) => `${r.recall.p50} / ${r.recall.p95} ms; ${r.ratio}× / ${r.ratioP95}× the raw request (${r.rawEmbedding.p50} / ${r.rawEmbedding.p95} ms)`;
    rows.push([`Recall of ${it.items.toLocaleString('en')} memory items for a chat turn (k 8, minScore 0.35): p50 / p95; against one embedding request`, line(it.unpinned), '', '']);
    rows.push([`  found per turn (score ≥ 0.35), over ${it.turns} turns: mean, min–max; turns with none`, `${it.unpinned.found.mean}, ${it.unpinned.found.min}–${it.unpinned.found.max}; ${it.unpinned.found.turnsWithNone}`, '', '']);
    rows.push([`  with 50 pinned`, line(it.pinned50), '', '']);
    rows.push([`  with 50 pinned: in the section (pinned at least); found; tokens at most`, `${it.pinned50.inSection.mean} (${it.pinned50.inSection.pinned}); ${it.pinned50.found.mean}; ${it.pinned50.inSection.tokensMax}`, '', '']);
    const st = it.steps;
    rows.push([`  steps alone, p50: record file, embedding, vector hashes from LanceDB, text hashes, vector search`, `${st.list.p50}, ${st.embed.p50}, ${st.hashes.p50}, ${st.textHashes.p50}, ${st.search.p50} ms`, '', '']);
    rows.push([`  pinning one item (rewrites the record file) p50 / p95`, `${it.pinUpdate.p50} / ${it.pinUpdate.p95} ms`, '', '']);
  }
  type DocumentSize = { pages: number; wordsPerPage: number; tokensPerPage: number; chunks: number; extractMs: number; embedMs: number; extractPagesPerSecond: number; embedPagesPerSecond: number; ratio: number; breakEvenMsPerText: number };
  const dc = results.documents as
    | {
        reader: { stale: boolean };
        perDocument: Record<'processMs' | 'processAndBundleMs' | 'onePagePdfMs' | 'onePagePdfFromSourceMs', Spread>;
        onePageFirstMs: number;
        perPageMs: number;
        pagesPerSecondAfterTheFirst: number;
        inAThread: { pages: number; ms: Spread }[];
        sizes: DocumentSize[];
        endToEnd: { label: string; files: number; pages: number; chunks: number; ms: number[]; pagesPerSecond: number }[];
      }
    | undefined;
  if (dc) {
    const first = dc.sizes[0]!;
    rows.push([`PDF extraction (dist/documentWorker.js in the kept reader process) against embedding the same text, pages/s; ${first.wordsPerPage} words, ${first.tokensPerPage} tokens a page`, '', '', '']);
    for (const d of dc.sizes) {
      rows.push([
        `  ${d.pages} pages (${d.chunks} chunks): read ${d.extractMs} ms, embedded ${d.embedMs} ms`,
        `${d.ratio}× (${d.extractPagesPerSecond} / ${d.embedPagesPerSecond} pages/s)`,
        '> 1×',
        verdict(d.ratio > 1),
      ]);
    }
    const pd = dc.perDocument;
    rows.push([`  a process, p50; with the bundle loaded; a 1-page PDF read, first and then p50 (from source under tsx)`, `${pd.processMs.p50}; ${pd.processAndBundleMs.p50}; ${dc.onePageFirstMs} then ${pd.onePagePdfMs.p50} ms (${pd.onePagePdfFromSourceMs.p50} ms)`, '', '']);
    rows.push([`  the same bundle in a worker thread instead, p50`, dc.inAThread.map((t) => `${t.pages} page${t.pages === 1 ? '' : 's'} ${t.ms.p50} ms`).join('; '), '', '']);
    rows.push([`  each page after the first (from the largest PDF)`, `${dc.perPageMs} ms (${dc.pagesPerSecondAfterTheFirst} pages/s)`, '', '']);
    rows.push([`  the reader holds the server up only if it embeds a 500-token text in less than`, dc.sizes.map((d) => `${d.breakEvenMsPerText} ms (${d.pages} p.)`).join(', '), '', '']);
    for (const e of dc.endToEnd) {
      rows.push([
        `  end to end through MemoryService, ${e.files === 1 ? `one ${e.pages}-page PDF` : `${e.files} PDFs of ${e.pages / e.files} pages`} (${e.chunks} chunks; reader from source under tsx)`,
        `${e.pagesPerSecond} pages/s (best of ${e.ms.join(', ')} ms)`,
        '',
        '',
      ]);
    }
  }
  type TeamRun = { fillMs: number; optimizeMs: number; vector: Spread; hybrid: Spread };
  type TeamReader = TeamRun & { members: number; rowsPerTable: number; ratio: Record<'vector' | 'hybrid', Spread>; sameTop8AsLocal: number };
  const tm = results.team as { rows: number; chunksPerCommit: number; local: TeamRun; oneMember: TeamReader; fourMembers: TeamReader; wallMs: number } | undefined;
  if (tm) {
    const times = (r: TeamRun, kind: 'vector' | 'hybrid') => `${r[kind].p50} / ${r[kind].p95} ms`;
    const against = (r: TeamReader, kind: 'vector' | 'hybrid') => `${times(r, kind)}; ${r.ratio[kind].p50}× / ${r.ratio[kind].p95}× local`;
    const filled = (r: TeamRun) => `${(r.fillMs / 1000).toFixed(1)} s + ${(r.optimizeMs / 1000).toFixed(1)} s`;
    const tables = (r: TeamReader) => (r.members === 1 ? `one member's table of ${r.rowsPerTable.toLocaleString('en')}` : `${r.members} members' tables of ${r.rowsPerTable.toLocaleString('en')}, merged`);
    rows.push([`Team memory (s3rver on loopback) at ${tm.rows.toLocaleString('en')} chunks, top-8: local store vector p50 / p95`, times(tm.local, 'vector'), '', '']);
    rows.push([`  local store hybrid (vector + full text) p50 / p95`, times(tm.local, 'hybrid'), '', '']);
    for (const r of [tm.oneMember, tm.fourMembers]) {
      rows.push([`  team, ${tables(r)}: vector p50 / p95; team / local`, against(r, 'vector'), '', '']);
      rows.push([`    hybrid p50 / p95; team / local`, against(r, 'hybrid'), '', '']);
      rows.push([`    same top 8 as the local vector search`, `${r.sameTop8AsLocal}`, '', '']);
    }
    rows.push([
      `  filled (commits of ${tm.chunksPerCommit.toLocaleString('en')} chunks) + optimized: local; one member; four members`,
      `${filled(tm.local)}; ${filled(tm.oneMember)}; ${filled(tm.fourMembers)}`,
      '',
      '',
    ]);
  }
  const machine = results.machine as { loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  console.log(`\nPersona memory bench — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, Node ${process.version}${quick ? ' (--quick: small sizes)' : ''}, load average ${machine.loadAverageAtStart[0]} at the start, ${machine.loadAverageAtEnd[0]} at the end`);
  console.log(`Embedding server: the fake KoboldCpp on loopback, ${SERVER.latencyMs} ms per request + ${SERVER.latencyPerItemMs} ms per text, one request at a time; batches of ${CLIENT.batchSize}, ${CLIENT.maxInFlight} in flight.\n`);
  if (dc) {
    console.log(
      `Documents are embedded by that fake server, not by KoboldCpp: the fake spends ${SERVER.latencyPerItemMs} ms per text whatever the text. REFERENCE.md gives no measured BGE-M3 rate on these ` +
        `machines (no model weights can be downloaded here); it says KoboldCpp embeds a list one text at a time (LostRuins/koboldcpp#1577), so a real server's rate per page is ` +
        `its time per 500-token text × the chunks per page: the reader holds it up only below the break-even line in the table.${dc.reader.stale ? '\nWARNING: dist/documentWorker.js is older than src/rag/documents: run `npm run build` for current figures.' : ''}\n`,
    );
  }
  console.log(table(rows));
  const load = Math.max(machine.loadAverageAtStart[0]!, machine.loadAverageAtEnd[0]!);
  if (load > cpus().length * 0.75) console.log(`\nWARNING: load average ${load.toFixed(1)} on ${cpus().length} cores: expect noisy numbers.`);
  console.log(`\nAll figures: .bench/memory.json`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
