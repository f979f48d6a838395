// Text and heading paths of an HTML document (also of mammoth's HTML rendering of a DOCX).
// htmlparser2 rather than a regular expression: it decodes entities, tolerates broken markup and
// knows that `<script>` content ends only at `</script>`; it is a streaming tokenizer with no DOM,
// so a large page costs its text, not a tree.
import { Parser } from 'htmlparser2';
import type { SegmentedTextBuilder } from './segmentedText';

/** Elements whose content is never text a person reads. */
const droppedElements = new Set(['script', 'style', 'noscript', 'template', 'head', 'svg', 'math', 'iframe', 'object']);

/** Elements that start a new line. */
const blockElements = new Set([
  'address', 'article', 'aside', 'blockquote', 'br', 'dd', 'div', 'dl', 'dt', 'figcaption', 'figure', 'footer',
  'form', 'header', 'hr', 'li', 'main', 'nav', 'ol', 'p', 'pre', 'section', 'table', 'tbody', 'td', 'th', 'thead',
  'tr', 'ul', 'caption', 'details', 'summary',
]);

/** Appends the page's text to `out`, one block per section, positioned by its heading path. */
export function appendHtmlText(html: string, out: SegmentedTextBuilder): void {
  const headings: { level: number; text: string }[] = [];
  let section = '';
  let headingLevel = 0;
  let headingText = '';
  let dropDepth = 0;
  let preDepth = 0;
  const path = () => headings.map((h) => h.text);
  const flush = () => {
    out.append(normalizeBlock(section), { kind: 'headings', headings: path() });
    section = '';
  };

  const parser = new Parser(
    {
      onopentag(name) {
        if (droppedElements.has(name)) {
          dropDepth++;
          return;
        }
        if (dropDepth) return;
        const level = /^h([1-6])$/.exec(name)?.[1];
        if (level) {
          flush();
          headingLevel = Number(level);
          headingText = '';
          return;
        }
        if (name === 'pre') preDepth++;
        if (blockElements.has(name)) section += '\n';
        else if (name === 'img' || name === 'input') section += ' ';
      },
      ontext(text) {
        if (dropDepth) return;
        if (headingLevel) headingText += text;
        else section += preDepth ? text.replace(/\n/g, '\u0000') : text;
      },
      onclosetag(name) {
        if (droppedElements.has(name)) {
          if (dropDepth) dropDepth--;
          return;
        }
        if (dropDepth) return;
        if (headingLevel && name === `h${headingLevel}`) {
          const text = headingText.replace(/\s+/g, ' ').trim();
          while (headings.length && headings.at(-1)!.level >= headingLevel) headings.pop();
          if (text) headings.push({ level: headingLevel, text });
          section = text ? `${text}\n` : '';
          headingLevel = 0;
          return;
        }
        if (name === 'pre' && preDepth) preDepth--;
        if (blockElements.has(name)) section += '\n';
      },
    },
    { decodeEntities: true, lowerCaseTags: true },
  );
  parser.write(html);
  parser.end();
  if (headingLevel) section += headingText;
  flush();
}

/** Collapses spaces inside lines (newlines inside `<pre>` were marked with NUL and are kept). */
function normalizeBlock(block: string): string {
  return block
    .split('\n')
    .map((line) => line.replace(/[ \t\r\f\v\u00a0]+/g, ' ').trim().replace(/\u0000/g, '\n'))
    .filter(Boolean)
    .join('\n');
}
