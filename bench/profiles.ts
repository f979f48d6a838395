// CPU profiles for `npm run bench -- --profile`: where the time goes when a target is missed.
//
// - The renderer: code-server serves the workbench and its webviews from one origin, so the
//   Persona webview runs in the workbench's renderer process and one V8 profile (CDP on the page)
//   covers both.
// - The extension host: a Node process of its own. SIGUSR1 opens its inspector on 127.0.0.1:9229
//   (Node's default), which this process drives over a WebSocket (Node 20 needs
//   NODE_OPTIONS=--experimental-websocket for that).
//
// Profiles are saved under .bench/ as .cpuprofile files (open them in Chrome DevTools'
// Performance panel or VS Code).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { waitUntil } from '../test/e2e/harness';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Self time by script file ("(idle)", "(program)", "(garbage collector)" are V8's own). */
  byFile: { file: string; ms: number }[];
  /** Self time by function, with a few characters of the (minified) source where it starts. */
  topFunctions: { fn: string; ms: number }[];
}

const basename = (url: string) => url.split('?')[0]!.split('/').pop() || url;

/** Sample i's duration in ms (V8 gives each sample the delta to the next). */
function sampleDurations(p: CpuProfile): number[] {
  return p.timeDeltas.map((_, i) => (p.timeDeltas[i + 1] ?? 0) / 1000);
}

/**
 * Self time by file and by function. `sources` maps a file name to its text, to quote the start of
 * minified functions. `window` keeps only samples at epoch times within [from, to].
 */
export function summarizeProfile(p: CpuProfile, file: string, sources: Record<string, string>, toEpoch?: (ticksUs: number) => number, window?: [number, number][]): ProfileSummary {
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const durations = sampleDurations(p);
  const byFile = new Map<string, number>();
  const byFn = new Map<string, number>();
  let t = p.startTime;
  let total = 0;
  const lines = new Map<string, string[]>();
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (window && toEpoch) {
      const e = toEpoch(t);
      if (!window.some(([a, b]) => e >= a && e <= b)) continue;
    }
    const node = nodes.get(p.samples[i]!);
    if (!node) continue;
    const ms = durations[i]!;
    total += ms;
    const cf = node.callFrame;
    const f = cf.url ? basename(cf.url) : cf.functionName;
    byFile.set(f, (byFile.get(f) ?? 0) + ms);
    let where = '';
    const src = sources[f];
    if (src !== undefined) {
      if (!lines.has(f)) lines.set(f, src.split('\n'));
      const line = lines.get(f)![cf.lineNumber] ?? '';
      where = ` «${line.slice(cf.columnNumber, cf.columnNumber + 48).replace(/\s+/g, ' ')}»`;
    }
    const key = cf.url ? `${cf.functionName || '(anonymous)'} ${f}:${cf.lineNumber + 1}:${cf.columnNumber + 1}${where}` : cf.functionName;
    byFn.set(key, (byFn.get(key) ?? 0) + ms);
  }
  const top = <K>(m: Map<K, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  return {
    file,
    totalMs: Math.round(total),
    byFile: top(byFile, 8).map(([f, ms]) => ({ file: f, ms: Math.round(ms) })),
    topFunctions: top(byFn, 15).map(([fn, ms]) => ({ fn, ms: Math.round(ms * 10) / 10 })),
  };
}

/** Profiles the renderer (workbench and webviews) while `run` runs. */
export async function profileRenderer<T>(page: Page, path: string, sources: Record<string, string>, run: () => Promise<T>): Promise<{ result: T; summary: ProfileSummary }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  let result!: T;
  let profile: CpuProfile | undefined;
  try {
    result = await run();
  } finally {
    profile = ((await cdp.send('Profiler.stop')) as unknown as { profile: CpuProfile }).profile;
    writeFileSync(path, JSON.stringify(profile));
    await cdp.detach().catch(() => undefined);
  }
  return { result, summary: summarizeProfile(profile, path, sources) };
}

interface InspectorSession {
  send(method: string, params?: object): Promise<Record<string, unknown>>;
  close(): void;
}

async function connectInspector(url: string): Promise<InspectorSession> {
  const WebSocketImpl = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (!WebSocketImpl) throw new Error('profiling the extension host needs a WebSocket client: run with NODE_OPTIONS=--experimental-websocket (Node 20) or on Node 22+');
  const ws = new WebSocketImpl(url);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`could not connect to the extension host's inspector at ${url}`));
  });
  let id = 0;
  const pending = new Map<number, (m: Record<string, unknown>) => void>();
  ws.onmessage = (event) => {
    const m = JSON.parse(String(event.data)) as { id?: number; result?: Record<string, unknown> };
    if (m.id !== undefined) pending.get(m.id)?.(m.result ?? {});
    if (m.id !== undefined) pending.delete(m.id);
  };
  return {
    send: (method, params = {}) =>
      new Promise((resolve) => {
        const i = ++id;
        pending.set(i, resolve);
        ws.send(JSON.stringify({ id: i, method, params }));
      }),
    close: () => ws.close(),
  };
}

interface WebSocketLike {
  onopen: (() => void) | null;
  onerror: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  send(data: string): void;
  close(): void;
}

/** The newest extension host process among code-server's (found by its user-data dir). */
function extensionHostPid(userDataDir: string): number {
  const ps = execFileSync('ps', ['-eo', 'pid=,pgid=,etimes=,args='], { encoding: 'utf8' }).split('\n').map((l) => l.trim().split(/\s+/));
  const server = ps.find((cols) => cols.slice(3).join(' ').includes(userDataDir));
  if (!server) throw new Error('code-server is not running');
  const hosts = ps.filter((cols) => cols[1] === server[1] && cols.includes('--type=extensionHost')).sort((a, b) => Number(a[2]) - Number(b[2]));
  if (!hosts[0]) throw new Error('no extension host process');
  return Number(hosts[0][0]);
}

export interface HostSend {
  enterAt: number;
  receivedAt: number;
}

/**
 * The extension host's V8 profiler, reached through its inspector. `attach()` opens the inspector
 * of the newest extension host; `detach()` closes it again, so that the next extension host (after
 * a reload) can open its own on the same port.
 */
export class HostProfiler {
  private toEpoch: (ticksUs: number) => number = (us) => us / 1000;

  private constructor(private readonly session: InspectorSession) {}

  static async attach(userDataDir: string): Promise<HostProfiler> {
    const pid = extensionHostPid(userDataDir);
    process.kill(pid, 'SIGUSR1'); // opens the inspector; it does not stop the process
    const targets = await waitUntil('the extension host inspector on 127.0.0.1:9229', 5000, async () => {
      const res = await fetch('http://127.0.0.1:9229/json/list');
      return (await res.json()) as { webSocketDebuggerUrl: string }[];
    }, 100);
    return new HostProfiler(await connectInspector(targets[0]!.webSocketDebuggerUrl));
  }

  async start(): Promise<void> {
    await this.session.send('Profiler.enable');
    await this.session.send('Profiler.setSamplingInterval', { interval: 100 });
    // Profile timestamps are the host's monotonic clock in µs; map them to epoch ms.
    const clock = (await this.session.send('Runtime.evaluate', {
      expression: 'JSON.stringify([Number(process.hrtime.bigint()) / 1e6, performance.timeOrigin + performance.now()])',
      returnByValue: true,
    })) as { result: { value: string } };
    const [hrMs, epochMs] = JSON.parse(clock.result.value) as [number, number];
    this.toEpoch = (us) => us / 1000 - hrMs + epochMs;
    await this.session.send('Profiler.start');
  }

  /** Stops, saves the profile to `path` and summarises the samples within `windows` (epoch ms). */
  async stop(path: string, extensionJsPath: string, windows: [number, number][]): Promise<{ profile: CpuProfile; summary: ProfileSummary; toEpoch: (us: number) => number }> {
    const { profile } = (await this.session.send('Profiler.stop')) as unknown as { profile: CpuProfile };
    writeFileSync(path, JSON.stringify(profile));
    const source = existsSync(extensionJsPath) ? readFileSync(extensionJsPath, 'utf8') : '';
    return { profile, summary: summarizeProfile(profile, path, { 'extension.js': source }, this.toEpoch, windows), toEpoch: this.toEpoch };
  }

  /** Closes the host's inspector (it waits for this connection to go first), then the connection. */
  async detach(): Promise<void> {
    await this.session
      .send('Runtime.evaluate', { expression: "setTimeout(() => process.getBuiltinModule?.('node:inspector')?.close(), 200); 0" })
      .catch(() => undefined);
    this.session.close();
    await new Promise((r) => setTimeout(r, 400));
  }
}

export interface HostProfileResult {
  summary: ProfileSummary;
  /** Per send: Enter → the first sample in Persona's code, and how busy the host was until the request reached the server. */
  sends: { totalMs: number; toOurCodeMs: number; busyMs: number }[];
}

/** Profiles the extension host while `run` sends messages; `run` returns each send's times. */
export async function profileExtensionHost(userDataDir: string, extensionJsPath: string, path: string, run: () => Promise<HostSend[]>): Promise<HostProfileResult> {
  const profiler = await HostProfiler.attach(userDataDir);
  try {
    await profiler.start();
    const sends = await run();
    const { profile, summary, toEpoch } = await profiler.stop(path, extensionJsPath, sends.map((s) => [s.enterAt, s.receivedAt]));
    return { summary, sends: sends.map((s) => sendBreakdown(profile, toEpoch, s)) };
  } finally {
    await profiler.detach();
  }
}

function sendBreakdown(p: CpuProfile, toEpoch: (us: number) => number, s: HostSend) {
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inOurs = (id: number): boolean => {
    for (let n = nodes.get(id); n; n = nodes.get(parent.get(n.id) ?? -1)) if (n.callFrame.url.endsWith('/extension.js')) return true;
    return false;
  };
  const durations = sampleDurations(p);
  let t = p.startTime;
  let firstOurs: number | undefined;
  let busy = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    const e = toEpoch(t);
    if (e < s.enterAt || e > s.receivedAt) continue;
    const node = nodes.get(p.samples[i]!);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    busy += durations[i]!;
    if (firstOurs === undefined && inOurs(node.id)) firstOurs = e;
  }
  const r = (n: number) => Math.round(n * 10) / 10;
  return { totalMs: r(s.receivedAt - s.enterAt), toOurCodeMs: r((firstOurs ?? NaN) - s.enterAt), busyMs: r(busy) };
}

