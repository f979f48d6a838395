// What a persona remembers from the chat, in VS Code: Remember… (from the palette, prefilled with the
// chat's latest message of the person, or from a message's Remember action), the list of a persona's
// memories with pin, edit and forget, and forgetting all of them. The items themselves (records,
// vectors, recall) are plain Node in src/rag/itemRecall.ts; they live in the extension's global
// storage, so they follow the persona from workspace to workspace.
import * as vscode from 'vscode';
import { EmbeddingsClient } from '../../rag/embeddingsClient';
import { MemoryItems } from '../../rag/itemRecall';
import { MEMORY_ITEM_MAX_CHARS, type MemoryItem, type MemoryItemOrigin } from '../../rag/memoryItems';
import { importMemoryItems, type MemoryItemsImportPlan, type MemoryItemsImportResult } from '../../rag/memoryTransfer';
import { setting } from '../config';
import { inertText } from '../../util/inertText';
import { showInfo, showWarning } from '../notify';
import { PROPOSAL_MODES, type ProposalMode } from '../../shared/conversation';
import { MemoryDialsSchema, type MemoryDialKey, type MemoryDials } from '../../shared/memoryDials';
import { ActionError } from '../../util/actionError';

const PROPOSAL_MODES_KEY = 'persona.memory.proposalModes';
const PERSONA_DIALS_KEY = 'persona.memory.personaDials';

/** Where a memory is taken from: the persona it is for, and the chat and message when there is one. */
export interface RememberContext {
  personaId: string;
  personaName: string;
  conversationId?: string;
  conversationTitle?: string;
  messageId?: string;
  /** The text offered to keep (the message's, or the chat's latest of the person). */
  text?: string;
}

export class ItemsController implements vscode.Disposable {
  private items: MemoryItems | undefined;
  private readonly changed = new vscode.EventEmitter<string>();
  /** Bumped on every change of any persona's memories (the memory panel drops its pages). */
  version = 0;
  /** A persona's memories changed (its id): the memory panel draws them again. */
  readonly onDidChange = this.changed.event;

  constructor(
    /** `<globalStorage>/memory-items`. */
    private readonly dir: string,
    private readonly log: vscode.LogOutputChannel,
    /** The embeddings key: loaded from SecretStorage, then given for a base URL when saved for its origin. */
    private readonly key: { load(): Promise<void>; for(baseUrl: string): { apiKey: string } | Record<string, never> },
    private readonly preferences: vscode.Memento,
    /** Told what was forgotten (the chat takes it out of past replies and of what was sent); awaited. */
    private readonly forgotten: (gone: readonly MemoryItem[]) => Promise<void>,
  ) {
    this.changed.event(() => this.version++);
  }

  /** The persona's own memory dials (kept across workspaces); none set: your settings apply. */
  personaDials(personaId: string): MemoryDials {
    const all = this.preferences.get<Record<string, unknown>>(PERSONA_DIALS_KEY) ?? {};
    const parsed = MemoryDialsSchema.safeParse(all[personaId] ?? {});
    return parsed.success ? parsed.data : {};
  }

  /** Sets (or, with null, takes away) one of the persona's memory dials. */
  async setPersonaDial(personaId: string, key: MemoryDialKey, value: number | boolean | null): Promise<void> {
    const dials: MemoryDials = { ...this.personaDials(personaId) };
    if (value === null) delete dials[key];
    else {
      const parsed = MemoryDialsSchema.shape[key].safeParse(value);
      if (!parsed.success || parsed.data === undefined) throw new ActionError('refused', `That is not a value for ${key}.`);
      Object.assign(dials, { [key]: parsed.data });
    }
    const all = { ...(this.preferences.get<Record<string, unknown>>(PERSONA_DIALS_KEY) ?? {}) };
    if (Object.keys(dials).length > 0) all[personaId] = dials;
    else delete all[personaId];
    await this.preferences.update(PERSONA_DIALS_KEY, all);
    this.changed.fire(personaId);
  }

  /** How the persona proposes memories after a reply; off until the person chooses. */
  proposalMode(personaId: string): ProposalMode {
    const modes = this.preferences.get<Record<string, unknown>>(PROPOSAL_MODES_KEY) ?? {};
    const mode = modes[personaId];
    return PROPOSAL_MODES.includes(mode as ProposalMode) ? (mode as ProposalMode) : 'off';
  }

  async setProposalMode(personaId: string, mode: ProposalMode): Promise<void> {
    const modes = { ...(this.preferences.get<Record<string, unknown>>(PROPOSAL_MODES_KEY) ?? {}) };
    if (mode === 'off') delete modes[personaId];
    else modes[personaId] = mode;
    await this.preferences.update(PROPOSAL_MODES_KEY, modes);
  }

  /** Asks how the persona should propose memories, with what each choice does. */
  async chooseProposalMode(personaId: string, personaName: string): Promise<void> {
    const current = this.proposalMode(personaId);
    type Item = vscode.QuickPickItem & { mode: ProposalMode };
    const items: Item[] = [
      { mode: 'off', label: 'Off', detail: 'Nothing is proposed. Keep facts yourself with Remember on a message.' },
      { mode: 'ask', label: 'Ask me', detail: `After each reply, ${personaName} proposes facts you told it; you keep, edit or dismiss them under the reply.` },
      { mode: 'automatic', label: 'Automatic', detail: `After each reply, ${personaName} keeps the facts you told it, and shows them under the reply.` },
    ].map((i) => ({ ...i, label: inertText(i.label), detail: inertText(i.detail), ...(i.mode === current ? { description: 'current' } : {}) }) as Item);
    const picked = await vscode.window.showQuickPick(items, {
      title: inertText(`How ${personaName} proposes memories`),
      placeHolder: 'Proposing asks the chat model once more after each reply, for the facts worth keeping',
    });
    if (!picked) return;
    await this.setProposalMode(personaId, picked.mode);
    void showInfo(picked.mode === 'off' ? `${personaName} no longer proposes memories.` : picked.mode === 'ask' ? `${personaName} proposes memories after each reply, for you to keep or dismiss.` : `${personaName} keeps what it learns about you after each reply.`);
  }

  /** A proposed memory the person kept (or "automatic" mode kept). */
  async keepProposed(personaId: string, text: string, origin: { conversationId: string; messageId: string; conversationTitle: string }): Promise<void> {
    await this.key.load();
    await this.service().remember(personaId, text, { via: 'message', conversationId: origin.conversationId, messageId: origin.messageId, conversationTitle: origin.conversationTitle.slice(0, 500) });
    this.changed.fire(personaId);
  }

  /** The items service, made on first use (LanceDB loads only when a vector is needed). */
  service(): MemoryItems {
    this.items ??= new MemoryItems({ dir: this.dir, embedder: () => this.embedder(), logger: this.log });
    return this.items;
  }

  private embedder(): EmbeddingsClient {
    const baseUrl = setting('embeddings.baseUrl').trim().replace(/\/+$/, '');
    return new EmbeddingsClient({
      baseUrl,
      model: setting('embeddings.model').trim(),
      ...this.key.for(baseUrl),
      logger: this.log,
      retries: 2,
      retryDelayMs: 250,
      requestTimeoutMs: 20_000,
    });
  }

  /** Asks for the text (prefilled) and keeps it for the persona. Resolves to the item, or undefined when the person cancelled. */
  async remember(context: RememberContext, via: MemoryItemOrigin['via']): Promise<MemoryItem | undefined> {
    const text = await vscode.window.showInputBox({
      title: inertText(`Remember for ${context.personaName}`),
      prompt: inertText(`${context.personaName} keeps this in every chat, in every workspace. Keep it short: one fact.`),
      value: context.text?.slice(0, MEMORY_ITEM_MAX_CHARS) ?? '',
      placeHolder: 'My daughter is called Ada',
      ignoreFocusOut: true,
      validateInput: (v) => {
        const n = v.trim().length;
        if (n === 0) return 'Type what to remember.';
        if (n > MEMORY_ITEM_MAX_CHARS) return `At most ${MEMORY_ITEM_MAX_CHARS.toLocaleString('en-US')} characters (this has ${n.toLocaleString('en-US')}).`;
        return undefined;
      },
    });
    if (text === undefined) return undefined;
    await this.key.load();
    const origin: MemoryItemOrigin = {
      via,
      ...(context.conversationId ? { conversationId: context.conversationId } : {}),
      ...(context.messageId ? { messageId: context.messageId } : {}),
      ...(context.conversationTitle ? { conversationTitle: context.conversationTitle.slice(0, 500) } : {}),
    };
    const { item, added, embedded } = await this.service().remember(context.personaId, text, origin);
    this.changed.fire(context.personaId);
    this.log.info(`Memory: ${added ? 'remembered' : 'already remembered'} an item for ${context.personaId}${embedded ? '' : ' (to be embedded when the embeddings server answers)'}.`);
    void showInfo(
      added
        ? `${context.personaName} will remember: “${short(item.text)}”${embedded ? '' : ' (it is found by meaning once the embeddings server answers; pin it to have it in every reply now)'}`
        : `${context.personaName} already remembers that.`,
    );
    return item;
  }

  /** The persona's memories in a quick pick: pin or unpin, edit, forget; stays open while the person works on them. */
  async show(personaId: string, personaName: string): Promise<void> {
    type Item = vscode.QuickPickItem & { memory: MemoryItem };
    const pinButton = { iconPath: new vscode.ThemeIcon('pin'), tooltip: 'Pin: always in the prompt' };
    const unpinButton = { iconPath: new vscode.ThemeIcon('pinned'), tooltip: 'Unpin' };
    const editButton = { iconPath: new vscode.ThemeIcon('edit'), tooltip: 'Edit' };
    const forgetButton = { iconPath: new vscode.ThemeIcon('trash'), tooltip: 'Forget' };
    const pick = vscode.window.createQuickPick<Item>();
    pick.title = inertText(`What ${personaName} remembers`);
    pick.placeholder = 'Search memories; the buttons pin, edit or forget one';
    pick.matchOnDetail = true;
    pick.ignoreFocusOut = true;
    const refresh = async () => {
      const all = await this.service().list(personaId);
      const pinned = all.filter((i) => i.pinned);
      pick.items = [...pinned, ...all.filter((i) => !i.pinned).reverse()].map((m) => ({
        memory: m,
        label: `${m.pinned ? '$(pinned) ' : ''}${inertText(short(m.text, 200))}`,
        detail: inertText(originText(m)),
        buttons: [m.pinned ? unpinButton : pinButton, editButton, forgetButton],
      }));
      if (all.length === 0) pick.placeholder = `${personaName} remembers nothing yet: use Remember… on a message, or from the palette`;
    };
    const act = async (item: Item, button: vscode.QuickInputButton | undefined) => {
      const m = item.memory;
      if (button === forgetButton) {
        await this.forgetOne(personaId, personaName, m.id);
      } else if (button === pinButton || button === unpinButton) {
        await this.setPinned(personaId, m.id, button === pinButton);
      } else {
        const text = await vscode.window.showInputBox({ title: 'Edit memory', value: m.text, ignoreFocusOut: true, validateInput: (v) => (v.trim() === '' ? 'A memory needs some text.' : v.trim().length > MEMORY_ITEM_MAX_CHARS ? `At most ${MEMORY_ITEM_MAX_CHARS} characters.` : undefined) });
        if (text !== undefined) await this.edit(personaId, m.id, text);
      }
      await refresh();
      pick.show();
    };
    const run = (item: Item, button?: vscode.QuickInputButton) =>
      void act(item, button).catch((e: Error) => {
        this.log.warn(`Memory: ${e.message}`);
        void showWarning(e.message);
      });
    pick.onDidTriggerItemButton((e) => run(e.item, e.button));
    pick.onDidAccept(() => {
      const [item] = pick.selectedItems;
      if (item) run(item);
    });
    const closed = new Promise<void>((resolve) => pick.onDidHide(() => resolve()));
    await refresh();
    pick.show();
    await closed;
    pick.dispose();
  }

  async setPinned(personaId: string, id: string, pinned: boolean): Promise<void> {
    await this.service().update(personaId, id, { pinned });
    this.changed.fire(personaId);
  }

  /** New text for a memory: embedded again (kept, to be embedded later, while the server is down). */
  async edit(personaId: string, id: string, text: string): Promise<void> {
    await this.key.load();
    await this.service().update(personaId, id, { text });
    this.changed.fire(personaId);
  }

  /** Asks, then forgets one memory. Resolves to whether it was forgotten. */
  async forgetOne(personaId: string, personaName: string, id: string): Promise<boolean> {
    const m = (await this.service().list(personaId)).find((i) => i.id === id);
    if (!m) return false;
    const choice = await showWarning(`Forget “${short(m.text)}”?`, { modal: true, detail: `${personaName} will no longer have it in any chat; it is removed from the disk.` }, 'Forget');
    if (choice !== 'Forget') return false;
    await this.afterForgetting(personaId, await this.service().forget(personaId, [m.id]));
    return true;
  }

  /** Forgets the memories taken from a conversation (the person asked, deleting it). */
  async forgetFromConversation(personaId: string, conversationId: string): Promise<void> {
    const from = await this.service().fromConversation(personaId, conversationId);
    if (from.length === 0) return;
    await this.afterForgetting(personaId, await this.service().forget(personaId, from.map((i) => i.id)));
  }

  /** Past replies and what was sent for them lose the forgotten items before the views draw again. */
  private async afterForgetting(personaId: string, gone: readonly MemoryItem[]): Promise<void> {
    if (gone.length > 0) await this.forgotten(gone);
    this.changed.fire(personaId);
  }

  /**
   * Adds the new items of an import the person confirmed (memoryTransferCommands.ts asks): one write,
   * nothing the persona has is changed. Embedding stops with `signal`; what is not embedded is kept
   * and embedded on later turns.
   */
  async importPlanned(personaId: string, plan: MemoryItemsImportPlan, signal?: AbortSignal): Promise<MemoryItemsImportResult> {
    await this.key.load();
    const result = await importMemoryItems(this.service(), personaId, plan, signal);
    if (result.added.length > 0) this.changed.fire(personaId);
    this.log.info(
      `Memory: imported ${result.added.length} item(s) for ${personaId}${result.skipped.length ? `, ${result.skipped.length} remembered meanwhile and skipped` : ''}${result.embedded ? '' : ' (to be embedded when the embeddings server answers)'}.`,
    );
    return result;
  }

  /** The persona's memories for the panel: pinned first, then the newest; with what each costs in a prompt. */
  async rows(personaId: string): Promise<{ item: MemoryItem; origin: string }[]> {
    const all = await this.service().list(personaId);
    const ordered = [...all.filter((i) => i.pinned), ...all.filter((i) => !i.pinned).reverse()];
    return ordered.map((item) => ({ item, origin: originText(item) }));
  }

  /** Forgets every memory of the persona (MemoryController.forgetPersona asks first). Resolves to how many. */
  async forgetAllOf(personaId: string): Promise<number> {
    const gone = await this.service().forgetPersona(personaId);
    await this.afterForgetting(personaId, gone);
    return gone.length;
  }

  async close(): Promise<void> {
    await this.items?.close();
  }

  dispose(): void {
    this.changed.dispose();
  }
}

function short(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function originText(m: MemoryItem): string {
  const when = new Date(m.createdAt).toLocaleDateString('en-US', { year: 'numeric', month: 'short', day: 'numeric' });
  const from = m.origin?.conversationTitle ? `from “${m.origin.conversationTitle}”` : m.origin?.via === 'import' ? 'imported' : 'typed in';
  return `${from} · ${when}${m.pinned ? ' · pinned: always in the prompt' : ''}`;
}
