// The layers of src/, read from every import: a file's folder says what it may import.
//   util, shared → providers → rag, characters → chat → extension;   webview → shared.
// Only src/extension imports `vscode`, and all of it does (it is the adapters and the composition
// root); src/shared and src/webview run in the browser too, so they import nothing of Node's.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';

const SRC = join(__dirname, '../../src');

type Area = 'util' | 'shared' | 'providers' | 'rag' | 'characters' | 'chat' | 'extension' | 'webview';

/** What each area may import, itself included. */
const MAY_IMPORT: Record<Area, readonly Area[]> = {
  util: ['util'],
  shared: ['shared'],
  providers: ['util', 'shared', 'providers'],
  rag: ['util', 'shared', 'providers', 'rag'],
  characters: ['util', 'shared', 'providers', 'characters'],
  chat: ['util', 'shared', 'providers', 'rag', 'characters', 'chat'],
  extension: ['util', 'shared', 'providers', 'rag', 'characters', 'chat', 'extension'],
  webview: ['shared', 'webview'],
};
const BROWSER_SAFE: readonly Area[] = ['shared', 'webview'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(n) && !n.endsWith('.d.ts') ? [p] : [];
  });
}

/** The area of a file under src/ ('src/rag/chunker.ts' → 'rag'), or undefined outside the known ones. */
function areaOf(srcRelative: string): Area | undefined {
  const top = srcRelative.split(/[\\/]/)[0];
  return top && top in MAY_IMPORT ? (top as Area) : undefined;
}

/** Every module specifier a file names: static and type imports, re-exports, import() and require(). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g, /(?:^|[\s;])import\s*['"]([^'"]+)['"]/g, /\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const p of patterns) for (const m of text.matchAll(p)) found.push(m[1]!);
  return found;
}

/** Why `from` may not import `to` (both relative to src/), or undefined when it may. */
function ruleBroken(from: string, to: string): string | undefined {
  const a = areaOf(from);
  const b = areaOf(to);
  if (!a) return `${from} is in no known area of src/`;
  if (!b) return `${from} imports ${to}, which is in no known area of src/`;
  return MAY_IMPORT[a].includes(b) ? undefined : `${from} (${a}) imports ${to} (${b}): ${a} may import only ${MAY_IMPORT[a].join(', ')}`;
}

const nodeBuiltins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function violations(): string[] {
  const out: string[] = [];
  for (const file of files(SRC)) {
    const from = relative(SRC, file).split(sep).join('/');
    const area = areaOf(from);
    const text = readFileSync(file, 'utf8');
    const specs = specifiers(text);
    const importsVscode = specs.includes('vscode');
    if (area === 'extension' && !importsVscode) out.push(`${from} does not import vscode: it belongs in a plain-Node area (src/extension holds exactly the code that does)`);
    if (area !== 'extension' && importsVscode) out.push(`${from} imports vscode: only src/extension may`);
    for (const spec of specs) {
      if (spec.startsWith('.')) {
        const target = relative(SRC, resolve(dirname(file), spec)).split(sep).join('/');
        if (target.startsWith('..')) {
          out.push(`${from} imports ${spec}, outside src/`);
          continue;
        }
        const broken = ruleBroken(from, target);
        if (broken) out.push(broken);
      } else if (area && BROWSER_SAFE.includes(area) && nodeBuiltins.has(spec)) {
        out.push(`${from} imports ${spec}: src/${area} runs in the browser too`);
      }
    }
  }
  return out;
}

describe('layers of src/', () => {
  it('every import in src/ follows the order util, shared → providers → rag, characters → chat → extension; webview → shared', () => {
    assert.deepEqual(violations(), []);
  });

  it('the rule catches an arrow against the order, such as the rag → extension import the tree once had', () => {
    assert.match(ruleBroken('rag/indexingQueue.ts', 'extension/atomicFile.ts') ?? '', /rag\/indexingQueue\.ts \(rag\) imports extension\/atomicFile\.ts \(extension\)/);
    assert.ok(ruleBroken('characters/cards/cardPrompt.ts', 'chat/chatService.ts'), 'characters may not import chat');
    assert.ok(ruleBroken('rag/memoryService.ts', 'characters/personaRegistry.ts'), 'rag and characters are apart');
    assert.ok(ruleBroken('webview/chat/app.tsx', 'util/logger.ts'), 'the webview imports shared only');
    assert.ok(ruleBroken('shared/chatProtocol.ts', 'util/logger.ts'), 'shared imports nothing host-only');
    assert.equal(ruleBroken('chat/chatService.ts', 'rag/knowledgeBases.ts'), undefined);
    assert.equal(ruleBroken('extension/main.ts', 'chat/chatService.ts'), undefined);
  });

  it('reads every kind of import', () => {
    const text = [
      "import { a } from '../a';",
      "import type { B } from '../b';",
      "export { c } from './c';",
      "import './d';",
      "const e = require('../e');",
      "type F = typeof import('../f');",
      "import {\n  g,\n  h,\n} from '../gh';",
    ].join('\n');
    assert.deepEqual(specifiers(text).sort(), ['../a', '../b', '../e', '../f', '../gh', './c', './d']);
  });
});
