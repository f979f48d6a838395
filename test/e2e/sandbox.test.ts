// The sandbox's dials in a real VS Code: pick a model from the server's list (never an embeddings
// model), set this chat's temperature in the Chat settings panel (a value out of range is refused
// there), see both in the request the test server received and the stats under the reply; a new
// chat is back to the persona's values.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Frame, Page } from 'playwright-core';
import { defaultFakeModels } from '../support/fakeOpenAiServer';
import { captureOnFailure, waitUntil } from './harness';
import { characterFile, lastAssistant, sendMessage, shownMessages, startChatE2e, waitForReply, type ChatE2e } from './chatView';

let e2e: ChatE2e | undefined;

const otherModel = 'other-llm-3b';

function started(): ChatE2e {
  assert.ok(e2e, 'VS Code did not start (see the before hook)');
  return e2e;
}

before(async () => {
  e2e = await startChatE2e({
    label: 'sandbox',
    server: {
      reply: 'Alpha beta gamma delta.',
      tokenDelayMs: 10,
      models: [...defaultFakeModels, { id: otherModel, type: 'llm', state: 'not-loaded', maxContextLength: 16384, arch: 'qwen2', quantization: 'Q8_0' }],
    },
  });
  await e2e.view();
});

after(async () => {
  await e2e?.stop();
});

/** The rows of the open quick pick, by their label text. */
async function pickerLabels(page: Page): Promise<string[]> {
  const rows = page.locator('.quick-input-widget .quick-input-list .monaco-list-row .label-name');
  await rows.first().waitFor({ state: 'visible', timeout: 15_000 });
  return (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
}

async function choose(page: Page, text: string): Promise<void> {
  await page.locator('.quick-input-widget .quick-input-box input').fill(text);
  await waitUntil(`the picker to focus ${text}`, 10_000, async () =>
    (await page.locator('.quick-input-list .monaco-list-row.focused .label-name').first().innerText({ timeout: 1000 })).includes(text),
  );
  await page.keyboard.press('Enter');
}

function body(e: ChatE2e): Record<string, unknown> {
  return e.server.chatRequests.at(-1)?.body as Record<string, unknown>;
}

async function openSettings(frame: Frame): Promise<void> {
  const toggle = frame.getByRole('button', { name: 'Chat settings' });
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await frame.getByRole('region', { name: 'Chat settings' }).waitFor({ state: 'visible', timeout: 10_000 });
}

test('pick a model from the list and set a temperature for this chat: both reach the server; stats under the reply; a new chat is back to the persona', async () => {
  const e = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'sandbox-dials', async () => {
    const frame = await e.view();
    const persona = characterFile(await frame.locator('select[aria-label="Persona"]').inputValue());
    const personaTemperature = persona.sampling.temperature as number;
    assert.equal(typeof personaTemperature, 'number', 'the test needs a persona with its own temperature');

    // The context meter: the loaded model's context (not its maximum), growing as the draft does.
    const meter = frame.getByRole('meter', { name: 'Context' });
    await waitUntil('the context meter', 15_000, async () => (await meter.getAttribute('aria-valuemax').catch(() => null)) === '8192');
    const emptyDraft = Number(await meter.getAttribute('aria-valuenow'));
    await frame.locator('textarea[aria-label="Message"]').fill('word '.repeat(400));
    await waitUntil('the meter to count the draft', 10_000, async () => Number(await meter.getAttribute('aria-valuenow')) >= emptyDraft + 350);
    await frame.getByRole('button', { name: 'Context breakdown' }).click();
    await frame.getByRole('table', { name: 'Context breakdown by part' }).getByText('Your draft').waitFor({ timeout: 5000 });
    await frame.locator('textarea[aria-label="Message"]').fill('');
    await frame.getByRole('button', { name: 'Context breakdown' }).click();

    // The model control in the view: the server's chat models, the embeddings model left out.
    await frame.getByRole('button', { name: 'Select model' }).click();
    const labels = await pickerLabels(page);
    assert.ok(labels.some((l) => l.includes('fake-llm-7b')), `the loaded model is not offered: ${labels.join(' | ')}`);
    assert.ok(labels.some((l) => l.includes(otherModel)), `the downloaded model is not offered: ${labels.join(' | ')}`);
    assert.ok(!labels.some((l) => l.includes('text-embedding-fake')), 'an embeddings model was offered for chat');
    const notLoaded = page.locator('.quick-input-list .monaco-list-row', { hasText: otherModel }).locator('.label-description');
    assert.match(await notLoaded.innerText(), /not loaded/);
    await choose(page, otherModel);
    await frame.getByRole('button', { name: 'Select model' }).filter({ hasText: otherModel }).waitFor({ timeout: 10_000 });

    // The Chat settings panel: Temperature shows the persona's value and says so.
    await openSettings(frame);
    const temperature = frame.getByRole('textbox', { name: 'Temperature', exact: true });
    assert.equal(await temperature.inputValue(), String(personaTemperature));
    const row = frame.locator('.setting-row[data-setting="temperature"]');
    assert.equal((await row.locator('.setting-origin').innerText()).trim(), 'from the persona');

    // Out of range: refused where it is typed, with the range, and nothing is sent.
    await temperature.fill('7');
    await row.getByRole('alert').filter({ hasText: 'from 0 to 2' }).waitFor({ timeout: 5000 });
    assert.equal(await temperature.getAttribute('aria-invalid'), 'true');
    await temperature.fill('1.3');
    await temperature.press('Enter');
    await waitUntil('the temperature to come from this chat', 10_000, async () => (await row.locator('.setting-origin').innerText()).trim() === 'from this chat');
    assert.equal(await row.getByRole('alert').count(), 0);
    await row.getByRole('button', { name: 'Reset Temperature' }).waitFor({ timeout: 5000 });

    // The picked model is not loaded: while the server loads it, the reply says so instead of looking hung.
    e.server.setReply({ text: 'Alpha beta gamma delta.', firstTokenDelayMs: 1500, tokenDelayMs: 40 });
    const done = e.server.completions.length;
    await sendMessage(frame, 'Which model are you?');
    await lastAssistant(frame).getByRole('status').filter({ hasText: `Loading ${otherModel}` }).waitFor({ timeout: 10_000 });
    await waitForReply(frame, e.server, done + 1);
    assert.equal(body(e)['model'], otherModel, 'the picked model did not reach the server');
    assert.equal(body(e)['temperature'], 1.3, "the chat's temperature did not reach the server");

    // Stats under the reply: the server's own token counts, the time to first token, the speed.
    const served = e.server.completions.at(-1)!;
    const stats = lastAssistant(frame).getByLabel('Reply stats');
    await stats.waitFor({ timeout: 10_000 });
    const statsText = await stats.innerText();
    assert.match(statsText, /first token \d/);
    assert.match(statsText, /tokens\/s/);
    assert.ok(statsText.includes(`${served.usage!.prompt_tokens} prompt`), statsText);
    assert.ok(statsText.includes(`${served.usage!.completion_tokens} reply tokens`), statsText);
    assert.ok(statsText.includes(otherModel), statsText);
    assert.match(statsText, /temperature 1\.3/);

    await e.vs.screenshot('sandbox-settings-panel');

    // What was sent: the reply's own request, opened in the Markdown preview, as the server got it.
    await lastAssistant(frame).getByRole('button', { name: 'What was sent' }).click();
    const sentMessages = (body(e)['messages'] as { content: string }[]).map((m) => m.content);
    const preview = await waitUntil('the "What was sent" preview', 20_000, async () => {
      for (const f of page.frames()) {
        if (f === frame || f.isDetached()) continue;
        const text = await f.evaluate('document.body ? document.body.innerText : ""').catch(() => '');
        if (typeof text === 'string' && text.includes('Messages, exactly as sent')) return { f, text };
      }
      return undefined;
    });
    assert.ok(preview.text.includes(otherModel), 'the model is not in the record');
    assert.match(preview.text, /Temperature: 1\.3/);
    assert.ok(preview.text.includes('Which model are you?'), 'the message sent is not in the record');
    assert.ok(preview.text.includes(sentMessages[0]!.split('\n')[0]!), 'the system prompt is not in the record');
    assert.match(preview.text, /Raw request \(JSON\)/);
    await e.vs.screenshot('sandbox-what-was-sent');

    // A new chat starts without overrides: the persona's temperature, the loaded model.
    await frame.getByRole('button', { name: 'New chat' }).click();
    await waitUntil('a new chat', 10_000, async () => (await shownMessages(frame)).length === 1);
    await openSettings(frame);
    await waitUntil("the persona's temperature back in the panel", 10_000, async () => (await temperature.inputValue()) === String(personaTemperature));
    assert.equal((await row.locator('.setting-origin').innerText()).trim(), 'from the persona');
    const next = e.server.completions.length;
    await sendMessage(frame, 'And now?');
    await waitForReply(frame, e.server, next + 1);
    assert.equal(body(e)['temperature'], personaTemperature);
    assert.equal(body(e)['model'], 'fake-llm-7b');
  });
});

test('Persona: Select Model… from the palette sets the model of the current chat; Persona: Show What Was Sent opens its request', async () => {
  const e = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'sandbox-palette-model', async () => {
    const frame = await e.view();
    await e.vs.runCommand('Persona: Select Model…');
    await pickerLabels(page);
    await choose(page, otherModel);
    await frame.getByRole('button', { name: 'Select model' }).filter({ hasText: otherModel }).waitFor({ timeout: 10_000 });
    const done = e.server.completions.length;
    await sendMessage(frame, 'Hello?');
    await waitForReply(frame, e.server, done + 1);
    assert.equal(body(e)['model'], otherModel);

    // The palette's Show What Was Sent opens the latest reply's request.
    await e.vs.runCommand('Persona: Show What Was Sent');
    const preview = await waitUntil('the latest reply\'s "What was sent"', 20_000, async () => {
      for (const f of page.frames()) {
        if (f === frame || f.isDetached()) continue;
        const text = await f.evaluate('document.body ? document.body.innerText : ""').catch(() => '');
        if (typeof text === 'string' && text.includes('Messages, exactly as sent') && text.includes('Hello?')) return text;
      }
      return undefined;
    });
    assert.ok(preview.includes(otherModel), 'the model of the latest request is not in the record');
  });
});

test('save the chat settings as a preset from the panel, then apply it to a new chat: the request carries it', async () => {
  const e = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'sandbox-presets', async () => {
    const frame = await e.view();
    await openSettings(frame);
    const temperature = frame.getByRole('textbox', { name: 'Temperature', exact: true });
    const row = frame.locator('.setting-row[data-setting="temperature"]');
    await temperature.fill('0.33');
    await temperature.press('Enter');
    await waitUntil('the temperature to come from this chat', 10_000, async () => (await row.locator('.setting-origin').innerText()).trim() === 'from this chat');

    await frame.getByRole('button', { name: 'Save as preset' }).click();
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill('Calm and steady');
    await input.press('Enter');
    await page.locator('.notifications-toasts', { hasText: 'Saved the preset "Calm and steady"' }).waitFor({ timeout: 10_000 });

    await frame.getByRole('button', { name: 'New chat' }).click();
    await waitUntil('a new chat', 10_000, async () => (await shownMessages(frame)).length === 1);
    await openSettings(frame);
    await waitUntil('the persona temperature again', 10_000, async () => (await row.locator('.setting-origin').innerText()).trim() === 'from the persona');
    await frame.getByRole('button', { name: 'Apply preset' }).click();
    const labels = await pickerLabels(page);
    for (const shipped of ['Precise', 'Balanced', 'Creative', 'Calm and steady']) assert.ok(labels.some((l) => l.includes(shipped)), `${shipped} is not offered: ${labels.join(' | ')}`);
    await choose(page, 'Calm and steady');
    await choose(page, 'This chat');
    await waitUntil('the preset temperature in the panel', 10_000, async () => (await temperature.inputValue()) === '0.33');
    assert.equal((await row.locator('.setting-origin').innerText()).trim(), 'from this chat');

    const done = e.server.completions.length;
    await sendMessage(frame, 'Calmly now.');
    await waitForReply(frame, e.server, done + 1);
    assert.equal(body(e)['temperature'], 0.33);
  });
});

test('Persona: Set Default Model… sets the model of every chat in your settings', async () => {
  const e = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'sandbox-default-model', async () => {
    const frame = await e.view();
    await e.vs.runCommand('Persona: Set Default Model…');
    await pickerLabels(page);
    await choose(page, otherModel);
    await page.locator('.notifications-toasts', { hasText: `Every chat now uses ${otherModel}` }).waitFor({ timeout: 10_000 });
    await frame.getByRole('button', { name: 'New chat' }).click();
    await waitUntil('a new chat', 10_000, async () => (await shownMessages(frame)).length === 1);
    await openSettings(frame);
    const origin = frame.locator('.setting-row', { has: frame.getByRole('button', { name: 'Model', exact: true }) }).locator('.setting-origin');
    await waitUntil('the model to come from your settings', 10_000, async () => (await origin.innerText()).trim() === 'from your settings');
    const done = e.server.completions.length;
    await sendMessage(frame, 'Default?');
    await waitForReply(frame, e.server, done + 1);
    assert.equal(body(e)['model'], otherModel);
  });
});

test('Compare: one message to this chat and the Creative preset, side by side; keeping reply B puts it in the chat, which goes on with it', async () => {
  const e = started();
  const page = e.vs.page;
  await captureOnFailure(e.vs, 'sandbox-compare', async () => {
    const frame = await e.view();
    await frame.getByRole('button', { name: 'New chat' }).click();
    await waitUntil('a new chat', 10_000, async () => (await shownMessages(frame)).length === 1);
    e.server.setReply((request) => `Reply at temperature ${(request.body as { temperature?: number }).temperature}.`, { tokenDelayMs: 20 });
    await openSettings(frame);
    await frame.getByRole('button', { name: 'Compare' }).click();
    await pickerLabels(page);
    await choose(page, 'Preset: Creative');
    // The picker's box becomes the message box: wait for the message box itself, and for the text to
    // stay in it (filled while the picker was still closing, it was cleared: CI r2 sent an empty message).
    const input = page.locator('.quick-input-widget .quick-input-box input[placeholder="Your message"]');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await waitUntil('the message in the Compare box', 10_000, async () => {
      if ((await input.inputValue()) !== 'Tell me a short story.') await input.fill('Tell me a short story.');
      return (await input.inputValue()) === 'Tell me a short story.';
    });
    // Counted before Enter: under load the first of the two requests can reach the server before the next line runs.
    const before = e.server.completions.length;
    await input.press('Enter');

    const panel = await waitUntil('the Compare panel', 20_000, async () => {
      for (const f of page.frames()) {
        if (f.isDetached()) continue;
        if ((await f.locator('main.compare').count().catch(() => 0)) > 0) return f;
      }
      return undefined;
    });
    const keepB = panel.getByRole('button', { name: 'Keep reply B' });
    await waitUntil('both replies to finish', 20_000, async () => (await keepB.isEnabled().catch(() => false)) && (await panel.getByRole('button', { name: 'Keep reply A' }).isEnabled()));
    assert.equal(e.server.completions.length, before + 2);
    const [a, b] = e.server.completions.slice(-2);
    assert.ok(a!.endedAt! <= b!.receivedAt, 'the two requests overlapped');
    const [bodyA, bodyB] = e.server.chatRequests.slice(-2).map((r) => r.body as { temperature?: number; messages: unknown[] });
    assert.equal(bodyB!.temperature, 1.1, "the Creative preset's temperature");
    assert.deepEqual(bodyA!.messages, bodyB!.messages);
    const columnB = panel.getByRole('region', { name: /^Reply B/ });
    assert.equal((await columnB.locator('.message-content').innerText()).trim(), b!.textSent);
    assert.match(await columnB.getByLabel('Reply stats').innerText(), /first token/);
    await e.vs.screenshot('sandbox-compare');

    await keepB.click();
    await panel.getByRole('status').filter({ hasText: 'Reply B is in the chat now' }).waitFor({ timeout: 10_000 });
    await waitUntil('the kept reply in the chat', 10_000, async () => {
      const shown = await shownMessages(frame);
      return shown.length === 3 && shown[1]?.text === 'Tell me a short story.' && shown[2]?.text === b!.textSent;
    });
    const done = e.server.completions.length;
    await sendMessage(frame, 'Go on.');
    await waitForReply(frame, e.server, done + 1);
    assert.equal(body(e)['temperature'], 1.1, 'the chat did not go on with the kept set-up');
  });
});
