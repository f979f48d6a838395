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
  /** The passage as quoted in the prompt; gone once its file, or its chunk, is forgotten. */
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

  /** Resolves when the records appended so far are on disk (or failed to get there). */
  async flushed(): Promise<void> {
    await this.queue;
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
  forgetPassages(matches: (source: string) => boolean): Promise<number> {
    return this.rewrite((r) => forgetPassagesOf(r, (p) => matches(p.source)));
  }

  /**
   * Removes one forgotten chunk of a file from every record: the passages that quoted it whole or
   * its start (a passage cut short to fit the budget), as `forgetPassages` does. The file's other
   * passages stay. Returns how many files changed.
   */
  forgetChunk(chunk: ForgottenChunk): Promise<number> {
    return this.rewrite((r) => forgetPassagesOf(r, (p) => quotesChunk(p, chunk)));
  }

  /** Puts `marker` in place of each of `texts` in the stored messages of every record. Returns how many files changed. */
  forgetQuoted(texts: readonly string[], marker: string): Promise<number> {
    return this.rewrite((r) => texts.map((t) => replaceInMessages(r, t, marker)).some(Boolean));
  }

  /** Writes again, whole, every file of which `edit` changed a record. Returns how many files changed. */
  private async rewrite(edit: (record: SentRecord) => boolean): Promise<number> {
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
      // Every record is edited, not only up to the first that changed.
      const touched = records.map(edit).some(Boolean);
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

type StoredPassage = SentRecord['passages'][number];

/** One chunk of a file that memory forgot: where it was, and its text. */
export interface ForgottenChunk {
  source: string;
  startLine: number;
  endLine: number;
  text: string;
}

/** Whether a passage or citation of some file lies within the lines of `chunk`, in its file. */
export function liesWithin(at: { source: string; startLine: number; endLine: number }, chunk: ForgottenChunk): boolean {
  return at.source === chunk.source && at.startLine >= chunk.startLine && at.endLine <= chunk.endLine;
}

/** Whether `p` quoted `chunk`: within its lines, its text the chunk's or the start of it (cut to fit). */
function quotesChunk(p: StoredPassage, chunk: ForgottenChunk): boolean {
  return liesWithin(p, chunk) && p.text !== undefined && chunk.text.startsWith(p.text);
}

/** Takes the text of the passages `matches` out of the record: a marker in the messages, none in the passage. Whether any was taken. */
function forgetPassagesOf(record: SentRecord, matches: (p: StoredPassage) => boolean): boolean {
  let touched = false;
  for (const p of record.passages) {
    if (p.text === undefined || !matches(p)) continue;
    replaceInMessages(record, p.text, `[forgotten: ${p.source}, ${passageLabel(p, '-')}]`);
    delete p.text;
    p.forgotten = true;
    touched = true;
  }
  return touched;
}

/** Puts `marker` in place of `text` wherever the record's messages hold it as sent. Whether any did. */
function replaceInMessages(record: SentRecord, text: string, marker: string): boolean {
  if (text.length === 0) return false;
  let touched = false;
  for (const m of record.messages) {
    if (!('content' in m) || !m.content.includes(text)) continue;
    m.content = m.content.split(text).join(marker);
    touched = true;
  }
  return touched;
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
