// The sidebar chat view: its handlers for the chat protocol (the webview stack is WebviewHost's), and
// the stream: streamed text is batched so that one message carries the tokens of a frame, never the
// whole reply again, and state changes go out as changes to what the webview has.
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Logger } from '../../util/logger';
import { ChatProtocol, Notifications, Requests, type ViewState } from '../../shared/chatProtocol';
import type { ParamsOf } from '../../shared/rpc';
import type { ChatService, DeltaEvent } from '../../chat/chatService';
import { exportConversation, exportFileName } from '../../chat/conversationExport';
import { ConversationImportError, MAX_CONVERSATION_FILE_BYTES, parseConversationFile } from '../../chat/conversationImport';
import { ViewStateTracker } from '../../chat/stateDiff';
import { describeError, describeErrorForView } from '../../chat/userMessages';
import { pickModel } from './modelPicker';
import { WebviewHost, type Handlers } from '../webviewHost';
import { ActionError } from '../../util/actionError';
import { showInfo, showWarning } from '../notify';
import { capitalize } from '../../providers/serverText';
import { linkToOpen } from '../../chat/chatLinks';

/**
 * Streamed text is sent at most once per this many ms: two animation frames. The first token of a
 * reply goes out at once; after that, local models write a token every 15–30 ms, and each message
 * costs an envelope, so two frames' worth per message keeps the traffic near the text's own size
 * while the text still moves at 30 updates a second.
 */
const DELTA_BATCH_MS = 32;

/** What the view's memory buttons do; the memory controller provides them. */
export interface ViewFileActions {
  openCitation(citation: ParamsOf<typeof Requests.openCitation>): Promise<void>;
  addFiles(): Promise<void>;
  /** Files dropped on the view: cards are imported, the rest goes to memory. */
  dropFiles(dropped: ParamsOf<typeof Requests.dropFiles>): Promise<void>;
  /** A message's Remember action. */
  remember(messageId: string): Promise<void>;
  showPanel(): Promise<void>;
  /** The persona's memories taken from a conversation, and forgetting them (deleting a chat offers to). */
  memoriesFrom(personaId: string, conversationId: string): Promise<number>;
  forgetMemoriesFrom(personaId: string, conversationId: string): Promise<void>;
}

/** The sandbox's host-side flows the view's buttons start. */
export interface SandboxActions {
  /** Opens what was sent for a reply. */
  showSent(messageId: string): Promise<void>;
  savePreset(): Promise<void>;
  applyPreset(): Promise<void>;
  compare(): Promise<void>;
}

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewType = 'persona.chatView';

  private readonly host: WebviewHost<typeof Requests, typeof Notifications>;
  private readonly disposables: vscode.Disposable[] = [];
  private viewDisposables: vscode.Disposable[] = [];
  private pendingDelta: DeltaEvent | undefined;
  private deltaTimer: NodeJS.Timeout | undefined;
  private lastDeltaSent = 0;
  private stateScheduled = false;
  private readonly tracker = new ViewStateTracker();
  /** A message to bring into view, sent after the next state (the view may still be loading). */
  private pendingReveal: { conversationId: string; messageId: string } | undefined;

  constructor(
    extensionUri: vscode.Uri,
    private readonly chat: ChatService,
    logger: Logger,
    private readonly memory?: ViewFileActions,
    /** What the view's sandbox buttons run on the host. */
    private readonly sandbox?: SandboxActions,
  ) {
    this.host = new WebviewHost({
      protocol: ChatProtocol,
      extensionUri,
      script: 'webview.js',
      style: 'chat.css',
      title: 'Persona',
      rootId: 'app',
      logger,
      describeError: describeErrorForView,
      handlers: this.handlers(),
      onReady: () => this.onReady(),
    });
    this.disposables.push(
      this.host,
      chat.onDidChangeState(() => this.scheduleState()),
      chat.onDelta((d) => this.queueDelta(d)),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.host.attach(view.webview);
    for (const d of this.viewDisposables) d.dispose();
    this.viewDisposables = [
      // A hidden view loses its document (no retainContextWhenHidden): wait for its next ready.
      view.onDidChangeVisibility(() => {
        if (!view.visible) {
          this.host.detach();
          this.tracker.forget();
        }
      }),
      view.onDidDispose(() => this.host.detach()),
    ];
  }

  /** Reveals the view and puts the cursor in the message box. */
  async focus(): Promise<void> {
    await vscode.commands.executeCommand(`${ChatViewProvider.viewType}.focus`);
  }

  /** Shows the view scrolled to a message of the conversation it shows, focused. */
  async reveal(conversationId: string, messageId: string): Promise<void> {
    this.pendingReveal = { conversationId, messageId };
    await this.focus();
    this.scheduleState();
  }

  dispose(): void {
    clearTimeout(this.deltaTimer);
    for (const d of [...this.disposables, ...this.viewDisposables]) d.dispose();
  }

  // ---- outgoing ----------------------------------------------------------------------------------

  private scheduleState(): void {
    if (this.stateScheduled) return;
    this.stateScheduled = true;
    queueMicrotask(() => {
      this.stateScheduled = false;
      void this.sendState();
    });
  }

  private async sendState(): Promise<void> {
    if (!this.host.isReady) return;
    const state = await this.chat.viewState();
    if (!this.host.isReady) return;
    this.flushDelta();
    this.holdRevealed(state);
    this.host.notify(Notifications.state, this.tracker.update(state));
    const reveal = this.pendingReveal;
    this.pendingReveal = undefined;
    if (reveal) this.host.notify(Notifications.reveal, reveal);
  }

  /** A message to reveal must be among those the view holds, however far up the chat it is. */
  private holdRevealed(state: ViewState): void {
    const reveal = this.pendingReveal;
    if (!reveal || state.conversation?.id !== reveal.conversationId) return;
    const index = state.conversation.messages.findIndex((m) => m.id === reveal.messageId);
    if (index >= 0) this.tracker.hold(index);
  }

  private queueDelta(delta: DeltaEvent): void {
    const p = this.pendingDelta;
    if (p && p.stream === delta.stream && p.offset + p.text.length === delta.offset) {
      p.text += delta.text;
    } else {
      this.flushDelta();
      this.pendingDelta = { ...delta };
    }
    // A hidden view gets the reply in the state it asks for when shown again.
    if (!this.host.isReady) return;
    if (this.deltaTimer) return;
    const wait = this.lastDeltaSent + DELTA_BATCH_MS - Date.now();
    // The first token of a burst goes out at once; later ones ride with the next frame's batch.
    if (wait <= 0) this.flushDelta();
    else this.deltaTimer = setTimeout(() => this.flushDelta(), wait);
  }

  private flushDelta(): void {
    clearTimeout(this.deltaTimer);
    this.deltaTimer = undefined;
    const d = this.pendingDelta;
    if (!d || !this.host.isReady) return;
    this.pendingDelta = undefined;
    this.lastDeltaSent = Date.now();
    this.host.notify(Notifications.delta, [d.stream, d.offset, d.text]);
    this.tracker.sentDelta(d.messageId, d.offset + d.text.length);
  }

  // ---- incoming ----------------------------------------------------------------------------------

  private handlers(): Handlers<typeof Requests> {
    const chat = this.chat;
    const memory = (what: string): ViewFileActions => {
      if (!this.memory) throw new ActionError('unavailable', `${what} is not available in this window.`);
      return this.memory;
    };
    const sandbox = (what: string): SandboxActions => {
      if (!this.sandbox) throw new ActionError('unavailable', `${what} is not available in this window.`);
      return this.sandbox;
    };
    /** Requests whose answer is only that they are done. */
    const done = async (work: unknown): Promise<null> => {
      await work;
      return null;
    };
    return {
      /** The webview (new, or shown again) asks for everything: answered from what the host holds. */
      ready: async () => {
        this.pendingDelta = undefined;
        const state = await chat.viewState();
        this.holdRevealed(state);
        return this.tracker.sentFull(state);
      },
      loadEarlier: async ({ conversationId, count }) => {
        const shown = chat.shownConversation();
        return shown.id === conversationId ? this.tracker.earlier(shown, count) : null;
      },
      send: ({ text }) => chat.send(text),
      stop: () => done(chat.stop()),
      regenerate: ({ messageId }) => done(chat.regenerate(messageId)),
      showAlternative: ({ messageId, delta }) => done(chat.showAlternative(messageId, delta)),
      edit: ({ messageId, text }) => done(chat.edit(messageId, text)),
      goBackTo: ({ messageId }) => done(chat.goBackTo(messageId)),
      showHidden: () => done(chat.showHidden()),
      newConversation: () => done(chat.newConversation()),
      selectConversation: ({ id }) => done(chat.selectConversation(id)),
      renameConversation: ({ id, title }) => done(chat.renameConversation(id, title)),
      deleteConversation: ({ id }) => done(this.deleteConversation(id)),
      exportConversation: (params) => done(this.exportConversation(params)),
      importConversation: () => done(importConversationFile(chat, this)),
      selectPersona: ({ id }) => done(chat.selectPersona(id)),
      openLink: ({ href }) => done(openLink(href)),
      copyCode: async ({ code }) => {
        await vscode.env.clipboard.writeText(code);
        void vscode.window.setStatusBarMessage('$(check) Code copied', 2000);
        return null;
      },
      insertCode: ({ code }) => done(insertAtCursor(code)),
      retryConnection: () => done(chat.retry()),
      setChatSetting: ({ key, value }) => done(chat.setChatSetting(key, value)),
      estimateContext: ({ draft }) => chat.estimateContext(draft),
      showSent: ({ messageId }) => done(sandbox('What was sent').showSent(messageId)),
      savePreset: () => done(sandbox('Presets').savePreset()),
      applyPreset: () => done(sandbox('Presets').applyPreset()),
      compare: () => done(sandbox('Compare').compare()),
      pickModel: () => done(pickModel(chat, describeError)),
      setMemory: ({ enabled }) => done(chat.setMemoryEnabled(enabled)),
      setMemoryDial: ({ key, value }) => done(chat.setMemoryDial(key, value)),
      openCitation: (citation) => done(memory('Memory').openCitation(citation)),
      addToMemory: () => done(memory('Memory').addFiles()),
      remember: ({ messageId }) => done(memory('Remember').remember(messageId)),
      resolveProposal: ({ messageId, index, action, text }) => done(this.chat.resolveProposal(messageId, index, action, text)),
      showMemoryPanel: () => done(memory('Memory panel').showPanel()),
      dropFiles: (dropped) => done(memory('Dropping files').dropFiles(dropped)),
    };
  }

  /** The view has its state: text streamed meanwhile rides along, then check the server. */
  private onReady(): void {
    this.flushDelta();
    this.scheduleState();
    setTimeout(() => void this.chat.checkConnectionIfUnknown(), 0);
    this.chat.warmUp();
  }

  private async deleteConversation(id: string): Promise<void> {
    const conversation = await this.chat.getConversation(id);
    if (!conversation) return;
    const personaName = this.chat.personaName(conversation.personaId);
    const memories = (await this.memory?.memoriesFrom(conversation.personaId, id).catch(() => 0)) ?? 0;
    const taken = `${memories} ${memories === 1 ? 'memory' : 'memories'} ${personaName} took from it`;
    const withMemories = `Delete with the ${memories === 1 ? 'Memory' : `${memories} Memories`}`;
    const choice = await showWarning(
      `Delete the conversation "${conversation.title}"?`,
      {
        modal: true,
        detail:
          'The conversation and the records of what was sent for its replies are removed from the disk. This cannot be undone.' +
          (memories > 0 ? ` ${capitalize(taken)} stay unless you delete them too.` : ''),
      },
      ...(memories > 0 ? [withMemories, 'Delete and Keep the Memories'] : ['Delete']),
    );
    if (choice === undefined) return;
    await this.chat.deleteConversation(id);
    if (choice === withMemories) await this.memory?.forgetMemoriesFrom(conversation.personaId, id);
  }

  private async exportConversation(params: ParamsOf<typeof Requests.exportConversation>): Promise<void> {
    const conversation = await this.chat.getConversation(params.id);
    if (!conversation) throw new ActionError('gone', 'That conversation could not be read.');
    const personaName = this.chat.personaName(conversation.personaId);
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const name = exportFileName(conversation, params.format);
    const target = await vscode.window.showSaveDialog({
      defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined,
      filters: params.format === 'json' ? { JSON: ['json'] } : { Markdown: ['md'] },
      saveLabel: 'Export',
    });
    if (!target) return;
    await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(exportConversation(conversation, personaName, params.format)));
    void showInfo(`Exported "${conversation.title}" to ${vscode.workspace.asRelativePath(target)}.`);
  }
}

/** Asks for a conversation exported as JSON, and opens it as a new chat of this workspace. */
export async function importConversationFile(chat: ChatService, view: ChatViewProvider): Promise<void> {
  const picked = await vscode.window.showOpenDialog({
    title: 'Import Conversation',
    openLabel: 'Import',
    canSelectMany: false,
    filters: { 'Persona conversation (JSON)': ['json'], 'All files': ['*'] },
  });
  const uri = picked?.[0];
  if (!uri) return;
  const { size } = await vscode.workspace.fs.stat(uri);
  if (size > MAX_CONVERSATION_FILE_BYTES) {
    throw new ActionError('refused', `This file is ${(size / 1024 / 1024).toFixed(1)} MB: a Persona conversation is at most ${MAX_CONVERSATION_FILE_BYTES / 1024 / 1024} MB.`);
  }
  let conversation;
  try {
    conversation = parseConversationFile(new TextDecoder().decode(await vscode.workspace.fs.readFile(uri)), randomUUID(), Date.now());
  } catch (e) {
    if (e instanceof ConversationImportError) throw new ActionError('refused', e.message);
    throw e;
  }
  const { personaFound } = await chat.importConversation(conversation);
  await view.focus();
  const name = path.posix.basename(uri.path);
  void showInfo(
    personaFound
      ? `Imported "${conversation.title}" from ${name}.`
      : `Imported "${conversation.title}" from ${name}. Its persona (${conversation.personaName ?? conversation.personaId}) is not in this workspace, so the chat is read-only.`,
  );
}

/** Links from model output open only here, and only after the person says so, seeing where they go. */
async function openLink(href: string): Promise<void> {
  const link = linkToOpen(href);
  const detail = [`Goes to: ${link.destination}`, ...link.notes, '', link.href].join('\n');
  const choice = await showInfo('Open this link from the chat in your browser?', { modal: true, detail }, 'Open Link');
  if (choice === 'Open Link') await vscode.env.openExternal(vscode.Uri.parse(link.href, true));
}

async function insertAtCursor(code: string): Promise<void> {
  const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
  if (!editor) throw new ActionError('unavailable', 'Open a file in the editor first: the code is inserted at its cursor.');
  await editor.edit((b) => {
    for (const selection of editor.selections) b.replace(selection, code);
  });
  await vscode.window.showTextDocument(editor.document, editor.viewColumn);
}
