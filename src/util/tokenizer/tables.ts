// gpt-tokenizer's o200k encoding: megabytes of tables. In the extension this module is not bundled
// into dist/extension.js: esbuild.mjs swaps it for src/util/tokenizer/lazyTables.ts, which loads
// it from dist/tokenizer.js on first use, so activation never parses it. Tests use it directly.
import pieces from 'gpt-tokenizer/bpeRanks/o200k_base';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';

/** Special tokens such as `<|endoftext|>` in a file are text, never an error. */
const noSpecialTokens = { disallowedSpecial: new Set<string>() };

export interface O200k {
  encode(text: string): number[];
  /** Each token's text (a string) or bytes (an array), by token id. */
  readonly pieces: readonly (string | readonly number[])[];
}

const o200kTables: O200k = { encode: (text) => encode(text, noSpecialTokens), pieces: pieces as O200k['pieces'] };

export function o200k(): O200k {
  return o200kTables;
}
