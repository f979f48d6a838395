// One reply's markdown, rendered block by block (issue 13). Rendering a whole reply on every
// streamed token costs O(n) a frame and O(n²) in all; here each finished block (markdownBlocks.ts)
// is rendered once into an element of its own that is never touched again, and only the block
// still being written is rendered again as text arrives.
//
// Each block's element is `display: contents`, so the blocks' elements lay out as children of the
// container, as the single element of the whole reply's HTML did (chat.css moves the first- and
// last-child margin rules one level down).
//
// A block that is a table alone is drawn a row at a time (TableView): the rows already drawn are
// neither rendered nor laid out again as rows arrive, and a long table (finished, or opened from a
// stored chat) is added a page of rows a frame, because Chromium lays out a table's new rows in one
// go and 150 of them take longer than a frame. Tables inside other blocks are drawn the same way
// once their block is finished (setHtmlInSteps).
import { useLayoutEffect, useRef } from 'preact/hooks';
import { memo } from '../common/memo';
import type { MarkdownRenderer } from './markdown';
import { MarkdownBlockSplitter, openFence, splitMarkdownBlocks, tableLines, type TableLines } from './markdownBlocks';

export interface MarkdownViewProps {
  /** The markdown so far; while a reply streams it only grows. */
  content: string;
  renderer: MarkdownRenderer;
  /** Bumped when the renderer's output changes for the same markdown (highlight.js arrived): every block is rendered again. */
  version: number;
  /**
   * The reply is still being written. Its last block may then be shown as plain text (or code
   * without colours) while rendering it would take too long; once the reply is finished every
   * block is rendered.
   */
  streaming?: boolean;
  /** The container's class names, e.g. `message-content markdown`; chat.css styles the blocks under `.markdown`. */
  class?: string;
}

/**
 * The block being written is rendered on every update, so its cost is the cost of a frame. In the
 * webview, rendering and inserting markdown takes 2–4 ms per KB (a table more, prose less): past
 * this size the open block is shown as text until it is finished.
 */
const OPEN_BLOCK_MAX_CHARS = 8_000;
/**
 * The cost per character differs tenfold between kinds of blocks and between machines, so the
 * open block's own last render is the measure: one that took longer than this (inserting its
 * HTML takes about as long again) is shown as text until it is finished.
 */
const OPEN_BLOCK_RENDER_BUDGET_MS = 12;
/** Shorter open blocks are always rendered: one slow render of them is a pause (JIT, garbage collection), not their size. */
const OPEN_BLOCK_MEASURED_FROM_CHARS = 1_000;

/** A reference-style link definition (`[ref]: https://…`) at the start of a line. */
const LINK_DEFINITION = /^ {0,3}\[[^\]\n]+\]:[ \t]*\S/m;

/** A finished block: its HTML, or a table drawn a row at a time. */
type Drawn = string | TableLines;

type OpenBlock =
  | { readonly kind: 'html'; readonly html: string }
  /** A table, drawn a row at a time; in a finished reply, maybe with the last block after it. */
  | { readonly kind: 'table'; readonly table: TableLines; readonly after?: string }
  /** A fenced code block still open: the renderer's empty code block, then the code as text. */
  | { readonly kind: 'code'; readonly frame: string; readonly code: string }
  | { readonly kind: 'text'; readonly text: string };

/** The rendered blocks of one view, kept between its renders. */
class BlockRenders {
  private readonly splitter = new MarkdownBlockSplitter();
  private blocks: readonly string[] | undefined;
  private html: Drawn[] = [];
  private renderer: MarkdownRenderer | undefined;
  private version = 0;
  private openText: string | undefined;
  private openHtml = '';
  /** The index of an open block found slow to render: shown as text until it is finished. */
  private slowBlock = -1;
  private readonly codeFrames = new Map<string, string>();
  /** A finished reply's tail split by tableThenLastBlock. */
  private finishedTail: { tail: string; open: OpenBlock | undefined } | undefined;
  /** Whether a table's head (header and delimiter rows) renders as a table, by head. */
  private readonly tableHeads = new Map<string, boolean>();

  /** A finished reply with link definitions, rendered whole: its text, renderer and version, and the HTML. */
  private whole: { content: string; renderer: MarkdownRenderer; version: number; html: readonly string[] } | undefined;

  update(content: string, renderer: MarkdownRenderer, version: number, streaming: boolean): { html: readonly Drawn[]; open: OpenBlock | undefined } {
    if (!streaming && LINK_DEFINITION.test(content)) {
      // `[text][ref]` and its `[ref]: https://…` are often blocks apart (sources listed at the end):
      // once the reply is finished it is rendered whole, so its references resolve as they would.
      const w = this.whole;
      if (w?.content !== content || w.renderer !== renderer || w.version !== version) this.whole = { content, renderer, version, html: [renderer.render(content)] };
      return { html: this.whole!.html, open: undefined };
    }
    const { blocks, tail } = this.splitter.update(content);
    if (blocks !== this.blocks || renderer !== this.renderer || version !== this.version) {
      // Other content, or output that changed: nothing rendered before stands.
      this.blocks = blocks;
      this.renderer = renderer;
      this.version = version;
      this.html = [];
      this.openText = undefined;
      this.slowBlock = -1;
      this.codeFrames.clear();
      this.tableHeads.clear();
      this.finishedTail = undefined;
    }
    for (let i = this.html.length; i < blocks.length; i++) this.html.push(this.table(blocks[i]!, true, renderer) ?? renderer.render(blocks[i]!));
    if (tail.trim() === '') return { html: this.html, open: undefined };
    const table = this.table(tail, !streaming, renderer);
    if (table) return { html: this.html, open: { kind: 'table', table } };
    if (!streaming) {
      const last = this.tableThenLastBlock(tail, renderer);
      if (last) return { html: this.html, open: last };
    }

    if (streaming && (tail.length > OPEN_BLOCK_MAX_CHARS || this.slowBlock === blocks.length)) {
      const fence = openFence(tail);
      if (fence === undefined) return { html: this.html, open: { kind: 'text', text: tail.replace(/^(?:[ \t]*\r?\n)+/, '') } };
      let frame = this.codeFrames.get(fence.language);
      if (frame === undefined) {
        frame = renderer.render(`~~~${fence.language}\n~~~`);
        this.codeFrames.set(fence.language, frame);
      }
      return { html: this.html, open: { kind: 'code', frame, code: fence.code } };
    }
    if (tail !== this.openText) {
      const started = performance.now();
      this.openHtml = renderer.render(tail);
      const took = performance.now() - started;
      this.openText = tail;
      if (streaming && tail.length >= OPEN_BLOCK_MEASURED_FROM_CHARS && took > OPEN_BLOCK_RENDER_BUDGET_MS) this.slowBlock = blocks.length;
    }
    return { html: this.html, open: { kind: 'html', html: this.openHtml } };
  }

  /**
   * A finished reply's tail that is a table and then its last line: the splitter ends a block only
   * once the line after it is complete, and the reply's last line has no line end. The table stays
   * the element that drew it while it was written, the last block is rendered after it.
   */
  private tableThenLastBlock(tail: string, renderer: MarkdownRenderer): OpenBlock | undefined {
    if (this.finishedTail?.tail === tail) return this.finishedTail.open;
    // Most tails do not start with a table: those are not split again (lexed) for it.
    if (!tableLines(tail, false)) return undefined;
    const first = splitMarkdownBlocks(`${tail}\n`).blocks[0];
    const table = first === undefined ? undefined : this.table(first, true, renderer);
    const open: OpenBlock | undefined = table && { kind: 'table', table, after: renderer.render(tail.slice(first!.length)) };
    this.finishedTail = { tail, open };
    return open;
  }

  /** The block as a table to draw a row at a time, when it is a table alone with at least one row. */
  private table(text: string, finished: boolean, renderer: MarkdownRenderer): TableLines | undefined {
    const table = tableLines(text, finished);
    if (!table || table.rows.length === 0) return undefined;
    let isTable = this.tableHeads.get(table.head);
    if (isTable === undefined) {
      isTable = /^\s*<table>/.test(renderer.render(table.head));
      this.tableHeads.set(table.head, isTable);
    }
    return isTable ? table : undefined;
  }
}

export function MarkdownView({ content, renderer, version, streaming = false, class: className = 'markdown' }: MarkdownViewProps) {
  const renders = useRef<BlockRenders | null>(null);
  renders.current ??= new BlockRenders();
  const { html, open } = renders.current.update(content, renderer, version, streaming);
  // One keyed list: a finished block keeps its element, and the open block's element becomes the
  // finished block's when it is finished (same key, same component).
  const children = html.map((h, i) =>
    typeof h !== 'string' ? <TableView key={i} table={h} renderer={renderer} version={version} /> : h === '' ? null : <HtmlBlock key={i} html={h} open={false} />,
  );
  const key = html.length;
  if (open?.kind === 'table') {
    children.push(<TableView key={key} table={open.table} renderer={renderer} version={version} />);
    if (open.after) children.push(<HtmlBlock key={key + 1} html={open.after} open={false} />);
  } else if (open?.kind === 'html' && open.html !== '') children.push(<HtmlBlock key={key} html={open.html} open={streaming} />);
  else if (open?.kind === 'code') children.push(<OpenCode key={key} frame={open.frame} code={open.code} />);
  else if (open?.kind === 'text') {
    children.push(
      <div key={key} class="md-block md-open">
        <p class="md-plain">{open.text}</p>
      </div>,
    );
  }
  return <div class={className}>{children}</div>;
}

/**
 * Sanitized HTML from the renderer, set by hand rather than with dangerouslySetInnerHTML: Preact
 * would read the element's innerHTML back to compare on every change of the open block.
 */
const HtmlBlock = memo(function HtmlBlock({ html, open }: { html: string; open: boolean }) {
  const element = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    const el = element.current;
    if (!el) return;
    if (open) {
      keepingFocus(el, () => {
        el.innerHTML = html;
      });
      return;
    }
    return keepingFocus(el, () => setHtmlInSteps(el, html));
  }, [html]);
  return <div ref={element} class={open ? 'md-block md-open' : 'md-block'} />;
});

/** An open code block drawn cheaply: the renderer's frame (toolbar, `pre`, `code`), the code as plain text. */
function OpenCode({ frame, code }: { frame: string; code: string }) {
  const element = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    if (element.current) element.current.innerHTML = frame;
  }, [frame]);
  useLayoutEffect(() => {
    const target = element.current?.querySelector('code');
    if (target) target.textContent = code;
  }, [frame, code]);
  return <div ref={element} class="md-block md-open" />;
}

/** Rows of a table drawn at once; the rest follow this many a frame. */
const TABLE_ROWS_PER_FRAME = 20;

interface TableDrawing {
  table: TableLines;
  renderer: MarkdownRenderer;
  version: number;
  /** The table's body, once a row is drawn. */
  body: Element | null;
  /** How many of `table.rows` are drawn. */
  drawn: number;
  /** The animation frame that draws the next page of rows, or 0. */
  frame: number;
  /** Stops drawing (cancels the frame). */
  stop(): void;
}

/**
 * A table drawn a row at a time, whether it is still being written or finished. Rows are rendered
 * a page at a time, each page as the head plus its rows (so every cell is rendered as in the whole
 * table), and the page's body rows appended: the body ends as the whole table's would. Rows drawn
 * stay as long as they are the start of the table's rows; another table is drawn anew.
 */
const TableView = memo(function TableView({ table, renderer, version }: { table: TableLines; renderer: MarkdownRenderer; version: number }) {
  const element = useRef<HTMLDivElement>(null);
  const drawing = useRef<TableDrawing | null>(null);
  useLayoutEffect(() => {
    const el = element.current;
    if (!el) return;
    let d = drawing.current;
    if (!d || d.renderer !== renderer || d.version !== version || d.table.head !== table.head || !startsWithRows(table.rows, d.table.rows, d.drawn)) {
      d?.stop();
      const win = el.ownerDocument.defaultView!;
      const next: TableDrawing = { table, renderer, version, body: null, drawn: 0, frame: 0, stop: () => next.frame && win.cancelAnimationFrame(next.frame) };
      d = drawing.current = next;
    }
    d.table = table;
    if (d.frame === 0) drawTableRows(el, d);
  }, [table, renderer, version]);
  useLayoutEffect(() => () => drawing.current?.stop(), []);
  return <div ref={element} class="md-block" />;
});

function startsWithRows(rows: readonly string[], drawnFrom: readonly string[], drawn: number): boolean {
  if (rows.length < drawn) return false;
  for (let i = 0; i < drawn; i++) if (rows[i] !== drawnFrom[i]) return false;
  return true;
}

/** Draws the next page of the table's rows, and asks for a frame for the page after it. */
function drawTableRows(el: HTMLElement, d: TableDrawing): void {
  const { head, rows } = d.table;
  const page = rows.slice(d.drawn, d.drawn + TABLE_ROWS_PER_FRAME);
  if (page.length > 0) {
    const doc = el.ownerDocument;
    const template = doc.createElement('template');
    template.innerHTML = d.renderer.render(`${head}\n${page.join('\n')}`);
    const body = template.content.querySelector('tbody');
    if (d.body === null && body) {
      keepingFocus(el, () => el.replaceChildren(template.content));
      d.body = body;
    } else {
      if (d.body === null) {
        // The head alone renders as a table (BlockRenders checked it): the rows go into its body.
        el.innerHTML = d.renderer.render(head);
        d.body = el.querySelector('table')!.appendChild(doc.createElement('tbody'));
      }
      if (body) d.body.append(...body.childNodes);
      // A page the renderer would not make a table of (too costly to parse): its rows as text.
      else for (const row of page) d.body.append(textRow(doc, row));
    }
    d.drawn += page.length;
  }
  if (d.drawn < rows.length) {
    const win = el.ownerDocument.defaultView!;
    d.frame = win.requestAnimationFrame(() => {
      d.frame = 0;
      drawTableRows(el, d);
      el.dispatchEvent(new win.CustomEvent('md-grow', { bubbles: true }));
    });
  }
}

function textRow(doc: Document, text: string): HTMLTableRowElement {
  const row = doc.createElement('tr');
  row.appendChild(doc.createElement('td')).textContent = text;
  return row;
}

/**
 * Runs `replace`, which puts new content in `el`. When an element inside had the keyboard focus (a
 * code block's Copy, a link), its counterpart in the new content gets it: the element at the same
 * place with the same tag, name and text. Otherwise the focus would fall to the page whenever a
 * block is rendered again (highlight.js arriving renders every block again), and a keyboard user
 * would start over from the top.
 */
function keepingFocus<T>(el: HTMLElement, replace: () => T): T {
  const active = el.ownerDocument.activeElement;
  if (!active || active === el || !el.contains(active)) return replace();
  const path: number[] = [];
  for (let node: Element = active; node !== el; node = node.parentElement!) path.unshift(Array.prototype.indexOf.call(node.parentElement!.children, node));
  const result = replace();
  if (active.isConnected) return result;
  let found: Element | undefined = el;
  for (const i of path) found = found?.children[i];
  if (
    found instanceof el.ownerDocument.defaultView!.HTMLElement &&
    found.tagName === active.tagName &&
    found.getAttribute('aria-label') === active.getAttribute('aria-label') &&
    found.textContent === active.textContent
  ) {
    found.focus({ preventScroll: true });
  }
  return result;
}

/**
 * Sets a finished block's HTML. A long table is laid out row by row in Chromium's table layout, and
 * laying out 150 new rows at once takes longer than a frame (30 ms on a fast machine, 65 ms in
 * code-server's shared renderer, issue 13); rows added to a table already laid out cost only
 * themselves. So a table's body gets its first rows (at least as many as the block showed while it
 * was being written) now and the rest TABLE_ROWS_PER_FRAME a frame, each step announced with a
 * bubbling `md-grow` event for the list to follow the end. Returns what stops the steps (the block
 * changed or went away).
 */
export function setHtmlInSteps(el: HTMLElement, html: string): (() => void) | undefined {
  const doc = el.ownerDocument;
  const template = doc.createElement('template');
  template.innerHTML = html;
  const shownBefore = [...el.querySelectorAll('tbody')].map((body) => body.children.length);
  // Each row held back with the text (line breaks) after it, so the body ends as the HTML says.
  const held: Array<{ body: Element; rows: Node[][] }> = [];
  template.content.querySelectorAll('tbody').forEach((body, i) => {
    const keep = Math.max(TABLE_ROWS_PER_FRAME, shownBefore[i] ?? 0);
    const rows: Node[][] = [];
    for (let node = body.children[keep] as ChildNode | null | undefined; node; ) {
      const next: ChildNode | null = node.nextSibling;
      node.remove();
      if (node.nodeType === 1 || rows.length === 0) rows.push([node]);
      else rows[rows.length - 1]!.push(node);
      node = next;
    }
    if (rows.length > 0) held.push({ body, rows });
  });
  el.replaceChildren(template.content);
  if (held.length === 0) return undefined;
  const win = doc.defaultView!;
  let frame = 0;
  const step = () => {
    for (const h of held) h.body.append(...h.rows.splice(0, TABLE_ROWS_PER_FRAME).flat());
    el.dispatchEvent(new win.CustomEvent('md-grow', { bubbles: true }));
    frame = held.some((h) => h.rows.length > 0) ? win.requestAnimationFrame(step) : 0;
  };
  frame = win.requestAnimationFrame(step);
  return () => {
    if (frame) win.cancelAnimationFrame(frame);
  };
}
