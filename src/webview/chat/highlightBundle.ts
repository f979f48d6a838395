// Entry of dist/highlight.js: hands the highlighter to the webview, which loaded this script.
import { createHighlighter } from './highlighter';

(window as unknown as { personaHighlighter?: unknown }).personaHighlighter = createHighlighter();
window.dispatchEvent(new Event('persona-highlighter-ready'));
