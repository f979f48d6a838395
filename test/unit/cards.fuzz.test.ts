// Fuzzing the card readers: thousands of mutated PNG, JSON and zip inputs must each end in a valid
// card or a CardError — no other exception, no hang. Persona's own files (a persona with its version
// history, picture and card files) go through the whole import preparation the same way: a persona
// ready to save, or a CardError / PersonaFileError. The loop runs in a worker thread so that a
// real hang (synchronous code never yields) is cut off by terminating the worker.
//
// Reproducing a failure: each case's randomness comes from (seed, index) alone, so
//   FUZZ_SEED=<seed> FUZZ_ONLY=<index> node --import tsx --test test/unit/cards.fuzz.test.ts
// replays just that case. FUZZ_CASES=<n> runs more (or fewer) cases.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { zipSync } from 'fflate';
import { CardError, crc32, placeholderPng, readCard, writeCardJson, writeCardPng, writeCharx } from '../../src/characters/cards/cardCodec';
import { CardDataSchema } from '../../src/shared/cardSchema';
import { prepareImport } from '../../src/characters/cardImport';
import { cardToPersona } from '../../src/characters/cards/cardToPersona';
import { PersonaFileError, writePersonaFile } from '../../src/characters/cards/personaFile';
import { CardPersonaSchema } from '../../src/shared/cardPersona';
import { prng } from '../support/prng';

interface FuzzConfig {
  seed: number;
  cases: number;
  only?: number;
}
interface Failure {
  index: number;
  kind: string;
  error: string;
}
interface FuzzReport {
  cases: number;
  cards: number;
  errors: Record<string, number>;
  failures: Failure[];
  slowest: { index: number; kind: string; ms: number };
}

// --- the worker ------------------------------------------------------------------------------

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)]!;

const card = CardDataSchema.parse({
  name: 'Fuzz <b>me</b>',
  description: '{{char}} is tested. ünïcødé ✓ 🎭',
  first_mes: 'Hi {{user}}',
  alternate_greetings: ['a', 'b'],
  tags: ['t'],
  extensions: { app: { nested: [1, 2, { x: null }] } },
  character_book: {
    scan_depth: 3,
    extensions: {},
    entries: [
      { keys: ['k1', 'k2'], content: 'lore one', extensions: {}, enabled: true, insertion_order: 1, selective: true, secondary_keys: ['s'], position: 'after_char' },
      { keys: ['k3'], content: 'lore two', extensions: { z: 1 }, enabled: false, insertion_order: 2, constant: true, id: 7 },
    ],
  },
  assets: [{ type: 'icon', uri: 'embeded://assets/icon/images/main.png', name: 'main', ext: 'png' }],
  nickname: 'Fuzzy',
});
const tinyPng = placeholderPng('fuzz', 4);

const enc = new TextEncoder();
const seeds = {
  png: writeCardPng(card, tinyPng),
  json: enc.encode(writeCardJson(card)),
  v1: enc.encode(JSON.stringify({ name: 'V1', description: 'd', personality: 'p', scenario: 's', first_mes: 'f', mes_example: '<START>m' })),
  charx: writeCharx(card, new Map([['embeded://assets/icon/images/main.png', tinyPng]])),
  personaFile: personaFileSeed(),
};

function personaFileSeed(): Uint8Array {
  const persona = { ...cardToPersona(card, { id: 'fuzz-000001' }), version: 2 };
  const history = [
    { summary: { version: 1, savedAt: 1, kind: 'create' as const }, persona: { ...persona, version: 1, greeting: 'Old' } },
    { summary: { version: 2, savedAt: 2, kind: 'snapshot' as const, name: 'named' }, persona },
  ];
  return enc.encode(writePersonaFile({ persona, history, avatar: { bytes: tinyPng, ext: 'png' }, assets: new Map([['embeded://a.txt', enc.encode('a')]]) }, 3));
}

function pngChunkSpans(b: Uint8Array): Array<{ start: number; end: number }> {
  const spans: Array<{ start: number; end: number }> = [];
  let p = 8;
  while (p + 12 <= b.length) {
    const len = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    if (p + 12 + len > b.length) break;
    spans.push({ start: p, end: p + 12 + len });
    p += 12 + len;
  }
  return spans;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function fixCrc(b: Uint8Array, start: number, end: number): void {
  new DataView(b.buffer, b.byteOffset).setUint32(end - 4, crc32(b, start + 4, end - 4));
}

// Byte-level mutations, for any format.
const byteMutations: Record<string, (rng: Rng, b: Uint8Array) => Uint8Array> = {
  bitFlips(rng, b) {
    const out = b.slice();
    for (let i = 1 + int(rng, 8); i > 0; i--) {
      const at = int(rng, out.length);
      out[at] = out[at]! ^ (1 << int(rng, 8));
    }
    return out;
  },
  truncate: (rng, b) => b.subarray(0, int(rng, b.length)),
  overwrite(rng, b) {
    const out = b.slice();
    const at = int(rng, out.length);
    for (let i = at; i < Math.min(out.length, at + 1 + int(rng, 16)); i++) out[i] = int(rng, 256);
    return out;
  },
  insert(rng, b) {
    const at = int(rng, b.length + 1);
    const junk = Uint8Array.from({ length: 1 + int(rng, 32) }, () => int(rng, 256));
    return concat(b.subarray(0, at), junk, b.subarray(at));
  },
  remove(rng, b) {
    const at = int(rng, b.length);
    return concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(rng, 32))));
  },
  interestingNumber(rng, b) {
    const out = b.slice();
    if (out.length < 4) return out;
    const at = int(rng, Math.max(1, out.length - 4));
    const v = pick(rng, [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, out.length, out.length + 1]);
    new DataView(out.buffer).setUint32(Math.min(at, out.length - 4), v >>> 0, rng() < 0.5);
    return out;
  },
};

// PNG-aware mutations: these reach the layers behind the CRC checks.
const pngMutations: Record<string, (rng: Rng, b: Uint8Array) => Uint8Array> = {
  chunkLengthLie(rng, b) {
    const out = b.slice();
    const spans = pngChunkSpans(out);
    if (spans.length === 0) return out; // an earlier mutation left no chunk to lie about
    const span = pick(rng, spans);
    const len = new DataView(out.buffer).getUint32(span.start);
    const lie = pick(rng, [0, len - 1, len + 1, len + 1000, 0x7fffffff, 0xffffffff, int(rng, 2 ** 32)]) >>> 0;
    new DataView(out.buffer).setUint32(span.start, lie);
    return out;
  },
  duplicateChunk(rng, b) {
    const spans = pngChunkSpans(b);
    if (spans.length === 0) return b;
    const span = pick(rng, spans);
    const at = pick(rng, spans).start;
    return concat(b.subarray(0, at), b.subarray(span.start, span.end), b.subarray(at));
  },
  dropChunk(rng, b) {
    const spans = pngChunkSpans(b);
    if (spans.length === 0) return b;
    const span = pick(rng, spans);
    return concat(b.subarray(0, span.start), b.subarray(span.end));
  },
  mutateChunkDataFixCrc(rng, b) {
    const out = b.slice();
    const spans = pngChunkSpans(out).filter((s) => s.end - s.start > 12);
    if (spans.length === 0) return out;
    const span = pick(rng, spans);
    for (let i = 1 + int(rng, 4); i > 0; i--) {
      const at = span.start + 8 + int(rng, span.end - span.start - 12);
      out[at] = rng() < 0.5 ? out[at]! ^ (1 << int(rng, 8)) : pick(rng, [0x00, 0x3d, 0x2b, 0x2f, 0x41, 0x7b, 0xff]);
    }
    fixCrc(out, span.start, span.end);
    return out;
  },
  cardTextMutatedJson(rng) {
    // A valid PNG whose card text is base64 of mutated JSON: exercises JSON and schema checks.
    const text = mutateJsonText(rng, new TextDecoder().decode(seeds.json));
    const payload = enc.encode(`${pick(rng, ['ccv3', 'chara'])}\0${Buffer.from(text, 'utf8').toString('base64')}`);
    const chunk = new Uint8Array(12 + payload.length);
    new DataView(chunk.buffer).setUint32(0, payload.length);
    chunk.set(enc.encode('tEXt'), 4);
    chunk.set(payload, 8);
    fixCrc(chunk, 0, chunk.length);
    const iend = tinyPng.length - 12;
    return concat(tinyPng.subarray(0, iend), chunk, tinyPng.subarray(iend));
  },
};

const JSON_VALUES = ['null', '0', '-1', '1e309', '""', '"x"', '[]', '{}', 'true', '[[[[[[]]]]]]', '{"__proto__":{"a":1}}', '"\\ud800"', '"<script>"'];
function mutateJsonText(rng: Rng, text: string): string {
  const ops = [
    () => {
      // replace the value after a random key
      const keys = [...text.matchAll(/"[a-z_]+":/g)];
      if (keys.length === 0) return `${text}${pick(rng, JSON_VALUES)}`;
      const k = pick(rng, keys);
      const at = k.index! + k[0].length;
      const rest = text.slice(at);
      const end = rest.search(/[,}\]]/);
      return text.slice(0, at) + pick(rng, JSON_VALUES) + rest.slice(Math.max(0, end));
    },
    () => text.replace(/"(chara_card_v[23])"/, `"${pick(rng, ['chara_card_v1', 'chara_card_v9', 'lorebook_v3', ''])}"`),
    () => {
      const at = int(rng, text.length);
      return text.slice(0, at) + text.slice(at + 1);
    },
    () => {
      const at = int(rng, text.length);
      return text.slice(0, at) + pick(rng, ['{', '}', '[', ']', ',', ':', '"', '\\', '\u0000']) + text.slice(at);
    },
    () => text.replace(/"data":/, pick(rng, ['"data":null,"x":', '"dota":', '"data":[],"y":'])),
    () => text.slice(0, int(rng, text.length)),
  ];
  return pick(rng, ops)();
}

const jsonMutations: Record<string, (rng: Rng, b: Uint8Array) => Uint8Array> = {
  jsonText: (rng, b) => enc.encode(mutateJsonText(rng, new TextDecoder().decode(b))),
};

const zipMutations: Record<string, (rng: Rng, b: Uint8Array) => Uint8Array> = {
  zipHeaderNumber(rng, b) {
    // Overwrite a size, offset or count in a local header, central directory entry or end record.
    const out = b.slice();
    const view = new DataView(out.buffer);
    const sigs = [0x04034b50, 0x02014b50, 0x06054b50];
    const starts: number[] = [];
    for (let i = 0; i + 4 <= out.length; i++) if (sigs.includes(view.getUint32(i, true))) starts.push(i);
    if (starts.length === 0) return out;
    const at = pick(rng, starts) + pick(rng, [4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 42]);
    if (at + 4 <= out.length) view.setUint32(at, pick(rng, [0, 1, 0xffff, 0xffffffff, int(rng, 2 ** 32), int(rng, out.length)]) >>> 0, true);
    return out;
  },
  rezipMutatedJson(rng) {
    const text = mutateJsonText(rng, new TextDecoder().decode(seeds.json));
    return zipSync({ 'card.json': enc.encode(text), ...(rng() < 0.5 ? { 'assets/x.bin': Uint8Array.of(1, 2, 3) } : {}) });
  },
};

const plans: Array<{ seed: keyof typeof seeds; mutations: Record<string, (rng: Rng, b: Uint8Array) => Uint8Array> }> = [
  { seed: 'png', mutations: { ...byteMutations, ...pngMutations } },
  { seed: 'json', mutations: { ...byteMutations, ...jsonMutations } },
  { seed: 'v1', mutations: { ...byteMutations, ...jsonMutations } },
  { seed: 'charx', mutations: { ...byteMutations, ...zipMutations } },
  { seed: 'personaFile', mutations: { ...byteMutations, ...jsonMutations } },
];

function runCase(config: FuzzConfig, index: number): { kind: string; outcome: 'card' | string } {
  // Each case's randomness depends on (seed, index) only, so any case replays alone.
  const rng = prng(Math.imul(config.seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));
  const plan = plans[index % plans.length]!;
  let bytes = seeds[plan.seed];
  const names: string[] = [];
  // Usually one mutation, sometimes a few stacked.
  for (let n = rng() < 0.75 ? 1 : 2 + int(rng, 3); n > 0 && bytes.length > 0; n--) {
    const name = pick(rng, Object.keys(plan.mutations));
    names.push(name);
    try {
      bytes = plan.mutations[name]!(rng, bytes);
    } catch (e) {
      throw Object.assign(new Error(`the fuzzer's own ${name} mutation failed: ${String(e)}`), { kind: names.join('+') });
    }
  }
  const kind = `${plan.seed}:${names.join('+')}`;
  if (plan.seed === 'personaFile') {
    try {
      const prepared = prepareImport(bytes, { fileName: 'fuzz.persona.json', taken: () => false });
      // What comes out must be a persona the registry can save, with versions it can store.
      assert.ok(CardPersonaSchema.safeParse(prepared.persona).success, 'prepared persona passes the schema');
      for (const h of prepared.history) assert.ok(CardPersonaSchema.safeParse(h.persona).success && h.persona.id === prepared.persona.id, 'history entries are checked');
      return { kind, outcome: 'card' };
    } catch (e) {
      if (CardError.is(e) || PersonaFileError.is(e)) return { kind, outcome: `${e.name}.${e.reason}` };
      throw Object.assign(new Error(`${kind}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`), { kind });
    }
  }
  try {
    const parsed = readCard(bytes, 'fuzz.bin');
    // A card that is read must be a card we can use and write again.
    assert.ok(CardDataSchema.safeParse(parsed.card).success, 'read card passes the schema');
    readCard(enc.encode(writeCardJson(parsed.card)));
    return { kind, outcome: 'card' };
  } catch (e) {
    if (CardError.is(e)) return { kind, outcome: e.reason };
    throw Object.assign(new Error(`${kind}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`), { kind });
  }
}

function runFuzz(config: FuzzConfig): FuzzReport {
  const report: FuzzReport = { cases: 0, cards: 0, errors: {}, failures: [], slowest: { index: -1, kind: '', ms: 0 } };
  const indexes = config.only !== undefined ? [config.only] : Array.from({ length: config.cases }, (_, i) => i);
  for (const index of indexes) {
    const started = performance.now();
    try {
      const { kind, outcome } = runCase(config, index);
      if (outcome === 'card') report.cards++;
      else report.errors[outcome] = (report.errors[outcome] ?? 0) + 1;
      const ms = performance.now() - started;
      if (ms > report.slowest.ms) report.slowest = { index, kind, ms };
    } catch (e) {
      report.failures.push({ index, kind: (e as { kind?: string }).kind ?? '?', error: (e as Error).message });
    }
    report.cases++;
  }
  return report;
}

if (!isMainThread && (workerData as { cardsFuzz?: FuzzConfig } | undefined)?.cardsFuzz) {
  parentPort!.postMessage(runFuzz((workerData as { cardsFuzz: FuzzConfig }).cardsFuzz));
}

// --- the test ---------------------------------------------------------------------------------

/** Hard limit for the whole run, measured on the 2-core dev machine (the run takes ~2-3 s there). */
const HARD_LIMIT_MS = 20_000;

function fuzzInWorker(config: FuzzConfig): Promise<FuzzReport> {
  return new Promise((resolve, reject) => {
    // A worker does not inherit tsx's loader for its entry file: register it first, then load this file.
    const boot = `require('tsx/cjs/api').register(); require(${JSON.stringify(__filename)});`;
    const worker = new Worker(boot, { eval: true, workerData: { cardsFuzz: config } });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`the fuzz run did not finish in ${HARD_LIMIT_MS / 1000} s: a reader hangs (seed ${config.seed})`));
    }, HARD_LIMIT_MS);
    worker.once('message', (r: FuzzReport) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(r);
    });
    worker.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the fuzz worker exited (code ${code}) without a report`));
    });
  });
}

if (isMainThread) {
  it('mutated PNG, JSON, zip and Persona-file inputs give a valid card (or persona) or a typed error, nothing else, and never hang', async (t) => {
    const env = process.env;
    const config: FuzzConfig = {
      seed: env.FUZZ_SEED ? Number(env.FUZZ_SEED) : 0x5eed,
      cases: env.FUZZ_CASES ? Number(env.FUZZ_CASES) : 12_000,
      ...(env.FUZZ_ONLY ? { only: Number(env.FUZZ_ONLY) } : {}),
    };
    const report = await fuzzInWorker(config);
    t.diagnostic(`seed ${config.seed}: ${report.cases} cases, ${report.cards} still cards, errors ${JSON.stringify(report.errors)}, slowest ${Math.round(report.slowest.ms)} ms (${report.slowest.kind})`);
    const shown = report.failures.slice(0, 5).map((f) => `  FUZZ_SEED=${config.seed} FUZZ_ONLY=${f.index}  ${f.error}`);
    assert.deepEqual(shown, [], `${report.failures.length} of ${report.cases} cases threw something other than a CardError:\n${shown.join('\n')}`);
    assert.equal(report.cases, config.only !== undefined ? 1 : config.cases);
    assert.ok(report.slowest.ms < 1_000, `case ${report.slowest.index} (${report.slowest.kind}) took ${Math.round(report.slowest.ms)} ms`);
    if (config.only === undefined) {
      // The mutations reach every layer: each reason shows up, and some mutants are still cards.
      for (const r of ['truncatedPng', 'badPngCrc', 'noCardInPng', 'badBase64', 'notJson', 'wrongSpec', 'invalidCard', 'badZip', 'unknownFormat', 'PersonaFileError.notJson', 'PersonaFileError.invalidPersona', 'PersonaFileError.invalidHistory']) {
        assert.ok((report.errors[r] ?? 0) > 0, `no case ended in ${r}: ${JSON.stringify(report.errors)}`);
      }
      assert.ok(report.cards > 0, 'some mutants are still valid cards');
    }
  });
}
