// Switching persona in a real VS Code, from the command palette and from the webview's select: the
// webview, the status bar and the next request all follow the persona's card in characters/.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { captureOnFailure, repoRoot, waitUntil, type VsCode } from './harness';
import { characterFile, requestMessages, sendMessage, shownMessages, startChatE2e, testUserName, waitForReply, withNames, type CharacterFile, type ChatE2e } from './chatView';
import type { Frame } from 'playwright-core';

let e2e: ChatE2e | undefined;

function started(): ChatE2e {
  assert.ok(e2e, 'VS Code did not start (see the before hook)');
  return e2e;
}

before(async () => {
  e2e = await startChatE2e({ label: 'personas', server: { reply: 'Noted.' } });
  await e2e.view();
});

after(async () => {
  await e2e?.stop();
});

const personaSelect = 'select[aria-label="Persona"]';

/** The webview, the status bar and the wire all say `persona` is the one chatting. */
async function assertPersonaActive(e: ChatE2e, frame: Frame, persona: CharacterFile): Promise<void> {
  const { vs, server } = e;
  await waitUntil(`the webview's persona select to show ${persona.name}`, 10_000, async () => (await frame.locator(personaSelect).inputValue()) === persona.id);
  const selectedText = await frame.locator(`${personaSelect} option:checked`).textContent();
  assert.equal(selectedText, `${persona.icon} ${persona.name}`);

  // A new conversation, opened by the persona's greeting with the person's name in it.
  const greeting = withNames(persona.greeting, persona.name);
  assert.ok(persona.greeting.includes('{{user}}'), `${persona.id}'s greeting has no {{user}} to check`);
  const shown = await waitUntil(`a conversation opened by ${persona.name}'s greeting`, 10_000, async () => {
    const messages = await shownMessages(frame);
    return messages.length === 1 && messages[0]?.text === greeting ? messages : undefined;
  });
  assert.ok(shown[0]!.text.includes(testUserName));
  assert.equal(shown[0]!.author, `${persona.icon} ${persona.name}`);

  await statusBarShows(vs, persona);

  const before = server.chatRequests.length;
  const done = server.completions.length;
  await sendMessage(frame, `Hello ${persona.name}`);
  await waitForReply(frame, server, done + 1);
  assert.equal(server.chatRequests.length, before + 1);
  const sent = requestMessages(server.chatRequests.at(-1));
  assert.deepEqual(sent[0], { role: 'system', content: withNames(persona.systemPrompt, persona.name) });
  assert.deepEqual(sent.slice(1), [
    { role: 'assistant', content: greeting },
    { role: 'user', content: `Hello ${persona.name}` },
  ]);
}

async function statusBarShows(vs: VsCode, persona: CharacterFile): Promise<void> {
  const item = vs.page.locator('.part.statusbar .statusbar-item', { hasText: `${persona.icon} ${persona.name}` });
  await item.first().waitFor({ state: 'visible', timeout: 10_000 }).catch(() => {
    throw new Error(`the status bar does not show ${persona.icon} ${persona.name}`);
  });
}

test('Persona: Switch Character… from the command palette switches to Coding Guru', async () => {
  const e = started();
  await captureOnFailure(e.vs, 'personas-command', async () => {
    const frame = await e.view();
    const guru = characterFile('coding-guru');
    assert.notEqual(await frame.locator(personaSelect).inputValue(), guru.id, 'Coding Guru is already active');

    await e.vs.runCommand('Persona: Switch Character…');
    const page = e.vs.page;
    const rows = page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
    await rows.first().waitFor({ state: 'visible', timeout: 10_000 });
    const characters = readdirSync(join(repoRoot, 'characters')).filter((n) => n.endsWith('.json'));
    assert.equal(await rows.count(), characters.length, 'the picker does not offer every built-in persona');

    await page.locator('.quick-input-widget .quick-input-box input').fill('Coding Guru');
    await waitUntil('the picker to focus Coding Guru', 10_000, async () =>
      (await rows.locator('.label-name').first().innerText({ timeout: 1000 })).includes('Coding Guru'),
    );
    await page.keyboard.press('Enter');
    await assertPersonaActive(e, frame, guru);
  });
});

test("the webview's persona select switches persona too", async () => {
  const e = started();
  await captureOnFailure(e.vs, 'personas-select', async () => {
    const frame = await e.view();
    const analyst = characterFile('data-analyst');
    await frame.locator(personaSelect).selectOption(analyst.id);
    await assertPersonaActive(e, frame, analyst);
  });
});
