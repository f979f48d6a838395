// Chat settings in three levels, read at the server: each level's value reaches the request body
// LM Studio receives, a chat override is saved with the chat, Reset goes back to the level below, a
// new chat starts from the persona, and a reply keeps how fast it came.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { ChatService, type ChatSettings } from '../../src/chat/chatService';
import { ConversationStore } from '../../src/chat/conversationStore';
import { PersonaRegistry } from '../../src/characters/personaRegistry';
import { silentLogger } from '../../src/util/logger';
import { testChatService } from '../support/testChatService';
import { SentRecordStore } from '../../src/chat/sentRecords';
import { MemoryPreferences } from '../support/memoryPreferences';
import { defaultFakeModels, startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';

type Body = Record<string, unknown>;

describe('chat settings reach the server', () => {
  let server: FakeOpenAiServer;
  let dir: string;
  let personas: PersonaRegistry;
  let settings: ChatSettings;
  let chat: ChatService;
  let prefs: MemoryPreferences;

  const models = [
    ...defaultFakeModels,
    { id: 'other-llm-3b', type: 'llm' as const, state: 'not-loaded' as const, maxContextLength: 16384, arch: 'qwen2', quantization: 'Q8_0' },
  ];

  before(async () => {
    server = await startFakeOpenAiServer({ reply: 'One two three four five six.', tokenDelayMs: 1, models });
    personas = await PersonaRegistry.load(join(__dirname, '../../characters'), silentLogger);
  });
  after(() => server.close());

  const makeService = (store: ConversationStore, sentRecords?: SentRecordStore) =>
    testChatService({ store, personas, preferences: prefs, settings: () => settings, ...(sentRecords ? { sentRecords } : {}) });

  beforeEach(async () => {
    server.reset();
    server.setModels(models);
    dir = await mkdtemp(join(tmpdir(), 'persona-settings-'));
    settings = { provider: 'local', baseUrl: server.url, model: '', sampling: {}, userName: 'Ada' };
    prefs = new MemoryPreferences();
    chat = makeService(new ConversationStore(dir, silentLogger));
    await chat.init();
  });
  afterEach(async () => {
    chat.stop();
    await chat.idle();
    await rm(dir, { recursive: true, force: true });
  });

  const turn = async (text: string): Promise<Body> => {
    const before = server.chatRequests.length;
    await chat.send(text);
    await chat.idle();
    assert.equal(server.chatRequests.length, before + 1);
    return server.chatRequests.at(-1)!.body as Body;
  };

  it('your settings < the persona < this chat, each value in the request LM Studio receives', async () => {
    const sam = personas.get('sam')!;
    assert.ok(sam.sampling.temperature !== undefined, 'the test needs a persona with its own temperature');
    settings.sampling = { temperature: 0.1, topK: 30, seed: 5, stop: ['\nAda:'], repeatPenalty: 1.1 };

    let body = await turn('First.');
    assert.equal(body['temperature'], sam.sampling.temperature, "the persona's temperature over your setting");
    assert.equal(body['top_k'], 30);
    assert.equal(body['seed'], 5);
    assert.deepEqual(body['stop'], ['\nAda:']);
    assert.equal(body['repeat_penalty'], 1.1);
    assert.equal(body['max_tokens'], sam.sampling.maxTokens ?? 1024);
    assert.equal(body['min_p'], undefined, 'nothing sets min P: not sent');

    await chat.setChatSetting('temperature', 1.4);
    await chat.setChatSetting('maxTokens', 3);
    await chat.setChatSetting('minP', 0.05);
    await chat.setChatSetting('model', 'other-llm-3b');
    await chat.setChatSetting('presencePenalty', 0.6);
    await chat.setChatSetting('frequencyPenalty', -0.4);
    await chat.setChatSetting('topP', 0.85);
    body = await turn('Second.');
    assert.equal(body['presence_penalty'], 0.6);
    assert.equal(body['frequency_penalty'], -0.4);
    assert.equal(body['top_p'], 0.85);
    assert.equal(body['temperature'], 1.4);
    assert.equal(body['max_tokens'], 3);
    assert.equal(body['min_p'], 0.05);
    assert.equal(body['model'], 'other-llm-3b');
    assert.equal(server.completions.at(-1)!.tokensSent, 3, 'the server honoured max_tokens');

    const state = await chat.viewState();
    assert.deepEqual(state.settings.temperature, { value: 1.4, origin: 'chat', below: { value: sam.sampling.temperature, origin: 'persona' } });
    assert.deepEqual(state.settings.topK, { value: 30, origin: 'settings' });

    // The overrides were saved with the chat: a reload (a new service on the same folder) keeps them.
    const reopened = makeService(new ConversationStore(dir, silentLogger));
    await reopened.init();
    assert.equal(reopened.effectiveSettings().temperature.value, 1.4);
    assert.equal(reopened.effectiveSettings().model.value, 'other-llm-3b');

    await chat.setChatSetting('temperature', null);
    body = await turn('Third.');
    assert.equal(body['temperature'], sam.sampling.temperature, 'Reset goes back to the persona');

    await chat.newConversation();
    assert.equal(chat.activeConversation.overrides, undefined, 'a new chat starts without overrides');
    body = await turn('Fresh.');
    assert.equal(body['temperature'], sam.sampling.temperature);
    assert.equal(body['min_p'], undefined);
    assert.equal(body['model'], 'fake-llm-7b', 'the loaded model again');
  });

  it('a value out of range is refused with the range, and nothing changes', async () => {
    await chat.setChatSetting('temperature', 0.9);
    await assert.rejects(chat.setChatSetting('temperature', 7), /Temperature must be a number from 0 to 2/);
    await assert.rejects(chat.setChatSetting('topK', 2.5), /Top K must be a whole number/);
    await assert.rejects(chat.setChatSetting('model', '   '), /Choose a model/);
    assert.deepEqual(chat.activeConversation.overrides, { temperature: 0.9 });
  });

  it('top K, min P and repeat penalty are not sent to a cloud endpoint', async () => {
    settings = { ...settings, provider: 'cloud', sampling: { topK: 30, minP: 0.1, repeatPenalty: 1.2, temperature: 0.3 } };
    const body = await turn('Hi.');
    assert.equal(body['top_k'], undefined);
    assert.equal(body['min_p'], undefined);
    assert.equal(body['repeat_penalty'], undefined);
    assert.equal(body['temperature'], personas.get('sam')!.sampling.temperature);
  });

  it('a reply keeps its time to first token, its speed and the settings this chat changed', async () => {
    server.setReply({ text: 'alpha beta gamma delta epsilon', firstTokenDelayMs: 120, tokenDelayMs: 25 });
    await chat.setChatSetting('topP', 0.42);
    await turn('Go.');
    const reply = chat.activeConversation.messages.at(-1)!;
    const served = server.completions.at(-1)!;
    assert.equal(reply.status, 'complete');
    assert.ok(reply.stats, 'no stats');
    // The server waited 120 ms before its first token: the measured wait cannot be shorter.
    assert.ok(reply.stats.firstTokenMs! >= 120, `first token after ${reply.stats.firstTokenMs} ms`);
    assert.ok(reply.stats.totalMs >= reply.stats.firstTokenMs!);
    assert.deepEqual(reply.usage, { promptTokens: served.usage!.prompt_tokens, completionTokens: served.usage!.completion_tokens });
    // Four tokens after the first, 25 ms apart: at most 40 per second.
    assert.ok(reply.stats.tokensPerSecond! > 0 && reply.stats.tokensPerSecond! <= 40, `${reply.stats.tokensPerSecond} tokens/s`);
    assert.deepEqual(reply.overrides, { topP: 0.42 });
  });

  it('a stopped reply keeps its stats and says it was stopped', async () => {
    server.setReply({ text: 'one two three four five six seven eight nine ten', tokenDelayMs: 40, firstTokenDelayMs: 0 });
    await chat.send('Go.');
    while (chat.activeConversation.messages.at(-1)!.content.length === 0) await new Promise((r) => setTimeout(r, 5));
    chat.stop();
    await chat.idle();
    const reply = chat.activeConversation.messages.at(-1)!;
    assert.equal(reply.status, 'stopped');
    assert.ok(reply.stats && reply.stats.firstTokenMs !== undefined);
  });

  it('the model list offers chat models only, with load state and context', async () => {
    const list = await chat.listChatModels();
    assert.deepEqual(
      list.map((m) => m.id),
      ['fake-llm-7b', 'other-llm-3b'],
    );
    const other = list.find((m) => m.id === 'other-llm-3b')!;
    assert.equal(other.state, 'not-loaded');
    assert.equal(other.maxContextLength, 16384);
    assert.equal(other.quantization, 'Q8_0');
    assert.equal(list[0]!.loadedContextLength, 8192);
  });

  it('the context meter counts the next request as it will be sent: its left-out turns are the ones the request leaves out, and the server\'s count corrects it', async () => {
    server.setModels([{ id: 'small-llm', type: 'llm', state: 'loaded', maxContextLength: 4096, loadedContextLength: 2000 }]);
    await chat.checkConnection();
    const empty = await chat.estimateContext('');
    assert.equal(empty.limit, 2000, "the model's loaded context, not its maximum");
    assert.equal(empty.parts.draft, 0);
    assert.deepEqual(empty.leftOut, []);
    assert.equal(empty.leftOutCount, 0);
    assert.equal(empty.parts.reply, personas.get('sam')!.sampling.maxTokens ?? 1024);

    await chat.setChatSetting('maxTokens', 200);
    const long = 'A long message that takes up a fair part of a small context window. '.repeat(12);
    for (let i = 0; i < 4; i++) await turn(`${i}: ${long}`);

    const draft = `And one more: ${long}`;
    const estimate = await chat.estimateContext(draft);
    assert.ok(estimate.parts.draft > 100);
    assert.ok(estimate.leftOutCount > 0, 'a small context must leave turns out');
    assert.equal(estimate.leftOut.length, Math.min(estimate.leftOutCount, 20));
    assert.ok(estimate.used <= 2000, `${estimate.used} tokens estimated for a context of 2000`);

    const before = server.chatRequests.length;
    await chat.send(draft);
    await chat.idle();
    assert.equal(server.chatRequests.length, before + 1);
    const sent = (server.chatRequests.at(-1)!.body as { messages: { content: string }[] }).messages;
    const conversationTurns = chat.activeConversation.messages.slice(0, -1).filter((m) => m.content.length > 0).length;
    // The system prompt, then the turns kept: the ones left out are the estimate's.
    assert.equal(conversationTurns - (sent.length - 1), estimate.leftOutCount, 'the request left out another number of turns than the meter said');

    // Corrected by the server's own count of the previous prompt: close to what the server counted for this one.
    const served = server.completions.at(-1)!.usage!.prompt_tokens;
    const estimatedPrompt = estimate.used - estimate.parts.reply;
    assert.ok(Math.abs(estimatedPrompt - served) / served < 0.1, `estimated ${estimatedPrompt} prompt tokens, the server counted ${served}`);
  });

  it('a model that is not loaded: the view is told it is loading until the first token, then the loaded context is learned', async () => {
    await chat.listChatModels();
    await chat.setChatSetting('model', 'other-llm-3b');
    server.setReply({ text: 'Loaded and answering.', firstTokenDelayMs: 300, tokenDelayMs: 1 });
    const seen: (string | undefined)[] = [];
    const sub = chat.onDidChangeState(() => void chat.viewState().then((s) => seen.push(s.streaming?.loadingModel)));
    await chat.send('Hello?');
    await chat.idle();
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(seen.includes('other-llm-3b'), 'the view was never told the model is loading');
    assert.equal((await chat.viewState()).streaming, null);
    // The server loaded it with a context of its own: the next turn's budget uses that one.
    await new Promise((r) => setTimeout(r, 100));
    seen.length = 0;
    await chat.send('Again?');
    await chat.idle();
    sub.dispose();
    assert.ok(!seen.includes('other-llm-3b'), 'a loaded model was announced as loading');
    assert.equal((await chat.estimateContext('')).limit, 4096, 'the loaded context, learned after the first reply');
  });

  it('a value the server refuses (HTTP 400 naming the field): the reply says which setting to change, and the message typed is kept', async () => {
    server.onRequest = (request, res) => {
      const body = request.body as Record<string, unknown> | undefined;
      if (request.path !== '/v1/chat/completions' || body?.['top_k'] === undefined) return false;
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'Unrecognized request argument supplied: top_k', type: 'invalid_request_error', param: null, code: null } }));
      return true;
    };
    try {
      await chat.setChatSetting('topK', 12);
      await chat.send('Keep this message, please.');
      await chat.idle();
      const [user, reply] = chat.activeConversation.messages.slice(-2);
      assert.equal(user!.content, 'Keep this message, please.');
      assert.equal(reply!.status, 'error');
      assert.match(reply!.error!, /refused the value of top_k/);
      assert.match(reply!.error!, /Top K in the view's Chat settings/);
      // Reset, then Regenerate: the same message goes again without the refused field.
      await chat.setChatSetting('topK', null);
      await chat.regenerate();
      await chat.idle();
      assert.equal(chat.activeConversation.messages.at(-1)!.status, 'complete');
      assert.equal((server.chatRequests.at(-1)!.body as { messages: { content: string }[] }).messages.at(-1)!.content, 'Keep this message, please.');
    } finally {
      server.onRequest = undefined;
    }
  });

  it('compare: one message to two set-ups, one request after the other, the same history; the kept reply continues the chat with its set-up', async () => {
    const records = new SentRecordStore(join(dir, 'sent'), silentLogger);
    chat = makeService(new ConversationStore(dir, silentLogger), records);
    await chat.init();
    await turn('Before the comparison.');
    server.setReply((request) => `Answer at temperature ${(request.body as { temperature: number }).temperature}.`);
    const updates: string[] = [];
    const before = server.chatRequests.length;
    const result = await chat.compare(
      'Which is better?',
      [{ label: 'This chat' }, { label: 'Hot', overrides: { temperature: 1.5, model: 'other-llm-3b' } }],
      (c) => updates.push(c.columns.map((col) => col.status).join('/')),
      new AbortController().signal,
    );
    assert.equal(server.chatRequests.length, before + 2);
    const [a, b] = server.completions.slice(-2);
    assert.ok(a!.endedAt! <= b!.receivedAt, 'the second request went out before the first reply ended');
    const [bodyA, bodyB] = server.chatRequests.slice(-2).map((r) => r.body as { messages: unknown[]; temperature: number; model: string });
    assert.deepEqual(bodyA!.messages, bodyB!.messages, 'the two set-ups were not sent the same messages');
    assert.equal(bodyB!.temperature, 1.5);
    assert.equal(bodyB!.model, 'other-llm-3b');
    assert.equal(bodyA!.temperature, personas.get('sam')!.sampling.temperature);
    assert.deepEqual(result.columns.map((c) => [c.status, c.reply.content]), [
      ['complete', a!.textSent],
      ['complete', b!.textSent],
    ]);
    assert.ok(updates.includes('streaming/waiting') && updates.includes('complete/streaming'), updates.join(' '));
    assert.equal(chat.activeConversation.messages.length, 3, 'comparing added something to the chat');

    const sentB = await chat.sentForCompared(result, 1);
    assert.equal(JSON.stringify(sentB.record!.messages), JSON.stringify(bodyB!.messages));

    await chat.keepCompared(result, 1);
    const messages = chat.activeConversation.messages;
    assert.deepEqual(messages.slice(-2).map((m) => [m.role, m.content]), [
      ['user', 'Which is better?'],
      ['assistant', b!.textSent],
    ]);
    assert.equal(chat.activeConversation.overrides?.temperature, 1.5);
    await assert.rejects(chat.keepCompared(result, 0), /moved on/);
    await turn('And then?');
    assert.equal((server.chatRequests.at(-1)!.body as { temperature: number }).temperature, 1.5, 'the chat did not go on with the kept set-up');
  });
});
