// The conversation. Only a window of it is drawn: the latest PAGE messages when a chat opens, a page
// more above (or below) as the person scrolls near the window's edge, never more than MAX_WINDOW at
// once; a 2,000-message chat costs what 50 do. Messages have any height, so the window is a range of
// messages rather than of pixels, and Chromium's scroll anchoring keeps what is on screen in place
// when a page is added or dropped above it. Each message is memoised, so a streamed token re-renders
// only the reply being written; off-screen messages skip layout and paint (`content-visibility: auto`
// in chat.css). The list follows the stream unless the person has scrolled up.
import { passageLabel, type SourcePlace } from '../../shared/sourcePlace';
import { Proposals, type ResolveProposal } from './proposals';
import { createContext } from 'preact';
import { memo } from '../common/memo';
import { useContext, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Message } from '../../shared/conversation';
import type { PersonaSummary } from '../../shared/persona';
import { Requests } from '../../shared/chatProtocol';
import type { StreamText } from './chatStore';
import type { ChatHost } from './chatHost';
import { loadHighlighter } from './highlightLoader';
import { createMarkdownRenderer } from './markdown';
import { MarkdownView } from './markdownView';
import { ReplyStats } from './replyStats';

/** Bumped when highlight.js arrives, so rendered code blocks are rendered again, highlighted. */
const highlighterListeners = new Set<() => void>();
const markdown = createMarkdownRenderer(window, {
  onHighlighterNeeded: () =>
    loadHighlighter((h) => {
      markdown.setHighlighter(h);
      for (const l of highlighterListeners) l();
    }),
});
/** Messages drawn when a chat opens, and added per step as the person scrolls near an edge of the window. */
const PAGE = 50;
/** The most messages drawn at once: past it, the far side of the window is dropped. */
const MAX_WINDOW = 150;
/** How near (px) an edge of the window the person scrolls before the next page is drawn. */
const EDGE_MARGIN_PX = 1500;

/**
 * The messages drawn, counted from the end of what the view holds, so that messages put before
 * them (a page of earlier ones from the host) leave the window where it is: from `fromEnd` messages
 * before the end to `toEnd` before it, where null means "to the last one" (the list follows new messages).
 */
interface MessageWindow {
  /** The window belongs to one chat and one message sent: either changing starts it again at the end. */
  key: string;
  fromEnd: number;
  toEnd: number | null;
}

/** Asked of the host at a time when the window reaches the first message the view holds. */
const EARLIER_PAGE = 100;

/** Within this many pixels of the end counts as "at the bottom". */
const STICKY_PX = 48;
/** Messages this close to the end are rendered as markdown at once; older ones when scrolled near. */
const EAGER_TAIL = 30;

/**
 * Tells a message when it comes within a screen or so of the visible part of the list. Messages far
 * from view show their text plainly until then, so opening a long conversation parses only the
 * markdown a person can see.
 */
class NearViewWatcher {
  private readonly callbacks = new Map<Element, () => void>();
  private observer: IntersectionObserver | undefined;

  attach(root: HTMLElement): void {
    this.observer = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          if (!e.isIntersecting) continue;
          this.callbacks.get(e.target)?.();
          this.unwatch(e.target);
        }
      },
      { root, rootMargin: '1000px 0px' },
    );
    for (const el of this.callbacks.keys()) this.observer.observe(el);
  }

  watch(el: Element, onNear: () => void): () => void {
    this.callbacks.set(el, onNear);
    this.observer?.observe(el);
    return () => this.unwatch(el);
  }

  private unwatch(el: Element): void {
    this.callbacks.delete(el);
    this.observer?.unobserve(el);
  }

  detach(): void {
    this.observer?.disconnect();
    this.observer = undefined;
  }
}

const NearView = createContext<NearViewWatcher | null>(null);

interface Props {
  host: ChatHost;
  messages: Message[];
  conversationId: string;
  /** How many messages of the chat come before the first one the view holds (a long chat is sent in part). */
  earlier?: number | undefined;
  /** Gets `count` more of them from the host. */
  onLoadEarlier(count: number): Promise<void>;
  /** A message to scroll to and focus once it is drawn (`seq` changes for each request). */
  reveal?: { messageId: string; seq: number } | null | undefined;
  persona: PersonaSummary | undefined;
  stream: StreamText | null;
  streaming: boolean;
  loadingModel?: string | undefined;
  onRegenerate(messageId: string): void;
  onShowAlternative(messageId: string, delta: -1 | 1): void;
  onEdit(messageId: string, text: string): void;
  /** Absent: the chat cannot be changed (read-only). */
  onGoBack?: ((messageId: string) => void) | undefined;
  onShowHidden(): void;
  onShowSent(messageId: string): void;
  /** Absent: the chat cannot be remembered from (read-only). */
  onRemember?: ((messageId: string) => void) | undefined;
  /** Absent: proposals cannot be answered (read-only). */
  onProposal?: ResolveProposal | undefined;
  onError(message: string): void;
}

export function MessageList(props: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const [watcher] = useState(() => new NearViewWatcher());
  useEffect(() => {
    if (scroller.current) watcher.attach(scroller.current);
    return () => watcher.detach();
  }, [watcher]);
  const lastIndex = props.messages.length - 1;
  const [highlightVersion, setHighlightVersion] = useState(0);
  // Subscribed as it renders, so a highlighter that loads before the next paint is not missed.
  useLayoutEffect(() => {
    const bump = () => setHighlightVersion((v) => v + 1);
    highlighterListeners.add(bump);
    return () => highlighterListeners.delete(bump);
  }, []);

  // A new conversation, or a message sent by the person, scrolls to the end.
  const lastUserId = useMemo(() => [...props.messages].reverse().find((m) => m.role === 'user')?.id, [props.messages]);
  useEffect(() => {
    atBottom.current = true;
  }, [props.conversationId, lastUserId]);

  // The window: starts again at the end for another chat or a message sent; clamped when a switch
  // to another branch shortens the path.
  const count = props.messages.length;
  const windowKey = `${props.conversationId}|${lastUserId ?? ''}`;
  const [savedWindow, setWindow] = useState<MessageWindow>(() => ({ key: windowKey, fromEnd: PAGE, toEnd: null }));
  const current = savedWindow.key === windowKey ? savedWindow : { key: windowKey, fromEnd: PAGE, toEnd: null };
  const end = current.toEnd === null ? count : Math.max(0, count - current.toEnd);
  const start = Math.min(Math.max(0, count - current.fromEnd), Math.max(0, end - 1));
  const shown = props.messages.slice(start, end);
  const earlier = useRef<HTMLButtonElement>(null);
  const later = useRef<HTMLButtonElement>(null);
  const asking = useRef(false);
  const place = (from: number, to: number) => setWindow({ key: windowKey, fromEnd: count - from, toEnd: to >= count ? null : count - to });
  const showEarlier = () => {
    if (start === 0) {
      // The window is at the first message held: more come from the host, then the window grows over them.
      if (!props.earlier || asking.current) return;
      asking.current = true;
      void props.onLoadEarlier(EARLIER_PAGE).finally(() => (asking.current = false));
      return;
    }
    const from = Math.max(0, start - PAGE);
    place(from, end - from > MAX_WINDOW ? from + MAX_WINDOW : current.toEnd === null ? count : end);
  };
  const showLater = () => {
    const to = Math.min(count, end + PAGE);
    place(to - start > MAX_WINDOW ? to - MAX_WINDOW : start, to);
  };
  const edges = useRef({ showEarlier, showLater });
  edges.current = { showEarlier, showLater };
  // Each edge of the window is watched; `observe` reports at once, so after a page is drawn an edge
  // that is still near draws the next one.
  useEffect(() => {
    const root = scroller.current;
    if (!root) return;
    const observer = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          if (!e.isIntersecting) continue;
          if (e.target === earlier.current) edges.current.showEarlier();
          else if (e.target === later.current) edges.current.showLater();
        }
      },
      { root, rootMargin: `${EDGE_MARGIN_PX}px 0px` },
    );
    if (earlier.current) observer.observe(earlier.current);
    if (later.current) observer.observe(later.current);
    return () => observer.disconnect();
  }, [start, end, windowKey]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  });
  // A long table in a reply is drawn a page of rows a frame (markdownView.tsx): the list follows it too.
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const follow = () => {
      if (atBottom.current) el.scrollTop = el.scrollHeight;
    };
    el.addEventListener('md-grow', follow);
    return () => el.removeEventListener('md-grow', follow);
  }, []);

  // A search hit opened: after the scroll to the end above, the message is brought into view and
  // focused (a screen reader reads it), and the list stops following the end.
  const revealed = useRef(0);
  useEffect(() => {
    const want = props.reveal;
    const el = scroller.current;
    if (!want || !el || revealed.current === want.seq) return;
    const target = [...el.querySelectorAll<HTMLElement>('article.message')].find((a) => a.dataset.messageId === want.messageId);
    if (!target) {
      // Outside the window: draw the window around it, then come back here.
      const index = props.messages.findIndex((m) => m.id === want.messageId);
      if (index >= 0 && (index < start || index >= end)) {
        const from = Math.max(0, index - PAGE / 2);
        place(from, Math.min(count, from + PAGE));
      }
      return;
    }
    revealed.current = want.seq;
    atBottom.current = false;
    target.scrollIntoView({ block: 'center' });
    target.focus({ preventScroll: true });
  });

  const onClick = (event: MouseEvent) => {
    const target = event.target as HTMLElement;
    const link = target.closest<HTMLAnchorElement>('a[data-href]');
    if (link) {
      event.preventDefault();
      props.host.request(Requests.openLink, { href: link.dataset.href ?? '' }).catch((e: Error) => props.onError(e.message));
      return;
    }
    if (target.closest('a')) {
      // Any other link in rendered content goes nowhere.
      event.preventDefault();
      return;
    }
    const cite = target.closest<HTMLButtonElement>('button[data-source]');
    if (cite) {
      const { source = '', start = '1', end = '1', place } = cite.dataset;
      props.host
        .request(Requests.openCitation, { source, startLine: Number(start), endLine: Number(end), ...(place ? { place: JSON.parse(place) as SourcePlace } : {}) })
        .catch((e: Error) => props.onError(e.message));
      return;
    }
    const button = target.closest<HTMLButtonElement>('button[data-action]');
    const code = button?.closest('.code-block')?.querySelector('code')?.textContent;
    if (!button || code == null) return;
    const type = button.dataset.action === 'insert' ? Requests.insertCode : Requests.copyCode;
    props.host.request(type, { code }).catch((e: Error) => props.onError(e.message));
  };

  return (
    <NearView.Provider value={watcher}>
      <div
        class="messages"
        ref={scroller}
        role="log"
        aria-live="polite"
        aria-relevant="additions"
        aria-label="Conversation"
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget as HTMLDivElement;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICKY_PX;
        }}
        onClick={onClick}
      >
        {start + (props.earlier ?? 0) > 0 && (
          <button type="button" class="link-button window-edge" ref={earlier} onClick={showEarlier}>
            {`Show earlier messages (${start + (props.earlier ?? 0)})`}
          </button>
        )}
        {shown.map((m, at) => {
          const i = start + at;
          const streamingThis = props.stream?.messageId === m.id;
          return (
            <MessageItem
              key={m.id}
              message={m}
              content={streamingThis ? props.stream!.text : m.content}
              streaming={streamingThis && props.streaming}
              highlightVersion={highlightVersion}
              persona={props.persona}
              eager={i > lastIndex - EAGER_TAIL}
              canRegenerate={m.role === 'assistant' && !m.greeting && !props.streaming}
              canSwitch={!props.streaming}
              canEdit={m.role === 'user' && !props.streaming}
              canShowSent={m.role === 'assistant' && !m.greeting && !(streamingThis && props.streaming)}
              loadingModel={streamingThis ? props.loadingModel : undefined}
              onRegenerate={props.onRegenerate}
              onShowAlternative={props.onShowAlternative}
              onEdit={props.onEdit}
              onGoBack={i < lastIndex && !props.streaming ? props.onGoBack : undefined}
              onShowHidden={props.onShowHidden}
              onShowSent={props.onShowSent}
              onRemember={streamingThis && props.streaming ? undefined : props.onRemember}
              onProposal={props.onProposal}
            />
          );
        })}
        {end < count && (
          <button type="button" class="link-button window-edge" ref={later} onClick={showLater}>
            {`Show later messages (${count - end})`}
          </button>
        )}
      </div>
    </NearView.Provider>
  );
}

interface ItemProps {
  message: Message;
  content: string;
  streaming: boolean;
  highlightVersion: number;
  /** Render markdown at once rather than when scrolled near. */
  eager: boolean;
  persona: PersonaSummary | undefined;
  canRegenerate: boolean;
  canEdit: boolean;
  canShowSent: boolean;
  /** The model the server is loading for this reply, while it does. */
  loadingModel?: string | undefined;
  /** Another alternative can be shown (not while a reply is being written). */
  canSwitch: boolean;
  onRegenerate(messageId: string): void;
  onShowAlternative(messageId: string, delta: -1 | 1): void;
  onEdit(messageId: string, text: string): void;
  /** Present when the chat can be taken back to this message (not the last one, nothing streaming). */
  onGoBack?: ((messageId: string) => void) | undefined;
  onShowHidden(): void;
  onShowSent(messageId: string): void;
  onRemember?: ((messageId: string) => void) | undefined;
  onProposal?: ResolveProposal | undefined;
}

const MessageItem = memo(function MessageItem({ message, content, streaming, highlightVersion, eager, persona, canRegenerate, canSwitch, canEdit, canShowSent, loadingModel, onRegenerate, onShowAlternative, onEdit, onGoBack, onShowHidden, onShowSent, onRemember, onProposal }: ItemProps) {
  const [editing, setEditing] = useState(false);
  const [near, setNear] = useState(eager);
  const editButton = useRef<HTMLButtonElement>(null);
  const refocusEdit = useRef(false);
  useLayoutEffect(() => {
    if (!editing && refocusEdit.current) {
      refocusEdit.current = false;
      editButton.current?.focus();
      // Seen once in CI: focus ended on the page body after Escape, as if something took it while
      // the edit box went away. Look again a frame later, and only if focus is still nowhere.
      requestAnimationFrame(() => {
        if (document.activeElement === document.body || !document.activeElement) editButton.current?.focus();
      });
    }
  }, [editing]);
  const self = useRef<HTMLElement>(null);
  const watcher = useContext(NearView);
  const isUser = message.role === 'user';
  const status = streaming ? 'streaming' : message.status;
  const rendered = near || eager;
  useEffect(() => {
    if (rendered || !self.current || !watcher) return;
    return watcher.watch(self.current, () => setNear(true));
  }, [rendered, watcher]);

  return (
    <article
      ref={self}
      class="message"
      data-message-id={message.id}
      tabIndex={-1}
      onKeyDown={(e) => {
        // Arrow keys on the focused message itself step between its alternatives.
        if (e.target !== e.currentTarget || !message.branch || !canSwitch) return;
        if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
          e.preventDefault();
          onShowAlternative(message.id, e.key === 'ArrowLeft' ? -1 : 1);
        }
      }}
      data-role={message.role} data-status={status} aria-label={isUser ? 'You' : (persona?.name ?? 'Assistant')}>
      <div class="message-author">
        {isUser ? 'You' : `${persona?.icon ?? ''} ${persona?.name ?? 'Assistant'}`}
        {status === 'stopped' && <span class="message-note"> · stopped</span>}
        {message.branch && <Alternatives messageId={message.id} at={message.branch[0]} count={message.branch[1]} reply={!isUser} enabled={canSwitch} onShow={onShowAlternative} />}
      </div>
      {message.reasoning && (
        <details class="reasoning">
          <summary>{streaming && content.length === 0 ? 'Thinking…' : 'Reasoning'}</summary>
          <div class="reasoning-text">{message.reasoning}</div>
        </details>
      )}
      {editing ? (
        <EditBox
          initial={message.content}
          onCancel={() => {
            refocusEdit.current = true;
            setEditing(false);
          }}
          onSave={(text) => {
            setEditing(false);
            onEdit(message.id, text);
          }}
        />
      ) : isUser || !rendered ? (
        // Far from view, a reply shows its source text until it is scrolled near.
        <div class="message-content user-text">{content}</div>
      ) : (
        // Block by block, so a streamed token renders only the block being written; the renderer
        // sanitises while it parses (no script, no remote media, links inert).
        <MarkdownView class="message-content markdown" content={content} renderer={markdown} version={highlightVersion} streaming={streaming} />
      )}
      {streaming && content.length === 0 && (
        <div class="typing" aria-label={loadingModel ? `Loading ${loadingModel}` : 'Thinking'}>
          <span />
          <span />
          <span />
        </div>
      )}
      {streaming && content.length === 0 && loadingModel && (
        <div class="memory-note" role="status">
          {`Loading ${loadingModel}: the first reply waits until the server has loaded it.`}
        </div>
      )}
      {message.citations && message.citations.length > 0 && (
        <ol class="citations" aria-label="Sources from memory">
          {message.citations.map((c, i) => (
            <li key={`${c.source}:${c.startLine}`}>
              <button
                type="button"
                class="link-button"
                data-source={c.source}
                data-start={c.startLine}
                data-end={c.endLine}
                data-place={c.place ? JSON.stringify(c.place) : undefined}
                title={`Open ${c.source}, ${passageLabel(c)}`}
              >
                {`[${i + 1}] ${c.source.split('/').pop()} · ${passageLabel(c)}`}
              </button>
              <span class="citation-score" title="Similarity to your message">
                {c.score.toFixed(2)}
              </span>
            </li>
          ))}
        </ol>
      )}
      {message.remembered && message.remembered.length > 0 && (
        <details class="remembered">
          <summary>{`Remembered ${message.remembered.length === 1 ? '1 thing' : `${message.remembered.length} things`}`}</summary>
          <ul aria-label="Memories used">
            {message.remembered.map((r) => (
              <li key={r.id}>
                {r.pinned ? '📌 ' : ''}
                {r.text}
              </li>
            ))}
          </ul>
        </details>
      )}
      {message.memoryNote && <div class="memory-note">{message.memoryNote}</div>}
      {message.proposals && message.proposals.length > 0 && <Proposals messageId={message.id} proposals={message.proposals} personaName={persona?.name ?? 'The persona'} onResolve={onProposal} />}
      {message.proposalNote && <div class="memory-note">{message.proposalNote}</div>}
      {!isUser && !message.greeting && !streaming && <ReplyStats message={message} />}
      {message.status === 'error' && message.error && (
        <div class="message-error" role="alert">
          {message.error}
        </div>
      )}
      {message.hiddenAfter !== undefined && !streaming && (
        <div class="hidden-after" role="note">
          {`The chat was taken back to here: ${message.hiddenAfter === 1 ? '1 later message is' : `${message.hiddenAfter} later messages are`} hidden, not deleted. A new message branches from here.`}{' '}
          <button type="button" class="link-button" aria-label="Show hidden messages" onClick={onShowHidden}>
            Show them
          </button>
        </div>
      )}
      {!editing && (canEdit || canRegenerate || canShowSent || onGoBack || (onRemember && !message.greeting)) && (
        <div class="message-actions">
          {canEdit && (
            <button type="button" class="link-button" ref={editButton} aria-label="Edit message" onClick={() => setEditing(true)}>
              Edit
            </button>
          )}
          {canRegenerate && (
            <button type="button" class="link-button" aria-label="Regenerate" title="Write another reply here; this one stays as an alternative" onClick={() => onRegenerate(message.id)}>
              Regenerate
            </button>
          )}
          {onRemember && !message.greeting && message.content.trim() !== '' && (
            <button type="button" class="link-button" aria-label="Remember" title="Keep something from this message for this persona, in every chat" onClick={() => onRemember(message.id)}>
              Remember
            </button>
          )}
          {onGoBack && (
            <button type="button" class="link-button" aria-label="Go back to here" title="End the chat at this message for now: the later messages are hidden, not deleted, and your next message branches from here" onClick={() => onGoBack(message.id)}>
              Go back to here
            </button>
          )}
          {canShowSent && (
            <button type="button" class="link-button" aria-label="What was sent" title="The exact request that produced this reply" onClick={() => onShowSent(message.id)}>
              What was sent
            </button>
          )}
        </div>
      )}
    </article>
  );
});

function EditBox({ initial, onSave, onCancel }: { initial: string; onSave(text: string): void; onCancel(): void }) {
  const [text, setText] = useState(initial);
  const ref = useRef<HTMLTextAreaElement>(null);
  // Before the box is painted, not after: an effect ran a moment later and put the cursor at the
  // end after typing had begun (a select-all then typing ended as the old text plus the new).
  useLayoutEffect(() => {
    ref.current?.focus();
    ref.current?.setSelectionRange(text.length, text.length);
  }, []);
  const save = () => text.trim() && onSave(text);
  return (
    <div class="edit-box">
      <textarea
        ref={ref}
        aria-label="Edit message"
        value={text}
        rows={Math.min(10, text.split('\n').length + 1)}
        onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            save();
          } else if (e.key === 'Escape') {
            e.preventDefault();
            onCancel();
          }
        }}
      />
      <div class="edit-actions">
        <button type="button" onClick={save} disabled={!text.trim()}>
          Save &amp; Resend
        </button>
        <button type="button" class="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** "‹ 2 / 3 ›": which alternative of a message is shown, and the controls to step between them. */
function Alternatives({ messageId, at, count, reply, enabled, onShow }: { messageId: string; at: number; count: number; reply: boolean; enabled: boolean; onShow(messageId: string, delta: -1 | 1): void }) {
  const what = reply ? 'reply' : 'version';
  return (
    <span class="alternatives" role="group" aria-label={reply ? 'Alternative replies' : 'Versions of this message'}>
      <button type="button" class="icon-button" aria-label={`Previous ${what}`} disabled={!enabled || at <= 1} onClick={() => onShow(messageId, -1)}>
        ‹
      </button>
      <span class="alternatives-position" aria-label={`${what} ${at} of ${count}`}>{`${at} / ${count}`}</span>
      <button type="button" class="icon-button" aria-label={`Next ${what}`} disabled={!enabled || at >= count} onClick={() => onShow(messageId, 1)}>
        ›
      </button>
    </span>
  );
}
