// A memo for Preact function components without pulling in preact/compat (about 6 KB of the
// webview's 150 KB budget for one function): the wrapper skips rendering when no prop changed.
import { createElement, type Component, type FunctionComponent } from 'preact';

function shallowEqual(a: object, b: object): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const key in x) if (x[key] !== y[key]) return false;
  for (const key in y) if (!(key in x)) return false;
  return true;
}

function propsChanged(this: Component, next: object): boolean {
  return !shallowEqual(this.props, next);
}

export function memo<P extends object>(render: FunctionComponent<P>): FunctionComponent<P> {
  function Memo(this: Component<P>, props: P) {
    this.shouldComponentUpdate = propsChanged;
    return createElement(render, props);
  }
  Memo.displayName = `Memo(${render.displayName ?? render.name})`;
  return Memo;
}
