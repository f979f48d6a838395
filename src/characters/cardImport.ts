// From a file's bytes to a custom persona ready to save: a character card (V1/V2/V3 as JSON, PNG or
// CHARX) or Persona's own file (a persona with its history). Always a fresh id, so nothing is
// overwritten unless the person chooses "new version" afterwards. Plain Node (no `vscode`): the
// import command asks the questions, this does the rest, and nothing here writes anything.
import { randomBytes } from 'node:crypto';
import { CardError, firstNonSpace, MAX_CARD_FILE_BYTES, parseJsonBytes, readCard, type CardWarning } from './cards/cardCodec';
import type { CardPersona } from '../shared/cardPersona';
import { cardToPersona } from './cards/cardToPersona';
import { imageFormat } from '../util/imageFormat';
import { looksLikePersonaFile, MAX_PERSONA_FILE_BYTES, PersonaFileError, readPersonaFile } from './cards/personaFile';
import type { HistoryEntry } from './personaHistory';

export interface PreparedImport {
  persona: CardPersona;
  /** The picture to store beside the persona (a PNG card's own image, a CHARX icon, a Persona file's). */
  avatar?: Uint8Array;
  /** Files the card came with, by the URI the card uses (CHARX entries, PNG asset chunks). */
  assets: Map<string, Uint8Array>;
  /** Versions a Persona file brought, oldest first, already checked and given the new id. */
  history: HistoryEntry[];
  /** What the file was: a character card, or Persona's own format. */
  kind: 'card' | 'personaFile';
  warnings: CardWarning[];
}

/** `Seraphina Moon` → `seraphina-moon`; letters with accents lose them; nothing usable → `character`. */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return slug || 'character';
}

/** The slug of the name plus a short random suffix, not among `taken`. */
export function freshPersonaId(name: string, taken: (id: string) => boolean, random: () => string = () => randomBytes(3).toString('hex')): string {
  const base = slugify(name);
  for (;;) {
    const id = `${base}-${random()}`;
    if (!taken(id)) return id;
  }
}

export interface PrepareImportOptions {
  fileName: string;
  taken: (id: string) => boolean;
  /** Unix milliseconds, for `cardSource.importedAt`. */
  now?: number;
}

/** Persona files say what they are at their start (`writePersonaFile` puts `format` first). */
const PERSONA_FILE_HEAD = /"format"\s*:\s*"persona"/;

/**
 * What the bytes are, cheaply, for a caller deciding whether to import a file at all (a dropped
 * file that is neither goes elsewhere): a Persona file by what it says at its start (a damaged one
 * still counts, so importing it tells what is wrong), a card when it reads as one.
 */
/**
 * The import of bytes that hold a character card or a Persona file, or undefined when they hold
 * neither (a dropped picture without a card in it goes to memory instead). Parsed once: the import
 * uses what this read.
 */
export function tryPrepareImport(bytes: Uint8Array, options: PrepareImportOptions): PreparedImport | undefined {
  const ownFile = firstNonSpace(bytes) === 0x7b && PERSONA_FILE_HEAD.test(Buffer.from(bytes.subarray(0, 200)).toString('utf8'));
  try {
    return prepareImport(bytes, options);
  } catch (e) {
    // A Persona file that fails is said; bytes that are no card are not this function's business.
    if (CardError.is(e) && !ownFile) return undefined;
    throw e;
  }
}

/** Throws CardError or PersonaFileError for anything that is not a card or a Persona file. */
export function prepareImport(bytes: Uint8Array, options: PrepareImportOptions): PreparedImport {
  const own = personaFileValue(bytes, options.fileName);
  if (own !== undefined) return preparePersonaFile(own, options);

  const parsed = readCard(bytes, options.fileName);
  const id = freshPersonaId(parsed.card.name || 'character', options.taken);
  const warnings = [...parsed.warnings];
  // A CHARX icon may be any file: only pictures a webview shows safely become the avatar.
  let avatarBytes = parsed.avatar?.bytes;
  const avatarExt = avatarBytes ? imageFormat(avatarBytes) : undefined;
  if (avatarBytes && !avatarExt) {
    warnings.push({ code: 'missingAsset', message: 'The card’s icon is not a PNG, JPEG, GIF or WebP picture, so the persona has no picture (the file is kept with the card).' });
    avatarBytes = undefined;
  }
  const avatar = avatarBytes && avatarExt ? { file: `${id}.avatar.${avatarExt}`, ext: avatarExt } : undefined;
  const persona = cardToPersona(parsed.card, {
    id,
    source: { spec: parsed.spec, format: parsed.format, fileName: options.fileName.slice(0, 500), importedAt: options.now ?? Date.now() },
    ...(avatar ? { avatar } : {}),
  });
  return { persona, ...(avatar && avatarBytes ? { avatar: avatarBytes } : {}), assets: parsed.assets, history: [], kind: 'card', warnings };
}

/** The parsed JSON when the bytes are a Persona file; undefined for anything else (cards included). */
function personaFileValue(bytes: Uint8Array, fileName: string): unknown {
  if (firstNonSpace(bytes) !== 0x7b /* { */) return undefined;
  // Our own exports say so at their start; anything else is parsed only within the card limit
  // (readCard refuses larger files with its own message).
  const saysPersona = PERSONA_FILE_HEAD.test(Buffer.from(bytes.subarray(0, 200)).toString('utf8'));
  if (!saysPersona && bytes.length > MAX_CARD_FILE_BYTES) return undefined;
  if (bytes.length > MAX_PERSONA_FILE_BYTES) {
    throw new PersonaFileError('tooLarge', `${(bytes.length / 1024 / 1024).toFixed(1)} MB; the limit is ${MAX_PERSONA_FILE_BYTES / 1024 / 1024} MB`, fileName);
  }
  let value: unknown;
  try {
    value = parseJsonBytes(bytes);
  } catch (e) {
    if (!saysPersona) return undefined; // readCard says what is wrong with it
    throw new PersonaFileError('notJson', (e as { detail?: string }).detail ?? '', fileName);
  }
  return looksLikePersonaFile(value) ? value : undefined;
}

function preparePersonaFile(value: unknown, options: PrepareImportOptions): PreparedImport {
  const content = readPersonaFile(value, options.fileName);
  if (content.avatar && imageFormat(content.avatar.bytes) !== content.avatar.ext) {
    throw new PersonaFileError('invalidFile', `its picture is not the ${content.avatar.ext.toUpperCase()} image it says it is`, options.fileName);
  }
  const id = freshPersonaId(content.persona.name, options.taken);
  // The file's picture names belong to the machine it came from; the registry stores the picture
  // under this persona's own name when it saves.
  const { version: _version, avatar: _avatar, ...rest } = content.persona;
  const persona: CardPersona = { ...rest, id, ...(content.avatar ? { avatar: { file: `${id}.avatar.${content.avatar.ext}`, ext: content.avatar.ext } } : {}) };
  const history = content.history.map((e) => ({ summary: e.summary, persona: { ...e.persona, id, version: e.summary.version } }));
  return {
    persona,
    ...(content.avatar ? { avatar: content.avatar.bytes } : {}),
    assets: content.assets,
    history,
    kind: 'personaFile',
    warnings: [],
  };
}
