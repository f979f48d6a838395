// A streaming reply rendered block by block (issue 13): the splitter's blocks, put back together,
// render as the whole text does, for every prefix of realistic replies; splitting piece by piece
// gives the blocks that splitting at once gives; and the view (Preact in happy-dom, bundled by
// esbuild as contextMeter.test.ts does) renders a finished block once and keeps its element while
// later text arrives. The last part measures updates of 100 KB replies streamed in 200-character
// pieces, pathological ones included, and prints the times: happy-dom is about ten times slower
// than the webview's Chromium, and timing is printed, not asserted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Window } from 'happy-dom';
import { Marked } from 'marked';
import { createHighlighter } from '../../src/webview/chat/highlighter';
import { createMarkdownRenderer, type MarkdownRenderer } from '../../src/webview/chat/markdown';
import { MarkdownBlockSplitter, openFence, splitMarkdownBlocks, tableLines, type MarkdownBlocks } from '../../src/webview/chat/markdownBlocks';
import { makeHappyDomStandardEnoughForDomPurify } from '../support/happyDomForDomPurify';
import { prng } from '../support/prng';
import { loadComponent } from '../support/webviewBundle';

type HappyWindow = InstanceType<typeof Window>;

// ---------------------------------------------------------------------------------------------
// Replies as models write them.

const REPLIES: Record<string, string> = {
  'heading, paragraphs, code with blank lines, table, list, quote': [
    '## Reading a file',
    '',
    'Use **`fs.readFile`**, _not_ ~~the sync one~~. See [the docs](https://nodejs.org/api/fs.html).',
    '',
    '```ts',
    "import { readFile } from 'node:fs/promises';",
    '',
    "const text = await readFile('a.txt', 'utf8');",
    '',
    '',
    'console.log(text);',
    '```',
    '',
    '| Method | Blocking |',
    '|:-------|:--------:|',
    '| readFile | no |',
    '| readFileSync | yes |',
    '',
    '1. Open',
    '2. Read',
    '   - check errors',
    '',
    '> Tip: handle `ENOENT`.',
    '>',
    '> Also `EACCES`.',
    '',
    '> A second quote.',
    '',
    'Done.',
    '',
  ].join('\n'),
  'loose lists with code in an item, tight lists after': [
    'Here are the steps:',
    '',
    '1. Install the package.',
    '',
    '   ```bash',
    '   npm install persona',
    '',
    '   npm test',
    '   ```',
    '',
    '2. Configure it.',
    '',
    '   Set the base URL.',
    '',
    '3. Run it.',
    '',
    '- a bullet',
    '- another',
    '',
    '* a star list',
    '',
    '  with a second paragraph',
    '',
    'Final words.',
    '',
  ].join('\n'),
  'nested lists': [
    '- Fruit',
    '  - Apple',
    '    - Green',
    '    - Red',
    '',
    '  - Pear',
    '',
    '- Vegetables',
    '    1. Carrot',
    '    2. Leek',
    '',
    'Text after.',
    '',
    '1) one',
    '2) two',
    '',
    '3) three',
    '',
  ].join('\n'),
  'tilde and long fences, an unterminated fence last': [
    'Some code:',
    '',
    '~~~python',
    'def f():',
    '',
    '    return 1',
    '~~~',
    '',
    '````md',
    '```js',
    'inner',
    '```',
    '',
    'still inside',
    '````',
    '',
    'After the fences.',
    '~~~~',
    '~~~',
    'not closed by a shorter fence',
    '',
    '```',
    'nor by backticks',
  ].join('\n'),
  'setext headings and a rule right after a paragraph': [
    'Title',
    '=====',
    '',
    'Intro paragraph',
    '---',
    '',
    'Another paragraph',
    '',
    '---',
    '',
    'Heading two',
    '-----------',
    'text right after',
    '***',
    '- item',
    '---',
    'The end',
  ].join('\n'),
  'task lists, headings and fences without blank lines': [
    '### Plan',
    '',
    '- [x] Write the splitter',
    '- [ ] Test it',
    '',
    '- [ ] Ship it',
    '  - [x] sub task',
    '',
    'Paragraph.',
    '# Heading right after',
    'Paragraph again',
    '```js',
    'let a = 1;',
    '```',
    'Text after the fence',
    '## Another',
    '',
  ].join('\n'),
  'HTML, shown as text, some of it spanning blank lines': [
    'Some <b>inline</b> html.',
    '',
    '<div>',
    'a block',
    '',
    '<!-- a comment',
    '',
    'spanning blank lines -->',
    '',
    '<pre>',
    'x',
    '',
    'y',
    '</pre>',
    '',
    'after.',
    '',
  ].join('\n'),
  'indented code and indented paragraphs': [
    'Paragraph:',
    '',
    '    code line 1',
    '',
    '    code line 2',
    '',
    'Back to text.',
    '',
    '  indented paragraph',
    '',
    '- list',
    '\t- tab nested',
    '',
  ].join('\n'),
  'tables': ['| a | b |', '|---|---|', '| 1 | 2 |', '| 3 | 4 |', 'a row without pipes at the ends', '', '| x |', '|---|', '| y |', '', 'Another.', ''].join('\n'),
  'block quotes with lists, blank quote lines and lazy lines': [
    '> quote line',
    'lazy continuation',
    '',
    '> - list in quote',
    '> - more',
    '>',
    '> paragraph in quote',
    '',
    '>> nested',
    '> back',
    '',
    'Text.',
    '> quote right after text',
    '',
  ].join('\n'),
  'a fence closed at the wrong indentation inside a list': ['1. Install:', '   ```bash', '   npm install', '```', '2. Run it', '', 'more text', '', '```', 'last', '```', '', 'end', ''].join('\n'),
  'CRLF line ends': 'Line one\r\n\r\n- item\r\n- item two\r\n\r\n```\r\ncode\r\n\r\nmore\r\n```\r\n\r\nEnd.\r\n',
};

const marked = new Marked({ gfm: true });
const parse = (markdown: string): string => marked.parse(markdown, { async: false });

/** What the view shows: the finished blocks and the open block, each rendered on its own. */
function renderedInBlocks(split: MarkdownBlocks, render: (block: string) => string): string {
  return [...split.blocks, split.tail].map(render).join('');
}

describe('splitting markdown into blocks', () => {
  it('renders every prefix of every reply in blocks as marked renders it whole, and the blocks are the text', () => {
    const cache = new Map<string, string>();
    const cached = (block: string) => cache.get(block) ?? (cache.set(block, parse(block)), cache.get(block)!);
    for (const [name, reply] of Object.entries(REPLIES)) {
      const splitter = new MarkdownBlockSplitter();
      for (let end = 0; end <= reply.length; end++) {
        const prefix = reply.slice(0, end);
        const split = splitter.update(prefix);
        assert.equal(split.blocks.join('') + split.tail, prefix, `${name}: the blocks are the text`);
        assert.equal(renderedInBlocks(split, cached), parse(prefix), `${name}, first ${end} characters: ${JSON.stringify(split.blocks)} + ${JSON.stringify(split.tail)}`);
      }
    }
  });

  it('finds blocks in every reply (a splitter that never splits would pass the test above)', () => {
    const counts = Object.fromEntries(Object.entries(REPLIES).map(([name, reply]) => [name, splitMarkdownBlocks(reply).blocks.length]));
    for (const [name, count] of Object.entries(counts)) assert.ok(count >= 1, `${name}: ${count} blocks`);
    assert.deepEqual(splitMarkdownBlocks(REPLIES['heading, paragraphs, code with blank lines, table, list, quote']!).blocks.map((b) => b.split('\n', 1)[0]), [
      '## Reading a file',
      'Use **`fs.readFile`**, _not_ ~~the sync one~~. See [the docs](https://nodejs.org/api/fs.html).',
      '```ts',
      '| Method | Blocking |',
      '1. Open',
      '> Tip: handle `ENOENT`.',
      '> A second quote.',
    ]);
  });

  it('splits piece by piece as it splits at once, whatever the pieces', () => {
    const random = prng(13);
    for (const [name, reply] of Object.entries(REPLIES)) {
      for (let run = 0; run < 20; run++) {
        const splitter = new MarkdownBlockSplitter();
        let end = 0;
        while (end < reply.length) {
          end = Math.min(reply.length, end + 1 + Math.floor(random() * (run < 10 ? 4 : 60)));
          const piecewise = splitter.update(reply.slice(0, end));
          const atOnce = splitMarkdownBlocks(reply.slice(0, end));
          assert.deepEqual([...piecewise.blocks], [...atOnce.blocks], `${name}, first ${end} characters`);
          assert.equal(piecewise.tail, atOnce.tail);
        }
      }
    }
  });

  it('never changes a finished block while the text grows', () => {
    for (const [name, reply] of Object.entries(REPLIES)) {
      const splitter = new MarkdownBlockSplitter();
      let seen: string[] = [];
      for (let end = 0; end <= reply.length; end++) {
        const { blocks } = splitter.update(reply.slice(0, end));
        assert.deepEqual(blocks.slice(0, seen.length), seen, name);
        seen = [...blocks];
      }
    }
  });

  it('starts again when the content is replaced by text that does not continue it', () => {
    const splitter = new MarkdownBlockSplitter();
    const first = splitter.update('# One\n\nFirst reply.\n\nMore.\n');
    assert.deepEqual([...first.blocks], ['# One\n\n', 'First reply.\n\n']);
    const other = splitter.update('# Two\n\nSecond\n');
    assert.deepEqual([...other.blocks], ['# Two\n\n']);
    assert.equal(other.tail, 'Second\n');
    assert.notEqual(other.blocks, first.blocks, 'a new array, so a view drops what it rendered');
    // Only the line still arriving changed (a stream restarted within it): carry on.
    splitter.update('Para one\n\nPara t');
    const edited = splitter.update('Para one\n\nPara\nthree\n\nfour\n');
    assert.deepEqual([...edited.blocks], [...splitMarkdownBlocks('Para one\n\nPara\nthree\n\nfour\n').blocks]);
  });

  it('keeps fences open by their closing rules, and an unterminated fence is the open block', () => {
    // A shorter run, the other character, or text after the run do not close a fence.
    for (const notClosing of ['``', '~~~', '``` x', '```\t']) {
      const text = `\`\`\`\ncode\n\n${notClosing}\n\nstill code\n`;
      assert.deepEqual([...splitMarkdownBlocks(text).blocks], [], notClosing);
    }
    // A longer run of the same character, indented up to three spaces, does.
    for (const closing of ['```', '````', '   ```', '```   ']) {
      const text = `\`\`\`\ncode\n\n${closing}\n\nafter\n\nmore\n`;
      assert.deepEqual([...splitMarkdownBlocks(text).blocks], [`\`\`\`\ncode\n\n${closing}\n\n`, 'after\n\n'], JSON.stringify(closing));
    }
    const open = splitMarkdownBlocks('Intro\n\n~~~~python\ndef f():\n\n    return 1\n~~~\n\nstill code');
    assert.deepEqual([...open.blocks], ['Intro\n\n']);
    assert.deepEqual(openFence(open.tail), { language: 'python', code: 'def f():\n\n    return 1\n~~~\n\nstill code' });
    assert.deepEqual(openFence('```js\nlet a;\n```'), { language: 'js', code: 'let a;' }, 'a closing fence without its line end closes already');
    assert.equal(openFence('```js\nlet a;\n```\nafter'), undefined);
    assert.equal(openFence('para\n```js\n'), undefined);
  });

  it('does not split a loose list, a list item continued after a blank line, or indented code', () => {
    for (const text of [
      '- a\n\n- b\n\n- c\n\nx\n',
      '1. a\n\n2. b\n\nx\n',
      '- a\n\n  more of a\n\n- b\n\nx\n',
      '    code\n\n    more code\n\nx\n',
    ]) {
      const { blocks } = splitMarkdownBlocks(text);
      assert.equal(blocks.length, 1, `${JSON.stringify(text)}: ${JSON.stringify(blocks)}`);
      assert.equal(blocks[0], text.slice(0, -2));
    }
  });

  it('does not split an HTML comment or <pre> with blank lines in it', () => {
    assert.deepEqual([...splitMarkdownBlocks('<!--\n\nnote\n\n-->\n\nx\n').blocks], ['<!--\n\nnote\n\n-->\n\n']);
    assert.deepEqual([...splitMarkdownBlocks('<pre>\n\na\n\n</pre>\n\nx\n').blocks], ['<pre>\n\na\n\n</pre>\n\n']);
  });

  it('decides a boundary only once the line after it is complete', () => {
    // `1` may become `1. item` (continuing the list) or `1000 people` (ending it).
    assert.deepEqual([...splitMarkdownBlocks('1. a\n\n1').blocks], []);
    assert.deepEqual([...splitMarkdownBlocks('1. a\n\n1000 people\n').blocks], ['1. a\n\n']);
    assert.deepEqual([...splitMarkdownBlocks('1. a\n\n1. b\n').blocks], []);
    // A '\r' may be half of '\r\n'.
    assert.deepEqual([...splitMarkdownBlocks('a\r').blocks], []);
    assert.deepEqual([...splitMarkdownBlocks('a\r\n\r\nb\r').blocks], []);
    assert.deepEqual([...splitMarkdownBlocks('a\r\n\r\nb\r\n').blocks], ['a\r\n\r\n']);
  });

  it('renders a reference-style link as text when its definition is in another block (the accepted difference)', () => {
    const text = 'See [the docs][docs].\n\n[docs]: https://ok.example/docs\n';
    const split = splitMarkdownBlocks(text);
    assert.equal(split.blocks.length, 1);
    assert.match(parse(text), /<a href="https:\/\/ok.example\/docs">/);
    assert.doesNotMatch(renderedInBlocks(split, parse), /<a /);
  });
});

describe('splitting random markdown', () => {
  // Lines that mean something to a block rule, thrown together: the boundaries must hold for
  // text no model would write too (marked's own lexer checks each one; this checks the whole).
  const LINES = ['', '', '', 'para text', 'more *text*', '- item', '* star', '1. one', '2) two', '  - nested', '    indented', '   ```', '```', '```js', '~~~', '````', '> quote', '>', '> - quoted item', '# head', 'Title', '===', '---', '| a | b |', '|---|---|', '<div>', '<!--', '-->', '<pre>', '</pre>', '\tcode', '  para', '   1. x', '- [ ] task', '***'];

  it('renders 3,000 random documents in blocks as whole, split at once or piece by piece', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const random = prng(seed);
      const lines = Array.from({ length: 3 + Math.floor(random() * 14) }, () => LINES[Math.floor(random() * LINES.length)]!);
      const text = lines.join('\n') + (random() < 0.5 ? '\n' : '');
      const split = splitMarkdownBlocks(text);
      assert.equal(renderedInBlocks(split, parse), parse(text), `seed ${seed}: ${JSON.stringify(text)}`);
      const splitter = new MarkdownBlockSplitter();
      let piecewise = splitter.update('');
      for (let end = 0; end < text.length; ) {
        end = Math.min(text.length, end + 1 + Math.floor(random() * 7));
        piecewise = splitter.update(text.slice(0, end));
      }
      assert.deepEqual([...piecewise.blocks], [...split.blocks], `seed ${seed}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// With the chat's renderer (sanitized, highlighted) and the view.

let window: HappyWindow;
let renderer: MarkdownRenderer;

before(() => {
  window = new Window();
  makeHappyDomStandardEnoughForDomPurify(window);
  renderer = createMarkdownRenderer(window as unknown as globalThis.Window, { highlighter: createHighlighter() });
});
after(async () => {
  await window.happyDOM.close();
});

describe("rendering in blocks with the chat's renderer", () => {
  it('gives the HTML of the whole text, at the end of every line of every reply', () => {
    const cache = new Map<string, string>();
    const cached = (block: string) => cache.get(block) ?? (cache.set(block, renderer.render(block)), cache.get(block)!);
    for (const [name, reply] of Object.entries(REPLIES)) {
      const ends = [...reply.matchAll(/\n/g)].map((m) => m.index).concat(reply.length);
      for (const end of ends) {
        const prefix = reply.slice(0, end);
        assert.equal(renderedInBlocks(splitMarkdownBlocks(prefix), cached), renderer.render(prefix), `${name}, first ${end} characters`);
      }
    }
  });
});

function loadView() {
  const kit = loadComponent<(props: MarkdownViewProps) => unknown>('src/webview/chat/markdownView', 'MarkdownView');
  return { ...kit, MarkdownView: kit.MarkdownView! };
}

type Root = ReturnType<HappyWindow['document']['createElement']>;

/** MarkdownView's props (the root tsconfig type-checks tests without JSX, so not imported from the .tsx). */
interface MarkdownViewProps {
  content: string;
  renderer: MarkdownRenderer;
  version: number;
  streaming?: boolean;
  class?: string;
}

describe('the view', () => {
  let view: ReturnType<typeof loadView>;
  let savedDocument: unknown;
  let root: Root;
  before(() => {
    const g = globalThis as Record<string, unknown>;
    savedDocument = g.document;
    g.document = window.document;
    view = loadView();
  });
  after(() => {
    view.render(null, window.document.body as unknown as Element);
    (globalThis as Record<string, unknown>).document = savedDocument;
  });

  /** Mounts a fresh view; the returned function renders it again with other props. */
  function mount(props: MarkdownViewProps): (next: Partial<MarkdownViewProps>) => void {
    root = window.document.createElement('div');
    window.document.body.replaceChildren(root);
    let current = props;
    const draw = () => view.act(() => view.render(view.createElement(view.MarkdownView as never, current), root as unknown as Element));
    draw();
    return (next) => {
      current = { ...current, ...next };
      draw();
    };
  }

  /** Records every render, with the update it happened in. */
  function spy(inner: MarkdownRenderer) {
    const calls: Array<{ update: number; markdown: string }> = [];
    let update = 0;
    const spyRenderer: MarkdownRenderer = {
      render: (markdown) => (calls.push({ update, markdown }), inner.render(markdown)),
      setHighlighter: (h) => inner.setHighlighter(h),
    };
    return { renderer: spyRenderer, calls, nextUpdate: () => ++update };
  }

  const blocksOf = () => [...root.querySelectorAll('.markdown > .md-block')];

  it('renders each finished block once while the text grows', () => {
    // The reply with an unterminated fence last: it holds the rest.
    const reply = Object.entries(REPLIES)
      .sort(([a], [b]) => Number(a.startsWith('tilde')) - Number(b.startsWith('tilde')))
      .map(([, r]) => r)
      .join('\n\n');
    const { renderer: spied, calls, nextUpdate } = spy(renderer);
    const update = mount({ content: '', renderer: spied, version: 0, streaming: true });
    const finishedAt: number[] = [];
    const splitter = new MarkdownBlockSplitter();
    for (let end = 0; end < reply.length; ) {
      end = Math.min(reply.length, end + 9);
      const u = nextUpdate();
      update({ content: reply.slice(0, end) });
      const { blocks } = splitter.update(reply.slice(0, end));
      while (finishedAt.length < blocks.length) finishedAt.push(u);
    }
    const blocks = splitMarkdownBlocks(reply).blocks;
    assert.ok(blocks.length >= 30, `${blocks.length} blocks`);
    let tables = 0;
    blocks.forEach((block, i) => {
      const rows = tableLines(block, true)?.rows ?? [];
      if (rows.length > 0) {
        // A table is drawn a row at a time while it is written: once finished, nothing of it is rendered again.
        tables++;
        const again = calls.filter((c) => c.update >= finishedAt[i]! && rows.some((row) => c.markdown.split('\n').includes(row)));
        assert.deepEqual(again, [], `table block ${i} rendered after it was finished`);
        return;
      }
      const after = calls.filter((c) => c.update >= finishedAt[i]! && c.markdown === block);
      assert.equal(after.length, 1, `block ${i} rendered ${after.length} times after it was finished: ${JSON.stringify(block)}`);
    });
    assert.ok(tables >= 2, `${tables} tables`);
  });

  it('keeps a finished block’s element, untouched, while later text arrives', () => {
    const reply = REPLIES['heading, paragraphs, code with blank lines, table, list, quote']!;
    // The open block: the table, with its first row.
    const cut = reply.indexOf('\n', reply.indexOf('| readFile |')) + 1;
    const update = mount({ content: reply.slice(0, cut), renderer, version: 0, streaming: true });
    const before = blocksOf();
    assert.equal(before.length, 4, 'three finished blocks and the open one');
    const firstChildren = before.slice(0, 3).map((b) => [...b.childNodes]);
    const observer = new window.MutationObserver(() => {});
    for (const block of before.slice(0, 3)) observer.observe(block, { subtree: true, childList: true, attributes: true, characterData: true });
    // The open block changes: proof that the observer sees changes.
    const openObserver = new window.MutationObserver(() => {});
    openObserver.observe(before[3]!, { subtree: true, childList: true });

    for (let end = cut; end <= reply.length; end += 23) update({ content: reply.slice(0, end) });
    update({ content: reply, streaming: false });

    const afterwards = blocksOf();
    assert.equal(afterwards.length, splitMarkdownBlocks(reply).blocks.length + 1);
    for (let i = 0; i < 3; i++) {
      assert.equal(afterwards[i], before[i], `block ${i} is the same element`);
      assert.deepEqual([...afterwards[i]!.childNodes], firstChildren[i], `block ${i} holds the same nodes`);
    }
    assert.deepEqual(observer.takeRecords(), [], 'nothing in a finished block changed');
    assert.ok(openObserver.takeRecords().length > 0, 'the open block changed');
    observer.disconnect();
    openObserver.disconnect();
    assert.equal(afterwards[3], before[3], 'the open block’s element became the finished block’s');
  });

  it('shows a finished reply as the whole text rendered at once, in display: contents blocks', () => {
    for (const [name, reply] of Object.entries(REPLIES)) {
      mount({ content: reply, renderer, version: 0, class: 'message-content markdown' });
      const container = root.firstElementChild!;
      assert.equal(container.getAttribute('class'), 'message-content markdown');
      const expected = window.document.createElement('div');
      expected.innerHTML = renderer.render(reply);
      assert.equal(blocksOf().map((b) => b.innerHTML).join(''), expected.innerHTML, name);
    }
  });

  it('renders a finished reply with link definitions whole, so a reference resolves across blocks', () => {
    const reply = 'See [the guide][g] first.\n\nThen the rest.\n\n[g]: https://example.com/guide';
    const update = mount({ content: reply, renderer, version: 0, streaming: true });
    assert.equal(root.querySelectorAll('a').length, 0, 'while it streams, the reference is text (its definition is two blocks on)');
    update({ streaming: false });
    const link = root.querySelector('a');
    assert.equal(link?.getAttribute('data-href'), 'https://example.com/guide');
    assert.equal(link?.textContent, 'the guide');
    const expected = window.document.createElement('div');
    expected.innerHTML = renderer.render(reply);
    assert.equal(blocksOf().map((b) => b.innerHTML).join(''), expected.innerHTML);
  });

  it('renders every block again when the version changes (highlight.js arrived)', () => {
    const { renderer: spied, calls } = spy(renderer);
    const reply = REPLIES['loose lists with code in an item, tight lists after']!;
    const update = mount({ content: reply, renderer: spied, version: 0 });
    const first = calls.length;
    update({ version: 1 });
    assert.equal(calls.length, 2 * first);
    update({ content: reply });
    assert.equal(calls.length, 2 * first, 'the same props render nothing');
  });

  it('keeps the keyboard focus on a code block’s button when the block is rendered again, highlighted', () => {
    const reply = ['Read [the docs](https://example.com/docs) first.', '', '```ts', 'export const sum = (a: number, b: number) => a + b;', '```', '', 'Done.'].join('\n');
    for (const [what, selector] of [
      ['Copy code', 'button[aria-label="Copy code"]'],
      ['Insert code at cursor', 'button[aria-label="Insert code at cursor"]'],
    ] as const) {
      // As in the chat: code shown plain until highlight.js arrives, then every block rendered again.
      const plain = createMarkdownRenderer(window as unknown as globalThis.Window, {});
      const update = mount({ content: reply, renderer: plain, version: 0 });
      const before = root.querySelector(selector) as unknown as HTMLElement;
      before.focus();
      assert.equal(window.document.activeElement, before as unknown);
      plain.setHighlighter(createHighlighter());
      update({ version: 1 });
      assert.ok(root.querySelector('pre code span[class^="hljs-"]'), 'the code is highlighted now');
      assert.equal(before.isConnected, false, `${what}: rendered again, so a new element`);
      const now = window.document.activeElement;
      assert.ok(now && now !== (before as unknown) && now.isConnected, `${what}: the focus fell to ${now?.tagName}`);
      assert.equal(now, root.querySelector(selector), what);
    }
    // Focus elsewhere stays where it is.
    const plain = createMarkdownRenderer(window as unknown as globalThis.Window, {});
    const update = mount({ content: reply, renderer: plain, version: 0 });
    const outside = window.document.createElement('button');
    window.document.body.append(outside);
    outside.focus();
    plain.setHighlighter(createHighlighter());
    update({ version: 1 });
    assert.equal(window.document.activeElement, outside);
  });

  /** A reply of about 100 KB as a model writes one: sections of prose, lists, code, tables and quotes. */
  function realisticReply(size: number): string {
    const random = prng(7);
    const pick = <T,>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const sentence = () =>
      pick(['The **cache** keeps', 'Each `worker` reads', 'A _short_ note on', 'See [the guide](https://ok.example/guide) for', 'Then the service writes']) +
      ' ' +
      pick(['the recent entries', 'one file at a time', 'what the user asked for', 'the index after a change', 'its state to disk']) +
      '.';
    const paragraph = () => Array.from({ length: 3 + Math.floor(random() * 5) }, sentence).join(' ');
    const parts: string[] = [];
    for (let section = 1; parts.join('\n\n').length < size; section++) {
      parts.push(`## Step ${section}`, paragraph(), paragraph());
      parts.push(Array.from({ length: 3 + Math.floor(random() * 4) }, (_, i) => `${i + 1}. ${sentence()}`).join('\n'));
      const code = Array.from({ length: 8 + Math.floor(random() * 12) }, (_, i) => (i % 5 === 4 ? '' : `  const value${i} = compute(${i}, "x"); // ${pick(['note', 'why', 'todo'])}`));
      parts.push(['```ts', `function step${section}() {`, ...code, '}', '```'].join('\n'));
      if (section % 3 === 0) parts.push(['| Name | Value | Note |', '|---|---:|---|', ...Array.from({ length: 6 }, (_, i) => `| item ${i} | ${i * 7} | ${pick(['ok', '*new*', '`x`'])} |`)].join('\n'));
      if (section % 4 === 0) parts.push(`> ${sentence()}\n>\n> ${sentence()}`);
      parts.push(Array.from({ length: 4 }, () => `- ${sentence()}`).join('\n'));
    }
    return parts.join('\n\n').slice(0, size);
  }

  it('streams a realistic 100 KB reply rendering each finished block once (timing printed)', (t) => {
    const reply = realisticReply(100_000);
    // Warm up: the first renders compile marked, DOMPurify and highlight.js.
    stream(reply.slice(0, 10_000), renderer, () => 0);
    const { renderer: spied, calls, nextUpdate } = spy(renderer);
    const result = stream(reply, spied, nextUpdate);
    const blocks = splitMarkdownBlocks(reply).blocks;
    assert.ok(blocks.length > 400, `${blocks.length} blocks`);
    const rendered = new Map<string, number>();
    for (const c of calls) rendered.set(c.markdown, (rendered.get(c.markdown) ?? 0) + 1);
    // A table alone in its block is rendered a page of rows at a time (each row once, the test above).
    const renderedLines = new Set(calls.flatMap((c) => c.markdown.split('\n')));
    const finishedBlocksRendered = blocks.filter((b) => (rendered.get(b) ?? 0) >= 1 || tableLines(b, true)?.rows.every((row) => renderedLines.has(row))).length;
    assert.equal(finishedBlocksRendered, blocks.length);
    t.diagnostic(`realistic reply, ${blocks.length} blocks: ${describeTimes(result)}`);
  });

  it('streams 100 KB pathological replies (timing printed)', (t) => {
    const size = 100_000;
    const cases: Record<string, string> = {
      '`_a` emphasis soup': '_a'.repeat(size / 2),
      '`**` soup': '**a'.repeat(size / 3),
      'one table of 2,300 rows': '| a | b | c |\n|---|---|---|\n' + '| x *y* | `z` | [l](https://ok.example) |\n'.repeat(Math.ceil(size / 44)),
      '`> ` a thousand deep, then prose': '> '.repeat(1000) + 'deep\n' + 'text '.repeat((size - 2005) / 5),
      'a list nested 300 deep': Array.from({ length: 300 }, (_, i) => '  '.repeat(i) + '- item').join('\n'),
      '10,000 backticks, then prose': '`'.repeat(10_000) + ' ' + 'word '.repeat((size - 10_001) / 5),
      '10,000 backticks on a line, then prose': '`'.repeat(10_000) + '\n' + 'word '.repeat((size - 10_001) / 5),
      'one 100 KB paragraph of prose': 'The **quick** brown fox jumps over the _lazy_ dog near [the river](https://ok.example/river) while `code` runs. '.repeat(Math.ceil(size / 110)),
      'one 100 KB code block': '```ts\n' + 'const value = compute(a, "b", 3) + other; // note\n'.repeat(Math.ceil(size / 52)) + '```\n',
    };
    for (const [name, text] of Object.entries(cases)) {
      const result = stream(text.slice(0, size), renderer, () => 0);
      assert.ok(root.textContent!.length > 0, name);
      t.diagnostic(`${name}: ${describeTimes(result)}`);
    }
  });

  interface StreamTimes {
    updates: number;
    max: number;
    slowest: number;
    total: number;
    final: number;
  }

  /** Streams `text` into a fresh view in 200-character pieces, timing each update, then finishes it. */
  function stream(text: string, with_: MarkdownRenderer, nextUpdate: () => number): StreamTimes {
    const update = mount({ content: '', renderer: with_, version: 0, streaming: true });
    let max = 0;
    let slowest = 0;
    let total = 0;
    let updates = 0;
    for (let end = 200; end < text.length + 200; end += 200) {
      nextUpdate();
      const started = performance.now();
      update({ content: text.slice(0, end) });
      const took = performance.now() - started;
      if (took > max) [max, slowest] = [took, updates];
      total += took;
      updates++;
    }
    const started = performance.now();
    update({ streaming: false });
    return { updates, max, slowest, total, final: performance.now() - started };
  }

  function describeTimes({ updates, max, slowest, total, final }: StreamTimes): string {
    return `${updates} updates, slowest ${max.toFixed(1)} ms (update ${slowest + 1}), all ${Math.round(total)} ms; finishing ${final.toFixed(1)} ms`;
  }

  it('shows a long open block as text, an open code block as code, and renders both once the reply is finished', () => {
    const paragraph = 'A very long paragraph that goes on. '.repeat(300).trim();
    const update = mount({ content: `# Title\n\n${paragraph}\n`, renderer, version: 0, streaming: true });
    const open = root.querySelector('.md-open .md-plain');
    assert.equal(open?.textContent, `${paragraph}\n`);
    update({ streaming: false });
    assert.equal(root.querySelector('.md-plain'), null);
    assert.equal(root.querySelector('.md-block:last-child > p')?.textContent, paragraph);

    const code = 'const x = 1;\n\nconsole.log(x);\n'.repeat(400);
    update({ content: `Code:\n\n\`\`\`ts\n${code}`, streaming: true });
    const openCode = root.querySelector('.md-open .code-block pre code');
    assert.equal(openCode?.textContent, code.slice(0, -1));
    assert.equal(root.querySelector('.md-open .code-lang')?.textContent, 'ts');
    assert.equal(openCode?.children.length, 0, 'not highlighted while open');
    update({ content: `Code:\n\n\`\`\`ts\n${code}\`\`\`\n`, streaming: false });
    assert.ok(root.querySelector('.md-block:last-child pre code span.hljs-keyword'), 'highlighted when finished');
  });

  /** Waits for the window's animation frames until `done`, or fails after `frames` of them. */
  async function framesUntil(done: () => boolean, frames = 50): Promise<number> {
    for (let n = 0; n < frames; n++) {
      if (done()) return n;
      await new Promise((resolve) => window.requestAnimationFrame(resolve));
    }
    assert.fail(`not done after ${frames} frames`);
  }

  const table = (rows: number) => ['| # | name | note |', '|---:|---|---|', ...Array.from({ length: rows }, (_, i) => `| ${i + 1} | row ${i + 1} | *note* ${i + 1} |`)].join('\n');

  it('draws a long finished table a page of rows a frame, ending with the whole table, and says so for the list to follow', async () => {
    const reply = `Results:\n\n${table(150)}\n\nThat is all.`;
    const grows: unknown[] = [];
    window.document.body.addEventListener('md-grow', (e) => grows.push(e));
    mount({ content: reply, renderer, version: 0 });
    const rows = () => root.querySelectorAll('tbody tr').length;
    assert.equal(rows(), 20, 'the first page of rows at once');
    const frames = await framesUntil(() => rows() === 150);
    assert.ok(frames >= 7, `the other 130 rows came over ${frames} frames`);
    const expected = window.document.createElement('div');
    expected.innerHTML = renderer.render(reply);
    assert.equal(blocksOf().map((b) => b.innerHTML).join(''), expected.innerHTML, 'the same HTML as the reply rendered at once');
    assert.equal(grows.length, 7, 'an md-grow event for each step');
  });

  it('draws an open table a row at a time: each row rendered once, the rows drawn kept as it finishes', () => {
    const text = `${table(60)}\n\nAfter the table.`;
    const { renderer: spied, calls } = spy(renderer);
    const update = mount({ content: '', renderer: spied, version: 0, streaming: true });
    const rows = () => root.querySelectorAll('tbody tr').length;
    let body: unknown = null;
    for (let end = 0; end < text.length; ) {
      end = Math.min(text.length, end + 9);
      update({ content: text.slice(0, end) });
      // Every row whose line end has arrived is drawn.
      const complete = text.slice(0, end).split('\n').length - 1 - 2;
      if (complete >= 1) body ??= root.querySelector('tbody');
      if (body && body !== root.querySelector('tbody')) assert.fail(`the table body was replaced at ${end}`);
      // (Before its first row's line end, the open block is rendered as a whole: a partial row can show.)
      if (complete >= 1 && end < text.indexOf('\n\n')) assert.equal(rows(), complete, `at ${end}`);
    }
    update({ streaming: false });
    assert.equal(root.querySelector('tbody'), body, 'the same table body from its first row to the end');
    assert.equal(rows(), 60);
    const lines = table(60).split('\n').slice(2);
    lines.forEach((row, i) => {
      const renders = calls.filter((c) => c.markdown.split('\n').includes(row)).length;
      // The first row can also be rendered once as part of the open block before its line end arrived.
      assert.ok(renders === 1 || (i === 0 && renders === 2), `row ${i + 1} rendered ${renders} times`);
    });
    const expected = window.document.createElement('div');
    expected.innerHTML = renderer.render(text);
    assert.equal(blocksOf().map((b) => b.innerHTML).join(''), expected.innerHTML, 'the same HTML as the text rendered at once');
  });

  it('keeps the rows it drew when the table goes on, draws another table anew, and stops drawing when the block goes', async () => {
    const update = mount({ content: `${table(45)}\n`, renderer, version: 0, streaming: true });
    const rows = () => root.querySelectorAll('tbody tr').length;
    assert.equal(rows(), 20, 'a page of rows at once');
    await framesUntil(() => rows() === 45);
    const first = root.querySelector('tbody tr');
    update({ content: `${table(90)}\n\nNext.`, streaming: false });
    assert.equal(rows(), 65, 'the rows drawn, and a page more');
    assert.equal(root.querySelector('tbody tr'), first, 'the rows drawn are kept');
    await framesUntil(() => rows() === 90);

    update({ content: `${table(90).replace('row 1 ', 'row one ')}\n\nNext.` });
    assert.equal(rows(), 20, 'another table: drawn anew');
    assert.equal(root.querySelector('tbody td:nth-child(2)')?.textContent, 'row one');
    const body = root.querySelector('tbody')!;
    update({ content: 'Gone.' });
    assert.equal(root.textContent?.trim(), 'Gone.');
    for (let n = 0; n < 5; n++) await new Promise((resolve) => window.requestAnimationFrame(resolve));
    assert.equal(body.children.length, 20, 'no rows were added to the table after it went');
  });

  it('draws a table too costly to render a page at once with its rows as text, and keeps every row', async () => {
    const dense = (i: number) => `| ${i} | ${'**a__'.repeat(20)} | x |`;
    const text = ['| # | a | b |', '|---|---|---|', ...Array.from({ length: 50 }, (_, i) => dense(i + 1))].join('\n');
    mount({ content: text, renderer, version: 0 });
    await framesUntil(() => root.querySelectorAll('tbody tr').length === 50);
    assert.ok(root.querySelector('thead th'), 'the head is a table head');
    assert.match(root.querySelector('tbody tr:last-child')!.textContent!, /\| 50 \|/);
  });

  it('finds a table alone in a block, and nothing else', () => {
    assert.deepEqual(tableLines('| a | b |\n|---|:-:|\n| 1 | 2 |\n| 3 | 4 |\n\n', true), { head: '| a | b |\n|---|:-:|', rows: ['| 1 | 2 |', '| 3 | 4 |'] });
    assert.deepEqual(tableLines('\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3', false), { head: '| a | b |\n|---|---|', rows: ['| 1 | 2 |'] }, 'the line being written is left out');
    assert.equal(tableLines('| a | b |\n|---|---|\n1 | 2', true), undefined, 'a row that does not start with |');
    assert.equal(tableLines('Text\n| a | b |\n|---|---|\n| 1 | 2 |', true), undefined, 'text before the table');
    assert.equal(tableLines('| a | b |\n|---|---|\n| 1 | 2 |\n\n| 3 | 4 |', true), undefined, 'a blank line inside');
    assert.equal(tableLines('    | a | b |\n|---|---|\n| 1 | 2 |', true), undefined, 'indented code');
    assert.equal(tableLines('| a | b |\r\n|---|---|\r\n| 1 | 2 |', true), undefined, 'CRLF lines');
    assert.equal(tableLines('> | a | b |\n> |---|---|\n> | 1 | 2 |', true), undefined, 'a table in a quote');
  });

  it('renders a head that is not a table (cells that do not match) as the block it is', () => {
    const text = '| a | b | c |\n|---|---|\n| 1 | 2 | 3 |';
    mount({ content: text, renderer, version: 0 });
    const expected = window.document.createElement('div');
    expected.innerHTML = renderer.render(text);
    assert.equal(root.querySelector('table'), null);
    assert.equal(blocksOf().map((b) => b.innerHTML).join(''), expected.innerHTML);
  });
});
