// Export and import of what a persona remembers, in VS Code: its memories as a JSON file, and the list
// of a knowledge base's files (workspace-relative paths, to add the same files on another machine).
// An import reads the whole file first (a file that is wrong in any way changes nothing), then says in
// a modal what it would add and what it skips, and does nothing without the person's yes; what the
// persona has is never overwritten. The formats and their checks are plain Node in
// src/rag/memoryTransfer.ts; memoryCommands.ts registers these as commands, and the memory panel's
// buttons run those commands.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { WORKSPACE_KB, kbsInScope } from '../../rag/knowledgeBases';
import {
  MAX_DOCUMENT_LIST_FILE_BYTES,
  MAX_MEMORY_ITEMS_FILE_BYTES,
  MemoryTransferError,
  exportDocumentList,
  exportMemoryItems,
  isPortableSource,
  parseDocumentList,
  parseMemoryItemsExport,
  planMemoryItemsImport,
  type MemoryItemsImportPlan,
} from '../../rag/memoryTransfer';
import { ActionError } from '../../util/actionError';
import { inertText } from '../../util/inertText';
import type { Logger } from '../../util/logger';
import { showInfo, showWarning } from '../notify';
import type { MemoryController } from './memoryController';

export interface TransferPersona {
  id: string;
  name: string;
}

/** Names shown in a confirmation before "and N more". */
const NAMES_SHOWN = 5;
/** Files looked up at once while a list is resolved. */
const LOOKUPS_AT_ONCE = 32;

// ---- memories -------------------------------------------------------------------------------------

/** Asks where, then writes the persona's memories as a JSON file. */
export async function exportMemories(memory: MemoryController, log: Logger, persona: TransferPersona): Promise<void> {
  const items = await memory.items.service().list(persona.id);
  if (items.length === 0) {
    void showInfo(`${persona.name} remembers nothing yet: there is nothing to export.`);
    return;
  }
  // Made before the dialog: a persona with more than a file holds is told so before picking where.
  const text = exportMemoryItems(items, persona);
  const target = await vscode.window.showSaveDialog({
    title: inertText(`Export ${persona.name}'s Memories`),
    saveLabel: 'Export',
    filters: { 'Persona memories': ['json'] },
    defaultUri: vscode.Uri.joinPath(defaultFolder(), `${fileBase(persona)} memories.json`),
  });
  if (!target) return;
  await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(text));
  const pinned = items.filter((i) => i.pinned).length;
  log.info(`Memory: exported ${items.length} item(s) of ${persona.id} to ${target.fsPath}.`);
  void showInfo(
    `Exported ${memoriesText(items.length)} of ${persona.name}${pinned ? ` (${pinned} pinned)` : ''} to ${path.posix.basename(target.path)}. The file holds them as plain text: keep it where you keep private notes.`,
  );
}

/** Asks for a memories file, reads it whole, says what it would add and skip, and adds the new ones after a yes. */
export async function importMemories(memory: MemoryController, log: Logger, persona: TransferPersona): Promise<void> {
  const picked = await vscode.window.showOpenDialog({
    title: inertText(`Import Memories into ${persona.name}`),
    openLabel: 'Import',
    canSelectMany: false,
    canSelectFiles: true,
    canSelectFolders: false,
    filters: { 'Persona memories': ['json'] },
    defaultUri: defaultFolder(),
  });
  const uri = picked?.[0];
  if (!uri) return;
  const fileName = path.posix.basename(uri.path);
  // Throws MemoryTransferError, which says what is wrong and that nothing was imported.
  const incoming = parseMemoryItemsExport(await readPicked(uri, MAX_MEMORY_ITEMS_FILE_BYTES, 'This memories file'));
  const plan = planMemoryItemsImport(await memory.items.service().list(persona.id), incoming);
  log.info(`Memory: ${fileName} holds ${incoming.items.length} item(s): ${plan.add.length} new, ${plan.duplicates.length} skipped, ${plan.pinDiffers.length} with another pin.`);
  const detail = importDetail(plan, persona.name, incoming.exportedAt);
  if (plan.add.length === 0) {
    await showInfo(`Nothing to import into ${persona.name}.`, { modal: true, detail });
    return;
  }
  const choice = await showInfo(`Import ${memoriesText(plan.add.length)} into ${persona.name}?`, { modal: true, detail }, 'Import');
  if (choice !== 'Import') return;

  let cancelled = false;
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: inertText(`Persona: importing memories into ${persona.name}`), cancellable: true },
    async (_progress, token) => {
      const stop = new AbortController();
      const sub = token.onCancellationRequested(() => {
        cancelled = true;
        stop.abort();
      });
      try {
        return await memory.items.importPlanned(persona.id, plan, stop.signal);
      } finally {
        sub.dispose();
      }
    },
  );
  const added = result.added.length;
  const parts = [added > 0 ? `${persona.name} now remembers ${added.toLocaleString('en-US')} more ${added === 1 ? 'memory' : 'memories'}, from ${fileName}.` : `Nothing was imported into ${persona.name}.`];
  if (result.skipped.length > 0) parts.push(`${result.skipped.length} ${result.skipped.length === 1 ? 'was' : 'were'} remembered meanwhile and skipped.`);
  if (!result.embedded) {
    parts.push(
      `${cancelled ? 'Embedding was stopped' : 'The embeddings server could not embed them now'}: they are kept, and found by meaning once they are embedded on a later turn${result.added.some((i) => i.pinned) ? '; the pinned ones are in every reply now' : ''}.`,
    );
  }
  void (result.embedded ? showInfo(parts.join(' ')) : showWarning(parts.join(' ')));
}

/** "2 new memories will be added to Sam; 1 is already there and is skipped; …", and where the file came from. */
function importDetail(plan: MemoryItemsImportPlan, personaName: string, exportedAt?: number): string {
  const add = plan.add.length;
  const there = plan.duplicates.filter((d) => d.existing !== undefined).length;
  const repeats = plan.duplicates.length - there;
  const pins = plan.pinDiffers.length;
  const clauses = [add > 0 ? `${add} new ${add === 1 ? 'memory' : 'memories'} will be added to ${personaName}` : `No new memories will be added to ${personaName}`];
  if (there > 0) clauses.push(`${there} ${there === 1 ? 'is' : 'are'} already there and ${there === 1 ? 'is' : 'are'} skipped`);
  if (repeats > 0) clauses.push(`${repeats} ${repeats === 1 ? 'repeats' : 'repeat'} an earlier memory of the file and ${repeats === 1 ? 'is' : 'are'} skipped`);
  if (pins > 0) clauses.push(`${pins} ${pins === 1 ? 'differs only in its pin' : 'differ only in their pin'}: ${personaName}'s pin is kept`);
  const lines = [`${clauses.join('; ')}.`];
  const pinnedNew = plan.add.filter((a) => a.item.pinned).length;
  if (pinnedNew > 0) lines.push(`${add === 1 ? 'It is' : `${pinnedNew} of the new ones ${pinnedNew === 1 ? 'is' : 'are'}`} pinned: in every reply.`);
  if (add > 0) lines.push(`New: ${namesText(plan.add.map((a) => `“${short(a.item.text)}”`), '; ')}`);
  if (plan.from || exportedAt !== undefined) {
    const when = exportedAt !== undefined ? ` on ${new Date(exportedAt).toLocaleDateString('en-US', { year: 'numeric', month: 'short', day: 'numeric' })}` : '';
    lines.push(`Exported${plan.from ? ` from ${plan.from.name}` : ''}${when}.`);
  }
  return lines.join('\n');
}

// ---- document lists -------------------------------------------------------------------------------

/**
 * Asks which knowledge base (when both in scope hold files) and where, then writes its list of files.
 * `kb` comes from the memory panel (the knowledge base it shows); anything not in scope is ignored.
 */
export async function exportFileList(memory: MemoryController, log: Logger, persona: TransferPersona, kb?: unknown): Promise<void> {
  const docs = await memory.documents();
  const inScope = kbsInScope(persona.id);
  let chosen = typeof kb === 'string' && inScope.includes(kb) ? kb : undefined;
  if (!chosen) {
    const withFiles = inScope.filter((k) => docs.some((d) => d.kb === k));
    if (withFiles.length === 0) {
      void showInfo(`There are no files in memory for ${persona.name} in this workspace: there is nothing to list.`);
      return;
    }
    chosen = withFiles.length === 1 ? withFiles[0] : await pickKnowledgeBase(persona, withFiles, docs, 'Export the list of files of which memory?');
    if (!chosen) return;
  }
  const inKb = docs.filter((d) => d.kb === chosen);
  const listed = new Set(inKb.filter((d) => isPortableSource(d.source)).map((d) => d.source));
  const leftOut = leftOutText(inKb.filter((d) => !isPortableSource(d.source)).map((d) => d.source), memory.uploadsDir);
  const where = kbText(chosen, persona);
  if (listed.size === 0) {
    void showInfo(`No file of ${where} can be listed${leftOut ? `: ${leftOut}` : ': it holds no files'}.`);
    return;
  }
  const text = exportDocumentList(inKb, chosen);
  const target = await vscode.window.showSaveDialog({
    title: inertText(`Export the List of Files in ${chosen === WORKSPACE_KB ? "This Workspace's Memory" : `${persona.name}'s Own Memory`}`),
    saveLabel: 'Export',
    filters: { 'Persona memory file lists': ['json'] },
    defaultUri: vscode.Uri.joinPath(defaultFolder(), `${chosen === WORKSPACE_KB ? 'Workspace' : fileBase(persona)} memory files.json`),
  });
  if (!target) return;
  await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(text));
  log.info(`Memory: exported the list of ${listed.size} file(s) of ${chosen} to ${target.fsPath}${leftOut ? `; left out: ${leftOut}` : ''}.`);
  void showInfo(`Exported the list of ${filesText(listed.size)} in ${where} to ${path.posix.basename(target.path)}.${leftOut ? ` Left out: ${leftOut}.` : ''}`);
}

/**
 * Asks for a file list, finds each of its files in this workspace's first folder (never outside it,
 * links included), says what will be added where and what is missing, and adds the files after a yes.
 */
export async function addFromFileList(memory: MemoryController, log: Logger, persona: TransferPersona): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) throw new ActionError('unavailable', 'Open the folder the files are in first: the paths of a file list are found in the workspace folder.');
  if (folder.uri.scheme !== 'file') throw new ActionError('unavailable', `Memory reads files on this machine only, and ${folder.name} is not (${folder.uri.scheme}).`);
  const picked = await vscode.window.showOpenDialog({
    title: 'Add Files from a Memory File List',
    openLabel: 'Read List',
    canSelectMany: false,
    canSelectFiles: true,
    canSelectFolders: false,
    filters: { 'Persona memory file lists': ['json'] },
    defaultUri: defaultFolder(),
  });
  const uri = picked?.[0];
  if (!uri) return;
  const fileName = path.posix.basename(uri.path);
  const list = parseDocumentList(await readPicked(uri, MAX_DOCUMENT_LIST_FILE_BYTES, 'This document list'));
  if (list.sources.length === 0) {
    void showInfo(`${fileName} lists no files.`);
    return;
  }
  const inScope = kbsInScope(persona.id);
  const kb = inScope.includes(list.knowledgeBase) ? list.knowledgeBase : await pickKnowledgeBase(persona, inScope, await memory.documents(), `Add the files of ${fileName} to which memory?`);
  if (!kb) return;

  const found = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Persona: looking for the files of the list' }, () => findInFolder(folder.uri.fsPath, list.sources));
  const have = new Set((await memory.documents()).filter((d) => d.kb === kb).map((d) => d.source));
  const toAdd = found.found.filter((f) => !have.has(f.source));
  const already = found.found.length - toAdd.length;
  for (const s of found.missing) log.info(`Memory file list ${fileName}: ${s} is not in ${folder.name}.`);
  for (const s of found.outside) log.warn(`Memory file list ${fileName}: ${s} leads outside ${folder.name} and is refused.`);

  const where = kbText(kb, persona);
  const lines: string[] = [];
  if (toAdd.length > 0) lines.push(`${filesText(toAdd.length)} will be added to ${where}${kb === WORKSPACE_KB ? ', which every persona draws on' : `, which only ${persona.name}'s chats draw on`}, and indexed.`);
  if (already > 0) lines.push(`${filesText(already)} ${already === 1 ? 'is' : 'are'} in it already and ${already === 1 ? 'is' : 'are'} left as ${already === 1 ? 'it is' : 'they are'}.`);
  if (found.missing.length > 0) lines.push(`${filesText(found.missing.length)} ${found.missing.length === 1 ? 'is' : 'are'} missing on this machine and left out: ${namesText(found.missing)}`);
  if (found.outside.length > 0) lines.push(`${filesText(found.outside.length)} would lead outside the workspace folder (${folder.name}) and ${found.outside.length === 1 ? 'is' : 'are'} refused: ${namesText(found.outside)}`);
  const detail = lines.join('\n');
  if (toAdd.length === 0) {
    const message = found.found.length > 0 ? `Nothing to add: the files of ${fileName} that are here are in ${where} already.` : `None of the files of ${fileName} are in ${folder.name}.`;
    await (found.found.length > 0 ? showInfo(message, { modal: true, detail }) : showWarning(message, { modal: true, detail }));
    return;
  }
  const choice = await showInfo(`Add ${filesText(toAdd.length)} to ${where}?`, { modal: true, detail }, 'Add Files');
  if (choice !== 'Add Files') return;
  log.info(`Memory file list ${fileName}: adding ${toAdd.length} file(s) to ${kb}.`);
  await memory.add(
    toAdd.map((f) => f.uri),
    kb === WORKSPACE_KB ? undefined : persona,
  );
}

/**
 * Each source as a file inside `root`: the path itself and, for a link, where it leads must stay
 * inside (parseDocumentList has refused `..` and absolute paths; this holds even if it had not).
 * Directories count as missing: a list names files, and adding a folder would add all it holds.
 */
async function findInFolder(root: string, sources: readonly string[]): Promise<{ found: Array<{ source: string; uri: vscode.Uri }>; missing: string[]; outside: string[] }> {
  const realRoot = await fs.realpath(root).catch(() => root);
  const found: Array<{ source: string; uri: vscode.Uri }> = [];
  const missing: string[] = [];
  const outside: string[] = [];
  const lookUp = async (source: string): Promise<void> => {
    const abs = path.resolve(root, ...source.split('/'));
    if (!isInside(root, abs)) {
      outside.push(source);
      return;
    }
    let real: string;
    try {
      real = await fs.realpath(abs);
    } catch {
      missing.push(source);
      return;
    }
    if (!isInside(realRoot, real)) {
      outside.push(source);
      return;
    }
    const stat = await fs.stat(real).catch(() => undefined);
    if (stat?.isFile()) found.push({ source, uri: vscode.Uri.file(abs) });
    else missing.push(source);
  };
  for (let i = 0; i < sources.length; i += LOOKUPS_AT_ONCE) await Promise.all(sources.slice(i, i + LOOKUPS_AT_ONCE).map(lookUp));
  // In the list's order, whatever order the lookups finished in.
  const order = new Map(sources.map((s, i) => [s, i]));
  const byOrder = (a: string, b: string) => order.get(a)! - order.get(b)!;
  found.sort((a, b) => byOrder(a.source, b.source));
  missing.sort(byOrder);
  outside.sort(byOrder);
  return { found, missing, outside };
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

async function pickKnowledgeBase(persona: TransferPersona, kbs: readonly string[], docs: ReadonlyArray<{ kb: string }>, title: string): Promise<string | undefined> {
  const picked = await vscode.window.showQuickPick(
    kbs.map((kb) => {
      const n = docs.filter((d) => d.kb === kb).length;
      return {
        kb,
        label: kb === WORKSPACE_KB ? 'This workspace' : inertText(`${persona.name} only`),
        description: filesText(n),
        detail: kb === WORKSPACE_KB ? 'Shared by every persona' : inertText(`Only ${persona.name}'s chats draw on it`),
      };
    }),
    { title: inertText(title), placeHolder: 'Knowledge base' },
  );
  return picked?.kb;
}

/** "this workspace's memory" or "Sam's own memory". */
function kbText(kb: string, persona: TransferPersona): string {
  return kb === WORKSPACE_KB ? "this workspace's memory" : `${persona.name}'s own memory`;
}

/** Why sources were left out of a list: outside the workspace, or copies of files dropped on the chat. */
function leftOutText(sources: readonly string[], uploadsDir: string | undefined): string {
  if (sources.length === 0) return '';
  const uploads = uploadsDir ? `${uploadsDir.split(path.sep).join('/')}/` : undefined;
  const copies = uploads ? sources.filter((s) => s.startsWith(uploads)).length : 0;
  const outside = sources.length - copies;
  const parts = [];
  if (outside > 0) parts.push(`${filesText(outside)} outside the workspace`);
  if (copies > 0) parts.push(copies === 1 ? '1 copy of a file dropped on the chat' : `${copies.toLocaleString('en-US')} copies of files dropped on the chat`);
  return `${parts.join(' and ')}, which another machine would not have`;
}

// ---- reading and naming ---------------------------------------------------------------------------

/** The picked file's text; its size is checked first, so a wrong pick is never read into memory whole. */
async function readPicked(uri: vscode.Uri, maxBytes: number, what: 'This memories file' | 'This document list'): Promise<string> {
  const { size } = await vscode.workspace.fs.stat(uri);
  if (size > maxBytes) {
    const mb = (n: number) => `${Math.ceil(n / (1024 * 1024))} MB`;
    throw new MemoryTransferError('tooLarge', `${mb(size)}, at most ${mb(maxBytes)}`, `${what} is too large to import (${mb(size)}, at most ${mb(maxBytes)}). Nothing was imported.`);
  }
  return new TextDecoder('utf-8').decode(await vscode.workspace.fs.readFile(uri));
}

/** Where the dialogs open: the workspace's first folder, else the home folder. */
function defaultFolder(): vscode.Uri {
  return vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(os.homedir());
}

/** A persona's name as part of a file name. */
function fileBase(persona: TransferPersona): string {
  return persona.name.replace(/[^\p{L}\p{N} _-]+/gu, '').trim() || persona.id.replace(/[^\p{L}\p{N}_-]+/gu, '') || 'Persona';
}

function memoriesText(n: number): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? 'memory' : 'memories'}`;
}

function filesText(n: number): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? 'file' : 'files'}`;
}

/** The first names, and how many more. */
function namesText(names: readonly string[], separator = ', '): string {
  const shown = names.slice(0, NAMES_SHOWN).join(separator);
  return names.length > NAMES_SHOWN ? `${shown}, and ${(names.length - NAMES_SHOWN).toLocaleString('en-US')} more.` : `${shown}.`;
}

function short(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
