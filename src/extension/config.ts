// Typed access to the `persona.*` settings declared in settings.ts.
import * as vscode from 'vscode';
import type { ChatSettings } from '../chat/chatService';
import { SETTINGS, type SettingKey } from '../chat/settings';

type SettingValue<K extends SettingKey> = (typeof SETTINGS)[K] extends string ? string : (typeof SETTINGS)[K];

export function setting<K extends SettingKey>(key: K): SettingValue<K> {
  return vscode.workspace.getConfiguration('persona').get(key, SETTINGS[key]) as SettingValue<K>;
}

/** Settings that change which server Persona talks to. */
export const CONNECTION_SETTINGS: readonly SettingKey[] = ['chat.provider', 'chat.baseUrl', 'chat.model', 'cloud.baseUrl', 'cloud.model'];

export function chatSettings(): ChatSettings {
  const cloud = setting('chat.provider') === 'cloud';
  return {
    provider: cloud ? 'cloud' : 'local',
    baseUrl: trimSlash(cloud ? setting('cloud.baseUrl') : setting('chat.baseUrl')),
    model: (cloud ? setting('cloud.model') : setting('chat.model')).trim(),
    temperature: setting('chat.temperature'),
    maxTokens: setting('chat.maxTokens'),
    userName: setting('user.name').trim() || 'User',
  };
}

function trimSlash(url: string): string {
  return url.trim().replace(/\/+$/, '');
}
