// A Character Card V2 as another app exports it: only a `chara` tEXt chunk (no `ccv3`), built by
// hand from the spec so the tests do not lean on Persona's own writer.
import { crc32, placeholderPng } from '../../src/characters/cards/cardCodec';

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/** A PNG whose only card is `chara` = base64 of the V2 JSON, placed before IEND. */
export function v2PngCard(data: Record<string, unknown>): Buffer {
  const png = placeholderPng(String(data.name ?? 'card'), 64);
  const json = JSON.stringify({ spec: 'chara_card_v2', spec_version: '2.0', data });
  const text = new Uint8Array([...new TextEncoder().encode('chara'), 0, ...new TextEncoder().encode(Buffer.from(json, 'utf8').toString('base64'))]);
  const iend = png.length - 12;
  return Buffer.concat([png.subarray(0, iend), chunk('tEXt', text), png.subarray(iend)]);
}

/** A V2 card with every field a chat uses, a lorebook entry keyed on `lighthouse`, and notes that must never reach the model. */
export function sampleV2Card(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'Captain Vell',
    description: '{{char}} is the keeper of the Quillmoor lighthouse, weathered and wry, who speaks in nautical metaphors.',
    personality: 'gruff, loyal, secretly sentimental',
    scenario: '{{user}} has washed ashore near the lighthouse.',
    first_mes: 'Ahoy, {{user}}! {{char}} at your service. Dry yourself by the fire.',
    mes_example: '<START>\n{{user}}: Who are you?\n{{char}}: The one who keeps the light burning.',
    creator_notes: 'CREATOR-NOTES-NEVER-SENT',
    system_prompt: '',
    post_history_instructions: '',
    alternate_greetings: ['Another storm, another stranger.'],
    tags: ['TAG-NEVER-SENT'],
    creator: 'CREATOR-NEVER-SENT',
    character_version: '1.2',
    extensions: { other_app: { keep: true } },
    character_book: {
      name: 'Quillmoor',
      extensions: {},
      entries: [
        {
          keys: ['lighthouse'],
          content: 'LORE: The Quillmoor lighthouse lamp is fed with whale oil and was lit in 1802.',
          extensions: {},
          enabled: true,
          insertion_order: 1,
        },
      ],
    },
    ...overrides,
  };
}
