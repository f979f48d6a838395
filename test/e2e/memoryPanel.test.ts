// The memory panel in a real VS Code: opened from the chat's memory line, it lists the workspace's
// files with their chunks and lines, searches memory as a chat turn would (with scores), keeps and
// pins a memory that then goes into every request, and forgets a file and a memory after asking.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { answerDialog } from './builderView';
import { captureOnFailure, waitUntil } from './harness';
import { requestMessages, sendMessage, chatWithMemoryE2e, waitForReply, memoryPanelFrame, type ChatE2e } from './chatView';


const authNotes = ['# Login', '', 'The login flow sets the ZEBRA_TOKEN cookie after the password check.', 'It expires after 30 minutes.'].join('\n');
const deployNotes = ['# Deploy', '', 'Deploys go out on Tuesdays through the blue pipeline.'].join('\n');
const fact = 'I always deploy on Tuesdays.';

const started = chatWithMemoryE2e({
  label: 'memoryPanel',
  server: { reply: 'Sure.' },
  workspaceFiles: { 'notes/auth.md': authNotes, 'notes/deploy.md': deployNotes },
});


test('the memory panel lists files and chunks, searches with scores, pins a memory into every request, and forgets after asking', async () => {
  const { e } = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'memoryPanel', async () => {
    await e.vs.runCommand('Persona: Add Workspace to Memory');
    const chat = await e.view();
    await waitUntil('the memory line to count 2 files', 60_000, async () => /Memory: 2 files/.test(await chat.locator('.memory-bar').innerText({ timeout: 1000 }).catch(() => '')), 250);

    await chat.getByRole('button', { name: 'Memory panel' }).click();
    const panel = await memoryPanelFrame(page);
    const documents = panel.getByRole('list', { name: 'Documents' });
    await waitUntil('both files in the list', 10_000, async () => (await documents.getByRole('listitem').count()) === 2);
    assert.match(await panel.getByRole('combobox', { name: 'Knowledge base' }).innerText(), /This workspace: 2 files, 2 chunks/);

    // A file's chunks, with their lines and text.
    await documents.getByRole('button', { name: /notes\/auth\.md/ }).click();
    const chunks = panel.getByRole('list', { name: 'Chunks' });
    await waitUntil('the chunks of auth.md', 10_000, async () => (await chunks.innerText({ timeout: 1000 }).catch(() => '')).includes('ZEBRA_TOKEN'));
    assert.match(await chunks.innerText(), /Lines 1–4/);

    // The search a chat turn would run.
    await panel.getByRole('searchbox', { name: 'Search memory' }).fill('How does the ZEBRA_TOKEN login cookie work?');
    await panel.getByRole('button', { name: 'Search' }).click();
    const results = panel.getByRole('list', { name: 'Search results' });
    await results.waitFor({ state: 'visible', timeout: 15_000 });
    const first = await results.getByRole('listitem').first().innerText();
    assert.match(first, /notes\/auth\.md:1–4/);
    assert.match(first, /similarity \d\.\d\d/);

    // Remember from the panel, then pin: it goes into the next request even for an unrelated message.
    await panel.getByRole('button', { name: 'Remember…' }).click();
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(fact);
    await input.press('Enter');
    const memories = panel.getByRole('list', { name: 'Memories' });
    const item = memories.getByRole('listitem').filter({ hasText: fact });
    await item.waitFor({ state: 'visible', timeout: 15_000 });
    await item.getByRole('button', { name: 'Pin' }).click();
    await item.getByRole('button', { name: 'Unpin' }).waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await panel.locator('section[aria-labelledby="items-title"]').innerText(), /Pinned: 1 memory, \d+ of the 1,500 tokens/);
    await e.vs.screenshot('memoryPanel');

    const frame = await e.view();
    let done = e.server.completions.length;
    await sendMessage(frame, 'What is the weather like?');
    await waitForReply(frame, e.server, done + 1);
    assert.ok(requestMessages(e.server.chatRequests.at(-1))[0]!.content.includes(`- ${fact}`), 'the pinned memory is not in the request');

    // Forget a file from the panel: asked first, then gone from the list and from the next request.
    const back = await memoryPanelFrame(page);
    await back.getByRole('list', { name: 'Documents' }).getByRole('button', { name: /notes\/auth\.md/ }).click();
    await back.getByRole('button', { name: 'Forget…' }).click();
    await answerDialog(page, /Forget notes\/auth\.md\?/, 'Forget');
    await waitUntil('one file left', 15_000, async () => (await back.getByRole('list', { name: 'Documents' }).getByRole('listitem').count()) === 1);

    // Forget the memory: asked, then gone from the panel and from the next request.
    await back.getByRole('list', { name: 'Memories' }).getByRole('listitem').filter({ hasText: fact }).getByRole('button', { name: 'Forget' }).click();
    await answerDialog(page, /Forget “I always deploy on Tuesdays/, 'Forget');
    await waitUntil('the memory to leave the panel', 10_000, async () => (await back.getByRole('list', { name: 'Memories' }).count()) === 0);

    done = e.server.completions.length;
    await sendMessage(await e.view(), 'How does the ZEBRA_TOKEN login cookie work?');
    await waitForReply(await e.view(), e.server, done + 1);
    const system = requestMessages(e.server.chatRequests.at(-1))[0]!.content;
    assert.ok(!system.includes(fact), 'the forgotten memory is still sent');
    assert.ok(!system.includes('sets the ZEBRA_TOKEN cookie'), 'the forgotten file is still sent');
  });
});

/** How many passages of files the last request's system prompt quotes. */
function passagesSent(e: ChatE2e): number {
  return (requestMessages(e.server.chatRequests.at(-1))[0]!.content.match(/^\[\d+\] notes\//gm) ?? []).length;
}

test('memory dials: the persona recalls one passage (set in the memory panel); a chat asks for two, resets, then turns memory off', async () => {
  const { e } = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'memoryPanel-dials', async () => {
    await e.vs.runCommand('Persona: Add Workspace to Memory');
    const chat = await e.view();
    await waitUntil('the memory line to count 2 files', 60_000, async () => /Memory: 2 files/.test(await chat.locator('.memory-bar').innerText({ timeout: 1000 }).catch(() => '')), 250);
    const message = 'Tell me about the ZEBRA_TOKEN login cookie and the Tuesday deploys through the blue pipeline.';
    let done = e.server.completions.length;
    await sendMessage(chat, message);
    await waitForReply(chat, e.server, done + 1);
    assert.equal(passagesSent(e), 2, 'both files are found with the default dials');

    // The persona's own dial, in the memory panel.
    await e.vs.runCommand('Persona: Open Memory Panel');
    const panel = await memoryPanelFrame(page);
    const dials = panel.getByRole('group', { name: 'How Sam recalls' });
    const passages = dials.getByRole('textbox', { name: 'Passages' });
    // Playwright's fill types at the page's focus. The workbench hands focus to the panel a moment
    // after the palette closes (a message to its iframe): typed before that, the text went elsewhere
    // and the field kept 8 (CI a6). Wait for the panel to hold focus, then click into the field.
    await waitUntil('the panel to take focus', 10_000, () => panel.evaluate('document.hasFocus()'), 50);
    await passages.click();
    await passages.fill('0');
    assert.equal(await passages.inputValue(), '0', 'the typed value reached the field');
    await waitUntil('the range to be said', 5000, async () => /Passages must be a whole number from 1 to 50\./.test(await dials.innerText()));
    await passages.fill('1');
    await passages.press('Enter');
    await waitUntil('the persona to hold the value', 10_000, async () => (await dials.locator('[data-setting="memory-topK"] .setting-origin').innerText()) === 'from the persona');
    await e.vs.screenshot('memoryPanel-dials');

    const frame = await e.view();
    done = e.server.completions.length;
    await sendMessage(frame, message);
    await waitForReply(frame, e.server, done + 1);
    assert.equal(passagesSent(e), 1, 'the persona recalls one passage');

    // This chat's own value, over the persona's; Reset goes back to it.
    await frame.getByRole('button', { name: 'Chat settings' }).click();
    const settings = frame.getByRole('region', { name: 'Chat settings' });
    const chatPassages = settings.getByRole('textbox', { name: 'Passages' });
    assert.equal(await chatPassages.inputValue(), '1');
    assert.equal(await settings.locator('[data-setting="memory-topK"] .setting-origin').innerText(), 'from the persona');
    await chatPassages.fill('2');
    await chatPassages.press('Enter');
    await waitUntil('the chat to hold the value', 10_000, async () => (await settings.locator('[data-setting="memory-topK"] .setting-origin').innerText()) === 'from this chat');
    done = e.server.completions.length;
    await sendMessage(frame, message);
    await waitForReply(frame, e.server, done + 1);
    assert.equal(passagesSent(e), 2, "the chat's own value is used");
    await settings.getByRole('button', { name: 'Reset Passages' }).click();
    await waitUntil('the persona value back', 10_000, async () => (await chatPassages.inputValue()) === '1');

    // Memory off for this chat: nothing is recalled.
    await settings.getByRole('checkbox', { name: 'Use memory' }).uncheck();
    await waitUntil('memory off in the chat', 10_000, async () => (await settings.locator('[data-setting="memory-enabled"] .setting-origin').innerText()) === 'from this chat');
    done = e.server.completions.length;
    await sendMessage(frame, message);
    await waitForReply(frame, e.server, done + 1);
    assert.equal(passagesSent(e), 0, 'nothing recalled with memory off');
    assert.doesNotMatch(requestMessages(e.server.chatRequests.at(-1))[0]!.content, /ZEBRA_TOKEN cookie after/);
    await frame.getByRole('button', { name: 'Chat settings' }).click();

    // Back to the persona's defaults for the next test files.
    const back = await memoryPanelFrame(page);
    await back.getByRole('group', { name: 'How Sam recalls' }).getByRole('button', { name: 'Reset Passages' }).click();
  });
});

test('forget one passage of a file from the panel: asked first, gone from the chunks and from the next request, the rest of the file kept', async () => {
  const { e } = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'memoryPanel-forget-chunk', async () => {
    const paragraph = (marker: string) => Array.from({ length: 45 }, (_, i) => `${marker} line ${i}: the greenhouse log notes humidity, light and the watering of each bed.`).join('\n');
    writeFileSync(join(e.vs.dirs.workspace, 'notes', 'garden.md'), [paragraph('ALPHAROSE'), paragraph('BETATULIP'), paragraph('GAMMAFERN')].join('\n\n'));
    await e.vs.runCommand('Persona: Add Workspace to Memory');
    await e.vs.runCommand('Persona: Open Memory Panel');
    const panel = await memoryPanelFrame(page);
    const documents = panel.getByRole('list', { name: 'Documents' });
    const garden = documents.getByRole('button', { name: /notes\/garden\.md/ });
    await garden.waitFor({ state: 'visible', timeout: 60_000 });
    await waitUntil('garden.md indexed', 60_000, async () => /\d+ chunks/.test(await garden.innerText()));
    await garden.click();
    const chunks = panel.getByRole('list', { name: 'Chunks' });
    await waitUntil('the chunks of garden.md', 10_000, async () => (await chunks.getByRole('listitem').count()) >= 3);
    const before = await chunks.getByRole('listitem').count();
    const middle = chunks.getByRole('listitem').filter({ hasText: 'BETATULIP line 20' }).first();
    const forget = middle.getByRole('button', { name: /^Forget lines \d+–\d+$/ });
    await forget.click();
    await answerDialog(page, /Forget lines \d+–\d+ of notes\/garden\.md\?/, 'Forget Passage');
    await waitUntil('one chunk fewer', 15_000, async () => (await chunks.getByRole('listitem').count()) === before - 1);
    assert.ok(!(await chunks.innerText()).includes('BETATULIP line 20'), 'the forgotten passage is still listed');
    assert.ok((await chunks.innerText()).includes('ALPHAROSE line 3'), 'the rest of the file is kept');

    // A new chat (the last test turned memory off in its chat): the rest of the file is recalled, the passage never.
    const frame = await e.view();
    await frame.getByRole('button', { name: 'New chat' }).click();
    const done = e.server.completions.length;
    await sendMessage(frame, 'What does the greenhouse log say about BETATULIP and ALPHAROSE?');
    await waitForReply(frame, e.server, done + 1);
    const system = requestMessages(e.server.chatRequests.at(-1))[0]!.content;
    assert.ok(system.includes('ALPHAROSE line 3'), 'the rest of the file is recalled');
    assert.ok(!system.includes('BETATULIP line 20'), 'the forgotten passage reached the model');
  });
});
