// A keydown listener on the document that is there from the render that shows the component: a key
// pressed before the next paint is not missed (useEffect runs after it, which lost an Escape pressed
// right after the conversation list opened), and the handler is always the latest render's (a
// Ctrl+S right after typing saves what was typed, not the form of the render before).
import { useLayoutEffect, useRef } from 'preact/hooks';

export function useKeydown(handler: (e: KeyboardEvent) => void): void {
  const latest = useRef(handler);
  latest.current = handler;
  useLayoutEffect(() => {
    const onKey = (e: KeyboardEvent) => latest.current(e);
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
}
