// Import, export and delete of custom personas as character cards (Character Card V1/V2/V3 in JSON,
// PNG or CHARX). Reading and mapping are plain Node (`cardImport.ts`, `cards/`); this file asks the
// questions and shows the answers.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { prepareImport } from './cardImport';
import { CardError, MAX_CARD_FILE_BYTES, placeholderPng, writeCardJson, writeCardPng, writeCharx } from './cards/cardCodec';
import type { CardPersona } from '../shared/cardPersona';
import { personaToCard } from './cards/cardToPersona';
import type { ChatService } from './chatService';
import type { ChatViewProvider } from './chatViewProvider';
import type { PersonaRegistry } from './personaRegistry';

export interface CharacterCommandDeps {
  chat: ChatService;
  view: ChatViewProvider;
  personas: PersonaRegistry;
  log: vscode.LogOutputChannel;
}

const IMPORT_AS_COPY = 'Import as a New Copy';

export async function importCharacterCard(deps: CharacterCommandDeps): Promise<void> {
  const { chat, view, personas, log } = deps;
  const picked = await vscode.window.showOpenDialog({
    title: 'Import Character Card',
    openLabel: 'Import',
    canSelectMany: false,
    filters: { 'Character cards': ['png', 'json', 'charx'], 'All files': ['*'] },
  });
  const uri = picked?.[0];
  if (!uri) return;
  const fileName = path.posix.basename(uri.path);
  // Ask the size first: a card file is small, and a wrong pick should not be read into memory.
  const { size } = await vscode.workspace.fs.stat(uri);
  if (size > MAX_CARD_FILE_BYTES) throw new CardError('tooLarge', `${(size / 1024 / 1024).toFixed(1)} MB`, fileName);
  const bytes = await vscode.workspace.fs.readFile(uri);
  const prepared = prepareImport(bytes, { fileName, taken: (id) => personas.get(id) !== undefined });
  const { persona } = prepared;

  const sameName = personas.withName(persona.name);
  if (sameName.length > 0) {
    const choice = await vscode.window.showWarningMessage(
      `A persona named "${persona.name}" already exists.`,
      { modal: true, detail: 'Importing makes a new copy beside it; the existing persona is not changed.' },
      IMPORT_AS_COPY,
    );
    if (choice !== IMPORT_AS_COPY) return;
  }

  await personas.addCustom(persona, prepared.avatar);
  log.info(`Imported ${fileName} (${persona.cardSource?.spec ?? 'card'}, ${persona.cardSource?.format ?? '?'}) as persona "${persona.id}".`);
  await chat.selectPersona(persona.id);
  await view.focus();
  if (prepared.warnings.length > 0) {
    for (const w of prepared.warnings) log.warn(`Import of ${fileName}: ${w.message}`);
    void vscode.window.showWarningMessage(`Imported ${persona.name}, with warnings: ${prepared.warnings.map((w) => w.message).join(' ')}`);
  } else {
    void vscode.window.showInformationMessage(`Imported ${persona.name}. The chat is now with them.`);
  }
}

type PersonaItem = vscode.QuickPickItem & { persona: CardPersona };

async function pickPersona(personas: PersonaRegistry, title: string, options: { customOnly?: boolean } = {}): Promise<CardPersona | undefined> {
  const items: PersonaItem[] = personas
    .list()
    .filter((p) => !options.customOnly || !personas.isBuiltIn(p.id))
    .map((p) => ({ persona: p, label: `${p.icon} ${p.name}`, description: personas.isBuiltIn(p.id) ? 'built-in' : undefined, detail: p.description }));
  if (items.length === 0) {
    void vscode.window.showInformationMessage('There are no custom personas yet. Import one with "Persona: Import Character Card…".');
    return undefined;
  }
  return (await vscode.window.showQuickPick(items, { title, placeHolder: 'Choose a persona', matchOnDetail: true }))?.persona;
}

function embeddedAssets(p: CardPersona): boolean {
  return (p.card?.assets ?? []).some((a) => typeof a.uri === 'string' && a.uri.startsWith('embeded://'));
}

export async function exportCharacterCard(deps: CharacterCommandDeps): Promise<void> {
  const { personas, log } = deps;
  const persona = await pickPersona(personas, 'Export Character Card');
  if (!persona) return;
  const filters: Record<string, string[]> = { 'Character Card V3 (JSON)': ['json'], 'PNG card (V3 with a V2 backfill)': ['png'] };
  // Persona does not keep a card's embedded files yet, so CHARX is offered only for cards that had them.
  if (embeddedAssets(persona)) filters['CHARX archive'] = ['charx'];
  const base = vscode.workspace.workspaceFolders?.[0]?.uri;
  const target = await vscode.window.showSaveDialog({
    title: `Export ${persona.name}`,
    saveLabel: 'Export',
    filters,
    ...(base ? { defaultUri: vscode.Uri.joinPath(base, `${persona.name.replace(/[^\p{L}\p{N} _-]+/gu, '').trim() || persona.id}.json`) } : {}),
  });
  if (!target) return;
  const card = personaToCard(persona, { now: Math.floor(Date.now() / 1000) });
  const ext = path.posix.extname(target.path).toLowerCase();
  let bytes: Uint8Array;
  if (ext === '.png') {
    const avatar = persona.avatar?.ext === 'png' ? await personas.avatarOf(persona.id) : undefined;
    bytes = writeCardPng(card, avatar ?? placeholderPng(persona.name));
  } else if (ext === '.charx') {
    bytes = writeCharx(card);
  } else {
    bytes = new TextEncoder().encode(writeCardJson(card));
  }
  await vscode.workspace.fs.writeFile(target, bytes);
  log.info(`Exported persona "${persona.id}" to ${target.fsPath}.`);
  void vscode.window.showInformationMessage(`Exported ${persona.name} to ${path.posix.basename(target.path)}.`);
}

export async function deleteCharacter(deps: CharacterCommandDeps): Promise<void> {
  const { chat, personas, log } = deps;
  const persona = await pickPersona(personas, 'Delete Character', { customOnly: true });
  if (!persona) return;
  const choice = await vscode.window.showWarningMessage(
    `Delete the persona "${persona.name}"?`,
    { modal: true, detail: 'Its file is removed. Conversations with it stay in the list and can still be read.' },
    'Delete',
  );
  if (choice !== 'Delete') return;
  await chat.deletePersona(persona.id);
  log.info(`Deleted persona "${persona.id}".`);
}
