// The Character Builder: a webview panel in the editor area that creates and edits custom personas.
// The host keeps each panel's form (the webview can be thrown away whenever it is hidden), stores
// unsaved changes as a draft under global storage so they survive a reload or a closed panel, builds
// the prompt preview with the chat's own assembly, and saves through the registry (every save is a
// version). Same security as the chat view: strict CSP with a nonce, no eval, no network, every
// message validated.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as z from 'zod/mini';
import {
  BuilderNotifications,
  BuilderProtocol,
  DRAFT_KEY_PATTERN,
  emptyForm,
  formToPersona,
  hasUnsavedChanges,
  personaToForm,
  type BuilderForm,
  type BuilderRequests,
  type BuilderState,
  type FormBase,
} from '../../shared/builderProtocol';
import { MAX_AVATAR_BYTES, type CardPersona, type VersionKind, type VersionSummary } from '../../shared/cardPersona';
import { diffPersonas, type FieldDiff } from '../../characters/personaDiff';
import { BuilderDraftStore, avatarFormat, draftAvatar, makeDraft, type PendingAvatar } from '../../characters/builderDrafts';
import { previewPrompt } from '../../characters/builderPreview';
import { freshPersonaId } from '../../characters/cardImport';
import { DEFAULT_CARD_SYSTEM_PROMPT } from '../../chat/chatService';
import { chatSettings } from '../config';
import type { TokenCounter } from '../../characters/prompt';
import { describeError } from '../../chat/userMessages';
import { guardedCommand } from '../guardedCommand';
import { WebviewHost, type Handlers } from '../webviewHost';

export const BUILDER_VIEW_TYPE = 'persona.characterBuilder';
/** Drafts are written this long after the last change; a closed panel writes at once. */
const DRAFT_WRITE_MS = 300;

/** What the builder needs of the persona registry. */
export interface BuilderPersonas {
  get(id: string): CardPersona | undefined;
  isBuiltIn(id: string): boolean;
  list(): CardPersona[];
  avatarOf(id: string): Promise<Uint8Array | undefined>;
  saveCustom(persona: CardPersona, options?: { kind?: VersionKind; avatar?: Uint8Array }): Promise<VersionSummary>;
  snapshot(id: string, name: string): Promise<VersionSummary>;
  versions(id: string): Promise<VersionSummary[]>;
  versionContent(id: string, version: number): Promise<CardPersona | undefined>;
  restoreVersion(id: string, version: number): Promise<VersionSummary>;
  duplicateForEdit(id: string): CardPersona;
  /** Fires after any custom persona is saved, restored, imported or deleted. */
  onDidChange(listener: () => void): { dispose(): void };
}

export interface CharacterBuilderDeps {
  extensionUri: vscode.Uri;
  /** The extension's global storage folder: drafts live in `builder-drafts/` under it. */
  globalStorageDir: string;
  personas: BuilderPersonas;
  log: vscode.LogOutputChannel;
  countTokens: TokenCounter;
  /** Makes the chat talk to this persona (offered after a new persona is saved). */
  chatWith(personaId: string): Promise<void>;
}

/** A person-facing failure of a builder action: the message says what to do. */
export class BuilderError extends Error {
  constructor(
    readonly reason: 'notSaved' | 'invalid' | 'avatarTooLarge' | 'avatarFormat' | 'gone',
    message: string,
  ) {
    super(message);
    this.name = 'BuilderError';
  }

  static is(e: unknown, reason?: BuilderError['reason']): e is BuilderError {
    return e instanceof BuilderError && (reason === undefined || e.reason === reason);
  }
}

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

class CharacterBuilder implements vscode.Disposable {
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
        ...orphans.map((d) => ({ key: d.key, label: `$(history) Continue "${d.form.name.trim() || 'Unnamed'}"`, description: `unsaved, last changed ${new Date(d.changedAt).toLocaleString()}` })),
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
      const choice = await vscode.window.showInformationMessage(
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
      const choice = await vscode.window.showInformationMessage(
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
    const item = (p: CardPersona, description?: string): PersonaItem => ({ persona: p, label: `${p.icon} ${p.name}`, description, detail: p.description });
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

function panelTitle(name: string): string {
  return `Persona: ${name.trim() || 'New Persona'}`;
}

// ---- pictures ------------------------------------------------------------------------------------

const MIME: Record<PendingAvatar['ext'], string> = { png: 'image/png', jpg: 'image/jpeg', webp: 'image/webp' };

function pendingAvatarOf(bytes: Uint8Array): PendingAvatar | undefined {
  const ext = avatarFormat(bytes);
  if (!ext || bytes.length > MAX_AVATAR_BYTES) return undefined;
  return { token: `new:${randomBytes(6).toString('hex')}`, ext, bytes };
}

function dataUrl(bytes: Uint8Array): string | null {
  const ext = avatarFormat(bytes);
  if (!ext || bytes.length > MAX_AVATAR_BYTES) return null;
  return `data:${MIME[ext]};base64,${Buffer.from(bytes).toString('base64')}`;
}

// ---- one panel -----------------------------------------------------------------------------------

interface SessionFields {
  key: string;
  personaId: string | null;
  form: BuilderForm;
  savedForm: BuilderForm | null;
  /** An unsaved persona the form started from (a duplicate). */
  base?: CardPersona;
  avatar?: PendingAvatar;
  restoredDraftAt?: number;
}

class BuilderSession {
  key: string;
  private personaId: string | null;
  private form: BuilderForm;
  private savedForm: BuilderForm | null;
  private base: CardPersona | undefined;
  private avatar: PendingAvatar | undefined;
  private restoredDraftAt: number | null;
  private draftTimer: NodeJS.Timeout | undefined;
  /** Draft writes and deletes run one after another, so an older one never lands last. */
  private draftChain: Promise<void> = Promise.resolve();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly host: WebviewHost<typeof BuilderRequests, typeof BuilderNotifications>;
  private disposed = false;
  /** While this panel itself writes the persona, the registry's change event is its own echo. */
  private writing = 0;

  static fromDraft(owner: CharacterBuilder, draft: ReturnType<typeof makeDraft>, panel: vscode.WebviewPanel): BuilderSession {
    const saved = draft.personaId ? owner.deps.personas.get(draft.personaId) : undefined;
    const avatar = draftAvatar(draft);
    return new BuilderSession(owner, panel, {
      key: draft.key,
      personaId: saved ? saved.id : null,
      form: draft.form,
      savedForm: saved ? personaToForm(saved) : null,
      ...(draft.base ? { base: draft.base } : {}),
      ...(avatar ? { avatar } : {}),
      restoredDraftAt: draft.changedAt,
    });
  }

  static async forPersona(owner: CharacterBuilder, persona: CardPersona, panel: vscode.WebviewPanel): Promise<BuilderSession> {
    const form = personaToForm(persona);
    return new BuilderSession(owner, panel, { key: persona.id, personaId: persona.id, form, savedForm: form });
  }

  constructor(
    private readonly owner: CharacterBuilder,
    readonly panel: vscode.WebviewPanel,
    fields: SessionFields,
  ) {
    this.key = fields.key;
    this.personaId = fields.personaId;
    this.form = fields.form;
    this.savedForm = fields.savedForm;
    this.base = fields.base;
    this.avatar = fields.avatar;
    this.restoredDraftAt = fields.restoredDraftAt ?? null;

    const { extensionUri } = owner.deps;
    this.host = new WebviewHost({
      protocol: BuilderProtocol,
      extensionUri,
      script: 'builder.js',
      style: 'builder.css',
      title: 'Character Builder',
      rootId: 'builder',
      logger: owner.deps.log,
      describeError: (e) => ({ message: describeError(e), ...(BuilderError.is(e) ? { reason: e.reason } : {}) }),
      handlers: this.handlers(),
    });
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'persona.svg');
    panel.title = panelTitle(this.form.name);
    this.host.attach(panel.webview);
    this.disposables.push(
      this.host,
      // Hidden (no retainContextWhenHidden): its document starts over and asks ready again.
      panel.onDidChangeViewState(() => panel.visible || this.host.detach()),
      panel.onDidDispose(() => this.closed()),
    );
  }

  private get log(): vscode.LogOutputChannel {
    return this.owner.deps.log;
  }

  /** An unsaved copy (a duplicate) is worth keeping from the start; an untouched new form is not. */
  private get dirty(): boolean {
    return this.base !== undefined || hasUnsavedChanges(this.form, this.savedForm);
  }

  /** Stops listening to the panel; a draft not written yet is written now. */
  detach(): void {
    this.closed();
  }

  /** The panel closed (or the extension is going away): unsaved changes stay as a draft. */
  private closed(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.owner.forget(this);
    if (this.draftTimer) {
      clearTimeout(this.draftTimer);
      this.draftTimer = undefined;
      void this.writeDraftNow();
    }
    for (const d of this.disposables) d.dispose();
  }

  scheduleDraft(): void {
    clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => {
      this.draftTimer = undefined;
      void this.writeDraftNow();
    }, DRAFT_WRITE_MS);
  }

  private writeDraftNow(): Promise<void> {
    const drafts = this.owner.drafts;
    const key = this.key;
    const dirty = this.dirty;
    const draft = makeDraft({ key, personaId: this.personaId, form: this.form, ...(this.base ? { base: this.base } : {}), ...(this.avatar && this.form.avatar === this.avatar.token ? { avatar: this.avatar } : {}) });
    this.draftChain = this.draftChain
      .then(() => (dirty ? drafts.write(draft) : drafts.delete(key)))
      .catch((e: Error) => this.log.warn(`Character Builder: the draft ${key} could not be written: ${e.message}`));
    return this.draftChain;
  }

  private discardDraft(key = this.key): Promise<void> {
    clearTimeout(this.draftTimer);
    this.draftTimer = undefined;
    this.draftChain = this.draftChain.then(() => this.owner.drafts.delete(key)).catch((e: Error) => this.log.warn(`Character Builder: the draft ${key} could not be removed: ${e.message}`));
    return this.draftChain;
  }

  private async state(): Promise<BuilderState> {
    let avatarUrl: string | null = null;
    if (this.avatar && this.form.avatar === this.avatar.token) avatarUrl = dataUrl(this.avatar.bytes);
    else if (this.form.avatar?.startsWith('saved:') && this.personaId) {
      const bytes = await this.owner.deps.personas.avatarOf(this.personaId);
      avatarUrl = bytes ? dataUrl(bytes) : null;
    }
    return {
      draftKey: this.key,
      personaId: this.personaId,
      form: this.form,
      savedForm: this.savedForm,
      restoredDraftAt: this.restoredDraftAt,
      avatarUrl,
      userName: chatSettings().userName,
    };
  }

  // ---- messages ------------------------------------------------------------------------------------

  private handlers(): Handlers<typeof BuilderRequests> {
    const personas = () => this.owner.deps.personas;
    return {
      // Also after the panel was hidden: without retainContextWhenHidden its document starts over.
      ready: () => this.state(),
      change: ({ form }) => this.change(form),
      preview: ({ sampleMessage }) =>
        previewPrompt(this.form, {
          userName: chatSettings().userName,
          sampleMessage,
          defaultSystemPrompt: DEFAULT_CARD_SYSTEM_PROMPT,
          countTokens: this.owner.deps.countTokens,
        }),
      save: ({ form }) => this.save(form),
      discard: () => this.discard(),
      pickAvatar: () => this.pickAvatar(),
      versions: () => (this.personaId ? personas().versions(this.personaId) : []),
      snapshot: () => this.snapshot(),
      diff: ({ from, to }) => this.diff(from, to),
      restore: ({ version }) => this.restore(version),
    };
  }

  private change(form: BuilderForm): null {
    const wasDirty = this.dirty;
    this.form = form;
    this.panel.title = panelTitle(form.name);
    if (this.dirty || wasDirty) this.scheduleDraft();
    return null;
  }

  private formBase(id: string): FormBase {
    const saved = this.personaId ? this.owner.deps.personas.get(this.personaId) : undefined;
    const persona = saved ?? this.base;
    const avatar = this.avatar && this.form.avatar === this.avatar.token ? { file: `${id}.avatar-${this.avatar.token.slice(4)}.${this.avatar.ext}`, ext: this.avatar.ext } : undefined;
    return { id, ...(persona ? { persona } : {}), ...(avatar ? { avatar } : {}) };
  }

  private async save(form: BuilderForm): Promise<BuilderState> {
    const { personas } = this.owner.deps;
    this.form = form;
    const isNew = this.personaId === null;
    const id = this.personaId ?? (this.base && !personas.get(this.base.id) ? this.base.id : freshPersonaId(form.name, (candidate) => personas.get(candidate) !== undefined));
    const result = formToPersona(form, this.formBase(id));
    if (!result.ok) {
      const fields = Object.keys(result.errors).length;
      throw new BuilderError('invalid', `The persona was not saved: fix the ${fields === 1 ? 'field' : `${fields} fields`} marked in the form.`);
    }
    const persona = result.persona;
    const newAvatar = this.avatar && persona.avatar && form.avatar === this.avatar.token ? this.avatar.bytes : undefined;
    await this.ownWrite(() => personas.saveCustom(persona, { kind: isNew ? 'create' : 'edit', ...(newAvatar ? { avatar: newAvatar } : {}) }));
    this.log.info(`Character Builder: saved persona "${persona.id}"${isNew ? ' (new)' : ''}.`);

    const oldKey = this.key;
    await this.discardDraft(oldKey);
    this.key = persona.id;
    this.personaId = persona.id;
    this.base = undefined;
    this.avatar = undefined;
    this.restoredDraftAt = null;
    this.form = personaToForm(personas.get(persona.id) ?? persona);
    this.savedForm = this.form;
    this.panel.title = panelTitle(persona.name);
    if (oldKey !== this.key) this.owner.rekey(this, oldKey);

    if (isNew) {
      const action = `Chat with ${persona.name}`;
      void vscode.window.showInformationMessage(`Saved ${persona.name}.`, action).then(async (choice) => {
        if (choice !== action) return;
        try {
          await this.owner.deps.chatWith(persona.id);
        } catch (e) {
          void vscode.window.showErrorMessage(describeError(e));
        }
      });
    }
    return this.state();
  }

  private async discard(): Promise<BuilderState | null> {
    const copy = this.personaId === null && this.base !== undefined;
    if (this.dirty) {
      const choice = await vscode.window.showWarningMessage(
        this.personaId ? `Discard your unsaved changes to ${this.savedForm?.name ?? 'this persona'}?` : copy ? `Discard ${this.base?.name ?? 'this copy'}?` : 'Discard this new persona?',
        {
          modal: true,
          detail: this.personaId ? 'The form goes back to the last saved version.' : copy ? 'The copy was never saved; its panel closes.' : 'It was never saved; the form is emptied.',
        },
        'Discard Changes',
      );
      if (choice !== 'Discard Changes') return null;
    }
    await this.discardDraft();
    this.restoredDraftAt = null;
    this.avatar = undefined;
    if (copy) {
      // An unsaved copy is all unsaved work: discarding it leaves nothing to show.
      this.panel.dispose();
      return null;
    }
    this.form = this.savedForm ?? emptyForm();
    this.panel.title = panelTitle(this.form.name);
    return this.state();
  }

  private async pickAvatar(): Promise<{ avatar: string; avatarUrl: string } | null> {
    const picked = await vscode.window.showOpenDialog({
      title: 'Choose a Picture',
      openLabel: 'Use Picture',
      canSelectMany: false,
      filters: { Images: ['png', 'jpg', 'jpeg', 'webp'] },
    });
    const uri = picked?.[0];
    if (!uri) return null;
    const name = path.posix.basename(uri.path);
    const { size } = await vscode.workspace.fs.stat(uri);
    if (size > MAX_AVATAR_BYTES) throw new BuilderError('avatarTooLarge', `${name} is ${(size / 1024 / 1024).toFixed(1)} MB; choose a picture of ${MAX_AVATAR_BYTES / 1024 / 1024} MB or less.`);
    const bytes = await vscode.workspace.fs.readFile(uri);
    const avatar = pendingAvatarOf(bytes);
    const url = avatar && dataUrl(avatar.bytes);
    if (!avatar || !url) throw new BuilderError('avatarFormat', `${name} is not a PNG, JPEG or WebP picture; choose one of those.`);
    this.avatar = avatar;
    return { avatar: avatar.token, avatarUrl: url };
  }

  private requireSaved(): string {
    if (!this.personaId) throw new BuilderError('notSaved', 'Save the persona first: its versions start with the first save.');
    return this.personaId;
  }

  private async snapshot() {
    const id = this.requireSaved();
    const name = await vscode.window.showInputBox({
      title: 'Take Snapshot',
      prompt: this.dirty ? 'A name for this checkpoint. It records the last saved version, not the unsaved changes in the form.' : 'A name for this checkpoint of the persona.',
      placeHolder: 'e.g. Before the lorebook rewrite',
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() === '' ? 'Enter a name, or press Escape to cancel.' : v.trim().length > 100 ? 'Keep the name to 100 characters.' : undefined),
    });
    if (!name?.trim()) return null;
    return this.ownWrite(() => this.owner.deps.personas.snapshot(id, name.trim()));
  }

  private async diff(from: number, to: number): Promise<FieldDiff[]> {
    const id = this.requireSaved();
    const { personas } = this.owner.deps;
    const [before, after] = await Promise.all([personas.versionContent(id, from), personas.versionContent(id, to)]);
    if (!before || !after) throw new BuilderError('gone', `Version ${before ? to : from} could not be read; see the Persona log.`);
    return diffPersonas(before, after);
  }

  private async restore(version: number): Promise<BuilderState | null> {
    const id = this.requireSaved();
    const { personas } = this.owner.deps;
    const choice = await vscode.window.showWarningMessage(
      `Restore version ${version}?`,
      {
        modal: true,
        detail: `Its content is saved as a new version; no version is lost.${this.dirty ? ' Your unsaved changes in the form are discarded.' : ''}`,
      },
      'Restore',
    );
    if (choice !== 'Restore') return null;
    await this.ownWrite(() => personas.restoreVersion(id, version));
    const persona = personas.get(id);
    if (!persona) throw new BuilderError('gone', 'The persona is gone after restoring; see the Persona log.');
    await this.discardDraft();
    this.avatar = undefined;
    this.restoredDraftAt = null;
    this.form = personaToForm(persona);
    this.savedForm = this.form;
    this.panel.title = panelTitle(persona.name);
    this.log.info(`Character Builder: restored version ${version} of "${id}".`);
    return this.state();
  }

  private async ownWrite<T>(write: () => Promise<T>): Promise<T> {
    this.writing++;
    try {
      return await write();
    } finally {
      this.writing--;
    }
  }

  /** The registry changed: if this panel's persona changed elsewhere (or was deleted), follow it. */
  async personaChanged(): Promise<void> {
    if (this.writing > 0 || this.personaId === null || this.disposed) return;
    const persona = this.owner.deps.personas.get(this.personaId);
    let replaceForm = false;
    if (!persona) {
      // Deleted elsewhere: what the form holds is now a persona never saved; saving makes a new one.
      this.log.info(`Character Builder: "${this.personaId}" was deleted while its panel was open; the form is kept as unsaved.`);
      this.personaId = null;
      this.savedForm = null;
    } else {
      const saved = personaToForm(persona);
      if (this.savedForm && !hasUnsavedChanges(saved, this.savedForm)) return;
      replaceForm = !this.dirty;
      this.savedForm = saved;
      if (replaceForm) {
        this.form = saved;
        this.avatar = undefined;
        this.restoredDraftAt = null;
        this.panel.title = panelTitle(saved.name);
      }
    }
    this.scheduleDraft();
    this.host.notify(BuilderNotifications.state, { state: await this.state(), replaceForm });
  }
}

