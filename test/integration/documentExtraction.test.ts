// Documents people add to memory — PDF, Word, HTML, Markdown, notebooks — read in a reader process
// kept for the next document (or a worker thread): their text with the page or heading path of each stretch, or a skip reason in plain words. Hostile
// documents are stopped by the reader's budget while the host's event loop keeps running.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { DocumentPosition, ExtractOutcome, TextSegment } from '../../src/rag/documents/documentTypes';
import { documentKindOf } from '../../src/rag/documents/documentTypes';
import { extractDocument } from '../../src/rag/documents/extractDocument';
import {
  docxBomb,
  docxParagraph,
  docxWithBody,
  notebookJson,
  pdfCompressionBomb,
  pdfDeeplyNested,
  pdfNeedingPassword,
  pdfWithoutText,
  pdfWithTextPages,
  truncated,
} from '../support/documentFixtures';

const utf8 = (text: string) => new TextEncoder().encode(text);

/** Processes this test process has started that run the document reader, read from /proc. */
function readerProcesses(): number[] {
  const children = readdirSync('/proc/self/task').flatMap((t) => readFileSync(`/proc/self/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  return children.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('extractWorker');
    } catch {
      return false; // it ended since
    }
  });
}

function extracted(outcome: ExtractOutcome): { text: string; segments: TextSegment[] } {
  assert.ok(outcome.ok, `expected text, got the skip: ${outcome.ok ? '' : outcome.message}`);
  return outcome;
}

function skipped(outcome: ExtractOutcome): { reason: string; message: string } {
  assert.ok(!outcome.ok, 'expected a skip, got text');
  return outcome;
}

/** The text of every segment with its position, checking that offsets point into `text` in order. */
function segmentTexts(result: { text: string; segments: TextSegment[] }): { text: string; position: DocumentPosition }[] {
  let previousEnd = 0;
  return result.segments.map((s) => {
    assert.ok(s.start >= previousEnd && s.end > s.start && s.end <= result.text.length, `segment offsets ${s.start}-${s.end}`);
    previousEnd = s.end;
    return { text: result.text.slice(s.start, s.end), position: s.position };
  });
}

describe('document extraction off the main thread', () => {
  it('reads a PDF page by page: each segment knows its page', async () => {
    const pdf = await pdfWithTextPages(3, (n) => [`Facts of page ${n}: the valve is number ${n * 11}.`]);
    const result = extracted(await extractDocument(pdf, 'pdf'));
    const segments = segmentTexts(result);
    assert.deepEqual(segments.map((s) => s.position), [1, 2, 3].map((page) => ({ kind: 'page', page })));
    segments.forEach((s, i) => {
      assert.match(s.text, new RegExp(`This is page ${i + 1}`));
      assert.match(s.text, new RegExp(`valve is number ${(i + 1) * 11}`));
    });
  });

  it('skips a PDF without a text layer as a possible scan', async () => {
    const outcome = skipped(await extractDocument(await pdfWithoutText(), 'pdf'));
    assert.equal(outcome.reason, 'noText');
    assert.equal(outcome.message, 'no text to index — it may be a scanned image');
  });

  it('skips a password-protected PDF', async () => {
    const outcome = skipped(await extractDocument(await pdfNeedingPassword(), 'pdf'));
    assert.equal(outcome.reason, 'encrypted');
    assert.equal(outcome.message, 'password-protected');
  });

  it('skips a truncated PDF as damaged', async () => {
    const pdf = await pdfWithTextPages(3);
    const outcome = skipped(await extractDocument(truncated(pdf, 0.5), 'pdf'));
    assert.equal(outcome.reason, 'damaged');
    assert.match(outcome.message, /^damaged or truncated/);
  });

  it('skips a PDF with more pages than the budget allows, without reading them', async () => {
    const outcome = skipped(await extractDocument(await pdfWithTextPages(60), 'pdf', { maxPages: 50 }));
    assert.equal(outcome.reason, 'tooManyPages');
    assert.match(outcome.message, /60 pages; at most 50/);
  });

  it('stops a PDF compression bomb (1 GB of content from 1 MB) by its memory budget', async () => {
    const bomb = await pdfCompressionBomb(1024);
    assert.ok(bomb.length < 2 * 2 ** 20, `the bomb is small on disk (${bomb.length} bytes)`);
    const outcome = skipped(await extractDocument(bomb, 'pdf', { maxHeapMb: 128, maxRssGrowthMb: 256, timeoutMs: 30_000 }));
    assert.equal(outcome.reason, 'memoryLimit', outcome.message);
    assert.match(outcome.message, /needed too much memory to read — it may be built to exhaust memory \(over 384 MB\)/);
  });

  it('reads a PDF with objects nested a thousand deep, and skips one nested a hundred thousand deep with the reason', async () => {
    assert.equal(extracted(await extractDocument(await pdfDeeplyNested(1_000), 'pdf')).text, 'Nested page');
    const outcome = skipped(await extractDocument(await pdfDeeplyNested(100_000), 'pdf'));
    assert.equal(outcome.reason, 'memoryLimit', outcome.message);
    assert.match(outcome.message, /needed too much memory to read — it may be built to exhaust memory \(objects nested too deeply\)/);
  });

  it('reads a Word document with its heading paths', async () => {
    const docx = docxWithBody(
      [
        docxParagraph('Preface text before any heading.'),
        docxParagraph('Installation', 'Heading1'),
        docxParagraph('Run the installer.'),
        docxParagraph('Authentication', 'Heading2'),
        docxParagraph('Tokens expire after 30 minutes.'),
        docxParagraph('Usage', 'Heading1'),
        docxParagraph('Open the panel.'),
      ].join(''),
    );
    const segments = segmentTexts(extracted(await extractDocument(docx, 'docx')));
    assert.deepEqual(
      segments.map((s) => s.position),
      [[], ['Installation'], ['Installation', 'Authentication'], ['Usage']].map((headings) => ({ kind: 'headings', headings })),
    );
    assert.equal(segments[2]!.text, 'Authentication\nTokens expire after 30 minutes.');
  });

  it('reads an HTML page: text and headings, scripts and styles dropped', async () => {
    const html = `<!doctype html><html><head><title>T</title><style>body { color: red }</style></head><body>
      <h1>Guide</h1><p>Intro &amp; overview.</p><script>var secret = "SCRIPT-TEXT"; if (a < b) {}</script>
      <h2>Setup</h2><ul><li>Step one</li><li>Step two</li></ul><style>.x{}</style><noscript>NOSCRIPT</noscript>
      <h2>Limits</h2><p>At most <b>5</b> users.</p></body></html>`;
    const result = extracted(await extractDocument(utf8(html), 'html'));
    assert.doesNotMatch(result.text, /SCRIPT-TEXT|color: red|NOSCRIPT|\.x\{\}/);
    assert.deepEqual(segmentTexts(result), [
      { text: 'Guide\nIntro & overview.', position: { kind: 'headings', headings: ['Guide'] } },
      { text: 'Setup\nStep one\nStep two', position: { kind: 'headings', headings: ['Guide', 'Setup'] } },
      { text: 'Limits\nAt most 5 users.', position: { kind: 'headings', headings: ['Guide', 'Limits'] } },
    ]);
  });

  it('reads Markdown by its #-headings, not those inside code fences', async () => {
    const md = '# Title\nIntro.\n\n## Part A\nText A.\n```sh\n# not a heading\n```\n# Other\nEnd.\n';
    assert.deepEqual(
      segmentTexts(extracted(await extractDocument(utf8(md), 'markdown'))).map((s) => s.position),
      [['Title'], ['Title', 'Part A'], ['Other']].map((headings) => ({ kind: 'headings', headings })),
    );
  });

  it('reads a notebook: markdown and code cells by index, outputs left out', async () => {
    const nb = notebookJson([
      { type: 'markdown', source: '# Analysis\nWe load the data.' },
      { type: 'code', source: 'import pandas as pd\ndf = pd.read_csv("x.csv")' },
      { type: 'raw', source: 'RAW-CELL' },
      { type: 'code', source: 'df.describe()' },
    ]);
    const result = extracted(await extractDocument(utf8(nb), 'notebook'));
    assert.doesNotMatch(result.text, /OUTPUT-NOT-INDEXED|RAW-CELL/);
    assert.deepEqual(segmentTexts(result), [
      { text: '# Analysis\nWe load the data.', position: { kind: 'cell', cell: 0, cellType: 'markdown', headings: [] } },
      { text: 'import pandas as pd\ndf = pd.read_csv("x.csv")', position: { kind: 'cell', cell: 1, cellType: 'code', headings: ['Analysis'] } },
      { text: 'df.describe()', position: { kind: 'cell', cell: 3, cellType: 'code', headings: ['Analysis'] } },
    ]);
  });

  it('skips a file that is not a notebook', async () => {
    const outcome = skipped(await extractDocument(utf8('{"cells": 3}'), 'notebook'));
    assert.equal(outcome.reason, 'damaged');
  });

  it('tells document kinds by file name', () => {
    assert.equal(documentKindOf('Manual.PDF'), 'pdf');
    assert.equal(documentKindOf('spec.docx'), 'docx');
    assert.equal(documentKindOf('page.htm'), 'html');
    assert.equal(documentKindOf('a.ipynb'), 'notebook');
    assert.equal(documentKindOf('main.ts'), undefined);
  });

  /** Reads the bomb while a 10 ms timer and the event-loop delay histogram watch the main thread. */
  async function readBombWatchingTheLoop(isolation: 'process' | 'thread') {
    const bomb = docxBomb(10_000);
    assert.ok(bomb.length < 2 * 2 ** 20, `the bomb is small on disk (${bomb.length} bytes)`);
    const delay = monitorEventLoopDelay({ resolution: 10 });
    let worstGapMs = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      worstGapMs = Math.max(worstGapMs, now - last - 10);
      last = now;
    }, 10);
    delay.enable();
    const started = performance.now();
    const outcome = skipped(await extractDocument(bomb, 'docx', { maxHeapMb: 128, timeoutMs: 20_000 }, { isolation }));
    const elapsedMs = performance.now() - started;
    // The reader's end (and the memory it gives back) is part of handling it.
    await new Promise((r) => setTimeout(r, 300));
    delay.disable();
    clearInterval(ticker);
    const maxDelayMs = delay.max / 1e6;
    console.log(
      `${isolation}: bomb of ${bomb.length} bytes → ${outcome.reason} (${outcome.message}) in ${elapsedMs.toFixed(0)} ms; ` +
        `event loop: max delay ${maxDelayMs.toFixed(1)} ms, worst extra wait of a 10 ms timer ${worstGapMs.toFixed(1)} ms`,
    );
    return { outcome, maxDelayMs, worstGapMs };
  }

  for (const isolation of ['thread', 'process'] as const) {
    it(`stops a DOCX zip bomb by its memory budget while the event loop stays free (${isolation})`, async () => {
      const { outcome, maxDelayMs, worstGapMs } = await readBombWatchingTheLoop(isolation);
      assert.equal(outcome.reason, 'memoryLimit', outcome.message);
      assert.match(outcome.message, /needed too much memory to read/);
      assert.ok(maxDelayMs < 50, `event loop delayed ${maxDelayMs.toFixed(1)} ms`);
      assert.ok(worstGapMs < 50, `a 10 ms timer waited ${worstGapMs.toFixed(1)} ms extra`);
    });
  }

  it('reads a PDF in a child process as in a worker thread', async () => {
    const result = extracted(await extractDocument(await pdfWithTextPages(2), 'pdf', {}, { isolation: 'process' }));
    assert.deepEqual(result.segments.map((s) => s.position), [1, 2].map((page) => ({ kind: 'page', page })));
  });

  it('stops a document that takes longer than its time budget', async () => {
    const outcome = skipped(await extractDocument(docxBomb(2_000), 'docx', { timeoutMs: 50 }));
    assert.equal(outcome.reason, 'timeLimit');
    assert.match(outcome.message, /took too long to read \(over 50 ms\)/);
  });

  it('keeps one reader process for document after document, and replaces it after one it could not finish', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
    const pdf = await pdfWithTextPages(2);
    extracted(await extractDocument(pdf, 'pdf'));
    const first = readerProcesses();
    assert.equal(first.length, 1, `one reader process after a document: ${first.join(', ')}`);
    // Three at once are read one after the other by the same process, each whole.
    const three = await Promise.all([1, 2, 3].map(() => extractDocument(pdf, 'pdf')));
    for (const r of three) assert.deepEqual(segmentTexts(extracted(r)).map((s) => s.position), [1, 2].map((page) => ({ kind: 'page', page })));
    assert.deepEqual(readerProcesses(), first, 'the same reader read them');

    // A document over its time budget ends its reader; the next document gets a new one and reads.
    assert.equal(skipped(await extractDocument(docxBomb(2_000), 'docx', { timeoutMs: 50 })).reason, 'timeLimit');
    extracted(await extractDocument(pdf, 'pdf'));
    const after = readerProcesses();
    assert.equal(after.length, 1, `one reader process again: ${after.join(', ')}`);
    assert.notEqual(after[0], first[0], 'a new reader after the one that ran out of time');

    // So does a zip bomb that runs it out of memory.
    assert.equal(skipped(await extractDocument(docxBomb(10_000), 'docx', { maxHeapMb: 128, timeoutMs: 20_000 })).reason, 'memoryLimit');
    const segments = segmentTexts(extracted(await extractDocument(utf8('# Title\n\nText.'), 'markdown')));
    assert.deepEqual(segments.map((s) => s.text), ['# Title\n\nText.']);
  });

  it('rejects a document waiting behind another at once when cancelled, and reads the next', async () => {
    const controller = new AbortController();
    const first = extractDocument(await pdfWithTextPages(2), 'pdf');
    const waiting = extractDocument(await pdfWithTextPages(2), 'pdf', {}, { signal: controller.signal });
    controller.abort(new Error('stopped while waiting'));
    await assert.rejects(waiting, /stopped while waiting/);
    extracted(await first);
  });

  it('rejects with the abort reason when cancelled', async () => {
    const controller = new AbortController();
    const pending = extractDocument(await pdfWithTextPages(2), 'pdf', {}, { signal: controller.signal });
    controller.abort(new Error('stopped by the person'));
    await assert.rejects(pending, /stopped by the person/);
  });
});
