// Importing a Character Card V2 PNG through "Persona: Import Character Card…" in a real VS Code
// (code-server's own file dialog), then chatting with it: the greeting is the card's first_mes, the
// request carries its description, a lorebook entry joins once its key is mentioned, and people-only
// fields never reach the model. A malformed PNG is refused with a notification and changes nothing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Frame } from 'playwright-core';
import { captureOnFailure, chooseFile, waitUntil } from './harness';
import { answerDialog, builderFrame, status } from './builderView';
import { requestMessages, sendMessage, shownMessages, startChatE2e, testUserName, waitForReply, type ChatE2e } from './chatView';
import { sampleV2Card, v2PngCard } from '../support/v2PngCard';

let e2e: ChatE2e | undefined;
const card = v2PngCard(sampleV2Card());
/** A card whose name is VS Code's link syntax for running a command (here: typing into the terminal). */
const hostileName = '[Finish import](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22echo%20pwned%5Cn%22%7D)';
const hostileCard = v2PngCard(sampleV2Card({ name: hostileName, character_book: undefined }));

function started(): ChatE2e {
  assert.ok(e2e, 'VS Code did not start (see the before hook)');
  return e2e;
}

before(async () => {
  e2e = await startChatE2e({
    label: 'cardImport',
    server: { reply: 'Aye, that it is.' },
    workspaceFiles: { 'cards/vell.png': card, 'cards/broken.png': card.subarray(0, card.length - 40), 'cards/hostile.png': hostileCard },
  });
  await e2e.view();
});

after(async () => {
  await e2e?.stop();
});

const personaSelect = 'select[aria-label="Persona"]';

async function personaOptions(frame: Frame): Promise<string[]> {
  return frame.locator(`${personaSelect} option`).allTextContents();
}

/** Runs the import command and answers code-server's simple file dialog with `file`. */
async function importFile(e: ChatE2e, file: string): Promise<void> {
  await e.vs.runCommand('Persona: Import Character Card…');
  await chooseFile(e.vs.page, /Import Character Card/, file);
}

test('a V2 PNG card imported from the palette chats with its description, greeting and lorebook', async () => {
  const e = started();
  await captureOnFailure(e.vs, 'cardImport-import', async () => {
    const frame = await e.view();
    const before = await personaOptions(frame);
    await importFile(e, join(e.vs.dirs.workspace, 'cards', 'vell.png'));

    await waitUntil("the webview's persona select to show the imported card", 15_000, async () =>
      (await frame.locator(`${personaSelect} option:checked`).textContent()) === '🎭 Captain Vell' ? true : undefined,
    );
    assert.equal((await personaOptions(frame)).length, before.length + 1);

    const greeting = `Ahoy, ${testUserName}! Captain Vell at your service. Dry yourself by the fire.`;
    const shown = await waitUntil('a conversation opened by the card greeting', 10_000, async () => {
      const messages = await shownMessages(frame);
      return messages.length === 1 && messages[0]?.text === greeting ? messages : undefined;
    });
    assert.equal(shown[0]!.author, '🎭 Captain Vell');

    const done = e.server.completions.length;
    await sendMessage(frame, 'Good evening, captain.');
    await waitForReply(frame, e.server, done + 1);
    const first = requestMessages(e.server.chatRequests.at(-1));
    assert.equal(first[0]!.role, 'system');
    assert.match(first[0]!.content, /Captain Vell is the keeper of the Quillmoor lighthouse, weathered and wry/);
    assert.match(first[0]!.content, new RegExp(`Scenario: ${testUserName} has washed ashore`));
    assert.deepEqual(first.slice(1), [
      { role: 'assistant', content: greeting },
      { role: 'user', content: 'Good evening, captain.' },
    ]);
    assert.doesNotMatch(JSON.stringify(first), /LORE:|NEVER-SENT/);

    await sendMessage(frame, 'How old is the lighthouse?');
    await waitForReply(frame, e.server, done + 2);
    const second = requestMessages(e.server.chatRequests.at(-1));
    assert.match(second[0]!.content, /LORE: The Quillmoor lighthouse lamp is fed with whale oil and was lit in 1802\./);
    assert.doesNotMatch(JSON.stringify(second), /NEVER-SENT/);
  });
});

test('the imported card, edited in the Character Builder and restored to version 1, chats with its first description again', async () => {
  const e = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'cardImport-edit-restore', async () => {
    await e.vs.runCommand('Persona: Edit Character…');
    await page.locator('.quick-input-widget .quick-input-box input').fill('Captain Vell');
    await waitUntil('the picker to focus Captain Vell', 10_000, async () => (await page.locator('.quick-input-list .monaco-list-row.focused .label-name').first().innerText({ timeout: 1000 })).includes('Captain Vell'));
    await page.keyboard.press('Enter');
    const builder = await builderFrame(page);
    const description = builder.locator('#f-characterDescription');
    const imported = await description.inputValue();
    assert.equal(imported, '{{char}} is the keeper of the Quillmoor lighthouse, weathered and wry, who speaks in nautical metaphors.', 'the form holds the card as imported, macros and all');

    const edited = 'Captain Vell has retired and now runs a noodle bar on the harbour wall.';
    await description.fill(edited);
    await waitUntil('the builder to see unsaved changes', 5000, async () => (await status(builder)) === 'Unsaved changes');
    await builder.getByRole('button', { name: 'Save', exact: true }).click();
    await waitUntil('the save', 10_000, async () => (await status(builder)) === 'All changes saved');

    const frame = await e.view();
    let done = e.server.completions.length;
    await sendMessage(frame, 'What do you do these days?');
    await waitForReply(frame, e.server, done + 1);
    assert.match(requestMessages(e.server.chatRequests.at(-1))[0]!.content, /runs a noodle bar on the harbour wall/, 'the saved edit reaches the model');

    await builder.locator('#tab-versions').click();
    const rows = builder.locator('tr.version-row');
    await waitUntil('two versions to be listed', 10_000, async () => (await rows.count()) >= 2);
    await builder.getByRole('button', { name: 'Restore version 1' }).click();
    await answerDialog(page, /Restore version 1\?/, 'Restore');
    await waitUntil('the form to show the imported description again', 10_000, async () => (await description.inputValue({ timeout: 1000 })) === imported);

    done = e.server.completions.length;
    // The workbench hands focus back to the builder after the dialog, whenever it gets to it: the
    // Enter key could land there, the mouse cannot (this failed in CI as keystrokes into the builder).
    await sendMessage(frame, 'And the lighthouse?', { click: true });
    await waitForReply(frame, e.server, done + 1);
    const system = requestMessages(e.server.chatRequests.at(-1))[0]!.content;
    assert.match(system, /Captain Vell is the keeper of the Quillmoor lighthouse, weathered and wry/);
    assert.doesNotMatch(system, /noodle bar/);
  });
});

test('a malformed PNG shows an error notification and adds no persona', async () => {
  const e = started();
  await captureOnFailure(e.vs, 'cardImport-broken', async () => {
    const frame = await e.view();
    const before = await personaOptions(frame);
    await importFile(e, join(e.vs.dirs.workspace, 'cards', 'broken.png'));
    const toast = e.vs.page.locator('.notifications-toasts .notification-toast', { hasText: '"broken.png"' });
    await toast.first().waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await toast.first().innerText(), /incomplete PNG image|damaged PNG image/);
    assert.deepEqual(await personaOptions(frame), before);
  });
});

test("a card named like a command link is imported, and its name shows in the notification as text, never as a link", async () => {
  const e = started();
  await captureOnFailure(e.vs, 'cardImport-hostile-name', async () => {
    await e.view();
    await importFile(e, join(e.vs.dirs.workspace, 'cards', 'hostile.png'));
    const toast = e.vs.page.locator('.notifications-toasts .notification-toast', { hasText: 'Finish import' }).first();
    await toast.waitFor({ state: 'visible', timeout: 15_000 });
    await e.vs.screenshot('cardImport-hostile-name');
    const message = toast.locator('.notification-list-item-message');
    // What VS Code would have made of the name: a link (an <a>) labelled "Finish import".
    assert.equal(await message.locator('a').count(), 0, 'no link in the notification');
    // The name reads as it is, brackets and all (the word joiners are invisible).
    assert.match((await message.innerText()).replace(/\u2060/g, ''), /\[Finish import\]\(command:workbench\.action\.terminal\.sendSequence/);
  });
});
