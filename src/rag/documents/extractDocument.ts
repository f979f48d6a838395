// Reads a PDF, DOCX, HTML, Markdown or notebook file off the extension host's main thread, with a
// clock and a memory limit, ended on overrun: a hostile document (a zip bomb, a PDF with a million
// pages) then costs a reader, never the host's event loop or its heap. The parsers (PDF.js,
// mammoth) are loaded only inside the reader, so the extension bundle does not carry them and
// activation never pays for them.
//
// The reader is a child process by default (`isolation: 'thread'`: a worker thread per document).
// Why a process: measured on this 2-core machine while a whole CI run went on beside it, a worker
// thread running into its heap limit held the host's 10 ms timer up by 260–320 ms in two runs, a
// child process reading the same zip bomb by under 40 ms (with only CPU load, both stayed under
// 20 ms); a fatal V8 error outside the heap (which aborts the whole process) stays in the reader;
// and the reader's memory is measured on its own, not as the host's growth.
//
// The process is kept for the next document: starting one and loading PDF.js costs ~240 ms, more
// than the embeddings of a ten-page PDF take (`npm run bench:memory -- --only documents`). It is
// killed after a document it did not finish (time or memory budget, abort, a crash), replaced when
// it has grown past its heap limit or read many documents, and ends after a while with nothing to
// read. Documents are read one at a time: the budgets are per document, and several readers with
// their own memory budgets would cost more than the embeddings server waits for.
import { type ChildProcess, fork } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { type DocumentKind, defaultExtractBudget, type ExtractBudget, type ExtractOutcome, skipMessage } from './documentTypes';
import type { ExtractWorkerInput } from './extractWorker';
import { SerialQueue } from '../../util/serialQueue';

/**
 * The reader's script: dist/documentWorker.js beside the bundled extension (esbuild.mjs), or the
 * TypeScript source when this module itself runs from source under tsx (tests).
 */
export function documentWorkerScript(): string {
  return __filename.endsWith('.ts') ? join(__dirname, 'extractWorker.ts') : join(__dirname, 'documentWorker.js');
}

export interface ExtractOptions {
  signal?: AbortSignal;
  /** `process` (default): the kept child process; `thread`: a worker thread of its own in this process. */
  isolation?: 'process' | 'thread';
  /** Overrides the reader script (tests of the packaged bundle). */
  workerScript?: string;
}

/** How a document's reading ended: `kept` when the reader answered and may read the next one. */
type Finish = (outcome: ExtractOutcome, kept?: boolean) => void;

/** A reader busy with one document, which reports how it ended through the `Finish` it was given. */
interface Reader {
  /** The document is done with: a reader that did not answer is ended, one that did may be kept. */
  release(kept: boolean): void;
  /** Resident memory of the reader, in bytes, where it can be told. */
  rss(): Promise<number | undefined>;
}

/** One document at a time in this process, whichever isolation (see above). */
const readingQueue = new SerialQueue();

/**
 * The document's text with the page or heading path of each stretch, or why it is skipped. Never
 * rejects for a bad document; rejects only when `signal` aborts (with the signal's reason).
 */
export function extractDocument(bytes: Uint8Array, kind: DocumentKind, budget: Partial<ExtractBudget> = {}, options: ExtractOptions = {}): Promise<ExtractOutcome> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return readingQueue.run(() => (signal?.aborted ? Promise.reject(signal.reason) : readOne(bytes, kind, { ...defaultExtractBudget, ...budget }, options)));
}

function readOne(bytes: Uint8Array, kind: DocumentKind, limits: ExtractBudget, options: ExtractOptions): Promise<ExtractOutcome> {
  const { signal } = options;
  return new Promise<ExtractOutcome>((resolve, reject) => {
    let settled = false;
    let reader: Reader | undefined;
    const finish = (outcome: ExtractOutcome | { abort: unknown }, kept = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(memoryWatch);
      signal?.removeEventListener('abort', onAbort);
      reader?.release(kept);
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
      reader = options.isolation === 'thread' ? startThreadReader(script, input, finish) : processReader.read(script, input, finish);
    } catch (e) {
      finish({ ok: false, reason: 'readerFailed', message: skipMessage('readerFailed', e instanceof Error ? e.message : String(e)) });
    }
  });
}

const memoryLimitOutcome = (limitMb: number): ExtractOutcome => ({ ok: false, reason: 'memoryLimit', message: skipMessage('memoryLimit', `over ${limitMb} MB`) });
const failedOutcome = (detail: string): ExtractOutcome => ({ ok: false, reason: 'readerFailed', message: skipMessage('readerFailed', detail) });

/** What the host sends the kept reader for one document, and what it answers. */
export interface ReaderRequest extends ExtractWorkerInput {
  id: number;
}
export interface ReaderAnswer {
  id: number;
  outcome: ExtractOutcome;
}

/** A kept reader process ends after this long with nothing to read, giving its memory back. */
const idleMs = 30_000;
/** A reader is replaced after this many documents, so what one leaves behind cannot pile up. */
const documentsPerReader = 100;

/**
 * The kept child process, with V8's heap limit set. Under tsx (tests), tsx's CommonJS hook is
 * preloaded by its resolved path (a development dependency; the bundle always runs plain
 * JavaScript). In VS Code, `fork` runs the extension host's own runtime (Electron, or
 * code-server's Node) as plain Node: ELECTRON_RUN_AS_NODE, as VS Code's own extensions set it for
 * their servers. While it waits for work it holds neither the host's event loop nor its exit.
 */
class ProcessReader {
  private child: ChildProcess | undefined;
  /** What the running child was started with: another script or heap limit needs another child. */
  private startedWith = '';
  private documents = 0;
  private nextId = 1;
  private idle: NodeJS.Timeout | undefined;

  read(script: string, input: ExtractWorkerInput, finish: Finish): Reader {
    clearTimeout(this.idle);
    const key = `${script}\0${input.budget.maxHeapMb}`;
    // A reader that grew past its heap limit is not trusted with the next document.
    const grown = this.lastRss !== undefined && this.lastRss / 2 ** 20 > input.budget.maxHeapMb;
    if (this.child && (this.startedWith !== key || this.documents >= documentsPerReader || grown)) this.end();
    const child = this.child ?? this.start(script, input.budget.maxHeapMb, key);
    this.documents++;
    const id = this.nextId++;
    const onMessage = (answer: ReaderAnswer) => {
      if (answer.id === id) finish(answer.outcome, true);
    };
    const onError = (err: Error) => finish(failedOutcome(err.message));
    const onExit = (code: number | null, signalName: NodeJS.Signals | null) => {
      // V8 aborts the process when its heap limit is reached.
      if (/heap out of memory|Allocation failed/i.test(this.stderrTail) || signalName === 'SIGABRT' || code === 134) finish(memoryLimitOutcome(input.budget.maxHeapMb));
      else finish(failedOutcome(`the reader stopped (${signalName ?? `code ${code}`})`));
    };
    child.on('message', onMessage);
    child.once('error', onError);
    child.once('exit', onExit);
    this.hold(child, true);
    const request: ReaderRequest = { ...input, id };
    child.send(request);
    const pid = child.pid;
    return {
      release: (kept) => {
        child.off('message', onMessage);
        child.off('error', onError);
        child.off('exit', onExit);
        if (!kept || child !== this.child) {
          if (child === this.child) this.end();
          return;
        }
        void this.measure(child, pid);
        this.hold(child, false);
        this.idle = setTimeout(() => this.end(), idleMs);
        this.idle.unref();
      },
      rss: () => this.measure(child, pid),
    };
  }

  private stderrTail = '';
  /** The running reader's resident memory when last measured. */
  private lastRss: number | undefined;

  private async measure(child: ChildProcess, pid: number | undefined): Promise<number | undefined> {
    const rss = await processRss(pid);
    if (child === this.child) this.lastRss = rss;
    return rss;
  }

  private start(script: string, maxHeapMb: number, key: string): ChildProcess {
    const execArgv = [`--max-old-space-size=${maxHeapMb}`];
    if (script.endsWith('.ts')) execArgv.push('--require', createRequire(__filename).resolve('tsx/cjs'));
    const child = fork(script, [], {
      execArgv,
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.child = child;
    this.startedWith = key;
    this.documents = 0;
    this.stderrTail = '';
    this.lastRss = undefined;
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (child === this.child) this.stderrTail = (this.stderrTail + chunk).slice(-4096);
    });
    child.once('exit', () => {
      if (child === this.child) this.child = undefined;
    });
    // A failed spawn also reports 'error'; the document's own listener turns it into a skip.
    child.on('error', () => undefined);
    return child;
  }

  /** A busy reader keeps the host's event loop going; a waiting one does not. */
  private hold(child: ChildProcess, busy: boolean): void {
    if (busy) {
      child.ref();
      child.channel?.ref();
      (child.stderr as Socket | null)?.ref();
    } else {
      child.unref();
      child.channel?.unref();
      (child.stderr as Socket | null)?.unref();
    }
  }

  private end(): void {
    clearTimeout(this.idle);
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

const processReader = new ProcessReader();

/** Resident memory of a process, from /proc (Linux only). */
async function processRss(pid: number | undefined): Promise<number | undefined> {
  if (process.platform !== 'linux' || pid === undefined) return undefined;
  try {
    const pages = Number((await readFile(`/proc/${pid}/statm`, 'utf8')).split(' ')[1]);
    return Number.isFinite(pages) ? pages * 4096 : undefined;
  } catch {
    return undefined;
  }
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
    release: () => void worker.terminate(),
    // Process-wide: the growth since the start stands in for the thread's own memory.
    rss: () => Promise.resolve(Math.max(0, process.memoryUsage.rss() - rssAtStart)),
  };
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number.isInteger(ms / 1000) ? ms / 1000 : (ms / 1000).toFixed(1)} s`;
}
