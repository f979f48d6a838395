// The Compare panel's protocol: one message sent to two set-ups of the same chat, the replies side
// by side as they stream, each with its stats and what was sent; the person keeps one.
import * as z from 'zod/mini';
import { MessageSchema } from './conversation';
import { defineProtocol, notification, request, type IncomingNotificationOf, type IncomingRequestOf } from './rpc';

export const CompareColumnSchema = z.object({
  /** What this set-up is, e.g. "This chat (qwen3-8b)" or "Preset: Creative". */
  label: z.string().check(z.maxLength(300)),
  /** waiting: its turn has not come (the server answers one request at a time). */
  status: z.enum(['waiting', 'streaming', 'complete', 'stopped', 'error']),
  reply: MessageSchema,
});
export type CompareColumn = z.infer<typeof CompareColumnSchema>;

export const CompareStateSchema = z.object({
  personaName: z.string(),
  /** The message both set-ups answer. */
  text: z.string(),
  columns: z.array(CompareColumnSchema).check(z.minLength(2), z.maxLength(2)),
  /** Which reply was kept (it is in the chat now). */
  kept: z.optional(z.int().check(z.gte(0), z.lte(1))),
  /** False once the chat moved on (another message, another chat): nothing can be kept any more. */
  canKeep: z.boolean(),
});
export type CompareState = z.infer<typeof CompareStateSchema>;

const Empty = z.object({});
const Void = z.null();
const Column = z.object({ column: z.int().check(z.gte(0), z.lte(1)) });

export const CompareRequests = {
  ready: request('compare/ready', Empty, CompareStateSchema, { timeoutMs: 10_000 }),
  /** Puts the message and this reply in the chat; the chat goes on with this set-up. */
  keep: request('compare/keep', Column, Void),
  /** Opens what was sent for this reply. */
  showSent: request('compare/showSent', Column, Void),
  stop: request('compare/stop', Empty, Void),
} as const;

export const CompareNotifications = {
  state: notification('compare/state', CompareStateSchema),
} as const;

export const CompareProtocol = defineProtocol({ requests: CompareRequests, notifications: CompareNotifications, ready: 'ready' });
export type IncomingCompareRequest = IncomingRequestOf<typeof CompareRequests>;
export type IncomingCompareNotification = IncomingNotificationOf<typeof CompareNotifications>;
