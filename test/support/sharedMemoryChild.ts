// A second (and third) member of a team memory, in its own process, for the concurrency tests:
//   node --import tsx test/support/sharedMemoryChild.ts add ENDPOINT URI MEMBER COUNT PREFIX
// adds COUNT documents `PREFIX/doc-<i>.md` (one commit each, as the indexing queue makes them) to
// the team memory at URI as MEMBER, with the test embeddings (vectorFor), then prints `done`.
import { SHARED_KB } from '../../src/rag/knowledgeBases';
import { SharedMemory } from '../../src/rag/sharedMemory';

export const TEST_MODEL = { model: 'test-embed', dimension: 16 };

/** A deterministic unit-ish vector for a text: texts sharing a word land near each other. */
export function vectorFor(text: string, dimension = TEST_MODEL.dimension): Float32Array {
  const v = new Float32Array(dimension);
  for (const word of text.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean)) {
    let h = 2166136261;
    for (const ch of word) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
    v[(h >>> 0) % dimension]! += 1;
  }
  v[0]! += 0.01;
  return v;
}

export function docFor(source: string, text: string) {
  return {
    source,
    kb: SHARED_KB,
    docHash: `h-${text.length}-${source}`,
    chunks: [{ text, vector: vectorFor(text), startLine: 1, endLine: 1, tokenCount: text.split(' ').length, index: 0 }],
  };
}

export function storage(endpoint: string, uri: string, member: string, accessKeyId = 'S3RVER') {
  return {
    settings: { uri, endpoint, region: 'us-east-1', pathStyle: true, allowHttp: true },
    credentials: { accessKeyId, secretAccessKey: 'S3RVER' },
    member,
  };
}

async function main(): Promise<void> {
  const [command, endpoint, uri, member, count, prefix] = process.argv.slice(2);
  if (command !== 'add' || !endpoint || !uri || !member || !count || !prefix) throw new Error('usage: add ENDPOINT URI MEMBER COUNT PREFIX');
  const shared = await SharedMemory.open(storage(endpoint, uri, member), TEST_MODEL);
  for (let i = 0; i < Number(count); i++) {
    await shared.upsertDocuments([docFor(`${prefix}/doc-${i}.md`, `${prefix} document ${i} about topic${i % 5}`)]);
  }
  await shared.close();
  process.stdout.write('done\n');
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`${String(e)}\n`);
    process.exit(1);
  });
}
