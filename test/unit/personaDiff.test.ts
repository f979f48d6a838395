// The field-by-field difference between two versions of a persona: people's labels, word diffs for
// short text and line diffs for long text (whose parts rebuild both sides), greetings, sampling and
// lorebook changes, internal fields summarised, and nothing at all for identical personas.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cardToPersona } from '../../src/characters/cards/cardToPersona';
import { CardDataSchema } from '../../src/shared/cardSchema';
import type { CardPersona } from '../../src/shared/cardPersona';
import { diffPersonas, textDiff, type DiffPart, type FieldDiff } from '../../src/characters/personaDiff';

function base(): CardPersona {
  const card = CardDataSchema.parse({
    name: 'Orla',
    description: 'Orla keeps bees on a floating island.',
    personality: 'patient, curious',
    scenario: '',
    first_mes: 'The hives are humming today.',
    mes_example: '',
    system_prompt: 'You are {{char}}. Answer briefly.',
    alternate_greetings: ['Mind the bees.', 'Honey?'],
    tags: ['bees', 'islands'],
    character_book: {
      name: 'Island lore',
      scan_depth: 4,
      extensions: {},
      entries: [
        { id: 1, name: 'Dragons', keys: ['dragon'], content: 'Dragons avoid the island because of the bees.', extensions: {}, enabled: true, insertion_order: 1 },
        { id: 2, name: 'Hives', keys: ['hive'], content: 'There are twelve hives.', extensions: {}, enabled: true, insertion_order: 2 },
        { id: 3, name: 'Wind', keys: ['wind'], content: 'The island drifts with the wind.', extensions: {}, enabled: true, insertion_order: 3 },
      ],
    },
    extensions: { other_app: { x: 1 } },
  });
  return cardToPersona(card, { id: 'orla-000001' });
}

function rebuild(parts: readonly DiffPart[], side: 'before' | 'after'): string {
  return parts.filter((p) => (side === 'before' ? !p.added : !p.removed)).map((p) => p.value).join('');
}

function byField(diffs: FieldDiff[]): Map<string, FieldDiff> {
  return new Map(diffs.map((d) => [d.field, d]));
}

describe('diffPersonas', () => {
  it('finds nothing between identical personas, or when only the version number differs', () => {
    assert.deepEqual(diffPersonas(base(), base()), []);
    assert.deepEqual(diffPersonas({ ...base(), version: 3 }, { ...base(), version: 7 }), []);
  });

  it('labels fields for people and gives a word diff for short text', () => {
    const after = { ...base(), systemPrompt: 'You are {{char}}. Answer warmly.', greeting: 'The hives are quiet today.' };
    const diffs = diffPersonas(base(), after);
    assert.deepEqual(diffs.map((d) => [d.field, d.label, d.change]), [
      ['systemPrompt', 'System prompt', 'changed'],
      ['greeting', 'Greeting', 'changed'],
    ]);
    const prompt = diffs[0]!;
    assert.equal(prompt.before, 'You are {{char}}. Answer briefly.');
    assert.equal(prompt.after, 'You are {{char}}. Answer warmly.');
    assert.deepEqual(prompt.parts?.filter((p) => p.added || p.removed), [
      { value: 'briefly', removed: true },
      { value: 'warmly', added: true },
    ]);
    assert.equal(rebuild(prompt.parts!, 'before'), prompt.before);
    assert.equal(rebuild(prompt.parts!, 'after'), prompt.after);
  });

  it('gives a line diff for long text, whose parts are whole lines and rebuild both sides', () => {
    const lines = Array.from({ length: 8 }, (_, i) => `Line ${i + 1} of the long character description, with some words.`);
    const before = { ...base(), characterDescription: lines.join('\n') };
    const changed = [...lines];
    changed[4] = 'Line 5 was rewritten entirely.';
    const after = { ...base(), characterDescription: changed.join('\n') };
    const [d] = diffPersonas(before, after);
    assert.equal(d?.label, 'Character description');
    assert.deepEqual(d?.parts?.filter((p) => p.added || p.removed), [
      { value: `${lines[4]}\n`, removed: true },
      { value: 'Line 5 was rewritten entirely.\n', added: true },
    ]);
    assert.equal(rebuild(d!.parts!, 'before'), before.characterDescription);
    assert.equal(rebuild(d!.parts!, 'after'), after.characterDescription);
    // Short text with a few lines still gets words.
    assert.ok(textDiff('a b\nc', 'a x\nc').some((p) => p.removed && p.value === 'b'));
  });

  it('gives up on a smallest diff of two long, entirely different texts quickly, showing old and new whole', () => {
    // Every tenth line in common, so a full diff would be hundreds of parts.
    const a = Array.from({ length: 6_000 }, (_, i) => (i % 10 === 0 ? `same line ${i}` : `alpha line ${i}`)).join('\n');
    const b = Array.from({ length: 6_000 }, (_, i) => (i % 10 === 0 ? `same line ${i}` : `beta line ${i}`)).join('\n');
    const started = performance.now();
    const parts = textDiff(a, b);
    assert.ok(performance.now() - started < 2_000, `took ${Math.round(performance.now() - started)} ms`);
    assert.deepEqual(parts, [
      { value: a, removed: true },
      { value: b, added: true },
    ]);
  });

  it('tells text that was added or removed, without parts', () => {
    const diffs = byField(diffPersonas(base(), { ...base(), scenario: 'A storm is coming.', personality: '' }));
    assert.deepEqual(diffs.get('scenario'), { field: 'scenario', label: 'Scenario', change: 'added', after: 'A storm is coming.' });
    assert.deepEqual(diffs.get('personality'), { field: 'personality', label: 'Personality', change: 'removed', before: 'patient, curious' });
  });

  it('numbers alternate greetings from 1 and tells added, changed and removed ones', () => {
    const changed = diffPersonas(base(), { ...base(), alternateGreetings: ['Mind the bees.', 'Honey, dear?', 'Welcome back.'] });
    assert.deepEqual(changed.map((d) => [d.label, d.change]), [
      ['Alternate greeting 2', 'changed'],
      ['Alternate greeting 3', 'added'],
    ]);
    const removed = diffPersonas(base(), { ...base(), alternateGreetings: ['Mind the bees.'] });
    assert.deepEqual(removed.map((d) => [d.field, d.label, d.change, d.before]), [['alternateGreetings.1', 'Alternate greeting 2', 'removed', 'Honey?']]);
  });

  it('tells sampling settings by name, set, changed and cleared', () => {
    const before = { ...base(), sampling: { temperature: 0.7, maxTokens: 400 } };
    const after = { ...base(), sampling: { temperature: 1.1, topP: 0.9 } };
    assert.deepEqual(diffPersonas(before, after), [
      { field: 'sampling.temperature', label: 'Temperature', change: 'changed', before: '0.7', after: '1.1' },
      { field: 'sampling.topP', label: 'Top P', change: 'added', after: '0.9' },
      { field: 'sampling.maxTokens', label: 'Max tokens', change: 'removed', before: '400' },
    ]);
  });

  it('names lorebook entries, and matches them by id so one removal is one change', () => {
    const b = base();
    const book = b.lorebook!;
    const edited: CardPersona = {
      ...b,
      lorebook: {
        ...book,
        scan_depth: 8,
        entries: [
          { ...book.entries[0]!, content: 'Dragons avoid the island because of the angry bees.', constant: true },
          // "Hives" (id 2) removed; "Wind" keeps its id at a new position.
          { ...book.entries[2]!, keys: ['wind', 'breeze'] },
          { id: 4, name: 'Rain', keys: ['rain'], content: 'Rain is rare.', extensions: {}, enabled: false, insertion_order: 4, use_regex: false },
        ],
      },
    };
    const diffs = diffPersonas(b, edited);
    assert.deepEqual(diffs.map((d) => [d.label, d.change]), [
      ['Lorebook scan depth', 'changed'],
      ['Lorebook entry “Dragons”: content', 'changed'],
      ['Lorebook entry “Dragons”: always included', 'added'],
      ['Lorebook entry “Wind”: keys', 'changed'],
      ['Lorebook entry “Rain”', 'added'],
      ['Lorebook entry “Hives”', 'removed'],
    ]);
    const content = diffs[1]!;
    assert.deepEqual(content.parts?.filter((p) => p.added), [{ value: 'angry ', added: true }]);
    assert.equal(diffs.find((d) => d.label === 'Lorebook entry “Hives”')?.before, 'keys: hive\nThere are twelve hives.');
    assert.equal(new Set(diffs.map((d) => d.field)).size, diffs.length, 'fields are unique keys');
  });

  it('summarises a whole lorebook added or removed', () => {
    const { lorebook: _l, ...withoutBook } = base();
    assert.deepEqual(diffPersonas(withoutBook, base()), [{ field: 'lorebook', label: 'Lorebook', change: 'added', after: '“Island lore”, 3 entries' }]);
    assert.deepEqual(diffPersonas(base(), withoutBook).map((d) => [d.label, d.change]), [['Lorebook', 'removed']]);
  });

  it('summarises the original card and where it came from in one line each, never dumping them', () => {
    const b = base();
    const after: CardPersona = {
      ...b,
      card: { ...b.card!, extensions: { other_app: { x: 2 } } },
      cardSource: { spec: 'chara_card_v3', format: 'charx', fileName: 'orla.charx', importedAt: 5 },
    };
    assert.deepEqual(diffPersonas(b, after), [
      { field: 'cardSource', label: 'Imported from', change: 'added', after: 'orla.charx, Character Card V3 CHARX' },
      { field: 'card', label: 'Original card data kept for export', change: 'changed' },
    ]);
    // The same card with its keys in another order is the same card.
    const reordered = Object.fromEntries(Object.entries(b.card!).reverse()) as typeof b.card;
    assert.deepEqual(diffPersonas(b, { ...b, card: reordered }), []);
  });

  it('tells tags, name, picture and the people-only fields', () => {
    const after: CardPersona = {
      ...base(),
      name: 'Orla Fenn',
      tags: ['bees', 'sky'],
      creatorNotes: 'Made for a jam.',
      avatar: { file: 'orla-000001.avatar-0123456789ab.png', ext: 'png' },
    };
    assert.deepEqual(diffPersonas(base(), after).map((d) => [d.label, d.change]), [
      ['Name', 'changed'],
      ['Picture', 'added'],
      ['Tags', 'changed'],
      ['Creator notes', 'added'],
    ]);
  });
});
