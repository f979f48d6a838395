// A second (and third) member of a team memory, in its own process:
//   node --import tsx test/support/sharedMemoryChild.ts add ENDPOINT URI MEMBER COUNT PREFIX
// adds COUNT documents `PREFIX/doc-<i>.md` (one commit each, as the indexing queue makes them) to
// the team memory at URI as MEMBER, with the test embeddings (vectorFor), then prints `done`.
//   node --import tsx test/support/sharedMemoryChild.ts index ENDPOINT URI MEMBER EMBEDDINGS_URL ROOT FILE…
// indexes the files (paths under ROOT) into the team memory as Persona does — MemoryService, its
// queue, the embeddings server at EMBEDDINGS_URL — then prints `done` (the end-to-end test's
// teammate).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARED_KB } from '../../src/rag/knowledgeBases';
import { MemoryService } from '../../src/rag/memoryService';
import { SharedMemory } from '../../src/rag/sharedMemory';
import { silentLogger } from '../../src/util/logger';

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

async function index(endpoint: string, uri: string, member: string, embeddingsUrl: string, root: string, files: string[]): Promise<void> {
  const service = new MemoryService({
    dir: join(mkdtempSync(join(tmpdir(), 'persona-teammate-')), 'memory'),
    settings: () => ({ baseUrl: embeddingsUrl, model: 'bge-m3', chunkTokens: 500, overlapTokens: 50, maxFileBytes: 1 << 20, topK: 8, minScore: 0.1, tokenBudget: 1500 }),
    logger: silentLogger,
    teamMemory: async () => ({ ...storage(endpoint, uri, member), latencyBudgetMs: 5000 }),
  });
  await service.add(files.map((source) => ({ absPath: join(root, source), source })), SHARED_KB);
  await service.whenIdle();
  const p = service.progress();
  await service.dispose();
  if (p.state !== 'idle' || p.failedCount > 0) throw new Error(`indexing ended ${p.state}: ${p.pausedReason ?? JSON.stringify(p.failed)}`);
}

async function main(): Promise<void> {
  if (process.argv[2] === 'index') {
    const [endpoint, uri, member, embeddingsUrl, root, ...files] = process.argv.slice(3);
    if (!endpoint || !uri || !member || !embeddingsUrl || !root || files.length === 0) throw new Error('usage: index ENDPOINT URI MEMBER EMBEDDINGS_URL ROOT FILE…');
    await index(endpoint, uri, member, embeddingsUrl, root, files);
    process.stdout.write('done\n');
    return;
  }
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
