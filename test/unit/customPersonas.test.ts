// Custom personas on disk (save, reload, invalid files skipped and kept, delete) and the import path
// from a card file's bytes to a persona the registry lists and the chat can use.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freshPersonaId, prepareImport, slugify } from '../../src/extension/cardImport';
import { CardError } from '../../src/extension/cards/cardCodec';
import { CardPersonaSchema, type CardPersona } from '../../src/shared/cardPersona';
import { personaToCardPersona } from '../../src/extension/cards/cardToPersona';
import { CustomPersonaStore } from '../../src/extension/customPersonaStore';
import { BuiltInPersonaError, PersonaRegistry } from '../../src/extension/personaRegistry';
import { describeError } from '../../src/extension/userMessages';
import type { Logger } from '../../src/shared/logger';
import { sampleV2Card, v2PngCard } from '../support/v2PngCard';

const charactersDir = join(__dirname, '../../characters');

function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return { errors, info() {}, warn() {}, error: (m) => void errors.push(String(m)), debug() {}, trace() {} };
}

function custom(id: string, name = 'Custom One'): CardPersona {
  return {
    ...personaToCardPersona({ id, name, description: 'A test persona', icon: '🧪', systemPrompt: 'You are {{char}}.', greeting: 'Hi {{user}}', tags: [], sampling: {} }),
    characterDescription: 'A long description.',
  };
}

describe('CustomPersonaStore', () => {
  let root: string;
  before(async () => (root = await mkdtemp(join(tmpdir(), 'persona-custom-'))));
  after(() => rm(root, { recursive: true, force: true }));

  it('lists nothing when the folder does not exist yet', async () => {
    assert.deepEqual(await new CustomPersonaStore(join(root, 'missing'), recordingLogger()).list(), []);
  });

  it('saves one file per persona, reads them back after a restart, and deletes', async () => {
    const dir = join(root, 'basic');
    const store = new CustomPersonaStore(dir, recordingLogger());
    await store.save(custom('alpha-1a2b3c', 'Alpha'));
    await store.save(custom('beta-4d5e6f', 'Beta'));
    assert.deepEqual((await readdir(dir)).sort(), ['alpha-1a2b3c.json', 'beta-4d5e6f.json'], 'no temp files left behind');

    const again = new CustomPersonaStore(dir, recordingLogger());
    const listed = await again.list();
    assert.deepEqual(listed.map((p) => [p.id, p.name]), [['alpha-1a2b3c', 'Alpha'], ['beta-4d5e6f', 'Beta']]);
    assert.deepEqual(listed[0], CardPersonaSchema.parse(custom('alpha-1a2b3c', 'Alpha')));

    await again.delete('alpha-1a2b3c');
    assert.deepEqual(await readdir(dir), ['beta-4d5e6f.json']);
    assert.deepEqual((await again.list()).map((p) => p.id), ['beta-4d5e6f']);
  });

  it('skips and logs an invalid file without deleting it, and keeps reading the others', async () => {
    const dir = join(root, 'invalid');
    const logger = recordingLogger();
    const store = new CustomPersonaStore(dir, logger);
    await store.save(custom('good-000001', 'Good'));
    await writeFile(join(dir, 'broken-000002.json'), '{ not json');
    await writeFile(join(dir, 'wrong-000003.json'), JSON.stringify({ ...custom('wrong-000003'), name: 42 }));
    await writeFile(join(dir, 'other-000004.json'), JSON.stringify(custom('not-the-file-name')));
    assert.deepEqual((await store.list()).map((p) => p.id), ['good-000001']);
    assert.equal(logger.errors.length, 3, logger.errors.join('\n'));
    assert.match(logger.errors.join('\n'), /broken-000002\.json is not valid JSON/);
    assert.match(logger.errors.join('\n'), /wrong-000003\.json is invalid \(name:/);
    assert.equal(await readFile(join(dir, 'broken-000002.json'), 'utf8'), '{ not json', 'never deleted');
  });

  it('refuses ids that are not file-safe', async () => {
    const store = new CustomPersonaStore(join(root, 'ids'), recordingLogger());
    await assert.rejects(store.save(custom('../evil')));
    await assert.rejects(store.delete('../evil'), /invalid persona id/);
  });
});

describe('PersonaRegistry with custom personas', () => {
  let root: string;
  before(async () => (root = await mkdtemp(join(tmpdir(), 'persona-registry-'))));
  after(() => rm(root, { recursive: true, force: true }));

  it('lists built-ins and custom ones, adds, never overwrites, refuses to delete a built-in', async () => {
    const dir = join(root, 'reg');
    const registry = await PersonaRegistry.load(charactersDir, recordingLogger(), new CustomPersonaStore(dir, recordingLogger()));
    const builtIns = registry.list().length;
    await registry.addCustom(custom('mine-abcdef', 'Mine'));
    await assert.rejects(registry.addCustom(custom('mine-abcdef', 'Other')), /already exists/);
    await assert.rejects(registry.addCustom(custom('sam', 'Not Sam')), /already exists/);
    assert.equal(registry.summaries().find((s) => s.id === 'mine-abcdef')?.builtIn, false);
    assert.equal(registry.summaries().find((s) => s.id === 'sam')?.builtIn, true);

    const reloaded = await PersonaRegistry.load(charactersDir, recordingLogger(), new CustomPersonaStore(dir, recordingLogger()));
    assert.equal(reloaded.list().length, builtIns + 1);
    assert.equal(reloaded.get('mine-abcdef')?.name, 'Mine');
    assert.deepEqual(reloaded.withName('  mine ').map((p) => p.id), ['mine-abcdef']);

    await assert.rejects(reloaded.removeCustom('sam'), (e) => e instanceof BuiltInPersonaError && /built in/.test(describeError(e)));
    await reloaded.removeCustom('mine-abcdef');
    assert.equal(reloaded.get('mine-abcdef'), undefined);
    assert.equal(reloaded.getOrDefault('mine-abcdef').id, 'sam', 'a conversation with a deleted persona falls back');
    assert.deepEqual(await readdir(dir), []);
  });
});

describe('importing a card file', () => {
  it('slugs names and picks ids that are not taken', () => {
    assert.equal(slugify('Séraphina  Moon!'), 'seraphina-moon');
    assert.equal(slugify('🌙🌙'), 'character');
    const suffixes = ['aaaaaa', 'aaaaaa', 'bbbbbb'];
    const taken = new Set(['vell-aaaaaa']);
    assert.equal(freshPersonaId('Vell', (id) => taken.has(id), () => suffixes.shift()!), 'vell-bbbbbb');
  });

  it('maps a V2 PNG card to a persona with its lorebook, avatar and source; the id is fresh', () => {
    const bytes = v2PngCard(sampleV2Card());
    const prepared = prepareImport(bytes, { fileName: 'vell.png', taken: () => false, now: 1234 });
    const p = prepared.persona;
    assert.match(p.id, /^captain-vell-[0-9a-f]{6}$/);
    assert.equal(p.name, 'Captain Vell');
    assert.equal(p.greeting, 'Ahoy, {{user}}! {{char}} at your service. Dry yourself by the fire.');
    assert.match(p.characterDescription, /Quillmoor lighthouse/);
    assert.equal(p.lorebook?.entries[0]?.keys[0], 'lighthouse');
    assert.deepEqual(p.cardSource, { spec: 'chara_card_v2', format: 'png', fileName: 'vell.png', importedAt: 1234 });
    assert.deepEqual(p.card?.extensions.other_app, { keep: true });
    assert.deepEqual(p.avatar, { file: `${p.id}.avatar.png`, ext: 'png' });
    assert.ok(prepared.avatar && prepared.avatar.length > 0);
    assert.deepEqual(prepared.warnings, []);
    assert.ok(CardPersonaSchema.safeParse(p).success);
  });

  it('gives a CardError, with a message for people, for a file that is not a card', () => {
    const bytes = v2PngCard(sampleV2Card());
    for (const bad of [bytes.subarray(0, 60), Buffer.from('not a card at all'), Buffer.from('{"spec":"something_else"}')]) {
      assert.throws(
        () => prepareImport(bad, { fileName: 'bad.png', taken: () => false }),
        (e) => CardError.is(e) && describeError(e) === e.message && e.message.includes('"bad.png"'),
      );
    }
  });
});
