// The line of an HTML file where a heading is, so a passage cited by its section opens there. A
// scan for <h1>…<h6>, compared by their text; no parser (the parsers live in the document reader,
// which the extension host does not load for this).

/** 0-based line of the last heading whose text is `heading`, or undefined when none is. */
export function htmlHeadingLine(html: string, heading: string): number | undefined {
  const wanted = normalise(heading);
  if (!wanted) return undefined;
  const tag = /<h([1-6])\b[^>]*>([\s\S]*?)<\/h\1\s*>/gi;
  for (let m = tag.exec(html); m; m = tag.exec(html)) {
    if (normalise(textOf(m[2]!)) === wanted) return lineAt(html, m.index);
  }
  return undefined;
}

function textOf(inner: string): string {
  return inner
    .replace(/<[^>]*>/g, '')
    .replace(/&nbsp;/gi, ' ')
    .replace(/&amp;/gi, '&')
    .replace(/&lt;/gi, '<')
    .replace(/&gt;/gi, '>')
    .replace(/&quot;/gi, '"')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)));
}

function normalise(text: string): string {
  return text.replace(/\s+/g, ' ').trim().toLowerCase();
}

function lineAt(text: string, offset: number): number {
  let line = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}
