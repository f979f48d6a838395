// The Character Builder's panels: the commands that open one (new, edit, duplicate), one panel per
// persona or draft, and panels brought back after a reload (the serializer). Each panel is a
// BuilderSession.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as z from 'zod/mini';
import { BuilderDraftStore } from '../../characters/builderDrafts';
import { DRAFT_KEY_PATTERN, emptyForm, personaToForm } from '../../shared/builderProtocol';
import type { CardPersona } from '../../shared/cardPersona';
import { BUILDER_VIEW_TYPE, BuilderError, BuilderSession, panelTitle, pendingAvatarOf, type CharacterBuilderDeps, type SessionOwner } from './builderSession';
import { guardedCommand, personaPickText, showInfo } from '../notify';
import { inertText } from '../../util/inertText';

const PanelStateSchema = z.object({ draftKey: z.string().check(z.regex(DRAFT_KEY_PATTERN)) });

export function registerCharacterBuilder(deps: CharacterBuilderDeps): vscode.Disposable[] {
  const builder = new CharacterBuilder(deps);
  const guarded = guardedCommand(deps.log, 'Character Builder');
  return [
    builder,
    vscode.commands.registerCommand('persona.character.new', guarded(() => builder.openNew())),
    vscode.commands.registerCommand('persona.character.edit', guarded((arg) => builder.openEdit(personaIdArg(arg)))),
    vscode.commands.registerCommand('persona.character.duplicate', guarded((arg) => builder.openDuplicate(personaIdArg(arg)))),
    vscode.window.registerWebviewPanelSerializer(BUILDER_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, state) => {
        try {
          await builder.restorePanel(panel, state);
        } catch (e) {
          deps.log.error(`Character Builder: a panel could not be restored: ${(e as Error).message}`);
          panel.dispose();
        }
      },
    }),
  ];
}

function personaIdArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && typeof (arg as { id?: unknown }).id === 'string') return (arg as { id: string }).id;
  return undefined;
}

type PersonaItem = vscode.QuickPickItem & { persona: CardPersona };

class CharacterBuilder implements vscode.Disposable, SessionOwner {
  private readonly sessions = new Map<string, BuilderSession>();
  readonly drafts: BuilderDraftStore;

  private readonly subscription: { dispose(): void };

  constructor(readonly deps: CharacterBuilderDeps) {
    this.drafts = new BuilderDraftStore(path.join(deps.globalStorageDir, 'builder-drafts'), deps.log);
    this.subscription = deps.personas.onDidChange(() => {
      for (const s of this.sessions.values()) void s.personaChanged();
    });
  }

  /**
   * The extension is going away (window reload, extension host restart): panels are left to the
   * workbench, which brings them back through the serializer; only pending drafts are written.
   */
  dispose(): void {
    this.subscription.dispose();
    for (const s of [...this.sessions.values()]) s.detach();
    this.sessions.clear();
  }

  rekey(session: BuilderSession, oldKey: string): void {
    if (this.sessions.get(oldKey) === session) this.sessions.delete(oldKey);
    this.sessions.set(session.key, session);
  }

  forget(session: BuilderSession): void {
    if (this.sessions.get(session.key) === session) this.sessions.delete(session.key);
  }

  async openNew(): Promise<void> {
    const open = new Set(this.sessions.keys());
    // Drafts of personas never saved, or deleted since: nothing else leads back to them.
    const orphans = (await this.drafts.list()).filter((d) => (d.personaId === null || !this.deps.personas.get(d.personaId)) && !open.has(d.key));
    if (orphans.length > 0) {
      type Item = vscode.QuickPickItem & { key?: string };
      const items: Item[] = [
        { label: '$(add) Start a new persona' },
        ...orphans.map((d) => ({ key: d.key, label: `$(history) Continue "${inertText(d.form.name.trim() || 'Unnamed')}"`, description: `unsaved, last changed ${new Date(d.changedAt).toLocaleString()}` })),
      ];
      const picked = await vscode.window.showQuickPick(items, { title: 'New Persona', placeHolder: 'You have new personas that were never saved' });
      if (!picked) return;
      if (picked.key) {
        const draft = await this.drafts.read(picked.key);
        if (draft) return this.show(BuilderSession.fromDraft(this, draft, this.createPanel('New Persona')));
      }
    }
    const key = `new-${randomBytes(8).toString('hex')}`;
    this.show(new BuilderSession(this, this.createPanel('New Persona'), { key, personaId: null, form: emptyForm(), savedForm: null }));
  }

  async openEdit(id: string | undefined): Promise<void> {
    const persona = id ? this.deps.personas.get(id) : await this.pick('Edit Persona', { builtInDetail: 'built-in (read-only): edit a copy' });
    if (!persona) {
      if (id) throw new BuilderError('gone', `There is no persona "${id}" to edit; it may have been deleted.`);
      return;
    }
    if (this.deps.personas.isBuiltIn(persona.id)) {
      const choice = await showInfo(
        `${persona.name} is built in and cannot be changed.`,
        { modal: true, detail: 'Duplicate it to edit a copy of your own.' },
        'Duplicate and Edit',
      );
      if (choice === 'Duplicate and Edit') await this.openDuplicate(persona.id);
      return;
    }
    const open = this.sessions.get(persona.id);
    if (open) return open.panel.reveal();
    const draft = await this.drafts.read(persona.id);
    if (draft) {
      const choice = await showInfo(
        `You have unsaved changes to ${persona.name} from ${new Date(draft.changedAt).toLocaleString()}.`,
        { modal: true, detail: 'Continue where you left off, or discard them and edit the saved persona.' },
        'Restore Unsaved Changes',
        'Discard Them',
      );
      if (choice === undefined) return;
      if (choice === 'Restore Unsaved Changes') return this.show(BuilderSession.fromDraft(this, draft, this.createPanel(persona.name)));
      await this.drafts.delete(persona.id);
    }
    this.show(await BuilderSession.forPersona(this, persona, this.createPanel(persona.name)));
  }

  async openDuplicate(id: string | undefined): Promise<void> {
    const original = id ? this.deps.personas.get(id) : await this.pick('Duplicate Persona', {});
    if (!original) {
      if (id) throw new BuilderError('gone', `There is no persona "${id}" to duplicate; it may have been deleted.`);
      return;
    }
    const copy = this.deps.personas.duplicateForEdit(original.id);
    const bytes = copy.avatar ? await this.deps.personas.avatarOf(original.id) : undefined;
    const avatar = bytes && copy.avatar ? pendingAvatarOf(bytes) : undefined;
    const { avatar: _stored, ...base } = copy;
    const form = { ...personaToForm(base), avatar: avatar?.token ?? null };
    const key = `new-${randomBytes(8).toString('hex')}`;
    const session = new BuilderSession(this, this.createPanel(copy.name), { key, personaId: null, form, savedForm: null, base, ...(avatar ? { avatar } : {}) });
    this.show(session);
    // A copy is unsaved work from the start: keep it as a draft at once.
    session.scheduleDraft();
  }

  /** After a reload: the webview's saved state names its draft (or its persona). */
  async restorePanel(panel: vscode.WebviewPanel, state: unknown): Promise<void> {
    const parsed = PanelStateSchema.safeParse(state);
    if (!parsed.success) {
      this.deps.log.warn('Character Builder: a panel came back without a readable state; closed.');
      panel.dispose();
      return;
    }
    const key = parsed.data.draftKey;
    if (this.sessions.has(key)) {
      panel.dispose();
      return this.sessions.get(key)!.panel.reveal();
    }
    const draft = await this.drafts.read(key);
    if (draft) return this.show(BuilderSession.fromDraft(this, draft, panel));
    const persona = key.startsWith('new-') ? undefined : this.deps.personas.get(key);
    if (persona && !this.deps.personas.isBuiltIn(persona.id)) return this.show(await BuilderSession.forPersona(this, persona, panel));
    this.show(new BuilderSession(this, panel, { key, personaId: null, form: emptyForm(), savedForm: null }));
  }

  private show(session: BuilderSession): void {
    this.sessions.set(session.key, session);
    session.panel.reveal();
  }

  private createPanel(title: string): vscode.WebviewPanel {
    return vscode.window.createWebviewPanel(BUILDER_VIEW_TYPE, panelTitle(title), vscode.ViewColumn.Active, {});
  }

  private async pick(title: string, options: { builtInDetail?: string }): Promise<CardPersona | undefined> {
    const { personas } = this.deps;
    const all = personas.list();
    const custom = all.filter((p) => !personas.isBuiltIn(p.id));
    const builtIn = all.filter((p) => personas.isBuiltIn(p.id));
    const item = (p: CardPersona, description?: string): PersonaItem => ({ persona: p, ...personaPickText(p), description });
    const items: (PersonaItem | vscode.QuickPickItem)[] = [
      ...(custom.length > 0 ? [{ label: 'Your personas', kind: vscode.QuickPickItemKind.Separator }] : []),
      ...custom.map((p) => item(p)),
      { label: 'Built-in', kind: vscode.QuickPickItemKind.Separator },
      ...builtIn.map((p) => item(p, options.builtInDetail ?? 'built-in')),
    ];
    const picked = await vscode.window.showQuickPick(items, { title, placeHolder: 'Choose a persona', matchOnDetail: true });
    return picked && 'persona' in picked ? (picked as PersonaItem).persona : undefined;
  }
}

