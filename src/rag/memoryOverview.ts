// What the chat view and the status bar show of a workspace's memory: which files each knowledge
// base holds, the indexing queue's progress and whether memory can run. It is answered from what
// is held here and never waits on LanceDB: the view's first state must not wait for a store that
// is opening, indexing or forgetting. Until memory has been looked at, the status says 'checking';
// the real one follows through onDidChange.
import type { Logger } from '../util/logger';
import type { MemoryStatus } from '../shared/chatProtocol';
import type { IndexingProgress } from './indexingQueue';
import type { MemoryServiceStatus } from './memoryService';

/** What the overview reads from the memory service (MemoryService has it). */
export interface OverviewSource {
  status(): MemoryServiceStatus;
  progress(): IndexingProgress;
  listDocuments(): Promise<readonly { source: string; kb: string }[]>;
  onDidChange(listener: () => void): { dispose(): void };
}

/** While indexing, the list of documents is read again at most this often (it scans the table). */
const LIST_INTERVAL_MS = 1000;

export class MemoryOverview {
  private source: OverviewSource | undefined;
  private subscription: { dispose(): void } | undefined;
  private serviceStatus: MemoryServiceStatus | undefined;
  private currentProgress: IndexingProgress | undefined;
  /** Sources in memory, each with the knowledge bases that hold it; undefined until looked at. */
  private documents: Map<string, string[]> | undefined;
  /** Why memory could not be opened at all. */
  private failure: string | undefined;
  private lastState: string | undefined;
  private listTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly logger: Logger) {}

  onDidChange(listener: () => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }

  /** Nothing was ever stored: memory is empty, and LanceDB need not load to say so. */
  markEmpty(): void {
    if (this.documents) return;
    this.documents = new Map();
    this.emit();
  }

  /** Memory could not be opened; the view says why instead of 'checking' for ever. */
  markFailed(reason: string): void {
    this.failure = reason;
    this.emit();
  }

  /** Follows the service from now on; the documents are read in the background. */
  attach(source: OverviewSource): void {
    this.subscription?.dispose();
    this.source = source;
    this.failure = undefined;
    this.subscription = source.onDidChange(() => this.onSourceChange());
  }

  /**
   * Progress is cheap and goes out at once; the list of documents is read again when the state
   * changes, and at most once a second while indexing.
   */
  private onSourceChange(): void {
    const source = this.source;
    if (!source) return;
    this.serviceStatus = source.status();
    this.currentProgress = source.progress();
    const state = `${this.serviceStatus.state}|${this.currentProgress.state}`;
    const changedState = state !== this.lastState;
    this.lastState = state;
    this.emit();
    if (changedState) void this.refresh();
    else this.listTimer ??= setTimeout(() => void this.refresh(), LIST_INTERVAL_MS);
  }

  /** Reads the documents again (after a forget, or when the view first asks). */
  async refresh(): Promise<void> {
    clearTimeout(this.listTimer);
    this.listTimer = undefined;
    const source = this.source;
    if (!source) return;
    this.serviceStatus = source.status();
    this.currentProgress = source.progress();
    try {
      if (this.serviceStatus.state !== 'unavailable' && this.serviceStatus.state !== 'disposed') {
        const documents = new Map<string, string[]>();
        for (const d of await source.listDocuments()) documents.set(d.source, [...(documents.get(d.source) ?? []), d.kb]);
        this.documents = documents;
      }
    } catch (e) {
      this.logger.warn(`Could not list the documents in memory: ${(e as Error).message}`);
      // Listing can fail because memory cannot open; say so rather than 'checking' for ever.
      if (!this.documents) this.failure = (e as Error).message;
    }
    // What the listing awaited may have changed the status (memory opened, or turned out unavailable).
    this.serviceStatus = source.status();
    this.emit();
  }

  /** Sources in memory and the knowledge bases holding each; undefined until memory was looked at. */
  sources(): ReadonlyMap<string, readonly string[]> | undefined {
    return this.documents;
  }

  progress(): IndexingProgress | undefined {
    return this.currentProgress;
  }

  /** The line the view shows, counting the files in the knowledge bases `inScope`. */
  status(inScope: readonly string[]): MemoryStatus {
    const s = this.serviceStatus;
    if (s?.state === 'unavailable') return { status: 'unavailable', message: `Memory is off: ${s.reason}` };
    if (this.failure !== undefined && !this.documents) return { status: 'unavailable', message: `Memory could not open: ${this.failure}` };
    if (!this.documents) return { status: 'checking' };
    const documents = [...this.documents.values()].filter((kbs) => kbs.some((kb) => inScope.includes(kb))).length;
    const p = this.currentProgress;
    if (p?.state === 'running' || p?.state === 'elsewhere') {
      return { status: 'indexing', documents, message: p.state === 'elsewhere' ? 'Another window is adding files to memory.' : `Adding to memory: ${p.done} of ${p.total}…` };
    }
    if (p?.state === 'paused') return { status: 'paused', documents, message: `Memory paused: ${p.pausedReason ?? 'it will try again.'}` };
    return documents === 0 ? { status: 'empty', documents } : { status: 'ready', documents };
  }

  dispose(): void {
    clearTimeout(this.listTimer);
    this.subscription?.dispose();
    this.listeners.clear();
  }
}
