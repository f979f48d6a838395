// Versions of custom personas, on disk in a temp folder: every save is a version, named snapshots,
// restore makes a new version with the old content, the history survives a reload, damaged version
// files are skipped and kept, old personas without a history get one, built-ins are read-only and
// can be duplicated, pictures follow their versions, growth is bounded, and two windows saving at
// once never overwrite each other's versions.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { placeholderPng } from '../../src/characters/cards/cardCodec';
import { personaToCardPersona } from '../../src/characters/cards/cardToPersona';
import { CustomPersonaStore } from '../../src/characters/customPersonaStore';
import { PersonaHistoryError } from '../../src/characters/personaHistory';
import { BuiltInPersonaError, InvalidPersonaError, PersonaRegistry, UnknownPersonaError } from '../../src/characters/personaRegistry';
import { describeError } from '../../src/chat/userMessages';
import type { CardPersona } from '../../src/shared/cardPersona';
import type { Logger } from '../../src/util/logger';

const charactersDir = join(__dirname, '../../characters');

function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return { errors, info() {}, warn() {}, error: (m) => void errors.push(String(m)), debug() {}, trace() {} };
}

function persona(id: string, name = 'Mira', systemPrompt = 'You are {{char}}, a cartographer.'): CardPersona {
  return {
    ...personaToCardPersona({ id, name, description: 'A test persona', icon: '🗺️', systemPrompt, greeting: 'Hello {{user}}', tags: ['maps'], sampling: {} }),
    characterDescription: 'Mira draws maps of places that do not exist yet.',
  };
}

/** Content without the version number, to compare what a version holds. */
function content(p: CardPersona | undefined): Omit<CardPersona, 'version'> | undefined {
  if (!p) return undefined;
  const { version: _v, ...rest } = p;
  return rest;
}

async function load(dir: string, logger: Logger = recordingLogger(), maxVersions?: number): Promise<PersonaRegistry> {
  return PersonaRegistry.load(charactersDir, logger, new CustomPersonaStore(dir, logger, maxVersions !== undefined ? { maxVersions } : {}));
}

describe('persona versions', () => {
  let root: string;
  before(async () => (root = await mkdtemp(join(tmpdir(), 'persona-history-'))));
  after(() => rm(root, { recursive: true, force: true }));

  it('records every save as a version, newest first, and stamps the persona with its number', async () => {
    const dir = join(root, 'every');
    const registry = await load(dir);
    const changes: number[] = [];
    registry.onDidChange(() => changes.push(changes.length));
    const v1 = await registry.saveCustom(persona('mira-000001'));
    const v2 = await registry.saveCustom({ ...persona('mira-000001'), greeting: 'Welcome, {{user}}.' });
    // The same content again is still a save, so still a version.
    const v3 = await registry.saveCustom({ ...persona('mira-000001'), greeting: 'Welcome, {{user}}.', version: 99 });
    assert.deepEqual([v1.version, v1.kind, v2.version, v2.kind, v3.version, v3.kind], [1, 'create', 2, 'edit', 3, 'edit']);
    assert.equal(changes.length, 3, 'listeners hear of every save');

    assert.deepEqual((await registry.versions('mira-000001')).map((v) => [v.version, v.kind]), [[3, 'edit'], [2, 'edit'], [1, 'create']]);
    assert.equal(registry.get('mira-000001')?.version, 3, 'the version given by the caller is ignored');
    const onDisk = JSON.parse(await readFile(join(dir, 'mira-000001.json'), 'utf8')) as CardPersona;
    assert.equal(onDisk.version, 3);
    assert.deepEqual((await readdir(join(dir, 'mira-000001.history'))).sort(), ['000001.json', '000002.json', '000003.json']);
    assert.equal((await registry.versionContent('mira-000001', 1))?.greeting, 'Hello {{user}}');
    assert.equal((await registry.versionContent('mira-000001', 2))?.version, 2);
    assert.equal(await registry.versionContent('mira-000001', 4), undefined);
    assert.ok(v2.savedAt >= v1.savedAt && v2.savedAt <= Date.now());
  });

  it('takes named snapshots of the current content, and refuses a snapshot without a name', async () => {
    const registry = await load(join(root, 'snap'));
    await registry.saveCustom(persona('mira-000002'));
    const snap = await registry.snapshot('mira-000002', '  Before the rewrite ');
    assert.deepEqual([snap.version, snap.kind, snap.name], [2, 'snapshot', 'Before the rewrite']);
    assert.deepEqual(content(await registry.versionContent('mira-000002', 2)), content(await registry.versionContent('mira-000002', 1)));
    await assert.rejects(registry.snapshot('mira-000002', '   '), InvalidPersonaError);
    await assert.rejects(registry.snapshot('mira-000002', 'x'.repeat(101)), InvalidPersonaError);
    await assert.rejects(registry.snapshot('nobody-000000', 'n'), UnknownPersonaError);
    assert.equal((await registry.versions('mira-000002')).length, 2, 'refused snapshots record nothing');
  });

  it('restores an old version as a new one; the versions in between stay as they were', async () => {
    const registry = await load(join(root, 'restore'));
    await registry.saveCustom(persona('mira-000003', 'Mira', 'First prompt.'));
    await registry.saveCustom(persona('mira-000003', 'Mira', 'Second prompt.'));
    await registry.saveCustom(persona('mira-000003', 'Mira Vale', 'Third prompt.'));
    const restored = await registry.restoreVersion('mira-000003', 1);
    assert.deepEqual([restored.version, restored.kind, restored.restoredFrom], [4, 'restore', 1]);
    assert.equal(registry.get('mira-000003')?.systemPrompt, 'First prompt.');
    assert.equal(registry.get('mira-000003')?.name, 'Mira');
    assert.equal(registry.get('mira-000003')?.version, 4);
    assert.deepEqual(content(registry.get('mira-000003')), content(await registry.versionContent('mira-000003', 1)));
    assert.equal((await registry.versionContent('mira-000003', 2))?.systemPrompt, 'Second prompt.');
    assert.equal((await registry.versionContent('mira-000003', 3))?.systemPrompt, 'Third prompt.');
    await assert.rejects(registry.restoreVersion('mira-000003', 9), (e) => PersonaHistoryError.is(e, 'unknownVersion') && /Version 9/.test(describeError(e)));
    assert.equal((await registry.versions('mira-000003')).length, 4);
  });

  it('keeps the history across a reload', async () => {
    const dir = join(root, 'reload');
    const first = await load(dir);
    await first.saveCustom(persona('mira-000004', 'Mira', 'One.'));
    await first.snapshot('mira-000004', 'Checkpoint');
    await first.saveCustom(persona('mira-000004', 'Mira', 'Two.'));
    const before = await first.versions('mira-000004');

    const second = await load(dir);
    assert.deepEqual(await second.versions('mira-000004'), before);
    assert.equal(second.get('mira-000004')?.version, 3);
    assert.equal((await second.versionContent('mira-000004', 1))?.systemPrompt, 'One.');
    const next = await second.saveCustom(persona('mira-000004', 'Mira', 'Three.'));
    assert.equal(next.version, 4);
  });

  it('skips a damaged version file with a log line, keeps it, and never reuses its number', async () => {
    const dir = join(root, 'damaged');
    const registry = await load(dir);
    await registry.saveCustom(persona('mira-000005', 'Mira', 'One.'));
    await registry.saveCustom(persona('mira-000005', 'Mira', 'Two.'));
    await registry.saveCustom(persona('mira-000005', 'Mira', 'Three.'));
    const history = join(dir, 'mira-000005.history');
    await writeFile(join(history, '000002.json'), '{"summary": {"version": 2, "sav');
    await writeFile(join(history, '000003.json'), JSON.stringify({ summary: { version: 3, savedAt: 1, kind: 'teleport' }, persona: persona('mira-000005') }));
    await writeFile(join(history, 'notes.txt'), 'not a version');

    const logger = recordingLogger();
    const reloaded = await load(dir, logger);
    assert.equal(reloaded.get('mira-000005')?.systemPrompt, 'Three.', 'the persona itself is untouched');
    assert.deepEqual((await reloaded.versions('mira-000005')).map((v) => v.version), [1]);
    assert.equal(logger.errors.length, 2, logger.errors.join('\n'));
    assert.match(logger.errors[0]!, /Version 3 of persona "mira-000005" .*000003\.json\) is invalid/);
    assert.match(logger.errors[1]!, /Version 2 .*is not valid JSON/);
    assert.equal(await reloaded.versionContent('mira-000005', 2), undefined);
    await assert.rejects(reloaded.restoreVersion('mira-000005', 2), PersonaHistoryError);

    const next = await reloaded.saveCustom(persona('mira-000005', 'Mira', 'Four.'));
    assert.equal(next.version, 4, 'a damaged version keeps its number');
    assert.equal(await readFile(join(history, '000002.json'), 'utf8'), '{"summary": {"version": 2, "sav', 'never rewritten or deleted');
  });

  it('sweeps temp files a killed write left long ago, and leaves a fresh one (another window may be writing it)', async () => {
    const dir = join(root, 'temps');
    const registry = await load(dir);
    await registry.saveCustom(persona('mira-000013'));
    const history = join(dir, 'mira-000013.history');
    await writeFile(join(history, '.000002.json.aaaaaa.tmp'), 'half');
    await writeFile(join(history, '.000002.json.bbbbbb.tmp'), 'half');
    const hourAgo = new Date(Date.now() - 3600_000);
    await utimes(join(history, '.000002.json.aaaaaa.tmp'), hourAgo, hourAgo);
    await registry.saveCustom(persona('mira-000013'));
    assert.deepEqual((await readdir(history)).sort(), ['.000002.json.bbbbbb.tmp', '000001.json', '000002.json']);
  });

  it('a version file that claims another number or persona is skipped', async () => {
    const dir = join(root, 'claims');
    const registry = await load(dir);
    await registry.saveCustom(persona('mira-000006'));
    await registry.saveCustom(persona('mira-000006'));
    const one = await readFile(join(dir, 'mira-000006.history', '000001.json'), 'utf8');
    await writeFile(join(dir, 'mira-000006.history', '000002.json'), one);
    const logger = recordingLogger();
    const reloaded = await load(dir, logger);
    assert.deepEqual((await reloaded.versions('mira-000006')).map((v) => v.version), [1]);
    assert.match(logger.errors.join('\n'), /says it is version 1/);
  });

  it('gives a persona saved before versioning its old content as version 1 before the first change', async () => {
    const dir = join(root, 'legacy');
    const store = new CustomPersonaStore(dir, recordingLogger());
    const old = { ...persona('mira-000007', 'Mira', 'Old prompt.'), cardSource: { spec: 'chara_card_v2' as const, format: 'png' as const, importedAt: 1_700_000_000_000 } };
    await store.save(old);
    const registry = await load(dir);
    assert.equal(registry.get('mira-000007')?.version, undefined, 'old files without a version are readable');
    assert.deepEqual(await registry.versions('mira-000007'), []);
    const edit = await registry.saveCustom({ ...old, systemPrompt: 'New prompt.' });
    assert.equal(edit.version, 2);
    const versions = await registry.versions('mira-000007');
    assert.deepEqual(versions.map((v) => [v.version, v.kind, v.savedAt]), [[2, 'edit', edit.savedAt], [1, 'import', 1_700_000_000_000]]);
    assert.equal((await registry.versionContent('mira-000007', 1))?.systemPrompt, 'Old prompt.');
  });

  it('refuses an invalid persona with the field named, writing nothing', async () => {
    const dir = join(root, 'invalid');
    const registry = await load(dir);
    const bad = { ...persona('mira-000008'), name: '   ' };
    await assert.rejects(registry.saveCustom(bad), (e) => e instanceof InvalidPersonaError && /name/.test(describeError(e)));
    await assert.rejects(registry.saveCustom({ ...persona('mira-000008'), id: '../escape' }), InvalidPersonaError);
    await assert.rejects(registry.saveCustom(persona('mira-000008'), { avatar: Buffer.from('<svg onload=alert(1)>') }), /not a PNG, JPEG, GIF or WebP/);
    assert.equal(registry.get('mira-000008'), undefined);
    assert.deepEqual(await readdir(dir).catch(() => []), []);
  });

  it('saves run one at a time: concurrent saves get distinct numbers and the last one wins', async () => {
    const registry = await load(join(root, 'concurrent'));
    const saves = await Promise.all([1, 2, 3, 4, 5].map((n) => registry.saveCustom(persona('mira-000009', 'Mira', `Prompt ${n}.`))));
    assert.deepEqual(saves.map((s) => s.version), [1, 2, 3, 4, 5]);
    assert.equal(registry.get('mira-000009')?.systemPrompt, 'Prompt 5.');
    assert.equal((await registry.versionContent('mira-000009', 3))?.systemPrompt, 'Prompt 3.');
  });

  it('two windows saving the same persona never overwrite each other’s versions', async () => {
    const dir = join(root, 'windows');
    const a = await load(dir);
    await a.saveCustom(persona('mira-000010', 'Mira', 'Base.'));
    const b = await load(dir);
    const [fromA, fromB] = await Promise.all([
      a.saveCustom(persona('mira-000010', 'Mira', 'From A.')),
      b.saveCustom(persona('mira-000010', 'Mira', 'From B.')),
    ]);
    assert.notEqual(fromA.version, fromB.version);
    const c = await load(dir);
    const texts = await Promise.all((await c.versions('mira-000010')).map(async (v) => (await c.versionContent('mira-000010', v.version))?.systemPrompt));
    assert.deepEqual(texts.sort(), ['Base.', 'From A.', 'From B.']);
  });

  it('bounds the history: the oldest plain saves go, the first version and snapshots stay', async () => {
    const registry = await load(join(root, 'bounded'), recordingLogger(), 5);
    await registry.saveCustom(persona('mira-000011', 'Mira', 'v1'));
    await registry.snapshot('mira-000011', 'Keep me');
    for (let n = 3; n <= 12; n++) await registry.saveCustom(persona('mira-000011', 'Mira', `v${n}`));
    const kept = (await registry.versions('mira-000011')).map((v) => v.version);
    assert.deepEqual(kept, [12, 11, 10, 2, 1]);
    assert.equal((await registry.versionContent('mira-000011', 2))?.systemPrompt, 'v1');
  });

  it('keeps each version’s picture: restoring an old version brings its picture back', async () => {
    const dir = join(root, 'pictures');
    const registry = await load(dir);
    const red = placeholderPng('red', 8);
    const blue = placeholderPng('blue!', 8);
    assert.ok(!Buffer.from(red).equals(Buffer.from(blue)));
    await registry.saveCustom(persona('mira-000012'), { avatar: red });
    await registry.saveCustom(persona('mira-000012'), { avatar: blue });
    assert.ok(Buffer.from((await registry.avatarOf('mira-000012'))!).equals(Buffer.from(blue)));
    // An edit that says nothing about the picture keeps the current one.
    await registry.saveCustom({ ...registry.get('mira-000012')!, greeting: 'Hi.' });
    assert.ok(Buffer.from((await registry.avatarOf('mira-000012'))!).equals(Buffer.from(blue)));
    await registry.restoreVersion('mira-000012', 1);
    assert.ok(Buffer.from((await registry.avatarOf('mira-000012'))!).equals(Buffer.from(red)));
    const pictures = (await readdir(dir)).filter((n) => n.includes('.avatar'));
    assert.equal(pictures.length, 2, pictures.join(', '));
    assert.ok(pictures.every((n) => /^mira-000012\.avatar-[0-9a-f]{12}\.png$/.test(n)));
  });
});

describe('built-in personas are read-only; duplicate and edit', () => {
  let root: string;
  before(async () => (root = await mkdtemp(join(tmpdir(), 'persona-builtin-'))));
  after(() => rm(root, { recursive: true, force: true }));

  it('refuses to save, snapshot or restore a built-in', async () => {
    const registry = await load(join(root, 'ro'));
    const sam = registry.get('sam')!;
    await assert.rejects(registry.saveCustom({ ...sam, greeting: 'Changed' }), (e) => e instanceof BuiltInPersonaError && /built in/.test(describeError(e)));
    await assert.rejects(registry.snapshot('sam', 'mine'), BuiltInPersonaError);
    await assert.rejects(registry.restoreVersion('sam', 1), BuiltInPersonaError);
    assert.deepEqual(await registry.versions('sam'), []);
    assert.notEqual(registry.get('sam')?.greeting, 'Changed');
  });

  it('duplicates a built-in under a fresh id and "<Name> (copy)", then "(copy 2)"', async () => {
    const registry = await load(join(root, 'dup'));
    const sam = registry.get('sam')!;
    const copy = registry.duplicateForEdit('sam');
    assert.equal(copy.name, 'Sam (copy)');
    assert.match(copy.id, /^sam-copy-[0-9a-f]{6}$/);
    assert.equal(registry.get(copy.id), undefined, 'nothing is saved until saveCustom');
    const { id: _i, name: _n, ...rest } = copy;
    const { id: _si, name: _sn, ...samRest } = sam;
    assert.deepEqual(rest, samRest, 'everything else is copied');

    const created = await registry.saveCustom({ ...copy, greeting: 'Hi, I am the copy.' });
    assert.equal(created.kind, 'create');
    assert.equal(registry.isBuiltIn(copy.id), false);
    assert.equal(registry.duplicateForEdit('sam').name, 'Sam (copy 2)');
    assert.equal(registry.duplicateForEdit(copy.id).name, 'Sam (copy) (copy)');
    assert.throws(() => registry.duplicateForEdit('nobody'), UnknownPersonaError);
  });

  it('a duplicate of a custom persona gets its own picture and card files, which outlive the original', async () => {
    const dir = join(root, 'dup-custom');
    const registry = await load(dir);
    const picture = placeholderPng('orig', 8);
    await registry.saveCustom(persona('orig-000001', 'Orig'), { avatar: picture, assets: new Map([['embeded://assets/other/a.txt', Buffer.from('asset A')]]) });
    const copy = registry.duplicateForEdit('orig-000001');
    await registry.saveCustom(copy);
    await registry.removeCustom('orig-000001');
    assert.ok(Buffer.from((await registry.avatarOf(copy.id))!).equals(Buffer.from(picture)));
    assert.equal(Buffer.from((await registry.assetsOf(copy.id)).get('embeded://assets/other/a.txt')!).toString(), 'asset A');
    assert.ok(registry.get(copy.id)!.avatar!.file.startsWith(`${copy.id}.`));
  });
});
