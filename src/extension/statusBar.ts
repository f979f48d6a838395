// The status-bar item: the active persona; a click switches it.
import * as vscode from 'vscode';
import type { ChatService } from '../chat/chatService';
import { inertText } from '../util/inertText';

export function createPersonaStatusBar(chat: ChatService): vscode.Disposable {
  const item = vscode.window.createStatusBarItem('persona.activePersona', vscode.StatusBarAlignment.Right, 100);
  item.name = 'Persona';
  item.command = 'persona.switchCharacter';
  const update = () => {
    const persona = chat.persona();
    item.text = inertText(`${persona.icon} ${persona.name}`);
    item.tooltip = new vscode.MarkdownString(`**Persona:** ${escapeMarkdown(persona.name)}\n\n${escapeMarkdown(persona.description)}\n\nClick to switch character.`);
    item.accessibilityInformation = { label: `Persona: ${persona.name}. Switch character.`, role: 'button' };
  };
  update();
  item.show();
  const listener = chat.onDidChangeState(update);
  return vscode.Disposable.from(item, listener);
}

function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
