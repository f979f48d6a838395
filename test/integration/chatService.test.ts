// The chat as the view drives it — send, stream, stop, regenerate, edit, switch persona, server
// down and back — against a real HTTP server speaking LM Studio's wire format, with conversations
// on a temp dir.
import assert from 'node:assert/strict';
import { displayedPath, siblingsOf } from '../../src/shared/conversationTree';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { ChatService, type ChatSettings, type DeltaEvent } from '../../src/chat/chatService';
import { ConversationStore } from '../../src/chat/conversationStore';
import { PersonaRegistry } from '../../src/characters/personaRegistry';
import { countTokens } from '../../src/util/tokenizer/countTokens';
import { describeError } from '../../src/chat/userMessages';
import { OpenAiCompatibleChatClient } from '../../src/providers/chatClient';
import { silentLogger } from '../../src/util/logger';
import { MemoryPreferences } from '../support/memoryPreferences';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';

describe('ChatService against a real OpenAI-compatible server', () => {
  let server: FakeOpenAiServer;
  let dir: string;
  let personas: PersonaRegistry;
  let settings: ChatSettings;
  let prefs: MemoryPreferences;
  let chat: ChatService;
  let deltas: DeltaEvent[];

  before(async () => {
    server = await startFakeOpenAiServer({ reply: 'Hello there, friend.', tokenDelayMs: 1 });
    personas = await PersonaRegistry.load(join(__dirname, '../../characters'), silentLogger);
  });
  after(() => server.close());

  const makeService = (store: ConversationStore) =>
    new ChatService({
      store,
      personas,
      preferences: prefs,
      settings: () => settings,
      createProvider: async (s) => new OpenAiCompatibleChatClient({ baseUrl: s.baseUrl, label: 'LM Studio', logger: silentLogger, requestTimeoutMs: 5000 }),
      countTokens,
      describeError,
      logger: silentLogger,
    });

  beforeEach(async () => {
    server.reset();
    server.setReply('Hello there, friend.', { tokenDelayMs: 1 });
    dir = await mkdtemp(join(tmpdir(), 'persona-chat-'));
    settings = { provider: 'local', baseUrl: server.url, model: '', sampling: {}, userName: 'Ada' };
    prefs = new MemoryPreferences();
    chat = makeService(new ConversationStore(dir, silentLogger));
    await chat.init();
    deltas = [];
    chat.onDelta((d) => deltas.push(d));
  });
  afterEach(async () => {
    chat.stop();
    await chat.idle();
    await rm(dir, { recursive: true, force: true });
  });

  it('opens with the default persona greeting, {{user}} replaced by the user name', async () => {
    const state = await chat.viewState();
    assert.equal(state.activePersonaId, 'sam');
    const greeting = state.conversation!.messages[0]!;
    assert.equal(greeting.greeting, true);
    assert.equal(greeting.content, personas.get('sam')!.greeting.replace(/\{\{user\}\}/gi, 'Ada'));
    assert.deepEqual(state.conversations, [], 'a greeting-only conversation is not saved');
  });

  it('streams a reply: the server receives the persona prompt and history, deltas join to the reply, and it is saved', async () => {
    const { messageId } = await chat.send('  How are you?  ');
    await chat.idle();

    const request = server.chatRequests.at(-1)!.body as { model: string; messages: { role: string; content: string }[]; stream: boolean; temperature: number };
    assert.equal(request.stream, true);
    assert.equal(request.model, 'fake-llm-7b', 'the loaded model, resolved from the server');
    assert.equal(request.messages[0]!.role, 'system');
    assert.ok(request.messages[0]!.content.startsWith('You are Sam'));
    assert.equal(request.temperature, personas.get('sam')!.sampling.temperature);
    assert.deepEqual(request.messages.at(-1), { role: 'user', content: 'How are you?' });

    const reply = chat.activeConversation.messages.at(-1)!;
    assert.equal(reply.id, messageId);
    assert.equal(reply.status, 'complete');
    assert.equal(reply.content, server.completions.at(-1)!.textSent);
    assert.ok(deltas.length > 1, 'the reply arrived in pieces');
    let offset = 0;
    for (const d of deltas) {
      assert.equal(d.offset, offset, 'offsets are contiguous');
      offset += d.text.length;
    }
    assert.equal(deltas.map((d) => d.text).join(''), reply.content);
    assert.deepEqual(reply.usage && Object.keys(reply.usage).sort(), ['completionTokens', 'promptTokens']);

    const reopened = makeService(new ConversationStore(dir, silentLogger));
    await reopened.init();
    assert.equal(reopened.activeConversation.id, chat.activeConversation.id, 'the active conversation survives a reload');
    assert.deepEqual(
      reopened.activeConversation.messages.map((m) => [m.role, m.content]),
      chat.activeConversation.messages.map((m) => [m.role, m.content]),
    );
    assert.equal((await reopened.viewState()).conversations[0]!.title, 'How are you?');
  });

  it('stop closes the HTTP stream and keeps what had arrived, marked stopped', async () => {
    server.setReply({ text: Array.from({ length: 400 }, (_, i) => `w${i}`).join(' '), tokenDelayMs: 10 });
    await chat.send('Tell me a long story');
    await server.waitFor(() => (server.completions.at(-1)?.tokensSent ?? 0) >= 5);
    chat.stop();
    await chat.idle();
    const record = server.completions.at(-1)!;
    await server.waitFor(() => record.outcome === 'clientClosed' || undefined);
    assert.ok(record.tokensSent < record.tokensPlanned);
    const reply = chat.activeConversation.messages.at(-1)!;
    assert.equal(reply.status, 'stopped');
    assert.ok(reply.content.length > 0);
    assert.ok(record.textSent.startsWith(reply.content), 'what is kept is what the server sent');
  });

  it('regenerate keeps the old reply as an alternative; edit-and-resend branches, the turns after the edited message stay on the old branch', async () => {
    await chat.send('first question');
    await chat.idle();
    await chat.send('second question');
    await chat.idle();
    const oldReply = displayedPath(chat.activeConversation).at(-1)!;
    server.setReply('A different answer.');
    await chat.regenerate();
    await chat.idle();
    let shown = displayedPath(chat.activeConversation);
    assert.deepEqual(shown.map((m) => m.role), ['assistant', 'user', 'assistant', 'user', 'assistant']);
    assert.equal(shown.at(-1)!.content, 'A different answer.');
    assert.ok(chat.activeConversation.messages.includes(oldReply), 'the old reply is kept');
    assert.deepEqual(siblingsOf(chat.activeConversation, shown.at(-1)!.id), { index: 1, count: 2, ids: [oldReply.id, shown.at(-1)!.id] });
    const sent = server.chatRequests.at(-1)!.body as { messages: { content: string }[] };
    assert.equal(sent.messages.at(-1)!.content, 'second question', 'the old reply is not sent back');

    const firstUser = shown[1]!;
    server.setReply('Answer to the edit.');
    await chat.edit(firstUser.id, 'first question, rephrased');
    await chat.idle();
    shown = displayedPath(chat.activeConversation);
    assert.deepEqual(shown.map((m) => m.content).slice(1), ['first question, rephrased', 'Answer to the edit.']);
    const edited = server.chatRequests.at(-1)!.body as { messages: { content: string }[] };
    assert.equal(edited.messages.length, 3, 'system, greeting, edited message');
    assert.equal(firstUser.content, 'first question', 'the message as it was stays on the old branch');
    assert.equal(chat.activeConversation.messages.length, 8, 'nothing was deleted');
  });

  it('switching persona gives the next message to the new persona, in a new conversation opened by its greeting', async () => {
    await chat.send('hi Sam');
    await chat.idle();
    const samConversation = chat.activeConversation.id;
    await chat.selectPersona('coding-guru');
    const state = await chat.viewState();
    assert.equal(state.activePersonaId, 'coding-guru');
    assert.notEqual(state.conversation!.id, samConversation);
    assert.equal(state.conversation!.personaId, 'coding-guru');
    assert.equal(state.conversation!.messages.length, 1);
    assert.equal(state.conversation!.messages[0]!.greeting, true);

    await chat.send('How do I reverse a list?');
    await chat.idle();
    const sent = server.chatRequests.at(-1)!.body as { messages: { content: string }[] };
    assert.ok(sent.messages[0]!.content.startsWith('You are Coding Guru'), sent.messages[0]!.content.slice(0, 40));

    // Going back to Sam's conversation makes Sam active again.
    await chat.selectConversation(samConversation);
    assert.equal(chat.persona().id, 'sam');
    assert.equal((await chat.viewState()).conversations.length, 2);
  });

  it('a server that is down gives an error a person can act on, and Retry answers once it is back', async () => {
    const down = await startFakeOpenAiServer();
    const url = down.url;
    await down.close();
    settings = { ...settings, baseUrl: url };
    chat.settingsChanged();
    await chat.checkConnection();
    let state = await chat.viewState();
    assert.equal(state.connection.status, 'down');
    assert.match(state.connection.message!, /LM Studio/);
    assert.ok(state.connection.message!.includes(url), 'names the URL');

    await chat.send('anyone there?');
    await chat.idle();
    const failed = chat.activeConversation.messages.at(-1)!;
    assert.equal(failed.status, 'error');
    assert.ok(failed.error!.includes(url));
    assert.equal(chat.activeConversation.messages.at(-2)!.content, 'anyone there?', 'the message is kept');

    settings = { ...settings, baseUrl: server.url };
    chat.settingsChanged();
    await chat.retry();
    await chat.idle();
    state = await chat.viewState();
    assert.equal(state.connection.status, 'ok');
    const answered = chat.activeConversation.messages;
    assert.equal(answered.at(-1)!.status, 'complete');
    assert.equal(answered.filter((m) => m.status === 'error').length, 0, 'the failed reply was replaced');
  });

  it('no model loaded and an empty stream become clear errors on the reply', async () => {
    server.failNext('noModelLoaded');
    await chat.send('hello?');
    await chat.idle();
    assert.match(chat.activeConversation.messages.at(-1)!.error!, /No model is loaded|load/i);

    server.failNext('emptyStream');
    await chat.regenerate();
    await chat.idle();
    const reply = chat.activeConversation.messages.at(-1)!;
    assert.equal(reply.status, 'error');
    assert.match(reply.error!, /empty|nothing/i);
  });

  it('refuses a second message while a reply streams, and keeps the first', async () => {
    server.setReply({ text: 'slow '.repeat(50), tokenDelayMs: 5 });
    await chat.send('one');
    await assert.rejects(chat.send('two'), /still being written/);
    await chat.idle();
    assert.deepEqual(chat.activeConversation.messages.filter((m) => m.role === 'user').map((m) => m.content), ['one']);
  });
});
