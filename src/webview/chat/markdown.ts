// Markdown from the model is untrusted. It becomes HTML in two steps, both configured once per
// renderer because the chat renders the block being written again on every animation frame:
//
//   1. marked (GFM) turns markdown into HTML, with raw HTML escaped so it shows as text.
//   2. DOMPurify parses that HTML into an inert document and keeps only an allow-list. Its hooks
//      decide about images and links there, before anything reaches the live DOM: VS Code's own
//      chat once replaced remote images only after insertion, and the image had already been
//      fetched by then.
//
// Everything a link or an image can do is decided in the hooks, so the marked renderer emits
// plain <a href>/<img src> and there is a single place where URLs are judged.
//
// A reply is rendered block by block (markdownView.tsx, blocks from markdownBlocks.ts): `render`
// takes one block as it takes a whole text, and the blocks' HTML put together is the whole
// text's HTML, with one difference while a reply streams: a reference-style link (`[text][ref]`)
// whose definition (`[ref]: https://…`) is in another block stays text until the reply is
// finished (a finished reply with definitions is rendered whole).
import createDOMPurify from 'dompurify';
import type {
  DOMPurify,
  UponSanitizeAttributeHookEvent,
  UponSanitizeElementHookEvent,
  WindowLike,
} from 'dompurify';
import { Marked } from 'marked';
import type { Tokens } from 'marked';
import type { Highlighter } from './highlighter';
import { MAX_NESTING_DEPTH, nestingDepth } from './markdownBlocks';

export interface MarkdownRenderer {
  /** Sanitized HTML for `innerHTML`. Safe for partial markdown while a reply streams. */
  render(markdown: string): string;
  /** Code blocks rendered after this are highlighted (highlight.js loads after the first one). */
  setHighlighter(highlighter: Highlighter): void;
}

export interface MarkdownRendererOptions {
  highlighter?: Highlighter;
  /** Called when a code block is rendered before a highlighter is set: load one. */
  onHighlighterNeeded?: () => void;
}

const ALLOWED_TAGS = [
  'p', 'br', 'hr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'blockquote',
  'strong', 'em', 'del', 'code', 'pre',
  'ul', 'ol', 'li', 'table', 'thead', 'tbody', 'tr', 'th', 'td',
  'a', 'img', 'span', 'div', 'button',
];

type AttributeCheck = (value: string) => string | undefined;

const anyText: AttributeCheck = (value) => value;
const exactly =
  (...allowed: string[]): AttributeCheck =>
  (value) =>
    allowed.includes(value) ? value : undefined;
const classTokens =
  (...patterns: RegExp[]): AttributeCheck =>
  (value) => {
    const kept = value.split(/\s+/).filter((token) => token !== '' && patterns.some((p) => p.test(token)));
    return kept.length > 0 ? kept.join(' ') : undefined;
  };

// Attributes allowed per tag, each with a check that returns the value to keep (or undefined to
// drop the attribute). DOMPurify's own attribute checks still run after these.
const ATTRIBUTES: Record<string, Record<string, AttributeCheck>> = {
  a: {
    href: exactly('#'),
    'data-href': (value) => (externalLinkTarget(value) === value ? value : undefined),
    title: anyText,
    class: exactly('ext-link'),
  },
  img: { src: (value) => (isInlineImage(value) ? value : undefined), alt: anyText, title: anyText },
  span: {
    // hljs emits `hljs-title function_`: a scope plus sub-scope modifiers ending in `_`.
    class: classTokens(/^hljs-[\w-]+$/, /^[a-z]+_+$/, /^(?:blocked-image|code-lang|task-checkbox)$/),
    title: anyText,
  },
  code: { class: classTokens(/^hljs$/, /^language-[\w+#.-]+$/) },
  div: { class: classTokens(/^(?:code-block|code-toolbar)$/) },
  button: {
    type: exactly('button'),
    class: exactly('code-action'),
    'data-action': exactly('copy', 'insert'),
    'aria-label': anyText,
  },
  ol: { start: (value) => (/^\d{1,9}$/.test(value) ? value : undefined) },
  th: { align: exactly('left', 'center', 'right') },
  td: { align: exactly('left', 'center', 'right') },
};

const ALLOWED_ATTR = [...new Set(Object.values(ATTRIBUTES).flatMap((byName) => Object.keys(byName)))];

const LINK_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

/**
 * The absolute URL a link may point to, or undefined. The WHATWG URL parser does the decoding
 * (it strips leading/trailing control characters and spaces, removes tabs and newlines anywhere,
 * lowercases the scheme), so `java&#x09;script:`, ` JaVaScRiPt:` and friends are judged the way
 * a browser would read them. Without a base URL, relative and protocol-relative links fail.
 */
function externalLinkTarget(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  return LINK_PROTOCOLS.has(url.protocol) ? url.href : undefined;
}

const INLINE_IMAGE = /^data:image\/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$/;

function isInlineImage(src: string): boolean {
  return INLINE_IMAGE.test(src);
}

const ELEMENT_NODE = 1;
const MAX_TITLE_URL_LENGTH = 300;

function replaceWith(old: Element, replacement: Element): void {
  // Insert after, then detach: DOMPurify's node iterator visits (and sanitizes) the replacement
  // next, and treats the detached original as removed.
  old.parentNode?.insertBefore(replacement, old.nextSibling);
  old.remove();
}

function rewriteLink(link: Element): void {
  const target = externalLinkTarget(link.getAttribute('href') ?? '');
  if (target === undefined) {
    const span = link.ownerDocument.createElement('span');
    replaceWith(link, span);
    while (link.firstChild) span.appendChild(link.firstChild);
    return;
  }
  for (const name of link.getAttributeNames()) link.removeAttribute(name);
  link.setAttribute('href', '#');
  link.setAttribute('data-href', target);
  link.setAttribute('title', target);
  link.setAttribute('class', 'ext-link');
}

function rewriteImage(image: Element): void {
  const src = (image.getAttribute('src') ?? '').trim();
  if (isInlineImage(src)) return;
  const alt = image.getAttribute('alt') ?? '';
  const shownUrl = src.length > MAX_TITLE_URL_LENGTH ? `${src.slice(0, MAX_TITLE_URL_LENGTH)}…` : src;
  const placeholder = image.ownerDocument.createElement('span');
  placeholder.setAttribute('class', 'blocked-image');
  placeholder.setAttribute('title', `Remote image not loaded: ${shownUrl}`);
  placeholder.textContent = alt === '' ? '[image]' : `[image: ${alt}]`;
  replaceWith(image, placeholder);
}

function createSanitizer(window: Window): DOMPurify {
  // DOM's `Window` type lacks the constructors (Node, Element, DOMParser…) that a real window has
  // and DOMPurify reads; its own `WindowLike` type names them.
  const purify = createDOMPurify(window as unknown as WindowLike);
  if (!purify.isSupported) throw new Error('DOMPurify is not supported in this window');
  purify.setConfig({
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    ALLOW_UNKNOWN_PROTOCOLS: false,
    // The per-tag checks above validate these values exactly; DOMPurify's URI test would reject
    // `Copy code` or `center` as URLs.
    ADD_URI_SAFE_ATTR: ['aria-label', 'data-action', 'type', 'start', 'align'],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#$)/i,
    KEEP_CONTENT: true,
  });
  purify.addHook('uponSanitizeElement', (node: Node, event: UponSanitizeElementHookEvent) => {
    if (node.nodeType !== ELEMENT_NODE) return;
    if (event.tagName === 'a') rewriteLink(node as Element);
    else if (event.tagName === 'img') rewriteImage(node as Element);
  });
  purify.addHook('uponSanitizeAttribute', (element: Element, event: UponSanitizeAttributeHookEvent) => {
    const check = ATTRIBUTES[element.nodeName.toLowerCase()]?.[event.attrName];
    const value = check?.(event.attrValue);
    if (value === undefined) event.keepAttr = false;
    else event.attrValue = value;
  });
  assertSanitizerWorks(purify);
  return purify;
}

/**
 * Fails closed when DOMPurify cannot do its job in the given window (it relies on spec
 * behaviour of NodeIterator and Node getters that some DOM emulations lack; with happy-dom it
 * silently keeps everything after the first removed node). Costs one tiny sanitize per renderer.
 */
function assertSanitizerWorks(purify: DOMPurify): void {
  const probe = purify.sanitize(
    '<p><x-unknown>a</x-unknown><img src="https://example.invalid/i.png" alt="b" data-evil="x"><em>c</em></p>',
  );
  const expected =
    '<p>a<span class="blocked-image" title="Remote image not loaded: https://example.invalid/i.png">' +
    '[image: b]</span><em>c</em></p>';
  if (probe !== expected) {
    throw new Error(`The HTML sanitizer does not work in this window (probe gave ${JSON.stringify(probe)})`);
  }
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

const HIGHLIGHT_CACHE_SIZE = 64;
/**
 * Longer code is shown without highlighting: highlight.js and the thousands of spans it makes
 * cost about 2 ms per KB in the webview (a 100 KB block, 180 ms), where escaped text is nearly free.
 */
export const MAX_HIGHLIGHT_CHARS = 20_000;

function createMarkedParser(options: MarkdownRendererOptions): { marked: Marked; setHighlighter(h: Highlighter): void } {
  let hljs = options.highlighter;
  // While a reply streams, every finished code block above the growing one would be highlighted
  // again on each frame; remember recent results.
  const highlighted = new Map<string, string>();
  const highlight = (code: string, language: string): string => {
    const key = `${language}\u0000${code}`;
    const cached = highlighted.get(key);
    if (cached !== undefined) return cached;
    const html = hljs?.highlight(code, language) ?? escapeHtml(code);
    if (highlighted.size >= HIGHLIGHT_CACHE_SIZE) {
      const oldest = highlighted.keys().next();
      if (!oldest.done) highlighted.delete(oldest.value);
    }
    highlighted.set(key, html);
    return html;
  };

  const marked = new Marked({
    gfm: true,
    breaks: false,
    renderer: {
      // Raw HTML from the model is shown as text, never interpreted.
      html(token: Tokens.HTML | Tokens.Tag): string {
        const text = escapeHtml(token.text);
        return token.block ? `<p>${text.trim().replace(/\n/g, '<br>')}</p>\n` : text;
      },
      code({ text, lang }: Tokens.Code): string {
        const language = (lang ?? '').trim().split(/\s/, 1)[0]?.toLowerCase() ?? '';
        if (!hljs && language !== '') options.onHighlighterNeeded?.();
        const known = language !== '' && hljs?.supports(language) === true && text.length <= MAX_HIGHLIGHT_CHARS;
        const body = known ? highlight(text, language) : escapeHtml(text);
        const label = language === '' ? 'text' : language.slice(0, 40);
        const languageClass = /^[\w+#.-]{1,40}$/.test(label) ? ` language-${label}` : '';
        return (
          '<div class="code-block"><div class="code-toolbar">' +
          `<span class="code-lang">${escapeHtml(label)}</span>` +
          '<button type="button" class="code-action" data-action="copy" aria-label="Copy code">Copy</button>' +
          '<button type="button" class="code-action" data-action="insert" aria-label="Insert code at cursor">Insert</button>' +
          `</div><pre><code class="hljs${languageClass}">${body}</code></pre></div>\n`
        );
      },
      checkbox({ checked }: Tokens.Checkbox): string {
        return `<span class="task-checkbox">${checked ? '☑' : '☐'}</span> `;
      },
    },
  });
  return {
    marked,
    setHighlighter(h: Highlighter) {
      hljs = h;
      highlighted.clear();
    },
  };
}

export function createMarkdownRenderer(window: Window, options: MarkdownRendererOptions = {}): MarkdownRenderer {
  const { marked, setHighlighter } = createMarkedParser(options);
  const purify = createSanitizer(window);
  return {
    render(markdown: string): string {
      let html: string;
      if (tooCostlyToParse(markdown)) {
        html = `<p>${escapeHtml(markdown).replace(/\n/g, '<br>')}</p>`;
      } else {
        try {
          html = marked.parse(markdown, { async: false });
        } catch {
          html = `<p>${escapeHtml(markdown)}</p>`;
        }
      }
      return purify.sanitize(html);
    },
    setHighlighter,
  };
}

/**
 * A text is shown as plain text when parsing it could block the view for more than a frame:
 *
 * - its prose (code in fences or backticks left out) holds more than MAX_EMPHASIS_DELIMITERS
 *   emphasis delimiters (`*`, `_`) at more than MAX_DELIMITER_SHARE of its characters. marked's
 *   inline parser is quadratic in dense delimiters (`_a` fifty thousand times, 100 KB, takes
 *   seconds per parse; mixed runs such as `**a__` or `*a_` take 15–20 ms per KB in Node and twice
 *   that in the webview, and a streamed reply's open block is parsed on every frame), while prose,
 *   even a megabyte of it with emphasis on every line, holds a few per hundred characters. 300
 *   delimiters of such a run parse in about 5 ms;
 * - a line nests quotes or lists deeper than MAX_NESTING_DEPTH (markdownBlocks.ts);
 * - a table runs longer than MAX_TABLE_ROWS rows.
 */
export const MAX_EMPHASIS_DELIMITERS = 300;
const MAX_DELIMITER_SHARE = 0.2;
/**
 * marked and the DOM take about 0.1 ms per table row in the webview (a 100 KB table of 2,000 rows:
 * 190 ms to render, 130 ms to insert), so 300 rows cost about a frame. Counted as lines in a row
 * that hold a `|` outside code.
 */
export const MAX_TABLE_ROWS = 300;

/** Whether parsing this text could take more than a frame: decided in one pass. */
export function tooCostlyToParse(markdown: string): boolean {
  let delimiters = 0;
  let prose = 0;
  let tableRows = 0;
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s{0,3}(```|~~~)/.test(line)) {
      inFence = !inFence;
      tableRows = 0;
      continue;
    }
    if (inFence) continue;
    if (nestingDepth(line) > MAX_NESTING_DEPTH) return true;
    // Backtick spans are code: their delimiters are text.
    const text = line.replace(/`[^`]*`/g, '');
    tableRows = text.includes('|') ? tableRows + 1 : 0;
    if (tableRows > MAX_TABLE_ROWS) return true;
    prose += text.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x2a || c === 0x5f) delimiters++;
    }
  }
  return delimiters > MAX_EMPHASIS_DELIMITERS && delimiters > prose * MAX_DELIMITER_SHARE;
}
