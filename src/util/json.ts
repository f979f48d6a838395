// JSON from a server, a file or a person: parsed without throwing, so the caller says what was wrong.

/** `{ ok: true, value }`, or `{ ok: false }` when the text is not JSON. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; value?: undefined } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
