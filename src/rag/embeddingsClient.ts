// Embeddings over an OpenAI-compatible `/v1/embeddings` (KoboldCpp first). Plain Node: no `vscode` here.
//
// Plain `fetch`, not the `openai` package: the request is one POST, and what matters is around it —
// KoboldCpp's 503 busy answers and dropped connections retried in exactly one place (the openai
// client retries 503 and connection errors on its own, which would multiply with ours), its error
// bodies read whatever they are (`{"detail": {"msg"}}`, `{"error"}`, HTML, text), and every vector
// checked, because KoboldCpp fails one item by sending an empty array with HTTP 200.
// Every failure leaves as an `EmbeddingsError`.
import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod/mini';
import type { Logger } from '../util/logger';
import { duration, EmbeddingsError, type EmbeddingsErrorOptions, type EmbeddingsErrorReason } from './embeddingsErrors';
import { clip, errorCode, errorText as errorTextIn } from '../providers/serverText';
import { errorText } from '../util/errors';
import { parseJson } from '../util/json';

export interface EmbeddingsClientOptions {
  /** OpenAI-compatible base URL, e.g. `http://127.0.0.1:5001/v1` (KoboldCpp). */
  baseUrl: string;
  /** Bearer key: KoboldCpp's `--password`, when it was started with one. */
  apiKey?: string;
  /** Sent as `model`; KoboldCpp ignores it and uses the model it was started with. */
  model?: string;
  logger: Logger;
  /** How the server is named in messages. Default 'KoboldCpp'. */
  label?: string;
  /** Texts per request. Default 32. */
  batchSize?: number;
  /**
   * Requests at once, over all calls of this client. Default 2: KoboldCpp embeds one at a time, so
   * a second one only hides the round trip. A server that answers "busy" while another request of
   * this client is in flight (KoboldCpp without --multiuser) gets one at a time from then on.
   */
  maxInFlight?: number;
  /** Awaited before every request, retries included (memory holds indexing back while a chat turn retrieves). */
  beforeRequest?: (signal?: AbortSignal) => Promise<void>;
  /** Length every vector must have (the one the store already holds); unset: whatever the first reply has. */
  expectedDimension?: number;
  /** Retries of a request that met 503/429 or a connection failure. Default 4 (5 tries in all). */
  retries?: number;
  /** Wait before the first retry; doubled each time, with jitter. Default 500 ms. */
  retryDelayMs?: number;
  /** Longest wait between two tries. Default 8 s. */
  maxRetryDelayMs?: number;
  /** Longest wait for one request's reply. Not retried: a server that hangs would only hang again. Default 120 s. */
  requestTimeoutMs?: number;
  fetch?: typeof globalThis.fetch;
}

export interface EmbeddingsProbe {
  dimension: number;
  /** The model the server says it used (KoboldCpp names it in the reply, not in `/v1/models`). */
  model?: string;
}

const defaults = {
  label: 'KoboldCpp',
  batchSize: 32,
  maxInFlight: 2,
  retries: 4,
  retryDelayMs: 500,
  maxRetryDelayMs: 8000,
  requestTimeoutMs: 120_000,
} as const;

/** A short look at the version endpoint when KoboldCpp may be running without an embeddings model. */
const diagnoseTimeoutMs = 5000;
const probeText = 'Persona checks that embeddings work.';

// ---- wire shapes -----------------------------------------------------------------------------------

const EmbeddingsResponseSchema = z.looseObject({
  data: z.array(
    z.looseObject({
      index: z.optional(z.nullable(z.number())),
      embedding: z.union([z.array(z.unknown()), z.string()]),
    }),
  ),
  model: z.optional(z.nullable(z.string())),
});

const VersionSchema = z.looseObject({
  result: z.optional(z.string()),
  version: z.optional(z.string()),
  embeddings: z.optional(z.boolean()),
});

// ---- the client ---------------------------------------------------------------------------------------

/** What one `embed` call has learned so far, shared by its batches. */
interface CallState {
  /** The length every vector of this call must have: the expected one, or the first reply's. */
  dimension: number | undefined;
  model: string | undefined;
}

interface BatchReply {
  /** One per text; empty when the server failed that text. */
  vectors: Float32Array[];
  model: string | undefined;
}

interface Attempt {
  /** Retry connection failures (not for `probe`: nothing listening should be said at once). */
  retryConnectionErrors: boolean;
}

export class EmbeddingsClient {
  readonly baseUrl: string;
  readonly label: string;
  private readonly endpoint: string;
  private readonly apiKey: string | undefined;
  private readonly model: string | undefined;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly maxInFlight: number;
  private readonly expectedDimension: number | undefined;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly requestTimeoutMs: number;
  private readonly fetchImpl: typeof globalThis.fetch;
  private lastModelName: string | undefined;
  private readonly beforeRequest: ((signal?: AbortSignal) => Promise<void>) | undefined;
  /** Requests of this client in flight, the most allowed, and calls waiting for a turn. */
  private active = 0;
  private limit: number;
  private readonly slotWaiters: (() => void)[] = [];

  constructor(options: EmbeddingsClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.endpoint = `${this.baseUrl}/embeddings`;
    this.label = options.label ?? defaults.label;
    this.apiKey = options.apiKey || undefined;
    this.model = options.model?.trim() || undefined;
    this.logger = options.logger;
    this.batchSize = positiveInteger(options.batchSize ?? defaults.batchSize, 'batchSize');
    this.maxInFlight = positiveInteger(options.maxInFlight ?? defaults.maxInFlight, 'maxInFlight');
    this.expectedDimension = options.expectedDimension === undefined ? undefined : positiveInteger(options.expectedDimension, 'expectedDimension');
    this.retries = Math.max(0, Math.floor(options.retries ?? defaults.retries));
    this.retryDelayMs = Math.max(0, options.retryDelayMs ?? defaults.retryDelayMs);
    this.maxRetryDelayMs = Math.max(this.retryDelayMs, options.maxRetryDelayMs ?? defaults.maxRetryDelayMs);
    this.requestTimeoutMs = positiveInteger(options.requestTimeoutMs ?? defaults.requestTimeoutMs, 'requestTimeoutMs');
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.beforeRequest = options.beforeRequest;
    this.limit = this.maxInFlight;
  }

  /** The model the server named in its last reply. */
  get lastModel(): string | undefined {
    return this.lastModelName;
  }

  /**
   * One vector per text, in the order of `texts`. Requests go in batches of `batchSize`, at most
   * `maxInFlight` at once; the first failure stops the rest (no new request starts, the ones in
   * flight are aborted) and is thrown once they have all stopped.
   */
  async embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    if (signal?.aborted) throw this.fail('aborted', 'Stopped before the first request');
    if (texts.length === 0) return [];
    const startedAt = performance.now();
    const batches: Array<{ offset: number; texts: readonly string[] }> = [];
    for (let offset = 0; offset < texts.length; offset += this.batchSize) {
      batches.push({ offset, texts: texts.slice(offset, offset + this.batchSize) });
    }
    const results: Float32Array[] = new Array<Float32Array>(texts.length);
    const state: CallState = { dimension: this.expectedDimension, model: undefined };
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let failure: unknown;
    let next = 0;
    const worker = async () => {
      while (!stop.signal.aborted) {
        const batch = batches[next++];
        if (!batch) return;
        try {
          const reply = await this.request(batch.texts, stop.signal, { retryConnectionErrors: true });
          const vectors = await this.checkVectors(reply, batch.texts, batch.offset, state, stop.signal);
          vectors.forEach((vector, i) => (results[batch.offset + i] = vector));
        } catch (e) {
          failure ??= e;
          stop.abort();
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.maxInFlight, batches.length) }, worker));
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (signal?.aborted) {
      this.logger.info(`Embeddings stopped after ${elapsed(startedAt)} ms`);
      throw EmbeddingsError.is(failure, 'aborted') ? failure : this.fail('aborted', 'Stopped', { cause: failure });
    }
    if (failure !== undefined) {
      const err = EmbeddingsError.is(failure) ? failure : this.fail('badResponse', `Unexpected failure: ${errorText(failure)}`, { cause: failure });
      this.logger.warn(`Embeddings failed: ${err.message}`);
      throw err;
    }
    this.lastModelName = state.model ?? this.lastModelName;
    this.logger.info(`Embedded ${texts.length} texts in ${batches.length} requests in ${elapsed(startedAt)} ms (${state.dimension}-d${state.model ? `, ${state.model}` : ''})`);
    return results;
  }

  /**
   * Embeds one short text to learn the vector length and the model's name. Does not hold the reply
   * to `expectedDimension` (comparing is the caller's business) and does not retry a connection
   * that is refused: nothing listening is said at once.
   */
  async probe(signal?: AbortSignal): Promise<EmbeddingsProbe> {
    if (signal?.aborted) throw this.fail('aborted', 'Stopped before the first request');
    try {
      const reply = await this.request([probeText], signal, { retryConnectionErrors: false });
      const state: CallState = { dimension: undefined, model: undefined };
      const [vector] = await this.checkVectors(reply, [probeText], 0, state, signal);
      this.lastModelName = state.model ?? this.lastModelName;
      this.logger.info(`Embeddings server at ${this.baseUrl}: ${vector!.length}-d vectors${state.model ? ` from ${state.model}` : ''}`);
      return { dimension: vector!.length, ...(state.model ? { model: state.model } : {}) };
    } catch (e) {
      const err = EmbeddingsError.is(e) ? e : this.fail('badResponse', `Unexpected failure: ${errorText(e)}`, { cause: e });
      if (err.reason !== 'aborted') this.logger.warn(`Embeddings probe failed: ${err.message}`);
      throw err;
    }
  }

  // ---- one request, with its retries --------------------------------------------------------------------

  /** POSTs one batch; retries 503/429 and dropped connections with backoff; parses the reply. */
  private async request(texts: readonly string[], signal: AbortSignal | undefined, how: Attempt): Promise<BatchReply> {
    const body = JSON.stringify({ input: texts, encoding_format: 'float', ...(this.model ? { model: this.model } : {}) });
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.apiKey) headers['authorization'] = `Bearer ${this.apiKey}`;
    for (let attempt = 1; ; attempt++) {
      await this.takeSlot(signal);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new AbortController();
      let retryAfterMs: number | undefined;
      let retryable: EmbeddingsError;
      try {
        await this.beforeRequest?.(signal);
        const startedAt = performance.now();
        timer = setTimeout(() => timeout.abort(), this.requestTimeoutMs);
        const requestSignal = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
        const response = await this.fetchImpl(this.endpoint, { method: 'POST', headers, body, signal: requestSignal });
        const text = await response.text();
        this.logger.debug(`POST ${this.endpoint}: ${texts.length} texts, HTTP ${response.status} after ${elapsed(startedAt)} ms${attempt > 1 ? ` (try ${attempt})` : ''}`);
        if (response.ok) return this.parseReply(text, texts.length, response.status);
        const error = this.httpError(response.status, text, attempt);
        if (error.reason !== 'busy') throw error;
        if (this.active > 1 && this.limit > 1) {
          this.limit = 1;
          this.logger.info(`${this.label} at ${this.baseUrl} serves one request at a time: sending one at a time from now on.`);
        }
        retryable = error;
        retryAfterMs = retryAfter(response.headers.get('retry-after'));
      } catch (e) {
        if (signal?.aborted) throw this.fail('aborted', 'Stopped', { cause: e });
        if (timeout.signal.aborted) {
          throw this.fail('timeout', `${this.label} at ${this.baseUrl} did not answer within ${duration(this.requestTimeoutMs)}`, { timeoutMs: this.requestTimeoutMs, attempts: attempt, cause: e });
        }
        if (EmbeddingsError.is(e)) throw e;
        const code = errorCode(e);
        const refused = code === 'ECONNREFUSED';
        retryable = this.fail('serverDown', `Cannot connect to ${this.label} at ${this.baseUrl}${code ? ` (${code})` : ''}`, { ...(code ? { detail: code } : {}), attempts: attempt, cause: e });
        if (refused && !how.retryConnectionErrors) throw retryable;
      } finally {
        clearTimeout(timer);
        this.releaseSlot();
      }
      if (attempt > this.retries) throw retryable;
      const wait = this.backoff(attempt, retryAfterMs);
      this.logger.info(`${retryable.message}; trying again in ${wait} ms (try ${attempt + 1} of ${this.retries + 1})`);
      try {
        await sleep(wait, undefined, signal ? { signal } : {});
      } catch (e) {
        throw this.fail('aborted', 'Stopped', { cause: e });
      }
    }
  }

  /** Waits until fewer than `limit` requests of this client are in flight, then counts this one. */
  private async takeSlot(signal: AbortSignal | undefined): Promise<void> {
    while (this.active >= this.limit) {
      if (signal?.aborted) throw this.fail('aborted', 'Stopped before the request');
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener('abort', wake);
          const i = this.slotWaiters.indexOf(wake);
          if (i >= 0) this.slotWaiters.splice(i, 1);
          resolve();
        };
        this.slotWaiters.push(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
    if (signal?.aborted) throw this.fail('aborted', 'Stopped before the request');
    this.active++;
  }

  private releaseSlot(): void {
    this.active--;
    this.slotWaiters.shift()?.();
  }

  /** Exponential, with jitter so that batches in flight together do not retry in step. */
  private backoff(attempt: number, retryAfterMs: number | undefined): number {
    const exponential = Math.min(this.maxRetryDelayMs, this.retryDelayMs * 2 ** (attempt - 1));
    const jittered = exponential / 2 + Math.random() * (exponential / 2);
    return Math.round(Math.min(this.maxRetryDelayMs, Math.max(jittered, retryAfterMs ?? 0)));
  }

  private parseReply(text: string, expected: number, status: number): BatchReply {
    const parsed = parseJson(text);
    if (!parsed.ok) {
      throw this.fail('badResponse', `${this.label} answered HTTP ${status} with a body that is not JSON: ${clip(this.redact(bodyText(text)), 200)}`, { status, detail: clip(this.redact(bodyText(text)), 300) });
    }
    const reply = EmbeddingsResponseSchema.safeParse(parsed.value);
    if (!reply.success) {
      const said = errorTextIn(parsed.value);
      throw this.fail('badResponse', `${this.label} answered HTTP ${status} without embeddings: ${clip(this.redact(said ?? JSON.stringify(parsed.value) ?? ''), 200)}`, {
        status,
        ...(said ? { detail: clip(this.redact(said), 300) } : {}),
      });
    }
    const items = reply.data.data;
    if (items.length !== expected) {
      throw this.fail('badResponse', `${this.label} sent ${items.length} vectors for ${expected} texts`, { status, detail: `${items.length} vectors for ${expected} texts` });
    }
    // Order by `index` when every item has a distinct one in range; else by position.
    const indices = items.map((item) => item.index);
    const byIndex = indices.every((i) => typeof i === 'number' && Number.isInteger(i) && i >= 0 && i < expected) && new Set(indices).size === expected;
    const vectors = new Array<Float32Array>(expected);
    for (const [position, item] of items.entries()) {
      const at = byIndex ? (item.index as number) : position;
      vectors[at] = this.toVector(item.embedding, at, status);
    }
    return { vectors, model: reply.data.model ?? undefined };
  }

  private toVector(embedding: unknown[] | string, at: number, status: number): Float32Array {
    if (typeof embedding === 'string') {
      // Base64 of little-endian float32s, from a server that ignored encoding_format: "float".
      const bytes = Buffer.from(embedding, 'base64');
      if (bytes.length % 4 !== 0) throw this.fail('badResponse', `${this.label} sent item ${at} as base64 that is not float32s`, { status });
      const vector = new Float32Array(bytes.length / 4);
      for (let i = 0; i < vector.length; i++) vector[i] = bytes.readFloatLE(i * 4);
      return vector;
    }
    const vector = new Float32Array(embedding.length);
    for (let i = 0; i < embedding.length; i++) {
      const value = embedding[i];
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw this.fail('badResponse', `${this.label} sent item ${at} with ${JSON.stringify(value)} at position ${i}, not a number`, { status, detail: `item ${at} holds ${JSON.stringify(value)}` });
      }
      vector[i] = value;
    }
    return vector;
  }

  /**
   * Checks one batch's vectors: all the same length, and that length the call's. When every vector
   * is empty, asks KoboldCpp whether an embeddings model is loaded at all.
   */
  private async checkVectors(reply: BatchReply, texts: readonly string[], offset: number, state: CallState, signal: AbortSignal | undefined): Promise<Float32Array[]> {
    const { vectors } = reply;
    if (reply.model) state.model ??= reply.model;
    const model = reply.model ?? state.model;
    const lengths = vectors.map((v) => v.length);
    const nonEmpty = lengths.filter((n) => n > 0);
    if (nonEmpty.length === 0 && (await this.embeddingsModelMissing(signal))) {
      throw this.fail('noEmbeddingsModel', `${this.label} at ${this.baseUrl} has no embeddings model loaded`, { ...(model ? { model } : {}) });
    }
    const common = mostCommon(nonEmpty);
    if (common !== undefined && nonEmpty.every((n) => n === common) && state.dimension !== undefined && common !== state.dimension) {
      throw this.fail('dimensionMismatch', `${this.label} at ${this.baseUrl} sent ${common}-d vectors where ${state.dimension}-d ones were expected`, {
        expectedDimension: state.dimension,
        actualDimension: common,
        ...(model ? { model } : {}),
      });
    }
    const dimension = state.dimension ?? common;
    for (const [i, vector] of vectors.entries()) {
      if (vector.length === dimension) continue;
      const itemIndex = offset + i;
      const itemPreview = clip(texts[i] ?? '', 80);
      if (vector.length === 0) {
        throw this.fail('itemFailed', `${this.label} sent an empty vector for text ${itemIndex} (“${clip(itemPreview, 40)}”)`, { itemIndex, itemPreview, ...(dimension ? { expectedDimension: dimension } : {}), actualDimension: 0, ...(model ? { model } : {}) });
      }
      throw this.fail('itemFailed', `${this.label} sent a ${vector.length}-d vector for text ${itemIndex} (“${clip(itemPreview, 40)}”) where the others are ${dimension}-d`, {
        itemIndex,
        itemPreview,
        ...(dimension ? { expectedDimension: dimension } : {}),
        actualDimension: vector.length,
        ...(model ? { model } : {}),
      });
    }
    state.dimension ??= dimension;
    return vectors;
  }

  /** True only when the server says it is KoboldCpp and has no embeddings model; false when unsure. */
  private async embeddingsModelMissing(signal: AbortSignal | undefined): Promise<boolean> {
    const url = `${this.baseUrl.replace(/\/v1$/, '')}/api/extra/version`;
    try {
      const timeout = AbortSignal.timeout(diagnoseTimeoutMs);
      const response = await this.fetchImpl(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, headers: { accept: 'application/json' } });
      if (!response.ok) {
        await response.body?.cancel().catch(() => {});
        return false;
      }
      const version = VersionSchema.safeParse(parseJson(await response.text()).value);
      return version.success && /kobold/i.test(version.data.result ?? '') && version.data.embeddings === false;
    } catch (e) {
      this.logger.debug(`${url} did not say whether an embeddings model is loaded (${errorText(e)})`);
      return false;
    }
  }

  // ---- failures -----------------------------------------------------------------------------------------

  private httpError(status: number, text: string, attempt: number): EmbeddingsError {
    const parsed = parseJson(text);
    const said = parsed.ok ? (errorTextIn(parsed.value) ?? JSON.stringify(parsed.value)) : bodyText(text);
    const detail = clip(this.redact(said ?? ''), 300);
    const reason: EmbeddingsErrorReason = status === 401 || status === 403 ? 'unauthorized' : status === 503 || status === 429 ? 'busy' : 'http';
    return this.fail(reason, `${this.label} at ${this.baseUrl} answered HTTP ${status}: ${detail || '(no body)'}`, { status, ...(detail ? { detail } : {}), attempts: attempt });
  }

  private fail(reason: EmbeddingsErrorReason, message: string, extra: Omit<EmbeddingsErrorOptions, 'baseUrl' | 'label'> = {}): EmbeddingsError {
    return new EmbeddingsError(reason, message, { baseUrl: this.baseUrl, label: this.label, ...extra });
  }

  /** Removes the key, and anything that looks like one, from text that may be logged or shown. */
  private redact(text: string): string {
    let out = text;
    if (this.apiKey && this.apiKey.length >= 4) out = out.split(this.apiKey).join('[redacted]');
    return out.replace(/(Bearer\s+)\S+/gi, '$1[redacted]');
  }
}

// ---- helpers ---------------------------------------------------------------------------------------------

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** A non-JSON body as one line of text: HTML tags dropped. */
function bodyText(text: string): string {
  return text.replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
}


/** `Retry-After` in seconds (the only form local servers send), as milliseconds. */
function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function mostCommon(values: number[]): number | undefined {
  const counts = new Map<number, number>();
  let best: number | undefined;
  let bestCount = 0;
  for (const v of values) {
    const count = (counts.get(v) ?? 0) + 1;
    counts.set(v, count);
    if (count > bestCount) {
      best = v;
      bestCount = count;
    }
  }
  return best;
}

function elapsed(since: number): number {
  return Math.round(performance.now() - since);
}

