// Turns a persona and a conversation into the messages sent to the model, within the model's
// context budget. Plain logic: no `vscode`, no network.
import type { Message } from '../shared/conversation';
import type { Persona } from '../shared/persona';
import type { ChatMessage } from '../providers/types';

export type TokenCounter = (text: string) => number;

/** Tokens a chat template adds around each message (role markers); an estimate that errs high. */
const PER_MESSAGE_OVERHEAD = 6;

export class PromptTooLongError extends Error {
  constructor(
    readonly promptTokens: number,
    readonly budget: number,
  ) {
    super(`The message needs about ${promptTokens} tokens but the model's context leaves room for ${budget}.`);
    this.name = 'PromptTooLongError';
  }
}

/** One pass with a function replacer: a name that contains `{{user}}` or `$&` is inserted as it is. */
export function substituteMacros(text: string, names: { char: string; user: string }): string {
  return text.replace(/\{\{(char|user)\}\}|<(BOT|USER)>/gi, (_, curly: string | undefined, angle: string | undefined) =>
    (curly ?? angle ?? '').toLowerCase() === 'user' ? names.user : names.char,
  );
}

export interface PromptInput {
  persona: Persona;
  userName: string;
  /** The conversation so far, ending with the user message to answer. */
  history: readonly Message[];
  /** The context length the model is loaded with; unknown = no client-side trimming. */
  contextLength?: number;
  /** Tokens kept free for the reply. */
  replyTokens: number;
  countTokens: TokenCounter;
}

export interface AssembledPrompt {
  messages: ChatMessage[];
  /** Our estimate (gpt-tokenizer counts are an approximation for local models). */
  promptTokens: number;
  /** Oldest messages left out to fit the context. */
  droppedMessages: number;
}

export function contextBudget(contextLength: number, replyTokens: number): number {
  // gpt-tokenizer's counts differ from local models' tokenizers: keep a margin of 10%.
  const margin = Math.max(64, Math.ceil(contextLength * 0.1));
  return contextLength - Math.min(replyTokens, Math.floor(contextLength / 2)) - margin;
}

export function assemblePrompt(input: PromptInput): AssembledPrompt {
  const names = { char: input.persona.name, user: input.userName };
  const system: ChatMessage = { role: 'system', content: substituteMacros(input.persona.systemPrompt, names) };
  const turns: ChatMessage[] = input.history
    .filter((m) => m.content.length > 0 && m.status !== 'error')
    .map((m) => ({ role: m.role, content: m.content }));

  const cost = (m: ChatMessage) => input.countTokens(m.content) + PER_MESSAGE_OVERHEAD;
  const costs = turns.map(cost);
  let total = cost(system) + costs.reduce((a, b) => a + b, 0);
  let dropped = 0;

  if (input.contextLength !== undefined) {
    const budget = contextBudget(input.contextLength, input.replyTokens);
    // Drop the oldest turns first; the last message (the one being answered) always stays.
    while (total > budget && dropped < turns.length - 1) {
      total -= costs[dropped]!;
      dropped++;
    }
    if (total > budget) throw new PromptTooLongError(total, budget);
  }
  return { messages: [system, ...turns.slice(dropped)], promptTokens: total, droppedMessages: dropped };
}
