// The personas Persona offers. Built-ins are JSON files in the extension's `characters/` folder,
// each checked against the schema; a file that fails is logged and left out, never trusted. Custom
// personas (imported cards, the Character Builder's) come from a `CustomPersonaStore`; built-ins are
// read-only (editing one means duplicating it first).
//
// Every change to a custom persona goes through here, so `list`/`get` stay in step with the disk,
// every save becomes a version in the persona's history, and listeners hear of it. Writes run one
// at a time: two saves never race for a version number or for the persona's file.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../util/logger';
import { PersonaSchema, summarizePersona, type PersonaSummary } from '../shared/persona';
import { CardPersonaSchema, type CardPersona } from '../shared/cardPersona';
import { freshPersonaId } from './cardImport';
import { personaToCardPersona } from './cards/cardToPersona';
import type { CustomPersonaStore } from './customPersonaStore';
import { PersonaHistoryError, type HistoryEntry, type VersionKind, type VersionSummary } from './personaHistory';
import { PersonaError } from '../util/personaError';
import { SerialQueue } from '../util/serialQueue';

export const DEFAULT_PERSONA_ID = 'sam';

export class UnknownPersonaError extends PersonaError<'unknownPersona'> {
  constructor(readonly personaId: string) {
    super('unknownPersona', `There is no persona "${personaId}".`);
    this.name = 'UnknownPersonaError';
  }
}

/** A persona that fails the schema: says which fields, in words a person can act on. */
export class InvalidPersonaError extends PersonaError<'invalidPersona'> {
  constructor(
    readonly personaName: string,
    readonly issues: string[],
  ) {
    super('invalidPersona', `${personaName || 'The persona'} cannot be saved: ${issues.slice(0, 3).join('; ')}${issues.length > 3 ? `, and ${issues.length - 3} more` : ''}.`);
    this.name = 'InvalidPersonaError';
  }
}

export class BuiltInPersonaError extends PersonaError<'builtIn'> {
  constructor(readonly personaName: string) {
    super('builtIn', `${personaName} is a built-in persona and cannot be changed or deleted.`);
    this.name = 'BuiltInPersonaError';
  }
}

export interface SaveCustomOptions {
  /** What the history calls this save; `create` for a new persona, `edit` otherwise, by default. */
  kind?: VersionKind;
  /** A new picture (PNG, JPEG, GIF or WebP): stored beside the persona, `persona.avatar` is set to it. */
  avatar?: Uint8Array;
  /** The files a card came with, by URI: replace the stored ones when given. */
  assets?: ReadonlyMap<string, Uint8Array>;
}

export interface ImportCustomOptions {
  /** Versions brought by a Persona file, already checked: kept before the import's own version (new personas only). */
  history?: readonly HistoryEntry[];
  avatar?: Uint8Array;
  assets?: ReadonlyMap<string, Uint8Array>;
  /** Save the import as the next version of this existing custom persona instead of a new one. */
  asNewVersionOf?: string;
}

type Listener = () => void;

export class PersonaRegistry {
  private readonly personas = new Map<string, { persona: CardPersona; builtIn: boolean }>();
  private readonly listeners = new Set<Listener>();
  /** Copies made by duplicateForEdit, not saved yet: their card files come from the original. */
  private readonly duplicatedFrom = new Map<string, string>();
  /** One write at a time; a failed one does not stop the next. */
  private readonly writes = new SerialQueue();

  private constructor(
    private readonly custom: CustomPersonaStore | undefined,
    private readonly logger: Logger,
  ) {}

  static async load(builtInDir: string, logger: Logger, custom?: CustomPersonaStore): Promise<PersonaRegistry> {
    const registry = new PersonaRegistry(custom, logger);
    const names = (await fs.readdir(builtInDir)).filter((n) => n.endsWith('.json')).sort();
    for (const name of names) {
      const file = path.join(builtInDir, name);
      try {
        const parsed = PersonaSchema.safeParse(JSON.parse(await fs.readFile(file, 'utf8')));
        if (!parsed.success) {
          logger.error(`Built-in persona ${name} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
          continue;
        }
        registry.personas.set(parsed.data.id, { persona: personaToCardPersona(parsed.data), builtIn: true });
      } catch (e) {
        logger.error(`Built-in persona ${name} could not be read: ${(e as Error).message}`);
      }
    }
    if (registry.personas.size === 0) throw new Error(`No valid persona in ${builtInDir}`);
    if (custom) {
      for (const persona of await custom.list()) {
        if (registry.personas.has(persona.id)) {
          logger.error(`Custom persona "${persona.id}" has the id of a built-in one; skipped.`);
          continue;
        }
        registry.personas.set(persona.id, { persona, builtIn: false });
      }
    }
    return registry;
  }

  // ---- events --------------------------------------------------------------------------------------

  /** Fires after a custom persona is saved, restored, snapshotted, imported or deleted. */
  onDidChange(listener: Listener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private fire(): void {
    for (const l of this.listeners) {
      try {
        l();
      } catch (e) {
        this.logger.error(`A persona change listener failed: ${(e as Error).message}`);
      }
    }
  }

  // ---- queries -------------------------------------------------------------------------------------

  get(id: string): CardPersona | undefined {
    return this.personas.get(id)?.persona;
  }

  isBuiltIn(id: string): boolean {
    return this.personas.get(id)?.builtIn ?? false;
  }

  /** The persona with this id, else the default one, else the first. */
  getOrDefault(id: string | undefined): CardPersona {
    const found = (id && this.get(id)) || this.get(DEFAULT_PERSONA_ID) || this.personas.values().next().value?.persona;
    if (!found) throw new Error('no personas loaded');
    return found;
  }

  list(): CardPersona[] {
    return [...this.personas.values()].map((p) => p.persona);
  }

  summaries(): PersonaSummary[] {
    return [...this.personas.values()].map((p) => summarizePersona(p.persona, p.builtIn));
  }

  /** Personas whose name is this one, ignoring case and surrounding spaces. */
  withName(name: string): CardPersona[] {
    const key = name.trim().toLowerCase();
    return this.list().filter((p) => p.name.trim().toLowerCase() === key);
  }

  // ---- saving and versions -----------------------------------------------------------------------

  /**
   * Creates or updates a custom persona; every save is recorded as a new version, and the saved
   * persona carries its number in `version` (the one given is ignored). Throws BuiltInPersonaError
   * for a built-in id, InvalidPersonaError for a persona that fails the schema (nothing is written).
   */
  saveCustom(persona: CardPersona, options: SaveCustomOptions = {}): Promise<VersionSummary> {
    return this.writes.run(() => this.save(persona, options.kind, options));
  }

  /** A named checkpoint: a new version with the current content and this name. */
  snapshot(id: string, name: string): Promise<VersionSummary> {
    return this.writes.run(async () => {
      const current = this.requireCustom(id);
      const label = name.trim();
      if (!label) throw new InvalidPersonaError(current.name, ['a snapshot needs a name']);
      if (label.length > 100) throw new InvalidPersonaError(current.name, ['a snapshot name can be at most 100 characters']);
      return this.save(current, 'snapshot', { name: label });
    });
  }

  /** The persona's versions, newest first (damaged version files are logged and left out). */
  async versions(id: string): Promise<VersionSummary[]> {
    if (!this.custom || !this.personas.has(id) || this.isBuiltIn(id)) return [];
    return this.custom.history.list(id);
  }

  /** The persona as it was at that version, or undefined if the version is missing or damaged. */
  async versionContent(id: string, version: number): Promise<CardPersona | undefined> {
    if (!this.custom || this.isBuiltIn(id)) return undefined;
    return (await this.custom.history.read(id, version))?.persona;
  }

  /** Every readable version with its content, oldest first (for export with history). */
  async historyEntries(id: string): Promise<HistoryEntry[]> {
    if (!this.custom || this.isBuiltIn(id)) return [];
    return this.custom.history.entries(id);
  }

  /** Makes a new version whose content is that of `version`; the history is never rewritten. */
  restoreVersion(id: string, version: number): Promise<VersionSummary> {
    return this.writes.run(async () => {
      this.requireCustom(id);
      const entry = await this.store().history.read(id, version);
      if (!entry) throw new PersonaHistoryError('unknownVersion', id, version);
      return this.save(entry.persona, 'restore', { restoredFrom: version });
    });
  }

  /**
   * A copy to edit, not saved yet: a fresh id, the name "<Name> (copy)" (or "(copy 2)"… when that
   * is taken), everything else as it is. Saving it with saveCustom creates it; its picture and card
   * files are copied from the original then.
   */
  duplicateForEdit(id: string): CardPersona {
    const source = this.get(id);
    if (!source) throw new UnknownPersonaError(id);
    const base = source.name.length > 190 ? source.name.slice(0, 190).trimEnd() : source.name;
    let name = `${base} (copy)`;
    for (let n = 2; this.withName(name).length > 0; n++) name = `${base} (copy ${n})`;
    const newId = freshPersonaId(name, (candidate) => this.personas.has(candidate) || this.duplicatedFrom.has(candidate));
    const { version: _version, ...rest } = structuredClone(source);
    this.duplicatedFrom.set(newId, id);
    return { ...rest, id: newId, name };
  }

  /** Saves a new custom persona; never replaces one that exists. */
  async addCustom(persona: CardPersona, avatar?: Uint8Array): Promise<VersionSummary> {
    return this.importCustom(persona, avatar ? { avatar } : {});
  }

  /**
   * Saves an imported persona (kind `import`): as a new persona (its id must be free), with the
   * versions it brought, or as the next version of an existing custom persona, whose id, and
   * picture when the import has none, it keeps.
   */
  importCustom(persona: CardPersona, options: ImportCustomOptions = {}): Promise<VersionSummary> {
    return this.writes.run(async () => {
      const store = this.store();
      const assets = options.assets && options.assets.size > 0 ? { assets: options.assets } : {};
      const avatar = options.avatar ? { avatar: options.avatar } : {};
      if (options.asNewVersionOf !== undefined) {
        const existing = this.requireCustom(options.asNewVersionOf);
        const incoming: CardPersona = { ...persona, id: existing.id };
        if (!options.avatar) {
          if (existing.avatar) incoming.avatar = existing.avatar;
          else delete incoming.avatar;
        }
        return this.save(incoming, 'import', { ...avatar, ...assets });
      }
      if (this.personas.has(persona.id)) throw new Error(`a persona with id "${persona.id}" already exists`);
      const checked = this.check(persona);
      if (options.history && options.history.length > 0) {
        // The file's picture is the only one it brought: versions that had a picture show it.
        const picture = options.avatar ? await store.saveAvatarVersion(checked.id, options.avatar) : undefined;
        const entries = options.history.map(({ summary, persona: p }) => {
          const { avatar: hadPicture, ...rest } = p;
          return { summary, persona: { ...rest, id: checked.id, ...(hadPicture && picture ? { avatar: picture } : {}) } };
        });
        // Versions an earlier failed import left under this id (a fresh one): start clean.
        await store.history.remove(checked.id);
        await store.history.importEntries(checked.id, entries);
      }
      try {
        return await this.save(checked, 'import', { ...avatar, ...assets });
      } catch (e) {
        if (options.history && options.history.length > 0) await store.history.remove(checked.id);
        throw e;
      }
    });
  }

  async removeCustom(id: string): Promise<void> {
    await this.writes.run(async () => {
      const entry = this.personas.get(id);
      if (!entry) throw new UnknownPersonaError(id);
      if (entry.builtIn) throw new BuiltInPersonaError(entry.persona.name);
      await this.store().delete(id);
      this.personas.delete(id);
    });
    this.fire();
  }

  /** The picture stored with a custom persona, if it has one. */
  async avatarOf(id: string): Promise<Uint8Array | undefined> {
    const persona = this.get(id);
    if (!persona?.avatar || !this.custom) return undefined;
    return this.custom.readAvatar(persona.avatar.file);
  }

  /** The files a custom persona's card came with, by URI (for CHARX and PNG export). */
  async assetsOf(id: string): Promise<Map<string, Uint8Array>> {
    if (!this.custom || !this.personas.has(id) || this.isBuiltIn(id)) return new Map();
    return this.custom.readAssets(id);
  }

  // ---- internals ---------------------------------------------------------------------------------

  private store(): CustomPersonaStore {
    if (!this.custom) throw new Error('custom personas are not available');
    return this.custom;
  }

  private requireCustom(id: string): CardPersona {
    const entry = this.personas.get(id);
    if (!entry) throw new UnknownPersonaError(id);
    if (entry.builtIn) throw new BuiltInPersonaError(entry.persona.name);
    return entry.persona;
  }

  private check(persona: CardPersona): CardPersona {
    const parsed = CardPersonaSchema.safeParse(persona);
    if (!parsed.success) {
      const name = typeof persona?.name === 'string' ? persona.name.trim() : '';
      throw new InvalidPersonaError(name, parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : 'the persona'}: ${i.message}`));
    }
    return parsed.data;
  }

  private async save(
    persona: CardPersona,
    kind: VersionKind | undefined,
    options: { name?: string; restoredFrom?: number; avatar?: Uint8Array; assets?: ReadonlyMap<string, Uint8Array> },
  ): Promise<VersionSummary> {
    const store = this.store();
    const existing = this.personas.get(persona.id);
    if (existing?.builtIn) throw new BuiltInPersonaError(existing.persona.name);
    const { version: _ignored, ...rest } = this.check(persona);
    const next: CardPersona = rest;

    if (existing) await this.recordBaseline(existing.persona);
    if (options.avatar) {
      next.avatar = await store.saveAvatarVersion(next.id, options.avatar);
    } else if (next.avatar && !store.ownsFile(next.id, next.avatar.file)) {
      // A duplicate still points at the original's picture: give it a copy of its own.
      const bytes = await store.readAvatar(next.avatar.file);
      if (bytes) next.avatar = await store.saveAvatarVersion(next.id, bytes).catch(() => undefined);
      else next.avatar = undefined;
      if (!next.avatar) delete next.avatar;
    }
    if (options.assets) {
      await store.saveAssets(next.id, options.assets);
    } else if (!existing) {
      const original = this.duplicatedFrom.get(next.id);
      if (original && this.personas.has(original) && !this.isBuiltIn(original)) {
        const assets = await store.readAssets(original);
        if (assets.size > 0) await store.saveAssets(next.id, assets);
      }
    }

    const entry = await store.history.append(next.id, next, {
      kind: kind ?? (existing ? 'edit' : 'create'),
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.restoredFrom !== undefined ? { restoredFrom: options.restoredFrom } : {}),
    });
    await store.save(entry.persona);
    this.personas.set(next.id, { persona: entry.persona, builtIn: false });
    this.duplicatedFrom.delete(next.id);
    this.fire();
    return entry.summary;
  }

  /**
   * A persona saved before versioning existed has no history: its content on disk becomes version
   * 1 before the first change, so it can be gone back to.
   */
  private async recordBaseline(current: CardPersona): Promise<void> {
    const history = this.store().history;
    if ((await history.latest(current.id)) !== undefined) return;
    await history.append(current.id, current, {
      kind: current.cardSource ? 'import' : 'create',
      savedAt: current.cardSource?.importedAt ?? Date.now(),
    });
  }
}
