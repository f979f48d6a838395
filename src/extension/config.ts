// Typed access to the `persona.*` settings declared in settings.ts.
import * as vscode from 'vscode';
import type { ChatSettings } from '../chat/chatService';
import { SETTINGS, type SettingKey } from '../chat/settings';
import { chooseServer, readEndpoints } from '../chat/endpoints';
import { NUMBER_SETTINGS, SamplingSchema, type Sampling } from '../shared/sampling';
import { MemoryDialsSchema, type MemoryDials } from '../shared/memoryDials';
import type { SharedBaseSettings } from '../rag/sharedMemory';

type SettingValue<K extends SettingKey> = (typeof SETTINGS)[K] extends string ? string : (typeof SETTINGS)[K];

export function setting<K extends SettingKey>(key: K): SettingValue<K> {
  return vscode.workspace.getConfiguration('persona').get(key, SETTINGS[key]) as SettingValue<K>;
}

/** Settings that change which server Persona talks to. */
export const CONNECTION_SETTINGS: readonly SettingKey[] = ['chat.provider', 'chat.baseUrl', 'chat.model', 'cloud.baseUrl', 'cloud.model', 'endpoints'];

/** The named endpoints of persona.endpoints that are valid, and what is wrong with the others. */
export function endpointSettings(): ReturnType<typeof readEndpoints> {
  return readEndpoints(setting('endpoints'));
}

export function chatSettings(): ChatSettings {
  const chosen = chooseServer(setting('chat.provider'), endpointSettings().endpoints);
  if (chosen.endpoint) {
    return {
      provider: 'cloud',
      endpointName: chosen.endpoint.name,
      extendedSampling: chosen.endpoint.extendedSampling ?? false,
      baseUrl: chosen.endpoint.baseUrl,
      model: (chosen.endpoint.model ?? '').trim(),
      sampling: userSampling(),
      userName: setting('user.name').trim() || 'User',
    };
  }
  const cloud = chosen.provider === 'cloud';
  return {
    provider: cloud ? 'cloud' : 'local',
    baseUrl: trimSlash(cloud ? setting('cloud.baseUrl') : setting('chat.baseUrl')),
    model: (cloud ? setting('cloud.model') : setting('chat.model')).trim(),
    sampling: userSampling(),
    userName: setting('user.name').trim() || 'User',
  };
}

/** The person's own sampling settings; a value that is not a valid one (hand-edited JSON) is left out, with the rest kept. */
function userSampling(): Sampling {
  const raw: Record<string, unknown> = {};
  for (const def of NUMBER_SETTINGS) {
    const value = setting(`chat.${def.key}` as SettingKey);
    if (typeof value === 'number') raw[def.key] = value;
  }
  const stop = setting('chat.stop');
  if (Array.isArray(stop) && stop.length > 0) raw['stop'] = stop;
  const out: Sampling = {};
  for (const [key, value] of Object.entries(raw)) {
    const parsed = SamplingSchema.shape[key as keyof Sampling].safeParse(value);
    if (parsed.success) Object.assign(out, { [key]: parsed.data });
  }
  return out;
}

/** The memory dials your settings set (persona.rag.*): only values set in some scope, each checked. */
export function userMemoryDials(): MemoryDials {
  const config = vscode.workspace.getConfiguration('persona');
  const out: MemoryDials = {};
  for (const key of ['topK', 'minScore', 'tokenBudget'] as const) {
    const i = config.inspect(`rag.${key}`);
    const value = i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
    const parsed = MemoryDialsSchema.shape[key].safeParse(value);
    if (value !== undefined && parsed.success && parsed.data !== undefined) out[key] = parsed.data;
  }
  return out;
}

/**
 * The team memory's place and options, from your user settings only (these settings are
 * `application`-scoped; reading the user value alone also ignores one a workspace wrote anyway):
 * a workspace must not point your credentials at another bucket. Undefined when none is set up.
 */
export function teamMemorySettings(): (SharedBaseSettings & { latencyBudgetMs: number }) | undefined {
  const config = vscode.workspace.getConfiguration('persona');
  const user = <K extends SettingKey>(key: K): SettingValue<K> => (config.inspect(key)?.globalValue ?? SETTINGS[key]) as SettingValue<K>;
  const uri = String(user('teamMemory.uri')).trim();
  if (!uri) return undefined;
  const budget = Number(user('teamMemory.latencyBudgetMs'));
  return {
    uri,
    endpoint: String(user('teamMemory.endpoint')).trim(),
    region: String(user('teamMemory.region')).trim() || 'us-east-1',
    pathStyle: user('teamMemory.pathStyle') === true,
    allowHttp: user('teamMemory.allowHttp') === true,
    latencyBudgetMs: Number.isFinite(budget) ? Math.min(10_000, Math.max(50, budget)) : SETTINGS['teamMemory.latencyBudgetMs'],
  };
}

function trimSlash(url: string): string {
  return url.trim().replace(/\/+$/, '');
}
