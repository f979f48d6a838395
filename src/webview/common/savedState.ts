// What a webview keeps across being hidden (VS Code's getState/setState), read back through its
// schema: the saved value is whatever an older build wrote, or nothing.
import type * as z from 'zod/mini';
import type { VsCodeApi } from './rpcClient';

export interface SavedState<S extends object> {
  /** The saved value, or {} when there is none or it does not match the schema. */
  read(): Partial<S>;
  /** Changes some fields, keeping the others. */
  write(patch: Partial<S>): void;
}

export function savedState<S extends object>(api: VsCodeApi, schema: z.ZodMiniType<Partial<S>>): SavedState<S> {
  const read = (): Partial<S> => {
    const parsed = schema.safeParse(api.getState());
    return parsed.success ? parsed.data : {};
  };
  return { read, write: (patch) => api.setState({ ...read(), ...patch }) };
}
