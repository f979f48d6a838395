// The settings declared in code and in package.json must agree, in both directions.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SETTINGS } from '../../src/chat/settings';

const manifest = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8'));
const properties: Record<string, { default: unknown; description?: string; markdownDescription?: string }> = manifest.contributes.configuration.properties;

describe('settings', () => {
  it('every setting in code is contributed in package.json with the same default, and the other way round', () => {
    const inCode = Object.keys(SETTINGS).map((k) => `persona.${k}`).sort();
    assert.deepEqual(Object.keys(properties).sort(), inCode);
    for (const [key, value] of Object.entries(SETTINGS)) {
      assert.deepEqual(properties[`persona.${key}`]!.default, value, `default of persona.${key}`);
    }
  });

  it('every setting has a description', () => {
    for (const [key, p] of Object.entries(properties)) assert.ok((p.markdownDescription ?? p.description ?? '').length > 20, key);
  });

  it('the issue-named defaults hold', () => {
    assert.equal(SETTINGS['chat.baseUrl'], 'http://127.0.0.1:1234/v1');
    assert.equal(SETTINGS['embeddings.baseUrl'], 'http://127.0.0.1:5001/v1');
    assert.equal(SETTINGS['rag.topK'], 8);
    assert.equal(SETTINGS['rag.chunkTokens'], 500);
    assert.equal(SETTINGS['rag.chunkOverlap'], 50);
  });

  it('endpoint settings are restricted in untrusted workspaces', () => {
    const restricted: string[] = manifest.capabilities.untrustedWorkspaces.restrictedConfigurations;
    for (const key of Object.keys(properties).filter((k) => k.endsWith('baseUrl') || k.endsWith('.provider') || k === 'persona.endpoints')) assert.ok(restricted.includes(key), key);
  });

  it('endpoint settings are application-scoped: even a trusted workspace cannot send messages or keys elsewhere', () => {
    const endpoints = Object.entries(properties).filter(([k]) => k.endsWith('baseUrl') || k.endsWith('.provider') || k === 'persona.endpoints');
    assert.ok(endpoints.length >= 4);
    // Not 'machine': with a remote extension host (code-server, Remote-SSH) that scope ignores the
    // user settings, so the endpoints set there would not apply.
    for (const [key, p] of endpoints) assert.equal((p as { scope?: string }).scope, 'application', key);
  });

  it('activation is never "*" and every command is in the Persona category', () => {
    assert.ok(!manifest.activationEvents.includes('*'));
    assert.ok(!manifest.activationEvents.includes('onStartupFinished'));
    for (const c of manifest.contributes.commands) assert.equal(c.category, 'Persona', c.command);
    const ids = manifest.contributes.commands.map((c: { command: string }) => c.command);
    for (const id of ['persona.switchCharacter', 'persona.newChat', 'persona.focusChat', 'persona.setApiKey']) assert.ok(ids.includes(id), id);
  });
});
