import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from 'gpt-tokenizer';
import type { Message } from '../../src/shared/conversation';
import type { Persona } from '../../src/shared/persona';
import { assemblePrompt, contextBudget, PromptTooLongError, substituteMacros } from '../../src/characters/prompt';
import { countTokens } from '../../src/util/tokenizer/countTokens';

const persona: Persona = {
  id: 'sam',
  name: 'Sam',
  description: 'A friend',
  icon: '😊',
  systemPrompt: 'You are {{char}}, talking with {{user}}. <BOT> likes <USER>.',
  greeting: 'Hey {{user}}!',
  tags: [],
  sampling: {},
};

let n = 0;
const msg = (role: 'user' | 'assistant', content: string, extra: Partial<Message> = {}): Message => ({ id: `m${n++}`, role, content, createdAt: n, status: 'complete', ...extra });

describe('prompt assembly', () => {
  it('substitutes {{char}}/<BOT> and {{user}}/<USER>, case-insensitively', () => {
    assert.equal(substituteMacros('{{CHAR}} and {{User}} / <bot> <user>', { char: 'Sam', user: 'Ada' }), 'Sam and Ada / Sam Ada');
    // Names are inserted as they are: not substituted again, not read as replacement patterns.
    assert.equal(substituteMacros('Hi {{user}}, I am {{char}}', { char: 'Ann {{user}}', user: '$& Bob' }), 'Hi $& Bob, I am Ann {{user}}');
  });

  it('puts the persona system prompt first, then the turns in order, leaving out failed replies', () => {
    const history = [msg('assistant', 'Hey Ada!', { greeting: true }), msg('user', 'hi'), msg('assistant', '', { status: 'error', error: 'down' }), msg('user', 'again')];
    const p = assemblePrompt({ persona, userName: 'Ada', history, replyTokens: 100, countTokens });
    assert.deepEqual(p.messages, [
      { role: 'system', content: 'You are Sam, talking with Ada. Sam likes Ada.' },
      { role: 'assistant', content: 'Hey Ada!' },
      { role: 'user', content: 'hi' },
      { role: 'user', content: 'again' },
    ]);
    assert.equal(p.droppedMessages, 0);
  });

  it('drops the oldest turns to fit the loaded context, and always keeps the message being answered', () => {
    const long = 'word '.repeat(300);
    const history = [msg('user', long), msg('assistant', long), msg('user', long), msg('assistant', long), msg('user', 'the question')];
    const p = assemblePrompt({ persona, userName: 'Ada', history, contextLength: 1200, replyTokens: 200, countTokens });
    assert.ok(p.droppedMessages >= 2, `dropped ${p.droppedMessages}`);
    assert.equal(p.messages.at(-1)?.content, 'the question');
    assert.ok(p.promptTokens <= contextBudget(1200, 200));
    // The estimate is real: it matches gpt-tokenizer's count of what is sent, plus per-message overhead.
    const counted = p.messages.reduce((a, m) => a + encode(m.content).length + 6, 0);
    assert.equal(p.promptTokens, counted);
  });

  it('throws a PromptTooLongError when even the last message does not fit', () => {
    const history = [msg('user', 'token '.repeat(5000))];
    assert.throws(() => assemblePrompt({ persona, userName: 'Ada', history, contextLength: 2048, replyTokens: 512, countTokens }), PromptTooLongError);
  });

  it('counts special tokens in text as text instead of throwing', () => {
    assert.ok(countTokens('before <|endoftext|> after <|im_start|>') > 4);
  });

  it('leaves room for the reply and a safety margin', () => {
    assert.equal(contextBudget(4096, 1024), 4096 - 1024 - 410);
    assert.equal(contextBudget(1000, 2000), 1000 - 500 - 100, 'a reply reserve never takes more than half');
  });
});
