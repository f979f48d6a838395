// The webview's copy of the host state, plus the reply being streamed. Deltas are applied as they
// arrive but subscribers hear about them at most once per animation frame, so a burst of tokens
// costs one render.
import type { Message } from '../shared/conversation';
import type { IncomingNotification, ViewState } from '../shared/protocol';

export interface StreamText {
  messageId: string;
  text: string;
}

export class ChatStore {
  state: ViewState | null = null;
  stream: StreamText | null = null;
  private readonly listeners = new Set<() => void>();
  private frame = 0;

  constructor(private readonly resync: () => void) {}

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notifyNow(): void {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    for (const l of this.listeners) l();
  }

  private notifyNextFrame(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      for (const l of this.listeners) l();
    });
  }

  setState(state: ViewState): void {
    this.state = state;
    const streaming = state.streaming;
    const message = streaming && state.conversation?.id === streaming.conversationId ? findMessage(state, streaming.messageId) : undefined;
    // The snapshot's text is the truth; deltas that follow skip what it already holds.
    this.stream = message ? { messageId: message.id, text: message.content } : null;
    this.notifyNow();
  }

  handle(n: IncomingNotification): void {
    if (n.method === 'state/changed') {
      this.setState(n.params);
      return;
    }
    const { messageId, offset, text } = n.params;
    if (!this.stream || this.stream.messageId !== messageId) {
      const message = this.state ? findMessage(this.state, messageId) : undefined;
      if (!message) return;
      this.stream = { messageId, text: message.content };
    }
    const have = this.stream.text.length;
    if (offset > have) {
      // A gap: something was lost (the view was hidden mid-stream). Ask for the whole state again.
      this.resync();
      return;
    }
    const fresh = text.slice(have - offset);
    if (!fresh) return;
    this.stream = { messageId, text: this.stream.text + fresh };
    this.notifyNextFrame();
  }
}

function findMessage(state: ViewState, id: string): Message | undefined {
  return state.conversation?.messages.find((m) => m.id === id);
}
