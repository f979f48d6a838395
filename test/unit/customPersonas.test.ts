// Custom personas on disk (save, reload, invalid files skipped and kept, delete) and the import path
// from a card file's bytes to a persona the registry lists and the chat can use; Persona's own file
// (with its history) out and back in, a same-name import saved as a new version, CHARX files kept
// through import and export, and delete removing everything of a persona and nothing else.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { zipSync } from 'fflate';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freshPersonaId, prepareImport, slugify, tryPrepareImport } from '../../src/characters/cardImport';
import { CardError, placeholderPng, readCard } from '../../src/characters/cards/cardCodec';
import { exportPersona } from '../../src/characters/cards/cardExport';
import { PersonaFileError } from '../../src/characters/cards/personaFile';
import { ConversationStore } from '../../src/chat/conversationStore';
import { CardDataSchema } from '../../src/shared/cardSchema';
import { CONVERSATION_SCHEMA_VERSION } from '../../src/shared/conversation';
import { CardPersonaSchema, type CardPersona } from '../../src/shared/cardPersona';
import { personaToCardPersona } from '../../src/characters/cards/cardToPersona';
import { CustomPersonaStore, MAX_STORED_PERSONA_BYTES } from '../../src/characters/customPersonaStore';
import { BuiltInPersonaError, PersonaRegistry } from '../../src/characters/personaRegistry';
import { describeError } from '../../src/chat/userMessages';
import type { Logger } from '../../src/util/logger';
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

  it('leaves a stored persona larger than any card on disk, unparsed, and says so', async () => {
    const dir = join(root, 'huge');
    const logger = recordingLogger();
    const store = new CustomPersonaStore(dir, logger);
    await store.save(custom('good-000001', 'Good'));
    const huge = { ...custom('huge-000002', 'Huge'), characterDescription: 'x'.repeat(MAX_STORED_PERSONA_BYTES) };
    await writeFile(join(dir, 'huge-000002.json'), JSON.stringify(huge));
    assert.deepEqual((await store.list()).map((p) => p.id), ['good-000001']);
    assert.match(logger.errors.join('\n'), /huge-000002\.json is \d+\.\d MB, more than any card; skipped, not deleted/);
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

/** Every file under `dir`, as relative paths with their contents, for "nothing else changed" checks. */
async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string) => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else out.set(p, (await readFile(join(dir, p))).toString('base64'));
    }
  };
  await walk('');
  return out;
}

const loadRegistry = (dir: string, logger: Logger = recordingLogger()) => PersonaRegistry.load(charactersDir, logger, new CustomPersonaStore(dir, logger));

describe('Persona files: export and import with the version history', () => {
  let root: string;
  before(async () => (root = await mkdtemp(join(tmpdir(), 'persona-file-'))));
  after(() => rm(root, { recursive: true, force: true }));

  async function withHistory(dir: string) {
    const registry = await loadRegistry(dir);
    const picture = placeholderPng('Mira', 16);
    await registry.saveCustom({ ...custom('mira-aaaaaa', 'Mira'), systemPrompt: 'First.' }, { avatar: picture, assets: new Map([['embeded://assets/other/a.txt', Buffer.from('A')]]) });
    await registry.snapshot('mira-aaaaaa', 'Good one');
    await registry.saveCustom({ ...registry.get('mira-aaaaaa')!, systemPrompt: 'Second.' });
    return { registry, picture };
  }

  it('round trips a persona with its history, picture and card files under a fresh id', async () => {
    const { registry, picture } = await withHistory(join(root, 'a'));
    const source = registry.get('mira-aaaaaa')!;
    const bytes = exportPersona('personaFile', {
      persona: source,
      avatar: (await registry.avatarOf(source.id))!,
      assets: await registry.assetsOf(source.id),
      history: await registry.historyEntries(source.id),
      now: 1000,
    });
    const file = JSON.parse(Buffer.from(bytes).toString('utf8'));
    assert.deepEqual([file.format, file.formatVersion, file.history.length], ['persona', 1, 3]);

    const other = await loadRegistry(join(root, 'b'));
    const prepared = prepareImport(bytes, { fileName: 'mira.persona.json', taken: (id) => other.get(id) !== undefined });
    assert.equal(prepared.kind, 'personaFile');
    assert.notEqual(prepared.persona.id, source.id);
    const imported = await other.importCustom(prepared.persona, { avatar: prepared.avatar!, assets: prepared.assets, history: prepared.history });
    const id = prepared.persona.id;
    assert.deepEqual([imported.version, imported.kind], [4, 'import']);

    const reloaded = await loadRegistry(join(root, 'b'));
    assert.deepEqual((await reloaded.versions(id)).map((v) => [v.version, v.kind, v.name]), [[4, 'import', undefined], [3, 'edit', undefined], [2, 'snapshot', 'Good one'], [1, 'create', undefined]]);
    assert.deepEqual((await reloaded.versions(id)).slice(1), await registry.versions(source.id), 'summaries come across as they were');
    assert.equal((await reloaded.versionContent(id, 1))?.systemPrompt, 'First.');
    assert.equal(reloaded.get(id)?.systemPrompt, 'Second.');
    const { id: _a, avatar: _b, version: _c, ...mine } = reloaded.get(id)!;
    const { id: _d, avatar: _e, version: _f, ...theirs } = source;
    assert.deepEqual(mine, theirs);
    assert.ok(Buffer.from((await reloaded.avatarOf(id))!).equals(Buffer.from(picture)));
    assert.equal(Buffer.from((await reloaded.assetsOf(id)).get('embeded://assets/other/a.txt')!).toString(), 'A');
    // Restoring an imported version brings back its content and its picture.
    await reloaded.restoreVersion(id, 1);
    assert.equal(reloaded.get(id)?.systemPrompt, 'First.');
    assert.ok(Buffer.from((await reloaded.avatarOf(id))!).equals(Buffer.from(picture)));
  });

  it('tells a Persona file (even a damaged one) and a card from anything else, reading each once', () => {
    const options = { fileName: 'dropped.png', taken: () => false };
    const file = exportPersona('personaFile', { persona: custom('kind-eeeeee', 'Kind') });
    assert.equal(tryPrepareImport(file, options)?.persona.name, 'Kind');
    assert.throws(() => tryPrepareImport(file.subarray(0, 100), options), (e) => PersonaFileError.is(e), 'a damaged Persona file says what is wrong');
    assert.equal(tryPrepareImport(v2PngCard(sampleV2Card()), options)?.persona.name, 'Captain Vell');
    assert.equal(tryPrepareImport(placeholderPng('just a picture', 4), options), undefined);
    assert.equal(tryPrepareImport(Buffer.from('{"name": "notes", "items": []}'), options), undefined);
  });

  it('exports the current version only when asked to', async () => {
    const { registry } = await withHistory(join(root, 'c'));
    const bytes = exportPersona('personaFile', { persona: registry.get('mira-aaaaaa')! });
    assert.equal(JSON.parse(Buffer.from(bytes).toString('utf8')).history, undefined);
    const prepared = prepareImport(bytes, { fileName: 'm.json', taken: () => false });
    assert.deepEqual(prepared.history, []);
  });

  it('refuses a malformed Persona file with a clear message, and writes nothing', async () => {
    const { registry } = await withHistory(join(root, 'd'));
    const good = JSON.parse(Buffer.from(exportPersona('personaFile', { persona: registry.get('mira-aaaaaa')!, history: await registry.historyEntries('mira-aaaaaa') })).toString('utf8'));
    const target = join(root, 'e');
    const other = await loadRegistry(target);
    const bad: Array<[string, unknown, PersonaFileError['reason'], RegExp]> = [
      ['newer', { ...good, formatVersion: 2 }, 'newerFormat', /newer version of Persona.*Update/],
      ['no version', { ...good, formatVersion: 'one' }, 'invalidFile', /formatVersion/],
      ['bad persona', { ...good, persona: { ...good.persona, name: 42 } }, 'invalidPersona', /persona\.name/],
      ['bad history entry', { ...good, history: [good.history[0], { ...good.history[1], summary: { ...good.history[1].summary, kind: 'rewrite' } }] }, 'invalidHistory', /entry 2: summary\.kind/],
      ['history not a list', { ...good, history: {} }, 'invalidHistory', /should be a list/],
      ['twice', { ...good, history: [good.history[0], good.history[0]] }, 'invalidHistory', /version 1 appears twice/],
      ['picture lies', { ...good, avatar: { ext: 'png', data: Buffer.from('GIF89a....').toString('base64') } }, 'invalidFile', /picture is not the PNG/],
      ['asset not base64', { ...good, assets: [{ uri: 'embeded://x', data: '%%%' }] }, 'invalidFile', /asset 1/],
    ];
    for (const [label, value, reason, text] of bad) {
      assert.throws(
        () => prepareImport(Buffer.from(JSON.stringify(value, null, 2)), { fileName: 'bad.persona.json', taken: () => false }),
        (e) => PersonaFileError.is(e, reason) && text.test(describeError(e)) && e.message.includes('"bad.persona.json"') && /nothing was imported|Update/.test(e.message),
        label,
      );
    }
    assert.throws(
      () => prepareImport(Buffer.from('{\n  "format": "persona", "formatVersion": 1, "persona": {'), { fileName: 'cut.json', taken: () => false }),
      (e) => PersonaFileError.is(e, 'notJson'),
    );
    assert.deepEqual(await readdir(target).catch(() => []), []);
    assert.equal(other.list().length, (await loadRegistry(target)).list().length);
  });
});

describe('importing a card whose name exists', () => {
  let root: string;
  before(async () => (root = await mkdtemp(join(tmpdir(), 'persona-collide-'))));
  after(() => rm(root, { recursive: true, force: true }));

  it('saves it as a new version of the existing persona, keeping its id and its picture', async () => {
    const dir = join(root, 'v');
    const registry = await loadRegistry(dir);
    const first = prepareImport(v2PngCard(sampleV2Card()), { fileName: 'vell.png', taken: (id) => registry.get(id) !== undefined });
    await registry.importCustom(first.persona, { avatar: first.avatar! });
    const id = first.persona.id;
    const picture = await registry.avatarOf(id);

    // The same character as JSON (no picture), edited elsewhere.
    const json = Buffer.from(JSON.stringify({ spec: 'chara_card_v2', spec_version: '2.0', data: sampleV2Card({ first_mes: 'Back again, {{user}}?' }) }));
    const second = prepareImport(json, { fileName: 'vell.json', taken: (x) => registry.get(x) !== undefined });
    assert.deepEqual(registry.withName(second.persona.name).map((p) => p.id), [id]);
    const summary = await registry.importCustom(second.persona, { assets: second.assets, asNewVersionOf: id });
    assert.deepEqual([summary.version, summary.kind], [2, 'import']);
    assert.equal(registry.list().filter((p) => p.name === 'Captain Vell').length, 1, 'no copy was made');
    assert.equal(registry.get(id)?.greeting, 'Back again, {{user}}?');
    assert.equal(registry.get(id)?.cardSource?.fileName, 'vell.json');
    assert.ok(Buffer.from((await registry.avatarOf(id))!).equals(Buffer.from(picture!)), 'a card without a picture keeps the persona’s');
    assert.equal((await registry.versionContent(id, 1))?.greeting, 'Ahoy, {{user}}! {{char}} at your service. Dry yourself by the fire.');
    assert.equal(registry.get(second.persona.id), undefined);

    await assert.rejects(registry.importCustom(second.persona, { asNewVersionOf: 'sam' }), BuiltInPersonaError);
    await assert.rejects(registry.importCustom({ ...second.persona, id }), /already exists/, 'a new copy never takes an existing id');
  });
});

describe('CHARX files through import and export', () => {
  let root: string;
  before(async () => (root = await mkdtemp(join(tmpdir(), 'persona-charx-'))));
  after(() => rm(root, { recursive: true, force: true }));

  it('keeps every file of a CHARX card, and writes them back into a CHARX export', async () => {
    const icon = placeholderPng('Orla', 24);
    const voice = Buffer.from('ID3 fake mp3 bytes');
    const card = {
      spec: 'chara_card_v3',
      spec_version: '3.0',
      data: {
        name: 'Orla',
        description: 'Keeps bees.',
        first_mes: 'Hello.',
        assets: [
          { type: 'icon', uri: 'embeded://assets/icon/images/main.png', name: 'main', ext: 'png' },
          { type: 'sound', uri: 'embeded://assets/other/audio/hi there.mp3', name: 'hi', ext: 'mp3' },
        ],
        extensions: { risu: { keep: 1 } },
      },
    };
    const charx = zipSync({
      'card.json': Buffer.from(JSON.stringify(card)),
      'assets/icon/images/main.png': [icon, { level: 0 }],
      'assets/other/audio/hi there.mp3': voice,
      // A file the card does not list (another app's module): kept all the same.
      'module.risum': Buffer.from('RISU'),
    });
    const dir = join(root, 'store');
    const registry = await loadRegistry(dir);
    const prepared = prepareImport(charx, { fileName: 'orla.charx', taken: () => false });
    assert.equal(prepared.assets.size, 3);
    await registry.importCustom(prepared.persona, { avatar: prepared.avatar!, assets: prepared.assets });
    const id = prepared.persona.id;
    const stored = (await readdir(join(dir, `${id}.assets`))).sort();
    assert.ok(stored.every((n) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(n)), `safe names: ${stored.join(', ')}`);

    const reloaded = await loadRegistry(dir);
    const persona = reloaded.get(id)!;
    const out = readCard(exportPersona('charx', { persona, avatar: (await reloaded.avatarOf(id))!, assets: await reloaded.assetsOf(id) }), 'out.charx');
    assert.deepEqual([...out.assets.keys()].sort(), ['embeded://assets/icon/images/main.png', 'embeded://assets/other/audio/hi there.mp3', 'embeded://module.risum']);
    assert.ok(Buffer.from(out.assets.get('embeded://assets/other/audio/hi there.mp3')!).equals(voice));
    assert.ok(Buffer.from(out.assets.get('embeded://module.risum')!).equals(Buffer.from('RISU')));
    assert.ok(Buffer.from(out.avatar!.bytes).equals(Buffer.from(icon)));
    assert.deepEqual(out.card.assets, prepared.persona.card!.assets, 'the card lists the same files, with no extra icon');
    assert.deepEqual(out.card.extensions.risu, { keep: 1 });
    assert.deepEqual(out.warnings, []);
  });

  it('gives a persona without a card icon its picture as the CHARX main icon', () => {
    const picture = placeholderPng('Mira', 12);
    const out = readCard(exportPersona('charx', { persona: custom('mira-bbbbbb', 'Mira'), avatar: picture }));
    assert.deepEqual(out.card.assets, [{ type: 'icon', uri: 'embeded://assets/icon/images/main.png', name: 'main', ext: 'png' }]);
    assert.ok(Buffer.from(out.avatar!.bytes).equals(Buffer.from(picture)));
  });

  it('writes PNG asset chunks back into a PNG export', async () => {
    const card = CardDataSchema.parse({ name: 'Pip', assets: [{ type: 'emotion', uri: '__asset:0', name: 'happy', ext: 'png' }] });
    const assets = new Map([['__asset:0', placeholderPng('happy', 4)]]);
    const dir = join(root, 'png');
    const registry = await loadRegistry(dir);
    const prepared = prepareImport(exportPersona('png', { persona: { ...custom('pip-cccccc', 'Pip'), card }, assets }), { fileName: 'pip.png', taken: () => false });
    assert.ok(prepared.assets.has('__asset:0'));
    await registry.importCustom(prepared.persona, { avatar: prepared.avatar!, assets: prepared.assets });
    const again = readCard(exportPersona('png', { persona: registry.get(prepared.persona.id)!, avatar: (await registry.avatarOf(prepared.persona.id))!, assets: await registry.assetsOf(prepared.persona.id) }));
    assert.ok(Buffer.from(again.assets.get('__asset:0')!).equals(Buffer.from(assets.get('__asset:0')!)));
  });
});

describe('delete removes everything of a persona, and nothing else', () => {
  let root: string;
  before(async () => (root = await mkdtemp(join(tmpdir(), 'persona-delete-'))));
  after(() => rm(root, { recursive: true, force: true }));

  it('removes the file, pictures, history and card files; other personas and chats stay byte for byte', async () => {
    const personasDir = join(root, 'personas');
    const registry = await loadRegistry(personasDir);
    const assets = new Map([['embeded://assets/a.txt', Buffer.from('a')]]);
    await registry.saveCustom(custom('gone-dddddd', 'Gone'), { avatar: placeholderPng('one', 8), assets });
    await registry.saveCustom(custom('gone-dddddd', 'Gone'), { avatar: placeholderPng('two', 8) });
    await registry.snapshot('gone-dddddd', 'named');
    // A neighbour whose id starts the same way must not be caught by the prefix.
    await registry.saveCustom(custom('gone-dddddd-2', 'Neighbour'), { avatar: placeholderPng('n', 8), assets });
    const chats = new ConversationStore(join(root, 'conversations'), recordingLogger());
    await mkdir(join(root, 'conversations'), { recursive: true });
    await chats.save({
      schemaVersion: CONVERSATION_SCHEMA_VERSION,
      id: 'chat-1',
      title: 'With Gone',
      personaId: 'gone-dddddd',
      personaName: 'Gone',
      createdAt: 1,
      updatedAt: 2,
      messages: [{ id: 'm1', role: 'user', content: 'hello', createdAt: 1, status: 'complete' }],
      personaVersion: 2,
    } as Parameters<ConversationStore['save']>[0]);

    const before = await tree(root);
    assert.ok([...before.keys()].some((k) => k.startsWith('personas/gone-dddddd.history/')));
    assert.ok([...before.keys()].some((k) => k.startsWith('personas/gone-dddddd.assets/')));
    assert.equal([...before.keys()].filter((k) => /^personas\/gone-dddddd\.avatar-/.test(k)).length, 2);

    const changes: string[] = [];
    registry.onDidChange(() => changes.push('change'));
    await registry.removeCustom('gone-dddddd');
    assert.deepEqual(changes, ['change']);
    const after = await tree(root);
    const removed = [...before.keys()].filter((k) => !after.has(k));
    assert.ok(removed.length > 0 && removed.every((k) => k.startsWith('personas/gone-dddddd.')), removed.join('\n'));
    assert.deepEqual([...after.keys()].filter((k) => k.startsWith('personas/gone-dddddd.')), []);
    for (const [k, v] of after) assert.equal(v, before.get(k), `${k} unchanged`);
    assert.equal((await chats.get('chat-1'))?.messages[0]?.content, 'hello', 'the chat stays readable');
    assert.equal(registry.get('gone-dddddd'), undefined);
    assert.deepEqual(await registry.versions('gone-dddddd'), []);
    assert.ok(registry.get('gone-dddddd-2'));
  });
});
