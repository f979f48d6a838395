// A conversation with branches, read at the server: the history sent with a message is exactly the
// path the view shows — another alternative of an earlier reply, and the turns that followed the one
// shown; a checkpoint ("Go back to here") and what is sent after it — and the branches survive a
// reload. (Regenerate and Edit are tested through ChatService in chatService.test.ts; here the
// first branch is made with conversationTree's function directly.)
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { ChatService, ChatSettings } from '../../src/chat/chatService';
import { ConversationStore } from '../../src/chat/conversationStore';
import { PersonaRegistry } from '../../src/characters/personaRegistry';
import { addAlternative, displayedPath, showSibling } from '../../src/shared/conversationTree';
import { exportConversation } from '../../src/chat/conversationExport';
import { parseConversationFile } from '../../src/chat/conversationImport';
import { silentLogger } from '../../src/util/logger';
import { MemoryPreferences } from '../support/memoryPreferences';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';
import { testChatService } from '../support/testChatService';

describe('the request follows the path on screen', () => {
  let server: FakeOpenAiServer;
  let dir: string;
  let personas: PersonaRegistry;
  let settings: ChatSettings;
  let chat: ChatService;
  let n = 0;

  before(async () => {
    server = await startFakeOpenAiServer({ reply: () => `Reply ${++n}.`, tokenDelayMs: 1 });
    personas = await PersonaRegistry.load(join(__dirname, '../../characters'), silentLogger);
  });
  after(() => server.close());

  const makeService = () => testChatService({ store: new ConversationStore(dir, silentLogger), personas, preferences: new MemoryPreferences(), settings: () => settings });

  beforeEach(async () => {
    server.reset();
    n = 0;
    dir = await mkdtemp(join(tmpdir(), 'persona-tree-'));
    settings = { provider: 'local', baseUrl: server.url, model: '', sampling: {}, userName: 'Ada' };
    chat = makeService();
    await chat.init();
  });
  afterEach(async () => {
    chat.stop();
    await chat.idle();
    await rm(dir, { recursive: true, force: true });
  });

  const turn = async (text: string) => {
    await chat.send(text);
    await chat.idle();
    const body = server.chatRequests.at(-1)!.body as { messages: { role: string; content: string }[] };
    // Without the system prompt: the turns sent.
    return body.messages.slice(1).map((m) => m.content);
  };
  const shown = async (service: ChatService) => (await service.viewState()).conversation!.messages.map((m) => m.content);

  it('sends the alternative shown and the turns after it, never another branch; a reload shows the same path', async () => {
    const greeting = chat.activeConversation.messages[0]!.content;
    await turn('First question');
    await turn('Second question');
    const conversation = chat.activeConversation;
    const firstReply = displayedPath(conversation)[2]!;
    assert.equal(firstReply.content, 'Reply 1.');

    // Another reply to the first question, shown in place of the first: the later turns are hidden.
    addAlternative(conversation, firstReply.id, { id: 'other-reply', role: 'assistant', content: 'Another first reply.', createdAt: Date.now(), status: 'complete' });
    assert.deepEqual(await shown(chat), [greeting, 'First question', 'Another first reply.']);
    assert.deepEqual(await turn('Third question'), [greeting, 'First question', 'Another first reply.', 'Third question']);

    // Back to the first reply: the turns that followed it come back, and the next message continues them.
    assert.equal(showSibling(conversation, 'other-reply', -1), firstReply.id);
    assert.deepEqual(await shown(chat), [greeting, 'First question', 'Reply 1.', 'Second question', 'Reply 2.']);
    assert.deepEqual(await turn('Fourth question'), [greeting, 'First question', 'Reply 1.', 'Second question', 'Reply 2.', 'Fourth question']);
    assert.equal(conversation.messages.length, 10, 'every branch is kept');

    // A new window on the same storage shows the same path, and every branch is still there.
    const reopened = makeService();
    await reopened.init();
    await reopened.selectConversation(conversation.id);
    assert.deepEqual(await shown(reopened), [greeting, 'First question', 'Reply 1.', 'Second question', 'Reply 2.', 'Fourth question', 'Reply 4.']);
    assert.equal(reopened.activeConversation.messages.length, 10);
  });

  it('"Go back to here" ends the chat at a message, sends only up to it, and the next message branches there; nothing is deleted', async () => {
    const greeting = chat.activeConversation.messages[0]!.content;
    await turn('First question');
    await turn('Second question');
    await turn('Third question');
    const conversation = chat.activeConversation;
    const firstReply = displayedPath(conversation)[2]!;

    await chat.goBackTo(firstReply.id);
    const state = (await chat.viewState()).conversation!;
    assert.deepEqual(state.messages.map((m) => m.content), [greeting, 'First question', 'Reply 1.']);
    assert.equal(state.messages.at(-1)!.hiddenAfter, 4, 'the view is told how many later messages are hidden');
    assert.equal(conversation.messages.length, 7, 'nothing is deleted');
    assert.equal((await chat.viewState()).conversations.find((c) => c.id === conversation.id)?.messageCount, 3, 'the list counts the path shown');

    // Shown again, then back once more: the hidden turns return unchanged.
    await chat.showHidden();
    assert.deepEqual(await shown(chat), [greeting, 'First question', 'Reply 1.', 'Second question', 'Reply 2.', 'Third question', 'Reply 3.']);
    await chat.goBackTo(firstReply.id);

    // A reload keeps the checkpoint.
    const reopened = makeService();
    await reopened.init();
    await reopened.selectConversation(conversation.id);
    assert.deepEqual(await shown(reopened), [greeting, 'First question', 'Reply 1.']);

    // The next message is sent with the path up to the checkpoint only, and branches from there.
    assert.deepEqual(await turn('Another second question'), [greeting, 'First question', 'Reply 1.', 'Another second question']);
    const after = (await chat.viewState()).conversation!.messages;
    assert.deepEqual(after.map((m) => m.content), [greeting, 'First question', 'Reply 1.', 'Another second question', 'Reply 4.']);
    assert.deepEqual(after[3]!.branch, [2, 2], 'the old continuation is one step back');
    assert.equal(after.at(-1)!.hiddenAfter, undefined);

    // A message on the other branch (a search hit there) is shown with its own path when asked for.
    const hidden = conversation.messages.find((m) => m.content === 'Third question')!;
    await chat.showMessage(hidden.id);
    assert.deepEqual(await shown(chat), [greeting, 'First question', 'Reply 1.', 'Second question', 'Reply 2.', 'Third question', 'Reply 3.']);
    assert.deepEqual(await turn('Fourth question'), [greeting, 'First question', 'Reply 1.', 'Second question', 'Reply 2.', 'Third question', 'Reply 3.', 'Fourth question']);
    assert.equal(conversation.messages.length, 11, 'every branch is kept');
  });

  it('a chat exported as JSON and imported opens as a copy on the same path, and the next message is sent from it', async () => {
    const greeting = chat.activeConversation.messages[0]!.content;
    await turn('First question');
    await turn('Second question');
    const original = chat.activeConversation;
    await chat.goBackTo(displayedPath(original)[2]!.id);

    const copy = parseConversationFile(exportConversation(original, 'Sam', 'json'), 'imported-copy', Date.now());
    assert.deepEqual(await chat.importConversation(copy), { personaFound: true });
    assert.equal(chat.activeConversation.id, 'imported-copy');
    assert.deepEqual(await shown(chat), [greeting, 'First question', 'Reply 1.']);
    assert.deepEqual(await turn('From the copy'), [greeting, 'First question', 'Reply 1.', 'From the copy']);
    const ids = (await chat.viewState()).conversations.map((c) => c.id);
    assert.ok(ids.includes(original.id) && ids.includes('imported-copy'), 'the import replaced the original');
    await assert.rejects(chat.importConversation({ ...copy }), /already exists/);
  });
});
