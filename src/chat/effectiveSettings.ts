// Which model and sampling values a chat request carries, and where each comes from. The order,
// lowest first: built-in default < the person's settings < the persona's value < this chat's
// override. A value no level sets is not sent: the server's own default applies.
import { DEFAULT_MAX_TOKENS, NUMBER_SETTINGS, SETTING_KEYS, type Effective, type EffectiveSettings, type Origin, type Sampling, type SettingKey } from '../shared/sampling';

export interface SettingLevels {
  /** From the person's settings (`persona.chat.*`); an empty stop list means "not set". */
  settings: Sampling;
  persona: Sampling;
  /** The chat's overrides; absent: none. */
  chat: Sampling | undefined;
}

const BUILT_IN: Sampling = { maxTokens: DEFAULT_MAX_TOKENS };

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

function pick(levels: readonly [Origin, Sampling | undefined][], key: SettingKey): { value?: unknown; origin: Origin } {
  for (const [origin, level] of levels) {
    const value = level?.[key];
    if (!isSet(value)) continue;
    if (origin === 'settings' && Array.isArray(value) && value.length === 0) continue;
    return { value, origin };
  }
  return { origin: 'default' };
}

/** Each setting's value in effect, its origin, and for a chat override what lies below it. */
export function resolveSettings(levels: SettingLevels): EffectiveSettings {
  const stack: [Origin, Sampling | undefined][] = [
    ['chat', levels.chat],
    ['persona', levels.persona],
    ['settings', levels.settings],
    ['default', BUILT_IN],
  ];
  const out: Record<string, Effective<unknown>> = {};
  for (const key of SETTING_KEYS) {
    const top = pick(stack, key);
    const entry: Effective<unknown> = { origin: top.origin, ...(isSet(top.value) ? { value: top.value } : {}) };
    if (top.origin === 'chat') {
      const below = pick(stack.slice(1), key);
      entry.below = { origin: below.origin, ...(isSet(below.value) ? { value: below.value } : {}) };
    }
    out[key] = entry;
  }
  return out as EffectiveSettings;
}

/**
 * The values to send: every one in effect, less those the server does not take. `extended`: the
 * server takes top_k, min_p and repeat_penalty (LM Studio does; OpenAI refuses them).
 */
export function requestSampling(effective: EffectiveSettings, extended: boolean): Omit<Sampling, 'model'> {
  const out: Omit<Sampling, 'model'> = {};
  for (const def of NUMBER_SETTINGS) {
    const value = effective[def.key].value;
    if (value === undefined) continue;
    // top_k, min_p and repeat_penalty are not OpenAI parameters: a cloud endpoint refuses or ignores them.
    if (def.localOnly && !extended) continue;
    out[def.key] = value;
  }
  const stop = effective.stop.value;
  if (stop && stop.length > 0) out.stop = stop;
  return out;
}

/** The chat's overrides that change what the persona (with the person's settings) would have used. */
export function overridesInEffect(effective: EffectiveSettings): Partial<Sampling> {
  const out: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const e = effective[key] as Effective<unknown>;
    if (e.origin === 'chat' && JSON.stringify(e.value) !== JSON.stringify(e.below?.value)) out[key] = e.value;
  }
  return out as Partial<Sampling>;
}
