// Named endpoints from the user settings: chosen with Persona: Select Chat Server…, their key set
// with Persona: Set API Key for an Endpoint… and sent only to them; LM Studio gets nothing meanwhile,
// and switching back sends LM Studio no key.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';
import { captureOnFailure, waitUntil } from './harness';
import { sendMessage, startChatE2e, waitForReply, type ChatE2e } from './chatView';

const KEY = `team-key-${Math.random().toString(36).slice(2)}`;
let e2e: ChatE2e | undefined;
let team: FakeOpenAiServer;

before(async () => {
  team = await startFakeOpenAiServer({ apiKey: KEY, nativeApi: false, reply: 'From the team server.', models: [{ id: 'team-model', type: 'llm', state: 'loaded' }] });
  e2e = await startChatE2e({
    label: 'endpoints',
    server: { reply: 'From LM Studio.' },
    settings: { 'persona.endpoints': [{ name: 'Team vLLM', baseUrl: team.url, model: 'team-model', extendedSampling: true }] },
  });
  await e2e.view();
});

after(async () => {
  await e2e?.stop();
  await team?.close();
});

test('pick a named endpoint, set its key: messages go there with its key and its own sampling fields; back to LM Studio, no key goes there', async () => {
  assert.ok(e2e);
  const { vs, server } = e2e;
  const page = vs.page;
  await captureOnFailure(vs, 'endpoints', async () => {
    const frame = await e2e!.view();
    await vs.runCommand('Persona: Select Chat Server…');
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill('Team vLLM');
    await waitUntil('the picker to focus Team vLLM', 10_000, async () => (await page.locator('.quick-input-list .monaco-list-row.focused .label-name').first().innerText({ timeout: 1000 })).includes('Team vLLM'));
    await page.keyboard.press('Enter');

    // Without its key the team server refuses; the view says so.
    await waitUntil('the view to name the endpoint', 20_000, async () => /Team vLLM/.test((await frame.locator('.connection-banner').innerText({ timeout: 1000 }).catch(() => '')) ?? ''));

    await vs.runCommand('Persona: Set API Key for an Endpoint…');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill('Team vLLM');
    await waitUntil('the endpoint picker to focus Team vLLM', 10_000, async () => (await page.locator('.quick-input-list .monaco-list-row.focused .label-name').first().innerText({ timeout: 1000 })).includes('Team vLLM'));
    await page.keyboard.press('Enter');
    const password = page.locator('.quick-input-widget input[type="password"]');
    await password.waitFor({ timeout: 10_000 });
    await password.fill(KEY);
    await password.press('Enter');
    await frame.locator('.connection-banner').waitFor({ state: 'detached', timeout: 20_000 });

    // Top K goes to this endpoint: it says it takes it.
    await frame.getByRole('button', { name: 'Chat settings' }).click();
    const topK = frame.getByRole('textbox', { name: 'Top K', exact: true });
    await topK.fill('25');
    await topK.press('Enter');
    await waitUntil('top K from this chat', 10_000, async () => (await frame.locator('.setting-row[data-setting="topK"] .setting-origin').innerText()).trim() === 'from this chat');
    assert.equal(await frame.locator('.setting-row[data-setting="topK"] .setting-note').count(), 0, 'top K is said not to be sent');

    const lmStudioChats = server.chatRequests.length;
    await sendMessage(frame, 'Who answers?');
    await team.waitFor(() => team.completions.some((c) => c.outcome === 'completed'), 20_000);
    const request = team.chatRequests.at(-1)!;
    assert.equal(request.headers.authorization, `Bearer ${KEY}`);
    assert.equal((request.body as { model: string }).model, 'team-model');
    assert.equal((request.body as { top_k?: number }).top_k, 25);
    assert.equal(server.chatRequests.length, lmStudioChats, 'LM Studio got the message too');
    assert.ok(!readFileSync(join(vs.dirs.userData, 'User', 'settings.json'), 'utf8').includes(KEY), 'the key is in settings.json');

    // Back to LM Studio: no key goes there.
    await vs.runCommand('Persona: Select Chat Server…');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill('LM Studio');
    await waitUntil('the picker to focus LM Studio', 10_000, async () => (await page.locator('.quick-input-list .monaco-list-row.focused .label-name').first().innerText({ timeout: 1000 })).includes('LM Studio'));
    await page.keyboard.press('Enter');
    await frame.getByRole('button', { name: 'Select model' }).filter({ hasText: 'fake-llm-7b' }).waitFor({ timeout: 20_000 });
    const done = server.completions.length;
    await sendMessage(frame, 'And now?');
    await waitForReply(frame, server, done + 1);
    assert.equal(server.chatRequests.at(-1)!.headers.authorization ?? 'Bearer not-needed', 'Bearer not-needed', 'a key went to LM Studio');
  });
});
