// The chat view's first state never waits on memory: while the memory store is held busy (its
// LanceDB load held back, as a slow disk or a long forget would), the view's state is answered at
// once with the memory line saying 'checking', and the real status follows as a change when the
// store is free. Real MemoryService and LanceDB on disk, a KoboldCpp-like server over HTTP.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChatService, type ChatMemory, type ChatSettings } from '../../src/chat/chatService';
import { ConversationStore } from '../../src/chat/conversationStore';
import { PersonaRegistry } from '../../src/characters/personaRegistry';
import { countTokens } from '../../src/util/tokenizer/countTokens';
import { describeError } from '../../src/chat/userMessages';
import { kbsInScope, WORKSPACE_KB } from '../../src/rag/knowledgeBases';
import { loadLanceDb, type LanceLoadResult } from '../../src/rag/lanceLoader';
import { MemoryOverview } from '../../src/rag/memoryOverview';
import { MemoryService, type MemorySettings } from '../../src/rag/memoryService';
import { silentLogger } from '../../src/util/logger';
import { startFakeKoboldCpp, type FakeKoboldCpp } from '../support/fakeKoboldCpp';

const settings = (url: string): MemorySettings => ({ baseUrl: url, model: '', chunkTokens: 64, overlapTokens: 8, maxFileBytes: 1 << 20, topK: 4, minScore: 0.1, tokenBudget: 1000 });

/** A promise the test resolves when it chooses. */
function gate<T>(): { promise: Promise<T>; open(value: T): void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** Fails instead of hanging when `promise` does not settle within `ms`. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('the view state while memory is busy', () => {
  let kobold: FakeKoboldCpp;
  let root: string;
  let personas: PersonaRegistry;

  before(async () => {
    kobold = await startFakeKoboldCpp({ dimension: 1024 });
    root = await mkdtemp(join(tmpdir(), 'persona-overview-'));
    personas = await PersonaRegistry.load(join(__dirname, '../../characters'), silentLogger);
  });
  after(async () => {
    await kobold.close();
    await rm(root, { recursive: true, force: true });
  });

  /** A chat whose memory is the overview, as the extension wires it (MemoryController.status). */
  async function chatOver(overview: MemoryOverview, dir: string): Promise<ChatService> {
    const memory: ChatMemory = {
      retrieve: async () => ({ section: '', citations: [] }),
      status: (personaId) => overview.status(kbsInScope(personaId)),
      onDidChange: (l) => overview.onDidChange(l),
    };
    const chatSettings: ChatSettings = { provider: 'local', baseUrl: 'http://127.0.0.1:9/v1', model: '', sampling: {}, userName: 'Ada' };
    const values = new Map<string, unknown>();
    const chat = new ChatService({
      store: new ConversationStore(join(dir, 'conversations'), silentLogger),
      personas,
      preferences: { get: <T,>(k: string) => values.get(k) as T | undefined, update: async (k, v) => void values.set(k, v) },
      settings: () => chatSettings,
      createProvider: async () => {
        throw new Error('no chat in this test');
      },
      countTokens,
      describeError,
      logger: silentLogger,
      memory,
    });
    await chat.init();
    return chat;
  }

  it('answers at once with "checking" while the store cannot be opened, then tells the real status when it can', async () => {
    const dir = join(root, 'busy');
    const memoryDir = join(dir, 'memory');
    const file = join(dir, 'notes.md');
    await mkdir(dir, { recursive: true });
    await writeFile(file, '# Notes\n\nThe deploy key rotates every Friday.\n');
    // A memory with one file in it, written by an earlier window.
    const first = new MemoryService({ dir: memoryDir, settings: () => settings(kobold.url), logger: silentLogger });
    await first.add([{ absPath: file, source: 'notes.md' }], WORKSPACE_KB);
    await first.whenIdle();
    assert.equal((await first.listDocuments()).length, 1);
    await first.dispose();

    // This window's memory: opening it is held back until the test lets it go.
    const held = gate<void>();
    const asked = gate<void>();
    const service = new MemoryService({
      dir: memoryDir,
      settings: () => settings(kobold.url),
      logger: silentLogger,
      loadLanceDb: async (): Promise<LanceLoadResult> => {
        asked.open();
        await held.promise;
        return loadLanceDb();
      },
    });
    const overview = new MemoryOverview(silentLogger);
    overview.attach(service);
    const chat = await chatOver(overview, dir);
    const changes: string[] = [];
    chat.onDidChangeState(() => changes.push(overview.status([WORKSPACE_KB]).status));
    // The view opened: memory is looked at in the background (MemoryController.warmUp).
    const looked = overview.refresh();
    await within(5000, 'the store to be opened', asked.promise);

    const state = await within(1000, 'the view state while memory is busy', chat.viewState());
    assert.deepEqual(state.memory, { status: 'checking' });
    assert.equal(state.activePersonaId, 'sam');
    assert.ok(state.conversation, 'the chat is there to type in');

    held.open();
    await looked;
    assert.deepEqual((await chat.viewState()).memory, { status: 'ready', documents: 1 });
    assert.equal(changes.at(-1), 'ready', 'the view heard of the real status');
    overview.dispose();
    await service.dispose();
  });

  it('says memory could not open, instead of "checking" for ever, when the store fails to load', async () => {
    const dir = join(root, 'failed');
    const service = new MemoryService({
      dir: join(dir, 'memory'),
      settings: () => settings(kobold.url),
      logger: silentLogger,
      loadLanceDb: async () => ({ ok: false, reason: 'This CPU lacks AVX2/FMA' }),
    });
    const overview = new MemoryOverview(silentLogger);
    overview.attach(service);
    const chat = await chatOver(overview, dir);
    assert.deepEqual((await chat.viewState()).memory, { status: 'checking' });
    await overview.refresh();
    const memory = (await chat.viewState()).memory;
    assert.equal(memory.status, 'unavailable');
    assert.match(memory.message ?? '', /AVX2\/FMA/);
    overview.dispose();
    await service.dispose();
  });
});
