// A webview component, Preact and its act() from one bundle built as the webview's is (JSX for
// Preact: the tests' own TypeScript setup compiles JSX for React), so they share one Preact.
import { join } from 'node:path';
import { buildSync } from 'esbuild';

export interface PreactKit {
  createElement: typeof import('preact').createElement;
  render: typeof import('preact').render;
  act: typeof import('preact/test-utils').act;
}

/** Loads `name` exported by `source` (a path from the repository root, without extension) with Preact beside it. */
export function loadComponent<T>(source: string, name: string): PreactKit & Record<string, T> {
  const out = buildSync({
    stdin: {
      contents: `export { ${name} } from './${source}'; export { createElement, render } from 'preact'; export { act } from 'preact/test-utils';`,
      resolveDir: join(__dirname, '../..'),
      loader: 'ts',
    },
    bundle: true,
    write: false,
    format: 'cjs',
    platform: 'node',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    logLevel: 'silent',
  });
  const module = { exports: {} as Record<string, unknown> };
  new Function('module', 'exports', 'require', out.outputFiles[0]!.text)(module, module.exports, require);
  return module.exports as PreactKit & Record<string, T>;
}
