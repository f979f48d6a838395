// What changed between two versions of a persona, field by field, in words a person reads: the
// Character Builder shows it beside the version list. Pure (no Node, no DOM): the webview bundles it.
//
// Text gets a word diff when it is short and a line diff when it is long (a word diff of a page of
// prose is confetti). Lorebook entries are matched by id, then by name, then by position, so that
// removing one entry shows one removal rather than every later entry changed. The card as imported
// (`card`, the base an export overlays) and where it came from are summarised in one line each;
// `version` itself is not a change.
import { diffLines, diffWordsWithSpace } from 'diff';
import type { CardPersona } from '../shared/cardPersona';
import type { Lorebook, LorebookEntry } from '../shared/cardSchema';
import { SETTING_KEYS, settingLabel } from '../shared/sampling';

export interface DiffPart {
  value: string;
  added?: boolean;
  removed?: boolean;
}

export interface FieldDiff {
  /** A stable path for keys and tests: `systemPrompt`, `alternateGreetings.1`, `lorebook.entries.2.content`. */
  field: string;
  /** For people: "System prompt", "Alternate greeting 2", "Lorebook entry “Dragons”: content". */
  label: string;
  change: 'added' | 'removed' | 'changed';
  before?: string;
  after?: string;
  /** For changed text: a word diff when short, a line diff when long. */
  parts?: DiffPart[];
}

/** Text longer than this, or with more lines, is diffed line by line. */
export const LONG_TEXT_CHARS = 300;
export const LONG_TEXT_LINES = 3;

export function isLongText(text: string): boolean {
  return text.length > LONG_TEXT_CHARS || text.split('\n').length > LONG_TEXT_LINES;
}

/**
 * Beyond this many edits two texts are shown as one removal and one addition: finding the smallest
 * diff of two long, very different texts costs time that grows with the product of their sizes.
 */
export const MAX_DIFF_EDITS = 2_000;

/** Word diff for short text, line diff for long text; the parts rebuild both sides exactly. */
export function textDiff(before: string, after: string): DiffPart[] {
  const options = { maxEditLength: MAX_DIFF_EDITS };
  const changes = isLongText(before) || isLongText(after) ? diffLines(before, after, options) : diffWordsWithSpace(before, after, options);
  if (!changes) return [...(before ? [{ value: before, removed: true }] : []), ...(after ? [{ value: after, added: true }] : [])];
  return changes.map((c) => ({ value: c.value, ...(c.added ? { added: true } : {}), ...(c.removed ? { removed: true } : {}) }));
}

type Scalar = string | number | boolean | null | undefined;

class Collector {
  readonly out: FieldDiff[] = [];

  /** Text where empty means "not set": '' → 'x' is added, 'x' → '' removed. */
  text(field: string, label: string, before: string | null | undefined, after: string | null | undefined): void {
    const b = before ?? '';
    const a = after ?? '';
    if (b === a) return;
    if (b === '') this.out.push({ field, label, change: 'added', after: a });
    else if (a === '') this.out.push({ field, label, change: 'removed', before: b });
    else this.out.push({ field, label, change: 'changed', before: b, after: a, parts: textDiff(b, a) });
  }

  /** Numbers and flags, shown as text; undefined and null mean "not set". */
  value(field: string, label: string, before: Scalar, after: Scalar): void {
    const b = before ?? undefined;
    const a = after ?? undefined;
    if (b === a) return;
    if (b === undefined) this.out.push({ field, label, change: 'added', after: show(a) });
    else if (a === undefined) this.out.push({ field, label, change: 'removed', before: show(b) });
    else this.out.push({ field, label, change: 'changed', before: show(b), after: show(a) });
  }

  /** A list of text items compared item by item ("Alternate greeting 2"). */
  list(field: string, label: (n: number) => string, before: readonly string[], after: readonly string[]): void {
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      const b = before[i];
      const a = after[i];
      if (b === a) continue;
      if (b === undefined) this.out.push({ field: `${field}.${i}`, label: label(i + 1), change: 'added', after: a! });
      else if (a === undefined) this.out.push({ field: `${field}.${i}`, label: label(i + 1), change: 'removed', before: b });
      else this.text(`${field}.${i}`, label(i + 1), b, a);
    }
  }

  /** A change told without its content. */
  note(field: string, label: string, change: FieldDiff['change']): void {
    this.out.push({ field, label, change });
  }

  /** Something only summarised: one line saying it changed. */
  summary(field: string, label: string, before: string | undefined, after: string | undefined): void {
    if (before === after) return;
    if (before === undefined) this.out.push({ field, label, change: 'added', after: after! });
    else if (after === undefined) this.out.push({ field, label, change: 'removed', before });
    else this.out.push({ field, label, change: 'changed', before, after });
  }
}

function show(v: Scalar): string {
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}


/** The differences from `before` to `after`, in the order the Character Builder shows the fields. */
export function diffPersonas(before: CardPersona, after: CardPersona): FieldDiff[] {
  const c = new Collector();
  c.text('name', 'Name', before.name, after.name);
  c.text('nickname', 'Nickname', before.nickname, after.nickname);
  c.text('description', 'Description (list line)', before.description, after.description);
  c.text('icon', 'Icon', before.icon, after.icon);
  c.summary('avatar', 'Picture', avatarText(before.avatar), avatarText(after.avatar));
  c.text('characterDescription', 'Character description', before.characterDescription, after.characterDescription);
  c.text('personality', 'Personality', before.personality, after.personality);
  c.text('scenario', 'Scenario', before.scenario, after.scenario);
  c.text('systemPrompt', 'System prompt', before.systemPrompt, after.systemPrompt);
  c.text('greeting', 'Greeting', before.greeting, after.greeting);
  c.list('alternateGreetings', (n) => `Alternate greeting ${n}`, before.alternateGreetings, after.alternateGreetings);
  c.list('groupOnlyGreetings', (n) => `Group-only greeting ${n}`, before.groupOnlyGreetings, after.groupOnlyGreetings);
  c.text('exampleDialogue', 'Example dialogue', before.exampleDialogue, after.exampleDialogue);
  c.text('postHistoryInstructions', 'Post-history instructions', before.postHistoryInstructions, after.postHistoryInstructions);
  c.text('tags', 'Tags', before.tags.join(', '), after.tags.join(', '));
  for (const key of SETTING_KEYS) {
    const shown = (s: CardPersona['sampling']) => {
      const v = s[key];
      return Array.isArray(v) ? v.map((x) => JSON.stringify(x)).join(', ') || undefined : v;
    };
    c.value(`sampling.${key}`, settingLabel(key), shown(before.sampling), shown(after.sampling));
  }
  diffLorebooks(c, before.lorebook, after.lorebook);
  c.text('creatorNotes', 'Creator notes', before.creatorNotes, after.creatorNotes);
  c.text('creator', 'Creator', before.creator, after.creator);
  c.text('characterVersion', 'Character version', before.characterVersion, after.characterVersion);
  c.summary('cardSource', 'Imported from', sourceText(before.cardSource), sourceText(after.cardSource));
  if (stableJson(before.card) !== stableJson(after.card)) {
    // Only what Persona does not show differs here (other apps' data, dates, files): one line.
    c.note('card', 'Original card data kept for export', !before.card ? 'added' : !after.card ? 'removed' : 'changed');
  }
  return c.out;
}

function avatarText(a: CardPersona['avatar']): string | undefined {
  return a ? `${a.ext.toUpperCase()} picture (${a.file})` : undefined;
}

function sourceText(s: CardPersona['cardSource']): string | undefined {
  if (!s) return undefined;
  const spec = { chara_card_v1: 'Character Card V1', chara_card_v2: 'Character Card V2', chara_card_v3: 'Character Card V3' }[s.spec];
  return `${s.fileName ? `${s.fileName}, ` : ''}${spec} ${s.format.toUpperCase()}`;
}

// --- lorebook ----------------------------------------------------------------------------------

function diffLorebooks(c: Collector, before: Lorebook | undefined, after: Lorebook | undefined): void {
  if (!before && !after) return;
  if (!before || !after) {
    const book = (before ?? after)!;
    const text = `${book.name ? `“${book.name}”, ` : ''}${book.entries.length} ${book.entries.length === 1 ? 'entry' : 'entries'}`;
    c.summary('lorebook', 'Lorebook', before ? text : undefined, after ? text : undefined);
    return;
  }
  c.text('lorebook.name', 'Lorebook name', before.name, after.name);
  c.text('lorebook.description', 'Lorebook description', before.description, after.description);
  c.value('lorebook.scan_depth', 'Lorebook scan depth', before.scan_depth, after.scan_depth);
  c.value('lorebook.token_budget', 'Lorebook token budget', before.token_budget, after.token_budget);
  c.value('lorebook.recursive_scanning', 'Lorebook recursive scanning', before.recursive_scanning, after.recursive_scanning);

  for (const { b, a, index } of matchEntries(before.entries, after.entries)) {
    const field = `lorebook.entries.${index}`;
    const label = `Lorebook entry “${entryTitle(a ?? b!, index)}”`;
    if (!b) {
      c.out.push({ field, label, change: 'added', after: entrySummary(a!) });
      continue;
    }
    if (!a) {
      c.out.push({ field: `lorebook.removedEntries.${index}`, label, change: 'removed', before: entrySummary(b) });
      continue;
    }
    if (entryTitle(b, index) !== entryTitle(a, index)) c.text(`${field}.name`, `${label}: name`, entryTitle(b, index), entryTitle(a, index));
    c.text(`${field}.keys`, `${label}: keys`, b.keys.join(', '), a.keys.join(', '));
    c.text(`${field}.secondary_keys`, `${label}: secondary keys`, (b.secondary_keys ?? []).join(', '), (a.secondary_keys ?? []).join(', '));
    c.text(`${field}.content`, `${label}: content`, b.content, a.content);
    c.value(`${field}.enabled`, `${label}: enabled`, b.enabled, a.enabled);
    c.value(`${field}.constant`, `${label}: always included`, b.constant, a.constant);
    c.value(`${field}.insertion_order`, `${label}: insertion order`, b.insertion_order, a.insertion_order);
    c.value(`${field}.priority`, `${label}: priority`, b.priority, a.priority);
    c.value(`${field}.position`, `${label}: position`, b.position, a.position);
    c.value(`${field}.case_sensitive`, `${label}: case-sensitive`, b.case_sensitive, a.case_sensitive);
    c.value(`${field}.selective`, `${label}: selective`, b.selective, a.selective);
    c.value(`${field}.use_regex`, `${label}: keys are regular expressions`, b.use_regex, a.use_regex);
    c.text(`${field}.comment`, `${label}: comment`, b.comment, a.comment);
  }
  if (stableJson(before.extensions) !== stableJson(after.extensions)) c.note('lorebook.extensions', 'Lorebook data of other apps', 'changed');
}

function entryTitle(e: LorebookEntry, index: number): string {
  const name = e.name?.trim() || e.comment?.trim() || e.keys.find((k) => k.trim())?.trim();
  return name ? (name.length > 40 ? `${name.slice(0, 40)}…` : name) : `entry ${index + 1}`;
}

function entrySummary(e: LorebookEntry): string {
  return `${e.keys.length > 0 ? `keys: ${e.keys.join(', ')}\n` : ''}${e.content}`;
}

/**
 * Pairs the entries of two lorebooks: by id where both have one, then by name (or comment), then
 * the rest in order. `index` is the entry's position in `after` (or in `before` when removed).
 */
function matchEntries(before: readonly LorebookEntry[], after: readonly LorebookEntry[]): Array<{ b?: LorebookEntry; a?: LorebookEntry; index: number }> {
  const pairOf = new Map<number, number>(); // after index → before index
  const usedBefore = new Set<number>();
  const keyers: Array<(e: LorebookEntry) => string | undefined> = [
    (e) => (e.id === null || e.id === undefined ? undefined : `id:${String(e.id)}`),
    (e) => (e.name?.trim() ? `name:${e.name.trim()}` : e.comment?.trim() ? `comment:${e.comment.trim()}` : undefined),
  ];
  for (const keyOf of keyers) {
    const unique = (list: readonly LorebookEntry[], skip: (i: number) => boolean) => {
      const map = new Map<string, number>();
      const dup = new Set<string>();
      list.forEach((e, i) => {
        if (skip(i)) return;
        const k = keyOf(e);
        if (k === undefined) return;
        if (map.has(k)) dup.add(k);
        map.set(k, i);
      });
      for (const k of dup) map.delete(k);
      return map;
    };
    const b = unique(before, (i) => usedBefore.has(i));
    const a = unique(after, (i) => pairOf.has(i));
    for (const [k, ai] of a) {
      const bi = b.get(k);
      if (bi === undefined) continue;
      pairOf.set(ai, bi);
      usedBefore.add(bi);
    }
  }
  // The rest in order, but only entries that have no identity of their own: an entry whose id or
  // name found no partner was added or removed, not renamed.
  const anonymous = (e: LorebookEntry) => keyers.every((k) => k(e) === undefined);
  const restBefore = before.map((_, i) => i).filter((i) => !usedBefore.has(i) && anonymous(before[i]!));
  const restAfter = after.map((_, i) => i).filter((i) => !pairOf.has(i) && anonymous(after[i]!));
  for (let k = 0; k < Math.min(restBefore.length, restAfter.length); k++) {
    pairOf.set(restAfter[k]!, restBefore[k]!);
    usedBefore.add(restBefore[k]!);
  }

  const out: Array<{ b?: LorebookEntry; a?: LorebookEntry; index: number }> = [];
  after.forEach((a, ai) => {
    const bi = pairOf.get(ai);
    out.push(bi === undefined ? { a, index: ai } : { b: before[bi]!, a, index: ai });
  });
  before.forEach((b, bi) => {
    if (!usedBefore.has(bi)) out.push({ b, index: bi });
  });
  return out;
}

/** JSON with object keys sorted, so the same data compares equal whatever its key order. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) : v,
  ) ?? 'undefined';
}
