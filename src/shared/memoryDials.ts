// How memory is recalled for a chat turn, declared once: whether memory is used, how many passages,
// the similarity they need, the tokens memory may add, which knowledge bases are searched, and whether
// a small document comes whole. Set at three levels like the model and sampling — your settings, the
// persona, this chat — and shown with the level each value in effect comes from. Shared: the host
// resolves the levels, the Chat settings panel and the memory panel check what is typed.
import * as z from 'zod/mini';
import { checkNumberInput, type Origin } from './sampling';

export type MemoryDialNumberKey = 'topK' | 'minScore' | 'tokenBudget';
export type MemoryDialSwitchKey = 'enabled' | 'workspaceFiles' | 'personaFiles' | 'teamFiles' | 'wholeDocument';
export type MemoryDialKey = MemoryDialNumberKey | MemoryDialSwitchKey;

export interface MemoryDialNumberDef {
  key: MemoryDialNumberKey;
  /** The control's accessible name. */
  label: string;
  min: number;
  max: number;
  integer: boolean;
  step: number;
  hint: string;
}

export interface MemoryDialSwitchDef {
  key: MemoryDialSwitchKey;
  label: string;
  hint: string;
}

export const MEMORY_DIAL_NUMBERS: readonly MemoryDialNumberDef[] = [
  { key: 'topK', label: 'Passages', min: 1, max: 50, integer: true, step: 1, hint: 'At most this many passages (and memories) found by meaning go into a turn.' },
  { key: 'minScore', label: 'Similarity threshold', min: 0, max: 1, integer: false, step: 0.05, hint: 'A passage found by meaning alone must be at least this similar to the message (0 to 1).' },
  { key: 'tokenBudget', label: 'Memory token budget', min: 100, max: 32000, integer: true, step: 100, hint: 'The most tokens memory may add to a prompt: pinned memories first, then what was found.' },
];

export const MEMORY_DIAL_SWITCHES: readonly MemoryDialSwitchDef[] = [
  { key: 'enabled', label: 'Use memory', hint: 'Off: nothing is recalled for this chat, neither files nor memories.' },
  { key: 'workspaceFiles', label: "Search this workspace's files", hint: "The files added to this workspace's memory." },
  { key: 'personaFiles', label: "Search the persona's own files", hint: 'The files added to the memory of this persona only.' },
  { key: 'teamFiles', label: 'Search the team memory', hint: 'The files your team added to the shared team memory (when one is set up in your settings).' },
  { key: 'wholeDocument', label: 'Whole small documents', hint: 'A document found whose whole text fits the budget is given whole instead of in passages.' },
];

export const MEMORY_DIAL_KEYS: readonly MemoryDialKey[] = ['enabled', 'topK', 'minScore', 'tokenBudget', 'workspaceFiles', 'personaFiles', 'teamFiles', 'wholeDocument'];

const numberDef = (key: MemoryDialNumberKey) => MEMORY_DIAL_NUMBERS.find((d) => d.key === key)!;
const dialNumber = (key: MemoryDialNumberKey) => {
  const d = numberDef(key);
  return z.optional((d.integer ? z.int() : z.number()).check(z.gte(d.min), z.lte(d.max)));
};

/** One level's dials; each one left out means "not set here". */
export const MemoryDialsSchema = z.object({
  enabled: z.optional(z.boolean()),
  topK: dialNumber('topK'),
  minScore: dialNumber('minScore'),
  tokenBudget: dialNumber('tokenBudget'),
  workspaceFiles: z.optional(z.boolean()),
  personaFiles: z.optional(z.boolean()),
  teamFiles: z.optional(z.boolean()),
  wholeDocument: z.optional(z.boolean()),
});
export type MemoryDials = z.infer<typeof MemoryDialsSchema>;
/** Every dial with its value in effect. */
export type MemoryDialValues = Required<MemoryDials>;

/** Where nothing else says (the settings' own defaults for the numbers). */
export const MEMORY_DIAL_DEFAULTS: MemoryDialValues = { enabled: true, topK: 8, minScore: 0.35, tokenBudget: 1500, workspaceFiles: true, personaFiles: true, teamFiles: true, wholeDocument: false };

const OriginSchema = z.enum(['default', 'settings', 'persona', 'chat']);
const effective = <T extends z.core.SomeType>(value: T) => z.object({ value, origin: OriginSchema, below: z.optional(z.object({ value, origin: OriginSchema })) });

export const EffectiveMemoryDialsSchema = z.object({
  enabled: effective(z.boolean()),
  topK: effective(z.number()),
  minScore: effective(z.number()),
  tokenBudget: effective(z.number()),
  workspaceFiles: effective(z.boolean()),
  personaFiles: effective(z.boolean()),
  teamFiles: effective(z.boolean()),
  wholeDocument: effective(z.boolean()),
});
export type EffectiveMemoryDials = z.infer<typeof EffectiveMemoryDialsSchema>;

export interface MemoryDialLevels {
  /** From your settings (`persona.rag.*`). */
  settings: MemoryDials;
  persona: MemoryDials;
  chat: MemoryDials | undefined;
}

/**
 * Each dial's value in effect, the level it comes from and, for a value of the level being edited
 * (the chat's in Chat settings, the persona's in the memory panel), what lies below it.
 */
export function resolveMemoryDials(levels: MemoryDialLevels, editing: 'chat' | 'persona' = 'chat'): EffectiveMemoryDials {
  const stack: [Origin, MemoryDials | undefined][] = [
    ['chat', levels.chat],
    ['persona', levels.persona],
    ['settings', levels.settings],
    ['default', MEMORY_DIAL_DEFAULTS],
  ];
  const pick = (from: typeof stack, key: MemoryDialKey) => {
    for (const [origin, level] of from) {
      const value = level?.[key];
      if (value !== undefined) return { value, origin };
    }
    return { value: MEMORY_DIAL_DEFAULTS[key], origin: 'default' as Origin };
  };
  const out: Record<string, unknown> = {};
  for (const key of MEMORY_DIAL_KEYS) {
    const top = pick(stack, key);
    out[key] = top.origin === editing ? { ...top, below: pick(stack.slice(stack.findIndex(([origin]) => origin === editing) + 1), key) } : top;
  }
  return out as EffectiveMemoryDials;
}

/** The values of effective dials. */
export function dialValues(dials: EffectiveMemoryDials): MemoryDialValues {
  return Object.fromEntries(MEMORY_DIAL_KEYS.map((k) => [k, dials[k].value])) as MemoryDialValues;
}

/** A number typed into a dial, checked against its range: the value, or what to fix. */
export function checkDialInput(key: MemoryDialNumberKey, text: string): { ok: true; value: number } | { ok: false; message: string } {
  return checkNumberInput(numberDef(key), text);
}
