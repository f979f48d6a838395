// The server is down: with persona.chat.baseUrl pointing at a closed port (changed in the running
// VS Code's settings.json), the webview shows a banner naming the URL with a Retry button; Retry
// and pointing back at a live server clear it.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';
import { captureOnFailure, waitUntil } from './harness';
import { lastAssistant, requestMessages, sendMessage, shownMessages, startChatE2e, updateUserSettings, waitForReply, type ChatE2e } from './chatView';

let e2e: ChatE2e | undefined;
let revived: FakeOpenAiServer | undefined;

function started(): ChatE2e {
  assert.ok(e2e, 'VS Code did not start (see the before hook)');
  return e2e;
}

before(async () => {
  e2e = await startChatE2e({ label: 'connection', server: { reply: 'Live server here.' } });
  await e2e.view();
});

after(async () => {
  await e2e?.stop();
  await revived?.close();
});

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('a closed port shows a banner naming the URL; Retry once the server is up clears it and resends', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'connection-retry', async () => {
    const frame = await view();
    await sendMessage(frame, 'Hello while up');
    await waitForReply(frame, server, 1);

    const port = await closedPort();
    const downUrl = `http://127.0.0.1:${port}/v1`;
    await updateUserSettings(vs, { 'persona.chat.baseUrl': downUrl });
    const banner = frame.locator('.connection-banner');
    await banner.waitFor({ state: 'visible', timeout: 20_000 });
    assert.ok(((await banner.textContent()) ?? '').includes(downUrl), `the banner does not name ${downUrl}: ${await banner.textContent()}`);
    const retry = banner.locator('button[aria-label="Retry"]');
    assert.ok(await retry.isVisible(), 'the banner has no Retry button');

    // A message sent now fails and says so; nothing reaches the old server.
    const requestsBefore = server.requests.length;
    await sendMessage(frame, 'Are you there?');
    await waitUntil('the reply to fail', 20_000, async () => (await lastAssistant(frame).getAttribute('data-status')) === 'error');
    const error = (await lastAssistant(frame).locator('.message-error').textContent()) ?? '';
    assert.ok(error.includes(downUrl), `the failed reply does not name ${downUrl}: ${error}`);
    assert.equal(server.requests.length, requestsBefore, 'a request went to the old server');

    // The server comes up on that port; Retry checks it and answers the failed message.
    revived = await startFakeOpenAiServer({ port, reply: 'Back online.' });
    await retry.click();
    await banner.waitFor({ state: 'hidden', timeout: 20_000 });
    assert.ok(revived.requests.some((r) => r.method === 'GET' && r.path === '/v1/models'), 'Retry did not ask the server for its models');
    await waitForReply(frame, revived, 1);
    assert.deepEqual(requestMessages(revived.chatRequests.at(-1)).at(-1), { role: 'user', content: 'Are you there?' });
    const shown = await shownMessages(frame);
    assert.deepEqual(shown.slice(-2).map((m) => [m.role, m.status, m.text]), [['user', 'complete', 'Are you there?'], ['assistant', 'complete', 'Back online.']]);
  });
});

test('pointing the setting back at the live server clears the banner', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'connection-point-back', async () => {
    const frame = await view();
    const downUrl = `http://127.0.0.1:${await closedPort()}/v1`;
    await updateUserSettings(vs, { 'persona.chat.baseUrl': downUrl });
    const banner = frame.locator('.connection-banner');
    await waitUntil(`the banner to name ${downUrl}`, 20_000, async () => ((await banner.textContent({ timeout: 1000 })) ?? '').includes(downUrl));

    const modelChecksBefore = server.requests.filter((r) => r.path === '/v1/models').length;
    await updateUserSettings(vs, { 'persona.chat.baseUrl': server.url });
    await banner.waitFor({ state: 'hidden', timeout: 20_000 });
    // The banner goes as soon as the setting changes (the state is 'unknown' until the check ends):
    // the check is over once the status line names the model the live server reported (the model
    // known before was dropped with the change), and only then is its request sure to be in.
    const model = server.getModels().find((m) => m.state === 'loaded' && m.type !== 'embeddings')?.id;
    assert.ok(model);
    await frame.locator('.connection-status', { hasText: model }).waitFor({ state: 'visible', timeout: 10_000 });
    assert.ok(server.requests.filter((r) => r.path === '/v1/models').length > modelChecksBefore, 'the live server was not asked again');

    const done = server.completions.length;
    await sendMessage(frame, 'Still there?');
    await waitForReply(frame, server, done + 1);
    assert.equal((await shownMessages(frame)).at(-1)?.text, 'Live server here.');
  });
});
