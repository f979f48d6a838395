// Persona's own file format: a persona exactly as Persona stores it, optionally with its version
// history, its picture and the files its card came with, so nothing is lost between two machines:
//
//   { "format": "persona", "formatVersion": 1, "persona": {...}, "history"?: [{ summary, persona }],
//     "avatar"?: { ext, data (base64) }, "assets"?: [{ uri, data (base64) }] }
//
// Reading treats the file as hostile like the card reader does: one PersonaFileError with a reason
// for anything wrong, history entries included, and nothing half-read is ever returned.
import * as z from 'zod/mini';
import { CardPersonaSchema, VersionSummarySchema, type CardPersona } from '../../shared/cardPersona';
import type { HistoryEntry } from '../personaHistory';
import { PersonaError } from '../../util/personaError';

export const PERSONA_FILE_FORMAT = 'persona';
export const PERSONA_FILE_VERSION = 1;
/** Larger than a card's limit: a history holds the persona many times over. */
export const MAX_PERSONA_FILE_BYTES = 64 * 1024 * 1024;

export type PersonaFileErrorReason = 'tooLarge' | 'notJson' | 'newerFormat' | 'invalidFile' | 'invalidPersona' | 'invalidHistory';

function message(reason: PersonaFileErrorReason, file: string, detail: string): string {
  const d = detail ? ` (${detail})` : '';
  switch (reason) {
    case 'tooLarge':
      return `${file} is too large to import${d}. Export the persona again without its version history.`;
    case 'notJson':
      return `${file} is not readable JSON${d}. Export the persona again.`;
    case 'newerFormat':
      return `${file} was exported by a newer version of Persona${d}. Update the Persona extension, then import it again.`;
    case 'invalidFile':
      return `${file} is a Persona file with invalid parts${d}. Export the persona again; nothing was imported.`;
    case 'invalidPersona':
      return `The persona in ${file} has invalid fields${d}. Fix them or export it again; nothing was imported.`;
    case 'invalidHistory':
      return `The version history in ${file} is damaged${d}. Export the persona again (or without its history); nothing was imported.`;
  }
}

export class PersonaFileError extends PersonaError<PersonaFileErrorReason> {
  constructor(
    reason: PersonaFileErrorReason,
    readonly detail = '',
    readonly fileName?: string,
  ) {
    super(reason, message(reason, fileName ? `"${fileName}"` : 'The file', detail));
    this.name = 'PersonaFileError';
  }
}

const base64 = () => z.string().check(z.regex(/^[A-Za-z0-9+/]*={0,2}$/, 'should be base64'));

const AvatarSchema = z.object({ ext: z.enum(['png', 'jpg', 'gif', 'webp']), data: base64() });
const AssetSchema = z.object({ uri: z.string().check(z.minLength(1), z.maxLength(2000)), data: base64() });
const HistoryItemSchema = z.object({ summary: VersionSummarySchema, persona: CardPersonaSchema });

export interface PersonaFileContent {
  persona: CardPersona;
  /** Oldest first. */
  history?: readonly HistoryEntry[];
  avatar?: { bytes: Uint8Array; ext: 'png' | 'jpg' | 'gif' | 'webp' };
  assets?: ReadonlyMap<string, Uint8Array>;
}

export function writePersonaFile(content: PersonaFileContent, now = Date.now()): string {
  const file = {
    format: PERSONA_FILE_FORMAT,
    formatVersion: PERSONA_FILE_VERSION,
    exportedAt: now,
    persona: CardPersonaSchema.parse(content.persona),
    ...(content.history && content.history.length > 0 ? { history: content.history.map((e) => ({ summary: e.summary, persona: e.persona })) } : {}),
    ...(content.avatar ? { avatar: { ext: content.avatar.ext, data: Buffer.from(content.avatar.bytes).toString('base64') } } : {}),
    ...(content.assets && content.assets.size > 0
      ? { assets: [...content.assets].map(([uri, bytes]) => ({ uri, data: Buffer.from(bytes).toString('base64') })) }
      : {}),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** True for parsed JSON that says it is a Persona file (valid or not: reading it tells). */
export function looksLikePersonaFile(value: unknown): boolean {
  return isRecord(value) && value.format === PERSONA_FILE_FORMAT;
}

function issues(error: z.core.$ZodError, prefix = ''): string {
  const shown = error.issues.slice(0, 3).map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || 'the file'}: ${i.message}`);
  return shown.join('; ') + (error.issues.length > 3 ? `, and ${error.issues.length - 3} more` : '');
}

/** A Persona file's content, checked through; throws PersonaFileError. */
export function readPersonaFile(value: unknown, fileName?: string): Required<Pick<PersonaFileContent, 'persona'>> & {
  history: HistoryEntry[];
  avatar?: { bytes: Uint8Array; ext: 'png' | 'jpg' | 'gif' | 'webp' };
  assets: Map<string, Uint8Array>;
} {
  const fail = (reason: PersonaFileErrorReason, detail = '') => new PersonaFileError(reason, detail, fileName);
  if (!looksLikePersonaFile(value)) throw fail('invalidFile', 'it does not say "format": "persona"');
  const file = value as Record<string, unknown>;
  const version = file.formatVersion;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) throw fail('invalidFile', 'its formatVersion is missing or not a whole number');
  if (version > PERSONA_FILE_VERSION) throw fail('newerFormat', `format version ${version}; this Persona reads version ${PERSONA_FILE_VERSION}`);

  const persona = CardPersonaSchema.safeParse(file.persona);
  if (!persona.success) throw fail('invalidPersona', issues(persona.error, 'persona'));

  const history: HistoryEntry[] = [];
  if (file.history !== undefined) {
    if (!Array.isArray(file.history)) throw fail('invalidHistory', 'history should be a list');
    const seen = new Set<number>();
    file.history.forEach((raw, i) => {
      const entry = HistoryItemSchema.safeParse(raw);
      if (!entry.success) throw fail('invalidHistory', `entry ${i + 1}: ${issues(entry.error)}`);
      const n = entry.data.summary.version;
      if (seen.has(n)) throw fail('invalidHistory', `version ${n} appears twice`);
      seen.add(n);
      history.push(entry.data);
    });
    history.sort((a, b) => a.summary.version - b.summary.version);
  }

  let avatar: { bytes: Uint8Array; ext: 'png' | 'jpg' | 'gif' | 'webp' } | undefined;
  if (file.avatar !== undefined) {
    const a = AvatarSchema.safeParse(file.avatar);
    if (!a.success) throw fail('invalidFile', issues(a.error, 'avatar'));
    avatar = { bytes: new Uint8Array(Buffer.from(a.data.data, 'base64')), ext: a.data.ext };
  }

  const assets = new Map<string, Uint8Array>();
  if (file.assets !== undefined) {
    if (!Array.isArray(file.assets)) throw fail('invalidFile', 'assets should be a list');
    file.assets.forEach((raw, i) => {
      const a = AssetSchema.safeParse(raw);
      if (!a.success) throw fail('invalidFile', `asset ${i + 1}: ${issues(a.error)}`);
      if (assets.has(a.data.uri)) throw fail('invalidFile', `the asset ${JSON.stringify(a.data.uri.slice(0, 60))} appears twice`);
      assets.set(a.data.uri, new Uint8Array(Buffer.from(a.data.data, 'base64')));
    });
  }
  return { persona: persona.data, history, ...(avatar ? { avatar } : {}), assets };
}
