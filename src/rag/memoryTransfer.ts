// Export and import of what a persona remembers, to take it to another machine: its memory items,
// and the list of a knowledge base's documents (the paths, so the same files can be added there;
// never their text or vectors, which are made again from the files). Plain Node.
//
//   { "format": "persona-memory-items", "version": 1, "exportedAt": <ms>, "persona": { id, name },
//     "items": [{ "text", "pinned", "createdAt": <ms>, "origin"?: { "via", "conversationTitle"? } }] }
//   { "format": "persona-document-list", "version": 1, "exportedAt": <ms>, "knowledgeBase",
//     "documents": [{ "source": "docs/a.md", "docHash"? }] }
//
// Reading treats the file as hostile: one MemoryTransferError saying what is wrong and where, and
// nothing half-read is returned. Importing adds only what is new: an item that says the same as one
// the persona has is skipped and reported, never merged or overwritten (its pin included).
import * as z from 'zod/mini';
import { PersonaError } from '../util/personaError';
import { parseJson } from '../util/json';
import type { MemoryItems } from './itemRecall';
import { MEMORY_ITEM_MAX_CHARS, memoryItemText, sameFact, type MemoryItem, type MemoryItemOrigin } from './memoryItems';
import type { DocumentSummary } from './memoryStore';

export const MEMORY_ITEMS_FORMAT = 'persona-memory-items';
export const DOCUMENT_LIST_FORMAT = 'persona-document-list';
export const TRANSFER_VERSION = 1;

/** Items in one export at most: more than a persona is expected to keep (the panel is measured at 10,000). */
export const MAX_IMPORT_ITEMS = 25_000;
/** Room for MAX_IMPORT_ITEMS items of full length; a caller can check a file's size against it before reading it. */
export const MAX_MEMORY_ITEMS_FILE_BYTES = 64 * 1024 * 1024;
export const MAX_LIST_DOCUMENTS = 100_000;
export const MAX_DOCUMENT_LIST_FILE_BYTES = 32 * 1024 * 1024;
const MAX_SOURCE_CHARS = 4096;
/** The latest date a JS Date can hold. */
const MAX_TIME = 8.64e15;

export type MemoryTransferErrorReason = 'tooLarge' | 'notJson' | 'wrongFormat' | 'newerVersion' | 'invalid';

/** A file that cannot be imported (nothing was), or an export that would be too large; `detail` says what and where. */
export class MemoryTransferError extends PersonaError<MemoryTransferErrorReason> {
  override readonly name = 'MemoryTransferError';

  constructor(
    reason: MemoryTransferErrorReason,
    readonly detail: string,
    message: string,
  ) {
    super(reason, message);
  }
}

function importError(what: 'memories' | 'document list') {
  return (reason: MemoryTransferErrorReason, detail: string) => new MemoryTransferError(reason, detail, transferMessage(reason, detail, what));
}

function exportTooLarge(detail: string): MemoryTransferError {
  return new MemoryTransferError('tooLarge', detail, `This is too much to export in one file (${detail}).`);
}

function transferMessage(reason: MemoryTransferErrorReason, detail: string, what: 'memories' | 'document list'): string {
  const file = what === 'memories' ? 'This memories file' : 'This document list';
  switch (reason) {
    case 'tooLarge':
      return `${file} is too large to import (${detail}). Nothing was imported.`;
    case 'notJson':
      return `${file} is not readable JSON (${detail}). Export it again; nothing was imported.`;
    case 'wrongFormat':
      return `${file} cannot be imported: ${detail}. Nothing was imported.`;
    case 'newerVersion':
      return `${file} was exported by a newer version of Persona (${detail}). Update the Persona extension, then import it again.`;
    case 'invalid':
      return `${file} cannot be imported: ${detail}. Fix it or export it again; nothing was imported.`;
  }
}

// ---- memory items ----------------------------------------------------------------------------------

const ExportedOriginSchema = z.strictObject({
  via: z.enum(['palette', 'message', 'import']),
  conversationTitle: z.optional(z.string().check(z.maxLength(500))),
});

const ExportedItemSchema = z.strictObject({
  // Its length is checked after the line ends are made `\n` and the ends trimmed, as the store keeps it.
  text: z.string(),
  pinned: z.optional(z.boolean()),
  createdAt: z.optional(z.int().check(z.gte(0), z.lte(MAX_TIME))),
  origin: z.optional(ExportedOriginSchema),
});

const MemoryItemsFileSchema = z.strictObject({
  format: z.literal(MEMORY_ITEMS_FORMAT),
  version: z.literal(TRANSFER_VERSION),
  exportedAt: z.optional(z.int().check(z.gte(0), z.lte(MAX_TIME))),
  persona: z.optional(z.strictObject({ id: z.optional(z.string().check(z.maxLength(200))), name: z.string().check(z.maxLength(500)) })),
  items: z.array(ExportedItemSchema),
});

/** An item as a file carries it: no id (the importing side makes its own), no conversation or message ids. */
export interface ExportedMemoryItem {
  text: string;
  pinned: boolean;
  createdAt?: number;
  origin?: { via: MemoryItemOrigin['via']; conversationTitle?: string };
}

export interface MemoryItemsExport {
  exportedAt?: number;
  /** The persona the items were exported from, to tell the person; not where they go. */
  persona?: { id?: string; name: string };
  items: ExportedMemoryItem[];
}

/**
 * The persona's items as a file a person can read. Left out: item ids and the ids of the
 * conversation and message an item was taken from: they name records of this machine only, and an
 * imported item carrying them would be caught by "forget this conversation" of an unrelated chat.
 * The conversation's title stays: the panel shows it as where the fact came from.
 */
export function exportMemoryItems(items: readonly MemoryItem[], persona: { id: string; name: string }, now = Date.now()): string {
  if (items.length > MAX_IMPORT_ITEMS) {
    throw exportTooLarge(`${count(items.length)} memories, and a file holds at most ${count(MAX_IMPORT_ITEMS)}: forget some first`);
  }
  const file = {
    format: MEMORY_ITEMS_FORMAT,
    version: TRANSFER_VERSION,
    exportedAt: now,
    persona: { id: persona.id, name: persona.name },
    items: items.map((i) => ({
      text: i.text,
      pinned: i.pinned === true,
      createdAt: i.createdAt,
      ...(i.origin ? { origin: { via: i.origin.via, ...(i.origin.conversationTitle !== undefined ? { conversationTitle: i.origin.conversationTitle } : {}) } } : {}),
    })),
  };
  const text = `${JSON.stringify(file, null, 2)}\n`;
  // Never a file this side would refuse to read back.
  if (Buffer.byteLength(text) > MAX_MEMORY_ITEMS_FILE_BYTES) throw exportTooLarge(`${megabytes(Buffer.byteLength(text))}, and a file holds at most ${megabytes(MAX_MEMORY_ITEMS_FILE_BYTES)}: forget some first`);
  return text;
}

/** A memories file checked through: every item valid, or MemoryTransferError and nothing. Texts come back as the store keeps them. */
export function parseMemoryItemsExport(text: string): MemoryItemsExport {
  const fail = importError('memories');
  const value = readTransferJson(text, MAX_MEMORY_ITEMS_FILE_BYTES, MEMORY_ITEMS_FORMAT, fail);
  if (Array.isArray(value.items) && value.items.length > MAX_IMPORT_ITEMS) {
    throw fail('tooLarge', `${count(value.items.length)} memories, at most ${count(MAX_IMPORT_ITEMS)} at once`);
  }
  const parsed = MemoryItemsFileSchema.safeParse(value);
  if (!parsed.success) throw fail('invalid', describeIssues(parsed.error, value, { items: 'item' }));

  const problems: string[] = [];
  const items: ExportedMemoryItem[] = [];
  parsed.data.items.forEach((raw, i) => {
    let clean: string;
    try {
      clean = memoryItemText(raw.text);
    } catch {
      const length = raw.text.replace(/\r\n?/g, '\n').trim().length;
      problems.push(length === 0 ? `item ${i + 1}: text is empty` : `item ${i + 1}: text has ${count(length)} characters (a memory holds at most ${count(MEMORY_ITEM_MAX_CHARS)})`);
      return;
    }
    items.push({
      text: clean,
      pinned: raw.pinned === true,
      ...(raw.createdAt !== undefined ? { createdAt: raw.createdAt } : {}),
      ...(raw.origin ? { origin: raw.origin } : {}),
    });
  });
  if (problems.length > 0) throw fail('invalid', listProblems(problems));
  return {
    ...(parsed.data.exportedAt !== undefined ? { exportedAt: parsed.data.exportedAt } : {}),
    ...(parsed.data.persona ? { persona: parsed.data.persona } : {}),
    items,
  };
}

export interface PlannedItem {
  /** 1-based place in the file, as the person counts. */
  position: number;
  item: ExportedMemoryItem;
}

export interface PlannedDuplicate extends PlannedItem {
  /** The persona's item that says the same; absent when it repeats an earlier item of the file (`repeats`). */
  existing?: MemoryItem;
  /** The position of the earlier item of the file it repeats. */
  repeats?: number;
}

export interface MemoryItemsImportPlan {
  from?: MemoryItemsExport['persona'];
  /** Items the persona does not have: what an import adds. */
  add: PlannedItem[];
  /** Items skipped: the persona has them already (left exactly as they are), or the file repeats them. */
  duplicates: PlannedDuplicate[];
  /** Duplicates whose pin differs from the persona's item: reported, the persona's pin is kept. */
  pinDiffers: Array<PlannedDuplicate & { existing: MemoryItem }>;
}

/** What importing `incoming` into a persona that has `existing` would do; changes nothing. */
export function planMemoryItemsImport(existing: readonly MemoryItem[], incoming: MemoryItemsExport): MemoryItemsImportPlan {
  const plan: MemoryItemsImportPlan = { ...(incoming.persona ? { from: incoming.persona } : {}), add: [], duplicates: [], pinDiffers: [] };
  incoming.items.forEach((item, i) => {
    const position = i + 1;
    const have = existing.find((e) => sameFact(e.text, item.text));
    if (have) {
      const dup = { position, item, existing: have };
      plan.duplicates.push(dup);
      if ((have.pinned === true) !== item.pinned) plan.pinDiffers.push(dup);
      return;
    }
    const earlier = plan.add.find((a) => sameFact(a.item.text, item.text));
    if (earlier) plan.duplicates.push({ position, item, repeats: earlier.position });
    else plan.add.push({ position, item });
  });
  return plan;
}

export interface MemoryItemsImportResult {
  added: MemoryItem[];
  /** Planned as new but the persona had them by the time of the import (remembered meanwhile): skipped. */
  skipped: Array<{ text: string; existing: MemoryItem }>;
  /** False when some added items wait to be embedded on later turns (server down, or `signal` aborted). */
  embedded: boolean;
}

/**
 * Adds the plan's new items to the persona, pin and conversation title kept, marked as imported: one
 * write of the record file, so all of them or none. Nothing the persona has is changed.
 */
export async function importMemoryItems(service: Pick<MemoryItems, 'addMany'>, personaId: string, plan: MemoryItemsImportPlan, signal?: AbortSignal): Promise<MemoryItemsImportResult> {
  if (plan.add.length === 0) return { added: [], skipped: [], embedded: true };
  return service.addMany(
    personaId,
    plan.add.map(({ item }) => ({
      text: item.text,
      pinned: item.pinned,
      ...(item.createdAt !== undefined ? { createdAt: item.createdAt } : {}),
      origin: { via: 'import', ...(item.origin?.conversationTitle !== undefined ? { conversationTitle: item.origin.conversationTitle } : {}) },
    })),
    signal,
  );
}

// ---- document lists --------------------------------------------------------------------------------

const DocumentListFileSchema = z.strictObject({
  format: z.literal(DOCUMENT_LIST_FORMAT),
  version: z.literal(TRANSFER_VERSION),
  exportedAt: z.optional(z.int().check(z.gte(0), z.lte(MAX_TIME))),
  knowledgeBase: z.string().check(z.minLength(1), z.maxLength(300)),
  documents: z.array(
    z.strictObject({
      // Checked by sourceProblem, for a message that says what is wrong with the path.
      source: z.string(),
      docHash: z.optional(z.string().check(z.regex(/^[0-9a-f]{16,128}$/))),
    }),
  ),
});

export interface DocumentListImport {
  knowledgeBase: string;
  exportedAt?: number;
  documents: Array<{ source: string; docHash?: string }>;
  /** What to add, workspace-relative with `/`, each once, in the file's order. */
  sources: string[];
}

/**
 * Why `source` cannot be named in a document list, or undefined when it can: only a plain
 * workspace-relative path with `/` means the same file on another machine. An absolute path (a file
 * outside the workspace, an upload copy in this machine's storage) does not.
 */
export function sourceProblem(source: string): string | undefined {
  if (source === '') return 'is empty';
  if (source.length > MAX_SOURCE_CHARS) return `is longer than ${count(MAX_SOURCE_CHARS)} characters`;
  if (/[\u0000-\u001f\u007f]/.test(source)) return 'holds a control character';
  if (/^[A-Za-z]:/.test(source)) return 'starts with a drive letter (only paths inside the workspace can be added)';
  if (source.startsWith('/')) return 'is absolute (only paths inside the workspace can be added)';
  if (source.includes('\\')) return 'has a backslash (paths in a document list are written with /)';
  const parts = source.split('/');
  if (parts.includes('..')) return 'goes up out of the workspace (..)';
  if (parts.some((p) => p === '' || p === '.')) return 'has an empty or "." part';
  return undefined;
}

/** Whether a document of this source goes into an exported list (see sourceProblem). */
export function isPortableSource(source: string): boolean {
  return sourceProblem(source) === undefined;
}

/**
 * The documents of knowledge base `kb` as a list to add the same files elsewhere: workspace-relative
 * paths only (documents outside the workspace are left out: `isPortableSource` tells which), with
 * the content hash so the other side can tell whether its file is the same.
 */
export function exportDocumentList(docs: ReadonlyArray<Pick<DocumentSummary, 'source' | 'kb' | 'docHash'>>, kb: string, now = Date.now()): string {
  const seen = new Set<string>();
  const documents: Array<{ source: string; docHash?: string }> = [];
  for (const d of [...docs].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0))) {
    if (d.kb !== kb || !isPortableSource(d.source) || seen.has(d.source)) continue;
    seen.add(d.source);
    documents.push({ source: d.source, ...(/^[0-9a-f]{16,128}$/.test(d.docHash) ? { docHash: d.docHash } : {}) });
  }
  if (documents.length > MAX_LIST_DOCUMENTS) {
    throw exportTooLarge(`${count(documents.length)} documents, and a list holds at most ${count(MAX_LIST_DOCUMENTS)}`);
  }
  return `${JSON.stringify({ format: DOCUMENT_LIST_FORMAT, version: TRANSFER_VERSION, exportedAt: now, knowledgeBase: kb, documents }, null, 2)}\n`;
}

/**
 * A document list checked through: every path a plain workspace-relative one, or MemoryTransferError
 * and nothing. The caller still resolves each source inside the workspace folder it adds to.
 */
export function parseDocumentList(text: string): DocumentListImport {
  const fail = importError('document list');
  const value = readTransferJson(text, MAX_DOCUMENT_LIST_FILE_BYTES, DOCUMENT_LIST_FORMAT, fail);
  if (Array.isArray(value.documents) && value.documents.length > MAX_LIST_DOCUMENTS) {
    throw fail('tooLarge', `${count(value.documents.length)} documents, at most ${count(MAX_LIST_DOCUMENTS)} at once`);
  }
  const parsed = DocumentListFileSchema.safeParse(value);
  if (!parsed.success) throw fail('invalid', describeIssues(parsed.error, value, { documents: 'document' }));
  const problems: string[] = [];
  const sources: string[] = [];
  const seen = new Set<string>();
  parsed.data.documents.forEach((d, i) => {
    const problem = sourceProblem(d.source);
    if (problem) problems.push(`document ${i + 1}: the path ${JSON.stringify(d.source.slice(0, 120))} ${problem}`);
    else if (!seen.has(d.source)) {
      seen.add(d.source);
      sources.push(d.source);
    }
  });
  if (problems.length > 0) throw fail('invalid', listProblems(problems));
  return {
    knowledgeBase: parsed.data.knowledgeBase,
    ...(parsed.data.exportedAt !== undefined ? { exportedAt: parsed.data.exportedAt } : {}),
    documents: parsed.data.documents.map((d) => ({ source: d.source, ...(d.docHash !== undefined ? { docHash: d.docHash } : {}) })),
    sources,
  };
}

// ---- reading -----------------------------------------------------------------------------------------

/** The file's JSON object once its size, syntax, format tag and version are right. */
function readTransferJson(
  text: string,
  maxBytes: number,
  format: string,
  fail: (reason: MemoryTransferErrorReason, detail: string) => MemoryTransferError,
): Record<string, unknown> {
  // UTF-16 length never exceeds the UTF-8 size: the cheap test first.
  if (text.length > maxBytes || Buffer.byteLength(text) > maxBytes) throw fail('tooLarge', `more than ${megabytes(maxBytes)}`);
  const json = parseJson(text.replace(/^\uFEFF/, ''));
  if (!json.ok) throw fail('notJson', 'it could not be parsed');
  const value = json.value;
  if (!isRecord(value)) throw fail('wrongFormat', `it is not a Persona export (it should be an object with "format": "${format}")`);
  if (value.format !== format) {
    const other = value.format === MEMORY_ITEMS_FORMAT ? ' (this is a memories file, not a document list)' : value.format === DOCUMENT_LIST_FORMAT ? ' (this is a document list, not a memories file)' : '';
    throw fail('wrongFormat', `its "format" should be "${format}"${other}`);
  }
  const version = value.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) throw fail('invalid', '"version" is missing or not a whole number');
  if (version > TRANSFER_VERSION) throw fail('newerVersion', `format version ${version}, and this Persona reads version ${TRANSFER_VERSION}`);
  return value;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The value at `path` in `root`, to tell a missing field from a wrong one. */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

const expectedWords: Record<string, string> = {
  boolean: 'true or false',
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  object: 'an object',
  array: 'a list',
};

/**
 * Issues as a person reads them: "item 3: pinned should be true or false". `lists` names the
 * entries of each list field ({ items: 'item' }), counted from 1.
 */
function describeIssues(error: z.core.$ZodError, root: unknown, lists: Record<string, string>): string {
  return listProblems(error.issues.map((issue) => describeIssue(issue, root, lists)));
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown, lists: Record<string, string>): string {
  const path = issue.path;
  const [head, index, ...rest] = path;
  const inList = typeof head === 'string' && lists[head] !== undefined && typeof index === 'number';
  const field = (inList ? rest : path).map(String).join('.');
  const said = (text: string) => (inList ? `${lists[head]} ${index + 1}: ${field || 'it'} ${text}` : `${field ? `"${field}"` : 'the file'} ${text}`);
  switch (issue.code) {
    case 'invalid_type':
      return said(valueAt(root, path) === undefined ? 'is missing' : `should be ${expectedWords[issue.expected] ?? issue.expected}`);
    case 'too_small':
      return said(issue.origin === 'string' && Number(issue.minimum) <= 1 ? 'is empty' : `should be at least ${String(issue.minimum)}`);
    case 'too_big':
      return said(issue.origin === 'string' ? `is longer than ${count(Number(issue.maximum))} characters` : `should be at most ${String(issue.maximum)}`);
    case 'unrecognized_keys':
      return said(`has an unknown field ${issue.keys.map((k) => JSON.stringify(k.slice(0, 60))).join(', ')}`);
    case 'invalid_value':
      return said(`should be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`);
    case 'invalid_format':
      return said('is not in the expected form');
    default:
      return said('is invalid');
  }
}

/** The first three problems, and how many more. */
function listProblems(problems: readonly string[]): string {
  const shown = problems.slice(0, 3).join('; ');
  return problems.length > 3 ? `${shown}; and ${problems.length - 3} more` : shown;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

function megabytes(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MB`;
}
