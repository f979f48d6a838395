// Where in a document a passage of memory came from, beyond its lines: the page of a PDF, the
// heading path of a Word, HTML or Markdown section, the cell of a notebook. Stored with each chunk,
// carried in citations, shown under a reply ("manual.pdf, page 12"), used to open the file there.
import * as z from 'zod/mini';

const Heading = z.string().check(z.maxLength(500));

export const SourcePlaceSchema = z.object({
  /** First page (1-based) of a PDF passage. */
  page: z.optional(z.int().check(z.gte(1))),
  /** Last page, when the passage runs over more than one. */
  endPage: z.optional(z.int().check(z.gte(1))),
  /** The headings above the passage, outermost first. */
  headings: z.optional(z.array(Heading).check(z.maxLength(12))),
  /** Notebook cell, from 0 as VS Code's notebook API counts (shown from 1). */
  cell: z.optional(z.int().check(z.gte(0))),
});
export type SourcePlace = z.infer<typeof SourcePlaceSchema>;

/** The documents read through a document reader (not as plain text), by file name. */
export type ExtractedKind = 'pdf' | 'docx' | 'html' | 'notebook';

export function extractedKindOf(fileName: string): ExtractedKind | undefined {
  const ext = /\.([^./\\]+)$/.exec(fileName.toLowerCase())?.[1];
  switch (ext) {
    case 'pdf':
      return 'pdf';
    case 'docx':
      return 'docx';
    case 'html':
    case 'htm':
    case 'xhtml':
      return 'html';
    case 'ipynb':
      return 'notebook';
    default:
      return undefined;
  }
}

/** Passages from these files were read through a document reader: their line numbers are the extracted text's. */
export function isExtractedDocument(source: string): boolean {
  return extractedKindOf(source) !== undefined;
}

/** "page 12", "pages 12–13", "§ Setup › Authentication", "cell 4 · § Analysis"; '' for none. */
export function placeLabel(place: SourcePlace | undefined): string {
  if (!place) return '';
  const parts: string[] = [];
  if (place.page !== undefined) parts.push(place.endPage !== undefined && place.endPage !== place.page ? `pages ${place.page}–${place.endPage}` : `page ${place.page}`);
  if (place.cell !== undefined) parts.push(`cell ${place.cell + 1}`);
  if (place.headings?.length) parts.push(`§ ${place.headings.join(' › ')}`);
  return parts.join(' · ');
}

/**
 * How a passage is named after its file: its place where it has one that says more than lines
 * ("page 2"), its lines otherwise; a Markdown section keeps its lines and adds its heading.
 */
export function passageLabel(p: { source: string; startLine: number; endLine: number; place?: SourcePlace | undefined }, dash = '–'): string {
  const lines = p.startLine === p.endLine ? `line ${p.startLine}` : `lines ${p.startLine}${dash}${p.endLine}`;
  const place = placeLabel(p.place);
  if (isExtractedDocument(p.source)) return place || lines;
  return place ? `${lines} · ${place}` : lines;
}
