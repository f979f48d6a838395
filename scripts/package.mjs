// `npm run package` after the production build: puts LanceDB's native binary for one platform,
// stripped, beside dist/lancedb.js and writes persona.vsix for that platform (`vsce --target`).
// The binary is 161 MB as published and dominates the .vsix, so each .vsix carries one platform.
//
//   node scripts/package.mjs                      this machine's platform, e.g. linux-x64
//   node scripts/package.mjs --target linux-arm64 another one (its LanceDB package must be installed)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeFileName, packageTargets } from './lanceBundles.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(repoRoot, 'dist');
// --out FILE: somewhere else than persona.vsix (e.g. a build of one's own while tests use the other).
const outArg = process.argv.indexOf('--out');
const outFile = outArg >= 0 && process.argv[outArg + 1] ? resolve(process.argv[outArg + 1]) : join(repoRoot, 'persona.vsix');
const require = createRequire(join(repoRoot, 'package.json'));
/** LanceDB's main module: its platform packages are resolved from there, as its own loader does. */
const lancedbMain = require.resolve('@lancedb/lancedb');

class PackagingError extends Error {
  name = 'PackagingError';
}

function targetFromArgs() {
  const i = process.argv.indexOf('--target');
  const target = i >= 0 ? process.argv[i + 1] : `${process.platform}-${process.arch}`;
  if (!target || !(target in packageTargets)) {
    throw new PackagingError(
      `Cannot package for "${target}": Persona is packaged for ${Object.keys(packageTargets).join(', ')}. Pass one with --target.`,
    );
  }
  return target;
}

/** Where npm put LanceDB's binary for the triple, or an error that says why it is not there. */
function publishedBinary(target, lanceTriple) {
  try {
    // The platform package's main is the binary itself.
    return createRequire(lancedbMain).resolve(`@lancedb/lancedb-${lanceTriple}`);
  } catch {
    throw new PackagingError(
      `LanceDB's binary for ${target} (@lancedb/lancedb-${lanceTriple}) is not in node_modules: npm installs only the build for the machine it runs on. Package for ${target} on a ${target} machine.`,
    );
  }
}

function run(command, args, what) {
  const result = spawnSync(command, args, { cwd: repoRoot, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  if (result.error?.code === 'ENOENT') return { missing: true };
  if (result.status !== 0) {
    throw new PackagingError(`${what} failed (${command} exited with ${result.status ?? result.signal}): ${result.stderr.trim()}`);
  }
  return { missing: false };
}

/**
 * Copies the binary into dist/, without its symbol table on Linux (161 → 141 MB; the stripped copy
 * loads and queries the same). Written under a temporary name and renamed, so that an extension
 * host running from dist/ never sees half a file.
 */
function stageBinary(target, { lanceTriple, elf }, source) {
  const dest = join(dist, nativeFileName(lanceTriple));
  const partial = `${dest}.partial`;
  if (elf) {
    const strip = process.env.STRIP ?? 'strip';
    let missing;
    try {
      ({ missing } = run(strip, ['--strip-unneeded', '-o', partial, source], `Stripping ${relative(repoRoot, source)}`));
    } catch (e) {
      rmSync(partial, { force: true });
      throw e;
    }
    if (missing) {
      throw new PackagingError(
        `"${strip}" was not found: packaging for Linux strips LanceDB's binary with GNU binutils. Install it (Debian/Ubuntu: sudo apt-get install binutils), or set STRIP to a strip for ${target}.`,
      );
    }
  } else {
    // The macOS and Windows builds are shipped as published: `strip` here cannot read their formats.
    copyFileSync(source, partial);
  }
  renameSync(partial, dest);
  return dest;
}

function main() {
  const target = targetFromArgs();
  const spec = packageTargets[target];
  for (const bundle of ['extension.js', 'lancedb.js', 'arrow.js']) {
    if (!existsSync(join(dist, bundle))) {
      throw new PackagingError(`dist/${bundle} is missing: build first (node esbuild.mjs --production), or run npm run package.`);
    }
  }
  // Before anything in dist/ changes: a target that cannot be packaged leaves it as it was.
  const source = spec.lanceTriple ? publishedBinary(target, spec.lanceTriple) : undefined;
  // Only the target's binary may be in dist/: .vscodeignore lets every dist/lancedb.*.node through.
  const keep = spec.lanceTriple ? nativeFileName(spec.lanceTriple) : undefined;
  for (const name of readdirSync(dist)) {
    if (/^lancedb\..*\.node(\.partial)?$/.test(name) && name !== keep) rmSync(join(dist, name), { force: true });
  }
  if (source) {
    const binary = stageBinary(target, spec, source);
    console.log(`package: ${relative(repoRoot, binary)} (${(statSync(binary).size / 1e6).toFixed(1)} MB) for ${target}`);
  } else {
    console.warn(`package: WARNING: LanceDB publishes no build for ${target}; this .vsix has no memory (chat works).`);
  }
  stageNotices();
  const vsce = join(dirname(require.resolve('@vscode/vsce/package.json')), 'vsce');
  run(process.execPath, [vsce, 'package', '--no-dependencies', '--no-rewrite-relative-links', '--target', target, '--out', outFile], 'vsce package');
  console.log(`package: ${relative(process.cwd(), outFile)} for ${target} (${(statSync(outFile).size / 1e6).toFixed(1)} MB)`);
}

/** LanceDB's and Arrow's license texts: their code is bundled into dist/ without its comments. */
function stageNotices() {
  const dir = join(dist, 'licenses');
  mkdirSync(dir, { recursive: true });
  const lancedb = dirname(dirname(lancedbMain));
  const arrow = dirname(require.resolve('apache-arrow'));
  const notices = {
    'lancedb-NODEJS_THIRD_PARTY_LICENSES.md': join(lancedb, 'NODEJS_THIRD_PARTY_LICENSES.md'),
    'lancedb-RUST_THIRD_PARTY_LICENSES.html': join(lancedb, 'RUST_THIRD_PARTY_LICENSES.html'),
    'apache-arrow-LICENSE.txt': join(arrow, 'LICENSE.txt'),
    'apache-arrow-NOTICE.txt': join(arrow, 'NOTICE.txt'),
  };
  for (const [name, source] of Object.entries(notices)) copyFileSync(source, join(dir, name));
}

try {
  main();
} catch (e) {
  console.error(e instanceof PackagingError ? `package: ${e.message}` : e);
  process.exit(1);
}
