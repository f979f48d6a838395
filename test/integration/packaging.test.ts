// persona.vsix as `npm run package` leaves it (scripts/test.sh packages before running the tests):
// it carries LanceDB for this machine's platform and nothing it does not need, and the LanceDB it
// carries runs, from the unpacked package, with no node_modules anywhere above it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { unzipSync } from 'fflate';

const repoRoot = resolve(__dirname, '../..');
// PERSONA_VSIX: check another .vsix (a copy set aside, or one built for the check itself).
const vsixPath = resolve(process.env.PERSONA_VSIX ?? join(repoRoot, 'persona.vsix'));
const target = `${process.platform}-${process.arch}`;
const MB = 1e6;

interface LanceBundles {
  lanceResolvePlugin: Plugin;
  packageTargets: Record<string, { lanceTriple: string | undefined; elf: boolean }>;
  nativeFileName(lanceTriple: string): string;
}

interface Entry {
  compressed: number;
  size: number;
}

let bundles: LanceBundles;
let entries: Map<string, Entry>;
let files: Record<string, Uint8Array>;
let vsixBytes: number;
let binaryEntry: string | undefined;
const scratch = mkdtempSync(join(tmpdir(), 'persona-packaging-'));

before(async () => {
  bundles = (await import(pathToFileURL(join(repoRoot, 'scripts', 'lanceBundles.mjs')).href)) as LanceBundles;
  assert.ok(existsSync(vsixPath), `${vsixPath} is missing: run \`npm run package\` first`);
  const zip = readFileSync(vsixPath);
  vsixBytes = zip.length;
  entries = new Map();
  files = unzipSync(zip, {
    filter: (f) => {
      entries.set(f.name, { compressed: f.size, size: f.originalSize });
      return true;
    },
  });
  const triple = bundles.packageTargets[target]?.lanceTriple;
  binaryEntry = triple ? `extension/dist/${bundles.nativeFileName(triple)}` : undefined;
});
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Section names of an ELF64 little-endian file, read from its section header table. */
function elfSectionNames(elf: Uint8Array): string[] {
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  assert.equal(view.getUint32(0), 0x7f454c46, 'not an ELF file');
  assert.equal(elf[4], 2, 'not a 64-bit ELF file');
  assert.equal(elf[5], 1, 'not a little-endian ELF file');
  const shoff = Number(view.getBigUint64(0x28, true));
  const shentsize = view.getUint16(0x3a, true);
  const shnum = view.getUint16(0x3c, true);
  const shstrndx = view.getUint16(0x3e, true);
  const header = (i: number) => shoff + i * shentsize;
  const strtab = Number(view.getBigUint64(header(shstrndx) + 0x18, true));
  const names: string[] = [];
  for (let i = 0; i < shnum; i++) {
    const start = strtab + view.getUint32(header(i), true);
    const end = elf.indexOf(0, start);
    names.push(Buffer.from(elf.subarray(start, end)).toString('latin1'));
  }
  return names;
}

const debugSection = (name: string) => name === '.symtab' || name === '.strtab' || name.startsWith('.debug') || name.startsWith('.zdebug');

describe('persona.vsix contents', () => {
  it(`is packaged for this machine's platform (${target})`, () => {
    const manifest = Buffer.from(files['extension.vsixmanifest'] ?? new Uint8Array()).toString('utf8');
    assert.match(manifest, new RegExp(`TargetPlatform="${target}"`), 'the .vsix must name its target platform (vsce --target)');
  });

  it("carries LanceDB's binary for the target and no other native file", () => {
    const native = [...entries.keys()].filter((n) => /\.(node|so|dll|dylib)$/.test(n));
    assert.deepEqual(native, binaryEntry ? [binaryEntry] : []);
  });

  it('the binary has no symbol table or debug sections', (t) => {
    if (!binaryEntry || !bundles.packageTargets[target]?.elf) return t.skip(`${target}'s binary is not ELF: shipped as published`);
    const packaged = elfSectionNames(files[binaryEntry]!);
    // The reading is right: the sections it must keep are found.
    for (const kept of ['.text', '.dynsym', '.dynstr']) assert.ok(packaged.includes(kept), `${kept} missing: ${packaged.join(' ')}`);
    assert.deepEqual(packaged.filter(debugSection), []);
    // And it can tell: the binary as npm installed it has them.
    const published = readFileSync(require.resolve(`@lancedb/lancedb-${bundles.packageTargets[target]!.lanceTriple}`, { paths: [dirname(require.resolve('@lancedb/lancedb'))] }));
    assert.ok(elfSectionNames(published).filter(debugSection).length > 0, 'the published binary was expected to carry .symtab');
  });

  it('has nothing of the sources, tests, source maps, node_modules or build tooling', () => {
    const stray = [...entries.keys()].filter(
      (n) =>
        /\.(map|tsx?|mjs|mts|cts)$/.test(n) ||
        /(^|\/)(src|test|tests|bench|scripts|node_modules|\.e2e|test-results|\.git)\//.test(n) ||
        /(^|\/)(tsconfig\.json|package-lock\.json|esbuild\.mjs|\.vscodeignore|\.gitignore)$/.test(n),
    );
    assert.deepEqual(stray, []);
    // Everything under extension/ is one of the kinds the package is meant to hold.
    const allowed = /^extension\/(dist\/[\w.-]+\.js|dist\/lancedb\.[\w-]+\.node|dist\/licenses\/[\w.-]+|media\/.+|characters\/[\w.-]+\.json|package\.json|readme\.md|changelog\.md|LICENSE\.txt|docs\/screenshot\.png)$/;
    assert.deepEqual([...entries.keys()].filter((n) => n.startsWith('extension/') && !allowed.test(n)), []);
  });

  it('stays within its size budget', () => {
    // REFERENCE.md: LanceDB 0.31.0's linux-x64 binary is 161 MB as published, 141 MB stripped (56 MB
    // compressed). 150 MB catches an unstripped binary; everything of ours is ~3 MB compressed
    // today, 8 MB leaves room to grow but catches a stray dependency or a second copy of Arrow.
    const binary = binaryEntry ? entries.get(binaryEntry) : undefined;
    if (binaryEntry) {
      assert.ok(binary, `${binaryEntry} missing`);
      assert.ok(binary.size <= 150 * MB, `the binary is ${(binary.size / MB).toFixed(1)} MB: is it stripped?`);
    }
    const ours = [...entries.entries()].filter(([n]) => n !== binaryEntry).reduce((sum, [, e]) => sum + e.compressed, 0);
    assert.ok(ours <= 8 * MB, `everything but the binary takes ${(ours / MB).toFixed(1)} MB compressed`);
    assert.ok(vsixBytes <= (binary ? 66 : 10) * MB, `persona.vsix is ${(vsixBytes / MB).toFixed(1)} MB`);
  });

  it('keeps LanceDB out of activation: dist/extension.js is small and loads neither LanceDB nor Arrow', () => {
    const extension = files['extension/dist/extension.js'];
    assert.ok(extension, 'extension/dist/extension.js missing');
    assert.ok(extension.length < 1 * MB, `dist/extension.js is ${(extension.length / MB).toFixed(2)} MB`);
    const text = Buffer.from(extension).toString('utf8');
    // Their code is in the bundles of their own, not here.
    assert.doesNotMatch(text, /NAPI_RS_NATIVE_LIBRARY_PATH|RecordBatchStreamWriter/);
    // Loading the module (what VS Code does before activate) must not require them: only a
    // top-level import would, and that is the mistake to catch.
    const dir = join(scratch, 'activation');
    unpack(dir);
    const probe = join(scratch, 'loadExtension.js');
    writeFileSync(
      probe,
      [
        "const Module = require('module');",
        'const stub = new Proxy(function () {}, { get: () => stub, apply: () => stub, construct: () => stub });',
        'const load = Module._load;',
        "Module._load = function (request) { return request === 'vscode' ? stub : load.apply(this, arguments); };",
        'const extension = require(process.argv[2]);',
        'process.stdout.write(JSON.stringify({ exports: Object.keys(extension), loaded: Object.keys(require.cache) }));',
      ].join('\n'),
    );
    const run = spawnSync(process.execPath, [probe, join(dir, 'extension', 'dist', 'extension.js')], { cwd: scratch, encoding: 'utf8', env: childEnv() });
    assert.equal(run.status, 0, run.stderr);
    const { exports, loaded } = JSON.parse(run.stdout) as { exports: string[]; loaded: string[] };
    assert.ok(exports.includes('activate'), `dist/extension.js exports ${exports.join(', ')}`);
    assert.deepEqual(loaded.map((f) => relative(scratch, f)).sort(), [join('activation', 'extension', 'dist', 'extension.js'), 'loadExtension.js']);
  });
});

/** Writes the package's extension/ folder under `dir`, as VS Code installs it. */
function unpack(dir: string): void {
  for (const [name, data] of Object.entries(files)) {
    if (!name.startsWith('extension/') || name.endsWith('/')) continue;
    const path = join(dir, ...name.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
  }
}

/** The child's environment: nothing that could point module resolution at the repository. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_PATH;
  delete env.NODE_OPTIONS;
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH;
  return env;
}

describe("the packaged LanceDB runs from the unpacked .vsix (LanceDB's CPU needs permitting)", () => {
  it('MemoryStore stores, indexes, searches and forgets with the packaged LanceDB and Arrow only', async (t) => {
    if (!binaryEntry) return t.skip(`no LanceDB in the ${target} package`);
    const root = join(scratch, 'installed');
    unpack(root);
    const dist = join(root, 'extension', 'dist');
    // The probe goes through the same resolution as the extension's own code: @lancedb/lancedb and
    // apache-arrow become the package's dist/lancedb.js and dist/arrow.js.
    await build({
      entryPoints: [join(repoRoot, 'test', 'support', 'packagedMemoryProbe.ts')],
      outfile: join(dist, 'packagedMemoryProbe.js'),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      mainFields: ['module', 'main'],
      external: ['vscode'],
      plugins: [bundles.lanceResolvePlugin],
      logLevel: 'error',
    });
    const db = join(scratch, 'db');
    const run = spawnSync(process.execPath, [join(dist, 'packagedMemoryProbe.js'), db], { cwd: scratch, encoding: 'utf8', env: childEnv(), timeout: 120_000 });
    assert.equal(run.status, 0, `the probe failed (${run.signal ?? run.status}):\n${run.stderr}`);
    const result = JSON.parse(run.stdout) as {
      built: string[];
      byVector: string[];
      byText: string[];
      forgotChunks: number;
      afterForget: string[];
      loaded: string[];
    };
    assert.deepEqual(result.built, ['fts']);
    assert.deepEqual(result.byVector, ['notes/beta.md#1:vector']);
    assert.match(result.byText[0] ?? '', /^notes\/alpha\.md#1:(text|both)$/, `text search found ${result.byText.join(', ')}`);
    assert.equal(result.forgotChunks, 2);
    assert.deepEqual(result.afterForget.filter((h) => h.startsWith('notes/alpha.md')), []);
    assert.ok(result.afterForget.length > 0, 'the other document must still be found');
    // LanceDB, its binary and Arrow came from the package, and nothing from any node_modules.
    const loaded = result.loaded.map((f) => relative(dist, f));
    for (const file of ['lancedb.js', 'arrow.js', binaryEntry.split('/').pop()!]) assert.ok(loaded.includes(file), `${file} not loaded: ${loaded.join(', ')}`);
    assert.deepEqual(
      result.loaded.filter((f) => !f.startsWith(dist + sep) || f.includes(`${sep}node_modules${sep}`)),
      [],
    );
    assert.ok(statSync(db).isDirectory());
  });
});
