// The persona as stored in `characters/*.json` (built-ins) and, later, in global storage (custom ones).
// Plain data checked with zod on every read: a file that fails is reported and skipped, never trusted.
import * as z from 'zod/mini';
import { SamplingSchema } from './sampling';

export const PERSONA_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

export { SamplingSchema, type Sampling } from './sampling';

const text = (min: number, max: number) => z.string().check(z.trim(), z.minLength(min), z.maxLength(max));

export const PersonaSchema = z.object({
  id: z.string().check(z.regex(PERSONA_ID_PATTERN, 'id must be lower-case letters, digits and dashes')),
  name: text(1, 80),
  description: text(1, 200),
  /** One emoji (or a short glyph) shown beside the name. */
  icon: text(1, 16),
  systemPrompt: text(1, 20_000),
  greeting: text(1, 4_000),
  tags: z.array(text(1, 40)).check(z.maxLength(20)),
  sampling: SamplingSchema,
});
export type Persona = z.infer<typeof PersonaSchema>;

export const PersonaSummarySchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  icon: z.string(),
  builtIn: z.boolean(),
});
export type PersonaSummary = z.infer<typeof PersonaSummarySchema>;

export function summarizePersona(p: Persona, builtIn: boolean): PersonaSummary {
  return { id: p.id, name: p.name, description: p.description, icon: p.icon, builtIn };
}
