// Team memory (issue 14) against a real S3-compatible server on loopback (s3rver, see
// test/support/s3Server.ts for what it does not implement) and the real LanceDB: members writing
// from separate processes at once, a reader in a third, the model check, refused credentials, a
// server that stops mid-index, and forgetting proved on every object left in the bucket.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadLanceDb, type LanceDbModule } from '../../src/rag/lanceLoader';
import { SHARED_KB } from '../../src/rag/knowledgeBases';
import { memberTableName, SharedMemory, SharedMemoryError, storageOptionsFor } from '../../src/rag/sharedMemory';
import { removeS3Folder, startS3Server, type S3TestServer } from '../support/s3Server';
import { docFor, storage, TEST_MODEL, vectorFor } from '../support/sharedMemoryChild';
import { assertNoVersionHolds } from '../support/lanceVersions';

const repo = resolve(__dirname, '../..');
let s3: S3TestServer;
let lancedb: LanceDbModule;
let bases = 0;
/** A fresh base (a folder of the bucket) per test. */
const freshUri = (name: string) => `s3://team/${++bases}-${name}`;

before(async () => {
  const loaded = await loadLanceDb();
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.reason);
  lancedb = loaded.lancedb;
  s3 = await startS3Server();
});
after(async () => {
  await removeS3Folder(s3);
});

function runChild(args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'test/support/sharedMemoryChild.ts'), ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child timed out: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Every object file s3rver keeps for the keys under `prefix` of the bucket. */
function objectFiles(prefix: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('._S3rver_object')) out.push(p);
    }
  };
  walk(join(s3.dir, s3.bucket, prefix));
  return out;
}

describe('team memory on S3-compatible storage', () => {
  it('two members add from two processes at once, nothing lost or duplicated; a third process reads both', async () => {
    const uri = freshUri('concurrent');
    // s3rver ignores conditional writes: this is the case a table per member exists for.
    const [a, b] = await Promise.all([runChild(['add', s3.endpoint, uri, 'alice', '20', 'alice']), runChild(['add', s3.endpoint, uri, 'bob', '20', 'bob'])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);

    const reader = await SharedMemory.open(storage(s3.endpoint, uri, 'carol'), TEST_MODEL);
    const docs = await reader.listDocuments();
    const expected = [...Array.from({ length: 20 }, (_, i) => `alice/doc-${i}.md`), ...Array.from({ length: 20 }, (_, i) => `bob/doc-${i}.md`)].sort();
    assert.deepEqual(docs.map((d) => d.source), expected);
    assert.ok(docs.every((d) => d.chunkCount === 1 && d.members === 1 && d.kb === SHARED_KB));
    assert.equal(await reader.countChunks(), 40);

    const hits = await reader.search(vectorFor('bob document 7 about topic2'), { k: 3 });
    assert.equal(hits[0]!.source, 'bob/doc-7.md');
    const alice = await reader.search(vectorFor('alice document 12 about topic2'), { k: 3 });
    assert.equal(alice[0]!.source, 'alice/doc-12.md');
    await reader.close();
  });

  it('a reader sees what a member adds later without opening the base again', async () => {
    const uri = freshUri('later');
    const writer = await SharedMemory.open(storage(s3.endpoint, uri, 'alice'), TEST_MODEL);
    await writer.upsertDocuments([docFor('first.md', 'the first runbook about deploys')]);
    const reader = await SharedMemory.open(storage(s3.endpoint, uri, 'bob'), TEST_MODEL);
    assert.equal((await reader.search(vectorFor('runbook deploys'), { k: 1 }))[0]?.source, 'first.md');
    // A member who joins after the reader opened: found within the members' refresh (5 s).
    const late = await SharedMemory.open(storage(s3.endpoint, uri, 'dave'), TEST_MODEL);
    await late.upsertDocuments([docFor('late.md', 'pager escalation policy for incidents')]);
    await writer.upsertDocuments([docFor('second.md', 'database failover checklist')]);
    assert.equal((await reader.search(vectorFor('database failover checklist'), { k: 1 }))[0]?.source, 'second.md', "an existing member's new document at once");
    const deadline = Date.now() + 10_000;
    let found: string | undefined;
    while (Date.now() < deadline && found !== 'late.md') {
      found = (await reader.search(vectorFor('pager escalation policy incidents'), { k: 1 }))[0]?.source;
      if (found !== 'late.md') await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(found, 'late.md', "a new member's document within the refresh");
    for (const s of [writer, reader, late]) await s.close();
  });

  it('refuses to mix embedding models: another model gets a clear message and writes nothing', async () => {
    const uri = freshUri('models');
    const writer = await SharedMemory.open(storage(s3.endpoint, uri, 'alice'), TEST_MODEL);
    await writer.upsertDocuments([docFor('a.md', 'alpha text')]);
    await writer.close();
    const other = { model: 'nomic-embed-text', dimension: 16 };
    await assert.rejects(SharedMemory.open(storage(s3.endpoint, uri, 'bob'), other), (e: unknown) => {
      assert.ok(SharedMemoryError.is(e, 'modelMismatch'), String(e));
      assert.match(e.message, /built with test-embed \(16 dimensions\).*runs nomic-embed-text/);
      return true;
    });
    const tables = readdirSync(join(s3.dir, s3.bucket, uri.slice('s3://team/'.length)));
    assert.ok(!tables.some((t) => t.startsWith(memberTableName(other, 'bob'))), `no table for the other model: ${tables.join(', ')}`);
  });

  it('refused credentials and a missing bucket give clear errors', async () => {
    const uri = freshUri('creds');
    await assert.rejects(SharedMemory.open(storage(s3.endpoint, uri, 'eve', 'WRONG'), TEST_MODEL), (e: unknown) => {
      assert.ok(SharedMemoryError.is(e, 'credentials'), String(e));
      assert.match(e.message, /refused the credentials \(InvalidAccessKeyId\)/);
      return true;
    });
    await assert.rejects(SharedMemory.open(storage(s3.endpoint, 's3://nobucket/x', 'eve'), TEST_MODEL), (e: unknown) => SharedMemoryError.is(e, 'noBucket'));
    const httpRefused = { ...storage(s3.endpoint, uri, 'eve'), settings: { ...storage(s3.endpoint, uri, 'eve').settings, allowHttp: false } };
    assert.throws(() => storageOptionsFor(httpRefused), (e: unknown) => SharedMemoryError.is(e, 'config') && /plain http/.test(e.message));
  });

  it('a server stopped between two writes: the write fails as unreachable, nothing of it is visible, it resumes when the server is back', async () => {
    const own = await startS3Server({ bucket: 'team' });
    try {
      const uri = 's3://team/stopped';
      const writer = await SharedMemory.open(storage(own.endpoint, uri, 'alice'), TEST_MODEL);
      await writer.upsertDocuments([docFor('kept.md', 'kept before the outage')]);
      await own.stop();
      const big = docFor('big.md', 'written while the storage was down');
      await assert.rejects(writer.upsertDocuments([big]), (e: unknown) => SharedMemoryError.is(e, 'unreachable') && /cannot be reached/.test(e.message));
      await writer.close();
      // Same folder, same port: the storage is back.
      const again = await startS3Server({ bucket: 'team', dir: own.dir, port: own.port });
      try {
        const reader = await SharedMemory.open(storage(again.endpoint, uri, 'bob'), TEST_MODEL);
        assert.deepEqual((await reader.listDocuments()).map((d) => d.source), ['kept.md'], 'nothing of the failed write is visible');
        const resumed = await SharedMemory.open(storage(again.endpoint, uri, 'alice'), TEST_MODEL);
        await resumed.upsertDocuments([big]);
        assert.deepEqual((await reader.listDocuments()).map((d) => d.source), ['big.md', 'kept.md']);
        await resumed.close();
        await reader.close();
      } finally {
        await again.stop();
      }
    } finally {
      await removeS3Folder(own);
    }
  });

  it('the storage gone in the middle of a commit (data uploaded, no manifest yet): nothing of it is visible; written again, it is there whole, once', async () => {
    const own = await startS3Server({ bucket: 'team' });
    // Between the member and the storage: forwards every request until the first data file of the
    // commit has been stored, then drops every connection, as a storage that went away would.
    let armed = false;
    let cut = false;
    let dataPuts = 0;
    const proxy = createServer((req, res) => {
      if (cut) return void req.socket.destroy();
      const upstream = httpRequest({ host: '127.0.0.1', port: own.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', () => {
          if (armed && req.method === 'PUT' && /\/data\/[^/?]+\.lance(\?|$)/.test(req.url ?? '')) {
            dataPuts++;
            cut = true;
          }
        });
      });
      upstream.on('error', () => req.socket.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxied = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    try {
      const uri = 's3://team/midcommit';
      const writer = await SharedMemory.open(storage(proxied, uri, 'alice'), TEST_MODEL);
      await writer.upsertDocuments([docFor('kept.md', 'kept before the outage')]);
      const big = { ...docFor('big.md', 'x'), chunks: Array.from({ length: 200 }, (_, i) => ({ text: `passage ${i} of the big document about outages`, vector: vectorFor(`passage ${i} outages`), startLine: i + 1, endLine: i + 1, tokenCount: 8, index: i })) };
      armed = true;
      await assert.rejects(writer.upsertDocuments([big]), (e: unknown) => SharedMemoryError.is(e, 'unreachable'));
      assert.equal(dataPuts, 1, 'the data file was stored before the storage went away');
      await writer.close();

      const reader = await SharedMemory.open(storage(own.endpoint, uri, 'bob'), TEST_MODEL);
      assert.deepEqual((await reader.listDocuments()).map((d) => d.source), ['kept.md'], 'no half-written document');
      assert.equal(await reader.countChunks(), 1);
      const resumed = await SharedMemory.open(storage(own.endpoint, uri, 'alice'), TEST_MODEL);
      await resumed.upsertDocuments([big]);
      const docs = await reader.listDocuments();
      assert.deepEqual(docs.map((d) => [d.source, d.chunkCount]), [['big.md', 200], ['kept.md', 1]]);
      await resumed.close();
      await reader.close();
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
      proxy.closeAllConnections();
      await removeS3Folder(own);
    }
  });

  it('forgets for everyone: the text is gone from every member table, every version and every object in the bucket', async () => {
    const uri = freshUri('forget');
    const prefix = uri.slice('s3://team/'.length);
    const code = 'QUOKKA-7431-ZEBRA';
    const secretText = `the launch code is ${code}, keep it private`;
    const alice = await SharedMemory.open(storage(s3.endpoint, uri, 'alice'), TEST_MODEL);
    const bob = await SharedMemory.open(storage(s3.endpoint, uri, 'bob'), TEST_MODEL);
    // Both members indexed the secret file, among others that share its data files.
    const others = (who: string) => Array.from({ length: 12 }, (_, i) => docFor(`${who}/note-${i}.md`, `${who} note ${i} about lunch`));
    await alice.upsertDocuments([...others('alice').slice(0, 6), docFor('secret.md', secretText), ...others('alice').slice(6)]);
    await bob.upsertDocuments([docFor('secret.md', secretText), ...others('bob')]);
    await alice.optimize();
    await bob.optimize(); // full-text index: the text's tokens are in an index file too
    assert.equal((await alice.search(vectorFor(secretText), { k: 1, queryText: 'QUOKKA' }))[0]?.source, 'secret.md', 'positive control');

    // Positive control of the byte check: before, the code is readable in the objects (manifest, transaction or data).
    const before = objectFiles(prefix);
    // Each manifest as s3rver keeps it: the object, its metadata and its md5.
    const sidecars = ['._S3rver_object', '._S3rver_metadata.json', '._S3rver_object.md5'];
    const preManifests = new Map<string, Buffer[]>();
    for (const f of before.filter((p) => p.includes('/_versions/'))) {
      const key = f.slice(s3.dir.length, -'._S3rver_object'.length);
      preManifests.set(key, sidecars.map((suffix) => readFileSync(join(s3.dir, key + suffix))));
    }

    // A third member forgets it.
    const carol = await SharedMemory.open(storage(s3.endpoint, uri, 'carol'), TEST_MODEL);
    const result = await carol.forgetFolder('secret.md');
    assert.equal(result.chunks, 2);
    assert.equal(result.tables.length, 2);

    // 1. Every version of every member table left in the bucket, read row by row.
    const db = await lancedb.connect(uri, { storageOptions: storageOptionsFor(storage(s3.endpoint, uri, 'x')) });
    for (const table of result.tables) {
      await assertNoVersionHolds(await db.openTable(table), table, (r) => r.text.includes(code) || r.source === 'secret.md');
    }
    db.close();

    // 2. The old manifests put back, on a copy of what is left, cannot bring it back.
    const copy = await startS3Server({ bucket: 'team' });
    try {
      cpSync(join(s3.dir, s3.bucket, prefix), join(copy.dir, copy.bucket, prefix), { recursive: true });
      let restored = 0;
      for (const [key, files] of preManifests) {
        const target = join(copy.dir, key);
        if (existsSync(target + sidecars[0])) continue;
        sidecars.forEach((suffix, i) => writeFileSync(target + suffix, files[i]!));
        restored++;
      }
      assert.ok(restored >= 2, `old manifests put back: ${restored}`);
      const copyDb = await lancedb.connect(uri, { storageOptions: storageOptionsFor(storage(copy.endpoint, uri, 'x')) });
      for (const table of result.tables) {
        const t = await copyDb.openTable(table);
        for (const v of await t.listVersions()) {
          const holds = await t
            .checkout(v.version)
            .then(() => t.query().select(['text']).toArray())
            .then((rows) => rows.some((r) => String(r.text).includes(code)))
            .catch(() => false);
          assert.equal(holds, false, `restored version ${v.version} of ${table}`);
        }
        t.close();
      }
      copyDb.close();
    } finally {
      await removeS3Folder(copy);
    }

    // 3. No object in the bucket holds the code or the path as bytes (manifests and transactions are uncompressed).
    for (const f of objectFiles(prefix)) {
      const bytes = readFileSync(f);
      assert.ok(!bytes.includes(Buffer.from(code)), `${f} holds the code`);
    }

    // 4. The rest is still there and found, for every member.
    assert.equal((await bob.listDocuments()).length, 24);
    assert.ok(!(await bob.search(vectorFor(secretText), { k: 5, queryText: 'QUOKKA launch code' })).some((h) => h.text.includes(code)));
    assert.equal((await bob.search(vectorFor('bob note 3 about lunch'), { k: 1 }))[0]?.source, 'bob/note-3.md');
    for (const s of [alice, bob, carol]) await s.close();
  });
});
