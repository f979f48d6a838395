// Memory dials at three levels (your settings < the persona < this chat): what a chat turn asks of
// memory, what the view shows with where each value comes from, and "whole small documents" reading
// the file again only when it is the one memory indexed.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { ChatMemory, ChatService, ChatSettings } from '../../src/chat/chatService';
import { ConversationStore } from '../../src/chat/conversationStore';
import { PersonaRegistry } from '../../src/characters/personaRegistry';
import { contentHash } from '../../src/rag/chunker';
import { memoryPromptSection, type RetrievedPassage } from '../../src/rag/retrieval';
import { withWholeDocuments } from '../../src/rag/wholeDocuments';
import { MEMORY_DIAL_DEFAULTS, resolveMemoryDials, type MemoryDials, type MemoryDialValues } from '../../src/shared/memoryDials';
import { silentLogger } from '../../src/util/logger';
import { countTokens } from '../../src/util/tokenizer/countTokens';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';
import { MemoryPreferences } from '../support/memoryPreferences';
import { testChatService } from '../support/testChatService';

describe('memory dials', () => {
  it('resolve chat over persona over your settings over the defaults, with what lies below a chat value', () => {
    const d = resolveMemoryDials({ settings: { topK: 4, minScore: 0.5 }, persona: { topK: 2, wholeDocument: true }, chat: { topK: 1, enabled: false } });
    assert.deepEqual(d.topK, { value: 1, origin: 'chat', below: { value: 2, origin: 'persona' } });
    assert.deepEqual(d.minScore, { value: 0.5, origin: 'settings' });
    assert.deepEqual(d.wholeDocument, { value: true, origin: 'persona' });
    assert.deepEqual(d.enabled, { value: false, origin: 'chat', below: { value: true, origin: 'default' } });
    assert.deepEqual(d.tokenBudget, { value: MEMORY_DIAL_DEFAULTS.tokenBudget, origin: 'default' });
    // In the memory panel the persona's own values are the ones edited: their Reset goes to your settings.
    const p = resolveMemoryDials({ settings: { topK: 4 }, persona: { topK: 2 }, chat: undefined }, 'persona');
    assert.deepEqual(p.topK, { value: 2, origin: 'persona', below: { value: 4, origin: 'settings' } });
  });

  describe('in a chat', () => {
    let server: FakeOpenAiServer;
    let personas: PersonaRegistry;
    let dir: string;
    let chat: ChatService;
    let asked: MemoryDialValues[];
    let levels: { settings: MemoryDials; persona: MemoryDials };

    before(async () => {
      server = await startFakeOpenAiServer({ reply: 'Fine.' });
      personas = await PersonaRegistry.load(join(__dirname, '../../characters'), silentLogger);
    });
    after(() => server.close());
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'persona-dials-'));
      asked = [];
      levels = { settings: { topK: 5 }, persona: { minScore: 0.6 } };
      const memory: ChatMemory = {
        retrieve: async ({ dials }) => {
          asked.push(dials);
          return { section: '', citations: [] };
        },
        status: () => ({ status: 'ready', documents: 1 }),
        onDidChange: () => ({ dispose() {} }),
        tokenBudget: () => 1500,
        dialLevels: () => levels,
      };
      const settings: ChatSettings = { provider: 'local', baseUrl: server.url, model: '', sampling: {}, userName: 'Ada' };
      chat = testChatService({ store: new ConversationStore(dir, silentLogger), personas, preferences: new MemoryPreferences(), settings: () => settings, memory });
      await chat.init();
    });
    afterEach(async () => {
      chat.dispose();
      await rm(dir, { recursive: true, force: true });
    });

    it('a turn asks memory with the values in effect; the view shows each with its origin', async () => {
      await chat.setMemoryDial('tokenBudget', 400);
      await chat.send('Hello');
      await chat.idle();
      assert.deepEqual(asked.at(-1), { ...MEMORY_DIAL_DEFAULTS, topK: 5, minScore: 0.6, tokenBudget: 400 });
      const view = (await chat.viewState()).memoryDials;
      assert.equal(view.topK.origin, 'settings');
      assert.equal(view.minScore.origin, 'persona');
      assert.deepEqual(view.tokenBudget, { value: 400, origin: 'chat', below: { value: MEMORY_DIAL_DEFAULTS.tokenBudget, origin: 'default' } });
      // The context meter keeps the chat's budget for memory, not the setting's.
      assert.equal((await chat.estimateContext('')).parts.memory, 400);
    });

    it('values out of range are refused with the range and change nothing; Reset goes back to the level below', async () => {
      await assert.rejects(chat.setMemoryDial('topK', 0), /Passages must be a whole number from 1 to 50\./);
      await assert.rejects(chat.setMemoryDial('minScore', 7), /Similarity threshold must be a number from 0 to 1\./);
      await assert.rejects(chat.setMemoryDial('topK', 2.5), /whole number/);
      assert.equal((await chat.viewState()).memoryDials.topK.origin, 'settings');
      await chat.setMemoryDial('topK', 3);
      assert.equal((await chat.viewState()).memoryDials.topK.value, 3);
      await chat.setMemoryDial('topK', null);
      assert.deepEqual((await chat.viewState()).memoryDials.topK, { value: 5, origin: 'settings' });
    });

    it('"Use memory" off for the chat: memory is not asked, and the meter keeps nothing for it; a new chat starts without it', async () => {
      await chat.setMemoryDial('enabled', false);
      await chat.send('Hello');
      await chat.idle();
      assert.equal(asked.length, 0);
      assert.equal((await chat.estimateContext('')).parts.memory, 0);
      await chat.newConversation();
      assert.equal((await chat.viewState()).memoryDials.enabled.value, true);
    });

    it('a persona with memory off is off in its chats unless the chat turns it on', async () => {
      levels = { settings: {}, persona: { enabled: false } };
      await chat.send('Hello');
      await chat.idle();
      assert.equal(asked.length, 0);
      await chat.setMemoryDial('enabled', true);
      await chat.send('Again');
      await chat.idle();
      assert.equal(asked.length, 1);
      assert.deepEqual((await chat.viewState()).memoryDials.enabled, { value: true, origin: 'chat', below: { value: false, origin: 'persona' } });
    });
  });

  describe('whole small documents', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'persona-whole-'));
    });
    after(() => rm(dir, { recursive: true, force: true }));

    const note = ['# Tea', '', 'Green tea steeps at 80 degrees.', '', 'Black tea at 95, for four minutes.'].join('\n');
    const passage = (source: string, text: string, startLine: number, endLine: number, score = 0.8): RetrievedPassage => ({ source, kb: 'workspace', startLine, endLine, score, text, via: 'vector' });

    it('a document that fits is given whole, in the place of its best passage, with its other passages folded in', async () => {
      await writeFile(join(dir, 'tea.md'), note);
      const passages = [passage('tea.md', 'Black tea at 95, for four minutes.', 5, 5, 0.9), passage('other.md', 'Unrelated.', 1, 1, 0.7), passage('tea.md', '# Tea', 1, 1, 0.5)];
      const out = await withWholeDocuments({ passages, hashOf: (_kb, s) => (s === 'tea.md' ? contentHash(note) : undefined), pathOf: (s) => join(dir, s), tokenBudget: 1000, countTokens });
      assert.deepEqual(
        out.map((p) => [p.source, p.startLine, p.endLine, p.text]),
        [
          ['tea.md', 1, 5, note],
          ['other.md', 1, 1, 'Unrelated.'],
        ],
      );
    });

    it('a file changed since it was indexed, one too large for the budget, or one gone, keeps its passages', async () => {
      await writeFile(join(dir, 'tea.md'), note);
      const passages = [passage('tea.md', 'Black tea at 95, for four minutes.', 5, 5)];
      const common = { passages, pathOf: (s: string) => join(dir, s), countTokens };
      assert.deepEqual(await withWholeDocuments({ ...common, hashOf: () => contentHash(`${note} (older)`), tokenBudget: 1000 }), passages, 'changed since indexed');
      const justPassages = countTokens(memoryPromptSection(passages));
      assert.deepEqual(await withWholeDocuments({ ...common, hashOf: () => contentHash(note), tokenBudget: justPassages + 2 }), passages, 'over the budget');
      assert.deepEqual(await withWholeDocuments({ ...common, hashOf: () => contentHash(note), pathOf: (s) => join(dir, 'gone', s), tokenBudget: 1000 }), passages, 'gone');
    });
  });
});
