import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from 'gpt-tokenizer';
import {
  assembleCardPrompt,
  effectiveSystemPrompt,
  parseDecorators,
  splitExampleDialogue,
  substituteCardMacros,
  type CardPromptInput,
  type HistoryMessage,
} from '../../src/characters/cards/cardPrompt';
import { CardDataSchema, type CardData, type LorebookEntry } from '../../src/shared/cardSchema';
import { PromptTooLongError } from '../../src/characters/prompt';

const countTokens = (t: string) => encode(t, { disallowedSpecial: new Set() }).length;

function card(fields: Record<string, unknown> = {}): CardData {
  return CardDataSchema.parse({ name: 'Sam', ...fields });
}
function entry(fields: Partial<LorebookEntry> & { content: string }): Record<string, unknown> {
  return { keys: [], extensions: {}, enabled: true, insertion_order: 0, ...fields };
}
function withBook(entries: Record<string, unknown>[], book: Record<string, unknown> = {}): CardData {
  return card({ character_book: { extensions: {}, ...book, entries } });
}
const user = (content: string): HistoryMessage => ({ role: 'user', content });
const bot = (content: string): HistoryMessage => ({ role: 'assistant', content });

function run(c: CardData, history: HistoryMessage[] = [user('hello')], extra: Partial<CardPromptInput> = {}) {
  return assembleCardPrompt({ card: c, userName: 'Ada', history, defaultSystemPrompt: 'Default prompt for {{char}}.', countTokens, ...extra });
}
const system = (p: ReturnType<typeof run>) => p.messages[0]!.content;

describe('macros', () => {
  it('substitutes {{char}}/<BOT>/<CHAR> and {{user}}/<USER>, in any case', () => {
    assert.equal(substituteCardMacros('{{char}} {{CHAR}} <BOT> <bot> <char> / {{user}} {{User}} <USER> <user>', { char: 'Sam', user: 'Ada' }), 'Sam Sam Sam Sam Sam / Ada Ada Ada Ada');
  });

  it('inserts names literally, even when they look like macros or replacement patterns', () => {
    assert.equal(substituteCardMacros('{{char}} meets {{user}}', { char: '{{user}}', user: "$& $' $1" }), "{{user}} meets $& $' $1");
  });

  it('uses the V3 nickname for {{char}} when it has one', () => {
    const p = run(card({ nickname: 'Sammy', description: '{{char}} sails.' }));
    assert.match(system(p), /Sammy sails\./);
  });

  it('applies macros to every card field that reaches the model, not to the history', () => {
    const p = run(card({ description: 'D {{char}}', personality: 'P <USER>', scenario: 'S {{user}}', mes_example: '<START>{{user}}: hi', post_history_instructions: 'PH {{char}}' }), [user('I am {{user}}')]);
    assert.match(system(p), /D Sam/);
    assert.match(system(p), /Sam's personality: P Ada/);
    assert.match(system(p), /Scenario: S Ada/);
    assert.match(system(p), /Ada: hi/);
    assert.equal(p.messages[1]!.content, 'I am {{user}}');
    assert.equal(p.messages.at(-1)!.content, 'PH Sam');
  });
});

describe('system prompt', () => {
  it('uses the default system prompt when the card has none (or only whitespace)', () => {
    assert.equal(system(run(card())), 'Default prompt for Sam.');
    assert.equal(system(run(card({ system_prompt: ' \n ' }))), 'Default prompt for Sam.');
  });

  it("replaces the default with the card's system_prompt", () => {
    assert.equal(system(run(card({ system_prompt: 'You are {{char}}, nothing else.' }))), 'You are Sam, nothing else.');
  });

  it('puts the default where {{original}} is, as often as it appears', () => {
    assert.equal(effectiveSystemPrompt('Before. {{original}} After. {{ORIGINAL}}', 'DEF'), 'Before. DEF After. DEF');
    assert.equal(system(run(card({ system_prompt: '{{original}} Also: be brief.' }))), 'Default prompt for Sam. Also: be brief.');
  });

  it('holds description, personality and scenario, in that order, and leaves out empty ones', () => {
    const s = system(run(card({ description: 'DESC', personality: 'PERS', scenario: 'SCEN' })));
    assert.deepEqual(s.split('\n\n'), ['Default prompt for Sam.', 'DESC', "Sam's personality: PERS", 'Scenario: SCEN']);
    assert.deepEqual(system(run(card({ personality: 'only this' }))).split('\n\n'), ['Default prompt for Sam.', "Sam's personality: only this"]);
  });
});

describe('example dialogue', () => {
  it('splits mes_example at <START> (any case), dropping empty blocks', () => {
    assert.deepEqual(splitExampleDialogue('<START>\nA: 1\n<start>\n\n<Start>B: 2\n'), ['A: 1', 'B: 2']);
    assert.deepEqual(splitExampleDialogue('no marker at all'), ['no marker at all']);
    assert.deepEqual(splitExampleDialogue(''), []);
  });

  it('sends each block in the system message, after the character, marked as an example', () => {
    const p = run(card({ description: 'DESC', mes_example: '<START>\n{{user}}: hi\n{{char}}: ahoy\n<START>\n{{user}}: bye\n{{char}}: fair winds' }));
    assert.deepEqual(p.exampleBlocks, ['Ada: hi\nSam: ahoy', 'Ada: bye\nSam: fair winds']);
    const s = system(p);
    assert.ok(s.indexOf('DESC') < s.indexOf('Ada: hi'));
    assert.equal(s.match(/\[Example dialogue, not part of this chat\]/g)?.length, 2);
    assert.ok(!s.includes('<START>'));
    assert.equal(p.messages.length, 2, 'examples are not made into chat turns');
  });
});

describe('history and post-history instructions', () => {
  it('keeps the history in order, leaving out empty and failed messages', () => {
    const p = run(card(), [bot('Ahoy!'), user('hi'), { role: 'assistant', content: '', status: 'error' }, { role: 'assistant', content: 'partial', status: 'error' }, user('again')]);
    assert.deepEqual(p.messages.slice(1), [
      { role: 'assistant', content: 'Ahoy!' },
      { role: 'user', content: 'hi' },
      { role: 'user', content: 'again' },
    ]);
  });

  it('places post_history_instructions after the history, as the last message', () => {
    const p = run(card({ post_history_instructions: '{{original}}Reply in one line, {{char}}.' }), [user('a'), bot('b'), user('c')]);
    assert.deepEqual(p.messages.at(-1), { role: 'system', content: 'Reply in one line, Sam.' });
    assert.equal(p.messages.at(-2)!.content, 'c');
    assert.equal(run(card({ post_history_instructions: '  ' })).messages.at(-1)!.role, 'user');
  });
});

describe('lorebook', () => {
  const harbour = entry({ keys: ['harbour'], content: 'LORE-HARBOUR' });

  it('activates an entry when a key appears in the last scan_depth messages, and not when it is older', () => {
    const history = [user('the harbour'), bot('x'), user('y'), bot('z'), user('w')];
    assert.deepEqual(run(withBook([harbour], { scan_depth: 5 }), history).activatedEntries.map((e) => e.index), [0]);
    assert.deepEqual(run(withBook([harbour], { scan_depth: 4 }), history).activatedEntries, []);
    assert.ok(system(run(withBook([harbour], { scan_depth: 5 }), history)).includes('LORE-HARBOUR'));
    assert.ok(!system(run(withBook([harbour], { scan_depth: 4 }), history)).includes('LORE-HARBOUR'));
  });

  it('scans the last 2 messages when the book does not say, and none at depth 0', () => {
    assert.equal(run(withBook([harbour]), [user('harbour'), bot('b'), user('c')]).activatedEntries.length, 0);
    assert.equal(run(withBook([harbour]), [user('harbour'), bot('b')]).activatedEntries.length, 1);
    assert.equal(run(withBook([harbour], { scan_depth: 0 }), [user('harbour')]).activatedEntries.length, 0);
  });

  it('matches case-insensitively unless case_sensitive', () => {
    assert.equal(run(withBook([harbour]), [user('THE HARBOUR!')]).activatedEntries.length, 1);
    const cs = entry({ keys: ['Harbour'], content: 'CS', case_sensitive: true });
    assert.equal(run(withBook([cs]), [user('the harbour')]).activatedEntries.length, 0);
    assert.equal(run(withBook([cs]), [user('the Harbour')]).activatedEntries.length, 1);
  });

  it('with selective, needs a secondary key too; without it, secondary keys do not matter', () => {
    const sel = entry({ keys: ['harbour'], secondary_keys: ['night', 'storm'], selective: true, content: 'SEL' });
    assert.equal(run(withBook([sel]), [user('the harbour at noon')]).activatedEntries.length, 0);
    assert.deepEqual(run(withBook([sel]), [user('the harbour in a STORM')]).activatedEntries.map((e) => e.key), ['harbour']);
    assert.equal(run(withBook([sel]), [user('a storm')]).activatedEntries.length, 0, 'a secondary key alone is not enough');
    const notSel = { ...sel, selective: false };
    assert.equal(run(withBook([notSel]), [user('the harbour at noon')]).activatedEntries.length, 1);
  });

  it('constant entries are always in; disabled ones never, not even constant', () => {
    const constant = entry({ keys: [], content: 'ALWAYS', constant: true });
    const disabled = entry({ keys: ['harbour'], content: 'NEVER', enabled: false, constant: true });
    const p = run(withBook([constant, disabled]), [user('harbour')]);
    assert.deepEqual(p.activatedEntries.map((e) => [e.index, e.reason]), [[0, 'constant']]);
    assert.ok(system(p).includes('ALWAYS'));
    assert.ok(!system(p).includes('NEVER'));
    assert.equal(run(withBook([constant], { scan_depth: 0 }), []).activatedEntries.length, 1);
  });

  it('orders entries by insertion_order, not by their place in the book', () => {
    const book = withBook([entry({ keys: ['x'], content: 'THIRD', insertion_order: 30 }), entry({ keys: ['x'], content: 'FIRST', insertion_order: -5 }), entry({ keys: ['x'], content: 'SECOND', insertion_order: 10 })]);
    const p = run(book, [user('x')]);
    assert.deepEqual(p.activatedEntries.map((e) => e.index), [1, 2, 0]);
    assert.match(system(p), /FIRST\nSECOND\nTHIRD/);
  });

  it('keeps within token_budget, leaving out the lowest insertion_order first', () => {
    const long = 'word '.repeat(40).trim(); // 40 tokens
    const book = withBook(
      [entry({ keys: ['x'], content: `A ${long}`, insertion_order: 1 }), entry({ keys: ['x'], content: `B ${long}`, insertion_order: 2 }), entry({ keys: ['x'], content: `C ${long}`, insertion_order: 3 })],
      { token_budget: 90 },
    );
    const p = run(book, [user('x')]);
    assert.deepEqual(p.activatedEntries.map((e) => e.index), [1, 2]);
    assert.deepEqual(p.overBudgetEntries, [0]);
    assert.ok(p.activatedEntries.every((e) => e.tokens === countTokens(`B ${long}`)));
    assert.ok(!system(p).includes('A word'));
  });

  it('with priorities, leaves out the lowest priority first', () => {
    const long = 'word '.repeat(40).trim();
    const book = withBook(
      [entry({ keys: ['x'], content: `A ${long}`, insertion_order: 1, priority: 9 }), entry({ keys: ['x'], content: `B ${long}`, insertion_order: 2, priority: 1 }), entry({ keys: ['x'], content: `C ${long}`, insertion_order: 3, priority: 5 })],
      { token_budget: 90 },
    );
    const p = run(book, [user('x')]);
    assert.deepEqual(p.activatedEntries.map((e) => e.index), [0, 2]);
    assert.deepEqual(p.overBudgetEntries, [1]);
  });

  it('places before_char entries before the description and after_char ones after the scenario', () => {
    const c = card({
      description: 'DESC',
      scenario: 'SCEN',
      character_book: { extensions: {}, entries: [entry({ content: 'AFTER', constant: true, position: 'after_char' }), entry({ content: 'BEFORE', constant: true, position: 'before_char' }), entry({ content: 'UNSET', constant: true })] },
    });
    const s = system(run(c));
    assert.deepEqual(s.split('\n\n'), ['Default prompt for Sam.', 'BEFORE\nUNSET', 'DESC', 'Scenario: SCEN', 'AFTER']);
  });

  it('never runs regex keys, skips empty content, strips decorators and honours @@activate/@@dont_activate', () => {
    const c = withBook([
      entry({ keys: ['(a+)+$'], content: 'REGEX', use_regex: true, constant: true }),
      entry({ keys: ['harbour'], content: '   ' }),
      entry({ keys: ['harbour'], content: '@@depth 4\n@@@instruct_depth 4\n\nDECORATED {{char}}' }),
      entry({ keys: [], content: '@@activate\nFORCED' }),
      entry({ keys: ['harbour'], content: '@@dont_activate\nSILENT' }),
    ]);
    const p = run(c, [user('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa! harbour')]);
    assert.deepEqual(p.activatedEntries.map((e) => e.index), [2, 3]);
    const s = system(p);
    assert.ok(s.includes('DECORATED Sam') && s.includes('FORCED'));
    assert.ok(!s.includes('@@') && !s.includes('REGEX') && !s.includes('SILENT'));
    assert.deepEqual(parseDecorators('@@a 1\n@@@b\ntext\n@@c'), { decorators: new Set(['a']), body: 'text\n@@c' });
  });

  it('matches keys that hold macros', () => {
    const c = withBook([entry({ keys: ['{{user}}'], content: 'ABOUT-USER' })]);
    assert.equal(run(c, [user('ada here')]).activatedEntries.length, 1);
  });
});

describe('what never reaches the model', () => {
  it('creator_notes, creator, character_version, tags and the lorebook’s own notes appear in no message', () => {
    const secret = (k: string) => `SECRET-${k}-${'x'.repeat(3)}`;
    const full = card({
      description: 'DESC',
      personality: 'PERS',
      scenario: 'SCEN',
      system_prompt: 'SYS {{original}}',
      mes_example: '<START>{{user}}: hi',
      post_history_instructions: 'POST',
      first_mes: secret('first_mes'), // the greeting is a chat message of its own, never in the system prompt
      alternate_greetings: [secret('alternate')],
      group_only_greetings: [secret('group')],
      creator_notes: secret('creator_notes'),
      creator_notes_multilingual: { en: secret('multilingual') },
      creator: secret('creator'),
      character_version: secret('version'),
      tags: [secret('tag1'), secret('tag2')],
      source: [secret('source')],
      extensions: { note: secret('extension') },
      assets: [{ type: 'icon', uri: secret('uri'), name: secret('asset'), ext: 'png' }],
      unknown_field: secret('unknown'),
      character_book: {
        name: secret('book_name'),
        description: secret('book_description'),
        extensions: { x: secret('book_ext') },
        entries: [entry({ keys: ['hello'], content: 'LORE', name: secret('entry_name'), comment: secret('entry_comment'), extensions: { y: secret('entry_ext') } })],
      },
    });
    const p = run(full, [bot('Ahoy'), user('hello')], { contextBudget: 100_000 });
    assert.equal(p.activatedEntries.length, 1);
    const everything = p.messages.map((m) => m.content).join('\n');
    for (const word of ['DESC', 'PERS', 'SCEN', 'SYS', 'Default prompt', 'Ada: hi', 'POST', 'LORE']) assert.ok(everything.includes(word), word);
    assert.deepEqual(everything.match(/SECRET-[a-z_0-9]+/g), null);
  });
});

describe('context budget', () => {
  const c = card({ description: 'DESC', mes_example: '<START>\nA: one\n<START>\nB: two' });
  const history = [user('first message here'), bot('second message here'), user('third message here')];

  it('without a budget, keeps everything and counts it', () => {
    const p = run(c, history);
    assert.equal(p.droppedMessages, 0);
    assert.equal(p.promptTokens, p.messages.reduce((n, m) => n + countTokens(m.content) + 6, 0));
  });

  it('drops the oldest history first, then example blocks from the last, and always keeps the message being answered', () => {
    const full = run(c, history).promptTokens;
    const lessOne = run(c, history, { contextBudget: full - 1 });
    assert.equal(lessOne.droppedMessages, 1);
    assert.equal(lessOne.messages[1]!.content, 'second message here');
    assert.ok(lessOne.promptTokens <= full - 1);

    const tight = run(c, history, { contextBudget: run(c, [history[2]!]).promptTokens - 1 });
    assert.equal(tight.droppedMessages, 2);
    assert.equal(tight.droppedExamples, 1);
    assert.deepEqual(tight.exampleBlocks, ['A: one']);
    assert.equal(tight.messages.at(-1)!.content, 'third message here');
  });

  it('throws PromptTooLongError when even that does not fit', () => {
    assert.throws(() => run(c, history, { contextBudget: 10 }), PromptTooLongError);
  });
});

describe('token breakdown', () => {
  it('the parts add up to the prompt, each counted where it is in the request', () => {
    const c = withBook([entry({ keys: ['dragon'], content: 'Dragons hoard gold in the northern caves.' }), entry({ constant: true, content: 'Always: the kingdom is at peace.' })], {});
    const c2 = CardDataSchema.parse({ ...c, description: 'A knight of the realm.', mes_example: '<START>\n{{user}}: Hi\n{{char}}: Well met.', post_history_instructions: 'Stay brief.' });
    const memory = '## Excerpts\n[1] notes.md, line 1\n```\nThe castle has three gates.\n```';
    const history = [user('Tell me about the dragon.'), bot('It sleeps.'), user('And the gold?')];
    const p = run(c2, history, { memory });
    const b = p.breakdown;
    assert.equal(b.system + b.lorebook + b.examples + b.memory + b.history + b.postHistory, p.promptTokens);
    assert.equal(b.memory, countTokens(memory));
    assert.equal(b.lorebook, p.activatedEntries.reduce((n, e) => n + e.tokens, 0));
    assert.ok(b.lorebook > 0 && b.examples > 0 && b.postHistory > 0);
    // History: each kept turn's text and its framing; the system part holds the rest of the first message.
    assert.ok(b.history > history.reduce((n, m) => n + countTokens(m.content), 0));
    assert.ok(b.system > countTokens('A knight of the realm.'));
  });

  it('what is left out to fit leaves the breakdown too', () => {
    const history = Array.from({ length: 12 }, (_, i) => (i % 2 ? bot : user)(`Turn ${i}: ${'words '.repeat(40)}`));
    const whole = run(card({ description: 'A knight.' }), history);
    const fitted = run(card({ description: 'A knight.' }), history, { contextBudget: Math.floor(whole.promptTokens / 2) });
    assert.ok(fitted.droppedMessages > 0);
    assert.ok(fitted.breakdown.history < whole.breakdown.history);
    assert.equal(fitted.breakdown.system, whole.breakdown.system);
    const b = fitted.breakdown;
    assert.equal(b.system + b.lorebook + b.examples + b.memory + b.history + b.postHistory, fitted.promptTokens);
  });
});
