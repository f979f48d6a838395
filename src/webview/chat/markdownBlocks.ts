// A streaming reply split into top-level markdown blocks, so that the chat renders each finished
// block once (markdownView.tsx) and only the block still being written is parsed again as text
// arrives. A boundary is placed only where rendering the two sides separately gives what rendering
// them together gives:
//
//   - after blank lines, unless what follows can continue the block before them: an indented line
//     (a list item's next paragraph, indented code), an item of a list the block holds (a loose
//     list), anything while a fenced code block or an HTML block of the kinds that end at a marker
//     (`<!--`…`-->`, `<pre>`…`</pre>`) is open. A blank line ends block quotes, tables,
//     paragraphs and setext headings (`para` / `---` is a heading only without a blank line
//     between) in marked, as in CommonMark;
//   - before an ATX heading or an opening fence, which interrupt a paragraph, a table or a list;
//   - after an ATX heading or a closing fence, which nothing continues.
//
// Fences follow marked: ``` or ~~~ of any length, indented 0–3 columns; a closing fence is the
// same character, at least as long, with only spaces after; backticks cannot appear in a backtick
// fence's info string. A fence opened inside a list item belongs to that item, so the splitter
// keeps the column where the current item's content starts.
//
// These rules decide where to look. Each boundary they propose is then checked with marked's own
// block lexer on the block plus the line after it: the boundary stands only if a top-level token
// ends exactly there. Lexing the block once more (blocks only, no inline parsing) is cheap next to
// rendering it, and it makes a wrong guess above (marked has quirks around lazy lines in lists
// and quotes) cost a larger block instead of a different rendering. A boundary is decided once
// the line after it is complete, so the text before it can no longer change how it is read.
//
// The one accepted difference: a reference-style link (`[text][ref]`) whose definition
// (`[ref]: https://…`) sits in another block renders as plain text. Models rarely write them.
import { getDefaults, Lexer } from 'marked';

export interface MarkdownBlocks {
  /**
   * The finished blocks, in order; their text never changes again while the content grows. The
   * array grows in place from one update to the next and is a new array when the content was
   * replaced by text that does not continue it.
   */
  readonly blocks: readonly string[];
  /** The rest of the content: the block still being written (possibly empty). */
  readonly tail: string;
}

/**
 * Lines nested deeper than this (quote and list markers, list indentation in steps of four
 * columns) make marked slow: its time grows with the square of the depth or worse (`> ` a
 * thousand times over 100 KB takes seconds), and quotes that close one level per line grow about
 * 1.7× per level (12 levels 26 ms, 16 levels 0.4 s, 30 levels never finish: bench:chat found it).
 * No reply nests this deep on purpose.
 */
export const MAX_NESTING_DEPTH = 10;

/**
 * How deeply a line nests blocks: its leading quote (`>`) and list markers, and the whitespace
 * before its last marker in steps of four columns (a list nested by indentation alone).
 */
export function nestingDepth(line: string): number {
  if (HR.test(line.trim())) return 0; // `- - - -` is a rule, not lists
  let markers = 0;
  let indent = 0;
  let indentBeforeMarker = 0;
  let i = 0;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (c === SPACE) {
      indent++;
      i++;
    } else if (c === TAB) {
      indent += 4 - (indent % 4);
      i++;
    } else if (c === GREATER_THAN) {
      markers++;
      indentBeforeMarker = indent;
      i += line.charCodeAt(i + 1) === SPACE ? 2 : 1;
    } else {
      const marker = LIST_MARKER_AT.exec(line.slice(i, i + 12))?.[0];
      if (marker === undefined) break;
      markers++;
      indentBeforeMarker = indent;
      i += marker.length;
    }
  }
  return markers + Math.floor(indentBeforeMarker / 4);
}

/** A fenced code block that opens `text` and is still open at its end: the language and the code so far. */
export function openFence(text: string): { language: string; code: string } | undefined {
  const firstEnd = LINE_END.exec(text);
  if (firstEnd === null) return undefined;
  const first = text.slice(0, firstEnd.index);
  const { columns, index } = indentation(first);
  const rest = first.slice(index);
  const fence = columns <= 3 ? fenceOpening(rest) : undefined;
  if (fence === undefined) return undefined;
  const code = text.slice(firstEnd.index + firstEnd[0].length).replace(/\r\n?/g, '\n');
  const lines = code.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!closesFence(lines[i]!, fence)) continue;
    // A closing fence on the last line, before its line end arrives, closes the block already.
    if (i === lines.length - 1) return { language: fence.language, code: lines.slice(0, i).join('\n') };
    return undefined;
  }
  return { language: fence.language, code: code.endsWith('\n') ? code.slice(0, -1) : code };
}

/** A block that is one GFM table and nothing else, as lines: drawn a row at a time (markdownView.tsx). */
export interface TableLines {
  /** The header row and the delimiter row. */
  readonly head: string;
  /** The body rows, each a line that starts with `|`. */
  readonly rows: readonly string[];
}

const TABLE_DELIMITER_ROW = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
const TABLE_ROW = /^ {0,3}\|/;

/**
 * `text` as a table's head and body rows, when it looks like one table alone: a header line with a
 * `|`, a delimiter row, and body lines that each start with `|` (no line of another block can). An
 * open block's last line is left out until its line end arrives. Whether the head really is a
 * table's (as many delimiter cells as header cells) is the renderer's to say. Lines ending in `\r`
 * are not taken: such text is rendered as a block.
 */
export function tableLines(text: string, finished: boolean): TableLines | undefined {
  const lines = text.split('\n');
  if (!finished) lines.pop();
  let end = lines.length;
  while (end > 0 && lines[end - 1]!.trim() === '') end--;
  let start = 0;
  while (start < end && lines[start]!.trim() === '') start++;
  if (end - start < 2) return undefined;
  const header = lines[start]!;
  const delimiter = lines[start + 1]!;
  if (!header.includes('|') || /^(?: {4}|\t)/.test(header) || header.endsWith('\r') || !TABLE_DELIMITER_ROW.test(delimiter)) return undefined;
  const rows = lines.slice(start + 2, end);
  if (!rows.every((row) => TABLE_ROW.test(row) && !row.endsWith('\r'))) return undefined;
  return { head: `${header}\n${delimiter}`, rows };
}

/** Splits content that grows, scanning each line once. */
export class MarkdownBlockSplitter {
  #content = '';
  #blocks: string[] = [];
  /** Where the open block starts. */
  #blockStart = 0;
  /** Where the first line not yet scanned starts. */
  #lineStart = 0;
  /** Where to go on looking for that line's end (the line may be long and arrive in pieces). */
  #searchFrom = 0;
  #scan = new BlockScan();
  #result: MarkdownBlocks = { blocks: this.#blocks, tail: '' };

  update(content: string): MarkdownBlocks {
    if (content === this.#content) return this.#result;
    if (!content.startsWith(this.#content)) {
      if (content.startsWith(this.#content.slice(0, this.#lineStart))) {
        // Only the line still arriving changed: look for its end again from its start.
        this.#searchFrom = this.#lineStart;
      } else {
        this.#restart();
      }
    }
    this.#content = content;
    this.#scanLines();
    this.#result = { blocks: this.#blocks, tail: content.slice(this.#blockStart) };
    return this.#result;
  }

  #restart(): void {
    this.#blocks = [];
    this.#blockStart = 0;
    this.#lineStart = 0;
    this.#searchFrom = 0;
    this.#scan = new BlockScan();
  }

  #scanLines(): void {
    const content = this.#content;
    const lineEnd = new RegExp(LINE_END.source, 'g');
    for (;;) {
      lineEnd.lastIndex = this.#searchFrom;
      const end = lineEnd.exec(content);
      // A '\r' last may be the first half of '\r\n': the line is complete once the next character is known.
      if (end === null || (end[0] === '\r' && end.index === content.length - 1)) {
        this.#searchFrom = end === null ? content.length : end.index;
        return;
      }
      const next = end.index + end[0].length;
      const line = content.slice(this.#lineStart, end.index);
      if (this.#blockStart < this.#lineStart && this.#scan.mayEndBefore(line) && this.#endsCleanly(content.slice(this.#lineStart, next))) {
        this.#blocks.push(content.slice(this.#blockStart, this.#lineStart));
        this.#blockStart = this.#lineStart;
        this.#scan = new BlockScan();
      }
      this.#scan.take(line);
      this.#lineStart = next;
      this.#searchFrom = next;
    }
  }

  /** Whether marked, reading the open block and then `line`, ends a top-level token where the block ends. */
  #endsCleanly(line: string): boolean {
    // Too deep to lex quickly; the renderer shows such a block as plain text anyway.
    if (this.#scan.deepest > MAX_NESTING_DEPTH) return true;
    const block = normaliseLineEnds(this.#content.slice(this.#blockStart, this.#lineStart));
    const lexer = new Lexer({ ...getDefaults(), gfm: true });
    let at = 0;
    for (const token of lexer.blockTokens(block + normaliseLineEnds(line), [])) {
      at += token.raw.length;
      if (at >= block.length) return at === block.length;
    }
    return false;
  }
}

/** Splits all of `content` at once: the same blocks as feeding it to a splitter piece by piece. */
export function splitMarkdownBlocks(content: string): MarkdownBlocks {
  return new MarkdownBlockSplitter().update(content);
}

// ---------------------------------------------------------------------------------------------
// What the lines scanned so far of the open block hold, as far as the boundary rules need it.

class BlockScan {
  /** A non-blank line was taken (blank lines at the start stay with the block they precede). */
  private hasContent = false;
  private previousBlank = false;
  /** The previous line was paragraph text at the top level (it can continue lazily; only some lists interrupt it). */
  private previousParagraph = false;
  /** The previous line was in a block quote, or continued its paragraph lazily: any list item ends the quote. */
  private previousQuote = false;
  /** The previous line was an ATX heading or ended a fenced code or HTML block: nothing continues it. */
  private previousEndsBlock = false;
  /** An open fenced code block at the top level. */
  private fence: Fence | undefined;
  /** An open HTML block of the kinds that end at a marker, and that marker. */
  private htmlEnd: RegExp | undefined;
  /** An open HTML block of the kinds that end at a blank line. */
  private htmlUntilBlank = false;
  /** The column where the current top-level list item's content starts; 0 outside a list. */
  private listContent = 0;
  /** The item's previous line was paragraph text, so a less indented line continues it lazily. */
  private itemContinues = false;
  private hadList = false;
  private hadIndentedCode = false;
  /** The deepest nesting of a line outside fenced code. */
  deepest = 0;

  /** Whether the block may end before `line` (complete, without its line end), which comes next. */
  mayEndBefore(line: string): boolean {
    if (!this.hasContent || this.fence !== undefined || this.htmlEnd !== undefined || isBlank(line)) return false;
    const { columns, index } = indentation(line);
    const rest = line.slice(index);
    if (this.previousBlank) {
      if (columns > 0 && (this.hadList || this.hadIndentedCode || this.listContent > 0)) return false;
      return !(this.hadList && isListItem(rest));
    }
    if (this.htmlUntilBlank) return false;
    if (this.previousEndsBlock) return true;
    const breaksList = this.listContent === 0 || columns < this.listContent;
    return columns <= 3 && breaksList && (ATX_HEADING.test(rest) || fenceOpening(rest) !== undefined);
  }

  take(line: string): void {
    if (this.fence !== undefined) {
      if (closesFence(line, this.fence)) {
        this.fence = undefined;
        this.previousEndsBlock = true;
      }
      return;
    }
    if (this.htmlEnd !== undefined) {
      if (this.htmlEnd.test(line)) {
        this.htmlEnd = undefined;
        this.previousEndsBlock = true;
      }
      return;
    }
    if (isBlank(line)) {
      this.previousBlank = true;
      this.previousParagraph = false;
      this.previousQuote = false;
      this.previousEndsBlock = false;
      this.htmlUntilBlank = false;
      this.itemContinues = false;
      return;
    }
    const afterBlank = this.previousBlank;
    this.hasContent = true;
    this.previousBlank = false;
    this.previousEndsBlock = false;
    this.deepest = Math.max(this.deepest, nestingDepth(line));
    if (this.htmlUntilBlank) return;

    const { columns, index } = indentation(line);
    const rest = line.slice(index);
    if (this.listContent > 0) {
      if (columns >= this.listContent) {
        this.itemContinues = isParagraphText(dedent(line, this.listContent));
        return;
      }
      if (columns <= 3 && isListItem(rest)) {
        this.startItem(columns, rest);
        return;
      }
      const breaksItem = columns <= 3 && (fenceOpening(rest) !== undefined || ATX_HEADING.test(rest) || HTML_BEGIN.test(rest) || rest.startsWith('>') || HR.test(rest));
      if (!breaksItem && !afterBlank && this.itemContinues) return;
      this.listContent = 0;
    }

    if (columns >= 4) {
      if (!this.previousParagraph) this.hadIndentedCode = true;
      return;
    }
    const wasParagraph = this.previousParagraph;
    const wasQuote = this.previousQuote;
    this.previousParagraph = false;
    this.previousQuote = false;
    const fence = fenceOpening(rest);
    const html = rest.startsWith('<') ? HTML_WITH_END.find(([start]) => start.test(rest)) : undefined;
    if (fence !== undefined) {
      this.fence = fence;
    } else if (ATX_HEADING.test(rest)) {
      this.previousEndsBlock = true;
    } else if (html !== undefined) {
      const [start, end] = html;
      const afterStart = rest.slice(start.exec(rest)![0].length);
      // `<!-->` and `<!--->` are whole comments.
      if (end.test(afterStart) || (rest.startsWith('<!--') && /^-?>/.test(afterStart))) this.previousEndsBlock = true;
      else this.htmlEnd = end;
    } else if (HTML_UNTIL_BLANK.test(rest) || (!wasParagraph && HTML_ALONE_ON_LINE.test(rest))) {
      this.htmlUntilBlank = true;
    } else if (rest.startsWith('>')) {
      // Paragraph text in a quote continues lazily on lines without `>`, as top-level text does.
      this.previousParagraph = isParagraphText(stripContainerMarkers(rest));
      this.previousQuote = true;
    } else if (HR.test(rest) || (wasParagraph && SETEXT_UNDERLINE.test(rest))) {
      // A rule or a heading underline: not paragraph text.
    } else if (isListItem(rest) && (!wasParagraph || wasQuote || LIST_INTERRUPTS_PARAGRAPH.test(rest))) {
      this.startItem(columns, rest);
    } else {
      this.previousParagraph = true;
      this.previousQuote = wasQuote && wasParagraph;
    }
  }

  private startItem(columns: number, rest: string): void {
    const marker = LIST_MARKER_AT.exec(rest)![1]!;
    const afterMarker = rest.slice(marker.length);
    this.hadList = true;
    if (isBlank(afterMarker)) {
      this.listContent = columns + marker.length + 1;
      this.itemContinues = false;
      return;
    }
    const markerEnd = columns + marker.length;
    const spaces = indentation(afterMarker, markerEnd).columns - markerEnd;
    // As marked (and CommonMark): more than four spaces after the marker start indented code,
    // whose content column is one past the marker.
    this.listContent = markerEnd + (spaces > 4 ? 1 : spaces);
    this.itemContinues = isParagraphText(stripContainerMarkers(afterMarker));
  }
}

// ---------------------------------------------------------------------------------------------
// Line shapes, as marked's block rules (GFM) read them.

interface Fence {
  readonly char: '`' | '~';
  readonly length: number;
  readonly language: string;
}

const SPACE = 0x20;
const TAB = 0x09;
const GREATER_THAN = 0x3e;
const LINE_END = /\r\n?|\n/;
const ATX_HEADING = /^#{1,6}(?:\s|$)/;
const HR = /^(?:(?:-[ \t]*){3,}|(?:_[ \t]*){3,}|(?:\*[ \t]*){3,})$/;
const SETEXT_UNDERLINE = /^(?:=+|-+)[ \t]*$/;
const LIST_MARKER_AT = /^([*+-]|\d{1,9}[.)])(?:[ \t]|$)/;
const LIST_INTERRUPTS_PARAGRAPH = /^(?:[*+-]|1[.)])[ \t]+[^ \t]/;
const CONTAINER_MARKERS = /^(?: {0,3}(?:(?:[*+-]|\d{1,9}[.)])[ \t]+|>[ \t]?))+/;
const BLOCK_TAGS =
  'address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|header|hr|html|iframe|legend|li|link|main|menu|menuitem|meta|nav|noframes|ol|optgroup|option|p|param|search|section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul';
/** HTML blocks that end at a marker, however many blank lines come first: [start, end]. */
const HTML_WITH_END: ReadonlyArray<readonly [RegExp, RegExp]> = [
  [/^<(?:script|pre|style|textarea)(?=[\s>]|$)/i, /<\/(?:script|pre|style|textarea)>/i],
  [/^<!--/, /-->/],
  [/^<\?/, /\?>/],
  [/^<![A-Za-z]/, />/],
  [/^<!\[CDATA\[/, /\]\]>/],
];
const HTML_UNTIL_BLANK = new RegExp(`^</?(?:${BLOCK_TAGS})(?:[ \\t]|/?>|$)`, 'i');
/** A complete open or closing tag alone on its line starts an HTML block, except after paragraph text. */
const HTML_ALONE_ON_LINE = /^(?:<(?!(?:script|pre|style|textarea)(?![a-z0-9-]))[a-z][a-z0-9-]*(?:[ \t]+[a-z:_][\w.:-]*(?:[ \t]*=[ \t]*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*[ \t]*\/?>|<\/[a-z][a-z0-9-]*\s*>)[ \t]*$/i;
/** Any line that starts an HTML block (what ends a list item). */
const HTML_BEGIN = new RegExp(`^(?:</?(?:${BLOCK_TAGS})(?:[ \\t]|/?>|$)|<(?:(?:script|pre|style|textarea)(?:[\\s>]|$)|!--)|<\\?|<![A-Za-z]|<!\\[CDATA\\[)`, 'i');

function isBlank(line: string): boolean {
  return /^[ \t]*$/.test(line);
}

/** Columns of leading whitespace (a tab advances to the next multiple of four) and where the text starts. */
function indentation(line: string, startColumn = 0): { columns: number; index: number } {
  let columns = startColumn;
  let index = 0;
  for (; index < line.length; index++) {
    const c = line.charCodeAt(index);
    if (c === SPACE) columns++;
    else if (c === TAB) columns += 4 - (columns % 4);
    else break;
  }
  return { columns, index };
}

/** The line with `columns` columns of indentation removed (fewer if it has fewer). */
function dedent(line: string, columns: number): string {
  const { columns: has, index } = indentation(line);
  return ' '.repeat(Math.max(0, has - columns)) + line.slice(index);
}

function isListItem(rest: string): boolean {
  return LIST_MARKER_AT.test(rest) && !HR.test(rest);
}

function stripContainerMarkers(text: string): string {
  return HR.test(text.trim()) ? text : text.replace(CONTAINER_MARKERS, '');
}

/** Text a paragraph is made of: what a lazy line may continue. */
function isParagraphText(line: string): boolean {
  if (isBlank(line)) return false;
  const { columns, index } = indentation(line);
  const rest = line.slice(index);
  return columns < 4 && fenceOpening(rest) === undefined && !ATX_HEADING.test(rest) && !HTML_BEGIN.test(rest) && !HR.test(rest);
}

function fenceOpening(rest: string): Fence | undefined {
  const match = /^(`{3,}|~{3,})(.*)$/.exec(rest);
  if (match === null) return undefined;
  const run = match[1]!;
  const info = match[2]!;
  const char = run[0] === '`' ? '`' : '~';
  if (char === '`' && info.includes('`')) return undefined;
  return { char, length: run.length, language: info.trim().split(/\s/, 1)[0] ?? '' };
}

function closesFence(line: string, fence: Fence): boolean {
  const { columns, index } = indentation(line);
  if (columns > 3) return false;
  const match = /^(`+|~+) *$/.exec(line.slice(index));
  return match !== null && match[1]![0] === fence.char && match[1]!.length >= fence.length;
}

function normaliseLineEnds(text: string): string {
  return text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
}
