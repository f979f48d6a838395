// The builder webview's side of its protocol: requests with ids, timeouts and validated results.
// A message from the host that fails validation is dropped with a console line.
import { BuilderRequests, parseBuilderHostMessage, type AnyBuilderRequest, type BuilderNotifications, type BuilderParams, type BuilderResult } from '../../shared/builderProtocol';
import type { VsCodeApi } from '../common/hostConnection';

declare function acquireVsCodeApi(): VsCodeApi;

export class BuilderRequestError extends Error {
  constructor(
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'BuilderRequestError';
  }
}

interface Pending {
  type: AnyBuilderRequest;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export type StateNotification = BuilderParams<typeof BuilderNotifications.state>;

/** These wait on a person (a dialog, a file picker): no timeout. */
const WAITS_ON_PERSON = new Set<string>([BuilderRequests.discard.method, BuilderRequests.pickAvatar.method, BuilderRequests.snapshot.method, BuilderRequests.restore.method, BuilderRequests.save.method]);
const DEFAULT_TIMEOUT_MS = 30_000;

export class BuilderConnection {
  readonly api: VsCodeApi = acquireVsCodeApi();
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(params: StateNotification) => void>();

  constructor() {
    window.addEventListener('message', (event) => this.receive(event.data));
  }

  /** The persona changed outside the panel. */
  onState(listener: (params: StateNotification) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  request<T extends AnyBuilderRequest>(type: T, params: BuilderParams<T>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<BuilderResult<T>> {
    const id = this.nextId++;
    return new Promise<BuilderResult<T>>((resolve, reject) => {
      const timer = WAITS_ON_PERSON.has(type.method)
        ? undefined
        : setTimeout(() => {
            this.pending.delete(id);
            reject(new BuilderRequestError(`Persona did not answer "${type.method}" in time.`, 'timeout'));
          }, timeoutMs);
      this.pending.set(id, { type, resolve: resolve as (v: unknown) => void, reject, timer });
      this.api.postMessage({ id, method: type.method, params });
    });
  }

  private receive(raw: unknown): void {
    const parsed = parseBuilderHostMessage(raw);
    if (!parsed.ok) {
      console.warn(`Persona builder: ignored a message from the host: ${parsed.error}`);
      return;
    }
    const message = parsed.value;
    if (message.kind === 'notification') {
      for (const l of this.listeners) l(message.params);
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (!message.ok) {
      pending.reject(new BuilderRequestError(message.error.message, message.error.reason));
      return;
    }
    const result = pending.type.result.safeParse(message.result);
    if (result.success) pending.resolve(result.data);
    else pending.reject(new BuilderRequestError(`The host's answer to ${pending.type.method} did not match the protocol.`, 'invalidMessage'));
  }
}
