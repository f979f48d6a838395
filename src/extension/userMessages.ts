// The one place where an error becomes the sentence a person reads.
import { describeProviderError, ProviderError } from '../providers/errors';
import { UserFacingError } from './chatService';
import { PromptTooLongError } from './prompt';

export function describeError(error: unknown): string {
  if (error instanceof UserFacingError) return error.message;
  if (error instanceof PromptTooLongError) {
    return `This message is too long for the model's context (about ${error.promptTokens} tokens; room for ${error.budget}). Shorten it, start a new chat, or load the model with a larger context length.`;
  }
  if (ProviderError.is(error)) return describeProviderError(error);
  if (error instanceof Error) return error.message;
  return String(error);
}
