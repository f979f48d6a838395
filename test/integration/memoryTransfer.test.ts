// Export and import of memory items and document lists against the real parts: records on disk,
// vectors in LanceDB on disk, embeddings from the fake KoboldCpp over HTTP. What is checked is what
// the importing persona then has, and that a file refused for any reason leaves its record file
// byte for byte as it was.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { encode } from 'gpt-tokenizer';
import { EmbeddingsClient } from '../../src/rag/embeddingsClient';
import { MemoryItems } from '../../src/rag/itemRecall';
import { MEMORY_ITEM_MAX_CHARS, MemoryItemError } from '../../src/rag/memoryItems';
import type { DocumentSummary } from '../../src/rag/memoryStore';
import {
  exportDocumentList,
  exportMemoryItems,
  importMemoryItems,
  isPortableSource,
  MAX_IMPORT_ITEMS,
  MAX_MEMORY_ITEMS_FILE_BYTES,
  MemoryTransferError,
  parseDocumentList,
  parseMemoryItemsExport,
  planMemoryItemsImport,
  type MemoryTransferErrorReason,
} from '../../src/rag/memoryTransfer';
import { silentLogger } from '../../src/util/logger';
import { startFakeKoboldCpp, type FakeKoboldCpp } from '../support/fakeKoboldCpp';
import { mutate } from '../support/fuzzTargets';
import { prng } from '../support/prng';

const countTokens = (text: string) => encode(text, { disallowedSpecial: new Set() }).length;
const temp = mkdtempSync(join(tmpdir(), 'persona-transfer-'));
let server: FakeKoboldCpp;
let run = 0;
/** Two machines: the one the memories are exported from and the one they are imported into. */
let home: MemoryItems;
let away: MemoryItems;

function machine(name: string): MemoryItems {
  const client = new EmbeddingsClient({ baseUrl: server.url, logger: silentLogger, retries: 0 });
  return new MemoryItems({ dir: join(temp, `run-${run}`, name), embedder: () => client, logger: silentLogger });
}

/** What the import command does with a file's text: read, plan against what the persona has, add. */
async function importText(items: MemoryItems, personaId: string, text: string) {
  const plan = planMemoryItemsImport(await items.list(personaId), parseMemoryItemsExport(text));
  return { plan, result: await importMemoryItems(items, personaId, plan) };
}

async function seedHome(): Promise<string> {
  await home.remember('sam', 'My daughter is called Ada and she loves astronomy.', { via: 'message', conversationId: 'conv-1', messageId: 'msg-7', conversationTitle: 'Family plans' });
  const pin = await home.remember('sam', 'Always answer in short sentences.', { via: 'palette' });
  await home.update('sam', pin.item.id, { pinned: true });
  await home.remember('sam', 'I drive a blue bicycle to work every morning.', { via: 'palette' });
  return exportMemoryItems(await home.list('sam'), { id: 'sam', name: 'Sam' });
}

before(async () => {
  server = await startFakeKoboldCpp();
});

beforeEach(() => {
  run++;
  home = machine('home');
  away = machine('away');
  server.reset();
});

afterEach(async () => {
  await home.close();
  await away.close();
});

after(async () => {
  await server.close();
  rmSync(temp, { recursive: true, force: true });
});

describe('memory items: export and import', () => {
  it('round-trips text, pins, dates and the conversation title into another persona on another machine, and the items are found by meaning', async () => {
    const text = await seedHome();
    const before = await home.list('sam');
    const file = JSON.parse(text) as Record<string, unknown>;
    assert.equal(file.format, 'persona-memory-items');
    assert.equal(file.version, 1);
    assert.deepEqual(file.persona, { id: 'sam', name: 'Sam' });
    // Ids of this machine's records stay on it.
    assert.doesNotMatch(text, /conv-1|msg-7|"id": "[0-9a-f-]{36}"|conversationId|messageId/);

    server.reset();
    const { plan, result } = await importText(away, 'guru', text);
    assert.equal(plan.add.length, 3);
    assert.deepEqual(plan.duplicates, []);
    assert.equal(result.added.length, 3);
    assert.equal(result.embedded, true);
    // Embedded at the import, not left to later turns (which embed a few at a time).
    assert.deepEqual(
      server.embeddingRequests.flatMap((r) => r.inputs).sort(),
      before.map((i) => i.text).sort(),
    );

    const after = await away.list('guru');
    assert.deepEqual(
      after.map((i) => ({ text: i.text, pinned: i.pinned === true, createdAt: i.createdAt })),
      before.map((i) => ({ text: i.text, pinned: i.pinned === true, createdAt: i.createdAt })),
    );
    assert.deepEqual(after[0]!.origin, { via: 'import', conversationTitle: 'Family plans' });
    assert.deepEqual(after[1]!.origin, { via: 'import' });
    assert.ok(after.every((i, n) => i.id !== before[n]!.id));

    const recall = await away.recall({ personaId: 'guru', history: [{ role: 'user', content: 'What does my daughter Ada love?' }], k: 1, minScore: 0.2, tokenBudget: 500, countTokens });
    assert.deepEqual(
      recall.items.map((r) => r.item.text),
      ['Always answer in short sentences.', 'My daughter is called Ada and she loves astronomy.'],
    );
  });

  it('importing the same file again adds nothing and reports every item as already there; a differing pin is reported and left as it is', async () => {
    const text = await seedHome();
    await importText(away, 'guru', text);
    const pinned = (await away.list('guru')).find((i) => i.pinned)!;
    await away.update('guru', pinned.id, { pinned: false });
    const record = away.store.fileOf('guru');
    const bytes = readFileSync(record);

    const { plan, result } = await importText(away, 'guru', text);
    assert.deepEqual(plan.add, []);
    assert.deepEqual(
      plan.duplicates.map((d) => [d.position, d.existing?.text]),
      [
        [1, 'My daughter is called Ada and she loves astronomy.'],
        [2, 'Always answer in short sentences.'],
        [3, 'I drive a blue bicycle to work every morning.'],
      ],
    );
    assert.deepEqual(
      plan.pinDiffers.map((d) => [d.position, d.item.pinned, d.existing.pinned === true]),
      [[2, true, false]],
    );
    assert.deepEqual(result.added, []);
    assert.deepEqual(readFileSync(record), bytes);
    assert.equal((await away.list('guru')).find((i) => i.id === pinned.id)!.pinned, undefined);
  });

  it('an item said again in other words of case and spacing, in the file or already kept, is skipped, not added twice', async () => {
    await away.remember('guru', 'I drive a blue bicycle to work every morning.');
    const text = JSON.stringify({
      format: 'persona-memory-items',
      version: 1,
      items: [{ text: 'Tea, never coffee.' }, { text: '  i drive a BLUE bicycle to work every morning!' }, { text: 'tea,  never coffee' }],
    });
    const { plan, result } = await importText(away, 'guru', text);
    assert.deepEqual(
      plan.add.map((a) => a.position),
      [1],
    );
    assert.deepEqual(
      plan.duplicates.map((d) => [d.position, d.existing !== undefined, d.repeats]),
      [
        [2, true, undefined],
        [3, false, 1],
      ],
    );
    assert.deepEqual(
      result.added.map((i) => i.text),
      ['Tea, never coffee.'],
    );
    assert.deepEqual(
      (await away.list('guru')).map((i) => i.text),
      ['I drive a blue bicycle to work every morning.', 'Tea, never coffee.'],
    );
  });

  it('an item remembered between the plan and the import is skipped at the import, not written twice', async () => {
    const text = JSON.stringify({ format: 'persona-memory-items', version: 1, items: [{ text: 'Tea, never coffee.' }, { text: 'Robin grows basil.' }] });
    const plan = planMemoryItemsImport(await away.list('guru'), parseMemoryItemsExport(text));
    await away.remember('guru', 'robin grows basil');
    const result = await importMemoryItems(away, 'guru', plan);
    assert.deepEqual(
      result.added.map((i) => i.text),
      ['Tea, never coffee.'],
    );
    assert.deepEqual(
      result.skipped.map((s) => s.existing.text),
      ['robin grows basil'],
    );
    assert.equal((await away.list('guru')).length, 2);
  });

  it('the record file is written for all the new items at once or not at all', async () => {
    await away.remember('guru', 'Tea, never coffee.');
    const record = away.store.fileOf('guru');
    const bytes = readFileSync(record);
    await assert.rejects(
      away.addMany('guru', [{ text: 'Robin grows basil.' }, { text: 'The cat is called Miso.' }, { text: 'x'.repeat(MEMORY_ITEM_MAX_CHARS + 1) }]),
      (e) => MemoryItemError.is(e, 'invalidText') && /^Item 3: /.test(e.message),
    );
    await assert.rejects(away.addMany('guru', [{ text: 'Robin grows basil.', createdAt: Number.NaN }]), (e) => MemoryItemError.is(e, 'invalidText'));
    assert.deepEqual(readFileSync(record), bytes);
  });

  describe('a malformed file is refused with what is wrong and where, and changes nothing', () => {
    const valid = { format: 'persona-memory-items', version: 1, exportedAt: 1, persona: { name: 'Sam' }, items: [{ text: 'Tea, never coffee.', pinned: false }] };
    const withItems = (...items: unknown[]) => JSON.stringify({ ...valid, items: [...valid.items, ...items] });
    const cases: Array<[string, () => string, MemoryTransferErrorReason, RegExp]> = [
      ['not JSON', () => '{"format": "persona-memory-items", "items": [', 'notJson', /not readable JSON/],
      ['a wrong format tag', () => JSON.stringify({ ...valid, format: 'persona-memories' }), 'wrongFormat', /"format" should be "persona-memory-items"/],
      ['a document list given as memories', () => JSON.stringify({ ...valid, format: 'persona-document-list' }), 'wrongFormat', /this is a document list/],
      ['a newer version', () => JSON.stringify({ ...valid, version: 2 }), 'newerVersion', /format version 2.*Update the Persona extension/],
      ['an item with empty text', () => withItems({ text: 'Robin grows basil.' }, { text: ' \r\n ' }), 'invalid', /item 3: text is empty/],
      ['an item with over-long text', () => withItems({ text: 'y'.repeat(MEMORY_ITEM_MAX_CHARS + 1) }), 'invalid', /item 2: text has 2,001 characters \(a memory holds at most 2,000\)/],
      ['an item without text', () => withItems({ pinned: true }), 'invalid', /item 2: text is missing/],
      ['a string where a boolean goes', () => withItems({ text: 'Robin grows basil.', pinned: 'yes' }), 'invalid', /item 2: pinned should be true or false/],
      ['a misspelt field', () => withItems({ text: 'Robin grows basil.', pined: true }), 'invalid', /item 2: it has an unknown field "pined"/],
      ['an unknown origin', () => withItems({ text: 'Robin grows basil.', origin: { via: 'magic' } }), 'invalid', /item 2: origin\.via should be "palette" or "message" or "import"/],
      ['a date that is not a whole number', () => withItems({ text: 'Robin grows basil.', createdAt: 1.5 }), 'invalid', /item 2: createdAt should be a whole number/],
      ['items that are not a list', () => JSON.stringify({ ...valid, items: { text: 'Robin grows basil.' } }), 'invalid', /"items" should be a list/],
      // One fact said over and over: were the count not checked, one item would be added (quickly seen).
      ['too many items', () => JSON.stringify({ ...valid, items: Array.from({ length: MAX_IMPORT_ITEMS + 1 }, () => ({ text: 'Robin grows basil.' })) }), 'tooLarge', /25,001 memories, at most 25,000/],
      ['a file over the size limit', () => ' '.repeat(MAX_MEMORY_ITEMS_FILE_BYTES + 1), 'tooLarge', /too large to import/],
    ];
    for (const [what, make, reason, message] of cases) {
      it(what, async () => {
        await away.remember('guru', 'I drive a blue bicycle to work every morning.');
        const record = away.store.fileOf('guru');
        const bytes = readFileSync(record);
        await assert.rejects(importText(away, 'guru', make()), (e) => {
          assert.ok(MemoryTransferError.is(e, reason), `${reason}: ${String(e)}`);
          assert.match(e.message, message);
          assert.match(e.message, reason === 'newerVersion' ? /import it again/ : /Nothing was imported|nothing was imported/);
          return true;
        });
        assert.deepEqual(readFileSync(record), bytes);
      });
    }

    it('several problems are listed together, the first three and a count of the rest', () => {
      const text = withItems({ text: '' }, { text: '' }, { text: '' }, { text: '' }, { text: 'fine' }, { text: '' });
      assert.throws(() => parseMemoryItemsExport(text), /item 2: text is empty; item 3: text is empty; item 4: text is empty; and 2 more/);
    });

    it('a damaged copy of a valid export is read or refused, never anything else', () => {
      const rng = prng(12);
      const text = exportMemoryItems(
        [
          { id: 'a', text: 'Tea, never coffee.', createdAt: 1, updatedAt: 1, pinned: true },
          { id: 'b', text: 'Robin grows basil.', createdAt: 2, updatedAt: 2, origin: { via: 'message', conversationTitle: 'Garden' } },
        ],
        { id: 'sam', name: 'Sam' },
      );
      for (let n = 0; n < 2000; n++) {
        const damaged = mutate(rng, text);
        try {
          const parsed = parseMemoryItemsExport(damaged);
          for (const item of parsed.items) {
            assert.ok(item.text.length > 0 && item.text.length <= MEMORY_ITEM_MAX_CHARS);
            assert.equal(typeof item.pinned, 'boolean');
          }
        } catch (e) {
          assert.ok(MemoryTransferError.is(e), `input ${n} threw ${String(e)}: ${JSON.stringify(damaged.slice(0, 300))}`);
        }
      }
    });
  });
});

describe('document lists: export and import', () => {
  const hash = (c: string) => c.repeat(64);
  const doc = (source: string, kb = 'workspace', docHash = hash('a')): Pick<DocumentSummary, 'source' | 'kb' | 'docHash'> => ({ source, kb, docHash });
  const list = (...sources: string[]) => JSON.stringify({ format: 'persona-document-list', version: 1, knowledgeBase: 'workspace', documents: sources.map((source) => ({ source })) });

  it("round-trips a knowledge base's workspace-relative paths with their hashes, and leaves out what names this machine only", () => {
    const docs = [doc('src/b.ts', 'workspace', hash('b')), doc('docs/a.md'), doc('/home/sam/notes.md'), doc('/home/sam/.config/persona/memory/uploads/ab12/cv.pdf'), doc('other.md', 'persona:sam')];
    const text = exportDocumentList(docs, 'workspace');
    const parsed = parseDocumentList(text);
    assert.equal(parsed.knowledgeBase, 'workspace');
    assert.deepEqual(parsed.sources, ['docs/a.md', 'src/b.ts']);
    assert.deepEqual(parsed.documents, [
      { source: 'docs/a.md', docHash: hash('a') },
      { source: 'src/b.ts', docHash: hash('b') },
    ]);
    assert.doesNotMatch(text, /home\/sam|other\.md/);
    assert.deepEqual(
      docs.filter((d) => !isPortableSource(d.source)).map((d) => d.source),
      ['/home/sam/notes.md', '/home/sam/.config/persona/memory/uploads/ab12/cv.pdf'],
    );
  });

  const refused: Array<[string, RegExp]> = [
    ['../x', /document 2: the path "\.\.\/x" goes up out of the workspace/],
    ['docs/../../x', /document 2: the path "docs\/\.\.\/\.\.\/x" goes up out of the workspace/],
    ['/etc/passwd', /document 2: the path "\/etc\/passwd" is absolute/],
    ['C:\\x', /document 2: the path "C:\\\\x" starts with a drive letter/],
    ['c:x', /starts with a drive letter/],
    ['\\\\server\\share\\x', /has a backslash/],
    ['docs\\..\\..\\x', /has a backslash/],
    ['docs//a.md', /has an empty or "\." part/],
    ['./a.md', /has an empty or "\." part/],
    ['', /is empty/],
    ['a\u0000b', /control character/],
  ];
  for (const [source, message] of refused) {
    it(`refuses the path ${JSON.stringify(source)}, and the whole list with it`, () => {
      assert.throws(
        () => parseDocumentList(list('docs/a.md', source)),
        (e) => MemoryTransferError.is(e, 'invalid') && message.test(e.message) && /nothing was imported/.test(e.message),
      );
    });
  }

  it('refuses a list that is not one: a memories file, bad JSON, a missing knowledge base, a bad hash', () => {
    assert.throws(() => parseDocumentList(JSON.stringify({ format: 'persona-memory-items', version: 1, items: [] })), (e) => MemoryTransferError.is(e, 'wrongFormat') && /this is a memories file/.test(e.message));
    assert.throws(() => parseDocumentList('{"format":'), (e) => MemoryTransferError.is(e, 'notJson'));
    assert.throws(() => parseDocumentList(JSON.stringify({ format: 'persona-document-list', version: 1, documents: [] })), /"knowledgeBase" is missing/);
    assert.throws(
      () => parseDocumentList(JSON.stringify({ format: 'persona-document-list', version: 1, knowledgeBase: 'workspace', documents: [{ source: 'a.md', docHash: 'nope' }] })),
      /document 1: docHash is not in the expected form/,
    );
  });
});
