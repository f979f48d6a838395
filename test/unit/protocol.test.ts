import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Notifications, Requests, makeNotification, makeRequest, parseHostMessage, parseRequest } from '../../src/shared/protocol';

describe('protocol: requests from the webview', () => {
  it('accepts every declared request with valid params', () => {
    const ok = parseRequest(makeRequest(Requests.send, 7, { text: 'hello' }));
    assert.deepEqual(ok, { ok: true, value: { id: 7, method: 'chat/send', params: { text: 'hello' } } });
    assert.equal(parseRequest(makeRequest(Requests.ready, 1, {})).ok, true);
    assert.equal(parseRequest(makeRequest(Requests.exportConversation, 2, { id: 'abc', format: 'json' })).ok, true);
  });

  it('rejects what is not a request at all, without an id to answer', () => {
    for (const raw of [null, undefined, 42, 'chat/send', [], {}, { kind: 'request' }, { kind: 'request', id: -1, method: 'chat/send', params: {} }, { kind: 'request', id: 1.5, method: 'x', params: {} }]) {
      const r = parseRequest(raw);
      assert.equal(r.ok, false, JSON.stringify(raw));
      if (!r.ok) assert.equal(r.id, undefined);
    }
  });

  it('rejects an unknown method and bad params, keeping the id so the host can answer', () => {
    const unknown = parseRequest({ kind: 'request', id: 3, method: 'fs/readFile', params: { path: '/etc/passwd' } });
    assert.deepEqual(unknown, { ok: false, id: 3, error: 'unknown method "fs/readFile"' });

    const cases: unknown[] = [
      { text: '' },
      { text: 5 },
      {},
      { text: 'x'.repeat(200_001) },
    ];
    for (const params of cases) {
      const r = parseRequest({ kind: 'request', id: 9, method: 'chat/send', params });
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.id, 9);
        assert.match(r.error, /^invalid params for chat\/send/);
      }
    }
    const badFormat = parseRequest({ kind: 'request', id: 4, method: 'conversation/export', params: { id: 'a', format: 'html' } });
    assert.equal(badFormat.ok, false);
    const badRename = parseRequest({ kind: 'request', id: 5, method: 'conversation/rename', params: { id: 'a', title: '   ' } });
    assert.equal(badRename.ok, false, 'a blank title is rejected after trimming');
  });
});

describe('protocol: messages from the host', () => {
  it('accepts responses and declared notifications', () => {
    assert.deepEqual(parseHostMessage({ kind: 'response', id: 1, ok: true, result: null }), { ok: true, value: { kind: 'response', id: 1, ok: true, result: null } });
    const err = parseHostMessage({ kind: 'response', id: 2, ok: false, error: { message: 'nope' } });
    assert.equal(err.ok, true);
    const delta = parseHostMessage(makeNotification(Notifications.delta, { conversationId: 'c', messageId: 'm', offset: 0, text: 'Hi' }));
    assert.deepEqual(delta, { ok: true, value: { kind: 'notification', method: 'chat/delta', params: { conversationId: 'c', messageId: 'm', offset: 0, text: 'Hi' } } });
  });

  it('drops malformed notifications and unknown ones', () => {
    assert.equal(parseHostMessage({ kind: 'notification', method: 'chat/delta', params: { text: 'x' } }).ok, false);
    assert.equal(parseHostMessage({ kind: 'notification', method: 'chat/delta', params: { conversationId: 'c', messageId: 'm', offset: -1, text: '' } }).ok, false);
    assert.equal(parseHostMessage({ kind: 'notification', method: 'eval', params: 'alert(1)' }).ok, false);
    assert.equal(parseHostMessage({ kind: 'response', id: 1, ok: false, error: 'plain string' }).ok, false);
    assert.equal(parseHostMessage('<script>').ok, false);
  });

  it('checks a full state notification against the view-state schema', () => {
    const state = {
      personas: [{ id: 'sam', name: 'Sam', description: 'd', icon: '😊', builtIn: true }],
      activePersonaId: 'sam',
      conversations: [],
      conversation: null,
      streaming: null,
      connection: { status: 'ok', provider: 'local', baseUrl: 'http://127.0.0.1:1234/v1', model: 'm' },
    };
    assert.equal(parseHostMessage(makeNotification(Notifications.state, state as never)).ok, true);
    assert.equal(parseHostMessage(makeNotification(Notifications.state, { ...state, connection: { status: 'on fire' } } as never)).ok, false);
  });
});
