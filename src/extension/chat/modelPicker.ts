// Persona: Select Model…, and the Model control in the view's header: the server's chat models in a
// quick pick (an embeddings model is never offered), with load state, context and quantization, a
// Refresh button, and "the default" to take the chat's own choice away. Every word from the server
// goes through inertText: a model id is the server's text.
import * as vscode from 'vscode';
import type { ChatService } from '../../chat/chatService';
import type { ModelInfo } from '../../providers/types';
import { inertText } from '../../util/inertText';
import { ORIGIN_LABELS } from '../../shared/sampling';

type Item = vscode.QuickPickItem & { model?: string; clear?: true };

/** Shows the picker for the active chat; resolves when the person picked (the chat's model is set) or closed it. */
export async function pickModel(chat: ChatService, describeError: (e: unknown) => string): Promise<void> {
  const current = chat.effectiveSettings().model;
  const chosen = await chooseModel(chat, describeError, {
    title: 'Model for this chat',
    current: current.value,
    fallback: current.origin === 'chat' ? (current.below?.value ? `${current.below.value}, from ${ORIGIN_LABELS[current.below.origin]}` : 'the model the server has loaded') : undefined,
  });
  if (!chosen) return;
  await chat.setChatSetting('model', chosen.model ?? null);
}

/**
 * The server's chat models in a quick pick. Resolves to the id picked, to `{}` for "Use the default"
 * (offered when `fallback` says what the default is), or undefined when closed.
 */
export async function chooseModel(
  chat: ChatService,
  describeError: (e: unknown) => string,
  options: { title: string; current?: string | undefined; fallback?: string | undefined },
): Promise<{ model?: string } | undefined> {
  const pick = vscode.window.createQuickPick<Item>();
  pick.title = options.title;
  pick.placeholder = 'Choose a model';
  pick.matchOnDescription = true;
  pick.matchOnDetail = true;
  pick.buttons = [{ iconPath: new vscode.ThemeIcon('refresh'), tooltip: 'Refresh the list of models' }];

  const load = async () => {
    pick.busy = true;
    pick.items = [];
    try {
      const models = await chat.listChatModels(AbortSignal.timeout(15_000));
      pick.items = items(models, options.current, options.fallback);
      const active = pick.items.find((i) => i.model !== undefined && i.model === options.current);
      if (active) pick.activeItems = [active];
      if (models.length === 0) pick.placeholder = 'The server lists no chat models: download one in LM Studio, then refresh';
    } catch (e) {
      pick.items = [modelListFailure(describeError(e))];
    } finally {
      pick.busy = false;
    }
  };

  pick.onDidTriggerButton(() => void load());
  void load();
  const chosen = await acceptOne(pick, (item) => item.model !== undefined || item.clear === true);
  if (!chosen) return undefined;
  return chosen.clear ? {} : { model: chosen.model! };
}

/**
 * Shows `pick` and resolves with the first accepted item `acceptable` takes (others, like an error
 * row, are not), or undefined when it is closed; then disposes it.
 *
 * The pick stays open when focus moves away: run from the command palette while the chat view had
 * focus, VS Code hands focus back to the view as the palette closes, and the view's iframe can take
 * it a moment after this pick opened, which closed the pick before the person saw it
 * (microsoft/vscode#93950; seen in the end-to-end tests under load). Escape still closes it.
 */
export async function acceptOne<T extends vscode.QuickPickItem>(pick: vscode.QuickPick<T>, acceptable: (item: T) => boolean): Promise<T | undefined> {
  pick.ignoreFocusOut = true;
  const chosen = await new Promise<T | undefined>((resolve) => {
    pick.onDidAccept(() => {
      const [item] = pick.selectedItems;
      if (item && acceptable(item)) {
        resolve(item);
        pick.hide();
      }
    });
    pick.onDidHide(() => resolve(undefined));
    pick.show();
  });
  pick.dispose();
  return chosen;
}

/** The row a model list shows when the server could not be asked. */
export function modelListFailure(message: string): vscode.QuickPickItem {
  return { label: '$(error) Could not list the models', detail: inertText(message), alwaysShow: true };
}

function items(models: ModelInfo[], current: string | undefined, fallback: string | undefined): Item[] {
  const out: Item[] = models.map((m) => ({
    model: m.id,
    label: `${m.id === current ? '$(check) ' : ''}${inertText(m.id)}`,
    description: inertText(stateText(m)),
    detail: inertText(detailText(m)),
  }));
  if (fallback !== undefined) {
    out.push({ label: '', kind: vscode.QuickPickItemKind.Separator }, { clear: true, label: '$(discard) Use the default', description: inertText(fallback) });
  }
  return out;
}

function stateText(m: ModelInfo): string {
  if (m.state === 'loaded') return m.loadedContextLength ? `loaded · context ${m.loadedContextLength.toLocaleString('en-US')} tokens` : 'loaded';
  if (m.state === 'not-loaded') return 'not loaded · loads on first use (this can take a while)';
  return '';
}

function detailText(m: ModelInfo): string {
  const parts = [m.type === 'vlm' ? 'vision' : undefined, m.arch, m.quantization, m.maxContextLength ? `up to ${m.maxContextLength.toLocaleString('en-US')} tokens` : undefined, m.publisher];
  return parts.filter(Boolean).join(' · ');
}
