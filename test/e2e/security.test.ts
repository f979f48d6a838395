// Hostile markdown from the model fetches nothing, neither while it streams in nor when the
// conversation is restored from history after a reload (where VS Code's own chat leaked), and
// links open only after the person confirms. A second loopback server ("evil") records every
// request; the browser's own request events and console are watched too.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { Frame, Request } from 'playwright-core';
import { captureOnFailure, waitUntil } from './harness';
import { lastAssistant, sendMessage, shownMessages, startChatE2e, waitForReply, type ChatE2e } from './chatView';

interface EvilRequest {
  method: string;
  url: string;
  referer: string | undefined;
}

/** A server that should never hear from the webview: it records everything and answers like a real host. */
async function startEvilServer(): Promise<{ origin: string; requests: EvilRequest[]; close(): Promise<void> }> {
  const requests: EvilRequest[] = [];
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg==', 'base64');
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', referer: req.headers.referer });
    if (/\.(png|jpg)$/.test(req.url ?? '')) res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<p>evil</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function hostileMarkdown(evil: string): string {
  return [
    'Hostile reply start.',
    `![inline image](${evil}/inline.png "an image")`,
    `![angle image](<${evil}/angle.png>)`,
    '![reference image][pic]',
    `[pic]: ${evil}/reference.png`,
    `Text with a raw <img src="${evil}/raw-inline.png"> in it.`,
    `<img src="${evil}/raw-img.png" onerror="fetch('${evil}/onerror')">`,
    `<img srcset="${evil}/srcset.png 1x, ${evil}/srcset2.png 2x">`,
    `<picture><source srcset="${evil}/source.png"><img src="${evil}/picture.png"></picture>`,
    `<svg><image href="${evil}/svg-image.png"/><image xlink:href="${evil}/svg-xlink.png"/></svg>`,
    `<video poster="${evil}/poster.png" src="${evil}/video.mp4"></video>`,
    `<audio src="${evil}/audio.mp3" autoplay></audio>`,
    `<link rel="stylesheet" href="${evil}/style.css">`,
    `<iframe src="${evil}/iframe.html"></iframe>`,
    `<object data="${evil}/object.html"></object><embed src="${evil}/embed.html">`,
    `<div style="background:url(${evil}/bg-div.png)">styled div</div>`,
    `<span style="background-image: url('${evil}/bg-span.png')">styled span</span>`,
    `<style>@import url(${evil}/import.css); body { background: url(${evil}/body.png) }</style>`,
    `<table background="${evil}/table.png"><tr><td>cell</td></tr></table>`,
    `<a href="javascript:fetch('${evil}/raw-js')">raw javascript link</a>`,
    `<script>fetch('${evil}/script')</script>`,
    `<form action="${evil}/form"><button formaction="${evil}/formaction">submit</button></form>`,
    `<meta http-equiv="refresh" content="0;url=${evil}/refresh">`,
    `<base href="${evil}/">`,
    `[javascript link](javascript:fetch('${evil}/js-md'))`,
    `[mixed-case javascript link](JaVaScRiPt:fetch('${evil}/js-md2'))`,
    `[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)`,
    `[http link](${evil}/clicked-link)`,
    `Autolink: <${evil}/autolink>`,
    '```html',
    `<img src="${evil}/in-code.png">`,
    '```',
    'Hostile reply end.',
  ].join('\n\n');
}

/** Elements no message may contain; attributes that fetch or run something. */
const forbiddenTags = ['script', 'iframe', 'frame', 'object', 'embed', 'video', 'audio', 'source', 'picture', 'svg', 'image', 'link', 'style', 'form', 'meta', 'base', 'input', 'textarea', 'math'];

interface DomFindings {
  remoteImages: string[];
  forbidden: string[];
  eventHandlers: string[];
  styleAttributes: number;
  /** Attributes naming the evil origin, other than the inert data-href/title/alt. */
  evilAttributes: string[];
  hrefs: string[];
  messageCount: number;
}

async function scanMessages(frame: Frame, evil: string): Promise<DomFindings> {
  // Scroll through the list so nothing is skipped as off-screen (content-visibility: auto).
  await frame.evaluate(`(async () => {
    const list = document.querySelector('.messages');
    for (let y = 0; y <= list.scrollHeight; y += list.clientHeight / 2) {
      list.scrollTop = y;
      await new Promise((r) => requestAnimationFrame(r));
    }
  })()`);
  return (await frame.evaluate(`(() => {
    const evil = ${JSON.stringify(evil)};
    const app = document.getElementById('app');
    const contents = Array.from(app.querySelectorAll('.message-content'));
    const all = contents.flatMap((c) => Array.from(c.querySelectorAll('*')));
    const describe = (el) => el.outerHTML.slice(0, 160);
    return {
      remoteImages: Array.from(app.querySelectorAll('img')).map((i) => i.getAttribute('src') || '').filter((s) => !s.startsWith('data:image/')),
      forbidden: Array.from(document.querySelector('.messages').querySelectorAll(${JSON.stringify(forbiddenTags.join(','))})).map(describe),
      eventHandlers: Array.from(app.querySelectorAll('*')).flatMap((el) => el.getAttributeNames().filter((n) => n.toLowerCase().startsWith('on')).map((n) => n + ' on ' + describe(el))),
      styleAttributes: all.filter((el) => el.hasAttribute('style')).length,
      evilAttributes: all.flatMap((el) => el.getAttributeNames()
        .filter((n) => !['data-href', 'title', 'alt'].includes(n) && (el.getAttribute(n) || '').includes(evil))
        .map((n) => n + ' on ' + describe(el))),
      hrefs: all.filter((el) => el.hasAttribute('href')).map((el) => el.getAttribute('href')),
      messageCount: document.querySelectorAll('.messages article.message').length,
    };
  })()`)) as DomFindings;
}

let e2e: ChatE2e | undefined;
let evil: Awaited<ReturnType<typeof startEvilServer>> | undefined;
/** Every request the browser made (any frame, any page), by URL. */
const browserRequests: string[] = [];

function started(): { e2e: ChatE2e; evil: NonNullable<typeof evil> } {
  assert.ok(e2e && evil, 'VS Code did not start (see the before hook)');
  return { e2e, evil };
}

before(async () => {
  evil = await startEvilServer();
  e2e = await startChatE2e({ label: 'security' });
  const record = (r: Request) => void browserRequests.push(r.url());
  e2e.vs.context.on('request', record);
  e2e.vs.context.on('requestfailed', record);
  await e2e.view();
});

after(async () => {
  await e2e?.stop();
  await evil?.close();
});

/** Nothing reached the evil server, the browser asked nothing of it, and no CSP report names it. */
function assertNothingFetched(e: ChatE2e, evilServer: NonNullable<typeof evil>, when: string): void {
  assert.deepEqual(evilServer.requests, [], `the evil server was contacted ${when}`);
  const codeServer = new URL(e.vs.url).origin;
  // The webview's own files come from *.vscode-resource.vscode-cdn.net, which VS Code's service
  // worker answers from the extension folder.
  const elsewhere = browserRequests.filter(
    (u) => /^(https?|wss?):/.test(u) && new URL(u).origin !== codeServer && !new URL(u).hostname.endsWith('.vscode-resource.vscode-cdn.net'),
  );
  assert.deepEqual(elsewhere, [], `the browser made requests outside code-server ${when}`);
  const blocked = e.vs.consoleMessages().filter((m) => m.includes(evilServer.origin));
  assert.deepEqual(blocked, [], `the browser tried to load from the evil server (and was blocked) ${when}`);
}

async function assertDomInert(frame: Frame, evilOrigin: string, when: string): Promise<void> {
  const found = await scanMessages(frame, evilOrigin);
  assert.ok(found.messageCount >= 3, `the conversation is not shown ${when}`);
  assert.deepEqual(found.remoteImages, [], `remote images in the DOM ${when}`);
  assert.deepEqual(found.forbidden, [], `forbidden elements in the messages ${when}`);
  assert.deepEqual(found.eventHandlers, [], `on* attributes in the webview ${when}`);
  assert.equal(found.styleAttributes, 0, `style attributes in rendered messages ${when}`);
  assert.deepEqual(found.evilAttributes, [], `attributes pointing at the evil server ${when}`);
  assert.deepEqual([...new Set(found.hrefs)].filter((h) => h !== '#'), [], `links with a real href ${when}`);
}

/** Shows the hostile reply (again, when a test runs alone) as the last message. */
async function showHostileReply(e: ChatE2e, evilOrigin: string, tokenDelayMs: number): Promise<Frame> {
  const frame = await e.view();
  const markdown = hostileMarkdown(evilOrigin);
  // Small chunks, so the renderer also sees every half-written tag and URL.
  const tokens = markdown.match(/[\s\S]{1,7}/g) ?? [];
  e.server.setReply({ text: markdown, tokens, tokenDelayMs });
  const done = e.server.completions.length;
  await sendMessage(frame, 'Show me everything.');
  await waitForReply(frame, e.server, done + 1, (shown) => shown.startsWith('Hostile reply start.') && shown.endsWith('Hostile reply end.'));
  assert.equal(e.server.completions.at(-1)?.textSent, markdown);
  return frame;
}

async function hostileReplyShown(e: ChatE2e, evilOrigin: string): Promise<Frame> {
  const frame = await e.view();
  const last = (await shownMessages(frame)).at(-1);
  return last?.text.startsWith('Hostile reply start.') ? frame : showHostileReply(e, evilOrigin, 0);
}

test('hostile markdown fetches nothing while streaming, when rendered, or when restored after a reload', async () => {
  const { e2e: e, evil: bad } = started();
  await captureOnFailure(e.vs, 'security-hostile-markdown', async () => {
    let frame = await showHostileReply(e, bad.origin, 2);
    // Give anything that was going to load the time to do it.
    await new Promise((r) => setTimeout(r, 1500));
    assertNothingFetched(e, bad, 'after streaming');
    await assertDomInert(frame, bad.origin, 'after streaming');
    await e.vs.screenshot('security-hostile-reply');

    // What a person sees instead of the images: placeholders, and raw HTML as text.
    const reply = lastAssistant(frame).locator('.message-content');
    assert.ok((await reply.locator('.blocked-image').count()) >= 3, 'remote images are not replaced by placeholders');
    assert.match((await reply.textContent()) ?? '', /<script>fetch\(/, 'raw HTML is not shown as text');

    await e.vs.reload();
    frame = await e.view();
    await waitUntil('the restored conversation to show the hostile reply', 20_000, async () => {
      const last = (await shownMessages(frame)).at(-1);
      return last?.text.startsWith('Hostile reply start.') && last.text.endsWith('Hostile reply end.');
    });
    await new Promise((r) => setTimeout(r, 1500));
    assertNothingFetched(e, bad, 'after the conversation was restored from history');
    await assertDomInert(frame, bad.origin, 'after the conversation was restored from history');
  });
});

test('an http link opens only after a confirmation; cancelling opens and fetches nothing', async () => {
  const { e2e: e, evil: bad } = started();
  await captureOnFailure(e.vs, 'security-link-confirm', async () => {
    const frame = await hostileReplyShown(e, bad.origin);
    const target = `${bad.origin}/clicked-link`;
    const link = lastAssistant(frame).locator(`a[data-href="${target}"]`);
    assert.equal(await link.count(), 1, 'the http link is not rendered as a link');
    assert.equal(await link.getAttribute('href'), '#');
    const pagesBefore = e.vs.context.pages().length;

    await link.click();
    const dialog = e.vs.page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible', timeout: 10_000 });
    const text = (await dialog.innerText()).replace(/\s+/g, ' ');
    assert.match(text, /Open this link/i);
    assert.ok(text.includes(target), `the dialog does not show the link's address: ${text}`);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden', timeout: 5000 });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(e.vs.context.pages().length, pagesBefore, 'a page was opened although the dialog was cancelled');
    assertNothingFetched(e, bad, 'after the link dialog was cancelled');

    // Positive control: confirming does open the link, and the evil server hears about it. This
    // shows the recording above would have seen a request.
    const popup = e.vs.context.waitForEvent('page', { timeout: 10_000 });
    await link.click();
    await dialog.waitFor({ state: 'visible', timeout: 10_000 });
    await dialog.getByRole('button', { name: 'Open Link' }).click();
    const opened = await popup;
    await waitUntil('the confirmed link to reach the evil server', 10_000, () => bad.requests.some((r) => r.url === '/clicked-link'));
    await opened.close();
    bad.requests.length = 0;
    browserRequests.length = 0;
  });
});

test('a javascript: link renders inert and clicking it does nothing', async () => {
  const { e2e: e, evil: bad } = started();
  await captureOnFailure(e.vs, 'security-javascript-link', async () => {
    const frame = await hostileReplyShown(e, bad.origin);
    const reply = lastAssistant(frame).locator('.message-content');
    for (const label of ['javascript link', 'mixed-case javascript link', 'data link']) {
      const shown = reply.getByText(label, { exact: true });
      assert.equal(await shown.count(), 1, `"${label}" is not shown`);
      const inLink = await shown.evaluate((el: { closest(selector: string): unknown }) => el.closest('a') !== null);
      assert.equal(inLink, false, `"${label}" is rendered as a link`);
      await shown.click();
    }
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await e.vs.page.locator('.monaco-dialog-box').count(), 0, 'clicking a javascript: link asked to open something');
    assert.equal(await frame.locator('.error-line').count(), 0, 'clicking a javascript: link reported an error');
    assertNothingFetched(e, bad, 'after clicking the javascript: links');
  });
});
