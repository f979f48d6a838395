// The CPU check that keeps LanceDB's Haswell build from killing the extension host with SIGILL,
// and the load's other refusals, played on machines other than this one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LanceDbModule, LoaderEnvironment } from '../../src/rag/lanceLoader';
import {
  cpuRefusal,
  loadLanceDbIn,
  missingCpuFeaturesReason,
  missingCpuFlags,
  parseCpuFlags,
  rootCause,
} from '../../src/rag/lanceLoader';

const haswell =
  'processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Core(TM) i7-4770\n' +
  'flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi1 bmi2\n' +
  'bugs\t\t: spectre_v1\n\nprocessor\t: 1\nflags\t\t: fpu avx2 fma\n';
const sandyBridge = 'processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx aes\n';
const noFma = 'flags : sse avx avx2\n';

function machine(over: Partial<LoaderEnvironment> = {}): LoaderEnvironment & { required: number } {
  const env: LoaderEnvironment & { required: number } = {
    platform: 'linux',
    arch: 'x64',
    readCpuInfo: () => haswell,
    requireLanceDb: () => {
      env.required++;
      return {} as LanceDbModule;
    },
    env: {},
    required: 0,
    ...over,
  };
  return env;
}

describe('parseCpuFlags', () => {
  it('reads the flags of the first processor', () => {
    const flags = parseCpuFlags(haswell)!;
    assert.ok(flags.has('avx2') && flags.has('fma') && flags.has('sse4_2'));
    assert.ok(!flags.has('bugs') && !flags.has('spectre_v1'));
  });

  it('does not take a flag for part of another (avx is not avx2, fma is not fma4)', () => {
    assert.deepEqual(missingCpuFlags('flags : avx avx512f fma4\n'), ['avx2', 'fma']);
  });

  it('says nothing when there is no flags line', () => {
    assert.equal(parseCpuFlags('processor : 0\nFeatures : fp asimd\n'), undefined);
    assert.deepEqual(missingCpuFlags(''), []);
  });

  it('lists what is missing', () => {
    assert.deepEqual(missingCpuFlags(haswell), []);
    assert.deepEqual(missingCpuFlags(sandyBridge), ['avx2', 'fma']);
    assert.deepEqual(missingCpuFlags(noFma), ['fma']);
  });
});

describe('cpuRefusal', () => {
  it('refuses a Linux x64 CPU without AVX2/FMA with the message the person sees', () => {
    const reason = cpuRefusal(machine({ readCpuInfo: () => sandyBridge }));
    assert.ok(reason?.startsWith(missingCpuFeaturesReason), reason);
    assert.match(reason!, /missing: avx2, fma/);
  });

  it('lets a Haswell or newer CPU through', () => {
    assert.equal(cpuRefusal(machine()), undefined);
  });

  it('checks only Linux x64 (other builds are not compiled for Haswell)', () => {
    const never = () => {
      throw new Error('must not be read');
    };
    assert.equal(cpuRefusal(machine({ platform: 'darwin', readCpuInfo: never })), undefined);
    assert.equal(cpuRefusal(machine({ arch: 'arm64', readCpuInfo: never })), undefined);
    assert.equal(cpuRefusal(machine({ platform: 'win32', readCpuInfo: never })), undefined);
  });

  it('lets the load be tried when /proc/cpuinfo cannot be read', () => {
    const unreadable = () => {
      throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
    };
    assert.equal(cpuRefusal(machine({ readCpuInfo: unreadable })), undefined);
  });
});

describe('loadLanceDbIn', () => {
  it('does not touch the native module on a CPU that would die of SIGILL', () => {
    const m = machine({ readCpuInfo: () => sandyBridge });
    const result = loadLanceDbIn(m);
    assert.equal(result.ok, false);
    assert.equal(m.required, 0);
  });

  it('turns a failed require (no binary for this platform) into a reason', () => {
    const m = machine({
      platform: 'linux',
      arch: 'riscv64',
      requireLanceDb: () => {
        throw new Error("Cannot find module '@lancedb/lancedb-linux-riscv64-gnu'\nRequire stack: …");
      },
    });
    const result = loadLanceDbIn(m);
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.match(result.reason, /could not be loaded on this platform \(linux-riscv64\)/);
      assert.match(result.reason, /chat works without it/);
      assert.doesNotMatch(result.reason, /Require stack/);
    }
  });

  it("names the real failure, not napi-rs's wrapper about npm (what an installed extension meets)", () => {
    // The shape of @lancedb/lancedb's native.js: each failed path chained through `cause`.
    const besideBundle = new Error('/ext/dist/lancedb.linux-x64-gnu.node: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.28\' not found');
    const fromPackage = Object.assign(new Error("Cannot find module '@lancedb/lancedb-linux-x64-gnu'\nRequire stack: …"), { cause: besideBundle });
    const m = machine({
      requireLanceDb: () => {
        throw new Error('Cannot find native binding. npm has a bug related to optional dependencies. Please try `npm i` again.', { cause: fromPackage });
      },
    });
    const result = loadLanceDbIn(m);
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.match(result.reason, /GLIBC_2\.28' not found/);
      assert.doesNotMatch(result.reason, /npm has a bug|Require stack/);
    }
    // Nothing but missing files: the innermost one says which.
    assert.equal(rootCause(new Error('wrapper', { cause: Object.assign(new Error("Cannot find module 'a'"), { cause: new Error("Cannot find module './x.node'") }) })), "Cannot find module './x.node'");
  });

  it('sets LANCE_CPU_THREADS to 2 before loading, and keeps a value already set', () => {
    const seen: (string | undefined)[] = [];
    const m = machine();
    m.requireLanceDb = () => {
      seen.push(m.env.LANCE_CPU_THREADS);
      return {} as LanceDbModule;
    };
    assert.equal(loadLanceDbIn(m).ok, true);
    assert.deepEqual(seen, ['2']);

    const pinned = machine({ env: { LANCE_CPU_THREADS: '4' } });
    loadLanceDbIn(pinned);
    assert.equal(pinned.env.LANCE_CPU_THREADS, '4');
  });
});
