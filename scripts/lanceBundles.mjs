// How LanceDB gets into the extension without a node_modules folder (used by esbuild.mjs,
// scripts/package.mjs and the packaging tests).
//
// Its JS and Apache Arrow's are bundled as two files of their own, dist/lancedb.js and
// dist/arrow.js, beside dist/extension.js: the extension requires them on first use of memory, so
// activation never reads them. Every `require('@lancedb/lancedb')` / `require('apache-arrow')` (ours
// and LanceDB's) becomes a require of those files, so there is exactly one Arrow in the process:
// LanceDB tells Arrow tables and schemas apart with `instanceof`.
//
// The native binary is not bundled. napi-rs's loader in dist/lancedb.js first tries
// `./lancedb.<triple>.node` beside itself — where scripts/package.mjs puts the stripped copy for the
// target platform — and then the `@lancedb/lancedb-<triple>` package, which in a development build
// resolves to node_modules.

/** esbuild entry points of the two bundles (output names without `.js`). */
export const lanceEntryPoints = { lancedb: '@lancedb/lancedb', arrow: 'apache-arrow' };

const bundleFor = { '@lancedb/lancedb': './lancedb.js', 'apache-arrow': './arrow.js' };

/** @type {import('esbuild').Plugin} */
export const lanceResolvePlugin = {
  name: 'lance-bundles',
  setup(build) {
    build.onResolve({ filter: /^(@lancedb\/lancedb|apache-arrow)$/ }, (args) =>
      args.kind === 'entry-point' ? undefined : { path: bundleFor[args.path], external: true },
    );
    // A subpath would be bundled on its own: a second Arrow whose classes LanceDB does not accept.
    build.onResolve({ filter: /^(@lancedb\/lancedb|apache-arrow)\// }, (args) => ({
      errors: [{ text: `Import "@lancedb/lancedb" or "apache-arrow" themselves, not "${args.path}": a subpath would be bundled as a second copy.` }],
    }));
    build.onResolve({ filter: /\.node$|^@lancedb\/lancedb-/ }, (args) => ({ path: args.path, external: true }));
  },
};

/**
 * The VS Code targets Persona is packaged for, with LanceDB's name for the same platform (the
 * `<triple>` in `@lancedb/lancedb-<triple>/lancedb.<triple>.node`). LanceDB 0.31 publishes no Intel
 * macOS build: that package has no memory, and says so when memory is first used.
 * @type {Record<string, { lanceTriple: string | undefined; elf: boolean }>}
 */
export const packageTargets = {
  'linux-x64': { lanceTriple: 'linux-x64-gnu', elf: true },
  'linux-arm64': { lanceTriple: 'linux-arm64-gnu', elf: true },
  'darwin-arm64': { lanceTriple: 'darwin-arm64', elf: false },
  'darwin-x64': { lanceTriple: undefined, elf: false },
  'win32-x64': { lanceTriple: 'win32-x64-msvc', elf: false },
};

/** File name of LanceDB's native binary for a triple, as napi-rs's loader looks for it. */
export function nativeFileName(lanceTriple) {
  return `lancedb.${lanceTriple}.node`;
}
