// A conversation as a tree: any message can have alternatives (a regenerated reply, an edited
// message that branches instead of erasing what followed), and one path through the tree is
// displayed. All branches stay in `conversation.messages`, in the order they were created; each
// message names its parent (`parentId`), `selected` says which child is shown where there are
// several, and `end` is a checkpoint the displayed path stops at.
//
// Pure on purpose: the extension host and the webview both import it.
//
// Files written before trees have no `parentId` at all and read as a straight line; nothing here
// rewrites them. Reading never throws on bad data (a parent that does not exist, or that comes later
// in the list): such a message is read as following the previous message, and since a parent always
// comes earlier in the list, the tree can have no cycles. An id that is not in the conversation is a
// caller's mistake, not bad data, and throws.
//
// The functions that change a conversation change it in place (as ChatService does) and may set
// `parentId` on the message they are given; saving it is the caller's business.
import type { Conversation, Message } from './conversation';

/** The parent "index" of a message at the root level. */
const ROOT = -1;

/** The key of `Conversation.selected` for the children of the root level. */
const ROOT_KEY = '';

/**
 * Each message's parent as an index into `messages` (ROOT at the root level). A parent must come
 * earlier in the list, which both makes old linear files read as a line and rules out cycles.
 */
function parentIndexes(messages: readonly Message[], indexById: ReadonlyMap<string, number>): number[] {
  return messages.map((message, i) => {
    const { parentId } = message;
    if (parentId === ROOT_KEY) return ROOT;
    if (parentId !== undefined) {
      const parent = indexById.get(parentId);
      if (parent !== undefined && parent < i) return parent;
      // A parent that does not exist or comes later (or is the message itself): bad data. Reading
      // it as following the previous message keeps the chat readable instead of losing the turn.
    }
    // No parentId: the migration on read of a file written before trees (a straight line), or the
    // first message of any conversation.
    return i === 0 ? ROOT : i - 1;
  });
}

/** The first index of each id: ids are unique in files Persona writes; with duplicates the first wins. */
function indexesById(messages: readonly Message[]): Map<string, number> {
  const byId = new Map<string, number>();
  messages.forEach((m, i) => {
    if (!byId.has(m.id)) byId.set(m.id, i);
  });
  return byId;
}

/**
 * Each message's effective parent id, in the order of `messages` (undefined at the root level),
 * computed without changing anything: a file written before trees reads as a line.
 */
export function linkedParentIds(messages: readonly Message[]): (string | undefined)[] {
  return parentIndexes(messages, indexesById(messages)).map((p) => (p === ROOT ? undefined : messages[p]?.id));
}

/** Where a message stands among its alternatives: `index` from 0 (shown as "index + 1 / count"). */
export interface Siblings {
  index: number;
  count: number;
  ids: string[];
}

/**
 * The tree of a conversation, built once in O(n) so that a view can ask about every message it
 * shows without scanning the list each time. It indexes the messages as they were when it was built
 * (build a new one after adding messages) but reads `selected` and `end` at each call, so it stays
 * valid while only the selection changes.
 */
export class TreeIndex {
  private readonly conversation: Conversation;
  private readonly indexById: Map<string, number>;
  private readonly parents: number[];
  /** Children of each parent index (ROOT included), in creation order. */
  private readonly children = new Map<number, number[]>();

  constructor(conversation: Conversation) {
    this.conversation = conversation;
    this.indexById = indexesById(conversation.messages);
    this.parents = parentIndexes(conversation.messages, this.indexById);
    this.parents.forEach((parent, i) => {
      const siblings = this.children.get(parent);
      if (siblings) siblings.push(i);
      else this.children.set(parent, [i]);
    });
  }

  /** The message this one answers or follows; undefined for a message at the root level. */
  parentOf(messageId: string): Message | undefined {
    return this.messageAt(this.parents[this.indexOf(messageId)] ?? ROOT);
  }

  /** The replies to a message (to the root level when undefined), in creation order; none for an unknown id. */
  childrenOf(parentId: string | undefined): Message[] {
    const parent = parentId === undefined ? ROOT : this.indexById.get(parentId);
    if (parent === undefined) return [];
    return (this.children.get(parent) ?? []).map((i) => this.conversation.messages[i]).filter((m) => m !== undefined);
  }

  /** The message and its alternatives (the children of its parent), for the "2 / 3" display. */
  siblingsOf(messageId: string): Siblings {
    const index = this.indexOf(messageId);
    const siblings = this.children.get(this.parents[index] ?? ROOT) ?? [index];
    const ids = siblings.map((i) => this.conversation.messages[i]?.id ?? '');
    return { index: siblings.indexOf(index), count: siblings.length, ids };
  }

  /** What the chat shows: from the root, at each level the selected child (or the latest), down to `end` if it is on the way. */
  displayedPath(): Message[] {
    return this.walk(true);
  }

  /** The displayed path as if there were no checkpoint: what "Go back to here" hid is included. */
  fullPath(): Message[] {
    return this.walk(false);
  }

  /** The path from the root down to this message, included, whether or not it is displayed. */
  pathTo(messageId: string): Message[] {
    const path: Message[] = [];
    for (let i = this.indexOf(messageId); i !== ROOT; i = this.parents[i] ?? ROOT) {
      const message = this.messageAt(i);
      if (message) path.push(message);
    }
    return path.reverse();
  }

  /**
   * The messages before this one on its own path, from the root to its parent: what a regenerate
   * of the message sends as history (equal to the displayed path before it when it is displayed).
   */
  historyBefore(messageId: string): Message[] {
    return this.pathTo(messageId).slice(0, -1);
  }

  private walk(stopAtEnd: boolean): Message[] {
    const path: Message[] = [];
    const end = stopAtEnd ? this.conversation.end : undefined;
    // Each child comes later in the list than its parent, so the walk goes forward and ends.
    for (let i = this.displayedChildOf(ROOT); i !== undefined; i = this.displayedChildOf(i)) {
      const message = this.messageAt(i);
      if (!message) break;
      path.push(message);
      if (message.id === end) break;
    }
    return path;
  }

  /** The selected child when the selection names one of them (stale or foreign ids are ignored), else the latest. */
  private displayedChildOf(parent: number): number | undefined {
    const children = this.children.get(parent);
    if (!children) return undefined;
    const selected = this.conversation.selected;
    const key = parent === ROOT ? ROOT_KEY : (this.messageAt(parent)?.id ?? ROOT_KEY);
    // Own properties only: a key such as "constructor" must not read the prototype.
    const chosenId = selected && Object.hasOwn(selected, key) ? selected[key] : undefined;
    const chosen = chosenId === undefined ? undefined : this.indexById.get(chosenId);
    if (chosen !== undefined && this.parents[chosen] === parent) return chosen;
    return children.at(-1);
  }

  private messageAt(index: number): Message | undefined {
    return index === ROOT ? undefined : this.conversation.messages[index];
  }

  private indexOf(messageId: string): number {
    const index = this.indexById.get(messageId);
    if (index === undefined) throw new Error(`No message ${messageId} in conversation ${this.conversation.id}.`);
    return index;
  }
}

/** See TreeIndex.parentOf. */
export function parentOf(conversation: Conversation, messageId: string): Message | undefined {
  return new TreeIndex(conversation).parentOf(messageId);
}

/** See TreeIndex.childrenOf. */
export function childrenOf(conversation: Conversation, parentId: string | undefined): Message[] {
  return new TreeIndex(conversation).childrenOf(parentId);
}

/** See TreeIndex.displayedPath. */
export function displayedPath(conversation: Conversation): Message[] {
  return new TreeIndex(conversation).displayedPath();
}

/** See TreeIndex.siblingsOf; to ask about every message of a view, build one TreeIndex instead. */
export function siblingsOf(conversation: Conversation, messageId: string): Siblings {
  return new TreeIndex(conversation).siblingsOf(messageId);
}

/** See TreeIndex.historyBefore. */
export function historyBefore(conversation: Conversation, messageId: string): Message[] {
  return new TreeIndex(conversation).historyBefore(messageId);
}

/**
 * Displays the previous (-1) or next (1) alternative of a message, with the turns that followed it
 * (its own selected or latest replies). No wrapping: returns the id now displayed, or undefined at
 * the edge (nothing changes). The checkpoint is kept only if it still lies on the path at or after
 * the alternative now shown.
 */
export function showSibling(conversation: Conversation, messageId: string, delta: -1 | 1): string | undefined {
  const tree = new TreeIndex(conversation);
  const { index, ids } = tree.siblingsOf(messageId);
  const shown = ids[index + delta];
  if (shown === undefined) return undefined;
  chooseBranch(conversation, tree, shown);
  if (conversation.end !== undefined) {
    const path = tree.fullPath().map((m) => m.id);
    if (path.indexOf(conversation.end) < path.indexOf(shown)) delete conversation.end;
  }
  return shown;
}

/** Makes a message displayed: at every level above it the branch leading to it is chosen. Clears the checkpoint. */
export function select(conversation: Conversation, messageId: string): void {
  chooseBranch(conversation, new TreeIndex(conversation), messageId);
  delete conversation.end;
}

/**
 * Adds `message` as an alternative of `ofMessageId` (same parent): a regenerated reply, or an edited
 * message that branches instead of erasing what followed. Any message can have alternatives. The new
 * one is appended to `messages` and displayed; the checkpoint is cleared.
 */
export function addAlternative(conversation: Conversation, ofMessageId: string, message: Message): void {
  const parent = new TreeIndex(conversation).parentOf(ofMessageId);
  assertNewId(conversation, message.id);
  // '' rather than absent: absent would read as "follows the previous message".
  message.parentId = parent?.id ?? ROOT_KEY;
  conversation.messages.push(message);
  select(conversation, message.id);
}

/** Adds `message` after the last displayed message (which may be a checkpoint: the chat then branches there) and displays it. */
export function appendToPath(conversation: Conversation, message: Message): void {
  const last = displayedPath(conversation).at(-1);
  assertNewId(conversation, message.id);
  if (last) message.parentId = last.id;
  else if (conversation.messages.length > 0) message.parentId = ROOT_KEY;
  else delete message.parentId;
  conversation.messages.push(message);
  // The new message is its parent's latest child, which is what shows when nothing is chosen.
  forgetChoice(conversation, last?.id ?? ROOT_KEY);
  delete conversation.end;
}

/** "Go back to here": the displayed path stops at this message; what followed is hidden, not deleted. */
export function goBackTo(conversation: Conversation, messageId: string): void {
  if (!displayedPath(conversation).some((m) => m.id === messageId)) {
    throw new Error(`Cannot go back to message ${messageId}: it is not on the displayed path of conversation ${conversation.id}.`);
  }
  conversation.end = messageId;
}

/**
 * Chooses, at the message's level and every level above, the branch that leads to it. A choice is
 * written only where it differs from the default (the latest child), so a chat without alternatives
 * never gets a `selected` map.
 */
function chooseBranch(conversation: Conversation, tree: TreeIndex, messageId: string): void {
  let parentKey = ROOT_KEY;
  for (const message of tree.pathTo(messageId)) {
    if (tree.siblingsOf(message.id).ids.at(-1) === message.id) forgetChoice(conversation, parentKey);
    else (conversation.selected ??= {})[parentKey] = message.id;
    parentKey = message.id;
  }
}

function forgetChoice(conversation: Conversation, parentKey: string): void {
  const selected = conversation.selected;
  if (!selected || !Object.hasOwn(selected, parentKey)) return;
  delete selected[parentKey];
  if (Object.keys(selected).length === 0) delete conversation.selected;
}

function assertNewId(conversation: Conversation, id: string): void {
  // A second message with the same id would make every lookup by id ambiguous.
  if (conversation.messages.some((m) => m.id === id)) throw new Error(`Conversation ${conversation.id} already has a message ${id}.`);
}
