// Conversations on disk: one JSON file each under the workspace's storage folder, written
// atomically and schema-checked on read. Plain Node (no `vscode`), so it is tested on a temp dir.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConversationSchema, summarizeConversation, type Conversation, type ConversationSummary } from '../shared/conversation';
import type { Logger } from '../util/logger';
import { sweepTempFiles, writeFileAtomic } from '../util/atomicFile';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;

export class ConversationStore {
  private summaries: Map<string, ConversationSummary> | undefined;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  private fileFor(id: string): string {
    if (!ID_PATTERN.test(id)) throw new Error(`invalid conversation id "${id}"`);
    return path.join(this.dir, `${id}.json`);
  }

  /** Summaries of every readable conversation, newest first. Unreadable files are logged and skipped, never deleted. */
  async list(): Promise<ConversationSummary[]> {
    if (!this.summaries) {
      this.summaries = new Map();
      await sweepTempFiles(this.dir);
      let names: string[] = [];
      try {
        names = await fs.readdir(this.dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      for (const name of names) {
        if (!name.endsWith('.json')) continue;
        const conversation = await this.readFile(path.join(this.dir, name));
        if (conversation) this.summaries.set(conversation.id, summarizeConversation(conversation));
      }
    }
    return [...this.summaries.values()].sort((a, b) => b.updatedAt - a.updatedAt);
  }

  async get(id: string): Promise<Conversation | undefined> {
    return this.readFile(this.fileFor(id));
  }

  async save(conversation: Conversation): Promise<void> {
    const checked = ConversationSchema.parse(conversation);
    await writeFileAtomic(this.fileFor(checked.id), JSON.stringify(checked));
    (await this.cache()).set(checked.id, summarizeConversation(checked));
  }

  async delete(id: string): Promise<void> {
    await fs.rm(this.fileFor(id), { force: true });
    (await this.cache()).delete(id);
  }

  private async cache(): Promise<Map<string, ConversationSummary>> {
    if (!this.summaries) await this.list();
    return this.summaries!;
  }

  private async readFile(file: string): Promise<Conversation | undefined> {
    let raw: string;
    try {
      raw = await fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      this.logger.warn(`Could not read conversation ${file}: ${(e as Error).message}`);
      return undefined;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      this.logger.warn(`Conversation file ${file} is not valid JSON; it is left in place and not shown.`);
      return undefined;
    }
    const parsed = ConversationSchema.safeParse(json);
    if (!parsed.success) {
      this.logger.warn(`Conversation file ${file} does not match the expected format; it is left in place and not shown.`);
      return undefined;
    }
    // A reply that was streaming when the window closed (or crashed) is kept as stopped.
    for (const m of parsed.data.messages) if (m.status === 'streaming') m.status = 'stopped';
    return parsed.data;
  }
}
