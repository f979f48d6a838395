// Reads a PDF, DOCX, HTML, Markdown or notebook file off the extension host's main thread, with a
// clock and a memory limit, ended on overrun: a hostile document (a zip bomb, a PDF with a million
// pages) then costs a reader, never the host's event loop or its heap. The parsers (PDF.js,
// mammoth) are loaded only inside the reader, so the extension bundle does not carry them and
// activation never pays for them.
//
// Each document gets a child process of its own by default (`isolation: 'thread'`: a worker thread).
// Why a process: measured on this 2-core machine while a whole CI run went on beside it, a worker
// thread running into its heap limit held the host's 10 ms timer up by 260–320 ms in two runs, a
// child process reading the same zip bomb by under 40 ms (with only CPU load, both stayed under
// 20 ms); a fatal V8 error outside the heap (which aborts the whole process) stays in the reader;
// and the reader's memory is measured on its own, not as the host's growth. What it costs: starting
// a process per document (tens of ms, against seconds of embedding for a document of any size).
import { type ChildProcess, fork } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { type DocumentKind, defaultExtractBudget, type ExtractBudget, type ExtractOutcome, skipMessage } from './documentTypes';
import type { ExtractWorkerInput } from './extractWorker';

/**
 * The reader's script: dist/documentWorker.js beside the bundled extension (esbuild.mjs), or the
 * TypeScript source when this module itself runs from source under tsx (tests).
 */
export function documentWorkerScript(): string {
  return __filename.endsWith('.ts') ? join(__dirname, 'extractWorker.ts') : join(__dirname, 'documentWorker.js');
}

export interface ExtractOptions {
  signal?: AbortSignal;
  /** `process` (default): a child process; `thread`: a worker thread in this process. */
  isolation?: 'process' | 'thread';
  /** Overrides the reader script (tests of the packaged bundle). */
  workerScript?: string;
}

type Finish = (outcome: ExtractOutcome) => void;

/** A started reader, which reports how it ended through the `Finish` it was given. */
interface Reader {
  stop(): void;
  /** Resident memory of the reader, in bytes, where it can be told. */
  rss(): Promise<number | undefined>;
}

/**
 * The document's text with the page or heading path of each stretch, or why it is skipped. Never
 * rejects for a bad document; rejects only when `signal` aborts (with the signal's reason).
 */
export function extractDocument(bytes: Uint8Array, kind: DocumentKind, budget: Partial<ExtractBudget> = {}, options: ExtractOptions = {}): Promise<ExtractOutcome> {
  const limits: ExtractBudget = { ...defaultExtractBudget, ...budget };
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<ExtractOutcome>((resolve, reject) => {
    let settled = false;
    let reader: Reader | undefined;
    const finish = (outcome: ExtractOutcome | { abort: unknown }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(memoryWatch);
      signal?.removeEventListener('abort', onAbort);
      reader?.stop();
      if ('abort' in outcome) reject(outcome.abort);
      else resolve(outcome);
    };
    const timer = setTimeout(
      () => finish({ ok: false, reason: 'timeLimit', message: skipMessage('timeLimit', `over ${formatDuration(limits.timeoutMs)}`) }),
      limits.timeoutMs,
    );
    // Decompressed data sits in ArrayBuffers, outside the V8 heap limit: watch resident memory too.
    const memoryWatch = setInterval(() => {
      void reader?.rss().then((rss) => {
        if (rss !== undefined && rss / 2 ** 20 > limits.maxRssGrowthMb + limits.maxHeapMb) {
          finish({ ok: false, reason: 'memoryLimit', message: skipMessage('memoryLimit', `over ${limits.maxRssGrowthMb + limits.maxHeapMb} MB`) });
        }
      });
    }, 200);
    const onAbort = () => finish({ abort: signal?.reason });
    signal?.addEventListener('abort', onAbort, { once: true });
    const input: ExtractWorkerInput = { bytes, kind, budget: limits };
    const script = options.workerScript ?? documentWorkerScript();
    try {
      reader = options.isolation === 'thread' ? startThreadReader(script, input, finish) : startProcessReader(script, input, finish);
    } catch (e) {
      finish({ ok: false, reason: 'readerFailed', message: skipMessage('readerFailed', e instanceof Error ? e.message : String(e)) });
    }
  });
}

const memoryLimitOutcome = (limitMb: number): ExtractOutcome => ({ ok: false, reason: 'memoryLimit', message: skipMessage('memoryLimit', `over ${limitMb} MB`) });
const failedOutcome = (detail: string): ExtractOutcome => ({ ok: false, reason: 'readerFailed', message: skipMessage('readerFailed', detail) });

/**
 * A child process with V8's heap limit set. Under tsx (tests), tsx's CommonJS hook is preloaded by
 * its resolved path (a development dependency; the bundle always runs plain JavaScript). In VS Code,
 * `fork` runs the extension host's own runtime (Electron, or code-server's Node) as plain Node:
 * ELECTRON_RUN_AS_NODE, as VS Code's own extensions set it for their servers.
 */
function startProcessReader(script: string, input: ExtractWorkerInput, finish: Finish): Reader {
  const execArgv = [`--max-old-space-size=${input.budget.maxHeapMb}`];
  if (script.endsWith('.ts')) execArgv.push('--require', createRequire(__filename).resolve('tsx/cjs'));
  const child: ChildProcess = fork(script, [], {
    execArgv,
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderrTail = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4096);
  });
  child.once('message', (outcome: ExtractOutcome) => finish(outcome));
  child.once('error', (err) => finish(failedOutcome(err.message)));
  child.once('exit', (code, signalName) => {
    // V8 aborts the process when its heap limit is reached.
    if (/heap out of memory|Allocation failed/i.test(stderrTail) || signalName === 'SIGABRT' || code === 134) finish(memoryLimitOutcome(input.budget.maxHeapMb));
    else finish(failedOutcome(`the reader stopped (${signalName ?? `code ${code}`})`));
  });
  child.send(input);
  const pid = child.pid;
  return {
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    rss: async () => {
      if (process.platform !== 'linux' || pid === undefined) return undefined;
      try {
        const pages = Number((await readFile(`/proc/${pid}/statm`, 'utf8')).split(' ')[1]);
        return Number.isFinite(pages) ? pages * 4096 : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

/** A worker thread with `resourceLimits`; its memory cannot be told apart from the host's. */
function startThreadReader(script: string, input: ExtractWorkerInput, finish: Finish): Reader {
  // A copy is transferred: the caller keeps its bytes, and this thread holds no second copy.
  const copy = input.bytes.slice();
  const options: WorkerOptions = {
    workerData: { ...input, bytes: copy },
    transferList: [copy.buffer],
    resourceLimits: { maxOldGenerationSizeMb: input.budget.maxHeapMb, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
    // Its console output would land in the extension host's log unasked.
    stdout: true,
    stderr: true,
  };
  let worker: Worker;
  if (script.endsWith('.ts')) {
    // On Node 20 a worker does not inherit the hooks `--import tsx` registered: start it through tsx's CommonJS hook.
    const tsxCjs = createRequire(__filename).resolve('tsx/cjs/api');
    worker = new Worker(`require(${JSON.stringify(tsxCjs)}).register(); require(${JSON.stringify(script)});`, { ...options, eval: true });
  } else {
    worker = new Worker(script, options);
  }
  worker.stdout.resume();
  worker.stderr.resume();
  worker.once('message', (outcome: ExtractOutcome) => finish(outcome));
  worker.once('error', (err: Error & { code?: string }) =>
    finish(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? memoryLimitOutcome(input.budget.maxHeapMb) : failedOutcome(err.message.split('\n')[0] ?? 'unknown error')),
  );
  worker.once('exit', (code) => finish(failedOutcome(`the reader stopped with code ${code}`)));
  const rssAtStart = process.memoryUsage.rss();
  return {
    stop: () => void worker.terminate(),
    // Process-wide: the growth since the start stands in for the thread's own memory.
    rss: () => Promise.resolve(Math.max(0, process.memoryUsage.rss() - rssAtStart)),
  };
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number.isInteger(ms / 1000) ? ms / 1000 : (ms / 1000).toFixed(1)} s`;
}
