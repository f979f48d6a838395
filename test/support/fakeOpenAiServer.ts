// A real HTTP server that speaks LM Studio's wire format, for integration tests, end-to-end tests
// and benchmarks. It records every request and connection, so tests assert on what went over the
// wire, and it can be scripted to fail the way LM Studio (and KoboldCpp, and OpenAI) fail.
//
// In process:   const server = await startFakeOpenAiServer({ reply: 'Hello there' }); … await server.close();
// Standalone:   node --import tsx test/support/fakeOpenAiServer.ts --port 0 [--reply-file F] [--token-delay-ms N]
//               prints {"url": "http://127.0.0.1:PORT/v1", …} as one line; script it over /__control/*.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export const fakeFailureModes = [
  'noModelLoaded',
  'invalidModel',
  'multipleModels',
  'contextOverflow400',
  /** HTTP 200, text/event-stream, whose first event is `data: {"error": "<overflow text>"}`. */
  'contextOverflow200',
  /** HTTP 200 whose whole body is the overflow text as plain text. */
  'contextOverflow200Text',
  'emptyStream',
  'busy503',
  'malformedSse',
  'unauthorized401',
  'hangBeforeHeaders',
  'dropMidStream',
] as const;
export type FakeFailureMode = (typeof fakeFailureModes)[number];

/** LM Studio's own texts (from its bug tracker and client projects). */
export const lmStudioTexts = {
  noModelLoaded: "No models loaded. Please load a model in the developer page or use the 'lms load' command.",
  invalidModel: (model: string) => `Invalid model identifier "${model}". Please specify a valid downloaded model.`,
  multipleModels: "Multiple models are loaded. Please specify a model by providing a 'model' field in the request.",
  contextOverflow: (promptTokens: number, contextLength: number) =>
    `Trying to keep the first ${promptTokens} tokens when context the overflows. However, the model is loaded with context length of only ${contextLength} tokens, which is not enough. Try to load the model with a larger context length, or provide a shorter input`,
  busy: 'Server is busy; please try again later.',
  unauthorized: 'Incorrect API key provided',
} as const;

export interface FakeModel {
  id: string;
  type?: 'llm' | 'vlm' | 'embeddings';
  state?: 'loaded' | 'not-loaded';
  maxContextLength?: number;
  /** Reported only while loaded; what the overflow check uses. */
  loadedContextLength?: number;
  publisher?: string;
  arch?: string;
  quantization?: string;
}

export interface FakeReply {
  text: string;
  /** How the text is split into stream chunks; default: words with their leading whitespace. */
  tokens?: string[];
  /** Delay before each token after the first. */
  tokenDelayMs?: number;
  /** Delay before the first token (prompt processing). Default: `tokenDelayMs`. */
  firstTokenDelayMs?: number;
}

export type ReplySource = string | FakeReply | ((request: RecordedRequest) => string | FakeReply);

export interface RecordedRequest {
  id: number;
  method: string;
  /** Path without the query string, e.g. `/v1/chat/completions`. */
  path: string;
  query: string;
  headers: http.IncomingHttpHeaders;
  /** The body parsed as JSON; undefined when empty or not JSON (see `rawBody`). */
  body: unknown;
  rawBody: string;
  connectionId: number;
  /** Epoch milliseconds (fractional), when the whole request body had arrived. */
  receivedAt: number;
}

export interface RecordedConnection {
  id: number;
  remotePort: number | undefined;
  openedAt: number;
  /** Set when the socket closed, by either side. */
  closedAt?: number;
}

export interface CompletionRecord {
  requestId: number;
  connectionId: number;
  model: string | undefined;
  stream: boolean;
  failure: FakeFailureMode | undefined;
  status: number | undefined;
  receivedAt: number;
  headersAt?: number;
  /** When the first content token was written: the server's own time to first token is this minus `receivedAt`. */
  firstContentAt?: number;
  /** When the response ended (normally, or by the client closing the connection). */
  endedAt?: number;
  tokensPlanned: number;
  tokensSent: number;
  textSent: string;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  outcome: 'pending' | 'completed' | 'clientClosed' | 'failed';
}

export type RequestHook = (request: RecordedRequest, response: http.ServerResponse) => boolean | void | Promise<boolean | void>;

export interface FakeServerOptions {
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  models?: FakeModel[];
  reply?: ReplySource;
  tokenDelayMs?: number;
  firstTokenDelayMs?: number;
  /** When set, every request must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Serve LM Studio's `/api/v0/models` (default true); false answers 404 there, like other servers. */
  nativeApi?: boolean;
  /** Just-in-time loading (default true): /v1/models lists every model, and a request for a not-loaded one loads it. */
  jit?: boolean;
  /** Serve `/__control/*` (default true). */
  control?: boolean;
  onRequest?: RequestHook;
}

export const defaultFakeModels: readonly FakeModel[] = [
  { id: 'fake-llm-7b', type: 'llm', state: 'loaded', maxContextLength: 32768, loadedContextLength: 8192, publisher: 'persona-tests', arch: 'llama', quantization: 'Q4_K_M' },
  { id: 'text-embedding-fake', type: 'embeddings', state: 'not-loaded', maxContextLength: 2048, publisher: 'persona-tests', arch: 'bert', quantization: 'F16' },
];

const defaultReply = 'Hello! I am a fake model, and this reply arrives one word at a time.';

/** Epoch milliseconds with sub-millisecond precision, comparable across processes. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Words with their leading whitespace: joined again they give back the text exactly. */
export function splitIntoTokens(text: string): string[] {
  return text.match(/\s*\S+|\s+/g) ?? [];
}

export class FakeOpenAiServer {
  readonly requests: RecordedRequest[] = [];
  readonly completions: CompletionRecord[] = [];
  readonly connections: RecordedConnection[] = [];
  onRequest: RequestHook | undefined;

  private readonly server: http.Server;
  private readonly events = new EventEmitter();
  private readonly shutdown = new AbortController();
  private readonly sockets = new Map<Socket, number>();
  private failures: FakeFailureMode[] = [];
  private models: FakeModel[];
  private reply: ReplySource;
  private tokenDelayMs: number;
  private firstTokenDelayMs: number | undefined;
  private apiKey: string | undefined;
  private nativeApi: boolean;
  private readonly jit: boolean;
  private readonly control: boolean;
  private nextRequestId = 1;
  private nextConnectionId = 1;
  private address: AddressInfo | undefined;

  private constructor(options: FakeServerOptions) {
    this.models = structuredClone([...(options.models ?? defaultFakeModels)]);
    this.reply = options.reply ?? defaultReply;
    this.tokenDelayMs = options.tokenDelayMs ?? 0;
    this.firstTokenDelayMs = options.firstTokenDelayMs;
    this.apiKey = options.apiKey;
    this.nativeApi = options.nativeApi ?? true;
    this.jit = options.jit ?? true;
    this.control = options.control ?? true;
    this.onRequest = options.onRequest;
    this.events.setMaxListeners(0);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: `fake server: ${e instanceof Error ? e.message : String(e)}` });
        else res.destroy();
      });
    });
    this.server.on('connection', (socket) => {
      const connection: RecordedConnection = { id: this.nextConnectionId++, remotePort: socket.remotePort, openedAt: now() };
      this.connections.push(connection);
      this.sockets.set(socket, connection.id);
      socket.on('close', () => {
        connection.closedAt = now();
        this.sockets.delete(socket);
        this.changed();
      });
      this.changed();
    });
  }

  static async start(options: FakeServerOptions = {}): Promise<FakeOpenAiServer> {
    const fake = new FakeOpenAiServer(options);
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        fake.server.off('error', reject);
        resolve();
      });
    });
    fake.address = fake.server.address() as AddressInfo;
    return fake;
  }

  get port(): number {
    return this.address?.port ?? 0;
  }

  /** `http://127.0.0.1:PORT` */
  get origin(): string {
    const host = this.address?.family === 'IPv6' ? `[${this.address.address}]` : (this.address?.address ?? '127.0.0.1');
    return `http://${host}:${this.port}`;
  }

  /** The OpenAI-compatible base URL: `http://127.0.0.1:PORT/v1`. */
  get url(): string {
    return `${this.origin}/v1`;
  }

  /** Requests to `POST /v1/chat/completions`, in order. */
  get chatRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path === '/v1/chat/completions');
  }

  setReply(reply: ReplySource, timing: { tokenDelayMs?: number; firstTokenDelayMs?: number } = {}): void {
    this.reply = reply;
    if (timing.tokenDelayMs !== undefined) this.tokenDelayMs = timing.tokenDelayMs;
    if (timing.firstTokenDelayMs !== undefined) this.firstTokenDelayMs = timing.firstTokenDelayMs;
  }

  setModels(models: FakeModel[]): void {
    this.models = structuredClone(models);
  }

  getModels(): FakeModel[] {
    return structuredClone(this.models);
  }

  setApiKey(apiKey: string | undefined): void {
    this.apiKey = apiKey;
  }

  setNativeApi(enabled: boolean): void {
    this.nativeApi = enabled;
  }

  /** The next `count` chat completion requests fail this way (queued after any failures already scripted). */
  failNext(mode: FakeFailureMode, count = 1): void {
    for (let i = 0; i < count; i++) this.failures.push(mode);
  }

  get pendingFailures(): readonly FakeFailureMode[] {
    return this.failures;
  }

  /** Forgets recorded requests, completions, closed connections and scripted failures. Open (keep-alive) connections stay listed: later requests may arrive on them. */
  reset(): void {
    this.requests.length = 0;
    this.completions.length = 0;
    const open = this.connections.filter((c) => c.closedAt === undefined);
    this.connections.splice(0, this.connections.length, ...open);
    this.failures = [];
  }

  /**
   * Resolves with the first truthy value `check` returns, re-checked whenever the server records
   * something (a request, a token written, a connection closed). No polling, no fixed sleeps.
   */
  waitFor<T>(check: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value) {
          cleanup();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake server: condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off('change', attempt);
      };
      this.events.on('change', attempt);
      attempt();
    });
  }

  /** The connection a request came on. */
  connectionOf(request: { connectionId: number }): RecordedConnection | undefined {
    return this.connections.find((c) => c.id === request.connectionId);
  }

  async close(): Promise<void> {
    this.shutdown.abort();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const socket of this.sockets.keys()) socket.destroy();
    await closed;
  }

  // ---- request handling -----------------------------------------------------------------------------

  private changed(): void {
    this.events.emit('change');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const rawBody = await readBody(req);
    const [path = '/', query = ''] = (req.url ?? '/').split('?', 2);
    const connectionId = this.sockets.get(req.socket) ?? 0;

    if (this.control && path.startsWith('/__control/')) {
      this.handleControl(req.method ?? 'GET', path, rawBody, res);
      return;
    }

    const recorded: RecordedRequest = {
      id: this.nextRequestId++,
      method: req.method ?? 'GET',
      path,
      query,
      headers: req.headers,
      body: parseJsonOrUndefined(rawBody),
      rawBody,
      connectionId,
      receivedAt: now(),
    };
    this.requests.push(recorded);
    this.changed();

    if (this.onRequest && (await this.onRequest(recorded, res)) === true) return;

    if (this.apiKey !== undefined && req.headers.authorization !== `Bearer ${this.apiKey}`) {
      sendUnauthorized(res);
      return;
    }

    const route = `${recorded.method} ${path.replace(/\/+$/, '')}`;
    switch (route) {
      case 'GET /v1/models':
        sendJson(res, 200, { object: 'list', data: this.openAiModelList() });
        return;
      case 'GET /api/v0/models':
        if (!this.nativeApi) break;
        sendJson(res, 200, { object: 'list', data: this.models.map(nativeModel) });
        return;
      case 'POST /v1/chat/completions':
        await this.chatCompletion(recorded, res);
        return;
    }
    sendJson(res, 404, { error: `Unexpected endpoint or method. (${recorded.method} ${path})` });
  }

  private openAiModelList(): object[] {
    const listed = this.jit ? this.models : this.models.filter((m) => m.state === 'loaded');
    return listed.map((m) => ({ id: m.id, object: 'model', owned_by: m.publisher ?? 'organization_owner' }));
  }

  private async chatCompletion(request: RecordedRequest, res: http.ServerResponse): Promise<void> {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const stream = body['stream'] === true;
    const requestedModel = typeof body['model'] === 'string' ? body['model'] : undefined;
    const record: CompletionRecord = {
      requestId: request.id,
      connectionId: request.connectionId,
      model: requestedModel,
      stream,
      failure: this.failures.shift(),
      status: undefined,
      receivedAt: request.receivedAt,
      tokensPlanned: 0,
      tokensSent: 0,
      textSent: '',
      outcome: 'pending',
    };
    this.completions.push(record);
    res.on('close', () => {
      if (record.outcome === 'pending') record.outcome = res.writableFinished ? 'completed' : 'clientClosed';
      record.endedAt ??= now();
      this.changed();
    });
    const fail = (status: number, payload: unknown) => {
      record.status = status;
      record.outcome = 'failed';
      sendJson(res, status, payload);
    };

    if (!Array.isArray(body['messages'])) {
      fail(400, { error: "'messages' field is required" });
      return;
    }
    const messages = body['messages'] as unknown[];
    const promptTokens = estimatePromptTokens(messages);

    switch (record.failure) {
      case undefined:
        break;
      case 'noModelLoaded':
        return fail(404, { error: lmStudioTexts.noModelLoaded });
      case 'invalidModel':
        return fail(400, invalidModelBody(requestedModel ?? ''));
      case 'multipleModels':
        return fail(400, { error: lmStudioTexts.multipleModels });
      case 'contextOverflow400':
        return fail(400, { error: lmStudioTexts.contextOverflow(Math.max(promptTokens, 4097), 4096) });
      case 'busy503':
        return fail(503, { detail: { msg: lmStudioTexts.busy, type: 'service_unavailable' } });
      case 'unauthorized401':
        record.status = 401;
        record.outcome = 'failed';
        sendUnauthorized(res);
        return;
      case 'hangBeforeHeaders':
        // Never answers; ends when the client gives up or the server closes.
        record.outcome = 'pending';
        await delay(2 ** 31 - 1, undefined, { signal: AbortSignal.any([this.shutdown.signal, closeSignal(res)]) }).catch(() => {});
        return;
      case 'contextOverflow200Text':
        record.status = 200;
        record.outcome = 'failed';
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(lmStudioTexts.contextOverflow(Math.max(promptTokens, 4097), 4096));
        return;
      case 'contextOverflow200':
      case 'emptyStream':
      case 'malformedSse':
      case 'dropMidStream':
        return this.streamFailure(record.failure, record, res, stream, promptTokens);
    }

    // LM Studio's own choice of model.
    const chat = this.models.filter((m) => m.type !== 'embeddings');
    let model: FakeModel | undefined;
    if (requestedModel) {
      model = this.models.find((m) => m.id === requestedModel);
      if (!model || (model.state !== 'loaded' && !this.jit)) return fail(400, invalidModelBody(requestedModel));
      if (model.state !== 'loaded') {
        model.state = 'loaded';
        model.loadedContextLength ??= Math.min(4096, model.maxContextLength ?? 4096);
      }
    } else {
      const loaded = chat.filter((m) => m.state === 'loaded');
      if (loaded.length === 0) return fail(404, { error: lmStudioTexts.noModelLoaded });
      if (loaded.length > 1) return fail(400, { error: lmStudioTexts.multipleModels });
      model = loaded[0];
    }
    const modelId = model?.id ?? requestedModel ?? 'unknown';
    record.model = modelId;
    const contextLength = model?.loadedContextLength ?? model?.maxContextLength;
    if (contextLength !== undefined && promptTokens > contextLength) {
      return fail(400, { error: lmStudioTexts.contextOverflow(promptTokens, contextLength) });
    }

    const reply = this.replyFor(request);
    let tokens = reply.tokens ?? splitIntoTokens(reply.text);
    const maxTokens = typeof body['max_tokens'] === 'number' && body['max_tokens'] > 0 ? body['max_tokens'] : undefined;
    const finishReason = maxTokens !== undefined && tokens.length > maxTokens ? 'length' : 'stop';
    if (maxTokens !== undefined) tokens = tokens.slice(0, maxTokens);
    record.tokensPlanned = tokens.length;
    const tokenDelayMs = reply.tokenDelayMs ?? this.tokenDelayMs;
    const firstTokenDelayMs = reply.firstTokenDelayMs ?? this.firstTokenDelayMs ?? tokenDelayMs;
    const usage = { prompt_tokens: promptTokens, completion_tokens: tokens.length, total_tokens: promptTokens + tokens.length };
    const id = `chatcmpl-${Math.random().toString(36).slice(2, 12)}`;
    const created = Math.floor(Date.now() / 1000);
    const signal = AbortSignal.any([this.shutdown.signal, closeSignal(res)]);

    if (!stream) {
      if (firstTokenDelayMs > 0 || tokenDelayMs > 0) {
        await delay(firstTokenDelayMs + tokenDelayMs * Math.max(0, tokens.length - 1), undefined, { signal }).catch(() => {});
        if (signal.aborted) return;
      }
      record.status = 200;
      record.headersAt = now();
      record.firstContentAt = now();
      record.tokensSent = tokens.length;
      record.textSent = tokens.join('');
      record.usage = usage;
      sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model: modelId,
        choices: [{ index: 0, message: { role: 'assistant', content: record.textSent }, logprobs: null, finish_reason: finishReason }],
        usage,
        system_fingerprint: modelId,
      });
      record.endedAt = now();
      return;
    }

    const includeUsage = isRecord(body['stream_options']) && body['stream_options']['include_usage'] === true;
    const chunk = (delta: object, finish: string | null) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: modelId,
      system_fingerprint: modelId,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    this.startStream(record, res);
    for (const [i, token] of tokens.entries()) {
      const wait = i === 0 ? firstTokenDelayMs : tokenDelayMs;
      if (wait > 0) await delay(wait, undefined, { signal }).catch(() => {});
      if (signal.aborted || res.destroyed) return;
      writeEvent(res, chunk(i === 0 ? { role: 'assistant', content: token } : { content: token }, null));
      record.firstContentAt ??= now();
      record.tokensSent++;
      record.textSent += token;
      this.changed();
    }
    writeEvent(res, chunk({}, finishReason));
    if (includeUsage) {
      record.usage = usage;
      writeEvent(res, { id, object: 'chat.completion.chunk', created, model: modelId, system_fingerprint: modelId, choices: [], usage });
    }
    res.end('data: [DONE]\n\n');
    record.outcome = 'completed';
    record.endedAt = now();
    this.changed();
  }

  private async streamFailure(mode: FakeFailureMode, record: CompletionRecord, res: http.ServerResponse, stream: boolean, promptTokens: number): Promise<void> {
    const overflow = lmStudioTexts.contextOverflow(Math.max(promptTokens, 4097), 4096);
    const model = record.model ?? 'fake-llm-7b';
    const chunk = (content: string) => ({
      id: 'chatcmpl-failure',
      object: 'chat.completion.chunk',
      created: Math.floor(Date.now() / 1000),
      model,
      system_fingerprint: model,
      choices: [{ index: 0, delta: { role: 'assistant', content }, logprobs: null, finish_reason: null }],
    });
    record.outcome = 'failed';
    if (!stream) {
      // The same failures, for a client that did not ask for a stream.
      record.status = 200;
      if (mode === 'dropMidStream') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"id": "chatcmpl-failure", "choices": [');
        res.destroy();
      } else if (mode === 'malformedSse') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "chatcmpl-failure", "choices": [');
      } else if (mode === 'emptyStream') {
        sendJson(res, 200, { id: 'chatcmpl-failure', object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content: '' }, finish_reason: 'stop' }] });
      } else {
        sendJson(res, 200, { error: overflow });
      }
      return;
    }
    this.startStream(record, res);
    switch (mode) {
      case 'contextOverflow200':
        writeEvent(res, { error: overflow });
        res.end();
        return;
      case 'emptyStream':
        res.end('data: [DONE]\n\n');
        return;
      case 'malformedSse':
        writeEvent(res, chunk('Hello'));
        record.firstContentAt = now();
        record.tokensSent = 1;
        record.textSent = 'Hello';
        res.write('data: {"id": "chatcmpl-failure", "choices": [{"delta": {"content": " wor\n\n');
        res.end('data: [DONE]\n\n');
        return;
      case 'dropMidStream': {
        const signal = AbortSignal.any([this.shutdown.signal, closeSignal(res)]);
        for (const token of ['Hello', ' there']) {
          writeEvent(res, chunk(token));
          record.firstContentAt ??= now();
          record.tokensSent++;
          record.textSent += token;
          this.changed();
          await delay(this.tokenDelayMs || 5, undefined, { signal }).catch(() => {});
        }
        res.destroy();
        return;
      }
      default:
        return;
    }
  }

  private startStream(record: CompletionRecord, res: http.ServerResponse): void {
    record.status = 200;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    record.headersAt = now();
    this.changed();
  }

  private replyFor(request: RecordedRequest): FakeReply {
    const source = typeof this.reply === 'function' ? this.reply(request) : this.reply;
    return typeof source === 'string' ? { text: source } : source;
  }

  // ---- control endpoint (for tests in another process) ------------------------------------------------

  private handleControl(method: string, path: string, rawBody: string, res: http.ServerResponse): void {
    const body = parseJsonOrUndefined(rawBody);
    const input = isRecord(body) ? body : {};
    const route = `${method} ${path}`;
    switch (route) {
      case 'GET /__control/requests':
        sendJson(res, 200, { requests: this.requests, completions: this.completions, connections: this.connections });
        return;
      case 'GET /__control/state':
        sendJson(res, 200, { url: this.url, models: this.models, pendingFailures: this.failures, nativeApi: this.nativeApi, apiKeyRequired: this.apiKey !== undefined });
        return;
      case 'POST /__control/reply': {
        if (typeof input['text'] !== 'string') return sendJson(res, 400, { error: 'expected {"text": string, "tokens"?: string[], "tokenDelayMs"?: number, "firstTokenDelayMs"?: number}' });
        const reply: FakeReply = { text: input['text'] };
        if (Array.isArray(input['tokens'])) reply.tokens = input['tokens'].map(String);
        if (typeof input['tokenDelayMs'] === 'number') reply.tokenDelayMs = input['tokenDelayMs'];
        if (typeof input['firstTokenDelayMs'] === 'number') reply.firstTokenDelayMs = input['firstTokenDelayMs'];
        this.setReply(reply);
        return sendJson(res, 200, { ok: true });
      }
      case 'POST /__control/fail': {
        const mode = input['mode'];
        if (typeof mode !== 'string' || !(fakeFailureModes as readonly string[]).includes(mode)) {
          return sendJson(res, 400, { error: `expected {"mode": one of ${fakeFailureModes.join(', ')}, "count"?: number}` });
        }
        this.failNext(mode as FakeFailureMode, typeof input['count'] === 'number' ? input['count'] : 1);
        return sendJson(res, 200, { ok: true, pendingFailures: this.failures });
      }
      case 'POST /__control/models':
        if (!Array.isArray(input['models'])) return sendJson(res, 400, { error: 'expected {"models": FakeModel[]}' });
        this.setModels(input['models'] as FakeModel[]);
        return sendJson(res, 200, { ok: true });
      case 'POST /__control/api-key':
        this.setApiKey(typeof input['apiKey'] === 'string' ? input['apiKey'] : undefined);
        return sendJson(res, 200, { ok: true });
      case 'POST /__control/native-api':
        this.setNativeApi(input['enabled'] !== false);
        return sendJson(res, 200, { ok: true });
      case 'POST /__control/reset':
        this.reset();
        return sendJson(res, 200, { ok: true });
    }
    sendJson(res, 404, { error: `unknown control route ${route}` });
  }
}

export function startFakeOpenAiServer(options: FakeServerOptions = {}): Promise<FakeOpenAiServer> {
  return FakeOpenAiServer.start(options);
}

// ---- wire helpers -----------------------------------------------------------------------------------------

function nativeModel(m: FakeModel): object {
  const state = m.state ?? 'loaded';
  return {
    id: m.id,
    object: 'model',
    type: m.type ?? 'llm',
    publisher: m.publisher ?? 'persona-tests',
    arch: m.arch ?? 'llama',
    compatibility_type: 'gguf',
    quantization: m.quantization ?? 'Q4_K_M',
    state,
    max_context_length: m.maxContextLength ?? 4096,
    ...(state === 'loaded' && m.loadedContextLength !== undefined ? { loaded_context_length: m.loadedContextLength } : {}),
  };
}

function invalidModelBody(model: string): object {
  return { error: { message: lmStudioTexts.invalidModel(model), type: 'invalid_request_error', param: 'model', code: 'model_not_found' } };
}

function sendUnauthorized(res: http.ServerResponse): void {
  sendJson(res, 401, { error: { message: lmStudioTexts.unauthorized, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
}

function sendJson(res: http.ServerResponse, status: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function writeEvent(res: http.ServerResponse, payload: unknown): void {
  res.write(`data: ${JSON.stringify(payload)}\n\n`);
}

function closeSignal(res: http.ServerResponse): AbortSignal {
  const controller = new AbortController();
  if (res.destroyed) controller.abort();
  else res.once('close', () => controller.abort());
  return controller.signal;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJsonOrUndefined(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** About four characters a token, plus a few per message for the chat template. */
function estimatePromptTokens(messages: unknown[]): number {
  let chars = 0;
  for (const m of messages) {
    if (isRecord(m) && typeof m['content'] === 'string') chars += m['content'].length;
  }
  return Math.ceil(chars / 4) + 4 * messages.length;
}

// ---- standalone -------------------------------------------------------------------------------------------

function parseArgs(argv: string[]): FakeServerOptions {
  const options: FakeServerOptions = {};
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case '--port':
        options.port = Number(value(i++, flag));
        break;
      case '--host':
        options.host = value(i++, flag);
        break;
      case '--reply':
        options.reply = value(i++, flag);
        break;
      case '--reply-file':
        options.reply = readFileSync(value(i++, flag), 'utf8');
        break;
      case '--token-delay-ms':
        options.tokenDelayMs = Number(value(i++, flag));
        break;
      case '--first-token-delay-ms':
        options.firstTokenDelayMs = Number(value(i++, flag));
        break;
      case '--api-key':
        options.apiKey = value(i++, flag);
        break;
      case '--models-file':
        options.models = JSON.parse(readFileSync(value(i++, flag), 'utf8')) as FakeModel[];
        break;
      case '--no-native-api':
        options.nativeApi = false;
        break;
      case '--no-jit':
        options.jit = false;
        break;
      default:
        throw new Error(`unknown argument ${flag}`);
    }
  }
  return options;
}

async function main(): Promise<void> {
  const server = await startFakeOpenAiServer(parseArgs(process.argv.slice(2)));
  process.stdout.write(`${JSON.stringify({ url: server.url, origin: server.origin, port: server.port, controlUrl: `${server.origin}/__control` })}\n`);
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`fakeOpenAiServer: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
