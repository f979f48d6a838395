// Reading what an OpenAI-compatible server (or the connection to it) said, and shaping it for a sentence. Shared by the chat
// client (LM Studio, cloud) and the embeddings client (KoboldCpp), and by their error texts.

/**
 * The human-readable part of an error body: `{"error": "…"}` (LM Studio), `{error: {message}}`
 * (OpenAI), `{detail: {msg}}` (KoboldCpp), `{message}`, `{msg}`, or plain text. Undefined when the
 * body says nothing readable.
 */
export function errorText(body: unknown): string | undefined {
  if (typeof body === 'string') return body;
  if (!body || typeof body !== 'object') return undefined;
  const record = body as Record<string, unknown>;
  for (const key of ['error', 'detail']) {
    const inner = record[key];
    if (typeof inner === 'string') return inner;
    if (inner && typeof inner === 'object') {
      const nested = inner as Record<string, unknown>;
      for (const field of ['message', 'msg', 'error']) {
        if (typeof nested[field] === 'string') return nested[field];
      }
    }
  }
  if (typeof record['message'] === 'string') return record['message'];
  if (typeof record['msg'] === 'string') return record['msg'];
  return undefined;
}

/** Like errorText, but never empty-handed: other JSON is shown as JSON. */
export function serverText(body: unknown): string {
  if (body === undefined || body === null) return '';
  if (typeof body !== 'object') return String(body);
  return errorText(body) ?? JSON.stringify(body) ?? '';
}

/** One line of at most `max` characters. */
export function clip(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

/** 'The cloud endpoint' → 'the cloud endpoint'; names ('LM Studio') stay as they are. */
export function midSentence(label: string): string {
  return label.replace(/^The /, 'the ');
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The system error code (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET, …) somewhere in the cause chain. */
export function errorCode(e: unknown): string | undefined {
  let current: unknown = e;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
