// The Character Builder in a real VS Code: create a persona from the palette (live preview with a
// token count, a picture picked through code-server's file dialog), chat with it, edit it, compare and
// restore versions, and keep an unsaved draft across a window reload. Screenshots in dark, light and
// high-contrast themes land in test-results/builder-*.png for a person to look at.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import type { Frame, Page } from 'playwright-core';
import { captureOnFailure, chooseFile, waitUntil } from './harness';
import { answerDialog, builderFrame, status } from './builderView';
import { requestMessages, sendMessage, startChatE2e, testUserName, waitForReply, type ChatE2e } from './chatView';

let e2e: ChatE2e | undefined;

function started(): ChatE2e {
  assert.ok(e2e, 'VS Code did not start (see the before hook)');
  return e2e;
}

/** A real 2×2 PNG, built here from the spec (signature, IHDR, IDAT, IEND with their CRCs). */
function tinyPng(): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(2, 0);
  ihdr.writeUInt32BE(2, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = Buffer.from([0, 200, 60, 60, 60, 60, 200, 0, 60, 200, 60, 200, 200, 60]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

before(async () => {
  e2e = await startChatE2e({ label: 'builder', server: { reply: 'Aye, Captain here.' }, workspaceFiles: { 'pics/vega.png': tinyPng() } });
  await e2e.view();
});

after(async () => {
  await e2e?.stop();
});

async function preview(frame: Frame): Promise<{ system: string; tokens: string }> {
  return {
    system: (await frame.locator('.preview-message[data-role="system"] .preview-text').first().textContent({ timeout: 1000 })) ?? '',
    tokens: await frame.locator('#token-count').innerText({ timeout: 1000 }),
  };
}

const name = 'Captain Vega';
const description = 'A starship captain who answers in log entries.';
const systemPrompt = 'You are {{char}}, captain of the Meridian. Address {{user}} as "crew member".';
const shownSystemPrompt = `You are ${name}, captain of the Meridian. Address ${testUserName} as "crew member".`;
const firstGreeting = 'Welcome aboard, {{user}}.';
const secondGreeting = 'Report to the bridge, {{user}}. We launch at dawn.';

test('a new persona: live preview with tokens, a picture, validation, save, then chat with it', async () => {
  const e = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'builder-new', async () => {
    await e.vs.runCommand('Persona: New Character');
    const frame = await builderFrame(page);
    assert.equal(await status(frame), 'New persona, not saved yet');
    const save = frame.getByRole('button', { name: 'Save', exact: true });
    assert.equal(await save.isDisabled(), true, 'Save is off while the form is empty');
    assert.match(await frame.locator('#save-blocked').innerText(), /Name.*One-line description/s);

    await frame.locator('#f-name').fill(name);
    await frame.locator('#f-description').fill(description);
    await frame.locator('#f-systemPrompt').fill(systemPrompt);
    await frame.locator('#f-greeting').fill(firstGreeting);
    // A wrong number gets a message next to it and keeps Save off.
    await frame.locator('#f-sampling-temperature').fill('hot');
    await waitUntil('a message under Temperature', 5000, async () => /Temperature must be a number from 0 to 2/.test(await frame.locator('#f-sampling-temperature-error').innerText({ timeout: 500 })));
    assert.equal(await frame.locator('#f-sampling-temperature').getAttribute('aria-invalid'), 'true');
    assert.equal(await save.isDisabled(), true);
    await frame.locator('#f-sampling-temperature').fill('0.8');
    // The persona's own model, from the server's list, and a sampling field the form did not have before.
    await frame.getByRole('button', { name: 'Choose model' }).click();
    const models = page.locator('.quick-input-widget .quick-input-list .monaco-list-row .label-name');
    await models.first().waitFor({ state: 'visible', timeout: 15_000 });
    assert.ok(!(await models.allInnerTexts()).some((t) => t.includes('text-embedding')), 'an embeddings model was offered');
    await page.locator('.quick-input-widget .quick-input-box input').fill('fake-llm-7b');
    await waitUntil('the picker to focus fake-llm-7b', 10_000, async () => (await page.locator('.quick-input-list .monaco-list-row.focused .label-name').first().innerText({ timeout: 1000 })).includes('fake-llm-7b'));
    await page.keyboard.press('Enter');
    await waitUntil('the model field to hold the pick', 10_000, async () => (await frame.locator('#f-sampling-model').inputValue()) === 'fake-llm-7b');
    await frame.getByRole('textbox', { name: 'Top K' }).fill('20');
    await frame.locator('#f-sampling-model').scrollIntoViewIfNeeded();
    await e.vs.screenshot('builder-model-settings');

    const shown = await waitUntil('the preview to show the system prompt with names filled in and a token count', 15_000, async () => {
      const p = await preview(frame);
      const tokens = /System prompt: (\d+) tokens/.exec(p.tokens);
      return p.system.startsWith(shownSystemPrompt) && tokens && Number(tokens[1]) > 0 ? { ...p, count: Number(tokens[1]) } : undefined;
    });
    assert.ok(shown.count > 10, shown.tokens);
    const userTurn = await frame.locator('.preview-message[data-role="user"] .preview-text').textContent();
    assert.equal(userTurn, 'Hello! Tell me about yourself.');

    await frame.getByRole('button', { name: 'Choose Picture…' }).click();
    await chooseFile(page, /Choose a Picture/, join(e.vs.dirs.workspace, 'pics', 'vega.png'));
    const img = frame.locator('img.avatar');
    await img.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match((await img.getAttribute('src')) ?? '', /^data:image\/png;base64,iVBORw0KGgo/);
    assert.equal(await img.getAttribute('alt'), `Picture of ${name}`);

    assert.equal(await save.isDisabled(), false);
    await e.vs.screenshot('builder-new');
    await save.click();
    await waitUntil('the builder to say everything is saved', 10_000, async () => (await status(frame)) === 'All changes saved');
    assert.equal(await frame.locator('h1').innerText(), name);

    // Saving a new persona offers to chat with it; the chat then talks to it.
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: `Saved ${name}.` });
    await toast.waitFor({ state: 'visible', timeout: 10_000 });
    await toast.locator('.monaco-button', { hasText: `Chat with ${name}` }).click();
    const chat = await e.view();
    await waitUntil(`the chat's persona select to show ${name}`, 10_000, async () => (await chat.locator('select[aria-label="Persona"] option:checked').textContent()) === `🙂 ${name}`);
    const done = e.server.completions.length;
    await sendMessage(chat, 'Status report?');
    await waitForReply(chat, e.server, done + 1);
    const sent = requestMessages(e.server.chatRequests.at(-1));
    assert.equal(sent[0]?.role, 'system');
    assert.equal(sent[0]?.content, shownSystemPrompt);
    assert.deepEqual(sent.slice(1), [
      { role: 'assistant', content: `Welcome aboard, ${testUserName}.` },
      { role: 'user', content: 'Status report?' },
    ]);
    assert.equal((e.server.chatRequests.at(-1)?.body as { temperature?: number }).temperature, 0.8);
    assert.equal((e.server.chatRequests.at(-1)?.body as { top_k?: number }).top_k, 20, "the persona's top K");
    assert.equal((e.server.chatRequests.at(-1)?.body as { model?: string }).model, 'fake-llm-7b', "the persona's model");

    // The palette's persona picker lists it too.
    await e.vs.runCommand('Persona: Switch Character…');
    const rows = page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
    await rows.first().waitFor({ state: 'visible', timeout: 10_000 });
    assert.ok((await rows.locator('.label-name').allInnerTexts()).some((t) => t.includes(name)), 'the picker does not offer the new persona');
    await page.keyboard.press('Escape');
  });
});

test('edit it again: a second version, the greeting diff, and restoring version 1', async () => {
  const e = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'builder-versions', async () => {
    // Close the panel first, so Edit opens it afresh from the saved persona.
    const tab = page.locator('.tabs-container .tab', { hasText: `Persona: ${name}` }).first();
    await tab.hover();
    await tab.locator('.tab-actions .action-label').first().click();
    await tab.waitFor({ state: 'detached', timeout: 10_000 });

    await e.vs.runCommand('Persona: Edit Character…');
    const picker = page.locator('.quick-input-widget .quick-input-box input');
    await picker.fill(name);
    await waitUntil(`the picker to focus ${name}`, 10_000, async () => (await page.locator('.quick-input-list .monaco-list-row.focused .label-name').first().innerText({ timeout: 1000 })).includes(name));
    await page.keyboard.press('Enter');
    const frame = await builderFrame(page);
    assert.equal(await frame.locator('#f-greeting').inputValue(), firstGreeting);
    assert.equal(await frame.locator('img.avatar').isVisible(), true, 'the saved picture is shown');

    await frame.locator('#f-greeting').fill(secondGreeting);
    await waitUntil('the builder to see unsaved changes', 5000, async () => (await status(frame)) === 'Unsaved changes');
    await frame.getByRole('button', { name: 'Save', exact: true }).click();
    await waitUntil('the second save', 10_000, async () => (await status(frame)) === 'All changes saved');

    // The tabs follow the arrow keys, as tabs do.
    await frame.locator('#tab-edit').focus();
    await page.keyboard.press('ArrowRight');
    await waitUntil('the Versions tab to be selected from the keyboard', 5000, async () => (await frame.locator('#tab-versions').getAttribute('aria-selected')) === 'true');
    assert.equal(await frame.evaluate('document.activeElement && document.activeElement.id'), 'tab-versions');
    const rows = frame.locator('tr.version-row');
    await waitUntil('two versions to be listed', 10_000, async () => (await rows.count()) >= 2);
    const texts = await rows.allInnerTexts();
    assert.match(texts[0]!, /^\s*2 \(current\)/);
    assert.match(texts[0]!, /Saved/);
    assert.match(texts.at(-1)!, /Created/);

    await frame.getByRole('checkbox', { name: 'Compare version 1' }).check();
    await frame.getByRole('checkbox', { name: 'Compare version 2' }).check();
    const greetingDiff = frame.locator('.diff-field[data-field="greeting"]');
    await greetingDiff.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await frame.locator('#diff-title').innerText(), /version 1 to version 2/);
    // Read without the removed parts it is the new greeting; without the added ones, the old.
    const side = async (drop: string) =>
      (await frame.evaluate(`(() => {
        const copy = document.querySelector('.diff-field[data-field="greeting"] .diff-text').cloneNode(true);
        copy.querySelectorAll('${drop}, .sr-only').forEach((n) => n.remove());
        return copy.textContent;
      })()`)) as string;
    assert.equal(await side('del'), secondGreeting);
    assert.equal(await side('ins'), firstGreeting);
    assert.match((await greetingDiff.locator('ins').first().textContent()) ?? '', /^\[added: /, 'added text is labelled, not only coloured');
    assert.match((await greetingDiff.locator('del').first().textContent()) ?? '', /^\[removed: /);
    await e.vs.screenshot('builder-versions');

    await frame.getByRole('button', { name: 'Restore version 1' }).click();
    await answerDialog(page, /Restore version 1\?/, 'Restore');
    await waitUntil('the form to show the first greeting again', 10_000, async () => (await frame.locator('#f-greeting').inputValue({ timeout: 1000 })) === firstGreeting);
    assert.equal(await status(frame), 'All changes saved');
    await frame.locator('#tab-versions').click();
    await waitUntil('three versions, the newest a restore of version 1', 10_000, async () => /Restored \(from version 1\)/.test((await rows.first().innerText({ timeout: 1000 })) ?? ''));
    await frame.locator('#tab-edit').click();
  });
});

test('an unsaved draft survives a window reload', async () => {
  const e = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'builder-reload', async () => {
    const frame = await builderFrame(page);
    const draftText = 'Somewhere past the Kuiper belt, the coffee has run out.';
    await frame.locator('#f-scenario').fill(draftText);
    await waitUntil('the builder to see unsaved changes', 5000, async () => (await status(frame)) === 'Unsaved changes');
    // The draft is written a moment after typing stops: wait for the file, then reload.
    const drafts = join(e.vs.dirs.userData, 'User', 'globalStorage', 'persona-dev.persona', 'builder-drafts');
    await waitUntil(`the draft to be written in ${drafts}`, 10_000, () => existsSync(drafts) && readdirSync(drafts).some((n) => n.endsWith('.json')));

    // As a person does it: through the workbench, which saves its open editors on the way out.
    const reloaded = page.waitForEvent('load', { timeout: 60_000 });
    await e.vs.runCommand('Developer: Reload Window');
    await reloaded;
    await page.locator('.monaco-workbench').first().waitFor({ state: 'visible', timeout: 60_000 });
    const restored = await builderFrame(page, 60_000);
    await waitUntil('the restored panel to show the draft', 15_000, async () => (await restored.locator('#f-scenario').inputValue({ timeout: 1000 })) === draftText);
    assert.equal(await status(restored), 'Unsaved changes');
    assert.match(await restored.locator('.banner').innerText(), /Restored your unsaved changes/);
    assert.equal(await restored.locator('#f-name').inputValue(), name);

    // Discarding goes back to the saved persona and forgets the draft.
    await restored.getByRole('button', { name: 'Discard Changes' }).click();
    await answerDialog(page, /Discard your unsaved changes/, 'Discard Changes');
    await waitUntil('the form to drop the draft', 10_000, async () => (await restored.locator('#f-scenario').inputValue({ timeout: 1000 })) === '');
    assert.equal(await status(restored), 'All changes saved');
  });
});

/** Runs "Persona: Edit Character…" and picks `persona` in its QuickPick. */
async function editCharacter(page: Page, run: (title: string) => Promise<void>, persona: string): Promise<void> {
  await run('Persona: Edit Character…');
  await page.locator('.quick-input-widget .quick-input-box input').fill(persona);
  await waitUntil(`the picker to focus ${persona}`, 10_000, async () => (await page.locator('.quick-input-list .monaco-list-row.focused .label-name').first().innerText({ timeout: 1000 })).includes(persona));
  await page.keyboard.press('Enter');
}

async function closeBuilderTab(page: Page, title: string): Promise<void> {
  const tab = page.locator('.tabs-container .tab', { hasText: `Persona: ${title}` }).first();
  await tab.hover();
  await tab.locator('.tab-actions .action-label').first().click();
  await tab.waitFor({ state: 'detached', timeout: 10_000 });
}

test('a closed panel keeps its draft and offers it again; a snapshot; a built-in is duplicated, not edited', async () => {
  const e = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'builder-reopen', async () => {
    let frame = await builderFrame(page, 30_000, name);
    const leftOpen = 'The coffee machine is fixed. Nobody knows who did it.';
    await frame.locator('#f-scenario').fill(leftOpen);
    await waitUntil('the builder to see unsaved changes', 5000, async () => (await status(frame)) === 'Unsaved changes');
    await closeBuilderTab(page, name);

    await editCharacter(page, (t) => e.vs.runCommand(t), name);
    await answerDialog(page, /You have unsaved changes to Captain Vega/, 'Restore Unsaved Changes');
    frame = await builderFrame(page, 30_000, name);
    await waitUntil('the reopened panel to show the kept draft', 10_000, async () => (await frame.locator('#f-scenario').inputValue({ timeout: 1000 })) === leftOpen);
    assert.equal(await status(frame), 'Unsaved changes');

    await frame.locator('#tab-versions').click();
    const rows = frame.locator('tr.version-row');
    await rows.first().waitFor({ state: 'visible', timeout: 10_000 });
    const before = await rows.count();
    await frame.getByRole('button', { name: 'Take Snapshot…' }).click();
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await waitUntil('the snapshot name box', 10_000, async () => /Take Snapshot/.test(await page.locator('.quick-input-widget .quick-input-title').innerText({ timeout: 1000 })));
    await input.fill('Before launch');
    await input.press('Enter');
    await waitUntil('the snapshot to be listed first', 10_000, async () => (await rows.count()) === before + 1 && /Snapshot\s+Before launch/.test(await rows.first().innerText({ timeout: 1000 })));
    await frame.locator('#tab-edit').click();
    assert.equal(await frame.locator('#f-scenario').inputValue(), leftOpen, 'a snapshot leaves the unsaved edits alone');

    // A built-in cannot be edited: the command offers a copy instead.
    await editCharacter(page, (t) => e.vs.runCommand(t), 'Sam');
    await answerDialog(page, /Sam is built in and cannot be changed/, 'Duplicate and Edit');
    const copy = await builderFrame(page, 30_000, 'Sam (copy)');
    assert.equal(await status(copy), 'New persona, not saved yet');
    assert.ok((await copy.locator('#f-systemPrompt').inputValue()).length > 100, "the copy holds Sam's system prompt");
    await copy.getByRole('button', { name: 'Save', exact: true }).click();
    await waitUntil('the copy to be saved', 10_000, async () => (await status(copy)) === 'All changes saved');
    const chat = await e.view();
    await waitUntil("the chat's persona select to list the copy", 10_000, async () => (await chat.locator('select[aria-label="Persona"] option').allTextContents()).some((t) => t.endsWith('Sam (copy)')));
  });
});

test('screenshots in dark, light and high-contrast themes', async () => {
  const e = started();
  await captureOnFailure(e.vs, 'builder-themes', async () => {
    for (const [theme, shot] of [
      ['Dark Modern', 'builder-dark'],
      ['Light Modern', 'builder-light'],
      ['Dark High Contrast', 'builder-high-contrast'],
    ] as const) {
      // The palette ranks "Browse Color Themes in Marketplace" above it: use the theme picker's keys.
      const page = e.vs.page;
      await page.locator('.part.statusbar').click({ position: { x: 600, y: 10 } });
      await page.keyboard.press('Control+K');
      await page.keyboard.press('Control+T');
      const input = page.locator('.quick-input-widget .quick-input-box input');
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill(theme);
      await waitUntil(`the theme picker to focus ${theme}`, 10_000, async () => (await page.locator('.quick-input-list .monaco-list-row.focused .label-name').first().innerText({ timeout: 1000 })).trim() === theme);
      await input.press('Enter');
      const frame = await builderFrame(e.vs.page);
      await frame.locator('#f-sampling-topP').fill('7');
      await frame.locator('#f-sampling-topP-error').waitFor({ state: 'visible', timeout: 5000 });
      await frame.evaluate('window.scrollTo(0, 0)');
      await e.vs.screenshot(shot);
      await frame.locator('#f-sampling-topP').fill('');
    }
  });
});
