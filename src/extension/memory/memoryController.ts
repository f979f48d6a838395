// The workspace memory in VS Code: the one memory service of the window (made on first use; nothing
// here loads LanceDB until then), the memory each chat turn is given, and what the commands do —
// adding with a notification and Cancel, forgetting after asking, the status picker. The commands
// themselves are in memoryCommands.ts, the file watcher in workspaceWatcher.ts, the status bar in
// memoryStatusBar.ts. The memory itself (queue, LanceDB, retrieval) is plain Node in src/rag.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { removeUploadCopies } from '../../rag/uploads';
import { describeSkipped, scanPaths, type ScannedFile } from '../../rag/fileScanner';
import { SHARED_KB, WORKSPACE_KB, kbsInScope, personaKb, personaOfKb } from '../../rag/knowledgeBases';
import type { TeamMemorySetup } from './teamMemory';
import { MemoryOverview } from '../../rag/memoryOverview';
import { defaultTokenCounter, MemoryService } from '../../rag/memoryService';
import { ItemsController } from './itemsController';
import { memoryPromptSection, type HistoryTurn, type RetrievedPassage } from '../../rag/retrieval';
import { withWholeDocuments } from '../../rag/wholeDocuments';
import type { MemoryStatus } from '../../shared/chatProtocol';
import type { DocumentRow, ItemRow, KnowledgeBaseInfo, MemoryPanelState, SearchResult } from '../../shared/memoryPanelProtocol';
import { memoryItemsSection } from '../../rag/itemRecall';
import type { DocumentSummary, StoredChunk } from '../../rag/memoryStore';
import type { ChatMemory, ForgottenMemory, MemoryContext, ProposalMemory } from '../../chat/chatService';
import { setting, userMemoryDials } from '../config';
import { dialValues, resolveMemoryDials, type EffectiveMemoryDials, type MemoryDials, type MemoryDialValues } from '../../shared/memoryDials';
import { originOf, type ApiKeyStore } from '../../chat/apiKeys';
import { MemoryStatusBar } from './memoryStatusBar';
import type { WatchedMemory } from './workspaceWatcher';
import { excludeGlobs, groupByRoot, rootOf, sourceOf, uriOf } from './workspacePaths';
import { ActionError } from '../../util/actionError';
import { confirmKeyInTheClear, showInfo, showWarning } from '../notify';
import { extractedKindOf, isExtractedDocument, passageLabel, placeLabel, type ExtractedKind, type SourcePlace } from '../../shared/sourcePlace';
import { htmlHeadingLine } from '../../rag/documents/htmlHeadingLine';
import { inertText } from '../../util/inertText';

const EMBEDDINGS_KEY = 'embeddings';

type Listener = () => void;

export class MemoryController implements vscode.Disposable, ChatMemory, WatchedMemory {
  private service: MemoryService | undefined;
  private readonly listeners = new Set<Listener>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly statusBar = new MemoryStatusBar();
  /** What the view and the status bar show; never waits on LanceDB. */
  private readonly overview: MemoryOverview;
  /** Told what was forgotten (the chat takes it out of past replies and of what was sent); awaited. */
  private readonly forgetListeners = new Set<(what: ForgottenMemory) => Promise<unknown>>();
  private embeddingsKey: { key: string; origin?: string } | undefined;
  /** Causes already told in a reply, so one server outage is said once, not under every reply. */
  private readonly toldNotes = new Set<string>();
  private readonly toldTeamNotes = new Set<string>();
  /** What each persona remembers from the chat (global storage: it follows the persona). */
  readonly items: ItemsController;
  readonly proposals: ProposalMemory;
  private countTokens: ((text: string) => number) | undefined;

  constructor(
    private readonly storageDir: string | undefined,
    private readonly keys: ApiKeyStore,
    private readonly log: vscode.LogOutputChannel,
    /** A persona's name, for the knowledge bases of one persona. */
    private readonly personaName: (id: string) => string,
    /** The extension's global storage folder: memory items live under it. */
    globalStorageDir: string,
    /** Small preferences across workspaces (how each persona proposes memories). */
    preferences: vscode.Memento,
    /** The team memory's set-up (user settings, secret storage). */
    readonly team: TeamMemorySetup,
  ) {
    this.overview = new MemoryOverview(log);
    this.items = new ItemsController(path.join(globalStorageDir, 'memory-items'), log, {
      load: () => this.embeddingsKeyLoaded(),
      for: (baseUrl) => this.embeddingsKeyFor(baseUrl),
    }, preferences, (gone) => this.forgotten({ kind: 'items', items: gone.map(({ id, text }) => ({ id, text })) }));
    const items = this.items;
    this.proposals = {
      mode: (personaId) => items.proposalMode(personaId),
      existing: async (personaId) => (await items.service().list(personaId)).map((i) => i.text),
      keep: (personaId, text, origin) => items.keepProposed(personaId, text, origin),
    };
    // A persona's dials changed: the chat shows the values in effect again.
    this.disposables.push(items.onDidChange(() => this.emit()));
    this.disposables.push(this.statusBar, this.overview, this.items, this.overview.onDidChange(() => this.emit()));
  }

  /** Forgetting waits for each listener: what past replies were given goes with what is forgotten. */
  onDidForget(listener: (what: ForgottenMemory) => Promise<unknown>): vscode.Disposable {
    this.forgetListeners.add(listener);
    return { dispose: () => this.forgetListeners.delete(listener) };
  }

  private async forgotten(what: ForgottenMemory): Promise<void> {
    await Promise.all([...this.forgetListeners].map((l) => l(what)));
  }

  // ---- the service, made on first use -----------------------------------------------------------

  private get available(): boolean {
    return this.storageDir !== undefined;
  }

  /** Where files dropped on the view as bytes are copied before they are indexed; undefined without a workspace. */
  get uploadsDir(): string | undefined {
    return this.storageDir === undefined ? undefined : path.join(this.storageDir, 'memory', 'uploads');
  }

  private serviceReady: Promise<MemoryService> | undefined;

  /** The one service of this window (two would fight over the indexing lock), made on first use. */
  private svc(): Promise<MemoryService> {
    if (!this.storageDir) return Promise.reject(new ActionError('unavailable', 'Memory needs a folder or workspace open: open one, then add files again.'));
    this.serviceReady ??= this.createService(this.storageDir);
    return this.serviceReady;
  }

  /** The embeddings key is sent only to the origin it was saved for (see ApiKeyStore). */
  private async loadEmbeddingsKey(): Promise<void> {
    await this.keys.getFor(EMBEDDINGS_KEY, setting('embeddings.baseUrl')); // binds a key saved before keys were bound
    this.embeddingsKey = await this.keys.record(EMBEDDINGS_KEY);
  }

  private embeddingsKeyFor(baseUrl: string): { apiKey: string } | Record<string, never> {
    const k = this.embeddingsKey;
    return k && k.origin !== undefined && k.origin === originOf(baseUrl) ? { apiKey: k.key } : {};
  }

  private keyLoaded: Promise<void> | undefined;

  /** The embeddings key, read once and again whenever a key changes. */
  private embeddingsKeyLoaded(): Promise<void> {
    if (!this.keyLoaded) {
      this.keyLoaded = this.loadEmbeddingsKey();
      this.disposables.push(this.keys.onDidChange(() => void this.loadEmbeddingsKey()));
    }
    return this.keyLoaded;
  }

  private async createService(storageDir: string): Promise<MemoryService> {
    await this.embeddingsKeyLoaded();
    const service = new MemoryService({
      dir: path.join(storageDir, 'memory'),
      settings: () => {
        const baseUrl = setting('embeddings.baseUrl').trim().replace(/\/+$/, '');
        return {
          baseUrl,
          model: setting('embeddings.model').trim(),
          ...this.embeddingsKeyFor(baseUrl),
          chunkTokens: setting('rag.chunkTokens'),
          overlapTokens: setting('rag.chunkOverlap'),
          maxFileBytes: setting('rag.maxFileSizeKB') * 1024,
          maxDocumentBytes: setting('rag.maxDocumentSizeMB') * 1024 * 1024,
          topK: setting('rag.topK'),
          minScore: setting('rag.minScore'),
          tokenBudget: setting('rag.tokenBudget'),
        };
      },
      logger: this.log,
      teamMemory: () => this.team.config(),
    });
    this.service = service;
    this.overview.attach(service);
    return service;
  }

  /**
   * Opens the memory in the background once the view is up, so the view can say what it holds.
   * Activation never pays for LanceDB; the first look happens a moment after the view opens.
   */
  warmUp(): void {
    if (!this.available) return;
    if (!this.teamWatched) {
      this.teamWatched = true;
      // The team memory's line follows its settings (a change of bucket, or none any more).
      this.disposables.push(
        vscode.workspace.onDidChangeConfiguration((e) => {
          if (e.affectsConfiguration('persona.teamMemory')) void this.refreshTeam().then(() => this.emit());
        }),
      );
      if (this.team.configured()) setTimeout(() => void this.refreshTeam(), 1500).unref?.();
    }
    if (this.serviceReady) return;
    // Nothing ever stored: say so without loading LanceDB at all.
    if (!existsSync(path.join(this.storageDir!, 'memory', 'memory.json'))) {
      this.overview.markEmpty();
      return;
    }
    setTimeout(
      () =>
        void this.svc()
          .then(() => this.overview.refresh())
          .catch((e) => {
            this.log.warn(`Memory could not open: ${(e as Error).message}`);
            this.overview.markFailed((e as Error).message);
          }),
      1500,
    ).unref?.();
  }

  private emit(): void {
    const p = this.overview.progress();
    this.statusBar.show(p);
    // The documents' rows change with the set of sources and with each file the queue takes or finishes.
    const sources = this.overview.sources();
    const step = p ? `${p.state}:${p.done}:${p.total}:${p.current ?? ''}:${p.failedCount}` : '';
    if (sources !== this.seenSources || step !== this.seenStep) {
      this.seenSources = sources;
      this.seenStep = step;
      this.documentsVersion++;
    }
    for (const l of this.listeners) l();
  }

  private seenSources: ReadonlyMap<string, readonly string[]> | undefined;
  private seenStep = '';

  // ---- ChatMemory ----------------------------------------------------------------------------------

  onDidChange(listener: Listener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  status(personaId: string): MemoryStatus {
    if (!this.available) return { status: 'off' };
    const status = this.overview.status(kbsInScope(personaId));
    return this.team.configured() && this.teamStatus ? { ...status, team: this.teamStatus } : status;
  }

  /** The knowledge bases a persona's chats may draw on: the workspace's, its own, and the team memory when one is set up. */
  scopeOf(personaId: string): string[] {
    return [...kbsInScope(personaId), ...(this.team.configured() ? [SHARED_KB] : [])];
  }

  /** What the memory line says of the team memory; read again after indexing, forgetting and a change of its settings. */
  private teamStatus: NonNullable<MemoryStatus['team']> | undefined;
  private teamWatched = false;
  private teamRefreshing: Promise<void> | undefined;
  private teamAgain: Promise<void> | undefined;

  /** Reads the team memory's documents again for the memory line (never throws; the reason is shown). */
  refreshTeam(): Promise<void> {
    if (!this.available || !this.team.configured()) {
      this.teamStatus = undefined;
      return Promise.resolve();
    }
    // Asked while a read is under way (credentials just set): read again after it, not its answer.
    if (this.teamRefreshing) {
      this.teamAgain ??= this.teamRefreshing.then(() => {
        this.teamAgain = undefined;
        return this.refreshTeam();
      });
      return this.teamAgain;
    }
    this.teamRefreshing = (async () => {
      try {
        const docs = await (await this.svc()).listTeamDocuments();
        this.teamStatus = { documents: docs.length };
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        this.log.warn(`Team memory: ${reason}`);
        this.teamStatus = { message: `Team memory unavailable: ${reason}` };
      } finally {
        this.teamRefreshing = undefined;
      }
      this.emit();
    })();
    return this.teamRefreshing;
  }

  /** How the persona recalls in a new chat, with Reset to what lies below the persona's own values. */
  personaDialsInEffect(personaId: string): EffectiveMemoryDials {
    return resolveMemoryDials({ ...this.dialLevels(personaId), chat: undefined }, 'persona');
  }

  /** The memory dials of your settings and of the persona, below a chat's own. */
  dialLevels(personaId: string): { settings: MemoryDials; persona: MemoryDials } {
    return { settings: userMemoryDials(), persona: this.items.personaDials(personaId) };
  }

  tokenBudget(): number {
    return setting('rag.tokenBudget');
  }

  /** The words a token budget is counted in (gpt-tokenizer, loaded on first use). */
  private async tokenCounter(): Promise<(text: string) => number> {
    this.countTokens ??= await defaultTokenCounter();
    return this.countTokens;
  }

  /**
   * What a turn with this history finds, as the dials say: the persona's memories first (pins, then
   * the nearest), then the passages of the knowledge bases in scope within what is left of the
   * budget. `reasons`: why something could not be searched, the files' first.
   */
  private async find(personaId: string, history: HistoryTurn[], dials: MemoryDialValues, signal?: AbortSignal) {
    const countTokens = await this.tokenCounter();
    await this.embeddingsKeyLoaded();
    const remembered = await this.items.service().recall({ personaId, history, k: dials.topK, minScore: dials.minScore, tokenBudget: dials.tokenBudget, countTokens, ...(signal ? { signal } : {}) });
    const reasons = remembered.reason ? [remembered.reason] : [];
    const filesBudget = dials.tokenBudget - (remembered.tokens > 0 ? remembered.tokens + 2 : 0);
    const kbs = [...(dials.workspaceFiles ? [WORKSPACE_KB] : []), ...(dials.personaFiles ? [personaKb(personaId)] : []), ...(dials.teamFiles && this.team.configured() ? [SHARED_KB] : [])];
    let passages: RetrievedPassage[] = [];
    let teamReason: string | undefined;
    if (this.available && kbs.length > 0) {
      const found = await (await this.svc()).retrieve(history, kbs, signal, { tokenBudget: filesBudget, k: dials.topK, minScore: dials.minScore });
      passages = found.passages;
      if (found.reason) reasons.unshift(found.reason);
      teamReason = found.teamReason;
    }
    const items = remembered.items.map((r) => ({ id: r.item.id, text: r.item.text, pinned: r.item.pinned === true, ...(r.score !== undefined ? { score: roundScore(r.score) } : {}) }));
    return { section: remembered.section, items, passages, filesBudget, reasons, teamReason, countTokens };
  }

  async retrieve(input: Parameters<ChatMemory['retrieve']>[0]): Promise<MemoryContext> {
    const found = await this.find(input.personaId, input.history, input.dials, input.signal);
    const result: MemoryContext = { section: found.section, citations: [] };
    if (found.items.length > 0) result.remembered = found.items.map(({ pinned, ...r }) => ({ ...r, ...(pinned ? { pinned } : {}) }));
    let passages = found.passages;
    if (input.dials.wholeDocument && passages.length > 0) {
      const hashes = new Map((await (await this.svc()).listDocuments()).map((d) => [`${d.kb}\0${d.source}`, d.docHash]));
      passages = await withWholeDocuments({ passages, hashOf: (kb, source) => hashes.get(`${kb}\0${source}`), pathOf: (source) => uriOf(source)?.fsPath, tokenBudget: found.filesBudget, countTokens: found.countTokens });
    }
    result.citations = passages.map((p) => ({ source: p.source, startLine: p.startLine, endLine: p.endLine, ...(p.place ? { place: p.place } : {}), score: roundScore(p.score) }));
    if (passages.length > 0) {
      result.section = [result.section, memoryPromptSection(passages)].filter(Boolean).join('\n\n');
      result.passages = passages.map((p) => p.text.replace(/[\r\n]+$/, ''));
    }
    const reasons = found.reasons;
    const reason = reasons[0];
    const notes: string[] = [];
    if (reason) {
      if (!this.toldNotes.has(reason)) {
        this.toldNotes.add(reason);
        notes.push(`Memory was not used: ${reason}`);
      }
    } else {
      this.toldNotes.clear();
    }
    // The team memory's cause is told once too, apart from the workspace's (each clears when it is gone).
    const team = found.teamReason;
    if (team) {
      if (!this.toldTeamNotes.has(team)) {
        this.toldTeamNotes.add(team);
        notes.push(`The team memory was not used: ${team}`);
      }
    } else {
      this.toldTeamNotes.clear();
    }
    if (notes.length > 0) result.note = notes.join(' ');
    return result;
  }

  // ---- the memory panel ---------------------------------------------------------------------------

  /** Bumped whenever documents may have changed (indexing, forgetting): the panel drops its pages. */
  documentsVersion = 0;

  /** What the memory panel shows first: the knowledge bases in scope for the persona, and its memories. */
  async panelState(persona: { id: string; name: string }): Promise<MemoryPanelState> {
    const dials = this.personaDialsInEffect(persona.id);
    const countTokens = await this.tokenCounter();
    const items = await this.items.service().list(persona.id);
    const pinned = items.filter((i) => i.pinned);
    const knowledgeBases: KnowledgeBaseInfo[] = [];
    let model: string | undefined;
    let status: string | undefined;
    if (this.available) {
      const service = await this.svc();
      const docs = await service.listDocuments();
      for (const kb of kbsInScope(persona.id)) {
        const inKb = docs.filter((d) => d.kb === kb);
        knowledgeBases.push({ id: kb, label: kb === WORKSPACE_KB ? 'This workspace' : `${persona.name} only`, documents: inKb.length, chunks: inKb.reduce((n, d) => n + d.chunkCount, 0) });
      }
      if (this.team.configured()) {
        // Listed from the storage; when it cannot be read the panel still opens, with the reason in the log.
        const team = await service.listTeamDocuments().catch((e: unknown) => {
          this.log.warn(`Team memory: ${e instanceof Error ? e.message : String(e)}`);
          return undefined;
        });
        knowledgeBases.push({ id: SHARED_KB, label: team ? 'Team memory (shared)' : 'Team memory (shared, unavailable)', documents: team?.length ?? 0, chunks: team?.reduce((n, d) => n + d.chunkCount, 0) ?? 0 });
      }
      const current = service.currentModel();
      if (current) model = `${current.model} (${current.dimension} dimensions)`;
      const s = this.status(persona.id);
      status = s.message;
    }
    return {
      personaId: persona.id,
      personaName: persona.name,
      workspace: this.available,
      ...(model ? { model } : {}),
      ...(status ? { status } : {}),
      knowledgeBases,
      itemCount: items.length,
      // What the pins cost as the prompt holds them (the section's heading included).
      pinned: { count: pinned.length, tokens: pinned.length > 0 ? countTokens(memoryItemsSection(pinned)) : 0 },
      itemsVersion: this.items.version,
      tokenBudget: dials.tokenBudget.value,
      dials,
      documentsVersion: this.documentsVersion,
    };
  }

  /** A page of a knowledge base's documents: stored ones with their state, and files waiting or failed. */
  async documentsPage(kb: string, offset: number, limit: number, filter?: string): Promise<{ total: number; documents: DocumentRow[] }> {
    if (!this.available) return { total: 0, documents: [] };
    const service = await this.svc();
    const progress = service.progress();
    const rows = new Map<string, DocumentRow>();
    for (const d of kb === SHARED_KB ? await service.listTeamDocuments() : await service.listDocuments(kb)) {
      rows.set(d.source, { source: d.source, kb, state: 'ready', chunks: d.chunkCount, tokens: d.tokens, indexedAt: d.createdAt });
    }
    for (const f of progress.failed) {
      const known = rows.get(f.source);
      rows.set(f.source, { ...(known ?? { source: f.source, kb, chunks: 0, tokens: 0 }), state: 'failed', reason: f.message });
    }
    for (const j of service.pendingJobs()) {
      if (j.kb !== kb || j.kind !== 'add') continue;
      const known = rows.get(j.source);
      rows.set(j.source, { ...(known ?? { source: j.source, kb, chunks: 0, tokens: 0 }), state: progress.current === j.source ? 'indexing' : 'queued' });
    }
    const needle = filter?.trim().toLowerCase();
    const all = [...rows.values()].filter((r) => !needle || r.source.toLowerCase().includes(needle)).sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
    return { total: all.length, documents: all.slice(offset, offset + limit) };
  }

  /** The documents of the current embeddings model in every knowledge base (what a document list is made from). */
  async documents(): Promise<DocumentSummary[]> {
    return (await this.svc()).listDocuments();
  }

  /**
   * Asks, then forgets everything the persona remembers: its memories (in every workspace) and the
   * files of its own knowledge base in this workspace, from the disk.
   */
  async forgetPersona(personaId: string, personaName: string): Promise<void> {
    const items = await this.items.service().list(personaId);
    const kb = personaKb(personaId);
    const files = this.available ? await (await this.svc()).listDocuments(kb) : [];
    if (items.length === 0 && files.length === 0) {
      void showInfo(`${personaName} remembers nothing: no memories from your chats, and no files of its own in this workspace.`);
      return;
    }
    const what = [
      items.length > 0 ? `${items.length} memor${items.length === 1 ? 'y' : 'ies'} taken from your chats (in every workspace)` : '',
      files.length > 0 ? `${files.length} file${files.length === 1 ? '' : 's'} in ${personaName}'s own memory of this workspace` : '',
    ].filter(Boolean);
    const choice = await showWarning(
      `Forget everything ${personaName} remembers?`,
      { modal: true, detail: `${what.join(' and ')} will be removed from the disk. This workspace's shared files and your own files are not touched.` },
      'Forget Everything',
    );
    if (choice !== 'Forget Everything') return;
    const gone = await this.items.forgetAllOf(personaId);
    if (files.length > 0) {
      const service = await this.svc();
      await service.forgetKnowledgeBase(kb);
      const sources = files.map((d) => d.source);
      if (this.uploadsDir) await removeUploadCopies(this.uploadsDir, sources);
      // Sources under past replies go too, unless the same file is still in the shared memory.
      const shared = new Set((await service.listDocuments(WORKSPACE_KB)).map((d) => d.source));
      const forgotten = new Set(sources.filter((s) => !shared.has(s)));
      await this.forgotten({ kind: 'sources', matches: (source) => forgotten.has(source) });
      await this.overview.refresh();
    }
    void showInfo(`${personaName} forgot ${[gone > 0 ? `${gone} memor${gone === 1 ? 'y' : 'ies'}` : '', files.length > 0 ? `${files.length} file${files.length === 1 ? '' : 's'}` : ''].filter(Boolean).join(' and ')}.`);
  }

  /** Asks, then forgets one chunk of a document. Resolves to whether it was forgotten. */
  async forgetChunk(kb: string, source: string, index: number): Promise<boolean> {
    const service = await this.svc();
    const chunk = (await service.chunks(source, kb)).find((c) => c.index === index);
    if (!chunk) throw new ActionError('gone', `That passage of ${source} is no longer in memory.`);
    const choice = await showWarning(
      isExtractedDocument(source) ? `Forget ${passageLabel({ ...chunk, source })} of ${source}?` : `Forget lines ${chunk.startLine}–${chunk.endLine} of ${source}?`,
      {
        modal: true,
        detail:
          kb === SHARED_KB
            ? `This passage (${chunk.tokenCount} tokens) is removed from the team memory for everyone who uses it (${this.team.uri() ?? ''}), from every member's copy and from the bucket's old versions. The rest of the file stays.`
            : `This passage (${chunk.tokenCount} tokens) is removed from memory and from the disk; the rest of the file stays in memory, and the file itself is not touched. If the file changes, it is indexed again whole.`,
      },
      'Forget Passage',
    );
    if (choice !== 'Forget Passage') return false;
    if (kb === SHARED_KB) await service.forgetTeamChunk(source, index);
    else await service.forgetChunk(source, kb, index);
    await this.forgotten({ kind: 'chunk', chunk: { source, startLine: chunk.startLine, endLine: chunk.endLine, text: chunk.text } });
    await this.overview.refresh();
    return true;
  }

  /** A page of the persona's memories for the panel (pinned first, then the newest). */
  async itemsPage(personaId: string, offset: number, limit: number, filter?: string): Promise<{ total: number; items: ItemRow[] }> {
    const countTokens = await this.tokenCounter();
    const needle = filter?.trim().toLowerCase();
    const rows = (await this.items.rows(personaId)).filter((r) => !needle || r.item.text.toLowerCase().includes(needle));
    return {
      total: rows.length,
      items: rows.slice(offset, offset + limit).map((r) => ({ id: r.item.id, text: r.item.text, pinned: r.item.pinned === true, origin: r.origin, tokens: countTokens(`- ${r.item.text}`) })),
    };
  }

  async chunks(kb: string, source: string): Promise<StoredChunk[]> {
    if (!this.available) return [];
    return (await this.svc()).chunks(source, kb);
  }

  /** The search a chat turn with this message would run, without the notes a turn keeps to itself. */
  async search(personaId: string, query: string, signal?: AbortSignal): Promise<SearchResult> {
    // The persona's dials over your settings: what a new chat with it would find.
    const dials = dialValues(resolveMemoryDials({ ...this.dialLevels(personaId), chat: undefined }));
    const found = await this.find(personaId, [{ role: 'user', content: query }], dials, signal);
    return {
      passages: found.passages.map((p) => ({ source: p.source, kb: p.kb, startLine: p.startLine, endLine: p.endLine, ...(p.place ? { place: p.place } : {}), score: roundScore(p.score), via: p.via, text: p.text })),
      items: found.items,
      ...(found.reasons[0] ? { note: `Memory could not be searched fully: ${found.reasons[0]}` } : {}),
    };
  }

  // ---- what the workspace watcher needs ------------------------------------------------------------

  sources(): ReadonlyMap<string, readonly string[]> | undefined {
    return this.overview.sources();
  }

  openedService(): MemoryService | undefined {
    return this.service;
  }

  // ---- the view's buttons ------------------------------------------------------------------------

  async openCitation(c: { source: string; startLine: number; endLine: number; place?: SourcePlace | undefined }): Promise<void> {
    // Only what is in memory opens: a webview cannot make the host open an arbitrary path.
    const service = await this.svc();
    const docs = await service.listDocuments();
    // A teammate's file: opened when this workspace has it at the same path.
    const team = !docs.some((d) => d.source === c.source) && this.team.configured() && (await service.listTeamDocuments().catch(() => [])).some((d) => d.source === c.source);
    if (!team && !docs.some((d) => d.source === c.source)) throw new ActionError('gone', `${c.source} is no longer in memory.`);
    const uri = uriOf(c.source);
    if (!uri) throw new ActionError('gone', team ? `${c.source} is in the team memory, not in this workspace.` : `${c.source} is not in this workspace.`);
    try {
      await vscode.workspace.fs.stat(uri);
    } catch {
      throw new ActionError('gone', team ? `${c.source} is in the team memory (a teammate added it); this workspace has no such file.` : `${c.source} no longer exists on disk.`);
    }
    const kind = extractedKindOf(c.source);
    if (kind) return openDocumentAt(uri, kind, c.place);
    const start = Math.max(0, c.startLine - 1);
    const end = Math.max(start, c.endLine - 1);
    await vscode.window.showTextDocument(uri, { selection: new vscode.Range(start, 0, end, Number.MAX_SAFE_INTEGER), preview: true });
  }

  async addFiles(): Promise<void> {
    await vscode.commands.executeCommand('persona.memory.addFiles');
  }

  // ---- adding --------------------------------------------------------------------------------------

  /**
   * Adds files and folders (recursively) to the workspace memory, shared by every persona, or with
   * `persona` to that persona's own; with progress and Cancel.
   */
  async add(uris: vscode.Uri[], persona?: { id: string; name: string } | 'team'): Promise<void> {
    if (uris.length === 0) return;
    const service = await this.svc();
    await service.start();
    const unavailable = service.status();
    if (unavailable.state === 'unavailable') throw new ActionError('unavailable', `Memory is off on this machine: ${unavailable.reason}`);
    const exclude = excludeGlobs();
    const maxFileBytes = setting('rag.maxFileSizeKB') * 1024;
    const maxDocumentBytes = setting('rag.maxDocumentSizeMB') * 1024 * 1024;
    const files: { absPath: string; source: string; root: string }[] = [];
    const skipped: Parameters<typeof describeSkipped>[0][number][] = [];
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Persona: looking for files' }, async () => {
      for (const [root, group] of groupByRoot(uris)) {
        const result = await scanPaths(
          group.map((u) => u.fsPath),
          { root, exclude, maxFileBytes, maxDocumentBytes },
        );
        files.push(...result.files.map((f: ScannedFile) => ({ absPath: f.absPath, source: sourceOf(vscode.Uri.file(f.absPath)), root })));
        skipped.push(...result.skipped);
      }
    });
    const skippedText = describeSkipped(skipped, { maxFileBytes, maxDocumentBytes });
    if (skippedText) this.log.info(`Add to memory: ${skippedText}`);
    if (files.length === 0) {
      void showWarning(`Nothing to add to memory. ${skippedText}`.trim());
      return;
    }
    if (persona === 'team') {
      if (!this.team.configured()) throw new ActionError('unavailable', 'No team memory is set up: persona.teamMemory.uri in your user settings (e.g. s3://team-bucket/persona).');
      await service.add(files, SHARED_KB);
      this.log.info(`Queued ${files.length} file(s) for the team memory.`);
      void this.followProgress(files.length, skippedText, undefined, true).then(() => this.refreshTeam());
      return;
    }
    await service.add(files, persona ? personaKb(persona.id) : WORKSPACE_KB);
    this.log.info(`Queued ${files.length} file(s) for ${persona ? `${persona.name}'s memory` : 'memory'}.`);
    void this.followProgress(files.length, skippedText, persona?.name);
  }

  /** The notification while indexing: progress, Cancel, and what happened at the end. */
  private async followProgress(queued: number, skippedText: string, personaName?: string, team = false): Promise<void> {
    const service = await this.svc();
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: team ? 'Persona: adding to the team memory' : personaName ? `Persona: adding to ${inertText(personaName)}'s memory` : 'Persona: adding to memory', cancellable: true },
      async (progress, token) => {
        let reported = 0;
        const cancel = token.onCancellationRequested(() => void service.cancel());
        const sub = service.onDidChange(() => {
          const p = service.progress();
          const fraction = p.total > 0 ? (p.done / p.total) * 100 : 0;
          progress.report({
            increment: Math.max(0, fraction - reported),
            message: inertText(p.state === 'paused' ? `paused: ${p.pausedReason ?? ''}` : `${p.done} of ${p.total}${p.current ? ` · ${path.posix.basename(p.current)}` : ''}`),
          });
          reported = Math.max(reported, fraction);
        });
        try {
          await service.whenIdle();
        } finally {
          cancel.dispose();
          sub.dispose();
        }
      },
    );
    const p = service.progress();
    if (p.state === 'paused') {
      const choice = await showWarning(`Persona memory paused: ${p.pausedReason ?? 'it will try again later.'}`, 'Try Again', 'Show Log');
      if (choice === 'Try Again') service.resume();
      else if (choice === 'Show Log') this.log.show();
      return;
    }
    if (p.state === 'elsewhere') {
      void showInfo('Another VS Code window on this workspace is indexing; the files were handed to it.');
      return;
    }
    const parts = [`${p.indexed} indexed`];
    if (p.unchanged) parts.push(`${p.unchanged} unchanged`);
    if (p.failedCount) parts.push(`${p.failedCount} could not be read`);
    if (p.skippedCount) parts.push(`${p.skippedCount} left out`);
    const message = `Memory: ${parts.join(', ')} (of ${queued}).${skippedText ? ` ${skippedText}` : ''}`;
    for (const f of p.skipped) this.log.info(`Left out of memory: ${f.source}: ${f.reason}`);
    // A file left out for holding a secret is worth saying at once, not only in the log.
    const secrets = p.skipped.filter((f) => f.reason.startsWith('it holds what looks like'));
    if (secrets.length > 0) {
      void showWarning(
        `${message} ${secrets.length === 1 ? `${secrets[0]!.source} was left out: ${secrets[0]!.reason}.` : `${secrets.length} files were left out because they hold what looks like a secret.`}`,
        'Show Log',
      ).then((c) => c && this.log.show());
    } else if (p.failedCount) {
      void showWarning(message, 'Show Log').then((c) => c && this.log.show());
      for (const f of p.failed) this.log.warn(`Not added to memory: ${f.source}: ${f.message}`);
    } else if (p.skipped.length > 0) {
      // Why a file was left out is the person's to know (a scanned PDF, a password): the first few, by name.
      const shown = p.skipped.slice(0, 3).map((f) => `${path.posix.basename(f.source)}: ${f.reason}`);
      const more = p.skippedCount > shown.length ? `; ${p.skippedCount - shown.length} more in the log` : '';
      void showInfo(`${message} Left out: ${shown.join('; ')}${more}.`, 'Show Log').then((c) => c && this.log.show());
    } else {
      void vscode.window.setStatusBarMessage(`$(check) ${inertText(message)}`, 8000);
    }
  }

  // ---- forgetting ----------------------------------------------------------------------------------

  /** Forgets files or folders (everything under them); asks first, then removes them from disk. */
  async forget(uris: vscode.Uri[]): Promise<void> {
    await this.forgetSources(uris.map((u) => sourceOf(u)));
  }

  /** Asks, then forgets these sources (a folder's source forgets everything under it) in every knowledge base. Resolves to whether anything was forgotten. */
  async forgetSources(targets: string[]): Promise<boolean> {
    const service = await this.svc();
    const docs = await service.listDocuments();
    const matches = (source: string) => targets.some((t) => source === t || source.startsWith(`${t}/`) || t === '');
    const affected = docs.filter((d) => matches(d.source));
    if (affected.length === 0) {
      void showInfo(`${targets.length === 1 ? targets[0] : 'These files'} ${targets.length === 1 ? 'is' : 'are'} not in Persona's memory.`);
      return false;
    }
    const chunks = affected.reduce((n, d) => n + d.chunkCount, 0);
    const what = affected.length === 1 ? affected[0]!.source : `${affected.length} files`;
    const choice = await showWarning(
      `Forget ${what}?`,
      {
        modal: true,
        detail: `${chunks} passage${chunks === 1 ? '' : 's'} will be removed from this workspace's memory and from the disk, and the sources they gave past replies will be taken out of your chats. Your files are not touched.`,
      },
      'Forget',
    );
    if (choice !== 'Forget') return false;
    for (const t of targets) await service.forget(t);
    // A dropped file's copy is its text too: it goes with it.
    if (this.uploadsDir) await removeUploadCopies(this.uploadsDir, affected.map((d) => d.source));
    await this.forgotten({ kind: 'sources', matches });
    await this.overview.refresh();
    void showInfo(`Forgot ${what}.`);
    return true;
  }

  /** Asks (it removes the text for everyone), then forgets these sources from the team memory. Resolves to whether anything was forgotten. */
  async forgetTeamSources(targets: string[]): Promise<boolean> {
    const service = await this.svc();
    const docs = await service.listTeamDocuments();
    const matches = (source: string) => targets.some((t) => source === t || source.startsWith(`${t}/`));
    const affected = docs.filter((d) => matches(d.source));
    if (affected.length === 0) {
      void showInfo(`${targets.length === 1 ? targets[0] : 'These files'} ${targets.length === 1 ? 'is' : 'are'} not in the team memory.`);
      return false;
    }
    const chunks = affected.reduce((n, d) => n + d.chunkCount, 0);
    const what = affected.length === 1 ? affected[0]!.source : `${affected.length} files`;
    const choice = await showWarning(
      `Forget ${what} from the team memory, for everyone?`,
      {
        modal: true,
        detail: `${chunks} passage${chunks === 1 ? '' : 's'} will be removed for everyone who uses the team memory (${this.team.uri() ?? ''}): from every member's copy, and from the bucket with its old versions. Nobody's files are touched; a member who adds the file again brings it back.`,
      },
      'Forget for Everyone',
    );
    if (choice !== 'Forget for Everyone') return false;
    for (const t of targets) await service.forgetTeam(t);
    // Sources under past replies go too, unless this workspace's memory still has a file at that path.
    const local = new Set((await service.listDocuments()).map((d) => d.source));
    await this.forgotten({ kind: 'sources', matches: (source) => matches(source) && !local.has(source) });
    await this.refreshTeam();
    void showInfo(`Forgot ${what} from the team memory.`);
    return true;
  }

  /** Palette: pick from the team memory's files, then forgetTeamSources. */
  async pickTeamToForget(): Promise<void> {
    if (!this.team.configured()) throw new ActionError('unavailable', 'No team memory is set up: persona.teamMemory.uri in your user settings.');
    const docs = await (await this.svc()).listTeamDocuments();
    if (docs.length === 0) {
      void showInfo('The team memory is empty.');
      return;
    }
    const picked = await vscode.window.showQuickPick(
      docs.map((d) => ({ label: inertText(d.source), description: inertText(`${d.chunkCount} passage${d.chunkCount === 1 ? '' : 's'}${d.members > 1 ? ` · added by ${d.members} members` : ''}`), source: d.source })),
      { title: 'Forget from Team Memory', canPickMany: true, placeHolder: 'Files to forget for everyone' },
    );
    if (picked && picked.length > 0) await this.forgetTeamSources(picked.map((p) => p.source));
  }

  async forgetAll(): Promise<void> {
    const service = await this.svc();
    const docs = await service.listDocuments();
    const choice = await showWarning(
      "Forget all of this workspace's memory?",
      {
        modal: true,
        detail: `${docs.length} file${docs.length === 1 ? '' : 's'} will be removed from memory and from the disk, with the copies of files dropped on the chat; pending indexing is cancelled, and sources are taken out of past replies. Your own files are not touched.`,
      },
      'Forget All',
    );
    if (choice !== 'Forget All') return;
    await service.forgetAll();
    if (this.uploadsDir) await removeUploadCopies(this.uploadsDir, 'all');
    await this.forgotten({ kind: 'sources', matches: () => true });
    await this.overview.refresh();
    void showInfo("Forgot all of this workspace's memory.");
  }

  /** Palette: pick from what is in memory. */
  async pickToForget(): Promise<vscode.Uri[] | undefined> {
    const service = await this.svc();
    const docs = await service.listDocuments();
    if (docs.length === 0) {
      void showInfo("This workspace's memory is empty.");
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      docs.map((d) => ({ label: inertText(d.source), description: inertText(`${d.chunkCount} passage${d.chunkCount === 1 ? '' : 's'}${d.kb === WORKSPACE_KB ? '' : ` · ${this.personaName(personaOfKb(d.kb) ?? d.kb)} only`}`), source: d.source })),
      { title: 'Forget from Persona Memory', canPickMany: true, placeHolder: 'Files to forget' },
    );
    if (!picked || picked.length === 0) return undefined;
    return picked.map((p) => uriOf(p.source) ?? vscode.Uri.file(p.source));
  }

  /** The status picker; its title counts what a chat with `personaId` draws on. */
  async showStatus(personaId: string): Promise<void> {
    const service = await this.svc();
    const p = service.progress();
    const s = this.status(personaId);
    type Item = vscode.QuickPickItem & { run?: () => unknown };
    const items: Item[] = [];
    if (p.state === 'paused') items.push({ label: '$(debug-continue) Try again now', detail: p.pausedReason && inertText(p.pausedReason), run: () => service.resume() });
    if (p.state === 'running' || p.state === 'paused') items.push({ label: '$(close) Cancel indexing', description: `${p.total - p.done} waiting`, run: () => service.cancel() });
    // Memory made with another embeddings model is kept apart (its vectors mean nothing to this
    // one): offer to index those files again for the model the server runs now, or to discard it.
    const others = await service.otherModelDocuments().catch(() => []);
    for (const o of others) {
      items.push({
        label: `$(sync) Index ${o.documents.length} file${o.documents.length === 1 ? '' : 's'} again for the current model`,
        detail: inertText(`In memory for ${o.model} (${o.dimension}-d), which the embeddings server no longer runs.`),
        run: () => this.indexAgain(o.documents),
      });
    }
    if (others.length > 0) {
      items.push({
        label: '$(trash) Discard memory of other embedding models…',
        detail: inertText(others.map((o) => `${o.model}: ${o.documents.length} files`).join('; ')),
        run: async () => {
          const choice = await showWarning(
            'Discard the memory kept for other embedding models?',
            { modal: true, detail: `${others.map((o) => o.model).join(', ')}: removed from the disk. The memory of the current model stays. Your files are not touched.` },
            'Discard',
          );
          if (choice === 'Discard') await service.discardOtherModels();
        },
      });
    }
    items.push(
      { label: '$(add) Add files to memory…', run: () => vscode.commands.executeCommand('persona.memory.addFiles') },
      { label: '$(trash) Forget from memory…', run: () => vscode.commands.executeCommand('persona.memory.forget') },
      { label: '$(output) Show log', run: () => this.log.show() },
    );
    const picked = await vscode.window.showQuickPick(items, { title: `Persona Memory: ${inertText(s.message ?? `${s.documents ?? 0} ${s.documents === 1 ? 'file' : 'files'}`)}` });
    await picked?.run?.();
  }

  /** Queues documents kept for another model again, each in its own knowledge base, for the current model. */
  private async indexAgain(documents: readonly { source: string; kb: string }[]): Promise<void> {
    const service = await this.svc();
    const byKb = new Map<string, { absPath: string; source: string; root?: string }[]>();
    let missing = 0;
    for (const d of documents) {
      const uri = uriOf(d.source);
      if (!uri) {
        missing++;
        continue;
      }
      byKb.set(d.kb, [...(byKb.get(d.kb) ?? []), { absPath: uri.fsPath, source: d.source, ...rootOf(uri) }]);
    }
    for (const [kb, files] of byKb) await service.add(files, kb);
    const queued = documents.length - missing;
    if (missing) this.log.warn(`Index again: ${missing} file(s) are no longer in this workspace.`);
    if (queued) void this.followProgress(queued, missing ? `${missing} no longer in this workspace.` : '');
  }

  async setEmbeddingsKey(): Promise<void> {
    const key = await vscode.window.showInputBox({
      title: 'Persona: Embeddings Server Key',
      prompt: `The key for ${inertText(setting('embeddings.baseUrl'))} (KoboldCpp's --password). Kept in VS Code's secret storage. Leave empty to remove it.`,
      password: true,
      ignoreFocusOut: true,
    });
    if (key === undefined) return;
    const baseUrl = setting('embeddings.baseUrl');
    if (key.trim()) {
      if (!(await confirmKeyInTheClear(baseUrl))) return;
      await this.keys.set(EMBEDDINGS_KEY, key.trim(), baseUrl);
    } else {
      await this.keys.delete(EMBEDDINGS_KEY);
    }
    await this.loadEmbeddingsKey();
    this.service?.resume();
    void showInfo(key.trim() ? 'Embeddings key saved.' : 'Embeddings key removed.');
  }

  /** Stops indexing (its journal is written, so the next window resumes) and closes LanceDB. */
  async close(): Promise<void> {
    await this.service?.dispose();
    await this.items.close();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    void this.close();
  }
}

/** Similarities as shown and stored: three decimals. */
function roundScore(score: number): number {
  return Math.round(score * 1000) / 1000;
}

/**
 * Opens a document's cited place where VS Code can: a notebook at its cell, an HTML file at its
 * heading. A PDF or Word file VS Code cannot show is revealed in the system's file manager, and the
 * message names the page or section to look at (where there is no file manager, as in a browser,
 * the message alone).
 */
async function openDocumentAt(uri: vscode.Uri, kind: ExtractedKind, place: SourcePlace | undefined): Promise<void> {
  if (kind === 'notebook') {
    const notebook = await vscode.workspace.openNotebookDocument(uri);
    const cell = place?.cell !== undefined && place.cell < notebook.cellCount ? place.cell : undefined;
    const range = cell === undefined ? undefined : new vscode.NotebookRange(cell, cell + 1);
    const editor = await vscode.window.showNotebookDocument(notebook, { preview: true, ...(range ? { selections: [range] } : {}) });
    if (range) editor.revealRange(range, vscode.NotebookEditorRevealType.InCenterIfOutsideViewport);
    return;
  }
  if (kind === 'html') {
    const doc = await vscode.workspace.openTextDocument(uri);
    const heading = place?.headings?.at(-1);
    const line = heading === undefined ? undefined : htmlHeadingLine(doc.getText(), heading);
    await vscode.window.showTextDocument(doc, { preview: true, ...(line !== undefined ? { selection: new vscode.Range(line, 0, line, 0) } : {}) });
    return;
  }
  const name = uri.path.split('/').pop() ?? uri.path;
  const where = placeLabel(place);
  const revealed = await vscode.commands.executeCommand('revealFileInOS', uri).then(
    () => true,
    () => false,
  );
  const look = where ? `: see ${where}` : '';
  void showInfo(revealed ? `${name} is shown in your file manager${look}.` : `VS Code cannot show ${name} here; open it from ${uri.fsPath}${look}.`);
}
