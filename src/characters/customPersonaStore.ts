// Custom personas (imported cards, and the Character Builder's) in the extension's global storage,
// so they follow the person across workspaces: one JSON file each, written atomically, checked
// against `CardPersonaSchema` on every read. A file that fails is logged and skipped, never deleted:
// it may be a newer version's, or a hand edit worth fixing. Plain Node (no `vscode`).
//
// Beside `<id>.json`, everything else of a persona starts with `<id>.` (ids have no dots, so no other
// persona's files do): its pictures `<id>.avatar…`, its versions `<id>.history/`, and the files a
// card came with `<id>.assets/`.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod/mini';
import type { Logger } from '../util/logger';
import { PERSONA_ID_PATTERN } from '../shared/persona';
import { sweepTempFiles, writeFileAtomic } from '../util/atomicFile';
import { CardPersonaSchema, MAX_AVATAR_BYTES, type CardPersona } from '../shared/cardPersona';
import { PersonaHistory } from './personaHistory';
import { MAX_CARD_JSON_BYTES } from './cards/cardCodec';
import { imageFormat } from '../util/imageFormat';
import { PersonaError } from '../util/personaError';

/** Largest single file, and all files together, kept from a card (CHARX unpacks to at most 50 MB). */
export const MAX_ASSET_BYTES = 50 * 1024 * 1024;
export const MAX_ASSETS = 2_000;
/** A stored persona is its card's data and a few fields: past this it is no persona Persona saved from a card it accepts. */
export const MAX_STORED_PERSONA_BYTES = MAX_CARD_JSON_BYTES + 1024 * 1024;

export type PersonaStoreErrorReason = 'badAvatar' | 'tooManyAssets';

export class PersonaStoreError extends PersonaError<PersonaStoreErrorReason> {
  constructor(reason: PersonaStoreErrorReason, message: string) {
    super(reason, message);
    this.name = 'PersonaStoreError';
  }
}

const ASSET_INDEX = 'index.json';
const TMP_DIR_SUFFIX = '.tmpdir';
const AssetIndexSchema = z.object({ assets: z.array(z.object({ uri: z.string().check(z.maxLength(2000)), file: z.string() })) });

export class CustomPersonaStore {
  readonly history: PersonaHistory;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
    options: { maxVersions?: number } = {},
  ) {
    this.history = new PersonaHistory(dir, logger, options.maxVersions);
  }

  private fileFor(id: string): string {
    if (!PERSONA_ID_PATTERN.test(id)) throw new Error(`invalid persona id "${id}"`);
    return path.join(this.dir, `${id}.json`);
  }

  /** Every readable persona, sorted by file name. */
  async list(): Promise<CardPersona[]> {
    await sweepTempFiles(this.dir);
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    // Asset folders a killed write left behind.
    await Promise.all(names.filter((n) => n.startsWith('.') && n.endsWith(TMP_DIR_SUFFIX)).map((n) => fs.rm(path.join(this.dir, n), { recursive: true, force: true })));
    names = names.filter((n) => n.endsWith('.json')).sort();
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

  /**
   * The persona's file first (so a failure after it leaves no half-listed persona), then its
   * pictures, history and assets: every file whose name starts with `<id>.`.
   */
  async delete(id: string): Promise<void> {
    const file = this.fileFor(id);
    await fs.rm(file, { force: true });
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return;
    }
    const prefix = `${id}.`;
    await Promise.all(names.filter((n) => n.startsWith(prefix)).map((n) => fs.rm(path.join(this.dir, n), { recursive: true, force: true })));
  }

  /** True when the picture file belongs to this persona (its name starts with `<id>.`). */
  ownsFile(id: string, file: string): boolean {
    return file.startsWith(`${id}.`);
  }

  /**
   * Stores a picture under a name made from its content, `<id>.avatar-<hash>.<ext>`: a new picture
   * never replaces the one an older version shows, so restoring a version brings its picture back.
   */
  async saveAvatarVersion(id: string, bytes: Uint8Array): Promise<{ file: string; ext: string }> {
    if (!PERSONA_ID_PATTERN.test(id)) throw new Error(`invalid persona id "${id}"`);
    if (bytes.length > MAX_AVATAR_BYTES) {
      throw new PersonaStoreError('badAvatar', `The picture is ${(bytes.length / 1024 / 1024).toFixed(1)} MB; choose one under ${MAX_AVATAR_BYTES / 1024 / 1024} MB.`);
    }
    const ext = imageFormat(bytes);
    if (!ext) throw new PersonaStoreError('badAvatar', 'The picture is not a PNG, JPEG, GIF or WebP image; choose one of those.');
    const file = `${id}.avatar-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}.${ext}`;
    try {
      await fs.access(this.avatarPath(file));
    } catch {
      await this.saveAvatar(file, bytes);
    }
    return { file, ext };
  }

  // --- assets: the files a card came with (CHARX entries, PNG asset chunks), kept for export -----

  private assetsDir(id: string): string {
    if (!PERSONA_ID_PATTERN.test(id)) throw new Error(`invalid persona id "${id}"`);
    return path.join(this.dir, `${id}.assets`);
  }

  /**
   * Replaces the persona's assets with these, keyed by the URI the card uses. Files get safe names
   * of their own (`0001-name.ext`); an index maps them back to their URIs. The new set is written
   * to a temp folder and swapped in, so a failure leaves the old set whole.
   */
  async saveAssets(id: string, assets: ReadonlyMap<string, Uint8Array>): Promise<void> {
    const target = this.assetsDir(id);
    if (assets.size > MAX_ASSETS) throw new PersonaStoreError('tooManyAssets', `The card has ${assets.size} files; Persona keeps at most ${MAX_ASSETS}.`);
    let total = 0;
    for (const bytes of assets.values()) total += bytes.length;
    if (total > MAX_ASSET_BYTES) {
      throw new PersonaStoreError('tooManyAssets', `The card's files add up to ${(total / 1024 / 1024).toFixed(1)} MB; Persona keeps at most ${MAX_ASSET_BYTES / 1024 / 1024} MB.`);
    }
    await fs.mkdir(this.dir, { recursive: true });
    // Not `.tmp`: sweepTempFiles removes files, and this is a folder (list() sweeps these).
    const tmp = path.join(this.dir, `.${id}.assets.${randomBytes(6).toString('hex')}${TMP_DIR_SUFFIX}`);
    const old = path.join(this.dir, `.${id}.assets.${randomBytes(6).toString('hex')}.old${TMP_DIR_SUFFIX}`);
    try {
      await fs.mkdir(tmp);
      const index: Array<{ uri: string; file: string }> = [];
      let n = 0;
      for (const [uri, bytes] of assets) {
        const file = `${String(++n).padStart(4, '0')}-${safeAssetName(uri)}`;
        await fs.writeFile(path.join(tmp, file), bytes);
        index.push({ uri, file });
      }
      await fs.writeFile(path.join(tmp, ASSET_INDEX), `${JSON.stringify({ assets: index }, null, 2)}\n`);
      let moved = false;
      try {
        await fs.rename(target, old);
        moved = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      try {
        await fs.rename(tmp, target);
      } catch (e) {
        if (moved) await fs.rename(old, target);
        throw e;
      }
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
      await fs.rm(old, { recursive: true, force: true });
    }
  }

  /** The persona's assets by URI; empty when it has none. A damaged index is logged and read as none. */
  async readAssets(id: string): Promise<Map<string, Uint8Array>> {
    const dir = this.assetsDir(id);
    const out = new Map<string, Uint8Array>();
    let raw: string;
    try {
      raw = await fs.readFile(path.join(dir, ASSET_INDEX), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.error(`The files of persona "${id}" could not be read: ${(e as Error).message}`);
      return out;
    }
    let index: z.infer<typeof AssetIndexSchema>;
    try {
      index = AssetIndexSchema.parse(JSON.parse(raw));
    } catch (e) {
      this.logger.error(`The file index of persona "${id}" is damaged (${(e as Error).message}); its card files are left out of exports.`);
      return out;
    }
    for (const { uri, file } of index.assets) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$/.test(file)) continue;
      try {
        out.set(uri, new Uint8Array(await fs.readFile(path.join(dir, file))));
      } catch (e) {
        this.logger.warn(`Card file ${file} of persona "${id}" could not be read: ${(e as Error).message}`);
      }
    }
    return out;
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
      // Read at every activation: a persona far larger than any card (one saved before imports were
      // capped) is left on disk and not parsed, rather than costing seconds each time.
      const { size } = await fs.stat(file);
      if (size > MAX_STORED_PERSONA_BYTES) {
        this.logger.error(`Custom persona ${path.basename(file)} is ${(size / 1024 / 1024).toFixed(1)} MB, more than any card; skipped, not deleted.`);
        return undefined;
      }
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

/** A file name from an asset's URI: its last segment, letters, digits, dot, dash and underscore only. */
function safeAssetName(uri: string): string {
  const last = uri.split(/[/:]/).filter(Boolean).at(-1) ?? 'asset';
  const clean = last.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '').slice(-80);
  return clean || 'asset';
}
