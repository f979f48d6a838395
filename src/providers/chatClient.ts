// Chat over an OpenAI-compatible server (LM Studio first). Plain Node: no `vscode` here.
//
// The `openai` package builds the requests, sends the key and retries busy servers; the body of a
// streamed reply is read here rather than by its `Stream`, because local servers send things that
// client does not expect: `{"error": "<string>"}` bodies, errors as SSE events with HTTP 200, plain
// text with HTTP 200, and empty streams. Every failure leaves as a `ProviderError`.
import OpenAI from 'openai';
import * as z from 'zod/mini';
import type { Logger } from '../util/logger';
import { parameterNamed, ProviderError, type ProviderErrorReason } from './errors';
import type { ChatProvider, ChatRequest, ChatStreamEvent, ModelInfo } from './types';
import { clip, errorCode, serverText } from './serverText';
import { parseJson } from '../util/json';

export interface ChatClientOptions {
  /** OpenAI-compatible base URL, e.g. `http://127.0.0.1:1234/v1`. */
  baseUrl: string;
  /** Bearer key; LM Studio needs none unless its authentication is on. */
  apiKey?: string;
  /** How the server is named in messages: 'LM Studio', 'the cloud endpoint', … */
  label: string;
  logger: Logger;
  /** Longest wait for the server to start answering, and longest silence mid-reply. Default 120 s. */
  requestTimeoutMs?: number;
  /** Retries of connection failures, 408/409/429 and 5xx before giving up. Default 1. */
  maxRetries?: number;
  /** Ask LM Studio's native `/api/v0/models` for load state and context length. Default true. */
  nativeModelsApi?: boolean;
  fetch?: typeof globalThis.fetch;
}

const defaultRequestTimeoutMs = 120_000;
const defaultMaxRetries = 1;
/** The openai client's own timeout is only a backstop: `RequestScope` below owns the deadline. */
const backstopTimeoutMs = 24 * 60 * 60 * 1000;
const maxBufferedBodyChars = 1_000_000;

// ---- wire shapes -----------------------------------------------------------------------------------

const OpenAiModelListSchema = z.looseObject({
  data: z.array(z.looseObject({ id: z.string() })),
});

const NativeModelSchema = z.looseObject({
  id: z.string(),
  type: z.optional(z.string()),
  state: z.optional(z.string()),
  max_context_length: z.optional(z.nullable(z.number())),
  loaded_context_length: z.optional(z.nullable(z.number())),
  quantization: z.optional(z.nullable(z.string())),
  arch: z.optional(z.nullable(z.string())),
  publisher: z.optional(z.nullable(z.string())),
});
type NativeModel = z.infer<typeof NativeModelSchema>;

const NativeModelListSchema = z.looseObject({ data: z.array(NativeModelSchema) });

const UsageSchema = z.looseObject({
  prompt_tokens: z.optional(z.nullable(z.number())),
  completion_tokens: z.optional(z.nullable(z.number())),
});

const ChoiceSchema = z.looseObject({
  delta: z.optional(
    z.nullable(
      z.looseObject({
        content: z.optional(z.nullable(z.string())),
        // Reasoning models' thinking, where the server keeps it out of `content` (LM Studio's setting, DeepSeek's API, vLLM).
        reasoning_content: z.optional(z.nullable(z.string())),
        reasoning: z.optional(z.nullable(z.string())),
      }),
    ),
  ),
  message: z.optional(z.nullable(z.looseObject({ content: z.optional(z.nullable(z.string())) }))),
  finish_reason: z.optional(z.nullable(z.string())),
});

const ChunkSchema = z.looseObject({
  choices: z.optional(z.nullable(z.array(ChoiceSchema))),
  usage: z.optional(z.nullable(UsageSchema)),
});

// ---- the client ---------------------------------------------------------------------------------------

/** Error bodies as the server sent them; the openai client keeps only `body.error`. */
const errorBodies = new WeakMap<object, unknown>();

class BodyKeepingOpenAI extends OpenAI {
  protected override makeStatusError(status: number, error: object, message: string | undefined, headers: Headers) {
    const err = super.makeStatusError(status, error, message, headers);
    errorBodies.set(err, error ?? message);
    return err;
  }
}

interface ModelLists {
  openAi: string[];
  /** Undefined when `/api/v0/models` did not answer (not LM Studio, or an older one). */
  native: NativeModel[] | undefined;
}

interface Usage {
  promptTokens: number;
  completionTokens: number;
}

interface StreamState {
  model: string;
  status: number;
  startedAt: number;
  text: string;
  reasoning: string;
  usage: Usage | undefined;
  finishReason: string | null;
  sawDone: boolean;
  firstTokenAt: number | undefined;
}

interface FailureContext {
  model?: string;
  scope: RequestScope;
  userSignal: AbortSignal | undefined;
  /** Set once the response headers arrived: a failure after this is a dropped connection. */
  readingBody?: boolean;
  receivedBytes?: boolean;
}

export class OpenAiCompatibleChatClient implements ChatProvider {
  readonly baseUrl: string;
  readonly label: string;
  private readonly client: OpenAI;
  private readonly logger: Logger;
  private readonly apiKey: string | undefined;
  private readonly requestTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly nativeModelsUrl: string | undefined;
  private readonly fetchImpl: typeof globalThis.fetch;

  constructor(options: ChatClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.label = options.label;
    this.logger = options.logger;
    this.apiKey = options.apiKey || undefined;
    this.requestTimeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
    this.maxRetries = options.maxRetries ?? defaultMaxRetries;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.nativeModelsUrl = options.nativeModelsApi === false ? undefined : nativeModelsUrl(this.baseUrl);
    this.client = new BodyKeepingOpenAI({
      baseURL: this.baseUrl,
      apiKey: this.apiKey ?? 'not-needed',
      // Explicit nulls: otherwise the client reads OPENAI_* variables and sends them to whatever server this is.
      adminAPIKey: null,
      organization: null,
      project: null,
      webhookSecret: null,
      maxRetries: this.maxRetries,
      timeout: backstopTimeoutMs,
      logLevel: 'off',
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  async listModels(signal?: AbortSignal): Promise<ModelInfo[]> {
    const lists = await this.fetchModelLists(signal);
    const nativeById = new Map((lists.native ?? []).map((m) => [m.id, m]));
    const models: ModelInfo[] = lists.openAi.map((id) => toModelInfo(id, nativeById.get(id)));
    // LM Studio without just-in-time loading lists only loaded models on /v1; show the others too.
    const listed = new Set(lists.openAi);
    for (const native of lists.native ?? []) {
      if (!listed.has(native.id)) models.push(toModelInfo(native.id, native));
    }
    return models;
  }

  /**
   * The model to chat with: the configured one if set (LM Studio loads a downloaded one on first
   * use); else the loaded chat model LM Studio reports; else the only model `/v1/models` lists.
   */
  async resolveModel(configuredModel?: string, signal?: AbortSignal): Promise<string> {
    const configured = configuredModel?.trim();
    if (configured) return configured;

    const { openAi, native } = await this.fetchModelLists(signal);
    if (native) {
      const loaded = native.filter((m) => m.state === 'loaded' && isChatType(m.type));
      const [first] = loaded;
      if (first) {
        if (loaded.length > 1) {
          this.logger.info(`Several models are loaded in ${this.label} (${loaded.map((m) => m.id).join(', ')}); chatting with ${first.id}. Set persona.chat.model to choose.`);
        }
        return first.id;
      }
    }
    const nativeTypes = new Map((native ?? []).map((m) => [m.id, m.type]));
    const candidates = openAi.filter((id) => (nativeTypes.has(id) ? isChatType(nativeTypes.get(id)) : !/embed/i.test(id)));
    const [only] = candidates;
    if (only && (candidates.length === 1 || !native)) {
      if (candidates.length > 1) {
        this.logger.info(`${this.label} lists several models (${candidates.join(', ')}) and does not say which is loaded; chatting with ${only}. Set persona.chat.model to choose.`);
      } else if (native) {
        this.logger.info(`No model is loaded in ${this.label}; asking for ${only}, which it can load on first use.`);
      }
      return only;
    }
    throw this.fail('noModelLoaded', `${this.label} at ${this.baseUrl} has no model loaded${candidates.length ? ` (downloaded: ${candidates.join(', ')})` : ''}`);
  }

  async *streamChat(request: ChatRequest): AsyncGenerator<ChatStreamEvent, void, undefined> {
    const userSignal = request.signal;
    const scope = new RequestScope(userSignal, this.requestTimeoutMs);
    const url = `${this.baseUrl}/chat/completions`;
    const context: FailureContext = { scope, userSignal };
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    let finished = false;
    try {
      if (userSignal?.aborted) throw this.fail('aborted', 'Stopped before the request was sent');
      const model = request.model?.trim() || (await this.resolveModel('', scope.signal));
      context.model = model;
      yield { type: 'start', model };

      scope.restart();
      const startedAt = performance.now();
      this.logger.info(`Chat request: POST ${url}, model ${model}, ${request.messages.length} messages`);
      const response = await this.client.chat.completions
        .create(
          {
            model,
            messages: request.messages,
            stream: true,
            stream_options: { include_usage: true },
            ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
            ...(request.topP !== undefined ? { top_p: request.topP } : {}),
            ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
            ...(request.presencePenalty !== undefined ? { presence_penalty: request.presencePenalty } : {}),
            ...(request.frequencyPenalty !== undefined ? { frequency_penalty: request.frequencyPenalty } : {}),
            ...(request.seed !== undefined ? { seed: request.seed } : {}),
            ...(request.stop !== undefined && request.stop.length > 0 ? { stop: request.stop } : {}),
            // LM Studio's and llama.cpp's own sampling fields, beside OpenAI's.
            ...(request.topK !== undefined ? { top_k: request.topK } : {}),
            ...(request.minP !== undefined ? { min_p: request.minP } : {}),
            ...(request.repeatPenalty !== undefined ? { repeat_penalty: request.repeatPenalty } : {}),
            ...(request.responseFormat !== undefined ? { response_format: request.responseFormat } : {}),
          } as OpenAI.ChatCompletionCreateParamsStreaming,
          { signal: scope.signal, maxRetries: this.maxRetries, timeout: backstopTimeoutMs },
        )
        .asResponse();
      const contentType = response.headers.get('content-type') ?? '';
      this.logger.debug(`Chat response: HTTP ${response.status} (${contentType || 'no content type'}) after ${elapsed(startedAt)} ms`);
      if (!response.body) throw this.fail('emptyReply', 'The server answered with no body', { model, status: response.status });

      reader = response.body.getReader();
      context.readingBody = true;
      const decoder = new TextDecoder();
      const sse = new SseParser();
      const stream: StreamState = { model, status: response.status, startedAt, text: '', reasoning: '', usage: undefined, finishReason: null, sawDone: false, firstTokenAt: undefined };
      let mode: 'undecided' | 'sse' | 'buffered' = 'undecided';
      let buffered = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        context.receivedBytes = true;
        scope.restart();
        const piece = decoder.decode(value, { stream: true });
        if (mode === 'sse') {
          yield* this.chatEvents(sse.push(piece), stream);
          if (stream.sawDone) break;
          continue;
        }
        buffered += piece;
        if (mode === 'undecided') {
          const start = buffered.trimStart();
          if (!start) continue;
          // Sniff rather than trust the content type: some servers stream SSE as text/plain, or answer 200 with plain text.
          mode = /^(data|event|id|retry)?:/.test(start) ? 'sse' : 'buffered';
          if (mode === 'sse') {
            yield* this.chatEvents(sse.push(buffered), stream);
            buffered = '';
            if (stream.sawDone) break;
          }
        }
        if (buffered.length > maxBufferedBodyChars) throw this.fail('badResponse', 'The server sent a large reply that is not a stream', { model, status: response.status });
      }
      const tail = decoder.decode();
      if (stream.sawDone) {
        // Whatever follows [DONE] is not ours to wait for.
        await reader.cancel().catch(() => {});
      } else if (mode === 'sse') {
        yield* this.chatEvents([...sse.push(tail), ...sse.flush()], stream);
      } else {
        yield* this.wholeBodyEvents(buffered + tail, stream);
      }
      finished = true;
      const { text, usage, finishReason } = stream;

      if (!text.trim() && !stream.reasoning.trim()) {
        throw this.fail('emptyReply', `${this.label} sent an empty reply${finishReason ? ` (finish reason: ${finishReason})` : ''}`, {
          model,
          status: response.status,
          ...(finishReason ? { detail: `finish reason: ${finishReason}` } : {}),
        });
      }
      if (usage) yield { type: 'usage', ...usage };
      const totalMs = elapsed(startedAt);
      this.logger.info(
        `Chat done: model ${model}, ${text.length} chars in ${totalMs} ms, finish ${finishReason ?? 'unknown'}` +
          (usage ? `, ${usage.promptTokens} prompt + ${usage.completionTokens} completion tokens` : ''),
      );
      yield { type: 'done', finishReason };
    } catch (e) {
      const err = this.toProviderError(e, context);
      if (err.reason === 'aborted') this.logger.info(`Chat stopped (model ${err.model ?? 'unresolved'})`);
      else this.logger.warn(`Chat failed: ${err.message}`);
      throw err;
    } finally {
      scope.dispose();
      if (!finished) {
        // Closes the HTTP connection, so the server stops generating.
        scope.abort();
        reader?.cancel().catch(() => {});
      }
    }
  }

  // ---- models ---------------------------------------------------------------------------------------

  private async fetchModelLists(signal: AbortSignal | undefined): Promise<ModelLists> {
    const scope = new RequestScope(signal, this.requestTimeoutMs);
    const startedAt = performance.now();
    try {
      const [openAiBody, native] = await Promise.all([
        this.client.get<unknown>('/models', { signal: scope.signal, maxRetries: this.maxRetries, timeout: backstopTimeoutMs }),
        this.fetchNativeModels(scope.signal),
      ]);
      const parsed = OpenAiModelListSchema.safeParse(openAiBody);
      if (!parsed.success) {
        throw this.fail('badResponse', `${this.baseUrl}/models did not answer with a model list`, { detail: clip(this.redact(JSON.stringify(openAiBody) ?? ''), 200) });
      }
      const openAi = parsed.data.data.map((m) => m.id);
      this.logger.debug(
        `Models at ${this.baseUrl}: ${openAi.length} listed` +
          (native ? `, ${native.filter((m) => m.state === 'loaded').length} loaded (native API)` : ', native API unavailable') +
          ` in ${elapsed(startedAt)} ms`,
      );
      return { openAi, native };
    } catch (e) {
      const err = this.toProviderError(e, { scope, userSignal: signal });
      if (err.reason !== 'aborted') this.logger.warn(`Listing models failed: ${err.message}`);
      throw err;
    } finally {
      scope.dispose();
    }
  }

  private async fetchNativeModels(signal: AbortSignal): Promise<NativeModel[] | undefined> {
    const url = this.nativeModelsUrl;
    if (!url) return undefined;
    try {
      const response = await this.fetchImpl(url, {
        signal,
        headers: { accept: 'application/json', ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}) },
      });
      if (!response.ok) {
        await response.body?.cancel().catch(() => {});
        this.logger.debug(`${url} answered HTTP ${response.status}; using /v1/models only`);
        return undefined;
      }
      const parsed = NativeModelListSchema.safeParse(await response.json());
      if (!parsed.success) {
        this.logger.debug(`${url} did not answer with a model list; using /v1/models only`);
        return undefined;
      }
      return parsed.data.data;
    } catch (e) {
      // The /v1 request reports the connection failure; this one is only a bonus.
      this.logger.debug(`${url} failed (${e instanceof Error ? e.message : String(e)}); using /v1/models only`);
      return undefined;
    }
  }

  // ---- failures -----------------------------------------------------------------------------------------

  private fail(reason: ProviderErrorReason, message: string, extra: { model?: string; status?: number; detail?: string; midStream?: boolean; cause?: unknown } = {}): ProviderError {
    return new ProviderError(reason, message, { baseUrl: this.baseUrl, providerLabel: this.label, ...extra });
  }

  private serverError(status: number | undefined, body: unknown, model: string | undefined, how: { streamed?: boolean; midStream?: boolean } = {}): ProviderError {
    const detail = clip(this.redact(serverText(body)), 500);
    const reason = classifyServerError(status, body, detail);
    const where = how.streamed ? 'in the stream' : `HTTP ${status ?? '?'}`;
    return this.fail(reason, `${this.label} at ${this.baseUrl} answered ${where}: ${detail || '(no body)'}`, {
      ...(model ? { model } : {}),
      ...(status !== undefined ? { status } : {}),
      ...(detail ? { detail } : {}),
      midStream: how.midStream ?? false,
    });
  }

  private toProviderError(e: unknown, context: FailureContext): ProviderError {
    const model = context.model;
    const extra = model ? { model } : {};
    if (context.userSignal?.aborted) {
      return ProviderError.is(e, 'aborted') ? e : this.fail('aborted', 'Stopped', { ...extra, cause: e });
    }
    if (context.scope.timedOut) {
      return this.fail('timeout', `${this.label} at ${this.baseUrl} did not answer within ${Math.round(this.requestTimeoutMs / 1000)} s`, { ...extra, cause: e });
    }
    if (ProviderError.is(e)) return e;
    if (e instanceof OpenAI.APIUserAbortError || isAbortError(e)) {
      // Our own abort without a user or timeout behind it: the consumer stopped reading.
      return this.fail('aborted', 'Stopped', { ...extra, cause: e });
    }
    if (e instanceof OpenAI.APIConnectionTimeoutError) {
      return this.fail('timeout', `${this.label} at ${this.baseUrl} did not answer in time`, { ...extra, cause: e });
    }
    if (e instanceof OpenAI.APIConnectionError) {
      const code = errorCode(e);
      return this.fail('serverDown', `Cannot connect to ${this.label} at ${this.baseUrl}${code ? ` (${code})` : ''}`, { ...extra, ...(code ? { detail: code } : {}), cause: e });
    }
    if (e instanceof OpenAI.APIError) {
      const body = errorBodies.has(e) ? errorBodies.get(e) : e.error;
      return this.serverError(e.status, body, model);
    }
    if (context.readingBody || isNetworkError(e)) {
      // Reading the body failed: the connection dropped (undici says "terminated").
      const code = errorCode(e);
      const midStream = context.receivedBytes === true;
      return this.fail('serverDown', midStream ? `The connection to ${this.label} at ${this.baseUrl} closed mid-reply${code ? ` (${code})` : ''}` : `Cannot connect to ${this.label} at ${this.baseUrl}${code ? ` (${code})` : ''}`, {
        ...extra,
        ...(code ? { detail: code } : {}),
        midStream,
        cause: e,
      });
    }
    const text = e instanceof Error ? e.message : String(e);
    return this.fail('badResponse', `Unexpected failure talking to ${this.label} at ${this.baseUrl}: ${this.redact(text)}`, { ...extra, cause: e });
  }

  /** Chat events for a batch of SSE events; throws at the first error event, after the text before it. */
  private *chatEvents(events: SseEvent[], stream: StreamState): Generator<ChatStreamEvent, void, undefined> {
    for (const event of events) {
      if (stream.sawDone) return;
      if (event.data.trim() === '[DONE]') {
        stream.sawDone = true;
        return;
      }
      const parsed = parseJson(event.data);
      if (!parsed.ok) {
        const excerpt = clip(this.redact(event.data), 200);
        throw this.fail('badResponse', `${this.label} sent a stream event that is not JSON: ${excerpt}`, { model: stream.model, status: stream.status, detail: excerpt, midStream: stream.text.length > 0 });
      }
      const serverError = errorInBody(parsed.value) ?? (event.event === 'error' ? parsed.value : undefined);
      if (serverError !== undefined) throw this.serverError(stream.status, serverError, stream.model, { streamed: true, midStream: stream.text.length > 0 });
      const chunk = ChunkSchema.safeParse(parsed.value);
      if (!chunk.success) {
        const excerpt = clip(this.redact(event.data), 200);
        throw this.fail('badResponse', `${this.label} sent a stream event that is not a chat completion chunk: ${excerpt}`, { model: stream.model, status: stream.status, detail: excerpt });
      }
      yield* this.applyChunk(chunk.data, stream);
    }
  }

  /** Chat events for a body that is not SSE: a whole chat.completion, an error, or plain text. */
  private *wholeBodyEvents(body: string, stream: StreamState): Generator<ChatStreamEvent, void, undefined> {
    const trimmed = body.trim();
    if (!trimmed) return;
    const parsed = parseJson(trimmed);
    // Some LM Studio versions answer 200 with the error as plain text.
    if (!parsed.ok) throw this.serverError(stream.status, trimmed, stream.model, { streamed: true });
    const serverError = errorInBody(parsed.value);
    if (serverError !== undefined) throw this.serverError(stream.status, serverError, stream.model, { streamed: true });
    // A server that ignored `stream: true` and sent a whole chat.completion.
    const completion = ChunkSchema.safeParse(parsed.value);
    if (!completion.success || !completion.data.choices?.length) {
      throw this.fail('badResponse', `${this.label} answered with JSON that is not a chat completion: ${clip(this.redact(trimmed), 200)}`, { model: stream.model, status: stream.status });
    }
    yield* this.applyChunk(completion.data, stream);
  }

  private *applyChunk(chunk: z.infer<typeof ChunkSchema>, stream: StreamState): Generator<ChatStreamEvent, void, undefined> {
    if (chunk.usage) stream.usage = toUsage(chunk.usage) ?? stream.usage;
    let delta = '';
    let reasoning = '';
    for (const choice of chunk.choices ?? []) {
      delta += choice.delta?.content ?? choice.message?.content ?? '';
      reasoning += choice.delta?.reasoning_content ?? choice.delta?.reasoning ?? '';
      if (choice.finish_reason) stream.finishReason = choice.finish_reason;
    }
    if (reasoning) {
      stream.reasoning += reasoning;
      yield { type: 'reasoning', text: reasoning };
    }
    if (!delta) return;
    if (stream.firstTokenAt === undefined) {
      stream.firstTokenAt = performance.now();
      this.logger.info(`First token from ${stream.model} after ${Math.round(stream.firstTokenAt - stream.startedAt)} ms`);
    }
    stream.text += delta;
    yield { type: 'delta', text: delta };
  }

  /** Removes the key, and anything that looks like one, from text that may be logged or shown. */
  private redact(text: string): string {
    let out = text;
    if (this.apiKey && this.apiKey.length >= 4) out = out.split(this.apiKey).join('[redacted]');
    return out.replace(/(Bearer\s+)\S+/gi, '$1[redacted]').replace(/\bsk-[A-Za-z0-9_*-]{6,}/g, 'sk-[redacted]');
  }
}

// ---- helpers ---------------------------------------------------------------------------------------------

/** LM Studio's native model list: the base URL with its trailing `/v1` replaced by `/api/v0/models`. */
export function nativeModelsUrl(baseUrl: string): string | undefined {
  const trimmed = baseUrl.replace(/\/+$/, '');
  if (!/\/v1$/.test(trimmed)) return undefined;
  return `${trimmed.slice(0, -'/v1'.length)}/api/v0/models`;
}

/**
 * What kind of failure a server's error body describes. LM Studio says most things only in text, so
 * the text is read here, once; everything else looks at `ProviderError.reason`.
 */
export function classifyServerError(status: number | undefined, body: unknown, text = serverText(body)): ProviderErrorReason {
  const code = errorField(body, 'code');
  const haystack = `${text} ${code ?? ''}`;
  if (/no models? (are |is )?loaded/i.test(haystack)) return 'noModelLoaded';
  if (/multiple models are loaded/i.test(haystack)) return 'multipleModels';
  if (/invalid model identifier|model_not_found|model .{0,200} (not found|does not exist)/i.test(haystack)) return 'modelNotFound';
  if (/trying to keep the first \d+ tokens|context[ _]length[ _]exceeded|context length|context window|context size|maximum context|prompt is too long|exceeds? (the )?(available )?context/i.test(haystack)) {
    return 'contextOverflow';
  }
  if (status === 401 || status === 403) return 'unauthorized';
  if ((status === 400 || status === 422) && parameterNamed(haystack)) return 'badParameter';
  if (status === 429 || status === 503) return 'busy';
  if (status === 408 || status === 504) return 'timeout';
  return 'http';
}

function errorField(body: unknown, field: string): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const record = body as Record<string, unknown>;
  const value = record[field] ?? (record['error'] && typeof record['error'] === 'object' ? (record['error'] as Record<string, unknown>)[field] : undefined);
  return typeof value === 'string' ? value : undefined;
}

/** The error a 200 body or stream event carries, if it carries one. */
function errorInBody(value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (record['error'] !== undefined && record['error'] !== null && record['error'] !== false) return value;
  if (record['detail'] !== undefined && record['choices'] === undefined) return value;
  return undefined;
}

function toModelInfo(id: string, native: NativeModel | undefined): ModelInfo {
  const info: ModelInfo = { id };
  if (!native) return info;
  if (native.state === 'loaded' || native.state === 'not-loaded') info.state = native.state;
  if (native.type) info.type = native.type;
  const contextLength = native.loaded_context_length ?? native.max_context_length;
  if (typeof contextLength === 'number' && contextLength > 0) info.contextLength = contextLength;
  if (typeof native.max_context_length === 'number' && native.max_context_length > 0) info.maxContextLength = native.max_context_length;
  if (typeof native.loaded_context_length === 'number' && native.loaded_context_length > 0) info.loadedContextLength = native.loaded_context_length;
  if (native.quantization) info.quantization = native.quantization;
  if (native.arch) info.arch = native.arch;
  if (native.publisher) info.publisher = native.publisher;
  return info;
}

export function isChatType(type: string | undefined): boolean {
  return type === undefined || type === 'llm' || type === 'vlm';
}

function toUsage(usage: z.infer<typeof UsageSchema>): Usage | undefined {
  if (typeof usage.prompt_tokens !== 'number' && typeof usage.completion_tokens !== 'number') return undefined;
  return { promptTokens: usage.prompt_tokens ?? 0, completionTokens: usage.completion_tokens ?? 0 };
}


function isAbortError(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');
}

function isNetworkError(e: unknown): boolean {
  return e instanceof TypeError && errorCode(e) !== undefined;
}

function elapsed(since: number): number {
  return Math.round(performance.now() - since);
}

/**
 * One request's cancellation: follows the caller's signal, and aborts by itself when the server is
 * silent for `timeoutMs` (waiting for headers, for the first token, or between tokens).
 */
class RequestScope {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly onParentAbort = () => this.controller.abort();
  timedOut = false;

  constructor(
    private readonly parent: AbortSignal | undefined,
    private readonly timeoutMs: number,
  ) {
    if (parent?.aborted) this.controller.abort();
    else parent?.addEventListener('abort', this.onParentAbort, { once: true });
    this.restart();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  restart(): void {
    clearTimeout(this.timer);
    if (this.controller.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, this.timeoutMs);
  }

  abort(): void {
    this.controller.abort();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.parent?.removeEventListener('abort', this.onParentAbort);
  }
}

interface SseEvent {
  event: string | undefined;
  data: string;
}

/** Server-sent events, per the WHATWG rules that matter here: `data:` lines joined, blank line ends an event. */
class SseParser {
  private rest = '';
  private data: string[] = [];
  private event: string | undefined;

  push(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    const lines = (this.rest + text).split(/\r?\n/);
    this.rest = lines.pop() ?? '';
    for (const line of lines) this.line(line, events);
    return events;
  }

  flush(): SseEvent[] {
    const events: SseEvent[] = [];
    if (this.rest) this.line(this.rest, events);
    this.rest = '';
    this.line('', events);
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.data.length) events.push({ event: this.event, data: this.data.join('\n') });
      this.data = [];
      this.event = undefined;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
  }
}
