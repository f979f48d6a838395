// Remembers what the webview has been sent, and turns the next full view state into the smallest
// `state/changed` that brings it up to date: unchanged lists are left out, the active conversation
// goes as a patch of its changed end, and a reply's text that already went out in `chat/delta`s is
// not sent again. A long conversation is sent as its last VIEW_TAIL messages: the webview holds the
// displayed path from some message to its end, asks for the messages before with
// `conversation/earlier` (earlier()), and the patches that follow are of what it holds. Plain
// logic: no `vscode`.
import type { Conversation, Message } from '../shared/conversation';
import type { ConversationView, StateUpdate, ViewState } from '../shared/chatProtocol';

/** Messages of a conversation sent when the view opens it: a screenful and a few pages to scroll. */
export const VIEW_TAIL = 100;
/** Messages kept above a revealed one (a search hit far up), so it does not open at the very top. */
const REVEAL_MARGIN = 25;

interface SentConversation {
  id: string;
  header: string;
  /** How many messages of the displayed path come before the first one the webview holds. */
  from: number;
  /** Per message the webview holds, in order: its id and what identifies its current form. */
  messages: { id: string; version: string }[];
}

function versionOf(m: Message): string {
  // Everything but the text, which is compared by length (it only grows while streaming).
  const { content, ...rest } = m;
  return `${content.length}|${JSON.stringify(rest)}`;
}

export class ViewStateTracker {
  private personas: string | undefined;
  private conversations: string | undefined;
  private settings: string | undefined;
  private memoryDials: string | undefined;
  private conversation: SentConversation | null | undefined;
  /** How much of a streamed reply's text the webview has from deltas. */
  private streamed: { messageId: string; length: number } | undefined;

  /** A message the next state must hold (a search hit to reveal), as its index in the displayed path. */
  private mustHold: number | undefined;

  /** The whole state for the webview (the answer to `webview/ready`): the conversation's last messages only. */
  sentFull(state: ViewState): ViewState {
    this.personas = JSON.stringify(state.personas);
    this.conversations = JSON.stringify(state.conversations);
    this.settings = JSON.stringify(state.settings);
    this.memoryDials = JSON.stringify(state.memoryDials);
    this.streamed = undefined;
    if (!state.conversation) {
      this.conversation = state.conversation;
      return state;
    }
    const view = this.tail(state.conversation, this.startFor(state.conversation.messages.length));
    this.conversation = track(view.conversation, view.from);
    return { ...state, conversation: view.conversation };
  }

  /** The next state must hold the message at this index of the displayed path (and what follows it). */
  hold(index: number): void {
    this.mustHold = index;
  }

  /**
   * `count` messages before the first one the webview holds, which it will put before it; null when
   * `shown` (the displayed path) is not the conversation the webview holds.
   */
  earlier(shown: Conversation, count: number): { messages: Message[]; earlier?: number } | null {
    const sent = this.conversation;
    if (!sent || sent.id !== shown.id || !holdsSame(sent, shown)) return null;
    const from = Math.max(0, sent.from - count);
    const messages = shown.messages.slice(from, sent.from);
    sent.messages = [...messages.map((m) => ({ id: m.id, version: versionOf(m) })), ...sent.messages];
    sent.from = from;
    return { messages, ...(from > 0 ? { earlier: from } : {}) };
  }

  /** Where a conversation of `length` messages sent whole starts: its last VIEW_TAIL, or earlier for a message to hold. */
  private startFor(length: number): number {
    const start = Math.max(0, length - VIEW_TAIL);
    const hold = this.mustHold;
    this.mustHold = undefined;
    return hold === undefined ? start : Math.min(start, Math.max(0, hold - REVEAL_MARGIN));
  }

  /** The conversation from message `from` of its displayed path on, saying how many come before. */
  private tail(conversation: ConversationView, from: number): { conversation: ConversationView; from: number } {
    if (from === 0) return { conversation, from };
    return { conversation: { ...conversation, messages: conversation.messages.slice(from), earlier: from }, from };
  }

  /** The webview got reply text up to `length` through deltas. */
  sentDelta(messageId: string, length: number): void {
    this.streamed = { messageId, length };
  }

  /** The webview was reloaded or hidden: the next state it gets must be whole. */
  forget(): void {
    this.personas = this.conversations = this.settings = this.memoryDials = undefined;
    this.conversation = undefined;
    this.streamed = undefined;
  }

  update(state: ViewState): StateUpdate {
    const update: StateUpdate = { activePersonaId: state.activePersonaId, streaming: state.streaming, connection: state.connection, memory: state.memory };
    const dials = JSON.stringify(state.memoryDials);
    if (dials !== this.memoryDials) {
      update.memoryDials = state.memoryDials;
      this.memoryDials = dials;
    }
    const settings = JSON.stringify(state.settings);
    if (settings !== this.settings) {
      update.settings = state.settings;
      this.settings = settings;
    }
    const personas = JSON.stringify(state.personas);
    if (personas !== this.personas) {
      update.personas = state.personas;
      this.personas = personas;
    }
    const conversations = JSON.stringify(state.conversations);
    if (conversations !== this.conversations) {
      update.conversations = state.conversations;
      this.conversations = conversations;
    }
    const next = state.conversation;
    const sent = this.conversation;
    if (!next) {
      if (sent !== null) update.conversation = null;
      this.conversation = null;
      return update;
    }
    // The webview keeps what it holds while the message it holds first is still at the same place
    // of the path (then everything above it is too: a message's ancestors are its path).
    const holdsFrom = sent && sent.id === next.id && holdsSame(sent, next) ? sent.from : undefined;
    const mustHold = this.mustHold;
    if (!sent || holdsFrom === undefined || (mustHold !== undefined && mustHold < holdsFrom)) {
      const view = this.tail(next, this.startFor(next.messages.length));
      this.conversation = track(view.conversation, view.from);
      update.conversation = { full: view.conversation };
      return update;
    }
    this.mustHold = undefined;
    const held = this.tail(next, holdsFrom).conversation;
    const tracked = track(held, holdsFrom);
    this.conversation = tracked;
    let keep = 0;
    while (keep < sent.messages.length && keep < tracked.messages.length && sent.messages[keep]!.id === tracked.messages[keep]!.id && sent.messages[keep]!.version === tracked.messages[keep]!.version) keep++;
    const tail = held.messages.slice(keep).map((m) => {
      const streamed = this.streamed;
      if (streamed && streamed.messageId === m.id && streamed.length === m.content.length) {
        const { content: _alreadyThere, ...rest } = m;
        return rest;
      }
      return m;
    });
    const unchanged = tail.length === 0 && keep === sent.messages.length && tracked.header === sent.header;
    if (!unchanged) {
      update.conversation = {
        patch: {
          id: next.id,
          title: next.title,
          personaId: next.personaId,
          ...(next.personaName !== undefined ? { personaName: next.personaName } : {}),
          createdAt: next.createdAt,
          updatedAt: next.updatedAt,
          ...(next.memory !== undefined ? { memory: next.memory } : {}),
          ...(next.personaVersion !== undefined ? { personaVersion: next.personaVersion } : {}),
          ...(holdsFrom > 0 ? { earlier: holdsFrom } : {}),
          keep,
          tail,
        },
      };
    }
    return update;
  }
}

/** Whether the webview's first message is still at its place in `shown`, the displayed path (always, when it holds the path from its start). */
function holdsSame(sent: SentConversation, shown: Conversation): boolean {
  return sent.from === 0 || shown.messages[sent.from]?.id === sent.messages[0]?.id;
}

function track(c: Conversation, from: number): SentConversation {
  return {
    id: c.id,
    from,
    header: `${c.title}|${c.personaId}|${c.updatedAt}|${c.memory ?? ''}|${c.personaVersion ?? ''}`,
    messages: c.messages.map((m) => ({ id: m.id, version: versionOf(m) })),
  };
}
