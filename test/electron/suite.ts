// Runs inside the VS Code extension host started by runTest.ts.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

export async function run(): Promise<void> {
  const extension = vscode.extensions.getExtension('persona-dev.persona');
  assert.ok(extension, 'Persona is installed');
  assert.equal(extension.isActive, false, 'Persona does not activate on start-up');
  await vscode.commands.executeCommand('persona.focusChat');
  await extension.activate();
  assert.equal(extension.isActive, true);
  const commands = await vscode.commands.getCommands(true);
  for (const id of ['persona.switchCharacter', 'persona.newChat', 'persona.focusChat', 'persona.setApiKey']) {
    assert.ok(commands.includes(id), `${id} is registered`);
  }
}
