// Character Card V1 / V2 (`chara_card_v2`) / V3 (`chara_card_v3`) as zod/mini schemas.
//
// Every object is loose: keys we do not know are kept, so a card survives a round trip through
// Persona with other apps' data intact (the V2 spec requires it for `extensions`; V3 asks for it for
// everything). The schemas are lenient where real cards are sloppy (a missing or null field takes
// the spec's default) and strict about types (a number where text belongs is an invalid card).
// Their output is already normalised: what `CardV3DataSchema` returns is the internal `CardData`.
import * as z from 'zod/mini';

/** Text that a card may leave out or set to null: the spec's default is the empty string. */
const text = () => z.pipe(z.nullish(z.string()), z.transform((v) => v ?? ''));
const textList = () => z.pipe(z.nullish(z.array(z.string())), z.transform((v) => v ?? []));
const flag = (fallback: boolean) => z.pipe(z.nullish(z.boolean()), z.transform((v) => v ?? fallback));
/** Free-form app data: kept as it is, never interpreted. */
const extensions = () =>
  z.pipe(
    z.nullish(z.record(z.string(), z.unknown())),
    z.transform((v): Record<string, unknown> => v ?? {}),
  );

export const LorebookEntrySchema = z.looseObject({
  keys: textList(),
  content: text(),
  extensions: extensions(),
  enabled: flag(true),
  insertion_order: z.pipe(z.nullish(z.number()), z.transform((v) => v ?? 0)),
  case_sensitive: z.nullish(z.boolean()),
  /** V3: keys are regular expressions. */
  use_regex: flag(false),
  constant: z.nullish(z.boolean()),
  name: z.nullish(z.string()),
  priority: z.nullish(z.number()),
  // The V2 spec says number, the V3 text says string; both are seen in the wild.
  id: z.nullish(z.union([z.number(), z.string()])),
  comment: z.nullish(z.string()),
  selective: z.nullish(z.boolean()),
  secondary_keys: z.nullish(z.array(z.string())),
  // The spec names 'before_char' | 'after_char'; other apps write other values, which we keep
  // (and place like 'before_char').
  position: z.nullish(z.string()),
});
export type LorebookEntry = z.output<typeof LorebookEntrySchema>;

export const LorebookSchema = z.looseObject({
  name: z.nullish(z.string()),
  description: z.nullish(z.string()),
  scan_depth: z.nullish(z.number()),
  token_budget: z.nullish(z.number()),
  recursive_scanning: z.nullish(z.boolean()),
  extensions: extensions(),
  entries: z.pipe(z.nullish(z.array(LorebookEntrySchema)), z.transform((v) => v ?? [])),
});
export type Lorebook = z.output<typeof LorebookSchema>;

export const CardAssetSchema = z.looseObject({
  type: z.string(),
  /** `embeded://path` (sic, the spec's spelling), `ccdefault:`, `__asset:N`, https: or data: URL. */
  uri: z.string(),
  name: text(),
  ext: text(),
});
export type CardAsset = z.output<typeof CardAssetSchema>;

/** V1: the six fields, flat at the top level. */
export const CardV1Schema = z.looseObject({
  name: z.string(),
  description: text(),
  personality: text(),
  scenario: text(),
  first_mes: text(),
  mes_example: text(),
});
export type CardV1 = z.output<typeof CardV1Schema>;

const v2DataShape = {
  name: z.string(),
  description: text(),
  personality: text(),
  scenario: text(),
  first_mes: text(),
  mes_example: text(),
  creator_notes: text(),
  system_prompt: text(),
  post_history_instructions: text(),
  alternate_greetings: textList(),
  character_book: z.nullish(LorebookSchema),
  tags: textList(),
  creator: text(),
  character_version: text(),
  extensions: extensions(),
};

export const CardV2DataSchema = z.looseObject(v2DataShape);
export type CardV2Data = z.output<typeof CardV2DataSchema>;

export const CardV2Schema = z.looseObject({
  spec: z.literal('chara_card_v2'),
  spec_version: z.nullish(z.string()),
  data: CardV2DataSchema,
});

export const CardV3DataSchema = z.looseObject({
  ...v2DataShape,
  nickname: z.nullish(z.string()),
  creator_notes_multilingual: z.nullish(z.record(z.string(), z.string())),
  source: z.nullish(z.array(z.string())),
  group_only_greetings: textList(),
  /** Unix seconds; 0 = unknown. */
  creation_date: z.nullish(z.number()),
  modification_date: z.nullish(z.number()),
  assets: z.nullish(z.array(CardAssetSchema)),
});

/**
 * The one internal model of a character card, whatever it was read from: V3's `data`, every field
 * present (defaults filled in), unknown keys kept.
 */
export type CardData = z.output<typeof CardV3DataSchema>;
/** Validates stored card data (it is already normalised, so parsing it again changes nothing). */
export const CardDataSchema = CardV3DataSchema;

export const CardV3Schema = z.looseObject({
  spec: z.literal('chara_card_v3'),
  spec_version: z.nullish(z.string()),
  data: CardV3DataSchema,
});

export const CARD_V2_SPEC = 'chara_card_v2';
export const CARD_V3_SPEC = 'chara_card_v3';
export type CardSpec = 'chara_card_v1' | typeof CARD_V2_SPEC | typeof CARD_V3_SPEC;
