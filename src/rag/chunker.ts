// Splits a document into overlapping chunks of at most `chunkTokens` tokens for embedding, cut where
// a reader would cut (after a paragraph, else at a line start), each with its exact place in the
// source. Plain Node: no `vscode` here.
//
// The text is encoded once; chunks are slices of that one token array, so a chunk's `tokenCount` is
// its share of the whole document's encoding. (Encoding a chunk's text on its own can differ by a
// token or two at its edges, and the embedding model has its own tokenizer anyway: gpt-tokenizer's
// counts are a budget, not the server's truth.)
import { createHash } from 'node:crypto';
import { o200k } from '../util/tokenizer/tables';

export interface Chunk {
  /** Position in the document, from 0. */
  index: number;
  /** Exactly `source.slice(startOffset, endOffset)`: line endings (CRLF too) as they were. */
  text: string;
  /** First line of the chunk, 1-based. */
  startLine: number;
  /** Last line of the chunk, 1-based and inclusive (the line holding its last character). */
  endLine: number;
  /** Tokens in this chunk (gpt-tokenizer's o200k encoding of the whole document, sliced). */
  tokenCount: number;
  /** UTF-16 offset of the first character in the source. */
  startOffset: number;
  /** UTF-16 offset just past the last character. */
  endOffset: number;
}

export interface ChunkOptions {
  /** Most tokens in one chunk. Default 500; at least 16. */
  chunkTokens?: number;
  /**
   * About how many tokens a chunk repeats from the end of the one before, so a passage cut in two is
   * whole in one of them. Default 50. More than half a chunk is taken as half a chunk.
   */
  overlapTokens?: number;
}

export const defaultChunkTokens = 500;
export const defaultOverlapTokens = 50;
/**
 * A character is at most 4 tokens (one per UTF-8 byte), so any 4 token boundaries in a row include a
 * character boundary. After an overlap of up to 1.5 × half a chunk, 16 leaves those 4 for the next cut.
 */
const minChunkTokens = 16;

/**
 * The chunks of `text`, in order. Empty or whitespace-only text has none; text shorter than one chunk
 * is one chunk. Every line that has a character is inside at least one chunk, no chunk has more than
 * `chunkTokens` tokens, and neighbours share at most 1.5 × `overlapTokens`.
 *
 * Where a chunk ends, by preference: at the start of a paragraph (a line after a blank line) in the
 * second half of the chunk; else at a line start in the second half; else at the last line start
 * that still makes progress; else (one line longer than a chunk) between words near the limit, or at
 * the limit. The next chunk starts `overlapTokens` before that end, moved to the nearest line start
 * between half an overlap further back and the end; mid-line when there is none (long lines).
 */
export function chunkText(text: string, options: ChunkOptions = {}): Chunk[] {
  const settings = resolveOptions(options);
  if (!/\S/.test(text)) return [];
  return chunk(text, encodeForChunking(text), settings);
}

/** The tokens `chunkEncodedText` expects: o200k, with special tokens taken as text. */
export function encodeForChunking(text: string): number[] {
  return o200k().encode(text);
}

/**
 * `chunkText` for a caller that already has the text's tokens from `encodeForChunking` (to count
 * them, say): the same chunks, without encoding again.
 */
export function chunkEncodedText(text: string, tokens: readonly number[], options: ChunkOptions = {}): Chunk[] {
  const settings = resolveOptions(options);
  if (!/\S/.test(text)) return [];
  return chunk(text, tokens, settings);
}

function resolveOptions(options: ChunkOptions): Required<ChunkOptions> {
  const chunkTokens = options.chunkTokens ?? defaultChunkTokens;
  if (!Number.isInteger(chunkTokens) || chunkTokens < minChunkTokens) {
    throw new RangeError(`chunkTokens must be an integer of at least ${minChunkTokens}, got ${chunkTokens}`);
  }
  const overlapTokens = options.overlapTokens ?? defaultOverlapTokens;
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0) {
    throw new RangeError(`overlapTokens must be a non-negative integer, got ${overlapTokens}`);
  }
  return { chunkTokens, overlapTokens: Math.min(overlapTokens, Math.floor(chunkTokens / 2)) };
}

function chunk(text: string, tokens: readonly number[], { chunkTokens, overlapTokens }: Required<ChunkOptions>): Chunk[] {
  const n = tokens.length;
  const charAt = tokenOffsets(tokens, text.length);
  const lines = lineStarts(text);
  const { lineCuts, paragraphCuts } = cutCandidates(text, lines, charAt);

  const chunks: Chunk[] = [];
  let start = 0;
  let previousEnd = 0;
  for (;;) {
    const limit = start + chunkTokens;
    let end: number;
    if (limit >= n) {
      end = n;
    } else {
      // Never end at or before the previous chunk's end: that chunk would hold all of this one.
      const floor = Math.max(start, previousEnd);
      const halfFull = Math.max(floor + 1, start + Math.ceil(chunkTokens / 2));
      end =
        largestIn(paragraphCuts, halfFull, limit) ??
        largestIn(lineCuts, halfFull, limit) ??
        largestIn(lineCuts, floor + 1, limit) ??
        tokenCut(text, charAt, floor, limit, chunkTokens);
    }
    const startOffset = charAt[start]!;
    const endOffset = charAt[end]!;
    chunks.push({
      index: chunks.length,
      text: text.slice(startOffset, endOffset),
      startLine: lineOf(lines, startOffset) + 1,
      endLine: lineOf(lines, endOffset - 1) + 1,
      tokenCount: end - start,
      startOffset,
      endOffset,
    });
    if (end >= n) break;

    let next = end;
    const target = end - overlapTokens;
    if (overlapTokens > 0 && target > start) {
      next = nearestLineStart(lineCuts, target, Math.max(start + 1, target - Math.floor(overlapTokens / 2)), end - 1) ?? cleanAtOrAfter(charAt, target, end);
    }
    previousEnd = end;
    start = next;
  }
  return chunks;
}

/**
 * A guess from the first 8 KB of a file: true when it holds a NUL byte (as Git decides), or when more
 * than 30 % of it is invalid UTF-8 or control characters that text does not use. UTF-16 text has
 * NULs and counts as binary; Latin-1 text, even French with its accents, does not.
 */
export function isProbablyBinary(bytes: Uint8Array): boolean {
  const length = Math.min(bytes.length, sniffBytes);
  if (length === 0) return false;
  let suspicious = 0;
  let i = 0;
  while (i < length) {
    const b = bytes[i]!;
    if (b === 0) return true;
    if (b < 0x80) {
      // TAB, LF, VT, FF, CR, ESC and BS turn up in text files; other C0 controls and DEL rarely do.
      if ((b < 0x20 && !(b >= 0x08 && b <= 0x0d) && b !== 0x1b) || b === 0x7f) suspicious++;
      i++;
      continue;
    }
    const need = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) {
      suspicious++;
      i++;
      continue;
    }
    if (i + need >= length && length < bytes.length) break; // cut off by the 8 KB window, not broken
    let ok = i + need < length;
    for (let k = 1; ok && k <= need; k++) {
      const c = bytes[i + k]!;
      if ((c & 0xc0) !== 0x80) ok = false;
    }
    if (ok && need >= 2) {
      // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
      const c1 = bytes[i + 1]!;
      if ((b === 0xe0 && c1 < 0xa0) || (b === 0xed && c1 > 0x9f) || (b === 0xf0 && c1 < 0x90) || (b === 0xf4 && c1 > 0x8f)) ok = false;
    }
    if (ok) {
      i += need + 1;
    } else {
      suspicious++;
      i++;
    }
  }
  return suspicious / length > 0.3;
}

const sniffBytes = 8192;

/** SHA-256 of the text's UTF-8 bytes, as hex: the same text gives the same hash on every machine. */
export function contentHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

// ---- helpers ------------------------------------------------------------------------------------------

/**
 * `charAt[k]` is the UTF-16 offset where token `k` starts, or -1 when token `k` starts inside a
 * character (byte-level tokens can split a multi-byte character). `charAt[n]` is the text's length.
 *
 * Read from the encoding's own table, where a token is its text (valid UTF-8 on its own) or its
 * bytes (part of a character): one array lookup per token, no decoding. Decoding would not do:
 * gpt-tokenizer's decoder yields the whole characters of a token that ends with the first byte of
 * the next character, which would make that token's end look like a character boundary.
 */
function tokenOffsets(tokens: readonly number[], textLength: number): Int32Array {
  const charAt = new Int32Array(tokens.length + 1);
  const { pieces } = o200k();
  let units = 0;
  /** Continuation bytes still owed by the character being read. */
  let pending = 0;
  for (let k = 0; k < tokens.length; k++) {
    charAt[k] = pending === 0 ? units : -1;
    const piece = pieces[tokens[k]!];
    if (typeof piece === 'string') {
      units += piece.length;
    } else if (piece) {
      for (const byte of piece) {
        if (pending > 0) {
          pending--;
        } else {
          // A character starts here: 4-byte UTF-8 is 2 UTF-16 units (a surrogate pair), the rest 1.
          units += byte >= 0xf0 ? 2 : 1;
          pending = byte < 0xc0 ? 0 : byte < 0xe0 ? 1 : byte < 0xf0 ? 2 : 3;
        }
      }
    } else {
      throw new Error(`chunker: token ${tokens[k]} is not in the o200k table`);
    }
  }
  if (units !== textLength || pending !== 0) {
    // Cannot happen for text that came from a JS string; if it did, cutting by these offsets would be wrong.
    throw new Error(`chunker: the tokens spell ${units} characters, the text has ${textLength}`);
  }
  charAt[tokens.length] = textLength;
  return charAt;
}

/** Offsets where each line starts, lines ending in CRLF, LF or a lone CR (as VS Code counts them). */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) starts.push(i + 1);
    else if (c === 13) {
      if (text.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    }
  }
  return starts;
}

/** Token indices where a line starts (cuttable), and the subset where a paragraph starts. Ascending. */
function cutCandidates(text: string, lines: number[], charAt: Int32Array): { lineCuts: Int32Array; paragraphCuts: Int32Array } {
  const lineCuts: number[] = [];
  const paragraphCuts: number[] = [];
  let k = 0;
  let previousBlank = isBlank(text, lines[0]!, lines[1] ?? text.length);
  for (let i = 1; i < lines.length; i++) {
    const offset = lines[i]!;
    const blank = isBlank(text, offset, lines[i + 1] ?? text.length);
    if (offset < text.length) {
      while (k < charAt.length && (charAt[k] === -1 || charAt[k]! < offset)) k++;
      // A line start inside a token (the second newline of "\n\n" is often one token) cannot be cut at.
      if (charAt[k] === offset) {
        lineCuts.push(k);
        if (previousBlank && !blank) paragraphCuts.push(k);
      }
    }
    previousBlank = blank;
  }
  return { lineCuts: Int32Array.from(lineCuts), paragraphCuts: Int32Array.from(paragraphCuts) };
}

function isBlank(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13 && c !== 12 && c !== 11) return false;
  }
  return true;
}

/** The 0-based line holding `offset`. */
function lineOf(lines: number[], offset: number): number {
  let lo = 0;
  let hi = lines.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (lines[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The largest value in ascending `values` within [from, to], if any. */
function largestIn(values: Int32Array, from: number, to: number): number | undefined {
  if (from > to) return undefined;
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! <= to) lo = mid + 1;
    else hi = mid;
  }
  const candidate = values[lo - 1];
  return candidate !== undefined && candidate >= from ? candidate : undefined;
}

/** The value in ascending `values` within [from, to] nearest to `target`; on a tie the later one. */
function nearestLineStart(values: Int32Array, target: number, from: number, to: number): number | undefined {
  const before = largestIn(values, from, Math.min(target, to));
  const after = smallestIn(values, Math.max(target, from), to);
  if (before === undefined) return after;
  if (after === undefined) return before;
  return target - before < after - target ? before : after;
}

/** The smallest value in ascending `values` within [from, to], if any. */
function smallestIn(values: Int32Array, from: number, to: number): number | undefined {
  if (from > to) return undefined;
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  const candidate = values[lo];
  return candidate !== undefined && candidate <= to ? candidate : undefined;
}

/**
 * A cut inside one long line: at the last word start within the final eighth of the chunk, else at
 * the last token boundary that is also a character boundary, at most `limit`, after `floor`.
 */
function tokenCut(text: string, charAt: Int32Array, floor: number, limit: number, chunkTokens: number): number {
  const lookBack = Math.max(floor + 1, limit - Math.floor(chunkTokens / 8));
  for (let k = limit; k >= lookBack; k--) {
    const offset = charAt[k]!;
    if (offset > 0 && isSpace(text.charCodeAt(offset - 1)) !== isSpace(text.charCodeAt(offset))) return k;
  }
  for (let k = limit; k > floor; k--) {
    if (charAt[k] !== -1) return k;
  }
  // Unreachable with chunkTokens >= 16: the window after `floor` holds at least one character boundary.
  return cleanAtOrAfter(charAt, floor + 1, charAt.length - 1);
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** The first token boundary at or after `from` that is also a character boundary (at most `to`). */
function cleanAtOrAfter(charAt: Int32Array, from: number, to: number): number {
  for (let k = from; k < to; k++) {
    if (charAt[k] !== -1) return k;
  }
  return to;
}
