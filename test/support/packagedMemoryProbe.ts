// Bundled by test/integration/packaging.test.ts into the dist/ of an unpacked persona.vsix, with the
// extension's own resolve plugin, and run there in a child `node`: MemoryStore over whatever
// LanceDB and Arrow the package carries. Prints one JSON line: what was found, and every module
// file the process loaded (to show where LanceDB came from).
import { MemoryStore } from '../../src/rag/memoryStore';

const D = 16;

/** A unit vector along axis `i`, slightly tilted towards `j`, so that each chunk has its own direction. */
function axis(i: number, j = (i + 1) % D): number[] {
  const v = new Array<number>(D).fill(0);
  v[i] = 1;
  v[j] = 0.1;
  return v;
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: node packagedMemoryProbe.js <database dir>');
  const store = await MemoryStore.open(dir, { model: 'probe-model', dimension: D });
  const doc = (source: string, texts: string[], first: number) => ({
    source,
    kb: 'workspace',
    docHash: `hash-${source}`,
    chunks: texts.map((text, index) => ({ text, vector: axis(first + index), startLine: index * 10 + 1, endLine: index * 10 + 9, tokenCount: 5, index })),
  });
  await store.upsertDocuments([
    doc('notes/alpha.md', ['Alpha talks about lighthouses.', 'Alpha lists the quokkaIdentifier function.'], 0),
    doc('notes/beta.md', ['Beta is about gardens.', 'Beta mentions tidal pools.'], 4),
  ]);
  const optimized = await store.optimize();
  const byVector = await store.search(axis(5), { k: 1, kbs: ['workspace'] });
  const byText = await store.search(axis(9), { k: 3, kbs: ['workspace'], queryText: 'quokkaIdentifier' });
  const forgot = await store.forgetSource('notes/alpha.md');
  const afterForget = await store.search(axis(1), { k: 4, kbs: ['workspace'], queryText: 'quokkaIdentifier' });
  await store.close();
  const brief = (hits: { source: string; chunkIndex: number; via: string }[]) => hits.map((h) => `${h.source}#${h.chunkIndex}:${h.via}`);
  process.stdout.write(
    `${JSON.stringify({
      built: optimized.built,
      byVector: brief(byVector),
      byText: brief(byText),
      forgotChunks: forgot.chunks,
      afterForget: brief(afterForget),
      loaded: Object.keys(require.cache),
    })}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
