// Builds the two bundles: the extension host (CommonJS on Node, `vscode` external) and the
// webview (browser IIFE with Preact). esbuild does not type-check: run `npm run typecheck`.
import * as esbuild from 'esbuild';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { lanceEntryPoints, lanceResolvePlugin } from './scripts/lanceBundles.mjs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/** Prints errors in the form VS Code's `$esbuild-watch` problem matcher reads. */
const problemMatcher = {
  name: 'problem-matcher',
  setup(build) {
    build.onStart(() => console.log('[watch] build started'));
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
      console.log('[watch] build finished');
    });
  },
};

const common = {
  bundle: true,
  minify: production,
  sourcemap: production ? false : 'linked',
  sourcesContent: false,
  logLevel: 'warning',
  legalComments: 'none',
  plugins: watch ? [problemMatcher] : [],
};

/**
 * gpt-tokenizer's tables stay out of dist/extension.js: every import of src/util/tokenizer/tables gets
 * the stand-in that requires dist/tokenizer.js on first use; that bundle is tables.ts itself.
 */
const lazyTokenizerPlugin = {
  name: 'lazy-tokenizer',
  setup(build) {
    build.onResolve({ filter: /\/tokenizer\/tables$|^\.\/tables$/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      return { path: resolve('src/util/tokenizer/lazyTables.ts') };
    });
  },
};

const extensionOptions = {
  ...common,
  // dist/documentWorker.js reads PDF, Word, HTML and notebooks in a worker thread or child process
  // started by src/rag/documents/extractDocument.ts: PDF.js and mammoth never enter extension.js.
  entryPoints: { extension: 'src/extension/main.ts', tokenizer: 'src/util/tokenizer/tables.ts', documentWorker: 'src/rag/documents/extractWorker.ts', ...lanceEntryPoints },
  outdir: 'dist',
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // `vscode` is provided by the host. LanceDB and Arrow are bundles of their own, loaded on first
  // use of memory, and LanceDB's native binary sits beside them: see scripts/lanceBundles.mjs.
  external: ['vscode'],
  mainFields: ['module', 'main'],
  plugins: [...common.plugins, lanceResolvePlugin, lazyTokenizerPlugin],
};

const webviewOptions = {
  ...common,
  entryPoints: { webview: 'src/webview/chat/main.tsx', highlight: 'src/webview/chat/highlightBundle.ts', builder: 'src/webview/builder/main.tsx', compare: 'src/webview/compare/main.tsx', memory: 'src/webview/memory/main.tsx' },
  outdir: 'dist',
  platform: 'browser',
  format: 'iife',
  target: ['chrome120'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  loader: { '.css': 'css' },
  define: { 'process.env.NODE_ENV': production ? '"production"' : '"development"' },
};

async function main() {
  await mkdir('dist', { recursive: true });
  if (watch) {
    const contexts = await Promise.all([esbuild.context(extensionOptions), esbuild.context(webviewOptions)]);
    await Promise.all(contexts.map((c) => c.watch()));
    return;
  }
  const results = await Promise.all([esbuild.build({ ...extensionOptions, metafile: true }), esbuild.build({ ...webviewOptions, metafile: true })]);
  if (process.argv.includes('--sizes')) {
    for (const r of results) {
      for (const [file, info] of Object.entries(r.metafile.outputs)) console.log(`${file}\t${info.bytes}`);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
