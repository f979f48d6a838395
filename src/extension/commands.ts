// The palette commands. Each is registered once, in `activate`, and disposed with the extension.
import * as vscode from 'vscode';
import type { ChatService } from '../chat/chatService';
import { deleteCharacter, exportCharacterCard, importCharacterCard } from './characters/characterCommands';
import { importConversationFile, type ChatViewProvider } from './chat/chatViewProvider';
import type { PersonaRegistry } from '../characters/personaRegistry';
import type { ApiKeyStore } from '../chat/apiKeys';
import { endpointSettings, setting } from './config';
import { endpointKeyName } from '../chat/endpoints';
import { confirmKeyInTheClear, guardedCommand, personaPickText, showInfo, showWarning } from './notify';
import { inertText } from '../util/inertText';
import { chooseModel, pickModel } from './chat/modelPicker';
import { searchChats } from './chat/chatSearch';
import { describeError } from '../chat/userMessages';

export function registerCommands(deps: {
  chat: ChatService;
  view: ChatViewProvider;
  personas: PersonaRegistry;
  keys: ApiKeyStore;
  log: vscode.LogOutputChannel;
}): vscode.Disposable[] {
  const { chat, view, keys, log } = deps;
  const guarded = guardedCommand(log, 'Command');

  return [
    vscode.commands.registerCommand(
      'persona.switchCharacter',
      guarded(async () => {
        const activeId = chat.persona().id;
        type Item = vscode.QuickPickItem & { id: string };
        const items: Item[] = chat.personasForPicker().map((p) => ({
          id: p.id,
          ...personaPickText(p),
          description: p.id === activeId ? '(active)' : undefined,
          picked: p.id === activeId,
        }));
        const picked = await vscode.window.showQuickPick(items, {
          title: 'Switch Character',
          placeHolder: 'Choose who you want to chat with',
          matchOnDetail: true,
        });
        if (!picked) return;
        await chat.selectPersona(picked.id);
        await view.focus();
      }),
    ),
    vscode.commands.registerCommand(
      'persona.newChat',
      guarded(async () => {
        await chat.newConversation();
        await view.focus();
      }),
    ),
    vscode.commands.registerCommand('persona.focusChat', guarded(() => view.focus())),
    vscode.commands.registerCommand('persona.chat.search', guarded(() => searchChats(chat, view, log))),
    vscode.commands.registerCommand('persona.chat.import', guarded(() => importConversationFile(chat, view))),
    vscode.commands.registerCommand('persona.chat.selectModel', guarded(() => pickModel(chat, describeError))),
    vscode.commands.registerCommand(
      'persona.chat.selectDefaultModel',
      guarded(async () => {
        const cloud = setting('chat.provider') === 'cloud';
        const key = cloud ? 'cloud.model' : 'chat.model';
        const current = setting(key).trim();
        const chosen = await chooseModel(chat, describeError, {
          title: `Default model for every chat (persona.${key})`,
          current: current || undefined,
          ...(current && !cloud ? { fallback: 'the model the server has loaded' } : {}),
        });
        if (!chosen) return;
        await vscode.workspace.getConfiguration('persona').update(key, chosen.model ?? '', vscode.ConfigurationTarget.Global);
        void showInfo(chosen.model ? `Every chat now uses ${chosen.model}, unless its persona or the chat names another.` : 'Every chat now uses the model the server has loaded, unless its persona or the chat names another.');
      }),
    ),
    vscode.commands.registerCommand(
      'persona.chat.selectServer',
      guarded(async () => {
        const current = setting('chat.provider').trim().toLowerCase() || 'local';
        const { endpoints, problems } = endpointSettings();
        type Item = vscode.QuickPickItem & { value: string };
        const mark = (value: string) => (value.toLowerCase() === current ? '$(check) ' : '');
        const items: Item[] = [
          { value: 'local', label: `${mark('local')}LM Studio (local)`, description: inertText(setting('chat.baseUrl')) },
          { value: 'cloud', label: `${mark('cloud')}Cloud endpoint`, description: inertText(setting('cloud.baseUrl')) },
          ...endpoints.map((e) => ({ value: e.name, label: `${mark(e.name)}${inertText(e.name)}`, description: inertText(e.baseUrl), detail: e.model ? inertText(`model ${e.model}`) : undefined })),
        ];
        const picked = await vscode.window.showQuickPick(items, {
          title: 'Select Chat Server',
          placeHolder: endpoints.length ? 'Where Persona sends your messages' : 'Add named endpoints in the persona.endpoints setting',
        });
        if (problems.length) void showWarning(problems.join(' '));
        if (!picked) return;
        await vscode.workspace.getConfiguration('persona').update('chat.provider', picked.value, vscode.ConfigurationTarget.Global);
      }),
    ),
    vscode.commands.registerCommand(
      'persona.setEndpointKey',
      guarded(async () => {
        const { endpoints } = endpointSettings();
        if (endpoints.length === 0) {
          void showInfo('There are no named endpoints: add one to the persona.endpoints setting (a name and a baseUrl) first.');
          return;
        }
        const picked = await vscode.window.showQuickPick(
          endpoints.map((e) => ({ endpoint: e, label: inertText(e.name), description: inertText(e.baseUrl) })),
          { title: 'Set API Key for an Endpoint', placeHolder: 'Which endpoint' },
        );
        if (!picked) return;
        const key = await vscode.window.showInputBox({
          title: inertText(`Persona: API Key for ${picked.endpoint.name}`),
          prompt: `The key for ${inertText(picked.endpoint.baseUrl)}. It is kept in VS Code's secret storage and sent only there. Empty: remove the key.`,
          password: true,
          ignoreFocusOut: true,
        });
        if (key === undefined) return;
        if (!key.trim()) {
          await keys.delete(endpointKeyName(picked.endpoint.name));
          void showInfo(`The key of ${picked.endpoint.name} was removed.`);
          return;
        }
        if (!(await confirmKeyInTheClear(picked.endpoint.baseUrl))) return;
        await keys.set(endpointKeyName(picked.endpoint.name), key.trim(), picked.endpoint.baseUrl);
        log.info(`The key of the endpoint ${picked.endpoint.name} was set.`);
        void showInfo(`Key saved for ${picked.endpoint.name}.`);
      }),
    ),
    vscode.commands.registerCommand(
      'persona.setApiKey',
      guarded(async () => {
        const baseUrl = setting('cloud.baseUrl');
        const key = await vscode.window.showInputBox({
          title: 'Persona: API Key for the Cloud Provider',
          prompt: `The key for ${inertText(baseUrl)}. It is kept in VS Code's secret storage, never in settings.`,
          password: true,
          ignoreFocusOut: true,
          validateInput: (v) => (v.trim() ? undefined : 'Enter a key, or press Escape to cancel.'),
        });
        if (!key) return;
        if (!(await confirmKeyInTheClear(baseUrl))) return;
        await keys.set('cloud', key.trim(), baseUrl);
        log.info('The cloud API key was set.');
        if (setting('chat.provider') !== 'cloud') {
          const choice = await showInfo('Key saved. Persona chats through the local server now. Use the cloud provider?', 'Use Cloud Provider', 'Keep Local');
          if (choice === 'Use Cloud Provider') await vscode.workspace.getConfiguration('persona').update('chat.provider', 'cloud', vscode.ConfigurationTarget.Global);
        } else {
          void showInfo('Key saved.');
        }
      }),
    ),
    vscode.commands.registerCommand(
      'persona.clearApiKey',
      guarded(async () => {
        await keys.delete('cloud');
        log.info('The cloud API key was removed.');
        void showInfo('The cloud API key was removed.');
      }),
    ),
    vscode.commands.registerCommand('persona.showLog', () => log.show()),
    vscode.commands.registerCommand('persona.character.import', guarded(() => importCharacterCard(deps))),
    vscode.commands.registerCommand('persona.character.export', guarded(() => exportCharacterCard(deps))),
    vscode.commands.registerCommand('persona.character.delete', guarded(() => deleteCharacter(deps))),
  ];
}
