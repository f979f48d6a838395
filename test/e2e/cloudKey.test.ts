// The cloud provider's key: set through the command palette, kept in VS Code's secret storage,
// sent as a Bearer token to the endpoint, and never written to settings or logs.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';
import { updateUserSettings } from './chatView';
import { captureOnFailure, defaultVsixPath, openPersonaView, startVsCode, waitUntil, type VsCode } from './harness';

const KEY = `sk-test-${Math.random().toString(36).slice(2)}-secret`;
let vs: VsCode;
let cloud: FakeOpenAiServer;

before(async () => {
  cloud = await startFakeOpenAiServer({ apiKey: KEY, nativeApi: false, reply: 'Hello from the cloud.', models: [{ id: 'gpt-test', type: 'llm', state: 'loaded' }] });
  vs = await startVsCode({
    vsixPath: defaultVsixPath,
    label: 'cloud-key',
    settings: { 'persona.chat.provider': 'cloud', 'persona.cloud.baseUrl': cloud.url, 'persona.cloud.model': 'gpt-test' },
  });
});

after(async () => {
  await vs?.stop();
  await cloud?.close();
});

test('without a key the view says how to set one; with the key set by the command, the endpoint receives it as a Bearer token', async () => {
  await captureOnFailure(vs, 'cloud-key', async () => {
    const frame = await openPersonaView(vs.page);
    const banner = frame.locator('.connection-banner');
    await banner.waitFor({ timeout: 20_000 });
    assert.match(await banner.innerText(), /Set API Key/);
    assert.equal(cloud.chatRequests.length, 0);

    await vs.runCommand('Persona: Set API Key for Cloud Provider…');
    const input = vs.page.locator('.quick-input-widget input[type="password"]');
    await input.waitFor({ timeout: 10_000 });
    await input.fill(KEY);
    await input.press('Enter');
    // A new key makes the view check the connection again: the banner goes.
    await banner.waitFor({ state: 'detached', timeout: 20_000 });

    const box = frame.locator('textarea[aria-label="Message"]');
    await box.fill('Hi there');
    await box.press('Enter');
    await frame.locator('.message[data-role="assistant"][data-status="complete"]').nth(1).waitFor({ timeout: 20_000 });
    const request = cloud.chatRequests.at(-1)!;
    assert.equal(request.headers.authorization, `Bearer ${KEY}`);
    assert.equal((request.body as { model: string }).model, 'gpt-test');
    assert.equal(await frame.locator('.message[data-role="assistant"] .message-content').nth(1).innerText(), 'Hello from the cloud.');

    // The key is in secret storage only: not in settings, not in any log VS Code or Persona wrote.
    const settings = readFileSync(join(vs.dirs.userData, 'User', 'settings.json'), 'utf8');
    assert.ok(!settings.includes(KEY), 'settings.json does not hold the key');
    const logs = await waitUntil('Persona to log that a key was set', 10_000, () => {
      const text = vs.logs();
      return text.includes('cloud API key was set') ? text : undefined;
    });
    assert.ok(!logs.includes(KEY), 'no log holds the key');
  });
});

test("a workspace's settings cannot point the cloud endpoint elsewhere: the key goes only where the person's own settings say", async () => {
  // Runs after the key was set above. A cloned repository's .vscode/settings.json names its own server.
  const attacker = await startFakeOpenAiServer({ nativeApi: false, models: [{ id: 'gpt-test', type: 'llm', state: 'loaded' }] });
  try {
    await captureOnFailure(vs, 'cloud-key-workspace-settings', async () => {
      mkdirSync(join(vs.dirs.workspace, '.vscode'), { recursive: true });
      writeFileSync(
        join(vs.dirs.workspace, '.vscode', 'settings.json'),
        JSON.stringify({ 'persona.chat.provider': 'cloud', 'persona.cloud.baseUrl': attacker.url, 'persona.embeddings.baseUrl': attacker.url }),
      );
      const checksBefore = cloud.requests.length;
      // A window opened on that workspace: the view checks the connection at once.
      await vs.reload();
      const frame = await openPersonaView(vs.page);
      await waitUntil('the view to check the connection with the endpoint of the user settings', 30_000, () => cloud.requests.length > checksBefore || undefined);
      const box = frame.locator('textarea[aria-label="Message"]');
      await box.fill('Still there?');
      await box.press('Enter');
      await waitUntil('the reply from the user-configured endpoint', 20_000, () => cloud.chatRequests.length >= 2 || undefined);
      assert.equal(attacker.requests.length, 0, `the workspace's server received ${attacker.requests.map((r) => r.path).join(', ')}`);
    });
  } finally {
    await attacker.close();
  }
});

test('the key goes only to the server it was saved for: pointing the settings at another one asks for a key for it', async () => {
  const other = await startFakeOpenAiServer({ nativeApi: false, models: [{ id: 'gpt-test', type: 'llm', state: 'loaded' }] });
  try {
    await captureOnFailure(vs, 'cloud-key-other-origin', async () => {
      const frame = await openPersonaView(vs.page);
      // The person pastes another endpoint into their own settings.
      await updateUserSettings(vs, { 'persona.cloud.baseUrl': other.url });
      const banner = frame.locator('.connection-banner');
      await banner.waitFor({ timeout: 20_000 });
      const text = await banner.innerText();
      assert.match(text, /was saved for http:\/\/127\.0\.0\.1:\d+, so Persona does not send it to http:\/\/127\.0\.0\.1:\d+/);
      assert.match(text, /Set API Key/);
      assert.equal(other.requests.length, 0, 'the other server received nothing, and no key');
    });
  } finally {
    await updateUserSettings(vs, { 'persona.cloud.baseUrl': cloud.url });
    await other.close();
  }
});
