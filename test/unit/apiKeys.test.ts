// A key goes only to the origin it was saved for; one saved before keys were bound is bound to the
// first origin the person's settings use it with. An in-memory SecretStorage stands in for VS Code's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiKeyStore, originOf, sentInTheClear, type SecretStore } from '../../src/chat/apiKeys';

function memorySecrets(initial: Record<string, string> = {}): SecretStore & { values: Map<string, string> } {
  const values = new Map(Object.entries(initial));
  const listeners = new Set<(e: { key: string }) => unknown>();
  return {
    values,
    get: async (k) => values.get(k),
    store: async (k, v) => {
      values.set(k, v);
      for (const l of listeners) l({ key: k });
    },
    delete: async (k) => {
      values.delete(k);
      for (const l of listeners) l({ key: k });
    },
    onDidChange: (l) => (listeners.add(l), { dispose: () => listeners.delete(l) }),
  };
}

describe('API keys bound to an origin', () => {
  it('hands a key out only for the origin it was saved for', async () => {
    const keys = new ApiKeyStore(memorySecrets());
    await keys.set('cloud', 'sk-secret', 'https://api.openai.com/v1');
    assert.deepEqual(await keys.getFor('cloud', 'https://api.openai.com/v1'), { key: 'sk-secret' });
    assert.deepEqual(await keys.getFor('cloud', 'https://api.openai.com/other/path'), { key: 'sk-secret' }, 'same origin, any path');
    assert.deepEqual(await keys.getFor('cloud', 'https://attacker.test/v1'), { boundTo: 'https://api.openai.com' });
    assert.deepEqual(await keys.getFor('cloud', 'http://api.openai.com/v1'), { boundTo: 'https://api.openai.com' }, 'not over http either');
    assert.deepEqual(await keys.getFor('cloud', 'https://api.openai.com:8443/v1'), { boundTo: 'https://api.openai.com' }, 'nor to another port');
    assert.deepEqual(await keys.getFor('embeddings', 'https://api.openai.com/v1'), {}, 'another provider has no key');
  });

  it('binds a key saved before keys were bound to the first origin it is used with', async () => {
    const secrets = memorySecrets({ 'persona.apiKey.cloud': 'sk-legacy' });
    const keys = new ApiKeyStore(secrets);
    assert.deepEqual(await keys.getFor('cloud', 'https://api.example.com/v1'), { key: 'sk-legacy' });
    assert.deepEqual(JSON.parse(secrets.values.get('persona.apiKey.cloud')!), { key: 'sk-legacy', origin: 'https://api.example.com' });
    assert.deepEqual(await keys.getFor('cloud', 'https://elsewhere.test/v1'), { boundTo: 'https://api.example.com' });
  });

  it('says when a key would travel in the clear: http to another machine', () => {
    for (const url of ['http://192.168.1.20:5001/v1', 'http://gpu-box.local:1234/v1', 'http://example.com/v1']) assert.equal(sentInTheClear(url), true, url);
    for (const url of ['https://example.com/v1', 'http://127.0.0.1:1234/v1', 'http://localhost:5001/v1', 'http://[::1]:1234/v1', 'not a url']) assert.equal(sentInTheClear(url), false, url);
    assert.equal(originOf('https://api.openai.com/v1/'), 'https://api.openai.com');
    assert.equal(originOf('nope'), undefined);
  });
});
