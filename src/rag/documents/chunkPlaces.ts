// The place (page, heading path, cell) of each chunk of an extracted document, from the segments
// the reader marked in its text; and the heading path of each section of a Markdown file, read in
// the extension host (a line scan, as cheap as the chunking itself).
import type { SourcePlace } from '../../shared/sourcePlace';
import type { DocumentPosition, TextSegment } from './documentTypes';
import { MarkdownHeadingTracker } from './markdownText';

/**
 * Where the text `[start, end)` came from: the segment it starts in (or the first one after, when it
 * starts between two), and for pages the last page it reaches. Undefined when no segment says.
 */
export function placeOfRange(segments: readonly TextSegment[], start: number, end: number): SourcePlace | undefined {
  const first = firstEndingAfter(segments, start);
  if (first === undefined) return undefined;
  const from = segments[first]!.position;
  const place = placeOf(from);
  if (from.kind === 'page') {
    let last = first;
    while (last + 1 < segments.length && segments[last + 1]!.start < end) last++;
    const to = segments[last]!.position;
    if (to.kind === 'page' && to.page !== from.page) place.endPage = to.page;
  }
  return Object.keys(place).length ? place : undefined;
}

function placeOf(p: DocumentPosition): SourcePlace {
  switch (p.kind) {
    case 'page':
      return { page: p.page };
    case 'headings':
      return p.headings.length ? { headings: p.headings } : {};
    case 'cell':
      return p.headings.length ? { cell: p.cell, headings: p.headings } : { cell: p.cell };
  }
}

/** Index of the first segment whose end is past `offset` (segments are in order). */
function firstEndingAfter(segments: readonly TextSegment[], offset: number): number | undefined {
  let lo = 0;
  let hi = segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segments[mid]!.end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo < segments.length ? lo : undefined;
}

/** The sections of a Markdown text with their heading paths, at their offsets in the text as it is. */
export function markdownSegments(text: string): TextSegment[] {
  const tracker = new MarkdownHeadingTracker();
  const segments: TextSegment[] = [];
  let sectionStart = 0;
  let path: string[] = [];
  let offset = 0;
  const lineBreak = /\r?\n/g;
  while (offset <= text.length) {
    lineBreak.lastIndex = offset;
    const m = lineBreak.exec(text);
    const lineEnd = m ? m.index : text.length;
    if (tracker.feed(text.slice(offset, lineEnd))) {
      if (offset > sectionStart) segments.push({ start: sectionStart, end: offset, position: { kind: 'headings', headings: path } });
      sectionStart = offset;
      path = tracker.path();
    }
    if (!m) break;
    offset = m.index + m[0].length;
  }
  if (text.length > sectionStart) segments.push({ start: sectionStart, end: text.length, position: { kind: 'headings', headings: path } });
  return segments;
}
