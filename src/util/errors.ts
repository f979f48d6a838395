// Small helpers for errors of any kind (thrown values need not be Errors).

/** The message of an Error, or the value as text. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A Node error's `code` ('ENOENT', 'EACCES', …), if it has one. */
export function errnoCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
