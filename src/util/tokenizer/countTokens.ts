// Built as its own bundle (dist/tokenizer.js) and required on first use: gpt-tokenizer's tables
// are megabytes of JavaScript that activation should not parse. Counting and chunking share them.
import { o200k } from './tables';

/** Special tokens such as `<|endoftext|>` in the text count as text, never as an error. */
export function countTokens(text: string): number {
  return o200k().encode(text).length;
}

export { o200k };
