// The host's side of a view's protocol (see shared/rpc.ts), the same for every webview: the HTML with
// its Content-Security-Policy and nonce, the narrowed resource roots, validation of every incoming
// message, dispatch through the view's handler table, and the ready handshake. A view declares its
// protocol, its handlers and its bundle; nothing else.
//
// Every new document (a view shown again starts over: no retainContextWhenHidden) asks `ready` and
// is answered with the whole state, so notifications go only to a document that has been answered:
// whatever happened before is in that answer.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import {
  makeErrorResponse,
  makeNotification,
  makeResponse,
  type IncomingRequestOf,
  type NotificationTypes,
  type ParamsOf,
  type Protocol,
  type ProtocolError,
  type RequestTypes,
  type ResultOf,
} from '../shared/rpc';
import type { Logger } from '../util/logger';

/** One handler per request of the protocol, by its key; what it returns is the answer. */
export type Handlers<R extends RequestTypes> = { [K in keyof R]: (params: ParamsOf<R[K]>) => Promise<ResultOf<R[K]>> | ResultOf<R[K]> };

export interface WebviewHostOptions<R extends RequestTypes, N extends NotificationTypes> {
  protocol: Protocol<R, N>;
  extensionUri: vscode.Uri;
  /** The app's bundle in dist/ (e.g. 'webview.js') and its stylesheets in media/, in order. */
  script: string;
  style: string | readonly string[];
  /** The document's title and the id of the element the app renders into. */
  title: string;
  rootId: string;
  handlers: Handlers<R>;
  logger: Logger;
  /** The answer a failed request gets: the sentence a person reads, and a reason the app may act on. */
  describeError(error: unknown): ProtocolError;
  /** The document has its state (again): a view can start what waits for it. */
  onReady?(): void;
}

export class WebviewHost<R extends RequestTypes, N extends NotificationTypes> implements vscode.Disposable {
  private webview: vscode.Webview | undefined;
  private answered = false;
  /** Counts ready requests: only the latest one's answer makes the document ready. */
  private readySeq = 0;
  private attachment: vscode.Disposable | undefined;

  constructor(private readonly options: WebviewHostOptions<R, N>) {}

  /** Shows the app in `webview` (a view resolved, or a panel made or restored) and listens to it. */
  attach(webview: vscode.Webview): void {
    this.attachment?.dispose();
    this.webview = webview;
    this.answered = false;
    const { extensionUri } = this.options;
    webview.options = {
      enableScripts: true,
      enableCommandUris: false,
      // Not the workspace (the default): only the built bundles and the stylesheets.
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
    };
    webview.html = this.html(webview);
    this.attachment = webview.onDidReceiveMessage((m) => void this.receive(m));
  }

  /** The document is gone (the view was hidden, or disposed): nothing goes to it until the next ready. */
  detach(): void {
    this.answered = false;
  }

  /** True once the current document has been answered its ready. */
  get isReady(): boolean {
    return this.answered;
  }

  /** Sent only to a document that has its state; an earlier one gets it in its ready answer. */
  notify<T extends N[keyof N]>(type: T, params: ParamsOf<T>): void {
    if (this.answered) this.post(makeNotification(type, params));
  }

  dispose(): void {
    this.attachment?.dispose();
    this.attachment = undefined;
    this.webview = undefined;
    this.answered = false;
  }

  private post(message: unknown): void {
    this.webview?.postMessage(message).then(
      (delivered) => delivered || this.options.logger.debug(`A message to the ${this.options.title} webview was not delivered (not live).`),
      () => undefined,
    );
  }

  private async receive(raw: unknown): Promise<void> {
    const { protocol, logger } = this.options;
    const parsed = protocol.parseRequest(raw);
    if (!parsed.ok) {
      logger.warn(`${this.options.title}: rejected a message from the webview: ${parsed.error}`);
      if (parsed.id !== undefined) this.post(makeErrorResponse(parsed.id, { message: parsed.error, reason: 'invalidMessage' }));
      return;
    }
    const request = parsed.value;
    const isReady = request.method === protocol.ready.method;
    const seq = isReady ? ++this.readySeq : 0;
    if (isReady) this.answered = false;
    try {
      const result = await this.handle(request);
      // A newer document asked meanwhile: it gets the answer, and this one is gone.
      if (isReady && seq !== this.readySeq) return;
      this.post(makeResponse(request.id, result ?? null));
      if (isReady) {
        this.answered = true;
        logger.debug(`${this.options.title}: answered ready #${request.id} (${seq} since activation).`);
        this.options.onReady?.();
      }
    } catch (e) {
      logger.warn(`${this.options.title}: ${request.method} failed: ${(e as Error).message}`);
      this.post(makeErrorResponse(request.id, this.options.describeError(e)));
    }
  }

  private handle(request: IncomingRequestOf<R>): Promise<unknown> | unknown {
    const { protocol, handlers } = this.options;
    const key = (Object.keys(protocol.requests) as (keyof R)[]).find((k) => protocol.requests[k]!.method === request.method)!;
    return (handlers[key] as (params: unknown) => unknown)(request.params);
  }

  private html(webview: vscode.Webview): string {
    const { extensionUri, script, style, title, rootId } = this.options;
    const nonce = randomBytes(18).toString('base64');
    const scriptUri = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', script));
    const styles = (typeof style === 'string' ? [style] : style).map((name) => `<link rel="stylesheet" href="${webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', name))}">`);
    const csp = [
      "default-src 'none'",
      // Pictures only inline (avatars come as data: URLs) or from the extension itself: never remote.
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
${styles.join('\n')}
<title>${escapeHtml(title)}</title>
</head>
<body>
<div id="${escapeHtml(rootId)}"></div>
<script nonce="${nonce}" src="${scriptUri}"></script>
</body>
</html>`;
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
