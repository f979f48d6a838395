// The list of this workspace's conversations: open, rename, export, delete.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { useKeydown } from '../common/useKeydown';
import type { ConversationSummary } from '../../shared/conversation';
import type { PersonaSummary } from '../../shared/persona';

interface Props {
  conversations: ConversationSummary[];
  personas: PersonaSummary[];
  activeId: string | undefined;
  onClose(): void;
  onSelect(id: string): void;
  onRename(id: string, title: string): void;
  onDelete(id: string): void;
  onExport(id: string, format: 'markdown' | 'json'): void;
  onImport(): void;
}

export function ConversationList(props: Props) {
  const [renaming, setRenaming] = useState<string | null>(null);
  const panel = useRef<HTMLDivElement>(null);
  // Focus moves in as the list appears (a layout effect, not after paint), so the next key pressed
  // already lands in it.
  useLayoutEffect(() => panel.current?.querySelector<HTMLElement>('button')?.focus(), []);
  // Escape closes the list wherever focus is in the view (it may still be on the Chats toggle).
  useKeydown((e) => {
    if (e.key !== 'Escape' || renaming || e.defaultPrevented) return;
    e.preventDefault();
    props.onClose();
  });
  const icons = new Map(props.personas.map((p) => [p.id, p.icon]));

  return (
    <div
      class="conversation-list"
      ref={panel}
      role="region"
      aria-label="Conversations"
    >
      {props.conversations.length === 0 && <p class="empty">No saved conversations yet. They appear here after your first message.</p>}
      <ul>
        {props.conversations.map((c) => (
          <li key={c.id} class={c.id === props.activeId ? 'active' : undefined}>
            {renaming === c.id ? (
              <RenameBox
                initial={c.title}
                onDone={(title) => {
                  setRenaming(null);
                  if (title && title !== c.title) props.onRename(c.id, title);
                }}
              />
            ) : (
              <button type="button" class="conversation-open" aria-current={c.id === props.activeId ? 'true' : undefined} onClick={() => props.onSelect(c.id)}>
                <span class="conversation-icon" aria-hidden="true">
                  {icons.get(c.personaId) ?? '💬'}
                </span>
                <span class="conversation-title">{c.title}</span>
                <span class="conversation-date">{formatDate(c.updatedAt)}</span>
              </button>
            )}
            <span class="conversation-actions">
              <button type="button" class="icon-button" aria-label={`Rename ${c.title}`} title="Rename" onClick={() => setRenaming(c.id)}>
                ✎
              </button>
              <button type="button" class="icon-button" aria-label={`Export ${c.title} as Markdown`} title="Export as Markdown" onClick={() => props.onExport(c.id, 'markdown')}>
                MD
              </button>
              <button type="button" class="icon-button" aria-label={`Export ${c.title} as JSON`} title="Export as JSON" onClick={() => props.onExport(c.id, 'json')}>
                {'{}'}
              </button>
              <button type="button" class="icon-button" aria-label={`Delete ${c.title}`} title="Delete" onClick={() => props.onDelete(c.id)}>
                🗑
              </button>
            </span>
          </li>
        ))}
      </ul>
      <div class="conversation-list-footer">
        <button type="button" class="link-button" aria-label="Import a conversation" title="Open a chat exported from Persona as JSON, with every branch" onClick={props.onImport}>
          Import…
        </button>
      </div>
    </div>
  );
}

function RenameBox({ initial, onDone }: { initial: string; onDone(title: string | null): void }) {
  const [title, setTitle] = useState(initial);
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => ref.current?.select(), []);
  return (
    <input
      ref={ref}
      class="rename-input"
      aria-label="Conversation title"
      value={title}
      maxLength={200}
      onInput={(e) => setTitle((e.currentTarget as HTMLInputElement).value)}
      onBlur={() => onDone(title.trim() || null)}
      onKeyDown={(e) => {
        if (e.key === 'Enter') onDone(title.trim() || null);
        else if (e.key === 'Escape') {
          e.stopPropagation();
          onDone(null);
        }
      }}
    />
  );
}

function formatDate(ms: number): string {
  const d = new Date(ms);
  const today = new Date();
  return d.toDateString() === today.toDateString()
    ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}
