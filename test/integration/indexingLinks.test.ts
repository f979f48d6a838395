// Memory reads a file as it is when the job runs, not as it was when it was added: a file that became
// a link to a secret outside its folder (a `git pull` can do that) is not read, and neither is a
// special file that says it is empty. Real MemoryService, LanceDB on disk, a KoboldCpp-like server.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WORKSPACE_KB } from '../../src/rag/knowledgeBases';
import { MemoryService, type MemorySettings } from '../../src/rag/memoryService';
import { silentLogger } from '../../src/util/logger';
import { startFakeKoboldCpp, type FakeKoboldCpp } from '../support/fakeKoboldCpp';

const SECRET = 'BEGIN-OPENSSH-PRIVATE-KEY-not-for-memory';

describe('what memory reads when a job runs', () => {
  let kobold: FakeKoboldCpp;
  let root: string;
  let workspace: string;
  let outside: string;
  let service: MemoryService;

  before(async () => {
    kobold = await startFakeKoboldCpp({ dimension: 1024 });
    root = mkdtempSync(join(tmpdir(), 'persona-links-'));
    workspace = join(root, 'workspace');
    outside = join(root, 'home', '.ssh');
    mkdirSync(join(workspace, 'notes'), { recursive: true });
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'id_ed25519'), `${SECRET}\n`);
    const settings: MemorySettings = { baseUrl: kobold.url, model: '', chunkTokens: 64, overlapTokens: 8, maxFileBytes: 1 << 20, topK: 4, minScore: 0.1, tokenBudget: 1000 };
    service = new MemoryService({ dir: join(root, 'memory'), settings: () => settings, logger: silentLogger });
  });
  after(async () => {
    await service.dispose();
    await kobold.close();
    rmSync(root, { recursive: true, force: true });
  });

  const embedded = () => kobold.embeddingRequests.flatMap((r) => r.inputs).join('\n');

  it('does not follow a file that became a link to a secret outside its folder', async () => {
    const file = join(workspace, 'notes', 'deploy.md');
    writeFileSync(file, '# Deploying\n\nReleases go out on Tuesdays.\n');
    await service.add([{ absPath: file, source: 'notes/deploy.md', root: workspace }], WORKSPACE_KB);
    await service.whenIdle();
    assert.match(embedded(), /Releases go out on Tuesdays/);

    // A pull replaces the file with a link to the key; the watcher queues it again.
    unlinkSync(file);
    symlinkSync(join(outside, 'id_ed25519'), file);
    await service.add([{ absPath: file, source: 'notes/deploy.md', root: workspace }], WORKSPACE_KB);
    await service.whenIdle();
    assert.doesNotMatch(embedded(), new RegExp(SECRET));
    const p = service.progress();
    assert.ok(p.skipped.some((s) => s.source === 'notes/deploy.md' && /link to a file outside/.test(s.reason)), JSON.stringify(p.skipped));
  });

  it('follows a link inside its folder, and no link at all for a job without a folder', async () => {
    const target = join(workspace, 'notes', 'real.md');
    writeFileSync(target, '# Real\n\nThe blue pipeline ships at noon.\n');
    const link = join(workspace, 'alias.md');
    symlinkSync(target, link);
    await service.add([{ absPath: link, source: 'alias.md', root: workspace }], WORKSPACE_KB);
    await service.whenIdle();
    assert.match(embedded(), /blue pipeline ships at noon/);

    const noRoot = join(workspace, 'other.md');
    symlinkSync(join(outside, 'id_ed25519'), noRoot);
    await service.add([{ absPath: noRoot, source: 'other.md' }], WORKSPACE_KB);
    await service.whenIdle();
    assert.doesNotMatch(embedded(), new RegExp(SECRET));
  });

  it('does not read a special file that says it is empty', { skip: !existsSync('/proc/self/environ') && 'no /proc here' }, async () => {
    await service.add([{ absPath: '/proc/self/environ', source: '/proc/self/environ', root: '/proc/self' }], WORKSPACE_KB);
    await service.whenIdle();
    const p = service.progress();
    assert.ok(p.skipped.some((s) => s.source === '/proc/self/environ' && /special file/.test(s.reason)), JSON.stringify(p.skipped));
    assert.doesNotMatch(embedded(), /PATH=/);
  });

  it('leaves out a file that holds a private key, whatever its name, and says why', async () => {
    const file = join(workspace, 'notes', 'setup.md');
    writeFileSync(file, `# Setup\n\nPaste this into the server:\n\n-----BEGIN OPENSSH ${'PRIVATE'} KEY-----\n${SECRET}\n-----END OPENSSH PRIVATE KEY-----\n`);
    await service.add([{ absPath: file, source: 'notes/setup.md', root: workspace }], WORKSPACE_KB);
    await service.whenIdle();
    assert.doesNotMatch(embedded(), new RegExp(SECRET));
    const p = service.progress();
    assert.ok(p.skipped.some((s) => s.source === 'notes/setup.md' && /looks like a private key/.test(s.reason)), JSON.stringify(p.skipped));
  });
});
