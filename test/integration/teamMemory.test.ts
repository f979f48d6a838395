// The team memory as a chat turn and the indexing queue use it (MemoryService), against a real
// S3-compatible server on loopback (s3rver), the real LanceDB and the fake KoboldCpp over HTTP:
// files one member adds are retrieved by another beside their own workspace's; a slow link, refused
// credentials and a stopped server leave the turn its local memory and say why; indexing into the
// team memory pauses while the storage is down and resumes.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SHARED_KB, WORKSPACE_KB } from '../../src/rag/knowledgeBases';
import { MemoryService, type MemorySettings, type TeamMemoryConfig } from '../../src/rag/memoryService';
import { silentLogger } from '../../src/util/logger';
import { startFakeKoboldCpp, type FakeKoboldCpp } from '../support/fakeKoboldCpp';
import { removeS3Folder, startS3Server, type S3TestServer } from '../support/s3Server';

const root = mkdtempSync(join(tmpdir(), 'persona-team-'));
let kobold: FakeKoboldCpp;
let s3: S3TestServer;
let members = 0;

before(async () => {
  kobold = await startFakeKoboldCpp();
  s3 = await startS3Server();
});
after(async () => {
  await kobold.close();
  await removeS3Folder(s3);
  rmSync(root, { recursive: true, force: true });
});

function teamConfig(endpoint: string, uri: string, member: string, overrides: Partial<TeamMemoryConfig> = {}, accessKeyId = 'S3RVER'): TeamMemoryConfig {
  return {
    settings: { uri, endpoint, region: 'us-east-1', pathStyle: true, allowHttp: true },
    credentials: { accessKeyId, secretAccessKey: 'S3RVER' },
    member,
    latencyBudgetMs: 5_000,
    ...overrides,
  };
}

/** One member: a workspace with its own memory folder, and a team memory setting that a test may change. */
function member(name: string, team: () => TeamMemoryConfig | undefined) {
  const dir = join(root, `${++members}-${name}`);
  const files = join(dir, 'ws');
  mkdirSync(files, { recursive: true });
  const settings: MemorySettings = { baseUrl: kobold.url, model: 'bge-m3', chunkTokens: 200, overlapTokens: 20, maxFileBytes: 1 << 20, topK: 6, minScore: 0.1, tokenBudget: 4000 };
  const service = new MemoryService({
    dir: join(dir, 'memory'),
    settings: () => settings,
    logger: silentLogger,
    teamMemory: async () => team(),
    queueOptions: { heartbeatMs: 100, inboxPollMs: 50, retryDelayMs: 60_000, progressIntervalMs: 5 },
  });
  const write = (rel: string, text: string) => {
    const absPath = join(files, rel);
    mkdirSync(dirname(absPath), { recursive: true });
    writeFileSync(absPath, text);
    return { absPath, source: rel };
  };
  return { service, write };
}

const ask = (text: string) => [{ role: 'user' as const, content: text }];

/** A TCP proxy to `port` that holds every chunk for `delayMs` each way: a slow link. */
async function slowLink(port: number, delayMs: number): Promise<{ endpoint: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d) => setTimeout(() => upstream.write(d), delayMs));
    upstream.on('data', (d) => setTimeout(() => client.write(d), delayMs));
    client.on('end', () => setTimeout(() => upstream.end(), delayMs));
    upstream.on('end', () => setTimeout(() => client.end(), delayMs));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('team memory in chat turns and indexing', () => {
  it("one member indexes into the team memory; another's turn cites it beside its own workspace's files", async () => {
    const uri = 's3://team/turns';
    const alice = member('alice', () => teamConfig(s3.endpoint, uri, 'alice'));
    const bob = member('bob', () => teamConfig(s3.endpoint, uri, 'bob'));
    await alice.service.add([alice.write('runbooks/deploy.md', '# Deploy\n\nTo deploy the billing service run the blue green rollout script and watch the error budget.')], SHARED_KB);
    await alice.service.whenIdle();
    assert.equal(alice.service.progress().failedCount, 0);
    await bob.service.add([bob.write('notes/billing.md', 'My own notes: the billing service owner is Dana; billing alerts page the payments rota.')], WORKSPACE_KB);
    await bob.service.whenIdle();

    const found = await bob.service.retrieve(ask('how do I deploy the billing service?'), [WORKSPACE_KB, SHARED_KB]);
    assert.equal(found.teamReason, undefined);
    assert.equal(found.reason, undefined);
    const bySource = new Map(found.passages.map((p) => [p.source, p.kb]));
    assert.equal(bySource.get('runbooks/deploy.md'), SHARED_KB, `team passage: ${JSON.stringify(found.passages.map((p) => p.source))}`);
    assert.equal(bySource.get('notes/billing.md'), WORKSPACE_KB);
    // Only the workspace in scope: no team passage.
    const localOnly = await bob.service.retrieve(ask('how do I deploy the billing service?'), [WORKSPACE_KB]);
    assert.ok(!localOnly.passages.some((p) => p.kb === SHARED_KB));
    assert.deepEqual((await bob.service.listTeamDocuments()).map((d) => d.source), ['runbooks/deploy.md']);
    await alice.service.dispose();
    await bob.service.dispose();
  });

  it('a slow link past the latency budget: the turn goes on with local memory and says why', async () => {
    const uri = 's3://team/slow';
    const alice = member('alice-slow', () => teamConfig(s3.endpoint, uri, 'alice'));
    await alice.service.add([alice.write('team.md', 'The on call rotation handbook for the billing service.')], SHARED_KB);
    await alice.service.whenIdle();
    const link = await slowLink(s3.port, 150);
    try {
      const carol = member('carol-slow', () => teamConfig(link.endpoint, uri, 'carol', { latencyBudgetMs: 200 }));
      await carol.service.add([carol.write('local.md', 'Local handbook for the billing service on call.')], WORKSPACE_KB);
      await carol.service.whenIdle();
      const found = await carol.service.retrieve(ask('billing service on call handbook'), [WORKSPACE_KB, SHARED_KB]);
      assert.match(found.teamReason ?? '', /did not answer within 200 ms/);
      assert.deepEqual(found.passages.map((p) => p.source), ['local.md']);
      await carol.service.dispose();
    } finally {
      await link.close();
      await alice.service.dispose();
    }
  });

  it('refused credentials: a clear reason, local memory unaffected', async () => {
    // LanceDB takes 4–5 s here to report a refused key (its connect tries the namespace's manifest
    // first): a budget past that, so that the turn waits for the refusal rather than the budget.
    const dave = member('dave', () => teamConfig(s3.endpoint, 's3://team/creds', 'dave', { latencyBudgetMs: 20_000 }, 'WRONG'));
    await dave.service.add([dave.write('mine.md', 'Dave keeps the garden watering schedule here.')], WORKSPACE_KB);
    await dave.service.whenIdle();
    const found = await dave.service.retrieve(ask('garden watering schedule'), [WORKSPACE_KB, SHARED_KB]);
    assert.match(found.teamReason ?? '', /refused the credentials \(InvalidAccessKeyId\)/);
    assert.deepEqual(found.passages.map((p) => p.source), ['mine.md']);
    assert.equal(found.reason, undefined);
    await dave.service.dispose();
  });

  it('indexing into the team memory pauses while the storage is down and resumes when it is back', async () => {
    const own = await startS3Server();
    try {
      const uri = 's3://team/outage';
      let endpoint = own.endpoint;
      const erin = member('erin', () => teamConfig(endpoint, uri, 'erin'));
      await erin.service.add([erin.write('first.md', 'First document about the release train.')], SHARED_KB);
      await erin.service.whenIdle();
      await own.stop();
      await erin.service.add([erin.write('second.md', 'Second document about the freeze calendar.')], SHARED_KB);
      await erin.service.whenIdle();
      const paused = erin.service.progress();
      assert.equal(paused.state, 'paused');
      assert.match(paused.pausedReason ?? '', /cannot be reached.*continues by itself/);
      const back = await startS3Server({ dir: own.dir, port: own.port });
      endpoint = back.endpoint;
      try {
        erin.service.resume();
        await erin.service.whenIdle();
        assert.equal(erin.service.progress().state, 'idle');
        assert.deepEqual((await erin.service.listTeamDocuments()).map((d) => d.source), ['first.md', 'second.md']);
      } finally {
        await erin.service.dispose();
        await back.stop();
      }
    } finally {
      await removeS3Folder(own);
    }
  });

  it('forgetting from the team memory removes a document for every member', async () => {
    const uri = 's3://team/forget';
    const frank = member('frank', () => teamConfig(s3.endpoint, uri, 'frank'));
    const gina = member('gina', () => teamConfig(s3.endpoint, uri, 'gina'));
    await frank.service.add([frank.write('secret.md', 'The staging password rotation happens on Mondays.'), frank.write('keep.md', 'Keep this note about lunch.')], SHARED_KB);
    await frank.service.whenIdle();
    assert.equal(await gina.service.forgetTeam('secret.md'), 1);
    assert.deepEqual((await frank.service.listTeamDocuments()).map((d) => d.source), ['keep.md']);
    const found = await frank.service.retrieve(ask('staging password rotation'), [SHARED_KB]);
    assert.ok(!found.passages.some((p) => p.source === 'secret.md'));
    await frank.service.dispose();
    await gina.service.dispose();
  });
});
