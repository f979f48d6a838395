// A conversation as a Markdown transcript or as JSON, for `conversation/export`. The transcript is
// the path shown (what a reader of the chat sees); the JSON keeps every branch.
import type { Conversation } from '../shared/conversation';
import { displayedPath } from '../shared/conversationTree';

export function exportConversation(conversation: Conversation, personaName: string, format: 'markdown' | 'json'): string {
  if (format === 'json') return `${JSON.stringify(conversation, null, 2)}\n`;
  const lines = [`# ${conversation.title}`, '', `*Persona:* ${personaName}  `, `*Started:* ${new Date(conversation.createdAt).toISOString()}`, ''];
  for (const m of displayedPath(conversation)) {
    lines.push('---', '', `**${m.role === 'user' ? 'You' : personaName}**${m.status === 'stopped' ? ' *(stopped)*' : ''}`, '', m.content, '');
    if (m.status === 'error' && m.error) lines.push(`> Error: ${m.error}`, '');
  }
  return lines.join('\n');
}

export function exportFileName(conversation: Conversation, format: 'markdown' | 'json'): string {
  const base = conversation.title.replace(/[^\p{L}\p{N} _-]+/gu, '').trim().replace(/\s+/g, '-').slice(0, 60) || 'conversation';
  return `${base}.${format === 'json' ? 'json' : 'md'}`;
}
