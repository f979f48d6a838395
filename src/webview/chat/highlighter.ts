// Syntax highlighting with highlight.js, built as its own bundle (dist/highlight.js) that the
// webview loads the first time a reply contains a code block: the grammars would otherwise be a
// third of the webview's start-up bundle.
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import csharp from 'highlight.js/lib/languages/csharp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import plaintext from 'highlight.js/lib/languages/plaintext';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';

export interface Highlighter {
  supports(language: string): boolean;
  /** highlight.js's HTML (spans with `hljs-*` classes); it is sanitized with the rest of the reply. */
  highlight(code: string, language: string): string | undefined;
}

const LANGUAGES = { bash, c, cpp, csharp, css, diff, go, java, javascript, json, markdown, plaintext, python, rust, sql, typescript, xml, yaml };
const ALIASES: Record<string, string[]> = {
  javascript: ['js', 'jsx', 'mjs', 'cjs'],
  typescript: ['ts', 'tsx', 'mts', 'cts'],
  json: ['jsonc', 'json5'],
  bash: ['shell', 'console', 'shellsession', 'zsh'],
};

let registered = false;

export function createHighlighter(): Highlighter {
  if (!registered) {
    for (const [name, grammar] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, grammar);
    for (const [name, aliases] of Object.entries(ALIASES)) hljs.registerAliases(aliases, { languageName: name });
    registered = true;
  }
  return {
    supports: (language) => hljs.getLanguage(language) !== undefined,
    highlight(code, language) {
      try {
        return hljs.highlight(code, { language, ignoreIllegals: true }).value;
      } catch {
        return undefined;
      }
    },
  };
}
