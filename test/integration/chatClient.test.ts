// OpenAiCompatibleChatClient against a real HTTP server speaking LM Studio's wire format. Assertions
// are on what the server received and sent, not on what the client reports about itself.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { OpenAiCompatibleChatClient, type ChatClientOptions } from '../../src/providers/chatClient';
import { describeProviderError, ProviderError, type ProviderErrorReason } from '../../src/providers/errors';
import type { ChatRequest, ChatStreamEvent } from '../../src/providers/types';
import type { Logger } from '../../src/util/logger';
import { FakeOpenAiServer, lmStudioTexts, now, startFakeOpenAiServer, type FakeFailureMode } from '../support/fakeOpenAiServer';

interface CapturingLogger extends Logger {
  lines: string[];
  text(): string;
}

function capturingLogger(): CapturingLogger {
  const lines: string[] = [];
  const record =
    (level: string) =>
    (message: string | Error, ...args: unknown[]) => {
      lines.push(`${level} ${message instanceof Error ? `${message.message} ${message.stack ?? ''}` : message} ${args.map((a) => (a instanceof Error ? `${a.message} ${a.stack ?? ''}` : JSON.stringify(a))).join(' ')}`);
    };
  return { lines, text: () => lines.join('\n'), trace: record('trace'), debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
}

const messages: ChatRequest['messages'] = [
  { role: 'system', content: 'You are a terse pirate.' },
  { role: 'user', content: 'Say hello.' },
];

function client(server: { url: string }, options: Partial<ChatClientOptions> = {}) {
  const logger = capturingLogger();
  const chat = new OpenAiCompatibleChatClient({ baseUrl: server.url, label: 'LM Studio', logger, maxRetries: 0, requestTimeoutMs: 5000, ...options });
  return { chat, logger };
}

/** Runs a stream to its end; returns the events with the time each arrived, and the error it ended with. */
async function collect(stream: AsyncIterable<ChatStreamEvent>, onEvent?: (event: ChatStreamEvent, index: number) => void) {
  const events: Array<ChatStreamEvent & { at: number }> = [];
  let error: unknown;
  try {
    for await (const event of stream) {
      events.push({ ...event, at: now() });
      onEvent?.(event, events.length - 1);
    }
  } catch (e) {
    error = e;
  }
  const deltas = events.filter((e): e is Extract<ChatStreamEvent, { type: 'delta' }> & { at: number } => e.type === 'delta');
  return { events, deltas, text: deltas.map((d) => d.text).join(''), error };
}

function assertReason(error: unknown, reason: ProviderErrorReason): asserts error is ProviderError {
  assert.ok(ProviderError.is(error), `expected a ProviderError, got ${String(error)}`);
  assert.equal(error.reason, reason, `expected reason ${reason}, got ${error.reason}: ${error.message}`);
}

describe('OpenAiCompatibleChatClient against the fake LM Studio server', () => {
  let server: FakeOpenAiServer;

  before(async () => {
    server = await startFakeOpenAiServer();
  });
  after(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.reset();
    server.setReply('Ahoy there, matey! The sea be calm today.', { tokenDelayMs: 0, firstTokenDelayMs: 0 });
    server.setModels([
      { id: 'fake-llm-7b', type: 'llm', state: 'loaded', maxContextLength: 32768, loadedContextLength: 8192 },
      { id: 'text-embedding-fake', type: 'embeddings', state: 'not-loaded', maxContextLength: 2048 },
    ]);
    server.setNativeApi(true);
    server.setApiKey(undefined);
    server.onRequest = undefined;
  });

  test('streams deltas as the server writes them, and they join to the reply the server sent', async () => {
    server.setReply('Ahoy there, matey! The sea be calm today.', { tokenDelayMs: 25, firstTokenDelayMs: 10 });
    const { chat } = client(server);
    const result = await collect(chat.streamChat({ messages, temperature: 0.3, maxTokens: 200 }));

    assert.equal(result.error, undefined);
    const [completion] = server.completions;
    assert.ok(completion);
    assert.equal(completion.outcome, 'completed');
    assert.equal(result.text, completion.textSent);
    assert.equal(result.deltas.length, completion.tokensSent);
    assert.ok(completion.tokensSent > 5);
    // Incremental: the first delta reached the client before the server had written the last token.
    assert.ok(completion.endedAt !== undefined);
    assert.ok(result.deltas[0]!.at < completion.endedAt - 25 * 3, 'first delta arrived only at the end of the stream');
    assert.deepEqual(
      result.events.map((e) => e.type),
      ['start', ...result.deltas.map(() => 'delta'), 'usage', 'done'],
    );
    assert.deepEqual(result.events[0], { type: 'start', model: 'fake-llm-7b', at: result.events[0]!.at });
    assert.equal((result.events.at(-1) as { finishReason: string | null }).finishReason, 'stop');

    // What went over the wire.
    const [request] = server.chatRequests;
    assert.ok(request);
    const body = request.body as Record<string, unknown>;
    assert.equal(body['model'], 'fake-llm-7b');
    assert.equal(body['stream'], true);
    assert.deepEqual(body['stream_options'], { include_usage: true });
    assert.deepEqual(body['messages'], messages);
    assert.equal(body['temperature'], 0.3);
    assert.equal(body['max_tokens'], 200);
    assert.equal(request.headers['authorization'], 'Bearer not-needed');
  });

  test('reports the usage the server sent in its final chunk', async () => {
    const { chat } = client(server);
    const result = await collect(chat.streamChat({ model: 'fake-llm-7b', messages }));
    const usage = result.events.find((e) => e.type === 'usage');
    const sent = server.completions[0]?.usage;
    assert.ok(sent, 'server did not send usage');
    assert.deepEqual(usage && { promptTokens: (usage as { promptTokens: number }).promptTokens, completionTokens: (usage as { completionTokens: number }).completionTokens }, {
      promptTokens: sent.prompt_tokens,
      completionTokens: sent.completion_tokens,
    });
  });

  test('a configured model is sent as is, without asking for the model list', async () => {
    const { chat } = client(server);
    const result = await collect(chat.streamChat({ model: 'text-embedding-fake-or-other', messages }));
    assertReason(result.error, 'modelNotFound');
    assert.deepEqual(
      server.requests.map((r) => `${r.method} ${r.path}`),
      ['POST /v1/chat/completions'],
    );
    assert.equal((server.chatRequests[0]?.body as { model: string }).model, 'text-embedding-fake-or-other');
    assert.equal(result.error.model, 'text-embedding-fake-or-other');
    assert.match(describeProviderError(result.error), /text-embedding-fake-or-other/);
    assert.match(describeProviderError(result.error), /persona\.chat\.model/);
  });

  test('abort mid-stream ends with "aborted" and the server sees the connection close', async () => {
    server.setReply('one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen', { tokenDelayMs: 40 });
    const { chat } = client(server);
    const controller = new AbortController();
    const result = await collect(chat.streamChat({ messages, signal: controller.signal }), (event) => {
      if (event.type === 'delta' && event.text.includes('two')) controller.abort();
    });

    assertReason(result.error, 'aborted');
    const completion = await server.waitFor(() => server.completions.find((c) => c.outcome !== 'pending'));
    assert.equal(completion.outcome, 'clientClosed');
    assert.ok(completion.tokensSent < completion.tokensPlanned, `server sent all ${completion.tokensPlanned} tokens`);
    const connection = await server.waitFor(() => {
      const c = server.connectionOf(completion);
      return c?.closedAt !== undefined && c;
    });
    assert.ok(connection.closedAt! <= now());
    assert.equal(result.events.at(-1)?.type, 'delta');
  });

  test('a consumer that stops reading closes the connection too', async () => {
    server.setReply('alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu', { tokenDelayMs: 40 });
    const { chat } = client(server);
    for await (const event of chat.streamChat({ messages })) {
      if (event.type === 'delta') break;
    }
    const completion = await server.waitFor(() => server.completions.find((c) => c.outcome !== 'pending'));
    assert.equal(completion.outcome, 'clientClosed');
    await server.waitFor(() => server.connectionOf(completion)?.closedAt !== undefined);
  });

  test('a signal aborted before the call sends nothing', async () => {
    const { chat } = client(server);
    const result = await collect(chat.streamChat({ messages, signal: AbortSignal.abort() }));
    assertReason(result.error, 'aborted');
    assert.equal(result.events.length, 0);
    assert.equal(server.requests.length, 0);
  });

  test('server down: a port that was just closed gives serverDown, naming the URL', async () => {
    const gone = await startFakeOpenAiServer();
    const url = gone.url;
    await gone.close();
    const { chat } = client({ url });

    const result = await collect(chat.streamChat({ model: 'fake-llm-7b', messages }));
    assertReason(result.error, 'serverDown');
    assert.equal(result.error.midStream, false);
    assert.equal(result.error.baseUrl, url);
    const text = describeProviderError(result.error, { providerLabel: 'LM Studio' });
    assert.ok(text.includes(url), text);
    assert.match(text, /lms server start/);

    await assert.rejects(chat.listModels(), (e) => ProviderError.is(e, 'serverDown'));
  });

  const errorBodies: Array<{ mode: FakeFailureMode; reason: ProviderErrorReason; status: number }> = [
    { mode: 'noModelLoaded', reason: 'noModelLoaded', status: 404 },
    { mode: 'invalidModel', reason: 'modelNotFound', status: 400 },
    { mode: 'multipleModels', reason: 'multipleModels', status: 400 },
    { mode: 'contextOverflow400', reason: 'contextOverflow', status: 400 },
    { mode: 'contextOverflow200', reason: 'contextOverflow', status: 200 },
    { mode: 'contextOverflow200Text', reason: 'contextOverflow', status: 200 },
    { mode: 'unauthorized401', reason: 'unauthorized', status: 401 },
    { mode: 'emptyStream', reason: 'emptyReply', status: 200 },
    { mode: 'malformedSse', reason: 'badResponse', status: 200 },
  ];
  for (const { mode, reason, status } of errorBodies) {
    test(`LM Studio failure "${mode}" → ${reason}`, async () => {
      server.failNext(mode);
      const { chat } = client(server);
      const result = await collect(chat.streamChat({ model: 'fake-llm-7b', messages }));
      assertReason(result.error, reason);
      assert.equal(server.completions[0]?.failure, mode, 'the server did not apply the scripted failure');
      assert.equal(server.completions[0]?.status, status);
      assert.equal(result.error.status, status);
      assert.equal(result.events[0]?.type, 'start');
      assert.ok(describeProviderError(result.error).length > 20);
    });
  }

  test('the server text is kept as the error detail', async () => {
    server.failNext('contextOverflow400');
    const { chat } = client(server);
    const { error } = await collect(chat.streamChat({ model: 'fake-llm-7b', messages }));
    assertReason(error, 'contextOverflow');
    assert.match(error.detail ?? '', /Trying to keep the first \d+ tokens when context the overflows/);
    assert.match(describeProviderError(error), /new chat/i);
  });

  test('a prompt larger than the loaded context is refused by the server and reported as contextOverflow', async () => {
    server.setModels([{ id: 'small-ctx', type: 'llm', state: 'loaded', maxContextLength: 32768, loadedContextLength: 64 }]);
    const { chat } = client(server);
    const { error } = await collect(chat.streamChat({ messages: [{ role: 'user', content: 'word '.repeat(400) }] }));
    assertReason(error, 'contextOverflow');
    assert.equal(server.completions[0]?.status, 400);
  });

  test('busy 503 (KoboldCpp body) → busy after the configured retries, counted at the server', async () => {
    server.failNext('busy503', 10);
    const { chat } = client(server, { maxRetries: 1 });
    const { error } = await collect(chat.streamChat({ model: 'fake-llm-7b', messages }));
    assertReason(error, 'busy');
    assert.equal(error.status, 503);
    assert.equal(error.detail, lmStudioTexts.busy);
    assert.equal(server.chatRequests.length, 2);
  });

  test('busy 503 once, then an answer: the retry succeeds', async () => {
    server.failNext('busy503', 1);
    const { chat } = client(server, { maxRetries: 1 });
    const result = await collect(chat.streamChat({ model: 'fake-llm-7b', messages }));
    assert.equal(result.error, undefined);
    assert.equal(server.chatRequests.length, 2);
    assert.equal(result.text, server.completions[1]?.textSent);
  });

  test('maxRetries 0 sends exactly one request', async () => {
    server.failNext('busy503', 10);
    const { chat } = client(server, { maxRetries: 0 });
    const { error } = await collect(chat.streamChat({ model: 'fake-llm-7b', messages }));
    assertReason(error, 'busy');
    assert.equal(server.chatRequests.length, 1);
  });

  test('a server that never answers → timeout, without a retry', async () => {
    server.failNext('hangBeforeHeaders', 5);
    const { chat } = client(server, { requestTimeoutMs: 150, maxRetries: 2 });
    const started = now();
    const { error } = await collect(chat.streamChat({ model: 'fake-llm-7b', messages }));
    assertReason(error, 'timeout');
    assert.ok(now() - started < 2000);
    assert.equal(server.chatRequests.length, 1);
    await server.waitFor(() => server.connectionOf(server.completions[0]!)?.closedAt !== undefined);
  });

  test('a connection dropped mid-reply → serverDown with midStream, after the text that arrived', async () => {
    server.failNext('dropMidStream');
    const { chat } = client(server);
    const result = await collect(chat.streamChat({ model: 'fake-llm-7b', messages }));
    assertReason(result.error, 'serverDown');
    assert.equal(result.error.midStream, true);
    assert.equal(result.text, server.completions[0]?.textSent);
    assert.match(describeProviderError(result.error), /middle of the reply/);
  });

  test('401 with a key: unauthorized, and the key appears in no log line, message or description', async () => {
    const key = 'sk-persona-test-0123456789abcdef';
    server.setApiKey('sk-the-right-one-000000000000');
    const { chat, logger } = client(server, { apiKey: key, label: 'The cloud endpoint', nativeModelsApi: true });
    const { error } = await collect(chat.streamChat({ messages }));
    assertReason(error, 'unauthorized');
    assert.equal(error.status, 401);
    // The key did go to the server, as a Bearer token, on every request.
    assert.ok(server.requests.length >= 2);
    for (const r of server.requests) assert.equal(r.headers['authorization'], `Bearer ${key}`);
    const everything = [logger.text(), error.message, error.detail ?? '', describeProviderError(error), String(error.stack)].join('\n');
    assert.ok(logger.lines.length > 0);
    assert.ok(!everything.includes(key), 'the key leaked');
    assert.ok(!everything.includes('0123456789abcdef'), 'part of the key leaked');
    assert.match(describeProviderError(error), /Set API Key/);
  });

  test('the right key is accepted', async () => {
    const key = 'lm-studio-token-42';
    server.setApiKey(key);
    const { chat, logger } = client(server, { apiKey: key });
    const result = await collect(chat.streamChat({ messages }));
    assert.equal(result.error, undefined);
    assert.equal(result.text, server.completions[0]?.textSent);
    // The native model list was asked with the key as well (it answered, so the loaded model was found there).
    const native = server.requests.find((r) => r.path === '/api/v0/models');
    assert.equal(native?.headers['authorization'], `Bearer ${key}`);
    assert.ok(!logger.text().includes(key));
  });

  test('logs what a person needs to debug a connection: URL, model, time to first token', async () => {
    const { chat, logger } = client(server);
    await collect(chat.streamChat({ messages }));
    const log = logger.text();
    assert.ok(log.includes(`${server.url}/chat/completions`), log);
    assert.match(log, /fake-llm-7b/);
    assert.match(log, /First token from fake-llm-7b after \d+ ms/);
  });
});

describe('model discovery', () => {
  let server: FakeOpenAiServer;

  before(async () => {
    server = await startFakeOpenAiServer();
  });
  after(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.reset();
    server.setNativeApi(true);
  });

  test('resolveModel picks the loaded chat model from /api/v0/models', async () => {
    server.setModels([
      { id: 'big-model-not-loaded', type: 'llm', state: 'not-loaded', maxContextLength: 131072 },
      { id: 'text-embedding-nomic', type: 'embeddings', state: 'loaded', maxContextLength: 2048, loadedContextLength: 2048 },
      { id: 'qwen2.5-7b-instruct', type: 'llm', state: 'loaded', maxContextLength: 32768, loadedContextLength: 4096 },
    ]);
    const { chat } = client(server);
    assert.equal(await chat.resolveModel(''), 'qwen2.5-7b-instruct');
    assert.ok(server.requests.some((r) => r.path === '/api/v0/models'));
  });

  test('resolveModel returns a configured model without asking the server', async () => {
    const { chat } = client(server);
    assert.equal(await chat.resolveModel('  my-model  '), 'my-model');
    assert.equal(server.requests.length, 0);
  });

  test('resolveModel falls back to the only model of /v1/models when /api/v0 answers 404', async () => {
    server.setNativeApi(false);
    server.setModels([{ id: 'only-model', type: 'llm', state: 'loaded' }]);
    const { chat } = client(server);
    assert.equal(await chat.resolveModel(), 'only-model');
    const native = server.requests.find((r) => r.path === '/api/v0/models');
    assert.ok(native, 'the native API was not tried');
    assert.ok(server.requests.some((r) => r.path === '/v1/models'));
  });

  test('resolveModel with several loaded models picks the first and logs it', async () => {
    server.setModels([
      { id: 'first-loaded', type: 'llm', state: 'loaded', loadedContextLength: 4096 },
      { id: 'second-loaded', type: 'vlm', state: 'loaded', loadedContextLength: 4096 },
    ]);
    const { chat, logger } = client(server);
    assert.equal(await chat.resolveModel(), 'first-loaded');
    assert.match(logger.text(), /first-loaded/);
    assert.match(logger.text(), /second-loaded/);
  });

  test('resolveModel with nothing loaded and several downloaded → noModelLoaded', async () => {
    server.setModels([
      { id: 'a', type: 'llm', state: 'not-loaded' },
      { id: 'b', type: 'llm', state: 'not-loaded' },
    ]);
    const { chat } = client(server);
    await assert.rejects(chat.resolveModel(), (e) => ProviderError.is(e, 'noModelLoaded'));
  });

  test('resolveModel with nothing loaded and one downloaded asks for it (LM Studio loads it on first use)', async () => {
    server.setModels([
      { id: 'lonely', type: 'llm', state: 'not-loaded', maxContextLength: 8192 },
      { id: 'text-embedding-x', type: 'embeddings', state: 'not-loaded' },
    ]);
    const { chat } = client(server);
    const result = await collect(chat.streamChat({ messages }));
    assert.equal(result.error, undefined);
    assert.equal(server.completions[0]?.model, 'lonely');
  });

  test('no model at all → noModelLoaded, with LM Studio\'s advice', async () => {
    server.setModels([]);
    const { chat } = client(server);
    const result = await collect(chat.streamChat({ messages }));
    assertReason(result.error, 'noModelLoaded');
    assert.equal(server.chatRequests.length, 0);
    assert.match(describeProviderError(result.error), /lms load/);
  });

  test('listModels: state and context length, loaded_context_length preferred over max_context_length', async () => {
    server.setModels([
      { id: 'loaded-one', type: 'llm', state: 'loaded', maxContextLength: 32768, loadedContextLength: 4096 },
      { id: 'unloaded-one', type: 'llm', state: 'not-loaded', maxContextLength: 131072 },
      { id: 'text-embedding-z', type: 'embeddings', state: 'not-loaded', maxContextLength: 2048 },
    ]);
    const { chat } = client(server);
    const models = await chat.listModels();
    const wire = { arch: 'llama', quantization: 'Q4_K_M', publisher: 'persona-tests' };
    assert.deepEqual(models, [
      { id: 'loaded-one', state: 'loaded', type: 'llm', contextLength: 4096, maxContextLength: 32768, loadedContextLength: 4096, ...wire },
      { id: 'unloaded-one', state: 'not-loaded', type: 'llm', contextLength: 131072, maxContextLength: 131072, ...wire },
      { id: 'text-embedding-z', state: 'not-loaded', type: 'embeddings', contextLength: 2048, maxContextLength: 2048, ...wire },
    ]);
  });

  test('listModels without the native API: ids only', async () => {
    server.setNativeApi(false);
    server.setModels([{ id: 'm1', type: 'llm', state: 'loaded', loadedContextLength: 4096 }]);
    const { chat } = client(server);
    assert.deepEqual(await chat.listModels(), [{ id: 'm1' }]);
  });

  test('listModels with nativeModelsApi off never calls /api/v0', async () => {
    const { chat } = client(server, { nativeModelsApi: false });
    await chat.listModels();
    assert.deepEqual(
      server.requests.map((r) => r.path),
      ['/v1/models'],
    );
  });

  test('a /v1/models that is not a model list → badResponse', async () => {
    server.onRequest = (request, res) => {
      if (request.path !== '/v1/models') return false;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"models": "nope"}');
      return true;
    };
    try {
      const { chat } = client(server);
      await assert.rejects(chat.listModels(), (e) => ProviderError.is(e, 'badResponse'));
    } finally {
      server.onRequest = undefined;
    }
  });
});
