// The Character Builder panel's protocol (see rpc.ts for the envelopes), imported by the host and the
// builder webview; one notification says the persona changed outside the panel.
//
// The form is what the person types, not yet a persona: numbers are text until they parse, tags and
// lorebook keys are one comma-separated line, and anything the form does not show (a card's
// `extensions`, an entry's secondary keys…) rides along in `rest` so a save never loses it.
// `formToPersona` turns a form into a `CardPersona` or into messages next to the fields.
import * as z from 'zod/mini';
import { CardPersonaSchema, emptyCardFields, MAX_AVATAR_BYTES, VersionSummarySchema, type CardPersona } from './cardPersona';
import type { Lorebook, LorebookEntry } from './cardSchema';
import type { Sampling } from './persona';
import { checkStopInput, MAX_MODEL_ID_CHARS, MAX_STOP_CHARS, MAX_STOP_SEQUENCES, NUMBER_SETTINGS, type SamplingKey } from './sampling';
import { defineProtocol, notification, request, WAITS_ON_PERSON, type IncomingRequestOf } from './rpc';

/** Text from the form: bounded so one message can never be enormous. */
const Text = (max: number) => z.string().check(z.maxLength(max));
const LONG = 100_000;
const Rest = z.optional(z.record(z.string(), z.unknown()));

export const LoreEntryFormSchema = z.object({
  /** Comma-separated. */
  keys: Text(4_000),
  content: Text(LONG),
  enabled: z.boolean(),
  constant: z.boolean(),
  insertionOrder: Text(30),
  /** The entry as it was read, for the fields the form does not show. */
  rest: Rest,
});
export type LoreEntryForm = z.infer<typeof LoreEntryFormSchema>;

export const SamplingFormSchema = z.object({
  temperature: Text(30),
  topP: Text(30),
  maxTokens: Text(30),
  presencePenalty: Text(30),
  frequencyPenalty: Text(30),
  // Added later: a draft saved before has none of these (read as empty).
  topK: z.optional(Text(30)),
  minP: z.optional(Text(30)),
  repeatPenalty: z.optional(Text(30)),
  seed: z.optional(Text(30)),
  /** One per line. */
  stop: z.optional(Text(MAX_STOP_SEQUENCES * (MAX_STOP_CHARS + 1))),
  /** A model id; empty: the chat's default. */
  model: z.optional(Text(MAX_MODEL_ID_CHARS)),
});
export type SamplingForm = z.infer<typeof SamplingFormSchema>;

export const BuilderFormSchema = z.object({
  name: Text(1_000),
  /** One line for lists and pickers. */
  description: Text(1_000),
  /** An emoji: shown wherever the persona is listed. */
  icon: Text(100),
  /** `saved:<file>` for the stored picture, `new:<token>` for one picked in this panel, null for none. */
  avatar: z.nullable(Text(200)),
  nickname: Text(1_000),
  characterDescription: Text(LONG),
  personality: Text(LONG),
  scenario: Text(LONG),
  systemPrompt: Text(LONG),
  postHistoryInstructions: Text(LONG),
  exampleDialogue: Text(LONG),
  greeting: Text(LONG),
  alternateGreetings: z.array(Text(LONG)).check(z.maxLength(200)),
  /** Comma-separated. */
  tags: Text(4_000),
  creatorNotes: Text(LONG),
  sampling: SamplingFormSchema,
  lorebook: z.object({
    scanDepth: Text(30),
    tokenBudget: Text(30),
    entries: z.array(LoreEntryFormSchema).check(z.maxLength(1_000)),
    /** The book as it was read (name, extensions…); undefined when the persona had none. */
    rest: Rest,
  }),
});
export type BuilderForm = z.infer<typeof BuilderFormSchema>;

export const DiffPartSchema = z.object({
  value: z.string(),
  added: z.optional(z.nullable(z.boolean())),
  removed: z.optional(z.nullable(z.boolean())),
});

export const FieldDiffSchema = z.object({
  field: Text(200),
  label: Text(200),
  change: z.enum(['added', 'removed', 'changed']),
  before: z.optional(z.string()),
  after: z.optional(z.string()),
  parts: z.optional(z.array(DiffPartSchema)),
});
export type FieldDiffView = z.infer<typeof FieldDiffSchema>;

/** A picture the webview may show: only inline data of the three formats the host accepts. */
/** A draft's key: `new-<hex>` for a persona never saved, else the persona's id. Names its file too. */
export const DRAFT_KEY_PATTERN = /^(new-[a-f0-9]{8,32}|[a-z0-9][a-z0-9-]{0,63})$/;

export const AvatarUrlSchema = z.string().check(z.maxLength('data:image/jpeg;base64,'.length + Math.ceil(MAX_AVATAR_BYTES / 3) * 4), z.regex(/^data:image\/(png|jpeg|webp);base64,[A-Za-z0-9+/]*={0,2}$/));

export const BuilderStateSchema = z.object({
  /** Names the draft file and the panel (kept in the webview's state for restoring after a reload). */
  draftKey: z.string().check(z.regex(DRAFT_KEY_PATTERN)),
  /** The saved persona this panel edits; null until a new one is first saved. */
  personaId: z.nullable(z.string()),
  form: BuilderFormSchema,
  /** The form as last saved (null: never saved): the form differs from it = unsaved changes. */
  savedForm: z.nullable(BuilderFormSchema),
  /** Unix ms of the unsaved draft this panel was restored from, if it was. */
  restoredDraftAt: z.nullable(z.number()),
  avatarUrl: z.nullable(AvatarUrlSchema),
  /** What `{{user}}` becomes in the preview. */
  userName: z.string(),
});
export type BuilderState = z.infer<typeof BuilderStateSchema>;

export const PreviewSchema = z.object({
  messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() })),
  /** Tokens of the system message alone, and of the whole request with the sample turn. */
  systemTokens: z.int().check(z.gte(0)),
  totalTokens: z.int().check(z.gte(0)),
  /** Lorebook entries the sample message activated, by index. */
  activatedEntries: z.array(z.int()),
});
export type Preview = z.infer<typeof PreviewSchema>;

const Empty = z.object({});
const Void = z.null();
const Version = z.int().check(z.gte(0), z.lte(1_000_000_000));
/** The host answers ready from what it holds: past this something is wrong, and the panel says so. */
const READY_TIMEOUT_MS = 10_000;

export const BuilderRequests = {
  ready: request('builder/ready', Empty, BuilderStateSchema, { timeoutMs: READY_TIMEOUT_MS }),
  /**
   * The form changed: the host keeps it (and writes the draft). Sent at once on every change, so a
   * panel closed right after typing loses nothing; the preview is asked for separately, debounced.
   */
  change: request('builder/change', z.object({ form: BuilderFormSchema }), Void),
  /** The prompt the model would receive for the form the host has, with this sample user turn. */
  preview: request('builder/preview', z.object({ sampleMessage: Text(4_000) }), PreviewSchema),
  /** May ask (a new persona: chat with it now?). */
  save: request('builder/save', z.object({ form: BuilderFormSchema }), BuilderStateSchema, WAITS_ON_PERSON),
  /** Asks first; null when the person keeps their changes. */
  discard: request('builder/discard', Empty, z.nullable(BuilderStateSchema), WAITS_ON_PERSON),
  /** Opens a file dialog; null when cancelled. */
  pickAvatar: request('builder/pickAvatar', Empty, z.nullable(z.object({ avatar: Text(200), avatarUrl: AvatarUrlSchema })), WAITS_ON_PERSON),
  /** The server's chat models in a quick pick; null when the person closed it. `model` absent: "the default". */
  pickModel: request('builder/pickModel', Empty, z.nullable(z.object({ model: z.optional(Text(MAX_MODEL_ID_CHARS)) })), WAITS_ON_PERSON),
  versions: request('builder/versions', Empty, z.array(VersionSummarySchema)),
  /** Asks for the snapshot's name; null when cancelled. */
  snapshot: request('builder/snapshot', Empty, z.nullable(VersionSummarySchema), WAITS_ON_PERSON),
  diff: request('builder/diff', z.object({ from: Version, to: Version }), z.array(FieldDiffSchema)),
  /** Asks first; null when cancelled. Restoring saves a new version and reloads the form. */
  restore: request('builder/restore', z.object({ version: Version }), z.nullable(BuilderStateSchema), WAITS_ON_PERSON),
} as const;

export const BuilderNotifications = {
  /**
   * The saved persona changed outside this panel (an import as a new version, a restore elsewhere,
   * a delete). `replaceForm`: the panel had no unsaved changes, so the form shows the new content;
   * otherwise only what the form is compared with changes, and the person's edits stay.
   */
  state: notification('builder/state', z.object({ state: BuilderStateSchema, replaceForm: z.boolean() })),
} as const;

export const BuilderProtocol = defineProtocol({ requests: BuilderRequests, notifications: BuilderNotifications, ready: 'ready' });

export type IncomingBuilderRequest = IncomingRequestOf<typeof BuilderRequests>;

// ---- form ↔ persona ------------------------------------------------------------------------------

export function emptyForm(): BuilderForm {
  return {
    name: '',
    description: '',
    icon: '🙂',
    avatar: null,
    nickname: '',
    characterDescription: '',
    personality: '',
    scenario: '',
    systemPrompt: '',
    postHistoryInstructions: '',
    exampleDialogue: '',
    greeting: '',
    alternateGreetings: [],
    tags: '',
    creatorNotes: '',
    sampling: { temperature: '', topP: '', maxTokens: '', presencePenalty: '', frequencyPenalty: '', topK: '', minP: '', repeatPenalty: '', seed: '', stop: '', model: '' },
    lorebook: { scanDepth: '', tokenBudget: '', entries: [] },
  };
}

/** JSON with object keys sorted: two forms that say the same thing compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/**
 * Whether the form has changes to keep: it differs from the saved persona's form, or for a persona
 * never saved, from the empty form (`saved` null).
 */
export function hasUnsavedChanges(form: BuilderForm, saved: BuilderForm | null): boolean {
  return canonical(form) !== canonical(saved ?? emptyForm());
}

const numberText = (n: number | null | undefined): string => (typeof n === 'number' && Number.isFinite(n) ? String(n) : '');
const splitList = (text: string): string[] =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);

export function personaToForm(p: CardPersona): BuilderForm {
  const book = p.lorebook;
  let lorebook: BuilderForm['lorebook'] = { scanDepth: '', tokenBudget: '', entries: [] };
  if (book) {
    const { entries, scan_depth, token_budget, ...bookRest } = book;
    lorebook = {
      scanDepth: numberText(scan_depth),
      tokenBudget: numberText(token_budget),
      rest: bookRest,
      entries: entries.map((e) => {
        // `constant` stays in `rest` too: an entry that never said it is not written as `false`.
        const { keys, content, enabled, insertion_order, ...rest } = e;
        return { keys: keys.join(', '), content, enabled, constant: e.constant === true, insertionOrder: numberText(insertion_order), rest };
      }),
    };
  }
  return {
    name: p.name,
    description: p.description,
    icon: p.icon,
    avatar: p.avatar ? `saved:${p.avatar.file}` : null,
    nickname: p.nickname,
    characterDescription: p.characterDescription,
    personality: p.personality,
    scenario: p.scenario,
    systemPrompt: p.systemPrompt,
    postHistoryInstructions: p.postHistoryInstructions,
    exampleDialogue: p.exampleDialogue,
    greeting: p.greeting,
    alternateGreetings: [...p.alternateGreetings],
    tags: p.tags.join(', '),
    creatorNotes: p.creatorNotes,
    sampling: {
      temperature: numberText(p.sampling.temperature),
      topP: numberText(p.sampling.topP),
      maxTokens: numberText(p.sampling.maxTokens),
      presencePenalty: numberText(p.sampling.presencePenalty),
      frequencyPenalty: numberText(p.sampling.frequencyPenalty),
      topK: numberText(p.sampling.topK),
      minP: numberText(p.sampling.minP),
      repeatPenalty: numberText(p.sampling.repeatPenalty),
      seed: numberText(p.sampling.seed),
      stop: (p.sampling.stop ?? []).join('\n'),
      model: p.sampling.model ?? '',
    },
    lorebook,
  };
}

/** Messages by form path: `name`, `sampling.temperature`, `lorebook.entries.2.insertionOrder`, `alternateGreetings.1`. */
export type FormErrors = Record<string, string>;

interface NumberRule {
  label: string;
  min: number;
  max: number;
  /** The minimum itself is not allowed (top_p > 0). */
  minExclusive?: boolean;
  integer?: boolean;
}

/** The number fields of the form, with the ranges a chat's own values have (src/shared/sampling.ts). */
const SAMPLING_RULES: Record<SamplingKey, NumberRule> = Object.fromEntries(
  NUMBER_SETTINGS.map((d) => [d.key, { label: d.label, min: d.min, max: d.max, ...(d.minExclusive ? { minExclusive: true } : {}), ...(d.integer ? { integer: true } : {}) }]),
) as Record<SamplingKey, NumberRule>;

/** Empty text is "not set" (undefined); anything else must be a number the rule allows. */
function readNumber(text: string, rule: NumberRule, path: string, errors: FormErrors): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const n = Number(t);
  const range = `${rule.minExclusive ? 'above' : 'from'} ${rule.min} ${rule.minExclusive ? 'up to' : 'to'} ${rule.max}`;
  if (!Number.isFinite(n) || (rule.integer && !Number.isInteger(n)) || n < rule.min || n > rule.max || (rule.minExclusive && n === rule.min)) {
    errors[path] = `${rule.label} must be ${rule.integer ? 'a whole number' : 'a number'} ${range}, or empty for the default.`;
    return undefined;
  }
  return n;
}

const LORE_NUMBER: NumberRule = { label: 'Insertion order', min: -1_000_000, max: 1_000_000, integer: true };

/** Where a `CardPersonaSchema` issue belongs on the form. */
function formPath(path: readonly PropertyKey[]): string {
  const parts = path.map(String);
  if (parts[0] === 'tags') return 'tags';
  if (parts[0] === 'avatar') return 'avatar';
  if (parts[0] === 'lorebook') {
    if (parts[1] === 'entries' && parts[2] !== undefined) {
      const field = { keys: 'keys', content: 'content', insertion_order: 'insertionOrder' }[parts[3] ?? ''] ?? 'content';
      return `lorebook.entries.${parts[2]}.${field}`;
    }
    return 'lorebook';
  }
  return parts.slice(0, 2).join('.') || 'form';
}

export interface FormBase {
  id: string;
  /** The saved persona being edited: fields the form does not show are kept from it. */
  persona?: CardPersona;
  /** The avatar file the form's `avatar` token stands for, when it is not the saved one. */
  avatar?: CardPersona['avatar'];
}

export type FormResult = { ok: true; persona: CardPersona } | { ok: false; errors: FormErrors };

/** The persona a form describes, or what to fix, field by field. Checked with `CardPersonaSchema` last. */
export function formToPersona(form: BuilderForm, base: FormBase): FormResult {
  const errors: FormErrors = {};
  const name = form.name.trim();
  if (!name) errors.name = 'Give the persona a name.';
  else if (name.length > 200) errors.name = `The name is ${name.length} characters long; keep it to 200.`;
  const description = form.description.trim();
  if (!description) errors.description = 'Write one line that says who this is: it is shown in the persona pickers.';
  else if (description.length > 200) errors.description = `Keep the one-line description to 200 characters (it has ${description.length}).`;
  const icon = form.icon.trim();
  if (!icon) errors.icon = 'Choose an emoji: it is shown beside the name.';
  else if (icon.length > 16) errors.icon = 'Use one emoji or a few characters (16 at most).';

  const sampling: Sampling = {};
  for (const key of Object.keys(SAMPLING_RULES) as SamplingKey[]) {
    const value = readNumber(form.sampling[key] ?? '', SAMPLING_RULES[key], `sampling.${key}`, errors);
    if (value !== undefined) sampling[key] = value;
  }
  const stop = checkStopInput(form.sampling.stop ?? '');
  if (!stop.ok) errors['sampling.stop'] = stop.message;
  else if (stop.value.length > 0) sampling.stop = stop.value;
  const model = (form.sampling.model ?? '').trim();
  if (model) sampling.model = model;

  const entries: LorebookEntry[] = form.lorebook.entries.map((e, i) => {
    const keys = splitList(e.keys);
    if (!e.content.trim()) errors[`lorebook.entries.${i}.content`] = 'Write what this entry adds to the prompt, or remove the entry.';
    if (keys.length === 0 && !e.constant) errors[`lorebook.entries.${i}.keys`] = 'Add at least one key (comma-separated), or make the entry always on.';
    const order = readNumber(e.insertionOrder, LORE_NUMBER, `lorebook.entries.${i}.insertionOrder`, errors) ?? 0;
    const rest = e.rest ?? { extensions: {}, use_regex: false };
    const constant = e.constant || (rest.constant !== undefined && rest.constant !== null) ? { constant: e.constant } : {};
    return { ...rest, keys, content: e.content, enabled: e.enabled, ...constant, insertion_order: order } as LorebookEntry;
  });
  const scanDepth = readNumber(form.lorebook.scanDepth, { label: 'Scan depth', min: 0, max: 1_000, integer: true }, 'lorebook.scanDepth', errors);
  const tokenBudget = readNumber(form.lorebook.tokenBudget, { label: 'Token budget', min: 0, max: 1_000_000, integer: true }, 'lorebook.tokenBudget', errors);
  let lorebook: Lorebook | undefined;
  if (entries.length > 0 || form.lorebook.rest !== undefined) {
    const { scan_depth: _d, token_budget: _b, ...bookRest } = form.lorebook.rest ?? { extensions: {} };
    lorebook = {
      ...(bookRest as Omit<Lorebook, 'entries'>),
      ...(scanDepth !== undefined ? { scan_depth: scanDepth } : {}),
      ...(tokenBudget !== undefined ? { token_budget: tokenBudget } : {}),
      entries,
    } as Lorebook;
  }

  const tags = splitList(form.tags);
  if (tags.some((t) => t.length > 40)) errors.tags = 'Keep each tag to 40 characters.';
  if (tags.length > 50) errors.tags = 'Use 50 tags at most.';

  let avatar: CardPersona['avatar'];
  if (form.avatar !== null) {
    const saved = base.persona?.avatar;
    if (saved && form.avatar === `saved:${saved.file}`) avatar = saved;
    else if (base.avatar) avatar = base.avatar;
    else errors.avatar = 'The picture is no longer available: choose it again.';
  }

  if (Object.keys(errors).length > 0) return { ok: false, errors };

  const { lorebook: _oldBook, avatar: _oldAvatar, ...kept } = base.persona ?? emptyPersonaFields();
  const candidate: CardPersona = {
    ...kept,
    id: base.id,
    name,
    description,
    icon,
    nickname: form.nickname.trim(),
    characterDescription: form.characterDescription,
    personality: form.personality,
    scenario: form.scenario,
    systemPrompt: form.systemPrompt,
    postHistoryInstructions: form.postHistoryInstructions,
    exampleDialogue: form.exampleDialogue,
    greeting: form.greeting,
    alternateGreetings: form.alternateGreetings.filter((g) => g.trim().length > 0),
    tags,
    creatorNotes: form.creatorNotes,
    sampling,
    ...(lorebook ? { lorebook } : {}),
    ...(avatar ? { avatar } : {}),
  };
  const parsed = CardPersonaSchema.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) errors[formPath(issue.path)] ??= issue.message;
    return { ok: false, errors };
  }
  return { ok: true, persona: parsed.data };
}

function emptyPersonaFields(): Omit<CardPersona, 'id'> {
  return {
    name: '',
    description: '',
    icon: '🙂',
    systemPrompt: '',
    greeting: '',
    tags: [],
    sampling: {},
    ...emptyCardFields(),
  };
}
