// The extraction itself, run inside the worker (extractWorker.ts). Every failure becomes a skip
// reason in plain words; nothing here may throw past `extractInThread`.
import { appendDocxText } from './docxText';
import { type DocumentKind, type ExtractBudget, type ExtractOutcome, skipMessage } from './documentTypes';
import { appendHtmlText } from './htmlText';
import { appendMarkdownText } from './markdownText';
import { appendNotebookText, NotebookFormatError } from './notebookText';
import { appendPdfText, PdfPageLimitError, PdfPasswordError } from './pdfText';
import { SegmentedTextBuilder, TextLimitError } from './segmentedText';

export async function extractInThread(data: Uint8Array, kind: DocumentKind, budget: ExtractBudget): Promise<ExtractOutcome> {
  // A Node Buffer (as a caller or the IPC channel may hand it over) is refused by PDF.js: a plain view of the same bytes.
  const bytes = Buffer.isBuffer(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data;
  const out = new SegmentedTextBuilder(budget.maxTextChars);
  let pageCount: number | undefined;
  try {
    switch (kind) {
      case 'pdf':
        pageCount = await appendPdfText(bytes, out, budget.maxPages);
        break;
      case 'docx':
        await appendDocxText(bytes, out);
        break;
      case 'html':
        appendHtmlText(decodeText(bytes), out);
        break;
      case 'markdown':
        appendMarkdownText(decodeText(bytes), out);
        break;
      case 'notebook':
        appendNotebookText(decodeText(bytes), out);
        break;
    }
  } catch (e) {
    return skipFor(e);
  }
  if (!out.segments.length) {
    return { ok: false, reason: 'noText', message: kind === 'pdf' ? skipMessage('noText') : 'no text to index' };
  }
  return pageCount === undefined ? { ok: true, text: out.text, segments: out.segments } : { ok: true, text: out.text, segments: out.segments, pageCount };
}

function skipFor(e: unknown): ExtractOutcome {
  if (e instanceof PdfPasswordError) return { ok: false, reason: 'encrypted', message: skipMessage('encrypted') };
  if (e instanceof PdfPageLimitError) return { ok: false, reason: 'tooManyPages', message: skipMessage('tooManyPages', e.message) };
  if (e instanceof TextLimitError) return { ok: false, reason: 'tooMuchText', message: skipMessage('tooMuchText', e.message) };
  if (e instanceof RangeError && /call stack|Invalid string length|Array buffer allocation/i.test(e.message)) {
    return { ok: false, reason: 'memoryLimit', message: skipMessage('memoryLimit', e.message) };
  }
  // PDF.js reports a stack overflow from deeply nested objects as an error of its own.
  if (e instanceof Error && /Maximum call stack size exceeded/.test(e.message)) {
    return { ok: false, reason: 'memoryLimit', message: skipMessage('memoryLimit', 'objects nested too deeply') };
  }
  if (e instanceof NotebookFormatError) return { ok: false, reason: 'damaged', message: skipMessage('damaged', e.message) };
  const detail = e instanceof Error ? e.message.split('\n')[0]!.slice(0, 200) : String(e).slice(0, 200);
  return { ok: false, reason: 'damaged', message: skipMessage('damaged', detail) };
}

/** UTF-8 (a BOM is dropped); invalid bytes become U+FFFD rather than failing the document. */
function decodeText(bytes: Uint8Array): string {
  return new TextDecoder('utf-8').decode(bytes);
}
