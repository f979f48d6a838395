// Chatting with an imported card against a real HTTP server: the card's fields reach the model the
// way card authors expect, people-only fields never do, lorebook entries follow the recent chat, and
// deleting the persona leaves its conversation readable.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prepareImport } from '../../src/characters/cardImport';
import { ChatService, type ChatSettings } from '../../src/chat/chatService';
import { ConversationStore } from '../../src/chat/conversationStore';
import { CustomPersonaStore } from '../../src/characters/customPersonaStore';
import { PersonaRegistry } from '../../src/characters/personaRegistry';
import { countTokens } from '../../src/util/tokenizer/countTokens';
import { describeError } from '../../src/chat/userMessages';
import { OpenAiCompatibleChatClient } from '../../src/providers/chatClient';
import { silentLogger } from '../../src/util/logger';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';
import { sampleV2Card, v2PngCard } from '../support/v2PngCard';

type Sent = { messages: { role: string; content: string }[] };

describe('chatting with an imported card', () => {
  let server: FakeOpenAiServer;
  let root: string;
  let registry: PersonaRegistry;
  let chat: ChatService;
  let store: ConversationStore;
  const values = new Map<string, unknown>();

  before(async () => {
    server = await startFakeOpenAiServer({ reply: 'Aye.', tokenDelayMs: 1 });
    root = await mkdtemp(join(tmpdir(), 'persona-cardchat-'));
    registry = await PersonaRegistry.load(join(__dirname, '../../characters'), silentLogger, new CustomPersonaStore(join(root, 'personas'), silentLogger));
    store = new ConversationStore(join(root, 'conversations'), silentLogger);
    const settings: ChatSettings = { provider: 'local', baseUrl: server.url, model: '', sampling: {}, userName: 'Ada' };
    chat = new ChatService({
      store,
      personas: registry,
      preferences: { get: <T>(k: string) => values.get(k) as T, update: async (k, v) => void values.set(k, v) },
      settings: () => settings,
      createProvider: async (s) => new OpenAiCompatibleChatClient({ baseUrl: s.baseUrl, label: 'LM Studio', logger: silentLogger, requestTimeoutMs: 5000 }),
      countTokens,
      describeError,
      logger: silentLogger,
    });
    await chat.init();
  });
  after(async () => {
    chat.stop();
    await chat.idle();
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  it('opens with the greeting, sends the description, and the lorebook entry only once its key is mentioned', async () => {
    const prepared = prepareImport(v2PngCard(sampleV2Card()), { fileName: 'vell.png', taken: (id) => registry.get(id) !== undefined });
    await registry.addCustom(prepared.persona, prepared.avatar);
    await chat.selectPersona(prepared.persona.id);

    const greeting = chat.activeConversation.messages[0]!;
    assert.equal(greeting.content, 'Ahoy, Ada! Captain Vell at your service. Dry yourself by the fire.');

    await chat.send('Good evening.');
    await chat.idle();
    const first = server.chatRequests.at(-1)!.body as Sent;
    const system = first.messages[0]!;
    assert.equal(system.role, 'system');
    assert.ok(system.content.startsWith("Write Captain Vell's next reply in a fictional chat between Captain Vell and Ada."), system.content.slice(0, 80));
    assert.match(system.content, /Captain Vell is the keeper of the Quillmoor lighthouse/);
    assert.match(system.content, /Captain Vell's personality: gruff/);
    assert.match(system.content, /Scenario: Ada has washed ashore/);
    assert.match(system.content, /Ada: Who are you\?\nCaptain Vell: The one who keeps the light burning\./);
    assert.doesNotMatch(JSON.stringify(first), /LORE:|NEVER-SENT/);

    await chat.send('Tell me about the LIGHTHOUSE.');
    await chat.idle();
    const second = server.chatRequests.at(-1)!.body as Sent;
    assert.match(second.messages[0]!.content, /LORE: The Quillmoor lighthouse lamp is fed with whale oil/);
    assert.doesNotMatch(JSON.stringify(second), /NEVER-SENT/);
  });

  it('deleting the persona starts over with the default one and keeps its conversation readable', async () => {
    const id = chat.persona().id;
    const conversationId = chat.activeConversation.id;
    await chat.deletePersona(id);
    assert.equal(registry.get(id), undefined);
    assert.equal(chat.persona().id, 'sam');
    assert.notEqual(chat.activeConversation.id, conversationId);
    const state = await chat.viewState();
    assert.ok(state.conversations.some((c) => c.id === conversationId), 'still listed');
    await chat.selectConversation(conversationId);
    assert.equal(chat.activeConversation.messages.length, 5);
    assert.equal(chat.activeConversation.personaName, 'Captain Vell');
    // Read-only: nobody else answers in the deleted persona's name.
    const requests = server.chatRequests.length;
    await assert.rejects(chat.send('Are you still there?'), /Captain Vell was deleted, so this chat is read-only/);
    await assert.rejects(chat.regenerate(), /read-only/);
    assert.equal(server.chatRequests.length, requests);
    assert.equal(chat.activeConversation.messages.length, 5);
    assert.equal(chat.persona().id, 'sam', 'the picker keeps a persona that exists');
    await assert.rejects(chat.deletePersona('sam'), /built-in/);
  });
});
