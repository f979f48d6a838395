// Builds the extracted text block by block, remembering which position each block came from.
import type { DocumentPosition, TextSegment } from './documentTypes';

/** Thrown when the text grows past its budget; the worker turns it into the `tooMuchText` skip. */
export class TextLimitError extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} characters of text`);
  }
}

const blockSeparator = '\n\n';

export class SegmentedTextBuilder {
  private readonly parts: string[] = [];
  private length = 0;
  readonly segments: TextSegment[] = [];

  constructor(private readonly maxChars: number) {}

  /** Adds a block (trimmed; blank blocks are dropped). A block at the last block's position extends its segment. */
  append(block: string, position: DocumentPosition): void {
    const text = block.trim();
    if (!text) return;
    const separator = this.length ? blockSeparator : '';
    if (this.length + separator.length + text.length > this.maxChars) throw new TextLimitError(this.maxChars);
    this.parts.push(separator, text);
    const start = this.length + separator.length;
    this.length = start + text.length;
    const last = this.segments.at(-1);
    if (last && samePosition(last.position, position)) last.end = this.length;
    else this.segments.push({ start, end: this.length, position });
  }

  get text(): string {
    return this.parts.join('');
  }
}

function samePosition(a: DocumentPosition, b: DocumentPosition): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
