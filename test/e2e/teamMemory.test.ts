// The team memory in a real VS Code (code-server): a team memory on an S3-compatible server on
// loopback (s3rver) set up in the user settings, its credentials entered through the command, and a
// teammate — a second process running Persona's indexing — adds a file to it. The memory line counts
// the team's file, the next reply is given its passage and lists it as a source, and the credentials
// are in no settings file and no log.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { startFakeKoboldCpp, type FakeKoboldCpp } from '../support/fakeKoboldCpp';
import { removeS3Folder, startS3Server, type S3TestServer } from '../support/s3Server';
import { captureOnFailure, waitUntil } from './harness';
import { lastAssistant, memoryPanelFrame, requestMessages, sendMessage, startChatE2e, waitForReply, type ChatE2e } from './chatView';

const repo = resolve(__dirname, '../..');
const SECRET = 'S3RVER';
const uri = 's3://team/e2e';
let s3: S3TestServer | undefined;
let kobold: FakeKoboldCpp | undefined;
let e2e: ChatE2e | undefined;
const teammate = mkdtempSync(join(tmpdir(), 'persona-teammate-files-'));

before(async () => {
  s3 = await startS3Server();
  kobold = await startFakeKoboldCpp({ dimension: 1024 });
  e2e = await startChatE2e({
    label: 'team-memory',
    server: { reply: 'Releases go out on Thursdays through the green pipeline [1].' },
    settings: {
      'persona.embeddings.baseUrl': kobold.url,
      'persona.rag.minScore': 0.05,
      'persona.teamMemory.uri': uri,
      'persona.teamMemory.endpoint': s3.endpoint,
      'persona.teamMemory.pathStyle': true,
      'persona.teamMemory.allowHttp': true,
      // The first turn opens the team memory too; this test is about what it finds, not its speed
      // (teamMemory.test.ts covers the budget).
      'persona.teamMemory.latencyBudgetMs': 5000,
    },
    workspaceFiles: { 'README.md': '# A project\n\nNothing about releases here.\n' },
  });
  await e2e.view();
});

after(async () => {
  await e2e?.stop();
  await kobold?.close();
  if (s3) await removeS3Folder(s3);
  rmSync(teammate, { recursive: true, force: true });
});

function started(): { e: ChatE2e; s3: S3TestServer; kobold: FakeKoboldCpp } {
  assert.ok(e2e && s3 && kobold, 'VS Code did not start (see the before hook)');
  return { e: e2e, s3, kobold };
}

/** The teammate: Persona's indexing in another process, adding `files` (under `root`) to the team memory. */
function teammateIndexes(s3: S3TestServer, embeddingsUrl: string, root: string, files: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'test/support/sharedMemoryChild.ts'), 'index', s3.endpoint, uri, 'teammate', embeddingsUrl, root, ...files], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`the teammate's indexing failed (${code}): ${stderr}`))));
  });
}

test("a file a teammate's Persona added to the team memory is counted, given to the next reply and cited under it", async () => {
  const { e, s3, kobold } = started();
  await captureOnFailure(e.vs, 'team-memory-cite', async () => {
    writeFileSync(join(teammate, 'release-process.md'), ['# Release process', '', 'Releases go out on Thursdays through the GREEN_PIPELINE after the freeze review.', ''].join('\n'));
    await teammateIndexes(s3, kobold.url, teammate, ['release-process.md']);

    // Until credentials are set the storage refuses the extension (s3rver knows one access key).
    await e.vs.runCommand('Persona: Set Team Memory Credentials…');
    const page = e.vs.page;
    const box = page.locator('.quick-input-widget .quick-input-box input');
    await waitUntil('the access key id box', 10_000, async () => /access key id/.test((await page.locator('.quick-input-widget').innerText({ timeout: 1000 }).catch(() => '')) ?? ''), 100);
    await box.fill(SECRET);
    await box.press('Enter');
    const password = page.locator('.quick-input-widget input[type="password"]');
    await waitUntil('the secret box', 10_000, async () => /secret access key/.test((await page.locator('.quick-input-widget').innerText({ timeout: 1000 }).catch(() => '')) ?? ''), 100);
    await password.fill(SECRET);
    await password.press('Enter');
    await waitUntil('the session token box', 10_000, async () => /session token/.test((await page.locator('.quick-input-widget').innerText({ timeout: 1000 }).catch(() => '')) ?? ''), 100);
    await password.press('Enter');

    const frame = await e.view();
    await waitUntil('the memory line to count the team file', 30_000, async () => /Team memory: 1 file\b/.test(await frame.locator('.memory-bar').innerText({ timeout: 1000 }).catch(() => '')), 250);

    const before = e.server.completions.length;
    await sendMessage(frame, 'How do releases go out?');
    await waitForReply(frame, e.server, before + 1);
    const system = requestMessages(e.server.chatRequests.at(-1))[0]!;
    assert.equal(system.role, 'system');
    assert.match(system.content, /Releases go out on Thursdays through the GREEN_PIPELINE after the freeze review\./);
    assert.match(system.content, /release-process\.md/);
    const cite = lastAssistant(frame).locator('.citations button', { hasText: 'release-process.md' });
    await cite.waitFor({ state: 'visible', timeout: 10_000 });
    await e.vs.screenshot('team-memory-cited');

    // The dial: this chat without the team memory; its passage is no longer sent.
    await frame.getByRole('button', { name: 'Chat settings' }).click();
    const settingsPanel = frame.getByRole('region', { name: 'Chat settings' });
    await settingsPanel.getByRole('checkbox', { name: 'Search the team memory' }).uncheck();
    await waitUntil('the chat to hold the value', 10_000, async () => (await settingsPanel.locator('[data-setting="memory-teamFiles"] .setting-origin').innerText()) === 'from this chat');
    const done = e.server.completions.length;
    await sendMessage(frame, 'How do releases go out, again?');
    await waitForReply(frame, e.server, done + 1);
    assert.doesNotMatch(requestMessages(e.server.chatRequests.at(-1))[0]!.content, /GREEN_PIPELINE/);
    await frame.getByRole('button', { name: 'Chat settings' }).click();

    // The memory panel: the team memory beside the workspace's, its file and its passage.
    await frame.getByRole('button', { name: 'Memory panel' }).click();
    const panel = await memoryPanelFrame(page);
    const kb = panel.getByRole('combobox', { name: 'Knowledge base' });
    await waitUntil('the team memory among the knowledge bases', 20_000, async () => /Team memory \(shared\): 1 file, 1 chunks/.test(await kb.innerText({ timeout: 1000 }).catch(() => '')), 250);
    await kb.selectOption('shared');
    const documents = panel.getByRole('list', { name: 'Documents' });
    await documents.getByRole('button', { name: /release-process\.md/ }).click();
    const chunks = panel.getByRole('list', { name: 'Chunks' });
    await waitUntil('the chunk of the team file', 10_000, async () => (await chunks.innerText({ timeout: 1000 }).catch(() => '')).includes('GREEN_PIPELINE'));
    await e.vs.screenshot('team-memory-panel');

    // The secret went to secret storage only.
    const settings = readFileSync(join(e.vs.dirs.userData, 'User', 'settings.json'), 'utf8');
    assert.ok(!settings.includes(SECRET), 'settings.json does not hold the credentials');
    assert.ok(!e.vs.logs().includes(SECRET), 'no log holds the credentials');
  });
});
