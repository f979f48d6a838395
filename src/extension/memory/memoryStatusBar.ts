// The status bar item while memory indexes or is paused; a click opens Show Memory Status.
import * as vscode from 'vscode';
import type { IndexingProgress } from '../../rag/indexingQueue';
import { inertText } from '../../util/inertText';

export class MemoryStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor() {
    this.item = vscode.window.createStatusBarItem('persona.memory', vscode.StatusBarAlignment.Left, 0);
    this.item.name = 'Persona Memory';
    this.item.command = 'persona.memory.showStatus';
  }

  show(p: IndexingProgress | undefined): void {
    if (p?.state === 'running') {
      this.item.text = `$(sync~spin) Memory ${p.done}/${p.total}`;
      this.item.tooltip = inertText(`Persona is adding files to memory${p.current ? ` (${p.current})` : ''}. Click for options.`);
      this.item.show();
    } else if (p?.state === 'paused') {
      this.item.text = '$(debug-pause) Memory paused';
      this.item.tooltip = inertText(`${p.pausedReason ?? 'Indexing is paused.'} Click to try again now.`);
      this.item.show();
    } else {
      this.item.hide();
    }
  }

  dispose(): void {
    this.item.dispose();
  }
}
