// What a file dropped on the chat view becomes: a character card (PNG, JSON or CHARX that reads as
// one) or a Persona file is imported; anything else goes to memory. Files the browser could only hand over as bytes
// (dropped from the OS) are kept in the workspace storage so memory can index and open them.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PreparedImport } from '../../characters/cardImport';
import { MAX_CARD_FILE_BYTES } from '../../characters/cards/cardCodec';
import type { MemoryController } from '../memory/memoryController';
import { ActionError } from '../../util/actionError';
import { showWarning } from '../notify';

const CARD_EXTENSIONS = new Set(['.png', '.json', '.charx']);

export interface DropDeps {
  memory: MemoryController | undefined;
  /** Imports a card the way the Import command does (asks on a name that exists). */
  importCard(prepared: PreparedImport, fileName: string): Promise<void>;
  /** What the bytes hold if they are a card or a Persona file (parsed once), else undefined. */
  prepareCard(bytes: Uint8Array, fileName: string): PreparedImport | undefined;
  /** Where dropped bytes are kept for memory. */
  uploadsDir: string | undefined;
}

export async function handleDrop(params: { uris: string[]; files: { name: string; data: string }[] }, deps: DropDeps): Promise<void> {
  const forMemory: vscode.Uri[] = [];
  for (const raw of params.uris) {
    let uri: vscode.Uri;
    try {
      uri = vscode.Uri.parse(raw, true);
    } catch {
      throw new ActionError('refused', `Cannot use the dropped item ${raw.slice(0, 100)}.`);
    }
    if (uri.scheme !== 'file' && uri.scheme !== 'vscode-remote') throw new ActionError('refused', `Only files can be dropped here, not ${uri.scheme}: links.`);
    const stat = await vscode.workspace.fs.stat(uri);
    const name = path.posix.basename(uri.path);
    if (stat.type & vscode.FileType.File && CARD_EXTENSIONS.has(path.extname(name).toLowerCase()) && stat.size <= MAX_CARD_FILE_BYTES) {
      const bytes = await vscode.workspace.fs.readFile(uri);
      const card = deps.prepareCard(bytes, name);
      if (card) {
        await deps.importCard(card, name);
        continue;
      }
      if (path.extname(name).toLowerCase() === '.png') throw new ActionError('refused', `${name} is a picture without a character card in it.`);
    }
    forMemory.push(uri);
  }
  for (const file of params.files) {
    const name = safeName(file.name);
    const bytes = Buffer.from(file.data, 'base64');
    const card = CARD_EXTENSIONS.has(path.extname(name).toLowerCase()) ? deps.prepareCard(bytes, name) : undefined;
    if (card) {
      await deps.importCard(card, name);
      continue;
    }
    if (!deps.uploadsDir) throw new ActionError('unavailable', 'Open a folder or workspace to add dropped files to memory.');
    // Kept by content, so dropping the same file again is the same document.
    const dir = path.join(deps.uploadsDir, createHash('sha256').update(bytes).digest('hex').slice(0, 16));
    await fs.mkdir(dir, { recursive: true });
    const target = path.join(dir, name);
    await fs.writeFile(target, bytes);
    forMemory.push(vscode.Uri.file(target));
  }
  if (forMemory.length === 0) return;
  if (!deps.memory) throw new ActionError('unavailable', 'Memory is not available in this window.');
  // A drop can name any path (a web page can put one in a text/uri-list): what is outside the
  // workspace, and not a file dropped as bytes, is listed and added only when the person says so.
  const outside = forMemory.filter((u) => !vscode.workspace.getWorkspaceFolder(u) && !(deps.uploadsDir && u.fsPath.startsWith(deps.uploadsDir + path.sep)));
  if (outside.length > 0) {
    const listed = outside.slice(0, 10).map((u) => u.fsPath);
    const choice = await showWarning(
      outside.length === 1 ? 'Add a file from outside this workspace to memory?' : `Add ${outside.length} files from outside this workspace to memory?`,
      { modal: true, detail: `${listed.join('\n')}${outside.length > listed.length ? `\n…and ${outside.length - listed.length} more` : ''}\n\nPersona's chats can quote what memory holds.` },
      'Add to Memory',
    );
    if (choice !== 'Add to Memory') {
      const skip = new Set(outside);
      forMemory.splice(0, forMemory.length, ...forMemory.filter((u) => !skip.has(u)));
      if (forMemory.length === 0) return;
    }
  }
  await deps.memory.add(forMemory);
}

function safeName(name: string): string {
  const base = name.replace(/[\\/]/g, '_').replace(/^\.+/, '').trim();
  return base.slice(0, 200) || 'dropped-file';
}
