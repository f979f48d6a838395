// Memory in a real VS Code (code-server): a folder is added from the Explorer's context menu, indexed
// against a KoboldCpp-like embeddings server, and the next reply is given the passage that answers
// the question, with the source listed under it; a click on the source opens the file at its lines.
// Forgetting a file from the Explorer takes it out of memory and out of the reply's sources.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import type { Frame } from 'playwright-core';
import { startFakeKoboldCpp } from '../support/fakeKoboldCpp';
import { captureOnFailure, openPersonaView, waitUntil } from './harness';
import { explorerMenu, lastAssistant, requestMessages, sendMessage, chatWithMemoryE2e, updateUserSettings, waitForReply } from './chatView';


const authNotes = [
  '# Signing in',
  '',
  'The login flow sets the ZEBRA_TOKEN cookie after the password check.',
  'Sessions expire after 30 minutes of inactivity.',
].join('\n');
const deployNotes = ['# Deploying', '', 'Releases go out on Tuesdays through the blue pipeline.'].join('\n');
const recipeNotes = ['# Sauce', '', 'The secret sauce is built on TAMARIND paste and smoked chili.'].join('\n');

const started = chatWithMemoryE2e({
  label: 'memory',
  server: { reply: 'It uses the ZEBRA_TOKEN cookie [1].' },
  workspaceFiles: {
    'notes/auth.md': authNotes,
    'notes/deploy.md': deployNotes,
    'notes/secret.txt': 'PRIVATE-DO-NOT-INDEX',
    'notes/recipes.md': recipeNotes,
    '.gitignore': 'notes/secret.txt\n',
  },
});

test('a folder added from the Explorer is indexed, the next reply is given its passage and lists it as a source that opens at its lines', async () => {
  const { e, k } = started();
  await captureOnFailure(e.vs, 'memory-add-ask-cite', async () => {
    await e.view();
    await explorerMenu(e.vs.page, (t) => e.vs.runCommand(t), 'notes', 'Add to Persona Memory');
    // The Explorer took the side bar: back to Persona (its view is made again).
    const frame = await openPersonaView(e.vs.page);
    // The notes are embedded; the ignored file is never sent to the embeddings server.
    await waitUntil('the memory line to count 3 files', 60_000, async () => /Memory: 3 files/.test((await frame.locator('.memory-bar').innerText({ timeout: 1000 }).catch(() => '')) ?? ''), 250);
    const embedded = k.embeddingRequests.flatMap((r) => r.inputs);
    assert.ok(embedded.some((t) => t.includes('ZEBRA_TOKEN')), 'auth.md was embedded');
    assert.ok(!embedded.some((t) => t.includes('PRIVATE-DO-NOT-INDEX')), 'the gitignored file was not');

    const before = e.server.completions.length;
    await sendMessage(frame, 'How does the login cookie work?');
    await waitForReply(frame, e.server, before + 1);
    const system = requestMessages(e.server.chatRequests.at(-1))[0]!;
    assert.equal(system.role, 'system');
    assert.match(system.content, /The login flow sets the ZEBRA_TOKEN cookie after the password check\./);
    assert.match(system.content, /notes\/auth\.md/);

    const cite = lastAssistant(frame).locator('.citations button', { hasText: 'auth.md' });
    await cite.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await cite.innerText(), /auth\.md · lines 1–4/);
    await cite.click();
    const tab = e.vs.page.locator('.tabs-container .tab.active[aria-label^="auth.md"]');
    await tab.waitFor({ state: 'visible', timeout: 10_000 });
    // The editor holds the cited lines selected.
    const selected = e.vs.page.locator('.editor-instance .monaco-editor .selected-text');
    await selected.first().waitFor({ state: 'attached', timeout: 10_000 });
  });
});

test('forgetting a file from the Explorer takes it out of memory and out of the sources under past replies', async () => {
  const { e } = started();
  await captureOnFailure(e.vs, 'memory-forget', async () => {
    const page = e.vs.page;
    await explorerMenu(page, (t) => e.vs.runCommand(t), 'auth.md', 'Forget from Persona Memory');
    const confirm = page.locator('.monaco-dialog-box .monaco-button', { hasText: /^Forget$/ });
    await confirm.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await page.locator('.monaco-dialog-box').innerText(), /Forget notes\/auth\.md\?/);
    await confirm.click();
    const frame = await openPersonaView(e.vs.page);
    await waitUntil('the memory line to count 2 files', 30_000, async () => /Memory: 2 files/.test(await frame.locator('.memory-bar').innerText({ timeout: 1000 }).catch(() => '')), 250);
    await waitUntil('the reply to lose its auth.md source', 10_000, async () => (await lastAssistant(frame).locator('.citations button', { hasText: 'auth.md' }).count()) === 0, 250);

    const before = e.server.completions.length;
    await sendMessage(frame, 'And the login cookie again?');
    await waitForReply(frame, e.server, before + 1);
    const system = requestMessages(e.server.chatRequests.at(-1))[0]!;
    assert.doesNotMatch(system.content, /ZEBRA_TOKEN cookie after the password check/);
  });
});

test("a file added to the current persona's own memory reaches its chats, not another persona's", async () => {
  const { e } = started();
  await captureOnFailure(e.vs, 'memory-persona-kb', async () => {
    const page = e.vs.page;
    // The folder went to the shared memory; forget the recipe there first, so only the persona's copy is left.
    await explorerMenu(page, (t) => e.vs.runCommand(t), 'recipes.md', 'Forget from Persona Memory');
    await page.locator('.monaco-dialog-box .monaco-button', { hasText: /^Forget$/ }).click();
    let frame = await openPersonaView(page);
    await waitUntil('the memory line to count 1 file', 30_000, async () => /Memory: 1 file\b/.test(await frame.locator('.memory-bar').innerText({ timeout: 1000 }).catch(() => '')), 250);
    const persona = await frame.locator('select[aria-label="Persona"] option:checked').textContent();

    await explorerMenu(page, (t) => e.vs.runCommand(t), 'recipes.md', 'Add to Memory of Current Persona', () => e.vs.screenshot('memory-explorer-menu'));
    frame = await openPersonaView(page);
    await waitUntil('the memory line to count 2 files', 30_000, async () => /Memory: 2 files/.test(await frame.locator('.memory-bar').innerText({ timeout: 1000 }).catch(() => '')), 250);
    let before = e.server.completions.length;
    await sendMessage(frame, 'What is the secret sauce built on?');
    await waitForReply(frame, e.server, before + 1);
    assert.match(requestMessages(e.server.chatRequests.at(-1))[0]!.content, /TAMARIND paste/, `${persona} is given its own memory`);
    await lastAssistant(frame).locator('.citations button', { hasText: 'recipes.md' }).waitFor({ state: 'visible', timeout: 10_000 });
    await e.vs.screenshot('memory-persona-cited');

    // Another persona: the shared memory only.
    const select = frame.locator('select[aria-label="Persona"]');
    const other = await select.locator('option:not(:checked)').first().getAttribute('value');
    await select.selectOption(other!);
    await waitUntil('the memory line to count 1 file', 10_000, async () => /Memory: 1 file\b/.test(await frame.locator('.memory-bar').innerText({ timeout: 1000 }).catch(() => '')), 250);
    before = e.server.completions.length;
    await sendMessage(frame, 'What is the secret sauce built on?');
    await waitForReply(frame, e.server, before + 1);
    assert.doesNotMatch(requestMessages(e.server.chatRequests.at(-1))[0]!.content, /TAMARIND/, 'another persona never sees it');
  });
});

test('after the embeddings model changes, the reply says so, and Show Memory Status indexes the files again for the new model', async () => {
  const { e, k } = started();
  const other = await startFakeKoboldCpp({ dimension: 1024, embeddingsModel: 'koboldcpp/e5-large-v2' });
  await captureOnFailure(e.vs, 'memory-model-changed', async () => {
    const page = e.vs.page;
    try {
      await updateUserSettings(e.vs, { 'persona.embeddings.baseUrl': other.url });
      const frame = await openPersonaView(page);
      let before = e.server.completions.length;
      await sendMessage(frame, 'When do releases go out?');
      await waitForReply(frame, e.server, before + 1);
      const note = lastAssistant(frame).locator('.memory-note');
      await note.waitFor({ state: 'visible', timeout: 10_000 });
      assert.match(await note.innerText(), /now uses koboldcpp\/e5-large-v2, but this memory was made with koboldcpp\/bge-m3-Q8_0 — index the files again for it \(Persona: Show Memory Status\)/);
      assert.doesNotMatch(requestMessages(e.server.chatRequests.at(-1))[0]!.content, /blue pipeline/, 'vectors of two models never meet');
      await e.vs.screenshot('memory-model-changed-note');

      await e.vs.runCommand('Persona: Show Memory Status');
      const item = page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: 'again for the current model' }).first();
      await item.waitFor({ state: 'visible', timeout: 10_000 });
      assert.match(await item.innerText(), /Index 2 files again for the current model/);
      await e.vs.screenshot('memory-status-index-again');
      await item.click();
      await other.waitFor(() => other.embeddingRequests.some((r) => r.inputs.some((t) => t.includes('blue pipeline'))), 30_000);
      await other.waitFor(() => other.embeddingRequests.some((r) => r.inputs.some((t) => t.includes('TAMARIND'))), 30_000);

      const view = await openPersonaView(page);
      await waitUntil('the memory line to count the file again', 30_000, async () => /Memory: 1 file\b/.test(await view.locator('.memory-bar').innerText({ timeout: 1000 }).catch(() => '')), 250);
      before = e.server.completions.length;
      await sendMessage(view, 'And when do releases go out?');
      await waitForReply(view, e.server, before + 1);
      assert.match(requestMessages(e.server.chatRequests.at(-1))[0]!.content, /Releases go out on Tuesdays through the blue pipeline\./);
    } finally {
      await updateUserSettings(e.vs, { 'persona.embeddings.baseUrl': k.url });
      await other.close();
    }
  });
});

/** Drops a uri-list on the view, as the Explorer or a web page would. */
async function dropUris(frame: Frame, uris: string[]): Promise<void> {
  await frame.evaluate((list) => {
    const dt = new DataTransfer();
    dt.setData('text/uri-list', list.join('\r\n'));
    const app = document.querySelector('.app')!;
    app.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    app.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, uris);
}

test('a file dropped from outside the workspace is added only after the person says so', async () => {
  const { e, k } = started();
  await captureOnFailure(e.vs, 'memory-drop-outside', async () => {
    const page = e.vs.page;
    const outside = join(e.vs.dirs.root, 'outside-notes.txt');
    writeFileSync(outside, 'OUTSIDE-SECRET: the vault code is 7741.\n');
    const frame = await openPersonaView(page);
    await dropUris(frame, [pathToFileURL(outside).href]);
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible', timeout: 10_000 });
    const text = await dialog.innerText();
    assert.match(text, /Add a file from outside this workspace to memory\?/);
    assert.ok(text.includes(outside), `the dialog names the file: ${text}`);
    await e.vs.screenshot('memory-drop-outside');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden', timeout: 5000 });

    // A file of the workspace dropped after it is added without a question, and the refused one
    // was never read.
    const inside = join(e.vs.dirs.workspace, 'notes', 'dropped.md');
    writeFileSync(inside, '# Dropped\n\nThe green door opens at dawn.\n');
    await dropUris(frame, [pathToFileURL(inside).href]);
    await k.waitFor(() => k.embeddingRequests.some((r) => r.inputs.some((t) => t.includes('green door'))), 30_000);
    assert.ok(!k.embeddingRequests.some((r) => r.inputs.some((t) => t.includes('OUTSIDE-SECRET'))), 'the file from outside was not read');
    assert.ok(!(await dialog.isVisible()), 'no question for a file of the workspace');
  });
});

test("a file dropped on the view as bytes is copied to the extension's storage and indexed; Forget All removes the copy too", async () => {
  const { e, k } = started();
  await captureOnFailure(e.vs, 'memory-drop-bytes-forget-all', async () => {
    const page = e.vs.page;
    const frame = await openPersonaView(page);
    // A file dragged in from another application arrives as its bytes, with no path.
    await frame.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['The blue kettle sings at noon. UPLOAD-MARKER\n'], 'kettle.md', { type: 'text/markdown' }));
      const app = document.querySelector('.app')!;
      app.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      app.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await k.waitFor(() => k.embeddingRequests.some((r) => r.inputs.some((t) => t.includes('UPLOAD-MARKER'))), 30_000);
    const copies = () => {
      const stores = join(e.vs.dirs.userData, 'User', 'workspaceStorage');
      return readdirSync(stores).flatMap((ws) => {
        const uploads = join(stores, ws, 'persona-dev.persona', 'memory', 'uploads');
        return existsSync(uploads) ? readdirSync(uploads, { recursive: true }).map(String).filter((f) => f.endsWith('kettle.md')) : [];
      });
    };
    assert.equal(copies().length, 1, 'the dropped file was not copied');

    await e.vs.runCommand('Persona: Forget All Memory of This Workspace…');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await dialog.innerText(), /copies of files dropped on the chat/);
    await dialog.getByRole('button', { name: 'Forget All' }).click();
    await waitUntil('the upload copy to be gone', 20_000, () => copies().length === 0);
  });
});
