// The context budget a prompt must fit, and token counting on text that holds special tokens.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contextBudget } from '../../src/characters/prompt';
import { countTokens } from '../../src/util/tokenizer/countTokens';

describe('context budget', () => {
  it('counts special tokens in text as text instead of throwing', () => {
    assert.ok(countTokens('before <|endoftext|> after <|im_start|>') > 4);
  });

  it('leaves room for the reply and a safety margin', () => {
    assert.equal(contextBudget(4096, 1024), 4096 - 1024 - 410);
    assert.equal(contextBudget(1000, 2000), 1000 - 500 - 100, 'a reply reserve never takes more than half');
  });
});
