// Readers of untrusted bytes, each with a valid sample to mutate and what counts as a proper answer:
// a value, or the reader's own refusal. Anything else thrown is a crash. Shared by the unit suite's
// short seeded run (test/unit/readers.fuzz.test.ts) and `npm run fuzz` (bench/fuzz.ts), which runs
// longer and reports inputs per second. The card and Persona-file readers have their own fuzzer
// (test/unit/cards.fuzz.test.ts).
import { resolveSettings } from '../../src/chat/effectiveSettings';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ConversationStore } from '../../src/chat/conversationStore';
import { QueueJournal } from '../../src/rag/queueJournal';
import { BuilderProtocol } from '../../src/shared/builderProtocol';
import { ChatProtocol } from '../../src/shared/chatProtocol';
import { ConversationSchema } from '../../src/shared/conversation';
import { JobSchema } from '../../src/rag/indexingJobs';
import { silentLogger } from '../../src/util/logger';

export type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)]!;

const TOKENS = ['{', '}', '[', ']', '"', ':', ',', 'null', 'true', '1e999', '-0', '"\\u0000"', '"\\ud800"', '"__proto__"', '{"constructor":{"prototype":{}}}', '[[[[[[[[', ']]]]]]]]', '9'.repeat(400), '"' + 'x'.repeat(5000) + '"'];

/** One random change to a JSON text: a byte flipped, a cut, a token inserted, a span doubled or removed. */
export function mutate(rng: Rng, text: string): string {
  let s = text;
  for (let n = 1 + int(rng, 4); n > 0; n--) {
    const at = int(rng, s.length + 1);
    switch (int(rng, 6)) {
      case 0:
        s = s.slice(0, at) + String.fromCharCode(int(rng, 0x10000)) + s.slice(at + 1);
        break;
      case 1:
        s = s.slice(0, at);
        break;
      case 2:
        s = s.slice(0, at) + pick(rng, TOKENS) + s.slice(at);
        break;
      case 3: {
        const end = Math.min(s.length, at + int(rng, 200));
        s = s.slice(0, end) + s.slice(at, end) + s.slice(end);
        break;
      }
      case 4:
        s = s.slice(0, at) + s.slice(at + int(rng, 50));
        break;
      default: {
        // Change a value while keeping valid JSON where it still parses.
        try {
          const v = JSON.parse(s) as unknown;
          s = JSON.stringify(replaceSomething(rng, v));
        } catch {
          s = s.slice(0, at) + pick(rng, TOKENS) + s.slice(at);
        }
      }
    }
  }
  return s;
}

function replaceSomething(rng: Rng, v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 0 || rng() < 0.2 ? pick(rng, [null, 1, 'x', {}, [v]]) : v.map((x) => (rng() < 0.3 ? replaceSomething(rng, x) : x));
  if (v && typeof v === 'object') {
    const entries = Object.entries(v);
    if (entries.length === 0 || rng() < 0.2) return pick(rng, [null, [], 'x', -1, { ...v, extra: v }]);
    return Object.fromEntries(entries.map(([k, x]) => [rng() < 0.1 ? pick(rng, ['__proto__', '', k + k]) : k, rng() < 0.3 ? replaceSomething(rng, x) : x]));
  }
  return pick(rng, [null, 0, -1, 1.5, 2 ** 53, '', 'x'.repeat(300), true, [], {}]);
}

/** A message reader's target: text that is not JSON never reaches it (the webview's postMessage carries values). */
function parsedThen(read: (raw: unknown) => boolean): (input: string) => Promise<boolean> {
  return async (input) => {
    let raw: unknown;
    try {
      raw = JSON.parse(input);
    } catch {
      return false;
    }
    return read(raw);
  };
}

export interface FuzzTarget {
  name: string;
  sample: string;
  /** Reads the input; resolves with whether it was accepted. Throws only on a crash. */
  run(input: string): Promise<boolean>;
  dispose?(): void;
}

const conversation = ConversationSchema.parse({
  schemaVersion: 1,
  id: 'c-1',
  title: 'A chat',
  personaId: 'sam',
  personaName: 'Sam',
  createdAt: 1,
  updatedAt: 2,
  messages: [
    { id: 'm1', role: 'assistant', content: 'Hi!', createdAt: 1, status: 'complete', greeting: true },
    { id: 'm2', role: 'user', content: 'Tell me', createdAt: 2, status: 'complete' },
    { id: 'm3', role: 'assistant', content: 'Sure [1]', createdAt: 3, status: 'complete', model: 'm', usage: { promptTokens: 3, completionTokens: 2 }, citations: [{ source: 'a.md', startLine: 1, endLine: 2, score: 0.5 }] },
  ],
});

export function fuzzTargets(): FuzzTarget[] {
  const dir = mkdtempSync(join(tmpdir(), 'persona-fuzz-'));
  const conversations = join(dir, 'conversations');
  const journalDir = join(dir, 'queue');
  mkdirSync(conversations, { recursive: true });
  mkdirSync(journalDir, { recursive: true });
  const store = new ConversationStore(conversations, silentLogger);
  const snapshot = JSON.stringify({ ...conversation, id: 'c-2' });
  writeFileSync(join(conversations, 'c-2.json'), snapshot);
  const logSnapshotHash = createHash('sha1').update(snapshot).digest('hex');
  const journal = new QueueJournal(journalDir, silentLogger);
  return [
    {
      name: 'conversation file',
      sample: JSON.stringify(conversation),
      async run(input) {
        writeFileSync(join(conversations, 'c-1.json'), input);
        const read = await store.get('c-1');
        if (read && !ConversationSchema.safeParse(read).success) throw new Error('read a conversation that does not match its schema');
        return read !== undefined;
      },
    },
    {
      // The log beside a snapshot (conversationStore.ts): its first line, which ties it to the
      // snapshot, is kept right so that the records after it are what gets read.
      name: 'conversation log',
      sample: [
        JSON.stringify({ m: { id: 'm4', role: 'user', content: 'And then?', createdAt: 4, status: 'complete', parentId: 'm3' } }),
        JSON.stringify({ m: { id: 'm3', role: 'assistant', content: 'Sure, edited', createdAt: 3, status: 'stopped' } }),
        JSON.stringify({ c: { schemaVersion: 1, id: 'c-2', title: 'Renamed', personaId: 'sam', createdAt: 1, updatedAt: 5, selected: { m2: 'm3' }, end: 'm3' } }),
        '',
      ].join('\n'),
      async run(input) {
        writeFileSync(join(conversations, 'c-2.log'), `{"s":"${logSnapshotHash}"}\n${input}`);
        const read = await store.get('c-2');
        if (!read || !ConversationSchema.safeParse(read).success) throw new Error('read a conversation that does not match its schema, or lost its snapshot');
        if (new Set(read.messages.map((m) => m.id)).size !== read.messages.length) throw new Error('the log duplicated a message');
        return read.messages.length > conversation.messages.length || read.title !== conversation.title;
      },
    },
    {
      name: 'indexing journal',
      sample: JSON.stringify({ version: 1, jobs: [{ kind: 'add', source: 'a.md', path: '/w/a.md', kb: 'workspace', root: '/w' }, { kind: 'remove', source: 'b.md', kb: 'persona:sam' }] }),
      async run(input) {
        writeFileSync(join(journalDir, 'journal.json'), input);
        const jobs = await journal.load();
        for (const j of jobs) if (!JobSchema.safeParse(j).success) throw new Error('loaded a job that does not match its schema');
        return jobs.length > 0;
      },
    },
    {
      name: 'chat view message',
      sample: JSON.stringify({ id: 7, method: 'conversation/rename', params: { id: 'c-1', title: 'New title' } }),
      run: parsedThen((raw) => ChatProtocol.parseRequest(raw).ok),
    },
    {
      name: 'builder message',
      sample: JSON.stringify({ id: 3, method: 'builder/diff', params: { from: 1, to: 2 } }),
      run: parsedThen((raw) => BuilderProtocol.parseRequest(raw).ok),
    },
    {
      name: 'message to the chat view',
      sample: JSON.stringify({ method: 'state/changed', params: { activePersonaId: 'sam', streaming: null, connection: { status: 'ok', provider: 'local', baseUrl: 'http://127.0.0.1:1234/v1' }, memory: { status: 'ready', documents: 2 }, settings: resolveSettings({ settings: {}, persona: { temperature: 0.7 }, chat: { topK: 40 } }) } }),
      run: parsedThen((raw) => ChatProtocol.parseHostMessage(raw).ok),
      dispose: () => rmSync(dir, { recursive: true, force: true }),
    },
  ];
}
