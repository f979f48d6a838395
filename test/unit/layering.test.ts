// Code outside src/extension never imports `vscode`, so it runs (and is tested) in plain Node.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(n) ? [p] : [];
  });
}

it('src/providers, src/rag, src/shared and src/webview do not import vscode', () => {
  const root = join(__dirname, '../../src');
  const offenders = ['providers', 'rag', 'shared', 'webview']
    .flatMap((d) => {
      try {
        return files(join(root, d));
      } catch {
        return [];
      }
    })
    .filter((f) => /from ['"]vscode['"]|require\(['"]vscode['"]\)/.test(readFileSync(f, 'utf8')));
  assert.deepEqual(offenders, []);
});
