// The chat in a real VS Code: a typed message streams a reply into the webview, Stop ends it, and
// Regenerate and Edit send what they should. Every test checks what the webview shows against what
// the fake LM Studio recorded on the wire.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import type { Frame } from 'playwright-core';
import { splitIntoTokens } from '../support/fakeOpenAiServer';
import { captureOnFailure, messageInput, waitUntil } from './harness';
import {
  characterFile,
  lastAssistant,
  openWorkspaceFile,
  paintedText,
  plainTextOf,
  recordedReplyLengths,
  recordReplyLengths,
  requestMessages,
  sendMessage,
  shownMessages,
  startChatE2e,
  waitForReply,
  withNames,
  type ChatE2e,
} from './chatView';

let e2e: ChatE2e | undefined;

const editorFile = 'notes.ts';
const editorText = '// before\n\n// after\n';

function started(): ChatE2e {
  assert.ok(e2e, 'VS Code did not start (see the before hook)');
  return e2e;
}

before(async () => {
  e2e = await startChatE2e({ label: 'chat', workspaceFiles: { [editorFile]: editorText } });
  await e2e.view();
});

after(async () => {
  await e2e?.stop();
});

// Each test starts from a fresh conversation and a quick server.
beforeEach(async () => {
  if (!e2e) return;
  const frame = await e2e.view();
  e2e.server.setReply('Fine.', { tokenDelayMs: 0, firstTokenDelayMs: 0 });
  await frame.locator('button[aria-label="New chat"]').click();
  await waitUntil('a new conversation holding only the greeting', 10_000, async () => {
    const shown = await shownMessages(frame);
    return shown.length === 1 && shown[0]?.role === 'assistant';
  });
  e2e.server.reset();
});

test('a typed message streams a reply into the webview; the request carries the persona and the message', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'chat-stream', async () => {
    const frame = await view();
    const personaId = await frame.locator('select[aria-label="Persona"]').inputValue();
    const persona = characterFile(personaId);
    const greeting = (await shownMessages(frame))[0];
    assert.equal(greeting?.text, withNames(persona.greeting, persona.name), 'the conversation does not open with the persona greeting');

    const reply =
      'Streaming works: here is a **bold** claim with `inline code` and a good number of plain words that keep arriving one at a time until the very end.';
    server.setReply(reply, { tokenDelayMs: 60 });
    await recordReplyLengths(frame);
    const typed = 'Hello there, can you stream?';
    await sendMessage(frame, typed);

    await waitForReply(frame, server, 1);
    const completion = server.completions.at(-1)!;
    assert.equal(completion.outcome, 'completed');
    assert.equal(completion.tokensSent, splitIntoTokens(reply).length);

    const shown = await shownMessages(frame);
    assert.deepEqual(
      shown.map((m) => [m.role, m.status]),
      [['assistant', 'complete'], ['user', 'complete'], ['assistant', 'complete']],
    );
    assert.equal(shown[1]?.text, typed, 'the user message is not shown as typed');
    assert.equal(shown[2]?.text, plainTextOf(completion.textSent), 'the final reply differs from the text the server sent');
    // Rendered as markdown, not shown as source.
    assert.equal(await lastAssistant(frame).locator('.message-content strong').innerText(), 'bold');
    assert.equal(await lastAssistant(frame).locator('.message-content code').innerText(), 'inline code');

    const lengths = await recordedReplyLengths(frame);
    const intermediate = new Set(lengths.filter((l) => l.status === 'streaming' && l.len > 0 && l.len < shown[2]!.text.length).map((l) => l.len));
    assert.ok(intermediate.size >= 2, `the reply did not grow while streaming (lengths seen: ${JSON.stringify(lengths)})`);

    const messages = requestMessages(server.chatRequests.at(-1));
    assert.deepEqual(messages[0], { role: 'system', content: withNames(persona.systemPrompt, persona.name) });
    assert.deepEqual(messages.at(-1), { role: 'user', content: typed });
    assert.equal((server.chatRequests.at(-1)!.body as { stream?: unknown }).stream, true, 'the request did not ask for a stream');
  });
});

test('Shift+Enter inserts a newline; Enter sends both lines as one message', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'chat-shift-enter', async () => {
    const frame = await view();
    const input = frame.locator(messageInput);
    await input.click();
    await input.pressSequentially('first line');
    await input.press('Shift+Enter');
    await input.pressSequentially('second line');
    assert.equal(await input.inputValue(), 'first line\nsecond line');
    // Nothing was sent: no request, no new message.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(server.chatRequests.length, 0, 'Shift+Enter sent the message');
    assert.equal((await shownMessages(frame)).length, 1);

    await input.press('Enter');
    await waitForReply(frame, server, 1);
    assert.equal(await input.inputValue(), '', 'the message box was not emptied after sending');
    assert.deepEqual(requestMessages(server.chatRequests.at(-1)).at(-1), { role: 'user', content: 'first line\nsecond line' });
    const shown = await shownMessages(frame);
    assert.equal(shown[1]?.text, 'first line\nsecond line');
  });
});

test('Stop mid-stream closes the connection, keeps the partial reply marked stopped, and brings Send back', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'chat-stop', async () => {
    const frame = await view();
    const words = Array.from({ length: 200 }, (_, i) => `word${i + 1}`).join(' ');
    server.setReply(words, { tokenDelayMs: 40 });
    await sendMessage(frame, 'Tell me a very long story.');

    const completion = await server.waitFor(() => server.completions.find((c) => c.tokensSent >= 5), 15_000);
    const stopButton = frame.locator('form.composer button[aria-label="Stop"]');
    await waitUntil('the reply to start showing', 10_000, async () => ((await lastAssistant(frame).locator('.message-content').textContent()) ?? '').length > 0);
    await stopButton.click();

    await server.waitFor(() => completion.outcome !== 'pending', 10_000);
    assert.equal(completion.outcome, 'clientClosed', 'the server did not see the client close the connection');
    assert.ok(completion.tokensSent < completion.tokensPlanned, `all ${completion.tokensPlanned} tokens were sent anyway`);
    const closed = server.connectionOf({ connectionId: completion.connectionId });
    assert.ok(closed?.closedAt !== undefined, 'the connection is still open');

    await waitUntil('the reply to be marked stopped', 10_000, async () => (await lastAssistant(frame).getAttribute('data-status')) === 'stopped');
    const shown = (await shownMessages(frame)).at(-1)!;
    assert.match(shown.author, /stopped/, 'the reply does not say it was stopped');
    assert.ok(shown.text.length > 0, 'the partial reply was thrown away');
    assert.ok(completion.textSent.trim().startsWith(shown.text), `the partial reply ${JSON.stringify(shown.text.slice(-40))} is not what the server sent`);
    assert.ok(shown.text.length < words.length);

    await frame.locator('form.composer button[aria-label="Send"]').waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await stopButton.count(), 0, 'Stop is still shown');
    // And the chat goes on.
    server.setReply('Back again.', { tokenDelayMs: 0 });
    await sendMessage(frame, 'Shorter, please.');
    await waitForReply(frame, server, 2);
    assert.equal((await shownMessages(frame)).at(-1)?.text, 'Back again.');
  });
});

test('Regenerate on an earlier reply adds an alternative beside it; Previous reply, Next reply and the arrow keys step between them, and the request follows the one shown', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'chat-regenerate', async () => {
    const frame = await view();
    let n = 0;
    server.setReply(() => `Answer number ${++n}.`);
    await sendMessage(frame, 'What is the answer?');
    await waitForReply(frame, server, 1);
    await sendMessage(frame, 'And after that?');
    await waitForReply(frame, server, 2);
    const greeting = (await shownMessages(frame))[0]!.text;

    // Regenerate the first reply, not the last: its alternative is written from the history before it.
    const firstReply = frame.locator('.messages article.message[data-role="assistant"]').nth(1);
    await firstReply.locator('button[aria-label="Regenerate"]').click();
    await waitForReply(frame, server, 3);
    assert.deepEqual(
      requestMessages(server.chatRequests.at(-1)).slice(1).map((m) => m.content),
      [greeting, 'What is the answer?'],
      'the regenerated reply was not asked with the history before it',
    );
    const roles = async () => (await shownMessages(frame)).map((m) => m.text);
    // The alternative is shown; the turns that followed the first one are hidden, not gone.
    assert.deepEqual(await roles(), [greeting, 'What is the answer?', 'Answer number 3.']);
    const reply = frame.locator('.messages article.message[data-role="assistant"]').nth(1);
    const position = reply.locator('.alternatives-position');
    assert.equal(await paintedText(frame, position), '2 / 2');
    await vs.screenshot('chat-alternatives');

    await reply.getByRole('button', { name: 'Previous reply' }).click();
    await waitUntil('the first reply and the turns after it', 10_000, async () => JSON.stringify(await roles()) === JSON.stringify([greeting, 'What is the answer?', 'Answer number 1.', 'And after that?', 'Answer number 2.']));
    assert.equal(await paintedText(frame, position), '1 / 2');
    assert.ok(await reply.getByRole('button', { name: 'Previous reply' }).isDisabled(), 'Previous reply at the first alternative');

    // The keyboard: the arrow keys on the focused message.
    await reply.focus();
    await vs.page.keyboard.press('ArrowRight');
    await waitUntil('the alternative again, by the keyboard', 10_000, async () => (await roles()).at(-1) === 'Answer number 3.');
    assert.equal(await paintedText(frame, position), '2 / 2');

    // The next message continues the alternative shown, on the wire too.
    await sendMessage(frame, 'Go on.', { click: true });
    await waitForReply(frame, server, 4);
    assert.deepEqual(
      requestMessages(server.chatRequests.at(-1)).slice(1).map((m) => m.content),
      [greeting, 'What is the answer?', 'Answer number 3.', 'Go on.'],
      'the request does not follow the path shown',
    );
  });
});

/** Two questions and their replies, "Reply 1." and "Reply 2.". */
async function twoTurns(frame: Frame, server: ChatE2e['server']): Promise<void> {
  let n = 0;
  server.setReply(() => `Reply ${++n}.`);
  await sendMessage(frame, 'First question');
  await waitForReply(frame, server, 1);
  await sendMessage(frame, 'Second question');
  await waitForReply(frame, server, 2);
}

test('Edit on a user message then Save and resend starts a branch: the edited text is sent, and the old branch is one step back', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'chat-edit', async () => {
    const frame = await view();
    await twoTurns(frame, server);
    const greeting = (await shownMessages(frame))[0]!;

    const firstUser = frame.locator('.messages article.message[data-role="user"]').first();
    await firstUser.locator('button[aria-label="Edit message"]').click();
    const box = firstUser.locator('textarea[aria-label="Edit message"]');
    assert.equal(await box.inputValue(), 'First question');
    await box.fill('First question, edited');
    await firstUser.locator('button', { hasText: 'Save & Resend' }).click();
    await waitForReply(frame, server, 3);

    const sent = requestMessages(server.chatRequests.at(-1));
    assert.deepEqual(
      sent.slice(1).map((m) => [m.role, m.content]),
      [['assistant', greeting.text], ['user', 'First question, edited']],
      'the request after the edit does not end at the edited message',
    );
    const shown = await shownMessages(frame);
    assert.deepEqual(
      shown.map((m) => [m.role, m.text]),
      [['assistant', greeting.text], ['user', 'First question, edited'], ['assistant', server.completions.at(-1)!.textSent]],
    );
    const edited = frame.locator('.messages article.message[data-role="user"]').first();
    assert.equal(await paintedText(frame, edited.locator('.alternatives-position')), '2 / 2');
    await edited.getByRole('button', { name: 'Previous version' }).click();
    await waitUntil('the old branch', 10_000, async () =>
      JSON.stringify((await shownMessages(frame)).map((m) => m.text)) === JSON.stringify([greeting.text, 'First question', 'Reply 1.', 'Second question', 'Reply 2.']),
    );
    assert.equal(await paintedText(frame, edited.locator('.alternatives-position')), '1 / 2');
  });
});

test('Go back to here ends the chat at an earlier message without deleting: the later turns can be shown again, and the next message is sent from there and branches', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'chat-checkpoint', async () => {
    const frame = await view();
    await twoTurns(frame, server);
    const greeting = (await shownMessages(frame))[0]!.text;
    const texts = async () => JSON.stringify((await shownMessages(frame)).map((m) => m.text));
    const everything = JSON.stringify([greeting, 'First question', 'Reply 1.', 'Second question', 'Reply 2.']);

    const firstReply = frame.locator('.messages article.message[data-role="assistant"]').nth(1);
    await firstReply.getByRole('button', { name: 'Go back to here' }).click();
    await waitUntil('the chat ending at the first reply', 10_000, async () => (await texts()) === JSON.stringify([greeting, 'First question', 'Reply 1.']));
    const note = frame.getByRole('note').filter({ hasText: 'hidden' });
    assert.match(await note.innerText(), /2 later messages are hidden, not deleted/);
    assert.equal(await frame.getByRole('button', { name: 'Go back to here' }).count(), 2, 'every message but the last offers to go back to it');
    await vs.screenshot('chat-checkpoint');

    await note.getByRole('button', { name: 'Show hidden messages' }).click();
    await waitUntil('the hidden turns shown again', 10_000, async () => (await texts()) === everything);
    assert.equal(await note.count(), 0);

    // Back again, and a new message: it is sent with the chat up to the checkpoint, and branches there.
    await firstReply.getByRole('button', { name: 'Go back to here' }).click();
    await waitUntil('the chat ending at the first reply again', 10_000, async () => (await texts()) === JSON.stringify([greeting, 'First question', 'Reply 1.']));
    await sendMessage(frame, 'Another second question', { click: true });
    await waitForReply(frame, server, 3);
    assert.deepEqual(
      requestMessages(server.chatRequests.at(-1)).slice(1).map((m) => m.content),
      [greeting, 'First question', 'Reply 1.', 'Another second question'],
      'the request after going back carries the turns that were hidden',
    );
    const newQuestion = frame.locator('.messages article.message[data-role="user"]').nth(1);
    assert.equal(await paintedText(frame, newQuestion.locator('.alternatives-position')), '2 / 2');
    await newQuestion.getByRole('button', { name: 'Previous version' }).click();
    await waitUntil('the old continuation, one step back', 10_000, async () => (await texts()) === everything);
  });
});

test('a fenced code block shows Copy and Insert; Insert puts the exact code at the editor cursor', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'chat-code-insert', async () => {
    const frame = await view();
    const code = 'const greet = (name: string): string => `Hello, ${name} <&> "quoted"`;\n\nfunction twice(n: number) {\n  return n * 2; // indented\n}';
    server.setReply(`Here you go:\n\n\`\`\`ts\n${code}\n\`\`\`\n\nThat is all.`);
    await sendMessage(frame, 'Show me some code.');
    await waitForReply(frame, server, 1, (shown) => shown.includes(code) && shown.endsWith('That is all.'));
    // The code as the server sent it, between the fences.
    const fenced = /```ts\n([\s\S]*?)\n```/.exec(server.completions.at(-1)!.textSent)?.[1];
    assert.equal(fenced, code);

    const block = lastAssistant(frame).locator('.code-block');
    assert.equal(await block.count(), 1, 'the reply has no code block');
    assert.equal(await block.locator('code').textContent(), fenced, 'the code block does not show the code as sent');
    const copy = block.locator('button[aria-label="Copy code"]');
    const insert = block.locator('button[aria-label="Insert code at cursor"]');
    assert.ok(await copy.isVisible(), 'no visible Copy button');
    assert.ok(await insert.isVisible(), 'no visible Insert button');

    // Copy goes through VS Code's clipboard, which in the browser is the page's clipboard.
    await vs.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(vs.url).origin });
    await copy.click();
    const copied = await waitUntil('the clipboard to hold the code', 5000, async () => {
      const text = (await vs.page.evaluate('navigator.clipboard.readText()')) as string;
      return text === fenced ? text : undefined;
    });
    assert.equal(copied, fenced);

    // Cursor on the empty second line of the file.
    await openWorkspaceFile(vs.page, editorFile);
    const editorLines = vs.page.locator('.editor-group-container .monaco-editor .view-lines').first();
    await editorLines.click();
    await vs.page.keyboard.press('Control+Home');
    await vs.page.keyboard.press('ArrowDown');
    await vs.page.locator('.statusbar-item', { hasText: /^Ln 2, Col 1$/ }).waitFor({ state: 'visible', timeout: 5000 });
    await insert.click();
    await waitUntil('the editor to show the inserted code', 10_000, async () =>
      ((await editorLines.textContent()) ?? '').replace(/\u00a0/g, ' ').includes('function twice(n: number)'),
    );
    assert.equal(readFileSync(join(vs.dirs.workspace, editorFile), 'utf8'), editorText, 'Insert saved the file by itself');
    await editorLines.click();
    await vs.page.keyboard.press('Control+S');
    const path = join(vs.dirs.workspace, editorFile);
    const onDisk = await waitUntil('the file to be saved', 10_000, () => {
      const text = readFileSync(path, 'utf8');
      return text !== editorText ? text : undefined;
    });
    assert.equal(onDisk, `// before\n${fenced}\n// after\n`);
  });
});
