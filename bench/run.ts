// `npm run bench`: how fast Persona feels, measured in a real VS Code (code-server, Code 1.139) with
// the packaged extension, against the fake LM Studio server (test/support/fakeOpenAiServer.ts)
// started here. Speed is measured, never asserted: the bench prints a table beside the targets and
// writes everything it measured to .bench/results.json. It takes about 3 minutes on 2 cores.
//
//   npm run bench                   packages persona.vsix first when an input is newer than it
//   npm run bench -- --no-package   uses persona.vsix as it is (and says so when it is stale)
//   npm run bench -- --runs 20      first-token runs (default 10)
//   npm run bench -- --profile      also CPU-profiles the extension host (first-token runs, and the
//                                   view opening after a reload) and the renderer (the long reply)
//                                   into .bench/*.cpuprofile, and prints where the time went. On
//                                   Node 20 the host's needs NODE_OPTIONS=--experimental-websocket.
//                                   Profiling slows what it measures: take the table from a run
//                                   without it.
//   PERSONA_E2E_KEEP=1 npm run bench   keeps the code-server folders under .e2e/ to read the logs
//
// First, in this process: the extension host's cost of adding a message to a 2,000-message
// conversation on disk (ConversationStore.save, bench/store.ts). Then in one VS Code: open the view
// (cold); 1 + N short replies for the added latency to the first token; an ~800-word markdown reply
// in a new chat for render time, traffic and following the stream; a reply during which the list is
// scrolled up; a reload and the view opened again; the active conversation's file replaced by a
// 2,000-message one, a reload, the view opened with it (until drawn, and the renderer's heap with it
// open) and replies streamed into it; last, a 100 KB reply of markdown made to be hard to render
// (bench/content.ts) streamed into a new chat, for the longest frame while it streams.
// bench/webviewProbe.js watches inside the webview.
//
// Clocks: the webview's times are `performance.timeOrigin + performance.now()` in Chromium, the fake
// server's are the same expression in this Node process; both are epoch ms on one machine. The bench
// estimates the offset between them from round trips and prints it. Differences between two times
// of the same clock (Enter → first token on screen, server TTFT) do not depend on it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { CDPSession, Frame, Page } from 'playwright-core';
import {
  defaultVsixPath,
  messageInput,
  personaExtensionId,
  repoRoot,
  startVsCode,
  waitUntil,
  type VsCode,
} from '../test/e2e/harness';
import { now, startFakeOpenAiServer, type CompletionRecord, type FakeOpenAiServer, type FakeReply } from '../test/support/fakeOpenAiServer';
import { fixedChunks, longConversation, longConversationLastText, longReply, STRESS_REPLY_END, stressReply, wordCount } from './content';
import { HostProfiler, profileExtensionHost, profileRenderer, type HostProfileResult, type ProfileSummary } from './profiles';
import { measureStoreAppends, type StoreAppendRun } from './store';

// ---- options -------------------------------------------------------------------------------------

const args = process.argv.slice(2);
const runsArg = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : NaN;
const options = {
  package: !args.includes('--no-package'),
  profile: args.includes('--profile'),
  runs: Number.isInteger(runsArg) && runsArg > 0 ? runsArg : 10,
};

const benchDir = join(repoRoot, '.bench');
const resultsPath = join(benchDir, 'results.json');
const probeSource = readFileSync(join(__dirname, 'webviewProbe.js'), 'utf8');

/** Realistic local-model timings: prompt processing before the first token, then ~50 tokens/s. */
const SERVER_TTFT_MS = 200;
const TOKEN_DELAY_MS = 20;
const SHORT_REPLY = 'Sure — here is a short answer to that question.';
const LONG_CONVERSATION_MESSAGES = 2000;
/** Saves timed, each adding one message to the long conversation. */
const STORE_APPENDS = 50;
/**
 * The stress reply's stream: 8 characters a chunk (a token or two of a local model) every 4 ms,
 * about 2,000 characters a second, some four times a fast local model, so that 100 KB take about
 * a minute instead of eight. Persona's host batches what arrives per 32 ms, so the webview sees
 * about 64 characters a message either way; the chunks only set how often the host parses.
 */
const STRESS_CHUNK_CHARS = 8;
const STRESS_TOKEN_DELAY_MS = 4;
/**
 * The fake server stops at the request's max_tokens, which the persona sets (1,024 or 2,048): the
 * stress reply's chat overrides it in its Chat settings panel, as a person would.
 */
const STRESS_MAX_TOKENS = 32_768;

const MB = 1024 * 1024;
const targets = {
  addedLatencyMs: 15,
  renderRatio: 1.05,
  trafficRatio: 2,
  activationMs: 50,
  openViewMs: 500,
  webviewBundleBytes: 150 * 1024,
  longConversationOpenMs: 300,
  rendererHeapBytes: 150 * MB,
  storeAppendMs: 5,
  streamFrameMs: 50,
};

/** What a popular local-model chat extension measured in the same code-server. */
const competitor = {
  addedLatencyMs: 94,
  renderRatio: 1.34,
  messages: 817,
  bytes: 2.6e6,
  followsStream: false,
  webviewBundleBytes: 5.4e6,
  activationMs: 477,
  openViewFirstMs: 5000,
};

// ---- small helpers -------------------------------------------------------------------------------

const startedAt = Date.now();
function progress(line: string): void {
  const s = ((Date.now() - startedAt) / 1000).toFixed(1).padStart(5);
  console.log(`[${s} s] ${line}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Linear interpolation between closest ranks (R-7, as numpy's default). */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

const median = (values: readonly number[]) => percentile(values, 50);
const round = (n: number | undefined, digits = 1) => (n === undefined || !Number.isFinite(n) ? undefined : Number(n.toFixed(digits)));

function fmtMs(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return 'n/a';
  return Math.abs(n) >= 100 ? `${Math.round(n)} ms` : `${n.toFixed(1)} ms`;
}

function fmtBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return 'n/a';
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(2)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} B`;
}

/** Local-time log timestamps ("2026-11-25 02:48:05.822") as epoch ms: code-server runs on this machine. */
function logTime(stamp: string): number {
  return new Date(stamp.replace(' ', 'T')).getTime();
}

interface FrameStats {
  frames: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  over50Ms: number;
}

/** Frame intervals (rAF to rAF) whose frame started within [from, to]. */
function frameStats(times: readonly number[], from: number, to: number): FrameStats | undefined {
  const deltas: number[] = [];
  for (let i = 1; i < times.length; i++) {
    if (times[i - 1]! >= from && times[i]! <= to) deltas.push(times[i]! - times[i - 1]!);
  }
  if (deltas.length === 0) return undefined;
  return {
    frames: deltas.length,
    medianMs: round(median(deltas), 2)!,
    p95Ms: round(percentile(deltas, 95), 2)!,
    maxMs: round(Math.max(...deltas), 1)!,
    over50Ms: deltas.filter((d) => d > 50).length,
  };
}

// ---- the .vsix -----------------------------------------------------------------------------------

function newestMtime(paths: string[]): { path: string; mtime: number } {
  let newest = { path: '', mtime: 0 };
  const visit = (p: string): void => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p)) visit(join(p, name));
    } else if (st.mtimeMs > newest.mtime) {
      newest = { path: relative(repoRoot, p), mtime: st.mtimeMs };
    }
  };
  for (const p of paths) visit(join(repoRoot, p));
  return newest;
}

interface VsixInfo {
  path: string;
  builtAt: string;
  packagedByBench: boolean;
  stale: boolean;
  newerInput?: string;
}

/** Packages persona.vsix when an input is newer than it, then copies it aside for this run. */
function prepareVsix(): VsixInfo {
  const inputs = ['src', 'media', 'characters', 'package.json', 'esbuild.mjs', '.vscodeignore'];
  const vsixMtime = () => (existsSync(defaultVsixPath) ? statSync(defaultVsixPath).mtimeMs : 0);
  let newest = newestMtime(inputs);
  let packagedByBench = false;
  if (options.package && newest.mtime > vsixMtime()) {
    progress(`packaging: ${newest.path} is newer than persona.vsix (npm run package)`);
    const run = spawnSync('npm', ['run', '--silent', 'package'], { cwd: repoRoot, encoding: 'utf8' });
    if (run.status !== 0) {
      const tail = `${run.stdout}\n${run.stderr}`.trim().split('\n').slice(-15).join('\n');
      throw new Error(`npm run package failed (exit ${run.status}):\n${tail}\n\nFix the build, or run \`npm run bench -- --no-package\` to measure the persona.vsix there is.`);
    }
    packagedByBench = true;
    newest = newestMtime(inputs);
  }
  if (!existsSync(defaultVsixPath)) throw new Error(`${defaultVsixPath} is missing: run \`npm run package\``);
  const stale = newest.mtime > vsixMtime();
  if (stale) progress(`WARNING: persona.vsix is older than ${newest.path}: measuring a stale build`);
  // Another engineer may repackage while the bench runs: install a copy that cannot change.
  mkdirSync(benchDir, { recursive: true });
  const copy = join(benchDir, 'persona.vsix');
  copyFileSync(defaultVsixPath, copy);
  return {
    path: copy,
    builtAt: new Date(vsixMtime()).toISOString(),
    packagedByBench,
    stale,
    ...(stale ? { newerInput: newest.path } : {}),
  };
}

// ---- the webview probe ---------------------------------------------------------------------------

interface PaintedAt {
  dom: number;
  paint?: number;
  chars: number;
}

interface WatchResult {
  label: string;
  armedAt: number;
  enterAt?: number;
  firstText?: PaintedAt;
  lastChange?: PaintedAt & { status: string };
  statusChangedAt?: number;
  finalStatus?: string;
  finalText?: string;
  changes: number;
  /** Every change of the reply's text or status: [time, rendered characters, streaming ? 1 : 0]. */
  log: [number, number, number][];
  scroll: { t: number; top: number; client: number; height: number; status?: string; chars: number }[];
  /** `end`: for chat/delta, where the reply's raw text ends once it is applied. */
  traffic: { t: number; kind: string; bytes: number; end?: number }[];
  longTasks: { start: number; duration: number; culprit: string; container: string }[];
  loafSupported: boolean;
  /** Long animation frames reported to the webview's document (see the probe). */
  loafs: Loaf[];
  frames: number[];
}

interface Loaf {
  start: number;
  duration: number;
  blockingDuration: number;
  scriptMs: number;
  renderMs: number;
  styleLayoutMs: number;
  scripts: { invoker: string; type: string; source: string; fn: string; ms: number; forcedLayoutMs: number }[];
}

class Probe {
  private constructor(readonly frame: Frame) {}

  /** `expect.lastText`: text only the conversation's last message has (see openTimings in the probe). */
  static async install(frame: Frame, expect: { lastText?: string } = {}): Promise<Probe> {
    await frame.evaluate(`window.__personaBenchExpect = ${JSON.stringify(expect)}`);
    await frame.evaluate(probeSource);
    return new Probe(frame);
  }

  /** `light`: see `arm` in the probe. */
  arm(label: string, light = false): Promise<unknown> {
    return this.frame.evaluate(`window.__personaBench.arm(${JSON.stringify({ label, light })})`);
  }

  async progress(): Promise<{ status: string | null; chars: number } | null> {
    return (await this.frame.evaluate('window.__personaBench.progress()')) as { status: string | null; chars: number } | null;
  }

  async waitSettled(what: string, timeoutMs: number): Promise<void> {
    // Polled from here: the webview's CSP forbids the string evaluation waitForFunction would use.
    await waitUntil(`${what} to finish rendering`, timeoutMs, async () => (await this.frame.evaluate('window.__personaBench.settled(300)')) === true, 100);
  }

  async finish(): Promise<WatchResult> {
    return JSON.parse((await this.frame.evaluate('window.__personaBench.finish()')) as string) as WatchResult;
  }

  async scrollState(): Promise<{ top: number; client: number; height: number } | null> {
    return (await this.frame.evaluate('window.__personaBench.scrollState()')) as { top: number; client: number; height: number } | null;
  }
}

/** Webview clock minus this process's clock, from the round trip with the smallest delay. */
async function clockOffset(frame: Frame): Promise<{ offsetMs: number; uncertaintyMs: number }> {
  let best = { offsetMs: 0, uncertaintyMs: Infinity };
  for (let i = 0; i < 9; i++) {
    const t0 = now();
    const tw = (await frame.evaluate('performance.timeOrigin + performance.now()')) as number;
    const t1 = now();
    if ((t1 - t0) / 2 < best.uncertaintyMs) best = { offsetMs: tw - (t0 + t1) / 2, uncertaintyMs: (t1 - t0) / 2 };
  }
  return { offsetMs: round(best.offsetMs, 2)!, uncertaintyMs: round(best.uncertaintyMs, 2)! };
}

// ---- driving the view ----------------------------------------------------------------------------

const personaItem = '.part.activitybar .action-item [aria-label^="Persona"]';
const personaTab = '.part.activitybar li.action-item:has(> [aria-label^="Persona"])';
const explorerItem = '.part.activitybar .action-item [aria-label^="Explorer"]';

/** Lines of extension host N's logs (exthostN/...): its own log and Persona's output channel. */
function exthostLogs(vs: VsCode, host: number): { remote: string; persona: string } {
  const files = vs.extensionHostLogFiles().filter((f) => f.path.includes(`/exthost${host}/`));
  return {
    remote: files.filter((f) => f.path.endsWith('remoteexthost.log')).map((f) => f.text).join('\n'),
    persona: files.filter((f) => f.path.includes(personaExtensionId)).map((f) => f.text).join('\n'),
  };
}

/** Waits until VS Code's extension host N has started its eager extensions: the workbench is up. */
async function waitForExthost(vs: VsCode, host: number): Promise<void> {
  await waitUntil(`extension host ${host} to activate its eager extensions`, 60_000, () => /Eager extensions activated/.test(exthostLogs(vs, host).remote), 200);
  // onStartupFinished extensions (merge-conflict, debug-auto-launch) activate just after.
  await sleep(1000);
}

interface ActivationInfo {
  /** Persona's own log: "Persona activated in N ms" (activate() from its first line to its end). */
  ownMs?: number;
  /** VS Code's log line `_doActivateExtension persona-dev.persona` → Persona's "activated" line (module load + activate + whatever else the host ran meanwhile). */
  hostStartToActivatedMs?: number;
  activationEvent?: string;
  hostStartAt?: number;
  activatedAt?: number;
  /** VS Code's Running Extensions view: code loading + the activate call, as VS Code measures them. */
  vscodeMs?: number;
}

function readActivation(vs: VsCode, host: number): ActivationInfo {
  const logs = exthostLogs(vs, host);
  const start = new RegExp(`^(\\S+ \\S+) \\[\\w+\\] ExtensionService#_doActivateExtension ${personaExtensionId.replace('.', '\\.')}, startup: \\w+, activationEvent: '([^']+)'`, 'm').exec(logs.remote);
  const done = /^(\S+ \S+) \[\w+\] Persona activated in (\d+) ms/m.exec(logs.persona);
  const info: ActivationInfo = {};
  if (done) {
    info.ownMs = Number(done[2]);
    info.activatedAt = logTime(done[1]!);
  }
  if (start) {
    info.hostStartAt = logTime(start[1]!);
    info.activationEvent = start[2];
  }
  if (info.hostStartAt !== undefined && info.activatedAt !== undefined) info.hostStartToActivatedMs = info.activatedAt - info.hostStartAt;
  return info;
}

/** Reads Persona's activation time from VS Code's "Running Extensions" view. */
async function runningExtensionsActivationMs(vs: VsCode): Promise<number | undefined> {
  const page = vs.page;
  await vs.runCommand('Developer: Show Running Extensions');
  try {
    const row = page.locator('.monaco-list-row[aria-label="persona"]').or(page.locator('.monaco-list-row', { hasText: 'Persona' }).filter({ hasText: 'Activation' }));
    const text = await waitUntil('the Persona row in Running Extensions', 8000, async () => {
      if ((await row.count()) === 0) {
        await page.keyboard.press('End');
        return undefined;
      }
      return row.first().innerText({ timeout: 1000 });
    }, 250);
    const m = /Activation:\s*(\d+)\s*ms/i.exec(text);
    return m ? Number(m[1]) : undefined;
  } finally {
    await page.keyboard.press('Escape');
    await sleep(300);
  }
}

interface OpenTiming {
  label: string;
  /** Epoch ms of the click, in the workbench page. */
  clickAt: number;
  /** Click → message box painted (in-frame), or → Playwright saw it visible when the probe came too late. */
  openMs: number;
  /** Click → Playwright saw the message box visible (a cross-check; includes Playwright's polling). */
  visibleMs: number;
  /**
   * Click → the message box and the conversation painted: its messages all in the DOM, or, for a
   * long one, its last message (a list may draw only what is in sight).
   */
  drawnMs: number;
  /** Milestones in ms after the click. VS Code's come from its webview host page's own marks. */
  ms: {
    vscodeWebviewStarted?: number;
    vscodeServiceWorkerReady?: number;
    vscodeWroteContent?: number;
    personaActivationStart?: number;
    personaActivated?: number;
    scriptLoaded?: number;
    firstPaint?: number;
    stateArrived?: number;
    messageBox?: number;
    allMessages?: number;
  };
  stateBytes?: number;
  messages?: number;
  activation: ActivationInfo;
  resources: { name: string; startMs: number; endMs: number; bytes: number }[];
}

interface ProbeOpen {
  installedAt: number;
  lateInstall: boolean;
  stateAt?: number;
  stateBytes?: number;
  messageBoxAt?: number;
  messageCount: number;
  messageCountAt?: number;
  lastTextAt?: number;
  drawnAt?: number;
  firstPaintAt?: number;
  timeOrigin: number;
  resources: { name: string; start: number; end: number; bytes: number }[];
}

/**
 * Clicks the Persona activity-bar item (its container must not be showing) and times it until the
 * message box, and `expect.messages` messages (or the last message, showing `expect.lastText`), are
 * on screen. The probe goes into the webview's frame as soon as VS Code has written Persona's HTML
 * there, to see the state arrive and the view drawn.
 */
async function timedOpen(
  vs: VsCode,
  host: number,
  label: string,
  expect: { messages?: number; lastText?: string } = {},
  beforeClick?: () => Promise<void>,
): Promise<{ frame: Frame; probe: Probe; timing: OpenTiming }> {
  const expectMessages = expect.messages ?? 1;
  const page = vs.page;
  await page.locator(personaItem).first().waitFor({ state: 'visible', timeout: 60_000 });
  await waitForExthost(vs, host);
  if (await personaShowing(page)) {
    throw new Error(`${label}: the Persona container is already showing, so opening it cannot be timed`);
  }
  if (beforeClick) await beforeClick();
  const framesBefore = new Set(page.frames());
  // The click's time in the workbench itself, not when Playwright was asked to click.
  await page.evaluate(`window.addEventListener('pointerdown', () => { window.__benchClickAt = performance.timeOrigin + performance.now(); }, { capture: true, once: true })`);
  await page.locator(personaItem).first().click();
  const clickAt = (await page.evaluate('window.__benchClickAt')) as number;
  await page.mouse.move(700, 400); // no tooltip over screenshots
  // VS Code navigates a new frame to fake.html, then writes Persona's HTML into it; it may also swap
  // in a second frame (its webview host loads content into a pending frame and drops the old one),
  // so the frame is the one that holds Persona's document, not the first one that appeared.
  const frame = await waitUntil(`Persona's document in a new webview frame (${label})`, 60_000, async () => {
    for (const f of page.frames()) {
      if (framesBefore.has(f) || f.isDetached() || !f.url().includes('fake.html')) continue;
      if (await f.evaluate(`document.getElementById('app') !== null`).catch(() => false)) return f;
    }
    return undefined;
  }, 5);
  const probe = await Probe.install(frame, expect.lastText !== undefined ? { lastText: expect.lastText } : {});
  await frame.locator(messageInput).waitFor({ state: 'visible', timeout: 60_000 });
  const visibleAt = now();
  const what = expect.lastText !== undefined ? `the last message ("${expect.lastText}")` : `${expectMessages} messages`;
  const opened = await waitUntil(`${what} in the view (${label})`, 60_000, async () => {
    const json = (await frame.evaluate(`window.__personaBench.openTimings(${expectMessages})`)) as string | null;
    return json ? (JSON.parse(json) as ProbeOpen) : undefined;
  }, 20);
  const outer = page.frames().find((f) => !framesBefore.has(f) && f.url().includes('/pre/index.html'));
  const marks = outer
    ? (JSON.parse((await outer.evaluate(`JSON.stringify(Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name.split('/').pop(), performance.timeOrigin + m.startTime])))`).catch(() => '{}')) as string) as Record<string, number>)
    : {};
  // Activation is logged a moment after it happens.
  await waitUntil(`Persona's activation in extension host ${host}`, 10_000, () => readActivation(vs, host).ownMs !== undefined, 200).catch(() => undefined);
  const activation = readActivation(vs, host);
  const rel = (t: number | undefined) => (t === undefined ? undefined : round(t - clickAt, 1));
  const script = opened.resources.find((r) => r.name.endsWith('webview.js'));
  const paintedAt = opened.lateInstall ? undefined : opened.messageBoxAt;
  const timing: OpenTiming = {
    label,
    clickAt,
    openMs: round((paintedAt ?? visibleAt) - clickAt, 1)!,
    visibleMs: round(visibleAt - clickAt, 1)!,
    drawnMs: round((opened.lateInstall ? visibleAt : (opened.drawnAt ?? visibleAt)) - clickAt, 1)!,
    ms: {
      vscodeWebviewStarted: rel(marks['started']),
      vscodeServiceWorkerReady: rel(marks['workerReady']),
      vscodeWroteContent: rel(marks['wroteInnerContent']),
      personaActivationStart: rel(activation.hostStartAt),
      personaActivated: rel(activation.activatedAt),
      scriptLoaded: rel(script?.end),
      firstPaint: rel(opened.firstPaintAt),
      stateArrived: rel(opened.stateAt),
      messageBox: rel(paintedAt),
      allMessages: opened.lateInstall ? undefined : rel(opened.drawnAt),
    },
    stateBytes: opened.stateBytes,
    messages: opened.messageCount,
    activation,
    resources: opened.resources.map((r) => ({ name: r.name, startMs: round(r.start - clickAt)!, endMs: round(r.end - clickAt)!, bytes: r.bytes })),
  };
  if (opened.lateInstall) progress(`WARNING: ${label}: the probe reached the webview after it had rendered; the open time is Playwright's`);
  return { frame, probe, timing };
}

/** "2331 ms: VS Code 2073 (service worker 2020), Persona 258 (script 73, host state 120, render 20)" */
function describeOpen(t: OpenTiming): string {
  const m = t.ms;
  const parts: string[] = [];
  if (m.vscodeWroteContent !== undefined) {
    const sw = m.vscodeServiceWorkerReady !== undefined && m.vscodeWebviewStarted !== undefined ? ` incl. service worker ${Math.round(m.vscodeServiceWorkerReady - m.vscodeWebviewStarted)}` : '';
    parts.push(`VS Code's webview ${Math.round(m.vscodeWroteContent)}${sw}`);
    const ours: string[] = [];
    if (m.scriptLoaded !== undefined) ours.push(`script ${Math.round(m.scriptLoaded - m.vscodeWroteContent)}`);
    if (m.stateArrived !== undefined) ours.push(`state ${Math.round(m.stateArrived - Math.max(m.scriptLoaded ?? m.vscodeWroteContent, m.vscodeWroteContent))}`);
    if (m.messageBox !== undefined && m.stateArrived !== undefined) ours.push(`draw ${Math.round((m.allMessages ?? m.messageBox) - m.stateArrived)}`);
    parts.push(`then Persona ${Math.round(t.openMs - m.vscodeWroteContent)}${ours.length ? ` (${ours.join(', ')})` : ''}`);
  }
  return parts.join(', ');
}

interface SwitchTiming {
  /** Click → the last message drawn. */
  drawnMs: number;
  /** Click → the host's state with the conversation arrived. */
  stateMs?: number | undefined;
}

/**
 * Starts a new chat, then chooses the conversation titled `title` in the Chats list and times the
 * click until its last message shows `lastText`.
 */
async function timedSwitch(frame: Frame, title: string, lastText: string): Promise<SwitchTiming> {
  await frame.locator('button[aria-label="New chat"]').click();
  await waitUntil('a new chat', 10_000, async () => (await frame.locator('.message').count()) === 1, 50);
  await frame.locator('button[aria-label="Chats"]').click();
  const row = frame.locator('button.conversation-open', { hasText: title });
  await row.waitFor({ state: 'visible', timeout: 10_000 });
  await sleep(300);
  await frame.evaluate(`window.__personaBench.watchSwitch(${JSON.stringify(lastText)})`);
  await row.click();
  const t = await waitUntil(`"${title}" drawn after choosing it`, 30_000, async () => {
    const json = (await frame.evaluate('window.__personaBench.switchTiming()')) as string | null;
    return json ? (JSON.parse(json) as { clickAt: number; stateAt?: number; drawnAt: number }) : undefined;
  }, 20);
  await sleep(300);
  return { drawnMs: round(t.drawnAt - t.clickAt, 1)!, stateMs: t.stateAt === undefined ? undefined : round(t.stateAt - t.clickAt, 1) };
}

async function personaShowing(page: Page): Promise<boolean> {
  return (await page.locator(personaTab).first().getAttribute('aria-selected', { timeout: 5000 })) === 'true';
}

/**
 * Shows the Explorer instead of Persona and reloads the window, so that Persona opens on a click
 * in a new extension host. The workbench saves which container was showing a moment after the
 * switch; when the reload came too early and VS Code restored Persona, it tries again. Returns the
 * number of the extension host now running (each reload starts a new one).
 */
async function reloadWithPersonaClosed(vs: VsCode, host: number): Promise<number> {
  const page = vs.page;
  for (let attempt = 1; ; attempt++) {
    await page.locator(explorerItem).first().click();
    await waitUntil('the Persona container to hide', 10_000, async () => !(await personaShowing(page)), 100);
    await sleep(1500 * attempt);
    await vs.reload();
    host++;
    await page.locator(personaItem).first().waitFor({ state: 'visible', timeout: 60_000 });
    await waitForExthost(vs, host);
    if (!(await personaShowing(page))) return host;
    if (attempt === 3) throw new Error('VS Code restored the Persona view after every reload: opening it cannot be timed');
    progress(`VS Code restored the Persona view after the reload; reloading again`);
  }
}

/** Sets this chat's Max tokens in the view's Chat settings panel, and closes the panel again. */
async function setChatMaxTokens(frame: Frame, maxTokens: number): Promise<void> {
  const toggle = frame.getByRole('button', { name: 'Chat settings' });
  const panel = frame.getByRole('region', { name: 'Chat settings' });
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await panel.waitFor({ state: 'visible', timeout: 10_000 });
  const box = panel.getByRole('textbox', { name: 'Max tokens', exact: true });
  await box.fill(String(maxTokens));
  await box.press('Enter');
  const origin = frame.locator('.setting-row[data-setting="maxTokens"] .setting-origin');
  await waitUntil('Max tokens to come from this chat', 10_000, async () => (await origin.innerText()).trim() === 'from this chat', 100);
  await toggle.click();
  await panel.waitFor({ state: 'hidden', timeout: 10_000 });
}

async function waitForConnection(frame: Frame): Promise<void> {
  // The header shows the model once the connection check has answered.
  await frame.locator('.connection-status', { hasText: 'fake-llm' }).waitFor({ state: 'visible', timeout: 15_000 });
}

interface Exchange {
  watch: WatchResult;
  record: CompletionRecord;
  /** [time, characters of text written so far] at each write of the server. */
  writes: [number, number][];
}

/**
 * Records when the fake server wrote each piece of the completion at `index` (its `waitFor` runs
 * the check on every write). `stop()` ends it at the server's next event.
 */
function traceServerWrites(server: FakeOpenAiServer, index: number, timeoutMs: number): { writes: [number, number][]; stop(): void } {
  const writes: [number, number][] = [];
  let stopped = false;
  void server
    .waitFor(() => {
      const r = server.completions[index];
      if (r && r.textSent.length !== (writes.at(-1)?.[1] ?? 0)) writes.push([now(), r.textSent.length]);
      return stopped;
    }, timeoutMs)
    .catch(() => undefined);
  return { writes, stop: () => (stopped = true) };
}

/** Types `text`, presses Enter and watches the reply until it has finished rendering. */
async function sendAndWatch(
  server: FakeOpenAiServer,
  probe: Probe,
  text: string,
  label: string,
  timeoutMs: number,
  during?: () => Promise<void>,
  light = false,
): Promise<Exchange> {
  const input = probe.frame.locator(messageInput);
  await input.fill(text);
  const before = server.completions.length;
  const trace = traceServerWrites(server, before, timeoutMs + 5000);
  await probe.arm(label, light);
  await input.press('Enter');
  if (during) await during();
  await probe.waitSettled(label, timeoutMs);
  const watch = await probe.finish();
  trace.stop();
  const record = await waitUntil(`the fake server's record of ${label}`, 5000, () => {
    const r = server.completions[before];
    return r?.endedAt !== undefined ? r : undefined;
  }, 50);
  if (record.outcome !== 'completed') throw new Error(`${label}: the server's stream ended as ${record.outcome}`);
  return { watch, record, writes: trace.writes };
}

// ---- the renderer's heap ---------------------------------------------------------------------------

interface HeapSample {
  /**
   * Whose heap: `webview` when Persona's webview is an out-of-process iframe with a process of its
   * own (as in desktop VS Code); `renderer` when it lives in the workbench page's renderer process,
   * as code-server serves both from one origin: then the numbers are the workbench's and the
   * webview's together, one V8 isolate that cannot be split by frame.
   */
  process: 'webview' | 'renderer';
  /** V8's JS heap in use after two full GCs (Runtime.getHeapUsage usedSize, what Performance.getMetrics calls JSHeapUsedSize). */
  usedBytes: number;
  totalBytes: number;
  /** Blink's own heap (Oilpan: DOM nodes and other C++ objects), outside the JS heap; where Chromium reports it. */
  embedderBytes?: number;
  /** Alive in that process (Performance.getMetrics). */
  domNodes?: number;
  documents?: number;
  jsEventListeners?: number;
  /** Elements in Persona's own document, counted in it. */
  webviewElements?: number;
}

/**
 * The JS heap of the renderer process that hosts `webview` (or, without it, the workbench page's),
 * after `HeapProfiler.collectGarbage`. A CDP session on the webview's frames is tried first,
 * outermost first: only an out-of-process iframe has one (Playwright throws for the others).
 */
async function rendererHeap(page: Page, webview?: Frame): Promise<HeapSample> {
  let cdp: CDPSession | undefined;
  let owner: HeapSample['process'] = 'renderer';
  const chain: Frame[] = [];
  for (let f: Frame | null = webview ?? null; f && f !== page.mainFrame(); f = f.parentFrame()) chain.unshift(f);
  for (const f of chain) {
    cdp = await page.context().newCDPSession(f).catch(() => undefined);
    if (cdp) {
      owner = 'webview';
      break;
    }
  }
  cdp ??= await page.context().newCDPSession(page);
  try {
    await cdp.send('HeapProfiler.collectGarbage');
    await sleep(200);
    await cdp.send('HeapProfiler.collectGarbage');
    const usage = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; totalSize: number; embedderHeapUsedSize?: number };
    await cdp.send('Performance.enable');
    const { metrics } = await cdp.send('Performance.getMetrics');
    await cdp.send('Performance.disable');
    const metric = (name: string) => metrics.find((m) => m.name === name)?.value;
    const sample: HeapSample = {
      process: owner,
      usedBytes: usage.usedSize,
      totalBytes: usage.totalSize,
      ...(usage.embedderHeapUsedSize !== undefined ? { embedderBytes: usage.embedderHeapUsedSize } : {}),
      domNodes: metric('Nodes'),
      documents: metric('Documents'),
      jsEventListeners: metric('JSEventListeners'),
    };
    if (webview) sample.webviewElements = (await webview.evaluate('document.getElementsByTagName("*").length')) as number;
    return sample;
  } finally {
    await cdp.detach().catch(() => undefined);
  }
}

/**
 * Records long animation frames in the workbench page: Chromium reports those of a same-process
 * iframe (the webview, in code-server) to the page, not to the iframe. Again after each reload.
 */
async function recordPageLoafs(page: Page): Promise<boolean> {
  await page.evaluate(`window.__personaBenchExpect = { loafOnly: true }`);
  await page.evaluate(probeSource);
  return (await page.evaluate('window.__personaBenchLoaf.reset()')) as boolean;
}

/**
 * Long animation frames that overlap [from, to], and whose scripts ran in them (the three longest
 * of each frame). `ours`: Persona's file names, to count the frames its scripts ran in.
 */
function loafSummary(loafs: readonly Loaf[], from: number, to: number, ours: ReadonlySet<string>) {
  const seen = loafs.filter((l) => l.start + l.duration >= from && l.start <= to);
  const bySource: Record<string, number> = {};
  for (const l of seen) for (const s of l.scripts) bySource[s.source || s.type || '?'] = (bySource[s.source || s.type || '?'] ?? 0) + s.ms;
  const longest = seen.reduce<Loaf | undefined>((a, l) => (a && a.duration >= l.duration ? a : l), undefined);
  return {
    count: seen.length,
    over50Ms: seen.filter((l) => l.duration > 50).length,
    withPersonaScripts: seen.filter((l) => l.scripts.some((sc) => ours.has(sc.source))).length,
    maxMs: longest ? round(longest.duration)! : 0,
    totalMs: Math.round(seen.reduce((sum, l) => sum + l.duration, 0)),
    scriptMs: Math.round(seen.reduce((sum, l) => sum + l.scriptMs, 0)),
    styleLayoutMs: Math.round(seen.reduce((sum, l) => sum + l.styleLayoutMs, 0)),
    blockingMs: Math.round(seen.reduce((sum, l) => sum + l.blockingDuration, 0)),
    bySource: Object.fromEntries(Object.entries(bySource).sort((a, b) => b[1] - a[1]).slice(0, 6)),
    longest,
  };
}

// ---- the measurements ----------------------------------------------------------------------------

interface LatencyRun {
  addedMs: number;
  sendPathMs: number;
  receivePathMs: number;
  receivePathDomMs: number;
  serverTtftMs: number;
  enterToScreenMs: number;
  /** Server's first content → the first chat/delta message reached the webview (host + transport). */
  receivePathMessageMs: number;
  /** Enter → the host's answer to chat/send reached the webview (the host answers once the reply is set up). */
  enterToSendResponseMs: number;
  /** Enter → the first state snapshot (the new messages) reached the webview. */
  enterToStateMs: number;
}

function latencyOf(e: Exchange, clockOffsetMs: number): LatencyRun {
  const w = e.watch;
  if (w.enterAt === undefined) throw new Error(`${w.label}: the webview saw no Enter keydown`);
  if (!w.firstText?.paint) throw new Error(`${w.label}: the first token never reached the screen`);
  const { receivedAt, firstContentAt } = e.record;
  if (firstContentAt === undefined) throw new Error(`${w.label}: the server sent no content`);
  const toNode = (t: number) => t - clockOffsetMs;
  const enterToScreen = w.firstText.paint - w.enterAt;
  const serverTtft = firstContentAt - receivedAt;
  const enterAt = w.enterAt;
  const arrival = (kind: string) => (w.traffic.find((m) => m.kind === kind && m.t >= enterAt)?.t ?? NaN) - enterAt;
  return {
    enterToSendResponseMs: arrival('response'),
    enterToStateMs: arrival('state/changed'),
    addedMs: enterToScreen - serverTtft,
    sendPathMs: receivedAt - toNode(w.enterAt),
    receivePathMs: toNode(w.firstText.paint) - firstContentAt,
    receivePathDomMs: toNode(w.firstText.dom) - firstContentAt,
    receivePathMessageMs: toNode(w.traffic.find((m) => m.kind === 'chat/delta')?.t ?? NaN) - firstContentAt,
    serverTtftMs: serverTtft,
    enterToScreenMs: enterToScreen,
  };
}

function summarizeLatency(runs: readonly LatencyRun[]) {
  const pick = (k: keyof LatencyRun) => runs.map((r) => r[k]);
  return {
    runs: runs.length,
    addedMedianMs: round(median(pick('addedMs')), 1)!,
    addedP90Ms: round(percentile(pick('addedMs'), 90), 1)!,
    addedMaxMs: round(Math.max(...pick('addedMs')), 1)!,
    sendPathMedianMs: round(median(pick('sendPathMs')), 1)!,
    receivePathMedianMs: round(median(pick('receivePathMs')), 1)!,
    receivePathDomMedianMs: round(median(pick('receivePathDomMs')), 1)!,
    receivePathMessageMedianMs: round(median(pick('receivePathMessageMs')), 1)!,
    serverTtftMedianMs: round(median(pick('serverTtftMs')), 1)!,
    enterToSendResponseMedianMs: round(median(pick('enterToSendResponseMs')), 1)!,
    enterToStateMedianMs: round(median(pick('enterToStateMs')), 1)!,
    each: runs.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v, 1)]))),
  };
}

function trafficOf(w: WatchResult, replyChars: number) {
  const byKind: Record<string, { messages: number; bytes: number }> = {};
  for (const m of w.traffic) {
    const k = (byKind[m.kind] ??= { messages: 0, bytes: 0 });
    k.messages++;
    k.bytes += m.bytes;
  }
  const bytes = w.traffic.reduce((s, m) => s + m.bytes, 0);
  return { messages: w.traffic.length, bytes, replyChars, ratio: round(bytes / replyChars, 2)!, byKind };
}

/** Whether the list stayed at the bottom while the reply streamed (it must have overflowed). */
function followOf(w: WatchResult) {
  const samples = w.scroll.filter((s) => s.status === 'streaming' && s.chars > 0);
  const gaps = samples.map((s) => s.height - (s.top + s.client));
  const overflowed = samples.some((s) => s.height > s.client + 100);
  const maxGapPx = gaps.length ? Math.max(...gaps) : NaN;
  return { samples: samples.length, overflowed, maxGapPx: round(maxGapPx, 1), pass: samples.length >= 5 && overflowed && maxGapPx <= 1 };
}

/**
 * How far the view trailed the server during a stream: for each chat/delta, from the server's
 * write of the text it ends with to the message reaching the webview, and to the next change of
 * the DOM after it.
 */
function streamLag(e: Exchange, clockOffsetMs: number) {
  const writeAt = (pos: number) => e.writes.find(([, len]) => len >= pos)?.[0];
  const toMessage: number[] = [];
  const toDom: number[] = [];
  let li = 0;
  for (const m of e.watch.traffic) {
    if (m.kind !== 'chat/delta' || m.end === undefined) continue;
    const written = writeAt(m.end);
    if (written === undefined) continue;
    toMessage.push(m.t - clockOffsetMs - written);
    while (li < e.watch.log.length && e.watch.log[li]![0] < m.t) li++;
    const dom = e.watch.log[li];
    if (dom) toDom.push(dom[0] - clockOffsetMs - written);
  }
  const stats = (xs: number[]) => ({ medianMs: round(median(xs)), p95Ms: round(percentile(xs, 95)), maxMs: round(xs.length ? Math.max(...xs) : NaN) });
  const lastDelta = e.watch.traffic.filter((m) => m.kind === 'chat/delta').at(-1);
  return {
    deltas: toMessage.length,
    serverToMessage: stats(toMessage),
    serverToDom: stats(toDom),
    lastWriteToLastDeltaMs: lastDelta && e.writes.length ? round(lastDelta.t - clockOffsetMs - e.writes.at(-1)![0]) : undefined,
    endedAtMinusLastWriteMs: e.record.endedAt !== undefined && e.writes.length ? round(e.record.endedAt - e.writes.at(-1)![0]) : undefined,
  };
}

/** Long tasks on the renderer's main thread, by whose they were (the webview's own, or VS Code's). */
function longTaskSummary(tasks: WatchResult['longTasks']) {
  const by: Record<string, { count: number; ms: number; maxMs: number }> = {};
  for (const t of tasks) {
    const k = (by[t.culprit || 'unknown'] ??= { count: 0, ms: 0, maxMs: 0 });
    k.count++;
    k.ms += t.duration;
    k.maxMs = Math.max(k.maxMs, t.duration);
  }
  return Object.fromEntries(Object.entries(by).map(([k, v]) => [k, { count: v.count, ms: Math.round(v.ms), maxMs: Math.round(v.maxMs) }]));
}

/** dist/ of the Persona that code-server installed from the .vsix. */
function installedDist(extensionsDir: string): string {
  const dir = readdirSync(extensionsDir).find((d) => d.startsWith(`${personaExtensionId}-`));
  if (!dir) throw new Error(`Persona is not installed under ${extensionsDir}`);
  return join(extensionsDir, dir, 'dist');
}

function bundleSizes(extensionsDir: string) {
  const dist = installedDist(extensionsDir);
  return readdirSync(dist)
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((file) => {
      const buf = readFileSync(join(dist, file));
      const text = buf.toString('utf8');
      const lines = text.split('\n').length;
      // A production build is minified (few, very long lines) and has no source map comment.
      const minified = !/\/\/# sourceMappingURL=/.test(text) && buf.length / lines > 500;
      return { file, bytes: buf.length, gzipBytes: gzipSync(buf, { level: 9 }).length, minified };
    });
}

function summarizeStore(run: StoreAppendRun) {
  return {
    messages: run.messages,
    appends: run.timesMs.length,
    medianMs: round(median(run.timesMs), 2)!,
    p95Ms: round(percentile(run.timesMs, 95), 2)!,
    maxMs: round(Math.max(...run.timesMs), 2)!,
    firstMs: round(run.timesMs[0], 2),
    cpuMedianMs: round(median(run.cpuMs), 2)!,
    bytesMedian: median(run.bytesWritten),
    bytesMax: Math.max(...run.bytesWritten),
    rewrites: run.rewrites,
    filesBefore: run.filesBefore,
    filesAfter: run.filesAfter,
    eachMs: run.timesMs.map((t) => round(t, 2)),
    eachBytes: run.bytesWritten,
  };
}

// ---- main ----------------------------------------------------------------------------------------

type Row = [measurement: string, value: string, target: string, verdict: string] | { note: string };

const verdict = (ok: boolean | undefined) => (ok === undefined ? '?' : ok ? 'ok' : 'MISSED');

async function main(): Promise<void> {
  const results: Record<string, unknown> = {
    startedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version, loadAverageAtStart: loadavg().map((l) => round(l, 2)) },
  };
  const errors: string[] = [];
  const vsix = prepareVsix();
  results.vsix = vsix;
  progress(`measuring ${relative(repoRoot, vsix.path)} (packaged ${vsix.builtAt}${vsix.stale ? ', STALE' : ''})`);

  // 9. Before VS Code starts, while this machine is quietest: the host's cost of adding a message.
  let storeAppend: ReturnType<typeof summarizeStore> | undefined;
  try {
    progress(`timing ConversationStore.save: ${STORE_APPENDS} messages added, one a save, to a ${LONG_CONVERSATION_MESSAGES}-message conversation in a temp dir`);
    storeAppend = summarizeStore(await measureStoreAppends(LONG_CONVERSATION_MESSAGES, STORE_APPENDS));
    results.storeAppend = storeAppend;
    progress(`store: median ${fmtMs(storeAppend.medianMs)}, p95 ${fmtMs(storeAppend.p95Ms)}, ${fmtBytes(storeAppend.bytesMedian)} written per message`);
  } catch (e) {
    errors.push(`store appends: ${(e as Error).stack ?? (e as Error).message}`);
  }

  let reply: FakeReply = { text: SHORT_REPLY, tokenDelayMs: TOKEN_DELAY_MS, firstTokenDelayMs: SERVER_TTFT_MS };
  const server = await startFakeOpenAiServer({ reply: () => reply });
  let vs: VsCode | undefined;
  const rows: Row[] = [];
  let hostProfile: HostProfileResult | undefined;
  let rendererProfile: ProfileSummary | undefined;
  let hostOpenProfile: ProfileSummary | undefined;
  try {
    vs = await startVsCode({ vsixPath: vsix.path, label: 'bench', settings: { 'persona.chat.baseUrl': server.url } });
    results.vscodeStart = vs.timings;
    progress(`VS Code up (install ${vs.timings.installMs} ms, code-server ${vs.timings.serverMs} ms, workbench ${vs.timings.workbenchMs} ms)`);
    const page = vs.page;

    // 5a. Opening the view the first time (cold: a fresh extension host activates Persona).
    const first = await timedOpen(vs, 1, 'first open');
    progress(`view opened in ${fmtMs(first.timing.openMs)} (first time)`);
    let frame = first.frame;
    let probe = first.probe;
    await waitForConnection(frame);
    const clock = await clockOffset(frame);
    // Only a clear offset is corrected: below the round trip's uncertainty it is noise.
    const offsetMs = Math.abs(clock.offsetMs) > clock.uncertaintyMs ? clock.offsetMs : 0;
    results.clock = { ...clock, appliedMs: offsetMs };
    progress(`clock: webview − node = ${clock.offsetMs} ms (± ${clock.uncertaintyMs} ms)`);
    first.timing.activation.vscodeMs = await runningExtensionsActivationMs(vs).catch((e: Error) => {
      errors.push(`Running Extensions (first): ${e.message}`);
      return undefined;
    });

    // 1. Added latency to the first token.
    reply = { text: SHORT_REPLY, tokenDelayMs: TOKEN_DELAY_MS, firstTokenDelayMs: SERVER_TTFT_MS };
    const cold = latencyOf(await sendAndWatch(server, probe, 'What is a closure? (first message)', 'first message', 30_000), offsetMs);
    progress(`first message (loads the tokenizer): added ${fmtMs(cold.addedMs)}`);
    const warm: LatencyRun[] = [];
    const warmRuns = async () => {
      const sends: { enterAt: number; receivedAt: number }[] = [];
      for (let i = 1; i <= options.runs; i++) {
        await sleep(150);
        const exchange = await sendAndWatch(server, probe, `Question number ${i}: what is a closure?`, `run ${i}`, 30_000);
        warm.push(latencyOf(exchange, offsetMs));
        sends.push({ enterAt: exchange.watch.enterAt! - offsetMs, receivedAt: exchange.record.receivedAt });
      }
      return sends;
    };
    if (options.profile) {
      const installed = installedDist(vs.dirs.extensions);
      hostProfile = await profileExtensionHost(vs.dirs.userData, join(installed, 'extension.js'), join(benchDir, 'extension-host-first-tokens.cpuprofile'), warmRuns).catch(
        async (e: Error) => {
          errors.push(`host profile: ${e.message}`);
          if (warm.length === 0) await warmRuns();
          return undefined;
        },
      );
      results.hostProfile = hostProfile;
    } else {
      await warmRuns();
    }
    const latency = { serverTtftMs: SERVER_TTFT_MS, first: Object.fromEntries(Object.entries(cold).map(([k, v]) => [k, round(v, 1)])), warm: summarizeLatency(warm) };
    results.firstToken = latency;
    progress(`added latency: median ${fmtMs(latency.warm.addedMedianMs)}, p90 ${fmtMs(latency.warm.addedP90Ms)} over ${warm.length} runs`);

    // 2, 3, 4a. An ~800-word markdown reply in a new conversation.
    await frame.locator('button[aria-label="New chat"]').click();
    await waitUntil('the new conversation', 10_000, async () => (await frame.locator('.message').count()) === 1, 100);
    reply = { text: longReply, tokenDelayMs: TOKEN_DELAY_MS, firstTokenDelayMs: SERVER_TTFT_MS };
    progress(`streaming a ${wordCount(longReply)}-word reply (${longReply.length} characters) at ${Math.round(1000 / TOKEN_DELAY_MS)} words/s`);
    const sendLong = () => sendAndWatch(server, probe, 'How should I add retries to my HTTP client?', 'long reply', 90_000);
    let long: Exchange;
    if (options.profile) {
      const installed = installedDist(vs.dirs.extensions);
      const sources = Object.fromEntries(['webview.js', 'highlight.js'].filter((f) => existsSync(join(installed, f))).map((f) => [f, readFileSync(join(installed, f), 'utf8')]));
      const profiled = await profileRenderer(page, join(benchDir, 'renderer-long-reply.cpuprofile'), sources, sendLong);
      long = profiled.result;
      rendererProfile = profiled.summary;
      results.rendererProfile = rendererProfile;
    } else {
      long = await sendLong();
    }
    const lw = long.watch;
    const { firstContentAt, endedAt } = long.record;
    if (firstContentAt === undefined || endedAt === undefined || !lw.lastChange?.paint) throw new Error('long reply: incomplete records');
    const toNode = (t: number) => t - offsetMs;
    const streamMs = endedAt - firstContentAt;
    const renderedAt = toNode(lw.lastChange.paint);
    const lastLine = 'If you want, I can sketch the idempotency-key part next.';
    const render = {
      words: wordCount(longReply),
      chars: longReply.length,
      tokens: long.record.tokensSent,
      streamMs: round(streamMs)!,
      renderMs: round(renderedAt - firstContentAt)!,
      ratio: round((renderedAt - firstContentAt) / streamMs, 3)!,
      endLagMs: round(renderedAt - endedAt)!,
      firstTokenOnScreenAfterServerMs: lw.firstText?.paint ? round(toNode(lw.firstText.paint) - firstContentAt) : undefined,
      statusChangeAfterStreamEndMs: lw.statusChangedAt ? round(toNode(lw.statusChangedAt) - endedAt) : undefined,
      domChanges: lw.changes,
      finalStatus: lw.finalStatus,
      finalTextComplete: (lw.finalText ?? '').replace(/\s+/g, ' ').includes(lastLine) && long.record.textSent === longReply,
      framesWhileStreaming: frameStats(lw.frames, firstContentAt + offsetMs, endedAt + offsetMs),
      longTasks: longTaskSummary(lw.longTasks),
      lag: streamLag(long, offsetMs),
    };
    results.longReply = render;
    const traffic = trafficOf(lw, longReply.length);
    results.traffic = traffic;
    const follow = followOf(lw);
    progress(`long reply: rendered in ${render.ratio}× the stream (${fmtMs(render.renderMs)} / ${fmtMs(render.streamMs)}); ${traffic.messages} messages, ${fmtBytes(traffic.bytes)} (${traffic.ratio}×); follows: ${follow.pass}`);
    results.webviewResourcesAfterReply = JSON.parse((await frame.evaluate(`JSON.stringify(performance.getEntriesByType('resource').map((e) => ({ name: e.name.split('?')[0].split('/').slice(-2).join('/'), bytes: e.decodedBodySize })))`)) as string);

    // 4b. Scrolling up mid-stream: the view must stay where the person put it.
    reply = { text: longReply.split('## Streaming responses')[0]!.trim(), tokenDelayMs: 16, firstTokenDelayMs: 100 };
    let userScroll: { at: number; top: number } | undefined;
    const scrolled = await sendAndWatch(server, probe, 'And the backoff part again, please?', 'scroll-up reply', 60_000, async () => {
      await waitUntil('the reply to be under way', 10_000, async () => ((await probe.progress())?.chars ?? 0) > 400, 50);
      const box = await frame.locator('.messages').boundingBox();
      if (!box) throw new Error('the message list has no box');
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.wheel(0, -600);
      await sleep(500); // wheel scrolling is animated
      const s = await probe.scrollState();
      if (!s) throw new Error('no message list');
      userScroll = { at: (await frame.evaluate('window.__personaBench.now()')) as number, top: s.top };
      await page.mouse.move(700, 400);
    });
    const after = await probe.scrollState();
    const held = scrolled.watch.scroll.filter((s) => userScroll && s.t >= userScroll.at);
    const heldStreaming = held.filter((s) => s.status === 'streaming');
    const drift = Math.max(0, ...held.map((s) => Math.abs(s.top - (userScroll?.top ?? s.top))), after && userScroll ? Math.abs(after.top - userScroll.top) : 0);
    const scrollUp = {
      scrolledUpPx: userScroll && heldStreaming[0] ? round(heldStreaming[0].height - heldStreaming[0].client - userScroll.top) : undefined,
      samplesWhileStreaming: heldStreaming.length,
      grewMeanwhilePx: heldStreaming.length > 1 ? heldStreaming.at(-1)!.height - heldStreaming[0]!.height : 0,
      maxDriftPx: round(drift),
      pass: userScroll !== undefined && userScroll.top > 0 && heldStreaming.length >= 5 && drift <= 1,
    };
    results.follow = { whileStreaming: follow, afterScrollingUp: scrollUp };
    progress(`scrolled up mid-stream: ${scrollUp.pass ? 'stayed' : 'did NOT stay'} (drift ${scrollUp.maxDriftPx} px over ${scrollUp.samplesWhileStreaming} samples)`);

    // 5b. Opening the view again after a reload (a new extension host, VS Code's caches warm).
    let host = await reloadWithPersonaClosed(vs, 1);
    let openProfiler: HostProfiler | undefined;
    const attachToHost = async () => {
      try {
        openProfiler = await HostProfiler.attach(vs!.dirs.userData);
        await openProfiler.start();
      } catch (e) {
        errors.push(`host profile (open): ${(e as Error).message}`);
      }
    };
    const second = await timedOpen(vs, host, 'open after reload', {}, options.profile ? attachToHost : undefined);
    if (openProfiler) {
      const t = second.timing;
      const until = t.clickAt + (t.ms.stateArrived ?? t.openMs);
      const path = join(benchDir, 'extension-host-open.cpuprofile');
      hostOpenProfile = (await openProfiler.stop(path, join(installedDist(vs.dirs.extensions), 'extension.js'), [[t.clickAt, until]])).summary;
      await openProfiler.detach();
      results.hostOpenProfile = hostOpenProfile;
    }
    frame = second.frame;
    progress(`view opened in ${fmtMs(second.timing.openMs)} after a reload`);
    const heapFailed = (when: string) => (e: Error) => {
      errors.push(`renderer heap (${when}): ${e.message}`);
      return undefined;
    };
    const heapShort = await rendererHeap(page, frame).catch(heapFailed('a short conversation open'));
    second.timing.activation.vscodeMs = await runningExtensionsActivationMs(vs).catch((e: Error) => {
      errors.push(`Running Extensions (after reload): ${e.message}`);
      return undefined;
    });
    results.openView = { first: first.timing, afterReload: second.timing };

    // 7. A long conversation: written into the active conversation's file, then a reload. The
    // active one is the conversation written last: its snapshot `<id>.json` or its log `<id>.log`.
    const storage = join(vs.dirs.userData, 'User', 'workspaceStorage');
    const lastWritten = (json: string) => Math.max(...[json, json.replace(/\.json$/, '.log')].filter((f) => existsSync(f)).map((f) => statSync(f).mtimeMs));
    const files = readdirSync(storage)
      .map((d) => join(storage, d, personaExtensionId, 'conversations'))
      .filter((d) => existsSync(d))
      .flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => join(d, f)))
      .sort((a, b) => lastWritten(b) - lastWritten(a));
    const active = files[0];
    if (!active) throw new Error(`no conversation files under ${storage}`);
    const existing = JSON.parse(readFileSync(active, 'utf8')) as { id: string; personaId: string; messages: { content: string }[] };
    const conversation = longConversation(existing.id, existing.personaId, LONG_CONVERSATION_MESSAGES, existing.messages[0]?.content ?? 'Hello!');
    const conversationJson = JSON.stringify(conversation);
    writeFileSync(active, conversationJson);
    // The log's records would be replayed over the new snapshot (Persona ignores a log written for
    // another snapshot, but the bench should not depend on it).
    rmSync(active.replace(/\.json$/, '.log'), { force: true });
    host = await reloadWithPersonaClosed(vs, host);
    // The view is closed: the workbench alone, for what the view with the long conversation adds.
    let heapClosed: HeapSample | undefined;
    const third = await timedOpen(vs, host, 'open with a long conversation', { lastText: longConversationLastText(LONG_CONVERSATION_MESSAGES) }, async () => {
      heapClosed = await rendererHeap(page).catch(heapFailed('the view closed'));
      await sleep(500);
    });
    frame = third.frame;
    probe = third.probe;
    await waitForConnection(frame);
    progress(`view with ${LONG_CONVERSATION_MESSAGES} messages drawn in ${fmtMs(third.timing.drawnMs)} (${third.timing.messages} of them in the DOM)`);
    const heapLong = await rendererHeap(page, frame).catch(heapFailed('the long conversation open'));
    const heap = {
      process: heapLong?.process ?? heapShort?.process,
      viewClosed: heapClosed,
      shortConversationOpen: heapShort,
      longConversationOpen: heapLong,
      /** What the view with the long conversation adds to the renderer's JS heap (same process as the workbench only). */
      longConversationAddsBytes: heapLong && heapClosed && heapLong.process === 'renderer' ? heapLong.usedBytes - heapClosed.usedBytes : undefined,
    };
    results.rendererHeap = heap;
    if (heapLong) progress(`renderer JS heap with the long conversation open: ${fmtBytes(heapLong.usedBytes)} (${heapLong.process === 'webview' ? "the webview's own process" : 'workbench and webview together'}), view closed ${fmtBytes(heapClosed?.usedBytes)}`);
    // The same conversation chosen in the Chats list of the view, open on another chat: all of it
    // Persona's (the host reads the conversation, the webview draws it), none of it VS Code's
    // creating a webview.
    const switchTimes: SwitchTiming[] = [];
    for (let i = 1; i <= 3; i++) switchTimes.push(await timedSwitch(frame, 'A long conversation', longConversationLastText(LONG_CONVERSATION_MESSAGES)));
    const switchMs = median(switchTimes.map((t) => t.drawnMs));
    progress(`switching to it in the open view: ${switchTimes.map((t) => `${fmtMs(t.drawnMs)} (state after ${fmtMs(t.stateMs)})`).join(', ')}`);
    reply = { text: SHORT_REPLY, tokenDelayMs: TOKEN_DELAY_MS, firstTokenDelayMs: SERVER_TTFT_MS };
    const longRuns: LatencyRun[] = [];
    for (let i = 1; i <= 5; i++) {
      await sleep(150);
      longRuns.push(latencyOf(await sendAndWatch(server, probe, `Long conversation question ${i}`, `long-conversation run ${i}`, 30_000), offsetMs));
    }
    reply = { text: longReply.split('## The backoff schedule')[0]!.trim() + '\n\n' + longReply.split('## A few last tips')[1]!.trim(), tokenDelayMs: TOKEN_DELAY_MS, firstTokenDelayMs: SERVER_TTFT_MS };
    const inLong = await sendAndWatch(server, probe, 'One more: summarise retries for me.', 'reply in a long conversation', 60_000);
    const ilFirst = inLong.record.firstContentAt!;
    const ilEnd = inLong.record.endedAt!;
    const idle = JSON.parse((await frame.evaluate('window.__personaBench.framesFor(1000)')) as string) as number[];
    const longConv = {
      messages: LONG_CONVERSATION_MESSAGES,
      messagesInDom: third.timing.messages,
      fileBytes: conversationJson.length,
      open: third.timing,
      /** Chosen in the Chats list of the open view (three times): click → its last message drawn. */
      switchTo: { medianMs: switchMs, runs: switchTimes },
      firstToken: summarizeLatency(longRuns),
      framesWhileStreaming: frameStats(inLong.watch.frames, ilFirst + offsetMs, ilEnd + offsetMs),
      framesIdle: frameStats(idle, -Infinity, Infinity),
      renderRatio: inLong.watch.lastChange?.paint ? round((toNode(inLong.watch.lastChange.paint) - ilFirst) / (ilEnd - ilFirst), 3) : undefined,
      traffic: trafficOf(inLong.watch, reply.text.length),
      longTasks: longTaskSummary(inLong.watch.longTasks),
      lag: streamLag(inLong, offsetMs),
    };
    results.longConversation = longConv;
    progress(`long conversation: frames median ${fmtMs(longConv.framesWhileStreaming?.medianMs)}, p95 ${fmtMs(longConv.framesWhileStreaming?.p95Ms)}, max ${fmtMs(longConv.framesWhileStreaming?.maxMs)}`);

    // 8. A 100 KB reply of hard markdown (bench/content.ts) in a new chat: the longest frame while
    // it streams.
    await frame.locator('button[aria-label="New chat"]').click();
    await waitUntil('the new conversation', 10_000, async () => (await frame.locator('.message').count()) === 1, 100);
    await setChatMaxTokens(frame, STRESS_MAX_TOKENS);
    const stress = stressReply();
    const personaFiles = new Set(readdirSync(installedDist(vs.dirs.extensions)));
    const stressChunks = fixedChunks(stress, STRESS_CHUNK_CHARS);
    reply = { text: stress, tokens: stressChunks, tokenDelayMs: STRESS_TOKEN_DELAY_MS, firstTokenDelayMs: SERVER_TTFT_MS };
    progress(`streaming a ${fmtBytes(stress.length)} stress reply: ${stressChunks.length} chunks of ${STRESS_CHUNK_CHARS} characters, one every ${STRESS_TOKEN_DELAY_MS} ms`);
    const pageLoafsSupported = await recordPageLoafs(page);
    // Light: reading 100 KB of text on every change would add the probe's own work to the frames.
    const hard = await sendAndWatch(server, probe, 'Show me everything markdown can do, at length.', 'stress reply', 600_000, undefined, true);
    const pageLoafs = JSON.parse((await page.evaluate('window.__personaBenchLoaf.takeJson()')) as string) as Loaf[];
    if (hard.record.textSent !== stress) {
      throw new Error(`stress reply: the server sent ${hard.record.textSent.length} of ${stress.length} characters (${hard.record.tokensSent} of ${stressChunks.length} chunks): did Persona ask for max_tokens ${STRESS_MAX_TOKENS}?`);
    }
    const hw = hard.watch;
    const hFirst = hard.record.firstContentAt!;
    const hEnd = hard.record.endedAt!;
    // From the first text at the server to the last change on screen (or the stream's end).
    const hUntil = hw.lastChange?.paint ?? hEnd + offsetMs;
    const stressRender = {
      chars: stress.length,
      chunks: stressChunks.length,
      chunkChars: STRESS_CHUNK_CHARS,
      tokenDelayMs: STRESS_TOKEN_DELAY_MS,
      streamMs: round(hEnd - hFirst)!,
      renderEndLagMs: hw.lastChange?.paint ? round(toNode(hw.lastChange.paint) - hEnd) : undefined,
      complete: (hw.finalText ?? '').includes(STRESS_REPLY_END),
      domChanges: hw.changes,
      /** rAF to rAF in the webview: every frame it got, whoever kept the main thread busy. */
      frames: frameStats(hw.frames, hFirst + offsetMs, hUntil),
      loafSupported: hw.loafSupported && pageLoafsSupported,
      /**
       * Long animation frames reported to the webview's document (when it has a process of its own)
       * and to the workbench page (its own, and the webview's when they share the process).
       */
      longAnimationFrames: loafSummary([...hw.loafs, ...pageLoafs], hFirst + offsetMs, hUntil, personaFiles),
      longAnimationFramesReportedTo: { webview: hw.loafs.length, workbenchPage: pageLoafs.length },
      longTasks: longTaskSummary(hw.longTasks),
      traffic: trafficOf(hw, stress.length),
    };
    results.stressReply = stressRender;
    progress(
      `stress reply: streamed in ${fmtMs(stressRender.streamMs)}, on screen ${fmtMs(stressRender.renderEndLagMs)} after; longest frame ${fmtMs(stressRender.frames?.maxMs)}, ` +
        `${stressRender.frames?.over50Ms ?? '?'} frames > 50 ms; ${stressRender.longAnimationFrames.count} long animation frames (longest ${fmtMs(stressRender.longAnimationFrames.maxMs)})`,
    );

    // 6. Bundle sizes, as installed, and who loads each file when.
    const webviewAtOpen = new Set(first.timing.resources.map((r) => r.name.split('/').pop()));
    const webviewLater = new Set((results.webviewResourcesAfterReply as { name: string }[]).map((r) => r.name.split('/').pop()));
    const bundles = bundleSizes(vs.dirs.extensions).map((b) => ({
      ...b,
      loaded:
        b.file === 'extension.js'
          ? 'on activation'
          : webviewAtOpen.has(b.file)
            ? 'by the webview as it opens'
            : webviewLater.has(b.file)
              ? 'by the webview, later (lazily)'
              : 'lazily by the host, or never in this run',
    }));
    results.bundles = bundles;

    // ---- the table ------------------------------------------------------------------------------
    const w = latency.warm;
    const delta = traffic.byKind['chat/delta'];
    const snapshots = traffic.byKind['state/changed'];
    rows.push(
      ['1. Added latency to first token, median', fmtMs(w.addedMedianMs), `≤ ${targets.addedLatencyMs} ms`, verdict(w.addedMedianMs <= targets.addedLatencyMs)],
      ['   p90 (max)', `${fmtMs(w.addedP90Ms)} (${fmtMs(w.addedMaxMs)})`, `≤ ${targets.addedLatencyMs} ms`, verdict(w.addedP90Ms <= targets.addedLatencyMs)],
      ['   send path: Enter → request at server', fmtMs(w.sendPathMedianMs), '', ''],
      ['   receive path: server 1st byte → screen', fmtMs(w.receivePathMedianMs), '', ''],
      { note: `message in the webview after ${fmtMs(w.receivePathMessageMedianMs)}, in the DOM after ${fmtMs(w.receivePathDomMedianMs)}` },
      ['   first message after activation', fmtMs(latency.first.addedMs), `≤ ${targets.addedLatencyMs} ms`, verdict((latency.first.addedMs ?? Infinity) <= targets.addedLatencyMs)],
      { note: `send path ${fmtMs(latency.first.sendPathMs)} (the host loads dist/tokenizer.js for the first message)` },
      [`2. Render ${render.words}-word reply / stream time`, `${render.ratio}× (${fmtMs(render.renderMs)} / ${fmtMs(render.streamMs)})`, `≤ ${targets.renderRatio}×`, verdict(render.ratio <= targets.renderRatio && render.finalTextComplete)],
      { note: `last text on screen ${fmtMs(render.endLagMs)} after the stream ended; frames median ${fmtMs(render.framesWhileStreaming?.medianMs)}, p95 ${fmtMs(render.framesWhileStreaming?.p95Ms)}, max ${fmtMs(render.framesWhileStreaming?.maxMs)}` },
      { note: `text on screen after the server wrote it: median ${fmtMs(render.lag.serverToDom.medianMs)}, p95 ${fmtMs(render.lag.serverToDom.p95Ms)}, max ${fmtMs(render.lag.serverToDom.maxMs)}` },
      { note: `long tasks (> 50 ms) on the renderer: ${describeLongTasks(render.longTasks)}` },
      ['3. Host→webview bytes / reply text', `${traffic.ratio}× (${fmtBytes(traffic.bytes)} / ${fmtBytes(traffic.replyChars)})`, `≤ ${targets.trafficRatio}×`, verdict(traffic.ratio <= targets.trafficRatio)],
      ['   messages for the reply', String(traffic.messages), '', ''],
      {
        note: [
          delta ? `${delta.messages} chat/delta, ${fmtBytes(delta.bytes)} (${Math.round(delta.bytes / delta.messages)} B each for ${(traffic.replyChars / delta.messages).toFixed(1)} characters of text)` : '',
          snapshots ? `${snapshots.messages} state/changed, ${fmtBytes(snapshots.bytes)}` : '',
        ].filter(Boolean).join('; '),
      },
      ['4. Follows the stream (max gap)', `${follow.pass ? 'pass' : 'FAIL'} (${follow.maxGapPx} px, ${follow.samples} samples)`, 'pass', verdict(follow.pass)],
      ['   stays put when scrolled up', `${scrollUp.pass ? 'pass' : 'FAIL'} (${scrollUp.scrolledUpPx} px up, drift ${scrollUp.maxDriftPx} px)`, 'pass', verdict(scrollUp.pass)],
    );
    for (const [name, t] of [['first', first.timing], ['after reload', second.timing]] as const) {
      const a = t.activation;
      rows.push([
        `5. Activation (${name}): Persona's log / VS Code's`,
        `${fmtMs(a.ownMs)} / ${fmtMs(a.vscodeMs)}`,
        `≤ ${targets.activationMs} ms`,
        verdict(a.ownMs === undefined ? undefined : Math.max(a.ownMs, a.vscodeMs ?? 0) <= targets.activationMs),
      ]);
    }
    rows.push(
      ['   open view, first time (click → message box)', fmtMs(first.timing.openMs), `≤ ${targets.openViewMs} ms`, verdict(first.timing.openMs <= targets.openViewMs)],
      { note: describeOpen(first.timing) },
      ['   open view after a reload', fmtMs(second.timing.openMs), `≤ ${targets.openViewMs} ms`, verdict(second.timing.openMs <= targets.openViewMs)],
      { note: describeOpen(second.timing) },
    );
    for (const b of bundles) {
      const isWebview = b.file === 'webview.js';
      rows.push([
        `6. dist/${b.file}${b.minified ? '' : ' (NOT minified)'}`,
        `${fmtBytes(b.bytes)}, gzip ${fmtBytes(b.gzipBytes)}`,
        isWebview ? `≤ ${fmtBytes(targets.webviewBundleBytes)}` : '',
        isWebview ? verdict(b.bytes <= targets.webviewBundleBytes) : '',
      ]);
      rows.push({ note: `loaded ${b.loaded}` });
    }
    const lf = longConv.framesWhileStreaming;
    const lt = longConv.firstToken;
    rows.push(
      [`7. ${LONG_CONVERSATION_MESSAGES} messages: open view until drawn`, fmtMs(third.timing.drawnMs), `≤ ${targets.longConversationOpenMs} ms`, verdict(third.timing.drawnMs <= targets.longConversationOpenMs)],
      { note: `${describeOpen(third.timing)}; the host's state was ${fmtBytes(third.timing.stateBytes)}; ${third.timing.messages} messages in the DOM` },
      [`   the same chat chosen in the open view's Chats list`, fmtMs(longConv.switchTo.medianMs), `≤ ${targets.longConversationOpenMs} ms`, verdict(longConv.switchTo.medianMs <= targets.longConversationOpenMs)],
      { note: `median of ${longConv.switchTo.runs.length} (${longConv.switchTo.runs.map((r) => fmtMs(r.drawnMs)).join(', ')}), click → last message drawn; the host's state arrived after ${longConv.switchTo.runs.map((r) => fmtMs(r.stateMs)).join(', ')}` },
      [
        heap.process === 'webview' ? "   JS heap of the webview's process, after GC" : '   renderer JS heap incl. the workbench, after GC',
        fmtBytes(heapLong?.usedBytes),
        `≤ ${fmtBytes(targets.rendererHeapBytes)}`,
        verdict(heapLong ? heapLong.usedBytes <= targets.rendererHeapBytes : undefined),
      ],
      {
        note: [
          heap.process === 'renderer'
            ? `code-server's webview shares the workbench's renderer process and V8 heap: with the view closed ${fmtBytes(heapClosed?.usedBytes)}, so the view with ${LONG_CONVERSATION_MESSAGES} messages adds ${fmtBytes(heap.longConversationAddsBytes)}`
            : '',
          `with a short conversation open (the reload before) ${fmtBytes(heapShort?.usedBytes)}`,
          heapLong?.embedderBytes !== undefined ? `Blink's heap (DOM) ${fmtBytes(heapLong.embedderBytes)} besides` : '',
          heapLong ? `${heapLong.domNodes ?? '?'} DOM nodes in the process, ${heapLong.webviewElements ?? '?'} elements in Persona's document` : '',
        ].filter(Boolean).join('; '),
      },
      ['   frames while a reply streams: median / p95 / max', lf ? `${fmtMs(lf.medianMs)} / ${fmtMs(lf.p95Ms)} / ${fmtMs(lf.maxMs)}` : 'n/a', '(60 Hz: 16.7 ms)', ''],
      { note: `long tasks (> 50 ms) on the renderer: ${describeLongTasks(longConv.longTasks)}; text on screen after the server wrote it: median ${fmtMs(longConv.lag.serverToDom.medianMs)}, max ${fmtMs(longConv.lag.serverToDom.maxMs)}` },
      ['   added latency to first token, median', `${fmtMs(lt.addedMedianMs)} (${lt.runs} runs)`, `≤ ${targets.addedLatencyMs} ms`, verdict(lt.addedMedianMs <= targets.addedLatencyMs)],
      { note: `send path ${fmtMs(lt.sendPathMedianMs)}, receive path ${fmtMs(lt.receivePathMedianMs)}; first of the runs after the reload: ${fmtMs(lt.each[0]?.addedMs)}` },
      ['   host→webview bytes / reply text', `${longConv.traffic.ratio}× (${fmtBytes(longConv.traffic.bytes)} / ${fmtBytes(longConv.traffic.replyChars)})`, `≤ ${targets.trafficRatio}×`, verdict(longConv.traffic.ratio <= targets.trafficRatio)],
      { note: Object.entries(longConv.traffic.byKind).map(([k, v]) => `${v.messages} ${k}, ${fmtBytes(v.bytes)}`).join('; ') },
    );
    const sf = stressRender.frames;
    const sl = stressRender.longAnimationFrames;
    rows.push(
      [
        `8. ${fmtBytes(stressRender.chars)} stress reply: longest frame (rAF gap; long anim. frame)`,
        `${fmtMs(sf?.maxMs)}; ${stressRender.loafSupported ? (sl.count ? fmtMs(sl.maxMs) : 'none') : 'n/a'}`,
        `no frame > ${targets.streamFrameMs} ms`,
        verdict(sf ? sf.maxMs <= targets.streamFrameMs && sl.over50Ms === 0 : undefined),
      ],
      ['   frames > 50 ms: rAF gaps; long animation frames', `${sf?.over50Ms ?? '?'} of ${sf?.frames ?? '?'}; ${stressRender.loafSupported ? sl.over50Ms : 'n/a'}`, '0', verdict(sf ? sf.over50Ms === 0 && sl.over50Ms === 0 : undefined)],
      {
        note:
          `frames median ${fmtMs(sf?.medianMs)}, p95 ${fmtMs(sf?.p95Ms)}; streamed in ${fmtMs(stressRender.streamMs)} (${stressRender.chunks} chunks of ${stressRender.chunkChars} characters every ${stressRender.tokenDelayMs} ms), ` +
          `on screen ${fmtMs(stressRender.renderEndLagMs)} after the stream ended${stressRender.complete ? '' : ', NOT all of it on screen'}`,
      },
      {
        note:
          (sl.count
            ? `long animation frames: ${sl.withPersonaScripts} of ${sl.count} ran Persona's scripts; ${fmtMs(sl.totalMs)} in all, scripts ${fmtMs(sl.scriptMs)}, style and layout ${fmtMs(sl.styleLayoutMs)}; ` +
              `scripts by file (the 3 longest a frame): ${Object.entries(sl.bySource).map(([k, v]) => `${k} ${v} ms`).join(', ')}; `
            : '') + `long tasks (> 50 ms): ${describeLongTasks(stressRender.longTasks)}`,
      },
    );
  } catch (e) {
    const err = e as Error;
    errors.push(err.stack ?? err.message);
    if (vs) {
      const shot = await vs.screenshot('bench-failure').catch(() => undefined);
      if (shot) errors.push(`screenshot: ${shot}`);
      mkdirSync(benchDir, { recursive: true });
      writeFileSync(join(benchDir, 'failure.log'), vs.logs());
      errors.push(`logs: ${join(benchDir, 'failure.log')}`);
    }
  } finally {
    await vs?.stop();
    await server.close();
  }

  if (storeAppend) {
    const sa = storeAppend;
    rows.push(
      [`9. Host: add a message to a ${LONG_CONVERSATION_MESSAGES}-message chat, median / p95`, `${fmtMs(sa.medianMs)} / ${fmtMs(sa.p95Ms)}`, `≤ ${targets.storeAppendMs} ms`, verdict(sa.p95Ms <= targets.storeAppendMs)],
      {
        note:
          `ConversationStore.save in Node, ${sa.appends} saves; max ${fmtMs(sa.maxMs)}, first ${fmtMs(sa.firstMs)}; CPU median ${fmtMs(sa.cpuMedianMs)}; ` +
          `written per save median ${fmtBytes(sa.bytesMedian)}, max ${fmtBytes(sa.bytesMax)}; ${sa.rewrites} of ${sa.appends} rewrote a file there was; ` +
          `files ${Object.entries(sa.filesAfter).map(([f, b]) => `${f.replace(/^.*\./, '*.')} ${fmtBytes(b)}`).join(', ')} after`,
      },
    );
  }

  results.errors = errors;
  results.rows = rows;
  results.machine = { ...(results.machine as object), loadAverageAtEnd: loadavg().map((l) => round(l, 2)) };
  results.durationS = round((Date.now() - startedAt) / 1000);
  mkdirSync(benchDir, { recursive: true });
  writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);

  printTable(rows);
  console.log(
    [
      '',
      'For comparison, a popular local-model chat extension in the same code-server:',
      `  added ${competitor.addedLatencyMs} ms to the first token on screen; rendered a long reply in ${competitor.renderRatio}× the stream's duration;`,
      `  sent ${competitor.messages} messages and ${(competitor.bytes / 1e6).toFixed(1)} MB for one 800-word reply; did not follow the stream;`,
      `  shipped a ${(competitor.webviewBundleBytes / 1e6).toFixed(1)} MB webview bundle; activated in ${competitor.activationMs} ms; took ${competitor.openViewFirstMs / 1000} s to open its view the first time.`,
      '',
      `Server: first token after ${SERVER_TTFT_MS} ms, then a word every ${TOKEN_DELAY_MS} ms. Details: ${relative(repoRoot, resultsPath)} (${results.durationS} s).`,
    ].join('\n'),
  );
  // Other work on the machine (another test run) shows up in every number here.
  const load = loadavg()[0]!;
  if (load > cpus().length * 0.75) console.log(`WARNING: load average ${load.toFixed(1)} on ${cpus().length} cores: something else was running; expect noisy numbers.`);
  if (hostProfile) printHostProfile(hostProfile);
  if (hostOpenProfile) printProfile('Extension host, click → the webview has its state (open after a reload)', hostOpenProfile);
  if (rendererProfile) printProfile('Renderer (workbench + webview) during the long reply', rendererProfile);
  if (vsix.stale) console.log(`WARNING: measured a stale persona.vsix (${vsix.newerInput} is newer).`);
  if (errors.length > 0) {
    console.error(`\nThe bench did not complete:\n${errors.join('\n')}`);
    process.exitCode = 1;
  }
}

function describeLongTasks(by: Record<string, { count: number; ms: number; maxMs: number }>): string {
  const names: Record<string, string> = { self: "the webview's", 'same-origin-ancestor': "VS Code's workbench", 'same-origin-descendant': 'a frame inside the webview' };
  const parts = Object.entries(by).map(([k, v]) => `${names[k] ?? k} ${v.count} (${v.ms} ms, longest ${v.maxMs} ms)`);
  return parts.length ? parts.join('; ') : 'none';
}

function printProfile(title: string, p: ProfileSummary): void {
  console.log(`\n${title}: ${p.totalMs} ms sampled (${relative(repoRoot, p.file)})`);
  console.log(`  by file: ${p.byFile.map((f) => `${f.file} ${f.ms}`).join(', ')}`);
  for (const f of p.topFunctions) console.log(`  ${String(f.ms).padStart(7)} ms  ${f.fn}`);
}

function printHostProfile(h: HostProfileResult): void {
  const med = (k: 'totalMs' | 'toOurCodeMs' | 'busyMs') => round(median(h.sends.map((s) => s[k]).filter(Number.isFinite)));
  console.log(
    `\nExtension host while sending (${h.sends.length} sends, medians): Enter → request at server ${med('totalMs')} ms; ` +
      `Enter → Persona's code runs ${med('toOurCodeMs')} ms (the webview → workbench → extension host hops); host busy ${med('busyMs')} ms`,
  );
  printProfile('Extension host, Enter → request at server only', h.summary);
}

function printTable(rows: readonly Row[]): void {
  const cells = rows.filter((r): r is [string, string, string, string] => Array.isArray(r));
  if (cells.length === 0) return;
  const header: [string, string, string, string] = ['Measurement', 'Persona', 'Target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const r of rows) console.log(Array.isArray(r) ? line(r) : `      ${r.note}`);
}

main().then(
  // Exit now rather than when the last server-side trace's timer runs out.
  () => process.exit(),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
