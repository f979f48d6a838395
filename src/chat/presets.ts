// Presets: a named set of model and sampling values, saved from a chat and applied to a chat or a
// persona. Three ship with Persona; the person's own are kept in one JSON file in global storage
// (they follow the person across workspaces), written atomically and checked on read. Plain Node.
import { promises as fs } from 'node:fs';
import * as z from 'zod/mini';
import { writeFileAtomic } from '../util/atomicFile';
import type { Logger } from '../util/logger';
import { SamplingSchema, SETTING_KEYS, type EffectiveSettings, type Sampling } from '../shared/sampling';

export const MAX_PRESET_NAME = 60;
const MAX_PRESETS = 200;

export const PresetSchema = z.object({
  name: z.string().check(z.trim(), z.minLength(1), z.maxLength(MAX_PRESET_NAME)),
  settings: SamplingSchema,
});
export type Preset = z.infer<typeof PresetSchema> & { builtIn?: boolean };

const PresetFileSchema = z.object({ version: z.literal(1), presets: z.array(PresetSchema).check(z.maxLength(MAX_PRESETS)) });

export const BUILT_IN_PRESETS: readonly Preset[] = [
  { name: 'Precise', builtIn: true, settings: { temperature: 0.2, topP: 0.9, presencePenalty: 0, frequencyPenalty: 0 } },
  { name: 'Balanced', builtIn: true, settings: { temperature: 0.7, topP: 0.95, presencePenalty: 0, frequencyPenalty: 0 } },
  { name: 'Creative', builtIn: true, settings: { temperature: 1.1, topP: 0.98, presencePenalty: 0.4, frequencyPenalty: 0.2 } },
];

/** What a preset saved from a chat holds: every value in effect that some level set (the server's defaults are left to the server). */
export function presetSettingsFrom(effective: EffectiveSettings): Sampling {
  const out: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const e = effective[key];
    if (e.value === undefined || e.origin === 'default') continue;
    out[key] = e.value;
  }
  return out as Sampling;
}

export class PresetStore {
  private cache: Preset[] | undefined;
  /** The file on disk could not be read: it is moved aside, never overwritten, when a preset is saved. */
  private unreadable = false;

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
  ) {}

  /** The built-in presets, then the person's own in the order saved. */
  async list(): Promise<Preset[]> {
    return [...BUILT_IN_PRESETS, ...(await this.own())];
  }

  async get(name: string): Promise<Preset | undefined> {
    const key = name.trim().toLowerCase();
    return (await this.list()).find((p) => p.name.toLowerCase() === key);
  }

  /** Saves (or replaces) one of the person's presets; the names of the built-in ones are taken. */
  async save(name: string, settings: Sampling): Promise<Preset> {
    const preset = PresetSchema.parse({ name: name.trim(), settings });
    if (BUILT_IN_PRESETS.some((p) => p.name.toLowerCase() === preset.name.toLowerCase())) throw new Error(`"${preset.name}" is the name of a preset that comes with Persona.`);
    const own = (await this.own()).filter((p) => p.name.toLowerCase() !== preset.name.toLowerCase());
    if (own.length >= MAX_PRESETS) throw new Error(`There are already ${MAX_PRESETS} presets: delete one first.`);
    await this.write([...own, preset]);
    return preset;
  }

  async delete(name: string): Promise<boolean> {
    const own = await this.own();
    const kept = own.filter((p) => p.name.toLowerCase() !== name.trim().toLowerCase());
    if (kept.length === own.length) return false;
    await this.write(kept);
    return true;
  }

  private async own(): Promise<Preset[]> {
    if (this.cache) return this.cache;
    let raw: string;
    try {
      raw = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      return (this.cache = []);
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      json = undefined;
    }
    const parsed = PresetFileSchema.safeParse(json);
    if (!parsed.success) {
      // Left on disk for the person to repair; nothing is overwritten until they save a preset.
      this.logger.warn(`The presets file ${this.file} could not be read; your own presets are not shown.`);
      this.unreadable = true;
      return (this.cache = []);
    }
    return (this.cache = parsed.data.presets);
  }

  private async write(presets: Preset[]): Promise<void> {
    const clean = presets.map(({ name, settings }) => ({ name, settings }));
    if (this.unreadable) {
      const aside = `${this.file}.unreadable-${Date.now()}`;
      await fs.rename(this.file, aside).catch(() => undefined);
      this.logger.warn(`The unreadable presets file was kept as ${aside}.`);
      this.unreadable = false;
    }
    await writeFileAtomic(this.file, `${JSON.stringify({ version: 1, presets: clean }, null, 2)}\n`);
    this.cache = clean;
  }
}
