// Conversations on disk, under the workspace's storage folder. Plain Node (no `vscode`), so it is
// tested on a temp dir.
//
// Each conversation is a snapshot `<id>.json`, in the format every earlier Persona wrote and reads
// (ConversationSchema, written temp-then-fsync-then-rename), and a sidecar `<id>.log` of JSON lines
// appended since that snapshot:
//   {"s":"<sha1 of the snapshot's bytes>"}   first line: the snapshot this log continues
//   {"m":<Message>}                           one message, whole: replaces the message with its id,
//                                             or is added at the end when the id is new
//   {"c":<the conversation minus messages>}   its other fields, whole (title, selected, end, …)
// Reading is the snapshot, then the log's lines in order (the last one wins). A save appends only
// what changed since this store last wrote or read the conversation, in one write(), messages
// before the conversation's own fields; a 2,000-message chat (~1 MB) costs a few hundred bytes per
// message instead of the whole file (measured: ~1 ms a save, median, on a 2,000-message chat). A
// save that removes or reorders messages (which upserts cannot say), or takes anything from a
// message (a member, array entries), writes a whole snapshot instead and removes the log: what was
// removed leaves the disk at once, which forgetting a memory or a source relies on. So does
// compaction, now and then, once the log outgrows the snapshot or holds many records.
//
// Crash safety. A kill -9 keeps every write() that returned (it is in the page cache), so it loses
// at most the save in flight; a line cut short by it is ignored on read and cut off before the
// next append, so it never ends up inside the log (a bad line found between good ones is skipped,
// logged, and gone at the next save, which writes a snapshot). Appends are not fsync'd: a power loss can lose
// the last appends, never a snapshot (still fsync'd and renamed, as before). The first line ties
// the log to its snapshot's bytes, so a log whose snapshot was replaced (a crash between "snapshot
// renamed" and "log removed", or an older Persona that rewrote the snapshot) is ignored instead of
// being replayed onto a snapshot that no longer has what it removed, which would bring deleted
// messages back. Replay is idempotent besides (an upsert of the same message is a no-op).
//
// Why a log and not a small embedded database: no new dependency; the snapshot stays a file the
// previous Persona opens as it is (it just doesn't see what was appended since the last
// compaction); and SQLite in Node 20 needs a native module (node:sqlite arrived in Node 22), with
// the per-platform packaging and loading that LanceDB already costs (STYLE.md, 9).
//
// To know what changed without serializing every message on each save (~3 ms for 1 MB, most of
// the 5 ms budget), the store keeps a JSON copy of each message as last written or read, sharing
// the caller's strings, and compares structurally: ~0.25 ms for 2,000 messages. Messages are
// mutated in place by the caller, so identity cannot say "unchanged"; only what is written is
// schema-checked (a zod parse of 2,000 messages is ~6 ms).
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import * as z from 'zod/mini';
import { ConversationSchema, MessageSchema, summarizeConversation, type Conversation, type ConversationSummary, type Message } from '../shared/conversation';
import type { Logger } from '../util/logger';
import { sweepTempFiles, writeFileAtomic } from '../util/atomicFile';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;

const ConversationFieldsSchema = z.omit(ConversationSchema, { messages: true });
type ConversationFields = z.infer<typeof ConversationFieldsSchema>;

export interface ConversationStoreOptions {
  /** Compact once the log is larger than this and than the snapshot (bytes). */
  compactLogBytes?: number;
  /** Compact once the log holds more records than this. */
  compactLogRecords?: number;
  /** How many conversations' last written state is kept to diff against; beyond it the least recently used is forgotten (its next save writes a snapshot). */
  rememberConversations?: number;
}

const DEFAULTS: Required<ConversationStoreOptions> = {
  compactLogBytes: 256 * 1024,
  compactLogRecords: 1000,
  rememberConversations: 16,
};

/** JSON values as this store copies them: objects without undefined members. */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** What is on disk for one conversation, as this store last wrote or read it. */
interface Known {
  /** The conversation's fields but its messages. */
  fields: Json;
  /** Message ids, in order. */
  order: string[];
  /** Each message as written, by id. */
  messages: Map<string, Json>;
  /** Set when the messages' ids repeat, which upserts cannot keep apart: every save writes a snapshot. */
  duplicateIds: boolean;
  snapshotHash: string;
  snapshotBytes: number;
  /** Bytes of the log up to its last good line (0: the next append starts a new log with its first line). */
  logBytes: number;
  /** The log file's actual size, when it has a torn or stale tail beyond `logBytes` to cut off first. */
  logFileBytes: number;
  logRecords: number;
  /** A bad line sits between good ones: the next save compacts, so that it does not stay inside the log. */
  logDamaged: boolean;
  handle?: FileHandle;
}

interface DiskState {
  conversation: Conversation;
  snapshotHash: string;
  snapshotBytes: number;
  logBytes: number;
  logFileBytes: number;
  logRecords: number;
  logDamaged: boolean;
}

export class ConversationStore {
  private summaries: Map<string, ConversationSummary> | undefined;
  private readonly options: Required<ConversationStoreOptions>;
  /** Least recently used first. */
  private readonly known = new Map<string, Known>();
  /** The last operation queued per conversation: writes (and the reads beside them) run one at a time. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
    options: ConversationStoreOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  private fileFor(id: string, ext: 'json' | 'log'): string {
    if (!ID_PATTERN.test(id)) throw new Error(`invalid conversation id "${id}"`);
    return path.join(this.dir, `${id}.${ext}`);
  }

  /** Summaries of every readable conversation, newest first. Unreadable conversations are logged and skipped, never deleted. */
  async list(): Promise<ConversationSummary[]> {
    if (!this.summaries) {
      const summaries = new Map<string, ConversationSummary>();
      await sweepTempFiles(this.dir);
      let names: string[] = [];
      try {
        names = await fs.readdir(this.dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      const present = new Set(names);
      for (const name of names) {
        if (name.endsWith('.log') && !present.has(`${name.slice(0, -4)}.json`)) {
          // A delete removes the snapshot first: a log alone is what an interrupted delete leaves.
          this.logger.info(`Removing ${name}, left without its conversation by an interrupted delete.`);
          await fs.rm(path.join(this.dir, name), { force: true });
          continue;
        }
        if (!name.endsWith('.json')) continue;
        const id = name.slice(0, -5);
        if (!ID_PATTERN.test(id)) {
          this.logger.warn(`Conversation file ${name} does not have a conversation's name; it is left in place and not shown.`);
          continue;
        }
        const state = await this.serialize(id, () => this.read(id));
        if (state) summaries.set(id, summarizeConversation(state.conversation));
      }
      this.summaries ??= summaries;
    }
    return [...this.summaries.values()].sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /** The conversation as stored; a save of it afterwards appends what changed. */
  async get(id: string): Promise<Conversation | undefined> {
    this.fileFor(id, 'json');
    return this.serialize(id, async () => {
      const state = await this.read(id);
      if (!state) {
        await this.forget(id);
        return undefined;
      }
      this.remember(id, knownFrom(state.conversation, state));
      return state.conversation;
    });
  }

  /**
   * Stores what changed since this store last wrote or read the conversation. `rewrite`: the whole
   * conversation as a new snapshot, the log gone — for an edit that must leave nothing of the old
   * text on disk (forgetting), whatever the diff would say.
   */
  async save(conversation: Conversation, options: { rewrite?: boolean } = {}): Promise<void> {
    const id = conversation.id;
    this.fileFor(id, 'json');
    await this.serialize(id, () => (options.rewrite ? this.writeSnapshot(conversation) : this.write(conversation)));
    (await this.cache()).set(id, summarizeConversation(conversation));
  }

  async delete(id: string): Promise<void> {
    this.fileFor(id, 'json');
    await this.serialize(id, async () => {
      await this.forget(id);
      // The snapshot first: once it is gone the conversation is, and list() sweeps a log left alone.
      await fs.rm(this.fileFor(id, 'json'), { force: true });
      await fs.rm(this.fileFor(id, 'log'), { force: true });
    });
    (await this.cache()).delete(id);
  }

  /** Waits for the writes in flight and closes the logs kept open. The store can still be used afterwards. */
  async dispose(): Promise<void> {
    await Promise.all([...this.queues.values()]);
    for (const id of [...this.known.keys()]) await this.forget(id);
  }

  /**
   * As dispose, and first folds each log this store wrote into its snapshot, so that an older
   * Persona opening the folder next sees every message (it reads snapshots only). The extension
   * calls it on deactivate; the store can still be used afterwards.
   */
  async close(): Promise<void> {
    await Promise.all([...this.queues.values()]);
    for (const [id, known] of [...this.known]) {
      if (known.logBytes === 0) continue;
      await this.serialize(id, () => this.writeSnapshot(conversationOf(known))).catch((e: Error) => this.logger.warn(`Could not compact conversation ${id}: ${e.message}`));
    }
    await this.dispose();
  }


  private async cache(): Promise<Map<string, ConversationSummary>> {
    if (!this.summaries) await this.list();
    return this.summaries!;
  }

  private serialize<T>(id: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(id);
    const result = previous ? previous.then(operation) : operation();
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(id, settled);
    void settled.then(() => {
      if (this.queues.get(id) === settled) this.queues.delete(id);
    });
    return result;
  }

  private remember(id: string, known: Known): void {
    const previous = this.known.get(id);
    if (previous?.handle && previous.handle !== known.handle) void previous.handle.close().catch(() => undefined);
    this.known.delete(id);
    this.known.set(id, known);
    for (const [other, state] of this.known) {
      if (this.known.size <= this.options.rememberConversations) break;
      if (other === id || this.queues.has(other)) continue;
      this.known.delete(other);
      void state.handle?.close().catch(() => undefined);
    }
  }

  private async forget(id: string): Promise<void> {
    const known = this.known.get(id);
    this.known.delete(id);
    await known?.handle?.close().catch(() => undefined);
  }

  private async write(conversation: Conversation): Promise<void> {
    const id = conversation.id;
    const known = this.known.get(id);
    if (!known || known.duplicateIds || known.logDamaged || conversation.messages.length < known.order.length) {
      return this.writeSnapshot(conversation);
    }
    let lines = '';
    let records = 0;
    const changed: [string, Json][] = [];
    const added = new Set<string>();
    const messages = conversation.messages;
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!;
      if (i < known.order.length) {
        if (message.id !== known.order[i]) return this.writeSnapshot(conversation);
        const change = compareJson(message, known.messages.get(message.id), 'branch');
        if (change === 'same') continue;
        // What is taken from a message (forgotten citations or memories) leaves the disk at once, not at the next compaction.
        if (change === 'removes') return this.writeSnapshot(conversation);
      } else {
        if (known.messages.has(message.id) || added.has(message.id)) return this.writeSnapshot(conversation);
        added.add(message.id);
      }
      lines += `{"m":${JSON.stringify(MessageSchema.parse(storable(message)))}}\n`;
      records++;
      changed.push([message.id, copyJson(message, 'branch')]);
    }
    let fields: Json | undefined;
    if (compareJson(conversation, known.fields, 'messages') !== 'same') {
      lines += `{"c":${JSON.stringify(ConversationFieldsSchema.parse(fieldsOf(conversation)))}}\n`;
      records++;
      fields = copyJson(conversation, 'messages');
    }
    if (records === 0) return;

    try {
      await this.append(id, known, lines, records);
    } catch (e) {
      // What reached the log is unknown: the next save writes a snapshot and starts over.
      await this.forget(id);
      throw e;
    }
    for (const [messageId, copy] of changed) {
      if (!known.messages.has(messageId)) known.order.push(messageId);
      known.messages.set(messageId, copy);
    }
    if (fields !== undefined) known.fields = fields;
    this.remember(id, known);

    const { compactLogBytes, compactLogRecords } = this.options;
    if (known.logBytes > Math.max(compactLogBytes, known.snapshotBytes) || known.logRecords > compactLogRecords) {
      // The save itself is done: a compaction that fails leaves the log as it is, to try again at the next save.
      await this.writeSnapshot(conversation).catch((e: Error) => this.logger.warn(`Could not compact conversation ${id}: ${e.message}`));
    }
  }

  private async append(id: string, known: Known, lines: string, records: number): Promise<void> {
    const file = this.fileFor(id, 'log');
    if (known.logFileBytes !== known.logBytes) {
      // A torn or stale tail is cut off first, so that it never ends up between good lines.
      await known.handle?.close();
      known.handle = undefined;
      await fs.truncate(file, known.logBytes);
      known.logFileBytes = known.logBytes;
    }
    known.handle ??= await fs.open(file, 'a');
    const data = Buffer.from(known.logBytes === 0 ? `{"s":"${known.snapshotHash}"}\n${lines}` : lines, 'utf8');
    for (let offset = 0; offset < data.length; ) {
      const { bytesWritten } = await known.handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
    known.logBytes += data.length;
    known.logFileBytes = known.logBytes;
    known.logRecords += records;
  }

  /** The whole conversation as a snapshot, then the log removed: a crash between the two leaves a log that no longer matches, and is ignored. */
  private async writeSnapshot(conversation: Conversation): Promise<void> {
    const id = conversation.id;
    const checked = ConversationSchema.parse({ ...conversation, messages: conversation.messages.map(storable) });
    const json = JSON.stringify(checked);
    const known = knownFrom(conversation, { snapshotHash: sha1(json), snapshotBytes: Buffer.byteLength(json), logBytes: 0, logFileBytes: 0, logRecords: 0, logDamaged: false });
    await writeFileAtomic(this.fileFor(id, 'json'), json);
    await this.forget(id);
    await fs.rm(this.fileFor(id, 'log'), { force: true });
    this.remember(id, known);
  }

  private async read(id: string): Promise<DiskState | undefined> {
    const file = this.fileFor(id, 'json');
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      this.logger.warn(`Could not read conversation ${file}: ${(e as Error).message}`);
      return undefined;
    }
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      this.logger.warn(`Conversation file ${file} is not valid JSON; it is left in place and not shown.`);
      return undefined;
    }
    const parsed = ConversationSchema.safeParse(json);
    if (!parsed.success || parsed.data.id !== id) {
      this.logger.warn(`Conversation file ${file} does not match the expected format; it is left in place and not shown.`);
      return undefined;
    }
    const snapshotHash = sha1(bytes);
    const { conversation, ...log } = await this.replay(id, parsed.data, snapshotHash);
    for (const m of conversation.messages) {
      // A reply that was streaming when the window closed (or crashed) is kept as stopped.
      if (m.status === 'streaming') m.status = 'stopped';
      delete m.branch;
    }
    return { conversation, snapshotHash, snapshotBytes: bytes.length, ...log };
  }

  /** The snapshot with the log's good lines applied in order; torn, stale or bad lines are skipped and measured so that the next append cuts them off. */
  private async replay(id: string, snapshot: Conversation, snapshotHash: string): Promise<Omit<DiskState, 'snapshotHash' | 'snapshotBytes'>> {
    const file = this.fileFor(id, 'log');
    let log: Buffer;
    try {
      log = await fs.readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn(`Could not read ${file}: ${(e as Error).message}; the conversation is shown as of its last snapshot.`);
      return { conversation: snapshot, logBytes: 0, logFileBytes: 0, logRecords: 0, logDamaged: false };
    }
    const { messages, ...snapshotFields } = snapshot;
    let fields: ConversationFields = snapshotFields;
    const positions = new Map(messages.map((m, i) => [m.id, i]));
    let goodBytes = 0;
    let records = 0;
    let badBefore = false;
    let damaged = false;
    for (let start = 0; start < log.length; ) {
      const end = log.indexOf(0x0a, start);
      if (end < 0) break; // torn: written in part when the process died
      const record = parseLine(log.toString('utf8', start, end));
      start = end + 1;
      if (goodBytes === 0) {
        if (record?.s !== snapshotHash) {
          this.logger.info(`${file} was written after another version of the conversation (left by an interrupted rewrite, or an older Persona wrote it since); it is ignored.`);
          break;
        }
        goodBytes = start;
        continue;
      }
      const message = record && 'm' in record ? MessageSchema.safeParse(record.m) : undefined;
      const other = record && 'c' in record ? ConversationFieldsSchema.safeParse(record.c) : undefined;
      if (message?.success) {
        const at = positions.get(message.data.id);
        if (at === undefined) {
          positions.set(message.data.id, messages.length);
          messages.push(message.data);
        } else messages[at] = message.data;
      } else if (other?.success && other.data.id === id) {
        fields = other.data;
      } else {
        badBefore = true;
        continue;
      }
      if (badBefore) damaged = true;
      goodBytes = start;
      records++;
    }
    if (damaged) this.logger.warn(`${file} has a damaged line between good ones; it was skipped, and the next save rewrites the conversation without it.`);
    return { conversation: { ...fields, messages }, logBytes: goodBytes, logFileBytes: log.length, logRecords: records, logDamaged: damaged };
  }
}

function parseLine(line: string): { s?: unknown; m?: unknown; c?: unknown } | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function sha1(data: string | Buffer): string {
  return createHash('sha1').update(data).digest('hex');
}

/** `branch` is for the view only (ChatService sets it on copies it shows); never stored. */
function storable(message: Message): Message {
  if (message.branch === undefined) return message;
  const { branch: _, ...rest } = message;
  return rest;
}

/** The conversation as this store last wrote or read it (checked again by the snapshot's schema parse). */
function conversationOf(known: Known): Conversation {
  return { ...(known.fields as object), messages: known.order.map((id) => known.messages.get(id)) } as unknown as Conversation;
}

function fieldsOf(conversation: Conversation): ConversationFields {
  const { messages: _, ...fields } = conversation;
  return fields;
}

function knownFrom(conversation: Conversation, disk: Omit<DiskState, 'conversation'>): Known {
  const messages = new Map<string, Json>();
  const order: string[] = [];
  for (const m of conversation.messages) {
    order.push(m.id);
    messages.set(m.id, copyJson(m, 'branch'));
  }
  return { fields: copyJson(conversation, 'messages'), order, messages, duplicateIds: messages.size !== order.length, ...disk };
}

/** A copy as JSON would keep it (undefined members dropped), strings shared with the original, one top-level key left out. */
function copyJson(value: unknown, skip?: string): Json {
  if (value === null || typeof value !== 'object') return value as Json;
  if (Array.isArray(value)) return value.map((v) => copyJson(v));
  const copy: { [key: string]: Json } = {};
  for (const key in value) {
    const member = (value as Record<string, unknown>)[key];
    if (member !== undefined && key !== skip) copy[key] = copyJson(member);
  }
  return copy;
}

/**
 * How `value` differs from `copy` as JSON (members undefined in `value` count as absent), one
 * top-level key left out: not at all; only by what is added or replaced; or it lost a member or
 * array entries somewhere (which a log of replacements would keep on disk).
 */
function compareJson(value: unknown, copy: Json | undefined, skip?: string): 'same' | 'changes' | 'removes' {
  if (value === copy) return 'same';
  if (value === null || copy === null || copy === undefined || typeof value !== 'object' || typeof copy !== 'object') return 'changes';
  let result: 'same' | 'changes' = 'same';
  if (Array.isArray(value)) {
    if (!Array.isArray(copy)) return 'changes';
    if (value.length < copy.length) return 'removes';
    if (value.length > copy.length) result = 'changes';
    for (let i = 0; i < copy.length; i++) {
      const inner = compareJson(value[i], copy[i]);
      if (inner === 'removes') return inner;
      if (inner === 'changes') result = inner;
    }
    return result;
  }
  if (Array.isArray(copy)) return 'changes';
  let shared = 0;
  for (const key in value) {
    const member = (value as Record<string, unknown>)[key];
    if (member === undefined || key === skip) continue;
    const kept = copy[key];
    if (kept === undefined) {
      result = 'changes';
      continue;
    }
    shared++;
    const inner = compareJson(member, kept);
    if (inner === 'removes') return inner;
    if (inner === 'changes') result = inner;
  }
  let copyKeys = 0;
  for (const _ in copy) copyKeys++;
  return shared < copyKeys ? 'removes' : result;
}
