// The version history of custom personas: every save is a version, kept as one JSON file each in
// `<personas dir>/<id>.history/NNNNNN.json` ({ summary, persona }). A version file is written once and
// never changed: written to a temp file, synced, then hard-linked into place, which fails rather
// than replace a file another window wrote under the same number. A file that cannot be read is
// logged and skipped, never deleted (it may come from a newer Persona); the persona itself lives in
// its own file, so a damaged history never costs the persona.
//
// Growth is bounded: beyond `maxVersions` files, the oldest plain saves are dropped; the first
// version and every named snapshot are always kept (so many snapshots can go past the bound). Plain Node (no `vscode`).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod/mini';
import type { Logger } from '../util/logger';
import { PERSONA_ID_PATTERN } from '../shared/persona';
import { CardPersonaSchema, VersionSummarySchema, type CardPersona, type VersionKind, type VersionSummary } from '../shared/cardPersona';
import { PersonaError } from '../util/personaError';

export type { VersionKind, VersionSummary } from '../shared/cardPersona';

/** Versions kept per persona before the oldest plain saves are dropped. */
export const MAX_KEPT_VERSIONS = 200;

export const HistoryEntrySchema = z.object({ summary: VersionSummarySchema, persona: CardPersonaSchema });
export interface HistoryEntry {
  summary: VersionSummary;
  persona: CardPersona;
}

export type PersonaHistoryErrorReason = 'unknownVersion' | 'versionExists';

export class PersonaHistoryError extends PersonaError<PersonaHistoryErrorReason> {
  constructor(
    reason: PersonaHistoryErrorReason,
    readonly personaId: string,
    readonly version: number,
  ) {
    super(
      reason,
      reason === 'unknownVersion'
        ? `Version ${version} of this persona is not in its history (it may have been removed, or its file is damaged: see the Persona log).`
        : `Version ${version} of this persona already exists; nothing was changed.`,
    );
    this.name = 'PersonaHistoryError';
  }
}

const VERSION_FILE = /^(\d{6,9})\.json$/;

export interface AppendOptions {
  kind: VersionKind;
  name?: string;
  restoredFrom?: number;
  /** Unix milliseconds; now by default. */
  savedAt?: number;
}

export class PersonaHistory {
  /**
   * Summaries already read, by persona and version (null: damaged). Version files are written once
   * and never changed, so what was read stays true; listing then reads only new files, not every
   * version's full persona again.
   */
  private readonly known = new Map<string, Map<number, VersionSummary | null>>();

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
    private readonly maxVersions = MAX_KEPT_VERSIONS,
  ) {}

  /** The folder of one persona's versions. */
  dirFor(id: string): string {
    if (!PERSONA_ID_PATTERN.test(id)) throw new Error(`invalid persona id "${id}"`);
    return path.join(this.dir, `${id}.history`);
  }

  private fileFor(id: string, version: number): string {
    return path.join(this.dirFor(id), `${String(version).padStart(6, '0')}.json`);
  }

  /** The version numbers on disk, oldest first, readable or not. */
  async numbers(id: string): Promise<number[]> {
    const dir = this.dirFor(id);
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return names
      .map((n) => VERSION_FILE.exec(n)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .filter((n) => n >= 1)
      .sort((a, b) => a - b);
  }

  /** Every readable version's summary, newest first. */
  async list(id: string): Promise<VersionSummary[]> {
    const numbers = await this.numbers(id);
    const known = this.knownFor(id);
    for (const n of known.keys()) if (!numbers.includes(n)) known.delete(n);
    const summaries: VersionSummary[] = [];
    for (const n of numbers.reverse()) {
      let summary = known.get(n);
      if (summary === undefined) {
        summary = (await this.read(id, n))?.summary ?? null;
        known.set(n, summary);
      }
      if (summary) summaries.push(summary);
    }
    return summaries;
  }

  private knownFor(id: string): Map<number, VersionSummary | null> {
    let known = this.known.get(id);
    if (!known) this.known.set(id, (known = new Map()));
    return known;
  }

  /** Every readable version, oldest first. */
  async entries(id: string): Promise<HistoryEntry[]> {
    const out: HistoryEntry[] = [];
    for (const n of await this.numbers(id)) {
      const entry = await this.read(id, n);
      if (entry) out.push(entry);
    }
    return out;
  }

  async latest(id: string): Promise<number | undefined> {
    return (await this.numbers(id)).at(-1);
  }

  /** One version, or undefined when it is missing or damaged (logged). */
  async read(id: string, version: number): Promise<HistoryEntry | undefined> {
    if (!Number.isInteger(version) || version < 1) return undefined;
    const file = this.fileFor(id, version);
    const label = `Version ${version} of persona "${id}"`;
    let raw: string;
    try {
      raw = await fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.error(`${label} could not be read: ${(e as Error).message}; skipped.`);
      return undefined;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (e) {
      this.logger.error(`${label} (${file}) is not valid JSON (${(e as Error).message}); skipped, not deleted.`);
      return undefined;
    }
    const parsed = HistoryEntrySchema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      this.logger.error(`${label} (${file}) is invalid (${issues}); skipped, not deleted.`);
      return undefined;
    }
    if (parsed.data.summary.version !== version || parsed.data.persona.id !== id) {
      this.logger.error(`${label} (${file}) says it is version ${parsed.data.summary.version} of "${parsed.data.persona.id}"; skipped, not deleted.`);
      return undefined;
    }
    return parsed.data;
  }

  /** Records `persona` as the next version; the stored copy carries that version number. */
  async append(id: string, persona: CardPersona, options: AppendOptions): Promise<HistoryEntry> {
    const dir = this.dirFor(id);
    await fs.mkdir(dir, { recursive: true });
    await sweepStaleTempFiles(dir);
    let version = ((await this.latest(id)) ?? 0) + 1;
    for (;;) {
      const entry = this.entry(id, version, persona, options);
      if (await this.writeOnce(this.fileFor(id, version), entry)) {
        this.knownFor(id).set(version, entry.summary);
        await this.prune(id);
        return entry;
      }
      // Another window saved this number first: take the next one.
      version++;
    }
  }

  /**
   * Writes versions brought in by an import, numbers and summaries as they are. Only into an empty
   * history: an existing version is never replaced.
   */
  async importEntries(id: string, entries: readonly HistoryEntry[]): Promise<void> {
    await fs.mkdir(this.dirFor(id), { recursive: true });
    for (const e of entries) {
      const entry = this.entry(id, e.summary.version, e.persona, { ...e.summary });
      if (!(await this.writeOnce(this.fileFor(id, e.summary.version), entry))) {
        throw new PersonaHistoryError('versionExists', id, e.summary.version);
      }
      this.knownFor(id).set(e.summary.version, entry.summary);
    }
  }

  async remove(id: string): Promise<void> {
    this.known.delete(id);
    await fs.rm(this.dirFor(id), { recursive: true, force: true });
  }

  private entry(id: string, version: number, persona: CardPersona, options: AppendOptions): HistoryEntry {
    const summary: VersionSummary = {
      version,
      savedAt: options.savedAt ?? Date.now(),
      kind: options.kind,
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.restoredFrom !== undefined ? { restoredFrom: options.restoredFrom } : {}),
    };
    return HistoryEntrySchema.parse({ summary, persona: { ...persona, id, version } });
  }

  /** Temp file, fsync, then link into place: false if the target exists (never overwritten). */
  private async writeOnce(file: string, entry: HistoryEntry): Promise<boolean> {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await fs.open(tmp, 'wx');
    try {
      await handle.writeFile(`${JSON.stringify(entry)}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fs.link(tmp, file);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      // File systems without hard links: check, then rename (a race with another window is
      // possible there, and only there).
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP') {
        try {
          await fs.access(file);
          return false;
        } catch {
          await fs.rename(tmp, file);
          return true;
        }
      }
      throw e;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /** Drops the oldest plain saves beyond the limit; the first version and snapshots stay. */
  private async prune(id: string): Promise<void> {
    const numbers = await this.numbers(id);
    let excess = numbers.length - this.maxVersions;
    for (const n of numbers.slice(1)) {
      if (excess <= 0) break;
      const known = this.knownFor(id).get(n);
      const summary = known === undefined ? (await this.read(id, n))?.summary : known;
      // A damaged file is left alone (and still counts): it is never deleted.
      if (!summary || summary.kind === 'snapshot') continue;
      await fs.rm(this.fileFor(id, n), { force: true });
      this.knownFor(id).delete(n);
      excess--;
    }
  }
}

/** Temp files a killed write left behind; only old ones, as another window may be writing now. */
async function sweepStaleTempFiles(dir: string, olderThanMs = 10 * 60_000): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const n of names.filter((x) => x.startsWith('.') && x.endsWith('.tmp'))) {
    const file = path.join(dir, n);
    const stat = await fs.stat(file).catch(() => undefined);
    if (stat && now - stat.mtimeMs > olderThanMs) await fs.rm(file, { force: true });
  }
}
