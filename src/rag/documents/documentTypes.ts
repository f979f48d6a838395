// What document extraction takes and gives back, shared by the extension-host side
// (extractDocument.ts) and the worker (extractWorker.ts). Plain data: it crosses the thread line.
import { type ExtractedKind, extractedKindOf } from '../../shared/sourcePlace';

/** The document formats the extraction worker reads (Markdown too, though indexing reads it as text). */
export type DocumentKind = ExtractedKind | 'markdown';

/** Where a stretch of the extracted text came from, for citations ("page 12", "§ Authentication"). */
export type DocumentPosition =
  | { kind: 'page'; page: number }
  | { kind: 'headings'; headings: string[] }
  /** `cell` counts from 0, as VS Code's notebook API does; `headings` is the path of the markdown cells before it. */
  | { kind: 'cell'; cell: number; cellType: 'markdown' | 'code'; headings: string[] };

/** `text.slice(start, end)` came from `position`. Segments are in order and do not overlap. */
export interface TextSegment {
  start: number;
  end: number;
  position: DocumentPosition;
}

export type ExtractSkipReason =
  | 'encrypted'
  | 'noText'
  | 'damaged'
  | 'tooManyPages'
  | 'tooMuchText'
  | 'timeLimit'
  | 'memoryLimit'
  | 'readerFailed';

export type ExtractOutcome =
  | { ok: true; text: string; segments: TextSegment[]; pageCount?: number }
  /** `message` is plain words for the skip summary ("password-protected"). */
  | { ok: false; reason: ExtractSkipReason; message: string };

export interface ExtractBudget {
  /** Wall-clock time for the whole extraction, worker start included. */
  timeoutMs: number;
  /** The reader's V8 heap (old generation). */
  maxHeapMb: number;
  /**
   * Resident memory allowed beyond `maxHeapMb` (a child process's own; for a worker thread, the
   * host process's growth while it runs). Decompressed streams live in ArrayBuffers outside the V8
   * heap, which `maxHeapMb` does not count: this is their backstop.
   */
  maxRssGrowthMb: number;
  maxPages: number;
  /** Characters of extracted text; more is treated as a bomb, not as a long document. */
  maxTextChars: number;
}

/** PDF, Word, HTML and notebook files larger than this are not read (a setting can change it). */
export const defaultMaxDocumentBytes = 50 * 1024 * 1024;

export const defaultExtractBudget: ExtractBudget = {
  timeoutMs: 60_000,
  maxHeapMb: 256,
  maxRssGrowthMb: 768,
  maxPages: 5_000,
  maxTextChars: 20_000_000,
};

/** The skip summary's words for each reason; `detail` adds the numbers where they help. */
export function skipMessage(reason: ExtractSkipReason, detail?: string): string {
  const base: Record<ExtractSkipReason, string> = {
    encrypted: 'password-protected',
    noText: 'no text to index — it may be a scanned image',
    damaged: 'damaged or truncated — it could not be read',
    tooManyPages: 'too many pages',
    tooMuchText: 'too much text — it may be built to exhaust memory',
    timeLimit: 'took too long to read',
    memoryLimit: 'needed too much memory to read — it may be built to exhaust memory',
    readerFailed: 'the document reader failed',
  };
  return detail ? `${base[reason]} (${detail})` : base[reason];
}

/** The kind a file name's extension says, or undefined for files read as plain text. */
export function documentKindOf(fileName: string): DocumentKind | undefined {
  return extractedKindOf(fileName) ?? (/\.(md|markdown)$/i.test(fileName) ? 'markdown' : undefined);
}
