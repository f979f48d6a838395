// A real HTTP server that speaks KoboldCpp's wire format for embeddings, for integration tests,
// end-to-end tests and benchmarks. It records every request (and how many were in flight at once),
// and it can be scripted to fail the way KoboldCpp fails: 503 busy, an item sent back as an empty
// array, a non-JSON error page, a request that hangs, a dropped connection, 401 with --password.
//
// Its vectors are deterministic and mean something: a bag of hashed words, L2-normalised, so texts
// that share words are close (cosine = dot product) — enough for retrieval tests.
//
// In process:   const server = await startFakeKoboldCpp(); … await server.close();
// Standalone:   node --import tsx test/support/fakeKoboldCpp.ts --port 0 [--dimension N] [--latency-ms N]
//               [--password P] [--exclusive] [--no-embeddings-model]
//               prints {"url": "http://127.0.0.1:PORT/v1", …} as one line; script it over /__control/*.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export const fakeKoboldFailureModes = [
  /** HTTP 503 with KoboldCpp's busy body. */
  'busy503',
  /** HTTP 200, but the item at `index` (default 0) is an empty array: KoboldCpp's way of failing one item. */
  'emptyItem',
  /** HTTP 200, but the item at `index` (default 0) has `dimension` (default half) numbers. */
  'wrongLengthItem',
  /** HTTP 200, every vector `dimension` long (default 768): another embeddings model. */
  'wrongDimension',
  /** HTTP `status` (default 500) with an HTML page for a body. */
  'nonJsonError',
  /** Never answers; the request ends when the client gives up or the server closes. */
  'hang',
  /** Reads the request, then destroys the connection without a reply. */
  'dropConnection',
] as const;
export type FakeKoboldFailureMode = (typeof fakeKoboldFailureModes)[number];

export interface FakeKoboldFailure {
  mode: FakeKoboldFailureMode;
  index?: number;
  dimension?: number;
  status?: number;
}

/** KoboldCpp's own bodies. The busy one is KoboldCpp's; the 401 one follows its `{"detail": …}` shape. */
export const koboldTexts = {
  busy: { detail: { msg: 'Server is busy; please try again later.', type: 'service_unavailable' } },
  unauthorized: { detail: { error: 'Unauthorized', msg: 'Authentication key is missing or invalid.', type: 'unauthorized' } },
  errorPage: (status: number) => `<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Error ${status}</h1><p>Internal Server Error: embeddings failed</p></body></html>`,
} as const;

export interface RecordedKoboldRequest {
  id: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body, or undefined (see `rawBody`). */
  body: unknown;
  rawBody: string;
  /** For embeddings requests: the texts, in order. */
  inputs: string[];
  connectionId: number;
  /** Epoch milliseconds (fractional) when the request arrived, and when its response ended. */
  receivedAt: number;
  endedAt?: number;
  status?: number;
  failure?: FakeKoboldFailureMode | 'exclusiveBusy' | 'unauthorized';
  outcome: 'pending' | 'answered' | 'dropped' | 'clientClosed';
  /** Embeddings requests in flight when this one arrived, itself included. */
  concurrentAtArrival?: number;
}

export interface FakeKoboldOptions {
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Vector length. Default 1024 (BGE-M3). */
  dimension?: number;
  /** The embeddings model named in replies. */
  embeddingsModel?: string;
  /** The text model, the only one `/v1/models` lists (as KoboldCpp does). */
  textModel?: string;
  version?: string;
  /** False: started without --embeddingsmodel (every item comes back empty, /api/extra/version says embeddings: false). */
  embeddingsLoaded?: boolean;
  /** Like `--password`: every embeddings request needs `Authorization: Bearer <password>`. */
  password?: string;
  /** Delay before each embeddings reply, and more per text. */
  latencyMs?: number;
  latencyPerItemMs?: number;
  /** Like KoboldCpp without --multiuser: a request that arrives while another is being served gets 503 busy. */
  exclusive?: boolean;
  /**
   * Like KoboldCpp with --multiuser: requests wait their turn and the latency is spent one request
   * at a time, so a second request in flight only hides the round trip (benchmarks).
   */
  serial?: boolean;
  /** Serve `/__control/*` (default true). */
  control?: boolean;
}

export const defaultEmbeddingsModel = 'koboldcpp/bge-m3-Q8_0';
export const defaultTextModel = 'koboldcpp/fake-llm-7b';

/** Epoch milliseconds with sub-millisecond precision, comparable across processes. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The fake's vector for a text: each word (lower-cased letters, digits, `_`) adds ±1 at a hashed
 * position, the sum is L2-normalised. Texts sharing words have a high dot product; a text with no
 * word gets a fixed unit vector.
 */
export function fakeEmbedding(text: string, dimension = 1024): Float32Array {
  const vector = new Float32Array(dimension);
  const words = text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
  for (const word of words) {
    const h = fnv1a(word);
    vector[h % dimension]! += (h & 0x80000000) !== 0 ? -1 : 1;
  }
  let norm = 0;
  for (const x of vector) norm += x * x;
  if (norm === 0) {
    vector[0] = 1;
    return vector;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < dimension; i++) vector[i]! *= scale;
  return vector;
}

/** Cosine similarity of two vectors (the dot product, for the fake's unit vectors). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class FakeKoboldCpp {
  readonly requests: RecordedKoboldRequest[] = [];
  /** Embeddings requests being served now. */
  inFlight = 0;
  /** The most embeddings requests ever served at once (since the last reset). */
  maxConcurrent = 0;
  /** Texts embedded and sent back successfully (since the last reset). */
  embeddedItems = 0;

  private readonly server: http.Server;
  private readonly events = new EventEmitter();
  private readonly shutdown = new AbortController();
  private readonly sockets = new Map<Socket, number>();
  private failures: FakeKoboldFailure[] = [];
  private dimension: number;
  private readonly embeddingsModel: string;
  private readonly textModel: string;
  private readonly version: string;
  private embeddingsLoaded: boolean;
  private password: string | undefined;
  private latencyMs: number;
  private latencyPerItemMs: number;
  private exclusive: boolean;
  private readonly serial: boolean;
  /** With `serial`: settles when the request being embedded is done. */
  private computing: Promise<void> = Promise.resolve();
  private failingMarker: string | undefined;
  private readonly control: boolean;
  private nextRequestId = 1;
  private nextConnectionId = 1;
  private address: AddressInfo | undefined;

  private constructor(options: FakeKoboldOptions) {
    this.dimension = options.dimension ?? 1024;
    this.embeddingsModel = options.embeddingsModel ?? defaultEmbeddingsModel;
    this.textModel = options.textModel ?? defaultTextModel;
    this.version = options.version ?? '1.99.4';
    this.embeddingsLoaded = options.embeddingsLoaded ?? true;
    this.password = options.password;
    this.latencyMs = options.latencyMs ?? 0;
    this.latencyPerItemMs = options.latencyPerItemMs ?? 0;
    this.exclusive = options.exclusive ?? false;
    this.serial = options.serial ?? false;
    this.control = options.control ?? true;
    this.events.setMaxListeners(0);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { detail: { msg: `fake server: ${e instanceof Error ? e.message : String(e)}`, type: 'server_error' } });
        else res.destroy();
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.set(socket, this.nextConnectionId++);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(options: FakeKoboldOptions = {}): Promise<FakeKoboldCpp> {
    const fake = new FakeKoboldCpp(options);
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

  /** Requests to `POST /v1/embeddings` or `/api/extra/embeddings`, in order of arrival. */
  get embeddingRequests(): RecordedKoboldRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && isEmbeddingsPath(r.path));
  }

  /** The next `count` embeddings requests fail this way (after any failures already scripted). */
  failNext(mode: FakeKoboldFailureMode, options: { count?: number; index?: number; dimension?: number; status?: number } = {}): void {
    const { count = 1, ...rest } = options;
    for (let i = 0; i < count; i++) this.failures.push({ mode, ...rest });
  }

  get pendingFailures(): readonly FakeKoboldFailure[] {
    return this.failures;
  }

  setPassword(password: string | undefined): void {
    this.password = password;
  }

  setLatency(latencyMs: number, latencyPerItemMs = 0): void {
    this.latencyMs = latencyMs;
    this.latencyPerItemMs = latencyPerItemMs;
  }

  setExclusive(exclusive: boolean): void {
    this.exclusive = exclusive;
  }

  setEmbeddingsLoaded(loaded: boolean): void {
    this.embeddingsLoaded = loaded;
  }

  setDimension(dimension: number): void {
    this.dimension = dimension;
  }

  /** From now on, every text containing `marker` comes back as an empty array (as KoboldCpp does for a text it fails on). */
  failTextsContaining(marker: string | undefined): void {
    this.failingMarker = marker || undefined;
  }

  /** Forgets recorded requests, counters and scripted failures; settings (latency, password, …) stay. */
  reset(): void {
    this.requests.length = 0;
    this.failures = [];
    this.maxConcurrent = this.inFlight;
    this.embeddedItems = 0;
  }

  /** Resolves with the first truthy value `check` returns, re-checked whenever the server records something. */
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
        reject(new Error(`fake KoboldCpp: condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off('change', attempt);
      };
      this.events.on('change', attempt);
      attempt();
    });
  }

  /**
   * Waits until no request is in flight and none has arrived for `quietMs`: a request a test gave up
   * on (sent, then aborted) is answered before the next test resets the server and scripts failures.
   */
  async settle(quietMs = 25, timeoutMs = 5000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = this.nextRequestId;
      await delay(quietMs);
      if (this.nextRequestId === seen && this.inFlight === 0) return;
      if (performance.now() > deadline) throw new Error(`fake KoboldCpp: still busy after ${timeoutMs} ms (${this.inFlight} in flight)`);
    }
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
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const embeddings = method === 'POST' && isEmbeddingsPath(path);
    // Counted from arrival, before the body is read: what the client has in flight.
    if (embeddings) {
      this.inFlight++;
      this.maxConcurrent = Math.max(this.maxConcurrent, this.inFlight);
    }
    let counted = embeddings;
    const release = () => {
      if (counted) {
        counted = false;
        this.inFlight--;
        this.changed();
      }
    };
    res.once('close', release);

    if (this.control && path.startsWith('/__control/')) {
      this.handleControl(method, path, await readBody(req), res);
      return;
    }

    // Recorded on arrival, before the body is read: a request the client gave up on mid-body still shows.
    const record: RecordedKoboldRequest = {
      id: this.nextRequestId++,
      method,
      path,
      headers: req.headers,
      body: undefined,
      rawBody: '',
      inputs: [],
      connectionId: this.sockets.get(req.socket) ?? 0,
      receivedAt: now(),
      outcome: 'pending',
      ...(embeddings ? { concurrentAtArrival: this.inFlight } : {}),
    };
    this.requests.push(record);
    res.once('close', () => {
      record.endedAt ??= now();
      if (record.outcome === 'pending') record.outcome = 'clientClosed';
      this.changed();
    });
    this.changed();
    record.rawBody = await readBody(req);
    record.body = parseJsonOrUndefined(record.rawBody);
    if (embeddings) record.inputs = inputsOf(record.body);
    // The client went away before its body arrived: nothing to answer, no scripted failure used up.
    if (!req.complete || res.destroyed) return;
    const answer = (status: number, payload: unknown, failure?: RecordedKoboldRequest['failure']) => {
      record.status = status;
      record.outcome = 'answered';
      if (failure) record.failure = failure;
      record.endedAt = now();
      sendJson(res, status, payload);
    };

    const route = `${method} ${path}`;
    switch (route) {
      case 'GET /api/extra/version':
        return answer(200, {
          result: 'KoboldCpp',
          version: this.version,
          protected: this.password !== undefined,
          txt2img: false,
          vision: false,
          audio: false,
          transcribe: false,
          multiplayer: false,
          websearch: false,
          tts: false,
          embeddings: this.embeddingsLoaded,
        });
      case 'GET /v1/models':
        // Only the text model: KoboldCpp never lists the embeddings one here.
        return answer(200, { object: 'list', data: [{ id: this.textModel, object: 'model', created: 1, owned_by: 'koboldcpp', permission: [], root: 'koboldcpp' }] });
      case 'GET /api/v1/model':
        return answer(200, { result: this.textModel });
      case 'GET /api/extra/true_max_context_length':
        return answer(200, { value: 8192 });
      case 'GET /api/extra/perf':
        return answer(200, { idle: this.inFlight === 0 ? 1 : 0, queue: Math.max(0, this.inFlight - 1), last_process: 0, total_gens: 0 });
    }
    if (!embeddings) return answer(404, { detail: { msg: `Unknown endpoint ${route}`, type: 'not_found' } });

    if (this.password !== undefined && req.headers['authorization'] !== `Bearer ${this.password}`) {
      return answer(401, koboldTexts.unauthorized, 'unauthorized');
    }
    const failure = this.failures.shift();
    if (failure) this.changed();
    switch (failure?.mode) {
      case 'busy503':
        return answer(503, koboldTexts.busy, 'busy503');
      case 'nonJsonError': {
        const status = failure.status ?? 500;
        record.status = status;
        record.outcome = 'answered';
        record.failure = 'nonJsonError';
        record.endedAt = now();
        res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(koboldTexts.errorPage(status));
        return;
      }
      case 'hang':
        record.failure = 'hang';
        // Held until the client gives up or the server closes; `close` records the outcome.
        await new Promise<void>((resolve) => {
          if (res.destroyed) return resolve();
          res.once('close', () => resolve());
          this.shutdown.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        return;
      case 'dropConnection':
        record.failure = 'dropConnection';
        record.outcome = 'dropped';
        record.endedAt = now();
        req.socket.destroy();
        return;
    }
    // KoboldCpp without --multiuser: one request at a time, the others are told it is busy.
    if (this.exclusive && (record.concurrentAtArrival ?? 1) > 1) {
      return answer(503, koboldTexts.busy, 'exclusiveBusy');
    }

    const wait = this.latencyMs + this.latencyPerItemMs * record.inputs.length;
    if (wait > 0) {
      const gone = AbortSignal.any([this.shutdown.signal, closeSignal(res)]);
      if (this.serial) {
        const turn = this.computing.then(() => (gone.aborted ? undefined : delay(wait, undefined, { signal: gone }).catch(() => {})));
        this.computing = turn;
        await turn;
      } else {
        await delay(wait, undefined, { signal: gone }).catch(() => {});
      }
      if (gone.aborted) return;
    }

    const marker = this.failingMarker;
    const vectors: number[][] = record.inputs.map((text) => (this.embeddingsLoaded && !(marker && text.includes(marker)) ? Array.from(fakeEmbedding(text, this.dimension)) : []));
    if (failure) {
      record.failure = failure.mode;
      const index = failure.index ?? 0;
      if (failure.mode === 'emptyItem' && index < vectors.length) vectors[index] = [];
      if (failure.mode === 'wrongLengthItem' && index < vectors.length) vectors[index] = vectors[index]!.slice(0, failure.dimension ?? Math.floor(this.dimension / 2));
      if (failure.mode === 'wrongDimension') {
        const dimension = failure.dimension ?? 768;
        for (const [i, text] of record.inputs.entries()) vectors[i] = Array.from(fakeEmbedding(text, dimension));
      }
    }
    const promptTokens = record.inputs.reduce((sum, text) => sum + Math.ceil(text.length / 4), 0);
    this.embeddedItems += vectors.filter((v) => v.length > 0).length;
    answer(200, {
      object: 'list',
      data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
      model: this.embeddingsModel,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    });
  }

  // ---- control endpoint (for tests in another process) ------------------------------------------------

  private handleControl(method: string, path: string, rawBody: string, res: http.ServerResponse): void {
    const body = parseJsonOrUndefined(rawBody);
    const input = isRecord(body) ? body : {};
    const route = `${method} ${path}`;
    const number = (key: string) => (typeof input[key] === 'number' ? input[key] : undefined);
    switch (route) {
      case 'GET /__control/requests':
        return sendJson(res, 200, { requests: this.requests, inFlight: this.inFlight, maxConcurrent: this.maxConcurrent, embeddedItems: this.embeddedItems });
      case 'POST /__control/fail': {
        const mode = input['mode'];
        if (typeof mode !== 'string' || !(fakeKoboldFailureModes as readonly string[]).includes(mode)) {
          return sendJson(res, 400, { error: `expected {"mode": one of ${fakeKoboldFailureModes.join(', ')}, "count"?, "index"?, "dimension"?, "status"?}` });
        }
        const options: { count?: number; index?: number; dimension?: number; status?: number } = {};
        for (const key of ['count', 'index', 'dimension', 'status'] as const) {
          const value = number(key);
          if (value !== undefined) options[key] = value;
        }
        this.failNext(mode as FakeKoboldFailureMode, options);
        return sendJson(res, 200, { ok: true, pendingFailures: this.failures });
      }
      case 'POST /__control/settings': {
        if ('password' in input) this.setPassword(typeof input['password'] === 'string' ? input['password'] : undefined);
        if (number('latencyMs') !== undefined) this.setLatency(number('latencyMs')!, number('latencyPerItemMs') ?? 0);
        if (typeof input['exclusive'] === 'boolean') this.setExclusive(input['exclusive']);
        if (typeof input['embeddingsLoaded'] === 'boolean') this.setEmbeddingsLoaded(input['embeddingsLoaded']);
        if (number('dimension') !== undefined) this.setDimension(number('dimension')!);
        if ('failTextsContaining' in input) this.failTextsContaining(typeof input['failTextsContaining'] === 'string' ? input['failTextsContaining'] : undefined);
        return sendJson(res, 200, { ok: true });
      }
      case 'POST /__control/reset':
        this.reset();
        return sendJson(res, 200, { ok: true });
    }
    sendJson(res, 404, { error: `unknown control route ${route}` });
  }
}

export function startFakeKoboldCpp(options: FakeKoboldOptions = {}): Promise<FakeKoboldCpp> {
  return FakeKoboldCpp.start(options);
}

// ---- wire helpers -----------------------------------------------------------------------------------------

function isEmbeddingsPath(path: string): boolean {
  return path === '/v1/embeddings' || path === '/api/extra/embeddings';
}

/** KoboldCpp takes `input` as a list of strings or one string. */
function inputsOf(body: unknown): string[] {
  if (!isRecord(body)) return [];
  const input = body['input'];
  if (Array.isArray(input)) return input.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  return typeof input === 'string' && input ? [input] : [];
}

function sendJson(res: http.ServerResponse, status: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function closeSignal(res: http.ServerResponse): AbortSignal {
  const controller = new AbortController();
  if (res.destroyed) controller.abort();
  else res.once('close', () => controller.abort());
  return controller.signal;
}

/** The body as text; what arrived so far if the client closes first (then `req.complete` is false). */
function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = () => resolve(Buffer.concat(chunks).toString('utf8'));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', done);
    req.on('close', done);
    req.on('error', done);
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

// ---- standalone -------------------------------------------------------------------------------------------

function parseArgs(argv: string[]): FakeKoboldOptions {
  const options: FakeKoboldOptions = {};
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
      case '--dimension':
        options.dimension = Number(value(i++, flag));
        break;
      case '--latency-ms':
        options.latencyMs = Number(value(i++, flag));
        break;
      case '--latency-per-item-ms':
        options.latencyPerItemMs = Number(value(i++, flag));
        break;
      case '--password':
        options.password = value(i++, flag);
        break;
      case '--model':
        options.embeddingsModel = value(i++, flag);
        break;
      case '--exclusive':
        options.exclusive = true;
        break;
      case '--no-embeddings-model':
        options.embeddingsLoaded = false;
        break;
      default:
        throw new Error(`unknown argument ${flag}`);
    }
  }
  return options;
}

async function main(): Promise<void> {
  const server = await startFakeKoboldCpp(parseArgs(process.argv.slice(2)));
  process.stdout.write(`${JSON.stringify({ url: server.url, origin: server.origin, port: server.port, controlUrl: `${server.origin}/__control` })}\n`);
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`fakeKoboldCpp: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
