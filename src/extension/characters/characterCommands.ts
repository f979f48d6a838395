// Import, export and delete of custom personas: as character cards (Character Card V1/V2/V3 in
// JSON, PNG or CHARX) and as Persona's own file (with the version history if wanted). Reading,
// mapping and writing are plain Node (`cardImport.ts`, `cards/`); this file asks the questions and
// shows the answers.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { prepareImport, type PreparedImport } from '../../characters/cardImport';
import { EXPORT_EXTENSIONS, exportPersona, type ExportFormat } from '../../characters/cards/cardExport';
import { MAX_PERSONA_FILE_BYTES, PersonaFileError } from '../../characters/cards/personaFile';
import type { CardPersona } from '../../shared/cardPersona';
import type { ChatService } from '../../chat/chatService';
import type { ChatViewProvider } from '../chat/chatViewProvider';
import type { PersonaRegistry } from '../../characters/personaRegistry';
import { ActionError } from '../../util/actionError';
import { personaPickText, showInfo, showWarning } from '../notify';
import { inertText } from '../../util/inertText';

export interface CharacterCommandDeps {
  chat: ChatService;
  view: ChatViewProvider;
  personas: PersonaRegistry;
  log: vscode.LogOutputChannel;
}

const IMPORT_AS_COPY = 'Import as a New Copy';

export async function importCharacterCard(deps: CharacterCommandDeps): Promise<void> {
  const picked = await vscode.window.showOpenDialog({
    title: 'Import Character Card',
    openLabel: 'Import',
    canSelectMany: false,
    filters: { 'Character cards and Persona files': ['png', 'json', 'charx'], 'All files': ['*'] },
  });
  const uri = picked?.[0];
  if (!uri) return;
  const fileName = path.posix.basename(uri.path);
  // Ask the size first: a wrong pick should not be read into memory. Cards are refused above 20 MB
  // by the reader; Persona files with a long history may be larger.
  const { size } = await vscode.workspace.fs.stat(uri);
  if (size > MAX_PERSONA_FILE_BYTES) throw new PersonaFileError('tooLarge', `${(size / 1024 / 1024).toFixed(1)} MB`, fileName);
  await importCharacterBytes(deps, await vscode.workspace.fs.readFile(uri), fileName);
}

/**
 * Imports a card or Persona file already read (the Import command, a file dropped on the chat):
 * asks when the name exists, saves, switches the chat to it. Throws CardError / PersonaFileError
 * for anything else, having written nothing.
 */
export async function importCharacterBytes(deps: CharacterCommandDeps, bytes: Uint8Array, fileName: string): Promise<void> {
  await importPrepared(deps, prepareImport(bytes, { fileName, taken: (id) => deps.personas.get(id) !== undefined }), fileName);
}

/** Imports what prepareImport read (a dropped file is read once: tryPrepareImport, then this). */
export async function importPrepared(deps: CharacterCommandDeps, prepared: PreparedImport, fileName: string): Promise<void> {
  const { chat, view, personas, log } = deps;
  const { persona } = prepared;

  // Never overwrite: a name that exists asks for a copy, or a new version of a custom persona.
  let asNewVersionOf: CardPersona | undefined;
  const sameName = personas.withName(persona.name);
  if (sameName.length > 0) {
    const target = sameName.find((p) => !personas.isBuiltIn(p.id));
    const asVersion = target ? `Save as New Version of ${target.name}` : undefined;
    const detail = target
      ? `A new copy sits beside the existing persona. A new version replaces its content; every earlier version stays in its history and can be restored.${prepared.history.length > 0 ? ' (The version history in the file is imported only with a new copy.)' : ''}`
      : `${sameName[0]!.name} is built in and cannot be changed, so the import makes a new copy beside it.`;
    const choice = await showWarning(
      `A persona named "${persona.name}" already exists.`,
      { modal: true, detail },
      ...(asVersion ? [IMPORT_AS_COPY, asVersion] : [IMPORT_AS_COPY]),
    );
    if (choice === undefined) return;
    if (choice === asVersion) asNewVersionOf = target;
  }

  const summary = await personas.importCustom(persona, {
    ...(prepared.avatar ? { avatar: prepared.avatar } : {}),
    assets: prepared.assets,
    ...(asNewVersionOf ? { asNewVersionOf: asNewVersionOf.id } : { history: prepared.history }),
  });
  const id = asNewVersionOf?.id ?? persona.id;
  const what = prepared.kind === 'personaFile' ? 'Persona file' : `${persona.cardSource?.spec ?? 'card'}, ${persona.cardSource?.format ?? '?'}`;
  log.info(`Imported ${fileName} (${what}) as ${asNewVersionOf ? `version ${summary.version} of` : 'new'} persona "${id}"${prepared.history.length > 0 && !asNewVersionOf ? ` with ${prepared.history.length} earlier versions` : ''}.`);
  await chat.selectPersona(id);
  await view.focus();
  const done = asNewVersionOf ? `Saved ${persona.name} as version ${summary.version} of ${asNewVersionOf.name}.` : `Imported ${persona.name}.`;
  if (prepared.warnings.length > 0) {
    for (const w of prepared.warnings) log.warn(`Import of ${fileName}: ${w.message}`);
    void showWarning(`${done} With warnings: ${prepared.warnings.map((w) => w.message).join(' ')}`);
  } else {
    void showInfo(`${done} The chat is now with them.`);
  }
}

type PersonaItem = vscode.QuickPickItem & { persona: CardPersona };

async function pickPersona(personas: PersonaRegistry, title: string, options: { customOnly?: boolean } = {}): Promise<CardPersona | undefined> {
  const items: PersonaItem[] = personas
    .list()
    .filter((p) => !options.customOnly || !personas.isBuiltIn(p.id))
    .map((p) => ({ persona: p, ...personaPickText(p), description: personas.isBuiltIn(p.id) ? 'built-in' : undefined }));
  if (items.length === 0) {
    void showInfo('There are no custom personas yet. Import one with "Persona: Import Character Card…".');
    return undefined;
  }
  return (await vscode.window.showQuickPick(items, { title, placeHolder: 'Choose a persona', matchOnDetail: true }))?.persona;
}

type FormatItem = vscode.QuickPickItem & { format: ExportFormat };

const FORMAT_ITEMS: FormatItem[] = [
  { format: 'cardJson', label: 'Character Card V3 (JSON)', detail: 'For other character apps.' },
  { format: 'png', label: 'PNG card', detail: 'The picture with the card inside (V3, and V2 for older apps).' },
  { format: 'charx', label: 'CHARX archive', detail: 'The card with the files it came with (pictures, sounds…).' },
  { format: 'personaFile', label: 'Persona file (JSON)', detail: 'Everything Persona keeps, optionally with the version history: for another machine or a backup.' },
];

const FILTER_NAMES: Record<ExportFormat, string> = {
  cardJson: 'Character Card V3 (JSON)',
  png: 'PNG card (V3 with a V2 backfill)',
  charx: 'CHARX archive',
  personaFile: 'Persona file',
};

export async function exportCharacterCard(deps: CharacterCommandDeps): Promise<void> {
  const { personas, log } = deps;
  const persona = await pickPersona(personas, 'Export Character Card');
  if (!persona) return;
  const format = (await vscode.window.showQuickPick(FORMAT_ITEMS, { title: `Export ${inertText(persona.name)}`, placeHolder: 'Choose a format' }))?.format;
  if (!format) return;

  let history: Awaited<ReturnType<PersonaRegistry['historyEntries']>> | undefined;
  if (format === 'personaFile' && !personas.isBuiltIn(persona.id)) {
    const count = (await personas.versions(persona.id)).length;
    if (count > 1) {
      type HistoryItem = vscode.QuickPickItem & { withHistory: boolean };
      const choice = await vscode.window.showQuickPick<HistoryItem>(
        [
          { withHistory: false, label: 'Current version only' },
          { withHistory: true, label: 'With version history', detail: `All ${count} versions, so they can be restored after importing.` },
        ],
        { title: `Export ${inertText(persona.name)} with version history?` },
      );
      if (!choice) return;
      if (choice.withHistory) history = await personas.historyEntries(persona.id);
    }
  }

  const ext = EXPORT_EXTENSIONS[format];
  const base = vscode.workspace.workspaceFolders?.[0]?.uri;
  const fileBase = persona.name.replace(/[^\p{L}\p{N} _-]+/gu, '').trim() || persona.id;
  const target = await vscode.window.showSaveDialog({
    title: `Export ${persona.name}`,
    saveLabel: 'Export',
    filters: { [FILTER_NAMES[format]]: [ext.split('.').at(-1)!] },
    ...(base ? { defaultUri: vscode.Uri.joinPath(base, `${fileBase}.${ext}`) } : {}),
  });
  if (!target) return;
  const avatar = await personas.avatarOf(persona.id);
  const bytes = exportPersona(format, {
    persona,
    ...(avatar ? { avatar } : {}),
    assets: await personas.assetsOf(persona.id),
    ...(history ? { history } : {}),
  });
  if (format === 'personaFile' && bytes.length > MAX_PERSONA_FILE_BYTES) {
    // Written anyway it could not be imported again: say so before anything is written.
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;
    throw new ActionError(
      'refused',
      `The Persona file would be ${mb(bytes.length)}, more than Persona imports (${mb(MAX_PERSONA_FILE_BYTES)}). Export it without its version history, or as a CHARX card.`,
    );
  }
  await vscode.workspace.fs.writeFile(target, bytes);
  log.info(`Exported persona "${persona.id}" (${format}${history ? `, ${history.length} versions` : ''}) to ${target.fsPath}.`);
  void showInfo(`Exported ${persona.name} to ${path.posix.basename(target.path)}.`);
}

export async function deleteCharacter(deps: CharacterCommandDeps): Promise<void> {
  const { chat, personas, log } = deps;
  const persona = await pickPersona(personas, 'Delete Character', { customOnly: true });
  if (!persona) return;
  const choice = await showWarning(
    `Delete the persona "${persona.name}"?`,
    { modal: true, detail: 'Its file, picture, version history and card files are removed. Conversations with it stay in the list and can still be read.' },
    'Delete',
  );
  if (choice !== 'Delete') return;
  await chat.deletePersona(persona.id);
  log.info(`Deleted persona "${persona.id}".`);
}
