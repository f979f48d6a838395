// Prompt assembly the way character card authors expect it (Character Card V2/V3 specs, and what
// SillyTavern does where the specs leave room). Pure: no `vscode`, no I/O, tokens counted by the
// caller's counter.
import type { ChatMessage } from '../../providers/types';
import { PromptTooLongError, type TokenCounter } from '../prompt';
import type { CardData, Lorebook, LorebookEntry } from '../../shared/cardSchema';

/** Tokens a chat template adds around each message; the same estimate as `prompt.ts`. */
export const PER_MESSAGE_OVERHEAD = 6;
/** How many recent messages are scanned for lorebook keys when the book does not say. */
export const DEFAULT_SCAN_DEPTH = 2;

/** The fields that can reach the model. Creator notes, creator, version and tags are not among them. */
export type PromptCard = Pick<CardData, 'name' | 'description' | 'personality' | 'scenario' | 'system_prompt' | 'mes_example' | 'post_history_instructions'> & {
  nickname?: string | null | undefined;
  character_book?: Lorebook | null | undefined;
};

export interface HistoryMessage {
  role: 'user' | 'assistant';
  content: string;
  status?: string;
}

export interface CardPromptInput {
  card: PromptCard;
  userName: string;
  /** The conversation so far, ending with the user message to answer (macros already applied). */
  history: readonly HistoryMessage[];
  /** Persona's own system prompt: used when the card has none, and for `{{original}}`. */
  defaultSystemPrompt: string;
  countTokens: TokenCounter;
  /** Tokens the whole prompt may use; absent = no trimming. */
  contextBudget?: number;
  /**
   * Passages from the workspace memory, as a ready system-prompt section: after the character,
   * before the examples. The first thing left out when the context is short (after examples).
   */
  memory?: string;
}

export interface ActivatedEntry {
  /** Index in `character_book.entries`. */
  index: number;
  /** Why it is in: always-on (`constant` or `@@activate`), or the key that matched. */
  reason: 'constant' | 'key';
  key?: string;
  position: 'before_char' | 'after_char';
  tokens: number;
}

export interface CardPrompt {
  messages: ChatMessage[];
  /** Entries placed in the prompt, in prompt order. */
  activatedEntries: ActivatedEntry[];
  /** Indexes of entries that matched but did not fit the book's `token_budget`. */
  overBudgetEntries: number[];
  /** The example dialogue blocks (split at `<START>`), macros applied, as sent. */
  exampleBlocks: string[];
  promptTokens: number;
  /** Oldest history messages left out to fit `contextBudget`. */
  droppedMessages: number;
  /** Example blocks left out (from the last) once no more history could go. */
  droppedExamples: number;
  /** The memory section was left out to fit `contextBudget`. */
  droppedMemory: boolean;
  /** Tokens per part of the prompt, as counted here (each message's few tokens of framing go to its part). */
  breakdown: PromptBreakdown;
}

export interface PromptBreakdown {
  /** The system prompt and the persona's fields. */
  system: number;
  lorebook: number;
  examples: number;
  memory: number;
  /** The conversation kept, the message being answered included. */
  history: number;
  postHistory: number;
}

// ---------------------------------------------------------------------------------------------

const MACRO = /\{\{char\}\}|<bot>|<char>|\{\{user\}\}|<user>/gi;

/**
 * `{{char}}`/`<BOT>`/`<CHAR>` → the character, `{{user}}`/`<USER>` → the user; case-insensitive, in one
 * pass, so a name that itself looks like a macro (or holds `$&`) is inserted literally.
 */
export function substituteCardMacros(text: string, names: { char: string; user: string }): string {
  return text.replace(MACRO, (m) => (m.toLowerCase().includes('user') ? names.user : names.char));
}

const ORIGINAL = /\{\{original\}\}/gi;

/** A card's `system_prompt` replaces the default unless empty; `{{original}}` in it is the default. */
export function effectiveSystemPrompt(cardSystemPrompt: string, defaultSystemPrompt: string): string {
  if (cardSystemPrompt.trim() === '') return defaultSystemPrompt;
  return cardSystemPrompt.replace(ORIGINAL, () => defaultSystemPrompt);
}

/** `mes_example` split at `<START>` (any case) into trimmed, non-empty blocks. */
export function splitExampleDialogue(mesExample: string): string[] {
  return mesExample
    .split(/<start>/i)
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
}

// --- Lorebook ------------------------------------------------------------------------------------

/**
 * V3 decorators (`@@name value` lines at the start of an entry's content, `@@@` for fallbacks) are
 * stripped before the content reaches the prompt. Only `@@activate` and `@@dont_activate` are
 * honoured; the others are dropped, as the spec allows.
 */
export function parseDecorators(content: string): { decorators: Set<string>; body: string } {
  const decorators = new Set<string>();
  const lines = content.split('\n');
  let i = 0;
  for (; i < lines.length; i++) {
    const m = /^(@@@?)([A-Za-z_][A-Za-z0-9_]*)\b/.exec(lines[i]!.trim());
    if (!m) break;
    if (m[1] === '@@') decorators.add(m[2]!.toLowerCase());
  }
  return { decorators, body: lines.slice(i).join('\n').trim() };
}

function keyMatches(key: string, haystack: string, haystackLower: string, caseSensitive: boolean): boolean {
  if (key.length === 0) return false;
  return caseSensitive ? haystack.includes(key) : haystackLower.includes(key.toLowerCase());
}

interface Candidate extends ActivatedEntry {
  entry: LorebookEntry;
  content: string;
}

function activateLorebook(
  book: Lorebook,
  scanText: string,
  names: { char: string; user: string },
  countTokens: TokenCounter,
): { active: Candidate[]; overBudget: number[] } {
  const lower = scanText.toLowerCase();
  const matched: Candidate[] = [];
  book.entries.forEach((entry, index) => {
    if (!entry.enabled) return;
    // Regex keys are not run: a card's pattern would execute in the extension host with no time
    // limit (catastrophic backtracking). Such entries stay in the card, inactive.
    if (entry.use_regex) return;
    const { decorators, body } = parseDecorators(entry.content);
    if (body.length === 0) return;
    const position = entry.position === 'after_char' ? 'after_char' : 'before_char';
    const content = substituteCardMacros(body, names);
    const found = (base: Omit<ActivatedEntry, 'index' | 'position' | 'tokens'>) =>
      matched.push({ ...base, index, position, tokens: countTokens(content), entry, content });

    if (entry.constant === true || decorators.has('activate')) return void found({ reason: 'constant' });
    if (decorators.has('dont_activate') || scanText.length === 0) return;
    const cs = entry.case_sensitive === true;
    const has = (k: string) => keyMatches(substituteCardMacros(k, names), scanText, lower, cs);
    const key = entry.keys.find(has);
    if (key === undefined) return;
    const secondary = entry.secondary_keys ?? [];
    if (entry.selective === true && secondary.length > 0 && !secondary.some(has)) return;
    found({ reason: 'key', key });
  });

  // Over the budget, the least important go first: lowest `priority` when the book uses it,
  // otherwise lowest `insertion_order` (the V3 spec's rule).
  const budget = typeof book.token_budget === 'number' && book.token_budget > 0 ? book.token_budget : Infinity;
  const usesPriority = matched.some((c) => typeof c.entry.priority === 'number');
  const rank = (c: Candidate) => (usesPriority ? (c.entry.priority ?? -Infinity) : c.entry.insertion_order);
  const byImportance = [...matched].sort((a, b) => rank(b) - rank(a) || b.entry.insertion_order - a.entry.insertion_order || a.index - b.index);
  const kept = new Set<Candidate>();
  let used = 0;
  for (const c of byImportance) {
    if (used + c.tokens > budget) break;
    used += c.tokens;
    kept.add(c);
  }
  const active = matched.filter((c) => kept.has(c)).sort((a, b) => a.entry.insertion_order - b.entry.insertion_order || a.index - b.index);
  const overBudget = matched.filter((c) => !kept.has(c)).map((c) => c.index);
  return { active, overBudget };
}

// --- Assembly ------------------------------------------------------------------------------------

/** A turn of the history that goes to the model: not empty, not a failed reply. */
export function isUsableTurn(m: HistoryMessage): boolean {
  return m.content.length > 0 && m.status !== 'error';
}

function usableHistory(history: readonly HistoryMessage[]): ChatMessage[] {
  return history.filter(isUsableTurn).map((m) => ({ role: m.role, content: m.content }));
}

export function assembleCardPrompt(input: CardPromptInput): CardPrompt {
  const { card, countTokens } = input;
  const names = { char: card.nickname?.trim() || card.name, user: input.userName };
  const sub = (t: string) => substituteCardMacros(t, names);
  const turns = usableHistory(input.history);

  const book = card.character_book;
  const depth = book && typeof book.scan_depth === 'number' && book.scan_depth >= 0 ? Math.floor(book.scan_depth) : DEFAULT_SCAN_DEPTH;
  const scanText = depth === 0 ? '' : turns.slice(-depth).map((m) => m.content).join('\n');
  const lore = book ? activateLorebook(book, scanText, names, countTokens) : { active: [], overBudget: [] };
  const loreAt = (p: ActivatedEntry['position']) => lore.active.filter((c) => c.position === p).map((c) => c.content).join('\n');

  const head = [
    sub(effectiveSystemPrompt(card.system_prompt, input.defaultSystemPrompt)),
    loreAt('before_char'),
    sub(card.description),
    card.personality.trim() ? `${names.char}'s personality: ${sub(card.personality)}` : '',
    card.scenario.trim() ? `Scenario: ${sub(card.scenario)}` : '',
    loreAt('after_char'),
  ]
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const allExamples = splitExampleDialogue(card.mes_example).map(sub);
  const memory = input.memory?.trim() ?? '';
  let withMemory = memory.length > 0;
  const systemFor = (examples: readonly string[]): ChatMessage => ({
    role: 'system',
    content: [...head, ...(withMemory ? [memory] : []), ...examples.map((b) => `[Example dialogue, not part of this chat]\n${b}`)].join('\n\n'),
  });

  const postText = sub(card.post_history_instructions.replace(ORIGINAL, '')).trim();
  const post: ChatMessage[] = postText ? [{ role: 'system', content: postText }] : [];

  const cost = (m: ChatMessage) => countTokens(m.content) + PER_MESSAGE_OVERHEAD;
  const turnCosts = turns.map(cost);
  const fixed = post.reduce((n, m) => n + cost(m), 0);
  let examples = allExamples;
  let system = systemFor(examples);
  let total = cost(system) + fixed + turnCosts.reduce((a, b) => a + b, 0);
  let dropped = 0;

  if (input.contextBudget !== undefined) {
    const budget = input.contextBudget;
    // Oldest history first; the message being answered always stays.
    while (total > budget && dropped < turns.length - 1) total -= turnCosts[dropped++]!;
    while (total > budget && examples.length > 0) {
      total -= cost(system);
      examples = examples.slice(0, -1);
      system = systemFor(examples);
      total += cost(system);
    }
    if (total > budget && withMemory) {
      total -= cost(system);
      withMemory = false;
      system = systemFor(examples);
      total += cost(system);
    }
    if (total > budget) throw new PromptTooLongError(total, budget);
  }

  const loreTokens = lore.active.reduce((n, c) => n + c.tokens, 0);
  const memoryTokens = withMemory ? countTokens(memory) : 0;
  const exampleTokens = examples.reduce((n, b) => n + countTokens(`[Example dialogue, not part of this chat]\n${b}`), 0);
  const breakdown: PromptBreakdown = {
    system: Math.max(0, cost(system) - loreTokens - memoryTokens - exampleTokens),
    lorebook: loreTokens,
    examples: exampleTokens,
    memory: memoryTokens,
    history: turnCosts.slice(dropped).reduce((a, b) => a + b, 0),
    postHistory: fixed,
  };
  return {
    breakdown,
    messages: [system, ...turns.slice(dropped), ...post],
    activatedEntries: lore.active.map(({ index, reason, key, position, tokens }) => ({ index, reason, ...(key !== undefined ? { key } : {}), position, tokens })),
    overBudgetEntries: lore.overBudget,
    exampleBlocks: examples,
    promptTokens: total,
    droppedMessages: dropped,
    droppedExamples: allExamples.length - examples.length,
    droppedMemory: memory.length > 0 && !withMemory,
  };
}
