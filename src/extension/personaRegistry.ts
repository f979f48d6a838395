// The personas Persona offers. Built-ins are JSON files in the extension's `characters/` folder,
// each checked against the schema; a file that fails is logged and left out, never trusted.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../shared/logger';
import { PersonaSchema, summarizePersona, type Persona, type PersonaSummary } from '../shared/persona';

export const DEFAULT_PERSONA_ID = 'sam';

export class PersonaRegistry {
  private readonly personas = new Map<string, { persona: Persona; builtIn: boolean }>();

  private constructor() {}

  static async load(builtInDir: string, logger: Logger): Promise<PersonaRegistry> {
    const registry = new PersonaRegistry();
    const names = (await fs.readdir(builtInDir)).filter((n) => n.endsWith('.json')).sort();
    for (const name of names) {
      const file = path.join(builtInDir, name);
      try {
        const parsed = PersonaSchema.safeParse(JSON.parse(await fs.readFile(file, 'utf8')));
        if (!parsed.success) {
          logger.error(`Built-in persona ${name} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
          continue;
        }
        registry.personas.set(parsed.data.id, { persona: parsed.data, builtIn: true });
      } catch (e) {
        logger.error(`Built-in persona ${name} could not be read: ${(e as Error).message}`);
      }
    }
    if (registry.personas.size === 0) throw new Error(`No valid persona in ${builtInDir}`);
    return registry;
  }

  get(id: string): Persona | undefined {
    return this.personas.get(id)?.persona;
  }

  /** The persona with this id, else the default one, else the first. */
  getOrDefault(id: string | undefined): Persona {
    const found = (id && this.get(id)) || this.get(DEFAULT_PERSONA_ID) || this.personas.values().next().value?.persona;
    if (!found) throw new Error('no personas loaded');
    return found;
  }

  list(): Persona[] {
    return [...this.personas.values()].map((p) => p.persona);
  }

  summaries(): PersonaSummary[] {
    return [...this.personas.values()].map((p) => summarizePersona(p.persona, p.builtIn));
  }
}
