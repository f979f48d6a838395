// Small per-workspace preferences (the active persona and conversation) kept in a JSON file beside
// the conversations. VS Code's workspaceState flushes to disk when it likes, and a window reloaded
// right after a first message came back without its conversation; a file written at once does not.
import { promises as fs } from 'node:fs';
import type { Logger } from '../util/logger';
import { writeFileAtomic } from '../util/atomicFile';
import type { Preferences } from './chatService';

export class FilePreferences implements Preferences {
  private values: Record<string, unknown> = {};
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly logger: Logger,
  ) {}

  static async load(file: string, logger: Logger): Promise<FilePreferences> {
    const prefs = new FilePreferences(file, logger);
    try {
      const parsed: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) prefs.values = parsed as Record<string, unknown>;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn(`Could not read ${file}; starting without it: ${(e as Error).message}`);
    }
    return prefs;
  }

  get<T>(key: string): T | undefined {
    return this.values[key] as T | undefined;
  }

  update(key: string, value: unknown): Promise<void> {
    if (this.values[key] === value) return this.writing;
    if (value === undefined) delete this.values[key];
    else this.values[key] = value;
    const snapshot = JSON.stringify(this.values);
    this.writing = this.writing
      .then(() => writeFileAtomic(this.file, snapshot))
      .catch((e: Error) => this.logger.warn(`Could not save ${this.file}: ${e.message}`));
    return this.writing;
  }
}
