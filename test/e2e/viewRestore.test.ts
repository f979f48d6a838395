// The view keeps no state of its own that matters: hidden (another side bar shown) and shown again,
// it gets the whole state back from the host, the unsent draft from VS Code's webview state, and a
// reply that kept streaming while it was hidden.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';
import { captureOnFailure, defaultVsixPath, messageInput, openPersonaView, startVsCode, waitUntil, type VsCode } from './harness';

let vs: VsCode;
let server: FakeOpenAiServer;

before(async () => {
  server = await startFakeOpenAiServer();
  vs = await startVsCode({ vsixPath: defaultVsixPath, label: 'view-restore', settings: { 'persona.chat.baseUrl': server.url } });
});

after(async () => {
  await vs?.stop();
  await server?.close();
});

async function showExplorer(): Promise<void> {
  await vs.page.locator('.part.activitybar [aria-label^="Explorer"]').first().click();
  await vs.page.locator('.part.sidebar .explorer-folders-view, .part.sidebar .explorer-viewlet').first().waitFor({ timeout: 10_000 });
}

test('hidden while a reply streams and shown again: the reply is complete, the draft is still there', async () => {
  await captureOnFailure(vs, 'view-restore', async () => {
    const words = Array.from({ length: 120 }, (_, i) => `word${i}`);
    server.setReply({ text: words.join(' '), tokenDelayMs: 15 });
    let frame = await openPersonaView(vs.page);
    await frame.locator(messageInput).fill('Tell me something long');
    await frame.locator(messageInput).press('Enter');
    await server.waitFor(() => (server.completions.at(-1)?.tokensSent ?? 0) > 10, 10_000);

    await frame.locator(messageInput).fill('a draft I have not sent');
    await showExplorer();
    // The reply finishes while nobody is looking.
    await server.waitFor(() => server.completions.at(-1)?.outcome === 'completed' || undefined, 20_000);

    frame = await openPersonaView(vs.page);
    const reply = frame.locator('.message[data-role="assistant"]').last();
    await waitUntil('the restored reply to be complete', 10_000, async () => (await reply.getAttribute('data-status')) === 'complete');
    assert.equal((await reply.locator('.message-content').innerText()).trim(), server.completions.at(-1)!.textSent.trim());
    assert.equal(await frame.locator(messageInput).inputValue(), 'a draft I have not sent');
    assert.equal(await frame.locator('.message[data-role="user"] .message-content').last().innerText(), 'Tell me something long');
  });
});
