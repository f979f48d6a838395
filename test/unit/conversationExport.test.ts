// Export of a conversation with branches: the Markdown transcript is the path shown, the JSON keeps
// every branch and reads back through the conversation schema.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ConversationSchema, type Conversation, type Message } from '../../src/shared/conversation';
import { addAlternative, appendToPath, displayedPath } from '../../src/shared/conversationTree';
import { exportConversation } from '../../src/chat/conversationExport';

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
