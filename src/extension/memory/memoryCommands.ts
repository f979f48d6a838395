// The memory commands: the Explorer's context menu, the palette and the status picker. A failure
// is shown as a message and logged, never an unhandled rejection.
import * as vscode from 'vscode';
import type { MemoryController } from './memoryController';
import type { RememberContext } from './itemsController';
import { addFromFileList, exportFileList, exportMemories, importMemories } from './memoryTransferCommands';
import { ActionError } from '../../util/actionError';
import { guardedCommand } from '../notify';

export function registerMemoryCommands(
  memory: MemoryController,
  log: vscode.LogOutputChannel,
  /** The persona chatting in the view: the one "Add to Memory of Current Persona" adds for. */
  currentPersona: () => { id: string; name: string },
  /** The chat in the view: what Remember… starts from. */
  chat: { rememberSource(): RememberContext },
): vscode.Disposable[] {
  const guarded = guardedCommand(log, 'Memory command');
  /** Explorer passes the clicked item and the whole selection; the palette passes nothing. */
  const explorerSelection = (uri?: unknown, uris?: unknown): vscode.Uri[] => {
    if (Array.isArray(uris) && uris.every((u) => u instanceof vscode.Uri) && uris.length > 0) return uris;
    return uri instanceof vscode.Uri ? [uri] : [];
  };
  return [
    vscode.commands.registerCommand(
      'persona.memory.add',
      guarded(async (uri?: unknown, uris?: unknown) => {
        let picked = explorerSelection(uri, uris);
        if (picked.length === 0) {
          const active = vscode.window.activeTextEditor?.document.uri;
          if (active?.scheme === 'file') picked = [active];
          else picked = (await vscode.window.showOpenDialog({ title: 'Add to Persona Memory', openLabel: 'Add to Memory', canSelectMany: true, canSelectFiles: true, canSelectFolders: true })) ?? [];
        }
        await memory.add(picked);
      }),
    ),
    vscode.commands.registerCommand(
      'persona.memory.addForPersona',
      guarded(async (uri?: unknown, uris?: unknown) => {
        const persona = currentPersona();
        let picked = explorerSelection(uri, uris);
        if (picked.length === 0) {
          picked = (await vscode.window.showOpenDialog({ title: `Add to ${persona.name}'s Memory`, openLabel: 'Add to Memory', canSelectMany: true, canSelectFiles: true, canSelectFolders: true })) ?? [];
        }
        await memory.add(picked, persona);
      }),
    ),
    vscode.commands.registerCommand(
      'persona.memory.addFiles',
      guarded(async () => {
        const picked = await vscode.window.showOpenDialog({ title: 'Add Files to Persona Memory', openLabel: 'Add to Memory', canSelectMany: true, canSelectFiles: true, canSelectFolders: false });
        if (picked) await memory.add(picked);
      }),
    ),
    vscode.commands.registerCommand(
      'persona.memory.indexWorkspace',
      guarded(async () => {
        const folders = vscode.workspace.workspaceFolders ?? [];
        if (folders.length === 0) throw new ActionError('unavailable', 'Open a folder or workspace first: memory is kept per workspace.');
        await memory.add(folders.map((f) => f.uri));
      }),
    ),
    vscode.commands.registerCommand(
      'persona.memory.forget',
      guarded(async (uri?: unknown, uris?: unknown) => {
        const picked = explorerSelection(uri, uris);
        const targets = picked.length > 0 ? picked : await memory.pickToForget();
        if (targets) await memory.forget(targets);
      }),
    ),
    vscode.commands.registerCommand('persona.memory.forgetAll', guarded(() => memory.forgetAll())),
    vscode.commands.registerCommand(
      'persona.teamMemory.add',
      guarded(async (uri?: unknown, uris?: unknown) => {
        let picked = explorerSelection(uri, uris);
        if (picked.length === 0) {
          picked = (await vscode.window.showOpenDialog({ title: 'Add to Team Memory', openLabel: 'Add to Team Memory', canSelectMany: true, canSelectFiles: true, canSelectFolders: true })) ?? [];
        }
        await memory.add(picked, 'team');
      }),
    ),
    vscode.commands.registerCommand('persona.teamMemory.forget', guarded(() => memory.pickTeamToForget())),
    vscode.commands.registerCommand(
      'persona.teamMemory.setCredentials',
      guarded(async () => {
        if (await memory.team.setCredentials()) await memory.refreshTeam();
      }),
    ),
    vscode.commands.registerCommand('persona.memory.showStatus', guarded(() => memory.showStatus(currentPersona().id))),
    vscode.commands.registerCommand('persona.memory.setEmbeddingsKey', guarded(() => memory.setEmbeddingsKey())),
    vscode.commands.registerCommand('persona.memory.remember', guarded(async () => void (await memory.items.remember(chat.rememberSource(), 'palette')))),
    vscode.commands.registerCommand(
      'persona.memory.showItems',
      guarded(() => {
        const p = currentPersona();
        return memory.items.show(p.id, p.name);
      }),
    ),
    vscode.commands.registerCommand(
      'persona.memory.forgetPersona',
      guarded(() => {
        const p = currentPersona();
        return memory.forgetPersona(p.id, p.name);
      }),
    ),
    vscode.commands.registerCommand('persona.memory.exportItems', guarded(() => exportMemories(memory, log, currentPersona()))),
    vscode.commands.registerCommand('persona.memory.importItems', guarded(() => importMemories(memory, log, currentPersona()))),
    // The memory panel passes the knowledge base it shows; the palette passes nothing and is asked.
    vscode.commands.registerCommand('persona.memory.exportDocumentList', guarded((kb?: unknown) => exportFileList(memory, log, currentPersona(), kb))),
    vscode.commands.registerCommand('persona.memory.importDocumentList', guarded(() => addFromFileList(memory, log, currentPersona()))),
  ];
}
