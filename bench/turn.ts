// npm run bench:turn — what keeping "what was sent" costs a turn. Two chats, one keeping the record
// of each request and one not, take turns against the same test server (replies streamed at once,
// so the server's time is as small as it gets and our own is what shows); for each turn it measures
// from send to the first token reaching the chat's listeners, and from send to the reply saved.
// Prints medians, the 90th percentiles, and the ratio with the record to without.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatService, type ChatSettings } from '../src/chat/chatService';
import { ConversationStore } from '../src/chat/conversationStore';
import { SentRecordStore } from '../src/chat/sentRecords';
import { PersonaRegistry } from '../src/characters/personaRegistry';
import { countTokens } from '../src/util/tokenizer/countTokens';
import { describeError } from '../src/chat/userMessages';
import { OpenAiCompatibleChatClient } from '../src/providers/chatClient';
import { silentLogger } from '../src/util/logger';
import { MemoryPreferences } from '../test/support/memoryPreferences';
import { startFakeOpenAiServer } from '../test/support/fakeOpenAiServer';

const TURNS = Number(process.env['TURN_BENCH_TURNS'] ?? 120);

interface Sample {
  firstTokenMs: number;
  turnMs: number;
}

async function main(): Promise<void> {
  const server = await startFakeOpenAiServer({ reply: 'A reply of a couple of dozen words, enough to stream in several pieces and be counted like a real one would be.', tokenDelayMs: 0 });
  const dir = await mkdtemp(join(tmpdir(), 'persona-bench-turn-'));
  const personas = await PersonaRegistry.load(join(__dirname, '../characters'), silentLogger);
  const settings: ChatSettings = { provider: 'local', baseUrl: server.url, model: '', sampling: {}, userName: 'Ada' };
  const make = async (name: string, keep: boolean) => {
    const chat = new ChatService({
      store: new ConversationStore(join(dir, name, 'conversations'), silentLogger),
      personas,
      preferences: new MemoryPreferences(),
      settings: () => settings,
      createProvider: async (s) => new OpenAiCompatibleChatClient({ baseUrl: s.baseUrl, label: 'LM Studio', logger: silentLogger }),
      countTokens,
      describeError,
      logger: silentLogger,
      ...(keep ? { sentRecords: new SentRecordStore(join(dir, name, 'sent'), silentLogger) } : {}),
    });
    await chat.init();
    await chat.checkConnection();
    return chat;
  };
  const withRecord = await make('with', true);
  const without = await make('without', false);
  const samples: Record<'with' | 'without', Sample[]> = { with: [], without: [] };

  const turn = async (chat: ChatService, i: number): Promise<Sample> => {
    const started = performance.now();
    let first = 0;
    const sub = chat.onDelta(() => (first ||= performance.now()));
    await chat.send(`Message ${i}: tell me something about the number ${i}.`);
    await chat.idle();
    sub.dispose();
    return { firstTokenMs: first - started, turnMs: performance.now() - started };
  };

  // Warm up both (tokenizer tables, connections, JIT).
  for (let i = 0; i < 10; i++) {
    await turn(withRecord, -i);
    await turn(without, -i);
  }
  for (let i = 0; i < TURNS; i++) {
    // Alternate which goes first, so drift on the machine falls on both alike.
    if (i % 2 === 0) {
      samples.with.push(await turn(withRecord, i));
      samples.without.push(await turn(without, i));
    } else {
      samples.without.push(await turn(without, i));
      samples.with.push(await turn(withRecord, i));
    }
  }
  withRecord.dispose();
  without.dispose();
  await server.close();
  await rm(dir, { recursive: true, force: true });

  const stat = (values: number[], p: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  };
  const row = (what: keyof Sample) => {
    const w = samples.with.map((s) => s[what]);
    const wo = samples.without.map((s) => s[what]);
    const median = [stat(w, 0.5), stat(wo, 0.5)] as const;
    return `${what.padEnd(13)} with record ${median[0].toFixed(2)} ms (p90 ${stat(w, 0.9).toFixed(2)}), without ${median[1].toFixed(2)} ms (p90 ${stat(wo, 0.9).toFixed(2)}): ratio ${(median[0] / median[1]).toFixed(3)}`;
  };
  console.log(`What was sent, kept or not: ${TURNS} turns each, conversations growing to ${TURNS + 10} turns, replies streamed at once by the test server`);
  console.log(row('firstTokenMs'));
  console.log(row('turnMs'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
