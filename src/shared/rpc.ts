// The one way every webview talks to its host. A message is declared once, as a value: its method id
// (`area/verb`), zod schemas for what it carries and, for a request, how the webview waits for the
// answer — a timeout, or none while a person decides (a dialog or a file picker is open). A view's
// protocol is its declarations and nothing else; both sides validate what they receive.
//
//   webview → host:  { id, method, params }
//   host → webview:  { id, ok: true, result } | { id, ok: false, error }      (the answer to a request)
//                    { method, params }                                       (a notification)
// Envelopes are short on purpose: a streamed reply is many small notifications.
import * as z from 'zod/mini';

/** How the webview waits for an answer. */
export type Wait = { readonly timeoutMs: number } | { readonly waitsOnPerson: true };

/** The usual wait: the host answers from what it holds or after a quick piece of work. */
export const ANSWERS_QUICKLY: Wait = { timeoutMs: 30_000 };
/** The host opens a dialog, a file picker or a confirmation: no timeout while the person decides. */
export const WAITS_ON_PERSON: Wait = { waitsOnPerson: true };

export interface RequestType<M extends string = string, P extends z.ZodMiniType = z.ZodMiniType, R extends z.ZodMiniType = z.ZodMiniType> {
  readonly method: M;
  readonly params: P;
  readonly result: R;
  readonly wait: Wait;
}

export interface NotificationType<M extends string = string, P extends z.ZodMiniType = z.ZodMiniType> {
  readonly method: M;
  readonly params: P;
}

export function request<M extends string, P extends z.ZodMiniType, R extends z.ZodMiniType>(method: M, params: P, result: R, wait: Wait = ANSWERS_QUICKLY): RequestType<M, P, R> {
  return { method, params, result, wait };
}

export function notification<M extends string, P extends z.ZodMiniType>(method: M, params: P): NotificationType<M, P> {
  return { method, params };
}

export type ParamsOf<T extends { params: z.ZodMiniType }> = z.infer<T['params']>;
export type ResultOf<T extends { result: z.ZodMiniType }> = z.infer<T['result']>;

export type RequestTypes = Record<string, RequestType>;
export type NotificationTypes = Record<string, NotificationType>;

/** A request that passed validation: its params match its method's schema. */
export type IncomingRequestOf<R extends RequestTypes> = { [K in keyof R]: { id: number; method: R[K]['method']; params: ParamsOf<R[K]> } }[keyof R];
export type IncomingNotificationOf<N extends NotificationTypes> = { [K in keyof N]: { method: N[K]['method']; params: ParamsOf<N[K]> } }[keyof N];

export const ProtocolErrorSchema = z.object({
  message: z.string(),
  reason: z.optional(z.string()),
});
export type ProtocolError = z.infer<typeof ProtocolErrorSchema>;

export type HostMessageOf<N extends NotificationTypes> =
  | { kind: 'response'; id: number; ok: true; result: unknown }
  | { kind: 'response'; id: number; ok: false; error: ProtocolError }
  | ({ kind: 'notification' } & IncomingNotificationOf<N>);

export type ParseResult<T> = { ok: true; value: T } | { ok: false; id?: number; error: string };

/** A view's protocol: its requests, its notifications, and the request a new document sends first. */
export interface Protocol<R extends RequestTypes, N extends NotificationTypes> {
  readonly requests: R;
  readonly notifications: N;
  /** Asked by every new document (a view shown again starts over); answered with the whole state. */
  readonly ready: R[keyof R];
  /** Host side: a raw message from the webview. On failure the id (when readable) lets the host answer with an error. */
  parseRequest(raw: unknown): ParseResult<IncomingRequestOf<R>>;
  /** Webview side: a raw message from the host. A result is checked against its request's schema by the client. */
  parseHostMessage(raw: unknown): ParseResult<HostMessageOf<N>>;
}

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

function describeIssues(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

export function defineProtocol<R extends RequestTypes, N extends NotificationTypes>(spec: { requests: R; notifications: N; ready: keyof R }): Protocol<R, N> {
  const requestsByMethod = new Map<string, RequestType>(Object.values(spec.requests).map((r) => [r.method, r]));
  const notificationsByMethod = new Map<string, NotificationType>(Object.values(spec.notifications).map((n) => [n.method, n]));
  if (requestsByMethod.size !== Object.keys(spec.requests).length) throw new Error('two requests share a method id');
  return {
    requests: spec.requests,
    notifications: spec.notifications,
    ready: spec.requests[spec.ready]!,
    parseRequest(raw) {
      const envelope = RequestEnvelopeSchema.safeParse(raw);
      if (!envelope.success) return { ok: false, error: `not a request: ${describeIssues(envelope.error)}` };
      const { id, method, params } = envelope.data;
      const type = requestsByMethod.get(method);
      if (!type) return { ok: false, id, error: `unknown method "${method}"` };
      const parsed = type.params.safeParse(params);
      if (!parsed.success) return { ok: false, id, error: `invalid params for ${method}: ${describeIssues(parsed.error)}` };
      return { ok: true, value: { id, method, params: parsed.data } as IncomingRequestOf<R> };
    },
    parseHostMessage(raw) {
      const response = ResponseEnvelopeSchema.safeParse(raw);
      if (response.success) return { ok: true, value: { kind: 'response', ...response.data } };
      const envelope = NotificationEnvelopeSchema.safeParse(raw);
      if (!envelope.success) return { ok: false, error: 'not a response or notification' };
      const type = notificationsByMethod.get(envelope.data.method);
      if (!type) return { ok: false, error: `unknown notification "${envelope.data.method}"` };
      const parsed = type.params.safeParse(envelope.data.params);
      if (!parsed.success) return { ok: false, error: `invalid params for ${type.method}: ${describeIssues(parsed.error)}` };
      return { ok: true, value: { kind: 'notification', method: type.method, params: parsed.data } as HostMessageOf<N> };
    },
  };
}

export function makeRequest<T extends RequestType>(type: T, id: number, params: ParamsOf<T>) {
  return { id, method: type.method, params };
}

export function makeNotification<T extends NotificationType>(type: T, params: ParamsOf<T>) {
  return { method: type.method, params };
}

export function makeResponse(id: number, result: unknown) {
  return { id, ok: true as const, result };
}

export function makeErrorResponse(id: number, error: ProtocolError) {
  return { id, ok: false as const, error };
}
