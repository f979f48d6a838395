// The chat view's protocol (see rpc.ts for the envelopes), imported by both bundles: every message
// the sidebar view and its host exchange is declared here once.
import { SourcePlaceSchema } from './sourcePlace';
import * as z from 'zod/mini';
import { EffectiveMemoryDialsSchema, MEMORY_DIAL_KEYS, type MemoryDialKey } from './memoryDials';
import { ConversationSchema, ConversationSummarySchema, MAX_PROPOSALS, MEMORY_ITEM_TEXT_MAX, MessageSchema } from './conversation';
import { PersonaSummarySchema } from './persona';
import { EffectiveSettingsSchema, SETTING_KEYS, type SettingKey as SettingKeyName } from './sampling';
import { defineProtocol, notification, request, WAITS_ON_PERSON, type IncomingNotificationOf, type IncomingRequestOf } from './rpc';

// ---- shared shapes -------------------------------------------------------------------------------

export const ConnectionStateSchema = z.object({
  status: z.enum(['unknown', 'checking', 'ok', 'down', 'error']),
  /** What a person can act on, e.g. "LM Studio is not running at …". */
  message: z.optional(z.string()),
  provider: z.enum(['local', 'cloud']),
  baseUrl: z.string(),
  /** The name of the endpoint of persona.endpoints in use, if one is. */
  endpoint: z.optional(z.string().check(z.maxLength(100))),
  /** The server takes top_k, min_p and repeat_penalty. */
  extendedSampling: z.optional(z.boolean()),
  model: z.optional(z.string()),
});
export type ConnectionState = z.infer<typeof ConnectionStateSchema>;

export const StreamingSchema = z.object({
  conversationId: z.string(),
  messageId: z.string(),
  /** A short number that `chat/delta` notifications use instead of the two ids. */
  stream: z.int().check(z.gte(0)),
  /** The server is loading this model for the reply (it was not loaded): the first token waits for it. */
  loadingModel: z.optional(z.string().check(z.maxLength(300))),
});

/** The workspace memory as the view shows it: a line under the header and the per-chat switch. */
export const MemoryStatusSchema = z.object({
  /**
   * off: no memory in this window (none set up, or a virtual workspace); checking: not looked at
   * yet (the view never waits for memory; the real status follows); unavailable: LanceDB cannot
   * run here, or memory could not open; empty: nothing added yet; ready; indexing; paused (e.g. the
   * embeddings server is down).
   */
  status: z.enum(['off', 'checking', 'unavailable', 'empty', 'ready', 'indexing', 'paused']),
  /** Documents in memory (ready/indexing/paused). */
  documents: z.optional(z.int().check(z.gte(0))),
  /** e.g. "Indexing 12 of 40 files" or why it is paused; says what to do. */
  message: z.optional(z.string()),
  /** The team memory, when one is set up: its files, or why it cannot be read. */
  team: z.optional(z.object({ documents: z.optional(z.int().check(z.gte(0))), message: z.optional(z.string().check(z.maxLength(2000))) })),
});
export type MemoryStatus = z.infer<typeof MemoryStatusSchema>;

const viewFields = {
  personas: z.array(PersonaSummarySchema),
  activePersonaId: z.string(),
  conversations: z.array(ConversationSummarySchema),
  streaming: z.nullable(StreamingSchema),
  connection: ConnectionStateSchema,
  memory: MemoryStatusSchema,
  /** The active chat's model and sampling in effect, each with where it comes from. */
  settings: EffectiveSettingsSchema,
  /** How memory is recalled for this chat, each dial with where its value comes from. */
  memoryDials: EffectiveMemoryDialsSchema,
};

/** Everything the view shows; the answer to `webview/ready`. */
/**
 * The active conversation as the view holds it: the displayed path from some message to its end.
 * A long chat is sent as its last messages only, and `earlier` says how many come before them
 * (the view asks for them with `conversation/earlier` as the person scrolls up).
 */
export const ConversationViewSchema = z.extend(ConversationSchema, { earlier: z.optional(z.int().check(z.gte(1))) });
export type ConversationView = z.infer<typeof ConversationViewSchema>;

export const ViewStateSchema = z.object({ ...viewFields, conversation: z.nullable(ConversationViewSchema) });
export type ViewState = z.infer<typeof ViewStateSchema>;

/** A message the webview already has the text of (it came in `chat/delta`s) is sent without it. */
export const MessagePatchSchema = z.extend(MessageSchema, { content: z.optional(z.string()) });

/**
 * The active conversation as a change to what the webview has: its first `keep` messages stay,
 * the rest are replaced by `tail`. Sending, regenerating and editing all change only the end.
 */
export const ConversationPatchSchema = z.object({
  id: z.string(),
  title: z.string(),
  personaId: z.string(),
  personaName: z.optional(z.string()),
  createdAt: z.number(),
  updatedAt: z.number(),
  memory: z.optional(z.boolean()),
  personaVersion: z.optional(z.int()),
  earlier: z.optional(z.int().check(z.gte(1))),
  keep: z.int().check(z.gte(0)),
  tail: z.array(MessagePatchSchema),
});
export type ConversationPatch = z.infer<typeof ConversationPatchSchema>;

/** `state/changed`: a field left out is unchanged since the last state the webview got. */
export const StateUpdateSchema = z.object({
  activePersonaId: viewFields.activePersonaId,
  streaming: viewFields.streaming,
  connection: viewFields.connection,
  memory: viewFields.memory,
  memoryDials: z.optional(viewFields.memoryDials),
  settings: z.optional(viewFields.settings),
  personas: z.optional(viewFields.personas),
  conversations: z.optional(viewFields.conversations),
  conversation: z.optional(z.union([z.object({ full: ConversationViewSchema }), z.object({ patch: ConversationPatchSchema }), z.null()])),
});
export type StateUpdate = z.infer<typeof StateUpdateSchema>;

/** A long chat leaves hundreds of turns out: the meter lists the newest of them, not every one. */
export const MAX_LEFT_OUT_PREVIEWS = 20;

export const ContextEstimateSchema = z.object({
  /** Tokens the request would take, the reply's room included; corrected by the server's own count of the last reply where it gave one. */
  used: z.int().check(z.gte(0)),
  /** The model's loaded context; absent: the server does not say. */
  limit: z.optional(z.int().check(z.gt(0))),
  parts: z.object({
    system: z.int(),
    lorebook: z.int(),
    examples: z.int(),
    /** Room kept for memory passages: the most they may add (they are found when the message is sent). */
    memory: z.int(),
    history: z.int(),
    draft: z.int(),
    reply: z.int(),
  }),
  /** How many of the oldest turns would be left out to fit. */
  leftOutCount: z.int().check(z.gte(0)),
  /** The newest of them (at most MAX_LEFT_OUT_PREVIEWS, the ones just before what is kept): a short preview of each. */
  leftOut: z.array(z.object({ role: z.enum(['user', 'assistant']), preview: z.string().check(z.maxLength(200)) })).check(z.maxLength(50)),
  /** The request does not fit even with all history left out. */
  overflow: z.optional(z.boolean()),
});
export type ContextEstimate = z.infer<typeof ContextEstimateSchema>;

const Empty = z.object({});
const Void = z.null();
const Id = z.string().check(z.minLength(1), z.maxLength(100));
const MAX_MESSAGE_CHARS = 200_000;
const UserText = z.string().check(z.minLength(1), z.maxLength(MAX_MESSAGE_CHARS));
/** The host answers ready from what it holds, in milliseconds: past this something is wrong, and the view says so. */
const READY_TIMEOUT_MS = 10_000;
/** A dropped file travels as base64 in one message: cards are at most 20 MB (MAX_CARD_FILE_BYTES). */
export const MAX_DROPPED_FILE_BYTES = 20 * 1024 * 1024;
export const MAX_DROPPED_FILES = 10;

// ---- requests (webview → host) -------------------------------------------------------------------

export const Requests = {
  ready: request('webview/ready', Empty, ViewStateSchema, { timeoutMs: READY_TIMEOUT_MS }),
  send: request('chat/send', z.object({ text: UserText }), z.object({ messageId: z.string() })),
  stop: request('chat/stop', Empty, Void),
  /** A new reply in place of `messageId` (the latest reply without it); the old one stays as an alternative. */
  regenerate: request('chat/regenerate', z.object({ messageId: z.optional(Id) }), Void),
  /** Shows the previous (-1) or next (1) alternative of a message. */
  showAlternative: request('chat/showAlternative', z.object({ messageId: Id, delta: z.union([z.literal(-1), z.literal(1)]) }), Void),
  edit: request('chat/edit', z.object({ messageId: Id, text: UserText }), Void),
  /** "Go back to here": the chat ends at this message for now; what followed is hidden, not deleted. */
  goBackTo: request('chat/goBackTo', z.object({ messageId: Id }), Void),
  /** Shows again what "Go back to here" hid. */
  showHidden: request('chat/showHidden', Empty, Void),
  /**
   * `count` more of the messages before the first one the view holds, oldest first; null when the
   * view does not hold what the host thinks (another chat came in between): the state it gets next is whole.
   */
  loadEarlier: request(
    'conversation/earlier',
    z.object({ conversationId: Id, count: z.int().check(z.gte(1), z.lte(500)) }),
    z.nullable(z.object({ messages: z.array(MessageSchema), earlier: z.optional(z.int().check(z.gte(1))) })),
  ),
  newConversation: request('conversation/new', Empty, Void),
  selectConversation: request('conversation/select', z.object({ id: Id }), Void),
  renameConversation: request('conversation/rename', z.object({ id: Id, title: z.string().check(z.trim(), z.minLength(1), z.maxLength(200)) }), Void),
  /** Asks first. */
  deleteConversation: request('conversation/delete', z.object({ id: Id }), Void, WAITS_ON_PERSON),
  /** Opens a save dialog. */
  exportConversation: request('conversation/export', z.object({ id: Id, format: z.enum(['markdown', 'json']) }), Void, WAITS_ON_PERSON),
  /** Opens a file dialog: a chat exported as JSON comes back as a new chat. */
  importConversation: request('conversation/import', Empty, Void, WAITS_ON_PERSON),
  selectPersona: request('persona/select', z.object({ id: Id }), Void),
  /** Asks before opening the browser. */
  openLink: request('link/open', z.object({ href: z.string().check(z.maxLength(8_192)) }), Void, WAITS_ON_PERSON),
  copyCode: request('code/copy', z.object({ code: z.string().check(z.maxLength(MAX_MESSAGE_CHARS)) }), Void),
  insertCode: request('code/insert', z.object({ code: z.string().check(z.maxLength(MAX_MESSAGE_CHARS)) }), Void),
  retryConnection: request('connection/retry', Empty, Void),
  /**
   * A chat override: a number, a model id, or stop sequences; null takes the override away (the
   * value below applies again). The host checks the value against the setting's range.
   */
  setChatSetting: request(
    'chat/setSetting',
    z.object({
      key: z.enum(SETTING_KEYS as [SettingKeyName, ...SettingKeyName[]]),
      value: z.nullable(z.union([z.number(), z.string().check(z.maxLength(1000)), z.array(z.string().check(z.maxLength(1000))).check(z.maxLength(16))])),
    }),
    Void,
  ),
  /**
   * How much of the model's context the next request would use with this draft, counted like the
   * real request; memory (found when it is sent) counts as the most it may add.
   */
  estimateContext: request('context/estimate', z.object({ draft: z.string().check(z.maxLength(MAX_MESSAGE_CHARS)) }), ContextEstimateSchema),
  /** Asks for a name and saves the chat's model and sampling as a preset. */
  savePreset: request('preset/save', Empty, Void, WAITS_ON_PERSON),
  /** Asks which preset, and whether for this chat or the persona, and applies it. */
  applyPreset: request('preset/apply', Empty, Void, WAITS_ON_PERSON),
  /** Starts Persona: Compare… (it asks what to compare with, and the message). */
  compare: request('compare/start', Empty, Void, WAITS_ON_PERSON),
  /** Opens what was sent for a reply (an editor-area document). */
  showSent: request('chat/showSent', z.object({ messageId: Id }), Void),
  /** The model picker (a quick pick of the server's chat models) for the active chat. */
  pickModel: request('chat/pickModel', Empty, Void, WAITS_ON_PERSON),
  /** Memory on or off for the active chat. */
  setMemory: request('chat/setMemory', z.object({ enabled: z.boolean() }), Void),
  /** Opens a cited passage in an editor, at its lines. */
  openCitation: request(
    'memory/open',
    z.object({ source: z.string().check(z.minLength(1), z.maxLength(1000)), startLine: z.int().check(z.gte(1)), endLine: z.int().check(z.gte(1)), place: z.optional(SourcePlaceSchema) }),
    Void,
  ),
  /** A message's Remember action: the host asks for the text to keep (prefilled with the message's). */
  remember: request('memory/remember', z.object({ messageId: Id }), Void, WAITS_ON_PERSON),
  /** Sets (or, with null, takes away) this chat's own value of a memory dial. */
  setMemoryDial: request(
    'chat/setMemoryDial',
    z.object({ key: z.enum(MEMORY_DIAL_KEYS as [MemoryDialKey, ...MemoryDialKey[]]), value: z.union([z.number(), z.boolean(), z.null()]) }),
    Void,
  ),
  /** A proposed memory under a reply: kept (with the person's edit) or dismissed. */
  resolveProposal: request(
    'memory/resolveProposal',
    z.object({ messageId: Id, index: z.int().check(z.gte(0), z.lt(MAX_PROPOSALS)), action: z.enum(['keep', 'dismiss']), text: z.optional(z.string().check(z.minLength(1), z.maxLength(MEMORY_ITEM_TEXT_MAX))) }),
    Void,
  ),
  /** The memory line's "Memory panel" button: opens the panel for the chat's persona. */
  showMemoryPanel: request('memory/showPanel', Empty, Void),
  /** The "Add files" button: the host asks with a file picker. */
  addToMemory: request('memory/add', Empty, Void, WAITS_ON_PERSON),
  /** Files dropped on the view: a character card is imported (which may ask how), anything else goes to memory. */
  dropFiles: request(
    'files/drop',
    z.object({
      uris: z.array(z.string().check(z.minLength(1), z.maxLength(4096))).check(z.maxLength(100)),
      files: z
        .array(z.object({ name: z.string().check(z.minLength(1), z.maxLength(255)), data: z.base64().check(z.maxLength(Math.ceil(MAX_DROPPED_FILE_BYTES / 3) * 4)) }))
        .check(z.maxLength(MAX_DROPPED_FILES)),
    }),
    Void,
    WAITS_ON_PERSON,
  ),
} as const;

// ---- notifications (host → webview) --------------------------------------------------------------

export const Notifications = {
  /** What changed in the view state; sent after every structural change (never per token). */
  state: notification('state/changed', StateUpdateSchema),
  /**
   * Text appended to a streaming reply, as `[stream, offset, text]`; the host batches tokens. The
   * offset is the reply's length before this text: a webview that already has it (from a state
   * taken mid-stream) skips what it has, and one that sees a gap asks for the whole state again.
   */
  delta: notification('chat/delta', z.tuple([z.int().check(z.gte(0)), z.int().check(z.gte(0)), z.string()])),
  /** Scroll to a message of the conversation shown and focus it (a search hit opened from the palette). */
  reveal: notification('chat/reveal', z.object({ conversationId: Id, messageId: Id })),
} as const;

export const ChatProtocol = defineProtocol({ requests: Requests, notifications: Notifications, ready: 'ready' });

export type IncomingRequest = IncomingRequestOf<typeof Requests>;
export type IncomingNotification = IncomingNotificationOf<typeof Notifications>;
