// A process that saves one conversation in a loop, for the crash test (it is killed with SIGKILL
// at random moments), and a measure of the append time.
//
// Crash:    node --import tsx test/support/conversationStoreChild.ts crash DIR
//           continues the conversation "long" in DIR (one message per save, now and then an edit of
//           an older one and a new title), with compaction every few records; prints "saved N"
//           once save N has resolved. What save N leaves is a function of N (below), so the test
//           can check what it reads.
// Measure:  node --import tsx test/support/conversationStoreChild.ts measure [MESSAGES] [RUNS]
//           prints the median time of save() appending one message to a MESSAGES-message chat.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Conversation, Message } from '../../src/shared/conversation';
import { silentLogger } from '../../src/util/logger';
import { ConversationStore } from '../../src/chat/conversationStore';

export const CRASH_ID = 'long';

/** Save `n` edits message floor(n / 3) when n is a multiple of 4. */
function editedAt(n: number): number | undefined {
  return n > 0 && n % 4 === 0 ? Math.floor(n / 3) : undefined;
}

/** The content of message `k` once save `n` (n >= k) has been made. */
export function contentAfter(k: number, n: number): string {
  for (let j = Math.min(n, 3 * k + 2); j >= 3 * k; j--) if (editedAt(j) === k) return `message ${k}, edited by save ${j}`;
  return `message ${k} ${'x'.repeat((k * 37) % 300)}`;
}

export function titleAfter(n: number): string {
  return `Chat ${Math.floor(n / 5)}`;
}

/** What save `n` changes in the conversation (which holds messages 0 … n - 1). */
function step(conversation: Conversation, n: number): void {
  const message: Message = { id: `m${n}`, role: n % 2 ? 'assistant' : 'user', content: contentAfter(n, n), createdAt: n, status: 'complete' };
  conversation.messages.push(message);
  const edited = editedAt(n);
  if (edited !== undefined) conversation.messages[edited]!.content = contentAfter(edited, n);
  conversation.title = titleAfter(n);
  conversation.updatedAt = n;
}

async function crash(dir: string): Promise<void> {
  const store = new ConversationStore(dir, silentLogger, { compactLogRecords: 12, compactLogBytes: 4096 });
  const conversation: Conversation = (await store.get(CRASH_ID)) ?? {
    schemaVersion: 1,
    id: CRASH_ID,
    title: '',
    personaId: 'sam',
    createdAt: 0,
    updatedAt: 0,
    messages: [],
  };
  for (let n = conversation.messages.length; ; n++) {
    step(conversation, n);
    await store.save(conversation);
    process.stdout.write(`saved ${n}\n`);
  }
}

/** The median time of save() appending one message to a conversation of `messages` messages (~650 bytes each). */
export async function measureAppend(messages = 2000, runs = 50): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'persona-measure-'));
  try {
    const store = new ConversationStore(dir, silentLogger);
    const conversation: Conversation = { schemaVersion: 1, id: 'measure', title: 'Measure', personaId: 'sam', createdAt: 0, updatedAt: 0, messages: [] };
    const message = (i: number): Message => ({
      id: `m${i}`,
      role: i % 2 ? 'assistant' : 'user',
      content: `${i} ${'A sentence of some length. '.repeat(22)}`,
      createdAt: i,
      status: 'complete',
      ...(i % 2 ? { model: 'qwen3-8b', usage: { promptTokens: 900, completionTokens: 120 }, stats: { totalMs: 2100, firstTokenMs: 300, tokensPerSecond: 60 } } : {}),
    });
    for (let i = 0; i < messages; i++) conversation.messages.push(message(i));
    await store.save(conversation);
    const times: number[] = [];
    for (let run = 0; run < runs; run++) {
      conversation.messages.push(message(messages + run));
      conversation.updatedAt = messages + run;
      const started = performance.now();
      await store.save(conversation);
      times.push(performance.now() - started);
    }
    await store.dispose();
    return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const [mode, arg1, arg2] = process.argv.slice(2);
  if (mode === 'crash' && arg1) {
    void crash(arg1);
  } else if (mode === 'measure') {
    void measureAppend(arg1 ? Number(arg1) : undefined, arg2 ? Number(arg2) : undefined).then((ms) =>
      process.stdout.write(`save() appending one message to a ${arg1 ?? 2000}-message conversation: median ${ms.toFixed(2)} ms\n`),
    );
  } else {
    process.stderr.write('usage: conversationStoreChild.ts crash DIR | measure [MESSAGES] [RUNS]\n');
    process.exitCode = 2;
  }
}
