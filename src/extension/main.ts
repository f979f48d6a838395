// Entry point. Activation stays light: personas are five small files, conversations are read when
// the view first asks, the tokenizer loads on the first message.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { OpenAiCompatibleChatClient } from '../providers/chatClient';
import type { ChatProvider } from '../providers/types';
import { registerCharacterBuilder } from './characters/characterBuilder';
import { ChatService, UserFacingError, type ChatSettings } from '../chat/chatService';
import { ChatViewProvider } from './chat/chatViewProvider';
import { registerCommands } from './commands';
import { CONNECTION_SETTINGS, chatSettings, endpointSettings, setting } from './config';
import { ConversationStore } from '../chat/conversationStore';
import { SentRecordStore } from '../chat/sentRecords';
import { SentView } from './chat/sentView';
import { PresetStore } from '../chat/presets';
import { applyPreset, savePreset } from './chat/presetCommands';
import { chooseModel } from './chat/modelPicker';
import { runCompare } from './chat/comparePanel';
import { CustomPersonaStore } from '../characters/customPersonaStore';
import { FilePreferences } from '../chat/filePreferences';
import { PersonaRegistry } from '../characters/personaRegistry';
import { ApiKeyStore, originOf } from '../chat/apiKeys';
import { endpointKeyName } from '../chat/endpoints';
import { createPersonaStatusBar } from './statusBar';
import { describeError } from '../chat/userMessages';
import { importPrepared } from './characters/characterCommands';
import { tryPrepareImport } from '../characters/cardImport';
import { handleDrop } from './chat/fileDrop';
import { registerMemoryCommands } from './memory/memoryCommands';
import { TeamMemorySetup } from './memory/teamMemory';
import { MemoryController } from './memory/memoryController';
import { MemoryPanel } from './memory/memoryPanel';
import { watchWorkspaceFiles } from './memory/workspaceWatcher';
import { countTokens } from '../util/tokenizer/countTokens';
import { guardedCommand, showError, showWarning } from './notify';

/** What deactivate() must finish before the extension host goes away. */
let memoryToClose: MemoryController | undefined;
let conversationsToClose: ConversationStore | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('Persona', { log: true });
  context.subscriptions.push(log);
  try {
    // Global storage: custom personas follow the person across workspaces.
    const customPersonas = new CustomPersonaStore(path.join(context.globalStorageUri.fsPath, 'personas'), log);
    const personas = await PersonaRegistry.load(context.asAbsolutePath('characters'), log, customPersonas);
    const storageRoot = context.storageUri ?? vscode.Uri.joinPath(context.globalStorageUri, 'no-workspace');
    const store = new ConversationStore(path.join(storageRoot.fsPath, 'conversations'), log);
    conversationsToClose = store;
    const preferences = await FilePreferences.load(path.join(storageRoot.fsPath, 'preferences.json'), log);
    const keys = new ApiKeyStore(context.secrets);
    const providers = new ProviderCache(keys, log);
    // Memory is per workspace; with no folder open there is none. Nothing of LanceDB loads here.
    // One writer of the team memory per machine and workspace (its own table in the bucket).
    const team = new TeamMemorySetup(context.secrets, context.storageUri?.toString() ?? 'no-workspace');
    context.subscriptions.push(team);
    const memory = new MemoryController(context.storageUri?.fsPath, keys, log, (id) => personas.get(id)?.name ?? id, context.globalStorageUri.fsPath, context.globalState, team);
    context.subscriptions.push(memory);
    memoryToClose = memory;

    const chat = new ChatService({
      store,
      personas,
      preferences,
      settings: chatSettings,
      createProvider: (s) => providers.get(s),
      countTokens,
      describeError,
      logger: log,
      memory,
      sentRecords: new SentRecordStore(path.join(storageRoot.fsPath, 'sent-requests'), log),
    });
    await chat.init();
    context.subscriptions.push(chat, memory.onDidForget((what) => chat.forget(what)));

    const sentView = new SentView(chat);
    const presets = new PresetStore(path.join(context.globalStorageUri.fsPath, 'presets.json'), log);
    const presetFlows = {
      save: () => savePreset(chat, presets),
      apply: () => applyPreset(chat, presets, (id) => personas.isBuiltIn(id)),
    };
    context.subscriptions.push(sentView);
    const view: ChatViewProvider = new ChatViewProvider(context.extensionUri, chat, log, {
      openCitation: (c) => memory.openCitation(c),
      addFiles: () => memory.addFiles(),
      remember: async (messageId) => void (await memory.items.remember(chat.rememberSource(messageId), 'message')),
      showPanel: async () => void (await vscode.commands.executeCommand('persona.memory.showPanel')),
      memoriesFrom: async (personaId, conversationId) => (await memory.items.service().fromConversation(personaId, conversationId)).length,
      forgetMemoriesFrom: (personaId, conversationId) => memory.items.forgetFromConversation(personaId, conversationId),
      dropFiles: (dropped) =>
        handleDrop(dropped, {
          memory,
          importCard: (prepared, fileName) => importPrepared({ chat, view, personas, log }, prepared, fileName),
          prepareCard: (bytes, fileName) => tryPrepareImport(bytes, { fileName, taken: (id) => personas.get(id) !== undefined }),
          uploadsDir: memory.uploadsDir,
        }),
    }, {
      showSent: (messageId) => sentView.show(messageId),
      savePreset: presetFlows.save,
      applyPreset: presetFlows.apply,
      compare: async () => void (await vscode.commands.executeCommand('persona.chat.compare')),
    });
    context.subscriptions.push(
      vscode.window.registerWebviewViewProvider(ChatViewProvider.viewType, view),
      view,
      ...registerCommands({ chat, view, personas, keys, log }),
      vscode.commands.registerCommand('persona.chat.savePreset', guardedCommand(log, 'Save Preset')(presetFlows.save)),
      vscode.commands.registerCommand('persona.chat.applyPreset', guardedCommand(log, 'Apply Preset')(presetFlows.apply)),
      vscode.commands.registerCommand(
        'persona.chat.compare',
        guardedCommand(log, 'Compare')(() => runCompare({ chat, presets, sentView, extensionUri: context.extensionUri, log, describeError, focusChat: () => view.focus() })),
      ),
      vscode.commands.registerCommand(
        'persona.memory.showPanel',
        guardedCommand(log, 'Memory Panel')(async () => MemoryPanel.show({ memory, persona: () => chat.persona(), onDidChangePersona: (l) => chat.onDidChangeState(l), extensionUri: context.extensionUri, log })),
      ),
      vscode.commands.registerCommand(
        'persona.memory.chooseProposals',
        guardedCommand(log, 'Propose Memories')(async () => {
          const p = chat.persona();
          await memory.items.chooseProposalMode(p.id, p.name);
        }),
      ),
      vscode.commands.registerCommand('persona.chat.showContext', guardedCommand(log, 'Show What Was Sent')(() => sentView.show())),
      createPersonaStatusBar(chat),
      ...registerMemoryCommands(memory, log, () => chat.persona(), chat),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('persona.endpoints')) warnAboutEndpoints(log);
        if (e.affectsConfiguration('persona.chat') || e.affectsConfiguration('persona.cloud.model') || e.affectsConfiguration('persona.rag')) chat.refreshView();
        if (CONNECTION_SETTINGS.some((k) => e.affectsConfiguration(`persona.${k}`))) {
          log.info('Connection settings changed; checking the server again.');
          providers.clear();
          chat.settingsChanged();
        }
      }),
      keys.onDidChange(() => {
        providers.clear();
        if (setting('chat.provider').trim() !== 'local') chat.settingsChanged();
      }),
    );
    context.subscriptions.push(...registerCharacterBuilder({ extensionUri: context.extensionUri, globalStorageDir: context.globalStorageUri.fsPath, personas, log, countTokens, chatWith: async (id) => (await chat.selectPersona(id), await view.focus()), chooseModel: (title) => chooseModel(chat, describeError, { title, fallback: 'the chat’s default model' }) }));
    context.subscriptions.push(watchWorkspaceFiles(memory, log));
    warnAboutEndpoints(log);
    log.info(`Persona activated in ${Math.round(performance.now() - started)} ms (${personas.list().length} personas).`);
  } catch (e) {
    // VS Code shows nothing when activation fails: say it ourselves.
    log.error(e instanceof Error ? e : String(e));
    void showError(`Persona could not start: ${(e as Error).message}`, 'Show Log').then((c) => c && log.show());
  }
}

/** Named endpoints that cannot be used are said once, when the setting is read or changed. */
function warnAboutEndpoints(log: vscode.LogOutputChannel): void {
  const { problems } = endpointSettings();
  for (const p of problems) log.warn(p);
  if (problems.length > 0) void showWarning(problems.join(' '));
}

/**
 * VS Code waits for this before it disposes the subscriptions: the indexing journal is flushed and
 * LanceDB closed; the conversations' logs are folded into their snapshots and closed.
 */
export async function deactivate(): Promise<void> {
  await Promise.all([memoryToClose?.close(), conversationsToClose?.close()]);
}

/** One client per server and key; rebuilt when the settings or the key change. */
class ProviderCache {
  private cached: { key: string; provider: ChatProvider } | undefined;

  constructor(
    private readonly keys: ApiKeyStore,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  async get(s: ChatSettings): Promise<ChatProvider> {
    let apiKey: string | undefined;
    if (s.endpointName) {
      // A named endpoint: its own key, if it has one (many local servers need none), only for its origin.
      const found = await this.keys.getFor(endpointKeyName(s.endpointName), s.baseUrl);
      if (found.boundTo) {
        throw new UserFacingError(
          `The key of the endpoint "${s.endpointName}" was saved for ${found.boundTo}, so Persona does not send it to ${originOf(s.baseUrl) ?? s.baseUrl}. Run "Persona: Set API Key for an Endpoint…" to save a key for its new address.`,
        );
      }
      apiKey = found.key;
    } else if (s.provider === 'cloud') {
      const found = await this.keys.getFor('cloud', s.baseUrl);
      if (found.boundTo) {
        throw new UserFacingError(
          `The cloud API key was saved for ${found.boundTo}, so Persona does not send it to ${originOf(s.baseUrl) ?? s.baseUrl}. Run "Persona: Set API Key for Cloud Provider…" to save a key for this endpoint.`,
        );
      }
      if (!found.key) throw new UserFacingError('No API key is set for the cloud provider. Run "Persona: Set API Key for Cloud Provider…", or set persona.chat.provider to "local".');
      apiKey = found.key;
    }
    const timeout = setting('chat.requestTimeoutSeconds') * 1000;
    const key = `${s.provider}|${s.endpointName ?? ''}|${s.baseUrl}|${timeout}|${apiKey ?? ''}`;
    if (this.cached?.key !== key) {
      this.cached = {
        key,
        provider: new OpenAiCompatibleChatClient({
          baseUrl: s.baseUrl,
          apiKey,
          label: s.endpointName ? `The endpoint "${s.endpointName}"` : s.provider === 'cloud' ? 'The cloud endpoint' : 'LM Studio',
          logger: this.log,
          requestTimeoutMs: timeout,
          // LM Studio's native /api/v0/models tells the loaded context length; other servers lack it.
          nativeModelsApi: s.provider === 'local',
        }),
      };
    }
    return this.cached.provider;
  }

  clear(): void {
    this.cached = undefined;
  }
}
