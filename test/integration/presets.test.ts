// Presets: saved from a chat's values in effect, kept on disk, applied to a chat (the next request
// carries them) or to a persona of one's own (a new version); built-ins stay read-only, and a
// presets file that cannot be read is kept aside rather than overwritten.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { ChatService, type ChatSettings } from '../../src/chat/chatService';
import { ConversationStore } from '../../src/chat/conversationStore';
import { BUILT_IN_PRESETS, PresetStore, presetSettingsFrom } from '../../src/chat/presets';
import { CustomPersonaStore } from '../../src/characters/customPersonaStore';
import { PersonaRegistry } from '../../src/characters/personaRegistry';
import { silentLogger } from '../../src/util/logger';
import { testChatService } from '../support/testChatService';
import { MemoryPreferences } from '../support/memoryPreferences';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';

describe('presets', () => {
  let server: FakeOpenAiServer;
  let dir: string;
  let personas: PersonaRegistry;
  let settings: ChatSettings;
  let chat: ChatService;
  let presets: PresetStore;

  before(async () => {
    server = await startFakeOpenAiServer({ reply: 'Fine.', tokenDelayMs: 1 });
  });
  after(() => server.close());

  beforeEach(async () => {
    server.reset();
    dir = await mkdtemp(join(tmpdir(), 'persona-presets-'));
    personas = await PersonaRegistry.load(join(__dirname, '../../characters'), silentLogger, new CustomPersonaStore(join(dir, 'personas'), silentLogger));
    settings = { provider: 'local', baseUrl: server.url, model: '', sampling: { seed: 3 }, userName: 'Ada' };
    presets = new PresetStore(join(dir, 'presets.json'), silentLogger);
    chat = testChatService({
      store: new ConversationStore(join(dir, 'conversations'), silentLogger),
      personas,
      preferences: new MemoryPreferences(),
      settings: () => settings,
    });
    await chat.init();
  });
  afterEach(async () => {
    chat.stop();
    await chat.idle();
    await rm(dir, { recursive: true, force: true });
  });

  const lastBody = () => server.chatRequests.at(-1)!.body as Record<string, unknown>;

  it('save the chat\'s values in effect as a preset; apply it to a new chat: the request carries them', async () => {
    await chat.setChatSetting('temperature', 1.25);
    await chat.setChatSetting('topK', 33);
    const saved = await presets.save('Loose', presetSettingsFrom(chat.effectiveSettings()));
    const sam = personas.get('sam')!;
    // Every value some level set: the chat's, the persona's, your settings'; not the server's defaults.
    assert.deepEqual(saved.settings, { ...sam.sampling, temperature: 1.25, topK: 33, seed: 3 });
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'presets.json'), 'utf8')).presets, [{ name: 'Loose', settings: saved.settings }]);

    // A new store reads it back (as after a restart), after the three that ship.
    const reread = new PresetStore(join(dir, 'presets.json'), silentLogger);
    assert.deepEqual((await reread.list()).map((p) => p.name), ['Precise', 'Balanced', 'Creative', 'Loose']);

    await chat.newConversation();
    await chat.applyPresetToChat((await reread.get('loose'))!.settings);
    await chat.send('Hi');
    await chat.idle();
    assert.equal(lastBody()['temperature'], 1.25);
    assert.equal(lastBody()['top_k'], 33);
    assert.equal(chat.effectiveSettings().temperature.origin, 'chat');
  });

  it('a built-in preset applied to a chat keeps the model the chat picked', async () => {
    await chat.setChatSetting('model', 'fake-llm-7b');
    await chat.setChatSetting('seed', 9);
    const precise = BUILT_IN_PRESETS.find((p) => p.name === 'Precise')!;
    await chat.applyPresetToChat(precise.settings);
    assert.deepEqual(chat.activeConversation.overrides, { model: 'fake-llm-7b', ...precise.settings });
  });

  it('applied to a persona of your own: a new version with the values; a built-in persona is refused and unchanged', async () => {
    const creative = BUILT_IN_PRESETS.find((p) => p.name === 'Creative')!;
    await assert.rejects(chat.applyPresetToPersona('sam', creative.settings), /comes with Persona and cannot be changed/);
    const copy = personas.duplicateForEdit('sam');
    await personas.addCustom(copy);
    const before = (await personas.versions(copy.id)).length;
    await chat.applyPresetToPersona(copy.id, creative.settings);
    assert.equal(personas.get(copy.id)!.sampling.temperature, creative.settings.temperature);
    assert.equal((await personas.versions(copy.id)).length, before + 1);
    assert.notEqual(personas.get('sam')!.sampling.temperature, creative.settings.temperature);
  });

  it('names: a built-in name is taken, the same name replaces, a broken file is kept aside', async () => {
    await assert.rejects(presets.save('balanced', { temperature: 1 }), /comes with Persona/);
    await presets.save('Mine', { temperature: 0.4 });
    await presets.save('mine', { temperature: 0.5 });
    assert.deepEqual((await presets.list()).filter((p) => !p.builtIn), [{ name: 'mine', settings: { temperature: 0.5 } }]);

    await writeFile(join(dir, 'presets.json'), '{"version": 1, "presets": [ broken');
    const fresh = new PresetStore(join(dir, 'presets.json'), silentLogger);
    assert.equal((await fresh.list()).length, BUILT_IN_PRESETS.length, 'an unreadable file shows the built-ins only');
    await fresh.save('After', { temperature: 0.3 });
    const names = await readdir(dir);
    const aside = names.find((n) => n.startsWith('presets.json.unreadable-'));
    assert.ok(aside, `the broken file was not kept: ${names.join(', ')}`);
    assert.equal(await readFile(join(dir, aside), 'utf8'), '{"version": 1, "presets": [ broken');
  });
});
