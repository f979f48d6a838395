// Persona: Show What Was Sent, and each reply's "What was sent" action: the request that produced a
// reply, as a read-only Markdown document (a virtual `persona-sent:` one, never a file) shown in
// VS Code's Markdown preview, which renders no script and runs no command link.
import * as vscode from 'vscode';
import type { ChatService } from '../../chat/chatService';
import { sentReport } from '../../chat/sentReport';
import { showInfo } from '../notify';
import type { Conversation } from '../../shared/conversation';
import type { ResolvedRecord } from '../../chat/sentRecords';

export const SENT_SCHEME = 'persona-sent';

export class SentView implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly documents = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly registration: vscode.Disposable;

  constructor(private readonly chat: ChatService) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(SENT_SCHEME, this);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.documents.get(uri.toString()) ?? '# What was sent\n\nThis record is no longer open. Show it again from its reply.\n';
  }

  /** Opens what was sent for a reply of the active chat (its latest reply when no id is given). */
  async show(messageId?: string): Promise<void> {
    const { conversation, record, messageId: id } = await this.chat.sentFor(messageId);
    if (!id) {
      void showInfo('There is no reply in this chat yet: send a message first.');
      return;
    }
    if (!record) {
      void showInfo('Nothing was kept for this reply: it was written before Persona kept requests, or it failed before reaching the server.');
      return;
    }
    await this.showRecord(conversation, record);
  }

  /** Opens a record already read (a compared reply's, say). */
  async showRecord(conversation: Conversation, record: ResolvedRecord | undefined): Promise<void> {
    if (!record) {
      void showInfo('Nothing was kept for this reply: it failed before reaching the server.');
      return;
    }
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const text = sentReport(record, conversation, this.chat.personaName(conversation.personaId), (source, line) =>
      folder ? vscode.Uri.joinPath(folder, ...source.split('/')).with({ fragment: `L${line}` }).toString() : undefined,
    );
    const uri = vscode.Uri.from({ scheme: SENT_SCHEME, path: `/${conversation.id}/${record.messageId}/What was sent.md` });
    this.documents.set(uri.toString(), text);
    this.changed.fire(uri);
    await vscode.commands.executeCommand('markdown.showPreview', uri);
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
    this.documents.clear();
  }
}
