// EmbeddingsClient against a real HTTP server speaking KoboldCpp's wire format. Assertions are on
// what the server received and recorded (requests, batch sizes, how many were in flight at once),
// not on what the client reports about itself.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { EmbeddingsClient, type EmbeddingsClientOptions } from '../../src/rag/embeddingsClient';
import { describeEmbeddingsError, EmbeddingsError, isTransientEmbeddingsError, type EmbeddingsErrorReason } from '../../src/rag/embeddingsErrors';
import type { Logger } from '../../src/util/logger';
import { cosine, defaultEmbeddingsModel, defaultTextModel, fakeEmbedding, FakeKoboldCpp, startFakeKoboldCpp, type RecordedKoboldRequest } from '../support/fakeKoboldCpp';

interface CapturingLogger extends Logger {
  lines: string[];
  text(): string;
}

function capturingLogger(): CapturingLogger {
  const lines: string[] = [];
  const record =
    (level: string) =>
    (message: string | Error, ...args: unknown[]) => {
      lines.push(`${level} ${message instanceof Error ? message.message : message} ${args.map((a) => JSON.stringify(a)).join(' ')}`);
    };
  return { lines, text: () => lines.join('\n'), trace: record('trace'), debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
}

function texts(count: number, prefix = 'passage'): string[] {
  const topics = ['lighthouse keeper', 'sourdough starter', 'rust borrow checker', 'tide tables', 'violin varnish', 'orbital mechanics'];
  return Array.from({ length: count }, (_, i) => `${prefix} ${i}: notes about the ${topics[i % topics.length]} number ${i}`);
}

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) assert.fail('condition not met in time');
    await delay(5);
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected the promise to reject');
}

function assertReason(error: unknown, reason: EmbeddingsErrorReason): asserts error is EmbeddingsError {
  assert.ok(EmbeddingsError.is(error), `expected an EmbeddingsError, got ${String(error)}`);
  assert.equal(error.reason, reason, `expected reason ${reason}, got ${error.reason}: ${error.message}`);
}

function assertVectorsMatch(vectors: Float32Array[], inputs: string[], dimension = 1024): void {
  assert.equal(vectors.length, inputs.length);
  for (const [i, vector] of vectors.entries()) {
    assert.ok(vector instanceof Float32Array);
    assert.equal(vector.length, dimension);
    assert.deepEqual(vector, fakeEmbedding(inputs[i]!, dimension), `vector ${i} is the one for its own text`);
  }
}

describe('EmbeddingsClient against the fake KoboldCpp', () => {
  let server: FakeKoboldCpp;

  before(async () => {
    server = await startFakeKoboldCpp();
  });
  after(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.reset();
    server.setLatency(0);
    server.setPassword(undefined);
    server.setExclusive(false);
    server.setEmbeddingsLoaded(true);
    server.setDimension(1024);
    server.failTextsContaining(undefined);
  });
  afterEach(async () => {
    await server.settle();
  });

  function client(options: Partial<EmbeddingsClientOptions> = {}) {
    const logger = capturingLogger();
    const embeddings = new EmbeddingsClient({ baseUrl: server.url, logger, retryDelayMs: 5, maxRetryDelayMs: 20, requestTimeoutMs: 5000, ...options });
    return { embeddings, logger };
  }

  describe('batching and order', () => {
    test('sends batches of batchSize as {input, encoding_format: "float"}, and returns one vector per text in input order', async () => {
      const { embeddings } = client({ batchSize: 8, model: 'bge-m3' });
      const inputs = texts(100);
      const vectors = await embeddings.embed(inputs);
      assertVectorsMatch(vectors, inputs);

      const requests = server.embeddingRequests;
      assert.deepEqual(requests.map((r) => r.inputs.length).sort((a, b) => b - a), [...Array(12).fill(8), 4]);
      for (const r of requests) {
        assert.equal(r.path, '/v1/embeddings');
        assert.deepEqual(Object.keys(r.body as object).sort(), ['encoding_format', 'input', 'model']);
        assert.equal((r.body as { encoding_format: string }).encoding_format, 'float');
        assert.equal(r.headers['authorization'], undefined, 'no key, no Authorization header');
      }
      // Each request is a contiguous slice, and together they are every text once.
      const slices = requests.map((r) => r.inputs).sort((a, b) => inputs.indexOf(a[0]!) - inputs.indexOf(b[0]!));
      assert.deepEqual(slices.flat(), inputs);
      assert.equal(server.embeddedItems, 100);
      assert.equal(embeddings.lastModel, defaultEmbeddingsModel, 'the model name comes from the reply');
    });

    test('never more than maxInFlight requests at once, and it does use them', async () => {
      server.setLatency(40);
      const { embeddings } = client({ batchSize: 4, maxInFlight: 3 });
      await embeddings.embed(texts(40));
      assert.equal(server.embeddingRequests.length, 10);
      assert.equal(server.maxConcurrent, 3);

      server.reset();
      const serial = client({ batchSize: 4, maxInFlight: 1 }).embeddings;
      await serial.embed(texts(20));
      assert.equal(server.embeddingRequests.length, 5);
      assert.equal(server.maxConcurrent, 1);
    });

    test('the limit holds over concurrent calls of one client, not per call', async () => {
      server.setLatency(30);
      const { embeddings } = client({ batchSize: 4, maxInFlight: 2 });
      const inputs = [texts(8, 'a'), texts(8, 'b'), texts(8, 'c')];
      const vectors = await Promise.all(inputs.map((i) => embeddings.embed(i)));
      inputs.forEach((i, n) => assertVectorsMatch(vectors[n]!, i));
      assert.equal(server.embeddingRequests.length, 6);
      assert.equal(server.maxConcurrent, 2);
    });

    test('replies that come back out of order still land in input order', async () => {
      // 10, 10 and 5 texts at 20 ms a text: the last, shortest batch is answered first.
      server.setLatency(0, 20);
      const { embeddings } = client({ batchSize: 10, maxInFlight: 3 });
      const inputs = texts(25);
      const vectors = await embeddings.embed(inputs);
      const [first, , last] = [...server.embeddingRequests].sort((a, b) => inputs.indexOf(a.inputs[0]!) - inputs.indexOf(b.inputs[0]!));
      assert.ok(last!.endedAt! < first!.endedAt!, 'the server answered the last batch before the first');
      assertVectorsMatch(vectors, inputs);
    });

    test('no texts, no request', async () => {
      const { embeddings } = client();
      assert.deepEqual(await embeddings.embed([]), []);
      assert.equal(server.requests.length, 0);
    });

    test('works at /api/extra/embeddings too, and the fake lists only the text model in /v1/models', async () => {
      const { embeddings } = client({ baseUrl: `${server.origin}/api/extra` });
      const inputs = texts(3);
      assertVectorsMatch(await embeddings.embed(inputs), inputs);
      assert.equal(server.embeddingRequests[0]!.path, '/api/extra/embeddings');
      const models = (await (await fetch(`${server.url}/models`)).json()) as { data: Array<{ id: string }> };
      assert.deepEqual(models.data.map((m) => m.id), [defaultTextModel]);
    });
  });

  describe('busy server and dropped connections', () => {
    test('503 busy is retried with backoff, then succeeds: the server saw exactly one request per try', async () => {
      server.failNext('busy503', { count: 2 });
      const { embeddings, logger } = client({ retries: 4 });
      const inputs = texts(3);
      assertVectorsMatch(await embeddings.embed(inputs), inputs);
      const requests = server.embeddingRequests;
      assert.deepEqual(requests.map((r) => r.status), [503, 503, 200]);
      assert.match(logger.text(), /HTTP 503: Server is busy; please try again later\.; trying again in \d+ ms \(try 2 of 5\)/);
    });

    test('when every try is busy: a busy error after retries + 1 requests, no more (retries are not multiplied)', async () => {
      server.failNext('busy503', { count: 10 });
      const { embeddings } = client({ retries: 2 });
      const error = await rejection(embeddings.embed(texts(1)));
      assertReason(error, 'busy');
      assert.equal(error.status, 503);
      assert.equal(error.attempts, 3);
      assert.equal(error.detail, 'Server is busy; please try again later.');
      assert.equal(server.embeddingRequests.length, 3);
      assert.ok(isTransientEmbeddingsError(error));
      assert.match(describeEmbeddingsError(error), /^KoboldCpp at .* stayed busy \(HTTP 503\) through 3 tries — .*text generation holds the same lock\. Wait until it is idle and try again\.$/);
    });

    test('KoboldCpp without --multiuser answers a second request at once with 503: retried until every batch is done', async () => {
      server.setExclusive(true);
      server.setLatency(15);
      const { embeddings } = client({ batchSize: 5, maxInFlight: 2, retries: 8 });
      const inputs = texts(30);
      assertVectorsMatch(await embeddings.embed(inputs), inputs);
      const requests = server.embeddingRequests;
      assert.ok(requests.some((r) => r.failure === 'exclusiveBusy'), 'some requests met the lock');
      assert.equal(requests.filter((r) => r.status === 200).length, 6);
      assert.equal(server.embeddedItems, 30);
    });

    test('after one busy answer while its other request is in flight, the client sends one at a time', async () => {
      server.setExclusive(true);
      server.setLatency(20);
      const { embeddings, logger } = client({ batchSize: 5, maxInFlight: 2, retries: 8, retryDelayMs: 5 });
      const inputs = texts(40);
      assertVectorsMatch(await embeddings.embed(inputs), inputs);
      const requests = server.embeddingRequests;
      assert.equal(requests.filter((r) => r.failure === 'exclusiveBusy').length, 1, 'only the first collision');
      assert.equal(requests.filter((r) => r.status === 200).length, 8);
      assert.match(logger.text(), /serves one request at a time: sending one at a time from now on/);
      // The next call starts one at a time too.
      server.reset();
      await embeddings.embed(texts(20));
      assert.equal(server.maxConcurrent, 1);
    });

    test('beforeRequest is awaited before every request, retries included', async () => {
      server.failNext('busy503', { count: 1 });
      let gate: (() => void) | undefined;
      let asked = 0;
      const { embeddings } = client({
        retries: 2,
        retryDelayMs: 1,
        beforeRequest: async () => {
          asked++;
          if (asked === 2) await new Promise<void>((resolve) => (gate = resolve));
        },
      });
      const done = embeddings.embed(texts(1));
      await waitFor(() => gate !== undefined);
      await delay(50);
      assert.equal(server.embeddingRequests.length, 1, 'the retry waits for beforeRequest');
      gate!();
      await done;
      assert.deepEqual(server.embeddingRequests.map((r) => r.status), [503, 200]);
      assert.equal(asked, 2);
    });

    test('a dropped connection is retried', async () => {
      server.failNext('dropConnection');
      const { embeddings } = client();
      const inputs = texts(2);
      assertVectorsMatch(await embeddings.embed(inputs), inputs);
      assert.deepEqual(server.embeddingRequests.map((r) => r.outcome), ['dropped', 'answered']);
    });

    test('a non-JSON 503 is busy too, and retried', async () => {
      server.failNext('nonJsonError', { status: 503 });
      const { embeddings } = client();
      await embeddings.embed(texts(1));
      assert.deepEqual(server.embeddingRequests.map((r) => r.status), [503, 200]);
    });
  });

  describe('items the server failed', () => {
    test('an item sent back as an empty array is an error naming that item, never dropped', async () => {
      server.failTextsContaining('POISON');
      const inputs = texts(40);
      inputs[13] = 'passage 13: POISON pill that the model cannot embed';
      const { embeddings } = client({ batchSize: 4, maxInFlight: 2 });
      const error = await rejection(embeddings.embed(inputs));
      assertReason(error, 'itemFailed');
      assert.equal(error.itemIndex, 13);
      assert.equal(error.actualDimension, 0);
      assert.match(error.itemPreview ?? '', /^passage 13: POISON pill/);
      assert.match(error.message, /empty vector for text 13/);
      const text = describeEmbeddingsError(error);
      assert.match(text, /^KoboldCpp could not embed text #14 \(“passage 13: POISON pill/);
      assert.match(text, /--embeddingsmaxctx/);
      // Text 13 is in batch 3 of 10: batch 4 may have been in flight beside it, nothing after was sent.
      const sent = server.embeddingRequests.map((r) => inputs.indexOf(r.inputs[0]!) / 4).sort((a, b) => a - b);
      assert.deepEqual(sent.slice(0, 4), [0, 1, 2, 3]);
      assert.ok(sent.length <= 5 && sent.every((batch) => batch <= 4), `batches sent: ${sent.join(', ')}`);
    });

    test('the scripted empty item in a single batch', async () => {
      server.failNext('emptyItem', { index: 2 });
      const { embeddings } = client({ batchSize: 8 });
      const error = await rejection(embeddings.embed(texts(5)));
      assertReason(error, 'itemFailed');
      assert.equal(error.itemIndex, 2);
      assert.ok(!isTransientEmbeddingsError(error));
    });

    test('an item with a vector of the wrong length is an error naming it', async () => {
      server.failNext('wrongLengthItem', { index: 1, dimension: 512 });
      const { embeddings } = client();
      const error = await rejection(embeddings.embed(texts(4)));
      assertReason(error, 'itemFailed');
      assert.equal(error.itemIndex, 1);
      assert.equal(error.actualDimension, 512);
      assert.equal(error.expectedDimension, 1024);
      assert.match(describeEmbeddingsError(error), /text #2 .* as a vector of 512 numbers instead of 1024/);
    });

    test('KoboldCpp started without --embeddingsmodel: every item empty, and the version endpoint says why', async () => {
      server.setEmbeddingsLoaded(false);
      const { embeddings } = client();
      const error = await rejection(embeddings.embed(texts(3)));
      assertReason(error, 'noEmbeddingsModel');
      assert.equal(
        describeEmbeddingsError(error),
        `KoboldCpp at ${server.url} is running without an embeddings model — restart it with --embeddingsmodel FILE.gguf (for example a BGE-M3 GGUF), or point persona.embeddings.baseUrl at a server that has one.`,
      );
      assertReason(await rejection(embeddings.probe()), 'noEmbeddingsModel');
      assert.ok(server.requests.some((r) => r.path === '/api/extra/version'));
    });
  });

  describe('dimensions', () => {
    test('vectors of another length than expectedDimension: dimensionMismatch, with both lengths and the model', async () => {
      const { embeddings } = client({ expectedDimension: 768 });
      const error = await rejection(embeddings.embed(texts(3)));
      assertReason(error, 'dimensionMismatch');
      assert.equal(error.expectedDimension, 768);
      assert.equal(error.actualDimension, 1024);
      assert.equal(error.model, defaultEmbeddingsModel);
      assert.match(describeEmbeddingsError(error), /makes vectors of 1024 numbers, but this memory holds vectors of 768 — the embeddings model changed\. Index the files again for it \(Persona: Show Memory Status\)/);
    });

    test('the model changing between two batches of one call is a dimensionMismatch too', async () => {
      server.failNext('wrongDimension', { dimension: 768 });
      const { embeddings } = client({ batchSize: 2, maxInFlight: 1 });
      const error = await rejection(embeddings.embed(texts(6)));
      assertReason(error, 'dimensionMismatch');
      assert.equal(error.expectedDimension, 768, 'the first batch set the length for the call');
      assert.equal(error.actualDimension, 1024);
    });

    test('probe reports the length and the model name from the reply, whatever expectedDimension says', async () => {
      const { embeddings } = client({ expectedDimension: 768 });
      assert.deepEqual(await embeddings.probe(), { dimension: 1024, model: defaultEmbeddingsModel });
      server.setDimension(384);
      assert.deepEqual(await embeddings.probe(), { dimension: 384, model: defaultEmbeddingsModel });
    });
  });

  describe('server down, errors, password', () => {
    test('a port that just closed: serverDown after the retries, with a message that says what to do; probe says so at once', async () => {
      const gone = await startFakeKoboldCpp();
      const url = gone.url;
      await gone.close();
      const logger = capturingLogger();
      const embeddings = new EmbeddingsClient({ baseUrl: url, logger, retries: 2, retryDelayMs: 5, maxRetryDelayMs: 10 });
      const error = await rejection(embeddings.embed(texts(2)));
      assertReason(error, 'serverDown');
      assert.equal(error.detail, 'ECONNREFUSED');
      assert.equal(error.attempts, 3);
      assert.ok(isTransientEmbeddingsError(error));
      assert.equal(
        describeEmbeddingsError(error),
        `KoboldCpp is not running at ${url} — start it with --embeddingsmodel FILE.gguf (for example a BGE-M3 GGUF), or change persona.embeddings.baseUrl.`,
      );
      assert.equal(describeEmbeddingsError(error, { label: 'The embeddings server' }), `The embeddings server is not reachable at ${url} — check that it is running and that persona.embeddings.baseUrl is right.`);

      const retriesBefore = logger.lines.filter((l) => /trying again/.test(l)).length;
      const probeError = await rejection(embeddings.probe());
      assertReason(probeError, 'serverDown');
      assert.equal(probeError.attempts, 1, 'probe does not retry a refused connection');
      assert.equal(logger.lines.filter((l) => /trying again/.test(l)).length, retriesBefore);
    });

    test('a non-JSON error body is read as text: an http error with the page text, tags dropped', async () => {
      server.failNext('nonJsonError', { status: 500 });
      const { embeddings } = client();
      const error = await rejection(embeddings.embed(texts(1)));
      assertReason(error, 'http');
      assert.equal(error.status, 500);
      assert.equal(error.detail, 'Error Error 500 Internal Server Error: embeddings failed');
      assert.doesNotMatch(error.message, /<|>/);
      assert.equal(server.embeddingRequests.length, 1, 'a 500 is not retried');
      assert.match(describeEmbeddingsError(error), /answered with an error \(HTTP 500\) \(KoboldCpp said: “Error Error 500 Internal Server Error: embeddings failed”\)\.$/);
    });

    test('401 when KoboldCpp has --password: not retried, and the message says what to do; the key as a Bearer token works', async () => {
      server.setPassword('s3cret-pass');
      const error = await rejection(client().embeddings.embed(texts(1)));
      assertReason(error, 'unauthorized');
      assert.equal(error.status, 401);
      assert.equal(server.embeddingRequests.length, 1);
      assert.match(describeEmbeddingsError(error), /started with --password: give Persona the same password/);

      server.reset();
      const inputs = texts(2);
      assertVectorsMatch(await client({ apiKey: 's3cret-pass' }).embeddings.embed(inputs), inputs);
      assert.equal(server.embeddingRequests[0]!.headers['authorization'], 'Bearer s3cret-pass');

      const wrong = await rejection(client({ apiKey: 'wrong-key-123' }).embeddings.embed(inputs));
      assertReason(wrong, 'unauthorized');
      assert.doesNotMatch(JSON.stringify({ message: wrong.message, detail: wrong.detail }), /wrong-key-123/);
    });

    test('a request that hangs times out, and is not retried', async () => {
      server.failNext('hang');
      const { embeddings } = client({ requestTimeoutMs: 300 });
      const startedAt = performance.now();
      const error = await rejection(embeddings.embed(texts(1)));
      assertReason(error, 'timeout');
      assert.ok(performance.now() - startedAt < 3000);
      assert.equal(server.embeddingRequests.length, 1);
      await server.waitFor(() => server.embeddingRequests[0]!.outcome === 'clientClosed');
      assert.equal(error.message, `KoboldCpp at ${server.url} did not answer within 300 ms`);
      assert.match(describeEmbeddingsError(error), /did not answer within 300 ms — embedding on a CPU can be slow/);
    });
  });

  describe('abort', () => {
    test('aborting mid-run stops sending: no request starts after the abort, and the ones in flight are closed', async () => {
      server.setLatency(60);
      // Every request the client starts, seen from the client's side.
      const started: number[] = [];
      const countingFetch: typeof fetch = (input, init) => {
        started.push(performance.now());
        return fetch(input, init);
      };
      const { embeddings } = client({ batchSize: 2, maxInFlight: 2, fetch: countingFetch });
      const controller = new AbortController();
      const running = embeddings.embed(texts(40), controller.signal);
      await server.waitFor(() => server.embeddingRequests.length >= 3);
      const answeredBeforeAbort = server.embeddingRequests.filter((r) => r.outcome === 'answered').length;
      controller.abort();
      const abortedAt = performance.now();
      const error = await rejection(running);
      assertReason(error, 'aborted');
      assert.equal(describeEmbeddingsError(error), 'Stopped.');
      assert.ok(performance.now() - abortedAt < 1000, 'the call ends at once');

      await delay(250);
      await server.waitFor(() => server.inFlight === 0);
      assert.ok(started.every((at) => at < abortedAt), 'the client started no request after the abort');
      const seen = server.embeddingRequests;
      assert.ok(seen.length <= answeredBeforeAbort + 2, `the server saw only what was answered or in flight (${seen.length} of 20 batches)`);
      assert.ok(seen.some((r) => r.outcome === 'clientClosed'), 'the requests in flight were closed by the client');
      assert.equal(seen.filter((r) => r.outcome === 'answered').length, answeredBeforeAbort, 'none was answered after the abort');
    });

    test('aborting a request that hangs, and aborting during a retry wait, both stop at once', async () => {
      server.failNext('hang');
      const { embeddings } = client();
      const controller = new AbortController();
      const running = embeddings.embed(texts(1), controller.signal);
      await server.waitFor(() => server.embeddingRequests.length === 1);
      controller.abort();
      assertReason(await rejection(running), 'aborted');

      server.reset();
      server.failNext('busy503', { count: 5 });
      const slow = client({ retryDelayMs: 60_000, maxRetryDelayMs: 60_000 }).embeddings;
      const second = new AbortController();
      const startedAt = performance.now();
      const waiting = slow.embed(texts(1), second.signal);
      await server.waitFor(() => server.embeddingRequests[0]?.status === 503);
      second.abort();
      assertReason(await rejection(waiting), 'aborted');
      assert.ok(performance.now() - startedAt < 2000);
      assert.equal(server.embeddingRequests.length, 1);
    });

    test('an already aborted signal sends nothing', async () => {
      const { embeddings } = client();
      assertReason(await rejection(embeddings.embed(texts(3), AbortSignal.abort())), 'aborted');
      assertReason(await rejection(embeddings.probe(AbortSignal.abort())), 'aborted');
      assert.equal(server.requests.length, 0);
    });
  });

  describe('the fake server', () => {
    test('its vectors are unit length, deterministic, and closer for texts that share words', () => {
      const a = fakeEmbedding('the lighthouse keeper trims the lamp wick at dusk');
      const b = fakeEmbedding('at dusk the keeper of the lighthouse lights the lamp');
      const c = fakeEmbedding('sourdough starter needs flour and water every day');
      assert.ok(Math.abs(cosine(a, a) - 1) < 1e-6);
      assert.ok(cosine(a, b) > 0.6, `related: ${cosine(a, b)}`);
      assert.ok(cosine(a, c) < 0.2, `unrelated: ${cosine(a, c)}`);
      assert.deepEqual(fakeEmbedding('same words'), fakeEmbedding('Same, words!'));
    });

    test('answers /api/extra/version like KoboldCpp', async () => {
      const version = (await (await fetch(`${server.origin}/api/extra/version`)).json()) as Record<string, unknown>;
      assert.equal(version['result'], 'KoboldCpp');
      assert.equal(version['embeddings'], true);
      assert.equal(typeof version['version'], 'string');
    });
  });
});

describe('EmbeddingsClient against replies the fake does not make', () => {
  // A tiny server whose reply each test writes by hand: shapes other OpenAI-compatible servers send.
  let server: http.Server;
  let url: string;
  let reply: (body: { input: string[] }) => { status: number; body: string };

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const { status, body } = reply(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { input: string[] });
        res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const client = () => new EmbeddingsClient({ baseUrl: url, logger: capturingLogger(), label: 'The embeddings server', retries: 0 });

  test('items listed out of order are put back by their index; base64 vectors are decoded', async () => {
    reply = ({ input }) => ({
      status: 200,
      body: JSON.stringify({
        data: input
          .map((text, index) => ({ index, embedding: index % 2 ? Buffer.from(new Float32Array([index, text.length]).buffer).toString('base64') : [index, text.length] }))
          .reverse(),
      }),
    });
    const vectors = await client().embed(['a', 'bb', 'ccc', 'dddd']);
    assert.deepEqual(vectors.map((v) => Array.from(v)), [
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
    ]);
  });

  test('fewer vectors than texts, JSON that is not embeddings, a null in a vector: badResponse', async () => {
    reply = ({ input }) => ({ status: 200, body: JSON.stringify({ data: input.slice(1).map((_, index) => ({ index, embedding: [1, 2] })) }) });
    const fewer = await rejection(client().embed(['a', 'b', 'c']));
    assertReason(fewer, 'badResponse');
    assert.match(fewer.message, /2 vectors for 3 texts/);

    reply = () => ({ status: 200, body: JSON.stringify({ error: 'model is loading' }) });
    const notEmbeddings = await rejection(client().embed(['a']));
    assertReason(notEmbeddings, 'badResponse');
    assert.equal(notEmbeddings.detail, 'model is loading');
    assert.match(describeEmbeddingsError(notEmbeddings), /^The embeddings server at .* sent a reply Persona could not read \(the embeddings server said: “model is loading”\)/);

    reply = () => ({ status: 200, body: JSON.stringify({ data: [{ index: 0, embedding: [0.1, null, 0.3] }] }) });
    assertReason(await rejection(client().embed(['a'])), 'badResponse');

    reply = () => ({ status: 200, body: 'plain text, not JSON' });
    const text = await rejection(client().embed(['a']));
    assertReason(text, 'badResponse');
    assert.equal(text.detail, 'plain text, not JSON');
  });

  test('OpenAI-style error bodies are read: {error: {message}}', async () => {
    reply = () => ({ status: 400, body: JSON.stringify({ error: { message: 'input is too long', type: 'invalid_request_error' } }) });
    const error = await rejection(client().embed(['a']));
    assertReason(error, 'http');
    assert.equal(error.detail, 'input is too long');
  });
});

describe('fakeKoboldCpp as a standalone process', () => {
  const repoRoot = path.resolve(__dirname, '../..');
  let child: ChildProcess;
  let info: { url: string; origin: string; port: number; controlUrl: string };

  before(async () => {
    child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test/support/fakeKoboldCpp.ts'), '--port', '0', '--dimension', '256', '--password', 'pw'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => [undefined])])) as [string | undefined];
    assert.ok(line, 'the server exited before printing its URL');
    info = JSON.parse(line) as typeof info;
  });
  after(async () => {
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  });

  test('prints one JSON line with a /v1 URL, serves embeddings with its flags, and is scripted over /__control', async () => {
    assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const fail = await fetch(`${info.controlUrl}/fail`, { method: 'POST', body: JSON.stringify({ mode: 'busy503', count: 1 }) });
    assert.equal(fail.status, 200);
    const embeddings = new EmbeddingsClient({ baseUrl: info.url, apiKey: 'pw', logger: capturingLogger(), retryDelayMs: 5, batchSize: 2 });
    const inputs = texts(3);
    assertVectorsMatch(await embeddings.embed(inputs), inputs, 256);
    const recorded = (await (await fetch(`${info.controlUrl}/requests`)).json()) as { requests: RecordedKoboldRequest[]; maxConcurrent: number; embeddedItems: number };
    assert.deepEqual(recorded.requests.map((r) => r.status).sort(), [200, 200, 503]);
    assert.equal(recorded.embeddedItems, 3);
    assert.ok(recorded.maxConcurrent >= 1 && recorded.maxConcurrent <= 2);
  });
});
