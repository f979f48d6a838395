// Memory items against the real parts: records on disk, vectors in LanceDB on disk, embeddings from
// the fake KoboldCpp over HTTP (bag-of-words vectors: texts that share words are close). What goes
// in is what a person remembers; what is checked is what a turn gets back, and what the disk holds
// after forgetting.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { encode } from 'gpt-tokenizer';
import { EmbeddingsClient } from '../../src/rag/embeddingsClient';
import { MemoryItems } from '../../src/rag/itemRecall';
import { MemoryItemError, MEMORY_ITEM_MAX_CHARS } from '../../src/rag/memoryItems';
import { silentLogger } from '../../src/util/logger';
import { startFakeKoboldCpp, type FakeKoboldCpp } from '../support/fakeKoboldCpp';
import { filesUnder } from '../support/filesUnder';

const countTokens = (text: string) => encode(text, { disallowedSpecial: new Set() }).length;
const temp = mkdtempSync(join(tmpdir(), 'persona-items-'));
let server: FakeKoboldCpp;
let items: MemoryItems;
let dir: string;
let run = 0;

const ask = (text: string) => [{ role: 'user' as const, content: text }];


before(async () => {
  server = await startFakeKoboldCpp();
});

beforeEach(() => {
  dir = join(temp, `run-${++run}`);
  const client = new EmbeddingsClient({ baseUrl: server.url, logger: silentLogger, retries: 0 });
  items = new MemoryItems({ dir, embedder: () => client, logger: silentLogger });
  server.reset();
});

after(async () => {
  await items?.close();
  await server.close();
  rmSync(temp, { recursive: true, force: true });
});

describe('memory items', () => {
  it('remembers a fact and a later turn about it gets it back, and not an unrelated one', async () => {
    await items.remember('sam', 'My daughter is called Ada and she loves astronomy.', { via: 'palette' });
    await items.remember('sam', 'I drive a blue bicycle to work every morning.', { via: 'palette' });
    const recall = await items.recall({ personaId: 'sam', history: ask('What does my daughter Ada love?'), k: 1, minScore: 0.2, tokenBudget: 500, countTokens });
    assert.deepEqual(
      recall.items.map((r) => r.item.text),
      ['My daughter is called Ada and she loves astronomy.'],
    );
    assert.match(recall.section, /## What you remember/);
    assert.match(recall.section, /- My daughter is called Ada and she loves astronomy\./);
    assert.doesNotMatch(recall.section, /bicycle/);
    assert.equal(recall.tokens, countTokens(recall.section));
  });

  it("belongs to its persona: another persona's turn never gets it", async () => {
    await items.remember('sam', 'My daughter is called Ada.', { via: 'palette' });
    const other = await items.recall({ personaId: 'guru', history: ask('What is my daughter called? Ada?'), k: 4, minScore: 0, tokenBudget: 500, countTokens });
    assert.deepEqual(other.items, []);
    assert.equal(other.section, '');
  });

  it('a fact said again is the same item, not a second one', async () => {
    const first = await items.remember('sam', 'My daughter is called Ada.');
    const again = await items.remember('sam', '  my daughter is called ada ');
    assert.equal(again.added, false);
    assert.equal(again.item.id, first.item.id);
    assert.equal((await items.list('sam')).length, 1);
  });

  it('refuses an empty or overlong text with the reason, and keeps nothing', async () => {
    await assert.rejects(items.remember('sam', '   '), (e) => MemoryItemError.is(e, 'invalidText'));
    await assert.rejects(items.remember('sam', 'x'.repeat(MEMORY_ITEM_MAX_CHARS + 1)), /at most 2,000 characters/);
    assert.deepEqual(await items.list('sam'), []);
  });

  it('pinned items come first, whatever the message, and the budget holds', async () => {
    await items.remember('sam', 'The person is called Robin.');
    const pin = await items.remember('sam', 'Always answer in short sentences.');
    await items.update('sam', pin.item.id, { pinned: true });
    await items.remember('sam', 'Robin grows tomatoes and basil on the balcony.');
    const recall = await items.recall({ personaId: 'sam', history: ask('How are my tomatoes and basil doing?'), k: 4, minScore: 0.1, tokenBudget: 500, countTokens });
    assert.equal(recall.items[0]!.item.text, 'Always answer in short sentences.');
    assert.equal(recall.items[0]!.score, undefined);
    assert.ok(recall.items.some((r) => r.item.text.includes('tomatoes')));

    // A budget with room for the heading and one line: the pin, nothing else.
    const heading = countTokens(recall.section.split('\n').slice(0, 3).join('\n'));
    const small = await items.recall({
      personaId: 'sam',
      history: ask('How are my tomatoes and basil doing?'),
      k: 4,
      minScore: 0.1,
      tokenBudget: heading + countTokens('\n- Always answer in short sentences.'),
      countTokens,
    });
    assert.deepEqual(
      small.items.map((r) => r.item.text),
      ['Always answer in short sentences.'],
    );
    assert.ok(small.tokens <= heading + countTokens('\n- Always answer in short sentences.'));
  });

  it('kept while the embeddings server is down, embedded and found once it is back; the pins still go in meanwhile', async () => {
    const pinned = await items.remember('sam', 'Call me Robin.');
    await items.update('sam', pinned.item.id, { pinned: true });
    server.failNext('nonJsonError', { count: 100 });
    const kept = await items.remember('sam', 'My cat Miso hates thunderstorms.');
    assert.equal(kept.embedded, false);
    assert.equal((await items.list('sam')).length, 2);
    const down = await items.recall({ personaId: 'sam', history: ask('Why is Miso hiding from the thunderstorms?'), k: 2, minScore: 0.1, tokenBudget: 500, countTokens });
    assert.deepEqual(
      down.items.map((r) => r.item.text),
      ['Call me Robin.'],
    );
    assert.ok(down.reason, 'says why nothing was found');
    server.reset();
    const back = await items.recall({ personaId: 'sam', history: ask('Why is Miso hiding from the thunderstorms?'), k: 2, minScore: 0.1, tokenBudget: 500, countTokens });
    assert.ok(back.items.some((r) => r.item.text === 'My cat Miso hates thunderstorms.'));
  });

  it('an edited item is found by its new words, not its old ones', async () => {
    const r = await items.remember('sam', 'My favourite fruit is the mango.');
    await items.update('sam', r.item.id, { text: 'My favourite vegetable is the artichoke.' });
    const byNew = await items.recall({ personaId: 'sam', history: ask('Which vegetable, the artichoke?'), k: 1, minScore: 0.2, tokenBudget: 500, countTokens });
    assert.equal(byNew.items[0]?.item.text, 'My favourite vegetable is the artichoke.');
    const byOld = await items.recall({ personaId: 'sam', history: ask('mango fruit mango fruit'), k: 1, minScore: 0.5, tokenBudget: 500, countTokens });
    assert.deepEqual(byOld.items, []);
  });

  it('forgetting one item removes its text and its vector from the disk; the others stay and are found', async () => {
    const secret = 'My locker code is 4471 and nobody knows it.';
    const gone = await items.remember('sam', secret);
    const kept = await items.remember('sam', 'My daughter is called Ada.');
    await items.remember('guru', 'I write Rust at work.');
    // Edited once: the table has versions before the forget that held the vector.
    await items.update('sam', gone.item.id, { text: `${secret} Really.` });
    const tables = await items.vectors.idsInEveryVersion();
    assert.ok([...tables.values()].some((ids) => ids.has(gone.item.id)));

    await items.forget('sam', [gone.item.id]);

    assert.deepEqual(
      (await items.list('sam')).map((i) => i.text),
      ['My daughter is called Ada.'],
    );
    // The text was never in LanceDB; the record file no longer has it.
    for (const file of filesUnder(dir)) assert.ok(!readFileSync(file).includes('locker code'), `${file} still holds the text`);
    const after = await items.vectors.idsInEveryVersion();
    assert.ok(![...after.values()].some((ids) => ids.has(gone.item.id)), 'a version of a table still holds the forgotten item');
    assert.ok([...after.values()].some((ids) => ids.has(kept.item.id)));
    const found = await items.recall({ personaId: 'sam', history: ask('What is my daughter called, Ada?'), k: 1, minScore: 0.2, tokenBudget: 500, countTokens });
    assert.equal(found.items[0]?.item.text, 'My daughter is called Ada.');
    const guru = await items.recall({ personaId: 'guru', history: ask('Do I write Rust at work?'), k: 1, minScore: 0.2, tokenBudget: 500, countTokens });
    assert.equal(guru.items[0]?.item.text, 'I write Rust at work.');
  });

  it("forgetting a persona's memories removes all of them and no other persona's", async () => {
    await items.remember('sam', 'My daughter is called Ada.');
    await items.remember('sam', 'I like jazz on Sundays.');
    const kept = await items.remember('guru', 'I write Rust at work.');
    const gone = await items.forgetPersona('sam');
    assert.equal(gone.length, 2);
    assert.deepEqual(await items.list('sam'), []);
    for (const file of filesUnder(dir)) {
      const bytes = readFileSync(file);
      for (const g of gone) assert.ok(!bytes.includes(g.text) && !bytes.includes(g.id), `${file} still holds ${g.text}`);
    }
    const ids = [...(await items.vectors.idsInEveryVersion()).values()].flatMap((s) => [...s]);
    assert.deepEqual(ids, [kept.item.id]);
  });

  it('a damaged record is refused with a clear error and left as it is; remembering does not overwrite it', async () => {
    await items.remember('sam', 'My daughter is called Ada.');
    const file = items.store.fileOf('sam');
    writeFileSync(file, '{"version":1,"personaId":"sam","items":[{"id":');
    await assert.rejects(items.list('sam'), (e) => MemoryItemError.is(e, 'unreadable'));
    await assert.rejects(items.remember('sam', 'Another fact.'), (e) => MemoryItemError.is(e, 'unreadable'));
    assert.equal(readFileSync(file, 'utf8'), '{"version":1,"personaId":"sam","items":[{"id":');
    // A turn goes on without them.
    const recall = await items.recall({ personaId: 'sam', history: ask('Ada?'), k: 1, minScore: 0, tokenBudget: 500, countTokens });
    assert.deepEqual(recall.items, []);
  });
});
