// "What was sent": each reply keeps the exact request that produced it. Read against what the
// server received, byte for byte in its messages; memory passages with their scores; the forgotten
// text gone from the disk; a line cut short by a crash skipped; deleting the chat deletes the record.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { ChatService, type ChatMemory, type ChatSettings } from '../../src/chat/chatService';
import { ConversationStore } from '../../src/chat/conversationStore';
import { SentRecordStore } from '../../src/chat/sentRecords';
import { sentReport } from '../../src/chat/sentReport';
import { PersonaRegistry } from '../../src/characters/personaRegistry';
import { memoryPromptSection, type RetrievedPassage } from '../../src/rag/retrieval';
import { silentLogger } from '../../src/util/logger';
import { testChatService } from '../support/testChatService';
import { MemoryPreferences } from '../support/memoryPreferences';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';

const secretPassage = 'The launch code for the demo is TANGERINE-42; keep it between us.';
const otherPassage = 'Deploys go out on Tuesdays after the standup.';

/** Workspace memory as the chat sees it, quoting two passages the way the real retrieval does. */
const memory: ChatMemory = {
  async retrieve() {
    const passages: RetrievedPassage[] = [
      { source: 'notes/secret.md', kb: 'workspace', startLine: 3, endLine: 4, score: 0.81, text: `${secretPassage}\n`, via: 'vector' },
      { source: 'docs/deploy.md', kb: 'workspace', startLine: 10, endLine: 10, score: 0.62, text: otherPassage, via: 'vector' },
    ] as RetrievedPassage[];
    return {
      section: memoryPromptSection(passages),
      citations: passages.map((p) => ({ source: p.source, startLine: p.startLine, endLine: p.endLine, score: p.score })),
      passages: passages.map((p) => p.text.replace(/[\r\n]+$/, '')),
      remembered: [
        { id: 'item-1', text: 'Ada prefers [short](command:workbench.action.quit) answers', score: 0.7 },
        { id: 'item-2', text: 'Ada lives in Oslo', pinned: true },
      ],
    };
  },
  status: () => ({ status: 'ready', documents: 2 }),
  onDidChange: () => ({ dispose() {} }),
  tokenBudget: () => 700,
};

describe('what was sent', () => {
  let server: FakeOpenAiServer;
  let dir: string;
  let personas: PersonaRegistry;
  let settings: ChatSettings;
  let chat: ChatService;
  let records: SentRecordStore;
  let preferences: MemoryPreferences;

  before(async () => {
    server = await startFakeOpenAiServer({ reply: 'Noted, and here is a reply.', tokenDelayMs: 1 });
    personas = await PersonaRegistry.load(join(__dirname, '../../characters'), silentLogger);
  });
  after(() => server.close());

  beforeEach(async () => {
    server.reset();
    dir = await mkdtemp(join(tmpdir(), 'persona-sent-'));
    settings = { provider: 'local', baseUrl: server.url, model: '', sampling: { seed: 11 }, userName: 'Ada' };
    preferences = new MemoryPreferences();
    chat = await makeChat();
  });

  /** The chat as the extension builds it on activation, on this test's folder. */
  const makeChat = async () => {
    records = new SentRecordStore(join(dir, 'sent'), silentLogger);
    const service = testChatService({
      store: new ConversationStore(join(dir, 'conversations'), silentLogger),
      personas,
      preferences,
      settings: () => settings,
      memory,
      sentRecords: records,
    });
    await service.init();
    return service;
  };
  afterEach(async () => {
    chat.stop();
    await chat.idle();
    await rm(dir, { recursive: true, force: true });
  });

  const turn = async (text: string) => {
    await chat.send(text);
    await chat.idle();
    return server.chatRequests.at(-1)!;
  };

  it('the record of each reply equals what the server received, byte for byte in its messages', async () => {
    await turn('What is the code?');
    await chat.setChatSetting('temperature', 0.25);
    const received = await turn('And when do we deploy?');
    const body = received.body as { messages: unknown[]; model: string; temperature: number; seed: number; max_tokens: number };

    const { record } = await chat.sentFor();
    assert.ok(record, 'no record for the latest reply');
    assert.equal(JSON.stringify(record.messages), JSON.stringify(body.messages), 'the messages kept differ from the ones sent');
    assert.equal(record.model, body.model);
    assert.equal(record.sampling.temperature, body.temperature);
    assert.equal(record.sampling.seed, body.seed);
    assert.equal(record.sampling.maxTokens, body.max_tokens);
    assert.equal(record.missing, 0);

    // The parts: memory quoted, history kept (greeting, first turn, reply, this message), nothing left out.
    assert.ok(record.parts.memory > 0 && record.parts.system > 0 && record.parts.history > 0);
    assert.equal(record.historyKept, 4);
    assert.deepEqual(record.historyLeftOut, []);
    assert.deepEqual(
      record.passages.map((p) => [p.source, p.score, p.text]),
      [
        ['notes/secret.md', 0.81, secretPassage],
        ['docs/deploy.md', 0.62, otherPassage],
      ],
    );

    // The first reply has its own record: its request had one user message less.
    const firstReply = chat.activeConversation.messages[2]!;
    const first = await chat.sentFor(firstReply.id);
    assert.equal(JSON.stringify(first.record!.messages), JSON.stringify((server.chatRequests.at(-2)!.body as { messages: unknown[] }).messages));

    // History is kept by reference: the file does not repeat the conversation's text.
    const raw = await readFile(join(dir, 'sent', `${chat.activeConversation.id}.jsonl`), 'utf8');
    assert.equal(raw.split('What is the code?').length - 1, 0, 'the history text was stored again');

    // The report reads: sections, token counts, the sources, the raw JSON; the texts are fenced.
    const report = sentReport(record, chat.activeConversation, 'Sam', (source, line) => `file:///ws/${source}#L${line}`);
    assert.match(report, /## Tokens/);
    assert.match(report, /\| Memory \| \d+ \|/);
    assert.match(report, /\[notes\/secret\\\.md\]\(<file:\/\/\/ws\/notes\/secret\.md#L3>\), lines 3–4 · score 0\.810/);
    // The facts remembered for the reply, with their scores; their link syntax is inert.
    assert.match(report, /## Remembered facts\n\n1\. Ada prefers \\\[short\\\]\\\(command:workbench\\\.action\\\.quit\\\) answers · score 0\.700\n2\. Ada lives in Oslo · pinned\n/);
    assert.match(report, /## Raw request \(JSON\)/);
    assert.ok(report.includes('```text\nAnd when do we deploy?\n```'));
  });

  it('forgetting a file removes its passage text from every record on the disk, and keeps the rest', async () => {
    await turn('What is the code?');
    await turn('Anything else?');
    const id = chat.activeConversation.id;
    const file = join(dir, 'sent', `${id}.jsonl`);
    assert.ok((await readFile(file, 'utf8')).includes('TANGERINE-42'));

    await chat.forgetCitations((source) => source === 'notes/secret.md');

    const raw = await readFile(file, 'utf8');
    assert.ok(!raw.includes('TANGERINE-42'), 'the forgotten text is still on the disk');
    assert.ok(raw.includes('Deploys go out on Tuesdays'), 'a passage that was not forgotten went too');
    const { record } = await chat.sentFor();
    assert.deepEqual(
      record!.passages.map((p) => [p.source, p.forgotten ?? false, p.text !== undefined]),
      [
        ['notes/secret.md', true, false],
        ['docs/deploy.md', false, true],
      ],
    );
    assert.match(record!.messages[0]!.content, /\[forgotten: notes\/secret\.md, lines 3-4\]/);
    // No temporary or backup copy of the old text is left beside it.
    assert.deepEqual(await readdir(join(dir, 'sent')), [`${id}.jsonl`]);
  });

  it('a line cut short by a crash is skipped; the records before it still read', async () => {
    await turn('One.');
    const id = chat.activeConversation.id;
    await appendFile(join(dir, 'sent', `${id}.jsonl`), '{"v":1,"messageId":"cut-sh');
    // VS Code starts again after the crash.
    chat.dispose();
    chat = await makeChat();
    assert.equal(chat.activeConversation.id, id);
    const { record } = await chat.sentFor();
    assert.ok(record);
    await turn('Two.');
    assert.ok((await chat.sentFor()).record, 'a record appended after the cut line reads');
  });

  it('deleting the conversation deletes what was sent for it', async () => {
    await turn('One.');
    const id = chat.activeConversation.id;
    await chat.deleteConversation(id);
    assert.deepEqual(await readdir(join(dir, 'sent')), []);
  });

  it('the context meter keeps room for memory when it is on, and none when this chat has it off', async () => {
    const on = await chat.estimateContext('A question.');
    assert.equal(on.parts.memory, 700);
    assert.equal(on.used, on.parts.system + on.parts.lorebook + on.parts.examples + on.parts.history + on.parts.draft + on.parts.memory + on.parts.reply);
    await chat.setMemoryEnabled(false);
    const off = await chat.estimateContext('A question.');
    assert.equal(off.parts.memory, 0);
    assert.equal(off.used, on.used - 700);
  });
});
