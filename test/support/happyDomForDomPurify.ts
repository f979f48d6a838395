// happy-dom stands in for the webview's Chromium in unit tests, but DOMPurify does not support it:
// its `Node.prototype.nodeName` getter returns '' (DOMPurify reads the getter to resist clobbering)
// and its NodeIterator stops when the current node is removed, so DOMPurify silently keeps
// everything after the first element it drops (happy-dom #1810, #2182; DOMPurify #1457). The
// webview's renderer refuses to start in such a window; this makes those two behaviours what the
// DOM standard (and Chromium) says.
import assert from 'node:assert/strict';
import type { Window } from 'happy-dom';

type HappyWindow = InstanceType<typeof Window>;

interface TreeNode {
  readonly nodeType: number;
  readonly parentNode: TreeNode | null;
  readonly firstChild: TreeNode | null;
  readonly lastChild: TreeNode | null;
  readonly nextSibling: TreeNode | null;
  readonly previousSibling: TreeNode | null;
}

/**
 * A NodeIterator that, like the standard's "pre-removing steps", carries on from the node that
 * preceded its reference node when that node is removed. Only `nextNode` (all DOMPurify uses).
 */
class RemovalTolerantNodeIterator {
  #reference: TreeNode | null = null;
  #precedingReference: TreeNode | null = null;

  constructor(
    readonly root: TreeNode,
    readonly whatToShow: number,
  ) {}

  nextNode(): TreeNode | null {
    let node: TreeNode | null;
    if (this.#reference === null) {
      node = this.root;
    } else {
      const from = this.#inRoot(this.#reference) ? this.#reference : this.#precedingReference;
      if (from === null || !this.#inRoot(from)) throw new Error('node iterator lost its place in the tree');
      node = this.#following(from);
    }
    while (node !== null && (this.whatToShow & (1 << (node.nodeType - 1))) === 0) node = this.#following(node);
    if (node !== null) {
      this.#reference = node;
      this.#precedingReference = this.#preceding(node);
    }
    return node;
  }

  #inRoot(node: TreeNode): boolean {
    for (let n: TreeNode | null = node; n !== null; n = n.parentNode) if (n === this.root) return true;
    return false;
  }

  #following(node: TreeNode): TreeNode | null {
    if (node.firstChild !== null) return node.firstChild;
    for (let n: TreeNode | null = node; n !== null && n !== this.root; n = n.parentNode) {
      if (n.nextSibling !== null) return n.nextSibling;
    }
    return null;
  }

  #preceding(node: TreeNode): TreeNode | null {
    if (node === this.root) return null;
    let n = node.previousSibling;
    if (n === null) return node.parentNode;
    while (n.lastChild !== null) n = n.lastChild;
    return n;
  }
}

const NODE_NAME_BY_TYPE: Record<number, string> = { 3: '#text', 8: '#comment', 9: '#document', 11: '#document-fragment' };

export function makeHappyDomStandardEnoughForDomPurify(window: HappyWindow): void {
  const nodePrototype: object = window.Node.prototype;
  Object.defineProperty(nodePrototype, 'nodeName', {
    configurable: true,
    get(this: { nodeType: number }): string {
      for (let p: object | null = Object.getPrototypeOf(this); p !== null && p !== nodePrototype; p = Object.getPrototypeOf(p)) {
        const getter = Object.getOwnPropertyDescriptor(p, 'nodeName')?.get;
        if (getter) return getter.call(this) as string;
      }
      return NODE_NAME_BY_TYPE[this.nodeType] ?? '';
    },
  });
  let owner: object | null = window.document;
  while (owner !== null && !Object.hasOwn(owner, 'createNodeIterator')) owner = Object.getPrototypeOf(owner);
  assert.ok(owner, 'createNodeIterator not found on happy-dom Document');
  Object.defineProperty(owner, 'createNodeIterator', {
    configurable: true,
    writable: true,
    value: (root: TreeNode, whatToShow = 0xffffffff) => new RemovalTolerantNodeIterator(root, whatToShow),
  });
}

