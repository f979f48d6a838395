// What the model would receive for the persona on the builder's form: assembled by the same
// `assembleCardPrompt` a chat uses, from the form as it is (valid or not), with a sample user turn.
// Plain Node: tokens are counted by the caller's (lazily loaded) counter.
import type { BuilderForm, Preview } from '../shared/builderProtocol';
import type { Lorebook, LorebookEntry } from '../shared/cardSchema';
import { assembleCardPrompt, substituteCardMacros, type PromptCard } from './cards/cardPrompt';
import type { TokenCounter } from './prompt';

export const DEFAULT_SAMPLE_MESSAGE = 'Hello! Tell me about yourself.';

function loose(text: string): number | undefined {
  const n = Number(text.trim());
  return text.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

function formLorebook(form: BuilderForm): Lorebook | undefined {
  const { entries, scanDepth, tokenBudget, rest } = form.lorebook;
  if (entries.length === 0) return undefined;
  return {
    extensions: {},
    ...rest,
    scan_depth: loose(scanDepth) ?? null,
    token_budget: loose(tokenBudget) ?? null,
    entries: entries.map(
      (e) =>
        ({
          extensions: {},
          use_regex: false,
          ...e.rest,
          keys: e.keys
            .split(',')
            .map((k) => k.trim())
            .filter((k) => k.length > 0),
          content: e.content,
          enabled: e.enabled,
          constant: e.constant,
          insertion_order: loose(e.insertionOrder) ?? 0,
        }) as LorebookEntry,
    ),
  } as Lorebook;
}

export function promptCardOfForm(form: BuilderForm): PromptCard {
  return {
    name: form.name.trim() || 'Unnamed',
    nickname: form.nickname,
    description: form.characterDescription,
    personality: form.personality,
    scenario: form.scenario,
    system_prompt: form.systemPrompt,
    mes_example: form.exampleDialogue,
    post_history_instructions: form.postHistoryInstructions,
    character_book: formLorebook(form),
  };
}

export function previewPrompt(
  form: BuilderForm,
  options: { userName: string; sampleMessage: string; defaultSystemPrompt: string; countTokens: TokenCounter },
): Preview {
  const card = promptCardOfForm(form);
  const names = { char: card.nickname?.trim() || card.name, user: options.userName };
  const sample = substituteCardMacros(options.sampleMessage.trim() || DEFAULT_SAMPLE_MESSAGE, names);
  const prompt = assembleCardPrompt({
    card,
    userName: options.userName,
    history: [{ role: 'user', content: sample }],
    defaultSystemPrompt: options.defaultSystemPrompt,
    countTokens: options.countTokens,
  });
  const system = prompt.messages[0]?.content ?? '';
  return {
    messages: prompt.messages.map((m) => ({ role: m.role, content: m.content })),
    systemTokens: options.countTokens(system),
    totalTokens: prompt.promptTokens,
    activatedEntries: prompt.activatedEntries.map((e) => e.index),
  };
}
