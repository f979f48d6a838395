// The webview's side of the protocol: requests with ids, timeouts and validated results;
// notifications validated before they reach the app. A message that fails validation is dropped.
import {
  makeRequest,
  parseHostMessage,
  type AnyRequestType,
  type IncomingNotification,
  type ParamsOf,
  type ResultOf,
} from '../../shared/protocol';

export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export class RequestError extends Error {
  constructor(
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

interface Pending {
  type: AnyRequestType;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Requests that wait on a person (a confirmation dialog, a save dialog) get no timeout. */
const WAITS_ON_PERSON = new Set(['link/open', 'conversation/delete', 'conversation/export']);
const DEFAULT_TIMEOUT_MS = 30_000;

export class HostConnection {
  readonly api: VsCodeApi = acquireVsCodeApi();
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(n: IncomingNotification) => void>();

  constructor() {
    window.addEventListener('message', (event) => this.receive(event.data));
  }

  onNotification(listener: (n: IncomingNotification) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  request<T extends AnyRequestType>(type: T, params: ParamsOf<T>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ResultOf<T>> {
    const id = this.nextId++;
    return new Promise<ResultOf<T>>((resolve, reject) => {
      const timer = WAITS_ON_PERSON.has(type.method)
        ? undefined
        : setTimeout(() => {
            this.pending.delete(id);
            reject(new RequestError(`Persona did not answer "${type.method}" in time.`, 'timeout'));
          }, timeoutMs);
      this.pending.set(id, { type, resolve: resolve as (v: unknown) => void, reject, timer });
      this.api.postMessage(makeRequest(type, id, params));
    });
  }

  private receive(raw: unknown): void {
    const parsed = parseHostMessage(raw);
    if (!parsed.ok) {
      console.warn(`Persona: ignored a message from the host: ${parsed.error}`);
      return;
    }
    const message = parsed.value;
    if (message.kind === 'notification') {
      for (const l of this.listeners) l(message);
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (!message.ok) {
      pending.reject(new RequestError(message.error.message, message.error.reason));
      return;
    }
    const result = pending.type.result.safeParse(message.result);
    if (result.success) pending.resolve(result.data);
    else pending.reject(new RequestError(`The host's answer to ${pending.type.method} did not match the protocol.`, 'invalidMessage'));
  }
}
