// What adding one message to a long conversation costs the extension host: `ConversationStore.save`
// timed in this process (plain Node, no VS Code) on a conversation in a temp dir on disk, as the
// host calls it after each message. It writes through the store's public API only, so it measures
// whatever the store does on disk (the whole file rewritten, or a record appended to `<id>.log`).
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConversationStore } from '../src/chat/conversationStore';
import type { Conversation } from '../src/shared/conversation';
import { silentLogger } from '../src/util/logger';
import { longConversation, longConversationMessage } from './content';

export interface StoreAppendRun {
  messages: number;
  /** Wall-clock time of each `save` with one message more than the last, in ms. */
  timesMs: number[];
  /** This process's CPU time (user + system, all threads) during each `save`, in ms. */
  cpuMs: number[];
  /** Bytes written by each `save`, from the files' sizes and identities before and after it. */
  bytesWritten: number[];
  /** Saves that replaced a file there was (a new inode, or rewritten in place) rather than appending to it or starting a new one. */
  rewrites: number;
  filesBefore: Record<string, number>;
  filesAfter: Record<string, number>;
}

interface FileState {
  ino: number;
  size: number;
  mtimeMs: number;
}

function filesIn(dir: string): Map<string, FileState> {
  const files = new Map<string, FileState>();
  for (const name of readdirSync(dir)) {
    const st = statSync(join(dir, name));
    if (st.isFile()) files.set(name, { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });
  }
  return files;
}

/**
 * Bytes one save wrote: a file that is new, has a new inode (written beside and renamed over) or
 * was changed without growing counts whole; one that grew counts by its growth. `rewrote`: a file
 * there was before was replaced.
 */
function written(before: Map<string, FileState>, after: Map<string, FileState>): { bytes: number; rewrote: boolean } {
  let bytes = 0;
  let rewrote = false;
  for (const [name, a] of after) {
    const b = before.get(name);
    if (b && b.ino === a.ino && b.size === a.size && b.mtimeMs === a.mtimeMs) continue;
    if (!b) {
      bytes += a.size;
    } else if (b.ino !== a.ino || a.size <= b.size) {
      bytes += a.size;
      rewrote = true;
    } else {
      bytes += a.size - b.size;
    }
  }
  return { bytes, rewrote };
}

const sizes = (files: Map<string, FileState>) => Object.fromEntries([...files].map(([name, f]) => [name, f.size]));

/**
 * Saves a `messages`-message conversation, reads it back with a new store (as a reloaded window
 * would), then times `appends` saves, each with one message more: a question, then an answer, in
 * turn. The first save is included, after `list()` has filled the store's summaries (the host
 * lists conversations long before anyone sends a message).
 */
export async function measureStoreAppends(messages: number, appends: number): Promise<StoreAppendRun> {
  const dir = mkdtempSync(join(tmpdir(), 'persona-bench-store-'));
  try {
    const id = 'bench-long-conversation';
    const writer = new ConversationStore(dir, silentLogger);
    await writer.save(longConversation(id, 'coder', messages, 'Hello!'));
    await writer.dispose();
    const store = new ConversationStore(dir, silentLogger);
    await store.list();
    let conversation: Conversation | undefined = await store.get(id);
    if (!conversation) throw new Error('the store did not read back the conversation it had saved');
    if (conversation.messages.length !== messages) throw new Error(`the store read back ${conversation.messages.length} messages of ${messages}`);
    const run: StoreAppendRun = { messages, timesMs: [], cpuMs: [], bytesWritten: [], rewrites: 0, filesBefore: sizes(filesIn(dir)), filesAfter: {} };
    let last = conversation.updatedAt;
    for (let i = 0; i < appends; i++) {
      last += 1000;
      const message = longConversationMessage(messages + i, last);
      // A new object each time, as the host's chat service makes: a store may compare with the last one it saved.
      conversation = { ...conversation, messages: [...conversation.messages, message], updatedAt: last };
      const before = filesIn(dir);
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      await store.save(conversation);
      const ms = performance.now() - t0;
      const used = process.cpuUsage(cpu);
      const w = written(before, filesIn(dir));
      run.timesMs.push(ms);
      run.cpuMs.push((used.user + used.system) / 1000);
      run.bytesWritten.push(w.bytes);
      if (w.rewrote) run.rewrites++;
    }
    // Closes the log it keeps open.
    await store.dispose();
    run.filesAfter = sizes(filesIn(dir));
    const reader = new ConversationStore(dir, silentLogger);
    const reread = await reader.get(id);
    await reader.dispose();
    if (reread?.messages.length !== messages + appends) {
      throw new Error(`after ${appends} appends the store read back ${reread?.messages.length ?? 'no'} messages, not ${messages + appends}`);
    }
    return run;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
