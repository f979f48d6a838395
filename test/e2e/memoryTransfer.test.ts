// Export and import of what a persona remembers, in a real VS Code. A knowledge base's file list is
// exported from the memory panel (files outside the workspace and copies of dropped files left out and
// counted), and on "another machine" (memory forgotten, one file gone, one path now a link out of the
// workspace) the list adds only the file that is here, after a confirmation that names the rest. A
// persona's memories are exported, forgotten, imported back with their pin; imported again, the
// confirmation says they are all there and nothing changes; a malformed file is an error notification
// and changes nothing; with the embeddings server failing they are kept all the same. Files are picked through code-server's own file dialog, a quick input.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { answerDialog } from './builderView';
import { captureOnFailure, chooseFile, waitUntil } from './harness';
import { chatWithMemoryE2e, memoryPanelFrame, type ChatE2e } from './chatView';


const authNotes = ['# Login', '', 'The login flow sets the ZEBRA_TOKEN cookie after the password check.'].join('\n');
const deployNotes = ['# Deploy', '', 'Deploys go out on Tuesdays through the blue pipeline.'].join('\n');
const pinnedFact = 'My daughter is called Ada.';
const otherFact = 'I take my coffee black, no sugar.';

const started = chatWithMemoryE2e({
  label: 'memoryTransfer',
  server: { reply: 'Sure.' },
  workspaceFiles: { 'notes/auth.md': authNotes, 'notes/deploy.md': deployNotes },
});


function toast(page: Page, text: RegExp) {
  return page.locator('.notifications-toasts .notification-toast', { hasText: text }).first();
}

/**
 * Clears the notifications shown so far. The workbench shows a few toasts at a time and, in a
 * headless browser without focus, never hides them by itself: a new one can wait behind old ones.
 */
async function clearNotifications(e: ChatE2e): Promise<void> {
  await e.vs.runCommand('Notifications: Clear All Notifications');
  await waitUntil('the notifications to be cleared', 10_000, async () => (await e.vs.page.locator('.notifications-toasts .notification-toast').count()) === 0);
}

async function memoryLine(e: ChatE2e): Promise<string> {
  return (await e.view()).locator('.memory-bar').innerText({ timeout: 1000 }).catch(() => '');
}

/** The persona's record file of memories under the extension's global storage. */
function itemsFile(e: ChatE2e): string | undefined {
  const root = join(e.vs.dirs.userData, 'User', 'globalStorage');
  const found: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/memory-items[\\/]items[\\/][0-9a-f]+\.json$/.test(p)) found.push(p);
    }
  };
  try {
    walk(root);
  } catch {
    /* nothing there yet */
  }
  assert.ok(found.length <= 1, `one persona's memories, found ${found.join(', ')}`);
  return found[0];
}

function storedItems(e: ChatE2e): Array<{ text: string; pinned?: boolean; origin?: { via: string } }> {
  const file = itemsFile(e);
  return file ? (JSON.parse(readFileSync(file, 'utf8')) as { items: Array<{ text: string; pinned?: boolean; origin?: { via: string } }> }).items : [];
}

test("a knowledge base's file list: exported from the panel without what another machine cannot have, and on another machine only the files that are there are added, after saying which are not", async () => {
  const { e, k } = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'memoryTransfer-list', async () => {
    await e.vs.runCommand('Persona: Add Workspace to Memory');
    await waitUntil('the memory line to count 2 files', 60_000, async () => /Memory: 2 files/.test(await memoryLine(e)), 250);

    // A file from outside the workspace (after the question) and one dropped as bytes (an upload copy).
    const outside = join(e.vs.dirs.root, 'outside-notes.md');
    writeFileSync(outside, '# Outside\n\nOUTSIDE-MARKER: the vault code is 7741.\n');
    const chat = await e.view();
    await chat.evaluate((href) => {
      const dt = new DataTransfer();
      dt.setData('text/uri-list', href);
      const app = document.querySelector('.app')!;
      app.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      app.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, pathToFileURL(outside).href);
    await answerDialog(page, /Add a file from outside this workspace to memory\?/, 'Add to Memory');
    await chat.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['The blue kettle sings at noon. UPLOAD-MARKER\n'], 'kettle.md', { type: 'text/markdown' }));
      const app = document.querySelector('.app')!;
      app.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      app.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await waitUntil('the memory line to count 4 files', 60_000, async () => /Memory: 4 files/.test(await memoryLine(e)), 250);

    // Export the list from the panel: the two files of the workspace, the other two left out and counted.
    await e.vs.runCommand('Persona: Open Memory Panel');
    const panel = await memoryPanelFrame(page);
    const listFile = join(e.vs.dirs.root, 'workspace files.json');
    await clearNotifications(e);
    await panel.getByRole('button', { name: 'Export list of the files in “This workspace” to a file…' }).click();
    await chooseFile(page, /Export the List of Files in This Workspace's Memory/, listFile);
    const exported = toast(page, /Exported the list of 2 files/);
    await exported.waitFor({ timeout: 15_000 });
    assert.match(await exported.innerText(), /Left out: 1 file outside the workspace and 1 copy of a file dropped on the chat/);
    const list = JSON.parse(readFileSync(listFile, 'utf8')) as { format: string; knowledgeBase: string; documents: Array<{ source: string; docHash?: string }> };
    assert.equal(list.format, 'persona-document-list');
    assert.equal(list.knowledgeBase, 'workspace');
    assert.deepEqual(
      list.documents.map((d) => d.source),
      ['notes/auth.md', 'notes/deploy.md'],
    );

    // "Another machine": nothing in memory, deploy.md not there, and a path of the list that is a link out of the workspace.
    await e.vs.runCommand('Persona: Forget All Memory of This Workspace…');
    await answerDialog(page, /Forget all of this workspace's memory\?/, 'Forget All');
    await waitUntil('the memory to be empty', 30_000, async () => /Memory is empty|Memory: 0 files/.test(await memoryLine(e)), 250);
    rmSync(join(e.vs.dirs.workspace, 'notes', 'deploy.md'));
    symlinkSync(outside, join(e.vs.dirs.workspace, 'notes', 'elsewhere.md'));
    writeFileSync(listFile, JSON.stringify({ ...list, documents: [...list.documents, { source: 'notes/elsewhere.md' }] }, null, 2));
    const embeddedBefore = k.embeddingRequests.length;

    // Add from the list, with the panel's button: the confirmation says what is added where, and what is not.
    await (await memoryPanelFrame(page)).getByRole('button', { name: 'Add from list: the files named in an exported memory file list…' }).click();
    await chooseFile(page, /Add Files from a Memory File List/, listFile);
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible', timeout: 15_000 });
    const asked = await dialog.innerText();
    await e.vs.screenshot('memoryTransfer-list-confirmation');
    assert.match(asked, /Add 1 file to this workspace's memory\?/);
    assert.match(asked, /1 file is missing on this machine and left out: notes\/deploy\.md/);
    assert.match(asked, /1 file would lead outside the workspace folder \(workspace\) and is refused: notes\/elsewhere\.md/);
    await answerDialog(page, /Add 1 file/, 'Add Files');
    await waitUntil('the memory line to count 1 file', 60_000, async () => /Memory: 1 file\b/.test(await memoryLine(e)), 250);
    const embedded = k.embeddingRequests.slice(embeddedBefore).flatMap((r) => r.inputs);
    assert.ok(embedded.some((t) => t.includes('ZEBRA_TOKEN')), 'auth.md was indexed again');
    assert.ok(!embedded.some((t) => t.includes('OUTSIDE-MARKER')), 'the file the link leads to was read');

    // A list that names a path out of the workspace is refused whole, from the palette too.
    const badList = join(e.vs.dirs.root, 'bad list.json');
    writeFileSync(badList, JSON.stringify({ format: 'persona-document-list', version: 1, knowledgeBase: 'workspace', documents: [{ source: 'notes/auth.md' }, { source: '../outside-notes.md' }] }));
    await clearNotifications(e);
    await e.vs.runCommand('Persona: Add Files from a Memory File List…');
    await chooseFile(page, /Add Files from a Memory File List/, badList);
    await toast(page, /This document list cannot be imported: document 2: the path "\.\.\/outside-notes\.md" goes up out of the workspace/).waitFor({ timeout: 15_000 });
    assert.ok(!(await dialog.isVisible()), 'no confirmation for a refused list');

    // Sam's own knowledge base: with two that hold files, the palette's export asks which one.
    await e.vs.runCommand('Persona: Add to Memory of Current Persona');
    await chooseFile(page, /Add to Sam's Memory/, join(e.vs.dirs.workspace, 'notes', 'auth.md'));
    const kbSelect = (await memoryPanelFrame(page)).getByRole('combobox', { name: 'Knowledge base' });
    await waitUntil("auth.md in Sam's own knowledge base", 60_000, async () => /Sam only: 1 file, 1 chunks/.test(await kbSelect.innerText({ timeout: 1000 }).catch(() => '')), 250);
    const samList = join(e.vs.dirs.root, 'Sam files.json');
    await clearNotifications(e);
    await e.vs.runCommand('Persona: Export Memory File List…');
    const pick = page.locator('.quick-input-widget');
    await waitUntil('the choice of knowledge base', 10_000, async () => /Export the list of files of which memory\?/.test(await pick.locator('.quick-input-title').innerText({ timeout: 1000 })));
    assert.match(await pick.locator('.quick-input-list').innerText(), /This workspace[\s\S]*Sam only/);
    await pick.locator('.quick-input-list .monaco-list-row', { hasText: 'Sam only' }).click();
    await chooseFile(page, /Export the List of Files in Sam's Own Memory/, samList);
    await toast(page, /Exported the list of 1 file in Sam's own memory to Sam files\.json\.$/).waitFor({ timeout: 15_000 });
    const own = JSON.parse(readFileSync(samList, 'utf8')) as { knowledgeBase: string; documents: Array<{ source: string }> };
    assert.equal(own.knowledgeBase, 'persona:sam');
    assert.deepEqual(
      own.documents.map((d) => d.source),
      ['notes/auth.md'],
    );
    // Added again: it goes to the knowledge base it came from, where it is already.
    await e.vs.runCommand('Persona: Add Files from a Memory File List…');
    await chooseFile(page, /Add Files from a Memory File List/, samList);
    await answerDialog(page, /Nothing to add: the files of Sam files\.json that are here are in Sam's own memory already\.[\s\S]*1 file is in it already/, 'OK');
  });
});

test("a persona's memories: exported, forgotten, imported back with their pin; imported again, nothing changes; a malformed file changes nothing", async () => {
  const { e, k } = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'memoryTransfer-items', async () => {
    await e.vs.runCommand('Persona: Open Memory Panel');
    let panel = await memoryPanelFrame(page);
    const input = page.locator('.quick-input-widget .quick-input-box input');
    for (const fact of [pinnedFact, otherFact]) {
      await panel.getByRole('button', { name: 'Remember…' }).click();
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill(fact);
      await input.press('Enter');
      await panel.getByRole('list', { name: 'Memories' }).getByRole('listitem').filter({ hasText: fact }).waitFor({ state: 'visible', timeout: 15_000 });
    }
    const pinnedRow = () => panel.getByRole('list', { name: 'Memories' }).getByRole('listitem').filter({ hasText: pinnedFact });
    await pinnedRow().getByRole('button', { name: 'Pin' }).click();
    await pinnedRow().getByRole('button', { name: 'Unpin' }).waitFor({ state: 'visible', timeout: 10_000 });

    // Export from the panel.
    const exportFile = join(e.vs.dirs.root, 'Sam memories.json');
    await clearNotifications(e);
    await panel.getByRole('button', { name: "Export Sam's memories to a file…" }).click();
    await chooseFile(page, /Export Sam's Memories/, exportFile);
    await toast(page, /Exported 2 memories of Sam \(1 pinned\) to Sam memories\.json/).waitFor({ timeout: 15_000 });
    const file = JSON.parse(readFileSync(exportFile, 'utf8')) as { format: string; items: Array<{ text: string; pinned: boolean }> };
    assert.equal(file.format, 'persona-memory-items');
    assert.deepEqual(
      file.items.map((i) => [i.text, i.pinned]).sort(),
      [
        [pinnedFact, true],
        [otherFact, false],
      ].sort(),
    );

    // Forget everything Sam remembers.
    await e.vs.runCommand('Persona: Forget Everything the Current Persona Remembers…');
    await answerDialog(page, /Forget everything Sam remembers\?/, 'Forget Everything');
    await waitUntil('the memories to leave the disk', 10_000, () => storedItems(e).length === 0);

    // Import from the palette: asked first, then both are back, the pin with them.
    await clearNotifications(e);
    await e.vs.runCommand('Persona: Import Memories into the Current Persona…');
    await chooseFile(page, /Import Memories into Sam/, exportFile);
    await answerDialog(page, /Import 2 memories into Sam\?[\s\S]*2 new memories will be added to Sam\.[\s\S]*1 of the new ones is pinned/, 'Import');
    await toast(page, /Sam now remembers 2 more memories, from Sam memories\.json\./).waitFor({ timeout: 20_000 });
    const back = storedItems(e);
    assert.deepEqual(
      back.map((i) => [i.text, i.pinned === true, i.origin?.via]).sort(),
      [
        [pinnedFact, true, 'import'],
        [otherFact, false, 'import'],
      ].sort(),
    );
    panel = await memoryPanelFrame(page);
    await pinnedRow().getByRole('button', { name: 'Unpin' }).waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal(await panel.getByRole('list', { name: 'Memories' }).getByRole('listitem').count(), 2);
    await e.vs.screenshot('memoryTransfer-imported');

    // Imported again, from the panel: the dialog says both are there, and nothing is added.
    const recordBefore = readFileSync(itemsFile(e)!);
    await panel.getByRole('button', { name: 'Import memories into Sam from a file…' }).click();
    await chooseFile(page, /Import Memories into Sam/, exportFile);
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible', timeout: 15_000 });
    const said = await dialog.innerText();
    await e.vs.screenshot('memoryTransfer-again');
    assert.match(said, /Nothing to import into Sam\./);
    assert.match(said, /No new memories will be added to Sam; 2 are already there and are skipped\./);
    assert.equal(await dialog.getByRole('button', { name: 'Import' }).count(), 0, 'nothing to confirm');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
    assert.ok(readFileSync(itemsFile(e)!).equals(recordBefore), 'the memories changed');

    // Malformed files, written into the workspace: an error notification each, no question, no change.
    const malformed: Array<[string, string, RegExp]> = [
      ['cut off.json', '{ "format": "persona-memory-items", "version": 1, "items": [ { "text": "I live on the mo', /This memories file is not readable JSON/],
      [
        'wrong pin.json',
        JSON.stringify({ format: 'persona-memory-items', version: 1, items: [{ text: 'I live on the moon.', pinned: true }, { text: 'I am 300 years old.', pinned: 'yes' }] }),
        /This memories file cannot be imported: item 2: pinned should be true or false/,
      ],
    ];
    for (const [name, text, error] of malformed) {
      const path = join(e.vs.dirs.workspace, name);
      writeFileSync(path, text);
      await clearNotifications(e);
      await e.vs.runCommand('Persona: Import Memories into the Current Persona…');
      await chooseFile(page, /Import Memories into Sam/, path);
      await toast(page, error).waitFor({ timeout: 15_000 });
      assert.ok(!(await dialog.isVisible()), `no confirmation for ${name}`);
      assert.ok(readFileSync(itemsFile(e)!).equals(recordBefore), `${name} changed the memories`);
    }
    assert.equal(await (await memoryPanelFrame(page)).getByRole('list', { name: 'Memories' }).getByRole('listitem').count(), 2);

    // With the embeddings server failing, an import keeps the memories and says they wait to be embedded.
    await e.vs.runCommand('Persona: Forget Everything the Current Persona Remembers…');
    await answerDialog(page, /Forget everything Sam remembers\?/, 'Forget Everything');
    await waitUntil('the memories to leave the disk', 10_000, () => storedItems(e).length === 0);
    k.failNext('busy503', { count: 50 });
    try {
      await clearNotifications(e);
      await e.vs.runCommand('Persona: Import Memories into the Current Persona…');
      await chooseFile(page, /Import Memories into Sam/, exportFile);
      await answerDialog(page, /Import 2 memories into Sam\?/, 'Import');
      const postponed = toast(page, /Sam now remembers 2 more memories, from Sam memories\.json\./);
      await postponed.waitFor({ timeout: 30_000 });
      assert.match(await postponed.innerText(), /could not embed them now: they are kept[\s\S]*the pinned ones are in every reply now/);
      assert.equal(storedItems(e).length, 2);
    } finally {
      k.reset();
    }
  });
});
