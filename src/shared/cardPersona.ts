// The stored shape of a persona that came from a card or the Character Builder: today's `Persona`
// fields plus every card field a chat or the builder needs, and the card as imported (the base an
// export overlays, so nothing Persona does not model is lost). Shared: the builder webview edits it.
import * as z from 'zod/mini';
import { PERSONA_ID_PATTERN, SamplingSchema } from './persona';
import { CardDataSchema, LorebookSchema } from './cardSchema';

const line = (max: number) => z.string().check(z.trim(), z.minLength(1), z.maxLength(max));

/** Largest picture kept with a persona (an imported card's, or one chosen in the Character Builder). */
export const MAX_AVATAR_BYTES = 10 * 1024 * 1024;

export const CardSourceSchema = z.object({
  spec: z.enum(['chara_card_v1', 'chara_card_v2', 'chara_card_v3']),
  format: z.enum(['json', 'png', 'charx']),
  fileName: z.optional(z.string().check(z.maxLength(500))),
  /** Unix milliseconds. */
  importedAt: z.number(),
});
export type CardSource = z.infer<typeof CardSourceSchema>;

export const CardPersonaSchema = z.object({
  // --- today's Persona fields (limits relaxed where cards need it) -------------------------------
  id: z.string().check(z.regex(PERSONA_ID_PATTERN, 'id must be lower-case letters, digits and dashes')),
  name: line(200),
  /** One line for lists and pickers; never sent to the model. */
  description: line(200),
  icon: line(16),
  /** The card's `system_prompt`. Empty: Persona's default system prompt is used. */
  systemPrompt: z.string(),
  /** The card's `first_mes`; may be empty. */
  greeting: z.string(),
  tags: z.array(z.string()),
  sampling: SamplingSchema,

  // --- card fields that reach the model ------------------------------------------------------------
  /** The card's `description`: the character itself (the long text, unlike `description` above). */
  characterDescription: z.string(),
  personality: z.string(),
  scenario: z.string(),
  /** `mes_example`: blocks separated by `<START>`. */
  exampleDialogue: z.string(),
  postHistoryInstructions: z.string(),
  /** Used for `{{char}}` instead of the name when not empty (V3). */
  nickname: z.string(),
  lorebook: z.optional(LorebookSchema),

  // --- card fields for people only ---------------------------------------------------------------
  alternateGreetings: z.array(z.string()),
  groupOnlyGreetings: z.array(z.string()),
  creatorNotes: z.string(),
  creator: z.string(),
  characterVersion: z.string(),

  // --- Persona's own ----------------------------------------------------------------------------
  /** A picture stored beside the persona file (the PNG a card came in, or one the person chose). */
  avatar: z.optional(z.object({ file: z.string().check(z.regex(/^[A-Za-z0-9._-]{1,100}$/)), ext: z.string().check(z.maxLength(10)) })),
  /** The card as imported (or as last exported): the base that export overlays. */
  card: z.optional(CardDataSchema),
  cardSource: z.optional(CardSourceSchema),
  /** The version of this content in the persona's history; absent in files saved before versioning. */
  version: z.optional(z.number()),
});
export type CardPersona = z.infer<typeof CardPersonaSchema>;

/** The fields a card persona has beyond a plain persona, empty: what a persona that came from no card holds. */
export function emptyCardFields() {
  return {
    characterDescription: '',
    personality: '',
    scenario: '',
    exampleDialogue: '',
    postHistoryInstructions: '',
    nickname: '',
    alternateGreetings: [] as string[],
    groupOnlyGreetings: [] as string[],
    creatorNotes: '',
    creator: '',
    characterVersion: '',
  } satisfies Partial<CardPersona>;
}

// --- versions -------------------------------------------------------------------------------------
// Here rather than beside the history store: the builder webview lists versions too.

export const VERSION_KINDS = ['create', 'edit', 'import', 'restore', 'snapshot'] as const;
export type VersionKind = (typeof VERSION_KINDS)[number];

export const VersionSummarySchema = z.object({
  version: z.int().check(z.gte(1)),
  /** Unix milliseconds. */
  savedAt: z.number(),
  kind: z.enum(VERSION_KINDS),
  /** A snapshot's name, given by the person. */
  name: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(100))),
  /** For a restore: the version whose content it brought back. */
  restoredFrom: z.optional(z.int().check(z.gte(1))),
});
export type VersionSummary = z.infer<typeof VersionSummarySchema>;
