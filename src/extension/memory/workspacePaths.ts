// Where a file of the workspace is in memory and back: a source is workspace-relative with '/'
// (prefixed by the folder's name in a multi-root workspace), else the absolute path. Also which
// globs are excluded and which .gitignore applies to a picked path.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { setting } from '../config';

/** A file's name in memory: workspace-relative with '/' (prefixed by the folder in a multi-root workspace), else absolute. */
export function sourceOf(uri: vscode.Uri): string {
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  if (!folder) return uri.fsPath.split(path.sep).join('/');
  const rel = path.relative(folder.uri.fsPath, uri.fsPath).split(path.sep).join('/');
  return (vscode.workspace.workspaceFolders?.length ?? 0) > 1 ? `${folder.name}/${rel}` : rel;
}

/** The file a source names, or undefined when it is not inside the workspace (or not absolute). */
export function uriOf(source: string): vscode.Uri | undefined {
  if (path.isAbsolute(source)) return vscode.Uri.file(source);
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (source.split('/').includes('..')) return undefined;
  if (folders.length === 1) return vscode.Uri.joinPath(folders[0]!.uri, source);
  const [first, ...rest] = source.split('/');
  const folder = folders.find((f) => f.name === first);
  return folder && rest.length > 0 ? vscode.Uri.joinPath(folder.uri, ...rest) : undefined;
}

/** The folder a file that is a link must point inside when memory reads it: its workspace folder. */
export function rootOf(uri: vscode.Uri): { root?: string } {
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  return folder ? { root: folder.uri.fsPath } : {};
}

/** VS Code's `files.exclude` (the entries that are on) and `persona.rag.exclude`. */
export function excludeGlobs(): string[] {
  const filesExclude = vscode.workspace.getConfiguration('files').get<Record<string, unknown>>('exclude') ?? {};
  return [...Object.entries(filesExclude).filter(([, on]) => on === true).map(([glob]) => glob), ...setting('rag.exclude')];
}

/** Picked paths by the folder whose .gitignore applies: their workspace folder, or their own directory. */
export function groupByRoot(uris: vscode.Uri[]): Map<string, vscode.Uri[]> {
  const groups = new Map<string, vscode.Uri[]>();
  for (const uri of uris) {
    const root = vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath ?? path.dirname(uri.fsPath);
    groups.set(root, [...(groups.get(root) ?? []), uri]);
  }
  return groups;
}
