// npm run fuzz: the readers of untrusted input, each for FUZZ_SECONDS (default 30) of mutated inputs
// from FUZZ_SEED, reporting inputs per second and every crash with the input that caused it. The card
// readers' own fuzzer runs longer with FUZZ_CASES: node --import tsx --test test/unit/cards.fuzz.test.ts
import { fuzzTargets, mutate } from '../test/support/fuzzTargets';
import { prng } from '../test/support/prng';

async function main(): Promise<void> {
  const seconds = Number(process.env.FUZZ_SECONDS ?? 30);
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
  console.log(`fuzz: seed ${seed}, ${seconds} s per reader (replay with FUZZ_SEED=${seed})`);
  let crashes = 0;
  const targets = fuzzTargets();
  try {
    for (const target of targets) {
      const rng = prng(seed ^ target.name.length);
      const until = performance.now() + seconds * 1000;
      let inputs = 0;
      let accepted = 0;
      const started = performance.now();
      while (performance.now() < until) {
        const input = mutate(rng, target.sample);
        inputs++;
        try {
          if (await target.run(input)) accepted++;
        } catch (e) {
          crashes++;
          if (crashes <= 5) console.log(`  CRASH in ${target.name} (input ${inputs}): ${(e as Error).message}\n  input: ${JSON.stringify(input.slice(0, 2000))}`);
        }
      }
      const rate = inputs / ((performance.now() - started) / 1000);
      console.log(`${target.name.padEnd(26)} ${inputs.toLocaleString('en').padStart(9)} inputs, ${Math.round(rate).toLocaleString('en').padStart(7)}/s, ${((accepted / inputs) * 100).toFixed(1)}% accepted`);
    }
  } finally {
    for (const t of targets) t.dispose?.();
  }
  console.log(crashes === 0 ? 'fuzz: no crash' : `fuzz: ${crashes} crash(es)`);
  process.exitCode = crashes === 0 ? 0 : 1;
}

void main();
