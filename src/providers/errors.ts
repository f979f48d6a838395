// Every failure of a chat server, as one error type with a reason, and the one place that turns it
// into text a person can act on. Plain Node: no `vscode` here.
import { capitalize, clip, midSentence } from './serverText';
import { PersonaError } from '../util/personaError';

export type ProviderErrorReason =
  | 'serverDown'
  | 'noModelLoaded'
  | 'modelNotFound'
  | 'multipleModels'
  | 'contextOverflow'
  | 'emptyReply'
  | 'unauthorized'
  | 'busy'
  | 'timeout'
  | 'aborted'
  | 'badResponse'
  /** HTTP 400 naming a sampling parameter Persona sent (e.g. a top_k the server does not take). */
  | 'badParameter'
  | 'http';

export interface ProviderErrorOptions {
  /** HTTP status, when the server answered. */
  status?: number;
  /** Base URL of the server that was asked (never carries a key). */
  baseUrl: string;
  /** How the server is named to the user: 'LM Studio', 'the cloud endpoint', … */
  providerLabel?: string;
  /** The model the request named, when one was named. */
  model?: string;
  /** What the server itself said (its error text, redacted), for the log and the user message. */
  detail?: string;
  /** True when part of the reply had already arrived: the connection dropped mid-reply. */
  midStream?: boolean;
  cause?: unknown;
}

export class ProviderError extends PersonaError<ProviderErrorReason> {
  override readonly name = 'ProviderError';
  readonly status: number | undefined;
  readonly baseUrl: string;
  readonly providerLabel: string;
  readonly model: string | undefined;
  readonly detail: string | undefined;
  readonly midStream: boolean;

  constructor(reason: ProviderErrorReason, message: string, options: ProviderErrorOptions) {
    super(reason, message, options);
    this.status = options.status;
    this.baseUrl = options.baseUrl;
    this.providerLabel = options.providerLabel ?? 'the server';
    this.model = options.model;
    this.detail = options.detail;
    this.midStream = options.midStream ?? false;
  }
}

export interface DescribeOptions {
  /** How the server is named to the user; defaults to the label the error carries. */
  providerLabel?: string;
}

const settingForUrl = 'persona.chat.baseUrl';
const settingForModel = 'persona.chat.model';

/** The user-facing text for any error a chat provider throws: what happened and what to do. */
export function describeProviderError(err: unknown, options: DescribeOptions = {}): string {
  if (!ProviderError.is(err)) {
    const text = err instanceof Error ? err.message : String(err);
    return `Something went wrong talking to ${midSentence(options.providerLabel ?? 'the server')}: ${text}`;
  }
  const label = midSentence(options.providerLabel ?? err.providerLabel);
  const Label = capitalize(label);
  const url = err.baseUrl;
  const said = err.detail ? ` (${label} said: “${clip(err.detail, 300)}”)` : '';
  switch (err.reason) {
    case 'serverDown':
      if (err.midStream) {
        return `The connection to ${label} at ${url} closed in the middle of the reply — the model may have crashed or been unloaded. Check ${label}'s log, then try again.`;
      }
      return isLmStudio(label)
        ? `LM Studio is not running at ${url} — start its local server (Developer tab → Start Server, or \`lms server start\`), or change ${settingForUrl}.`
        : `${Label} is not reachable at ${url} — check that it is running and that ${settingForUrl} is right.`;
    case 'noModelLoaded':
      return isLmStudio(label)
        ? 'No model is loaded in LM Studio — load one in LM Studio or with `lms load <model>`.'
        : `${Label} at ${url} has no model loaded — load one, or set ${settingForModel}.`;
    case 'modelNotFound': {
      const which = err.model ? `The model “${err.model}”` : 'The requested model';
      return `${which} is not available on ${label} at ${url} — pick another with “Persona: Select Model…” (or the model under the view's header), or change ${settingForModel}${isLmStudio(label) ? ', or download it in LM Studio' : ''}.`;
    }
    case 'multipleModels':
      return `Several models are loaded in ${label} and none was named — set ${settingForModel} to the one to chat with, or unload the others.`;
    case 'contextOverflow':
      return `The conversation is too long for the model's context window${said}. Start a new chat, shorten the persona or memory, or load the model with a larger context length${isLmStudio(label) ? ' (LM Studio: model settings → Context Length)' : ''}.`;
    case 'emptyReply':
      return `${Label} sent an empty reply${err.model ? ` from “${err.model}”` : ''}. Try again; if it keeps happening the prompt may not fit the loaded context length — start a new chat or load the model with a larger context.`;
    case 'unauthorized':
      return isLmStudio(label)
        ? `LM Studio at ${url} refused the request (HTTP ${err.status ?? 401}) — its server requires an API token: turn authentication off in LM Studio's server settings, or give Persona the token.`
        : `${Label} refused the API key (HTTP ${err.status ?? 401}) — run “${/^the endpoint "/i.test(label) ? 'Persona: Set API Key for an Endpoint…' : 'Persona: Set API Key for Cloud Provider…'}” to set a valid key.`;
    case 'busy':
      return `${Label} is busy${err.status === 429 ? ' or rate-limited' : ''} (HTTP ${err.status ?? 503}) — wait a moment and try again.`;
    case 'timeout':
      return `${Label} at ${url} did not answer in time — a model loading on first use can be slow: try again, or raise persona.chat.requestTimeoutSeconds.`;
    case 'aborted':
      return 'Stopped.';
    case 'badResponse':
      return `${Label} at ${url} sent a reply Persona could not read${said}. Check that ${settingForUrl} points at an OpenAI-compatible server (its base URL usually ends in /v1).`;
    case 'badParameter': {
      const wire = parameterNamed(`${err.detail ?? ''} ${err.message}`);
      const setting = wire ? PARAMETER_SETTINGS[wire] : undefined;
      return `${Label} refused ${wire ? `the value of ${wire}` : 'a setting of the request'}${said}. ${setting ? `Change or reset ${setting} in the view's Chat settings (or in your settings / the persona, where it comes from), then send again.` : 'Check the Chat settings, then send again.'}`;
    }
    case 'http':
      return `${Label} at ${url} answered with an error${err.status ? ` (HTTP ${err.status})` : ''}${said}.`;
  }
}

/** True when sending the same request again, unchanged and without the user doing anything, may succeed. */
export function isRetryable(err: unknown): boolean {
  if (!ProviderError.is(err)) return false;
  switch (err.reason) {
    case 'busy':
    case 'timeout':
    case 'emptyReply':
      return true;
    case 'serverDown':
      // A dropped stream is worth retrying; a server that is not there needs the user first.
      return err.midStream;
    case 'http':
      return err.status !== undefined && err.status >= 500;
    default:
      return false;
  }
}

/** The sampling fields Persona sends, by their name on the wire, and the setting each comes from. */
export const PARAMETER_SETTINGS: Record<string, string> = {
  temperature: 'Temperature',
  top_p: 'Top P',
  top_k: 'Top K',
  min_p: 'Min P',
  max_tokens: 'Max tokens',
  presence_penalty: 'Presence penalty',
  frequency_penalty: 'Frequency penalty',
  repeat_penalty: 'Repeat penalty',
  seed: 'Seed',
  stop: 'Stop sequences',
};

/** The first of our sampling fields a server's error text names, if any. */
export function parameterNamed(text: string): string | undefined {
  // "stop" is an ordinary word: only a quoted 'stop' is the field.
  const match = /\b(temperature|top_p|top_k|min_p|max_tokens|presence_penalty|frequency_penalty|repeat_penalty|seed)\b|['"`](stop)['"`]/i.exec(text);
  return (match?.[1] ?? match?.[2])?.toLowerCase();
}

function isLmStudio(label: string): boolean {
  return /lm ?studio/i.test(label);
}


