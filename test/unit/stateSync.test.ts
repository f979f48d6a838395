// The host sends the webview only what changed (ViewStateTracker); the webview rebuilds the state
// from that (ChatStore). Whatever happens to the conversation, what the webview ends up with must
// equal the host's full state, and a reply's text must not travel twice.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Conversation, Message } from '../../src/shared/conversation';
import { ChatProtocol, Notifications, type ViewState } from '../../src/shared/chatProtocol';
import { makeNotification } from '../../src/shared/rpc';
import { resolveSettings } from '../../src/chat/effectiveSettings';
import { resolveMemoryDials } from '../../src/shared/memoryDials';
import { ViewStateTracker } from '../../src/chat/stateDiff';
import { ChatStore } from '../../src/webview/chat/chatStore';

// The store batches renders per animation frame; here a frame is a macrotask.
const g = globalThis as unknown as { requestAnimationFrame: (cb: () => void) => number; cancelAnimationFrame: (id: number) => void };
g.requestAnimationFrame = (cb) => setTimeout(cb, 0) as unknown as number;
g.cancelAnimationFrame = (id) => clearTimeout(id);

let n = 0;
const message = (role: 'user' | 'assistant', content: string, extra: Partial<Message> = {}): Message => ({ id: `m${++n}`, role, content, createdAt: n, status: 'complete', ...extra });

function baseState(conversation: Conversation | null): ViewState {
  return {
    personas: [{ id: 'sam', name: 'Sam', description: 'friend', icon: '😊', builtIn: true }],
    activePersonaId: 'sam',
    conversations: [],
    conversation,
    streaming: null,
    connection: { status: 'ok', provider: 'local', baseUrl: 'http://127.0.0.1:1234/v1' },
    memory: { status: 'empty' },
    settings: resolveSettings({ settings: {}, persona: {}, chat: undefined }),
    memoryDials: resolveMemoryDials({ settings: {}, persona: {}, chat: undefined }),
  };
}

/** Host and webview wired through the real wire format (JSON) and the real validation. */
function link(initial: ViewState) {
  const tracker = new ViewStateTracker();
  let resyncs = 0;
  const store = new ChatStore(() => resyncs++);
  store.setState(structuredClone(tracker.sentFull(initial)));
  const wire: string[] = [];
  const deliver = (notification: unknown) => {
    const text = JSON.stringify(notification);
    wire.push(text);
    const parsed = ChatProtocol.parseHostMessage(JSON.parse(text));
    assert.ok(parsed.ok, `valid on the wire: ${text.slice(0, 200)}`);
    assert.equal(parsed.value.kind, 'notification');
    if (parsed.value.kind === 'notification') store.handle(parsed.value);
  };
  return {
    store,
    tracker,
    wire,
    resyncs: () => resyncs,
    push(state: ViewState) {
      deliver(makeNotification(Notifications.state, tracker.update(structuredClone(state))));
    },
    delta(stream: number, messageId: string, offset: number, text: string) {
      deliver(makeNotification(Notifications.delta, [stream, offset, text]));
      tracker.sentDelta(messageId, offset + text.length);
    },
  };
}

describe('state sync between host and webview', () => {
  it('a whole reply: the webview ends with the host state, and the reply text crosses once', async () => {
    const conversation: Conversation = { schemaVersion: 1, id: 'c1', title: 'New chat', personaId: 'sam', createdAt: 1, updatedAt: 1, messages: [message('assistant', 'Hi!', { greeting: true })] };
    const state = baseState(conversation);
    const wv = link(state);

    const user = message('user', 'Tell me a story');
    const reply = message('assistant', '', { status: 'streaming' });
    conversation.messages.push(user, reply);
    conversation.title = 'Tell me a story';
    state.streaming = { conversationId: 'c1', messageId: reply.id, stream: 1 };
    wv.push(state);

    const words = Array.from({ length: 200 }, (_, i) => `word${i} `);
    for (const w of words) {
      const offset = reply.content.length;
      reply.content += w;
      wv.delta(1, reply.id, offset, w);
    }
    reply.status = 'complete';
    reply.usage = { promptTokens: 10, completionTokens: 200 };
    state.streaming = null;
    conversation.updatedAt = 2;
    wv.push(state);
    await new Promise((r) => setTimeout(r, 5));

    assert.deepEqual(wv.store.state, state);
    assert.equal(wv.resyncs(), 0);
    const bytes = wv.wire.reduce((a, t) => a + t.length, 0);
    const text = words.join('').length;
    const stateBytes = wv.wire.filter((t) => t.includes('state/changed')).reduce((a, t) => a + t.length, 0);
    assert.ok(!wv.wire.at(-1)!.includes('word199'), 'the final state does not carry the reply text again');
    assert.ok(stateBytes < 1500, `state updates are small (${stateBytes} bytes)`);
    assert.ok(bytes < text * 2 + 1500 + words.length * 40, `traffic ${bytes} bytes for ${text} characters`);
  });

  it('regenerate, edit-and-resend and switching conversations all land on the host state', () => {
    const a: Conversation = { schemaVersion: 1, id: 'a', title: 'A', personaId: 'sam', createdAt: 1, updatedAt: 1, messages: [message('assistant', 'Hi', { greeting: true }), message('user', 'q1'), message('assistant', 'a1'), message('user', 'q2'), message('assistant', 'a2')] };
    const state = baseState(a);
    const wv = link(state);

    a.messages.pop(); // regenerate: the last reply goes, a new one comes
    a.messages.push(message('assistant', 'a2 again'));
    wv.push(state);
    assert.deepEqual(wv.store.state, state);

    a.messages.splice(2); // edit the first question: everything after it goes
    a.messages[1] = { ...a.messages[1]!, content: 'q1, edited', createdAt: 99 };
    a.messages.push(message('assistant', 'answer to the edit'));
    wv.push(state);
    assert.deepEqual(wv.store.state, state);

    const b: Conversation = { schemaVersion: 1, id: 'b', title: 'B', personaId: 'sam', createdAt: 5, updatedAt: 5, messages: [message('assistant', 'Hello', { greeting: true })] };
    state.conversation = b;
    state.conversations = [{ id: 'a', title: 'A', personaId: 'sam', updatedAt: 1, messageCount: 4 }];
    wv.push(state);
    assert.deepEqual(wv.store.state, state);
    assert.ok(wv.wire.at(-1)!.includes('"full"'), 'another conversation goes whole');

    b.title = 'Renamed';
    wv.push(state);
    assert.deepEqual(wv.store.state, state);
    assert.ok(!wv.wire.at(-1)!.includes('"conversations"'), 'an unchanged list is left out');

    state.conversation = null;
    wv.push(state);
    assert.deepEqual(wv.store.state, state);
    assert.equal(wv.resyncs(), 0);
  });

  it('a delta that overlaps what the state already holds is not applied twice; a gap asks for the whole state', async () => {
    const reply = message('assistant', 'Hello wor', { status: 'streaming' });
    const conversation: Conversation = { schemaVersion: 1, id: 'c', title: 't', personaId: 'sam', createdAt: 1, updatedAt: 1, messages: [message('user', 'hi'), reply] };
    const state = { ...baseState(conversation), streaming: { conversationId: 'c', messageId: reply.id, stream: 7 } };
    const wv = link(state);
    wv.delta(7, reply.id, 6, 'world!'); // overlaps "wor"
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(wv.store.stream?.text, 'Hello world!');
    wv.delta(7, reply.id, 40, 'lost text before this');
    assert.equal(wv.resyncs(), 1);
    assert.equal(wv.store.stream?.text, 'Hello world!');
  });

  it('a delta that arrives before the state announcing its stream is kept until then', async () => {
    const conversation: Conversation = { schemaVersion: 1, id: 'c', title: 't', personaId: 'sam', createdAt: 1, updatedAt: 1, messages: [message('user', 'hi')] };
    const state = baseState(conversation);
    const wv = link(state);
    const reply = message('assistant', '', { status: 'streaming' });
    wv.delta(2, reply.id, 0, 'Early ');
    conversation.messages.push(reply);
    state.streaming = { conversationId: 'c', messageId: reply.id, stream: 2 };
    wv.push(state);
    wv.delta(2, reply.id, 6, 'bird');
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(wv.store.stream?.text, 'Early bird');
  });

  it('a long chat is sent as its last messages; earlier pages, patches, a change above what the view holds and a message to reveal all land on the host state', () => {
    const long: Conversation = { schemaVersion: 1, id: 'long', title: 'Long', personaId: 'sam', createdAt: 0, updatedAt: 0, messages: [] };
    for (let i = 0; i < 350; i++) long.messages.push(message(i % 2 ? 'user' : 'assistant', `text ${i}`));
    const { store, tracker, push } = link(baseState(long));
    const held = () => store.state!.conversation!;
    const expectTail = (from: number, what: string) => {
      assert.deepEqual(held().messages, long.messages.slice(from), what);
      assert.equal(held().earlier, from === 0 ? undefined : from, `${what}: earlier`);
    };
    expectTail(250, 'opened: the last 100');

    // Pages before: the view puts them first.
    store.prependEarlier('long', structuredClone(tracker.earlier(long, 100)));
    expectTail(150, 'a page before');

    // A new message: a patch of the end, the pages held are kept.
    long.messages.push(message('user', 'one more'));
    push(baseState(long));
    expectTail(150, 'after a message');

    // A change above what the view holds (another branch shown far up): the last messages, whole.
    long.messages.splice(100, long.messages.length - 100, ...Array.from({ length: 120 }, (_, i) => message('assistant', `other ${i}`)));
    push(baseState(long));
    expectTail(120, 'another path');
    assert.equal(tracker.earlier({ ...long, id: 'another-chat' }, 10), null, 'a page of a chat the view does not hold');

    // A message to reveal far up: the view holds from a little above it.
    tracker.hold(60);
    push(baseState(long));
    expectTail(35, 'a message to reveal');
    tracker.hold(3);
    push(baseState(long));
    expectTail(0, 'near the start');
    store.prependEarlier('long', structuredClone(tracker.earlier(long, 100)));
    expectTail(0, 'nothing before the start');
  });
});
