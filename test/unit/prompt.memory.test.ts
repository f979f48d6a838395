import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from 'gpt-tokenizer';
import { assembleCardPrompt, type HistoryMessage } from '../../src/characters/cards/cardPrompt';
import { PromptTooLongError } from '../../src/characters/prompt';
import { CardDataSchema } from '../../src/shared/cardSchema';

const countTokens = (t: string) => encode(t, { disallowedSpecial: new Set() }).length;
const card = CardDataSchema.parse({
  name: 'Guru',
  description: 'A patient programming mentor.',
  mes_example: '<START>\n{{user}}: hi\n{{char}}: Hello! What are we building?',
});
const memory = 'Excerpts from your files:\n[1] src/auth.ts (lines 1-3)\n```\nexport function login() {}\n```';
const history: HistoryMessage[] = [{ role: 'user', content: 'How does login work?' }];
const base = { card, userName: 'Ada', history, defaultSystemPrompt: 'Be {{char}}.', countTokens };

describe('memory in the prompt', () => {
  it('goes into the system message after the character and before the example dialogue', () => {
    const p = assembleCardPrompt({ ...base, memory });
    const system = p.messages[0]!.content;
    const at = system.indexOf('[1] src/auth.ts');
    assert.ok(at > system.indexOf('A patient programming mentor.'), system);
    assert.ok(at < system.indexOf('[Example dialogue'), system);
    assert.equal(p.droppedMemory, false);
  });

  it('is absent when empty, and the prompt is then what it was without it', () => {
    assert.deepEqual(assembleCardPrompt({ ...base, memory: '  ' }).messages, assembleCardPrompt(base).messages);
  });

  it('is left out after the examples when the context is short, keeping the message being answered', () => {
    const full = assembleCardPrompt({ ...base, memory });
    const withoutBoth = assembleCardPrompt({ ...base, card: { ...card, mes_example: '' } });
    // Room for everything except the memory and the examples.
    const p = assembleCardPrompt({ ...base, memory, contextBudget: withoutBoth.promptTokens + 2 });
    assert.ok(full.promptTokens > p.promptTokens);
    assert.equal(p.droppedMemory, true);
    assert.equal(p.droppedExamples, 1);
    assert.ok(!p.messages[0]!.content.includes('src/auth.ts'));
    assert.equal(p.messages.at(-1)!.content, 'How does login work?');
  });

  it('still reports a prompt that is too long without it', () => {
    assert.throws(() => assembleCardPrompt({ ...base, memory, contextBudget: 5 }), PromptTooLongError);
  });
});
