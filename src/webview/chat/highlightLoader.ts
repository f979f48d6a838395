// Loads dist/highlight.js on demand, as a script carrying this page's CSP nonce.
import type { Highlighter } from './highlighter';

// Read while webview.js itself executes: `currentScript` is only set during that.
const self = document.currentScript as HTMLScriptElement | null;
const nonce = self?.nonce;
const highlightSrc = self?.src.replace(/webview\.js(?=$|[?#])/, 'highlight.js');

let requested = false;

export function loadHighlighter(onReady: (highlighter: Highlighter) => void): void {
  if (requested || !highlightSrc || !nonce) return;
  requested = true;
  window.addEventListener(
    'persona-highlighter-ready',
    () => {
      const h = (window as unknown as { personaHighlighter?: Highlighter }).personaHighlighter;
      if (h) onReady(h);
    },
    { once: true },
  );
  const script = document.createElement('script');
  script.nonce = nonce;
  script.src = highlightSrc;
  script.async = true;
  document.head.append(script);
}
