// Reasoning models against a real HTTP server: thinking in <think> tags in the content, or in a
// field of its own (`reasoning_content`, as LM Studio sends it when its setting separates it, and
// DeepSeek's API does). It is kept apart from the answer, shown while it streams, never sent back
// to the model, and the time to first token counts from the first token of either.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { ChatService, type ChatSettings } from '../../src/chat/chatService';
import { ConversationStore } from '../../src/chat/conversationStore';
import { PersonaRegistry } from '../../src/characters/personaRegistry';
import { silentLogger } from '../../src/util/logger';
import { testChatService } from '../support/testChatService';
import { MemoryPreferences } from '../support/memoryPreferences';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';

describe('reasoning models', () => {
  let server: FakeOpenAiServer;
  let dir: string;
  let personas: PersonaRegistry;
  let settings: ChatSettings;
  let chat: ChatService;

  before(async () => {
    server = await startFakeOpenAiServer({ tokenDelayMs: 1 });
    personas = await PersonaRegistry.load(join(__dirname, '../../characters'), silentLogger);
  });
  after(() => server.close());

  beforeEach(async () => {
    server.reset();
    server.onRequest = undefined;
    dir = await mkdtemp(join(tmpdir(), 'persona-reasoning-'));
    settings = { provider: 'local', baseUrl: server.url, model: '', sampling: {}, userName: 'Ada' };
    chat = testChatService({
      store: new ConversationStore(dir, silentLogger),
      personas,
      preferences: new MemoryPreferences(),
      settings: () => settings,
    });
    await chat.init();
  });
  afterEach(async () => {
    chat.stop();
    await chat.idle();
    await rm(dir, { recursive: true, force: true });
  });

  it('<think> in the content: kept apart from the answer, whatever the tokens cut, and never sent back', async () => {
    const text = '<think>\nTwo plus two. Simple arithmetic.\n</think>\n\nThe answer is 4.';
    // Tokens that cut both tags in two.
    server.setReply({ text, tokens: ['<thi', 'nk>\nTwo plus', ' two. Simple arithmetic.\n</th', 'ink>\n\n', 'The answer', ' is 4.'] });
    await chat.send('What is 2 + 2?');
    await chat.idle();
    const reply = chat.activeConversation.messages.at(-1)!;
    assert.equal(reply.content, 'The answer is 4.');
    assert.equal(reply.reasoning, '\nTwo plus two. Simple arithmetic.\n');

    server.setReply('Sure.');
    await chat.send('Thanks!');
    await chat.idle();
    const sent = (server.chatRequests.at(-1)!.body as { messages: { role: string; content: string }[] }).messages;
    assert.deepEqual(sent.find((m) => m.role === 'assistant' && m.content.includes('answer')), { role: 'assistant', content: 'The answer is 4.' });
    assert.ok(!sent.some((m) => m.content.includes('Simple arithmetic')), 'the reasoning was sent back to the model');
  });

  it('reasoning_content in its own field: shown while it streams, and the first token is the first reasoning token', async () => {
    server.onRequest = async (request, res) => {
      if (request.path !== '/v1/chat/completions') return false;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: object, finish: string | null = null) =>
        res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'fake-llm-7b', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
      await delay(50);
      chunk({ role: 'assistant', reasoning_content: 'Thinking about ' });
      await delay(150);
      chunk({ reasoning_content: 'the question.' });
      await delay(300);
      chunk({ content: 'Here is the answer.' });
      chunk({}, 'stop');
      res.end('data: [DONE]\n\n');
      return true;
    };
    const seen: { reasoning?: string; content: string }[] = [];
    const sub = chat.onDidChangeState(() => {
      const m = chat.activeConversation.messages.at(-1)!;
      if (m.role === 'assistant') seen.push({ ...(m.reasoning !== undefined ? { reasoning: m.reasoning } : {}), content: m.content });
    });
    await chat.send('Why?');
    await chat.idle();
    sub.dispose();
    const reply = chat.activeConversation.messages.at(-1)!;
    assert.equal(reply.reasoning, 'Thinking about the question.');
    assert.equal(reply.content, 'Here is the answer.');
    assert.ok(
      seen.some((s) => s.reasoning && s.content === ''),
      'the view never saw the reasoning before the answer',
    );
    // The first reasoning token came after ~50 ms, the answer after ~500 ms.
    assert.ok(reply.stats?.firstTokenMs !== undefined && reply.stats.firstTokenMs < 400, `first token after ${reply.stats?.firstTokenMs} ms`);
  });

  it('a reply that is only reasoning (cut off while thinking) is kept, not reported as empty', async () => {
    server.setReply({ text: '<think>Still thinking when the limit came', tokens: ['<think>', 'Still thinking', ' when the limit came'] });
    await chat.send('Think hard.');
    await chat.idle();
    const reply = chat.activeConversation.messages.at(-1)!;
    assert.equal(reply.status, 'complete');
    assert.equal(reply.reasoning, 'Still thinking when the limit came');
    assert.equal(reply.content, '');
  });
});
