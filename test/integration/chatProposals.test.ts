// Proposed memories through the chat: after a reply the chat asks the model (a second request, with
// a JSON schema) for facts worth keeping. "ask" leaves them under the reply until the person keeps
// or dismisses each; "automatic" keeps them; "off" sends nothing more. Real HTTP server, real memory
// items on a temp dir (LanceDB, the fake KoboldCpp), conversations on disk.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { ChatService, ChatSettings, ProposalMemory } from '../../src/chat/chatService';
import { ConversationStore } from '../../src/chat/conversationStore';
import { PersonaRegistry } from '../../src/characters/personaRegistry';
import { EmbeddingsClient } from '../../src/rag/embeddingsClient';
import { MemoryItems } from '../../src/rag/itemRecall';
import type { Message, ProposalMode } from '../../src/shared/conversation';
import { silentLogger } from '../../src/util/logger';
import { startFakeKoboldCpp, type FakeKoboldCpp } from '../support/fakeKoboldCpp';
import { startFakeOpenAiServer, type FakeOpenAiServer, type RecordedRequest } from '../support/fakeOpenAiServer';
import { MemoryPreferences } from '../support/memoryPreferences';
import { testChatService } from '../support/testChatService';

const asksForMemories = (r: RecordedRequest) => (r.body as { response_format?: unknown } | undefined)?.response_format !== undefined;

describe('proposed memories in a chat', () => {
  let server: FakeOpenAiServer;
  let kobold: FakeKoboldCpp;
  let personas: PersonaRegistry;
  let dir: string;
  let chat: ChatService;
  let items: MemoryItems;
  let mode: ProposalMode;
  let proposals: string[];

  before(async () => {
    server = await startFakeOpenAiServer({});
    kobold = await startFakeKoboldCpp({ dimension: 1024 });
    personas = await PersonaRegistry.load(join(__dirname, '../../characters'), silentLogger);
  });
  after(async () => {
    await server.close();
    await kobold.close();
  });

  beforeEach(async () => {
    server.reset();
    proposals = ['Lives in Lisbon.', 'Has two cats.'];
    server.setReply((r) => (asksForMemories(r) ? JSON.stringify({ memories: proposals }) : 'Nice to hear!'));
    dir = await mkdtemp(join(tmpdir(), 'persona-proposals-'));
    const client = new EmbeddingsClient({ baseUrl: kobold.url, logger: silentLogger, retries: 0 });
    items = new MemoryItems({ dir: join(dir, 'items'), embedder: () => client, logger: silentLogger });
    mode = 'ask';
    const memory: ProposalMemory = {
      mode: () => mode,
      existing: async (personaId) => (await items.list(personaId)).map((i) => i.text),
      keep: async (personaId, text, origin) => void (await items.remember(personaId, text, { via: 'message', ...origin })),
    };
    const settings: ChatSettings = { provider: 'local', baseUrl: server.url, model: '', sampling: {}, userName: 'Ada' };
    chat = testChatService({
      store: new ConversationStore(join(dir, 'conversations'), silentLogger),
      personas,
      preferences: new MemoryPreferences(),
      settings: () => settings,
      memory: { retrieve: async () => ({ section: '', citations: [] }), status: () => ({ status: 'off' }), onDidChange: () => ({ dispose() {} }), proposals: memory },
    });
    await chat.init();
  });
  afterEach(async () => {
    chat.dispose();
    await items.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The last reply once `done` says it is. */
  async function lastReplyWhen(done: (m: Message) => boolean): Promise<Message> {
    for (let i = 0; i < 200; i++) {
      const m = (await chat.viewState()).conversation!.messages.at(-1)!;
      if (m.role === 'assistant' && done(m)) return m;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('the reply never got there');
  }

  it('"ask": the facts wait under the reply, nothing is kept until the person keeps one (with an edit); a dismissed one is never kept', async () => {
    await chat.send('I live in Lisbon with my two cats.');
    const reply = await lastReplyWhen((m) => m.proposals !== undefined);
    assert.deepEqual(reply.proposals, [
      { text: 'Lives in Lisbon.', state: 'pending' },
      { text: 'Has two cats.', state: 'pending' },
    ]);
    assert.deepEqual(await items.list('sam'), [], 'nothing kept unasked');
    const asked = server.chatRequests.filter(asksForMemories);
    assert.equal(asked.length, 1);
    const body = asked[0]!.body as { response_format: { type: string; json_schema: { strict: boolean } }; messages: { content: string }[] };
    assert.equal(body.response_format.type, 'json_schema');
    assert.ok(JSON.stringify(body.messages).includes('I live in Lisbon with my two cats.'));

    await chat.resolveProposal(reply.id, 1, 'dismiss');
    await chat.resolveProposal(reply.id, 0, 'keep', 'Lives in Lisbon, Portugal.');
    const kept = await items.list('sam');
    assert.deepEqual(kept.map((i) => i.text), ['Lives in Lisbon, Portugal.']);
    assert.equal(kept[0]!.origin?.messageId, reply.id);
    // The answers are stored with the conversation: a reload shows them answered.
    const storedReply = (await new ConversationStore(join(dir, 'conversations'), silentLogger).get(chat.activeConversation.id))?.messages.find((m) => m.id === reply.id);
    assert.deepEqual(storedReply?.proposals, [
      { text: 'Lives in Lisbon, Portugal.', state: 'kept' },
      { text: 'Has two cats.', state: 'dismissed' },
    ]);
    await assert.rejects(chat.resolveProposal(reply.id, 4, 'keep'), /no longer in this chat/);
  });

  it('what the persona remembers is not proposed again', async () => {
    await items.remember('sam', 'Lives in Lisbon.');
    await chat.send('I live in Lisbon with my two cats.');
    const reply = await lastReplyWhen((m) => m.proposals !== undefined);
    assert.deepEqual(reply.proposals?.map((p) => p.text), ['Has two cats.']);
    assert.ok(JSON.stringify(server.chatRequests.filter(asksForMemories)[0]!.body).includes('Lives in Lisbon.'), 'the model is told what is already remembered');
  });

  it('"automatic" keeps them at once and says so under the reply; "off" sends no second request', async () => {
    mode = 'automatic';
    await chat.send('I live in Lisbon with my two cats.');
    const reply = await lastReplyWhen((m) => m.proposals !== undefined);
    assert.deepEqual(reply.proposals?.map((p) => p.state), ['kept', 'kept']);
    assert.deepEqual((await items.list('sam')).map((i) => i.text).sort(), ['Has two cats.', 'Lives in Lisbon.']);

    mode = 'off';
    const before = server.chatRequests.length;
    await chat.send('Anything else?');
    await chat.idle();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(server.chatRequests.length, before + 1, 'only the reply was asked for');
  });

  it('a server that refuses the JSON schema gives one note, not one per reply, and keeps nothing', async () => {
    server.onRequest = (r, res) => {
      if (!asksForMemories(r)) return false;
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 400, message: 'JSON schema conversion failed: unsupported', type: 'invalid_request_error' } }));
      return true;
    };
    try {
      await chat.send('I live in Lisbon.');
      const first = await lastReplyWhen((m) => m.proposalNote !== undefined);
      assert.match(first.proposalNote!, /refused the structured \(JSON schema\) answer/);
      assert.equal(first.proposals, undefined);
      await chat.send('And I have two cats.');
      await chat.idle();
      await new Promise((r) => setTimeout(r, 300));
      const second = (await chat.viewState()).conversation!.messages.at(-1)!;
      assert.equal(second.proposalNote, undefined, 'said once');
      assert.equal(server.chatRequests.filter(asksForMemories).length, 2);
      assert.deepEqual(await items.list('sam'), []);
    } finally {
      server.onRequest = undefined;
    }
  });
});
