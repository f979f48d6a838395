// The sidebar webview: its HTML and Content-Security-Policy, and the host side of the protocol.
// Every message from the webview is validated before dispatch; a bad one gets an error reply and a
// log line. Notifications wait until the webview has said it is ready; streamed text is batched so
// that one message carries the tokens of a frame, never the whole reply again.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { Logger } from '../../util/logger';
import {
  Notifications,
  Requests,
  makeErrorResponse,
  makeNotification,
  makeResponse,
  parseRequest,
  type IncomingRequest,
  type ParamsOf,
} from '../../shared/protocol';
import type { ChatService, DeltaEvent } from '../../chat/chatService';
import { exportConversation, exportFileName } from '../../chat/conversationExport';
import { ViewStateTracker } from '../../chat/stateDiff';
import { describeError } from '../../chat/userMessages';

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
}

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewType = 'persona.chatView';

  private view: vscode.WebviewView | undefined;
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];
  private viewDisposables: vscode.Disposable[] = [];
  private pendingDelta: DeltaEvent | undefined;
  private deltaTimer: NodeJS.Timeout | undefined;
  private lastDeltaSent = 0;
  private stateScheduled = false;
  /** Counts `webview/ready` requests: only the latest one's answer makes the view ready. */
  private readySeq = 0;
  private readonly tracker = new ViewStateTracker();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly chat: ChatService,
    private readonly logger: Logger,
    private readonly memory?: ViewFileActions,
  ) {
    this.disposables.push(
      chat.onDidChangeState(() => this.scheduleState()),
      chat.onDelta((d) => this.queueDelta(d)),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist');
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    view.webview.options = { enableScripts: true, enableCommandUris: false, localResourceRoots: [dist, media] };
    view.webview.html = this.html(view.webview);
    for (const d of this.viewDisposables) d.dispose();
    this.viewDisposables = [
      view.webview.onDidReceiveMessage((m) => void this.onMessage(m)),
      // A hidden view loses its document (no retainContextWhenHidden): wait for its next ready.
      view.onDidChangeVisibility(() => {
        if (!view.visible) {
          this.ready = false;
          this.tracker.forget();
        }
      }),
      view.onDidDispose(() => {
        this.view = undefined;
        this.ready = false;
      }),
    ];
  }

  /** Reveals the view and puts the cursor in the message box. */
  async focus(): Promise<void> {
    await vscode.commands.executeCommand(`${ChatViewProvider.viewType}.focus`);
  }

  dispose(): void {
    clearTimeout(this.deltaTimer);
    for (const d of [...this.disposables, ...this.viewDisposables]) d.dispose();
  }

  // ---- outgoing ----------------------------------------------------------------------------------

  private post(message: unknown): void {
    if (!this.view || !this.ready) return;
    // VS Code drops a message to a webview it does not consider live (e.g. one being shown again);
    // the webview asks for the state again when its answer does not come.
    this.view.webview.postMessage(message).then(
      (delivered) => delivered || this.logger.debug('A message to the webview was not delivered (view not live).'),
      () => undefined,
    );
  }

  private scheduleState(): void {
    if (this.stateScheduled) return;
    this.stateScheduled = true;
    queueMicrotask(() => {
      this.stateScheduled = false;
      void this.sendState();
    });
  }

  private async sendState(): Promise<void> {
    if (!this.ready) return;
    const state = await this.chat.viewState();
    if (!this.ready) return;
    this.flushDelta();
    this.post(makeNotification(Notifications.state, this.tracker.update(state)));
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
    if (!this.ready) return;
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
    if (!d || !this.ready) return;
    this.pendingDelta = undefined;
    this.lastDeltaSent = Date.now();
    this.post(makeNotification(Notifications.delta, [d.stream, d.offset, d.text]));
    this.tracker.sentDelta(d.messageId, d.offset + d.text.length);
  }

  /**
   * The webview (new, or shown again) asks for everything: answer at once from what the host holds
   * (never waiting on memory or the network), then check the server.
   */
  private async answerReady(id: number): Promise<void> {
    const seq = ++this.readySeq;
    this.ready = false;
    this.pendingDelta = undefined;
    const state = await this.chat.viewState();
    // A newer document asked meanwhile: it gets the answer, and this one is gone.
    if (seq !== this.readySeq) return;
    this.logger.debug(`Answered webview/ready #${id} (${seq} since activation).`);
    this.tracker.sentFull(state);
    this.ready = true;
    this.post(makeResponse(id, state));
    // Text streamed while the state was read rides along; anything else that changed meanwhile too.
    this.flushDelta();
    this.scheduleState();
    setTimeout(() => void this.chat.checkConnectionIfUnknown(), 0);
    this.chat.warmUp();
  }

  // ---- incoming ----------------------------------------------------------------------------------

  private async onMessage(raw: unknown): Promise<void> {
    const parsed = parseRequest(raw);
    if (!parsed.ok) {
      this.logger.warn(`Rejected a message from the webview: ${parsed.error}`);
      if (parsed.id !== undefined) void this.view?.webview.postMessage(makeErrorResponse(parsed.id, { message: parsed.error, reason: 'invalidMessage' }));
      return;
    }
    const request = parsed.value;
    try {
      if (request.method === Requests.ready.method) return await this.answerReady(request.id);
      const result = await this.dispatch(request);
      this.post(makeResponse(request.id, result ?? null));
    } catch (e) {
      this.logger.warn(`${request.method} failed: ${(e as Error).message}`);
      void this.view?.webview.postMessage(makeErrorResponse(request.id, { message: describeError(e) }));
    }
  }

  private async dispatch(request: IncomingRequest): Promise<unknown> {
    const chat = this.chat;
    switch (request.method) {
      case 'webview/ready':
        throw new Error('handled by answerReady');
      case 'chat/send':
        return chat.send(request.params.text);
      case 'chat/stop':
        return chat.stop();
      case 'chat/regenerate':
        return void (await chat.regenerate());
      case 'chat/edit':
        return void (await chat.edit(request.params.messageId, request.params.text));
      case 'conversation/new':
        return chat.newConversation();
      case 'conversation/select':
        return chat.selectConversation(request.params.id);
      case 'conversation/rename':
        return chat.renameConversation(request.params.id, request.params.title);
      case 'conversation/delete':
        return this.deleteConversation(request.params.id);
      case 'conversation/export':
        return this.exportConversation(request.params);
      case 'persona/select':
        return chat.selectPersona(request.params.id);
      case 'link/open':
        return openLink(request.params.href);
      case 'code/copy':
        await vscode.env.clipboard.writeText(request.params.code);
        void vscode.window.setStatusBarMessage('$(check) Code copied', 2000);
        return null;
      case 'code/insert':
        return insertAtCursor(request.params.code);
      case 'connection/retry':
        return chat.retry();
      case 'chat/setMemory':
        return chat.setMemoryEnabled(request.params.enabled);
      case 'memory/open':
        if (!this.memory) throw new Error('Memory is not available in this window.');
        return this.memory.openCitation(request.params);
      case 'memory/add':
        if (!this.memory) throw new Error('Memory is not available in this window.');
        return this.memory.addFiles();
      case 'files/drop':
        if (!this.memory) throw new Error('Dropping files is not available in this window.');
        return this.memory.dropFiles(request.params);
    }
  }

  private async deleteConversation(id: string): Promise<void> {
    const conversation = await this.chat.getConversation(id);
    if (!conversation) return;
    const choice = await vscode.window.showWarningMessage(`Delete the conversation "${conversation.title}"?`, { modal: true, detail: 'This cannot be undone.' }, 'Delete');
    if (choice === 'Delete') await this.chat.deleteConversation(id);
  }

  private async exportConversation(params: ParamsOf<typeof Requests.exportConversation>): Promise<void> {
    const conversation = await this.chat.getConversation(params.id);
    if (!conversation) throw new Error('That conversation could not be read.');
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
    void vscode.window.showInformationMessage(`Exported "${conversation.title}" to ${vscode.workspace.asRelativePath(target)}.`);
  }

  // ---- html --------------------------------------------------------------------------------------

  private html(webview: vscode.Webview): string {
    const nonce = randomBytes(18).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'chat.css'));
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `style-src ${webview.cspSource}`,
      `font-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
      "connect-src 'none'",
      "frame-src 'none'",
      "form-action 'none'",
      "base-uri 'none'",
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>Persona</title>
</head>
<body>
<div id="app"></div>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }
}

const LINK_SCHEMES = new Set(['http:', 'https:', 'mailto:']);

/** Links from model output open only here: http(s)/mailto only, and only after the person says so. */
async function openLink(href: string): Promise<void> {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    throw new Error(`"${href.slice(0, 100)}" is not a valid link.`);
  }
  if (!LINK_SCHEMES.has(url.protocol)) throw new Error(`Links to ${url.protocol} are not opened.`);
  const choice = await vscode.window.showInformationMessage('Open this link from the chat in your browser?', { modal: true, detail: url.href }, 'Open Link');
  if (choice === 'Open Link') await vscode.env.openExternal(vscode.Uri.parse(url.href, true));
}

async function insertAtCursor(code: string): Promise<void> {
  const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
  if (!editor) throw new Error('Open a file in the editor first: the code is inserted at its cursor.');
  await editor.edit((b) => {
    for (const selection of editor.selections) b.replace(selection, code);
  });
  await vscode.window.showTextDocument(editor.document, editor.viewColumn);
}
