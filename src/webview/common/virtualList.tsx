// A list that draws only the rows in sight (and a few either side), so 10,000 rows cost what 30 do.
// Rows have one fixed height; the list tells its owner which range is on screen, so the owner can
// fetch the pages it does not hold yet. Screen readers get the list's size and each row's position.
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

const OVERSCAN = 8;

export interface VirtualListProps {
  count: number;
  rowHeight: number;
  /** The list's accessible name. */
  label: string;
  /** A row; `undefined` from the owner draws a placeholder while its page loads. */
  renderRow(index: number): ComponentChildren;
  /** The rows on screen changed (end exclusive). */
  onRange?(start: number, end: number): void;
}

export function VirtualList({ count, rowHeight, label, renderRow, onRange }: VirtualListProps) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(400);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    setHeight(el.clientHeight);
    const observer = new ResizeObserver(() => setHeight(el.clientHeight));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const start = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN);
  const end = Math.min(count, Math.ceil((scrollTop + height) / rowHeight) + OVERSCAN);
  useEffect(() => onRange?.(start, end), [start, end, onRange]);

  const rows: ComponentChildren[] = [];
  for (let i = start; i < end; i++) {
    rows.push(
      <div role="listitem" aria-setsize={count} aria-posinset={i + 1} class="virtual-row" key={i} style={{ top: `${i * rowHeight}px`, height: `${rowHeight}px` }}>
        {renderRow(i)}
      </div>,
    );
  }
  return (
    <div class="virtual-list" ref={box} onScroll={(e) => setScrollTop((e.currentTarget as HTMLDivElement).scrollTop)}>
      <div role="list" aria-label={label} class="virtual-spacer" style={{ height: `${count * rowHeight}px` }}>
        {rows}
      </div>
    </div>
  );
}
