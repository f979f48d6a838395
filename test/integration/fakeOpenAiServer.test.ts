// The fake server as a standalone process, scripted over its control endpoint, the way end-to-end
// tests and benchmarks use it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { OpenAiCompatibleChatClient } from '../../src/providers/chatClient';
import { ProviderError } from '../../src/providers/errors';
import { silentLogger } from '../../src/util/logger';
import type { CompletionRecord, RecordedConnection, RecordedRequest } from '../support/fakeOpenAiServer';

const repoRoot = path.resolve(__dirname, '../..');
const script = path.join(repoRoot, 'test/support/fakeOpenAiServer.ts');

describe('fakeOpenAiServer as a standalone process', () => {
  let child: ChildProcess;
  let info: { url: string; origin: string; port: number; controlUrl: string };
  let dir: string;
  const replyText = 'Reply from a file,\nover two lines.';

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'persona-fake-'));
    const replyFile = path.join(dir, 'reply.txt');
    await writeFile(replyFile, replyText);
    child = spawn(process.execPath, ['--import', 'tsx', script, '--port', '0', '--reply-file', replyFile, '--token-delay-ms', '2'], {
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
    await rm(dir, { recursive: true, force: true });
  });

  async function control(route: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${info.controlUrl}/${route}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
    assert.equal(response.status, 200, `${route}: HTTP ${response.status}`);
    return response.json();
  }

  test('prints one JSON line with a /v1 URL on a free port', () => {
    assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    assert.ok(info.port > 0);
    assert.equal(info.controlUrl, `${info.origin}/__control`);
  });

  test('streams the reply from --reply-file and records timings a benchmark can use', async () => {
    await control('reset', {});
    const chat = new OpenAiCompatibleChatClient({ baseUrl: info.url, label: 'LM Studio', logger: silentLogger, maxRetries: 0 });
    let text = '';
    for await (const event of chat.streamChat({ messages: [{ role: 'user', content: 'hi' }] })) {
      if (event.type === 'delta') text += event.text;
    }
    assert.equal(text, replyText);
    const recorded = (await control('requests')) as { requests: RecordedRequest[]; completions: CompletionRecord[]; connections: RecordedConnection[] };
    const [completion] = recorded.completions;
    assert.ok(completion);
    assert.equal(completion.outcome, 'completed');
    assert.equal(completion.textSent, replyText);
    assert.ok(completion.firstContentAt! >= completion.receivedAt);
    assert.ok(completion.endedAt! >= completion.firstContentAt!);
    assert.ok(recorded.requests.some((r) => r.path === '/v1/chat/completions' && (r.body as { stream: boolean }).stream === true));
  });

  test('scripted over /__control: reply, failure, models', async () => {
    await control('reset', {});
    await control('reply', { text: 'Scripted.', tokenDelayMs: 0 });
    await control('models', { models: [{ id: 'remote-model', type: 'llm', state: 'loaded', loadedContextLength: 2048 }] });
    const chat = new OpenAiCompatibleChatClient({ baseUrl: info.url, label: 'LM Studio', logger: silentLogger, maxRetries: 0 });
    assert.deepEqual(await chat.listModels(), [{ id: 'remote-model', state: 'loaded', type: 'llm', contextLength: 2048, maxContextLength: 4096, loadedContextLength: 2048, arch: 'llama', quantization: 'Q4_K_M', publisher: 'persona-tests' }]);

    await control('fail', { mode: 'noModelLoaded', count: 1 });
    await assert.rejects(
      (async () => {
        for await (const _ of chat.streamChat({ messages: [{ role: 'user', content: 'hi' }] })) void _;
      })(),
      (e) => ProviderError.is(e, 'noModelLoaded'),
    );
    let text = '';
    for await (const event of chat.streamChat({ messages: [{ role: 'user', content: 'hi' }] })) {
      if (event.type === 'delta') text += event.text;
    }
    assert.equal(text, 'Scripted.');
  });

  test('rejects an unknown failure mode', async () => {
    const response = await fetch(`${info.controlUrl}/fail`, { method: 'POST', body: JSON.stringify({ mode: 'nope' }) });
    assert.equal(response.status, 400);
  });
});
