import { resolveSettings } from '../../src/chat/effectiveSettings';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChatProtocol, Notifications, Requests } from '../../src/shared/chatProtocol';
import { makeNotification, makeRequest } from '../../src/shared/rpc';

describe('protocol: requests from the webview', () => {
  it('accepts every declared request with valid params', () => {
    assert.deepEqual(makeRequest(Requests.send, 7, { text: 'hello' }), { id: 7, method: 'chat/send', params: { text: 'hello' } });
    const ok = ChatProtocol.parseRequest(makeRequest(Requests.send, 7, { text: 'hello' }));
    assert.deepEqual(ok, { ok: true, value: { id: 7, method: 'chat/send', params: { text: 'hello' } } });
    assert.equal(ChatProtocol.parseRequest(makeRequest(Requests.ready, 1, {})).ok, true);
    assert.equal(ChatProtocol.parseRequest(makeRequest(Requests.exportConversation, 2, { id: 'abc', format: 'json' })).ok, true);
  });

  it('rejects what is not a request at all, without an id to answer', () => {
    for (const raw of [null, undefined, 42, 'chat/send', [], {}, { method: 'chat/send', params: { text: 'no id' } }, { id: -1, method: 'chat/send', params: {} }, { id: 1.5, method: 'x', params: {} }]) {
      const r = ChatProtocol.parseRequest(raw);
      assert.equal(r.ok, false, JSON.stringify(raw));
      if (!r.ok) assert.equal(r.id, undefined);
    }
  });

  it('rejects an unknown method and bad params, keeping the id so the host can answer', () => {
    const unknown = ChatProtocol.parseRequest({ id: 3, method: 'fs/readFile', params: { path: '/etc/passwd' } });
    assert.deepEqual(unknown, { ok: false, id: 3, error: 'unknown method "fs/readFile"' });

    const cases: unknown[] = [
      { text: '' },
      { text: 5 },
      {},
      { text: 'x'.repeat(200_001) },
    ];
    for (const params of cases) {
      const r = ChatProtocol.parseRequest({ id: 9, method: 'chat/send', params });
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.id, 9);
        assert.match(r.error, /^invalid params for chat\/send/);
      }
    }
    const badFormat = ChatProtocol.parseRequest({ id: 4, method: 'conversation/export', params: { id: 'a', format: 'html' } });
    assert.equal(badFormat.ok, false);
    const badRename = ChatProtocol.parseRequest({ id: 5, method: 'conversation/rename', params: { id: 'a', title: '   ' } });
    assert.equal(badRename.ok, false, 'a blank title is rejected after trimming');
  });
});

describe('protocol: messages from the host', () => {
  it('accepts responses and declared notifications', () => {
    assert.deepEqual(ChatProtocol.parseHostMessage({ id: 1, ok: true, result: null }), { ok: true, value: { kind: 'response', id: 1, ok: true, result: null } });
    const err = ChatProtocol.parseHostMessage({ id: 2, ok: false, error: { message: 'nope' } });
    assert.equal(err.ok, true);
    const wire = makeNotification(Notifications.delta, [3, 0, 'Hi']);
    assert.equal(JSON.stringify(wire), '{"method":"chat/delta","params":[3,0,"Hi"]}', 'a delta costs little more than its text');
    assert.deepEqual(ChatProtocol.parseHostMessage(wire), { ok: true, value: { kind: 'notification', method: 'chat/delta', params: [3, 0, 'Hi'] } });
  });

  it('drops malformed notifications and unknown ones', () => {
    assert.equal(ChatProtocol.parseHostMessage({ method: 'chat/delta', params: { text: 'x' } }).ok, false);
    assert.equal(ChatProtocol.parseHostMessage({ method: 'chat/delta', params: [1, -1, ''] }).ok, false);
    assert.equal(ChatProtocol.parseHostMessage({ method: 'chat/delta', params: [1, 0, 'x', 'extra'] }).ok, false);
    assert.equal(ChatProtocol.parseHostMessage({ method: 'eval', params: 'alert(1)' }).ok, false);
    assert.equal(ChatProtocol.parseHostMessage({ id: 1, ok: false, error: 'plain string' }).ok, false);
    assert.equal(ChatProtocol.parseHostMessage('<script>').ok, false);
  });

  it('checks a state update against its schema', () => {
    const update = {
      personas: [{ id: 'sam', name: 'Sam', description: 'd', icon: '😊', builtIn: true }],
      activePersonaId: 'sam',
      conversations: [],
      conversation: null,
      streaming: null,
      connection: { status: 'ok', provider: 'local', baseUrl: 'http://127.0.0.1:1234/v1', model: 'm' },
      memory: { status: 'ready', documents: 3 },
      settings: resolveSettings({ settings: {}, persona: { temperature: 0.7 }, chat: { temperature: 1.2 } }),
    };
    assert.equal(ChatProtocol.parseHostMessage(makeNotification(Notifications.state, update as never)).ok, true);
    assert.equal(ChatProtocol.parseHostMessage(makeNotification(Notifications.state, { ...update, memory: { status: 'maybe' } } as never)).ok, false);
    const chatTemperature = update.settings.temperature;
    assert.equal(ChatProtocol.parseHostMessage(makeNotification(Notifications.state, { ...update, settings: { ...update.settings, temperature: { ...chatTemperature, origin: 'workspace' } } } as never)).ok, false);
    const { personas: _p, conversations: _c, conversation: _v, ...minimal } = update;
    assert.equal(ChatProtocol.parseHostMessage(makeNotification(Notifications.state, minimal as never)).ok, true, 'unchanged parts may be left out');
    assert.equal(ChatProtocol.parseHostMessage(makeNotification(Notifications.state, { ...update, connection: { status: 'on fire' } } as never)).ok, false);
    const patch = { id: 'c', title: 't', personaId: 'sam', createdAt: 1, updatedAt: 2, keep: 1, tail: [{ id: 'r', role: 'assistant', createdAt: 2, status: 'complete' }] };
    assert.equal(ChatProtocol.parseHostMessage(makeNotification(Notifications.state, { ...minimal, conversation: { patch } } as never)).ok, true, 'a patch message may leave out text it already sent');
    assert.equal(ChatProtocol.parseHostMessage(makeNotification(Notifications.state, { ...minimal, conversation: { patch: { ...patch, keep: -1 } } } as never)).ok, false);
  });
});
