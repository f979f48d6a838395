// Reasoning models (Qwen3, DeepSeek-R1 distills) write their thinking in `<think>…</think>` at the
// start of the reply, unless the server streams it in a field of its own. This splits a streamed
// reply's text into reasoning and answer as the pieces arrive, whatever the pieces cut: a tag split
// across two deltas is held back until it is whole. Plain logic, no I/O.

const OPEN = '<think>';
const CLOSE = '</think>';

export interface SplitPiece {
  reasoning: string;
  content: string;
}

export class ThinkSplitter {
  private mode: 'start' | 'thinking' | 'afterThinking' | 'content' = 'start';
  private held = '';

  /** The reasoning and answer text in `text`, as far as they can be told apart yet. */
  push(text: string): SplitPiece {
    this.held += text;
    const out: SplitPiece = { reasoning: '', content: '' };
    for (;;) {
      if (this.mode === 'start') {
        const trimmed = this.held.trimStart();
        if (trimmed.startsWith(OPEN)) {
          this.held = trimmed.slice(OPEN.length);
          this.mode = 'thinking';
          continue;
        }
        // Whitespace, or the start of "<think>" so far: wait for more.
        if (OPEN.startsWith(trimmed)) return out;
        this.mode = 'content';
        continue;
      }
      if (this.mode === 'thinking') {
        const end = this.held.indexOf(CLOSE);
        if (end >= 0) {
          out.reasoning += this.held.slice(0, end);
          this.held = this.held.slice(end + CLOSE.length);
          this.mode = 'afterThinking';
          continue;
        }
        const keep = partialSuffix(this.held, CLOSE);
        out.reasoning += this.held.slice(0, this.held.length - keep);
        this.held = this.held.slice(this.held.length - keep);
        return out;
      }
      if (this.mode === 'afterThinking') {
        // The blank lines between the reasoning and the answer are neither.
        const trimmed = this.held.trimStart();
        if (!trimmed) {
          this.held = '';
          return out;
        }
        this.held = trimmed;
        this.mode = 'content';
        continue;
      }
      out.content += this.held;
      this.held = '';
      return out;
    }
  }

  /** The stream ended: whatever was held back is what it is. */
  flush(): SplitPiece {
    const held = this.held;
    this.held = '';
    if (this.mode === 'thinking') return { reasoning: held, content: '' };
    if (this.mode === 'start') return { reasoning: '', content: held.trim() ? held : '' };
    return { reasoning: '', content: this.mode === 'afterThinking' ? held.trimStart() : held };
  }
}

/** How many characters at the end of `text` could be the start of `tag`. */
function partialSuffix(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(tag.slice(0, n))) return n;
  }
  return 0;
}
