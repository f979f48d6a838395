// Helpers shared by the chat end-to-end tests: one VS Code and one fake LM Studio per test file, and
// small readers of what the Persona webview shows. Everything read from the page is read as a person
// would see it (text content, visible buttons), never from the extension's own state.
//
// In-page code is passed to `evaluate` as strings: the project's TypeScript has no DOM types, and
// tsx may wrap functions with helpers that do not exist inside the page.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame, Locator, Page } from 'playwright-core';
import { after, before } from 'node:test';
import { startFakeKoboldCpp, type FakeKoboldCpp } from '../support/fakeKoboldCpp';
import { startFakeOpenAiServer, type FakeOpenAiServer, type FakeServerOptions, type RecordedRequest } from '../support/fakeOpenAiServer';
import { defaultVsixPath, messageInput, openPersonaView, repoRoot, startVsCode, waitUntil, type StartOptions, type VsCode } from './harness';

/** The name every test profile gives the person, so `{{user}}` substitutions are visible. */
export const testUserName = 'Ada Tester';

/** PERSONA_E2E_VSIX runs the tests against another build (e.g. one with a behaviour broken on purpose). */
export const vsixUnderTest = process.env.PERSONA_E2E_VSIX ?? defaultVsixPath;

export interface ChatE2e {
  vs: VsCode;
  server: FakeOpenAiServer;
  /** The Persona webview's frame; opened again after a reload. */
  view(): Promise<Frame>;
  stop(): Promise<void>;
}

export async function startChatE2e(options: {
  label: string;
  server?: FakeServerOptions;
  settings?: Record<string, unknown>;
  workspaceFiles?: StartOptions['workspaceFiles'];
}): Promise<ChatE2e> {
  assert.ok(existsSync(vsixUnderTest), `${vsixUnderTest} is missing: run \`npm run package\` first`);
  const server = await startFakeOpenAiServer(options.server);
  let vs: VsCode;
  try {
    vs = await startVsCode({
      vsixPath: vsixUnderTest,
      label: options.label,
      workspaceFiles: options.workspaceFiles,
      settings: { 'persona.chat.baseUrl': server.url, 'persona.user.name': testUserName, ...options.settings },
    });
  } catch (e) {
    await server.close();
    throw e;
  }
  let frame: Frame | undefined;
  return {
    vs,
    server,
    async view() {
      if (frame && !frame.isDetached()) return frame;
      frame = await openPersonaView(vs.page);
      return frame;
    },
    async stop() {
      await vs.stop();
      await server.close();
    },
  };
}

/**
 * The VS Code of a memory test file: a chat server and the fake KoboldCpp for embeddings, started in
 * the file's `before` hook and stopped in its `after`. A test calls the returned function for both.
 */
export function chatWithMemoryE2e(options: { label: string; server?: FakeServerOptions; workspaceFiles?: StartOptions['workspaceFiles']; settings?: Record<string, unknown> }): () => { e: ChatE2e; k: FakeKoboldCpp } {
  let e2e: ChatE2e | undefined;
  let kobold: FakeKoboldCpp | undefined;
  before(async () => {
    kobold = await startFakeKoboldCpp({ dimension: 1024 });
    e2e = await startChatE2e({
      label: options.label,
      ...(options.server ? { server: options.server } : {}),
      settings: { 'persona.embeddings.baseUrl': kobold.url, 'persona.rag.minScore': 0.05, ...options.settings },
      ...(options.workspaceFiles ? { workspaceFiles: options.workspaceFiles } : {}),
    });
    await e2e.view();
  });
  after(async () => {
    await e2e?.stop();
    await kobold?.close();
  });
  return () => {
    assert.ok(e2e && kobold, 'VS Code did not start (see the before hook)');
    return { e: e2e, k: kobold };
  };
}

/** Right-clicks an Explorer item and picks a context-menu entry. */
export async function explorerMenu(page: Page, runCommand: (title: string) => Promise<void>, item: string, entry: string, screenshot?: () => Promise<unknown>): Promise<void> {
  await runCommand('File: Focus on Files Explorer');
  const row = page.locator(`.explorer-folders-view .monaco-list-row[aria-label^="${item}"]`).first();
  await row.waitFor({ state: 'visible', timeout: 10_000 });
  await row.click({ button: 'right' });
  const menu = page.locator('.context-view .monaco-menu');
  const action = menu.locator('.action-item', { hasText: entry }).first();
  await action.waitFor({ state: 'visible', timeout: 10_000 });
  await screenshot?.();
  // A click as the menu settles can highlight the entry without choosing it: again while it is open.
  await waitUntil(`"${entry}" to be chosen`, 15_000, async () => {
    await action.click({ timeout: 2000 }).catch(() => undefined);
    await menu.waitFor({ state: 'hidden', timeout: 2000 }).catch(() => undefined);
    return !(await menu.isVisible());
  });
}

// ---- settings --------------------------------------------------------------------------------------

/**
 * Merges `patch` into the running VS Code's user settings (a key set to undefined is removed), the
 * way a person would: in the settings.json editor, saved. Writing the file on disk is not enough:
 * code-server does not notice changes to its user settings file made behind its back.
 */
export async function updateUserSettings(vs: VsCode, patch: Record<string, unknown>): Promise<void> {
  const file = join(vs.dirs.userData, 'User', 'settings.json');
  const settings = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete settings[key];
    else settings[key] = value;
  }
  const text = `${JSON.stringify(settings, null, 2)}\n`;
  const page = vs.page;
  await vs.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(vs.url).origin });
  await vs.runCommand('Preferences: Open User Settings (JSON)');
  // Code 1.139 shows it in a modal editor; its Monaco editor names the file.
  const editor = page.locator('.monaco-editor[data-uri$="/User/settings.json"]').first();
  await editor.waitFor({ state: 'visible', timeout: 10_000 });
  await editor.locator('.view-lines').click();
  await page.evaluate(`navigator.clipboard.writeText(${JSON.stringify(text)})`);
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Control+V');
  await page.keyboard.press('Control+S');
  await waitUntil('settings.json to be saved', 10_000, () => readFileSync(file, 'utf8') === text);
  // Escape closes the modal editor (F1 does not reach the palette from inside it). With another
  // editor open behind it, the first Escape is sometimes taken by the editor's own widgets: again
  // until it is gone.
  await waitUntil('the settings editor to close', 10_000, async () => {
    await page.keyboard.press('Escape');
    await editor.waitFor({ state: 'detached', timeout: 1000 }).catch(() => undefined);
    return (await editor.count()) === 0;
  });
}

// ---- personas --------------------------------------------------------------------------------------

export interface CharacterFile {
  id: string;
  name: string;
  icon: string;
  systemPrompt: string;
  greeting: string;
  sampling: { temperature?: number; topP?: number; maxTokens?: number };
}

/** A built-in persona as shipped in `characters/<id>.json`: the source the tests compare with. */
export function characterFile(id: string): CharacterFile {
  return JSON.parse(readFileSync(join(repoRoot, 'characters', `${id}.json`), 'utf8')) as CharacterFile;
}

/** `{{char}}` and `{{user}}` as a person reads them in a card (the card format's own macros). */
export function withNames(text: string, char: string, user = testUserName): string {
  return text.replace(/\{\{char\}\}|<BOT>/gi, char).replace(/\{\{user\}\}|<USER>/gi, user);
}

// ---- the webview -------------------------------------------------------------------------------------

export interface ShownMessage {
  role: string;
  status: string;
  /** The message body's text content (markdown rendered), trimmed. */
  text: string;
  /** The author line, e.g. "🧙 Coding Guru · stopped". */
  author: string;
}

/** Every message the webview shows, in order. */
export async function shownMessages(frame: Frame): Promise<ShownMessage[]> {
  return (await frame.evaluate(`Array.from(document.querySelectorAll('.messages article.message')).map((m) => ({
    role: m.getAttribute('data-role') || '',
    status: m.getAttribute('data-status') || '',
    text: (m.querySelector('.message-content')?.textContent || '').trim(),
    author: (m.querySelector('.message-author')?.textContent || '').replace(/\\s+/g, ' ').trim(),
  }))`)) as ShownMessage[];
}

export function lastAssistant(frame: Frame): Locator {
  return frame.locator('.messages article.message[data-role="assistant"]').last();
}

/** Puts `text` in the message box and presses Enter (`click`: clicks Send instead, where focus may be moving elsewhere). */
export async function sendMessage(frame: Frame, text: string, options: { click?: boolean } = {}): Promise<void> {
  const input = frame.locator(messageInput);
  await input.fill(text);
  if (options.click) await frame.getByRole('button', { name: 'Send', exact: true }).click();
  else await input.press('Enter');
}

/**
 * Waits until the server has answered `count` chat requests in total and the webview shows the last
 * one as a finished reply holding the text the server sent (for replies with more markdown than
 * bold, em and code spans, `shows` says whether the rendered text is that reply).
 */
export async function waitForReply(
  frame: Frame,
  server: FakeOpenAiServer,
  count: number,
  shows?: (shownText: string, textSent: string) => boolean,
  timeoutMs = 20_000,
): Promise<ShownMessage[]> {
  await server.waitFor(() => server.completions.length >= count && server.completions.every((c) => c.outcome !== 'pending'), timeoutMs);
  const textSent = server.completions.at(-1)!.textSent;
  const expected = shows ? `a rendering of ${JSON.stringify(textSent)}` : plainTextOf(textSent);
  let shown: ShownMessage[] = [];
  try {
    return await waitUntil(`the webview to show reply ${count} as finished`, timeoutMs, async () => {
      shown = await shownMessages(frame);
      const last = shown.at(-1);
      const same = shows ? shows(last?.text ?? '', textSent) : last?.text === expected;
      return last?.role === 'assistant' && last.status !== 'streaming' && same ? shown : undefined;
    }, 100);
  } catch (e) {
    (e as Error).message += `; expected ${shows ? expected : JSON.stringify(expected)}, the webview showed ${JSON.stringify(shown.slice(-3))}`;
    throw e;
  }
}

/** The chat messages a request carried. */
export function requestMessages(request: RecordedRequest | undefined): Array<{ role: string; content: string }> {
  assert.ok(request, 'no chat request was recorded');
  const body = request.body as { messages?: Array<{ role: string; content: string }> } | undefined;
  assert.ok(Array.isArray(body?.messages), `the request carried no messages: ${request.rawBody.slice(0, 300)}`);
  return body.messages;
}

/**
 * The text a person reads from markdown with only **bold**, *em* and `code` spans: what the
 * webview's text content should be for such a reply.
 */
export function plainTextOf(markdown: string): string {
  return markdown.replace(/\*\*|`|(?<!\w)\*(?!\s)|(?<!\s)\*(?!\w)/g, '').trim();
}

/** Opens a workspace file in the editor through Quick Open. */
export async function openWorkspaceFile(page: Page, name: string): Promise<void> {
  if (await page.locator('.quick-input-widget').isVisible().catch(() => false)) await page.keyboard.press('Escape');
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(name);
  await waitUntil(`Quick Open to offer ${name}`, 10_000, async () => {
    const label = await page.locator('.quick-input-list .monaco-list-row.focused .label-name').first().innerText({ timeout: 1000 });
    return label.trim() === name;
  }, 100);
  await input.press('Enter');
  await page.locator(`.tabs-container .tab[aria-label^="${name}"]`).first().waitFor({ state: 'visible', timeout: 10_000 });
}

/** Starts watching the webview's last assistant message and records each text length it takes. */
export async function recordReplyLengths(frame: Frame): Promise<void> {
  await frame.evaluate(`(() => {
    window.__replyLengths = [];
    const record = () => {
      const all = document.querySelectorAll('.messages article.message[data-role="assistant"]');
      const m = all[all.length - 1];
      if (!m) return;
      const len = (m.querySelector('.message-content')?.textContent || '').length;
      const status = m.getAttribute('data-status');
      const seen = window.__replyLengths;
      const prev = seen[seen.length - 1];
      if (!prev || prev.len !== len || prev.status !== status) seen.push({ len, status });
    };
    window.__replyObserver?.disconnect();
    window.__replyObserver = new MutationObserver(record);
    window.__replyObserver.observe(document.querySelector('.messages'), { subtree: true, childList: true, characterData: true, attributes: true });
  })()`);
}

export async function recordedReplyLengths(frame: Frame): Promise<Array<{ len: number; status: string }>> {
  return (await frame.evaluate('window.__replyLengths || []')) as Array<{ len: number; status: string }>;
}

/** The memory panel's document, once it has rendered. */
export async function memoryPanelFrame(page: Page): Promise<Frame> {
  return waitUntil('the memory panel', 20_000, async () => {
    for (const f of page.frames()) {
      if (f.isDetached()) continue;
      if ((await f.locator('main.memory').count().catch(() => 0)) > 0) return f;
    }
    return undefined;
  });
}

/**
 * The text of `locator` as painted, read after the next rendering update. A message is
 * `content-visibility: auto`: until the rendering update after its element is inserted (a reply
 * switched to another alternative is a new element), Chromium counts its contents as skipped and
 * innerText is '', though the text is in the DOM and on screen a frame later.
 */
export async function paintedText(frame: Frame, locator: Locator): Promise<string> {
  await frame.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
  return locator.innerText();
}
