// Counting tokens with gpt-tokenizer's o200k encoding. In the extension the tables are not bundled
// into dist/extension.js: esbuild.mjs swaps `./tables` for lazyTables.ts, which requires
// dist/tokenizer.js (tables.ts, a bundle of its own) the first time something counts or chunks.
import { o200k } from './tables';

/** Special tokens such as `<|endoftext|>` in the text count as text, never as an error. */
export function countTokens(text: string): number {
  return o200k().encode(text).length;
}
