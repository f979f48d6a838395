// Markdown and code cells of a Jupyter notebook (nbformat 4); outputs are left out: they are
// results, often large (images as base64), and stale more often than the code that made them.
import * as z from 'zod/mini';
import type { SegmentedTextBuilder } from './segmentedText';
import { MarkdownHeadingTracker } from './markdownText';

const cellSource = z.union([z.string(), z.array(z.string())]);

const notebookSchema = z.object({
  nbformat: z.optional(z.number()),
  cells: z.array(
    z.object({
      cell_type: z.string(),
      source: cellSource,
    }),
  ),
});

/** The notebook does not have the nbformat 4 shape. */
export class NotebookFormatError extends Error {}

/** Appends the cells' text, each cell a segment of its own (markdown cells also give heading paths). */
export function appendNotebookText(json: string, out: SegmentedTextBuilder): void {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (e) {
    throw new NotebookFormatError(`not valid JSON: ${(e as Error).message}`);
  }
  const parsed = notebookSchema.safeParse(data);
  if (!parsed.success) throw new NotebookFormatError('not a Jupyter notebook in nbformat 4');
  const tracker = new MarkdownHeadingTracker();
  parsed.data.cells.forEach((cell, index) => {
    const source = typeof cell.source === 'string' ? cell.source : cell.source.join('');
    // A cell is cited by the headings above its start; its own headings lead the cells after it.
    const headings = tracker.path();
    if (cell.cell_type === 'markdown') {
      out.append(source, { kind: 'cell', cell: index, cellType: 'markdown', headings });
      for (const line of source.split(/\r?\n/)) tracker.feed(line);
      tracker.endText();
    } else if (cell.cell_type === 'code') {
      out.append(source, { kind: 'cell', cell: index, cellType: 'code', headings });
    }
  });
}
