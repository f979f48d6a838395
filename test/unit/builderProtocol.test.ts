// The Character Builder's protocol and form: what each side accepts and rejects, how a form becomes a
// persona (and says what to fix), that nothing a card carries is lost on the way through the form,
// the prompt preview the host builds, and the draft files that survive a reload.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AvatarUrlSchema,
  BuilderRequests,
  BuilderStateSchema,
  emptyForm,
  formToPersona,
  hasUnsavedChanges,
  BuilderProtocol,
  personaToForm,
  type BuilderForm,
} from '../../src/shared/builderProtocol';
import { CardPersonaSchema, type CardPersona } from '../../src/shared/cardPersona';
import { CardDataSchema } from '../../src/shared/cardSchema';
import type { Logger } from '../../src/util/logger';
import { BuilderDraftStore, avatarFormat, draftAvatar, makeDraft } from '../../src/characters/builderDrafts';
import { previewPrompt } from '../../src/characters/builderPreview';
import { cardToPersona } from '../../src/characters/cards/cardToPersona';
import { DEFAULT_CARD_SYSTEM_PROMPT } from '../../src/chat/chatService';
import { countTokens } from '../../src/util/tokenizer/countTokens';

function filled(overrides: Partial<BuilderForm> = {}): BuilderForm {
  return { ...emptyForm(), name: 'Captain Vega', description: 'A starship captain with opinions.', icon: '🚀', systemPrompt: 'You are {{char}}, talking to {{user}}.', ...overrides };
}

function logger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info() {}, warn: (m) => void warnings.push(String(m)), error: (m) => void warnings.push(String(m)), debug() {}, trace() {} };
}

/** A persona imported from a card that carries things the form does not show. */
function importedPersona(): CardPersona {
  const card = CardDataSchema.parse({
    name: 'Mira',
    description: 'Mira keeps the lighthouse.',
    first_mes: 'The lamp is lit, {{user}}.',
    tags: ['sea', 'night'],
    extensions: { other_app: { mood: 'calm' } },
    unknown_top_level: 42,
    character_book: {
      name: 'Coast',
      extensions: { book_ext: true },
      scan_depth: 3,
      entries: [
        { keys: ['storm', 'gale'], content: 'Storms come from the west.', extensions: { x: 1 }, enabled: true, insertion_order: 5, secondary_keys: ['ship'], selective: true, comment: 'weather' },
        { keys: [], content: 'The lighthouse is old.', extensions: {}, enabled: true, insertion_order: 1, constant: true },
      ],
    },
  });
  return cardToPersona(card, { id: 'mira', source: { spec: 'chara_card_v2', format: 'json', importedAt: 1_700_000_000_000 } });
}

describe('builder protocol: requests from the webview', () => {
  it('accepts every request with valid params', () => {
    const form = filled();
    const cases: Array<[string, unknown]> = [
      [BuilderRequests.ready.method, {}],
      [BuilderRequests.change.method, { form }],
      [BuilderRequests.preview.method, { sampleMessage: 'Hi' }],
      [BuilderRequests.save.method, { form }],
      [BuilderRequests.discard.method, {}],
      [BuilderRequests.pickAvatar.method, {}],
      [BuilderRequests.versions.method, {}],
      [BuilderRequests.snapshot.method, {}],
      [BuilderRequests.diff.method, { from: 1, to: 3 }],
      [BuilderRequests.restore.method, { version: 1 }],
    ];
    for (const [method, params] of cases) {
      const r = BuilderProtocol.parseRequest({ id: 4, method, params });
      assert.equal(r.ok, true, `${method}: ${r.ok ? '' : r.error}`);
      if (r.ok) assert.equal(r.value.method, method);
    }
  });

  it('rejects what is not a request, without an id to answer', () => {
    for (const raw of [null, 7, 'builder/save', [], {}, { method: 'builder/save', params: {} }, { id: -2, method: 'builder/ready', params: {} }]) {
      const r = BuilderProtocol.parseRequest(raw);
      assert.equal(r.ok, false, JSON.stringify(raw));
      if (!r.ok) assert.equal(r.id, undefined);
    }
  });

  it('rejects unknown methods (the chat view\'s among them) and bad params, keeping the id', () => {
    assert.deepEqual(BuilderProtocol.parseRequest({ id: 3, method: 'chat/send', params: { text: 'hi' } }), { ok: false, id: 3, error: 'unknown method "chat/send"' });
    const form = filled();
    const bad: Array<[string, unknown]> = [
      ['builder/save', {}],
      ['builder/save', { form: { ...form, name: 5 } }],
      ['builder/save', { form: { ...form, sampling: { temperature: 0.7 } } }],
      ['builder/save', { form: { ...form, characterDescription: 'x'.repeat(100_001) } }],
      ['builder/save', { form: { ...form, alternateGreetings: Array.from({ length: 201 }, () => 'hi') } }],
      ['builder/preview', { sampleMessage: 'x'.repeat(4_001) }],
      ['builder/preview', {}],
      ['builder/change', {}],
      ['builder/diff', { from: -1, to: 2 }],
      ['builder/diff', { from: 1.5, to: 2 }],
      ['builder/restore', { version: '1' }],
    ];
    for (const [method, params] of bad) {
      const r = BuilderProtocol.parseRequest({ id: 9, method, params });
      assert.equal(r.ok, false, `${method} ${JSON.stringify(params).slice(0, 80)}`);
      if (!r.ok) {
        assert.equal(r.id, 9);
        assert.match(r.error, new RegExp(`^invalid params for ${method.replace('/', '\\/')}`));
      }
    }
  });
});

describe('builder protocol: messages from the host', () => {
  it('accepts answers and the state notification, nothing else', () => {
    assert.deepEqual(BuilderProtocol.parseHostMessage({ id: 1, ok: true, result: null }), { ok: true, value: { kind: 'response', id: 1, ok: true, result: null } });
    assert.equal(BuilderProtocol.parseHostMessage({ id: 2, ok: false, error: { message: 'nope', reason: 'invalid' } }).ok, true);
    const state = { draftKey: 'mira', personaId: 'mira', form: filled(), savedForm: filled(), restoredDraftAt: null, avatarUrl: null, userName: 'Ada' };
    const note = BuilderProtocol.parseHostMessage({ method: 'builder/state', params: { state, replaceForm: true } });
    assert.ok(note.ok && note.value.kind === 'notification' && note.value.params.replaceForm);
    for (const raw of [
      null,
      {},
      { method: 'state/changed', params: {} },
      { method: 'builder/state', params: { state } },
      { method: 'builder/state', params: { state: { ...state, avatarUrl: 'https://example.com/x.png' }, replaceForm: false } },
      { id: 1, ok: false },
      { id: 'x', ok: true, result: 1 },
    ]) {
      assert.equal(BuilderProtocol.parseHostMessage(raw).ok, false, JSON.stringify(raw).slice(0, 100));
    }
  });

  it('checks the state the host sends: pictures only as inline PNG, JPEG or WebP, draft keys that name no path', () => {
    const state = { draftKey: 'new-0123456789abcdef', personaId: null, form: filled(), savedForm: null, restoredDraftAt: null, avatarUrl: null, userName: 'Ada' };
    assert.equal(BuilderStateSchema.safeParse(state).success, true);
    assert.equal(BuilderStateSchema.safeParse({ ...state, draftKey: 'mira', personaId: 'mira' }).success, true);
    for (const draftKey of ['../etc/passwd', 'new-XYZ', 'Mira', '', 'a/b']) {
      assert.equal(BuilderStateSchema.safeParse({ ...state, draftKey }).success, false, draftKey);
    }
    assert.equal(AvatarUrlSchema.safeParse('data:image/png;base64,iVBORw0KGgo=').success, true);
    for (const url of ['https://example.com/a.png', 'data:image/svg+xml;base64,PHN2Zz4=', 'data:text/html;base64,PGI+', 'data:image/png;base64,"><script>', 'javascript:alert(1)']) {
      assert.equal(AvatarUrlSchema.safeParse(url).success, false, url);
    }
  });
});

describe('builder form → persona', () => {
  it('says what to fix, field by field, for an empty form', () => {
    const r = formToPersona(emptyForm(), { id: 'x' });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.match(r.errors.name!, /name/i);
    assert.match(r.errors.description!, /one line/i);
    assert.equal(r.errors.icon, undefined, 'the empty form has an emoji already');
  });

  it('reads numbers from text and names the allowed range when one is wrong', () => {
    const ok = formToPersona(filled({ sampling: { temperature: '0.7', topP: '', maxTokens: '512', presencePenalty: '-1', frequencyPenalty: ' ' } }), { id: 'vega' });
    assert.equal(ok.ok, true);
    if (ok.ok) assert.deepEqual(ok.persona.sampling, { temperature: 0.7, maxTokens: 512, presencePenalty: -1 });

    const bad = formToPersona(filled({ sampling: { temperature: 'warm', topP: '0', maxTokens: '1.5', presencePenalty: '3', frequencyPenalty: '' } }), { id: 'vega' });
    assert.equal(bad.ok, false);
    if (bad.ok) return;
    assert.match(bad.errors['sampling.temperature']!, /Temperature must be a number from 0 to 2/);
    assert.match(bad.errors['sampling.topP']!, /above 0/);
    assert.match(bad.errors['sampling.maxTokens']!, /whole number/);
    assert.match(bad.errors['sampling.presencePenalty']!, /-2 to 2/);
    assert.equal(bad.errors['sampling.frequencyPenalty'], undefined);
  });

  it('the model, top K, min P, repeat penalty, seed and stop sequences: read, checked, and shown again', () => {
    const form = filled({
      sampling: { temperature: '', topP: '', maxTokens: '', presencePenalty: '', frequencyPenalty: '', topK: '40', minP: '0.05', repeatPenalty: '1.1', seed: '7', stop: 'END\n\n###', model: ' qwen3-8b ' },
    });
    const ok = formToPersona(form, { id: 'vega' });
    assert.equal(ok.ok, true);
    if (!ok.ok) return;
    assert.deepEqual(ok.persona.sampling, { topK: 40, minP: 0.05, repeatPenalty: 1.1, seed: 7, stop: ['END', '###'], model: 'qwen3-8b' });
    const again = personaToForm(ok.persona).sampling;
    assert.equal(again.stop, 'END\n###');
    assert.equal(again.model, 'qwen3-8b');
    assert.equal(again.topK, '40');

    const bad = formToPersona(filled({ sampling: { ...form.sampling, topK: '2.5', stop: 'a\nb\nc\nd\ne' } }), { id: 'vega' });
    assert.equal(bad.ok, false);
    if (bad.ok) return;
    assert.match(bad.errors['sampling.topK']!, /whole number/);
    assert.match(bad.errors['sampling.stop']!, /At most 4/);
  });

  it('a draft saved before the new fields existed still reads, its new fields empty', () => {
    const old = { temperature: '0.5', topP: '', maxTokens: '', presencePenalty: '', frequencyPenalty: '' };
    const r = formToPersona(filled({ sampling: old }), { id: 'vega' });
    assert.equal(r.ok, true);
    if (r.ok) assert.deepEqual(r.persona.sampling, { temperature: 0.5 });
  });

  it('checks lorebook entries: content needed, keys needed unless always on', () => {
    const entry = { keys: '', content: '', enabled: true, constant: false, insertionOrder: 'first' };
    const r = formToPersona(filled({ lorebook: { scanDepth: '-1', tokenBudget: '', entries: [entry, { ...entry, content: 'Always.', constant: true, insertionOrder: '2' }] } }), { id: 'vega' });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(Object.keys(r.errors).sort(), ['lorebook.entries.0.content', 'lorebook.entries.0.insertionOrder', 'lorebook.entries.0.keys', 'lorebook.scanDepth']);
  });

  it('makes a persona the schema accepts, with tags and keys split at commas, and HTML kept as plain text', () => {
    const html = '<img src=x onerror=alert(1)><script>alert(2)</script>';
    const r = formToPersona(
      filled({
        tags: ' space,  captain ,, ',
        greeting: html,
        alternateGreetings: ['Second hello', '   ', 'Third hello'],
        lorebook: { scanDepth: '4', tokenBudget: '300', entries: [{ keys: 'warp, engine', content: 'The engine hums.', enabled: true, constant: false, insertionOrder: '3' }] },
      }),
      { id: 'captain-vega' },
    );
    assert.equal(r.ok, true, r.ok ? '' : JSON.stringify(r.errors));
    if (!r.ok) return;
    const p = r.persona;
    assert.equal(CardPersonaSchema.safeParse(p).success, true);
    assert.equal(p.id, 'captain-vega');
    assert.deepEqual(p.tags, ['space', 'captain']);
    assert.equal(p.greeting, html);
    assert.deepEqual(p.alternateGreetings, ['Second hello', 'Third hello']);
    assert.equal(p.lorebook?.scan_depth, 4);
    assert.equal(p.lorebook?.token_budget, 300);
    assert.deepEqual(p.lorebook?.entries[0]?.keys, ['warp', 'engine']);
    assert.equal(p.lorebook?.entries[0]?.insertion_order, 3);
  });

  it('keeps everything the form does not show when an imported persona goes through it unchanged', () => {
    const original = importedPersona();
    const r = formToPersona(personaToForm(original), { id: original.id, persona: original });
    assert.equal(r.ok, true, r.ok ? '' : JSON.stringify(r.errors));
    if (!r.ok) return;
    assert.deepEqual(r.persona, original);
    assert.equal((r.persona.card as Record<string, unknown>).unknown_top_level, 42);
    assert.deepEqual(r.persona.lorebook?.entries[0]?.secondary_keys, ['ship']);
    assert.deepEqual(r.persona.lorebook?.extensions, { book_ext: true });
  });

  it('keeps an entry\'s hidden fields when entries are reordered and edited', () => {
    const original = importedPersona();
    const form = personaToForm(original);
    const [a, b] = form.lorebook.entries;
    form.lorebook.entries = [b!, { ...a!, content: 'Storms come from the east.' }];
    const r = formToPersona(form, { id: original.id, persona: original });
    assert.equal(r.ok, true);
    if (!r.ok) return;
    const moved = r.persona.lorebook!.entries[1]!;
    assert.equal(moved.content, 'Storms come from the east.');
    assert.equal(moved.comment, 'weather');
    assert.deepEqual(moved.extensions, { x: 1 });
    assert.equal(r.persona.lorebook!.entries[0]!.constant, true);
  });

  it('accepts a picture only when the host knows its file', () => {
    const form = filled({ avatar: 'new:abc123' });
    const without = formToPersona(form, { id: 'vega' });
    assert.equal(without.ok, false);
    if (!without.ok) assert.match(without.errors.avatar!, /choose it again/);
    const withFile = formToPersona(form, { id: 'vega', avatar: { file: 'vega.avatar-abc123.png', ext: 'png' } });
    assert.equal(withFile.ok && withFile.persona.avatar?.file, 'vega.avatar-abc123.png');
    const removed = formToPersona(filled({ avatar: null }), { id: 'vega', persona: { ...importedPersona(), avatar: { file: 'mira.png', ext: 'png' } } });
    assert.equal(removed.ok && removed.persona.avatar, undefined);
  });
});

describe('unsaved changes', () => {
  it('are none for an untouched new form, or a saved form that came back through the protocol with its keys in another order', () => {
    assert.equal(hasUnsavedChanges(emptyForm(), null), false);
    assert.equal(hasUnsavedChanges(filled(), null), true);
    const saved = personaToForm(importedPersona());
    const parsed = BuilderProtocol.parseRequest({ id: 1, method: 'builder/save', params: { form: saved } });
    assert.ok(parsed.ok && parsed.value.method === 'builder/save');
    const echoed = parsed.value.params.form;
    assert.notEqual(JSON.stringify(echoed), JSON.stringify(saved), 'the schema reorders keys (the case this guards against)');
    assert.equal(hasUnsavedChanges(echoed, saved), false);
    assert.equal(hasUnsavedChanges({ ...echoed, scenario: 'x' }, saved), true);
    assert.equal(hasUnsavedChanges({ ...echoed, lorebook: { ...echoed.lorebook, entries: echoed.lorebook.entries.slice().reverse() } }, saved), true, 'entry order matters');
  });
});

describe('builder preview', () => {
  it('is the prompt a chat would send: the system prompt with names filled in, the sample turn, and a real token count', () => {
    const form = filled({
      characterDescription: '{{char}} commands the Meridian.',
      postHistoryInstructions: 'Stay brief.',
      lorebook: { scanDepth: '', tokenBudget: '', entries: [{ keys: 'meridian', content: 'The Meridian is an old freighter.', enabled: true, constant: false, insertionOrder: '0' }] },
    });
    const p = previewPrompt(form, { userName: 'Ada', sampleMessage: 'Tell me about the Meridian, {{char}}.', defaultSystemPrompt: DEFAULT_CARD_SYSTEM_PROMPT, countTokens });
    assert.deepEqual(
      p.messages.map((m) => m.role),
      ['system', 'user', 'system'],
    );
    const system = p.messages[0]!.content;
    assert.ok(system.startsWith('You are Captain Vega, talking to Ada.'), system);
    assert.ok(system.includes('Captain Vega commands the Meridian.'));
    assert.ok(system.includes('The Meridian is an old freighter.'), 'the sample message activates the entry');
    assert.deepEqual(p.activatedEntries, [0]);
    assert.equal(p.messages[1]!.content, 'Tell me about the Meridian, Captain Vega.');
    assert.equal(p.systemTokens, countTokens(system));
    assert.ok(p.systemTokens > 10);
    assert.ok(p.totalTokens > p.systemTokens);
  });

  it('falls back to the default system prompt and works for a form that is not valid yet', () => {
    const p = previewPrompt(emptyForm(), { userName: 'Ada', sampleMessage: '', defaultSystemPrompt: DEFAULT_CARD_SYSTEM_PROMPT, countTokens });
    assert.equal(p.messages[0]!.content, "Write Unnamed's next reply in a fictional chat between Unnamed and Ada. Stay in character.");
    assert.ok(p.totalTokens > 0);
  });
});

describe('builder drafts on disk', () => {
  let root: string;
  before(async () => (root = await mkdtemp(join(tmpdir(), 'persona-drafts-'))));
  after(() => rm(root, { recursive: true, force: true }));

  it('writes, reads back, lists newest first and deletes', async () => {
    const store = new BuilderDraftStore(join(root, 'a'), logger());
    assert.deepEqual(await store.list(), []);
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    const first = makeDraft({ key: 'new-0123456789abcdef', personaId: null, form: filled(), avatar: { token: 'new:abc', ext: 'png', bytes: png } });
    await store.write(first);
    await new Promise((r) => setTimeout(r, 5));
    const second = makeDraft({ key: 'mira', personaId: 'mira', form: personaToForm(importedPersona()), base: importedPersona() });
    await store.write(second);
    const read = await store.read('new-0123456789abcdef');
    assert.deepEqual(read?.form, first.form);
    assert.deepEqual(draftAvatar(read!)?.bytes, Buffer.from(png));
    assert.deepEqual(
      (await store.list()).map((d) => d.key),
      ['mira', 'new-0123456789abcdef'],
    );
    assert.deepEqual((await store.read('mira'))?.base, importedPersona());
    await store.delete('mira');
    assert.equal(await store.read('mira'), undefined);
    assert.deepEqual(await readdir(join(root, 'a')), ['new-0123456789abcdef.json'], 'no temp files left behind');
  });

  it('ignores damaged files (and says so) without deleting them, and refuses keys that are paths', async () => {
    const dir = join(root, 'b');
    const log = logger();
    const store = new BuilderDraftStore(dir, log);
    await store.write(makeDraft({ key: 'new-aaaaaaaaaaaaaaaa', personaId: null, form: filled() }));
    await writeFile(join(dir, 'new-bbbbbbbbbbbbbbbb.json'), '{"schema":1, "key": "new-bbbbbbbbbbbbbbbb"');
    await writeFile(join(dir, 'new-cccccccccccccccc.json'), JSON.stringify({ schema: 1, key: 'new-cccccccccccccccc', personaId: null, changedAt: 1, form: { name: 3 } }));
    assert.deepEqual(
      (await store.list()).map((d) => d.key),
      ['new-aaaaaaaaaaaaaaaa'],
    );
    assert.equal(log.warnings.length, 2, log.warnings.join('\n'));
    assert.equal((await readdir(dir)).length, 3);
    await assert.rejects(store.read('../escape'), /invalid draft key/);
    await assert.rejects(store.write({ ...makeDraft({ key: 'new-aaaaaaaaaaaaaaaa', personaId: null, form: filled() }), key: '../x' }), /invalid draft key/);
  });

  it('recognises pictures by their bytes, not their names', () => {
    assert.equal(avatarFormat(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'png');
    assert.equal(avatarFormat(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])), 'jpg');
    assert.equal(avatarFormat(new TextEncoder().encode('RIFF\0\0\0\0WEBPVP8 ')), 'webp');
    assert.equal(avatarFormat(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>')), undefined);
    assert.equal(avatarFormat(new TextEncoder().encode('GIF89a')), undefined);
    assert.equal(avatarFormat(new Uint8Array([0x89, 0x50])), undefined);
  });
});
