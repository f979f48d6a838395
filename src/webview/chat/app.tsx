// The chat view: header (persona, conversations, new chat), connection banner, messages, composer.
import type { RefObject } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { PersonaSummary } from '../../shared/persona';
import { Requests, type ConnectionState } from '../../shared/chatProtocol';
import type { ChatStore } from './chatStore';
import { useStore } from '../common/useStore';
import { ErrorLine } from '../common/errorLine';
import { ConversationList } from './conversationList';
import { carriesFiles, readDrop } from './fileDrop';
import { MemoryBar, ReadOnlyNotice } from './memoryBar';
import type { ChatHost } from './chatHost';
import { MessageList } from './messageList';
import { ChatSettingsPanel } from './chatSettingsPanel';
import { ContextMeter } from './contextMeter';
import * as z from 'zod/mini';
import { savedState } from '../common/savedState';

/** The message being written survives the view being hidden. */
const SavedChatSchema = z.object({ draft: z.optional(z.string()) });

export function App({ host, store, reload }: { host: ChatHost; store: ChatStore; reload: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [showList, setShowList] = useState(false);
  const [showSettings, setShowSettings] = useState(false);
  const settingsButton = useRef<HTMLButtonElement>(null);
  const [dragging, setDragging] = useState(false);
  const listButton = useRef<HTMLButtonElement>(null);
  useStore(store);

  const call = useCallback(
    async <T,>(run: () => Promise<T>): Promise<T | undefined> => {
      try {
        setError(null);
        return await run();
      } catch (e) {
        setError((e as Error).message);
        return undefined;
      }
    },
    [],
  );

  // Stable callbacks, so memoised messages do not re-render when a token arrives.
  const onRegenerate = useCallback((messageId: string) => void call(() => host.request(Requests.regenerate, { messageId })), [call, host]);
  const onShowAlternative = useCallback((messageId: string, delta: -1 | 1) => void call(() => host.request(Requests.showAlternative, { messageId, delta })), [call, host]);
  const onEdit = useCallback((messageId: string, text: string) => void call(() => host.request(Requests.edit, { messageId, text })), [call, host]);
  const onGoBack = useCallback((messageId: string) => void call(() => host.request(Requests.goBackTo, { messageId })), [call, host]);
  const onShowHidden = useCallback(() => void call(() => host.request(Requests.showHidden, {})), [call, host]);
  const conversationId = store.state?.conversation?.id ?? '';
  const onLoadEarlier = useCallback(
    async (count: number) => void (await call(async () => store.prependEarlier(conversationId, await host.request(Requests.loadEarlier, { conversationId, count })))),
    [call, host, store, conversationId],
  );
  const onShowSent = useCallback((messageId: string) => void call(() => host.request(Requests.showSent, { messageId })), [call, host]);
  const onRemember = useCallback((messageId: string) => void call(() => host.request(Requests.remember, { messageId })), [call, host]);
  const onProposal = useCallback(
    (messageId: string, index: number, action: 'keep' | 'dismiss', text?: string) => void call(() => host.request(Requests.resolveProposal, { messageId, index, action, ...(text !== undefined ? { text } : {}) })),
    [call, host],
  );

  const state = store.state;
  if (!state) {
    if (!store.loadError) return <div class="loading" role="status">Loading Persona…</div>;
    return (
      <div class="loading" role="alert">
        <p>{store.loadError}</p>
        <button type="button" onClick={reload}>
          Try again
        </button>
      </div>
    );
  }

  const persona = state.personas.find((p) => p.id === state.activePersonaId);
  const streaming = state.streaming !== null;
  const conversation = state.conversation;
  // The persona of this chat was deleted: it stays readable, nobody answers in its name.
  const orphaned = conversation !== null && !state.personas.some((p) => p.id === conversation.personaId);
  const newChat = () => {
    setShowList(false);
    void call(() => host.request(Requests.newConversation, {}));
  };

  return (
    <div
      class="app"
      onDragOver={(e) => {
        if (!carriesFiles(e.dataTransfer)) return;
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (!(e.currentTarget as HTMLElement).contains(e.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={(e) => {
        setDragging(false);
        const dt = e.dataTransfer;
        if (!carriesFiles(dt) || !dt) return;
        e.preventDefault();
        void call(async () => host.request(Requests.dropFiles, await readDrop(dt)));
      }}
    >
      {dragging && (
        <div class="drop-hint" aria-hidden="true">
          Drop a character card to import it, or files to add them to memory
        </div>
      )}
      <Header
        personas={state.personas}
        activePersonaId={state.activePersonaId}
        listOpen={showList}
        listButton={listButton}
        onToggleList={() => setShowList((v) => !v)}
        onSelectPersona={(id) => call(() => host.request(Requests.selectPersona, { id }))}
        onNew={newChat}
      />
      <ModelBar
        model={state.settings.model.value ?? state.connection.model}
        chatModel={state.settings.model.origin === 'chat'}
        settingsOpen={showSettings}
        settingsButton={settingsButton}
        readOnly={orphaned}
        onPickModel={() => void call(() => host.request(Requests.pickModel, {}))}
        onToggleSettings={() => setShowSettings((v) => !v)}
      />
      {showSettings && (
        <ChatSettingsPanel
          settings={state.settings}
          extendedSampling={state.connection.extendedSampling ?? state.connection.provider === 'local'}
          serverModel={state.connection.model}
          readOnly={orphaned}
          onSet={(key, value) => call(() => host.request(Requests.setChatSetting, { key, value }))}
          memoryDials={state.memoryDials}
          teamMemory={state.memory.team !== undefined}
          onSetDial={(key, value) => call(() => host.request(Requests.setMemoryDial, { key, value }))}
          onPickModel={() => void call(() => host.request(Requests.pickModel, {}))}
          onApplyPreset={() => void call(() => host.request(Requests.applyPreset, {}))}
          onSavePreset={() => void call(() => host.request(Requests.savePreset, {}))}
          onCompare={() => void call(() => host.request(Requests.compare, {}))}
          onClose={() => {
            setShowSettings(false);
            settingsButton.current?.focus();
          }}
        />
      )}
      {showList && (
        <ConversationList
          conversations={state.conversations}
          personas={state.personas}
          activeId={state.conversation?.id}
          onClose={() => {
            setShowList(false);
            listButton.current?.focus();
          }}
          onSelect={(id) => {
            setShowList(false);
            void call(() => host.request(Requests.selectConversation, { id }));
          }}
          onRename={(id, title) => call(() => host.request(Requests.renameConversation, { id, title }))}
          onDelete={(id) => call(() => host.request(Requests.deleteConversation, { id }))}
          onExport={(id, format) => call(() => host.request(Requests.exportConversation, { id, format }))}
          onImport={() => {
            setShowList(false);
            void call(() => host.request(Requests.importConversation, {}));
          }}
        />
      )}
      <ConnectionBanner connection={state.connection} onRetry={() => call(() => host.request(Requests.retryConnection, {}))} />
      <MemoryBar
        memory={state.memory}
        enabled={state.memoryDials.enabled.value}
        onToggle={(enabled) => call(() => host.request(Requests.setMemory, { enabled }))}
        onAdd={() => call(() => host.request(Requests.addToMemory, {}))}
        onShowPanel={() => call(() => host.request(Requests.showMemoryPanel, {}))}
      />
      <MessageList
        host={host}
        messages={state.conversation?.messages ?? []}
        conversationId={state.conversation?.id ?? ''}
        earlier={state.conversation?.earlier}
        onLoadEarlier={onLoadEarlier}
        reveal={store.reveal && store.reveal.conversationId === state.conversation?.id ? store.reveal : null}
        persona={orphaned ? { id: conversation.personaId, name: conversation.personaName ?? 'Deleted persona', description: '', icon: '👻', builtIn: false } : persona}
        stream={store.stream}
        streaming={streaming}
        loadingModel={state.streaming?.loadingModel}
        onRegenerate={onRegenerate}
        onShowAlternative={onShowAlternative}
        onEdit={onEdit}
        onGoBack={orphaned ? undefined : onGoBack}
        onShowHidden={onShowHidden}
        onShowSent={onShowSent}
        onRemember={orphaned ? undefined : onRemember}
        onProposal={orphaned ? undefined : onProposal}
        onError={setError}
      />
      {error && <ErrorLine error={error} onDismiss={() => setError(null)} />}
      {orphaned && <ReadOnlyNotice personaName={conversation.personaName} onNew={newChat} />}
      <Composer
        host={host}
        readOnly={orphaned}
        streaming={streaming}
        placeholder={persona ? `Message ${persona.name}…` : 'Message…'}
        meterVersion={`${conversation?.id}|${conversation?.messages.length}|${conversation?.messages.at(-1)?.status}|${JSON.stringify(state.settings)}|${state.connection.model}|${state.connection.status}`}
        onSend={async (text) => (await call(() => host.request(Requests.send, { text }))) !== undefined}
        onStop={() => call(() => host.request(Requests.stop, {}))}
      />
    </div>
  );
}

function Header(props: {
  personas: PersonaSummary[];
  activePersonaId: string;
  listOpen: boolean;
  listButton: RefObject<HTMLButtonElement>;
  onToggleList(): void;
  onSelectPersona(id: string): void;
  onNew(): void;
}) {
  return (
    <header class="header">
      <select
        class="persona-select"
        aria-label="Persona"
        title="Switch character"
        value={props.activePersonaId}
        onChange={(e) => props.onSelectPersona((e.currentTarget as HTMLSelectElement).value)}
      >
        {props.personas.map((p) => (
          <option key={p.id} value={p.id} title={p.description}>
            {`${p.icon} ${p.name}`}
          </option>
        ))}
      </select>
      <button type="button" class="secondary" ref={props.listButton} aria-label="Chats" aria-expanded={props.listOpen} title="Conversations" onClick={props.onToggleList}>
        Chats
      </button>
      <button type="button" class="secondary" aria-label="New chat" title="New chat" onClick={props.onNew}>
        New
      </button>
    </header>
  );
}

function ConnectionBanner({ connection, onRetry }: { connection: ConnectionState; onRetry(): void }) {
  if (connection.status === 'down' || connection.status === 'error') {
    return (
      <div class="connection-banner" role="alert" data-status={connection.status}>
        <span class="connection-message">{connection.message ?? `Cannot reach ${connection.baseUrl}.`}</span>
        <button type="button" aria-label="Retry" onClick={onRetry}>
          Retry
        </button>
      </div>
    );
  }
  if (connection.status === 'checking') {
    return (
      <div class="connection-status" role="status">
        Connecting to {connection.baseUrl}…
      </div>
    );
  }
  return null;
}

/** Under the header: the model this chat talks to (a click picks another) and the Chat settings toggle. */
function ModelBar(props: {
  model: string | undefined;
  chatModel: boolean;
  settingsOpen: boolean;
  settingsButton: RefObject<HTMLButtonElement>;
  readOnly: boolean;
  onPickModel(): void;
  onToggleSettings(): void;
}) {
  return (
    <div class="model-bar">
      <button
        type="button"
        class="connection-status model-button"
        aria-label="Select model"
        title={props.chatModel ? 'The model this chat picked: click to choose another' : 'Click to choose the model for this chat'}
        disabled={props.readOnly}
        onClick={props.onPickModel}
      >
        {props.model ?? 'Model'}
        <span aria-hidden="true"> ▾</span>
      </button>
      <button type="button" class="secondary" ref={props.settingsButton} aria-label="Chat settings" aria-expanded={props.settingsOpen} onClick={props.onToggleSettings}>
        Settings
      </button>
    </div>
  );
}

function Composer(props: {
  host: ChatHost;
  streaming: boolean;
  readOnly: boolean;
  placeholder: string;
  /** Changes when what the next request holds may have changed: the meter counts again. */
  meterVersion: string;
  onSend(text: string): Promise<boolean>;
  onStop(): void;
}) {
  const saved = useMemo(() => savedState(props.host.api, SavedChatSchema), [props.host]);
  const [draft, setDraft] = useState(() => saved.read().draft ?? '');
  const input = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    saved.write({ draft });
  }, [draft, saved]);

  useEffect(() => {
    const el = input.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  }, [draft]);

  useLayoutEffect(() => input.current?.focus(), []);
  // Stop, Send and Regenerate hide themselves: keep the keyboard in the view, in the message box.
  // Only while the view has focus: a reply that ends while the person is in the editor or the
  // command palette must not pull the keyboard back into the view.
  useLayoutEffect(() => {
    const active = document.activeElement;
    if (document.hasFocus() && (!active || active === document.body)) input.current?.focus();
  }, [props.streaming]);

  const send = async () => {
    const text = draft.trim();
    if (!text || props.streaming) return;
    setDraft('');
    // Give the text back if the host refused it.
    if (!(await props.onSend(text))) setDraft((d) => d || text);
  };

  return (
    <>
      {!props.readOnly && <ContextMeter host={props.host} draft={draft} version={props.meterVersion} />}
      <form
        class="composer"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <textarea
          ref={input}
          rows={1}
          aria-label="Message"
          placeholder={props.readOnly ? 'This chat is read-only' : props.placeholder}
          disabled={props.readOnly}
          value={draft}
          onInput={(e) => setDraft((e.currentTarget as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              void send();
            } else if (e.key === 'Escape' && props.streaming) {
              e.preventDefault();
              props.onStop();
            }
          }}
        />
        {props.streaming ? (
          // Distinct keys: Send must not be the Stop element re-labelled, or it would keep (and then lose) focus.
          <button key="stop" type="button" class="stop" aria-label="Stop" title="Stop (Escape)" onClick={props.onStop}>
            Stop
          </button>
        ) : (
          <button key="send" type="submit" aria-label="Send" title="Send (Enter)" disabled={!draft.trim() || props.readOnly}>
            Send
          </button>
        )}
      </form>
    </>
  );
}
