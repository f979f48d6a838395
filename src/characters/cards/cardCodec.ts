// Reads and writes Character Cards: JSON, PNG (base64 JSON in `tEXt` chunks) and CHARX (zip).
//
// Everything here treats the file as hostile: sizes are checked before anything is parsed, PNG
// chunks and zip entries are bounds- and CRC-checked, inflating is capped (zip bombs), and every
// failure is one `CardError` with a reason. Text from a card is data: nothing here interprets it.
import { deflateSync, inflateRawSync } from 'node:zlib';
import { zipSync, type Zippable } from 'fflate';
import * as z from 'zod/mini';
import {
  CARD_V2_SPEC,
  CARD_V3_SPEC,
  CardDataSchema,
  CardV1Schema,
  type CardData,
  type CardSpec,
  type CardV2Data,
} from '../../shared/cardSchema';
import { PersonaError } from '../../util/personaError';

// ---------------------------------------------------------------------------------------------
// Limits

/** Largest file accepted at all (cards are usually well under 5 MB, with the picture). */
export const MAX_CARD_FILE_BYTES = 20 * 1024 * 1024;
/** Largest total a CHARX may unpack to (card.json plus assets). */
export const MAX_UNZIPPED_BYTES = 50 * 1024 * 1024;
export const MAX_ZIP_ENTRIES = 2_000;
/** Deeper JSON than this is not a card, and would overflow the stack when written back. */
const MAX_JSON_DEPTH = 200;
/**
 * Largest card JSON (card.json of a CHARX, the JSON in a PNG chunk, a .json card). A card with a
 * large lorebook is a few hundred KB; this leaves a wide margin while a 48 MB `[{},{},…]` (46 KB
 * zipped) is refused before anything parses it.
 */
export const MAX_CARD_JSON_BYTES = 8 * 1024 * 1024;
/** More objects and arrays than this is no card either: JSON.parse of millions of them costs seconds and gigabytes. */
const MAX_JSON_CONTAINERS = 200_000;

// ---------------------------------------------------------------------------------------------
// Errors

export type CardErrorReason =
  | 'tooLarge'
  | 'truncatedPng'
  | 'badPngCrc'
  | 'noCardInPng'
  | 'badBase64'
  | 'notJson'
  | 'wrongSpec'
  | 'invalidCard'
  | 'badZip'
  | 'noCardJson'
  | 'unknownFormat';

const MB = 1024 * 1024;

function cardErrorMessage(reason: CardErrorReason, file: string, detail: string): string {
  const d = detail ? ` (${detail})` : '';
  switch (reason) {
    case 'tooLarge':
      return `${file} is too large to import${d}. Character cards are usually well under 5 MB: check that this is the right file.`;
    case 'truncatedPng':
      return `${file} is an incomplete PNG image${d}. Download or export the card again.`;
    case 'badPngCrc':
      return `${file} is a damaged PNG image${d}. Download or export the card again.`;
    case 'noCardInPng':
      return `${file} is a picture with no character card in it (no "ccv3" or "chara" text chunk). Export the card as PNG from the character app, or import its .json or .charx file.`;
    case 'badBase64':
      return `The character card inside ${file} is not valid base64 text${d}. Download or export the card again.`;
    case 'notJson':
      return `${file} does not contain readable JSON${d}. Download or export the card again.`;
    case 'wrongSpec':
      return `${file} is JSON but not a character card${d}. Persona imports Character Card V1, V2 (chara_card_v2) and V3 (chara_card_v3).`;
    case 'invalidCard':
      return `${file} is a character card with invalid fields${d}. Fix them in the app that made the card, then import it again.`;
    case 'badZip':
      return `${file} is a damaged or unsupported zip archive${d}. Export the card again as .charx, .png or .json.`;
    case 'noCardJson':
      return `${file} is a zip archive without card.json at its root, so it is not a CHARX card. Zip the card's files themselves, not the folder that holds them.`;
    case 'unknownFormat':
      return `${file} is not a character card${d}. Persona imports cards as .json, .png and .charx files.`;
  }
}

export class CardError extends PersonaError<CardErrorReason> {
  constructor(
    reason: CardErrorReason,
    /** A short technical detail, already part of the message. */
    readonly detail = '',
    readonly fileName?: string,
  ) {
    super(reason, cardErrorMessage(reason, fileName ? `"${fileName}"` : 'The file', detail));
    this.name = 'CardError';
  }
}

/** Card text quoted inside an error message: short, and visibly a quotation. */
function quote(value: unknown): string {
  const s = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

function formatSize(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`;
}

// ---------------------------------------------------------------------------------------------
// Result

export type CardFormat = 'json' | 'png' | 'charx';

export interface CardWarning {
  code: 'newerSpec' | 'ccv3Unreadable' | 'missingAsset';
  message: string;
}

export interface ParsedCard {
  card: CardData;
  /** The spec the file was written to; `card` is V3-shaped either way. */
  spec: CardSpec;
  specVersion?: string;
  format: CardFormat;
  /**
   * Files that came with the card, by the URI the card uses for them: `embeded://path` for every
   * CHARX entry besides card.json, `__asset:path` for PNG `chara-ext-asset_:path` chunks.
   */
  assets: Map<string, Uint8Array>;
  /** The card's picture: the PNG itself (card chunks removed), or CHARX's main icon. */
  avatar?: { bytes: Uint8Array; ext: string };
  warnings: CardWarning[];
}

// ---------------------------------------------------------------------------------------------
// Reading

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

function startsWith(bytes: Uint8Array, prefix: ArrayLike<number>): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** Reads a card from a file's bytes; the format is told by the content, never by the name. */
export function readCard(bytes: Uint8Array, fileName?: string): ParsedCard {
  const fail = (reason: CardErrorReason, detail = '') => new CardError(reason, detail, fileName);
  try {
    if (bytes.length > MAX_CARD_FILE_BYTES) {
      throw fail('tooLarge', `${formatSize(bytes.length)}; the limit is ${formatSize(MAX_CARD_FILE_BYTES)}`);
    }
    if (startsWith(bytes, PNG_SIGNATURE)) return readPngCard(bytes);
    if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04]) || startsWith(bytes, [0x50, 0x4b, 0x05, 0x06])) return readCharx(bytes);
    if (bytes.length < PNG_SIGNATURE.length && bytes.length >= 2 && startsWith(PNG_SIGNATURE, bytes)) {
      throw fail('truncatedPng', 'it ends inside the PNG signature');
    }
    if (startsWith(bytes, [0xff, 0xfe]) || startsWith(bytes, [0xfe, 0xff])) {
      throw fail('notJson', 'the text is UTF-16; save it as UTF-8');
    }
    const first = firstNonSpace(bytes);
    if (first === 0x7b /* { */ || first === 0x5b /* [ */) return readJsonCard(bytes);
    throw fail('unknownFormat', 'not JSON, PNG or a zip archive');
  } catch (e) {
    // Errors are raised without the file name deep inside; add it once, here.
    if (CardError.is(e) && e.fileName === undefined && fileName !== undefined) throw new CardError(e.reason, e.detail, fileName);
    throw e;
  }
}

export function firstNonSpace(bytes: Uint8Array): number | undefined {
  let i = startsWith(bytes, [0xef, 0xbb, 0xbf]) ? 3 : 0;
  for (; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return b;
  }
  return undefined;
}

function readJsonCard(bytes: Uint8Array): ParsedCard {
  const { card, spec, specVersion, warnings } = cardFromJson(parseJsonBytes(bytes));
  return { card, spec, ...(specVersion !== undefined ? { specVersion } : {}), format: 'json', assets: new Map(), warnings };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * UTF-8 JSON (a BOM allowed), at most MAX_CARD_JSON_BYTES, nested at most MAX_JSON_DEPTH deep and
 * with at most MAX_JSON_CONTAINERS objects and arrays, checked in one pass over the bytes before
 * anything is parsed; throws CardError.
 */
export function parseJsonBytes(bytes: Uint8Array): unknown {
  if (bytes.length > MAX_CARD_JSON_BYTES) throw new CardError('tooLarge', `its card data is ${formatSize(bytes.length)}; the limit is ${formatSize(MAX_CARD_JSON_BYTES)}`);
  checkJsonShape(bytes);
  let text: string;
  try {
    text = utf8.decode(bytes); // drops a leading BOM
  } catch {
    throw new CardError('notJson', 'the text is not UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CardError('notJson', e instanceof SyntaxError ? e.message.slice(0, 120) : 'the JSON cannot be parsed');
  }
  if (jsonDepthExceeds(value, MAX_JSON_DEPTH)) throw new CardError('invalidCard', `nested more than ${MAX_JSON_DEPTH} levels deep`);
  return value;
}

/** Depth and number of objects and arrays, counted outside strings, in one pass over the bytes. */
function checkJsonShape(bytes: Uint8Array): void {
  const QUOTE = 0x22, BACKSLASH = 0x5c, OPEN_OBJECT = 0x7b, OPEN_ARRAY = 0x5b, CLOSE_OBJECT = 0x7d, CLOSE_ARRAY = 0x5d;
  let depth = 0;
  let containers = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) {
      inString = true;
    } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      if (++depth > MAX_JSON_DEPTH) throw new CardError('invalidCard', `nested more than ${MAX_JSON_DEPTH} levels deep`);
      if (++containers > MAX_JSON_CONTAINERS) throw new CardError('tooLarge', `it holds more than ${MAX_JSON_CONTAINERS.toLocaleString('en')} objects and lists`);
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      depth--;
    }
  }
}

/** Iterative, so a hostile nesting depth cannot overflow the stack here either. */
function jsonDepthExceeds(root: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** V1 has no marker: a `name` and at least one field only character cards have. */
function looksLikeV1(v: Record<string, unknown>): boolean {
  return typeof v.name === 'string' && ['first_mes', 'mes_example', 'personality', 'scenario'].some((k) => typeof v[k] === 'string');
}

function issuesText(error: z.core.$ZodError): string {
  const shown = error.issues.slice(0, 3).map((i) => {
    const path = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    const what = i.code === 'invalid_type' ? `should be ${i.expected === 'string' ? 'text' : i.expected}` : i.message;
    return `${path || 'the card'} ${what}`;
  });
  const more = error.issues.length > 3 ? `, and ${error.issues.length - 3} more` : '';
  return shown.join('; ') + more;
}

function parseCardData(data: unknown, where: string): CardData {
  if (!isRecord(data)) throw new CardError('invalidCard', `${where} should be an object`);
  const r = CardDataSchema.safeParse(data);
  if (!r.success) throw new CardError('invalidCard', issuesText(r.error));
  return r.data;
}

export const V2_BACKFILL_NOTE =
  'This character card is Character Card V3, but it is loaded as a Character Card V2. Please use a Character Card V3 compatible application to use this character card properly.';

interface FromJson {
  card: CardData;
  spec: CardSpec;
  specVersion?: string;
  warnings: CardWarning[];
}

/** Any parsed JSON value → the internal model, or the reason it is not a card. */
export function cardFromJson(value: unknown): FromJson {
  if (!isRecord(value)) throw new CardError('wrongSpec', Array.isArray(value) ? 'it is a list' : 'it is not an object');
  const spec = value.spec;
  const specVersion = typeof value.spec_version === 'string' ? value.spec_version : undefined;
  const version = specVersion !== undefined ? { specVersion } : {};
  if (spec === CARD_V3_SPEC) {
    const warnings: CardWarning[] = [];
    if (specVersion !== undefined && Number.parseFloat(specVersion) > 3) {
      warnings.push({
        code: 'newerSpec',
        message: `The card uses a newer version of Character Card V3 (${quote(specVersion)}); features added since 3.0 may be ignored.`,
      });
    }
    return { card: parseCardData(value.data, 'data'), spec: CARD_V3_SPEC, ...version, warnings };
  }
  if (spec === CARD_V2_SPEC) return { card: parseCardData(value.data, 'data'), spec: CARD_V2_SPEC, ...version, warnings: [] };
  if (spec !== undefined) throw new CardError('wrongSpec', `its spec is ${quote(spec)}`);
  if (!looksLikeV1(value)) throw new CardError('wrongSpec', 'no "spec" field and no V1 card fields');
  const v1 = CardV1Schema.safeParse(value);
  if (!v1.success) throw new CardError('invalidCard', issuesText(v1.error));
  // V1 keys we do not know stay with the data, like unknown data fields of V2/V3.
  return { card: parseCardData(v1.data, 'the card'), spec: 'chara_card_v1', warnings: [] };
}

// --- PNG ---------------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309), as PNG chunks and zip entries use it. Node 20 has no zlib.crc32. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length, seed = 0): number {
  let c = ~seed >>> 0;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

export interface PngChunk {
  type: string;
  /** The chunk's data (a view into the file). */
  data: Uint8Array;
  /** The whole chunk as it is in the file: length, type, data, CRC. */
  raw: Uint8Array;
}

function isChunkTypeByte(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

/** Walks a PNG's chunks up to IEND, checking lengths and CRCs. Bytes after IEND are ignored. */
export function readPngChunks(png: Uint8Array): PngChunk[] {
  if (!startsWith(png, PNG_SIGNATURE)) throw new CardError('unknownFormat', 'not a PNG image');
  const chunks: PngChunk[] = [];
  let pos = PNG_SIGNATURE.length;
  for (;;) {
    if (pos + 8 > png.length) throw new CardError('truncatedPng', 'it ends before the IEND chunk');
    const length = u32(png, pos);
    if (length > 0x7fffffff) throw new CardError('badPngCrc', 'a chunk has an impossible length');
    for (let i = pos + 4; i < pos + 8; i++) {
      if (!isChunkTypeByte(png[i]!)) throw new CardError('badPngCrc', 'a chunk has an invalid type');
    }
    const type = String.fromCharCode(png[pos + 4]!, png[pos + 5]!, png[pos + 6]!, png[pos + 7]!);
    const end = pos + 12 + length;
    if (end > png.length) throw new CardError('truncatedPng', `it ends inside the ${type} chunk`);
    if (crc32(png, pos + 4, pos + 8 + length) !== u32(png, pos + 8 + length)) {
      throw new CardError('badPngCrc', `the ${type} chunk fails its checksum`);
    }
    if (chunks.length === 0 && type !== 'IHDR') throw new CardError('badPngCrc', 'it does not start with an IHDR chunk');
    chunks.push({ type, data: png.subarray(pos + 8, pos + 8 + length), raw: png.subarray(pos, end) });
    pos = end;
    if (type === 'IEND') return chunks;
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** A tEXt chunk's keyword and text, or undefined when it has no keyword separator. */
function readTextChunk(data: Uint8Array): { keyword: string; text: Uint8Array } | undefined {
  const nul = data.indexOf(0);
  if (nul < 1 || nul > 79) return undefined;
  return { keyword: latin1(data.subarray(0, nul)), text: data.subarray(nul + 1) };
}

const ASSET_CHUNK_PREFIX = 'chara-ext-asset_:';
const PNG_ASSET_URI_PREFIX = '__asset:';

function isCardChunk(c: PngChunk): boolean {
  if (c.type !== 'tEXt' && c.type !== 'iTXt' && c.type !== 'zTXt') return false;
  const t = readTextChunk(c.data);
  if (!t) return false;
  const k = t.keyword.toLowerCase();
  return k === 'ccv3' || k === 'chara' || t.keyword.startsWith(ASSET_CHUNK_PREFIX);
}

function decodeBase64(text: Uint8Array): Uint8Array {
  const s = latin1(text).replace(/[\t\n\r ]/g, '');
  if (s.length === 0) throw new CardError('badBase64', 'it is empty');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 === 1) throw new CardError('badBase64', 'it has characters base64 does not use');
  return new Uint8Array(Buffer.from(s, 'base64')); // a copy: small Buffers share Node's pool
}

function cardFromPngText(text: Uint8Array): FromJson {
  return cardFromJson(parseJsonBytes(decodeBase64(text)));
}

function readPngCard(png: Uint8Array): ParsedCard {
  const chunks = readPngChunks(png);
  let ccv3: Uint8Array | undefined;
  let chara: Uint8Array | undefined;
  const assets = new Map<string, Uint8Array>();
  for (const c of chunks) {
    if (c.type !== 'tEXt') continue;
    const t = readTextChunk(c.data);
    if (!t) continue;
    const k = t.keyword.toLowerCase();
    // The first of each wins: a duplicated chunk is ignored, not merged.
    if (k === 'ccv3') ccv3 ??= t.text;
    else if (k === 'chara') chara ??= t.text;
    else if (t.keyword.startsWith(ASSET_CHUNK_PREFIX)) {
      const uri = PNG_ASSET_URI_PREFIX + t.keyword.slice(ASSET_CHUNK_PREFIX.length);
      if (!assets.has(uri)) assets.set(uri, decodeBase64(t.text));
    }
  }
  if (!ccv3 && !chara) throw new CardError('noCardInPng');

  let parsed: FromJson;
  const warnings: CardWarning[] = [];
  if (ccv3) {
    try {
      parsed = cardFromPngText(ccv3);
    } catch (e) {
      if (!chara || !CardError.is(e)) throw e;
      // A damaged ccv3 with a good V2 backfill: the V2 card is better than nothing, said aloud.
      try {
        parsed = fromBackfill(cardFromPngText(chara));
      } catch {
        throw e;
      }
      warnings.push({ code: 'ccv3Unreadable', message: `The card's V3 data could not be read (${e.detail}); its V2 copy was imported instead.` });
    }
  } else {
    parsed = fromBackfill(cardFromPngText(chara!));
  }
  const avatar = concatPng(chunks.filter((c) => !isCardChunk(c)));
  return {
    card: parsed.card,
    spec: parsed.spec,
    ...(parsed.specVersion !== undefined ? { specVersion: parsed.specVersion } : {}),
    format: 'png',
    assets,
    avatar: { bytes: avatar, ext: 'png' },
    warnings: [...warnings, ...parsed.warnings],
  };
}

/** The V3 spec asks readers to trim the note writers add to a V2 backfill. */
function fromBackfill(parsed: FromJson): FromJson {
  const notes = parsed.card.creator_notes;
  if (!notes.startsWith(V2_BACKFILL_NOTE)) return parsed;
  return { ...parsed, card: { ...parsed.card, creator_notes: notes.slice(V2_BACKFILL_NOTE.length).replace(/^\n+/, '') } };
}

function concatPng(chunks: readonly PngChunk[]): Uint8Array {
  const size = PNG_SIGNATURE.length + chunks.reduce((n, c) => n + c.raw.length, 0);
  const out = new Uint8Array(size);
  out.set(PNG_SIGNATURE, 0);
  let pos = PNG_SIGNATURE.length;
  for (const c of chunks) {
    out.set(c.raw, pos);
    pos += c.raw.length;
  }
  return out;
}

// --- CHARX (zip) -------------------------------------------------------------------------------

const EMBEDDED_URI_PREFIX = 'embeded://'; // sic: the spelling the V3 spec uses

function u16le(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}
function u32le(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/** A path that cannot step outside wherever the extension might later store the files. */
function isSafeZipPath(name: string): boolean {
  if (name.length === 0 || name.length > 512 || name.startsWith('/') || name.includes('\\') || name.includes('\0')) return false;
  return name.split('/').every((seg) => seg !== '..' && seg !== '.');
}

/**
 * Reads a zip's entries from its central directory. Our own reader rather than fflate's `unzipSync`:
 * inflating must stop at a size we choose (node:zlib's `maxOutputLength`), or a small zip bomb
 * would fill the extension host's memory before any check could run.
 */
export function readZipEntries(zip: Uint8Array): Map<string, Uint8Array> {
  const bad = (detail: string) => new CardError('badZip', detail);
  let eocd = -1;
  for (let i = zip.length - 22; i >= 0 && i >= zip.length - 22 - 0xffff; i--) {
    if (u32le(zip, i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad('its end record is missing; the file may be cut short');
  if (u16le(zip, eocd + 4) !== 0 || u16le(zip, eocd + 6) !== 0) throw bad('it is split across several files');
  const count = u16le(zip, eocd + 10);
  const cdSize = u32le(zip, eocd + 12);
  const cdOffset = u32le(zip, eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) throw bad('ZIP64 archives are not supported');
  if (count > MAX_ZIP_ENTRIES) throw new CardError('tooLarge', `it holds ${count} files; the limit is ${MAX_ZIP_ENTRIES}`);
  if (cdOffset + cdSize > eocd) throw bad('its directory points outside the file');

  const entries = new Map<string, Uint8Array>();
  const names = new TextDecoder('utf-8'); // lenient: a name is only a key here
  let unpacked = 0;
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cdOffset + cdSize || u32le(zip, p) !== 0x02014b50) throw bad('its directory is damaged');
    const flags = u16le(zip, p + 8);
    const method = u16le(zip, p + 10);
    const crc = u32le(zip, p + 16);
    const packedSize = u32le(zip, p + 20);
    const size = u32le(zip, p + 24);
    const nameLength = u16le(zip, p + 28);
    const headerEnd = p + 46 + nameLength + u16le(zip, p + 30) + u16le(zip, p + 32);
    const localOffset = u32le(zip, p + 42);
    if (headerEnd > cdOffset + cdSize) throw bad('its directory is damaged');
    const name = names.decode(zip.subarray(p + 46, p + 46 + nameLength));
    p = headerEnd;

    if (flags & 0x1) throw bad(`${quote(name)} is encrypted`);
    if (name.endsWith('/')) continue; // a folder
    if (!isSafeZipPath(name)) throw bad(`${quote(name)} is not a safe file path`);
    if (entries.has(name)) throw bad(`${quote(name)} appears twice`);
    if (size > MAX_UNZIPPED_BYTES - unpacked) {
      throw new CardError('tooLarge', `it unpacks to more than ${formatSize(MAX_UNZIPPED_BYTES)}`);
    }

    if (localOffset + 30 > cdOffset || u32le(zip, localOffset) !== 0x04034b50) throw bad(`the entry for ${quote(name)} is damaged`);
    const dataStart = localOffset + 30 + u16le(zip, localOffset + 26) + u16le(zip, localOffset + 28);
    if (dataStart + packedSize > cdOffset) throw bad(`the data of ${quote(name)} runs past its end`);
    const packed = zip.subarray(dataStart, dataStart + packedSize);

    let data: Uint8Array;
    if (method === 0) {
      if (packedSize !== size) throw bad(`the sizes of ${quote(name)} disagree`);
      data = packed;
    } else if (method === 8) {
      try {
        data = inflateRawSync(packed, { maxOutputLength: Math.max(1, size) });
      } catch (e) {
        if ((e as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
          throw new CardError('tooLarge', `${quote(name)} unpacks to more than the ${size} bytes it declares`);
        }
        throw bad(`${quote(name)} cannot be unpacked`);
      }
      if (data.length !== size) throw bad(`the sizes of ${quote(name)} disagree`);
    } else {
      throw bad(`${quote(name)} uses an unsupported compression method (${method})`);
    }
    if (crc32(data) !== crc) throw bad(`${quote(name)} fails its checksum`);
    unpacked += size;
    entries.set(name, data);
  }
  return entries;
}

function readCharx(zip: Uint8Array): ParsedCard {
  const entries = readZipEntries(zip);
  const json = entries.get('card.json');
  if (!json) throw new CardError('noCardJson');
  const parsed = cardFromJson(parseJsonBytes(json));
  const assets = new Map<string, Uint8Array>();
  for (const [name, data] of entries) if (name !== 'card.json') assets.set(EMBEDDED_URI_PREFIX + name, data);

  const warnings = [...parsed.warnings];
  const missing = (parsed.card.assets ?? []).filter((a) => a.uri.startsWith(EMBEDDED_URI_PREFIX) && !assets.has(a.uri));
  if (missing.length > 0) {
    warnings.push({ code: 'missingAsset', message: `The card names ${missing.length} file(s) the archive does not hold, such as ${quote(missing[0]!.uri)}.` });
  }
  const icon = (parsed.card.assets ?? []).find((a) => a.type === 'icon' && a.name === 'main' && assets.has(a.uri));
  return {
    card: parsed.card,
    spec: parsed.spec,
    ...(parsed.specVersion !== undefined ? { specVersion: parsed.specVersion } : {}),
    format: 'charx',
    assets,
    ...(icon ? { avatar: { bytes: assets.get(icon.uri)!, ext: icon.ext.toLowerCase() } } : {}),
    warnings,
  };
}

// ---------------------------------------------------------------------------------------------
// Writing

function checkedCard(card: CardData): CardData {
  const r = CardDataSchema.safeParse(card);
  if (!r.success) throw new CardError('invalidCard', issuesText(r.error));
  if (jsonDepthExceeds(r.data, MAX_JSON_DEPTH)) throw new CardError('invalidCard', `nested more than ${MAX_JSON_DEPTH} levels deep`);
  return r.data;
}

function v3Envelope(card: CardData) {
  return { spec: CARD_V3_SPEC, spec_version: '3.0', data: checkedCard(card) };
}

/** A true V3 card, as the JSON text of a `.json` export. */
export function writeCardJson(card: CardData): string {
  return JSON.stringify(v3Envelope(card), null, 2);
}

/** The V2 backfill: V2's fields only, with the note the V3 spec asks for. */
export function toV2Card(card: CardData): { spec: 'chara_card_v2'; spec_version: '2.0'; data: CardV2Data } {
  const c = checkedCard(card);
  const data: CardV2Data = {
    name: c.name,
    description: c.description,
    personality: c.personality,
    scenario: c.scenario,
    first_mes: c.first_mes,
    mes_example: c.mes_example,
    creator_notes: c.creator_notes ? `${V2_BACKFILL_NOTE}\n\n${c.creator_notes}` : V2_BACKFILL_NOTE,
    system_prompt: c.system_prompt,
    post_history_instructions: c.post_history_instructions,
    alternate_greetings: c.alternate_greetings,
    ...(c.character_book ? { character_book: c.character_book } : {}),
    tags: c.tags,
    creator: c.creator,
    character_version: c.character_version,
    extensions: c.extensions,
  };
  return { spec: CARD_V2_SPEC, spec_version: '2.0', data };
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

function textChunk(keyword: string, text: string): PngChunk {
  const data = Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.of(0), Buffer.from(text, 'latin1')]);
  const raw = pngChunk('tEXt', data);
  return { type: 'tEXt', data: raw.subarray(8, raw.length - 4), raw };
}

function base64Json(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

/** A 256×256 PNG of one colour taken from the name, for cards exported without a picture. */
export function placeholderPng(name: string, size = 256): Uint8Array {
  const hue = crc32(utf8Encoder.encode(name)) % 360;
  const [r, g, b] = hslToRgb(hue, 0.45, 0.55);
  const row = new Uint8Array(1 + size * 3); // filter byte 0, then RGB pixels
  for (let x = 0; x < size; x++) row.set([r, g, b], 1 + x * 3);
  const raw = new Uint8Array(row.length * size);
  for (let y = 0; y < size; y++) raw.set(row, y * row.length);
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, size);
  v.setUint32(4, size);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter method variants, no interlace
  const parts = [PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))];
  return new Uint8Array(Buffer.concat(parts));
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => Math.round(255 * (l - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1))));
  return [f(0), f(8), f(4)];
}

/**
 * A PNG card: the avatar (or a generated picture) with `chara` (V2 backfill) and `ccv3` (V3) tEXt
 * chunks before IEND, replacing any card chunks it had. `__asset:` entries of `assets` are written
 * as `chara-ext-asset_:` chunks; `embeded://` ones cannot travel in a PNG (export CHARX for those).
 */
export function writeCardPng(card: CardData, avatarPng?: Uint8Array, assets: ReadonlyMap<string, Uint8Array> = new Map()): Uint8Array {
  const checked = checkedCard(card);
  if (avatarPng && avatarPng.length > MAX_CARD_FILE_BYTES) throw new CardError('tooLarge', 'the picture is larger than the card limit');
  const chunks = readPngChunks(avatarPng ?? placeholderPng(checked.name)).filter((c) => !isCardChunk(c));
  const iend = chunks.pop()!; // readPngChunks ends at IEND
  const added = [textChunk('chara', base64Json(toV2Card(checked))), textChunk('ccv3', base64Json({ spec: CARD_V3_SPEC, spec_version: '3.0', data: checked }))];
  for (const [uri, bytes] of assets) {
    if (uri.startsWith(PNG_ASSET_URI_PREFIX)) {
      added.push(textChunk(ASSET_CHUNK_PREFIX + uri.slice(PNG_ASSET_URI_PREFIX.length), Buffer.from(bytes).toString('base64')));
    }
  }
  const out = concatPng([...chunks, ...added, iend]);
  if (out.length > MAX_CARD_FILE_BYTES) throw new CardError('tooLarge', `the card would be ${formatSize(out.length)}; other apps and Persona accept up to ${formatSize(MAX_CARD_FILE_BYTES)}`);
  return out;
}

const ALREADY_COMPRESSED = /\.(png|jpe?g|webp|avif|gif|mp3|ogg|mp4|webm|zip)$/i;

/**
 * A CHARX archive: card.json at the root and each `embeded://path` asset at its path. Assets read
 * from a PNG (`__asset:path`) move to `assets/other/other/` and the card's URIs follow them.
 */
export function writeCharx(card: CardData, assets: ReadonlyMap<string, Uint8Array> = new Map()): Uint8Array {
  let checked = checkedCard(card);
  const files: Zippable = Object.create(null);
  const moved = new Map<string, string>();
  for (const [uri, bytes] of assets) {
    let path: string;
    if (uri.startsWith(EMBEDDED_URI_PREFIX)) path = uri.slice(EMBEDDED_URI_PREFIX.length);
    else if (uri.startsWith(PNG_ASSET_URI_PREFIX)) {
      path = `assets/other/other/${uri.slice(PNG_ASSET_URI_PREFIX.length).replace(/[^A-Za-z0-9._-]/g, '_')}`;
      moved.set(uri, EMBEDDED_URI_PREFIX + path);
    } else continue; // remote or data: URIs live in card.json itself
    if (!isSafeZipPath(path) || path === 'card.json' || path in files) throw new CardError('badZip', `cannot store an asset at ${quote(path)}`);
    files[path] = [bytes, { level: ALREADY_COMPRESSED.test(path) ? 0 : 6 }] as const;
  }
  if (moved.size > 0 && checked.assets) {
    checked = { ...checked, assets: checked.assets.map((a) => (moved.has(a.uri) ? { ...a, uri: moved.get(a.uri)! } : a)) };
  }
  files['card.json'] = [utf8Encoder.encode(writeCardJson(checked)), { level: 6 }] as const;
  return zipSync(files);
}
