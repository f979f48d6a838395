// Search across conversations: every word in the title or in one message, case and accents aside;
// newest chat first, its title before its messages; a snippet around the match.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Conversation, Message } from '../../src/shared/conversation';
import { searchConversations } from '../../src/chat/conversationSearch';

let n = 0;
const msg = (role: Message['role'], content: string): Message => ({ id: `m${++n}`, role, content, createdAt: n, status: 'complete' });
const chat = (id: string, title: string, updatedAt: number, messages: Message[]): Conversation => ({ schemaVersion: 1, id, title, personaId: 'sam', createdAt: 0, updatedAt, messages });

const older = chat('a', 'Harbour history', 10, [msg('user', 'When was the harbour built?'), msg('assistant', 'The harbour was built in 1820 by the Café Müller guild.')]);
const newer = chat('b', 'Lighthouse', 20, [msg('user', 'Tell me about the lighthouse near the HARBOUR'), msg('assistant', 'It is white.')]);

it('finds every word in one message or title, case and accents aside, newest chat first, title before messages', () => {
  const hits = searchConversations([older, newer], 'harbour');
  assert.deepEqual(
    hits.map((h) => [h.conversationId, h.messageId ?? 'title']),
    [
      ['b', newer.messages[0]!.id],
      ['a', 'title'],
      ['a', older.messages[0]!.id],
      ['a', older.messages[1]!.id],
    ],
  );
  assert.deepEqual(searchConversations([older, newer], 'cafe MULLER').map((h) => h.messageId), [older.messages[1]!.id]);
  assert.deepEqual(searchConversations([older, newer], 'harbour 1820').map((h) => h.messageId), [older.messages[1]!.id], 'all words in one message');
  assert.deepEqual(searchConversations([older, newer], 'white harbour'), [], 'words spread over two messages are no hit');
  assert.deepEqual(searchConversations([older, newer], '   '), []);
});

it('gives a one-line snippet around the match, and stops at the limit', () => {
  const long = chat('c', 'Notes', 30, [msg('assistant', `${'filler words here\n'.repeat(20)}the secret word is PELICAN and then ${'more text '.repeat(20)}`)]);
  const [hit] = searchConversations([long], 'pelican');
  assert.ok(hit!.snippet.includes('the secret word is PELICAN'), hit!.snippet);
  assert.ok(hit!.snippet.startsWith('…') && hit!.snippet.endsWith('…'), hit!.snippet);
  assert.ok(!/\n/.test(hit!.snippet));
  assert.ok(hit!.snippet.length <= 122);
  const many = chat('d', 'Many', 40, Array.from({ length: 30 }, (_, i) => msg('user', `ping ${i}`)));
  assert.equal(searchConversations([many], 'ping', 10).length, 10);
});
