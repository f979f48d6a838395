// The chat itself: the active conversation and persona, sending, streaming, stop, regenerate and
// edit-and-resend, and the connection state. Plain Node (no `vscode`): the view provider and the
// commands drive it, and unit tests drive it against a real HTTP server.
import { randomUUID } from 'node:crypto';
import type { Citation, Conversation, ConversationSummary, Message, ProposalMode, RememberedItem } from '../shared/conversation';
import { MAX_PROPOSALS } from '../shared/conversation';
import { checkDialInput, dialValues, MEMORY_DIAL_NUMBERS, MemoryDialsSchema, resolveMemoryDials, type EffectiveMemoryDials, type MemoryDialKey, type MemoryDials, type MemoryDialValues } from '../shared/memoryDials';
import { MemoryProposalError, proposeMemories } from '../rag/memoryProposals';
import { CONVERSATION_SCHEMA_VERSION } from '../shared/conversation';
import type { Logger } from '../util/logger';
import { MAX_LEFT_OUT_PREVIEWS, type ConnectionState, type ContextEstimate, type MemoryStatus, type ViewState } from '../shared/chatProtocol';
import { ProviderError } from '../providers/errors';
import type { ChatProvider } from '../providers/types';
import type { ConversationStore } from './conversationStore';
import { assembleCardPrompt, isUsableTurn, PER_MESSAGE_OVERHEAD, substituteCardMacros, type PromptCard } from '../characters/cards/cardPrompt';
import type { CardPersona } from '../shared/cardPersona';
import type { PersonaRegistry } from '../characters/personaRegistry';
import { contextBudget, type TokenCounter } from '../characters/prompt';
import { PersonaError } from '../util/personaError';
import { isChatType } from '../providers/chatClient';
import type { ModelInfo } from '../providers/types';
import { checkNumberInput, checkStopInput, DEFAULT_MAX_TOKENS, NUMBER_SETTINGS, SamplingSchema, type EffectiveSettings, type Sampling, type SettingKey } from '../shared/sampling';
import { liesWithin, toStoredMessages, type ForgottenChunk, type ResolvedRecord, type SentRecord, type SentRecordStore } from './sentRecords';
import { itemPromptText } from '../rag/itemRecall';
import { ThinkSplitter } from './reasoning';
import { queryWords, searchConversations, type SearchHit } from './conversationSearch';
import { addAlternative, appendToPath, childrenOf, displayedPath, goBackTo, historyBefore, select, showSibling, TreeIndex } from '../shared/conversationTree';
import { overridesInEffect, requestSampling, resolveSettings, type SettingLevels } from './effectiveSettings';

export interface ChatSettings {
  provider: 'local' | 'cloud';
  /** A named endpoint of persona.endpoints (provider is then 'cloud'): its name, as messages call it. */
  endpointName?: string;
  /** The server takes top_k, min_p and repeat_penalty; by default only the local one does. */
  extendedSampling?: boolean;
  baseUrl: string;
  /** Empty = the model the server reports as loaded. */
  model: string;
  /** The person's own sampling settings (the level between the defaults and the persona). */
  sampling: Sampling;
  userName: string;
}

/** The small slice of a Memento the service needs. */
export interface Preferences {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): PromiseLike<void>;
}

export interface ChatServiceDeps {
  store: ConversationStore;
  personas: PersonaRegistry;
  preferences: Preferences;
  settings: () => ChatSettings;
  /** A provider for the current settings; throws a ProviderError (e.g. a missing cloud key). */
  createProvider: (settings: ChatSettings) => Promise<ChatProvider>;
  countTokens: TokenCounter;
  describeError: (error: unknown) => string;
  logger: Logger;
  /** The workspace memory; absent: chats never use memory. */
  memory?: ChatMemory;
  /** Where each reply's request is kept ("what was sent"); absent: not kept. */
  sentRecords?: SentRecordStore;
}

/** What the chat needs from the workspace memory. */
export interface ChatMemory {
  /** Passages for the reply to the end of `history`, as the dials say. Never throws: a failure comes back as `note`. */
  retrieve(input: { history: { role: 'user' | 'assistant'; content: string }[]; personaId: string; dials: MemoryDialValues; signal: AbortSignal }): Promise<MemoryContext>;
  /** What the view's memory line says for a chat with this persona (its own memory and the shared one). */
  status(personaId: string): MemoryStatus;
  onDidChange(listener: () => void): { dispose(): void };
  /** The view opened: memory may be asked for soon. */
  warmUp?(): void;
  /** The most tokens memory may add to a prompt (what the context meter keeps for it). */
  tokenBudget?(): number;
  /** Memories proposed from the chat (absent: never proposed). */
  proposals?: ProposalMemory;
  /** The memory dials of your settings and of the persona (absent: the defaults). */
  dialLevels?(personaId: string): { settings: MemoryDials; persona: MemoryDials };
}

/** What proposing memories after a reply needs of memory. */
export interface ProposalMemory {
  mode(personaId: string): ProposalMode;
  /** The texts of the persona's memories: never proposed again. */
  existing(personaId: string): Promise<string[]>;
  keep(personaId: string, text: string, origin: { conversationId: string; messageId: string; conversationTitle: string }): Promise<void>;
}

export interface MemoryContext {
  /** The system-prompt section ('' when nothing was found). */
  section: string;
  citations: Citation[];
  /** The passages' texts as the section quotes them, in the citations' order (kept in "what was sent"). */
  passages?: string[];
  /** Why memory could not be used, said once per cause (e.g. the embeddings server is down). */
  note?: string;
  /** The persona's memory items the section holds (pinned first). */
  remembered?: RememberedItem[];
}

/** What memory forgot: whole files (`matches` says which), one chunk of a file, or memory items. */
export type ForgottenMemory =
  | { kind: 'sources'; matches: (source: string) => boolean }
  | { kind: 'chunk'; chunk: ForgottenChunk }
  | { kind: 'items'; items: readonly { id: string; text: string }[] };

/** What a prompt of what was sent says in place of a forgotten memory item. */
const FORGOTTEN_MEMORY = '[forgotten memory]';

export interface DeltaEvent {
  conversationId: string;
  messageId: string;
  stream: number;
  offset: number;
  text: string;
}

const PREF_PERSONA = 'persona.activePersonaId';
const PREF_CONVERSATION = 'persona.activeConversationId';
const TITLE_LENGTH = 60;
/** Shorter than this from the first token to the last, a rate would be noise (a reply that came in one burst). */
const MIN_RATE_SECONDS = 0.05;
/** How often the view hears of reasoning being streamed (it arrives whole in the state, not in deltas). */
const REASONING_UPDATE_MS = 200;
/** What a card with an empty `system_prompt` gets (and what its `{{original}}` stands for). */
export const DEFAULT_CARD_SYSTEM_PROMPT = "Write {{char}}'s next reply in a fictional chat between {{char}} and {{user}}. Stay in character.";

/** One side of a comparison: a label, and what differs from the chat. */
export interface CompareSetup {
  label: string;
  /** Another persona answers (its own values, and `overrides` over them). */
  personaId?: string;
  /** Values over the chat's own (a model, a preset's sampling). */
  overrides?: Sampling;
}

export interface Comparison {
  conversationId: string;
  /** How many messages the chat had: a reply can be kept only while it still has that many. */
  baseLength: number;
  user: Message;
  columns: { setup: CompareSetup; status: 'waiting' | 'streaming' | 'complete' | 'stopped' | 'error'; reply: Message; chat?: Sampling }[];
}

/** A failure of a chat action whose message is already the sentence to show. */
export class UserFacingError extends PersonaError<'chat'> {
  constructor(message: string) {
    super('chat', message);
    this.name = 'UserFacingError';
  }
}

type Listener<T> = (value: T) => void;

export class ChatService {
  private conversation!: Conversation;
  /** True once the active conversation has been written (a greeting-only one is not). */
  private persisted = false;
  private activePersonaId!: string;
  private streaming: { conversationId: string; messageId: string; stream: number; abort: AbortController; done: Promise<void>; loadingModel?: string } | undefined;
  private streamCount = 0;
  /** The latest reply, done when it has ended and been saved. */
  private lastReply: Promise<void> = Promise.resolve();
  /** The request for memories after the last reply: stopped when the person goes on. */
  private proposing: AbortController | undefined;
  /** Causes already told under a reply (a model without structured output is said once, not under every reply). */
  private readonly toldProposalNotes = new Set<string>();
  /** Saves run one after another, so an older version never lands after a newer one. */
  private saving: Promise<void> = Promise.resolve();
  private readonly countTokens: TokenCounter;
  private connection: ConnectionState;
  private modelInfo: { key: string; model: string; contextLength?: number } | undefined;
  /** The server's models as last listed, for the context length of a model a chat or persona picks. */
  private models: { key: string; list: ModelInfo[] } | undefined;
  private connectionCheck: Promise<void> | undefined;
  private readonly stateListeners = new Set<Listener<void>>();
  private readonly deltaListeners = new Set<Listener<DeltaEvent>>();

  /** What this service listens to; let go in dispose(). */
  private readonly subscriptions: { dispose(): void }[] = [];

  constructor(private readonly deps: ChatServiceDeps) {
    this.countTokens = cachedCounter(deps.countTokens);
    const s = deps.settings();
    this.connection = { status: 'unknown', ...serverOf(s) };
    if (deps.memory) this.subscriptions.push(deps.memory.onDidChange(() => this.emitState()));
    // A persona saved, restored or deleted elsewhere (the builder, an import) shows in the view at once.
    this.subscriptions.push(deps.personas.onDidChange(() => this.emitState()));
  }

  async init(): Promise<void> {
    const prefs = this.deps.preferences;
    this.activePersonaId = this.deps.personas.getOrDefault(prefs.get<string>(PREF_PERSONA)).id;
    const lastId = prefs.get<string>(PREF_CONVERSATION);
    const last = lastId ? await this.deps.store.get(lastId).catch(() => undefined) : undefined;
    if (last) {
      this.conversation = last;
      this.persisted = true;
      if (this.deps.personas.get(last.personaId)) this.activePersonaId = last.personaId;
    } else {
      this.conversation = this.freshConversation(this.persona());
    }
  }

  /** Stops listening to memory and the personas, and stops a reply being written. */
  dispose(): void {
    for (const s of this.subscriptions.splice(0)) s.dispose();
    this.streaming?.abort.abort();
    this.proposing?.abort();
  }

  // ---- events --------------------------------------------------------------------------------------

  onDidChangeState(listener: Listener<void>): { dispose(): void } {
    this.stateListeners.add(listener);
    return { dispose: () => this.stateListeners.delete(listener) };
  }

  onDelta(listener: Listener<DeltaEvent>): { dispose(): void } {
    this.deltaListeners.add(listener);
    return { dispose: () => this.deltaListeners.delete(listener) };
  }

  /** Something the view shows changed outside the chat (e.g. a sampling setting): show it. */
  refreshView(): void {
    this.emitState();
  }

  private emitState(): void {
    for (const l of this.stateListeners) l();
  }

  // ---- queries ---------------------------------------------------------------------------------------

  persona(): CardPersona {
    return this.deps.personas.getOrDefault(this.activePersonaId);
  }

  /**
   * What "Remember" starts from: the persona of the current chat, the chat, and the text of
   * `messageId` (or, without it, of the person's latest message in the chat).
   */
  rememberSource(messageId?: string): { personaId: string; personaName: string; conversationId: string; conversationTitle: string; messageId?: string; text?: string } {
    const conversation = this.conversation;
    const message = messageId
      ? conversation.messages.find((m) => m.id === messageId)
      : [...displayedPath(conversation)].reverse().find((m) => m.role === 'user' && m.content.trim() !== '');
    if (messageId && !message) throw new UserFacingError('That message is no longer in this chat.');
    const personaId = conversation.personaId;
    return {
      personaId,
      personaName: this.personaName(personaId),
      conversationId: conversation.id,
      conversationTitle: conversation.title,
      ...(message ? { messageId: message.id, text: message.content } : {}),
    };
  }

  personasForPicker(): CardPersona[] {
    return this.deps.personas.list();
  }

  personaName(id: string): string {
    return this.deps.personas.get(id)?.name ?? id;
  }

  get activeConversation(): Conversation {
    return this.conversation;
  }

  get isStreaming(): boolean {
    return this.streaming !== undefined;
  }

  /** Resolves when the reply being streamed (if any) has ended and been saved, with what was sent for it. */
  async idle(): Promise<void> {
    await this.lastReply;
    await this.deps.sentRecords?.flushed();
  }

  /** The active chat as the view shows it: its displayed path (all of it while it has no branches). */
  shownConversation(): Conversation {
    const conversation = this.conversation;
    const tree = new TreeIndex(conversation);
    const path = tree.displayedPath();
    if (path.length === conversation.messages.length) return conversation;
    // Each message with alternatives says which one it is ("2 / 3"), for the view only.
    const messages = path.map((m) => {
      const { index, count } = tree.siblingsOf(m.id);
      return count > 1 ? { ...m, branch: [index + 1, count] as [number, number] } : m;
    });
    // After "Go back to here", the last message says how many later ones are hidden.
    const hidden = conversation.end === undefined ? 0 : tree.fullPath().length - path.length;
    const last = messages.at(-1);
    if (hidden > 0 && last) messages[messages.length - 1] = { ...last, hiddenAfter: hidden };
    return { ...conversation, messages };
  }

  async viewState(): Promise<ViewState> {
    const conversations: ConversationSummary[] = await this.deps.store.list();
    return {
      personas: this.deps.personas.summaries(),
      activePersonaId: this.activePersonaId,
      conversations,
      conversation: this.shownConversation(),
      streaming: this.streaming
        ? {
            conversationId: this.streaming.conversationId,
            messageId: this.streaming.messageId,
            stream: this.streaming.stream,
            ...(this.streaming.loadingModel ? { loadingModel: this.streaming.loadingModel } : {}),
          }
        : null,
      connection: this.connection,
      memory: this.deps.memory?.status(this.activePersonaId) ?? { status: 'off' },
      settings: this.effectiveSettings(),
      memoryDials: this.memoryDials(this.conversation),
    };
  }

  /** How memory is recalled for a chat: your settings < the persona < the chat. */
  memoryDials(conversation: Conversation): EffectiveMemoryDials {
    const memory = this.deps.memory;
    // A memory without dials of its own says its budget, as your settings would.
    const levels = memory?.dialLevels?.(conversation.personaId) ?? { settings: memory?.tokenBudget ? { tokenBudget: memory.tokenBudget() } : {}, persona: {} };
    const chat: MemoryDials = { ...conversation.memoryDials, ...(conversation.memory !== undefined ? { enabled: conversation.memory } : {}) };
    return resolveMemoryDials({ ...levels, chat: Object.keys(chat).length > 0 ? chat : undefined });
  }

  /**
   * Sets (or, with null, takes away) the active chat's own value of a memory dial, checked against
   * its range. "Use memory" set to what the levels below say is no override at all.
   */
  async setMemoryDial(key: MemoryDialKey, value: number | boolean | null): Promise<void> {
    const conversation = this.conversation;
    if (key === 'enabled') {
      if (value !== null && typeof value !== 'boolean') throw new UserFacingError('Use memory is on or off.');
      delete conversation.memory;
      if (value !== null && this.memoryDials(conversation).enabled.value !== value) conversation.memory = value;
    } else {
      const dials: MemoryDials = { ...conversation.memoryDials };
      if (value === null) delete dials[key];
      else {
        const parsed = MemoryDialsSchema.shape[key].safeParse(value);
        if (!parsed.success || parsed.data === undefined) throw new UserFacingError(dialRefusal(key, value));
        Object.assign(dials, { [key]: parsed.data });
      }
      if (Object.keys(dials).length > 0) conversation.memoryDials = dials;
      else delete conversation.memoryDials;
    }
    if (this.persisted) await this.save(conversation);
    this.emitState();
  }

  /** The levels the active chat's settings resolve from. */
  private levelsFor(conversation: Conversation, settings: ChatSettings): SettingLevels {
    const persona = this.deps.personas.get(conversation.personaId) ?? this.persona();
    return {
      settings: { ...settings.sampling, ...(settings.model ? { model: settings.model } : {}) },
      persona: persona.sampling,
      chat: conversation.overrides,
    };
  }

  /** The active chat's model and sampling in effect, with where each value comes from. */
  effectiveSettings(): EffectiveSettings {
    return resolveSettings(this.levelsFor(this.conversation, this.deps.settings()));
  }

  // ---- conversations -----------------------------------------------------------------------------

  private freshConversation(persona: CardPersona): Conversation {
    const now = Date.now();
    return {
      schemaVersion: CONVERSATION_SCHEMA_VERSION,
      id: randomUUID(),
      title: 'New chat',
      personaId: persona.id,
      personaName: persona.name,
      ...(persona.version !== undefined ? { personaVersion: persona.version } : {}),
      createdAt: now,
      updatedAt: now,
      messages: [
        {
          id: randomUUID(),
          role: 'assistant',
          content: substituteCardMacros(persona.greeting, { char: persona.nickname.trim() || persona.name, user: this.deps.settings().userName }),
          createdAt: now,
          status: 'complete',
          greeting: true,
        },
      ],
    };
  }

  private async activate(conversation: Conversation, persisted: boolean): Promise<void> {
    this.conversation = conversation;
    this.persisted = persisted;
    // A chat whose persona was deleted stays readable; the persona picker keeps the last one.
    if (!this.deps.personas.get(conversation.personaId)) {
      await this.deps.preferences.update(PREF_CONVERSATION, persisted ? conversation.id : undefined);
      return;
    }
    this.activePersonaId = conversation.personaId;
    await this.deps.preferences.update(PREF_PERSONA, conversation.personaId);
    await this.deps.preferences.update(PREF_CONVERSATION, persisted ? conversation.id : undefined);
  }

  async newConversation(): Promise<void> {
    await this.stopAndWait();
    await this.activate(this.freshConversation(this.persona()), false);
    this.emitState();
  }

  async selectConversation(id: string): Promise<void> {
    if (id === this.conversation.id) return;
    const conversation = await this.deps.store.get(id);
    if (!conversation) throw new UserFacingError('That conversation could not be read; it may have been deleted.');
    await this.stopAndWait();
    await this.activate(conversation, true);
    this.emitState();
  }

  /**
   * Keeps an imported conversation (conversationImport.ts made it a copy with an id of its own) and
   * opens it. Returns whether its persona is here: without it the chat opens read-only.
   */
  async importConversation(conversation: Conversation): Promise<{ personaFound: boolean }> {
    if (await this.deps.store.get(conversation.id)) throw new UserFacingError('A chat with that id already exists.');
    await this.deps.store.save(conversation);
    await this.stopAndWait();
    await this.activate(conversation, true);
    this.emitState();
    return { personaFound: this.deps.personas.get(conversation.personaId) !== undefined };
  }

  async renameConversation(id: string, title: string): Promise<void> {
    const conversation = id === this.conversation.id ? this.conversation : await this.deps.store.get(id);
    if (!conversation) throw new UserFacingError('That conversation could not be read; it may have been deleted.');
    conversation.title = title.trim().slice(0, 200);
    if (conversation !== this.conversation || this.persisted) await this.deps.store.save(conversation);
    this.emitState();
  }

  async deleteConversation(id: string): Promise<void> {
    await this.deps.sentRecords?.delete(id);
    if (id === this.conversation.id) {
      await this.stopAndWait();
      await this.deps.store.delete(id);
      await this.activate(this.freshConversation(this.persona()), false);
    } else {
      await this.deps.store.delete(id);
    }
    this.emitState();
  }

  /** The workspace's conversations that hold every word of `query`, in a title or a message (conversationSearch.ts). */
  async searchConversations(query: string): Promise<SearchHit[]> {
    if (queryWords(query).length === 0) return [];
    const conversations: Conversation[] = [];
    for await (const c of this.storedConversations()) conversations.push(c);
    return searchConversations(conversations, query);
  }

  /** Every stored chat of the workspace, one at a time, the active one as it is in memory (it may be ahead of its file). */
  private async *storedConversations(): AsyncGenerator<Conversation> {
    for (const summary of await this.deps.store.list()) {
      const conversation = summary.id === this.conversation.id ? this.conversation : await this.deps.store.get(summary.id);
      if (conversation) yield conversation;
    }
  }

  async getConversation(id: string): Promise<Conversation | undefined> {
    return id === this.conversation.id ? this.conversation : this.deps.store.get(id);
  }

  /**
   * Makes `id` the active persona. The next message goes to it: a conversation that belongs to
   * another persona gives way to a new one opened by this persona's greeting.
   */
  async selectPersona(id: string): Promise<void> {
    const persona = this.deps.personas.get(id);
    if (!persona) throw new UserFacingError(`There is no persona "${id}".`);
    this.activePersonaId = persona.id;
    if (this.conversation.personaId !== persona.id) {
      await this.stopAndWait();
      await this.activate(this.freshConversation(persona), false);
    } else {
      await this.deps.preferences.update(PREF_PERSONA, persona.id);
    }
    this.emitState();
  }

  /**
   * Deletes a custom persona. Its conversations stay on disk and readable; if it is the one
   * chatting now, a new conversation with the default persona takes over.
   */
  async deletePersona(id: string): Promise<void> {
    const affected = this.activePersonaId === id || this.conversation.personaId === id;
    if (affected) await this.stopAndWait();
    await this.deps.personas.removeCustom(id);
    if (affected) await this.activate(this.freshConversation(this.deps.personas.getOrDefault(undefined)), false);
    this.emitState();
  }

  // ---- chat settings -------------------------------------------------------------------------------

  /**
   * Sets (or, with null, takes away) the active chat's own value of one setting. The value is
   * checked against the setting's range; a refused one changes nothing and says what is allowed.
   */
  async setChatSetting(key: SettingKey, value: number | string | string[] | null): Promise<void> {
    const conversation = this.conversation;
    const overrides: Sampling = { ...conversation.overrides };
    if (value === null) {
      delete overrides[key];
    } else {
      const parsed = SamplingSchema.shape[key].safeParse(typeof value === 'string' && key !== 'model' ? Number(value) : value);
      if (!parsed.success || parsed.data === undefined) throw new UserFacingError(refusal(key, value));
      Object.assign(overrides, { [key]: parsed.data });
    }
    await this.setOverrides(conversation, overrides);
  }

  /** A preset applied to the active chat: its values become the chat's own (a model the preset does not name is kept). */
  async applyPresetToChat(settings: Sampling): Promise<void> {
    const conversation = this.conversation;
    const checked = SamplingSchema.parse(settings);
    const model = conversation.overrides?.model;
    await this.setOverrides(conversation, { ...(model !== undefined ? { model } : {}), ...checked });
  }

  /** The chat's own values from now on (none: the levels below apply), saved and shown. */
  private async setOverrides(conversation: Conversation, overrides: Sampling): Promise<void> {
    if (Object.keys(overrides).length > 0) conversation.overrides = overrides;
    else delete conversation.overrides;
    if (this.persisted) await this.save(conversation);
    this.emitState();
  }

  /** A preset applied to a persona of the person's own: a new version of it with these values. Built-ins are read-only. */
  async applyPresetToPersona(personaId: string, settings: Sampling): Promise<void> {
    const persona = this.deps.personas.get(personaId);
    if (!persona) throw new UserFacingError(`There is no persona "${personaId}".`);
    if (this.deps.personas.isBuiltIn(personaId)) throw new UserFacingError(`${persona.name} comes with Persona and cannot be changed: duplicate it first (Persona: Duplicate Character…).`);
    await this.deps.personas.saveCustom({ ...persona, sampling: { ...persona.sampling, ...SamplingSchema.parse(settings) } }, { kind: 'edit' });
    this.emitState();
  }

  // ---- compare ---------------------------------------------------------------------------------------

  /**
   * Sends `text`, with this chat's history, to each set-up in turn (local servers answer one request
   * at a time), calling `onUpdate` as the replies grow. Nothing is added to the chat: `keepCompared`
   * puts the message and one reply in it. A set-up's `overrides` go over the chat's own; a set-up
   * with another persona uses that persona's values and the given overrides only.
   */
  async compare(text: string, setups: CompareSetup[], onUpdate: (c: Comparison) => void, signal: AbortSignal): Promise<Comparison> {
    if (this.streaming) throw new UserFacingError('A reply is still being written. Stop it first, or wait for it to finish.');
    const conversation = this.conversation;
    this.assertWritable(conversation);
    const content = text.trim();
    if (!content) throw new UserFacingError('The message is empty.');
    const settings = this.deps.settings();
    const user: Message = { id: randomUUID(), role: 'user', content, createdAt: Date.now(), status: 'complete' };
    const comparison: Comparison = {
      conversationId: conversation.id,
      baseLength: displayedPath(conversation).length,
      user,
      columns: setups.map((setup) => ({
        setup,
        status: 'waiting' as const,
        reply: { id: randomUUID(), role: 'assistant' as const, content: '', createdAt: Date.now(), status: 'streaming' as const },
      })),
    };
    for (const column of comparison.columns) {
      if (signal.aborted) {
        column.status = 'stopped';
        column.reply.status = 'stopped';
        continue;
      }
      const { setup, reply } = column;
      const persona = (setup.personaId && this.deps.personas.get(setup.personaId)) || this.deps.personas.getOrDefault(conversation.personaId);
      const levels = this.levelsFor(conversation, settings);
      levels.persona = persona.sampling;
      levels.chat = setup.personaId && setup.personaId !== conversation.personaId ? { ...setup.overrides } : { ...conversation.overrides, ...setup.overrides };
      column.chat = levels.chat;
      // The chat as it would be with this reply: the records of what was sent refer to its messages.
      const view = lineOf(conversation, [user, reply]);
      column.status = 'streaming';
      onUpdate(comparison);
      try {
        await this.produceReply({
          conversation: view,
          reply,
          persona,
          settings,
          levels,
          signal,
          recall: () => this.recall(view, reply, persona.id, signal),
          onContent: (piece) => {
            reply.content += piece;
            onUpdate(comparison);
          },
          onReasoning: () => onUpdate(comparison),
          onLoading: () => onUpdate(comparison),
        });
        column.status = 'complete';
      } catch (e) {
        if (signal.aborted || ProviderError.is(e, 'aborted')) {
          reply.status = 'stopped';
          column.status = 'stopped';
        } else {
          reply.status = 'error';
          reply.error = this.deps.describeError(e);
          column.status = 'error';
        }
      }
      onUpdate(comparison);
    }
    return comparison;
  }

  /** Puts the compared message and the reply of `column` in the chat, which goes on with that set-up. */
  async keepCompared(comparison: Comparison, column: number): Promise<void> {
    const chosen = comparison.columns[column];
    if (!chosen) throw new UserFacingError('There is no such reply.');
    if (!this.canKeep(comparison)) throw new UserFacingError('The chat has moved on since this comparison: its replies can no longer be kept.');
    if (chosen.status === 'waiting' || chosen.status === 'streaming') throw new UserFacingError('That reply is still being written.');
    const conversation = this.conversation;
    appendToPath(conversation, comparison.user);
    appendToPath(conversation, chosen.reply);
    if (conversation.title === 'New chat') conversation.title = titleFrom(comparison.user.content);
    // The chat continues with the set-up whose reply was kept (a reply of another persona is kept as text only).
    if (!chosen.setup.personaId || chosen.setup.personaId === conversation.personaId) {
      if (chosen.chat && Object.keys(chosen.chat).length > 0) conversation.overrides = { ...chosen.chat };
      else delete conversation.overrides;
    }
    conversation.updatedAt = Date.now();
    await this.save(conversation);
    this.emitState();
  }

  canKeep(comparison: Comparison): boolean {
    return !this.streaming && this.conversation.id === comparison.conversationId && displayedPath(this.conversation).length === comparison.baseLength;
  }

  /** What was sent for a compared reply. */
  async sentForCompared(comparison: Comparison, column: number): Promise<{ conversation: Conversation; record: ResolvedRecord | undefined }> {
    const chosen = comparison.columns[column];
    const conversation = (await this.getConversation(comparison.conversationId)) ?? this.conversation;
    const kept = displayedPath(conversation).slice(0, comparison.baseLength);
    const view = lineOf({ ...conversation, messages: kept }, [comparison.user, ...(chosen ? [chosen.reply] : [])]);
    if (!chosen || !this.deps.sentRecords) return { conversation: view, record: undefined };
    return { conversation: view, record: await this.deps.sentRecords.get(view, chosen.reply.id) };
  }

  /** The server's chat models (never an embeddings model), with load state and context where it says. */
  async listChatModels(signal?: AbortSignal): Promise<ModelInfo[]> {
    const settings = this.deps.settings();
    const provider = await this.deps.createProvider(settings);
    const list = await provider.listModels(signal);
    this.models = { key: this.settingsKey(settings), list };
    return list.filter((m) => (m.type !== undefined ? isChatType(m.type) : !/embed/i.test(m.id)));
  }

  // ---- chatting ----------------------------------------------------------------------------------

  /** Turns memory on or off for the active chat (the memory line's checkbox). */
  async setMemoryEnabled(enabled: boolean): Promise<void> {
    await this.setMemoryDial('enabled', enabled);
  }

  /** Memory forgot something: it goes from past replies and from what was sent for them. Returns how many conversations changed. */
  forget(what: ForgottenMemory): Promise<number> {
    switch (what.kind) {
      case 'sources':
        return this.forgetCitations(what.matches);
      case 'chunk':
        return this.forgetChunk(what.chunk);
      case 'items':
        return this.forgetRemembered(what.items);
    }
  }

  /**
   * Forgotten sources leave no trace in the chats: their citations go from every stored reply.
   * `matches` gets each cited source; returns how many conversations changed.
   */
  async forgetCitations(matches: (source: string) => boolean): Promise<number> {
    const changed = await this.editStoredMessages((m) => dropEntries(m, 'citations', (c) => matches(c.source)));
    await this.deps.sentRecords?.forgetPassages(matches);
    return changed;
  }

  /** One forgotten chunk of a file: the citations within its lines go, and its text from what was sent; the file's other passages stay. */
  private async forgetChunk(chunk: ForgottenChunk): Promise<number> {
    const changed = await this.editStoredMessages((m) => dropEntries(m, 'citations', (c) => liesWithin(c, chunk)));
    await this.deps.sentRecords?.forgetChunk(chunk);
    return changed;
  }

  /**
   * Forgotten memory items: they go from the replies that were given them, and their text from the
   * prompts that quoted them — also the text an item had before it was edited, as those replies kept it.
   */
  private async forgetRemembered(items: readonly { id: string; text: string }[]): Promise<number> {
    const ids = new Set(items.map((i) => i.id));
    const texts = new Set(items.map((i) => i.text));
    const changed = await this.editStoredMessages((m) => {
      for (const r of m.remembered ?? []) if (ids.has(r.id)) texts.add(r.text);
      return dropEntries(m, 'remembered', (r) => ids.has(r.id));
    });
    await this.deps.sentRecords?.forgetQuoted([...texts].map(itemPromptText), FORGOTTEN_MEMORY);
    return changed;
  }

  /** Runs `edit` on every message of every stored chat and saves the chats it changed. Returns how many. */
  private async editStoredMessages(edit: (m: Message) => boolean): Promise<number> {
    await this.lastReply;
    let changed = 0;
    for await (const conversation of this.storedConversations()) {
      // Every message is edited, not only up to the first that changed.
      if (!conversation.messages.map(edit).some(Boolean)) continue;
      changed++;
      // A rewrite: nothing of what was forgotten stays in the conversation's log.
      await this.save(conversation, { rewrite: true });
    }
    if (changed > 0) this.emitState();
    return changed;
  }

  private assertWritable(conversation: Conversation): void {
    if (!this.deps.personas.get(conversation.personaId)) {
      throw new UserFacingError(`${conversation.personaName ?? 'The persona of this chat'} was deleted, so this chat is read-only. Start a new chat to go on.`);
    }
  }

  async send(text: string): Promise<{ messageId: string }> {
    if (this.streaming) throw new UserFacingError('A reply is still being written. Stop it first, or wait for it to finish.');
    this.assertWritable(this.conversation);
    const content = text.trim();
    if (!content) throw new UserFacingError('The message is empty.');
    const conversation = this.conversation;
    const now = Date.now();
    appendToPath(conversation, { id: randomUUID(), role: 'user', content, createdAt: now, status: 'complete' });
    if (conversation.title === 'New chat') conversation.title = titleFrom(content);
    return this.startReply(conversation);
  }

  /**
   * A new reply in place of `messageId` (any reply on the path shown; the latest without it), written
   * from the history before it. The old reply stays as an alternative ("1 / 2"), with the turns that
   * followed it; one that failed is replaced. After a message left without a reply, a reply to it.
   */
  async regenerate(messageId?: string): Promise<{ messageId: string }> {
    if (this.streaming) throw new UserFacingError('A reply is still being written. Stop it first.');
    const conversation = this.conversation;
    this.assertWritable(conversation);
    const path = displayedPath(conversation);
    const target = messageId === undefined ? path.at(-1) : path.find((m) => m.id === messageId);
    if (!target) throw new UserFacingError(messageId === undefined ? 'There is nothing to regenerate yet.' : 'That reply is no longer shown in this chat.');
    if (target.role === 'user') {
      if (messageId !== undefined) throw new UserFacingError('Only replies can be regenerated.');
      return this.startReply(conversation);
    }
    if (target.greeting) throw new UserFacingError('There is nothing to regenerate yet: send a message first.');
    const failed = target.status === 'error' && childrenOf(conversation, target.id).length === 0;
    return this.startReply(conversation, (reply) => {
      addAlternative(conversation, target.id, reply);
      if (failed) conversation.messages.splice(conversation.messages.indexOf(target), 1);
    });
  }

  /** Shows the previous (-1) or next (1) alternative of a message, with the turns that followed it. */
  async showAlternative(messageId: string, delta: -1 | 1): Promise<void> {
    if (this.streaming) throw new UserFacingError('A reply is still being written. Stop it first, or wait for it to finish.');
    const conversation = this.conversation;
    if (!conversation.messages.some((m) => m.id === messageId)) throw new UserFacingError('That message is no longer in this chat.');
    if (showSibling(conversation, messageId, delta) === undefined) return;
    if (this.persisted) await this.deps.store.save(conversation);
    this.emitState();
  }

  /**
   * "Go back to here": the chat shows this message as its last one; what followed is hidden, not
   * deleted. The next message branches from here, and the hidden turns stay one step away ("1 / 2").
   */
  async goBackTo(messageId: string): Promise<void> {
    if (this.streaming) throw new UserFacingError('A reply is still being written. Stop it first, or wait for it to finish.');
    const conversation = this.conversation;
    if (!displayedPath(conversation).some((m) => m.id === messageId)) throw new UserFacingError('That message is no longer shown in this chat.');
    goBackTo(conversation, messageId);
    if (this.persisted) await this.save(conversation);
    this.emitState();
  }

  /** Shows again what "Go back to here" hid. */
  async showHidden(): Promise<void> {
    const conversation = this.conversation;
    if (conversation.end === undefined) return;
    delete conversation.end;
    if (this.persisted) await this.save(conversation);
    this.emitState();
  }

  /** Makes a message of the active chat displayed (a search hit on another branch, or past a checkpoint). */
  async showMessage(messageId: string): Promise<void> {
    if (this.streaming) return;
    const conversation = this.conversation;
    if (!conversation.messages.some((m) => m.id === messageId)) return;
    if (displayedPath(conversation).some((m) => m.id === messageId)) return;
    select(conversation, messageId);
    if (this.persisted) await this.save(conversation);
    this.emitState();
  }

  async edit(messageId: string, text: string): Promise<{ messageId: string }> {
    if (this.streaming) throw new UserFacingError('A reply is still being written. Stop it first.');
    const conversation = this.conversation;
    this.assertWritable(conversation);
    const path = displayedPath(conversation);
    const index = path.findIndex((m) => m.id === messageId);
    const message = path[index];
    if (!message || message.role !== 'user') throw new UserFacingError('Only your own messages can be edited.');
    const content = text.trim();
    if (!content) throw new UserFacingError('The message is empty.');
    // The edit starts a branch: the message as it was, and the turns after it, stay one step back ("1 / 2").
    addAlternative(conversation, message.id, { id: randomUUID(), role: 'user', content, createdAt: Date.now(), status: 'complete' });
    if (index === path.findIndex((m) => m.role === 'user')) conversation.title = titleFrom(content);
    return this.startReply(conversation);
  }

  stop(): void {
    this.streaming?.abort.abort();
  }

  private async stopAndWait(): Promise<void> {
    const s = this.streaming;
    if (!s) return;
    s.abort.abort();
    await s.done;
  }

  /** Starts a reply: at the end of the path shown, or where `place` puts it (an alternative). */
  private async startReply(conversation: Conversation, place?: (reply: Message) => void): Promise<{ messageId: string }> {
    // The next reply goes first: the server answers one request at a time.
    this.proposing?.abort();
    const reply: Message = { id: randomUUID(), role: 'assistant', content: '', createdAt: Date.now(), status: 'streaming' };
    if (place) place(reply);
    else appendToPath(conversation, reply);
    conversation.updatedAt = reply.createdAt;
    const abort = new AbortController();
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const stream = ++this.streamCount;
    this.streaming = { conversationId: conversation.id, messageId: reply.id, stream, abort, done };
    this.lastReply = done;
    // The request goes out first; showing the message and saving it (so it survives a crash
    // mid-reply) follow without delaying the first token.
    const saved = this.save(conversation);
    void this.stream(conversation, reply, abort.signal, stream).finally(finish);
    setImmediate(() => this.emitState());
    await saved;
    return { messageId: reply.id };
  }

  private async stream(conversation: Conversation, reply: Message, signal: AbortSignal, stream: number): Promise<void> {
    const settings = this.deps.settings();
    const persona = this.deps.personas.getOrDefault(conversation.personaId);
    const started = Date.now();
    if (persona.version !== undefined && conversation.personaVersion !== persona.version) conversation.personaVersion = persona.version;
    let proposeAfter = false;
    try {
      await this.produceReply({
        conversation,
        reply,
        persona,
        settings,
        levels: this.levelsFor(conversation, settings),
        signal,
        recall: () => this.recall(conversation, reply, persona.id, signal),
        onContent: (text) => this.appendContent(conversation, reply, stream, text),
        onReasoning: () => this.emitState(),
        onLoading: (model) => {
          if (this.streaming?.messageId !== reply.id) return;
          if (model) this.streaming.loadingModel = model;
          else delete this.streaming.loadingModel;
          this.emitState();
        },
      });
      this.setConnection({ status: 'ok', model: reply.model });
      this.refreshModelsAfter(reply.model, settings);
      proposeAfter = true;
      this.deps.logger.info(`Reply of ${reply.content.length} characters from ${reply.model ?? 'the model'} in ${Date.now() - started} ms.`);
    } catch (e) {
      if (signal.aborted || ProviderError.is(e, 'aborted')) {
        reply.status = 'stopped';
        this.deps.logger.info(`Reply stopped after ${reply.content.length} characters.`);
      } else {
        reply.status = 'error';
        reply.error = this.deps.describeError(e);
        this.deps.logger.warn(`Reply failed: ${reply.error}`);
        if (ProviderError.is(e, 'serverDown')) this.setConnection({ status: 'down', message: reply.error });
        else if (ProviderError.is(e, 'noModelLoaded') || ProviderError.is(e, 'unauthorized') || ProviderError.is(e, 'modelNotFound'))
          this.setConnection({ status: 'error', message: reply.error });
      }
    } finally {
      this.streaming = undefined;
      conversation.updatedAt = Date.now();
      try {
        await this.save(conversation);
      } catch (e) {
        this.deps.logger.error(`Could not save the conversation: ${(e as Error).message}`);
      }
      this.emitState();
    }
    if (proposeAfter) void this.propose(conversation, reply, settings);
  }

  /**
   * After a reply, when the persona proposes memories: one request of its own to the chat model for
   * the facts worth keeping. "ask" puts them under the reply for the person; "automatic" keeps them
   * and says so there. Never fails the chat: a model that cannot answer in JSON gets a note, once.
   */
  private async propose(conversation: Conversation, reply: Message, settings: ChatSettings): Promise<void> {
    const memory = this.deps.memory?.proposals;
    if (!memory) return;
    const personaId = conversation.personaId;
    const mode = memory.mode(personaId);
    if (mode === 'off') return;
    const abort = new AbortController();
    this.proposing = abort;
    try {
      const provider = await this.deps.createProvider(settings);
      const { model } = this.targetOf(resolveSettings(this.levelsFor(conversation, settings)), settings);
      const turns = [...historyBefore(conversation, reply.id), reply]
        .filter(isUsableTurn)
        .map((m) => ({ role: m.role as 'user' | 'assistant', content: m.content }));
      const { proposals } = await proposeMemories({
        chat: (request, responseFormat) => provider.streamChat({ ...request, responseFormat }),
        ...(model ? { model } : {}),
        turns,
        existing: await memory.existing(personaId),
        maxProposals: MAX_PROPOSALS,
        signal: abort.signal,
        logger: this.deps.logger,
      });
      if (abort.signal.aborted || proposals.length === 0) return;
      if (mode === 'automatic') {
        for (const text of proposals) await memory.keep(personaId, text, { conversationId: conversation.id, messageId: reply.id, conversationTitle: conversation.title });
      }
      reply.proposals = proposals.map((text) => ({ text, state: mode === 'automatic' ? 'kept' : 'pending' }));
    } catch (e) {
      if (abort.signal.aborted || ProviderError.is(e, 'aborted')) return;
      const note = MemoryProposalError.is(e) ? e.message : `No memories were proposed: ${this.deps.describeError(e)}`;
      this.deps.logger.warn(`Proposing memories: ${note}`);
      if (this.toldProposalNotes.has(note)) return;
      this.toldProposalNotes.add(note);
      reply.proposalNote = note;
    } finally {
      if (this.proposing === abort) this.proposing = undefined;
    }
    await this.save(conversation).catch((e: Error) => this.deps.logger.error(`Could not save the conversation: ${e.message}`));
    this.emitState();
  }

  /** The person keeps (with their edit) or dismisses a proposed memory. */
  async resolveProposal(messageId: string, index: number, action: 'keep' | 'dismiss', text?: string): Promise<void> {
    const conversation = this.conversation;
    const reply = conversation.messages.find((m) => m.id === messageId);
    const proposal = reply?.proposals?.[index];
    if (!reply || !proposal) throw new UserFacingError('That proposal is no longer in this chat.');
    if (proposal.state !== 'pending') return;
    if (action === 'keep') {
      const kept = (text ?? proposal.text).trim();
      if (!kept) throw new UserFacingError('A memory needs some text.');
      const memory = this.deps.memory?.proposals;
      if (!memory) throw new UserFacingError('Memories cannot be kept here.');
      await memory.keep(conversation.personaId, kept, { conversationId: conversation.id, messageId, conversationTitle: conversation.title });
      proposal.text = kept;
      proposal.state = 'kept';
    } else {
      proposal.state = 'dismissed';
    }
    await this.save(conversation);
    this.emitState();
  }

  /**
   * One reply, from the prompt to its last token: `reply` (the last message of `conversation`) gets
   * its text, reasoning, model, usage, stats and the chat's overrides in effect; what was sent is
   * kept under the conversation's id. Throws what the provider throws, after the stats are set.
   */
  private async produceReply(input: {
    conversation: Conversation;
    reply: Message;
    persona: CardPersona;
    settings: ChatSettings;
    levels: SettingLevels;
    signal: AbortSignal;
    recall(): Promise<{ section: string; passages: string[] }>;
    onContent(text: string): void;
    /** Reasoning grew (called at most every REASONING_UPDATE_MS). */
    onReasoning(): void;
    /** The server is loading this model for the reply (undefined: it has started answering). */
    onLoading(model: string | undefined): void;
  }): Promise<void> {
    const { conversation, reply, persona, settings, signal } = input;
    const timing: { sentAt?: number; firstTokenAt?: number } = {};
    const splitter = new ThinkSplitter();
    const thinking = this.reasoningFor(reply, input.onReasoning);
    let keepRecord = () => {};
    try {
      const provider = await this.deps.createProvider(settings);
      const effective = resolveSettings(input.levels);
      const sampling = requestSampling(effective, settings.extendedSampling ?? settings.provider === 'local');
      const replyTokens = sampling.maxTokens ?? DEFAULT_MAX_TOKENS;
      const { model, contextLength } = this.targetOf(effective, settings);
      const overrides = overridesInEffect(effective);
      if (Object.keys(overrides).length > 0) reply.overrides = overrides;
      const memory = await input.recall();
      const prompt = assembleCardPrompt({
        memory: memory.section,
        card: promptCardOf(persona),
        userName: settings.userName,
        history: historyBefore(conversation, reply.id),
        defaultSystemPrompt: DEFAULT_CARD_SYSTEM_PROMPT,
        countTokens: this.countTokens,
        ...(contextLength !== undefined ? { contextBudget: contextBudget(contextLength, replyTokens) } : {}),
      });
      if (prompt.droppedMemory) {
        delete reply.citations;
        reply.memoryNote = 'Memory was left out: the model’s context is too small for it and this conversation.';
      }
      if (prompt.droppedMessages > 0) this.deps.logger.info(`Left out the ${prompt.droppedMessages} oldest messages to fit the model's context.`);
      if (prompt.activatedEntries.length > 0) this.deps.logger.info(`Lorebook entries in this prompt: ${prompt.activatedEntries.map((e) => (e.key ? `#${e.index} (${e.key})` : `#${e.index}`)).join(', ')}.`);
      // Kept to compare with the server's own count when the reply comes (the context meter's correction).
      reply.promptCounted = Object.values(prompt.breakdown).reduce((a, b) => a + b, 0);
      // What was sent is kept once the server is answering (or has failed): never on the way to the first token.
      let kept = false;
      keepRecord = () => {
        if (kept || !this.deps.sentRecords) return;
        kept = true;
        const record = this.sentRecord({ conversation, reply, settings, sampling: { ...sampling, maxTokens: replyTokens }, prompt, passages: prompt.droppedMemory ? [] : memory.passages, contextLength });
        record.model = reply.model ?? model ?? '';
        this.deps.sentRecords.append(conversation.id, record).catch((e: Error) => this.deps.logger.warn(`Could not keep what was sent: ${e.message}`));
      };
      // A model the server has not loaded is loaded by this request (LM Studio's just-in-time loading): say so, or the wait looks hung.
      const loading = model !== undefined && this.cachedModel(model, settings)?.state === 'not-loaded';
      if (loading) input.onLoading(model);
      const events = provider.streamChat({ ...(model ? { model } : {}), messages: prompt.messages, ...sampling, maxTokens: replyTokens, signal });
      timing.sentAt = performance.now();
      const firstToken = () => {
        if (timing.firstTokenAt !== undefined) return;
        timing.firstTokenAt = performance.now();
        if (loading) input.onLoading(undefined);
        // After this token has reached the view.
        setImmediate(keepRecord);
      };
      for await (const event of events) {
        if (event.type === 'delta') {
          firstToken();
          const piece = splitter.push(event.text);
          if (piece.reasoning) thinking.add(piece.reasoning);
          if (piece.content) input.onContent(piece.content);
        } else if (event.type === 'reasoning') {
          // The first token of either counts: a reasoning model starts by thinking.
          firstToken();
          thinking.add(event.text);
        } else if (event.type === 'start') {
          reply.model = event.model;
        } else if (event.type === 'usage') {
          reply.usage = { promptTokens: event.promptTokens, completionTokens: event.completionTokens };
        }
      }
      const rest = splitter.flush();
      if (rest.reasoning) thinking.add(rest.reasoning);
      if (rest.content) input.onContent(rest.content);
      reply.status = 'complete';
    } finally {
      thinking.done();
      // A request that failed or was stopped before its first token is kept too: what was sent is what it is for.
      if (timing.sentAt !== undefined) keepRecord();
      if (timing.sentAt !== undefined) reply.stats = this.statsOf(reply, timing.sentAt, timing.firstTokenAt);
    }
  }

  private appendContent(conversation: Conversation, reply: Message, stream: number, text: string): void {
    const offset = reply.content.length;
    reply.content += text;
    for (const l of this.deltaListeners) l({ conversationId: conversation.id, messageId: reply.id, stream, offset, text });
  }

  /**
   * A reply's reasoning as it streams: kept on the reply (never sent back to the model) and shown
   * by a state update at most every REASONING_UPDATE_MS, not per token.
   */
  private reasoningFor(reply: Message, onUpdate: () => void): { add(text: string): void; done(): void } {
    let timer: NodeJS.Timeout | undefined;
    return {
      add: (text) => {
        reply.reasoning = (reply.reasoning ?? '') + text;
        timer ??= setTimeout(() => {
          timer = undefined;
          onUpdate();
        }, REASONING_UPDATE_MS);
      },
      done: () => {
        clearTimeout(timer);
        timer = undefined;
      },
    };
  }

  /** The request of `reply` as "what was sent" keeps it: history as references, the rest as sent. */
  private sentRecord(input: {
    conversation: Conversation;
    reply: Message;
    settings: ChatSettings;
    sampling: Omit<Sampling, 'model'>;
    prompt: ReturnType<typeof assembleCardPrompt>;
    passages: string[];
    contextLength: number | undefined;
  }): SentRecord {
    const { conversation, reply, prompt } = input;
    const usable = historyBefore(conversation, reply.id).filter(isUsableTurn);
    const kept = usable.slice(prompt.droppedMessages);
    const citations = prompt.droppedMemory ? [] : (reply.citations ?? []);
    return {
      v: 1,
      messageId: reply.id,
      at: Date.now(),
      provider: input.settings.provider,
      baseUrl: input.settings.baseUrl,
      model: '',
      sampling: input.sampling,
      messages: toStoredMessages(prompt.messages, kept, 1),
      ...(input.contextLength !== undefined ? { contextLength: input.contextLength } : {}),
      replyTokens: input.sampling.maxTokens ?? DEFAULT_MAX_TOKENS,
      parts: prompt.breakdown,
      lorebook: prompt.activatedEntries.map((e) => ({ index: e.index, ...(e.key !== undefined ? { key: e.key } : {}), tokens: e.tokens })),
      passages: citations.map((c, i) => {
        const text = input.passages[i];
        return { ...c, tokens: text ? this.countTokens(text) : 0, ...(text !== undefined ? { text } : {}) };
      }),
      historyKept: kept.length,
      historyLeftOut: usable.slice(0, prompt.droppedMessages).map((m) => m.id),
      examplesLeftOut: prompt.droppedExamples,
      memoryLeftOut: prompt.droppedMemory,
    };
  }

  /** What was sent for a reply of the active chat (the latest reply when no id is given). */
  async sentFor(messageId?: string): Promise<{ conversation: Conversation; record: ResolvedRecord | undefined; messageId: string | undefined }> {
    await this.lastReply;
    const conversation = this.conversation;
    const id = messageId ?? [...displayedPath(conversation)].reverse().find((m) => m.role === 'assistant' && !m.greeting)?.id;
    if (!id || !this.deps.sentRecords) return { conversation, record: undefined, messageId: id };
    return { conversation, record: await this.deps.sentRecords.get(conversation, id), messageId: id };
  }

  /**
   * How much of the model's loaded context the next request would take with `draft` as the
   * message, counted as the request is; memory (found when the message is sent) as the most it may add.
   * Scaled by the server's own count of the latest reply's prompt against ours, where it gave one.
   */
  async estimateContext(draft: string): Promise<ContextEstimate> {
    const conversation = this.conversation;
    const settings = this.deps.settings();
    const persona = this.deps.personas.get(conversation.personaId) ?? this.persona();
    const effective = resolveSettings(this.levelsFor(conversation, settings));
    const replyTokens = effective.maxTokens.value ?? DEFAULT_MAX_TOKENS;
    const limit = this.targetOf(effective, settings).contextLength;
    const text = draft.trim();
    const path = displayedPath(conversation);
    const history = [...path, ...(text ? [{ role: 'user' as const, content: text, status: 'complete' }] : [])];
    const base = { card: promptCardOf(persona), userName: settings.userName, history, defaultSystemPrompt: DEFAULT_CARD_SYSTEM_PROMPT, countTokens: this.countTokens };
    let prompt: ReturnType<typeof assembleCardPrompt>;
    let overflow = false;
    try {
      prompt = assembleCardPrompt({ ...base, ...(limit !== undefined ? { contextBudget: contextBudget(limit, replyTokens) } : {}) });
    } catch (e) {
      if (!PersonaError.is(e, 'promptTooLong')) throw e;
      overflow = true;
      prompt = assembleCardPrompt(base);
    }
    const draftTokens = text ? this.countTokens(text) + PER_MESSAGE_OVERHEAD : 0;
    const p = prompt.breakdown;
    const counted = p.system + p.lorebook + p.examples + p.history + p.postHistory;
    const scale = usageScale(path);
    // Memory is searched when the message is sent: keep room for the most it may add, when it is on and holds something.
    const memory = this.deps.memory;
    const dials = dialValues(this.memoryDials(conversation));
    const memoryStatus = memory && dials.enabled ? memory.status(conversation.personaId).status : 'off';
    const memoryTokens = memory?.tokenBudget && (memoryStatus === 'ready' || memoryStatus === 'indexing' || memoryStatus === 'checking') ? dials.tokenBudget : 0;
    const usable = history.filter(isUsableTurn);
    return {
      used: Math.round(counted * scale) + memoryTokens + replyTokens,
      ...(limit !== undefined ? { limit } : {}),
      parts: {
        system: Math.round((p.system + p.postHistory) * scale),
        lorebook: Math.round(p.lorebook * scale),
        examples: Math.round(p.examples * scale),
        memory: memoryTokens,
        history: Math.round((p.history - draftTokens) * scale),
        draft: Math.round(draftTokens * scale),
        reply: replyTokens,
      },
      leftOutCount: prompt.droppedMessages,
      leftOut: usable.slice(Math.max(0, prompt.droppedMessages - MAX_LEFT_OUT_PREVIEWS), prompt.droppedMessages).map((m) => ({ role: m.role, preview: previewOf(m.content) })),
      ...(overflow ? { overflow } : {}),
    };
  }


  /** Time to first token and speed, measured here; tokens from the server's usage where it sent it. */
  private statsOf(reply: Message, sentAt: number, firstTokenAt: number | undefined): NonNullable<Message['stats']> {
    const end = performance.now();
    const stats: NonNullable<Message['stats']> = { totalMs: Math.round(end - sentAt) };
    if (firstTokenAt === undefined) return stats;
    stats.firstTokenMs = Math.round(firstTokenAt - sentAt);
    let tokens = reply.usage?.completionTokens;
    if (tokens === undefined && reply.content) {
      tokens = this.countTokens(reply.content);
      stats.countedTokens = tokens;
    }
    const seconds = (end - firstTokenAt) / 1000;
    // The first token ends the wait; the rate is of the tokens after it, and says nothing when they came in one burst.
    if (tokens !== undefined && tokens > 1 && seconds >= MIN_RATE_SECONDS) stats.tokensPerSecond = Math.round(((tokens - 1) / seconds) * 10) / 10;
    return stats;
  }

  /** The memory section for this reply; its citations and any note go on the reply at once. */
  private async recall(conversation: Conversation, reply: Message, personaId: string, signal: AbortSignal): Promise<{ section: string; passages: string[] }> {
    const memory = this.deps.memory;
    const dials = dialValues(this.memoryDials(conversation));
    if (!memory || !dials.enabled) return { section: '', passages: [] };
    const history = historyBefore(conversation, reply.id)
      .filter(isUsableTurn)
      .map((m) => ({ role: m.role, content: m.content }));
    const found = await memory.retrieve({ history, personaId, dials, signal });
    signal.throwIfAborted();
    if (found.citations.length > 0) reply.citations = found.citations;
    if (found.remembered && found.remembered.length > 0) reply.remembered = found.remembered;
    if (found.note) reply.memoryNote = found.note;
    if (found.citations.length > 0 || found.note || reply.remembered) this.emitState();
    return { section: found.section, passages: found.passages ?? [] };
  }

  private save(conversation: Conversation, options: { rewrite?: boolean } = {}): Promise<void> {
    const next = this.saving.then(() => this.write(conversation, options));
    this.saving = next.catch(() => undefined);
    return next;
  }

  private async write(conversation: Conversation, options: { rewrite?: boolean }): Promise<void> {
    await this.deps.store.save(conversation, options);
    if (conversation === this.conversation && !this.persisted) {
      this.persisted = true;
      await this.deps.preferences.update(PREF_CONVERSATION, conversation.id);
    }
  }

  // ---- connection --------------------------------------------------------------------------------

  private settingsKey(s: ChatSettings): string {
    return `${s.provider}|${s.endpointName ?? ''}|${s.baseUrl}|${s.model}`;
  }

  private modelInfoFor(s: ChatSettings) {
    return this.modelInfo?.key === this.settingsKey(s) ? this.modelInfo : undefined;
  }

  /** A model as the server last listed it (for the current server), if it did. */
  private cachedModel(model: string | undefined, s: ChatSettings): ModelInfo | undefined {
    if (!model || this.models?.key !== this.settingsKey(s)) return undefined;
    return this.models.list.find((m) => m.id === model);
  }

  /**
   * The model a request with these settings goes to (undefined: the server decides) and the context
   * it is loaded with, where known.
   */
  private targetOf(effective: EffectiveSettings, s: ChatSettings): { model: string | undefined; contextLength: number | undefined } {
    const info = this.modelInfoFor(s);
    const model = effective.model.value || info?.model;
    const listed = this.cachedModel(model, s);
    // Not loaded: the context it will be loaded with is not known until it is (LM Studio loads it on this request).
    const contextLength = listed ? (listed.state === 'not-loaded' ? undefined : listed.contextLength) : undefined;
    return { model, contextLength: contextLength ?? (model !== undefined && model === info?.model ? info.contextLength : undefined) };
  }

  /** After a reply from a model that was not loaded, learn the context it was loaded with. */
  private refreshModelsAfter(model: string | undefined, s: ChatSettings): void {
    if (this.cachedModel(model, s)?.state !== 'not-loaded') return;
    void this.listChatModels(AbortSignal.timeout(10_000)).catch((e: unknown) => this.deps.logger.debug(`Could not list the models again: ${this.deps.describeError(e)}`));
  }

  private setConnection(update: Omit<ConnectionState, 'provider' | 'baseUrl'>): void {
    const s = this.deps.settings();
    this.connection = { ...serverOf(s), ...update };
  }

  /** Asks the server which model it would use and the context it is loaded with. Never throws. */
  checkConnection(): Promise<void> {
    this.connectionCheck ??= this.runConnectionCheck().finally(() => (this.connectionCheck = undefined));
    return this.connectionCheck;
  }

  private async runConnectionCheck(): Promise<void> {
    const settings = this.deps.settings();
    this.setConnection({ status: 'checking' });
    this.emitState();
    try {
      const provider = await this.deps.createProvider(settings);
      const signal = AbortSignal.timeout(10_000);
      const model = await provider.resolveModel(settings.model, signal);
      // A server that lists no models still chats; one that refuses the key will refuse the chat too: say so now.
      const models = await provider.listModels(signal).catch((e: unknown) => {
        if (ProviderError.is(e, 'unauthorized')) throw e;
        return [];
      });
      this.models = { key: this.settingsKey(settings), list: models };
      const contextLength = models.find((m) => m.id === model)?.contextLength;
      this.modelInfo = { key: this.settingsKey(settings), model, contextLength };
      this.setConnection({ status: 'ok', model });
      this.deps.logger.info(`Connected to ${settings.baseUrl}: model ${model}${contextLength ? `, context ${contextLength} tokens` : ''}.`);
    } catch (e) {
      this.modelInfo = undefined;
      const message = this.deps.describeError(e);
      this.setConnection({ status: ProviderError.is(e, 'serverDown') ? 'down' : 'error', message });
      this.deps.logger.warn(`Connection check failed: ${message}`);
    }
    this.emitState();
  }

  private warmed = false;

  /**
   * The view is open, so a message may come soon: load the tokenizer (megabytes of tables, about
   * 0.2–0.4 s) half a second after the view opens, rather than on the first Enter.
   */
  warmUp(): void {
    if (this.warmed) return;
    this.warmed = true;
    this.deps.memory?.warmUp?.();
    setTimeout(() => {
      if (!this.streaming) this.countTokens('');
    }, 500).unref?.();
  }

  checkConnectionIfUnknown(): Promise<void> | undefined {
    return this.connection.status === 'unknown' ? this.checkConnection() : undefined;
  }

  /** Retry from the banner: check the connection again, and if a reply had failed, try it again. */
  async retry(): Promise<void> {
    await this.checkConnection();
    const last = displayedPath(this.conversation).at(-1);
    if (this.connection.status === 'ok' && last?.role === 'assistant' && last.status === 'error' && !this.streaming) {
      await this.regenerate();
    }
  }

  /** Settings changed: forget what we knew about the old server. */
  settingsChanged(): void {
    this.modelInfo = undefined;
    const s = this.deps.settings();
    this.connection = { status: 'unknown', ...serverOf(s) };
    void this.checkConnection();
  }
}

/** The server part of the connection state the view shows. */
function serverOf(s: ChatSettings): Pick<ConnectionState, 'provider' | 'baseUrl' | 'endpoint' | 'extendedSampling'> {
  return { provider: s.provider, baseUrl: s.baseUrl, ...(s.endpointName ? { endpoint: s.endpointName } : {}), extendedSampling: s.extendedSampling ?? s.provider === 'local' };
}

/** The fields of a persona that may reach the model; notes, creator, version and tags never do. */
function promptCardOf(p: CardPersona): PromptCard {
  return {
    name: p.name,
    nickname: p.nickname,
    description: p.characterDescription,
    personality: p.personality,
    scenario: p.scenario,
    system_prompt: p.systemPrompt,
    mes_example: p.exampleDialogue,
    post_history_instructions: p.postHistoryInstructions,
    character_book: p.lorebook,
  };
}

/** Counting a long conversation's tokens again on every turn is wasted work: remember recent counts. */
function cachedCounter(count: TokenCounter, limit = 2000): TokenCounter {
  const cache = new Map<string, number>();
  return (text) => {
    let n = cache.get(text);
    if (n === undefined) {
      n = count(text);
      if (cache.size >= limit) cache.delete(cache.keys().next().value!);
      cache.set(text, n);
    }
    return n;
  };
}

/** Why a chat setting's value was refused, with what is allowed. */
function refusal(key: SettingKey, value: unknown): string {
  if (key === 'model') return 'Choose a model from the list, or type its id (up to 300 characters).';
  if (key === 'stop') {
    const checked = checkStopInput(Array.isArray(value) ? value.join('\n') : String(value));
    return checked.ok ? 'Stop sequences must be text, at most 4, one per line.' : checked.message;
  }
  const def = NUMBER_SETTINGS.find((d) => d.key === key)!;
  const checked = checkNumberInput(def, String(value));
  return checked.ok ? `${def.label} must be ${def.integer ? 'a whole number' : 'a number'} from ${def.min} to ${def.max}.` : checked.message;
}

/** Takes the entries `matches` out of a message's citations or memory items (the list goes when empty). Whether any went. */
function dropEntries<K extends 'citations' | 'remembered'>(m: Message, key: K, matches: (entry: NonNullable<Message[K]>[number]) => boolean): boolean {
  const list = m[key] as NonNullable<Message[K]>[number][] | undefined;
  if (!list) return false;
  const kept = list.filter((entry) => !matches(entry));
  if (kept.length === list.length) return false;
  if (kept.length > 0) m[key] = kept as Message[K];
  else delete m[key];
  return true;
}

function previewOf(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 119)}…` : flat;
}

function titleFrom(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > TITLE_LENGTH ? `${line.slice(0, TITLE_LENGTH - 1)}…` : line;
}

function dialRefusal(key: MemoryDialKey, value: unknown): string {
  const def = MEMORY_DIAL_NUMBERS.find((d) => d.key === key);
  if (!def) return 'That dial is on or off.';
  const checked = checkDialInput(def.key, String(value));
  return checked.ok ? `That is not a value for ${def.label}.` : checked.message;
}

/**
 * `conversation` as one line: its displayed path, then `extra` (a compared message and its reply,
 * which are not in the chat). The copy has no branches, so each message follows the one before it.
 */
function lineOf(conversation: Conversation, extra: readonly Message[]): Conversation {
  const { selected: _selected, end: _end, ...rest } = conversation;
  return { ...rest, messages: [...displayedPath(conversation), ...extra] };
}

/** The server's prompt count of the latest reply on `path` against ours (1 when unknown): tokenizers differ. */
function usageScale(path: readonly Message[]): number {
  const last = [...path].reverse().find((m) => m.role === 'assistant' && m.usage && m.promptCounted);
  if (!last?.usage || !last.promptCounted) return 1;
  const ratio = last.usage.promptTokens / last.promptCounted;
  return ratio > 0.5 && ratio < 2 ? ratio : 1;
}
