// The readers of untrusted bytes that are not cards (conversation files, the indexing journal, the
// messages of both webviews), each fed mutated copies of a valid sample: every input ends in a value or
// the reader's own refusal, never another exception. Seeded: FUZZ_SEED=<n> replays a run. A longer
// run, with inputs per second: npm run fuzz.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { prng } from '../support/prng';
import { fuzzTargets, mutate } from '../support/fuzzTargets';

const seed = Number(process.env.FUZZ_SEED ?? 20261202);
const cases = Number(process.env.FUZZ_CASES ?? 400);
const targets = fuzzTargets();
after(() => targets.forEach((t) => t.dispose?.()));

describe(`readers of untrusted input (seed ${seed}, ${cases} cases each)`, () => {
  for (const target of targets) {
    it(`${target.name}: accepted or refused, never a crash`, async () => {
      assert.equal(await target.run(target.sample), true, 'the sample itself is accepted');
      const rng = prng(seed ^ target.name.length);
      let accepted = 0;
      for (let i = 0; i < cases; i++) {
        const input = mutate(rng, target.sample);
        try {
          if (await target.run(input)) accepted++;
        } catch (e) {
          assert.fail(`case ${i} crashed the ${target.name} reader: ${(e as Error).stack}\ninput: ${JSON.stringify(input.slice(0, 2000))}`);
        }
      }
      assert.ok(accepted < cases, 'the mutations reach refusals');
    });
  }
});
