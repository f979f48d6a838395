// "What was sent": for each reply, the exact request that produced it (messages, model, sampling)
// with the token count of each part. Kept beside the conversation, one JSON line per reply in
// `sent/<conversation id>.jsonl`, appended once when the reply starts, so recording costs one small
// write per turn and never rewrites the conversation. History messages are stored as references to
// the conversation's messages (their text is there already), and put back on read; everything else
// (system prompt, memory passages, post-history instructions) is stored as sent. Plain Node.
import { passageLabel, SourcePlaceSchema } from '../shared/sourcePlace';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod/mini';
import { writeFileAtomic } from '../util/atomicFile';
import type { Logger } from '../util/logger';
import { SamplingSchema } from '../shared/sampling';
import type { Conversation } from '../shared/conversation';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;

const StoredMessageSchema = z.union([
  z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }),
  /** A message of the conversation, sent as it is stored there. */
  z.object({ role: z.enum(['user', 'assistant']), ref: z.string() }),
]);

const PassageSchema = z.object({
  source: z.string(),
  startLine: z.int(),
  endLine: z.int(),
  place: z.optional(SourcePlaceSchema),
  score: z.number(),
  tokens: z.int(),
  /** The passage as quoted in the prompt; gone once its file is forgotten. */
  text: z.optional(z.string()),
  forgotten: z.optional(z.boolean()),
});

export const SentRecordSchema = z.object({
  v: z.literal(1),
  messageId: z.string(),
  at: z.number(),
  provider: z.enum(['local', 'cloud']),
  baseUrl: z.string(),
  model: z.string(),
  sampling: z.omit(SamplingSchema, { model: true }),
  messages: z.array(StoredMessageSchema),
  /** The model's loaded context, where the server said. */
  contextLength: z.optional(z.int()),
  replyTokens: z.int(),
  parts: z.object({ system: z.int(), lorebook: z.int(), examples: z.int(), memory: z.int(), history: z.int(), postHistory: z.int() }),
  lorebook: z.array(z.object({ index: z.int(), key: z.optional(z.string()), tokens: z.int() })),
  passages: z.array(PassageSchema),
  historyKept: z.int(),
  /** Ids of the oldest messages left out to fit the context. */
  historyLeftOut: z.array(z.string()),
  examplesLeftOut: z.int(),
  memoryLeftOut: z.boolean(),
});
export type SentRecord = z.infer<typeof SentRecordSchema>;
export type SentMessage = { role: 'system' | 'user' | 'assistant'; content: string };

/** A record as read back: its messages whole again. `missing` counts references to messages no longer in the chat. */
export interface ResolvedRecord extends Omit<SentRecord, 'messages'> {
  messages: SentMessage[];
  missing: number;
}

export class SentRecordStore {
  /** Appends run one after another per store, so two replies' lines never interleave. */
  private queue: Promise<void> = Promise.resolve();
  /** Files known to end with a whole line (written by this store since it started). */
  private readonly tailChecked = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  private fileFor(conversationId: string): string {
    if (!ID_PATTERN.test(conversationId)) throw new Error(`invalid conversation id "${conversationId}"`);
    return path.join(this.dir, `${conversationId}.jsonl`);
  }

  /** Stores a record, its history turned into references to `conversation`'s messages. */
  append(conversationId: string, record: SentRecord): Promise<void> {
    const line = `${JSON.stringify(record)}\n`;
    const next = this.queue.then(async () => {
      await fs.mkdir(this.dir, { recursive: true });
      const file = this.fileFor(conversationId);
      // A line cut short by a crash must not swallow the next one: start on a line of its own.
      const lead = this.tailChecked.has(file) || (await endsWithNewline(file)) ? '' : '\n';
      await fs.appendFile(file, lead + line, 'utf8');
      this.tailChecked.add(file);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The latest record for `messageId`, with its messages whole, or undefined. */
  async get(conversation: Conversation, messageId: string): Promise<ResolvedRecord | undefined> {
    await this.queue;
    const records = await this.read(conversation.id);
    const record = [...records].reverse().find((r) => r.messageId === messageId);
    return record && resolve(record, conversation);
  }

  async delete(conversationId: string): Promise<void> {
    await this.queue;
    await fs.rm(this.fileFor(conversationId), { force: true });
    this.tailChecked.delete(this.fileFor(conversationId));
  }

  /**
   * Removes the text of memory passages whose source `matches` from every record: from the passage
   * and from the system prompt that quoted it. Returns how many files changed.
   */
  async forgetPassages(matches: (source: string) => boolean): Promise<number> {
    await this.queue;
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
    let changed = 0;
    for (const name of names.filter((n) => n.endsWith('.jsonl'))) {
      const id = name.slice(0, -'.jsonl'.length);
      if (!ID_PATTERN.test(id)) continue;
      const records = await this.read(id);
      let touched = false;
      for (const r of records) {
        for (const p of r.passages) {
          if (p.text === undefined || !matches(p.source)) continue;
          const gone = `[forgotten: ${p.source}, ${passageLabel(p, '-')}]`;
          for (const m of r.messages) if ('content' in m && p.text.length > 0) m.content = m.content.split(p.text).join(gone);
          delete p.text;
          p.forgotten = true;
          touched = true;
        }
      }
      if (!touched) continue;
      await writeFileAtomic(this.fileFor(id), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
      changed++;
    }
    return changed;
  }

  private async read(conversationId: string): Promise<SentRecord[]> {
    let raw: string;
    try {
      raw = await fs.readFile(this.fileFor(conversationId), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: SentRecord[] = [];
    let skipped = 0;
    for (const line of raw.split('\n')) {
      if (!line.trim()) continue;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        skipped++; // A line cut short by a crash mid-append.
        continue;
      }
      const parsed = SentRecordSchema.safeParse(json);
      if (parsed.success) out.push(parsed.data);
      else skipped++;
    }
    if (skipped > 0) this.logger.warn(`Skipped ${skipped} unreadable line(s) of what was sent in conversation ${conversationId}.`);
    return out;
  }
}

async function endsWithNewline(file: string): Promise<boolean> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    const { size } = await handle.stat();
    if (size === 0) return true;
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw e;
  } finally {
    await handle?.close();
  }
}

/** History messages of `sent` that are the conversation's own, as references; the rest as text. */
export function toStoredMessages(sent: readonly SentMessage[], kept: readonly { id: string; role: 'user' | 'assistant'; content: string }[], firstHistoryIndex: number): SentRecord['messages'] {
  return sent.map((m, i) => {
    const ref = kept[i - firstHistoryIndex];
    if (ref && m.role === ref.role && m.content === ref.content) return { role: ref.role, ref: ref.id };
    return { role: m.role, content: m.content };
  });
}

function resolve(record: SentRecord, conversation: Conversation): ResolvedRecord {
  const byId = new Map(conversation.messages.map((m) => [m.id, m]));
  let missing = 0;
  const messages = record.messages.map((m): SentMessage => {
    if ('content' in m) return m;
    const found = byId.get(m.ref);
    if (!found) {
      missing++;
      return { role: m.role, content: '[this message is no longer in the conversation]' };
    }
    return { role: m.role, content: found.content };
  });
  return { ...record, messages, missing };
}
