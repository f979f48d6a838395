// Search across the workspace's conversations, by title and by text: every word of the query must be
// in the title or in one message (case, accents and runs of spaces do not matter). Plain Node; the
// palette command (extension/chatSearch.ts) shows the hits and opens a chat at the message.
import type { Conversation } from '../shared/conversation';

export interface SearchHit {
  conversationId: string;
  title: string;
  /** The message that matched; absent when the title did. */
  messageId?: string;
  role?: 'user' | 'assistant';
  /** The matched text around its first word found, on one line. */
  snippet: string;
  updatedAt: number;
}

/** Lower case without accents, so "Café" is found by "cafe". */
function fold(text: string): string {
  return text.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '');
}

/** The words of a query (at most 8), folded. */
export function queryWords(query: string): string[] {
  return fold(query).split(/\s+/).filter(Boolean).slice(0, 8);
}

/**
 * The hits in `conversations` for `query`, newest chat first, titles before messages within a
 * chat, at most `limit`. Each message counts once, however many times its words appear.
 */
export function searchConversations(conversations: readonly Conversation[], query: string, limit = 50): SearchHit[] {
  const words = queryWords(query);
  if (words.length === 0) return [];
  const matches = (text: string) => {
    const folded = fold(text);
    return words.every((w) => folded.includes(w)) ? folded : undefined;
  };
  const hits: SearchHit[] = [];
  for (const c of [...conversations].sort((a, b) => b.updatedAt - a.updatedAt)) {
    if (matches(c.title)) hits.push({ conversationId: c.id, title: c.title, snippet: oneLine(c.title), updatedAt: c.updatedAt });
    for (const m of c.messages) {
      if (hits.length >= limit) return hits;
      const folded = matches(m.content);
      if (!folded) continue;
      hits.push({ conversationId: c.id, title: c.title, messageId: m.id, role: m.role, snippet: snippetAt(m.content, folded, words), updatedAt: c.updatedAt });
    }
    if (hits.length >= limit) return hits.slice(0, limit);
  }
  return hits;
}

const SNIPPET_CHARS = 120;

/** About SNIPPET_CHARS of `text` around the first place one of the words is found, on one line. */
function snippetAt(text: string, folded: string, words: readonly string[]): string {
  // An offset in the folded text is near the same place in `text` (folding changes the length of a
  // few scripts only): good enough to centre a snippet, and clamped to the text.
  const at = Math.min(...words.map((w) => folded.indexOf(w)).filter((i) => i >= 0));
  const start = Math.max(0, Math.min(at - 40, text.length - SNIPPET_CHARS));
  const piece = oneLine(text.slice(start, start + SNIPPET_CHARS));
  return `${start > 0 ? '…' : ''}${piece}${start + SNIPPET_CHARS < text.length ? '…' : ''}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
