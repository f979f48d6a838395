// Persona: Save Chat Settings as Preset…, and Persona: Apply Preset…: the same flows run from the
// Chat settings panel's buttons. A preset's name is the person's text, and a persona's name a card's:
// both go through inertText before they reach a quick pick or a message.
import * as vscode from 'vscode';
import type { ChatService } from '../../chat/chatService';
import { MAX_PRESET_NAME, presetSettingsFrom, type Preset, type PresetStore } from '../../chat/presets';
import { settingLabel, type SettingKey } from '../../shared/sampling';
import { inertText } from '../../util/inertText';
import { showInfo, showWarning } from '../notify';

/** "temperature 0.7 · top p 0.95": what a preset sets, in a line. */
export function describePreset(settings: Preset['settings']): string {
  const parts = Object.entries(settings)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${settingLabel(k as SettingKey).toLowerCase()} ${Array.isArray(v) ? v.map((x) => JSON.stringify(x)).join(' ') : String(v)}`);
  return parts.join(' · ') || 'nothing set';
}

export async function savePreset(chat: ChatService, presets: PresetStore): Promise<void> {
  const settings = presetSettingsFrom(chat.effectiveSettings());
  const name = await vscode.window.showInputBox({
    title: 'Save Chat Settings as Preset',
    prompt: inertText(`Saves ${describePreset(settings)}`),
    placeHolder: 'A name for the preset',
    validateInput: (v) => (!v.trim() ? 'Give the preset a name.' : v.trim().length > MAX_PRESET_NAME ? `Keep the name to ${MAX_PRESET_NAME} characters.` : undefined),
  });
  if (!name?.trim()) return;
  const existing = await presets.get(name);
  if (existing?.builtIn) {
    void showWarning(`"${existing.name}" comes with Persona: choose another name.`);
    return;
  }
  if (existing) {
    const choice = await showWarning(`Replace the preset "${existing.name}"?`, { modal: true, detail: `It sets ${describePreset(existing.settings)}.` }, 'Replace');
    if (choice !== 'Replace') return;
  }
  const saved = await presets.save(name, settings);
  void showInfo(`Saved the preset "${saved.name}".`);
}

type PresetItem = vscode.QuickPickItem & { preset: Preset };
type TargetItem = vscode.QuickPickItem & { target: 'chat' | 'persona' };

export async function applyPreset(chat: ChatService, presets: PresetStore, isBuiltInPersona: (id: string) => boolean): Promise<void> {
  const items: PresetItem[] = (await presets.list()).map((p) => ({
    preset: p,
    label: inertText(p.name),
    description: p.builtIn ? 'comes with Persona' : undefined,
    detail: inertText(describePreset(p.settings)),
  }));
  const picked = await vscode.window.showQuickPick(items, { title: 'Apply Preset', placeHolder: 'Choose a preset', matchOnDetail: true });
  if (!picked) return;
  const persona = chat.persona();
  const builtIn = isBuiltInPersona(persona.id);
  const targets: TargetItem[] = [
    { target: 'chat', label: 'This chat', description: 'its own values, over the persona’s' },
    {
      target: 'persona',
      label: inertText(`The persona ${persona.name}`),
      description: builtIn ? 'comes with Persona: duplicate it first' : 'a new version of the persona, for every chat with it',
    },
  ];
  const target = await vscode.window.showQuickPick(targets, { title: inertText(`Apply "${picked.preset.name}" to…`) });
  if (!target) return;
  if (target.target === 'chat') {
    await chat.applyPresetToChat(picked.preset.settings);
    return;
  }
  await chat.applyPresetToPersona(persona.id, picked.preset.settings);
  void showInfo(`${persona.name} now uses the preset "${picked.preset.name}".`);
}
