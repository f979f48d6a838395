// The host↔webview protocol, imported by both bundles. Every message is declared here once, as a
// value with a method id (`area/verb`) and zod schemas; both sides validate what they receive.
//
//   webview → host:  { id, method, params }
//   host → webview:  { id, ok: true, result } | { id, ok: false, error }      (the answer to a request)
//                    { method, params }                                       (a notification)
// Envelopes are kept short on purpose: a streamed reply is many small notifications.
import * as z from 'zod/mini';
import { ConversationSchema, ConversationSummarySchema, MessageSchema } from './conversation';
import { PersonaSummarySchema } from './persona';

export interface RequestType<M extends string, P extends z.ZodMiniType, R extends z.ZodMiniType> {
  readonly method: M;
  readonly params: P;
  readonly result: R;
}

export interface NotificationType<M extends string, P extends z.ZodMiniType> {
  readonly method: M;
  readonly params: P;
}

function request<M extends string, P extends z.ZodMiniType, R extends z.ZodMiniType>(method: M, params: P, result: R): RequestType<M, P, R> {
  return { method, params, result };
}

function notification<M extends string, P extends z.ZodMiniType>(method: M, params: P): NotificationType<M, P> {
  return { method, params };
}

// ---- shared shapes -------------------------------------------------------------------------------

export const ConnectionStateSchema = z.object({
  status: z.enum(['unknown', 'checking', 'ok', 'down', 'error']),
  /** What a person can act on, e.g. "LM Studio is not running at …". */
  message: z.optional(z.string()),
  provider: z.enum(['local', 'cloud']),
  baseUrl: z.string(),
  model: z.optional(z.string()),
});
export type ConnectionState = z.infer<typeof ConnectionStateSchema>;

export const StreamingSchema = z.object({
  conversationId: z.string(),
  messageId: z.string(),
  /** A short number that `chat/delta` notifications use instead of the two ids. */
  stream: z.int().check(z.gte(0)),
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
});
export type MemoryStatus = z.infer<typeof MemoryStatusSchema>;

const viewFields = {
  personas: z.array(PersonaSummarySchema),
  activePersonaId: z.string(),
  conversations: z.array(ConversationSummarySchema),
  streaming: z.nullable(StreamingSchema),
  connection: ConnectionStateSchema,
  memory: MemoryStatusSchema,
};

/** Everything the view shows; the answer to `webview/ready`. */
export const ViewStateSchema = z.object({ ...viewFields, conversation: z.nullable(ConversationSchema) });
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
  personas: z.optional(viewFields.personas),
  conversations: z.optional(viewFields.conversations),
  conversation: z.optional(z.union([z.object({ full: ConversationSchema }), z.object({ patch: ConversationPatchSchema }), z.null()])),
});
export type StateUpdate = z.infer<typeof StateUpdateSchema>;

const Empty = z.object({});
const Void = z.null();
const Id = z.string().check(z.minLength(1), z.maxLength(100));
const MAX_MESSAGE_CHARS = 200_000;
const UserText = z.string().check(z.minLength(1), z.maxLength(MAX_MESSAGE_CHARS));
/** A dropped file travels as base64 in one message: cards are at most 20 MB (MAX_CARD_FILE_BYTES). */
export const MAX_DROPPED_FILE_BYTES = 20 * 1024 * 1024;
export const MAX_DROPPED_FILES = 10;

// ---- requests (webview → host) -------------------------------------------------------------------

export const Requests = {
  ready: request('webview/ready', Empty, ViewStateSchema),
  send: request('chat/send', z.object({ text: UserText }), z.object({ messageId: z.string() })),
  stop: request('chat/stop', Empty, Void),
  regenerate: request('chat/regenerate', Empty, Void),
  edit: request('chat/edit', z.object({ messageId: Id, text: UserText }), Void),
  newConversation: request('conversation/new', Empty, Void),
  selectConversation: request('conversation/select', z.object({ id: Id }), Void),
  renameConversation: request('conversation/rename', z.object({ id: Id, title: z.string().check(z.trim(), z.minLength(1), z.maxLength(200)) }), Void),
  deleteConversation: request('conversation/delete', z.object({ id: Id }), Void),
  exportConversation: request('conversation/export', z.object({ id: Id, format: z.enum(['markdown', 'json']) }), Void),
  selectPersona: request('persona/select', z.object({ id: Id }), Void),
  openLink: request('link/open', z.object({ href: z.string().check(z.maxLength(8_192)) }), Void),
  copyCode: request('code/copy', z.object({ code: z.string().check(z.maxLength(MAX_MESSAGE_CHARS)) }), Void),
  insertCode: request('code/insert', z.object({ code: z.string().check(z.maxLength(MAX_MESSAGE_CHARS)) }), Void),
  retryConnection: request('connection/retry', Empty, Void),
  /** Memory on or off for the active chat. */
  setMemory: request('chat/setMemory', z.object({ enabled: z.boolean() }), Void),
  /** Opens a cited passage in an editor, at its lines. */
  openCitation: request(
    'memory/open',
    z.object({ source: z.string().check(z.minLength(1), z.maxLength(1000)), startLine: z.int().check(z.gte(1)), endLine: z.int().check(z.gte(1)) }),
    Void,
  ),
  /** The "Add files" button: the host asks with a file picker. */
  addToMemory: request('memory/add', Empty, Void),
  /** Files dropped on the view: a character card is imported, anything else goes to memory. */
  dropFiles: request(
    'files/drop',
    z.object({
      uris: z.array(z.string().check(z.minLength(1), z.maxLength(4096))).check(z.maxLength(100)),
      files: z
        .array(z.object({ name: z.string().check(z.minLength(1), z.maxLength(255)), data: z.base64().check(z.maxLength(Math.ceil(MAX_DROPPED_FILE_BYTES / 3) * 4)) }))
        .check(z.maxLength(MAX_DROPPED_FILES)),
    }),
    Void,
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
} as const;

export type AnyRequestType = (typeof Requests)[keyof typeof Requests];
export type AnyNotificationType = (typeof Notifications)[keyof typeof Notifications];
export type ParamsOf<T extends { params: z.ZodMiniType }> = z.infer<T['params']>;
export type ResultOf<T extends { result: z.ZodMiniType }> = z.infer<T['result']>;

// ---- envelopes -----------------------------------------------------------------------------------

export const ProtocolErrorSchema = z.object({
  message: z.string(),
  reason: z.optional(z.string()),
});
export type ProtocolError = z.infer<typeof ProtocolErrorSchema>;

const RequestEnvelopeSchema = z.object({
  id: z.int().check(z.gte(0)),
  method: z.string().check(z.maxLength(100)),
  params: z.unknown(),
});

const ResponseEnvelopeSchema = z.union([
  z.object({ id: z.int(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.int(), ok: z.literal(false), error: ProtocolErrorSchema }),
]);

const NotificationEnvelopeSchema = z.object({
  method: z.string().check(z.maxLength(100)),
  params: z.unknown(),
});

const requestsByMethod = new Map<string, AnyRequestType>(Object.values(Requests).map((r) => [r.method, r]));
const notificationsByMethod = new Map<string, AnyNotificationType>(Object.values(Notifications).map((n) => [n.method, n]));

/** A request from the webview that passed validation: its params match the method's schema. */
export type IncomingRequest = {
  [K in keyof typeof Requests]: { id: number; method: (typeof Requests)[K]['method']; params: ParamsOf<(typeof Requests)[K]> };
}[keyof typeof Requests];

export type IncomingNotification = {
  [K in keyof typeof Notifications]: { method: (typeof Notifications)[K]['method']; params: ParamsOf<(typeof Notifications)[K]> };
}[keyof typeof Notifications];

export type ParseResult<T> = { ok: true; value: T } | { ok: false; id?: number; error: string };

function describeIssues(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/** Host side: checks a raw message from the webview. On failure the id (when readable) lets the host reply with an error. */
export function parseRequest(raw: unknown): ParseResult<IncomingRequest> {
  const envelope = RequestEnvelopeSchema.safeParse(raw);
  if (!envelope.success) return { ok: false, error: `not a request: ${describeIssues(envelope.error)}` };
  const { id, method, params } = envelope.data;
  const type = requestsByMethod.get(method);
  if (!type) return { ok: false, id, error: `unknown method "${method}"` };
  const parsed = type.params.safeParse(params);
  if (!parsed.success) return { ok: false, id, error: `invalid params for ${method}: ${describeIssues(parsed.error)}` };
  return { ok: true, value: { id, method, params: parsed.data } as IncomingRequest };
}

export type IncomingHostMessage =
  | { kind: 'response'; id: number; ok: true; result: unknown }
  | { kind: 'response'; id: number; ok: false; error: ProtocolError }
  | ({ kind: 'notification' } & IncomingNotification);

/** Webview side: checks a raw message from the host. Results are checked against their request's schema by the caller. */
export function parseHostMessage(raw: unknown): ParseResult<IncomingHostMessage> {
  const response = ResponseEnvelopeSchema.safeParse(raw);
  if (response.success) return { ok: true, value: { kind: 'response', ...response.data } };
  const envelope = NotificationEnvelopeSchema.safeParse(raw);
  if (!envelope.success) return { ok: false, error: 'not a response or notification' };
  const type = notificationsByMethod.get(envelope.data.method);
  if (!type) return { ok: false, error: `unknown notification "${envelope.data.method}"` };
  const parsed = type.params.safeParse(envelope.data.params);
  if (!parsed.success) return { ok: false, error: `invalid params for ${type.method}: ${describeIssues(parsed.error)}` };
  return { ok: true, value: { kind: 'notification', method: type.method, params: parsed.data } as IncomingHostMessage };
}

export function makeRequest<T extends AnyRequestType>(type: T, id: number, params: ParamsOf<T>) {
  return { id, method: type.method, params };
}

export function makeNotification<T extends AnyNotificationType>(type: T, params: ParamsOf<T>) {
  return { method: type.method, params };
}

export function makeResponse(id: number, result: unknown) {
  return { id, ok: true as const, result };
}

export function makeErrorResponse(id: number, error: ProtocolError) {
  return { id, ok: false as const, error };
}
