// Re-renders a component when a store changes, without missing a change that happens before the
// component has subscribed. Preact runs `useEffect` after the next paint (up to 100 ms later, or
// never while the frame is not painted): an answer from the host that arrives in that gap was
// stored but never rendered, and the chat view stayed on "Loading Persona…" for good.
import { useLayoutEffect, useReducer } from 'preact/hooks';

/** A store that counts its changes and tells subscribers about them. */
export interface Store {
  /** Goes up by at least one on every change. */
  readonly version: number;
  subscribe(listener: () => void): () => void;
}

export function useStore(store: Store): void {
  const [, rerender] = useReducer((n: number, _change: void) => n + 1, 0);
  const renderedVersion = store.version;
  useLayoutEffect(() => {
    const unsubscribe = store.subscribe(() => rerender());
    // Changed between this render and the subscription: render again now.
    if (store.version !== renderedVersion) rerender();
    return unsubscribe;
    // The version seen at the render before subscribing is the one to compare with.
  }, [store]);
}
