// Memory items: short facts a persona keeps ("my daughter is called Ada"), taken from a chat by the
// person. They belong to the persona and follow it across workspaces (the extension's global
// storage), unlike the knowledge bases of files, which stay with a workspace. Plain Node.
//
// The record of each item (its text, pin, where it came from) is one JSON file per persona, written
// whole and atomically: it is small (10,000 items are about 2 MB), listing and editing never wait on
// LanceDB, an item is kept even while the embeddings server is down, and removing an item's text
// from the disk is replacing one file. The vectors that let a turn find an item by meaning are kept
// apart, in LanceDB (itemVectors.ts), by item id and without the text.
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod/mini';
import { writeFileAtomic } from '../util/atomicFile';
import { errnoCode } from '../util/errors';
import { parseJson } from '../util/json';
import { PersonaError } from '../util/personaError';
import { SerialQueue } from '../util/serialQueue';
import { MEMORY_ITEM_TEXT_MAX } from '../shared/conversation';

/** The longest memory item, in characters: a fact, not a document (documents go to a knowledge base). */
export const MEMORY_ITEM_MAX_CHARS = MEMORY_ITEM_TEXT_MAX;

export const MemoryItemOriginSchema = z.object({
  /** How it was taken: typed in the palette, a chat message's Remember action, or an import. */
  via: z.enum(['palette', 'message', 'import']),
  conversationId: z.optional(z.string().check(z.maxLength(200))),
  messageId: z.optional(z.string().check(z.maxLength(200))),
  conversationTitle: z.optional(z.string().check(z.maxLength(500))),
});
export type MemoryItemOrigin = z.infer<typeof MemoryItemOriginSchema>;

export const MemoryItemSchema = z.object({
  id: z.string().check(z.minLength(1), z.maxLength(100)),
  text: z.string().check(z.minLength(1), z.maxLength(MEMORY_ITEM_MAX_CHARS)),
  /** Always in the prompt, ahead of what a turn retrieves. */
  pinned: z.optional(z.boolean()),
  createdAt: z.number(),
  updatedAt: z.number(),
  origin: z.optional(MemoryItemOriginSchema),
});
export type MemoryItem = z.infer<typeof MemoryItemSchema>;

const ItemsFileSchema = z.object({
  version: z.literal(1),
  personaId: z.string(),
  items: z.array(MemoryItemSchema),
});
type ItemsFile = z.infer<typeof ItemsFileSchema>;

/** An item to keep with `addMany`: its id is made here, `createdAt` defaults to now. */
export interface NewMemoryItem {
  text: string;
  pinned?: boolean;
  createdAt?: number;
  origin?: MemoryItemOrigin;
}

export type MemoryItemErrorReason = 'invalidText' | 'notFound' | 'unreadable';

export class MemoryItemError extends PersonaError<MemoryItemErrorReason> {
  override readonly name = 'MemoryItemError';
}

/** The text as it is kept: trimmed, line ends made `\n`; refused when empty or too long. */
export function memoryItemText(text: string): string {
  const clean = text.replace(/\r\n?/g, '\n').trim();
  if (clean === '') throw new MemoryItemError('invalidText', 'A memory needs some text.');
  if (clean.length > MEMORY_ITEM_MAX_CHARS) {
    throw new MemoryItemError(
      'invalidText',
      `A memory holds at most ${MEMORY_ITEM_MAX_CHARS.toLocaleString('en-US')} characters (this one has ${clean.length.toLocaleString('en-US')}): keep the fact itself, or add the text to a knowledge base as a file.`,
    );
  }
  return clean;
}

/** Hash of an item's text: its vector is made again when the text changed. */
export function itemTextHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/** What two texts that say the same share: case, spacing and end punctuation set aside. */
export function factKey(text: string): string {
  return text
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/[\s.!?…]+$/u, '')
    .trim();
}

/** Two texts that say the same once case, spacing and end punctuation are set aside. */
export function sameFact(a: string, b: string): boolean {
  return factKey(a) === factKey(b);
}

export class MemoryItemStore {
  /** Read-modify-write of one persona's file at a time. */
  private readonly queue = new SerialQueue();

  /** `dir`: the folder of the items files, e.g. `<globalStorage>/memory-items/items`. */
  constructor(readonly dir: string) {}

  /** The file of one persona's items (the id hashed: a persona id is not a file name). */
  fileOf(personaId: string): string {
    return path.join(this.dir, `${createHash('sha256').update(personaId).digest('hex').slice(0, 24)}.json`);
  }

  /** The persona's items, oldest first. A file that cannot be read throws 'unreadable' (and is left as it is). */
  async list(personaId: string): Promise<MemoryItem[]> {
    return (await this.read(personaId)).items;
  }

  async get(personaId: string, id: string): Promise<MemoryItem | undefined> {
    return (await this.list(personaId)).find((i) => i.id === id);
  }

  /** Every persona that has items, by id. */
  async personas(): Promise<string[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const ids: string[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const file = await this.readFile(path.join(this.dir, name)).catch(() => undefined);
      if (file && file.items.length > 0) ids.push(file.personaId);
    }
    return ids;
  }

  /** Keeps a new item; one that says the same as an existing item is that item (nothing is added twice). */
  add(personaId: string, text: string, origin?: MemoryItemOrigin, options: { pinned?: boolean; now?: number } = {}): Promise<{ item: MemoryItem; added: boolean }> {
    const clean = memoryItemText(text);
    return this.change<{ item: MemoryItem; added: boolean }>(personaId, (file) => {
      const existing = file.items.find((i) => sameFact(i.text, clean));
      if (existing) return { result: { item: existing, added: false }, changed: false };
      const now = options.now ?? Date.now();
      const item: MemoryItem = { id: randomUUID(), text: clean, createdAt: now, updatedAt: now, ...(options.pinned ? { pinned: true } : {}), ...(origin ? { origin } : {}) };
      file.items.push(item);
      return { result: { item, added: true }, changed: true };
    });
  }

  /**
   * Keeps several new items in one write of the record file: all of them or, when one is refused,
   * none. An item that says the same as one the persona has (or as an earlier one of `entries`) is
   * skipped, never merged: the existing item keeps its text and pin. For imports.
   */
  addMany(personaId: string, entries: readonly NewMemoryItem[], options: { now?: number } = {}): Promise<{ added: MemoryItem[]; skipped: Array<{ text: string; existing: MemoryItem }> }> {
    const now = options.now ?? Date.now();
    // Checked whole before the queue: a bad entry throws with nothing written.
    const ready = entries.map((e, i) => {
      const at = entries.length > 1 ? `Item ${i + 1}: ` : '';
      let text: string;
      try {
        text = memoryItemText(e.text);
      } catch (err) {
        throw MemoryItemError.is(err) ? new MemoryItemError(err.reason, `${at}${err.message}`) : err;
      }
      const createdAt = e.createdAt ?? now;
      const item: MemoryItem = { id: randomUUID(), text, createdAt, updatedAt: now, ...(e.pinned ? { pinned: true } : {}), ...(e.origin ? { origin: e.origin } : {}) };
      // Anything the file's own schema would refuse on the next read would make the whole file unreadable.
      if (!MemoryItemSchema.safeParse(item).success) throw new MemoryItemError('invalidText', `${at}this memory cannot be kept as it is (its date or origin is invalid).`);
      return item;
    });
    return this.change(personaId, (file) => {
      const added: MemoryItem[] = [];
      const skipped: Array<{ text: string; existing: MemoryItem }> = [];
      // By key, not pair by pair: importing 1,000 into 9,000 is 10,000 keys, not 9 million comparisons.
      const byKey = new Map(file.items.map((i) => [factKey(i.text), i]));
      for (const item of ready) {
        const key = factKey(item.text);
        const existing = byKey.get(key);
        if (existing) {
          skipped.push({ text: item.text, existing });
          continue;
        }
        file.items.push(item);
        byKey.set(key, item);
        added.push(item);
      }
      return { result: { added, skipped }, changed: added.length > 0 };
    });
  }

  /** Changes an item's text and/or pin. */
  update(personaId: string, id: string, patch: { text?: string; pinned?: boolean }): Promise<MemoryItem> {
    const text = patch.text === undefined ? undefined : memoryItemText(patch.text);
    return this.change(personaId, (file) => {
      const item = file.items.find((i) => i.id === id);
      if (!item) throw new MemoryItemError('notFound', 'That memory is no longer there.');
      if (text !== undefined && text !== item.text) {
        item.text = text;
        item.updatedAt = Date.now();
      }
      if (patch.pinned === true) item.pinned = true;
      else if (patch.pinned === false) delete item.pinned;
      return { result: { ...item }, changed: true };
    });
  }

  /** Removes the items for which `which` is true; returns them. The file is rewritten without their text. */
  remove(personaId: string, which: (item: MemoryItem) => boolean): Promise<MemoryItem[]> {
    return this.change(personaId, (file) => {
      const gone = file.items.filter(which);
      file.items = file.items.filter((i) => !which(i));
      return { result: gone, changed: gone.length > 0 };
    });
  }

  /** Removes every item of the persona: its file goes. */
  removePersona(personaId: string): Promise<MemoryItem[]> {
    return this.queue.run(async () => {
      const file = this.fileOf(personaId);
      const items = await this.read(personaId).then(
        (f) => f.items,
        () => [] as MemoryItem[],
      );
      await fs.rm(file, { force: true });
      return items;
    });
  }

  // ---- the file ------------------------------------------------------------------------------------

  private async read(personaId: string): Promise<ItemsFile> {
    const file = await this.readFile(this.fileOf(personaId));
    if (!file) return { version: 1, personaId, items: [] };
    if (file.personaId !== personaId) throw new MemoryItemError('unreadable', `The memory file ${this.fileOf(personaId)} belongs to another persona.`);
    return file;
  }

  private async readFile(file: string): Promise<ItemsFile | undefined> {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return undefined;
      throw new MemoryItemError('unreadable', `The memory file ${file} could not be read: ${(e as Error).message}`);
    }
    const json = parseJson(text);
    const parsed = json.ok ? ItemsFileSchema.safeParse(json.value) : undefined;
    if (!parsed?.success) throw new MemoryItemError('unreadable', `The memory file ${file} is damaged; it was left as it is.`);
    return parsed.data;
  }

  private change<T>(personaId: string, edit: (file: ItemsFile) => { result: T; changed: boolean }): Promise<T> {
    return this.queue.run(async () => {
      const file = await this.read(personaId);
      const { result, changed } = edit(file);
      if (changed) {
        await fs.mkdir(this.dir, { recursive: true });
        await writeFileAtomic(this.fileOf(personaId), `${JSON.stringify(file)}\n`);
      }
      return result;
    });
  }
}
