// The base of every error a person may read: a reason a caller can branch on, and a message that
// already says what happened and what to do. Callers test with `X.is(e, reason)`, never by reading
// the message; chat/userMessages.ts makes the sentence shown for each kind.
export class PersonaError<R extends string = string> extends Error {
  readonly reason: R;

  constructor(reason: R, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.name = 'PersonaError';
  }

  /** Whether `e` is of this class (a subclass tests its own), and of `reason` when one is given. */
  static is<T extends PersonaError>(this: abstract new (...args: never[]) => T, e: unknown, reason?: T['reason']): e is T {
    return e instanceof this && (reason === undefined || e.reason === reason);
  }
}
