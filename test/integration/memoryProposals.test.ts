// Proposed memories against a real HTTP server speaking LM Studio's wire format: what the request
// carried is read from what the server received, and every reply is one the server sent.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { ChatClientOptions } from '../../src/providers/chatClient';
import { ProviderError } from '../../src/providers/errors';
import { MEMORY_ITEM_MAX_CHARS, memoryItemText } from '../../src/rag/memoryItems';
import { MemoryProposalError, proposeMemories, structuredChat, type ConversationTurn, type ProposeMemoriesOptions } from '../../src/rag/memoryProposals';
import { silentLogger } from '../../src/util/logger';
import { FakeOpenAiServer, startFakeOpenAiServer } from '../support/fakeOpenAiServer';

const turns: ConversationTurn[] = [
  { role: 'user', content: 'Hi! My daughter Ada starts school next week.' },
  { role: 'assistant', content: 'How exciting! You might try a calm morning routine.' },
  { role: 'user', content: 'I live in Lyon, and please keep answers short.' },
];

describe('proposeMemories against the fake LM Studio server', () => {
  let server: FakeOpenAiServer;

  before(async () => {
    server = await startFakeOpenAiServer();
  });
  after(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.reset();
    server.onRequest = undefined;
    server.setReply('{"memories": []}', { tokenDelayMs: 0, firstTokenDelayMs: 0 });
  });

  function clientOptions(overrides: Partial<ChatClientOptions> = {}): ChatClientOptions {
    return { baseUrl: server.url, label: 'LM Studio', logger: silentLogger, maxRetries: 0, requestTimeoutMs: 5000, ...overrides };
  }

  function propose(options: Partial<ProposeMemoriesOptions> = {}) {
    return proposeMemories({ chat: structuredChat(clientOptions()), model: 'fake-llm-7b', turns, existing: [], ...options });
  }

  /** The one body the server received on /v1/chat/completions. */
  function sentBody(): Record<string, unknown> {
    assert.equal(server.chatRequests.length, 1, 'expected exactly one chat request');
    return server.chatRequests[0]!.body as Record<string, unknown>;
  }

  function sentText(): string {
    const messages = sentBody()['messages'] as Array<{ role: string; content: string }>;
    return messages.map((m) => m.content).join('\n');
  }

  test('the request carries response_format with the JSON schema, the turns and the existing items', async () => {
    const existing = ['Has a cat called Miso.'];
    await propose({ existing });

    const body = sentBody();
    assert.equal(body['model'], 'fake-llm-7b');
    const format = body['response_format'] as { type: string; json_schema: { name: unknown; strict: unknown; schema: Record<string, unknown> } };
    assert.equal(format.type, 'json_schema');
    assert.equal(typeof format.json_schema.name, 'string');
    assert.match(format.json_schema.name as string, /^[a-zA-Z0-9_-]{1,64}$/, 'OpenAI takes a name of letters, digits, _ and - only');
    assert.equal(format.json_schema.strict, true);
    const schema = format.json_schema.schema as { type: string; properties: { memories: { type: string; items: { type: string } } }; required: string[]; additionalProperties: boolean };
    assert.equal(schema.type, 'object');
    assert.equal(schema.properties.memories.type, 'array');
    assert.equal(schema.properties.memories.items.type, 'string');
    assert.deepEqual(schema.required, ['memories']);
    // OpenAI's strict mode refuses a schema without it.
    assert.equal(schema.additionalProperties, false);

    const text = sentText();
    for (const turn of turns) assert.ok(text.includes(turn.content), `the request lacks the turn “${turn.content}”`);
    assert.ok(text.includes(existing[0]!), 'the request does not list the existing item');
    // The conversation is sent as material to read, not replayed as turns the model would answer.
    const messages = body['messages'] as Array<{ role: string; content: string }>;
    assert.deepEqual(
      messages.map((m) => m.role),
      ['system', 'user'],
    );
    // What the instructions must say: facts the person stated about themselves, not the assistant's words, and an empty list for nothing.
    const system = messages[0]!.content;
    assert.match(system, /stated about themselves/);
    assert.match(system, /not propose:\n- anything the assistant said/i);
    assert.match(system, /nothing worth remembering, return an empty list/i);
  });

  test('only the latest turns are sent, within the turn and character bounds', async () => {
    const long: ConversationTurn[] = Array.from({ length: 12 }, (_, i) => {
      const n = String(i).padStart(2, '0');
      return { role: i % 2 === 0 ? 'user' : 'assistant', content: `start ${n} ${'x'.repeat(300)} end ${n}` };
    });
    const length = long[0]!.content.length;
    /** The messages whose start, and whose end, reached the server. */
    const sent = (t: string) => ({ starts: [...t.matchAll(/start (\d\d)/g)].map((m) => Number(m[1])), ends: [...t.matchAll(/end (\d\d)/g)].map((m) => Number(m[1])) });

    await propose({ turns: long, maxTurns: 4 });
    assert.deepEqual(sent(sentText()), { starts: [8, 9, 10, 11], ends: [8, 9, 10, 11] });

    server.reset();
    // Three whole messages fit; the one before them would be cut to less than is worth reading.
    await propose({ turns: long, maxTurns: 10, maxChars: 3 * length + 50 });
    assert.deepEqual(sent(sentText()), { starts: [9, 10, 11], ends: [9, 10, 11] });

    server.reset();
    // Three whole messages fit, and a useful part of the one before them: its end.
    await propose({ turns: long, maxTurns: 10, maxChars: 3 * length + 250 });
    assert.deepEqual(sent(sentText()), { starts: [9, 10, 11], ends: [8, 9, 10, 11] });

    server.reset();
    // The newest message alone is longer than the bound: it is sent cut, never dropped.
    const huge = `${'y'.repeat(5000)} I am allergic to peanuts.`;
    await propose({ turns: [{ role: 'user', content: huge }], maxChars: 1000 });
    const text = sentText();
    assert.ok(text.includes('I am allergic to peanuts.'));
    assert.ok(!text.includes('y'.repeat(1001)), 'more than the character bound was sent');
  });

  test('a JSON reply yields the proposals, trimmed, in the order the model gave them', async () => {
    server.setReply('{"memories": ["  Has a daughter called Ada.  ", "Lives in Lyon.", "Prefers short answers."]}');
    const result = await propose();
    assert.deepEqual(result.proposals, ['Has a daughter called Ada.', 'Lives in Lyon.', 'Prefers short answers.']);
    assert.equal(result.model, server.completions[0]?.model);
  });

  test('an empty list is no proposals, and a chat with nothing from the person sends no request', async () => {
    server.setReply('{"memories": []}');
    assert.deepEqual((await propose()).proposals, []);
    assert.equal(server.chatRequests.length, 1);

    server.reset();
    const onlyAssistant: ConversationTurn[] = [{ role: 'assistant', content: 'Hello, I am your persona. I love jazz.' }];
    assert.deepEqual((await propose({ turns: onlyAssistant })).proposals, []);
    assert.equal(server.chatRequests.length, 0);
  });

  test('duplicates of existing items and of each other are dropped, and empty ones, and no more than maxProposals come back', async () => {
    server.setReply(
      JSON.stringify({
        memories: ['Has a daughter called Ada', '   ', 'Lives in Lyon.', 'LIVES  in lyon!', '', 'Works as a nurse.', 'lives in Lyon', 'Plays the cello.', 'Speaks Dutch.'],
      }),
    );
    const result = await propose({ existing: ['has a daughter called Ada.'], maxProposals: 3 });
    assert.deepEqual(result.proposals, ['Lives in Lyon.', 'Works as a nurse.', 'Plays the cello.']);
  });

  test('a proposal longer than a memory item may be is cut to fit one', async () => {
    const long = `Keeps a diary of ${'many small things, '.repeat(200)}every day.`;
    assert.ok(long.length > MEMORY_ITEM_MAX_CHARS);
    server.setReply(JSON.stringify({ memories: [long] }));
    const [proposal] = (await propose()).proposals;
    assert.ok(proposal);
    assert.ok(proposal.length <= MEMORY_ITEM_MAX_CHARS, `${proposal.length} characters`);
    assert.ok(proposal.startsWith('Keeps a diary of many small things'));
    // The store takes it as it is.
    assert.equal(memoryItemText(proposal), proposal);
  });

  test("a reasoning model's <think> block and a ```json fence around the answer are set aside", async () => {
    server.setReply('<think>The person said Ada is their daughter. {"memories": ["not this"]}</think>\n\n```json\n{"memories": ["Has a daughter called Ada."]}\n```');
    assert.deepEqual((await propose()).proposals, ['Has a daughter called Ada.']);
  });

  test('a reply that is not JSON matching the schema → malformed, and no proposals', async () => {
    const replies = [
      'Sure! The person has a daughter called Ada and lives in Lyon.',
      '{"memories": "Has a daughter called Ada."}',
      '{"facts": ["Has a daughter called Ada."]}',
      '["Has a daughter called Ada."]',
      '{"memories": ["Has a daughter called Ada.", 3]}',
      '{"memories": ["Has a daughter',
      '<think>The person has a daughter called Ada, so the answer is',
    ];
    for (const reply of replies) {
      server.reset();
      server.setReply(reply);
      await assert.rejects(
        propose(),
        (e) => {
          assert.ok(MemoryProposalError.is(e, 'malformed'), `${reply} → ${String(e)}`);
          assert.equal(e.model, 'fake-llm-7b');
          return true;
        },
        reply,
      );
      assert.equal(server.completions[0]?.outcome, 'completed', 'the server did not answer as scripted');
    }
  });

  test('a reply cut off by max_tokens → malformed, saying it was cut off', async () => {
    server.setReply('{"memories": ["Has a daughter called Ada.", "Lives in Lyon.", "Prefers short answers."]}');
    await assert.rejects(propose({ maxTokens: 4 }), (e) => {
      assert.ok(MemoryProposalError.is(e, 'malformed'), String(e));
      assert.match(e.message, /cut off/);
      return true;
    });
    assert.equal(sentBody()['max_tokens'], 4);
  });

  describe('a server that refuses the JSON schema → unsupported, with a clear message', () => {
    // The bodies servers answer with, in their own words (see memoryProposals.ts for the sources).
    const refusals: Array<{ server: string; status: number; body: unknown; said: string }> = [
      {
        server: 'OpenAI, a model without structured outputs',
        status: 400,
        body: {
          error: {
            message: "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model. Learn more about supported models at the Structured Outputs guide: https://platform.openai.com/docs/guides/structured-outputs",
            type: 'invalid_request_error',
            param: 'response_format',
            code: null,
          },
        },
        said: "'response_format' of type 'json_schema' is not supported",
      },
      {
        server: 'LM Studio, a schema its llama.cpp engine cannot turn into a grammar',
        status: 400,
        body: { error: "Unable to generate parser for this template. Automatic parser generation failed: JSON schema conversion failed:\nPattern must start with '^' and end with '$'" },
        said: 'JSON schema conversion failed',
      },
      {
        server: 'llama.cpp server, a grammar it cannot parse',
        status: 400,
        body: { error: { code: 400, message: 'Failed to initialize samplers: failed to parse grammar', type: 'invalid_request_error' } },
        said: 'failed to parse grammar',
      },
      {
        server: 'llama.cpp server from before json_schema',
        status: 400,
        body: { error: { code: 400, message: 'response_format type must be one of "text" or "json_object", but got: json_schema', type: 'invalid_request_error' } },
        said: 'but got: json_schema',
      },
      {
        server: 'xAI',
        status: 400,
        body: { code: 'Client specified an invalid argument', error: 'The response_format parameter is unsupported at the moment. Leave it unset.' },
        said: 'response_format parameter is unsupported',
      },
    ];

    for (const refusal of refusals) {
      test(refusal.server, async () => {
        server.onRequest = (request, res) => {
          if (request.path !== '/v1/chat/completions') return false;
          const text = JSON.stringify(refusal.body);
          res.writeHead(refusal.status, { 'content-type': 'application/json' }).end(text);
          return true;
        };
        await assert.rejects(propose(), (e) => {
          assert.ok(MemoryProposalError.is(e, 'unsupported'), String(e));
          assert.equal(e.status, refusal.status);
          assert.equal(e.model, 'fake-llm-7b');
          assert.ok(e.detail?.includes(refusal.said), e.detail);
          // The sentence a person reads: who refused, which model, what it said, and what to do.
          assert.match(e.message, /^LM Studio refused/);
          assert.ok(e.message.includes('“fake-llm-7b”'), e.message);
          assert.ok(e.message.includes(refusal.said), e.message);
          assert.match(e.message, /structured output/);
          assert.ok(ProviderError.is(e.cause), 'the server error is kept as the cause');
          return true;
        });
        assert.equal((sentBody()['response_format'] as { type: string }).type, 'json_schema');
      });
    }

    test('an error in the stream that names the schema counts too', async () => {
      server.onRequest = (request, res) => {
        if (request.path !== '/v1/chat/completions') return false;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`data: ${JSON.stringify({ error: "Error in iterating prediction stream: ValueError: 'type' must be a string (outlines)" })}\n\n`);
        return true;
      };
      await assert.rejects(propose(), (e) => MemoryProposalError.is(e, 'unsupported'));
    });
  });

  describe("the chat client's own failures pass through as they are", () => {
    test('a context overflow stays a ProviderError', async () => {
      server.failNext('contextOverflow400');
      await assert.rejects(propose(), (e) => {
        assert.ok(ProviderError.is(e, 'contextOverflow'), String(e));
        return true;
      });
    });

    test('another 400 stays a ProviderError', async () => {
      server.onRequest = (request, res) => {
        if (request.path !== '/v1/chat/completions') return false;
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Something else is wrong with the request' }));
        return true;
      };
      await assert.rejects(propose(), (e) => ProviderError.is(e, 'http') && e.status === 400);
    });

    test('no model loaded stays a ProviderError', async () => {
      server.failNext('noModelLoaded');
      await assert.rejects(propose(), (e) => ProviderError.is(e, 'noModelLoaded'));
    });

    test('a server that is not there stays a ProviderError', async () => {
      const gone = await startFakeOpenAiServer();
      const url = gone.url;
      await gone.close();
      await assert.rejects(
        proposeMemories({ chat: structuredChat(clientOptions({ baseUrl: url })), model: 'fake-llm-7b', turns, existing: [] }),
        (e) => ProviderError.is(e, 'serverDown'),
      );
    });
  });

  test('abort mid-reply stops the request: aborted, the server sees the connection close, no proposals', async () => {
    server.setReply('{"memories": ["Has a daughter called Ada.", "Lives in Lyon.", "Prefers short answers.", "Works as a nurse."]}', { tokenDelayMs: 40 });
    const controller = new AbortController();
    const pending = propose({ signal: controller.signal });
    await server.waitFor(() => (server.completions[0]?.tokensSent ?? 0) >= 2);
    controller.abort();
    await assert.rejects(pending, (e) => ProviderError.is(e, 'aborted'));
    const completion = await server.waitFor(() => server.completions.find((c) => c.outcome !== 'pending'));
    assert.equal(completion.outcome, 'clientClosed');
    assert.ok(completion.tokensSent < completion.tokensPlanned, `the server sent all ${completion.tokensPlanned} tokens`);
  });

  test('a signal aborted before the call sends nothing', async () => {
    await assert.rejects(propose({ signal: AbortSignal.abort() }), (e) => ProviderError.is(e, 'aborted'));
    assert.equal(server.chatRequests.length, 0);
  });
});
