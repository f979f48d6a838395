// Persona: Compare…: the same message, with the same history, to the chat as it is and to one other
// set-up (a model, a preset or another persona), the two replies streaming side by side in an editor
// panel, each with its stats and what was sent. One request after the other: a local server runs
// one at a time. Keeping a reply puts the message and that reply in the chat.
import * as vscode from 'vscode';
import type { ChatService, CompareSetup, Comparison } from '../../chat/chatService';
import type { PresetStore } from '../../chat/presets';
import { CompareProtocol, type CompareNotifications, type CompareRequests, type CompareState } from '../../shared/compareProtocol';
import { describeErrorForView } from '../../chat/userMessages';
import { inertText } from '../../util/inertText';
import type { Logger } from '../../util/logger';
import { WebviewHost } from '../webviewHost';
import { showError } from '../notify';
import { describePreset } from './presetCommands';
import { acceptOne, modelListFailure } from './modelPicker';
import type { SentView } from './sentView';

const UPDATE_MS = 50;

type SetupItem = vscode.QuickPickItem & { setup?: CompareSetup };

export interface CompareDeps {
  chat: ChatService;
  presets: PresetStore;
  sentView: SentView;
  extensionUri: vscode.Uri;
  log: Logger;
  describeError(e: unknown): string;
  focusChat(): Promise<void>;
}

export async function runCompare(deps: CompareDeps): Promise<void> {
  const { chat } = deps;
  const setup = await pickSetup(deps);
  if (!setup) return;
  const text = await vscode.window.showInputBox({
    title: inertText(`Compare: this chat and ${setup.label}`),
    prompt: 'The message both will answer, with this chat’s history',
    placeHolder: 'Your message',
    validateInput: (v) => (v.trim() ? undefined : 'Write the message to send to both.'),
  });
  if (!text?.trim()) return;
  const current = chat.effectiveSettings().model.value;
  const first: CompareSetup = { label: `This chat${current ? ` (${current})` : ''}` };
  new ComparePanel(deps, [first, setup], text);
}

async function pickSetup(deps: CompareDeps): Promise<CompareSetup | undefined> {
  const { chat } = deps;
  const pick = vscode.window.createQuickPick<SetupItem>();
  pick.title = 'Compare this chat with…';
  pick.placeholder = 'Another model, a preset, or another persona';
  pick.matchOnDescription = true;
  pick.busy = true;
  const persona = chat.persona();
  const presets = (await deps.presets.list()).map<SetupItem>((p) => ({ label: inertText(`Preset: ${p.name}`), description: inertText(describePreset(p.settings)), setup: { label: `Preset: ${p.name}`, overrides: p.settings } }));
  const personas = chat
    .personasForPicker()
    .filter((p) => p.id !== persona.id)
    .map<SetupItem>((p) => ({ label: inertText(`Persona: ${p.icon} ${p.name}`), description: inertText(p.description), setup: { label: `Persona: ${p.name}`, personaId: p.id } }));
  const build = (models: SetupItem[]) => [
    { label: 'Models', kind: vscode.QuickPickItemKind.Separator },
    ...models,
    { label: 'Presets', kind: vscode.QuickPickItemKind.Separator },
    ...presets,
    { label: 'Personas', kind: vscode.QuickPickItemKind.Separator },
    ...personas,
  ];
  pick.items = build([]);
  // The models arrive while the person may already be choosing: setting the items again moves the
  // highlight to the first row, and Enter would take that one. The highlighted choice stays.
  const setItems = (items: (SetupItem | vscode.QuickPickItem)[]) => {
    const active = pick.activeItems[0]?.setup?.label;
    pick.items = items as SetupItem[];
    const same = active === undefined ? undefined : pick.items.find((i) => i.setup?.label === active);
    if (same) pick.activeItems = [same];
  };
  const current = chat.effectiveSettings().model.value;
  void chat
    .listChatModels(AbortSignal.timeout(15_000))
    .then((models) => {
      setItems(
        build(
          models
            .filter((m) => m.id !== current)
            .map((m) => ({ label: inertText(`Model: ${m.id}`), description: m.state === 'not-loaded' ? 'not loaded · loads on first use' : undefined, setup: { label: `Model: ${m.id}`, overrides: { model: m.id } } })),
        ),
      );
    })
    .catch((e: unknown) => {
      setItems(build([modelListFailure(deps.describeError(e))]));
    })
    .finally(() => (pick.busy = false));
  return (await acceptOne(pick, (item) => item.setup !== undefined))?.setup;
}

class ComparePanel {
  private readonly panel: vscode.WebviewPanel;
  private readonly host: WebviewHost<typeof CompareRequests, typeof CompareNotifications>;
  private readonly abort = new AbortController();
  private comparison: Comparison | undefined;
  private kept: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly deps: CompareDeps,
    private readonly setups: CompareSetup[],
    private readonly text: string,
  ) {
    this.panel = vscode.window.createWebviewPanel('persona.compare', 'Compare', { viewColumn: vscode.ViewColumn.Active }, { enableScripts: true, retainContextWhenHidden: true });
    this.panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'persona.svg');
    this.host = new WebviewHost({
      protocol: CompareProtocol,
      extensionUri: deps.extensionUri,
      script: 'compare.js',
      // The chat's stylesheet for the replies themselves; compare.css lays out the panel.
      style: ['chat.css', 'compare.css'],
      title: 'Compare',
      rootId: 'compare',
      logger: deps.log,
      describeError: describeErrorForView,
      handlers: {
        ready: async () => this.state(),
        keep: async ({ column }) => {
          if (!this.comparison) throw new Error('The replies are not there yet.');
          await deps.chat.keepCompared(this.comparison, column);
          this.kept = column;
          this.push();
          await deps.focusChat();
          return null;
        },
        showSent: async ({ column }) => {
          if (!this.comparison) return null;
          const { conversation, record } = await deps.chat.sentForCompared(this.comparison, column);
          await deps.sentView.showRecord(conversation, record);
          return null;
        },
        stop: async () => {
          this.abort.abort();
          return null;
        },
      },
    });
    this.host.attach(this.panel.webview);
    this.disposables.push(
      this.host,
      this.panel.onDidDispose(() => this.dispose()),
      deps.chat.onDidChangeState(() => this.push()),
    );
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      this.comparison = await this.deps.chat.compare(this.text, this.setups, (c) => {
        this.comparison = c;
        this.schedule();
      }, this.abort.signal);
      this.push();
    } catch (e) {
      // Refused before anything was sent (a reply still being written, an empty message).
      this.panel.dispose();
      void showError(this.deps.describeError(e));
    }
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.push();
    }, UPDATE_MS);
  }

  private push(): void {
    if (this.host.isReady) this.host.notify(CompareProtocol.notifications.state, this.state());
  }

  private state(): CompareState {
    const c = this.comparison;
    const chat = this.deps.chat;
    return {
      personaName: chat.personaName(chat.activeConversation.personaId),
      text: this.text.trim(),
      columns: this.setups.map((setup, i) => {
        const column = c?.columns[i];
        return {
          label: setup.label,
          status: column?.status ?? 'waiting',
          reply: column ? { ...column.reply } : { id: `waiting-${i}`, role: 'assistant', content: '', createdAt: 0, status: 'streaming' },
        };
      }),
      ...(this.kept !== undefined ? { kept: this.kept } : {}),
      canKeep: this.kept === undefined && c !== undefined && chat.canKeep(c),
    };
  }

  private dispose(): void {
    this.abort.abort();
    clearTimeout(this.timer);
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
