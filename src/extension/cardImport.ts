// From a card file's bytes to a new custom persona: read, map, a fresh id that never overwrites.
// Plain Node (no `vscode`): the import command asks the questions, this does the rest.
import { randomBytes } from 'node:crypto';
import { readCard, type CardWarning } from './cards/cardCodec';
import type { CardPersona } from '../shared/cardPersona';
import { cardToPersona } from './cards/cardToPersona';

export interface PreparedImport {
  persona: CardPersona;
  /** The picture to store beside the persona (a PNG card's own image, or a CHARX icon). */
  avatar?: Uint8Array;
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

/** Throws `CardError` for anything that is not a card; nothing is written here. */
export function prepareImport(bytes: Uint8Array, options: { fileName: string; taken: (id: string) => boolean; now?: number }): PreparedImport {
  const parsed = readCard(bytes, options.fileName);
  const id = freshPersonaId(parsed.card.name || 'character', options.taken);
  const avatarExt = parsed.avatar?.ext.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 10);
  const avatar = parsed.avatar && avatarExt ? { file: `${id}.avatar.${avatarExt}`, ext: avatarExt } : undefined;
  const persona = cardToPersona(parsed.card, {
    id,
    source: { spec: parsed.spec, format: parsed.format, fileName: options.fileName.slice(0, 500), importedAt: options.now ?? Date.now() },
    ...(avatar ? { avatar } : {}),
  });
  return { persona, ...(avatar && parsed.avatar ? { avatar: parsed.avatar.bytes } : {}), warnings: parsed.warnings };
}
