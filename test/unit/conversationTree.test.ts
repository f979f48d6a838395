import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConversationSchema, type Conversation, type Message } from '../../src/shared/conversation';
import {
  TreeIndex,
  addAlternative,
  appendToPath,
  childrenOf,
  displayedPath,
  goBackTo,
  historyBefore,
  linkedParentIds,
  parentOf,
  select,
  showSibling,
  siblingsOf,
} from '../../src/shared/conversationTree';

/** A message as a file written before trees holds it: no parentId (unless given). */
function message(id: string, parentId?: string): Message {
  const role = id.startsWith('u') ? 'user' : 'assistant';
  return { id, role, content: `text of ${id}`, createdAt: 1000, status: 'complete', ...(id === 'g' ? { greeting: true } : {}), ...(parentId === undefined ? {} : { parentId }) };
}

function conversation(messages: Message[]): Conversation {
  return { schemaVersion: 1, id: 'chat', title: 'A chat', personaId: 'sam', createdAt: 1000, updatedAt: 1000, messages };
}

/** The greeting and two turns, as an old file has them. */
function linear(): Conversation {
  return conversation(['g', 'u1', 'a1', 'u2', 'a2'].map((id) => message(id)));
}

const ids = (messages: readonly Message[]): string[] => messages.map((m) => m.id);

describe('conversationTree', () => {
  it('reads a conversation written before trees as a line, without changing it', () => {
    const chat = linear();
    const before = structuredClone(chat);
    assert.deepEqual(ids(displayedPath(chat)), ids(chat.messages));
    assert.equal(displayedPath(chat)[4], chat.messages[4], 'the path holds the messages themselves');
    assert.deepEqual(linkedParentIds(chat.messages), [undefined, 'g', 'u1', 'a1', 'u2']);
    assert.equal(parentOf(chat, 'g'), undefined);
    assert.equal(parentOf(chat, 'a1')?.id, 'u1');
    assert.deepEqual(ids(childrenOf(chat, undefined)), ['g']);
    assert.deepEqual(ids(childrenOf(chat, 'u1')), ['a1']);
    assert.deepEqual(siblingsOf(chat, 'a1'), { index: 0, count: 1, ids: ['a1'] });
    assert.deepEqual(chat, before);
  });

  it('regenerating an earlier reply adds a second alternative that hides the later turns until the first is shown again', () => {
    const chat = linear();
    addAlternative(chat, 'a1', message('a1b'));
    assert.equal(chat.messages.length, 6, 'nothing is erased');
    assert.equal(chat.messages[5]?.parentId, 'u1');
    assert.deepEqual(siblingsOf(chat, 'a1b'), { index: 1, count: 2, ids: ['a1', 'a1b'] }, '2 / 2');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1b']);
    assert.equal(chat.selected, undefined, 'the latest alternative shows without a recorded choice');

    assert.equal(showSibling(chat, 'a1b', -1), 'a1');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2', 'a2'], 'the turns that followed come back');
    assert.deepEqual(siblingsOf(chat, 'a1'), { index: 0, count: 2, ids: ['a1', 'a1b'] }, '1 / 2');
    assert.deepEqual(chat.selected, { u1: 'a1' });
    assert.equal(showSibling(chat, 'a1', -1), undefined, 'no wrapping at the first');

    assert.equal(showSibling(chat, 'a1', 1), 'a1b');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1b']);
    assert.equal(chat.selected, undefined);
    assert.equal(showSibling(chat, 'a1b', 1), undefined, 'no wrapping at the last');
  });

  it('editing a user message branches, and the old branch stays reachable', () => {
    const chat = linear();
    addAlternative(chat, 'u2', message('u2b'));
    appendToPath(chat, message('a2b'));
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2b', 'a2b']);
    assert.equal(chat.messages.find((m) => m.id === 'a2b')?.parentId, 'u2b');
    assert.deepEqual(siblingsOf(chat, 'u2b'), { index: 1, count: 2, ids: ['u2', 'u2b'] }, '2 / 2');

    assert.equal(showSibling(chat, 'u2b', -1), 'u2');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2', 'a2']);
    assert.deepEqual(siblingsOf(chat, 'u2'), { index: 0, count: 2, ids: ['u2', 'u2b'] }, '1 / 2');

    assert.equal(showSibling(chat, 'u2', 1), 'u2b');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2b', 'a2b']);
  });

  it('appends under the alternative displayed, and each alternative keeps its own later turns', () => {
    const chat = linear();
    addAlternative(chat, 'a1', message('a1b'));
    appendToPath(chat, message('u2b'));
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1b', 'u2b']);

    showSibling(chat, 'a1b', -1);
    appendToPath(chat, message('u3'));
    assert.equal(parentOf(chat, 'u3')?.id, 'a2');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2', 'a2', 'u3']);

    showSibling(chat, 'a1', 1);
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1b', 'u2b']);
  });

  it('shows an earlier choice below a switched message again, and select displays any message', () => {
    const chat = linear();
    addAlternative(chat, 'a2', message('a2b'));
    showSibling(chat, 'a2b', -1);
    addAlternative(chat, 'a1', message('a1b'));
    showSibling(chat, 'a1b', -1);
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2', 'a2'], 'a2 was the choice under u2 before switching a1');

    select(chat, 'a2b');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2', 'a2b']);
    select(chat, 'a1b');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1b']);
    assert.throws(() => select(chat, 'nope'), /No message nope in conversation chat/);
  });

  it('going back to a message hides the later turns without deleting them, and the next message branches there', () => {
    const chat = linear();
    goBackTo(chat, 'a1');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1']);
    assert.equal(chat.messages.length, 5);
    assert.deepEqual(ids(new TreeIndex(chat).fullPath()), ['g', 'u1', 'a1', 'u2', 'a2']);
    assert.throws(() => goBackTo(chat, 'a2'), /not on the displayed path/);

    appendToPath(chat, message('u2b'));
    assert.equal(chat.end, undefined);
    assert.equal(parentOf(chat, 'u2b')?.id, 'a1');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2b']);
    assert.deepEqual(siblingsOf(chat, 'u2b'), { index: 1, count: 2, ids: ['u2', 'u2b'] });
    assert.equal(showSibling(chat, 'u2b', -1), 'u2');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2', 'a2']);
  });

  it('a checkpoint goes when the alternative shown no longer leads to it', () => {
    const chat = linear();
    addAlternative(chat, 'a1', message('a1b'));
    showSibling(chat, 'a1b', -1);
    goBackTo(chat, 'u2');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2']);
    showSibling(chat, 'a1', 1);
    assert.equal(chat.end, undefined);
    showSibling(chat, 'a1b', -1);
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2', 'a2']);

    goBackTo(chat, 'u1');
    addAlternative(chat, 'a1', message('a1c'));
    assert.equal(chat.end, undefined, 'a new alternative is displayed, so the checkpoint before it goes');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1c']);
  });

  it('gives the history before an earlier reply: the path from the root to its parent', () => {
    const chat = linear();
    const path = displayedPath(chat);
    assert.deepEqual(historyBefore(chat, 'a2'), path.slice(0, 4));
    assert.deepEqual(ids(historyBefore(chat, 'a1')), ['g', 'u1']);
    assert.deepEqual(historyBefore(chat, 'g'), []);

    addAlternative(chat, 'u2', message('u2b'));
    assert.deepEqual(ids(historyBefore(chat, 'a2')), ['g', 'u1', 'a1', 'u2'], 'also for a reply not displayed');
    assert.throws(() => historyBefore(chat, 'nope'), /No message nope/);
  });

  it('gives the greeting alternatives at the root level, and the file still reads back through its schema', () => {
    const chat = linear();
    addAlternative(chat, 'g', message('g2'));
    assert.equal(chat.messages.at(-1)?.parentId, '', 'absent would mean "follows the previous message"');
    assert.deepEqual(ids(displayedPath(chat)), ['g2']);
    assert.deepEqual(ids(childrenOf(chat, undefined)), ['g', 'g2']);
    assert.equal(showSibling(chat, 'g2', -1), 'g');
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2', 'a2']);
    goBackTo(chat, 'a1');

    const read = ConversationSchema.parse(JSON.parse(JSON.stringify(chat)));
    assert.deepEqual(read, chat);
    assert.deepEqual(ids(displayedPath(read)), ['g', 'u1', 'a1']);
  });

  it('starts a new conversation with a root message and refuses an id it already has', () => {
    const chat = conversation([]);
    assert.deepEqual(displayedPath(chat), []);
    appendToPath(chat, message('g'));
    appendToPath(chat, message('u1'));
    assert.equal(chat.messages[0]?.parentId, undefined);
    assert.equal(chat.messages[1]?.parentId, 'g');
    assert.throws(() => appendToPath(chat, message('u1')), /already has a message u1/);
    assert.throws(() => addAlternative(chat, 'u1', message('g')), /already has a message g/);
    assert.equal(chat.messages.length, 2);
  });

  it('reads bad parents, choices and checkpoints without throwing', () => {
    const chat = conversation([
      message('g'),
      message('u1', 'nowhere'), // dangling: follows the previous message
      message('a1', 'a1'), // itself
      message('u2', 'a2'), // a later message
      message('a2', 'u2'),
    ]);
    chat.selected = { g: 'a2', u1: 'nowhere', constructor: 'x' };
    chat.end = 'gone';
    assert.deepEqual(linkedParentIds(chat.messages), [undefined, 'g', 'u1', 'a1', 'u2']);
    assert.deepEqual(ids(displayedPath(chat)), ['g', 'u1', 'a1', 'u2', 'a2']);
    assert.deepEqual(siblingsOf(chat, 'u2'), { index: 0, count: 1, ids: ['u2'] });
    assert.deepEqual(childrenOf(chat, 'nowhere'), []);
    assert.throws(() => siblingsOf(chat, 'nowhere'), /No message nowhere/, 'an unknown id is the caller’s mistake');
  });

  it('keeps its answers while only the selection changes', () => {
    const chat = linear();
    addAlternative(chat, 'a1', message('a1b'));
    const tree = new TreeIndex(chat);
    assert.deepEqual(ids(tree.displayedPath()), ['g', 'u1', 'a1b']);
    showSibling(chat, 'a1b', -1);
    assert.deepEqual(ids(tree.displayedPath()), ['g', 'u1', 'a1', 'u2', 'a2']);
  });

  it('walks a 2,000-message conversation with branches along the way', () => {
    const messages = Array.from({ length: 2000 }, (_, i) => message(i % 2 === 0 ? `a${i}` : `u${i}`));
    const chat = conversation(messages);
    const line = ids(messages);
    assert.deepEqual(ids(displayedPath(chat)), line);
    // An alternative every 100 messages; the first alternative stays displayed at each.
    for (let i = 100; i < 2000; i += 100) {
      addAlternative(chat, `a${i}`, message(`a${i}b`));
      showSibling(chat, `a${i}b`, -1);
    }
    const tree = new TreeIndex(chat);
    const path = tree.displayedPath();
    assert.deepEqual(ids(path), line);
    const branching = path.filter((m) => tree.siblingsOf(m.id).count === 2);
    assert.equal(branching.length, 19);
    assert.equal(tree.historyBefore('a1998').length, 1998);
    select(chat, 'a1900b');
    assert.equal(displayedPath(chat).length, 1901);
  });
});
