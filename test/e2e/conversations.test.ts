// Conversations in a real VS Code: one survives a window reload, the list shows it, "New chat"
// starts another, the list switches between them (and the next request carries the right history),
// and renaming sticks; Search Chats opens a hit; Import Conversation opens an exported chat. The tests
// build on each other, in order: run the whole file.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Frame, Page } from 'playwright-core';
import { exportConversation } from '../../src/chat/conversationExport';
import type { Conversation, Message } from '../../src/shared/conversation';
import { addAlternative, appendToPath } from '../../src/shared/conversationTree';
import { captureOnFailure, chooseFile, waitUntil } from './harness';
import { paintedText, requestMessages, sendMessage, shownMessages, startChatE2e, waitForReply, type ChatE2e, type ShownMessage } from './chatView';

let e2e: ChatE2e | undefined;

function started(): ChatE2e {
  assert.ok(e2e, 'VS Code did not start (see the before hook)');
  return e2e;
}

before(async () => {
  let n = 0;
  e2e = await startChatE2e({ label: 'conversations', server: { reply: () => `Reply number ${++n}.` } });
  await e2e.view();
});

after(async () => {
  await e2e?.stop();
});

const firstMessage = 'Remember the word aubergine.';
const secondMessage = 'Something else entirely.';
let firstConversation: ShownMessage[] = [];

const roleAndText = (messages: ShownMessage[]) => messages.map((m) => [m.role, m.text]);

async function openList(frame: Frame): Promise<string[]> {
  const toggle = frame.locator('button[aria-label="Chats"]');
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  const list = frame.locator('.conversation-list[aria-label="Conversations"]');
  await list.waitFor({ state: 'visible', timeout: 5000 });
  return list.locator('.conversation-title').allTextContents();
}

test('a conversation survives a window reload', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'conversations-reload', async () => {
    let frame = await view();
    await sendMessage(frame, firstMessage);
    firstConversation = await waitForReply(frame, server, 1);
    assert.deepEqual(roleAndText(firstConversation).slice(1), [['user', firstMessage], ['assistant', server.completions.at(-1)!.textSent]]);

    await vs.reload();
    frame = await view();
    const restored = await waitUntil('the conversation to be shown again after the reload', 20_000, async () => {
      const shown = await shownMessages(frame);
      return shown.length === firstConversation.length ? shown : undefined;
    });
    assert.deepEqual(roleAndText(restored), roleAndText(firstConversation), 'the reloaded window shows other messages');
    assert.equal(server.chatRequests.length, 1, 'the reload sent the conversation to the model again');
  });
});

test('the conversation list shows the conversation; New chat starts another; the list switches between them', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'conversations-list', async () => {
    const frame = await view();
    assert.deepEqual(await openList(frame), [firstMessage]);

    await frame.locator('button[aria-label="New chat"]').click();
    await waitUntil('a new conversation holding only the greeting', 10_000, async () => (await shownMessages(frame)).length === 1);
    await sendMessage(frame, secondMessage);
    const second = await waitForReply(frame, server, 2);
    // The second conversation's request did not carry the first one.
    assert.ok(!requestMessages(server.chatRequests.at(-1)).some((m) => m.content === firstMessage), 'the new chat sent the old conversation');

    const titles = await openList(frame);
    assert.deepEqual([...titles].sort(), [firstMessage, secondMessage].sort());
    assert.equal(await frame.locator('.conversation-list li.active .conversation-title').textContent(), secondMessage);

    await frame.locator('.conversation-list .conversation-open', { hasText: firstMessage }).click();
    await waitUntil('the first conversation to be shown', 10_000, async () =>
      JSON.stringify(roleAndText(await shownMessages(frame))) === JSON.stringify(roleAndText(firstConversation)),
    );
    // The next message continues the first conversation, on the wire too.
    await sendMessage(frame, 'And the word was?');
    await waitForReply(frame, server, 3);
    const sent = requestMessages(server.chatRequests.at(-1)).slice(1);
    assert.deepEqual(
      sent.map((m) => [m.role, m.content]),
      [...roleAndText(firstConversation), ['user', 'And the word was?']],
      'the request does not continue the first conversation',
    );

    await openList(frame);
    await frame.locator('.conversation-list .conversation-open', { hasText: secondMessage }).click();
    await waitUntil('the second conversation to be shown', 10_000, async () =>
      JSON.stringify(roleAndText(await shownMessages(frame))) === JSON.stringify(roleAndText(second)),
    );
  });
});

test('renaming a conversation shows the new title, also after a reload', async () => {
  const { vs, view } = started();
  await captureOnFailure(vs, 'conversations-rename', async () => {
    let frame = await view();
    await openList(frame);
    await frame.locator(`button[aria-label="Rename ${firstMessage}"]`).click();
    const input = frame.locator('input[aria-label="Conversation title"]');
    assert.equal(await input.inputValue(), firstMessage);
    await input.fill('Aubergine talk');
    await input.press('Enter');
    await waitUntil('the list to show the new title', 10_000, async () => (await openList(frame)).includes('Aubergine talk'));
    assert.ok(!(await openList(frame)).includes(firstMessage), 'the old title is still listed');

    await vs.reload();
    frame = await view();
    await waitUntil('the renamed conversation to be listed after a reload', 20_000, async () => {
      const titles = await openList(frame);
      return titles.includes('Aubergine talk') && titles.includes(secondMessage) && titles.length === 2;
    });
  });
});

/** Runs Search Chats with `words` and waits for `hits` rows; returns the rows. */
async function searchChats(page: Page, vs: ChatE2e['vs'], words: string, hits: number) {
  await vs.runCommand('Persona: Search Chats…');
  const input = page.locator('.quick-input-widget .quick-input-box input[placeholder^="Words in a chat"]');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await waitUntil('the words in the search box', 10_000, async () => {
    if ((await input.inputValue()) !== words) await input.fill(words);
    return (await input.inputValue()) === words;
  });
  const rows = page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
  await waitUntil(`${hits} hits`, 10_000, async () => (await rows.count()) === hits);
  return rows;
}

/** The message the keyboard focus is on, when it is one. */
async function focusedMessage(frame: Frame) {
  return waitUntil('a message focused', 10_000, async () => {
    const f = await frame.evaluate(() => {
      const a = document.activeElement as HTMLElement | null;
      return a?.matches('article.message') ? { role: a.dataset.role, text: a.textContent ?? '' } : undefined;
    });
    return f ?? undefined;
  });
}

test('Search Chats finds a word of another chat; the hit opens that chat with the message focused', async () => {
  const { vs, view } = started();
  const page = vs.page;
  await captureOnFailure(vs, 'conversations-search', async () => {
    let frame = await view();
    // The chat shown is the second one (the test before ends there).
    await waitUntil('the second conversation shown', 10_000, async () => (await shownMessages(frame)).some((m) => m.text === secondMessage));
    // Two hits, both in the first chat: its title and the message that said it.
    const rows = await searchChats(page, vs, 'AUBERGINE', 2);
    await vs.screenshot('conversations-search-hits');
    await rows.filter({ hasNotText: 'title ·' }).first().click();

    frame = await view();
    await waitUntil('the first conversation shown', 10_000, async () => (await shownMessages(frame)).some((m) => m.text === firstMessage));
    const focused = await focusedMessage(frame);
    assert.equal(focused.role, 'user');
    assert.ok(focused.text.includes(firstMessage), focused.text);
  });
});

test('Import Conversation opens a chat exported as JSON, branches and all, on the path it was left at; the next request carries that path', async () => {
  const { vs, server, view } = started();
  const page = vs.page;
  await captureOnFailure(vs, 'conversations-import', async () => {
    // An export as Persona writes it, with an alternative reply: the second one is shown.
    const at = Date.now();
    const exported: Conversation = { schemaVersion: 1, id: 'exported-elsewhere', title: 'Lighthouse keeping', personaId: 'sam', personaName: 'Sam', createdAt: at, updatedAt: at, messages: [] };
    const m = (id: string, role: Message['role'], content: string): Message => ({ id, role, content, createdAt: at, status: 'complete' });
    appendToPath(exported, { ...m('g', 'assistant', 'Ahoy!'), greeting: true });
    appendToPath(exported, m('q', 'user', 'How often is the lamp cleaned?'));
    appendToPath(exported, m('r1', 'assistant', 'Every morning.'));
    addAlternative(exported, 'r1', m('r2', 'assistant', 'Daily, at dawn.'));
    const file = join(vs.dirs.workspace, 'lighthouse.json');
    writeFileSync(file, exportConversation(exported, 'Sam', 'json'));

    await vs.runCommand('Persona: Import Conversation…');
    await chooseFile(page, /Import Conversation/, file);
    const frame = await view();
    await waitUntil('the imported chat shown', 10_000, async () =>
      JSON.stringify((await shownMessages(frame)).map((m) => m.text)) === JSON.stringify(['Ahoy!', 'How often is the lamp cleaned?', 'Daily, at dawn.']),
    );
    const reply = frame.locator('.messages article.message[data-role="assistant"]').nth(1);
    assert.equal(await paintedText(frame, reply.locator('.alternatives-position')), '2 / 2');
    assert.ok((await openList(frame)).includes('Lighthouse keeping'));
    await frame.locator('button[aria-label="Chats"]').click();

    const before = server.chatRequests.length;
    await sendMessage(frame, 'And the lens?');
    await waitForReply(frame, server, before + 1);
    assert.deepEqual(
      requestMessages(server.chatRequests.at(-1)).slice(1).map((m) => m.content),
      ['Ahoy!', 'How often is the lamp cleaned?', 'Daily, at dawn.', 'And the lens?'],
    );
  });
});

test('a 600-message chat draws only its last page when opened; scrolling draws pages above and below, never more than 150 messages; a search hit far up is drawn and focused', async () => {
  const { vs, view } = started();
  const page = vs.page;
  await captureOnFailure(vs, 'conversations-long', async () => {
    const at = Date.now();
    const long: Conversation = { schemaVersion: 1, id: 'long-one', title: 'A very long chat', personaId: 'sam', personaName: 'Sam', createdAt: at, updatedAt: at, messages: [] };
    for (let i = 0; i < 600; i++) {
      const text = i === 4 ? 'Message 4 mentions quince jam.' : `Message ${i}.`;
      appendToPath(long, { id: `m${i}`, role: i % 2 === 0 ? 'assistant' : 'user', content: text, createdAt: at + i, status: 'complete', ...(i === 0 ? { greeting: true } : {}) });
    }
    const file = join(vs.dirs.workspace, 'long.json');
    writeFileSync(file, exportConversation(long, 'Sam', 'json'));
    await vs.runCommand('Persona: Import Conversation…');
    await chooseFile(page, /Import Conversation/, file);
    const frame = await view();
    const drawn = async () => (await shownMessages(frame)).map((m) => m.text);
    await waitUntil('the end of the long chat shown', 10_000, async () => (await drawn()).at(-1) === 'Message 599.');
    const opened = await drawn();
    assert.equal(opened.length, 50, 'opening drew more than the last page');
    assert.equal(opened[0], 'Message 550.');
    assert.equal(await frame.getByRole('button', { name: 'Show earlier messages (550)' }).count(), 1);

    // Up to the top, as a person scrolling would: pages are drawn above, and dropped below.
    const log = frame.getByRole('log', { name: 'Conversation' });
    let most = 0;
    await waitUntil('the first message drawn', 30_000, async () => {
      await log.evaluate((el) => (el.scrollTop = 0));
      const now = await drawn();
      most = Math.max(most, now.length);
      return now[0] === 'Message 0.' ? true : undefined;
    });
    assert.ok(most <= 150, `${most} messages were drawn at once`);
    await vs.screenshot('conversations-long-top');
    // And down again: the pages below come back, the last message too.
    await waitUntil('the last message drawn again', 30_000, async () => {
      await log.evaluate((el) => (el.scrollTop = el.scrollHeight));
      const now = await drawn();
      most = Math.max(most, now.length);
      return now.at(-1) === 'Message 599.' ? true : undefined;
    });
    assert.ok(most <= 150, `${most} messages were drawn at once`);

    // A search hit near the start of the chat: the window moves there and the message is focused.
    const rows = await searchChats(page, vs, 'quince', 1);
    await rows.first().click();
    const focused = await focusedMessage(frame);
    assert.ok(focused.text.includes('Message 4 mentions quince jam.'), focused.text);
    assert.ok((await drawn()).length <= 150);
  });
});
