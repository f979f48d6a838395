// Between a character card and Persona's persona.
//
// `CardPersonaSchema` is the proposed extended persona: today's fields (so it can be used wherever a
// `Persona` is) plus every card field a chat or the Character Builder needs, and the card as it was
// imported. Export lays the persona's fields over that original card, so whatever Persona does not
// model (unknown data keys, other apps' `extensions`, lorebook entry details, assets, dates) comes
// back out unchanged.
import * as z from 'zod/mini';
import { SamplingSchema, type Persona, type Sampling } from '../../shared/persona';
import { CardPersonaSchema, emptyCardFields, type CardPersona, type CardSource } from '../../shared/cardPersona';
import { CardDataSchema, type CardData } from '../../shared/cardSchema';
import { substituteCardMacros } from './cardPrompt';

/** The icon an imported card gets until the person picks one (cards carry pictures, not emoji). */
export const DEFAULT_CARD_ICON = '🎭';
/** Where Persona keeps its own settings inside a card, so they survive export and re-import. */
export const PERSONA_EXTENSION_KEY = 'persona_vscode';

const line = (max: number) => z.string().check(z.trim(), z.minLength(1), z.maxLength(max));

const PersonaExtensionSchema = z.object({
  icon: z.optional(line(16)),
  sampling: z.optional(SamplingSchema),
});

function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
}

/** At most `max` UTF-16 units (what zod's maxLength counts), never cutting a character in half. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = '';
  for (const ch of text) {
    if (out.length + ch.length > max - 1) break;
    out += ch;
  }
  return `${out.trimEnd()}…`;
}

/** The one-line description shown in lists: the creator's note, else the card's description. */
export function cardBlurb(card: Pick<CardData, 'name' | 'creator_notes' | 'description' | 'creator'>): string {
  const raw = firstLine(card.creator_notes) || firstLine(card.description);
  const text = substituteCardMacros(raw, { char: card.name, user: 'you' });
  if (text) return clip(text, 200);
  return card.creator.trim() ? clip(`A character card by ${card.creator.trim()}`, 200) : 'An imported character card';
}

export interface CardToPersonaOptions {
  id: string;
  source?: CardSource;
  avatar?: CardPersona['avatar'];
}

/** A persona that chats as the card does; `card` keeps the original for a lossless export. */
export function cardToPersona(card: CardData, options: CardToPersonaOptions): CardPersona {
  const ours = PersonaExtensionSchema.safeParse(card.extensions[PERSONA_EXTENSION_KEY]);
  const persona: CardPersona = {
    id: options.id,
    name: clip(card.name.trim() || 'Unnamed character', 200),
    description: cardBlurb(card),
    icon: (ours.success && ours.data.icon) || DEFAULT_CARD_ICON,
    systemPrompt: card.system_prompt,
    greeting: card.first_mes,
    tags: card.tags,
    sampling: (ours.success && ours.data.sampling) || {},
    characterDescription: card.description,
    personality: card.personality,
    scenario: card.scenario,
    exampleDialogue: card.mes_example,
    postHistoryInstructions: card.post_history_instructions,
    nickname: card.nickname ?? '',
    ...(card.character_book ? { lorebook: card.character_book } : {}),
    alternateGreetings: card.alternate_greetings,
    groupOnlyGreetings: card.group_only_greetings,
    creatorNotes: card.creator_notes,
    creator: card.creator,
    characterVersion: card.character_version,
    ...(options.avatar ? { avatar: options.avatar } : {}),
    card,
    ...(options.source ? { cardSource: options.source } : {}),
  };
  return CardPersonaSchema.parse(persona);
}

/** A built-in or hand-made persona as a card persona (no original card: export builds one). */
export function personaToCardPersona(p: Persona): CardPersona {
  return {
    ...p,
    ...emptyCardFields(),
    // The list line of a built-in is for people, like a card's creator notes.
    creatorNotes: p.description,
  };
}

function emptyCard(name: string): CardData {
  return CardDataSchema.parse({ name });
}

function samplingIsEmpty(s: Sampling): boolean {
  return Object.values(s).every((v) => v === undefined);
}

export interface PersonaToCardOptions {
  /** Unix seconds: stamped as `modification_date` (the V3 spec asks exporters to), and as `creation_date` on a new card. */
  now?: number;
}

/**
 * The card to export: the persona's fields laid over its original card. Fields Persona clears are
 * removed only if the original had a value; a `null` or missing field stays as it was.
 */
export function personaToCard(p: CardPersona, options: PersonaToCardOptions = {}): CardData {
  const base = p.card ?? emptyCard(p.name);
  const card: CardData = {
    ...base,
    name: p.name,
    description: p.characterDescription,
    personality: p.personality,
    scenario: p.scenario,
    first_mes: p.greeting,
    mes_example: p.exampleDialogue,
    creator_notes: p.creatorNotes,
    system_prompt: p.systemPrompt,
    post_history_instructions: p.postHistoryInstructions,
    alternate_greetings: p.alternateGreetings,
    group_only_greetings: p.groupOnlyGreetings,
    tags: p.tags,
    creator: p.creator,
    character_version: p.characterVersion,
  };

  if (p.nickname.trim()) card.nickname = p.nickname;
  else if (typeof base.nickname === 'string' && base.nickname !== '') delete card.nickname;

  if (p.lorebook) card.character_book = p.lorebook;
  else if (base.character_book) delete card.character_book;

  // Persona's icon and sampling ride along in `extensions`, only when they say something.
  const ours = { ...(p.icon !== DEFAULT_CARD_ICON ? { icon: p.icon } : {}), ...(samplingIsEmpty(p.sampling) ? {} : { sampling: p.sampling }) };
  const { [PERSONA_EXTENSION_KEY]: _previous, ...otherExtensions } = base.extensions;
  card.extensions = Object.keys(ours).length > 0 ? { ...otherExtensions, [PERSONA_EXTENSION_KEY]: ours } : otherExtensions;

  if (options.now !== undefined) {
    card.modification_date = options.now;
    if (!p.card) card.creation_date = options.now;
  }
  return CardDataSchema.parse(card);
}
