// The memory line under the header: what the workspace memory holds, whether this chat uses it, and
// what to do when it cannot (server down, nothing added yet).
import type { MemoryStatus } from '../../shared/chatProtocol';

export function MemoryBar(props: { memory: MemoryStatus; enabled: boolean; onToggle(enabled: boolean): void; onAdd(): void; onShowPanel(): void }) {
  const { memory, enabled } = props;
  if (memory.status === 'off') return null;
  const count = (n: number) => `${n} ${n === 1 ? 'file' : 'files'}`;
  const files = memory.documents === undefined ? '' : count(memory.documents);
  const team = memory.team;
  // The workspace's memory may be empty while the team's is not: then the line says what the team's holds.
  const empty = memory.status === 'empty' && !team?.documents;
  const local =
    memory.status === 'unavailable' || memory.status === 'paused' || memory.status === 'indexing'
      ? (memory.message ?? '')
      : memory.status === 'empty'
        ? 'Memory is empty.'
        : memory.status === 'checking'
          ? 'Memory: checking…'
          : `Memory: ${files || count(0)}`;
  // Short: the side bar is narrow. The title says what the team memory is.
  const text = !team
    ? local
    : team.message
      ? `${local.replace(/\.$/, '')} · Team memory unavailable`
      : memory.status === 'empty'
        ? `Team memory: ${count(team.documents ?? 0)}`
        : `${local} · Team: ${count(team.documents ?? 0)}`;
  const title = [memory.message, team?.message ?? (team ? `The team memory, shared with your team on its storage, holds ${count(team.documents ?? 0)}.` : undefined)].filter(Boolean).join(' ');
  return (
    <div class="memory-bar" role="status" data-status={memory.status} data-team={team ? (team.message ? 'unavailable' : 'ready') : undefined}>
      <span class="memory-text" title={title || undefined}>
        {text}
      </span>
      {empty && (
        <button type="button" class="link-button" onClick={props.onAdd}>
          Add files…
        </button>
      )}
      <button type="button" class="link-button" aria-label="Memory panel" title="See, search and steer what this persona remembers" onClick={props.onShowPanel}>
        Panel
      </button>
      {memory.status !== 'unavailable' && !empty && memory.status !== 'checking' && (
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
