// Remembers what the webview has been sent, and turns the next full view state into the smallest
// `state/changed` that brings it up to date: unchanged lists are left out, the active conversation
// goes as a patch of its changed end, and a reply's text that already went out in `chat/delta`s is
// not sent again. Plain logic: no `vscode`.
import type { Conversation, Message } from '../shared/conversation';
import type { StateUpdate, ViewState } from '../shared/chatProtocol';

interface SentConversation {
  id: string;
  header: string;
  /** Per message, in order: its id and what identifies its current form. */
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

  /** The webview got this whole state (the answer to `webview/ready`). */
  sentFull(state: ViewState): void {
    this.personas = JSON.stringify(state.personas);
    this.conversations = JSON.stringify(state.conversations);
    this.settings = JSON.stringify(state.settings);
    this.memoryDials = JSON.stringify(state.memoryDials);
    this.conversation = state.conversation && track(state.conversation);
    this.streamed = undefined;
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
    const tracked = track(next);
    this.conversation = tracked;
    if (!sent || sent.id !== next.id) {
      update.conversation = { full: next };
      return update;
    }
    let keep = 0;
    while (keep < sent.messages.length && keep < tracked.messages.length && sent.messages[keep]!.id === tracked.messages[keep]!.id && sent.messages[keep]!.version === tracked.messages[keep]!.version) keep++;
    const tail = next.messages.slice(keep).map((m) => {
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
          keep,
          tail,
        },
      };
    }
    return update;
  }
}

function track(c: Conversation): SentConversation {
  return {
    id: c.id,
    header: `${c.title}|${c.personaId}|${c.updatedAt}|${c.memory ?? ''}|${c.personaVersion ?? ''}`,
    messages: c.messages.map((m) => ({ id: m.id, version: versionOf(m) })),
  };
}
