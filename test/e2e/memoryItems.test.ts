// What a persona remembers, in a real VS Code: a fact is kept from a message with its Remember
// action, listed by Persona: Show Memories…, and given to the model in a new chat (read in the
// request the test server received); forgotten from the list, it is gone from the next request and
// from the extension's storage on disk.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { answerDialog } from './builderView';
import { captureOnFailure, waitUntil } from './harness';
import { lastAssistant, memoryPanelFrame, requestMessages, sendMessage, shownMessages, chatWithMemoryE2e, waitForReply, type ChatE2e } from './chatView';
import { filesUnder } from '../support/filesUnder';


const fact = 'My daughter is called Ada and she loves astronomy.';

const started = chatWithMemoryE2e({
  label: 'memoryItems',
  server: { reply: 'Noted.' },
});


async function newChat(e: ChatE2e): Promise<void> {
  const frame = await e.view();
  await frame.getByRole('button', { name: 'New chat' }).click();
  await waitUntil('a new chat', 10_000, async () => (await shownMessages(frame)).length === 1);
}

function memoryRows(page: Page) {
  return page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
}

test('remember a fact from a message, see it in Show Memories and the memory panel, get it in a new chat; forget it and it is gone', async () => {
  const { e } = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'memoryItems', async () => {
    const frame = await e.view();
    let done = e.server.completions.length;
    await sendMessage(frame, fact);
    await waitForReply(frame, e.server, done + 1);

    // The message's Remember action asks, prefilled with the message.
    await frame.getByRole('article', { name: 'You' }).last().getByRole('button', { name: 'Remember' }).click();
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await waitUntil('the Remember box, prefilled', 10_000, async () => (await input.inputValue({ timeout: 1000 })) === fact);
    await input.press('Enter');
    await page.locator('.notifications-toasts .notification-toast', { hasText: 'will remember' }).first().waitFor({ timeout: 15_000 });

    await e.vs.runCommand('Persona: Show Memories…');
    await waitUntil('the memory in the list', 10_000, async () => (await memoryRows(page).first().innerText({ timeout: 1000 })).includes('My daughter is called Ada'));
    await e.vs.screenshot('memoryItems-list');
    await page.keyboard.press('Escape');
    // And in the memory panel, where it came from.
    await e.vs.runCommand('Persona: Open Memory Panel');
    const panel = await memoryPanelFrame(page);
    // The panel takes focus a moment after the palette closes: let it, before typing into the chat again.
    await waitUntil('the panel to take focus', 10_000, () => panel.evaluate('document.hasFocus()'), 50);
    const panelRow = panel.getByRole('list', { name: 'Memories' }).getByRole('listitem').filter({ hasText: fact });
    await panelRow.waitFor({ state: 'visible', timeout: 15_000 });
    assert.match(await panelRow.innerText(), /from “My daughter is called Ada/);

    // A new chat: the request carries the fact, and the reply says it was given.
    await newChat(e);
    done = e.server.completions.length;
    await sendMessage(frame, 'What does my daughter Ada love?');
    await waitForReply(frame, e.server, done + 1);
    const system = requestMessages(e.server.chatRequests.at(-1))[0]!.content;
    assert.match(system, /## What you remember/);
    assert.ok(system.includes(`- ${fact}`), `the fact is not in the system prompt:\n${system}`);
    const reply = await lastAssistant(frame);
    await reply.getByText('Remembered 1 thing').click();
    assert.ok((await reply.getByRole('list', { name: 'Memories used' }).innerText()).includes(fact));
    await e.vs.screenshot('memoryItems-reply');

    // Forget it from the list: asked first, then gone from the next request and from the disk.
    await e.vs.runCommand('Persona: Show Memories…');
    const row = memoryRows(page).filter({ hasText: 'My daughter is called Ada' }).first();
    await row.waitFor({ state: 'visible', timeout: 10_000 });
    await row.hover();
    await row.getByRole('button', { name: 'Forget' }).click();
    await answerDialog(page, /Forget “My daughter is called Ada/, 'Forget');
    await waitUntil('the list to be empty', 10_000, async () => (await memoryRows(page).count()) === 0 || !(await memoryRows(page).first().isVisible()));
    await page.keyboard.press('Escape');

    await newChat(e);
    done = e.server.completions.length;
    await sendMessage(frame, 'What does my daughter Ada love?');
    await waitForReply(frame, e.server, done + 1);
    assert.doesNotMatch(requestMessages(e.server.chatRequests.at(-1))[0]!.content, /daughter is called Ada/);
    const stored = filesUnder(join(e.vs.dirs.userData, 'User', 'globalStorage'));
    assert.ok(stored.some((f) => f.includes('memory-items')), 'the memory items were not kept in global storage');
    for (const f of stored) assert.ok(!readFileSync(f).includes('daughter is called Ada'), `${f} still holds the forgotten fact`);
  });
});

test('deleting a chat offers to forget what the persona took from it, and does so from the disk', async () => {
  const { e } = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'memoryItems-delete-chat', async () => {
    await newChat(e);
    const frame = await e.view();
    const kept = 'My cat is called Pixel.';
    const done = e.server.completions.length;
    await sendMessage(frame, kept);
    await waitForReply(frame, e.server, done + 1);
    await frame.getByRole('article', { name: 'You' }).last().getByRole('button', { name: 'Remember' }).click();
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await waitUntil('the Remember box, prefilled', 10_000, async () => (await input.inputValue({ timeout: 1000 })) === kept);
    await input.press('Enter');
    await page.locator('.notifications-toasts .notification-toast', { hasText: 'will remember' }).first().waitFor({ timeout: 15_000 });

    await frame.getByRole('button', { name: 'Chats' }).click();
    await frame.getByRole('button', { name: `Delete ${kept}` }).click();
    await answerDialog(page, /1 memory Sam took from it/, 'Delete with the Memory');
    const stored = () => filesUnder(join(e.vs.dirs.userData, 'User', 'globalStorage')).filter((f) => readFileSync(f).includes('Pixel'));
    await waitUntil('the memory to leave the disk', 10_000, async () => stored().length === 0);
    // The conversation's own file and its records of what was sent are gone too.
    const workspaceFiles = filesUnder(join(e.vs.dirs.userData, 'User', 'workspaceStorage')).filter((f) => readFileSync(f).includes('My cat is called Pixel'));
    assert.deepEqual(workspaceFiles, [], 'the deleted chat is still on disk');
  });
});

test('a persona set to propose memories asks first: one kept after an edit, one dismissed; in automatic mode it keeps them and says so', async () => {
  const { e } = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'memoryItems-proposals', async () => {
    // The chat model answers the chat, and the request for memories (the one with a JSON schema) with JSON.
    let proposals = ['Lives in Lisbon.', 'Has two cats.'];
    e.server.setReply((r) => ((r.body as { response_format?: unknown } | undefined)?.response_format ? JSON.stringify({ memories: proposals }) : 'Nice!'));
    const choose = async (label: string) => {
      await e.vs.runCommand('Persona: Choose How the Current Persona Proposes Memories…');
      await page.locator('.quick-input-widget .quick-input-box input').fill(label);
      await waitUntil(`"${label}" to be focused`, 10_000, async () => (await page.locator('.quick-input-list .monaco-list-row.focused .label-name').first().innerText({ timeout: 1000 })) === label);
      await page.keyboard.press('Enter');
      await page.locator('.notifications-toasts .notification-toast', { hasText: /proposes memories|keeps what it learns/ }).first().waitFor({ timeout: 10_000 });
    };
    await choose('Ask me');
    await newChat(e);
    const frame = await e.view();
    const before = e.server.chatRequests.length;
    await sendMessage(frame, 'I live in Lisbon with my two cats.');
    const group = lastAssistant(frame).getByRole('group', { name: 'Proposed memories' });
    await group.waitFor({ state: 'visible', timeout: 20_000 });
    const asked = e.server.chatRequests.slice(before).find((r) => (r.body as { response_format?: { type?: string } }).response_format);
    assert.equal((asked?.body as { response_format: { type: string } }).response_format.type, 'json_schema');
    assert.ok(JSON.stringify(asked?.body).includes('I live in Lisbon with my two cats.'), 'the request for memories carries the conversation');
    assert.match(await group.innerText(), /Sam could remember:[\s\S]*Lives in Lisbon\.[\s\S]*Has two cats\./);
    await e.vs.screenshot('memoryItems-proposals');

    await group.getByRole('button', { name: 'Dismiss: Has two cats.' }).click();
    await group.getByRole('button', { name: 'Edit before keeping: Lives in Lisbon.' }).click();
    await group.getByRole('textbox', { name: 'Proposed memory' }).fill('Lives in Lisbon, Portugal.');
    await group.getByRole('button', { name: 'Keep: Lives in Lisbon, Portugal.' }).click();
    await waitUntil('the kept proposal', 10_000, async () => /Sam remembers now:\s*Lives in Lisbon, Portugal\./.test(await group.innerText({ timeout: 1000 })));
    assert.doesNotMatch(await group.innerText(), /two cats/);

    // Automatic: kept at once, shown under the reply.
    await choose('Automatic');
    proposals = ['Has a sister called Maya.'];
    await sendMessage(frame, 'My sister Maya visits next week.');
    const kept = lastAssistant(frame).getByRole('group', { name: 'Proposed memories' });
    await waitUntil('the automatic memory under the reply', 20_000, async () => /Sam remembers now:\s*Has a sister called Maya\./.test(await kept.innerText({ timeout: 1000 }).catch(() => '')));

    await e.vs.runCommand('Persona: Show Memories…');
    await waitUntil('both kept memories in the list', 10_000, async () => {
      const text = await page.locator('.quick-input-widget .quick-input-list').innerText({ timeout: 1000 }).catch(() => '');
      return text.includes('Lives in Lisbon, Portugal.') && text.includes('Has a sister called Maya.') && !text.includes('Has two cats.');
    });
    await page.keyboard.press('Escape');
    await choose('Off');
  });
});
