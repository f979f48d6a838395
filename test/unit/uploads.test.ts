// Forgetting a dropped file removes its upload copy; Forget All removes every one; nothing else goes.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { removeUploadCopies, uploadCopyOf } from '../../src/rag/uploads';

describe('upload copies', () => {
  let root: string;
  let uploads: string;
  const source = (file: string) => file.split(sep).join('/');

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'persona-uploads-'));
    uploads = join(root, 'memory', 'uploads');
    for (const [hash, name] of [
      ['aaaa', 'notes.md'],
      ['bbbb', 'spec.txt'],
    ]) {
      await mkdir(join(uploads, hash!), { recursive: true });
      await writeFile(join(uploads, hash!, name!), `text of ${name}`);
    }
    await writeFile(join(root, 'outside.md'), 'not an upload');
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('names the copy of a source inside the uploads folder only', () => {
    assert.equal(uploadCopyOf(source(join(uploads, 'aaaa', 'notes.md')), uploads), join(uploads, 'aaaa', 'notes.md'));
    assert.equal(uploadCopyOf('notes/a.md', uploads), undefined, 'a workspace file');
    assert.equal(uploadCopyOf(source(join(root, 'outside.md')), uploads), undefined);
    assert.equal(uploadCopyOf(source(join(uploads, '..', '..', 'outside.md')), uploads), undefined, 'a path that climbs out');
    assert.equal(uploadCopyOf(source(uploads), uploads), undefined, 'the folder itself');
  });

  it('forgetting one removes its file and its folder, and leaves the others and everything outside', async () => {
    assert.equal(await removeUploadCopies(uploads, [source(join(uploads, 'aaaa', 'notes.md')), 'notes/a.md', source(join(root, 'outside.md'))]), 1);
    assert.deepEqual(await readdir(uploads), ['bbbb']);
    assert.deepEqual((await readdir(root)).sort(), ['memory', 'outside.md']);
  });

  it('Forget All removes every upload', async () => {
    assert.equal(await removeUploadCopies(uploads, 'all'), 2);
    assert.deepEqual(await readdir(join(root, 'memory')), []);
    assert.equal(await removeUploadCopies(uploads, 'all'), 0, 'again: nothing there, no error');
  });
});
