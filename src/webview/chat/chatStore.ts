// The webview's copy of the host state, plus the reply being streamed. Updates arrive as changes to
// what the webview has (see StateUpdate); deltas are applied as they arrive but subscribers hear
// about them at most once per animation frame, so a burst of tokens costs one render. The first
// text of a reply is shown at once.
import type { Message } from '../../shared/conversation';
import type { ConversationView, IncomingNotification, StateUpdate, ViewState } from '../../shared/chatProtocol';
import type { Store } from '../common/useStore';

export interface StreamText {
  messageId: string;
  text: string;
}

type Delta = [stream: number, offset: number, text: string];

export class ChatStore implements Store {
  state: ViewState | null = null;
  /** Counts changes of `state` and `stream` (see useStore). */
  version = 0;
  stream: StreamText | null = null;
  private readonly listeners = new Set<() => void>();
  private frame = 0;
  /** Deltas of a stream the state has not announced yet (a delta can overtake its state). */
  private early: Delta[] = [];

  /** `resync` asks the host for the whole state again: called when an update does not fit. */
  constructor(private readonly resync: () => void) {}

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notifyNow(): void {
    this.version++;
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    for (const l of this.listeners) l();
  }

  private notifyNextFrame(): void {
    this.version++;
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      for (const l of this.listeners) l();
    });
  }

  /**
   * Messages from before the first one the view holds (the answer to `conversation/earlier`), put
   * before it. The host sent them because it knows this view holds that chat: null means it did not.
   */
  prependEarlier(conversationId: string, page: { messages: Message[]; earlier?: number | undefined } | null): void {
    const old = this.state;
    if (!page || !old?.conversation || old.conversation.id !== conversationId) return;
    const { earlier: _was, ...rest } = old.conversation;
    this.state = { ...old, conversation: { ...rest, ...(page.earlier !== undefined ? { earlier: page.earlier } : {}), messages: [...page.messages, ...old.conversation.messages] } };
    this.notifyNow();
  }

  /** The host did not give the first state (shown instead of the chat until it does). */
  loadError: string | null = null;

  /** The whole state, as the answer to `webview/ready`. */
  setState(state: ViewState): void {
    this.state = state;
    this.loadError = null;
    this.syncStream();
    this.notifyNow();
  }

  setLoadError(message: string | null): void {
    this.loadError = message;
    this.notifyNow();
  }

  /** The message to scroll to and focus, once it is drawn; `seq` tells a second reveal of the same one apart. */
  reveal: { conversationId: string; messageId: string; seq: number } | null = null;

  handle(n: IncomingNotification): void {
    if (n.method === 'state/changed') this.apply(n.params);
    else if (n.method === 'chat/reveal') {
      this.reveal = { ...n.params, seq: (this.reveal?.seq ?? 0) + 1 };
      this.notifyNow();
    } else this.applyDelta(n.params);
  }

  private apply(update: StateUpdate): void {
    const old = this.state;
    if (!old) return;
    let conversation: ConversationView | null = old.conversation;
    if (update.conversation === null) conversation = null;
    else if (update.conversation && 'full' in update.conversation) conversation = update.conversation.full;
    else if (update.conversation) {
      const patch = update.conversation.patch;
      if (!old.conversation || old.conversation.id !== patch.id || old.conversation.messages.length < patch.keep) {
        this.resync();
        return;
      }
      const messages = old.conversation.messages.slice(0, patch.keep);
      for (const m of patch.tail) {
        if (m.content !== undefined) {
          messages.push(m as Message);
          continue;
        }
        // Its text came in deltas: take it from the stream (or the copy we had).
        const text = this.stream?.messageId === m.id ? this.stream.text : old.conversation.messages.find((o) => o.id === m.id)?.content;
        if (text === undefined) {
          this.resync();
          return;
        }
        messages.push({ ...m, content: text });
      }
      const { keep: _keep, tail: _tail, ...header } = patch;
      conversation = { schemaVersion: old.conversation.schemaVersion, ...header, messages };
    }
    this.state = {
      personas: update.personas ?? old.personas,
      conversations: update.conversations ?? old.conversations,
      activePersonaId: update.activePersonaId,
      streaming: update.streaming,
      connection: update.connection,
      memory: update.memory,
      memoryDials: update.memoryDials ?? old.memoryDials,
      settings: update.settings ?? old.settings,
      conversation,
    };
    this.syncStream();
    this.notifyNow();
  }

  /** Points the stream at the reply being written, starting from the text the state holds. */
  private syncStream(): void {
    const streaming = this.state?.streaming;
    const message = streaming && this.state?.conversation?.id === streaming.conversationId ? findMessage(this.state, streaming.messageId) : undefined;
    if (!message) {
      this.stream = null;
      this.early = [];
      return;
    }
    const text = this.stream?.messageId === message.id && this.stream.text.length > message.content.length ? this.stream.text : message.content;
    this.stream = { messageId: message.id, text };
    const early = this.early.filter((d) => d[0] === streaming!.stream);
    this.early = [];
    for (const d of early) this.applyDelta(d);
  }

  private applyDelta(delta: Delta): void {
    const [stream, offset, text] = delta;
    const streaming = this.state?.streaming;
    if (!streaming || streaming.stream !== stream || !this.stream) {
      // Not announced yet: keep it for the state that will.
      if ((!streaming || stream > streaming.stream) && this.early.length < 10_000) this.early.push(delta);
      return;
    }
    const have = this.stream.text.length;
    if (offset > have) {
      // A gap: something was lost (the view was hidden mid-stream). Ask for the whole state again.
      this.resync();
      return;
    }
    const fresh = text.slice(have - offset);
    if (!fresh) return;
    this.stream = { messageId: this.stream.messageId, text: this.stream.text + fresh };
    // The first words on screen should not wait for a frame; the rest are batched per frame.
    if (have === 0) this.notifyNow();
    else this.notifyNextFrame();
  }
}

function findMessage(state: ViewState, id: string): Message | undefined {
  return state.conversation?.messages.find((m) => m.id === id);
}
