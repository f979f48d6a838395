// The indexing queue and the memory service against real parts: LanceDB on disk in a temp dir, the
// fake KoboldCpp on a loopback port, files on disk, and child processes that are killed mid-run or
// that share the storage folder (two VS Code windows on one workspace).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chunkText, contentHash } from '../../src/rag/chunker';
import { EmbeddingsClient } from '../../src/rag/embeddingsClient';
import type { IndexJob } from '../../src/rag/indexingJobs';
import type { IndexingBackend, IndexingProgress, IndexingQueueOptions } from '../../src/rag/indexingQueue';
import { IndexingQueue } from '../../src/rag/indexingQueue';
import type { LanceDbModule } from '../../src/rag/lanceLoader';
import { loadLanceDb } from '../../src/rag/lanceLoader';
import type { MemoryServiceOptions, MemorySettings } from '../../src/rag/memoryService';
import { MemoryService, MemoryServiceError } from '../../src/rag/memoryService';
import { MemoryStore } from '../../src/rag/memoryStore';
import type { HistoryTurn } from '../../src/rag/retrieval';
import { silentLogger } from '../../src/util/logger';
import type { FakeKoboldCpp } from '../support/fakeKoboldCpp';
import { fakeEmbedding, startFakeKoboldCpp } from '../support/fakeKoboldCpp';
import { docxBomb, docxParagraph, docxWithBody, notebookJson, pdfNeedingPassword, pdfWithoutText, pdfWithTextPages } from '../support/documentFixtures';
import { filesUnder } from '../support/filesUnder';

const D = 64;
const MODEL = 'fake-embedder';
const CHUNK = { chunkTokens: 48, overlapTokens: 8 };
const repo = resolve(__dirname, '../..');
const root = mkdtempSync(join(tmpdir(), 'persona-indexing-'));
let lancedb: LanceDbModule;
let fake: FakeKoboldCpp;

before(async () => {
  const loaded = await loadLanceDb();
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.reason);
  lancedb = loaded.lancedb;
  fake = await startFakeKoboldCpp({ dimension: D });
});
after(async () => {
  await fake.close();
  rmSync(root, { recursive: true, force: true });
});

// ---- a workspace, a store and a queue ---------------------------------------------------------------

let dirs = 0;

interface Harness {
  dir: string;
  files: string;
  store: MemoryStore;
  client: EmbeddingsClient;
  queue: IndexingQueue;
  /** Every progress event, in order. */
  events: IndexingProgress[];
  write(rel: string, text: string | Uint8Array): string;
  addJobs(rels: string[], kb?: string): IndexJob[];
  close(): Promise<void>;
}

/**
 * Words that belong to one file only, so a search for them finds that file. They end in the name:
 * the fake's word hash (FNV-1a, low bits) maps words that end alike to the same few dimensions.
 */
function topic(name: string, words: number): string {
  const lines: string[] = [];
  for (let i = 0; i < words; i += 8) {
    lines.push(Array.from({ length: 8 }, (_, j) => `${name}${(i + j) % 13}${name}`).join(' '));
  }
  return `# ${name}\n\n${lines.join('\n')}\n`;
}

async function harness(options: { name: string; dir?: string; queue?: Partial<IndexingQueueOptions>; url?: () => string } = { name: 'h' }): Promise<Harness> {
  const dir = options.dir ?? join(root, `${++dirs}-${options.name}`);
  const files = join(dir, 'ws');
  mkdirSync(files, { recursive: true });
  const store = await MemoryStore.open(join(dir, 'db'), { dimension: D, model: MODEL });
  const url = options.url ?? (() => fake.url);
  let client = new EmbeddingsClient({ baseUrl: url(), logger: silentLogger, expectedDimension: D, retries: 2, retryDelayMs: 5, maxRetryDelayMs: 20, batchSize: 8 });
  const events: IndexingProgress[] = [];
  const connect = async (): Promise<IndexingBackend> => {
    if (client.baseUrl !== url()) client = new EmbeddingsClient({ baseUrl: url(), logger: silentLogger, expectedDimension: D, retries: 2, retryDelayMs: 5, maxRetryDelayMs: 20, batchSize: 8 });
    const c = client;
    return { store, embed: (texts, signal) => c.embed(texts, signal), ...CHUNK };
  };
  const queue = await IndexingQueue.open({
    dir: join(dir, 'queue'),
    connect,
    heartbeatMs: 100,
    inboxPollMs: 50,
    retryDelayMs: 60_000,
    progressIntervalMs: 5,
    ...options.queue,
  });
  queue.onProgress((p) => events.push(p));
  const h: Harness = {
    dir,
    files,
    store,
    get client() {
      return client;
    },
    queue,
    events,
    write(rel, text) {
      const file = join(files, rel);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      return file;
    },
    addJobs(rels, kb = 'workspace') {
      return rels.map((rel) => ({ kind: 'add', source: rel, path: join(files, rel), kb }));
    },
    async close() {
      await queue.dispose();
      await store.close();
    },
  };
  return h;
}

/** Every row of the model's table: ids must be unique, every document whole. */
async function rows(dir: string): Promise<{ id: string; source: string; kb: string; docHash: string; chunkIndex: number; text: string }[]> {
  const db = await lancedb.connect(join(dir, 'db'));
  try {
    const names = await db.tableNames();
    if (names.length === 0) return [];
    assert.equal(names.length, 1, `one table per model: ${names.join(', ')}`);
    const table = await db.openTable(names[0]!);
    const all = await table.query().select(['id', 'source', 'kb', 'docHash', 'chunkIndex', 'text']).toArray();
    table.close();
    return all.map((r) => ({ id: r.id, source: r.source, kb: r.kb, docHash: r.docHash, chunkIndex: r.chunkIndex, text: r.text }));
  } finally {
    db.close();
  }
}

/** Asserts each stored document is exactly the chunking of `contents[source]`: all of it, once. */
function assertWhole(all: Awaited<ReturnType<typeof rows>>, contents: Record<string, string>): Set<string> {
  assert.equal(new Set(all.map((r) => r.id)).size, all.length, 'no duplicate chunk ids');
  const bySource = new Map<string, typeof all>();
  for (const r of all) bySource.set(r.source, [...(bySource.get(r.source) ?? []), r]);
  for (const [source, docRows] of bySource) {
    const text = contents[source];
    assert.ok(text !== undefined, `unexpected document ${source}`);
    const expected = chunkText(text, CHUNK);
    assert.deepEqual(
      docRows.map((r) => r.chunkIndex).sort((a, b) => a - b),
      expected.map((c) => c.index),
      `${source} is whole`,
    );
    for (const r of docRows) {
      assert.equal(r.docHash, contentHash(text));
      assert.equal(r.text, expected[r.chunkIndex]!.text);
    }
  }
  return new Set(bySource.keys());
}

function waitForProgress(h: Harness, check: (p: IndexingProgress) => boolean, timeoutMs = 10_000): Promise<IndexingProgress> {
  return new Promise((resolvePromise, reject) => {
    const now = h.queue.progress();
    if (check(now)) return resolvePromise(now);
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`progress condition not met in ${timeoutMs} ms; last: ${JSON.stringify(h.queue.progress())}`));
    }, timeoutMs);
    const sub = h.queue.onProgress((p) => {
      if (check(p)) {
        clearTimeout(timer);
        sub.dispose();
        resolvePromise(p);
      }
    });
  });
}

function journal(h: Harness): IndexJob[] {
  const file = join(h.dir, 'queue', 'journal.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { jobs: IndexJob[] }).jobs : [];
}

// ---- the queue ------------------------------------------------------------------------------------------

describe('IndexingQueue', () => {
  it('indexes a folder of files; search finds each by its words; the full-text index is built once at the end', async () => {
    fake.reset();
    const h = await harness({ name: 'basic' });
    const names = ['alpha', 'bravo', 'charlie', 'golf', 'hotel', 'xray'];
    const contents: Record<string, string> = {};
    for (const n of names) {
      contents[`docs/${n}.md`] = topic(n, n === 'alpha' ? 200 : 24);
      h.write(`docs/${n}.md`, contents[`docs/${n}.md`]!);
    }
    await h.queue.enqueue(h.addJobs(Object.keys(contents)));
    assert.equal(journal(h).length, names.length, 'the jobs are on disk when enqueue resolves');
    await h.queue.whenIdle();

    const p = h.queue.progress();
    assert.equal(p.state, 'idle');
    assert.equal(p.indexed, names.length);
    assert.equal(p.done, names.length);
    assert.equal(p.total, names.length);
    assert.deepEqual(p.failed, []);
    assert.deepEqual(journal(h), []);
    assert.ok(h.events.some((e) => e.state === 'running' && e.current !== undefined), 'progress named the file being indexed');
    assert.ok(chunkText(contents['docs/alpha.md']!, CHUNK).length > 3, 'alpha spans several chunks');
    assertWhole(await rows(h.dir), contents);

    for (const n of names) {
      const hits = await h.store.search(fakeEmbedding(Array.from({ length: 8 }, (_, i) => `${n}${i + 1}${n}`).join(' '), D), { kbs: ['workspace'], k: 1 });
      assert.equal(hits[0]?.source, `docs/${n}.md`);
    }
    // optimize() ran after the run: full-text search works (it needs the FTS index).
    const text = await h.store.search(fakeEmbedding('unrelated words', D), { kbs: ['workspace'], k: 3, queryText: 'charlie4charlie' });
    assert.ok(text.some((hit) => hit.source === 'docs/charlie.md' && hit.via !== 'vector'));
    await h.close();
  });

  it('re-adding unchanged files makes no embedding request; a changed file replaces its chunks; a remove job removes', async () => {
    const h = await harness({ name: 'rerun' });
    const contents: Record<string, string> = { 'a.md': topic('apple', 120), 'b.md': topic('banana', 40), 'c.md': topic('cherry', 40) };
    for (const [rel, text] of Object.entries(contents)) h.write(rel, text);
    await h.queue.enqueue(h.addJobs(Object.keys(contents)));
    await h.queue.whenIdle();
    const versionBefore = await h.store.tableVersion();

    fake.reset();
    await h.queue.enqueue(h.addJobs(Object.keys(contents)));
    await h.queue.whenIdle();
    assert.equal(fake.embeddingRequests.length, 0, 'no embedding request for unchanged files');
    assert.equal(h.queue.progress().unchanged, 3);
    assert.equal(h.queue.progress().indexed, 0);
    assert.equal(await h.store.tableVersion(), versionBefore, 'nothing written');

    // a.md shrinks to fewer chunks with other words: no chunk of the old text may stay.
    contents['a.md'] = topic('avocado', 30);
    h.write('a.md', contents['a.md']);
    fake.reset();
    await h.queue.enqueue(h.addJobs(['a.md', 'b.md']));
    await h.queue.whenIdle();
    assert.deepEqual(fake.embeddingRequests.flatMap((r) => r.inputs), chunkText(contents['a.md'], CHUNK).map((c) => c.text), 'only the changed file was embedded');
    const after = await rows(h.dir);
    assertWhole(after, contents);
    assert.ok(!after.some((r) => r.text.includes('apple')), 'no stale chunk of the old version');

    await h.queue.enqueue([{ kind: 'remove', source: 'b.md', kb: 'workspace' }]);
    await h.queue.whenIdle();
    assert.equal(h.queue.progress().removed, 1);
    assert.deepEqual(
      (await h.store.listDocuments()).map((d) => d.source),
      ['a.md', 'c.md'],
    );
    await h.close();
  });

  it('small files share embedding requests, two in flight, and each document is committed whole', async () => {
    const h = await harness({ name: 'groups' });
    const contents: Record<string, string> = {};
    for (let i = 0; i < 30; i++) contents[`s${i}.md`] = topic(`small${i}s`, 8 + (i % 3) * 8);
    contents['long.md'] = topic('longfile', 600); // more chunks than one group: embedded on its own
    for (const [rel, text] of Object.entries(contents)) h.write(rel, text);
    const chunks = Object.values(contents).reduce((n, text) => n + chunkText(text, CHUNK).length, 0);
    fake.reset();
    fake.setLatency(15);
    try {
      await h.queue.enqueue(h.addJobs(Object.keys(contents)));
      await h.queue.whenIdle();
    } finally {
      fake.setLatency(0);
    }
    const requests = fake.embeddingRequests;
    assert.equal(requests.reduce((n, r) => n + r.inputs.length, 0), chunks, 'every chunk embedded once');
    // The client's batches are 8 texts: files of one or two chunks ride together.
    assert.ok(requests.length <= Math.ceil(chunks / 8) + 4, `${requests.length} requests for ${chunks} chunks`);
    const fileOf = (text: string) => /small(\d+)s/.exec(text)?.[1] ?? (text.includes('longfile') ? 'long' : '?');
    assert.ok(requests.some((r) => new Set(r.inputs.map(fileOf)).size > 1), 'a request holds texts of several files');
    assert.equal(fake.maxConcurrent, 2, 'the next request is waiting while one is served');
    assert.equal(h.queue.progress().indexed, 31);
    assertWhole(await rows(h.dir), contents);
    await h.close();
  });

  it('duplicates of a (source, kb) collapse to the latest; the same file in two knowledge bases is two documents', async () => {
    // The first run's connect waits until all three enqueues are on disk.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const h2 = await harness({
      name: 'dupes2',
      queue: {
        connect: async () => {
          await gate;
          return { store: h2.store, embed: (t, s) => h2.client.embed(t, s), ...CHUNK };
        },
      },
    });
    const file = h2.write('n.md', topic('nectar', 20));
    await h2.queue.enqueue([{ kind: 'add', source: 'n.md', path: file, kb: 'workspace' }]);
    await h2.queue.enqueue([{ kind: 'remove', source: 'n.md', kb: 'workspace' }]);
    await h2.queue.enqueue([
      { kind: 'add', source: 'n.md', path: file, kb: 'workspace' },
      { kind: 'add', source: 'n.md', path: file, kb: 'persona:bard' },
    ]);
    assert.deepEqual(
      journal(h2).map((j) => `${j.kind} ${j.kb}`),
      ['add workspace', 'add persona:bard'],
    );
    release();
    await h2.queue.whenIdle();
    assert.deepEqual((await h2.store.listDocuments()).map((d) => `${d.kb} ${d.source}`).sort(), ['persona:bard n.md', 'workspace n.md']);
    await h2.close();
  });

  it('a file that vanished before it was read is a failed entry with a clear message; binary and oversized files are skipped; the rest is indexed', async () => {
    const h = await harness({ name: 'vanish' });
    const contents: Record<string, string> = {};
    for (let i = 0; i < 6; i++) {
      contents[`f${i}.md`] = topic(`file${i}x`, 40);
      h.write(`f${i}.md`, contents[`f${i}.md`]!);
    }
    writeFileSync(join(h.files, 'image.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d, 1, 2, 3]));
    const rels = Object.keys(contents);
    fake.setLatency(40);
    try {
      await h.queue.enqueue([...h.addJobs(rels), ...h.addJobs(['image.png'])]);
      // Deleted while the first files are being embedded.
      await fake.waitFor(() => fake.embeddingRequests.length >= 1);
      rmSync(join(h.files, 'f4.md'));
      await h.queue.whenIdle();
    } finally {
      fake.setLatency(0);
    }
    const p = h.queue.progress();
    assert.equal(p.failed.length, 1);
    assert.equal(p.failed[0]!.source, 'f4.md');
    assert.match(p.failed[0]!.message, /f4\.md was not indexed: the file was deleted or moved/);
    assert.deepEqual(p.skipped, [{ source: 'image.png', reason: 'binary file' }]);
    assert.equal(p.indexed, 5);
    delete contents['f4.md'];
    assert.deepEqual([...assertWhole(await rows(h.dir), contents)].sort(), Object.keys(contents).sort());
    assert.deepEqual(journal(h), [], 'failed and skipped jobs leave the journal');
    await h.close();

    // Over the size limit: skipped with the limit named, never read.
    const small = await harness({ name: 'oversize', queue: { connect: async () => ({ store: small.store, embed: (t, s) => small.client.embed(t, s), ...CHUNK, maxFileBytes: 100 }) } });
    small.write('big.md', 'x '.repeat(200));
    await small.queue.enqueue(small.addJobs(['big.md']));
    await small.queue.whenIdle();
    assert.deepEqual(small.queue.progress().skipped, [{ source: 'big.md', reason: 'larger than 100 bytes (400 bytes)' }]);
    await small.close();
  });

  it('reads PDF, Word, HTML, notebook and Markdown files: each chunk keeps its page, heading path or cell, and search gives it back', async () => {
    const h = await harness({ name: 'documents' });
    const pageWords = (n: number) => [`${topic(`pg${n}leaf`, 24).split('\n').slice(2).join(' ')}`];
    h.write('docs/manual.pdf', await pdfWithTextPages(3, (n) => pageWords(n)));
    h.write(
      'docs/spec.docx',
      docxWithBody(
        [
          docxParagraph('Specification', 'Heading1'),
          docxParagraph('Authentication', 'Heading2'),
          docxParagraph(topic('authtoken', 24).split('\n').slice(2).join(' ')),
          docxParagraph('Storage', 'Heading2'),
          docxParagraph(topic('storagedisk', 24).split('\n').slice(2).join(' ')),
        ].join(''),
      ),
    );
    h.write('site/page.html', `<html><head><title>T</title><script>var hidden = "scriptword";</script></head><body><h1>Guide</h1><p>Intro words.</p><h2>Install</h2><p>${topic('installstep', 24).split('\n').slice(2).join(' ')}</p></body></html>`);
    h.write('nb/analysis.ipynb', notebookJson([{ type: 'markdown', source: '# Analysis' }, { type: 'code', source: 'import pandas' }, { type: 'code', source: topic('plotcell', 24).split('\n').slice(2).join('\n') }]));
    h.write('notes/garden.md', `# Garden\n\nIntro.\n\n## Tomatoes\n\n${topic('tomatoplant', 24).split('\n').slice(2).join('\n')}\n`);
    await h.queue.enqueue(h.addJobs(['docs/manual.pdf', 'docs/spec.docx', 'site/page.html', 'nb/analysis.ipynb', 'notes/garden.md']));
    await h.queue.whenIdle();
    const p = h.queue.progress();
    assert.deepEqual([p.indexed, p.skipped, p.failed], [5, [], []]);

    const find = async (words: string) => (await h.store.search(fakeEmbedding(words, D), { kbs: ['workspace'], k: 1 }))[0]!;
    const onPage2 = await find(pageWords(2)[0]!);
    assert.equal(onPage2.source, 'docs/manual.pdf');
    assert.equal(onPage2.place?.page, 2, JSON.stringify(onPage2.place));
    for (const c of await h.store.chunksOf('docs/manual.pdf', 'workspace')) {
      const pages = [1, 2, 3].filter((n) => c.text.includes(`This is page ${n}`));
      assert.ok(pages.every((n) => n >= c.place!.page! && n <= (c.place!.endPage ?? c.place!.page!)), `${JSON.stringify(c.place)} for a chunk holding pages ${pages.join(', ')}`);
    }
    assert.deepEqual((await find(topic('storagedisk', 24))).place, { headings: ['Specification', 'Storage'] });
    const install = await find(topic('installstep', 24));
    assert.deepEqual([install.source, install.place], ['site/page.html', { headings: ['Guide', 'Install'] }]);
    assert.ok(!(await h.store.chunksOf('site/page.html', 'workspace')).some((c) => c.text.includes('scriptword')), 'scripts are not text');
    assert.deepEqual((await find(topic('plotcell', 24))).place, { cell: 2, headings: ['Analysis'] });
    const tomato = await find(topic('tomatoplant', 24));
    assert.deepEqual(tomato.place, { headings: ['Garden', 'Tomatoes'] });
    assert.ok(tomato.startLine >= 5, 'a Markdown chunk keeps the lines of the file itself');
    await h.close();
  });

  it('an unchanged document is a hash check (the reader never runs); a changed one is read again; forgetting it leaves none of its text on disk', async () => {
    const budget: { timeoutMs?: number } = {};
    const h: Harness = await harness({ name: 'documents-again', queue: { connect: async () => ({ store: h.store, embed: (t, s) => h.client.embed(t, s), ...CHUNK, extractBudget: budget }) } });
    h.write('manual.pdf', await pdfWithTextPages(2, () => ['the turbine hums at nightfall']));
    await h.queue.enqueue(h.addJobs(['manual.pdf']));
    await h.queue.whenIdle();
    assert.equal(h.queue.progress().indexed, 1);

    // A reader that ran now would run out of time and leave the file out.
    budget.timeoutMs = 1;
    fake.reset();
    await h.queue.enqueue(h.addJobs(['manual.pdf']));
    await h.queue.whenIdle();
    assert.deepEqual([h.queue.progress().unchanged, h.queue.progress().skipped, fake.embeddingRequests.length], [1, [], 0]);

    delete budget.timeoutMs;
    h.write('manual.pdf', await pdfWithTextPages(2, () => ['the glacier sings at dawn']));
    await h.queue.enqueue(h.addJobs(['manual.pdf']));
    await h.queue.whenIdle();
    const chunks = await h.store.chunksOf('manual.pdf', 'workspace');
    assert.ok(chunks.some((c) => c.text.includes('glacier')) && !chunks.some((c) => c.text.includes('turbine')), 'the new text replaced the old');

    await h.store.forgetSource('manual.pdf');
    for (const file of filesUnder(h.dir)) assert.ok(!readFileSync(file).includes('glacier sings'), `${file} still holds the text`);
    await h.close();
  });

  it('a scanned PDF, a password-protected one and a Word zip bomb are left out with their reasons; the rest is indexed and nothing stored is touched', async () => {
    const h: Harness = await harness({ name: 'documents-hostile', queue: { connect: async () => ({ store: h.store, embed: (t, s) => h.client.embed(t, s), ...CHUNK, extractBudget: { maxHeapMb: 128 } }) } });
    h.write('kept.md', topic('keptnote', 40));
    await h.queue.enqueue(h.addJobs(['kept.md']));
    await h.queue.whenIdle();
    const before = await rows(h.dir);

    h.write('scan.pdf', await pdfWithoutText());
    h.write('locked.pdf', await pdfNeedingPassword());
    h.write('bomb.docx', docxBomb(10_000));
    h.write('fine.pdf', await pdfWithTextPages(1));
    await h.queue.enqueue(h.addJobs(['scan.pdf', 'locked.pdf', 'bomb.docx', 'fine.pdf']));
    await h.queue.whenIdle();
    const p = h.queue.progress();
    const reasons = Object.fromEntries(p.skipped.map((s) => [s.source, s.reason]));
    assert.equal(reasons['scan.pdf'], 'no text to index — it may be a scanned image');
    assert.equal(reasons['locked.pdf'], 'password-protected');
    assert.match(reasons['bomb.docx'] ?? '', /needed too much memory to read|too much text/);
    assert.deepEqual([p.indexed, p.failed], [1, []]);
    const after = await rows(h.dir);
    assert.deepEqual(
      after.filter((r) => r.source === 'kept.md'),
      before,
      'what was in memory is as it was',
    );
    await h.close();
  });

  it('503 busy answers are retried by the client; indexing finishes without a failure', async () => {
    fake.reset();
    const h = await harness({ name: 'busy' });
    const contents = { 'p.md': topic('papaya', 60), 'q.md': topic('quince', 60) };
    for (const [rel, text] of Object.entries(contents)) h.write(rel, text);
    fake.failNext('busy503', { count: 2 });
    await h.queue.enqueue(h.addJobs(Object.keys(contents)));
    await h.queue.whenIdle();
    assert.equal(fake.embeddingRequests.filter((r) => r.status === 503).length, 2);
    assert.equal(h.queue.progress().indexed, 2);
    assert.deepEqual(h.queue.progress().failed, []);
    assertWhole(await rows(h.dir), contents);
    await h.close();
  });

  it('cancel stops at once, drops the waiting jobs from the journal and keeps what was committed', async () => {
    const h = await harness({ name: 'cancel', queue: { batchMaxDocuments: 1 } });
    const contents: Record<string, string> = {};
    for (let i = 0; i < 12; i++) {
      contents[`c${i}.md`] = topic(`cancel${i}y`, 30);
      h.write(`c${i}.md`, contents[`c${i}.md`]!);
    }
    fake.reset();
    fake.setLatency(60);
    try {
      await h.queue.enqueue(h.addJobs(Object.keys(contents)));
      await waitForProgress(h, (p) => p.indexed >= 3);
      await fake.waitFor(() => fake.inFlight > 0);
      const started = performance.now();
      await h.queue.cancel();
      assert.ok(performance.now() - started < 1000, 'cancel did not wait for the request in flight');
    } finally {
      fake.setLatency(0);
    }
    const requests = fake.embeddingRequests.length;
    assert.equal(h.queue.progress().state, 'idle');
    assert.deepEqual(h.queue.pendingJobs(), []);
    assert.deepEqual(journal(h), []);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(fake.embeddingRequests.length, requests, 'no request after cancel');
    assert.ok(fake.embeddingRequests.some((r) => r.outcome === 'clientClosed'), 'the request in flight was aborted');
    const kept = assertWhole(await rows(h.dir), contents);
    assert.ok(kept.size >= 3 && kept.size < 12, `committed documents stay (${kept.size})`);
    await h.close();
  });
});

describe('IndexingQueue: server down', () => {
  it('pauses with a reason naming the URL, keeps the jobs, and finishes after the server is back and resume() is called', async () => {
    const down = await startFakeKoboldCpp({ dimension: D });
    const port = down.port;
    let server: FakeKoboldCpp | undefined = down;
    const h = await harness({ name: 'down', url: () => `http://127.0.0.1:${port}/v1` });
    const contents: Record<string, string> = { 'x.md': topic('xylophone', 40), 'y.md': topic('yodel', 40) };
    for (const [rel, text] of Object.entries(contents)) h.write(rel, text);
    await server.close();
    server = undefined;
    try {
      await h.queue.enqueue(h.addJobs(Object.keys(contents)));
      const paused = await waitForProgress(h, (p) => p.state === 'paused');
      assert.equal(paused.pauseCause, 'embeddings');
      assert.match(paused.pausedReason!, new RegExp(`KoboldCpp is not running at http://127\\.0\\.0\\.1:${port}/v1`));
      assert.ok(paused.retryAt! > Date.now() + 30_000, 'retries by itself later');
      assert.equal(journal(h).length, 2, 'all jobs kept');
      await h.queue.whenIdle(); // paused counts as settled

      server = await startFakeKoboldCpp({ dimension: D, port });
      h.queue.resume();
      await waitForProgress(h, (p) => p.state === 'idle');
      assert.equal(h.queue.progress().indexed, 2);
      assert.equal(h.queue.progress().pausedReason, undefined);
      assertWhole(await rows(h.dir), contents);
    } finally {
      await server?.close();
      await h.close();
    }
  });

  it('retries by itself after the delay', async () => {
    const down = await startFakeKoboldCpp({ dimension: D });
    const port = down.port;
    await down.close();
    const h = await harness({ name: 'autoretry', url: () => `http://127.0.0.1:${port}/v1`, queue: { retryDelayMs: 300 } });
    h.write('r.md', topic('radish', 30));
    await h.queue.enqueue(h.addJobs(['r.md']));
    await waitForProgress(h, (p) => p.state === 'paused');
    const server = await startFakeKoboldCpp({ dimension: D, port });
    try {
      await waitForProgress(h, (p) => p.state === 'idle' && p.indexed === 1, 5000);
    } finally {
      await server.close();
      await h.close();
    }
  });

  it('an embeddings model of another dimension pauses until resume(), saying the model changed', async () => {
    const h = await harness({ name: 'dim' });
    h.write('d.md', topic('dimension', 30));
    fake.reset();
    fake.failNext('wrongDimension', { dimension: 16, count: 1 });
    await h.queue.enqueue(h.addJobs(['d.md']));
    const p = await waitForProgress(h, (x) => x.state === 'paused');
    assert.equal(p.pauseCause, 'dimension');
    assert.match(p.pausedReason!, /the embeddings model changed/);
    assert.equal(p.retryAt, undefined, 'waits for a person');
    h.queue.resume();
    await waitForProgress(h, (x) => x.state === 'idle');
    assert.equal(h.queue.progress().indexed, 1);
    await h.close();
  });

  it('a server that wants a key (401) or has no embeddings model pauses with what to do; fixed, resume() finishes', async () => {
    const h = await harness({ name: 'auth' });
    h.write('k.md', topic('keyed', 30));
    fake.setPassword('s3cret');
    try {
      await h.queue.enqueue(h.addJobs(['k.md']));
      const p = await waitForProgress(h, (x) => x.state === 'paused');
      assert.equal(p.pauseCause, 'embeddings');
      assert.match(p.pausedReason!, /refused the request \(HTTP 401\) — it was started with --password/);
      assert.ok(p.retryAt !== undefined);
    } finally {
      fake.setPassword(undefined);
    }
    fake.setEmbeddingsLoaded(false);
    try {
      h.queue.resume();
      const p = await waitForProgress(h, (x) => x.state === 'paused' && /without an embeddings model/.test(x.pausedReason ?? ''));
      assert.match(p.pausedReason!, /restart it with --embeddingsmodel/);
    } finally {
      fake.setEmbeddingsLoaded(true);
    }
    h.queue.resume();
    await waitForProgress(h, (x) => x.state === 'idle');
    assert.equal(h.queue.progress().indexed, 1);
    assert.equal(h.queue.progress().failedCount, 0);
    await h.close();
  });

  it('a failing store write pauses the queue and loses nothing', async () => {
    let failWrites = true;
    const h2 = await harness({
      name: 'diskfail2',
      queue: {
        connect: async () => ({
          store: {
            hasDocument: (s, k, d) => h2.store.hasDocument(s, k, d),
            upsertDocuments: (docs) => (failWrites ? Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })) : h2.store.upsertDocuments(docs)),
            optimize: () => h2.store.optimize(),
          },
          embed: (t, s) => h2.client.embed(t, s),
          ...CHUNK,
        }),
      },
    });
    h2.write('s.md', topic('storage', 30));
    await h2.queue.enqueue(h2.addJobs(['s.md']));
    const p = await waitForProgress(h2, (x) => x.state === 'paused');
    assert.equal(p.pauseCause, 'storage');
    assert.match(p.pausedReason!, /the disk is full.*Nothing was lost/);
    assert.equal(journal(h2).length, 1);
    failWrites = false;
    h2.queue.resume();
    await waitForProgress(h2, (x) => x.state === 'idle');
    assert.deepEqual((await h2.store.listDocuments()).map((d) => d.source), ['s.md']);
    await h2.close();
  });
});

describe('IndexingQueue: bad input and odd files', () => {
  it('a text the server fails on (an empty vector) fails that file with the reason; the others are indexed', async () => {
    const h = await harness({ name: 'itemfail' });
    const contents: Record<string, string> = { 'ok1.md': topic('okay', 30), 'ok2.md': topic('fine', 30) };
    for (const [rel, text] of Object.entries(contents)) h.write(rel, text);
    h.write('poison.md', `${topic('toxic', 30)}\nPOISONPILL here\n`);
    fake.failTextsContaining('POISONPILL');
    try {
      await h.queue.enqueue(h.addJobs(['ok1.md', 'poison.md', 'ok2.md']));
      await h.queue.whenIdle();
    } finally {
      fake.failTextsContaining(undefined);
    }
    const p = h.queue.progress();
    assert.equal(p.state, 'idle', 'one bad text does not pause the queue');
    assert.deepEqual(p.failed.map((f) => f.source), ['poison.md']);
    assert.match(p.failed[0]!.message, /^poison\.md was not indexed: KoboldCpp could not embed text #\d+ .*empty vector/);
    assert.deepEqual([...assertWhole(await rows(h.dir), contents)].sort(), ['ok1.md', 'ok2.md']);
    await h.close();
  });

  it('a Latin-1 file is read as Latin-1, a UTF-8 one with a BOM without it', async () => {
    const h = await harness({ name: 'latin1' });
    writeFileSync(join(h.files, 'latin.txt'), Buffer.from('Un café à Noël, déjà vu.\n', 'latin1'));
    writeFileSync(join(h.files, 'bom.txt'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Crème brûlée\n', 'utf8')]));
    await h.queue.enqueue(h.addJobs(['latin.txt', 'bom.txt']));
    await h.queue.whenIdle();
    const texts = Object.fromEntries((await rows(h.dir)).map((r) => [r.source, r.text]));
    assert.deepEqual(texts, { 'latin.txt': 'Un café à Noël, déjà vu.\n', 'bom.txt': 'Crème brûlée\n' });
    await h.close();
  });

  it('an unreadable journal is moved aside (kept), and the queue starts empty and works', async () => {
    const dir = join(root, `${++dirs}-badjournal`);
    mkdirSync(join(dir, 'queue'), { recursive: true });
    writeFileSync(join(dir, 'queue', 'journal.json'), '{"version": 1, "jobs": [{"kind": "add"');
    const h = await harness({ name: 'badjournal', dir });
    const aside = readdirSync(join(dir, 'queue')).filter((n) => n.startsWith('journal.unreadable-'));
    assert.equal(aside.length, 1);
    assert.equal(readFileSync(join(dir, 'queue', aside[0]!), 'utf8'), '{"version": 1, "jobs": [{"kind": "add"');
    assert.equal(h.queue.progress().state, 'idle');
    h.write('after.md', topic('after', 20));
    await h.queue.enqueue(h.addJobs(['after.md']));
    await h.queue.whenIdle();
    assert.equal(h.queue.progress().indexed, 1);
    await h.close();
  });

  it('enqueue refuses a job that is not one, and writes nothing', async () => {
    const h = await harness({ name: 'badjob' });
    await assert.rejects(h.queue.enqueue([{ kind: 'add', source: '', path: '/x', kb: 'workspace' }]), /Not an indexing job/);
    await assert.rejects(h.queue.enqueue([{ kind: 'rename', source: 'a' } as unknown as IndexJob]), /Not an indexing job/);
    assert.deepEqual(journal(h), []);
    await h.close();
  });
});

describe('IndexingQueue: the lock', () => {
  const writeLock = (dir: string, lock: object | string, ageMs: number) => {
    mkdirSync(join(dir, 'queue'), { recursive: true });
    const file = join(dir, 'queue', 'lock');
    writeFileSync(file, typeof lock === 'string' ? lock : JSON.stringify(lock));
    const t = new Date(Date.now() - ageMs);
    utimesSync(file, t, t);
  };

  it('a lock of another machine with a recent heartbeat keeps this process out; one silent too long is taken over', async () => {
    const dir = join(root, `${++dirs}-lockhost`);
    const foreign = { pid: 1, host: 'another-machine', token: 'foreign', startedAt: Date.now() };
    writeLock(dir, foreign, 1000);
    const out = await harness({ name: 'lockhost', dir, queue: { lockStaleMs: 60_000 } });
    assert.equal(out.queue.progress().state, 'elsewhere');
    assert.equal(out.queue.holdsLock, false);
    await out.close();
    assert.equal(JSON.parse(readFileSync(join(dir, 'queue', 'lock'), 'utf8')).token, 'foreign', 'a process without the lock leaves it alone');

    writeLock(dir, foreign, 5000);
    const taker = await harness({ name: 'lockhost2', dir, queue: { lockStaleMs: 2000 } });
    assert.ok(taker.queue.holdsLock);
    assert.equal(JSON.parse(readFileSync(join(dir, 'queue', 'lock'), 'utf8')).pid, process.pid);
    await taker.close();
    assert.ok(!existsSync(join(dir, 'queue', 'lock')), 'released on dispose');
  });

  it('the lock of a dead process on this machine is taken over at once; an unreadable lock only once it is old', async () => {
    const dir = join(root, `${++dirs}-lockdead`);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeLock(dir, { pid: Number(dead.stdout), host: hostname(), token: 'dead', startedAt: 0 }, 0);
    const a = await harness({ name: 'lockdead', dir });
    assert.ok(a.queue.holdsLock);
    await a.close();

    writeLock(dir, '', 1000);
    const b = await harness({ name: 'lockdead2', dir });
    assert.equal(b.queue.progress().state, 'elsewhere', 'a lock being written right now');
    await b.close();
    writeLock(dir, '', 60_000);
    const c = await harness({ name: 'lockdead3', dir });
    assert.ok(c.queue.holdsLock);
    await c.close();
  });

  it('a holder whose lock another process took stops running the queue and leaves the new lock alone', async () => {
    const h = await harness({ name: 'lostlock' });
    assert.ok(h.queue.holdsLock);
    const other = { pid: process.pid, host: hostname(), token: 'usurper', startedAt: Date.now() };
    writeFileSync(join(h.dir, 'queue', 'lock'), JSON.stringify(other));
    await waitForProgress(h, (p) => p.state === 'elsewhere', 3000);
    assert.equal(h.queue.holdsLock, false);
    await h.close();
    assert.equal(JSON.parse(readFileSync(join(h.dir, 'queue', 'lock'), 'utf8')).token, 'usurper');
  });

  it('cancel and drop from a process without the lock reach the holder', async () => {
    const a = await harness({ name: 'remote-cancel' });
    const b = await harness({ name: 'remote-cancel-b', dir: a.dir });
    assert.equal(b.queue.progress().state, 'elsewhere');
    const rels = Array.from({ length: 6 }, (_, i) => `r${i}.md`);
    for (const rel of rels) a.write(rel, topic(rel.replace('.md', 'w'), 30));
    fake.setLatency(80);
    try {
      await b.queue.enqueue(a.addJobs(rels));
      await waitForProgress(a, (p) => p.state === 'running' && p.total === 6, 3000);
      await b.queue.drop({ source: 'r5.md' });
      await b.queue.whenIdle();
      assert.ok(!a.queue.pendingJobs().some((j) => j.source === 'r5.md'), 'dropped by the holder');
      await b.queue.cancel();
      await b.queue.whenIdle();
      await waitForProgress(a, (p) => p.state === 'idle', 3000);
    } finally {
      fake.setLatency(0);
    }
    assert.deepEqual(journal(a), []);
    assert.ok((await a.store.listDocuments()).length < 5, 'cancelled before the end');
    await b.queue.dispose();
    await b.store.close();
    await a.close();
  });
});

// ---- child processes -----------------------------------------------------------------------------------

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  stderr: string;
}

/** Starts `script` under `node --import tsx`; `kill` sends SIGKILL. */
/** `lines`: what the child printed so far, one entry a line, growing as it runs. */
function startChild(script: string, args: string[], timeoutMs = 30_000): { done: Promise<ChildRun>; kill: () => void; lines: string[] } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = () => child.kill('SIGKILL');
  const lines: string[] = [];
  const done = new Promise<ChildRun>((resolvePromise, reject) => {
    let stderr = '';
    let buffered = '';
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`child timed out after ${timeoutMs} ms; last lines: ${lines.slice(-3).join(' | ')}\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        lines.push(line);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, lines, stderr });
    });
  });
  return { done, kill, lines };
}

const childScript = join(root, 'queueChild.ts');
writeFileSync(
  childScript,
  `import { join } from 'node:path';
import { EmbeddingsClient } from ${JSON.stringify(join(repo, 'src/rag/embeddingsClient.ts'))};
import { IndexingQueue } from ${JSON.stringify(join(repo, 'src/rag/indexingQueue.ts'))};
import { MemoryStore } from ${JSON.stringify(join(repo, 'src/rag/memoryStore.ts'))};
import { silentLogger } from ${JSON.stringify(join(repo, 'src/util/logger.ts'))};

async function main() {
  const [mode, dir, url, jobsJson] = process.argv.slice(2);
  let store: MemoryStore | undefined;
  const queue = await IndexingQueue.open({
    dir: join(dir!, 'queue'),
    heartbeatMs: 100,
    inboxPollMs: 50,
    batchMaxDocuments: 2,
    connect: async () => {
      if (mode !== 'run') throw new Error('this process must not index');
      store ??= await MemoryStore.open(join(dir!, 'db'), { dimension: ${D}, model: ${JSON.stringify(MODEL)} });
      const client = new EmbeddingsClient({ baseUrl: url!, logger: silentLogger, expectedDimension: ${D}, batchSize: 8 });
      return { store, embed: (t, s) => client.embed(t, s), chunkTokens: ${CHUNK.chunkTokens}, overlapTokens: ${CHUNK.overlapTokens} };
    },
  });
  queue.onProgress((p) => console.log(JSON.stringify({ progress: { state: p.state, indexed: p.indexed, done: p.done } })));
  console.log(JSON.stringify({ opened: queue.progress().state, holdsLock: queue.holdsLock }));
  await queue.enqueue(JSON.parse(jobsJson!));
  console.log(JSON.stringify({ enqueued: true }));
  await queue.whenIdle();
  console.log(JSON.stringify({ idle: queue.progress() }));
  await queue.dispose();
  await store?.close();
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
`,
);

describe('IndexingQueue: crashes and two processes', () => {
  it('a queue killed with SIGKILL mid-run leaves each document whole or absent, and reopening finishes without duplicates or re-embedding', async (t) => {
    const dir = join(root, `${++dirs}-crash`);
    const files = join(dir, 'ws');
    mkdirSync(files, { recursive: true });
    const contents: Record<string, string> = {};
    const jobs: IndexJob[] = [];
    for (let i = 0; i < 24; i++) {
      const rel = `src/m${String(i).padStart(2, '0')}.md`;
      contents[rel] = topic(`crash${i}z`, 40 + (i % 3) * 30);
      mkdirSync(join(files, 'src'), { recursive: true });
      writeFileSync(join(files, rel), contents[rel]!);
      jobs.push({ kind: 'add', source: rel, path: join(files, rel), kb: 'workspace' });
    }
    fake.reset();
    fake.setLatency(25);
    let killedAt = 0;
    let run: ChildRun;
    try {
      const killer = fake.waitFor(() => fake.embeddingRequests.filter((r) => r.outcome === 'answered').length >= 12, 20_000);
      const child = startChild(childScript, ['run', dir, fake.url, JSON.stringify(jobs)]);
      await killer;
      // Embedding goes on while a commit is written: wait for the child to say one landed.
      const committed = () => child.lines.some((l) => ((JSON.parse(l) as { progress?: { indexed: number } }).progress?.indexed ?? 0) > 0);
      const until = Date.now() + 20_000;
      while (!committed() && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      // Killed from here, in the middle of its run.
      killedAt = fake.embeddingRequests.length;
      child.kill();
      run = await child.done;
    } finally {
      fake.setLatency(0);
    }
    assert.equal(run.signal, 'SIGKILL', `the child was killed mid-run (${run.lines.slice(-2).join(' | ')}) ${run.stderr}`);
    assert.ok(!run.lines.some((l) => l.startsWith('{"idle"')), 'it had not finished');
    const afterCrash = assertWhole(await rows(dir), contents);
    t.diagnostic(`after the crash: ${afterCrash.size} of 24 documents whole, the rest absent; ${killedAt} requests`);
    assert.ok(afterCrash.size > 0 && afterCrash.size < 24, `a crash in the middle (${afterCrash.size})`);
    assert.ok(existsSync(join(dir, 'queue', 'lock')), 'the dead process left its lock');

    // Reopened here: the dead process's lock is taken over, the journal resumed.
    fake.reset();
    const h = await harness({ name: 'crash', dir });
    await waitForProgress(h, (p) => p.state === 'idle');
    const final = assertWhole(await rows(dir), contents);
    assert.equal(final.size, 24);
    const reembedded = fake.embeddingRequests.flatMap((r) => r.inputs).filter((text) => [...afterCrash].some((source) => contents[source]!.includes(text)));
    assert.deepEqual(reembedded, [], 'documents committed before the crash were not embedded again');
    await h.close();
  });

  it('a second process without the lock hands its jobs to the first, which indexes them', async () => {
    const h = await harness({ name: 'two' });
    assert.ok(h.queue.holdsLock);
    const contents: Record<string, string> = { 'w/one.md': topic('window', 30), 'w/two.md': topic('second', 30) };
    for (const [rel, text] of Object.entries(contents)) h.write(rel, text);
    const run = await startChild(childScript, ['elsewhere', h.dir, fake.url, JSON.stringify(h.addJobs(Object.keys(contents)))]).done;
    assert.equal(run.code, 0, run.stderr);
    const opened = JSON.parse(run.lines[0]!) as { opened: string; holdsLock: boolean };
    assert.deepEqual(opened, { opened: 'elsewhere', holdsLock: false });
    await waitForProgress(h, (p) => p.state === 'idle' && p.indexed === 2);
    assertWhole(await rows(h.dir), contents);
    assert.deepEqual(readdirSync(join(h.dir, 'queue', 'inbox')), [], 'the inbox file was taken');
    await h.close();
  });

  it('a process without the lock takes over when the holder leaves', async () => {
    const a = await harness({ name: 'takeover' });
    const b = await harness({ name: 'takeover-b', dir: a.dir });
    assert.ok(a.queue.holdsLock);
    assert.equal(b.queue.progress().state, 'elsewhere');
    await a.queue.dispose();
    await waitForProgress(b, (p) => p.state === 'idle', 3000);
    assert.ok(b.queue.holdsLock);
    await a.store.close();
    await b.close();
  });
});

// ---- the memory service -----------------------------------------------------------------------------------

interface ServiceHarness {
  dir: string;
  files: string;
  service: MemoryService;
  settings: MemorySettings;
  write(rel: string, text: string): { absPath: string; source: string };
}

function serviceHarness(name: string, options: { url?: () => string; loadLanceDb?: MemoryServiceOptions['loadLanceDb'] } = {}): ServiceHarness {
  const dir = join(root, `${++dirs}-${name}`);
  const files = join(dir, 'ws');
  mkdirSync(files, { recursive: true });
  const url = options.url ?? (() => fake.url);
  const settings: MemorySettings = { baseUrl: '', model: 'bge-m3', ...CHUNK, maxFileBytes: 1 << 20, topK: 4, minScore: 0.2, tokenBudget: 2000 };
  const service = new MemoryService({
    dir: join(dir, 'memory'),
    settings: () => ({ ...settings, baseUrl: url() }),
    logger: silentLogger,
    ...(options.loadLanceDb ? { loadLanceDb: options.loadLanceDb } : {}),
    queueOptions: { heartbeatMs: 100, inboxPollMs: 50, retryDelayMs: 60_000, progressIntervalMs: 5 },
  });
  return {
    dir: join(dir, 'memory'),
    files,
    service,
    settings,
    write(rel, text) {
      const absPath = join(files, rel);
      mkdirSync(dirname(absPath), { recursive: true });
      writeFileSync(absPath, text);
      return { absPath, source: rel };
    },
  };
}

const ask = (text: string): HistoryTurn[] => [{ role: 'user', content: text }];

describe('MemoryService', () => {
  it('does nothing at construction; retrieve on a memory that never held anything answers [] without a request or LanceDB', async () => {
    fake.reset();
    const loads: string[] = [];
    const s = serviceHarness('lazy', {
      loadLanceDb: async () => {
        loads.push('load');
        return loadLanceDb();
      },
    });
    assert.deepEqual(s.service.status(), { state: 'notStarted' });
    assert.equal(existsSync(s.dir), false, 'no folder made');
    assert.deepEqual(await s.service.retrieve(ask('what is in alphabet.md?'), ['workspace']), { passages: [] });
    assert.deepEqual(loads, []);
    assert.equal(fake.requests.length, 0);
    assert.equal(s.service.progress().state, 'idle');
    await s.service.dispose();
  });

  it('adds files, lists them, and retrieves the passages a question is about', async () => {
    const s = serviceHarness('service');
    const changes: string[] = [];
    s.service.onDidChange(() => changes.push(s.service.status().state));
    const files = [s.write('notes/kiwi.md', topic('kiwi', 40)), s.write('notes/lemon.md', topic('lemon', 40)), s.write('mango.md', topic('mango', 40))];
    await s.service.add(files, 'workspace');
    await s.service.whenIdle();
    assert.deepEqual(s.service.status(), { state: 'ready', model: 'koboldcpp/bge-m3-Q8_0', dimension: D });
    assert.ok(changes.includes('starting') && changes.includes('ready'));
    assert.deepEqual(
      (await s.service.listDocuments()).map((d) => d.source),
      ['mango.md', 'notes/kiwi.md', 'notes/lemon.md'],
    );
    const found = await s.service.retrieve(ask(Array.from({ length: 6 }, (_, i) => `lemon${i}lemon`).join(' ')), ['workspace']);
    assert.equal(found.reason, undefined);
    assert.equal(found.passages[0]?.source, 'notes/lemon.md');
    assert.deepEqual(await s.service.retrieve(ask('lemon1lemon'), ['persona:other']), { passages: [] }, 'other knowledge bases are not searched');
    await s.service.dispose();
  });

  it('a listener that asks for memory while it opens waits for that opening: one queue, which holds the lock (as the extension does)', async () => {
    const s = serviceHarness('reentrant');
    const listings: Promise<unknown>[] = [];
    // The extension refreshes its document list on every change, 'starting' included.
    s.service.onDidChange(() => {
      const listing = s.service.listDocuments();
      // Those made by the changes after the first look (progress, dispose) are not awaited: a
      // rejection of one of them (the store closing under it) must not count as unhandled.
      listing.catch(() => {});
      listings.push(listing);
    });
    await s.service.start();
    await Promise.all(listings);
    await s.service.add([s.write('one.md', topic('plum', 20))], 'workspace');
    await s.service.whenIdle();
    assert.equal(s.service.progress().state, 'idle', 'not "elsewhere": no second queue of this process holds the lock');
    assert.deepEqual((await s.service.listDocuments()).map((d) => d.source), ['one.md']);
    assert.equal(readdirSync(join(s.dir, 'queue', 'inbox')).length, 0, 'nothing went through the inbox');
    await s.service.dispose();
  });

  it('forget while jobs for the same sources wait leaves nothing of them: not in the queue, not on disk', async () => {
    const s = serviceHarness('forget');
    const files = [];
    for (let i = 0; i < 8; i++) files.push(s.write(`notes/n${i}.md`, topic(`note${i}q`, 40)));
    for (let i = 0; i < 3; i++) files.push(s.write(`keep${i}.md`, topic(`keep${i}k`, 40)));
    fake.reset();
    fake.setLatency(40);
    try {
      await s.service.add(files, 'workspace');
      // One note embedded (waiting in the batch for its commit), the next one in flight.
      await fake.waitFor(() => fake.embeddingRequests.some((r) => r.outcome === 'answered' && r.inputs.some((t) => t.includes('note0q'))));
      await s.service.forget('notes');
      await s.service.whenIdle();
    } finally {
      fake.setLatency(0);
    }
    const sources = (await s.service.listDocuments()).map((d) => d.source);
    assert.deepEqual(sources, ['keep0.md', 'keep1.md', 'keep2.md']);
    assert.ok(!(await rows(s.dir)).some((r) => r.source.startsWith('notes/')), 'no chunk of notes/ on disk');
    assert.ok(!s.service.progress().failed.length);
    await s.service.dispose();
  });

  it('forgetAll cancels indexing and removes every table', async () => {
    const s = serviceHarness('forgetall');
    await s.service.add([s.write('a.md', topic('anise', 30))], 'workspace');
    await s.service.whenIdle();
    fake.setLatency(40);
    try {
      await s.service.add([s.write('b.md', topic('basil', 30)), s.write('c.md', topic('clove', 30))], 'persona:bard');
      await s.service.forgetAll();
      await s.service.whenIdle();
    } finally {
      fake.setLatency(0);
    }
    assert.deepEqual(await s.service.listDocuments(), []);
    assert.deepEqual(await rows(s.dir), []);
    assert.deepEqual(readdirSync(join(s.dir, 'db')).filter((e) => e.endsWith('.lance')), []);
    await s.service.dispose();
  });

  it('retrieve with the embeddings server down answers [] and a reason naming the URL, never throws', async () => {
    const server = await startFakeKoboldCpp({ dimension: D });
    const url = server.url;
    const s = serviceHarness('retrieve-down', { url: () => url });
    await s.service.add([s.write('o.md', topic('olive', 30))], 'workspace');
    await s.service.whenIdle();
    await server.close();
    const started = performance.now();
    const found = await s.service.retrieve(ask('olive1olive olive2olive'), ['workspace']);
    assert.deepEqual(found.passages, []);
    assert.match(found.reason!, new RegExp(`KoboldCpp is not running at ${url.replace(/[.]/g, '\\.')}`));
    assert.ok(performance.now() - started < 3000, 'fails fast for a chat turn');
    await s.service.dispose();
  });

  it('a chat turn during indexing on a one-at-a-time server: indexing holds its next request until the turn has its passages', async () => {
    const s = serviceHarness('turn-during-indexing');
    await s.service.add([s.write('fig.md', topic('fig', 30))], 'workspace');
    await s.service.whenIdle();
    const files = Array.from({ length: 10 }, (_, i) => s.write(`g${i}.md`, topic(`grape${i}g`, 30)));
    fake.reset();
    fake.setExclusive(true);
    fake.setLatency(120);
    const query = Array.from({ length: 6 }, (_, i) => `fig${i}fig`).join(' ');
    try {
      await s.service.add(files, 'workspace');
      await fake.waitFor(() => fake.embeddingRequests.some((r) => r.inputs.some((t) => t.includes('grape1g'))));
      const found = await s.service.retrieve(ask(query), ['workspace']);
      assert.equal(found.reason, undefined);
      assert.equal(found.passages[0]?.source, 'fig.md');
      const turn = fake.embeddingRequests.filter((r) => r.inputs.includes(query));
      const answered = turn.find((r) => r.status === 200)!;
      assert.ok(answered, 'the turn got its vector');
      const first = Math.min(...turn.map((r) => r.receivedAt));
      const during = fake.embeddingRequests.filter((r) => !r.inputs.includes(query) && r.receivedAt > first && r.receivedAt < answered.endedAt!);
      assert.deepEqual(during.map((r) => r.inputs[0]?.slice(0, 20)), [], 'no indexing request started while the turn waited');
      await s.service.whenIdle();
      assert.equal(s.service.progress().indexed, 10);
    } finally {
      fake.setExclusive(false);
      fake.setLatency(0);
      await s.service.dispose();
    }
  });

  it('adding while the embeddings server is down: paused with the reason, finished after it is back', async () => {
    const probe = await startFakeKoboldCpp({ dimension: D });
    const port = probe.port;
    await probe.close();
    const s = serviceHarness('service-down', { url: () => `http://127.0.0.1:${port}/v1` });
    let server: FakeKoboldCpp | undefined;
    try {
      await s.service.add([s.write('v.md', topic('vanilla', 30))], 'workspace');
      await s.service.whenIdle();
      const p = s.service.progress();
      assert.equal(p.state, 'paused');
      assert.match(p.pausedReason!, new RegExp(`KoboldCpp is not running at http://127\\.0\\.0\\.1:${port}/v1`));
      assert.deepEqual(await s.service.listDocuments(), [], 'listing works with the server down');
      server = await startFakeKoboldCpp({ dimension: D, port });
      s.service.resume();
      await s.service.whenIdle();
      assert.equal(s.service.progress().indexed, 1);
      assert.deepEqual((await s.service.listDocuments()).map((d) => d.source), ['v.md']);
    } finally {
      await s.service.dispose();
      await server?.close();
    }
  });

  it('where LanceDB cannot run: status unavailable with the reason, methods fail clearly, retrieve answers [] with the reason', async () => {
    const reason = "This CPU lacks AVX2/FMA, which LanceDB's Linux build needs: memory is off; chat works without it (missing: avx2).";
    const s = serviceHarness('unavailable', { loadLanceDb: async () => ({ ok: false, reason }) });
    mkdirSync(s.dir, { recursive: true });
    writeFileSync(join(s.dir, 'memory.json'), JSON.stringify({ version: 1, current: { model: 'm', dimension: D }, models: [] }));
    await assert.rejects(s.service.add([s.write('u.md', 'text')], 'workspace'), (e: unknown) => MemoryServiceError.is(e, 'unavailable') && /AVX2/.test((e as Error).message));
    assert.deepEqual(s.service.status(), { state: 'unavailable', reason });
    await assert.rejects(s.service.listDocuments(), /Memory is off on this machine/);
    const found = await s.service.retrieve(ask('anything'), ['workspace']);
    assert.deepEqual(found.passages, []);
    assert.match(found.reason!, /AVX2/);
    await s.service.dispose();
  });

  it('another embeddings model: retrieval says so, indexing goes to its own table, the old documents are offered for re-indexing and can be discarded', async () => {
    const other = await startFakeKoboldCpp({ dimension: D, embeddingsModel: 'koboldcpp/nomic-embed' });
    let url = fake.url;
    const s = serviceHarness('model-change', { url: () => url });
    try {
      await s.service.add([s.write('p.md', topic('pepper', 30))], 'workspace');
      await s.service.whenIdle();
      url = other.url;
      const found = await s.service.retrieve(ask('pepper1pepper pepper2pepper'), ['workspace']);
      assert.deepEqual(found.passages, []);
      assert.match(found.reason!, /now uses koboldcpp\/nomic-embed, but this memory was made with koboldcpp\/bge-m3-Q8_0/);
      // Memory follows the server's model at once: the old documents are offered for indexing again.
      assert.deepEqual(s.service.status(), { state: 'ready', model: 'koboldcpp/nomic-embed', dimension: D });
      assert.deepEqual((await s.service.otherModelDocuments()).map((o) => [o.model, o.documents.map((d) => d.source)]), [['koboldcpp/bge-m3-Q8_0', ['p.md']]]);

      await s.service.add([s.write('q.md', topic('quinoa', 30))], 'workspace');
      await s.service.whenIdle();
      assert.deepEqual(s.service.status(), { state: 'ready', model: 'koboldcpp/nomic-embed', dimension: D });
      assert.deepEqual((await s.service.listDocuments()).map((d) => d.source), ['q.md'], 'vectors of two models never mix');
      const old = await s.service.otherModelDocuments();
      assert.deepEqual(old.map((o) => [o.model, o.documents.map((d) => d.source)]), [['koboldcpp/bge-m3-Q8_0', ['p.md']]]);
      assert.equal((await s.service.retrieve(ask('quinoa1quinoa quinoa2quinoa'), ['workspace'])).passages[0]?.source, 'q.md');

      await s.service.discardOtherModels();
      assert.deepEqual(await s.service.otherModelDocuments(), []);
      assert.deepEqual((await s.service.listDocuments()).map((d) => d.source), ['q.md']);
    } finally {
      await s.service.dispose();
      await other.close();
    }
  });
});
