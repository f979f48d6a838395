// A conversation as kept on disk (one JSON file each) and shown in the webview.
import * as z from 'zod/mini';

export const MessageStatusSchema = z.enum(['complete', 'streaming', 'stopped', 'error']);
export type MessageStatus = z.infer<typeof MessageStatusSchema>;

export const UsageSchema = z.object({
  promptTokens: z.int().check(z.gte(0)),
  completionTokens: z.int().check(z.gte(0)),
});
export type Usage = z.infer<typeof UsageSchema>;

export const MessageSchema = z.object({
  id: z.string().check(z.minLength(1), z.maxLength(100)),
  role: z.enum(['user', 'assistant']),
  content: z.string(),
  createdAt: z.number(),
  status: MessageStatusSchema,
  /** The persona's greeting that opens a conversation. */
  greeting: z.optional(z.boolean()),
  error: z.optional(z.string()),
  model: z.optional(z.string()),
  usage: z.optional(UsageSchema),
});
export type Message = z.infer<typeof MessageSchema>;

export const CONVERSATION_SCHEMA_VERSION = 1;

export const ConversationSchema = z.object({
  schemaVersion: z.literal(CONVERSATION_SCHEMA_VERSION),
  id: z.string().check(z.regex(/^[A-Za-z0-9_-]{1,100}$/)),
  title: z.string().check(z.maxLength(200)),
  personaId: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
  messages: z.array(MessageSchema),
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

export function summarizeConversation(c: Conversation): ConversationSummary {
  return { id: c.id, title: c.title, personaId: c.personaId, updatedAt: c.updatedAt, messageCount: c.messages.length };
}
