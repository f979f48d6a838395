// <think>…</think> split from the answer however the stream cuts the text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ThinkSplitter } from '../../src/chat/reasoning';
import { prng } from '../support/prng';

function split(pieces: string[]): { reasoning: string; content: string } {
  const s = new ThinkSplitter();
  let reasoning = '';
  let content = '';
  for (const p of pieces) {
    const out = s.push(p);
    reasoning += out.reasoning;
    content += out.content;
  }
  const end = s.flush();
  return { reasoning: reasoning + end.reasoning, content: content + end.content };
}

/** Cuts `text` at random places, tags included. */
function cuts(text: string, random: () => number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const n = 1 + Math.floor(random() * 6);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

describe('reasoning in <think> tags', () => {
  const cases: [string, { reasoning: string; content: string }][] = [
    ['<think>\nThe user greets me.\n</think>\n\nHello!', { reasoning: '\nThe user greets me.\n', content: 'Hello!' }],
    ['  <think>a < b, and </thin is not the end</think>Answer', { reasoning: 'a < b, and </thin is not the end', content: 'Answer' }],
    ['No reasoning here, just <think> in the middle.', { reasoning: '', content: 'No reasoning here, just <think> in the middle.' }],
    ['<think>cut off while thinking', { reasoning: 'cut off while thinking', content: '' }],
    ['<thi', { reasoning: '', content: '<thi' }],
    ['<think></think>', { reasoning: '', content: '' }],
  ];

  it('splits whole replies', () => {
    for (const [text, expected] of cases) assert.deepEqual(split([text]), expected, text);
  });

  it('gives the same split however the stream cuts the text, tags included', () => {
    const random = prng(20261202);
    for (const [text, expected] of cases) {
      for (let round = 0; round < 200; round++) assert.deepEqual(split(cuts(text, random)), expected, `${text} (round ${round})`);
      assert.deepEqual(split([...text]), expected, `${text} one character at a time`);
    }
  });
});
