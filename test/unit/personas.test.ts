// The five built-in personas in `characters/*.json`: each parses with the same schema the extension
// uses to load them, and each is a persona of substance rather than a placeholder.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod/mini';
import { PersonaSchema, type Persona } from '../../src/shared/persona';

const CHARACTERS_DIR = path.resolve(__dirname, '../../characters');
const EXPECTED_IDS = ['coding-guru', 'creative-writer', 'data-analyst', 'sam', 'therapist'];

interface Loaded {
  file: string;
  persona: Persona;
}

/** Every JSON file in characters/, parsed with the schema the extension loads them with; failures are kept, not thrown. */
function loadAll(): { loaded: Loaded[]; failures: string[] } {
  const loaded: Loaded[] = [];
  const failures: string[] = [];
  const files = fs
    .readdirSync(CHARACTERS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
  for (const file of files) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(path.join(CHARACTERS_DIR, file), 'utf8'));
    } catch (err) {
      failures.push(`${file}: not valid JSON (${String(err)})`);
      continue;
    }
    const result = PersonaSchema.safeParse(raw);
    if (result.success) loaded.push({ file, persona: result.data });
    else failures.push(`${file} does not match PersonaSchema:\n${z.prettifyError(result.error)}`);
  }
  return { loaded, failures };
}

const graphemes = (s: string): string[] =>
  Array.from(new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(s), (g) => g.segment);

describe('built-in personas (characters/*.json)', () => {
  const { loaded, failures } = loadAll();
  const byId = new Map(loaded.map(({ persona }) => [persona.id, persona]));

  it('parses every file with PersonaSchema', () => {
    assert.deepEqual(failures, []);
  });

  it('contains only JSON persona files', () => {
    const others = fs.readdirSync(CHARACTERS_DIR).filter((f) => !f.endsWith('.json'));
    assert.deepEqual(others, []);
  });

  it('has exactly the five expected ids, unique, each equal to its file name', () => {
    assert.equal(loaded.length + failures.length, EXPECTED_IDS.length, 'expected one file per built-in persona');
    for (const { file, persona } of loaded) {
      assert.equal(persona.id, path.basename(file, '.json'), `${file}: id must equal the file name`);
    }
    const ids = loaded.map(({ persona }) => persona.id);
    assert.equal(new Set(ids).size, ids.length, 'ids must be unique');
    assert.deepEqual([...ids].sort(), EXPECTED_IDS);
  });

  it('gives each persona a name, a one-line description and a single, distinct emoji icon', () => {
    const icons = new Set<string>();
    for (const { persona: p } of loaded) {
      assert.ok(p.name.length > 0, `${p.id}: name`);
      assert.ok(!/[\r\n]/.test(p.description), `${p.id}: description must be one line`);
      assert.ok(p.description.length <= 200, `${p.id}: description ≤ 200 chars`);
      assert.equal(graphemes(p.icon).length, 1, `${p.id}: icon must be one emoji, got ${JSON.stringify(p.icon)}`);
      assert.match(p.icon, /\p{Extended_Pictographic}/u, `${p.id}: icon must be an emoji`);
      assert.ok(!icons.has(p.icon), `${p.id}: icon ${p.icon} is used twice`);
      icons.add(p.icon);
      assert.ok(p.tags.length > 0, `${p.id}: at least one tag`);
    }
  });

  it('writes system prompts of substance, in the second person, and no two alike', () => {
    const prompts = new Set<string>();
    for (const { persona: p } of loaded) {
      assert.ok(p.systemPrompt.length >= 1200, `${p.id}: system prompt is ${p.systemPrompt.length} chars, want ≥ 1200`);
      assert.ok(p.systemPrompt.startsWith(`You are ${p.name}`), `${p.id}: prompt should open "You are ${p.name}"`);
      assert.ok(!prompts.has(p.systemPrompt), `${p.id}: system prompt duplicates another persona's`);
      prompts.add(p.systemPrompt);
    }
  });

  it('gives each persona its own short greeting', () => {
    const greetings = new Set<string>();
    for (const { persona: p } of loaded) {
      assert.ok(p.greeting.length <= 400, `${p.id}: greeting should be 1–3 sentences`);
      assert.ok(!greetings.has(p.greeting), `${p.id}: greeting duplicates another persona's`);
      greetings.add(p.greeting);
    }
  });

  it('uses only the {{user}} placeholder, never {{char}} or others', () => {
    for (const { persona: p } of loaded) {
      for (const field of [p.systemPrompt, p.greeting, p.description, p.name]) {
        const placeholders = field.match(/\{\{[^}]*\}\}/g) ?? [];
        for (const ph of placeholders) assert.equal(ph, '{{user}}', `${p.id}: unexpected placeholder ${ph}`);
      }
    }
  });

  it('sets every sampling default, within the schema and sensible for a sidebar', () => {
    for (const { persona: p } of loaded) {
      const s = p.sampling;
      assert.ok(s.temperature !== undefined && s.temperature >= 0 && s.temperature <= 2, `${p.id}: temperature`);
      assert.ok(s.topP !== undefined && s.topP > 0 && s.topP <= 1, `${p.id}: topP`);
      assert.ok(s.maxTokens !== undefined && Number.isInteger(s.maxTokens), `${p.id}: maxTokens`);
      assert.ok(s.maxTokens >= 256 && s.maxTokens <= 4096, `${p.id}: maxTokens ${s.maxTokens} out of sidebar range`);
      assert.ok(s.presencePenalty !== undefined && Math.abs(s.presencePenalty) <= 2, `${p.id}: presencePenalty`);
      assert.ok(s.frequencyPenalty !== undefined && Math.abs(s.frequencyPenalty) <= 2, `${p.id}: frequencyPenalty`);
    }
  });

  it('runs the creative writer warmer than the coding guru and the data analyst', () => {
    const t = (id: string): number => byId.get(id)?.sampling.temperature ?? Number.NaN;
    assert.ok(t('creative-writer') > t('coding-guru'));
    assert.ok(t('creative-writer') > t('data-analyst'));
  });

  it('has the therapist say it is not a clinician and name real crisis lines', () => {
    const therapist = byId.get('therapist');
    assert.ok(therapist, 'therapist persona is missing');
    const prompt = therapist.systemPrompt;
    assert.match(prompt, /not a (licensed )?(therapist|clinician)/i);
    assert.match(prompt, /\b988\b/, 'US 988 Suicide & Crisis Lifeline');
    assert.match(prompt, /116 123/, 'Samaritans (UK/IE)');
    assert.match(prompt, /findahelpline\.com/, 'international directory');
    assert.match(prompt, /emergency number/i);
    assert.match(prompt, /never diagnose/i);
    assert.match(therapist.greeting, /\bAI\b/, 'greeting says it is an AI');
    assert.match(therapist.greeting, /not a therapist/i, 'greeting says it is not a therapist');
  });
});
