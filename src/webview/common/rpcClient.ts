// The webview's side of a view's protocol (see shared/rpc.ts), the same for every view: requests with
// ids, each waiting as its declaration says, results validated against their schema; notifications
// validated before they reach the app. A message that fails validation is dropped with a console line.
import {
  makeRequest,
  type IncomingNotificationOf,
  type NotificationTypes,
  type ParamsOf,
  type Protocol,
  type RequestType,
  type RequestTypes,
  type ResultOf,
} from '../../shared/rpc';

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

  static is(e: unknown, reason?: string): e is RequestError {
    return e instanceof RequestError && (reason === undefined || e.reason === reason);
  }
}

interface Pending {
  type: RequestType;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class RpcClient<R extends RequestTypes, N extends NotificationTypes> {
  readonly api: VsCodeApi = acquireVsCodeApi();
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(n: IncomingNotificationOf<N>) => void>();

  constructor(private readonly protocol: Protocol<R, N>) {
    window.addEventListener('message', (event) => this.receive(event.data));
  }

  onNotification(listener: (n: IncomingNotificationOf<N>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  request<T extends R[keyof R]>(type: T, params: ParamsOf<T>): Promise<ResultOf<T>> {
    const id = this.nextId++;
    return new Promise<ResultOf<T>>((resolve, reject) => {
      const wait = type.wait;
      const timer =
        'timeoutMs' in wait
          ? setTimeout(() => {
              this.pending.delete(id);
              reject(new RequestError(`Persona did not answer "${type.method}" in time.`, 'timeout'));
            }, wait.timeoutMs)
          : undefined;
      this.pending.set(id, { type, resolve: resolve as (v: unknown) => void, reject, timer });
      this.api.postMessage(makeRequest(type, id, params));
    });
  }

  private receive(raw: unknown): void {
    const parsed = this.protocol.parseHostMessage(raw);
    if (!parsed.ok) {
      console.warn(`Persona: ignored a message from the host: ${parsed.error}`);
      return;
    }
    const message = parsed.value;
    if (message.kind === 'notification') {
      const { kind: _kind, ...notification } = message;
      for (const l of this.listeners) l(notification as IncomingNotificationOf<N>);
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
