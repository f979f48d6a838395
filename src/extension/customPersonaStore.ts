// Custom personas (imported cards, and later the Character Builder's) in the extension's global
// storage, so they follow the person across workspaces: one JSON file each, written atomically,
// checked against `CardPersonaSchema` on every read. A file that fails is logged and skipped, never
// deleted: it may be a newer version's, or a hand edit worth fixing. Plain Node (no `vscode`).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../shared/logger';
import { PERSONA_ID_PATTERN } from '../shared/persona';
import { sweepTempFiles, writeFileAtomic } from './atomicFile';
import { CardPersonaSchema, type CardPersona } from '../shared/cardPersona';

export class CustomPersonaStore {
  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  private fileFor(id: string): string {
    if (!PERSONA_ID_PATTERN.test(id)) throw new Error(`invalid persona id "${id}"`);
    return path.join(this.dir, `${id}.json`);
  }

  /** Every readable persona, sorted by file name. */
  async list(): Promise<CardPersona[]> {
    await sweepTempFiles(this.dir);
    let names: string[];
    try {
      names = (await fs.readdir(this.dir)).filter((n) => n.endsWith('.json')).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const personas: CardPersona[] = [];
    for (const name of names) {
      const persona = await this.readFile(path.join(this.dir, name));
      if (!persona) continue;
      if (`${persona.id}.json` !== name) {
        this.logger.error(`Custom persona ${name} says its id is "${persona.id}"; skipped (rename the file or fix the id).`);
        continue;
      }
      personas.push(persona);
    }
    return personas;
  }

  async get(id: string): Promise<CardPersona | undefined> {
    return this.readFile(this.fileFor(id));
  }

  async save(persona: CardPersona): Promise<void> {
    const checked = CardPersonaSchema.parse(persona);
    await writeFileAtomic(this.fileFor(checked.id), `${JSON.stringify(checked, null, 2)}\n`);
  }

  /** The persona's file and its avatar, if any. */
  async delete(id: string): Promise<void> {
    const persona = await this.get(id);
    await fs.rm(this.fileFor(id), { force: true });
    if (persona?.avatar) await fs.rm(this.avatarPath(persona.avatar.file), { force: true });
  }

  /** Where a persona's picture lives: beside its file, under a name the schema allows. */
  avatarPath(file: string): string {
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(file) || file.startsWith('.')) throw new Error(`invalid avatar file name "${file}"`);
    return path.join(this.dir, file);
  }

  async saveAvatar(file: string, bytes: Uint8Array): Promise<void> {
    const target = this.avatarPath(file);
    await fs.mkdir(this.dir, { recursive: true });
    const tmp = path.join(this.dir, `.${file}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await fs.writeFile(tmp, bytes);
      await fs.rename(tmp, target);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
  }

  async readAvatar(file: string): Promise<Uint8Array | undefined> {
    try {
      return await fs.readFile(this.avatarPath(file));
    } catch (e) {
      this.logger.warn(`Avatar ${file} could not be read: ${(e as Error).message}`);
      return undefined;
    }
  }

  private async readFile(file: string): Promise<CardPersona | undefined> {
    let raw: string;
    try {
      raw = await fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.error(`Custom persona ${path.basename(file)} could not be read: ${(e as Error).message}`);
      return undefined;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (e) {
      this.logger.error(`Custom persona ${path.basename(file)} is not valid JSON (${(e as Error).message}); skipped, not deleted.`);
      return undefined;
    }
    const parsed = CardPersonaSchema.safeParse(json);
    if (!parsed.success) {
      this.logger.error(
        `Custom persona ${path.basename(file)} is invalid (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}); skipped, not deleted.`,
      );
      return undefined;
    }
    return parsed.data;
  }
}
