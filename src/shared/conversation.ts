// A conversation as kept on disk (one JSON file each) and shown in the webview.
import * as z from 'zod/mini';
import { SamplingSchema } from './sampling';
import { MemoryDialsSchema } from './memoryDials';
import { SourcePlaceSchema } from './sourcePlace';
import { displayedPath } from './conversationTree';

export const MessageStatusSchema = z.enum(['complete', 'streaming', 'stopped', 'error']);
export type MessageStatus = z.infer<typeof MessageStatusSchema>;

export const UsageSchema = z.object({
  promptTokens: z.int().check(z.gte(0)),
  completionTokens: z.int().check(z.gte(0)),
});
export type Usage = z.infer<typeof UsageSchema>;

/** A passage of workspace memory a reply was given: shown under it, opened at its lines on a click. */
export const CitationSchema = z.object({
  /** Workspace-relative path (with '/') or the name of an upload. */
  source: z.string().check(z.minLength(1), z.maxLength(1000)),
  startLine: z.int().check(z.gte(1)),
  endLine: z.int().check(z.gte(1)),
  /** The page, heading path or notebook cell of a document's passage. */
  place: z.optional(SourcePlaceSchema),
  /** Cosine similarity, 0..1. */
  score: z.number(),
});
export type Citation = z.infer<typeof CitationSchema>;

/** The longest memory item: one fact, not a document. */
export const MEMORY_ITEM_TEXT_MAX = 2000;

/** A fact the persona proposed to remember after a reply: kept, dismissed, or waiting for the person ("ask"). */
export const ProposalSchema = z.object({
  text: z.string().check(z.minLength(1), z.maxLength(MEMORY_ITEM_TEXT_MAX)),
  state: z.enum(['pending', 'kept', 'dismissed']),
});
export type Proposal = z.infer<typeof ProposalSchema>;

/** Most facts proposed after one reply. */
export const MAX_PROPOSALS = 5;

/** How a persona proposes memories from a chat: not at all, for the person to accept, or keeping them at once. */
export const PROPOSAL_MODES = ['off', 'ask', 'automatic'] as const;
export type ProposalMode = (typeof PROPOSAL_MODES)[number];

/** One of the persona's memory items a reply was given. */
export const RememberedItemSchema = z.object({
  id: z.string().check(z.minLength(1), z.maxLength(100)),
  text: z.string().check(z.minLength(1), z.maxLength(MEMORY_ITEM_TEXT_MAX)),
  /** Pinned: in every prompt. */
  pinned: z.optional(z.boolean()),
  /** Cosine similarity to the message it was found for (absent for a pinned item). */
  score: z.optional(z.number()),
});
export type RememberedItem = z.infer<typeof RememberedItemSchema>;

export const ReplyStatsSchema = z.object({
  /** From sending the request to the first token (of the reply or of its reasoning). */
  firstTokenMs: z.optional(z.number().check(z.gte(0))),
  /** From sending the request to the end of the reply. */
  totalMs: z.number().check(z.gte(0)),
  /** Completion tokens per second after the first token. */
  tokensPerSecond: z.optional(z.number().check(z.gte(0))),
  /** Completion tokens as counted here, when the server sent no usage. */
  countedTokens: z.optional(z.int().check(z.gte(0))),
});
export type ReplyStats = z.infer<typeof ReplyStatsSchema>;

export const MessageSchema = z.object({
  id: z.string().check(z.minLength(1), z.maxLength(100)),
  role: z.enum(['user', 'assistant']),
  content: z.string(),
  createdAt: z.number(),
  status: MessageStatusSchema,
  /** The persona's greeting that opens a conversation. */
  greeting: z.optional(z.boolean()),
  /**
   * The message this one answers or follows (conversations are trees: see conversationTree.ts).
   * Absent on the first message and on every message of a file written before trees, which reads
   * as a straight line; '' for an alternative at the root level (another greeting), because absent
   * already means "follows the previous message".
   */
  parentId: z.optional(z.string().check(z.maxLength(100))),
  /** For the view only, never stored: which of its alternatives this message is, from 1, and how many there are. */
  branch: z.optional(z.tuple([z.int().check(z.gte(1)), z.int().check(z.gte(2))])),
  /** For the view only, never stored: the chat was taken back to this message ("Go back to here") and this many later messages are hidden. */
  hiddenAfter: z.optional(z.int().check(z.gte(1))),
  error: z.optional(z.string()),
  model: z.optional(z.string()),
  usage: z.optional(UsageSchema),
  /** Memory passages the reply was given (none: no memory was used). */
  citations: z.optional(z.array(CitationSchema)),
  /** The persona's memory items the reply was given. */
  remembered: z.optional(z.array(RememberedItemSchema).check(z.maxLength(200))),
  /** Why memory was not used for this reply, when it should have been (e.g. the embeddings server is down). */
  memoryNote: z.optional(z.string()),
  /** What the persona proposed to remember after this reply. */
  proposals: z.optional(z.array(ProposalSchema).check(z.maxLength(MAX_PROPOSALS))),
  /** Why nothing could be proposed (a model without structured output), said once per cause. */
  proposalNote: z.optional(z.string()),
  /** How fast the reply came: measured by Persona; the tokens are the server's count where it gave one. */
  stats: z.optional(ReplyStatsSchema),
  /** A reasoning model's thinking (from `<think>` or the server's reasoning field); never sent back to the model. */
  reasoning: z.optional(z.string()),
  /** The prompt's tokens as Persona counted them (gpt-tokenizer), to compare with the server's `usage`. */
  promptCounted: z.optional(z.int().check(z.gte(0))),
  /** The chat's overrides in effect for this reply (what differs from the persona and your settings). */
  overrides: z.optional(SamplingSchema),
});
export type Message = z.infer<typeof MessageSchema>;

export const CONVERSATION_SCHEMA_VERSION = 1;

export const ConversationSchema = z.object({
  schemaVersion: z.literal(CONVERSATION_SCHEMA_VERSION),
  id: z.string().check(z.regex(/^[A-Za-z0-9_-]{1,100}$/)),
  title: z.string().check(z.maxLength(200)),
  personaId: z.string(),
  /** The persona's name when the chat began: still shown after the persona is deleted. */
  personaName: z.optional(z.string().check(z.maxLength(200))),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** Every message of every branch, in the order they were created. */
  messages: z.array(MessageSchema),
  /** For a parent id ('' for the root level), which of its children is displayed (absent: the latest). */
  selected: z.optional(z.record(z.string(), z.string())),
  /** A checkpoint ("Go back to here"): the displayed path stops at this message though it has replies. */
  end: z.optional(z.string()),
  /** False: this chat does not use the workspace memory. */
  memory: z.optional(z.boolean()),
  /** The version of the persona the chat last ran with (custom personas have versions). */
  personaVersion: z.optional(z.int()),
  /** This chat's own model and sampling, over the persona's and your settings. */
  overrides: z.optional(SamplingSchema),
  /** This chat's own memory dials (its "Use memory" is `memory` above). */
  memoryDials: z.optional(MemoryDialsSchema),
});
export type Conversation = z.infer<typeof ConversationSchema>;

export const ConversationSummarySchema = z.object({
  id: z.string(),
  title: z.string(),
  personaId: z.string(),
  updatedAt: z.number(),
  messageCount: z.int(),
});
export type ConversationSummary = z.infer<typeof ConversationSummarySchema>;

/** The list's line for a chat: its message count is of the path it shows, not of every branch. */
export function summarizeConversation(c: Conversation): ConversationSummary {
  return { id: c.id, title: c.title, personaId: c.personaId, updatedAt: c.updatedAt, messageCount: displayedPath(c).length };
}
