// Export of a conversation with branches: the Markdown transcript is the path shown, the JSON keeps
// every branch and reads back through the conversation schema; and the import of that JSON.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ConversationSchema, type Conversation, type Message } from '../../src/shared/conversation';
import { addAlternative, appendToPath, displayedPath, goBackTo } from '../../src/shared/conversationTree';
import { exportConversation } from '../../src/chat/conversationExport';
import { ConversationImportError, parseConversationFile } from '../../src/chat/conversationImport';

let n = 0;
const msg = (role: Message['role'], content: string): Message => ({ id: `m${++n}`, role, content, createdAt: n, status: 'complete' });

it('writes the path shown as Markdown and every branch as JSON', () => {
  const c: Conversation = { schemaVersion: 1, id: 'c1', title: 'Harbour', personaId: 'sam', createdAt: 0, updatedAt: 0, messages: [] };
  appendToPath(c, msg('assistant', 'Hello!'));
  appendToPath(c, msg('user', 'Tell me about the harbour'));
  const first = msg('assistant', 'OLD-REPLY about 1820');
  appendToPath(c, first);
  appendToPath(c, msg('user', 'OLD-FOLLOW-UP'));
  addAlternative(c, first.id, msg('assistant', 'NEW-REPLY about the lighthouse'));

  const markdown = exportConversation(c, 'Sam', 'markdown');
  assert.ok(markdown.includes('NEW-REPLY about the lighthouse'));
  assert.ok(!markdown.includes('OLD-REPLY') && !markdown.includes('OLD-FOLLOW-UP'), 'a hidden branch is in the transcript');
  assert.equal(markdown.split('\n---\n').length - 1, displayedPath(c).length);

  const json = ConversationSchema.parse(JSON.parse(exportConversation(c, 'Sam', 'json')));
  assert.equal(json.messages.length, 5, 'the JSON lost a branch');
  assert.deepEqual(displayedPath(json).map((m) => m.content), displayedPath(c).map((m) => m.content));
});

it('imports its own JSON export as a copy with every branch, the checkpoint and the path shown; an old linear file too', () => {
  const c: Conversation = { schemaVersion: 1, id: 'c2', title: 'Tide tables', personaId: 'sam', personaName: 'Sam', createdAt: 5, updatedAt: 6, messages: [] };
  appendToPath(c, msg('assistant', 'Hello!'));
  const question = msg('user', 'When is high tide?');
  appendToPath(c, question);
  const reply = msg('assistant', 'At noon.');
  appendToPath(c, reply);
  addAlternative(c, reply.id, msg('assistant', 'Around twelve.'));
  appendToPath(c, msg('user', 'Thanks'));
  appendToPath(c, msg('assistant', 'Any time.'));
  goBackTo(c, question.id);

  const imported = parseConversationFile(exportConversation(c, 'Sam', 'json'), 'fresh-id', 1000);
  assert.equal(imported.id, 'fresh-id', 'an import is a copy with its own id');
  assert.equal(imported.updatedAt, 1000);
  assert.equal(imported.createdAt, 5);
  assert.deepEqual(imported.messages, c.messages, 'a branch or a message changed on the way');
  assert.deepEqual(displayedPath(imported).map((m) => m.content), ['Hello!', 'When is high tide?']);
  assert.equal(imported.end, question.id);
  assert.deepEqual(imported.selected, c.selected);

  // A file from before trees: no parent ids, read as a line; a reply cut off mid-stream is stopped.
  const old = {
    schemaVersion: 1, id: 'old', title: 'Old', personaId: 'sam', createdAt: 1, updatedAt: 2,
    messages: [
      { id: 'a', role: 'assistant', content: 'Hi', createdAt: 1, status: 'complete', greeting: true },
      { id: 'b', role: 'user', content: 'Hello', createdAt: 2, status: 'complete' },
      { id: 'c', role: 'assistant', content: 'Half a rep', createdAt: 3, status: 'streaming', branch: [1, 2] },
    ],
  };
  const read = parseConversationFile(JSON.stringify(old), 'new-old', 3);
  assert.deepEqual(displayedPath(read).map((m) => m.id), ['a', 'b', 'c']);
  assert.equal(read.messages[2]!.status, 'stopped');
  assert.equal(read.messages[2]!.branch, undefined, 'a view-only field was kept');
});

it('refuses what is not a conversation, with a sentence that says why', () => {
  const refuses = (text: string, pattern: RegExp) => assert.throws(() => parseConversationFile(text, 'x', 1), (e: Error) => e instanceof ConversationImportError && pattern.test(e.message));
  refuses('{"schemaVersion":1,"id":"t","mess', /not JSON/);
  refuses(JSON.stringify({ hello: 'world' }), /not a Persona conversation/);
  refuses(JSON.stringify({ schemaVersion: 2, id: 'x' }), /newer Persona/);
  const base = { schemaVersion: 1, id: 'd', title: 'D', personaId: 'sam', createdAt: 1, updatedAt: 1 };
  refuses(JSON.stringify({ ...base, messages: [] }), /no messages/);
  refuses(JSON.stringify({ ...base, messages: [{ id: 'a', role: 'system', content: 'x', createdAt: 1, status: 'complete' }] }), /not a Persona conversation \(at messages\.0\.role\)/);
  const twice = { id: 'same', role: 'user', content: 'x', createdAt: 1, status: 'complete' };
  refuses(JSON.stringify({ ...base, messages: [twice, twice] }), /damaged: two messages have the id "same"/);
});
