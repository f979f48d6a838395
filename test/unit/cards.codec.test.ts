// Character card reader/writer. The fixtures are built here from the specs (PNG chunks, zip
// records, card JSON) with our own small encoders, so the codec is never checked against itself.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateRawSync, deflateSync, inflateSync } from 'node:zlib';
import { zipSync } from 'fflate';
import {
  CardError,
  MAX_CARD_FILE_BYTES,
  MAX_CARD_JSON_BYTES,
  readCard,
  readPngChunks,
  V2_BACKFILL_NOTE,
  writeCardJson,
  writeCardPng,
  writeCharx,
  type CardErrorReason,
} from '../../src/characters/cards/cardCodec';
import { CardDataSchema, type CardData } from '../../src/shared/cardSchema';
import { cardToPersona, DEFAULT_CARD_ICON, PERSONA_EXTENSION_KEY, personaToCard, personaToCardPersona } from '../../src/characters/cards/cardToPersona';
import type { Persona } from '../../src/shared/persona';

// --- fixtures, from the specs ----------------------------------------------------------------

/** CRC-32 written here again (not imported from the codec), with its own table. */
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  return c >>> 0;
});
function crc(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Uint8Array | string, badCrc = false): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data)]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length - 4);
  const sum = Buffer.alloc(4);
  sum.writeUInt32BE((crc(body) ^ (badCrc ? 1 : 0)) >>> 0);
  return Buffer.concat([len, body, sum]);
}

const tEXt = (keyword: string, text: string) => chunk('tEXt', `${keyword}\0${text}`);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64');

/** A 2×2 RGB PNG, plus whatever chunks go before IEND. */
function png(...extra: Buffer[]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(2, 0);
  ihdr.writeUInt32BE(2, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255]);
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), ...extra, chunk('IEND', '')]);
}

interface Chunk {
  type: string;
  data: Buffer;
  crcOk: boolean;
}
/** Our own chunk walker, to check what the writer produced. */
function chunksOf(file: Uint8Array): Chunk[] {
  const b = Buffer.from(file);
  assert.ok(b.subarray(0, 8).equals(SIGNATURE), 'PNG signature');
  const out: Chunk[] = [];
  let p = 8;
  while (p < b.length) {
    const len = b.readUInt32BE(p);
    const type = b.toString('latin1', p + 4, p + 8);
    const data = b.subarray(p + 8, p + 8 + len);
    out.push({ type, data, crcOk: crc(b.subarray(p + 4, p + 8 + len)) === b.readUInt32BE(p + 8 + len) });
    p += 12 + len;
  }
  assert.equal(p, b.length, 'chunks fill the file exactly');
  return out;
}
function textChunks(file: Uint8Array): Array<{ keyword: string; text: string }> {
  return chunksOf(file)
    .filter((c) => c.type === 'tEXt')
    .map((c) => {
      const nul = c.data.indexOf(0);
      return { keyword: c.data.toString('latin1', 0, nul), text: c.data.toString('latin1', nul + 1) };
    });
}
function assertValidPng(file: Uint8Array): void {
  const cs = chunksOf(file);
  assert.equal(cs[0]?.type, 'IHDR');
  assert.equal(cs.at(-1)?.type, 'IEND');
  assert.equal(cs.filter((c) => c.type === 'IEND').length, 1);
  for (const c of cs) assert.ok(c.crcOk, `CRC of ${c.type}`);
}

interface ZipEntry {
  name: string;
  data: Uint8Array;
  /** Stored (0) or deflated (8). */
  method?: 0 | 8;
  /** Lies told in the headers. */
  declaredSize?: number;
  flags?: number;
}
/** A zip written record by record (APPNOTE 4.3), so the tests can make it lie. */
function zip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const method = e.method ?? 8;
    const packed = method === 8 ? deflateRawSync(e.data) : Buffer.from(e.data);
    const name = Buffer.from(e.name, 'utf8');
    const size = e.declaredSize ?? e.data.length;
    const sum = crc(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(e.flags ?? 0, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(sum, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(e.flags ?? 0, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(sum, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, packed);
    centrals.push(central, name);
    offset += 30 + name.length + packed.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');
const json = (v: unknown) => utf8(JSON.stringify(v));

const HOSTILE = `<script>alert("x")</script><img src=x onerror="fetch('//evil')"> & &amp; <!-- -->`;

const lorebook = {
  name: 'World of Ada',
  description: 'Places and people',
  scan_depth: 4,
  token_budget: 500,
  recursive_scanning: false,
  extensions: { other_app: { depth: 4, nested: [1, { deep: true }] } },
  entries: [
    {
      keys: ['harbour', 'port'],
      content: 'The harbour smells of tar.',
      extensions: { position: 4, sticky: 2 },
      enabled: true,
      insertion_order: 10,
      case_sensitive: false,
      name: 'harbour',
      priority: 5,
      id: 1,
      comment: 'for the port scenes',
      selective: true,
      secondary_keys: ['night'],
      constant: false,
      position: 'after_char',
      unknown_entry_field: { kept: 'yes' },
    },
    { keys: ['Ada'], content: HOSTILE, extensions: {}, enabled: false, insertion_order: 1, use_regex: false, constant: true, position: 'before_char', id: 'two' },
  ],
  unknown_book_field: 42,
};

const v1Card = {
  name: 'Sam',
  description: '{{char}} is a sailor.',
  personality: 'gruff',
  scenario: 'A harbour at night.',
  first_mes: 'Ahoy, <USER>!',
  mes_example: '<START>\n{{user}}: hi\n{{char}}: ahoy',
  avatar: 'none', // V1 apps' own field
  chat: 'Sam - 2023-1-1',
};

const v2Card = {
  spec: 'chara_card_v2',
  spec_version: '2.0',
  data: {
    name: 'Sam',
    description: '{{char}} is a sailor.',
    personality: 'gruff',
    scenario: 'A harbour at night.',
    first_mes: 'Ahoy!',
    mes_example: '<START>\n{{user}}: hi\n{{char}}: ahoy',
    creator_notes: 'Best with a big model.',
    system_prompt: 'You are {{char}}. {{original}}',
    post_history_instructions: 'Stay in character.',
    alternate_greetings: ['Yo.', 'Hm?'],
    character_book: lorebook,
    tags: ['sailor', 'fantasy'],
    creator: 'ada',
    character_version: '1.2',
    extensions: { talkativeness: '0.5', fav: false, world: 'harbour', depth_prompt: { prompt: 'x', depth: 4 }, some_app: { a: [1, 2, { b: null }] } },
    unknown_data_field: 'kept',
  },
};

const v3Card = {
  spec: 'chara_card_v3',
  spec_version: '3.0',
  data: {
    ...v2Card.data,
    nickname: 'Sammy',
    creator_notes_multilingual: { en: 'Best with a big model.', fr: 'Mieux avec un grand modèle.' },
    source: ['https://example.org/sam'],
    group_only_greetings: ['Hello, everyone.'],
    creation_date: 1_700_000_000,
    modification_date: 1_700_000_100,
    assets: [
      { type: 'icon', uri: 'embeded://assets/icon/images/main.png', name: 'main', ext: 'png' },
      { type: 'background', uri: 'https://example.org/bg.webp', name: 'main', ext: 'webp' },
      { type: 'x_voice', uri: 'embeded://assets/other/audio/hi.mp3', name: 'hi', ext: 'mp3', x_extra: true },
    ],
    character_book: { ...lorebook, entries: [...lorebook.entries, { keys: ['^sea$'], content: 'Regex entry', extensions: {}, enabled: true, insertion_order: 3, use_regex: true }] },
  },
};

function reason(fn: () => unknown): CardErrorReason {
  try {
    fn();
  } catch (e) {
    assert.ok(CardError.is(e), `expected a CardError, got ${String(e)}`);
    return e.reason;
  }
  assert.fail('expected a CardError');
}

// --- tests -----------------------------------------------------------------------------------

describe('reading cards: JSON', () => {
  it('reads V1 flat JSON into the V3-shaped model, keeping the unknown V1 fields', () => {
    const r = readCard(json(v1Card), 'sam.json');
    assert.equal(r.spec, 'chara_card_v1');
    assert.equal(r.format, 'json');
    assert.equal(r.card.name, 'Sam');
    assert.equal(r.card.first_mes, 'Ahoy, <USER>!');
    assert.equal(r.card.system_prompt, '');
    assert.deepEqual(r.card.alternate_greetings, []);
    assert.deepEqual(r.card.group_only_greetings, []);
    assert.deepEqual(r.card.extensions, {});
    assert.equal(r.card.avatar, 'none');
    assert.equal(r.card.chat, 'Sam - 2023-1-1');
  });

  it('reads V2 with every lorebook field, unknown extension keys and unknown data fields', () => {
    const r = readCard(json(v2Card));
    assert.equal(r.spec, 'chara_card_v2');
    assert.equal(r.specVersion, '2.0');
    assert.deepEqual(r.card.extensions, v2Card.data.extensions);
    assert.equal(r.card.unknown_data_field, 'kept');
    const book = r.card.character_book!;
    assert.equal(book.unknown_book_field, 42);
    assert.deepEqual(book.extensions, lorebook.extensions);
    assert.deepEqual(book.entries[0], { ...lorebook.entries[0], use_regex: false });
    assert.equal(book.entries[1]!.id, 'two');
  });

  it('fills the defaults of a sloppy V2 card (missing and null fields)', () => {
    const r = readCard(json({ spec: 'chara_card_v2', data: { name: 'Bare', tags: null, extensions: null, character_book: { entries: [{ keys: ['k'], content: 'c' }] } } }));
    assert.equal(r.card.description, '');
    assert.deepEqual(r.card.tags, []);
    assert.deepEqual(r.card.extensions, {});
    assert.deepEqual(r.card.character_book!.entries[0], { keys: ['k'], content: 'c', extensions: {}, enabled: true, insertion_order: 0, use_regex: false });
  });

  it('reads V3 and warns about a newer spec version without refusing it', () => {
    const r = readCard(json({ ...v3Card, spec_version: '3.1' }));
    assert.equal(r.spec, 'chara_card_v3');
    assert.equal(r.card.nickname, 'Sammy');
    assert.deepEqual(r.warnings.map((w) => w.code), ['newerSpec']);
  });

  it('tells the format by the content, not the file name, and accepts a UTF-8 BOM', () => {
    const asPng = readCard(png(tEXt('chara', b64(v2Card))), 'sam.json');
    assert.equal(asPng.format, 'png');
    const asJson = readCard(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8(' \n'), json(v2Card)]), 'sam.png');
    assert.equal(asJson.format, 'json');
    const asZip = readCard(zipSync({ 'card.json': json(v3Card) }), 'sam.png');
    assert.equal(asZip.format, 'charx');
  });

  it('keeps HTML and script in every text field as plain text, byte for byte', () => {
    const hostile = {
      spec: 'chara_card_v2',
      data: { ...v2Card.data, name: HOSTILE, description: HOSTILE, first_mes: HOSTILE, creator_notes: HOSTILE, alternate_greetings: [HOSTILE], tags: [HOSTILE], extensions: { html: HOSTILE } },
    };
    for (const file of [json(hostile), png(tEXt('chara', b64(hostile))), zipSync({ 'card.json': json(hostile) })]) {
      const r = readCard(file);
      for (const v of [r.card.name, r.card.description, r.card.first_mes, r.card.creator_notes, r.card.alternate_greetings[0], r.card.tags[0], r.card.extensions.html]) {
        assert.equal(v, HOSTILE);
      }
      const again = readCard(utf8(writeCardJson(r.card)));
      assert.equal(again.card.name, HOSTILE);
      assert.equal(again.card.character_book!.entries[1]!.content, HOSTILE);
    }
  });

  it('never lets a "__proto__" key reach an object prototype', () => {
    const text = `{"spec":"chara_card_v2","data":{"name":"P","__proto__":{"polluted":1},"extensions":{"__proto__":{"polluted":2},"k":{"__proto__":{"x":1}}}}}`;
    const r = readCard(utf8(text));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(r.card), Object.prototype);
    assert.equal(Object.getPrototypeOf(r.card.extensions), Object.prototype);
    assert.equal((r.card as Record<string, unknown>).polluted, undefined);
  });
});

describe('round trips', () => {
  const sources = { V1: v1Card, V2: v2Card, V3: v3Card };
  for (const [label, source] of Object.entries(sources)) {
    it(`${label}: JSON → model → JSON, PNG and CHARX → model loses nothing`, () => {
      const first = readCard(json(source)).card;
      const viaJson = readCard(utf8(writeCardJson(first)));
      assert.equal(viaJson.spec, 'chara_card_v3');
      assert.deepEqual(viaJson.card, first);
      const viaPng = readCard(writeCardPng(first));
      assert.deepEqual(viaPng.card, first);
      assert.equal(viaPng.spec, 'chara_card_v3');
      const viaCharx = readCard(writeCharx(first));
      assert.deepEqual(viaCharx.card, first);
      // and once more, from what we wrote
      assert.deepEqual(readCard(writeCardPng(viaPng.card, viaPng.avatar!.bytes)).card, first);
    });
  }

  it('writeCardJson writes a true V3 card, with the same JSON for the same model', () => {
    const card = readCard(json(v2Card)).card;
    const out = JSON.parse(writeCardJson(card));
    assert.equal(out.spec, 'chara_card_v3');
    assert.equal(out.spec_version, '3.0');
    assert.deepEqual(out.data.group_only_greetings, []);
    assert.equal(out.data.extensions.some_app.a[2].b, null);
    assert.equal(writeCardJson(card), writeCardJson(readCard(utf8(writeCardJson(card))).card));
  });

  it('refuses to write a model that is not a card', () => {
    assert.equal(reason(() => writeCardJson({ name: 3 } as unknown as CardData)), 'invalidCard');
  });
});

describe('PNG cards', () => {
  it('prefers ccv3 over chara when both are present, in either order', () => {
    const v3 = { ...v3Card, data: { ...v3Card.data, name: 'From ccv3' } };
    const v2 = { ...v2Card, data: { ...v2Card.data, name: 'From chara' } };
    assert.equal(readCard(png(tEXt('chara', b64(v2)), tEXt('ccv3', b64(v3)))).card.name, 'From ccv3');
    assert.equal(readCard(png(tEXt('ccv3', b64(v3)), tEXt('chara', b64(v2)))).card.name, 'From ccv3');
  });

  it('falls back to chara, with a warning, when ccv3 is unreadable', () => {
    const r = readCard(png(tEXt('ccv3', '%%%'), tEXt('chara', b64(v2Card))));
    assert.equal(r.card.name, 'Sam');
    assert.deepEqual(r.warnings.map((w) => w.code), ['ccv3Unreadable']);
  });

  it('writes both chunks before IEND, replacing old ones, and keeps the image chunks byte for byte', () => {
    const avatar = png(tEXt('Software', 'paint'), tEXt('chara', b64({ ...v2Card, data: { ...v2Card.data, name: 'Old' } })), tEXt('ccv3', b64({ ...v3Card, data: { ...v3Card.data, name: 'Old' } })));
    const card = readCard(json(v3Card)).card;
    const out = writeCardPng(card, avatar);
    assertValidPng(out);

    const texts = textChunks(out);
    assert.deepEqual(texts.map((t) => t.keyword), ['Software', 'chara', 'ccv3']);
    const types = chunksOf(out).map((c) => c.type);
    assert.deepEqual(types, ['IHDR', 'IDAT', 'tEXt', 'tEXt', 'tEXt', 'IEND']);
    const before = chunksOf(avatar);
    const after = chunksOf(out);
    assert.ok(after[0]!.data.equals(before[0]!.data) && after[1]!.data.equals(before[1]!.data), 'IHDR and IDAT untouched');

    const v3 = JSON.parse(Buffer.from(texts[2]!.text, 'base64').toString('utf8'));
    assert.equal(v3.spec, 'chara_card_v3');
    assert.equal(v3.data.name, 'Sam');
    const v2 = JSON.parse(Buffer.from(texts[1]!.text, 'base64').toString('utf8'));
    assert.equal(v2.spec, 'chara_card_v2');
    assert.equal(v2.spec_version, '2.0');
    assert.equal(v2.data.name, 'Sam');
    assert.equal(v2.data.nickname, undefined, 'the V2 backfill has V2 fields only');
    assert.deepEqual(v2.data.character_book.entries.length, 3);
    assert.ok(v2.data.creator_notes.startsWith(V2_BACKFILL_NOTE));

    // An app that reads only `chara` gets the card, and the backfill note is trimmed on import.
    const onlyChara = png(tEXt('chara', texts[1]!.text));
    const r = readCard(onlyChara);
    assert.equal(r.spec, 'chara_card_v2');
    assert.equal(r.card.creator_notes, card.creator_notes);
    assert.deepEqual(r.card.extensions, card.extensions);
  });

  it('writing twice leaves one chunk of each', () => {
    const card = readCard(json(v2Card)).card;
    const twice = writeCardPng({ ...card, name: 'Second' }, writeCardPng(card, png()));
    assert.deepEqual(textChunks(twice).map((t) => t.keyword), ['chara', 'ccv3']);
    assert.equal(readCard(twice).card.name, 'Second');
  });

  it('without an avatar, generates a valid 256×256 picture', () => {
    const out = writeCardPng(readCard(json(v1Card)).card);
    assertValidPng(out);
    const cs = chunksOf(out);
    const ihdr = cs[0]!.data;
    assert.equal(ihdr.readUInt32BE(0), 256);
    assert.equal(ihdr.readUInt32BE(4), 256);
    assert.equal(ihdr[8], 8);
    assert.equal(ihdr[9], 2);
    const pixels = inflateSync(Buffer.concat(cs.filter((c) => c.type === 'IDAT').map((c) => c.data)));
    assert.equal(pixels.length, 256 * (1 + 256 * 3));
  });

  it('the avatar of a read PNG card is the picture without the card chunks', () => {
    const r = readCard(png(tEXt('ccv3', b64(v3Card)), tEXt('chara', b64(v2Card)), tEXt('chara-ext-asset_:0', b64('not really audio'))));
    assertValidPng(r.avatar!.bytes);
    assert.deepEqual(textChunks(r.avatar!.bytes), []);
    assert.equal(Buffer.from(r.assets.get('__asset:0')!).toString(), 'not really audio');
    // PNG-embedded assets go back into a PNG, and into a CHARX as files
    const again = readCard(writeCardPng(r.card, r.avatar!.bytes, r.assets));
    assert.equal(Buffer.from(again.assets.get('__asset:0')!).toString(), 'not really audio');
    const charx = readCard(writeCharx(r.card, r.assets));
    assert.equal(Buffer.from(charx.assets.get('embeded://assets/other/other/0')!).toString(), 'not really audio');
  });

  it('reads a chunk list with our own walker the same way', () => {
    const file = writeCardPng(readCard(json(v2Card)).card);
    assert.deepEqual(
      readPngChunks(file).map((c) => c.type),
      chunksOf(file).map((c) => c.type),
    );
  });
});

describe('CHARX cards', () => {
  const icon = png();
  const voice = Buffer.from('ID3 fake mp3 bytes');
  const charxFile = () =>
    zipSync({
      'card.json': json(v3Card),
      'assets/icon/images/main.png': [icon, { level: 0 }],
      'assets/other/audio/hi.mp3': voice,
      'x_meta/app.json': json({ app: 'data' }),
    });

  it('reads card.json and keeps every other file as bytes, by its embeded:// URI', () => {
    const r = readCard(charxFile(), 'sam.charx');
    assert.equal(r.format, 'charx');
    assert.equal(r.spec, 'chara_card_v3');
    assert.deepEqual([...r.assets.keys()].sort(), ['embeded://assets/icon/images/main.png', 'embeded://assets/other/audio/hi.mp3', 'embeded://x_meta/app.json']);
    assert.ok(Buffer.from(r.assets.get('embeded://assets/other/audio/hi.mp3')!).equals(voice));
    assert.ok(Buffer.from(r.avatar!.bytes).equals(icon));
    assert.equal(r.avatar!.ext, 'png');
    assert.deepEqual(r.warnings, []);
  });

  it('writes card.json and the assets back, and reads the same again', () => {
    const r = readCard(charxFile());
    const again = readCard(writeCharx(r.card, r.assets));
    assert.deepEqual(again.card, r.card);
    assert.deepEqual([...again.assets.keys()].sort(), [...r.assets.keys()].sort());
    for (const [k, v] of r.assets) assert.ok(Buffer.from(again.assets.get(k)!).equals(Buffer.from(v)), k);
  });

  it('warns about assets the card names but the archive lacks', () => {
    const r = readCard(zipSync({ 'card.json': json(v3Card) }));
    assert.deepEqual(r.warnings.map((w) => w.code), ['missingAsset']);
  });

  it('reads a zip written record by record, stored or deflated', () => {
    const r = readCard(zip([{ name: 'card.json', data: json(v2Card), method: 0 }, { name: 'assets/a.txt', data: utf8('a') }]));
    assert.equal(r.card.name, 'Sam');
    assert.equal(Buffer.from(r.assets.get('embeded://assets/a.txt')!).toString(), 'a');
  });
});

describe('bad input: one CardError reason each, and nothing else', () => {
  const good = png(tEXt('ccv3', b64(v3Card)));

  it('truncated PNGs → truncatedPng', () => {
    for (const cut of [4, 8, 20, 33, good.length - 30, good.length - 12, good.length - 1]) {
      assert.equal(reason(() => readCard(good.subarray(0, cut))), 'truncatedPng', `cut at ${cut}`);
    }
  });

  it('a damaged PNG → badPngCrc', () => {
    const bad = Buffer.from(good);
    bad[45] = bad[45]! ^ 0x40; // inside IDAT
    assert.equal(reason(() => readCard(bad)), 'badPngCrc');
    assert.equal(reason(() => readCard(png(chunk('tEXt', 'chara\0abc', true)))), 'badPngCrc');
  });

  it('a PNG with no card → noCardInPng', () => {
    assert.equal(reason(() => readCard(png(tEXt('Comment', 'just a picture')))), 'noCardInPng');
  });

  it('a card chunk that is not base64 → badBase64', () => {
    assert.equal(reason(() => readCard(png(tEXt('chara', '<html>not base64</html>')))), 'badBase64');
    assert.equal(reason(() => readCard(png(tEXt('ccv3', '')))), 'badBase64');
  });

  it('base64 that is not JSON → notJson', () => {
    assert.equal(reason(() => readCard(png(tEXt('chara', b64('hello, not json'))))), 'notJson');
    assert.equal(reason(() => readCard(png(tEXt('chara', Buffer.from([0xff, 0xfe, 0x00]).toString('base64'))))), 'notJson');
    assert.equal(reason(() => readCard(utf8('{"spec": "chara_card_v2", '))), 'notJson');
    assert.equal(reason(() => readCard(Buffer.from([0x7b, 0xff, 0x7d]))), 'notJson');
  });

  it('JSON of the wrong spec → wrongSpec', () => {
    const persona: Persona = { id: 'sam', name: 'Sam', description: 'A friend', icon: '😊', systemPrompt: 'x', greeting: 'hi', tags: [], sampling: {} };
    for (const v of [{ spec: 'lorebook_v3', data: { entries: [] } }, { spec: 'chara_card_v4' }, [v2Card], 'card', 42, null, { foo: 1 }, persona]) {
      const text = typeof v === 'string' ? `["${v}"]` : JSON.stringify(v);
      const file = text.startsWith('{') || text.startsWith('[') ? utf8(text) : utf8(`[${text}]`);
      assert.equal(reason(() => readCard(file)), 'wrongSpec', text);
    }
  });

  it('a card with fields of the wrong type → invalidCard, naming the field', () => {
    const cases: unknown[] = [
      { spec: 'chara_card_v2', data: { description: 'no name' } },
      { spec: 'chara_card_v2', data: { ...v2Card.data, tags: 'a,b' } },
      { spec: 'chara_card_v3', data: { ...v3Card.data, character_book: { entries: [{ keys: 'k', content: 1 }] } } },
      { spec: 'chara_card_v3' },
      { name: 'V1', first_mes: 'hi', description: 7 },
    ];
    for (const c of cases) assert.equal(reason(() => readCard(json(c))), 'invalidCard', JSON.stringify(c));
    try {
      readCard(json(cases[1]), 'bad.json');
    } catch (e) {
      assert.ok(CardError.is(e, 'invalidCard'));
      assert.match(e.message, /"bad\.json".*tags should be array/);
    }
    assert.equal(reason(() => readCard(utf8(`{"spec":"chara_card_v2","data":{"name":"d","extensions":{"x":${'['.repeat(500)}${']'.repeat(500)}}}}`))), 'invalidCard');
  });

  it('a 50 MB file → tooLarge, before any parsing', () => {
    const big = Buffer.alloc(50 * 1024 * 1024, 0x20);
    big.set(good, 0); // a real PNG card at the front changes nothing
    const started = performance.now();
    assert.equal(reason(() => readCard(big, 'huge.png')), 'tooLarge');
    assert.ok(performance.now() - started < 50, 'rejected without reading it');
    assert.equal(reason(() => readCard(Buffer.alloc(MAX_CARD_FILE_BYTES + 1))), 'tooLarge');
  });

  it('zip bombs → tooLarge: a huge declared size, an entry that inflates past its declared size, too many entries', () => {
    const honest = zip([{ name: 'card.json', data: json(v3Card) }, { name: 'assets/zeros.bin', data: new Uint8Array(10), declaredSize: 200 * 1024 * 1024 }]);
    assert.equal(reason(() => readCard(honest)), 'tooLarge');
    const liar = zip([{ name: 'card.json', data: json(v3Card) }, { name: 'assets/zeros.bin', data: new Uint8Array(4 * 1024 * 1024), declaredSize: 1024 }]);
    assert.ok(liar.length < 100_000, 'small on disk');
    assert.equal(reason(() => readCard(liar)), 'tooLarge');
    const many = zip(Array.from({ length: 2_001 }, (_, i) => ({ name: `f${i}`, data: new Uint8Array(0), method: 0 as const })));
    assert.equal(reason(() => readCard(many)), 'tooLarge');
    // many entries whose sum is too large
    const sum = zip(Array.from({ length: 30 }, (_, i) => ({ name: `assets/${i}.bin`, data: new Uint8Array(2 * 1024 * 1024) })));
    assert.equal(reason(() => readCard(sum)), 'tooLarge');
  });

  it('a small CHARX whose card.json is a memory bomb → tooLarge, before JSON.parse sees it', () => {
    // 48 MB of `[{},{},…]` zips to about 46 KB and, parsed, costs seconds and gigabytes.
    const bomb = new Uint8Array(48 * 1024 * 1024).fill(0x2c);
    bomb[0] = 0x5b;
    for (let i = 1; i + 2 < bomb.length; i += 3) bomb.set([0x7b, 0x7d], i);
    bomb[bomb.length - 1] = 0x5d;
    const charx = zipSync({ 'card.json': bomb });
    assert.ok(charx.length < 200_000, `small on disk: ${charx.length} bytes`);
    assert.equal(reason(() => readCard(charx, 'bomb.charx')), 'tooLarge');
    // Under the size limit, a million objects is no card either.
    const many = utf8(`{"spec":"chara_card_v2","data":{"name":"M","extensions":{"x":[${'{},'.repeat(1_000_000)}{}]}}}`);
    assert.ok(many.length < MAX_CARD_JSON_BYTES);
    assert.equal(reason(() => readCard(many)), 'tooLarge');
    assert.equal(reason(() => readCard(zipSync({ 'card.json': many }))), 'tooLarge');
    // Braces inside strings are text, not structure.
    assert.equal(readCard(json({ ...v3Card, data: { ...(v3Card as { data: object }).data, description: '{['.repeat(300_000) } })).card.name, (v3Card as { data: { name: string } }).data.name);
  });

  it('damaged, encrypted or path-escaping zips → badZip', () => {
    const ok = zip([{ name: 'card.json', data: json(v3Card) }]);
    assert.equal(reason(() => readCard(ok.subarray(0, ok.length - 30))), 'badZip');
    const flipped = Buffer.from(ok);
    flipped[40] = flipped[40]! ^ 0xff; // compressed card.json: inflate fails or the CRC does
    assert.equal(reason(() => readCard(flipped)), 'badZip');
    assert.equal(reason(() => readCard(zip([{ name: 'card.json', data: json(v3Card), flags: 1 }]))), 'badZip');
    assert.equal(reason(() => readCard(zip([{ name: 'card.json', data: json(v3Card) }, { name: '../../evil.sh', data: utf8('x') }]))), 'badZip');
    assert.equal(reason(() => readCard(zip([{ name: 'card.json', data: json(v3Card) }, { name: 'card.json', data: json(v2Card) }]))), 'badZip');
    assert.equal(reason(() => readCard(zip([{ name: 'card.json', data: json(v3Card), method: 0, declaredSize: 3 }]))), 'badZip');
  });

  it('a zip without card.json at its root → noCardJson', () => {
    assert.equal(reason(() => readCard(zipSync({ 'sam/card.json': json(v3Card) }))), 'noCardJson');
    assert.equal(reason(() => readCard(zipSync({}))), 'noCardJson');
  });

  it('anything else → unknownFormat', () => {
    for (const b of [Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]), utf8('name: Sam'), Buffer.alloc(0), utf8('   '), utf8('RIFF....WEBP')]) {
      assert.equal(reason(() => readCard(b)), 'unknownFormat');
    }
    assert.equal(reason(() => writeCardPng(readCard(json(v1Card)).card, utf8('GIF89a'))), 'unknownFormat');
  });

  it('messages name the file and say what to do', () => {
    try {
      readCard(png(), 'picture.png');
      assert.fail();
    } catch (e) {
      assert.equal(CardError.is(e, 'badZip'), false);
      assert.ok(CardError.is(e, 'noCardInPng'));
      assert.match(e.message, /^"picture\.png" is a picture with no character card in it/);
      assert.match(e.message, /Export the card as PNG/);
      assert.equal(e.fileName, 'picture.png');
    }
    assert.ok(!CardError.is(new Error('x')));
  });
});

describe('card ↔ persona', () => {
  it('maps every card field a chat needs, and exports the original card unchanged', () => {
    const card = readCard(json(v3Card)).card;
    const p = cardToPersona(card, { id: 'sam', source: { spec: 'chara_card_v3', format: 'json', fileName: 'sam.json', importedAt: 1 } });
    assert.equal(p.name, 'Sam');
    assert.equal(p.description, 'Best with a big model.');
    assert.equal(p.icon, DEFAULT_CARD_ICON);
    assert.equal(p.systemPrompt, card.system_prompt);
    assert.equal(p.greeting, 'Ahoy!');
    assert.deepEqual(p.alternateGreetings, ['Yo.', 'Hm?']);
    assert.equal(p.characterDescription, card.description);
    assert.equal(p.exampleDialogue, card.mes_example);
    assert.equal(p.postHistoryInstructions, 'Stay in character.');
    assert.equal(p.nickname, 'Sammy');
    assert.equal(p.lorebook?.entries.length, 3);
    assert.deepEqual(personaToCard(p), card);
  });

  it('lays edits over the original card: unknown fields, extensions, assets and entry details stay', () => {
    const card = readCard(json(v3Card)).card;
    const p = cardToPersona(card, { id: 'sam' });
    const edited = { ...p, name: 'Samuel', nickname: '', icon: '⚓', sampling: { temperature: 0.7 }, lorebook: { ...p.lorebook!, entries: p.lorebook!.entries.map((e, i) => (i === 0 ? { ...e, content: 'New lore' } : e)) } };
    const out = personaToCard(edited, { now: 1_800_000_000 });
    assert.equal(out.name, 'Samuel');
    assert.equal(out.nickname, undefined);
    assert.equal(out.unknown_data_field, 'kept');
    assert.deepEqual(out.assets, card.assets);
    assert.equal(out.creation_date, card.creation_date);
    assert.equal(out.modification_date, 1_800_000_000);
    assert.equal(out.character_book!.entries[0]!.content, 'New lore');
    assert.deepEqual(out.character_book!.entries[0]!.unknown_entry_field, { kept: 'yes' });
    assert.deepEqual(out.extensions[PERSONA_EXTENSION_KEY], { icon: '⚓', sampling: { temperature: 0.7 } });
    assert.equal(out.extensions.world, 'harbour');
    // and Persona's own settings come back on re-import
    const back = cardToPersona(readCard(writeCardPng(out)).card, { id: 'samuel' });
    assert.equal(back.icon, '⚓');
    assert.deepEqual(back.sampling, { temperature: 0.7 });
  });

  it('exports a built-in persona as a card whose system prompt is the persona’s', () => {
    const persona: Persona = { id: 'sam', name: 'Sam', description: 'A friend', icon: '😊', systemPrompt: 'You are {{char}}.', greeting: 'Hey {{user}}!', tags: ['friend'], sampling: { temperature: 0.8 } };
    const card = personaToCard(personaToCardPersona(persona), { now: 1_700_000_000 });
    assert.equal(card.system_prompt, 'You are {{char}}.');
    assert.equal(card.first_mes, 'Hey {{user}}!');
    assert.equal(card.creator_notes, 'A friend');
    assert.equal(card.creation_date, 1_700_000_000);
    assert.ok(CardDataSchema.safeParse(card).success);
    const back = cardToPersona(readCard(utf8(writeCardJson(card))).card, { id: 'sam' });
    assert.equal(back.icon, '😊');
    assert.equal(back.description, 'A friend');
  });
});
