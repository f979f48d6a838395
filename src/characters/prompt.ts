// The model's context budget, and the error when a prompt cannot fit it (the prompt itself is
// assembled by cards/cardPrompt.ts).
import { PersonaError } from '../util/personaError';
export type TokenCounter = (text: string) => number;

export class PromptTooLongError extends PersonaError<'promptTooLong'> {
  constructor(
    readonly promptTokens: number,
    readonly budget: number,
  ) {
    super('promptTooLong', `The message needs about ${promptTokens} tokens but the model's context leaves room for ${budget}.`);
    this.name = 'PromptTooLongError';
  }
}

export function contextBudget(contextLength: number, replyTokens: number): number {
  // gpt-tokenizer's counts differ from local models' tokenizers: keep a margin of 10%.
  const margin = Math.max(64, Math.ceil(contextLength * 0.1));
  return contextLength - Math.min(replyTokens, Math.floor(contextLength / 2)) - margin;
}
