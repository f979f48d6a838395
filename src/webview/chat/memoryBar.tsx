// The memory line under the header: what the workspace memory holds, whether this chat uses it, and
// what to do when it cannot (server down, nothing added yet).
import type { MemoryStatus } from '../../shared/chatProtocol';

export function MemoryBar(props: { memory: MemoryStatus; enabled: boolean; onToggle(enabled: boolean): void; onAdd(): void; onShowPanel(): void }) {
  const { memory, enabled } = props;
  if (memory.status === 'off') return null;
  const files = memory.documents === undefined ? '' : `${memory.documents} ${memory.documents === 1 ? 'file' : 'files'}`;
  const text =
    memory.status === 'unavailable' || memory.status === 'paused' || memory.status === 'indexing'
      ? (memory.message ?? '')
      : memory.status === 'empty'
        ? 'Memory is empty.'
        : memory.status === 'checking'
          ? 'Memory: checking…'
          : `Memory: ${files}`;
  return (
    <div class="memory-bar" role="status" data-status={memory.status}>
      <span class="memory-text" title={memory.message}>
        {text}
      </span>
      {memory.status === 'empty' && (
        <button type="button" class="link-button" onClick={props.onAdd}>
          Add files…
        </button>
      )}
      <button type="button" class="link-button" aria-label="Memory panel" title="See, search and steer what this persona remembers" onClick={props.onShowPanel}>
        Panel
      </button>
      {memory.status !== 'unavailable' && memory.status !== 'empty' && memory.status !== 'checking' && (
        <label class="memory-toggle" title="Use the workspace memory in this chat">
          <input type="checkbox" checked={enabled} onChange={(e) => props.onToggle((e.currentTarget as HTMLInputElement).checked)} />
          Use in this chat
        </label>
      )}
    </div>
  );
}

export function ReadOnlyNotice(props: { personaName: string | undefined; onNew(): void }) {
  return (
    <div class="read-only-notice" role="status">
      <span>{props.personaName ?? 'The persona of this chat'} was deleted, so this chat is read-only.</span>
      <button type="button" onClick={props.onNew}>
        New chat
      </button>
    </div>
  );
}
