// The model and sampling settings a chat request carries, declared once: their names as people see
// them, their allowed ranges, and where each value in effect comes from. Shared: the host resolves
// and sends them, the Chat settings panel checks what is typed against the same ranges.
import * as z from 'zod/mini';

export type SamplingKey = 'temperature' | 'topP' | 'topK' | 'minP' | 'maxTokens' | 'presencePenalty' | 'frequencyPenalty' | 'repeatPenalty' | 'seed';

export interface NumberSettingDef {
  key: SamplingKey;
  /** The control's accessible name. */
  label: string;
  min: number;
  max: number;
  /** The minimum itself is not allowed (top P of 0 means nothing may be sampled). */
  minExclusive?: boolean;
  integer: boolean;
  step: number;
  /** Not an OpenAI parameter: sent only to the local server (LM Studio, llama.cpp, KoboldCpp take it). */
  localOnly?: boolean;
  /** One line on what it does. */
  hint: string;
}

export const NUMBER_SETTINGS: readonly NumberSettingDef[] = [
  { key: 'temperature', label: 'Temperature', min: 0, max: 2, integer: false, step: 0.05, hint: 'Higher is more varied, lower more predictable.' },
  { key: 'topP', label: 'Top P', min: 0, max: 1, minExclusive: true, integer: false, step: 0.01, hint: 'Samples only from the most likely tokens that add up to this probability.' },
  { key: 'topK', label: 'Top K', min: 0, max: 1000, integer: true, step: 1, localOnly: true, hint: 'Samples only from this many most likely tokens (0 turns it off).' },
  { key: 'minP', label: 'Min P', min: 0, max: 1, integer: false, step: 0.01, localOnly: true, hint: 'Drops tokens less likely than this share of the most likely one.' },
  { key: 'maxTokens', label: 'Max tokens', min: 1, max: 1_000_000, integer: true, step: 1, hint: 'The longest reply, in tokens; also the room kept for it in the context.' },
  { key: 'presencePenalty', label: 'Presence penalty', min: -2, max: 2, integer: false, step: 0.1, hint: 'Positive values push towards new topics.' },
  { key: 'frequencyPenalty', label: 'Frequency penalty', min: -2, max: 2, integer: false, step: 0.1, hint: 'Positive values make repeating the same words less likely.' },
  { key: 'repeatPenalty', label: 'Repeat penalty', min: 0, max: 2, integer: false, step: 0.05, localOnly: true, hint: 'Above 1 makes repeating recent tokens less likely (1 turns it off).' },
  { key: 'seed', label: 'Seed', min: 0, max: 2_147_483_647, integer: true, step: 1, hint: 'The same seed and settings give the same reply, where the server supports it.' },
];

export const MAX_STOP_SEQUENCES = 4;
export const MAX_STOP_CHARS = 100;
export const MAX_MODEL_ID_CHARS = 300;
/** What a reply may use when nothing else says: also the room kept for it in the context. */
export const DEFAULT_MAX_TOKENS = 1024;

function numberSchema(def: NumberSettingDef) {
  const base = def.integer ? z.int() : z.number();
  return base.check(def.minExclusive ? z.gt(def.min) : z.gte(def.min), z.lte(def.max));
}

const byKey = Object.fromEntries(NUMBER_SETTINGS.map((d) => [d.key, d])) as Record<SamplingKey, NumberSettingDef>;
const number = (key: SamplingKey) => z.optional(numberSchema(byKey[key]));

export const StopSequencesSchema = z.array(z.string().check(z.minLength(1), z.maxLength(MAX_STOP_CHARS))).check(z.maxLength(MAX_STOP_SEQUENCES));
export const ModelIdSchema = z.string().check(z.trim(), z.minLength(1), z.maxLength(MAX_MODEL_ID_CHARS));

/** Sampling values; each one left out means "not set here". A persona's and a chat's use it. */
export const SamplingSchema = z.object({
  temperature: number('temperature'),
  topP: number('topP'),
  topK: number('topK'),
  minP: number('minP'),
  maxTokens: number('maxTokens'),
  presencePenalty: number('presencePenalty'),
  frequencyPenalty: number('frequencyPenalty'),
  repeatPenalty: number('repeatPenalty'),
  seed: number('seed'),
  stop: z.optional(StopSequencesSchema),
  /** A model id; left out: the level below decides. */
  model: z.optional(ModelIdSchema),
});
export type Sampling = z.infer<typeof SamplingSchema>;
export type SettingKey = keyof Sampling;

export const SETTING_KEYS: readonly SettingKey[] = ['model', ...NUMBER_SETTINGS.map((d) => d.key), 'stop'];

export function settingLabel(key: SettingKey): string {
  if (key === 'model') return 'Model';
  if (key === 'stop') return 'Stop sequences';
  return byKey[key].label;
}

export function numberSetting(key: SamplingKey): NumberSettingDef {
  return byKey[key];
}

/** Where the value in effect comes from, lowest first. */
export const ORIGINS = ['default', 'settings', 'persona', 'chat'] as const;
export type Origin = (typeof ORIGINS)[number];
export const ORIGIN_LABELS: Record<Origin, string> = { default: 'default', settings: 'your settings', persona: 'the persona', chat: 'this chat' };

const OriginSchema = z.enum(ORIGINS);
const effective = <T extends z.core.SomeType>(value: T) => z.object({ value: z.optional(value), origin: OriginSchema, below: z.optional(z.object({ value: z.optional(value), origin: OriginSchema })) });

/**
 * Each setting's value in effect and the level it comes from; `below` is what the level under a
 * chat override says (what Reset goes back to). A value left out is not sent: the server decides.
 */
export const EffectiveSettingsSchema = z.object({
  model: effective(z.string()),
  temperature: effective(z.number()),
  topP: effective(z.number()),
  topK: effective(z.number()),
  minP: effective(z.number()),
  maxTokens: effective(z.number()),
  presencePenalty: effective(z.number()),
  frequencyPenalty: effective(z.number()),
  repeatPenalty: effective(z.number()),
  seed: effective(z.number()),
  stop: effective(z.array(z.string())),
});
export type EffectiveSettings = z.infer<typeof EffectiveSettingsSchema>;
export type Effective<T> = { value?: T; origin: Origin; below?: { value?: T; origin: Origin } };

/** A value typed into a number control, checked against its range: the value, or what to fix. */
export function checkNumberInput(def: Pick<NumberSettingDef, 'label' | 'min' | 'max' | 'minExclusive' | 'integer'>, text: string): { ok: true; value: number } | { ok: false; message: string } {
  const trimmed = text.trim();
  const value = Number(trimmed);
  const range = `${def.label} must be ${def.integer ? 'a whole number' : 'a number'} ${def.minExclusive ? `above ${def.min} and up to ${def.max}` : `from ${def.min} to ${def.max}`}.`;
  if (trimmed === '' || !Number.isFinite(value)) return { ok: false, message: range };
  if (def.integer && !Number.isInteger(value)) return { ok: false, message: range };
  if ((def.minExclusive ? value <= def.min : value < def.min) || value > def.max) return { ok: false, message: range };
  return { ok: true, value };
}

/** Stop sequences typed one per line: the list, or what to fix. */
export function checkStopInput(text: string): { ok: true; value: string[] } | { ok: false; message: string } {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.length > 0);
  if (lines.length > MAX_STOP_SEQUENCES) return { ok: false, message: `At most ${MAX_STOP_SEQUENCES} stop sequences, one per line.` };
  if (lines.some((l) => l.length > MAX_STOP_CHARS)) return { ok: false, message: `A stop sequence can be at most ${MAX_STOP_CHARS} characters long.` };
  return { ok: true, value: lines };
}
