// The first proof of a forget (memoryStore.test, sharedMemory.test): every version of a table left
// after cleanup, read row by row, holds none of what was forgotten.
import assert from 'node:assert/strict';
import type { Table } from '@lancedb/lancedb';

/** Asserts that cleanup left at most 2 versions of `table`, none empty and none with a row for which `holds` is true; closes the table. */
export async function assertNoVersionHolds(table: Table, name: string, holds: (row: { text: string; source: string }) => boolean): Promise<void> {
  try {
    const versions = await table.listVersions();
    assert.ok(versions.length <= 2, `old versions cleaned up (${versions.length})`);
    for (const v of versions) {
      await table.checkout(v.version);
      const rows = await table.query().select(['text', 'source']).toArray();
      assert.ok(rows.length > 0);
      assert.ok(!rows.some((r) => holds({ text: String(r.text), source: String(r.source) })), `version ${v.version} of ${name}`);
    }
  } finally {
    table.close();
  }
}
