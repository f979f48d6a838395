// The memory panel's protocol: what a persona draws on in this workspace — its knowledge bases, their
// documents page by page and a document's chunks — the same search a chat turn runs, with scores, and
// what the persona remembers from the chat (pin, edit, forget), and export and import of both. Lists come in pages: a knowledge base
// of 10,000 documents never crosses the boundary whole.
import { SourcePlaceSchema } from './sourcePlace';
import * as z from 'zod/mini';
import { MEMORY_ITEM_TEXT_MAX } from './conversation';
import { EffectiveMemoryDialsSchema, MEMORY_DIAL_KEYS, type MemoryDialKey } from './memoryDials';
import { defineProtocol, notification, request, WAITS_ON_PERSON, type IncomingNotificationOf, type IncomingRequestOf } from './rpc';

/** Rows one documents request may ask for. */
export const DOCUMENT_PAGE_MAX = 500;

export const KnowledgeBaseSchema = z.object({
  id: z.string().check(z.maxLength(300)),
  /** "This workspace" or "Sam only". */
  label: z.string().check(z.maxLength(300)),
  documents: z.int().check(z.gte(0)),
  chunks: z.int().check(z.gte(0)),
});
export type KnowledgeBaseInfo = z.infer<typeof KnowledgeBaseSchema>;

export const ItemRowSchema = z.object({
  id: z.string().check(z.maxLength(100)),
  text: z.string().check(z.maxLength(MEMORY_ITEM_TEXT_MAX)),
  pinned: z.boolean(),
  /** Where it came from and when, in words ("from “Trip plans” · Dec 4, 2026"). */
  origin: z.string().check(z.maxLength(700)),
  tokens: z.int().check(z.gte(0)),
});
export type ItemRow = z.infer<typeof ItemRowSchema>;

export const MemoryPanelStateSchema = z.object({
  personaId: z.string(),
  personaName: z.string(),
  /** False without a folder open: knowledge bases of files are kept per workspace. */
  workspace: z.boolean(),
  /** The embeddings model memory is kept for; absent before anything was indexed. */
  model: z.optional(z.string()),
  /** One line on what memory is doing (indexing 3 of 10, paused because …). */
  status: z.optional(z.string()),
  knowledgeBases: z.array(KnowledgeBaseSchema),
  /** The persona's memories: how many, and what the pinned ones cost; the rows come a page at a time (`items`). */
  itemCount: z.int().check(z.gte(0)),
  pinned: z.object({ count: z.int().check(z.gte(0)), tokens: z.int().check(z.gte(0)) }),
  /** Bumped on every change of the memories: the panel drops the pages it holds. */
  itemsVersion: z.int(),
  /** The memory token budget of a turn: what the pins are measured against. */
  tokenBudget: z.int().check(z.gte(0)),
  /** How the persona recalls in a new chat: your settings below the persona's own dials ('persona'). */
  dials: EffectiveMemoryDialsSchema,
  /** Bumped on every change of the documents: the panel drops the pages it holds. */
  documentsVersion: z.int(),
});
export type MemoryPanelState = z.infer<typeof MemoryPanelStateSchema>;

export const DocumentRowSchema = z.object({
  source: z.string(),
  kb: z.string(),
  state: z.enum(['ready', 'queued', 'indexing', 'failed']),
  /** Why it failed. */
  reason: z.optional(z.string()),
  chunks: z.int().check(z.gte(0)),
  tokens: z.int().check(z.gte(0)),
  /** Epoch milliseconds of the indexing that wrote it. */
  indexedAt: z.optional(z.number()),
});
export type DocumentRow = z.infer<typeof DocumentRowSchema>;

export const ChunkRowSchema = z.object({
  index: z.int().check(z.gte(0)),
  startLine: z.int(),
  endLine: z.int(),
  tokens: z.int().check(z.gte(0)),
  text: z.string(),
  place: z.optional(SourcePlaceSchema),
});
export type ChunkRow = z.infer<typeof ChunkRowSchema>;

export const SearchResultSchema = z.object({
  passages: z.array(
    z.object({
      source: z.string(),
      kb: z.string(),
      startLine: z.int(),
      endLine: z.int(),
      place: z.optional(SourcePlaceSchema),
      score: z.number(),
      via: z.enum(['vector', 'text', 'both']),
      text: z.string(),
    }),
  ),
  /** The memory items a turn would be given for it: pinned ones always, then the nearest. */
  items: z.array(z.object({ id: z.string(), text: z.string(), pinned: z.boolean(), score: z.optional(z.number()) })),
  /** Why nothing (or only part) could be searched. */
  note: z.optional(z.string()),
});
export type SearchResult = z.infer<typeof SearchResultSchema>;

const Empty = z.object({});
const Void = z.null();
const DocumentRef = z.object({ kb: z.string().check(z.maxLength(300)), source: z.string().check(z.minLength(1), z.maxLength(4096)) });
const ItemRef = z.object({ id: z.string().check(z.minLength(1), z.maxLength(100)) });

export const MemoryPanelRequests = {
  ready: request('memoryPanel/ready', Empty, MemoryPanelStateSchema, { timeoutMs: 30_000 }),
  /** A page of a knowledge base's documents, by source, optionally only those whose path contains `filter`. */
  documents: request(
    'memoryPanel/documents',
    z.object({
      kb: z.string().check(z.maxLength(300)),
      offset: z.int().check(z.gte(0)),
      limit: z.int().check(z.gte(1), z.lte(DOCUMENT_PAGE_MAX)),
      filter: z.optional(z.string().check(z.maxLength(500))),
    }),
    z.object({ total: z.int().check(z.gte(0)), documents: z.array(DocumentRowSchema) }),
  ),
  chunks: request('memoryPanel/chunks', DocumentRef, z.object({ chunks: z.array(ChunkRowSchema) })),
  /** A page of the persona's memories, pinned first then the newest, optionally only those holding `filter`. */
  items: request(
    'memoryPanel/items',
    z.object({ offset: z.int().check(z.gte(0)), limit: z.int().check(z.gte(1), z.lte(DOCUMENT_PAGE_MAX)), filter: z.optional(z.string().check(z.maxLength(500))) }),
    z.object({ total: z.int().check(z.gte(0)), items: z.array(ItemRowSchema) }),
  ),
  search: request('memoryPanel/search', z.object({ query: z.string().check(z.minLength(1), z.maxLength(4000)) }), SearchResultSchema, { timeoutMs: 60_000 }),
  /** Opens the file at a line (only a document that is in memory). */
  open: request('memoryPanel/open', z.object({ source: z.string().check(z.minLength(1), z.maxLength(4096)), line: z.optional(z.int().check(z.gte(1))), place: z.optional(SourcePlaceSchema) }), Void),
  /** Asks, then forgets the document (in every knowledge base) from the disk. */
  forgetDocument: request('memoryPanel/forgetDocument', DocumentRef, Void, WAITS_ON_PERSON),
  /** Asks, then forgets one chunk of a document from the disk. */
  forgetChunk: request('memoryPanel/forgetChunk', z.object({ kb: z.string().check(z.maxLength(300)), source: z.string().check(z.minLength(1), z.maxLength(4096)), index: z.int().check(z.gte(0)) }), Void, WAITS_ON_PERSON),
  addFiles: request('memoryPanel/addFiles', Empty, Void, WAITS_ON_PERSON),
  /** Asks for the text, then keeps it for the persona. */
  remember: request('memoryPanel/remember', Empty, Void, WAITS_ON_PERSON),
  setPinned: request('memoryPanel/setPinned', z.object({ id: z.string().check(z.minLength(1), z.maxLength(100)), pinned: z.boolean() }), Void),
  editItem: request('memoryPanel/editItem', z.object({ id: z.string().check(z.minLength(1), z.maxLength(100)), text: z.string().check(z.minLength(1), z.maxLength(MEMORY_ITEM_TEXT_MAX)) }), Void),
  /** Sets (or, with null, takes away) one of the persona's own memory dials. */
  setPersonaDial: request(
    'memoryPanel/setPersonaDial',
    z.object({ key: z.enum(MEMORY_DIAL_KEYS as [MemoryDialKey, ...MemoryDialKey[]]), value: z.union([z.number(), z.boolean(), z.null()]) }),
    Void,
  ),
  /** Asks, then forgets the memory item from the disk. */
  forgetItem: request('memoryPanel/forgetItem', ItemRef, Void, WAITS_ON_PERSON),
  /** Asks where, then writes the persona's memories to a file (the command Export Memories of the Current Persona…). */
  exportItems: request('memoryPanel/exportItems', Empty, Void, WAITS_ON_PERSON),
  /** Asks for a memories file, says what it would add and skip, and adds the new ones after a yes. */
  importItems: request('memoryPanel/importItems', Empty, Void, WAITS_ON_PERSON),
  /** Asks where, then writes the list of files of the knowledge base `kb` (one in scope). */
  exportDocumentList: request('memoryPanel/exportDocumentList', z.object({ kb: z.string().check(z.minLength(1), z.maxLength(300)) }), Void, WAITS_ON_PERSON),
  /** Asks for a file list, says which of its files are here and where they go, and adds them after a yes. */
  importDocumentList: request('memoryPanel/importDocumentList', Empty, Void, WAITS_ON_PERSON),
} as const;

export const MemoryPanelNotifications = {
  state: notification('memoryPanel/state', MemoryPanelStateSchema),
} as const;

export const MemoryPanelProtocol = defineProtocol({ requests: MemoryPanelRequests, notifications: MemoryPanelNotifications, ready: 'ready' });
export type IncomingMemoryPanelRequest = IncomingRequestOf<typeof MemoryPanelRequests>;
export type IncomingMemoryPanelNotification = IncomingNotificationOf<typeof MemoryPanelNotifications>;
