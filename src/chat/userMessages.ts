// The one place where an error becomes the sentence a person reads.
import { describeProviderError, ProviderError } from '../providers/errors';
import { BuiltInPersonaError, UnknownPersonaError } from '../characters/personaRegistry';
import { PromptTooLongError } from '../characters/prompt';
import { PersonaError } from '../util/personaError';

export function describeError(error: unknown): string {
  if (error instanceof BuiltInPersonaError) return `${error.personaName} is built in, so it cannot be changed or deleted.`;
  if (error instanceof UnknownPersonaError) return `There is no persona "${error.personaId}" any more; it may have been deleted.`;
  if (error instanceof PromptTooLongError) {
    return `This message is too long for the model's context (about ${error.promptTokens} tokens; room for ${error.budget}). Shorten it, start a new chat, or load the model with a larger context length.`;
  }
  if (ProviderError.is(error)) return describeProviderError(error);
  // Every other error a person may read says what to do in its own message.
  if (PersonaError.is(error)) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** A failed webview request's answer: the sentence, and the reason the app may act on. */
export function describeErrorForView(error: unknown): { message: string; reason?: string } {
  return { message: describeError(error), ...(PersonaError.is(error) ? { reason: error.reason } : {}) };
}
