// Persona: Open Memory Panel: one editor panel per window showing what the chat's persona draws on —
// the knowledge bases in scope with their documents (a page at a time) and a document's chunks, the
// same search a chat turn runs with its scores, and the persona's memories with pin, edit and forget;
// its Export and Import buttons run the commands of memoryTransferCommands.ts.
// It follows the persona of the chat in the view. Forgetting asks first, in a modal, as everywhere.
import * as vscode from 'vscode';
import { MemoryPanelProtocol, type MemoryPanelNotifications, type MemoryPanelRequests } from '../../shared/memoryPanelProtocol';
import { describeErrorForView } from '../../chat/userMessages';
import type { Logger } from '../../util/logger';
import { ActionError } from '../../util/actionError';
import { SHARED_KB } from '../../rag/knowledgeBases';
import { WebviewHost } from '../webviewHost';
import type { MemoryController } from './memoryController';

/** Redraws wait this long after a change, so indexing's progress does not redraw 10 times a second. */
const UPDATE_MS = 250;

export interface MemoryPanelDeps {
  memory: MemoryController;
  /** The persona of the chat in the view, and when it may have changed. */
  persona(): { id: string; name: string };
  onDidChangePersona(listener: () => void): { dispose(): void };
  extensionUri: vscode.Uri;
  log: Logger;
}

export class MemoryPanel {
  private static current: MemoryPanel | undefined;

  /** Shows the panel, made on first use; a second call brings it to the front. */
  static show(deps: MemoryPanelDeps): void {
    if (MemoryPanel.current) MemoryPanel.current.panel.reveal();
    else MemoryPanel.current = new MemoryPanel(deps);
  }

  private readonly panel: vscode.WebviewPanel;
  private readonly host: WebviewHost<typeof MemoryPanelRequests, typeof MemoryPanelNotifications>;
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;
  private personaId: string;

  private constructor(private readonly deps: MemoryPanelDeps) {
    const { memory } = deps;
    this.personaId = deps.persona().id;
    this.panel = vscode.window.createWebviewPanel('persona.memory', 'Persona Memory', { viewColumn: vscode.ViewColumn.Active }, { enableScripts: true, retainContextWhenHidden: false });
    this.panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'persona.svg');
    const persona = () => deps.persona();
    this.host = new WebviewHost({
      protocol: MemoryPanelProtocol,
      extensionUri: deps.extensionUri,
      script: 'memory.js',
      // The chat's stylesheet for buttons, inputs and the error line; memory.css lays out the panel.
      style: ['chat.css', 'memory.css'],
      title: 'Persona Memory',
      rootId: 'memory',
      logger: deps.log,
      describeError: describeErrorForView,
      handlers: {
        ready: () => memory.panelState(persona()),
        documents: ({ kb, offset, limit, filter }) => memory.documentsPage(this.inScope(kb), offset, limit, filter),
        items: ({ offset, limit, filter }) => memory.itemsPage(persona().id, offset, limit, filter),
        chunks: async ({ kb, source }) => ({
          chunks: (await memory.chunks(this.inScope(kb), source)).map((c) => ({ index: c.index, startLine: c.startLine, endLine: c.endLine, tokens: c.tokenCount, text: c.text, ...(c.place ? { place: c.place } : {}) })),
        }),
        search: ({ query }) => memory.search(persona().id, query, AbortSignal.timeout(55_000)),
        open: async ({ source, line, place }) => {
          await memory.openCitation({ source, startLine: line ?? 1, endLine: line ?? 1, place });
          return null;
        },
        forgetDocument: async ({ kb, source }) => {
          if (this.inScope(kb) === SHARED_KB) await memory.forgetTeamSources([source]);
          else await memory.forgetSources([source]);
          return null;
        },
        forgetChunk: async ({ kb, source, index }) => {
          await memory.forgetChunk(this.inScope(kb), source, index);
          return null;
        },
        addFiles: async () => {
          await memory.addFiles();
          return null;
        },
        remember: async () => {
          const p = persona();
          await memory.items.remember({ personaId: p.id, personaName: p.name }, 'palette');
          return null;
        },
        setPersonaDial: async ({ key, value }) => {
          await memory.items.setPersonaDial(persona().id, key, value);
          return null;
        },
        setPinned: async ({ id, pinned }) => {
          await memory.items.setPinned(persona().id, id, pinned);
          return null;
        },
        editItem: async ({ id, text }) => {
          await memory.items.edit(persona().id, id, text);
          return null;
        },
        forgetItem: async ({ id }) => {
          const p = persona();
          await memory.items.forgetOne(p.id, p.name, id);
          return null;
        },
        // The commands themselves: the same dialogs, and a failure is a notification, as from the palette.
        exportItems: async () => {
          await vscode.commands.executeCommand('persona.memory.exportItems');
          return null;
        },
        importItems: async () => {
          await vscode.commands.executeCommand('persona.memory.importItems');
          return null;
        },
        exportDocumentList: async ({ kb }) => {
          await vscode.commands.executeCommand('persona.memory.exportDocumentList', this.inScope(kb));
          return null;
        },
        importDocumentList: async () => {
          await vscode.commands.executeCommand('persona.memory.importDocumentList');
          return null;
        },
      },
    });
    this.host.attach(this.panel.webview);
    this.disposables.push(
      this.host,
      this.panel.onDidDispose(() => this.dispose()),
      memory.onDidChange(() => this.schedule()),
      memory.items.onDidChange(() => this.schedule()),
      deps.onDidChangePersona(() => {
        const id = deps.persona().id;
        if (id === this.personaId) return;
        this.personaId = id;
        this.schedule();
      }),
    );
  }

  /** Only a knowledge base the persona draws on can be read from the panel. */
  private inScope(kb: string): string {
    if (!this.deps.memory.scopeOf(this.deps.persona().id).includes(kb)) throw new ActionError('gone', 'That knowledge base is not in scope for this persona any more.');
    return kb;
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.push();
    }, UPDATE_MS);
  }

  private async push(): Promise<void> {
    if (!this.host.isReady) return;
    try {
      this.host.notify(MemoryPanelProtocol.notifications.state, await this.deps.memory.panelState(this.deps.persona()));
    } catch (e) {
      this.deps.log.warn(`Memory panel: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private dispose(): void {
    clearTimeout(this.timer);
    for (const d of this.disposables.splice(0)) d.dispose();
    if (MemoryPanel.current === this) MemoryPanel.current = undefined;
  }
}
