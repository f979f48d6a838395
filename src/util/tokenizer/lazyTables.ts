// Stands in for src/util/tokenizer/tables.ts inside dist/extension.js (see esbuild.mjs): the tables
// live in dist/tokenizer.js, required the first time something counts or chunks.
import * as path from 'node:path';
import type { O200k } from './tables';

let loaded: O200k | undefined;

export function o200k(): O200k {
  loaded ??= (require(path.join(__dirname, 'tokenizer.js')) as typeof import('./tables')).o200k();
  return loaded;
}
