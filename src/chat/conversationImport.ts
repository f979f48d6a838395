// A conversation exported as JSON (conversationExport.ts), read back: `Persona: Import Conversation…`.
// The file is untrusted: it is parsed against the same schema as the files Persona keeps, and what
// cannot be right is refused with a sentence that says why, before anything is written. An import
// is a copy: it gets a new id, so importing into the workspace it came from, or twice, never
// overwrites a chat.
import { ConversationSchema, type Conversation } from '../shared/conversation';

/** A long chat with many branches is a few MB; past this the file is not a conversation export. */
export const MAX_CONVERSATION_FILE_BYTES = 50 * 1024 * 1024;

export class ConversationImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConversationImportError';
  }
}

/** The conversation in `text`, ready to save under `newId`; throws ConversationImportError. */
export function parseConversationFile(text: string, newId: string, now: number): Conversation {
  let json: unknown;
  try {
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch {
    throw new ConversationImportError('This file is not JSON. Export a chat from Persona as JSON ({} in the Chats list) to import it.');
  }
  if (typeof json === 'object' && json !== null && 'schemaVersion' in json && json.schemaVersion !== 1 && typeof json.schemaVersion === 'number') {
    throw new ConversationImportError(`This conversation was written by a newer Persona (format ${json.schemaVersion}). Update Persona to import it.`);
  }
  const parsed = ConversationSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` (at ${issue.path.join('.')})` : '';
    throw new ConversationImportError(`This file is not a Persona conversation${where}. Export a chat from Persona as JSON to import it.`);
  }
  const conversation = parsed.data;
  const ids = new Set<string>();
  for (const m of conversation.messages) {
    if (ids.has(m.id)) throw new ConversationImportError(`This conversation is damaged: two messages have the id "${m.id.slice(0, 40)}".`);
    ids.add(m.id);
    // What the view is told (never stored) is dropped; a reply cut off while it streamed is stopped.
    delete m.branch;
    delete m.hiddenAfter;
    if (m.status === 'streaming') m.status = 'stopped';
  }
  if (conversation.messages.length === 0) throw new ConversationImportError('This conversation has no messages.');
  return { ...conversation, id: newId, updatedAt: now };
}
