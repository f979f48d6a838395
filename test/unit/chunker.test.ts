// The chunker's promises, checked over many generated documents (seeded, so a failure reproduces)
// against oracles that do not share its code: line numbers from splitting the text, token counts
// from encoding again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { encode } from 'gpt-tokenizer';
import { chunkEncodedText, chunkText, contentHash, encodeForChunking, isProbablyBinary, type Chunk } from '../../src/rag/chunker';
import { prng } from '../support/prng';

const noSpecial = { disallowedSpecial: new Set<string>() };

const plainWords = ['the', 'memory', 'persona', 'index', 'function', 'return', 'chunk', 'token', 'line', 'vector'];

function plainSentence(rand: () => number, maxWords: number): string {
  const count = 1 + Math.floor(rand() * maxWords);
  return Array.from({ length: count }, () => pick(rand, plainWords)).join(' ');
}

const words = ['the', 'memory', 'persona', 'index', 'function', 'return', 'chunk', 'token', 'line', 'KoboldCpp', 'embedding', 'vector', 'über', 'naïve', 'café', '東京', 'データ', 'Привет', 'مرحبا', '🙂', '🧑‍🚒', 'e\u0301', '<|endoftext|>', '<|im_start|>', '<|fim_prefix|>', 'x_y_z', '0x1F', '3.14159', '{', '}', '();', '=>', '//', '#', '-', '*'];

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function sentence(rand: () => number, maxWords: number): string {
  const count = 1 + Math.floor(rand() * maxWords);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(pick(rand, words));
  return out.join(rand() < 0.1 ? '' : ' ');
}

/** A document mixing prose paragraphs, code, blank lines, long lines, Unicode, special tokens and all three line endings. */
function generateDocument(rand: () => number): string {
  const eolStyle = pick(rand, ['\n', '\r\n', 'mixed', '\r'] as const);
  const eol = () => (eolStyle === 'mixed' ? pick(rand, ['\n', '\r\n', '\n', '\r']) : eolStyle);
  const parts: string[] = [];
  const blocks = Math.floor(rand() * 40);
  for (let b = 0; b < blocks; b++) {
    const kind = rand();
    if (kind < 0.35) {
      const lines = 1 + Math.floor(rand() * 6);
      for (let i = 0; i < lines; i++) parts.push(sentence(rand, 30) + eol());
      parts.push(eol());
    } else if (kind < 0.7) {
      const lines = 1 + Math.floor(rand() * 15);
      for (let i = 0; i < lines; i++) parts.push(' '.repeat(Math.floor(rand() * 4) * 2) + sentence(rand, 8) + (rand() < 0.1 ? '  ' : '') + eol());
    } else if (kind < 0.76) {
      parts.push(sentence(rand, 600) + eol());
    } else if (kind < 0.86) {
      const blanks = 1 + Math.floor(rand() * 4);
      for (let i = 0; i < blanks; i++) parts.push((rand() < 0.3 ? ' \t ' : '') + eol());
    } else if (kind < 0.89) {
      parts.push('x'.repeat(Math.floor(rand() * 3000)) + eol());
    } else {
      parts.push(sentence(rand, 10));
    }
  }
  if (rand() < 0.5) parts.push(sentence(rand, 20));
  return parts.join('');
}

/** 0-based line of the character at `offset`, by splitting the text before it (CRLF, LF and lone CR end lines). */
function lineAt(text: string, offset: number): number {
  let line = text.slice(0, offset).split(/\r\n|\r|\n/).length - 1;
  // The '\n' of a CRLF belongs to the line its '\r' ends.
  if (offset > 0 && text[offset - 1] === '\r' && text[offset] === '\n') line--;
  return line;
}

interface Line {
  start: number;
  end: number;
}

function linesOf(text: string): Line[] {
  const lines: Line[] = [];
  const re = /\r\n|\r|\n/g;
  let start = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    lines.push({ start, end: m.index + m[0].length });
    start = m.index + m[0].length;
  }
  if (start < text.length) lines.push({ start, end: text.length });
  return lines;
}

interface Stats {
  chunks: number;
  reencodedDiffers: number;
  paragraphEnds: number;
  lineEnds: number;
  midLineEnds: number;
}

/** Every promise the chunker makes, for one document and one setting. */
function checkChunks(text: string, chunks: Chunk[], chunkTokens: number, overlapTokens: number, stats?: Stats): void {
  const context = (c: Chunk) => `chunk ${c.index} [${c.startOffset}, ${c.endOffset}) of a ${text.length}-char text, chunkTokens ${chunkTokens}, overlap ${overlapTokens}`;
  if (!/\S/.test(text)) {
    assert.deepEqual(chunks, []);
    return;
  }
  assert.ok(chunks.length > 0, 'text with content has chunks');
  const total = encode(text, noSpecial).length;
  const effectiveOverlap = Math.min(overlapTokens, Math.floor(chunkTokens / 2));
  // Snapping to a line start may move back by up to half an overlap.
  const maxShared = effectiveOverlap + Math.floor(effectiveOverlap / 2);
  assert.equal(chunks[0]!.startOffset, 0, 'the first chunk starts at the beginning');
  assert.equal(chunks.at(-1)!.endOffset, text.length, 'the last chunk ends at the end');

  let tokenSum = 0;
  for (const [i, c] of chunks.entries()) {
    assert.equal(c.index, i);
    assert.equal(c.text, text.slice(c.startOffset, c.endOffset), `${context(c)}: text is the source slice`);
    assert.ok(c.tokenCount > 0 && c.tokenCount <= chunkTokens, `${context(c)}: ${c.tokenCount} tokens`);
    assert.equal(c.startLine, lineAt(text, c.startOffset) + 1, `${context(c)}: startLine`);
    assert.equal(c.endLine, lineAt(text, c.endOffset - 1) + 1, `${context(c)}: endLine`);
    assert.ok(c.startLine <= c.endLine);
    // Never between the CR and LF of one line ending.
    assert.ok(!(text[c.startOffset - 1] === '\r' && text[c.startOffset] === '\n'), `${context(c)}: starts inside a CRLF`);
    // Encoding the chunk alone may differ at its edges by a token; never by more.
    const reencoded = encode(c.text, noSpecial).length;
    assert.ok(Math.abs(reencoded - c.tokenCount) <= 2, `${context(c)}: counted ${c.tokenCount}, encoding it alone gives ${reencoded}`);
    tokenSum += c.tokenCount;
    if (stats) {
      stats.chunks++;
      if (reencoded !== c.tokenCount) stats.reencodedDiffers++;
      if (i < chunks.length - 1) {
        if (/(\r\n|\r|\n)[ \t\f\v]*(\r\n|\r|\n)$/.test(c.text)) stats.paragraphEnds++;
        else if (/[\r\n]$/.test(c.text)) stats.lineEnds++;
        else stats.midLineEnds++;
      }
    }
    if (i === 0) continue;
    const previous = chunks[i - 1]!;
    assert.ok(c.startOffset > previous.startOffset, `${context(c)}: starts after the previous chunk's start`);
    assert.ok(c.endOffset > previous.endOffset, `${context(c)}: ends after the previous chunk's end`);
    assert.ok(c.startOffset <= previous.endOffset, `${context(c)}: no gap after the previous chunk`);
    const shared = text.slice(c.startOffset, previous.endOffset);
    if (effectiveOverlap === 0) assert.equal(shared, '', `${context(c)}: no overlap asked, none given`);
    else assert.ok(encode(shared, noSpecial).length <= maxShared + 2, `${context(c)}: overlap of ${encode(shared, noSpecial).length} tokens`);
  }
  // The chunks tile the document's tokens, each overlap at most 1.5 × overlapTokens.
  assert.ok(tokenSum >= total, `token counts add up to at least the document's ${total} (got ${tokenSum})`);
  assert.ok(tokenSum <= total + (chunks.length - 1) * maxShared, `overlaps add at most ${maxShared} tokens per chunk (sum ${tokenSum}, document ${total})`);

  for (const [n, line] of linesOf(text).entries()) {
    const covered = chunks.some((c) => c.startOffset < line.end && c.endOffset > line.start && c.startLine <= n + 1 && n + 1 <= c.endLine);
    assert.ok(covered, `line ${n + 1} is in a chunk`);
  }
}

describe('chunkText: properties over generated documents', () => {
  const settings: Array<[number, number]> = [
    [500, 50],
    [100, 20],
    [50, 0],
    [32, 16],
    [16, 4],
    [16, 8],
    [64, 1000],
  ];

  test('source slices, token limits, overlap, line ranges and coverage hold for 300 documents under 7 settings', (t) => {
    const stats: Stats = { chunks: 0, reencodedDiffers: 0, paragraphEnds: 0, lineEnds: 0, midLineEnds: 0 };
    for (let seed = 1; seed <= 300; seed++) {
      const rand = prng(seed);
      const text = generateDocument(rand);
      const [chunkTokens, overlapTokens] = settings[seed % settings.length]!;
      const chunks = chunkText(text, { chunkTokens, overlapTokens });
      try {
        checkChunks(text, chunks, chunkTokens, overlapTokens, stats);
      } catch (e) {
        if (e instanceof Error) e.message = `seed ${seed}: ${e.message}`;
        throw e;
      }
    }
    t.diagnostic(
      `${stats.chunks} chunks; ends: ${stats.paragraphEnds} after a paragraph, ${stats.lineEnds} at a line end, ${stats.midLineEnds} mid-line; ` +
        `${stats.reencodedDiffers} whose count differs when encoded alone`,
    );
  });

  test('the same text gives the same chunks, also from tokens the caller encoded', () => {
    const text = generateDocument(prng(42));
    const chunks = chunkText(text, { chunkTokens: 64, overlapTokens: 8 });
    assert.ok(chunks.length > 5);
    assert.deepEqual(chunkText(text, { chunkTokens: 64, overlapTokens: 8 }), chunks);
    assert.deepEqual(chunkEncodedText(text, encodeForChunking(text), { chunkTokens: 64, overlapTokens: 8 }), chunks);
  });
});

describe('chunkText: where it cuts', () => {
  const paragraph = (rand: () => number) => {
    const out: string[] = [];
    const lines = 2 + Math.floor(rand() * 4);
    for (let i = 0; i < lines; i++) out.push(plainSentence(rand, 8));
    return out.join('\n');
  };

  test('between paragraphs when one ends in the second half of the chunk; the next chunk starts at a line start', () => {
    const rand = prng(7);
    const text = Array.from({ length: 120 }, () => paragraph(rand)).join('\n\n') + '\n';
    const chunks = chunkText(text, { chunkTokens: 200, overlapTokens: 20 });
    checkChunks(text, chunks, 200, 20);
    for (const c of chunks.slice(0, -1)) {
      assert.match(c.text, /\n\n$/, `chunk ${c.index} ends after a blank line`);
      assert.ok(c.tokenCount >= 100, `chunk ${c.index} is at least half full (${c.tokenCount})`);
    }
    for (const c of chunks.slice(1)) assert.equal(text[c.startOffset - 1], '\n', `chunk ${c.index} starts at a line start`);
  });

  test('at line ends when there are no blank lines', () => {
    const rand = prng(8);
    const text = Array.from({ length: 400 }, () => plainSentence(rand, 6)).join('\n') + '\n';
    const chunks = chunkText(text, { chunkTokens: 150, overlapTokens: 15 });
    checkChunks(text, chunks, 150, 15);
    for (const c of chunks.slice(0, -1)) assert.match(c.text, /\n$/, `chunk ${c.index} ends at a line end`);
    for (const c of chunks.slice(1)) assert.equal(text[c.startOffset - 1], '\n', `chunk ${c.index} starts at a line start`);
  });

  test('a single line longer than a chunk is cut by tokens, between words where it can, and overlaps by exactly overlapTokens', () => {
    const rand = prng(9);
    const line = Array.from({ length: 6000 }, () => pick(rand, ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'])).join(' ');
    const chunks = chunkText(line, { chunkTokens: 500, overlapTokens: 50 });
    checkChunks(line, chunks, 500, 50);
    assert.ok(chunks.length >= 12);
    for (const c of chunks) {
      assert.equal(c.startLine, 1);
      assert.equal(c.endLine, 1);
    }
    for (const c of chunks.slice(0, -1)) {
      assert.ok(c.tokenCount >= 437, `chunk ${c.index} is nearly full (${c.tokenCount})`);
      assert.match(c.text, /[a-z]$/, `chunk ${c.index} ends at the end of a word`);
    }
    for (const c of chunks.slice(1)) {
      const shared = line.slice(c.startOffset, chunks[c.index - 1]!.endOffset);
      assert.equal(encode(shared, noSpecial).length, 50, `chunk ${c.index} repeats 50 tokens`);
    }
  });

  test('a minified line with no spaces is cut at the token limit', () => {
    const text = 'a=1;'.repeat(20_000);
    const chunks = chunkText(text, { chunkTokens: 500, overlapTokens: 50 });
    checkChunks(text, chunks, 500, 50);
    for (const c of chunks.slice(0, -1)) assert.equal(c.tokenCount, 500);
  });

  test('a short line followed by a huge one: the short line is not glued to a token cut', () => {
    const text = 'const header = 1;\n' + 'word '.repeat(3000) + '\nconst footer = 2;\n';
    const chunks = chunkText(text, { chunkTokens: 300, overlapTokens: 30 });
    checkChunks(text, chunks, 300, 30);
    assert.equal(chunks[0]!.text, 'const header = 1;\n');
    assert.match(chunks.at(-1)!.text, /const footer = 2;\n$/);
  });

  test('characters that span several tokens are never split', () => {
    // Rare CJK characters and emoji are several byte-level tokens each.
    const text = '𠜎𠜱𠝹𠱓𠱸𠲖𠳏🧑‍🚒🫠'.repeat(400);
    const chunks = chunkText(text, { chunkTokens: 16, overlapTokens: 8 });
    checkChunks(text, chunks, 16, 8);
    for (const c of chunks) {
      assert.doesNotMatch(c.text, /^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/, `chunk ${c.index} does not split a surrogate pair`);
      assert.ok(!c.text.includes('\uFFFD'));
    }
  });
});

describe('chunkText: edge cases', () => {
  test('empty and whitespace-only text have no chunks', () => {
    assert.deepEqual(chunkText(''), []);
    assert.deepEqual(chunkText('   \n\t\r\n  '), []);
  });

  test('text shorter than a chunk is one chunk holding all of it', () => {
    const text = 'first line\nsecond line\n\nfourth line';
    assert.deepEqual(chunkText(text), [{ index: 0, text, startLine: 1, endLine: 4, tokenCount: encode(text, noSpecial).length, startOffset: 0, endOffset: text.length }]);
  });

  test('a trailing newline ends the last line; it does not start another', () => {
    const [chunk] = chunkText('one\ntwo\n');
    assert.equal(chunk!.endLine, 2);
  });

  test('special tokens are text: no error, counted as the text they spell', () => {
    const text = 'before <|endoftext|> middle <|im_start|>system<|im_end|> after <|fim_prefix|>';
    const [chunk] = chunkText(text);
    assert.equal(chunk!.text, text);
    assert.ok(chunk!.tokenCount > 10, 'each special token is several ordinary tokens');
    assert.throws(() => encode(text), 'without the option gpt-tokenizer refuses this text');
  });

  test('CRLF text keeps its line endings, and its line numbers match the LF version', () => {
    const rand = prng(11);
    const lf = Array.from({ length: 300 }, () => sentence(rand, 10)).join('\n');
    const crlf = lf.replace(/\n/g, '\r\n');
    const chunks = chunkText(crlf, { chunkTokens: 60, overlapTokens: 10 });
    checkChunks(crlf, chunks, 60, 10);
    const lfLines = lf.split('\n');
    for (const c of chunks) {
      assert.ok(c.text.split('\r\n').every((piece) => !piece.includes('\n')), 'no bare LF appears');
      const firstLine = c.text.split('\r\n')[0]!;
      assert.ok(lfLines[c.startLine - 1]!.endsWith(firstLine), `chunk ${c.index}'s first line is (the end of) line ${c.startLine}`);
    }
  });

  test('lone CR line endings count as lines, as in VS Code', () => {
    const [chunk] = chunkText('a\rb\rc');
    assert.equal(chunk!.endLine, 3);
  });

  test('options: chunkTokens below 16 is refused; an overlap of more than half a chunk becomes half', () => {
    assert.throws(() => chunkText('hello', { chunkTokens: 15 }), RangeError);
    assert.throws(() => chunkText('hello', { overlapTokens: -1 }), RangeError);
    assert.throws(() => chunkText('hello', { chunkTokens: 10.5 }), RangeError);
    const text = 'word '.repeat(2000);
    const chunks = chunkText(text, { chunkTokens: 100, overlapTokens: 500 });
    checkChunks(text, chunks, 100, 500);
    // One long line: no line start to snap to, so exactly half a chunk.
    for (const c of chunks.slice(1)) assert.equal(encode(text.slice(c.startOffset, chunks[c.index - 1]!.endOffset), noSpecial).length, 50);
  });
});

describe('chunkText: speed', () => {
  test('a 5 MB file (diagnostic only: timings on a shared 2-core machine vary)', (t) => {
    const rand = prng(5);
    const parts: string[] = [];
    let length = 0;
    while (length < 5_000_000) {
      const part = rand() < 0.3 ? '\n' : '  ' + sentence(rand, 14) + (rand() < 0.5 ? ';' : '') + '\n';
      parts.push(part);
      length += part.length;
    }
    const text = parts.join('').slice(0, 5_000_000);
    // Timed apart: encoding, which is gpt-tokenizer's work, and what the chunker adds on top (best of
    // two rounds: it is short, and one sample on a busy machine says more about the machine).
    const t0 = performance.now();
    const tokens = encodeForChunking(text);
    const encodeMs = performance.now() - t0;
    let chunkMs = Infinity;
    let chunks: Chunk[] = [];
    for (let round = 0; round < 2; round++) {
      const t1 = performance.now();
      chunks = chunkEncodedText(text, tokens);
      chunkMs = Math.min(chunkMs, performance.now() - t1);
    }
    t.diagnostic(
      `5 MB, ${tokens.length} tokens, ${chunks.length} chunks: encoding ${Math.round(encodeMs)} ms (${Math.round(tokens.length / encodeMs)}k tokens/s); ` +
        `chunking on top ${Math.round(chunkMs)} ms (${Math.round((chunkMs / encodeMs) * 100)}% of encoding)`,
    );
    assert.equal(chunks.at(-1)!.endOffset, text.length);
  });
});

describe('isProbablyBinary', () => {
  const utf8 = (s: string) => new TextEncoder().encode(s);

  test('text, in any language, is not binary', () => {
    assert.equal(isProbablyBinary(utf8('plain ASCII\nwith lines\r\n\tand tabs')), false);
    assert.equal(isProbablyBinary(utf8('日本語のテキスト 🙂 Ünïcödé — ok\n'.repeat(500))), false);
    assert.equal(isProbablyBinary(utf8('\x1b[31mcolored log\x1b[0m\n')), false);
    assert.equal(isProbablyBinary(new Uint8Array(0)), false);
  });

  test('a NUL byte makes it binary, as for Git', () => {
    assert.equal(isProbablyBinary(utf8('almost text\0')), true);
    assert.equal(isProbablyBinary(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d])), true, 'PNG');
    const utf16 = Buffer.from('\ufeffhello in UTF-16', 'utf16le');
    assert.equal(isProbablyBinary(utf16), true, 'UTF-16 has NULs');
  });

  test('mostly invalid UTF-8 is binary; Latin-1 text with a few accents is not', () => {
    const rand = prng(3);
    const noise = Uint8Array.from({ length: 4096 }, () => 1 + Math.floor(rand() * 255));
    assert.equal(isProbablyBinary(noise), true);
    assert.equal(isProbablyBinary(Buffer.from('Le café est très bon, déjà vu à la française.\n'.repeat(50), 'latin1')), false);
    assert.equal(isProbablyBinary(randomBytes(8192).map((b) => b | 1)), true);
  });

  test('only the first 8 KB count, and a character cut at 8 KB is not an error', () => {
    const head = new Uint8Array(8191).fill(0x61);
    const euro = utf8('€'); // 3 bytes, cut after the first
    const bytes = new Uint8Array(8192 + 100);
    bytes.set(head);
    bytes.set(euro, 8191);
    bytes.fill(0, 8194); // NULs beyond the window are not looked at
    assert.equal(isProbablyBinary(bytes), false);
  });
});

describe('contentHash', () => {
  test('is the SHA-256 of the UTF-8 text, in hex', () => {
    assert.equal(contentHash('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(contentHash(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(contentHash('ü'), contentHash('ü'));
    assert.notEqual(contentHash('a\nb'), contentHash('a\r\nb'));
  });
});
