// Files in memory that change or go away are indexed again or removed, in every knowledge base that
// holds them (a setting; never in Restricted Mode). No watcher until a folder is open.
import * as vscode from 'vscode';
import type { Logger } from '../../util/logger';
import { setting } from '../config';
import { rootOf, sourceOf } from './workspacePaths';

/** What the watcher needs of memory: what it holds, and the service once memory was opened. */
export interface WatchedMemory {
  /** Sources in memory and the knowledge bases holding each; undefined until memory was looked at. */
  sources(): ReadonlyMap<string, readonly string[]> | undefined;
  /** The memory service, once something opened memory (never opened: nothing to keep in step). */
  openedService(): { add(files: { absPath: string; source: string; root?: string }[], kb: string): Promise<void>; remove(source: string, kb: string): Promise<void> } | undefined;
}

export function watchWorkspaceFiles(memory: WatchedMemory, log: Logger): vscode.Disposable {
  const disposables: vscode.Disposable[] = [];
  const onChange = (uri: vscode.Uri, deleted: boolean): void => {
    const documents = memory.sources();
    const service = memory.openedService();
    if (!vscode.workspace.isTrusted || !setting('rag.syncWithWorkspace') || !service || !documents) return;
    const source = sourceOf(uri);
    const inMemory = [...documents.keys()].filter((d) => d === source || d.startsWith(`${source}/`));
    for (const s of inMemory) {
      for (const kb of documents.get(s) ?? []) {
        if (deleted) void service.remove(s, kb).catch((e: Error) => log.warn(`Could not remove ${s} from memory: ${e.message}`));
        else if (s === source) void service.add([{ absPath: uri.fsPath, source, ...rootOf(uri) }], kb).catch((e: Error) => log.warn(`Could not re-index ${source}: ${e.message}`));
      }
    }
  };
  const start = (): void => {
    const watcher = vscode.workspace.createFileSystemWatcher('**/*');
    disposables.push(
      watcher,
      watcher.onDidChange((u) => onChange(u, false)),
      watcher.onDidCreate((u) => onChange(u, false)),
      watcher.onDidDelete((u) => onChange(u, true)),
    );
  };
  if (vscode.workspace.workspaceFolders?.length) {
    start();
  } else {
    const opened = vscode.workspace.onDidChangeWorkspaceFolders(() => {
      if (!vscode.workspace.workspaceFolders?.length) return;
      opened.dispose();
      start();
    });
    disposables.push(opened);
  }
  return { dispose: () => disposables.splice(0).forEach((d) => d.dispose()) };
}
