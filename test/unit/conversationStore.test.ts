import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Conversation } from '../../src/shared/conversation';
import { silentLogger } from '../../src/util/logger';
import { ConversationStore } from '../../src/chat/conversationStore';

function conversation(id: string, text: string, updatedAt = Date.now()): Conversation {
  return {
    schemaVersion: 1,
    id,
    title: `About ${id}`,
    personaId: 'sam',
    createdAt: updatedAt,
    updatedAt,
    messages: [
      { id: 'g', role: 'assistant', content: 'Hi!', createdAt: updatedAt, status: 'complete', greeting: true },
      { id: 'u', role: 'user', content: text, createdAt: updatedAt, status: 'complete' },
    ],
  };
}

describe('ConversationStore', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'persona-store-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('saves, lists newest first, reads back and deletes', async () => {
    const d = join(dir, 'basic');
    const store = new ConversationStore(d, silentLogger);
    assert.deepEqual(await store.list(), []);
    await store.save(conversation('a', 'first', 1000));
    await store.save(conversation('b', 'second', 2000));
    assert.deepEqual((await store.list()).map((c) => c.id), ['b', 'a']);

    const fresh = new ConversationStore(d, silentLogger);
    assert.deepEqual((await fresh.list()).map((c) => [c.id, c.messageCount]), [['b', 2], ['a', 2]]);
    assert.equal((await fresh.get('a'))?.messages[1]?.content, 'first');

    await fresh.delete('a');
    assert.equal(await fresh.get('a'), undefined);
    assert.deepEqual(await readdir(d), ['b.json']);
  });

  it('refuses ids that could escape its folder', async () => {
    const store = new ConversationStore(join(dir, 'ids'), silentLogger);
    await assert.rejects(store.get('../../etc/passwd'), /invalid conversation id/);
    await assert.rejects(store.save(conversation('../x', 'x')));
  });

  it('skips unreadable or foreign files without deleting them, and says so in the log', async () => {
    const d = join(dir, 'bad');
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (m: string) => void warnings.push(m) };
    const store = new ConversationStore(d, logger);
    await store.save(conversation('good', 'ok'));
    await writeFile(join(d, 'torn.json'), '{"schemaVersion":1,"id":"torn","mess');
    await writeFile(join(d, 'alien.json'), JSON.stringify({ hello: 'world' }));
    const fresh = new ConversationStore(d, logger);
    assert.deepEqual((await fresh.list()).map((c) => c.id), ['good']);
    assert.equal(warnings.length, 2);
    assert.deepEqual((await readdir(d)).sort(), ['alien.json', 'good.json', 'torn.json']);
  });

  it('keeps a reply that was streaming when the window closed, as stopped', async () => {
    const d = join(dir, 'streaming');
    const c = conversation('s', 'tell me');
    c.messages.push({ id: 'r', role: 'assistant', content: 'Once upon', createdAt: 1, status: 'streaming' });
    await new ConversationStore(d, silentLogger).save(c);
    const read = await new ConversationStore(d, silentLogger).get('s');
    assert.equal(read?.messages[2]?.status, 'stopped');
    assert.equal(read?.messages[2]?.content, 'Once upon');
  });

  it('a process killed mid-write leaves the previous or the new conversation, never a torn one', async () => {
    const d = join(dir, 'crash');
    const store = new ConversationStore(d, silentLogger);
    await store.save(conversation('big', 'v0'));
    // A child saves ever-larger versions in a loop; it is killed with SIGKILL at a random moment.
    const script = `
      const { ConversationStore } = require(${JSON.stringify(join(__dirname, '../../src/chat/conversationStore.ts'))});
      const store = new ConversationStore(${JSON.stringify(d)}, { trace(){}, debug(){}, info(){}, warn(){}, error(){} });
      (async () => {
        for (let i = 1; ; i++) {
          const text = 'v' + i + ' ' + 'x'.repeat(200000 + i * 1000);
          await store.save({ schemaVersion: 1, id: 'big', title: 't', personaId: 'sam', createdAt: 1, updatedAt: i,
            messages: [{ id: 'u', role: 'user', content: text, createdAt: 1, status: 'complete' }] });
          if (i === 3) process.stdout.write('writing\\n');
        }
      })();`;
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 40));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));

      const raw = await readFile(join(d, 'big.json'), 'utf8');
      assert.doesNotThrow(() => JSON.parse(raw), 'the file on disk is always complete JSON');
      const fresh = new ConversationStore(d, silentLogger);
      const read = await fresh.get('big');
      assert.ok(read, 'the conversation is still readable');
      assert.match(read.messages.at(-1)!.content, /^v\d+/);
      await fresh.list(); // sweeps temp files left by the killed write
      assert.deepEqual((await readdir(d)).filter((n) => n.endsWith('.tmp')), []);
    }
  });
});

describe('FilePreferences', () => {
  it('keeps values across a reload, written at once, and survives a torn file', async () => {
    const { FilePreferences } = await import('../../src/chat/filePreferences');
    const dir = await mkdtemp(join(tmpdir(), 'persona-prefs-'));
    try {
      const file = join(dir, 'sub', 'preferences.json');
      const prefs = await FilePreferences.load(file, silentLogger);
      assert.equal(prefs.get('a'), undefined);
      await prefs.update('persona.activeConversationId', 'c1');
      await prefs.update('persona.activePersonaId', 'sam');
      await prefs.update('persona.activePersonaId', undefined);
      assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { 'persona.activeConversationId': 'c1' });
      assert.equal((await FilePreferences.load(file, silentLogger)).get('persona.activeConversationId'), 'c1');

      await writeFile(file, '{"persona.activeConv');
      const warnings: string[] = [];
      const torn = await FilePreferences.load(file, { ...silentLogger, warn: (m: string) => void warnings.push(m) });
      assert.equal(torn.get('persona.activeConversationId'), undefined);
      assert.equal(warnings.length, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
