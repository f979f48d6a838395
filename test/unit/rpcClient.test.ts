// The webview's one client: each request waits as its declaration says (a timeout, or as long as a
// person takes with a dialog), answers are checked against their schema, and a message from the host
// that does not match the protocol never reaches the app.
import assert from 'node:assert/strict';
import { before, it, mock } from 'node:test';
import { Window } from 'happy-dom';
import { ChatProtocol, Notifications, Requests } from '../../src/shared/chatProtocol';
import { makeNotification } from '../../src/shared/rpc';

const window = new Window({ url: 'https://webview.invalid/' });
const posted: { id: number; method: string }[] = [];
const g = globalThis as Record<string, unknown>;

type Client = typeof import('../../src/webview/common/rpcClient');
const makeClient = (client: Client) => new client.RpcClient(ChatProtocol);
let rpc: ReturnType<typeof makeClient>;
let RequestError: Client['RequestError'];

before(async () => {
  g.window = window;
  g.acquireVsCodeApi = () => ({ postMessage: (m: { id: number; method: string }) => posted.push(m), getState: () => undefined, setState: () => undefined });
  // One client, as a webview has: it listens to the window from its construction.
  const client = await import('../../src/webview/common/rpcClient');
  rpc = makeClient(client);
  RequestError = client.RequestError;
});

function fromHost(data: unknown): void {
  window.dispatchEvent(new window.MessageEvent('message', { data }));
}

it('times out a quick request, never one that waits on a person', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const stop = rpc.request(Requests.stop, {});
    const del = rpc.request(Requests.deleteConversation, { id: 'c1' });
    let deleted = false;
    void del.then(() => (deleted = true));
    mock.timers.tick(31_000);
    await assert.rejects(stop, (e) => RequestError.is(e, 'timeout'));
    mock.timers.tick(10 * 60_000);
    await Promise.resolve();
    assert.equal(deleted, false, 'the confirmation is still open');
    fromHost({ id: posted.at(-1)!.id, ok: true, result: null });
    await del;
    assert.equal(deleted, true);
  } finally {
    mock.timers.reset();
  }
});

it('rejects an answer that does not match the request, and passes the host’s error with its reason', async () => {
  const send = rpc.request(Requests.send, { text: 'hi' });
  fromHost({ id: posted.at(-1)!.id, ok: true, result: { messageId: 42 } });
  await assert.rejects(send, (e) => RequestError.is(e, 'invalidMessage'));
  const select = rpc.request(Requests.selectPersona, { id: 'gone' });
  fromHost({ id: posted.at(-1)!.id, ok: false, error: { message: 'There is no persona "gone" any more.', reason: 'unknownPersona' } });
  await assert.rejects(select, (e) => RequestError.is(e, 'unknownPersona') && /no persona "gone"/.test((e as Error).message));
});

it('hands the app only notifications that match the protocol', async () => {
  const seen: unknown[] = [];
  rpc.onNotification((n) => seen.push(n));
  const warn = mock.method(console, 'warn', () => undefined);
  try {
    fromHost({ method: 'chat/delta', params: { text: 'not a tuple' } });
    fromHost({ method: 'eval', params: 'alert(1)' });
    fromHost(makeNotification(Notifications.delta, [1, 0, 'Hi']));
  } finally {
    warn.mock.restore();
  }
  assert.deepEqual(seen, [{ method: 'chat/delta', params: [1, 0, 'Hi'] }]);
  assert.equal(warn.mock.callCount(), 2, 'each dropped message is said in the console');
});
