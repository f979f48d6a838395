// The chat view's first state reaches the screen however fast the host answers. Preact runs
// effects after the next paint; the host's answer to `webview/ready` can arrive before that (it did
// in code-server, a few milliseconds after the view was shown again), and the view used to keep the
// state without rendering it: "Loading Persona…" for good. Here the host answers inside the very
// postMessage that asks, which is the earliest an answer can come.
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { Window } from 'happy-dom';
import type { ViewState } from '../../src/shared/chatProtocol';
import { resolveSettings } from '../../src/chat/effectiveSettings';
import { resolveMemoryDials } from '../../src/shared/memoryDials';
import { makeHappyDomStandardEnoughForDomPurify } from '../support/happyDomForDomPurify';

const state: ViewState = {
  personas: [{ id: 'sam', name: 'Sam', description: 'A friend', icon: '🙂', builtIn: true }],
  activePersonaId: 'sam',
  conversations: [],
  conversation: null,
  streaming: null,
  connection: { status: 'ok', provider: 'local', baseUrl: 'http://127.0.0.1:1234/v1', model: 'm' },
  memory: { status: 'checking' },
  settings: resolveSettings({ settings: {}, persona: {}, chat: undefined }),
  memoryDials: resolveMemoryDials({ settings: {}, persona: {}, chat: undefined }),
};

const window = new Window({ url: 'https://webview.invalid/' });
const g = globalThis as Record<string, unknown>;
const globals = ['window', 'document', 'navigator', 'requestAnimationFrame', 'cancelAnimationFrame', 'getComputedStyle', 'HTMLElement', 'Node', 'IntersectionObserver', 'ResizeObserver', 'MutationObserver', 'acquireVsCodeApi'];
let answer: (request: { id: number; method: string }) => unknown = () => undefined;

before(() => {
  makeHappyDomStandardEnoughForDomPurify(window);
  const w = window as unknown as Record<string, unknown>;
  for (const k of globals) {
    const v = w[k];
    if (v !== undefined) g[k] = typeof v === 'function' && /^[a-z]/.test(k) ? (v as (...a: unknown[]) => unknown).bind(window) : v;
  }
  g.window = window;
  g.acquireVsCodeApi = () => ({
    postMessage: (message: { id: number; method: string }) => {
      const reply = answer(message);
      if (reply !== undefined) window.dispatchEvent(new window.MessageEvent('message', { data: reply }));
    },
    getState: () => undefined,
    setState: () => undefined,
  });
});
// The globals stay until this file's process ends (node --test runs each file in its own): the
// view's timers and observers outlive the test.

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The chat webview's script as esbuild.mjs builds it (src/webview/chat/main.tsx, bundled with Preact). */
function webviewScript(): string {
  const out = buildSync({
    entryPoints: [join(__dirname, '../../src/webview/chat/main.tsx')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: ['chrome120'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    loader: { '.css': 'css' },
    define: { 'process.env.NODE_ENV': '"development"' },
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

it('renders the state that arrives before the view has subscribed to it', async () => {
  const requests: string[] = [];
  answer = (m) => {
    requests.push(m.method);
    return m.method === 'webview/ready' ? { id: m.id, ok: true, result: state } : undefined;
  };
  const root = window.document.createElement('div');
  root.id = 'app';
  window.document.body.appendChild(root);
  // Runs as the webview runs it: render, then ask for the state, which comes back at once.
  new Function(webviewScript())();
  await until('the chat to render', () => root.querySelector('textarea[aria-label="Message"]') !== null);
  // The state is asked for once (the context meter asks for its own count once the chat is drawn,
  // sooner or later depending on when effects run: not counted here).
  assert.deepEqual(
    requests.filter((m) => m === 'webview/ready'),
    ['webview/ready'],
    'asked once, answered once',
  );
  assert.deepEqual(requests.filter((m) => m !== 'webview/ready' && m !== 'context/estimate'), [], `unexpected requests: ${requests.join(', ')}`);
  assert.match(root.textContent ?? '', /Memory: checking…/);
});

it('closes the conversation list on an Escape pressed right after it opened, before the next paint', async () => {
  const root = window.document.getElementById('app')!;
  const chats = root.querySelector('button[aria-label="Chats"]') as unknown as { click(): void } | null;
  assert.ok(chats, 'the Chats button is there');
  chats.click();
  // The list renders in a microtask; effects that run after the next paint have not run yet, and the
  // key comes before them (a person pressing Enter then Escape quickly, or a test doing so).
  for (let i = 0; i < 5 && root.querySelector('.conversation-list') === null; i++) await Promise.resolve();
  assert.ok(root.querySelector('.conversation-list'), 'the list opened');
  window.document.dispatchEvent(new window.KeyboardEvent('keydown', { key: 'Escape', bubbles: true, cancelable: true }));
  await until('the list to close', () => root.querySelector('.conversation-list') === null);
});
