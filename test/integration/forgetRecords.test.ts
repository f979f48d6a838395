// Forgetting one passage of a file, or a remembered fact, takes its text out of what was sent for
// past replies and out of the stored chats, as forgetting a whole file does. Real stores on disk:
// conversations, what was sent, the workspace memory (LanceDB) and the memory items; embeddings
// from the fake KoboldCpp, replies from the fake chat server. Checked: the bytes of every file
// under the storage folders.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { ChatMemory, ChatService, ChatSettings } from '../../src/chat/chatService';
import { ConversationStore } from '../../src/chat/conversationStore';
import { SentRecordStore } from '../../src/chat/sentRecords';
import { PersonaRegistry } from '../../src/characters/personaRegistry';
import { EmbeddingsClient } from '../../src/rag/embeddingsClient';
import { MemoryItems } from '../../src/rag/itemRecall';
import { WORKSPACE_KB } from '../../src/rag/knowledgeBases';
import { MemoryService } from '../../src/rag/memoryService';
import { memoryPromptSection } from '../../src/rag/retrieval';
import { silentLogger } from '../../src/util/logger';
import { countTokens } from '../../src/util/tokenizer/countTokens';
import { startFakeKoboldCpp, type FakeKoboldCpp } from '../support/fakeKoboldCpp';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';
import { filesUnder } from '../support/filesUnder';
import { MemoryPreferences } from '../support/memoryPreferences';
import { testChatService } from '../support/testChatService';

let server: FakeOpenAiServer;
let kobold: FakeKoboldCpp;
let personas: PersonaRegistry;
/** The test's folder: the workspace, its storage, the global storage. */
let root: string;
let workspaceStorage: string;
let globalStorage: string;
let chat: ChatService;

before(async () => {
  server = await startFakeOpenAiServer({ reply: 'Noted.', tokenDelayMs: 1 });
  kobold = await startFakeKoboldCpp();
  personas = await PersonaRegistry.load(join(__dirname, '../../characters'), silentLogger);
});
after(async () => {
  await server.close();
  await kobold.close();
});
beforeEach(async () => {
  server.reset();
  kobold.reset();
  root = await mkdtemp(join(tmpdir(), 'persona-forget-records-'));
  workspaceStorage = join(root, 'workspace-storage');
  globalStorage = join(root, 'global-storage');
});
afterEach(async () => {
  chat.stop();
  await chat.idle();
  chat.dispose();
  await rm(root, { recursive: true, force: true });
});

/** The chat as main.ts builds it, its conversations and what was sent in the workspace storage. */
async function chatWith(memory: ChatMemory): Promise<ChatService> {
  const settings: ChatSettings = { provider: 'local', baseUrl: server.url, model: '', sampling: { seed: 3 }, userName: 'Ada' };
  const service = testChatService({
    store: new ConversationStore(join(workspaceStorage, 'conversations'), silentLogger),
    personas,
    preferences: new MemoryPreferences(),
    settings: () => settings,
    memory,
    sentRecords: new SentRecordStore(join(workspaceStorage, 'sent-requests'), silentLogger),
  });
  await service.init();
  return service;
}

async function turn(text: string): Promise<void> {
  await chat.send(text);
  await chat.idle();
}

/** The files under `dirs` whose bytes hold `text`. */
function filesHolding(text: string, ...dirs: string[]): string[] {
  return dirs.flatMap((d) => filesUnder(d)).filter((f) => readFileSync(f).includes(text));
}

describe('forgetting one passage of a file', () => {
  const secret = 'The alarm code of the boathouse is HERON-7731.';
  const kept = 'The kayaks are stored on the left rack.';
  // Two sections, each its own chunk; the secret's section has more lines, so a small budget cuts it.
  const notes = [
    '# Storage',
    '',
    `${kept} Paddles hang above them on hooks.`,
    '',
    '# Alarm',
    '',
    secret,
    'Change it after every season.',
    'Only the club secretary knows the old codes.',
    'Write the new one in the logbook, never on the door.',
    '',
  ].join('\n');
  let memory: MemoryService;
  /** The memory token budget of the next turn. */
  let budget: number;

  beforeEach(async () => {
    const workspace = join(root, 'workspace');
    await mkdir(workspace, { recursive: true });
    await writeFile(join(workspace, 'boathouse.md'), notes);
    memory = new MemoryService({
      dir: join(workspaceStorage, 'memory'),
      settings: () => ({ baseUrl: kobold.url, model: '', chunkTokens: 48, overlapTokens: 0, maxFileBytes: 1 << 20, topK: 4, minScore: 0, tokenBudget: 1000 }),
      logger: silentLogger,
    });
    await memory.add([{ absPath: join(workspace, 'boathouse.md'), source: 'boathouse.md' }], WORKSPACE_KB);
    await memory.whenIdle();
    budget = 1000;
    // Workspace memory as MemoryController.retrieve gives it to a turn.
    chat = await chatWith({
      async retrieve({ history, signal }) {
        const { passages } = await memory.retrieve(history, [WORKSPACE_KB], signal, { tokenBudget: budget, k: 4, minScore: 0 });
        return {
          section: memoryPromptSection(passages),
          citations: passages.map((p) => ({ source: p.source, startLine: p.startLine, endLine: p.endLine, score: p.score })),
          passages: passages.map((p) => p.text.replace(/[\r\n]+$/, '')),
        };
      },
      status: () => ({ status: 'ready', documents: 1 }),
      onDidChange: () => ({ dispose() {} }),
    });
  });
  afterEach(() => memory.dispose());

  it('takes its text out of every record, whole or cut short, and its citations out of the replies; the other passage stays', async () => {
    const chunks = await memory.chunks('boathouse.md', WORKSPACE_KB);
    const alarm = chunks.find((c) => c.text.includes(secret));
    const other = chunks.find((c) => c.text.includes(kept));
    assert.ok(alarm && other && chunks.length === 2, 'the file is two chunks, one per section');

    await turn('Where are the kayaks and what is the alarm code of the boathouse?');
    // A budget with room for about the first line of the alarm's section: its passage is cut short.
    const firstLine = { source: 'boathouse.md', kb: WORKSPACE_KB, startLine: alarm.startLine, endLine: alarm.startLine, score: 1, text: secret, via: 'vector' as const, clipped: true };
    budget = countTokens(memoryPromptSection([firstLine])) + 2;
    await turn('Who changes the alarm code of the boathouse?');
    const [first, second] = chat.activeConversation.messages.filter((m) => m.role === 'assistant' && !m.greeting);
    assert.equal(first!.citations?.length, 2, 'the first reply was given both passages');
    const cut = (await chat.sentFor(second!.id)).record!.passages;
    assert.ok(cut.length === 1 && alarm.text.startsWith(cut[0]!.text!) && cut[0]!.text!.includes('HERON') && cut[0]!.text!.length < secret.length, 'the second reply was given the alarm passage cut short');
    assert.ok(filesHolding(secret, join(workspaceStorage, 'sent-requests')).length > 0, 'positive control: the records hold the secret');

    await memory.forgetChunk('boathouse.md', WORKSPACE_KB, alarm.index);
    await chat.forget({ kind: 'chunk', chunk: { source: 'boathouse.md', startLine: alarm.startLine, endLine: alarm.endLine, text: alarm.text } });

    assert.deepEqual(filesHolding('HERON', workspaceStorage), []);
    assert.ok(filesHolding(kept, join(workspaceStorage, 'sent-requests')).length > 0, 'the other passage went from the records too');
    const { record } = await chat.sentFor(first!.id);
    assert.deepEqual(
      record!.passages.map((p) => [p.startLine, p.forgotten ?? false, p.text?.includes(kept) ?? false]).sort(),
      [
        [alarm.startLine, true, false],
        [other.startLine, false, true],
      ].sort(),
    );
    assert.match(record!.messages[0]!.content, /\[forgotten: boathouse\.md, lines \d+-\d+\]/);
    // The chat as stored: the alarm's citations gone from both replies, the storage one kept.
    const stored = await new ConversationStore(join(workspaceStorage, 'conversations'), silentLogger).get(chat.activeConversation.id);
    const replies = stored!.messages.filter((m) => m.role === 'assistant' && !m.greeting);
    assert.deepEqual(
      replies.map((m) => (m.citations ?? []).map((c) => c.startLine)),
      [[other.startLine], []],
    );
  });
});

describe('forgetting remembered facts', () => {
  const locker = 'My locker at the pool is number 4471.';
  const bike = 'My bike lock opens with 9090.';
  const daughter = 'My daughter is called Ada.';
  let items: MemoryItems;

  beforeEach(async () => {
    const client = new EmbeddingsClient({ baseUrl: kobold.url, logger: silentLogger, retries: 0 });
    items = new MemoryItems({ dir: join(globalStorage, 'memory-items'), embedder: () => client, logger: silentLogger });
    // The persona's memories as MemoryController.retrieve gives them to a turn.
    chat = await chatWith({
      async retrieve({ history, personaId, signal }) {
        const found = await items.recall({ personaId, history, k: 4, minScore: 0, tokenBudget: 500, countTokens, signal });
        return { section: found.section, citations: [], remembered: found.items.map((r) => ({ id: r.item.id, text: r.item.text, ...(r.item.pinned ? { pinned: true } : {}) })) };
      },
      status: () => ({ status: 'ready', documents: 0 }),
      onDidChange: () => ({ dispose() {} }),
    });
  });
  afterEach(() => items.close());

  it('takes their text out of every record and the items out of the replies, the words one had before an edit too', async () => {
    const personaId = chat.persona().id;
    const [lockerItem, bikeItem, daughterItem] = await Promise.all([locker, bike, daughter].map(async (text) => (await items.remember(personaId, text)).item));
    // Pinned: in the prompt whatever the message.
    for (const i of [lockerItem!, bikeItem!, daughterItem!]) await items.update(personaId, i.id, { pinned: true });
    await turn('Which locker is mine, and what is my daughter called?');
    const reply = chat.activeConversation.messages.at(-1)!;
    assert.deepEqual(reply.remembered?.map((r) => r.text).sort(), [bike, daughter, locker].sort());
    assert.ok(filesHolding(locker, join(workspaceStorage, 'sent-requests')).length > 0, 'positive control: the record holds the fact');
    // Edited after the reply: the record holds the words it had then.
    await items.update(personaId, lockerItem!.id, { text: 'My locker at the gym is number 5582.' });

    // What ItemsController does on Forget: the items forgotten, then the chat told (main.ts wires it).
    const forgot = await items.forget(personaId, [lockerItem!.id, bikeItem!.id]);
    await chat.forget({ kind: 'items', items: forgot });

    // Whole phrases: four digits alone turn up in the random ids of messages and of LanceDB's files.
    for (const text of ['number 4471', 'number 5582', 'with 9090']) assert.deepEqual(filesHolding(text, workspaceStorage, globalStorage), [], `“${text}” is still on the disk`);
    const { record } = await chat.sentFor(reply.id);
    assert.equal(record!.messages[0]!.content.split('- [forgotten memory]').length - 1, 2);
    assert.ok(record!.messages[0]!.content.includes(`- ${daughter}`), 'a fact that was not forgotten went too');
    const stored = await new ConversationStore(join(workspaceStorage, 'conversations'), silentLogger).get(chat.activeConversation.id);
    assert.deepEqual(stored!.messages.at(-1)!.remembered?.map((r) => r.id), [daughterItem!.id]);
  });
});
