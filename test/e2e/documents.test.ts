// Documents in memory in a real VS Code (code-server): a PDF added from the Explorer is read by the
// document reader, indexed against a KoboldCpp-like embeddings server, and a question about its
// second page gets that page's passage, cited under the reply as "manual.pdf · page 2". A click on
// the source names the page (code-server has no file manager to reveal the file in). An HTML page
// and a notebook are cited by their section and cell, and open there.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { notebookJson, pdfWithTextPages } from '../support/documentFixtures';
import { captureOnFailure, openPersonaView, waitUntil } from './harness';
import { chatWithMemoryE2e, explorerMenu, lastAssistant, requestMessages, sendMessage, waitForReply } from './chatView';

/** Lines of words the question does not share, so the pages are told apart by their own facts only. */
const filler = (page: number, n: number) => Array.from({ length: n }, (_, i) => `Section ${page}.${i} lists routine inspection notes for the plant floor.`);

const started = chatWithMemoryE2e({
  label: 'documents',
  server: { reply: 'The relief valve opens at 7 bar [1].' },
  workspaceFiles: {
    'README.md': '# Plant\n',
    'docs/guide.html': [
      '<!doctype html>',
      '<html><head><title>Guide</title><script>var OSPREY = "not text";</script></head>',
      '<body>',
      '<h1>Guide</h1>',
      `<p>${filler(1, 6).join(' ')}</p>`,
      '<h2>Install</h2>',
      '<p>The OSPREY module installs with the blue lever pulled twice.</p>',
      `<p>${filler(2, 6).join(' ')}</p>`,
      '</body></html>',
    ].join('\n'),
    // The first cell fills half a chunk, so the HERON cell starts a chunk of its own (chunks end
    // where a paragraph starts, and each cell is one).
    'docs/analysis.ipynb': notebookJson([
      { type: 'markdown', source: ['# Analysis', ...filler(3, 5)].join('\n') },
      { type: 'code', source: ['# the HERON plot draws the weekly boiler pressure', 'df = load_week()', 'plot_heron(df, title="weekly")', 'save_figure("heron.png")'].join('\n') },
    ]),
  },
  // Chunks smaller than a page, as a long manual's would be against its pages.
  settings: { 'persona.rag.chunkTokens': 96, 'persona.rag.chunkOverlap': 0, 'persona.rag.topK': 1 },
});

test('a PDF added from the Explorer is read page by page; a question about its second page is answered from it and cited as "page 2"', async () => {
  const { e, k } = started();
  await captureOnFailure(e.vs, 'documents-pdf-page', async () => {
    const pdf = await pdfWithTextPages(3, (page) => [
      ...filler(page, 12),
      ...(page === 2 ? ['The PELICAN relief valve opens at seven bar of boiler pressure.'] : []),
      ...filler(page, 12).reverse(),
    ]);
    writeFileSync(join(e.vs.dirs.workspace, 'manual.pdf'), pdf);
    await e.view();
    await explorerMenu(e.vs.page, (t) => e.vs.runCommand(t), 'manual.pdf', 'Add to Persona Memory');
    const frame = await openPersonaView(e.vs.page);
    await waitUntil('the memory line to count the PDF', 60_000, async () => /Memory: 1 file/.test((await frame.locator('.memory-bar').innerText({ timeout: 1000 }).catch(() => '')) ?? ''), 250);
    // What reached the embeddings server is the PDF's text, not its bytes.
    const embedded = k.embeddingRequests.flatMap((r) => r.inputs);
    assert.ok(embedded.some((t) => t.includes('PELICAN relief valve')), 'the text of page 2 was embedded');
    assert.ok(!embedded.some((t) => t.includes('%PDF')), 'no PDF syntax was embedded');

    const before = e.server.completions.length;
    await sendMessage(frame, 'At what pressure does the PELICAN relief valve open?');
    await waitForReply(frame, e.server, before + 1);
    const system = requestMessages(e.server.chatRequests.at(-1))[0]!;
    assert.match(system.content, /\[1\] manual\.pdf, page 2\n/);
    assert.match(system.content, /PELICAN relief valve opens at seven bar/);

    const cite = lastAssistant(frame).locator('.citations button', { hasText: 'manual.pdf' });
    await cite.waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal((await cite.innerText()).trim(), '[1] manual.pdf · page 2');
    await e.vs.screenshot('documents-pdf-cited');
    await cite.click();
    // No file manager in a browser: the message names the file and the page.
    const toast = e.vs.page.locator('.notifications-toasts .notification-toast', { hasText: 'manual.pdf' }).first();
    await toast.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await toast.innerText(), /see page 2/);
  });
});

test('an HTML page and a notebook added as a folder are cited by section and cell, and a click opens each there', async () => {
  const { e } = started();
  await captureOnFailure(e.vs, 'documents-html-notebook', async () => {
    await e.view();
    await explorerMenu(e.vs.page, (t) => e.vs.runCommand(t), 'docs', 'Add to Persona Memory');
    const frame = await openPersonaView(e.vs.page);
    await waitUntil('the memory line to count the two documents', 60_000, async () => /Memory: 3 files/.test((await frame.locator('.memory-bar').innerText({ timeout: 1000 }).catch(() => '')) ?? ''), 250);

    let before = e.server.completions.length;
    await sendMessage(frame, 'How does the OSPREY module install?');
    await waitForReply(frame, e.server, before + 1);
    const html = lastAssistant(frame).locator('.citations button', { hasText: 'guide.html' });
    await html.waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal((await html.innerText()).trim(), '[1] guide.html · § Guide › Install');
    await html.click();
    await e.vs.page.locator('.tabs-container .tab.active[aria-label^="guide.html"]').waitFor({ state: 'visible', timeout: 10_000 });
    // The cursor is on the heading's line (line 6 of the file).
    const position = e.vs.page.locator('.statusbar-item', { hasText: /^Ln \d+, Col \d+/ }).first();
    await waitUntil('the cursor at the Install heading', 10_000, async () => /^Ln 6,/.test((await position.innerText({ timeout: 1000 }).catch(() => '')).trim()));

    const again = await openPersonaView(e.vs.page);
    before = e.server.completions.length;
    await sendMessage(again, 'What does the HERON plot show?', { click: true });
    await waitForReply(again, e.server, before + 1);
    const cell = lastAssistant(again).locator('.citations button', { hasText: 'analysis.ipynb' });
    await cell.waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal((await cell.innerText()).trim(), '[1] analysis.ipynb · cell 2 · § Analysis');
    await cell.click();
    await e.vs.page.locator('.tabs-container .tab.active[aria-label^="analysis.ipynb"]').waitFor({ state: 'visible', timeout: 15_000 });
    // The cited cell is the one selected in the notebook editor.
    const selected = e.vs.page.locator('.notebook-editor .monaco-list-row.selected, .notebook-editor .monaco-list-row.focused').first();
    await selected.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await selected.innerText(), /plot_heron/);
    await e.vs.screenshot('documents-notebook-cell');
  });
});
