// One Character Builder panel: the host keeps its form (the webview can be thrown away whenever it is
// hidden), stores unsaved changes as a draft under global storage so they survive a reload or a
// closed panel, builds the prompt preview with the chat's own assembly, and saves through the
// registry (every save is a version). The panels and the commands are in characterBuilder.ts.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  BuilderNotifications,
  BuilderProtocol,
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
import { describeError, describeErrorForView } from '../../chat/userMessages';
import { WebviewHost, type Handlers } from '../webviewHost';
import { PersonaError } from '../../util/personaError';
import { showError, showInfo, showWarning } from '../notify';

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
  /** The model picker: a model id, "the default" (no model), or undefined when closed. */
  chooseModel(title: string): Promise<{ model?: string } | undefined>;
}

/** The panel manager, as a session sees it. */
export interface SessionOwner {
  readonly deps: CharacterBuilderDeps;
  readonly drafts: BuilderDraftStore;
  /** The session's key changed (a new persona was saved): it is found under the new one. */
  rekey(session: BuilderSession, oldKey: string): void;
  /** The session's panel closed. */
  forget(session: BuilderSession): void;
}

/** A person-facing failure of a builder action: the message says what to do. */
export class BuilderError extends PersonaError<'notSaved' | 'invalid' | 'avatarTooLarge' | 'avatarFormat' | 'gone'> {
  constructor(reason: BuilderError['reason'], message: string) {
    super(reason, message);
    this.name = 'BuilderError';
  }
}

export function panelTitle(name: string): string {
  return `Persona: ${name.trim() || 'New Persona'}`;
}

// ---- pictures ------------------------------------------------------------------------------------

const MIME: Record<PendingAvatar['ext'], string> = { png: 'image/png', jpg: 'image/jpeg', webp: 'image/webp' };

export function pendingAvatarOf(bytes: Uint8Array): PendingAvatar | undefined {
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

export class BuilderSession {
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

  static fromDraft(owner: SessionOwner, draft: ReturnType<typeof makeDraft>, panel: vscode.WebviewPanel): BuilderSession {
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

  static async forPersona(owner: SessionOwner, persona: CardPersona, panel: vscode.WebviewPanel): Promise<BuilderSession> {
    const form = personaToForm(persona);
    return new BuilderSession(owner, panel, { key: persona.id, personaId: persona.id, form, savedForm: form });
  }

  constructor(
    private readonly owner: SessionOwner,
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
      describeError: describeErrorForView,
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
      pickModel: async () => (await this.owner.deps.chooseModel('Model for this persona')) ?? null,
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
      void showInfo(`Saved ${persona.name}.`, action).then(async (choice) => {
        if (choice !== action) return;
        try {
          await this.owner.deps.chatWith(persona.id);
        } catch (e) {
          void showError(describeError(e));
        }
      });
    }
    return this.state();
  }

  private async discard(): Promise<BuilderState | null> {
    const copy = this.personaId === null && this.base !== undefined;
    if (this.dirty) {
      const choice = await showWarning(
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
    const choice = await showWarning(
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

