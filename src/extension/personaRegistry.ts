// The personas Persona offers. Built-ins are JSON files in the extension's `characters/` folder,
// each checked against the schema; a file that fails is logged and left out, never trusted. Custom
// personas (imported cards) come from a `CustomPersonaStore`; built-ins are read-only.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../shared/logger';
import { PersonaSchema, summarizePersona, type PersonaSummary } from '../shared/persona';
import type { CardPersona } from '../shared/cardPersona';
import { personaToCardPersona } from './cards/cardToPersona';
import type { CustomPersonaStore } from './customPersonaStore';

export const DEFAULT_PERSONA_ID = 'sam';

export class UnknownPersonaError extends Error {
  constructor(readonly personaId: string) {
    super(`There is no persona "${personaId}".`);
    this.name = 'UnknownPersonaError';
  }
}

export class BuiltInPersonaError extends Error {
  constructor(readonly personaName: string) {
    super(`${personaName} is a built-in persona and cannot be changed or deleted.`);
    this.name = 'BuiltInPersonaError';
  }
}

export class PersonaRegistry {
  private readonly personas = new Map<string, { persona: CardPersona; builtIn: boolean }>();

  private constructor(private readonly custom: CustomPersonaStore | undefined) {}

  static async load(builtInDir: string, logger: Logger, custom?: CustomPersonaStore): Promise<PersonaRegistry> {
    const registry = new PersonaRegistry(custom);
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

  /** Saves a new custom persona; never replaces one that exists. */
  async addCustom(persona: CardPersona, avatar?: Uint8Array): Promise<void> {
    if (!this.custom) throw new Error('custom personas are not available');
    if (this.personas.has(persona.id)) throw new Error(`a persona with id "${persona.id}" already exists`);
    if (avatar && persona.avatar) await this.custom.saveAvatar(persona.avatar.file, avatar);
    await this.custom.save(persona);
    this.personas.set(persona.id, { persona, builtIn: false });
  }

  async removeCustom(id: string): Promise<void> {
    const entry = this.personas.get(id);
    if (!entry) throw new UnknownPersonaError(id);
    if (entry.builtIn) throw new BuiltInPersonaError(entry.persona.name);
    if (!this.custom) throw new Error('custom personas are not available');
    await this.custom.delete(id);
    this.personas.delete(id);
  }

  /** The picture stored with a custom persona, if it has one. */
  async avatarOf(id: string): Promise<Uint8Array | undefined> {
    const persona = this.get(id);
    if (!persona?.avatar || !this.custom) return undefined;
    return this.custom.readAvatar(persona.avatar.file);
  }
}
