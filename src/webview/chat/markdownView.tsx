// One reply's markdown, rendered block by block (issue 13). Rendering a whole reply on every
// streamed token costs O(n) a frame and O(n²) in all; here each finished block (markdownBlocks.ts)
// is rendered once into an element of its own that is never touched again, and only the block
// still being written is rendered again as text arrives.
//
// Each block's element is `display: contents`, so the blocks' elements lay out as children of the
// container, as the single element of the whole reply's HTML did (chat.css moves the first- and
// last-child margin rules one level down).
import { useLayoutEffect, useRef } from 'preact/hooks';
import { memo } from '../common/memo';
import type { MarkdownRenderer } from './markdown';
import { MarkdownBlockSplitter, openFence } from './markdownBlocks';

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

type OpenBlock =
  | { readonly kind: 'html'; readonly html: string }
  /** A fenced code block still open: the renderer's empty code block, then the code as text. */
  | { readonly kind: 'code'; readonly frame: string; readonly code: string }
  | { readonly kind: 'text'; readonly text: string };

/** The rendered blocks of one view, kept between its renders. */
class BlockRenders {
  private readonly splitter = new MarkdownBlockSplitter();
  private blocks: readonly string[] | undefined;
  private html: string[] = [];
  private renderer: MarkdownRenderer | undefined;
  private version = 0;
  private openText: string | undefined;
  private openHtml = '';
  /** The index of an open block found slow to render: shown as text until it is finished. */
  private slowBlock = -1;
  private readonly codeFrames = new Map<string, string>();

  /** A finished reply with link definitions, rendered whole: its text, renderer and version, and the HTML. */
  private whole: { content: string; renderer: MarkdownRenderer; version: number; html: readonly string[] } | undefined;

  update(content: string, renderer: MarkdownRenderer, version: number, streaming: boolean): { html: readonly string[]; open: OpenBlock | undefined } {
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
    }
    for (let i = this.html.length; i < blocks.length; i++) this.html.push(renderer.render(blocks[i]!));
    if (tail.trim() === '') return { html: this.html, open: undefined };

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
}

export function MarkdownView({ content, renderer, version, streaming = false, class: className = 'markdown' }: MarkdownViewProps) {
  const renders = useRef<BlockRenders | null>(null);
  renders.current ??= new BlockRenders();
  const { html, open } = renders.current.update(content, renderer, version, streaming);
  // One keyed list: a finished block keeps its element, and the open block's element becomes the
  // finished block's when it is finished (same key, same component).
  const children = html.map((h, i) => (h === '' ? null : <HtmlBlock key={i} html={h} open={false} />));
  const key = html.length;
  if (open?.kind === 'html' && open.html !== '') children.push(<HtmlBlock key={key} html={open.html} open />);
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
    if (element.current) element.current.innerHTML = html;
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
