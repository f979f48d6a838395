// Every failure of an embeddings server, as one error type with a reason, and the one place that
// turns it into text a person can act on. Plain Node: no `vscode` here.
import { capitalize, clip, midSentence } from '../providers/serverText';
import { PersonaError } from '../util/personaError';

export type EmbeddingsErrorReason =
  /** Nothing listens at the URL, or the connection kept failing after the retries. */
  | 'serverDown'
  /** KoboldCpp runs, but was started without `--embeddingsmodel`. */
  | 'noEmbeddingsModel'
  /** HTTP 503/429 on every try: the server was busy (KoboldCpp shares one lock with text generation). */
  | 'busy'
  | 'unauthorized'
  | 'timeout'
  | 'aborted'
  /** One input came back as an empty vector (KoboldCpp's way of failing one item) or a vector of the wrong length. */
  | 'itemFailed'
  /** Well-formed vectors of another length than the ones already stored: the embeddings model changed. */
  | 'dimensionMismatch'
  /** A reply that is not the OpenAI embeddings shape (not JSON, wrong count of items, not numbers). */
  | 'badResponse'
  /** Any other HTTP error. */
  | 'http';

export interface EmbeddingsErrorOptions {
  /** Base URL of the server that was asked (never carries a key). */
  baseUrl: string;
  /** How the server is named to the user: 'KoboldCpp' (the default), 'the embeddings server', … */
  label?: string;
  /** HTTP status, when the server answered. */
  status?: number;
  /** What the server itself said (its error text, shortened), for the log and the user message. */
  detail?: string;
  /** The embeddings model, when the server named it. */
  model?: string;
  /** For 'itemFailed': the position of the failed text in the list given to `embed`, from 0. */
  itemIndex?: number;
  /** For 'itemFailed': the start of that text, so a person can find it. */
  itemPreview?: string;
  /** For 'itemFailed' and 'dimensionMismatch': the length the vectors should have. */
  expectedDimension?: number;
  /** For 'itemFailed' and 'dimensionMismatch': the length that came back. */
  actualDimension?: number;
  /** How many requests were sent before giving up (1 = no retry). */
  attempts?: number;
  /** For 'timeout': the limit that was reached. */
  timeoutMs?: number;
  cause?: unknown;
}

export class EmbeddingsError extends PersonaError<EmbeddingsErrorReason> {
  override readonly name = 'EmbeddingsError';
  readonly baseUrl: string;
  readonly label: string;
  readonly status: number | undefined;
  readonly detail: string | undefined;
  readonly model: string | undefined;
  readonly itemIndex: number | undefined;
  readonly itemPreview: string | undefined;
  readonly expectedDimension: number | undefined;
  readonly actualDimension: number | undefined;
  readonly attempts: number | undefined;
  readonly timeoutMs: number | undefined;

  constructor(reason: EmbeddingsErrorReason, message: string, options: EmbeddingsErrorOptions) {
    super(reason, message, options);
    this.baseUrl = options.baseUrl;
    this.label = options.label ?? 'KoboldCpp';
    this.status = options.status;
    this.detail = options.detail;
    this.model = options.model;
    this.itemIndex = options.itemIndex;
    this.itemPreview = options.itemPreview;
    this.expectedDimension = options.expectedDimension;
    this.actualDimension = options.actualDimension;
    this.attempts = options.attempts;
    this.timeoutMs = options.timeoutMs;
  }
}

export interface DescribeEmbeddingsOptions {
  /** How the server is named to the user; defaults to the label the error carries. */
  label?: string;
}

const settingForUrl = 'persona.embeddings.baseUrl';

/** The user-facing text for any error the embeddings client throws: what happened and what to do. */
export function describeEmbeddingsError(err: unknown, options: DescribeEmbeddingsOptions = {}): string {
  if (!EmbeddingsError.is(err)) {
    const text = err instanceof Error ? err.message : String(err);
    return `Something went wrong talking to ${midSentence(options.label ?? 'the embeddings server')}: ${text}`;
  }
  const label = midSentence(options.label ?? err.label);
  const Label = capitalize(label);
  const kobold = isKoboldCpp(label);
  const url = err.baseUrl;
  const said = err.detail ? ` (${label} said: “${clip(err.detail, 300)}”)` : '';
  switch (err.reason) {
    case 'serverDown':
      return kobold
        ? `KoboldCpp is not running at ${url} — start it with --embeddingsmodel FILE.gguf (for example a BGE-M3 GGUF), or change ${settingForUrl}.`
        : `${Label} is not reachable at ${url} — check that it is running and that ${settingForUrl} is right.`;
    case 'noEmbeddingsModel':
      return `KoboldCpp at ${url} is running without an embeddings model — restart it with --embeddingsmodel FILE.gguf (for example a BGE-M3 GGUF), or point ${settingForUrl} at a server that has one.`;
    case 'busy':
      return `${Label} at ${url} stayed busy (HTTP ${err.status ?? 503})${err.attempts ? ` through ${err.attempts} tries` : ''}${kobold ? ' — it embeds one request at a time, and text generation holds the same lock' : ''}. Wait until it is idle and try again.`;
    case 'unauthorized':
      return kobold
        ? `KoboldCpp at ${url} refused the request (HTTP ${err.status ?? 401}) — it was started with --password: give Persona the same password as its embeddings key, or start KoboldCpp without --password.`
        : `${Label} at ${url} refused the API key (HTTP ${err.status ?? 401}) — give Persona a valid key for it.`;
    case 'timeout':
      return `${Label} at ${url} did not answer${err.timeoutMs ? ` within ${duration(err.timeoutMs)}` : ' in time'} — embedding on a CPU can be slow; try again, or use smaller batches.`;
    case 'aborted':
      return 'Stopped.';
    case 'itemFailed': {
      const which = `text #${(err.itemIndex ?? 0) + 1}${err.itemPreview ? ` (“${clip(err.itemPreview, 60)}”)` : ''}`;
      if (!err.actualDimension) {
        return `${Label} could not embed ${which}: it sent back an empty vector${said}. The text may be longer than the embeddings model's context${kobold ? ' (--embeddingsmaxctx)' : ''}, or the model failed on it — ${label}'s console says why.`;
      }
      return `${Label} sent back ${which} as a vector of ${err.actualDimension} numbers instead of ${err.expectedDimension ?? 'the length of the others'}. Try again; if it keeps happening, restart ${label}.`;
    }
    case 'dimensionMismatch':
      return `The embeddings model at ${url}${err.model ? ` (“${err.model}”)` : ''} makes vectors of ${err.actualDimension ?? '?'} numbers, but this memory holds vectors of ${err.expectedDimension ?? '?'} — the embeddings model changed. Index the files again for it (Persona: Show Memory Status), or load the model used before.`;
    case 'badResponse':
      return `${Label} at ${url} sent a reply Persona could not read${said}. Check that ${settingForUrl} points at an OpenAI-compatible embeddings server (its base URL usually ends in /v1).`;
    case 'http':
      return `${Label} at ${url} answered with an error${err.status ? ` (HTTP ${err.status})` : ''}${said}.`;
  }
}

/**
 * True when the same work may succeed later without any change on Persona's side: the server is
 * down, busy or slow. Indexing pauses on these and resumes later; the others need a person.
 */
export function isTransientEmbeddingsError(err: unknown): boolean {
  return EmbeddingsError.is(err) && (err.reason === 'serverDown' || err.reason === 'busy' || err.reason === 'timeout');
}

/** 120000 → '120 s', 300 → '300 ms'. */
export function duration(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms)} ms`;
}

function isKoboldCpp(label: string): boolean {
  return /kobold/i.test(label);
}


