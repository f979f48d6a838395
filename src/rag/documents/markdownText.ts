// Heading paths of Markdown text: ATX headings (`#` to `######`) outside fenced code blocks.
import type { SegmentedTextBuilder } from './segmentedText';

/** Follows the heading path line by line; one tracker can span several texts (notebook cells). */
export class MarkdownHeadingTracker {
  private readonly headings: { level: number; text: string }[] = [];
  private fence: string | undefined;

  /** Reads one line; true when it is a heading (the path has then changed). */
  feed(line: string): boolean {
    const fenceMark = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fenceMark) {
      if (!this.fence) this.fence = fenceMark;
      else if (fenceMark[0] === this.fence[0] && fenceMark.length >= this.fence.length) this.fence = undefined;
      return false;
    }
    if (this.fence) return false;
    const heading = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (!heading) return false;
    const level = heading[1]!.length;
    while (this.headings.length && this.headings.at(-1)!.level >= level) this.headings.pop();
    const text = (heading[2] ?? '').trim();
    if (text) this.headings.push({ level, text });
    return true;
  }

  /** A fence left open ends with its text (a notebook cell's fence does not run into the next cell). */
  endText(): void {
    this.fence = undefined;
  }

  path(): string[] {
    return this.headings.map((h) => h.text);
  }
}

/** Appends the Markdown as it is, one block per section, positioned by its heading path. */
export function appendMarkdownText(markdown: string, out: SegmentedTextBuilder): void {
  const tracker = new MarkdownHeadingTracker();
  let section: string[] = [];
  let path: string[] = [];
  for (const line of markdown.split(/\r?\n/)) {
    if (tracker.feed(line)) {
      out.append(section.join('\n'), { kind: 'headings', headings: path });
      section = [];
      path = tracker.path();
    }
    section.push(line);
  }
  out.append(section.join('\n'), { kind: 'headings', headings: path });
}
