// Loads LanceDB's native module on first use, and refuses where loading it would crash. The Linux
// x64 build is compiled for Haswell (AVX2 + FMA): on an older CPU the load dies with SIGILL and
// takes the whole extension host with it, so the CPU is checked before the module is touched.
// Callers import this module lazily (never at activation): the native binary is 160 MB.
import { readFileSync } from 'node:fs';

export type LanceDbModule = typeof import('@lancedb/lancedb');

export type LanceLoadResult = { ok: true; lancedb: LanceDbModule } | { ok: false; reason: string };

export const missingCpuFeaturesReason =
  "This CPU lacks AVX2/FMA, which LanceDB's Linux build needs: memory is off; chat works without it";

/** The CPU features LanceDB's Linux x64 build is compiled for. */
export const requiredCpuFlags = ['avx2', 'fma'] as const;

/**
 * The flags of the first processor in a `/proc/cpuinfo` text, or undefined when there is no
 * `flags` line (a kernel or sandbox that hides it: then nothing can be told).
 */
export function parseCpuFlags(cpuinfo: string): Set<string> | undefined {
  for (const line of cpuinfo.split('\n')) {
    const m = /^flags\s*:(.*)$/.exec(line);
    if (m) return new Set(m[1]!.trim().split(/\s+/).filter(Boolean));
  }
  return undefined;
}

/** Which of the required flags a `/proc/cpuinfo` text lacks; empty when all are there or unknown. */
export function missingCpuFlags(cpuinfo: string): string[] {
  const flags = parseCpuFlags(cpuinfo);
  if (!flags) return [];
  return requiredCpuFlags.filter((f) => !flags.has(f));
}

export interface LoaderEnvironment {
  platform: NodeJS.Platform;
  arch: string;
  /** Returns `/proc/cpuinfo`, or throws when it cannot be read. */
  readCpuInfo: () => string;
  /** Loads the module; throws when its native binary is missing or does not load. */
  requireLanceDb: () => LanceDbModule;
  env: NodeJS.ProcessEnv;
}

/** Why LanceDB must not be loaded on this machine, or undefined when it may be tried. */
export function cpuRefusal(env: Pick<LoaderEnvironment, 'platform' | 'arch' | 'readCpuInfo'>): string | undefined {
  if (env.platform !== 'linux' || env.arch !== 'x64') return undefined;
  let cpuinfo: string;
  try {
    cpuinfo = env.readCpuInfo();
  } catch {
    // Unreadable: refusing would turn memory off on every sandboxed machine, nearly all of which
    // are fine (AVX2 is in every x64 CPU since 2013-2015).
    return undefined;
  }
  const missing = missingCpuFlags(cpuinfo);
  return missing.length ? `${missingCpuFeaturesReason} (missing: ${missing.join(', ')}).` : undefined;
}

/** The load itself, with the machine passed in so that tests can play other machines. */
export function loadLanceDbIn(env: LoaderEnvironment): LanceLoadResult {
  // Below 2 threads LanceDB's full-text index build deadlocks on ≥ 15k rows (lancedb#3568); the
  // variable is read by the native runtime, so it must be set before the first require.
  env.env.LANCE_CPU_THREADS ??= '2';
  const refusal = cpuRefusal(env);
  if (refusal) return { ok: false, reason: refusal };
  try {
    return { ok: true, lancedb: env.requireLanceDb() };
  } catch (err) {
    const detail = rootCause(err);
    return {
      ok: false,
      reason: `LanceDB could not be loaded on this platform (${env.platform}-${env.arch}): memory is off; chat works without it. (${detail})`,
    };
  }
}

let loaded: Promise<LanceLoadResult> | undefined;

/** Loads `@lancedb/lancedb` once per process; every later call gets the same answer. */
export function loadLanceDb(): Promise<LanceLoadResult> {
  loaded ??= Promise.resolve().then(() =>
    loadLanceDbIn({
      platform: process.platform,
      arch: process.arch,
      readCpuInfo: () => readFileSync('/proc/cpuinfo', 'utf8'),
      // A plain require: esbuild keeps it external, and the package is CommonJS.
      requireLanceDb: () => require('@lancedb/lancedb') as LanceDbModule,
      env: process.env,
    }),
  );
  return loaded;
}

/**
 * The line that says why the native module failed. napi-rs wraps each path it tried (the .node file
 * beside the bundle, then the platform package) in "Cannot find native binding. npm has a bug…",
 * which means nothing in an installed extension: take the first error in the `cause` chain that is
 * more than a missing file (a missing GLIBC version, a wrong architecture), else the innermost one.
 */
export function rootCause(err: unknown): string {
  const lines: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 10 && current !== undefined && current !== null; depth++) {
    lines.push((current instanceof Error ? current.message : String(current)).split('\n')[0]!.trim());
    const cause: unknown = current instanceof Error ? current.cause : undefined;
    current = Array.isArray(cause) ? cause.at(-1) : cause;
  }
  const causes = lines.slice(1);
  return causes.find((l) => !/Cannot find module/i.test(l)) ?? causes.at(-1) ?? lines[0] ?? 'unknown error';
}
