// The bytes of an export, in each format Persona writes: a true V3 card (JSON), a PNG card (V3 with
// a V2 backfill, in the persona's picture or a generated one), a CHARX archive with the files the
// card came with, or Persona's own file (optionally with the version history). Plain Node.
import { placeholderPng, writeCardJson, writeCardPng, writeCharx } from './cardCodec';
import type { CardPersona } from '../../shared/cardPersona';
import type { CardData } from '../../shared/cardSchema';
import { personaToCard } from './cardToPersona';
import { writePersonaFile } from './personaFile';
import { imageFormat } from '../../util/imageFormat';
import type { HistoryEntry } from '../personaHistory';

export type ExportFormat = 'cardJson' | 'png' | 'charx' | 'personaFile';

export const EXPORT_EXTENSIONS: Record<ExportFormat, string> = { cardJson: 'json', png: 'png', charx: 'charx', personaFile: 'persona.json' };

export interface ExportInput {
  persona: CardPersona;
  /** The persona's picture, if it has one. */
  avatar?: Uint8Array;
  /** The files its card came with, by URI. */
  assets?: ReadonlyMap<string, Uint8Array>;
  /** For a Persona file: the versions to include, oldest first. */
  history?: readonly HistoryEntry[];
  /** Unix milliseconds. */
  now?: number;
}

const ICON_URI_BASE = 'embeded://assets/icon/images/main';

export function exportPersona(format: ExportFormat, input: ExportInput): Uint8Array {
  const now = input.now ?? Date.now();
  const assets = input.assets ?? new Map<string, Uint8Array>();
  const pictureExt = input.avatar ? imageFormat(input.avatar) : undefined;
  if (format === 'personaFile') {
    const text = writePersonaFile(
      {
        persona: input.persona,
        ...(input.history ? { history: input.history } : {}),
        ...(input.avatar && pictureExt ? { avatar: { bytes: input.avatar, ext: pictureExt } } : {}),
        assets,
      },
      now,
    );
    return new TextEncoder().encode(text);
  }
  const card = personaToCard(input.persona, { now: Math.floor(now / 1000) });
  switch (format) {
    case 'cardJson':
      return new TextEncoder().encode(writeCardJson(card));
    case 'png':
      return writeCardPng(card, pictureExt === 'png' ? input.avatar : placeholderPng(input.persona.name), assets);
    case 'charx': {
      const withIcon = input.avatar && pictureExt ? withMainIcon(card, assets, input.avatar, pictureExt) : { card, assets };
      return writeCharx(withIcon.card, withIcon.assets);
    }
  }
}

/**
 * A card without a main icon gets the persona's picture as one (`embeded://assets/icon/images/
 * main.<ext>`), so other apps show it; a card that has one (as a CHARX import does) is left as is.
 */
function withMainIcon(card: CardData, assets: ReadonlyMap<string, Uint8Array>, picture: Uint8Array, ext: string): { card: CardData; assets: ReadonlyMap<string, Uint8Array> } {
  if ((card.assets ?? []).some((a) => a.type === 'icon' && a.name === 'main')) return { card, assets };
  const uri = `${ICON_URI_BASE}.${ext}`;
  if (assets.has(uri)) return { card, assets };
  return {
    card: { ...card, assets: [...(card.assets ?? []), { type: 'icon', uri, name: 'main', ext }] },
    assets: new Map([...assets, [uri, picture]]),
  };
}
