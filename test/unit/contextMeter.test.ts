// The context meter as the webview draws it (happy-dom, Preact): the meter by its accessible name,
// the note that turns will be left out, and, on demand, the breakdown with the turns themselves.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Window } from 'happy-dom';
import type { ContextEstimate } from '../../src/shared/chatProtocol';
import type { ChatHost } from '../../src/webview/chat/chatHost';
import { loadComponent } from '../support/webviewBundle';

function loadMeter() {
  const kit = loadComponent<(props: { host: ChatHost; draft: string; version: string }) => unknown>('src/webview/chat/contextMeter', 'ContextMeter');
  return { ...kit, ContextMeter: kit.ContextMeter! };
}

const estimate: ContextEstimate = {
  used: 3900,
  limit: 4096,
  parts: { system: 600, lorebook: 0, examples: 0, memory: 0, history: 2200, draft: 76, reply: 1024 },
  leftOutCount: 2,
  leftOut: [
    { role: 'user', preview: 'Tell me about the harbour' },
    { role: 'assistant', preview: 'The harbour was built in 1820' },
  ],
};

it('draws the meter, says how many turns will be left out, and lists them in the breakdown', async () => {
  const window = new Window();
  const g = globalThis as Record<string, unknown>;
  const saved = { document: g.document };
  g.document = window.document;
  const { ContextMeter, createElement, render, act } = loadMeter();
  try {
    const asked: unknown[] = [];
    const host = { request: (_: unknown, params: unknown) => (asked.push(params), Promise.resolve(estimate)) } as unknown as ChatHost;
    const root = window.document.createElement('div');
    window.document.body.appendChild(root);
    // act() runs Preact's effects and the answers' renders before it resolves.
    await act(async () => {
      render(createElement(ContextMeter as never, { host, draft: 'And the lighthouse?', version: '1' }), root as unknown as Element);
    });
    // The host's answer arrives after the first render: its render runs in a second act().
    await act(() => new Promise((r) => setTimeout(r, 0)));
    assert.deepEqual(asked, [{ draft: 'And the lighthouse?' }], 'the host is asked with the draft');

    const meter = root.querySelector('[role="meter"]')!;
    assert.equal(meter.getAttribute('aria-label'), 'Context');
    assert.equal(meter.getAttribute('aria-valuenow'), '3900');
    assert.equal(meter.getAttribute('aria-valuemax'), '4096');
    assert.equal(root.querySelector('[role="status"]')!.textContent, 'The 2 oldest turns will be left out to fit the context.');
    assert.equal(root.querySelector('.left-out'), null, 'the turns are listed on demand only');

    const breakdown = root.querySelector('button[aria-label="Context breakdown"]') as unknown as { click(): void; getAttribute(n: string): string | null };
    await act(() => breakdown.click());
    assert.equal(breakdown.getAttribute('aria-expanded'), 'true');
    assert.equal(root.querySelector('details summary')!.textContent, 'Turns left out (2)');
    assert.deepEqual(
      [...root.querySelectorAll('.left-out li')].map((li) => li.textContent),
      ['You: Tell me about the harbour', 'Reply: The harbour was built in 1820'],
    );
    const rows = [...root.querySelectorAll('table[aria-label="Context breakdown by part"] tr')].map((tr) => tr.textContent);
    assert.ok(rows.includes('History2,200'), rows.join(' | '));
    assert.ok(rows.includes('Room kept for the reply1,024'), rows.join(' | '));
  } finally {
    render(null, window.document.body as unknown as Element);
    g.document = saved.document;
    void window.happyDOM.close();
  }
});
