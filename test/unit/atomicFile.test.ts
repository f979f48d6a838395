// Atomic writes and the sweep of the temp files a killed write leaves: a sweep that runs while this
// process is writing (a store listing its folder while it saves) must not take the write's temp file.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sweepTempFiles, writeFileAtomic } from '../../src/util/atomicFile';

describe('atomic files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'persona-atomic-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('a sweep during a write leaves its temp file, and removes one a killed write left', async () => {
    await writeFile(join(dir, '.left.json.abcdef.tmp'), 'half');
    const data = 'x'.repeat(32 << 20);
    let written = false;
    const write = writeFileAtomic(join(dir, 'big.json'), data).finally(() => (written = true));
    let swept: number | undefined;
    // As soon as the write's temp file is there, sweep the folder.
    while (swept === undefined) {
      assert.ok(!written, 'the write ended before its temp file was seen: the test did not test the sweep');
      const temps = (await readdir(dir)).filter((n) => n.startsWith('.big.json.'));
      if (temps.length > 0) swept = await sweepTempFiles(dir);
      else await new Promise((r) => setImmediate(r));
    }
    await write;
    assert.equal(swept, 1, 'only the temp file of the killed write goes');
    assert.deepEqual(await readdir(dir), ['big.json']);
    assert.equal((await readFile(join(dir, 'big.json'), 'utf8')).length, data.length);
  });
});
