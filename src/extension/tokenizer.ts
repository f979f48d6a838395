// Built as its own bundle (dist/tokenizer.js) and required on first use: gpt-tokenizer's tables
// are megabytes of JavaScript that activation should not parse.
import { encode } from 'gpt-tokenizer';

const NO_SPECIAL = { disallowedSpecial: new Set<string>() };

/** Special tokens such as `<|endoftext|>` in the text count as text, never as an error. */
export function countTokens(text: string): number {
  return encode(text, NO_SPECIAL).length;
}
