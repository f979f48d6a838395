// The one place where an error becomes the sentence a person reads.
import { describeProviderError, ProviderError } from '../providers/errors';
import { CardError } from '../characters/cards/cardCodec';
import { UserFacingError } from './chatService';
import { BuiltInPersonaError, UnknownPersonaError } from '../characters/personaRegistry';
import { PromptTooLongError } from '../characters/prompt';

export function describeError(error: unknown): string {
  if (error instanceof UserFacingError) return error.message;
  if (CardError.is(error)) return error.message;
  if (error instanceof BuiltInPersonaError) return `${error.personaName} is built in, so it cannot be changed or deleted.`;
  if (error instanceof UnknownPersonaError) return `There is no persona "${error.personaId}" any more; it may have been deleted.`;
  if (error instanceof PromptTooLongError) {
    return `This message is too long for the model's context (about ${error.promptTokens} tokens; room for ${error.budget}). Shorten it, start a new chat, or load the model with a larger context length.`;
  }
  if (ProviderError.is(error)) return describeProviderError(error);
  if (error instanceof Error) return error.message;
  return String(error);
}
