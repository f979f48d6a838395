// The webview's memo: a streamed token must re-render only the reply being written.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Window } from 'happy-dom';
import { createElement, render } from 'preact';
import { memo } from '../../src/webview/common/memo';

it('skips rendering when no prop changed, renders when one did', () => {
  const window = new Window();
  const g = globalThis as Record<string, unknown>;
  const saved = { document: g.document };
  g.document = window.document;
  try {
    let renders = 0;
    const Item = memo((props: { text: string; onClick: () => void }) => {
      renders++;
      return createElement('p', null, props.text);
    });
    const onClick = () => {};
    const root = window.document.createElement('div') as unknown as Element;
    const draw = (text: string, handler = onClick) => render(createElement(Item, { text, onClick: handler }), root);
    draw('a');
    assert.equal(renders, 1);
    draw('a');
    assert.equal(renders, 1, 'same props: no render');
    draw('b');
    assert.equal(renders, 2, 'changed text: render');
    assert.equal((root as unknown as { textContent: string }).textContent, 'b');
    draw('b', () => {});
    assert.equal(renders, 3, 'a new callback is a changed prop');
  } finally {
    g.document = saved.document;
    void window.happyDOM.close();
  }
});
