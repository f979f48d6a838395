// The file scanner on real trees in temp folders. Git's ignore rules are checked against git itself
// (`git ls-files --others --exclude-standard` on the same tree), fixed cases and seeded random ones;
// "not descended" and "read only 8 KB" are checked by watching the real fs calls.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, afterEach, describe, it, mock } from 'node:test';
import { describeSkipped, FileScanError, formatBytes, globToRegExp, rebaseGitignore, scanPaths, type ScanOptions, type ScanResult } from '../../src/rag/fileScanner';
import { prng } from '../support/prng';

// The module's own fs object, so the spies see the scanner's calls (not a copy of the bindings).
const fsp: typeof import('node:fs/promises') = require('node:fs/promises');
const fsc: typeof import('node:fs') = require('node:fs');

const temp = mkdtempSync(join(tmpdir(), 'persona-scan-'));
after(() => {
  // chmod 000 leftovers would stop rm as a normal user.
  try {
    execFileSync('chmod', ['-R', 'u+rwx', temp]);
  } catch {
    // nothing to restore
  }
  rmSync(temp, { recursive: true, force: true });
});
afterEach(() => mock.restoreAll());

const isRoot = process.getuid?.() === 0;
let trees = 0;

/** Writes `files` (path → content) under a fresh folder and returns it. */
function tree(files: Record<string, string | Buffer>): string {
  const dir = join(temp, `t${++trees}`);
  mkdirSync(dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

function options(root: string, extra: Partial<ScanOptions> = {}): ScanOptions {
  return { root, exclude: [], maxFileBytes: 1024 * 1024, ...extra };
}

const rels = (r: ScanResult) => r.files.map((f) => f.relPath);
const skippedAs = (r: ScanResult) => Object.fromEntries(r.skipped.map((s) => [s.relPath, `${s.reason}/${s.kind}`]));

/** What git itself says is untracked and not ignored, relative to `dir`, sorted as the scanner sorts. */
function gitUntracked(dir: string, cwd = dir): string[] {
  const out = execFileSync('git', ['-c', 'core.excludesFile=', 'ls-files', '--others', '--exclude-standard', '-z'], {
    cwd,
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: temp, GIT_CONFIG_GLOBAL: '/dev/null' },
  }).toString('utf8');
  return out
    .split('\0')
    .filter(Boolean)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function gitInit(dir: string): void {
  execFileSync('git', ['init', '-q', dir], { env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: temp, GIT_CONFIG_GLOBAL: '/dev/null' } });
}

/**
 * Root reads files whatever their mode: the scan runs in a child process as `nobody`, so that a
 * mode of 000 means what it means for a person. Undefined when `nobody` cannot load the scanner at
 * all (a checkout only root can read): that is the machine, not the scanner.
 */
function scanAsNobody(root: string): ScanResult | undefined {
  chmodSync(temp, 0o755);
  const run = (script: string) => execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: join(__dirname, '../..'), uid: 65534, gid: 65534, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const scanner = JSON.stringify(join(__dirname, '../../src/rag/fileScanner.ts'));
  try {
    run(`require(${scanner}); process.stdout.write('loaded')`);
  } catch {
    return undefined;
  }
  return JSON.parse(run(`require(${scanner}).scanPaths(['.'], { root: ${JSON.stringify(root)}, exclude: [], maxFileBytes: 1e6 }).then((r) => process.stdout.write(JSON.stringify(r)))`)) as ScanResult;
}

/** Records the scanner's fs calls (path and, for reads, how many bytes were asked for), and the most in flight at once. */
function spyOnFs() {
  const calls: { op: string; path: string; bytes?: number }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const wrap = (op: 'readdir' | 'stat' | 'lstat' | 'readFile' | 'realpath' | 'open') => {
    const original = fsp[op] as (...args: unknown[]) => Promise<unknown>;
    mock.method(fsp, op, async (...args: unknown[]) => {
      calls.push({ op, path: String(args[0]) });
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        // A tick in flight, so that concurrent calls overlap as they would on a slow disk.
        await new Promise((r) => setImmediate(r));
        const result = await original.apply(fsp, args);
        if (op === 'open') {
          const handle = result as import('node:fs/promises').FileHandle;
          const read = handle.read.bind(handle) as (...a: unknown[]) => Promise<unknown>;
          (handle as unknown as { read: unknown }).read = (...a: unknown[]) => {
            calls.push({ op: 'read', path: String(args[0]), bytes: typeof a[2] === 'number' ? a[2] : (a[0] as Buffer).length });
            return read(...a);
          };
        }
        return result;
      } finally {
        inFlight--;
      }
    });
  };
  for (const op of ['readdir', 'stat', 'lstat', 'readFile', 'realpath', 'open'] as const) wrap(op);
  // The scanner looks at each file with the callback forms (cheaper per call): the same record.
  const pathOfFd = new Map<number, string>();
  const wrapCallback = (op: 'stat' | 'open' | 'read') => {
    const original = fsc[op] as (...args: unknown[]) => void;
    mock.method(fsc, op, (...args: unknown[]) => {
      const done = args.at(-1) as (...result: unknown[]) => void;
      const path = op === 'read' ? (pathOfFd.get(args[0] as number) ?? `fd ${String(args[0])}`) : String(args[0]);
      calls.push(op === 'read' ? { op, path, bytes: args[3] as number } : { op, path });
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setImmediate(() =>
        original.call(fsc, ...args.slice(0, -1), (...result: unknown[]) => {
          inFlight--;
          if (op === 'open' && !result[0]) pathOfFd.set(result[1] as number, path);
          done(...result);
        }),
      );
    });
  };
  for (const op of ['stat', 'open', 'read'] as const) wrapCallback(op);
  return { calls, maxInFlight: () => maxInFlight };
}

describe('globToRegExp (VS Code globs)', () => {
  const cases: [string, string, boolean][] = [
    ['**/node_modules', 'node_modules', true],
    ['**/node_modules', 'a/b/node_modules', true],
    ['**/node_modules', 'a/node_modules_x', false],
    ['**/*.min.js', 'app.min.js', true],
    ['**/*.min.js', 'lib/vendor/app.min.js', true],
    ['**/*.min.js', 'lib/app.js', false],
    ['out/**', 'out', true],
    ['out/**', 'out/a/b.js', true],
    ['out/**', 'src/out/a.js', false],
    ['out/**', 'outer/a.js', false],
    ['*.log', 'a.log', true],
    ['*.log', 'logs/a.log', false],
    ['src/*.ts', 'src/a.ts', true],
    ['src/*.ts', 'src/x/a.ts', false],
    ['**/*.{png,jpg}', 'img/a.png', true],
    ['**/*.{png,jpg}', 'img/a.jpg', true],
    ['**/*.{png,jpg}', 'img/a.gif', false],
    ['{docs,notes}/**', 'notes/x.md', true],
    ['{docs,notes}/**', 'src/notes/x.md', false],
    ['{**/*.html,**/*.txt}', 'a/b/c.txt', true],
    ['{**/*.html,**/*.txt}', 'a/b/c.md', false],
    ['**/{a,b{c,d}}.md', 'x/bd.md', true],
    ['**/{a,b{c,d}}.md', 'x/b.md', false],
    ['file?.txt', 'file1.txt', true],
    ['file?.txt', 'file10.txt', false],
    ['file?.txt', 'file/.txt', false],
    ['example.[0-9]', 'example.7', true],
    ['example.[0-9]', 'example.a', false],
    ['example.[!0-9]', 'example.a', true],
    ['example.[!0-9]', 'example.7', false],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['a/**/b', 'a/xb', false],
    ['**', 'anything/at/all', true],
    ['./docs/**', 'docs/a.md', true],
    ['/docs/', 'docs', true],
    ['a+b(c).txt', 'a+b(c).txt', true],
    ['a+b(c).txt', 'aab(c).txt', false],
    ['{unclosed', '{unclosed', true],
    ['[unclosed', '[unclosed', true],
    ['**/.env*', 'config/.env.local', true],
  ];
  for (const [glob, path, expected] of cases) {
    it(`${glob} ${expected ? 'matches' : 'does not match'} ${path}`, () => {
      assert.equal(globToRegExp(glob, { ignoreCase: false }).test(path), expected);
    });
  }
  it('follows the platform on case unless told', () => {
    assert.equal(globToRegExp('**/README.md', { ignoreCase: true }).test('docs/readme.md'), true);
    assert.equal(globToRegExp('**/README.md', { ignoreCase: false }).test('docs/readme.md'), false);
  });
});

describe('rebaseGitignore', () => {
  it('anchors slashed patterns to the folder and lets the others match at any depth under it', () => {
    assert.deepEqual(rebaseGitignore('# c\n\n*.log\n!keep.log\n/top.txt\nsub/x\nbuild/\n**/deep\n\\#hash\n\\!bang\n', 'a/b'), [
      'a/b/**/*.log',
      '!a/b/**/keep.log',
      'a/b/top.txt',
      'a/b/sub/x',
      'a/b/**/build/',
      'a/b/**/deep',
      'a/b/**/#hash',
      'a/b/**/!bang',
    ]);
  });
  it('leaves the top folder’s lines as they are', () => {
    assert.deepEqual(rebaseGitignore('*.log\r\n!a.log', ''), ['*.log', '!a.log']);
  });
});

describe('scanPaths: git ignore rules', () => {
  it('honours nested .gitignore files, negations and folder patterns as git does', async () => {
    const root = tree({
      '.gitignore': '*.log\n!important.log\nlogs/\n/top-only.txt\ntmp*\n',
      'a.txt': 'a',
      'debug.log': 'x',
      'important.log': 'keep me',
      'top-only.txt': 'x',
      'logs/today.txt': 'x',
      'src/top-only.txt': 'kept: the pattern is anchored to the top',
      'src/tmp1.txt': 'x',
      'src/main.ts': 'code',
      'src/.gitignore': '!debug.log\ngenerated/\n*.md\n!README.md\n',
      'src/debug.log': 're-included by the deeper file',
      'src/notes.md': 'x',
      'src/README.md': 'kept',
      'src/generated/x.ts': 'x',
      'src/deep/logs/a.txt': 'x: logs/ matches at any depth',
      'src/deep/logs.txt': 'a file, not the folder pattern',
      'docs/.gitignore': '*\n!*.md\n!.gitignore\n',
      'docs/guide.md': 'kept',
      'docs/image.svg': 'x',
    });
    gitInit(root);
    const result = await scanPaths([root], options(root));
    assert.deepEqual(rels(result), gitUntracked(root));
    assert.deepEqual(rels(result), [
      '.gitignore',
      'a.txt',
      'docs/.gitignore',
      'docs/guide.md',
      'important.log',
      'src/.gitignore',
      'src/README.md',
      'src/debug.log',
      'src/deep/logs.txt',
      'src/main.ts',
      'src/top-only.txt',
    ]);
    assert.deepEqual(skippedAs(result), {
      'debug.log': 'gitignored/file',
      'docs/image.svg': 'gitignored/file',
      logs: 'gitignored/folder',
      'src/deep/logs': 'gitignored/folder',
      'src/generated': 'gitignored/folder',
      'src/notes.md': 'gitignored/file',
      'src/tmp1.txt': 'gitignored/file',
      'top-only.txt': 'gitignored/file',
    });
  });

  it('agrees with git on seeded random trees and rules', async () => {
    const names = ['a', 'b', 'src', 'docs', 'keep', 'x'];
    const files = ['a.txt', 'b.log', 'c.md', 'keep.log', 'main.ts', 'x.tmp', 'b'];
    const lines = ['*.log', '!keep.log', '/a', 'a/', 'docs/', '!docs/', 'src/*.md', '**/x.tmp', 'keep/**', '!keep/**', '*.tmp', 'b', '/src/', 'x/', '!x', '# comment', '', 'c.*', '!c.md', 'docs/**/*.txt', '*/main.ts', '!b/', 'a/**/keep.log', '[ab].txt', 'main.t?', '\\#not-a-comment'];
    for (let seed = 1; seed <= 40; seed++) {
      const rand = prng(seed);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
      const spec: Record<string, string> = {};
      const dirs = [''];
      for (let i = 0; i < 8; i++) {
        const parent = pick(dirs);
        const depth = parent === '' ? 0 : parent.split('/').length;
        if (depth < 3) dirs.push(parent === '' ? pick(names) : `${parent}/${pick(names)}`);
      }
      for (const d of new Set(dirs)) {
        for (let i = 0; i < 4; i++) {
          const f = pick(files);
          const path = d === '' ? f : `${d}/${f}`;
          // A name cannot be both a file and a folder.
          if (!dirs.some((x) => x === path || x.startsWith(`${path}/`))) spec[path] = `seed ${seed}`;
        }
        if (rand() < 0.6) spec[d === '' ? '.gitignore' : `${d}/.gitignore`] = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => pick(lines)).join('\n');
      }
      const root = tree(spec);
      gitInit(root);
      const result = await scanPaths(['.'], options(root));
      assert.deepEqual(rels(result), gitUntracked(root), `seed ${seed}: ${JSON.stringify(spec)}`);
    }
  });

  it('reads the .gitignore files of the repository above the workspace folder, and .git/info/exclude', async () => {
    const repo = tree({
      '.gitignore': '*.secret\npackages/app/cache/\n',
      'packages/app/.gitignore': '/local.txt\n',
      'packages/app/a.ts': 'a',
      'packages/app/key.secret': 'x',
      'packages/app/local.txt': 'x',
      'packages/app/cache/c.txt': 'x',
      'packages/app/excluded-by-info.txt': 'x',
    });
    gitInit(repo);
    writeFileSync(join(repo, '.git/info/exclude'), 'excluded-by-info.txt\n');
    const root = join(repo, 'packages/app');
    const result = await scanPaths(['.'], options(root));
    assert.deepEqual(rels(result), ['.gitignore', 'a.ts']);
    assert.deepEqual(rels(result), gitUntracked(root));
    assert.deepEqual(skippedAs(result), {
      cache: 'gitignored/folder',
      'excluded-by-info.txt': 'gitignored/file',
      'key.secret': 'gitignored/file',
      'local.txt': 'gitignored/file',
    });
  });

  it('a workspace inside a folder its repository ignores still honours its own .gitignore files', async () => {
    // As in our e2e runs: the workspace sits in the checkout's ignored .e2e/ folder.
    const repo = tree({
      '.gitignore': '.e2e/\n',
      '.e2e/ws/.gitignore': 'notes/secret.txt\n',
      '.e2e/ws/notes/a.md': 'a',
      '.e2e/ws/notes/secret.txt': 'x',
      '.e2e/ws/notes/deep/.gitignore': '*.tmp\n',
      '.e2e/ws/notes/deep/b.tmp': 'x',
      '.e2e/ws/notes/deep/b.md': 'b',
    });
    gitInit(repo);
    const root = join(repo, '.e2e/ws');
    for (const picked of ['notes', '.']) {
      const result = await scanPaths([picked], options(root));
      assert.deepEqual(
        rels(result).filter((r) => r.startsWith('notes/')),
        ['notes/a.md', 'notes/deep/.gitignore', 'notes/deep/b.md'],
        `picked ${picked}`,
      );
    }
  });

  it('agrees with git on names made of dots', async () => {
    const root = tree({ '.gitignore': '*.log\n', '.../a.txt': 'a', '.../b.log': 'b', '....': 'dots', '.x./c.txt': 'c' });
    gitInit(root);
    const result = await scanPaths(['.'], options(root));
    assert.deepEqual(rels(result), gitUntracked(root));
  });

  it('honours .gitignore files in a folder that is not a git repository', async () => {
    const root = tree({ '.gitignore': '*.log\n', 'a.md': 'a', 'b.log': 'b' });
    assert.deepEqual(rels(await scanPaths(['.'], options(root))), ['.gitignore', 'a.md']);
  });
});

describe('scanPaths: exclude globs and generated folders', () => {
  it('skips what the exclude globs match, a matching folder as one entry', async () => {
    const root = tree({
      'src/app.ts': 'a',
      'src/app.min.js': 'x',
      'lib/vendor.min.js': 'x',
      'gen/a.js': 'x',
      'gen/b/c.js': 'x',
      'img/logo.svg': 'x',
      'img/readme.txt': 'kept',
      'docs/a.md': 'x',
      'notes/b.md': 'x',
      'keep/notes/c.md': 'kept: the brace alternative is anchored',
    });
    const result = await scanPaths([root], options(root, { exclude: ['**/*.min.js', 'gen/**', '**/*.{svg,png}', '{docs,notes}', ''] }));
    assert.deepEqual(rels(result), ['img/readme.txt', 'keep/notes/c.md', 'src/app.ts']);
    assert.deepEqual(skippedAs(result), {
      docs: 'excluded/folder',
      'img/logo.svg': 'excluded/file',
      'lib/vendor.min.js': 'excluded/file',
      gen: 'excluded/folder',
      notes: 'excluded/folder',
      'src/app.min.js': 'excluded/file',
    });
  });

  it('refuses a glob RegExp cannot take, naming it', async () => {
    const root = tree({ 'a.txt': 'a' });
    await assert.rejects(scanPaths([root], options(root, { exclude: ['file.[z-a]'] })), (e: unknown) => FileScanError.is(e, 'invalidOptions') && e.message.includes('file.[z-a]'));
  });

  it('skips generated folders whole, one entry each, without reading inside them', async () => {
    const files: Record<string, string> = { 'src/a.ts': 'a', 'packages/p/dist/x.js': 'x', 'py/__pycache__/m.pyc': 'x', '.venv/lib/site.py': 'x', '.git/HEAD': 'ref' };
    for (let i = 0; i < 2000; i++) files[`node_modules/pkg${i % 40}/file${i}.js`] = 'module.exports = 1;';
    const root = tree(files);
    // Unreadable inside: a scan that went in would report it (only bites when not root).
    mkdirSync(join(root, 'node_modules/locked'));
    chmodSync(join(root, 'node_modules/locked'), 0o000);
    const spy = spyOnFs();
    const result = await scanPaths([root], options(root));
    assert.deepEqual(rels(result), ['src/a.ts']);
    // `.git` is git's own, skipped without a word.
    assert.deepEqual(skippedAs(result), {
      '.venv': 'generated/folder',
      node_modules: 'generated/folder',
      'packages/p/dist': 'generated/folder',
      'py/__pycache__': 'generated/folder',
    });
    // .git/info/exclude is read: it holds ignore rules. Nothing else inside a skipped folder is.
    const inside = spy.calls.filter((c) => /node_modules[/\\]|\.git[/\\]|\.venv[/\\]|dist[/\\]|__pycache__[/\\]/.test(c.path) && !c.path.endsWith('.git/info/exclude'));
    assert.deepEqual(inside, []);
  });

  it('walks a generated or ignored folder the person picked, still applying the rules inside it', async () => {
    const root = tree({
      '.gitignore': 'vendor/\n',
      'vendor/lib/a.js': 'a',
      'vendor/lib/.gitignore': '*.map\n',
      'vendor/lib/a.js.map': 'x',
      'vendor/lib/node_modules/dep/index.js': 'x',
      'dist/bundle.js': 'b',
      'out/x.js': 'x',
    });
    gitInit(root);
    const result = await scanPaths(['vendor', 'dist', 'out/x.js'], options(root, { exclude: ['out/**'] }));
    assert.deepEqual(rels(result), ['dist/bundle.js', 'out/x.js', 'vendor/lib/.gitignore', 'vendor/lib/a.js']);
    assert.deepEqual(skippedAs(result), { 'vendor/lib/a.js.map': 'gitignored/file', 'vendor/lib/node_modules': 'generated/folder' });
  });
});

describe('scanPaths: what a file holds and how big it is', () => {
  it('skips binary files from their first 8 KB, and reads no more than that', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52]);
    const root = tree({
      'logo.png': Buffer.concat([png, Buffer.alloc(100, 7)]),
      'data.bin': Buffer.from('text then a NUL\0 and more'),
      'utf16.txt': Buffer.from('\ufeffhello', 'utf16le'),
      'café.md': 'Déjà vu, naïve café — 東京 🙂',
      'late-nul.txt': Buffer.concat([Buffer.alloc(9000, 'a'), Buffer.from([0])]),
      'big.txt': 'line of text\n'.repeat(50_000),
      'empty.txt': '',
    });
    const spy = spyOnFs();
    const result = await scanPaths([root], options(root));
    assert.deepEqual(rels(result), ['big.txt', 'café.md', 'empty.txt', 'late-nul.txt']);
    assert.deepEqual(skippedAs(result), { 'data.bin': 'binary/file', 'logo.png': 'binary/file', 'utf16.txt': 'binary/file' });
    const reads = spy.calls.filter((c) => c.op === 'read');
    assert.ok(reads.length > 0);
    assert.ok(reads.every((r) => r.bytes! <= 8192), JSON.stringify(reads));
    assert.equal(spy.calls.filter((c) => c.op === 'readFile').length, 0, 'no whole-file reads');
    assert.equal(result.files.find((f) => f.relPath === 'big.txt')!.size, 13 * 50_000);
  });

  it('takes a file of exactly maxFileBytes and skips one byte more, without opening it', async () => {
    const root = tree({ 'at-limit.txt': 'a'.repeat(1000), 'over.txt': 'a'.repeat(1001), 'under.txt': 'a'.repeat(999) });
    const spy = spyOnFs();
    const result = await scanPaths([root], options(root, { maxFileBytes: 1000 }));
    assert.deepEqual(rels(result), ['at-limit.txt', 'under.txt']);
    assert.deepEqual(skippedAs(result), { 'over.txt': 'tooLarge/file' });
    assert.deepEqual(spy.calls.filter((c) => c.op === 'open' && c.path.endsWith('over.txt')), []);
  });
});

describe('scanPaths: what the person picked', () => {
  it('takes a picked file even when gitignored or excluded, but not when binary or too large', async () => {
    const root = tree({
      '.gitignore': '*.log\nsecret/\n',
      'debug.log': 'picked on purpose',
      'secret/notes.txt': 'picked on purpose',
      'gen.min.js': 'picked on purpose',
      'other.log': 'not picked',
      'pic.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]),
      'huge.txt': 'x'.repeat(5000),
    });
    gitInit(root);
    const result = await scanPaths(['debug.log', join(root, 'secret/notes.txt'), 'gen.min.js', 'pic.png', 'huge.txt'], options(root, { exclude: ['**/*.min.js'], maxFileBytes: 4096 }));
    assert.deepEqual(rels(result), ['debug.log', 'gen.min.js', 'secret/notes.txt']);
    assert.deepEqual(skippedAs(result), { 'huge.txt': 'tooLarge/file', 'pic.png': 'binary/file' });
  });

  it('lists each file once when a folder and files or folders inside it are picked together, sorted', async () => {
    const root = tree({ 'b/z.txt': 'z', 'b/a.txt': 'a', 'a/c/d.txt': 'd', 'a/c.txt': 'c', 'B.txt': 'B', '.hidden': 'h' });
    const result = await scanPaths(['a', 'a/c', 'a/c/d.txt', '.', 'b/a.txt', './b/a.txt', join(root, 'b')], options(root));
    assert.deepEqual(rels(result), ['.hidden', 'B.txt', 'a/c.txt', 'a/c/d.txt', 'b/a.txt', 'b/z.txt']);
    assert.equal(new Set(result.files.map((f) => f.absPath)).size, result.files.length);
    assert.deepEqual(result.skipped, []);
    for (const f of result.files) assert.equal(f.absPath, join(root, f.relPath));
  });

  it('keeps the absolute path of a file outside the workspace, and reports a path that does not exist', async () => {
    const root = tree({ 'in.txt': 'in' });
    const outside = tree({ 'notes/out.txt': 'out', 'notes/.gitignore': 'skip.txt\n', 'notes/skip.txt': 'x' });
    const result = await scanPaths(['in.txt', join(outside, 'notes'), 'missing.txt'], options(root));
    assert.deepEqual(rels(result), [`${outside}/notes/.gitignore`, `${outside}/notes/out.txt`, 'in.txt'].sort());
    assert.deepEqual(skippedAs(result), { [`${outside}/notes/skip.txt`]: 'gitignored/file', 'missing.txt': 'unreadable/file' });
  });
});

describe('scanPaths: links, unreadable files, stopping', () => {
  it('does not follow links to folders (a loop ends), follows links to files inside the workspace only', { timeout: 10_000 }, async () => {
    const outside = tree({ 'id_rsa': 'PRIVATE KEY' });
    const root = tree({ 'a/real.txt': 'real', 'a/b/c.txt': 'c' });
    symlinkSync('..', join(root, 'a/b/up'));
    symlinkSync(join(root, 'a'), join(root, 'a/b/self'));
    symlinkSync('real.txt', join(root, 'a/alias.txt'));
    symlinkSync(join(outside, 'id_rsa'), join(root, 'a/key'));
    symlinkSync('loop2', join(root, 'loop1'));
    symlinkSync('loop1', join(root, 'loop2'));
    symlinkSync('nowhere', join(root, 'dangling'));
    const result = await scanPaths(['.'], options(root));
    assert.deepEqual(rels(result), ['a/alias.txt', 'a/b/c.txt', 'a/real.txt']);
    assert.deepEqual(skippedAs(result), {
      'a/b/self': 'notAFile/folder',
      'a/b/up': 'notAFile/folder',
      'a/key': 'notAFile/file',
      dangling: 'unreadable/file',
      loop1: 'unreadable/file',
      loop2: 'unreadable/file',
    });
  });

  it('reports a file or folder it cannot read and goes on', async (t) => {
    const root = tree({ 'ok.txt': 'ok', 'locked.txt': 'secret', 'closed/inside.txt': 'x' });
    chmodSync(join(root, 'locked.txt'), 0o000);
    chmodSync(join(root, 'closed'), 0o000);
    const result = isRoot ? scanAsNobody(root) : await scanPaths(['.'], options(root));
    if (!result) return t.skip('running as root, and the user nobody cannot read this checkout to run the scan without root’s rights');
    assert.deepEqual(rels(result), ['ok.txt']);
    assert.deepEqual(skippedAs(result), { closed: 'unreadable/folder', 'locked.txt': 'unreadable/file' });
  });

  it('stops when aborted, before or during the walk, with no fs calls in flight afterwards', { timeout: 30_000 }, async () => {
    const files: Record<string, string> = {};
    for (let d = 0; d < 30; d++) for (let f = 0; f < 30; f++) files[`d${d}/e${f % 3}/f${f}.txt`] = 'x';
    const root = tree(files);

    const before = new AbortController();
    before.abort();
    await assert.rejects(scanPaths(['.'], options(root, { signal: before.signal })), (e: unknown) => FileScanError.is(e, 'aborted'));

    const during = new AbortController();
    const spy = spyOnFs();
    const scanning = scanPaths(['.'], options(root, { signal: during.signal }));
    // Stop once the walk is under way (a few folders read).
    while (spy.calls.filter((c) => c.op === 'readdir').length < 5) await new Promise((r) => setImmediate(r));
    during.abort();
    await assert.rejects(scanning, (e: unknown) => FileScanError.is(e, 'aborted'));
    const seen = spy.calls.length;
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(spy.calls.length - seen <= 16, `${spy.calls.length - seen} calls after the abort`);
    assert.ok(spy.calls.length < 900, 'the scan did not run to the end');
  });

  it('keeps at most 16 fs operations in flight on a wide tree', async () => {
    const files: Record<string, string> = {};
    for (let d = 0; d < 40; d++) for (let f = 0; f < 10; f++) files[`d${d}/f${f}.txt`] = 'x';
    const root = tree(files);
    const spy = spyOnFs();
    const result = await scanPaths(['.'], options(root));
    assert.equal(result.files.length, 400);
    assert.ok(spy.maxInFlight() <= 16, `${spy.maxInFlight()} at once`);
    assert.ok(spy.maxInFlight() >= 8, `only ${spy.maxInFlight()} at once: the walk should run in parallel`);
  });

  it('refuses a relative workspace folder', async () => {
    await assert.rejects(scanPaths(['.'], options('relative/root')), (e: unknown) => FileScanError.is(e, 'invalidOptions'));
  });
});

describe('describeSkipped', () => {
  const s = (reason: Parameters<typeof describeSkipped>[0][number]['reason'], n: number, kind: 'file' | 'folder' = 'file') =>
    Array.from({ length: n }, (_, i) => ({ relPath: `${reason}${i}`, reason, kind }));

  it('is empty when nothing was skipped', () => {
    assert.equal(describeSkipped([]), '');
  });
  it('counts by reason, largest first', () => {
    assert.equal(describeSkipped([...s('binary', 3), ...s('tooLarge', 1), ...s('gitignored', 8)], { maxFileBytes: 1024 * 1024 }), 'Skipped 12 files: 8 ignored by .gitignore, 3 binary, 1 larger than 1 MB.');
  });
  it('tells folders from files and names the rest plainly', () => {
    assert.equal(
      describeSkipped([...s('generated', 2, 'folder'), ...s('excluded', 1, 'folder'), ...s('excluded', 1), ...s('unreadable', 1), ...s('notAFile', 1, 'folder'), ...s('tooLarge', 2)]),
      'Skipped 4 files and 4 folders: 2 excluded by your settings, 2 dependency or build folders, 2 too large, 1 unreadable, 1 link to a folder or special file.',
    );
    assert.equal(describeSkipped(s('generated', 1, 'folder')), 'Skipped 1 folder: 1 dependency or build folder.');
  });
  it('accepts entries without a kind (counted as files)', () => {
    assert.equal(describeSkipped([{ relPath: 'a', reason: 'binary' }]), 'Skipped 1 file: 1 binary.');
  });
  it('formats sizes as VS Code does', () => {
    assert.equal(formatBytes(1024 * 1024), '1 MB');
    assert.equal(formatBytes(1.5 * 1024 * 1024), '1.5 MB');
    assert.equal(formatBytes(300_000), '293 KB');
    assert.equal(formatBytes(512), '512 bytes');
  });
  it('describes a real scan', async () => {
    const root = tree({ '.gitignore': '*.log\n', 'a.log': 'x', 'b.log': 'x', 'p.png': Buffer.from([0x89, 0x50, 0, 0]), 'big.txt': 'x'.repeat(2 * 1024 * 1024 + 1), 'node_modules/x.js': 'x', 'ok.md': 'ok' });
    gitInit(root);
    const result = await scanPaths(['.'], options(root));
    assert.equal(describeSkipped(result.skipped, { maxFileBytes: 1024 * 1024 }), 'Skipped 4 files and 1 folder: 2 ignored by .gitignore, 1 dependency or build folder, 1 binary, 1 larger than 1 MB.');
  });
});
