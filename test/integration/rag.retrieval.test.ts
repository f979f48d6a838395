// Retrieval against a real MemoryStore (LanceDB on disk) filled from a real workspace folder by the
// file scanner and the chunker, with vectors from the fake KoboldCpp over HTTP (bag-of-words vectors:
// texts sharing words are close). What goes in is files; what is checked is what comes back.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encode } from 'gpt-tokenizer';
import { chunkText, contentHash } from '../../src/rag/chunker';
import { EmbeddingsClient } from '../../src/rag/embeddingsClient';
import { scanPaths } from '../../src/rag/fileScanner';
import { MemoryStore, type MemoryDocument } from '../../src/rag/memoryStore';
import { memoryPromptSection, retrieve, type HistoryTurn, type RetrievedPassage, type RetrieveOptions } from '../../src/rag/retrieval';
import { silentLogger } from '../../src/util/logger';
import { defaultEmbeddingsModel, startFakeKoboldCpp, type FakeKoboldCpp } from '../support/fakeKoboldCpp';

const countTokens = (text: string) => encode(text, { disallowedSpecial: new Set() }).length;
const temp = mkdtempSync(join(tmpdir(), 'persona-retrieval-'));
const workspace = join(temp, 'workspace');

const files: Record<string, string> = {
  '.gitignore': 'private.txt\n',
  'private.txt': 'My private pasta notes: boil the pasta, salted water, minutes, tomato, basil.',
  'docs/cooking.md': [
    '# Pasta',
    '',
    'Boil the pasta in salted water for nine minutes.',
    'Add a tomato sauce with fresh basil and garlic.',
    'Serve the pasta hot with parmesan.',
  ].join('\n'),
  // The same text under another name: retrieval keeps one.
  'docs/copy-of-cooking.md': [
    '# Pasta',
    '',
    'Boil the pasta in salted water for nine minutes.',
    'Add a tomato sauce with fresh basil and garlic.',
    'Serve the pasta hot with parmesan.',
  ].join('\n'),
  'docs/weather.md': [
    '# Forecast',
    '',
    'Rain and clouds tomorrow; take an umbrella.',
    'The wind will be strong in the afternoon.',
    'Sunny weather returns on Friday.',
  ].join('\n'),
  'src/widgets.ts': [
    "import { render } from './render';",
    '',
    'export interface Widget { id: string; label: string; children: Widget[] }',
    '',
    '/** Draws every widget of the tree, depth first, and counts them. */',
    'export function drawTree(root: Widget): number {',
    '  let drawn = 0;',
    '  const stack = [root];',
    '  while (stack.length > 0) {',
    '    const next = stack.pop()!;',
    '    render(next);',
    '    drawn++;',
    '    stack.push(...next.children);',
    '  }',
    '  return drawn;',
    '}',
    '',
    'export function frobnicateWidget(w: Widget): Widget {',
    '  return { ...w, label: w.label.toUpperCase() };',
    '}',
  ].join('\n'),
  'notes/bard.md': 'The bard sings ballads about dragons, and tunes the lute before every song.',
};

let server: FakeKoboldCpp;
let client: EmbeddingsClient;
/** Indexed and optimized (full-text index built). */
let store: MemoryStore;
/** The same documents, never optimized: no full-text index. */
let vectorOnly: MemoryStore;

/** What the indexing pipeline does, in short: scan, read, chunk, embed, store. */
async function indexFolder(target: MemoryStore, paths: string[], kb: string, exclude: string[] = []): Promise<void> {
  const { files: found } = await scanPaths(paths, { root: workspace, exclude, maxFileBytes: 1024 * 1024 });
  const docs: MemoryDocument[] = [];
  for (const f of found) {
    const text = readFileSync(f.absPath, 'utf8');
    const chunks = chunkText(text, { chunkTokens: 48, overlapTokens: 8 });
    if (chunks.length === 0) continue;
    const vectors = await client.embed(chunks.map((c) => c.text));
    docs.push({
      source: f.relPath,
      kb,
      docHash: contentHash(text),
      chunks: chunks.map((c, i) => ({ text: c.text, vector: vectors[i]!, startLine: c.startLine, endLine: c.endLine, tokenCount: c.tokenCount, index: c.index })),
    });
  }
  await target.upsertDocuments(docs);
}

function options(history: HistoryTurn[], extra: Partial<RetrieveOptions> = {}, from: MemoryStore = store): RetrieveOptions {
  return {
    search: (vector, opts) => from.search(vector, opts),
    embed: (texts, signal) => client.embed(texts, signal),
    history,
    kbs: ['workspace'],
    k: 8,
    minScore: 0.2,
    tokenBudget: 2000,
    countTokens,
    ...extra,
  };
}

const ask = (question: string): HistoryTurn[] => [{ role: 'user', content: question }];
const sources = (passages: RetrievedPassage[]) => passages.map((p) => p.source);

/** A passage quotes its file exactly, starting on the first line it names and ending on the last (a chunk may start mid-line). */
function assertQuotesItsFile(p: RetrievedPassage): void {
  const fileLines = files[p.source]!.split('\n');
  const named = fileLines.slice(p.startLine - 1, p.endLine).join('\n');
  const text = p.text.replace(/\n$/, '');
  const at = named.indexOf(text);
  const where = `${p.source} ${p.startLine}-${p.endLine}: ${JSON.stringify(text)}`;
  assert.ok(at >= 0, where);
  assert.ok(at <= fileLines[p.startLine - 1]!.length, `${where} starts on its first line`);
  assert.ok(at + text.length > named.length - fileLines[p.endLine - 1]!.length - 1 || text === '', `${where} ends on its last line`);
}

before(async () => {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(workspace, path)), { recursive: true });
    writeFileSync(join(workspace, path), content);
  }
  server = await startFakeKoboldCpp();
  client = new EmbeddingsClient({ baseUrl: server.url, logger: silentLogger, retries: 0 });
  store = await MemoryStore.open(join(temp, 'memory'), { dimension: 1024, model: defaultEmbeddingsModel });
  vectorOnly = await MemoryStore.open(join(temp, 'memory-vector-only'), { dimension: 1024, model: defaultEmbeddingsModel });
  for (const target of [store, vectorOnly]) {
    await indexFolder(target, ['.'], 'workspace', ['notes/**']);
    await indexFolder(target, ['notes'], 'persona:bard');
  }
  await store.optimize();
});

after(async () => {
  await store?.close?.();
  await vectorOnly?.close?.();
  await server?.close();
  rmSync(temp, { recursive: true, force: true });
});

describe('retrieve over a real memory', () => {
  it('finds the passage that answers a question, first, quoting its file at the lines it names', async () => {
    const passages = await retrieve(options(ask('How many minutes should I boil the pasta in salted water?')));
    assert.ok(passages.length > 0);
    assert.match(passages[0]!.source, /^docs\/(copy-of-)?cooking\.md$/);
    // Two files with the same text: one passage.
    assert.equal(sources(passages).filter((s) => s.endsWith('cooking.md')).length, 1);
    for (const p of passages) assertQuotesItsFile(p);
    // A gitignored file was never indexed, however well it would match.
    assert.ok(!sources(passages).includes('private.txt'));
  });

  it('resolves a follow-up through the turns before it', async () => {
    const followUp = 'Is that one quick to make?';
    const alone = await retrieve(options(ask(followUp)));
    assert.ok(!sources(alone).some((s) => s.endsWith('cooking.md')), 'on its own the follow-up shares no words with the recipe');
    const withContext = await retrieve(
      options([
        { role: 'user', content: 'I want the pasta recipe with tomato and basil.' },
        { role: 'assistant', content: 'It uses fresh basil and garlic in a tomato sauce.' },
        { role: 'user', content: followUp },
      ]),
    );
    assert.match(withContext[0]?.source ?? '', /cooking\.md$/);
  });

  it('drops vector hits under minScore', async () => {
    const question = ask('Will it rain tomorrow, do I need an umbrella against the wind?');
    const everything = await retrieve(options(question, { minScore: -1 }));
    const strict = await retrieve(options(question, { minScore: 0.25 }));
    assert.deepEqual(sources(strict), ['docs/weather.md']);
    const dropped = everything.filter((p) => p.source !== 'docs/weather.md');
    assert.ok(dropped.length >= 2, 'with no floor, unrelated files come back too');
    assert.ok(dropped.every((p) => p.score < 0.25 && p.via === 'vector'));
  });

  it('finds an exact identifier through the full-text index when its vector is not close enough', async () => {
    const question = ask('Where is frobnicateWidget defined, and who calls it from the rest of our code?');
    const hybrid = await retrieve(options(question, { minScore: 0.9 }));
    assert.ok(hybrid.length > 0);
    assert.equal(hybrid[0]!.source, 'src/widgets.ts');
    assert.equal(hybrid[0]!.via, 'text');
    assert.match(hybrid[0]!.text, /export function frobnicateWidget/);
    assert.ok(hybrid[0]!.score < 0.9, `cosine ${hybrid[0]!.score}: found by its words, not its vector`);
    assertQuotesItsFile(hybrid[0]!);
    // The same memory without a full-text index finds nothing at that floor.
    assert.deepEqual(await retrieve(options(question, { minScore: 0.9 }, vectorOnly)), []);
  });

  it('searches only the knowledge bases in scope, and embeds nothing when there are none', async () => {
    const question = ask('Which songs does the bard sing about dragons?');
    assert.deepEqual(sources(await retrieve(options(question, { kbs: ['persona:bard'] }))), ['notes/bard.md']);
    assert.ok(!sources(await retrieve(options(question))).includes('notes/bard.md'));
    const requestsBefore = server.requests.length;
    assert.deepEqual(await retrieve(options(question, { kbs: [] })), []);
    assert.equal(server.requests.length, requestsBefore, 'no request reached the embeddings server');
  });

  it('keeps the prompt section within the token budget, with whole passages or a lone one cut at a line end', async () => {
    const question = ask('How does drawTree render every Widget of the tree with its stack, and what about frobnicateWidget and the pasta?');
    let cut = false;
    let whole = 0;
    for (const budget of [150, 200, 300, 500, 900]) {
      const passages = await retrieve(options(question, { tokenBudget: budget, minScore: 0 }));
      assert.ok(passages.length > 0, `budget ${budget}`);
      assert.ok(countTokens(memoryPromptSection(passages)) <= budget, `budget ${budget}`);
      for (const p of passages) assertQuotesItsFile(p);
      if (passages.some((p) => p.clipped)) assert.equal(passages.length, 1);
      cut ||= passages.some((p) => p.clipped);
      whole = Math.max(whole, passages.length);
    }
    assert.ok(cut, 'the smallest budget cut the best passage');
    assert.ok(whole >= 3, 'a large budget took several whole passages');
  });
});
