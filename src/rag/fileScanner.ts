// Which files the memory indexes when a person adds files, folders or the whole workspace: git's
// ignore rules, the person's exclude globs, generated and vendor folders skipped whole, binary and
// oversized files left out, and a count of what was skipped and why. Plain Node: no `vscode` here.
//
// What the person picks by name wins over the rules that would have hidden it: a file picked
// directly is taken even if gitignored or excluded (not if binary or too large), and a folder
// picked directly is walked even if it is itself ignored, excluded or generated; the rules that
// caught it are waived inside it, the others still apply.
import * as fs from 'node:fs/promises';
import type { Dirent, Stats } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import ignore from 'ignore';
import { isProbablyBinary } from './chunker';
import { defaultMaxDocumentBytes } from './documents/documentTypes';
import { isExtractedDocument } from '../shared/sourcePlace';
import { isWithin, readHead, statFile } from '../util/fileIo';
import { PersonaError } from '../util/personaError';

export type SkipReason = 'gitignored' | 'excluded' | 'generated' | 'binary' | 'tooLarge' | 'documentTooLarge' | 'unreadable' | 'notAFile';

export interface ScanOptions {
  /**
   * Workspace folder (absolute): what `relPath` is relative to and what `exclude` globs are
   * matched against. `.gitignore` files are read from the enclosing git repository's top (which
   * may be above it) down. Files outside it keep their absolute path (with `/`) as `relPath`.
   */
  root: string;
  /**
   * VS Code globs (the `files.exclude` keys set to true, plus `persona.rag.exclude`), matched
   * against workspace-relative paths with `/`; a folder that matches is skipped whole. For a
   * folder outside the workspace they are matched against paths relative to that folder.
   */
  exclude: string[];
  /** Files larger than this are skipped, from their size alone (never read). */
  maxFileBytes: number;
  /**
   * PDF, Word, HTML and notebook files are read by a document reader, not as text: they are not
   * tested for binary content, and this is their size limit (default 50 MiB).
   */
  maxDocumentBytes?: number;
  signal?: AbortSignal;
}

export interface ScannedFile {
  absPath: string;
  /** Workspace-relative with `/`; the absolute path (with `/`) for a file outside the workspace. */
  relPath: string;
  size: number;
}

export interface SkippedEntry {
  /** As `ScannedFile.relPath`; '.' for the workspace folder itself. */
  relPath: string;
  reason: SkipReason;
  /** A folder is one entry, however much it holds (never descended). */
  kind: 'file' | 'folder';
}

export interface ScanResult {
  /** Sorted by `relPath` (code unit order), each file once. */
  files: ScannedFile[];
  /** Sorted by `relPath`, each path once. */
  skipped: SkippedEntry[];
}

export type FileScanErrorReason = 'aborted' | 'invalidOptions';

export class FileScanError extends PersonaError<FileScanErrorReason> {
  override readonly name = 'FileScanError';
}

/**
 * Folders of dependencies, build output, caches and tools: found while walking, they are skipped
 * whole without being read, however they are ignored (or not) by git.
 */
export const generatedFolderNames: ReadonlySet<string> = new Set([
  'node_modules',
  '.git',
  'dist',
  'out',
  'build',
  'target',
  'coverage',
  '.next',
  '.nuxt',
  '__pycache__',
  '.venv',
  'venv',
  '.tox',
  '.gradle',
  'bower_components',
  '.cache',
]);

/** File system operations in flight at once: enough to hide latency, few enough for a 2-core machine and open-file limits. */
const maxConcurrentFsOps = 16;
/** What `isProbablyBinary` looks at. */
const sniffBytes = 8192;
/** Folders looked at above a folder for its git repository's `.git`. */
const maxGitRootDepth = 64;
/** VS Code matches globs without regard to case on Windows and macOS (as their file systems do). */
const caseInsensitive = process.platform === 'win32' || process.platform === 'darwin';

/**
 * The files to index among `paths` (files and folders, absolute or relative to `root`), and what was
 * skipped. Fails only when stopped (`FileScanError('aborted')`) or given options it cannot use;
 * a path that cannot be read is reported as skipped.
 */
export async function scanPaths(paths: string[], options: ScanOptions): Promise<ScanResult> {
  if (!isAbsolute(options.root)) {
    throw new FileScanError('invalidOptions', `The workspace folder must be an absolute path, got "${options.root}".`);
  }
  if (!(options.maxFileBytes >= 0)) {
    throw new FileScanError('invalidOptions', `maxFileBytes must be a number of bytes, got ${options.maxFileBytes}.`);
  }
  const scan = new Scan(options);
  await scan.run(paths);
  return scan.result();
}

/**
 * One sentence for the person about what was left out, e.g. "Skipped 12 files: 8 ignored by
 * .gitignore, 3 binary, 1 larger than 1 MB." ('' when nothing was). Reasons by count, largest first.
 */
export function describeSkipped(skipped: readonly (Pick<SkippedEntry, 'relPath' | 'reason'> & { kind?: SkippedEntry['kind'] })[], options: { maxFileBytes?: number; maxDocumentBytes?: number } = {}): string {
  if (skipped.length === 0) return '';
  const counts = new Map<SkipReason, number>();
  let folders = 0;
  for (const s of skipped) {
    counts.set(s.reason, (counts.get(s.reason) ?? 0) + 1);
    if (s.kind === 'folder') folders++;
  }
  const files = skipped.length - folders;
  const what = [files > 0 ? plural(files, 'file') : '', folders > 0 ? plural(folders, 'folder') : ''].filter(Boolean).join(' and ');
  const parts = [...counts]
    .sort((a, b) => b[1] - a[1] || reasonOrder.indexOf(a[0]) - reasonOrder.indexOf(b[0]))
    .map(([reason, n]) => `${n} ${reasonText(reason, n, options)}`);
  return `Skipped ${what}: ${parts.join(', ')}.`;
}

const reasonOrder: readonly SkipReason[] = ['gitignored', 'excluded', 'generated', 'binary', 'tooLarge', 'documentTooLarge', 'unreadable', 'notAFile'];

function reasonText(reason: SkipReason, n: number, { maxFileBytes, maxDocumentBytes = defaultMaxDocumentBytes }: { maxFileBytes?: number; maxDocumentBytes?: number }): string {
  switch (reason) {
    case 'gitignored':
      return 'ignored by .gitignore';
    case 'excluded':
      return 'excluded by your settings';
    case 'generated':
      return n === 1 ? 'dependency or build folder' : 'dependency or build folders';
    case 'binary':
      return 'binary';
    case 'tooLarge':
      return maxFileBytes === undefined ? 'too large' : `larger than ${formatBytes(maxFileBytes)}`;
    case 'documentTooLarge':
      return `${n === 1 ? 'document' : 'documents'} larger than ${formatBytes(maxDocumentBytes)}`;
    case 'unreadable':
      return 'unreadable';
    case 'notAFile':
      return n === 1 ? 'link to a folder or special file' : 'links to folders or special files';
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** 1048576 → "1 MB", 1500000 → "1.4 MB", 300000 → "293 KB" (binary units, as VS Code shows sizes). */
export function formatBytes(bytes: number): string {
  const round = (x: number) => (x >= 10 || Number.isInteger(x) ? String(Math.round(x)) : x.toFixed(1).replace(/\.0$/, ''));
  if (bytes >= 1024 * 1024) return `${round(bytes / (1024 * 1024))} MB`;
  if (bytes >= 1024) return `${round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}

// ---- VS Code globs ------------------------------------------------------------------------------------

/**
 * A VS Code glob as a RegExp over a relative path with `/`: `*` and `?` within one segment, `**` any
 * number of segments including none (so `out/**` matches `out` too), `{a,b}` alternatives (nested,
 * and holding `/` and `**`), `[abc]`, `[a-z]`, `[!abc]`. Anything else is literal.
 */
export function globToRegExp(glob: string, options: { ignoreCase?: boolean } = {}): RegExp {
  let pattern = glob.trim().replace(/\\/g, '/');
  pattern = pattern.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
  if (pattern.length > 1) pattern = pattern.replace(/\/+$/, '');
  const parser = new GlobParser(pattern);
  const body = parser.sequence(false);
  return new RegExp(`^${body}$`, options.ignoreCase ?? caseInsensitive ? 'i' : '');
}

class GlobParser {
  private i = 0;

  constructor(private readonly p: string) {}

  /** Parses up to the end, or (inside braces) up to the `,` or `}` that ends this alternative. */
  sequence(inBraces: boolean): string {
    let out = '';
    while (this.i < this.p.length) {
      const c = this.p[this.i]!;
      if (inBraces && (c === ',' || c === '}')) return out;
      if (c === '*') {
        if (this.p[this.i + 1] === '*' && this.atSegmentStart(this.i) && this.atSegmentEnd(this.i + 2)) {
          this.i += 2;
          if (this.p[this.i] === '/') {
            this.i++;
            out += '(?:[^/]*/)*'; // `**/`: none or more whole segments
          } else if (out.endsWith('/')) {
            out = `${out.slice(0, -1)}(?:/.*)?`; // trailing `/**`: the folder itself or anything in it
          } else {
            out += '.*';
          }
          continue;
        }
        while (this.p[this.i] === '*') this.i++;
        out += '[^/]*';
        continue;
      }
      if (c === '?') {
        this.i++;
        out += '[^/]';
        continue;
      }
      if (c === '[') {
        const cls = this.charClass();
        if (cls !== undefined) {
          out += cls;
          continue;
        }
      }
      if (c === '{') {
        const alternatives = this.braces();
        if (alternatives !== undefined) {
          out += alternatives;
          continue;
        }
      }
      this.i++;
      out += escapeRegExp(c);
    }
    return out;
  }

  /** `{a,b,…}` → `(?:a|b|…)`; undefined (and nothing consumed) when the brace is never closed. */
  private braces(): string | undefined {
    const start = this.i;
    this.i++;
    const alternatives: string[] = [];
    for (;;) {
      alternatives.push(this.sequence(true));
      const c = this.p[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === '}') {
        this.i++;
        return `(?:${alternatives.join('|')})`;
      }
      this.i = start;
      return undefined;
    }
  }

  /** `[…]` → a RegExp class that never matches `/`; undefined when there is no closing `]`. */
  private charClass(): string | undefined {
    let j = this.i + 1;
    let negate = false;
    if (this.p[j] === '!' || this.p[j] === '^') {
      negate = true;
      j++;
    }
    const first = j;
    // A `]` right after the opening (or its `!`) is a member, as in shells.
    while (j < this.p.length && (this.p[j] !== ']' || j === first)) j++;
    if (j >= this.p.length) return undefined;
    const members = this.p.slice(first, j);
    this.i = j + 1;
    const body = [...members].map((ch) => (ch === '-' ? '-' : escapeRegExp(ch))).join('');
    return negate ? `[^/${body}]` : `(?!/)[${body}]`;
  }

  private atSegmentStart(at: number): boolean {
    const before = this.p[at - 1];
    return before === undefined || before === '/' || before === '{' || before === ',';
  }

  private atSegmentEnd(at: number): boolean {
    const after = this.p[at];
    return after === undefined || after === '/' || after === '}' || after === ',';
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- .gitignore ---------------------------------------------------------------------------------------

type Ignore = ReturnType<typeof ignore>;

/**
 * The lines of a `.gitignore` in folder `dir` (relative to the repository top, `/`), rewritten to
 * patterns relative to the top: then the rules of every `.gitignore` from the top down go into one
 * matcher, in order, and git's precedence (deeper files win, the last matching line wins) is the
 * matcher's own "last match wins". `foo` in `a/.gitignore` matches at any depth under `a`, so it
 * becomes `a/**\/foo`; a pattern with a slash before its end is anchored to `a`.
 */
export function rebaseGitignore(content: string, dir: string): string[] {
  const lines = content.split(/\r?\n/);
  if (dir === '') return lines;
  const out: string[] = [];
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const negative = line.startsWith('!');
    let body = negative ? line.slice(1) : line;
    // The escape only mattered at the start of a line, where the prefix now goes.
    if (body.startsWith('\\#') || body.startsWith('\\!')) body = body.slice(1);
    const core = body.replace(/\/+\s*$/, '');
    const anchored = core.includes('/');
    body = body.replace(/^\/+/, '');
    if (body.trim() === '') continue;
    out.push(`${negative ? '!' : ''}${dir}/${anchored ? '' : '**/'}${body}`);
  }
  return out;
}

// ---- the scan -----------------------------------------------------------------------------------------

/** Where one walk (one picked folder) stands in a folder. */
interface Folder {
  abs: string;
  /** Relative to the walk's ignore base, `/`; '' for the base itself. */
  ignoreRel: string;
  rules: Ignore;
}

/** What one picked folder's walk shares. */
interface Walk {
  start: string;
  /** Rules of `.gitignore` files are relative to this folder (the repository's top, usually). */
  ignoreBase: string;
  /** The exclude globs in force (those that caught the picked folder itself are waived). */
  globs: RegExp[];
  /** What the globs are matched against: paths relative to this folder. */
  globBase: string;
  /** Symlinked files are followed only when they point inside this folder (its real path). */
  linkBoundary: string;
}

interface Candidate {
  abs: string;
  rel: string;
}

class Scan {
  private readonly root: string;
  private readonly globs: { source: string; regex: RegExp }[];
  private readonly limiter = new Limiter(maxConcurrentFsOps);
  private readonly files = new Map<string, ScannedFile>();
  private readonly skipped = new Map<string, SkippedEntry>();
  /** Every picked path: a walk leaves them to their own turn, so explicit intent is applied once. */
  private readonly picked = new Set<string>();

  constructor(private readonly options: ScanOptions) {
    this.root = resolve(options.root);
    this.globs = options.exclude
      .filter((g) => g.trim() !== '')
      .map((source) => {
        try {
          return { source, regex: globToRegExp(source) };
        } catch (e) {
          // `[z-a]` and the like: RegExp refuses the range.
          throw new FileScanError('invalidOptions', `The exclude pattern "${source}" is not a valid glob (${e instanceof Error ? e.message : String(e)}): correct it in files.exclude or persona.rag.exclude.`, { cause: e });
        }
      });
  }

  async run(paths: string[]): Promise<void> {
    for (const p of paths) this.picked.add(resolve(this.root, p));
    const folders: string[] = [];
    const files: Candidate[] = [];
    await forEachLimited([...this.picked].sort(), maxConcurrentFsOps, async (abs) => {
      const st = await this.io(() => fs.stat(abs)).catch((e: unknown) => this.rethrowAbort(e));
      if (!st) this.skip(abs, 'unreadable', 'file');
      else if (st.isDirectory()) folders.push(abs);
      else if (st.isFile()) files.push({ abs, rel: this.relPath(abs) });
      else this.skip(abs, 'notAFile', 'file');
    }, this.options.signal);
    for (const folder of folders.sort()) await this.walk(folder);
    await this.inspect(files);
  }

  result(): ScanResult {
    const byRel = (a: { relPath: string }, b: { relPath: string }) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0);
    const files = [...this.files.values()].sort(byRel);
    const taken = new Set(files.map((f) => f.relPath));
    return { files, skipped: [...this.skipped.values()].filter((s) => !taken.has(s.relPath)).sort(byRel) };
  }

  // ---- walking one picked folder, a level at a time ----

  private async walk(start: string): Promise<void> {
    const walk = await this.prepareWalk(start);
    let level: Folder[] = [{ abs: start, ignoreRel: posix(relative(walk.ignoreBase, start)), rules: walk.rules }];
    while (level.length > 0) {
      const next: Folder[] = [];
      const candidates: Candidate[] = [];
      await forEachLimited(level, maxConcurrentFsOps, (folder) => this.readFolder(walk, folder, next, candidates), this.options.signal);
      await this.inspect(candidates);
      level = next;
    }
  }

  private async prepareWalk(start: string): Promise<Walk & { rules: Ignore }> {
    const inRoot = isWithin(this.root, start);
    const gitRoot = await this.findGitRoot(start);
    let ignoreBase = gitRoot ?? (inRoot ? this.root : start);
    if (!isWithin(ignoreBase, start)) ignoreBase = start;
    let rules = ignore({ ignorecase: caseInsensitive });
    if (gitRoot && ignoreBase === gitRoot) {
      const exclude = await this.readText(join(gitRoot, '.git', 'info', 'exclude'));
      if (exclude) rules.add(exclude.split(/\r?\n/));
    }
    // The .gitignore files above the picked folder; its own is read when the walk reads it.
    const above: string[] = [];
    for (let dir = dirname(start); isWithin(ignoreBase, dir); dir = dirname(dir)) {
      above.unshift(dir);
      if (dir === ignoreBase) break;
    }
    for (const dir of above) {
      const text = await this.readText(join(dir, '.gitignore'));
      if (text) rules.add(rebaseGitignore(text, posix(relative(ignoreBase, dir))));
    }
    const startRel = posix(relative(ignoreBase, start));
    if (startRel !== '' && isIgnored(rules, `${startRel}/`)) {
      // Picked although git ignores it: the rules from above are waived inside it. When what caught
      // it lies above the workspace (a workspace inside an ignored folder of a bigger repository),
      // the workspace's own .gitignore files still apply.
      const local = inRoot && ignoreBase !== this.root ? await this.rulesFrom(this.root, start) : undefined;
      if (local && !isIgnored(local, `${posix(relative(this.root, start))}/`)) {
        ignoreBase = this.root;
        rules = local;
      } else {
        ignoreBase = start;
        rules = ignore({ ignorecase: caseInsensitive });
      }
    }
    const globBase = inRoot ? this.root : start;
    const startGlobRel = posix(relative(globBase, start));
    const globs = this.globs.filter((g) => startGlobRel === '' || !g.regex.test(startGlobRel)).map((g) => g.regex);
    const boundary = inRoot ? this.root : start;
    const linkBoundary = await this.io(() => fs.realpath(boundary)).catch((e: unknown) => this.rethrowAbort(e) ?? boundary);
    return { start, ignoreBase, globs, globBase, linkBoundary, rules };
  }

  /** The rules of the .gitignore files from `base` down to the folder holding `start` (not its own). */
  private async rulesFrom(base: string, start: string): Promise<Ignore> {
    const rules = ignore({ ignorecase: caseInsensitive });
    const dirs: string[] = [];
    for (let dir = dirname(start); isWithin(base, dir); dir = dirname(dir)) {
      dirs.unshift(dir);
      if (dir === base) break;
    }
    for (const dir of dirs) {
      const text = await this.readText(join(dir, '.gitignore'));
      if (text) rules.add(rebaseGitignore(text, posix(relative(base, dir))));
    }
    return rules;
  }

  private async readFolder(walk: Walk, folder: Folder, next: Folder[], candidates: Candidate[]): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await this.io(() => fs.readdir(folder.abs, { withFileTypes: true }));
    } catch (e) {
      this.rethrowAbort(e);
      this.skip(folder.abs, 'unreadable', 'folder');
      return;
    }
    let rules = folder.rules;
    if (entries.some((e) => e.name === '.gitignore' && e.isFile())) {
      const text = await this.readText(join(folder.abs, '.gitignore'));
      if (text) rules = ignore({ ignorecase: caseInsensitive }).add(rules).add(rebaseGitignore(text, folder.ignoreRel));
    }
    for (const entry of entries) {
      const abs = join(folder.abs, entry.name);
      if (this.picked.has(abs)) continue;
      // Git's own folder (or the file that points at it in worktrees and submodules): never the
      // person's text, and not worth a line in what was skipped either.
      if (entry.name === '.git') continue;
      const ignoreRel = folder.ignoreRel === '' ? entry.name : `${folder.ignoreRel}/${entry.name}`;
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        // Links to folders are never followed (a link to `..` would loop); a link to a file is
        // followed when the file is inside the workspace (a link to ~/.ssh/id_rsa is not).
        let target: Stats | undefined;
        let real: string | undefined;
        try {
          target = await this.io(() => fs.stat(abs));
          real = await this.io(() => fs.realpath(abs));
        } catch (e) {
          this.rethrowAbort(e);
          this.skip(abs, 'unreadable', 'file');
          continue;
        }
        if (target.isDirectory()) {
          this.skip(abs, 'notAFile', 'folder');
          continue;
        }
        if (!target.isFile() || !isWithin(walk.linkBoundary, real)) {
          this.skip(abs, 'notAFile', 'file');
          continue;
        }
        isDir = false;
        isFile = true;
      }
      if (isDir) {
        if (generatedFolderNames.has(entry.name)) this.skip(abs, 'generated', 'folder');
        else if (isIgnored(rules, `${ignoreRel}/`)) this.skip(abs, 'gitignored', 'folder');
        else if (this.excluded(walk, abs)) this.skip(abs, 'excluded', 'folder');
        else next.push({ abs, ignoreRel, rules });
      } else if (isFile) {
        if (isIgnored(rules, ignoreRel)) this.skip(abs, 'gitignored', 'file');
        else if (this.excluded(walk, abs)) this.skip(abs, 'excluded', 'file');
        else candidates.push({ abs, rel: this.relPath(abs) });
      } else {
        this.skip(abs, 'notAFile', 'file');
      }
    }
  }

  private excluded(walk: Walk, abs: string): boolean {
    if (walk.globs.length === 0) return false;
    const rel = posix(relative(walk.globBase, abs));
    return walk.globs.some((g) => g.test(rel));
  }

  /** Size from `stat` (an oversized file is never opened), then the first 8 KB for the binary test. */
  private async inspect(candidates: Candidate[]): Promise<void> {
    await forEachLimited(candidates, maxConcurrentFsOps, async (c) => {
      const outcome = await this.io(async (): Promise<ScannedFile | SkipReason> => {
        const st = await statFile(c.abs);
        if (!st.isFile()) return 'notAFile';
        if (isExtractedDocument(c.rel)) {
          return st.size > (this.options.maxDocumentBytes ?? defaultMaxDocumentBytes) ? 'documentTooLarge' : { absPath: c.abs, relPath: c.rel, size: st.size };
        }
        if (st.size > this.options.maxFileBytes) return 'tooLarge';
        const head = Buffer.alloc(Math.min(sniffBytes, st.size));
        const bytesRead = await readHead(c.abs, head);
        if (isProbablyBinary(head.subarray(0, bytesRead))) return 'binary';
        return { absPath: c.abs, relPath: c.rel, size: st.size };
      }).catch((e: unknown): SkipReason => {
        this.rethrowAbort(e);
        return 'unreadable';
      });
      if (typeof outcome === 'string') this.skip(c.abs, outcome, 'file');
      else this.files.set(c.abs, outcome);
    }, this.options.signal);
  }

  // ---- helpers ----

  /** The nearest folder at or above `start` that holds `.git` (a folder, or a file in worktrees and submodules). */
  private async findGitRoot(start: string): Promise<string | undefined> {
    let dir = start;
    for (let depth = 0; depth < maxGitRootDepth; depth++) {
      const found = await this.io(() => fs.lstat(join(dir, '.git'))).then(
        () => true,
        (e: unknown) => {
          this.rethrowAbort(e);
          return false;
        },
      );
      if (found) return dir;
      const parent = dirname(dir);
      if (parent === dir) return undefined;
      dir = parent;
    }
    return undefined;
  }

  /** A small text file's content, or undefined when it is missing or unreadable. */
  private async readText(path: string): Promise<string | undefined> {
    try {
      return await this.io(() => fs.readFile(path, 'utf8'));
    } catch (e) {
      this.rethrowAbort(e);
      return undefined;
    }
  }

  private io<T>(op: () => Promise<T>): Promise<T> {
    return this.limiter.run(() => {
      throwIfStopped(this.options.signal);
      return op();
    });
  }

  private rethrowAbort(e: unknown): undefined {
    if (FileScanError.is(e, 'aborted')) throw e;
    throwIfStopped(this.options.signal);
    return undefined;
  }

  private skip(abs: string, reason: SkipReason, kind: SkippedEntry['kind']): void {
    const relPath = this.relPath(abs);
    if (!this.skipped.has(relPath)) this.skipped.set(relPath, { relPath, reason, kind });
  }

  private relPath(abs: string): string {
    if (abs === this.root) return '.';
    return isWithin(this.root, abs) ? posix(relative(this.root, abs)) : posix(abs);
  }
}

/**
 * `ignore` throws on a path it takes for one not made relative (`./x`, `../x`, `c:/x` on Windows).
 * No entry name should look like that, but one odd name must not end the whole scan.
 */
function isIgnored(rules: Ignore, path: string): boolean {
  try {
    return rules.ignores(path);
  } catch {
    return false;
  }
}

/** True when `path` is `folder` or inside it. */

function posix(path: string): string {
  return sep === '/' ? path : path.split(sep).join('/');
}

function throwIfStopped(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new FileScanError('aborted', 'The scan was stopped.', { cause: signal.reason });
}

/** At most `max` operations at once; the others wait their turn in order. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await op();
    } finally {
      // The slot passes straight to the next in line, so `active` never overshoots.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** Runs `run` over `items` with at most `limit` at once; stops starting new ones once `signal` is aborted. */
async function forEachLimited<T>(items: readonly T[], limit: number, run: (item: T) => Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      throwIfStopped(signal);
      await run(items[next++]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
