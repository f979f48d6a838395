// What the persona proposed to remember after a reply: in "ask" mode each one waits for the person
// (Keep, Edit, Dismiss); kept ones say so. Shown as text only: a model's words are never markup here.
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { MEMORY_ITEM_TEXT_MAX, type Proposal } from '../../shared/conversation';

export type ResolveProposal = (messageId: string, index: number, action: 'keep' | 'dismiss', text?: string) => void;

export function Proposals(props: { messageId: string; proposals: Proposal[]; personaName: string; onResolve?: ResolveProposal | undefined }) {
  const shown = props.proposals.map((p, i) => ({ p, i })).filter(({ p }) => p.state !== 'dismissed');
  if (shown.length === 0) return null;
  const pending = shown.some(({ p }) => p.state === 'pending');
  return (
    <div class="proposals" role="group" aria-label="Proposed memories">
      <div class="proposals-title">{pending ? `${props.personaName} could remember:` : `${props.personaName} remembers now:`}</div>
      <ul>
        {shown.map(({ p, i }) => (
          <ProposalRow key={i} proposal={p} onResolve={props.onResolve && ((action, text) => props.onResolve!(props.messageId, i, action, text))} />
        ))}
      </ul>
    </div>
  );
}

function ProposalRow({ proposal, onResolve }: { proposal: Proposal; onResolve?: ((action: 'keep' | 'dismiss', text?: string) => void) | undefined }) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(proposal.text);
  const box = useRef<HTMLTextAreaElement>(null);
  useLayoutEffect(() => {
    if (editing) box.current?.focus();
  }, [editing]);
  if (proposal.state === 'kept') return <li class="proposal kept">{proposal.text}</li>;
  const tooLong = text.trim().length > MEMORY_ITEM_TEXT_MAX;
  return (
    <li class="proposal">
      {editing ? (
        <textarea ref={box} rows={2} aria-label="Proposed memory" value={text} onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)} onKeyDown={(e) => e.key === 'Escape' && (setText(proposal.text), setEditing(false))} />
      ) : (
        <span class="proposal-text">{proposal.text}</span>
      )}
      {onResolve && (
        <span class="proposal-actions">
          <button type="button" class="link-button" disabled={!text.trim() || tooLong} aria-label={`Keep: ${text.trim()}`} onClick={() => onResolve('keep', editing ? text.trim() : undefined)}>
            Keep
          </button>
          {!editing && (
            <button type="button" class="link-button" aria-label={`Edit before keeping: ${proposal.text}`} onClick={() => setEditing(true)}>
              Edit
            </button>
          )}
          <button type="button" class="link-button" aria-label={`Dismiss: ${proposal.text}`} onClick={() => onResolve('dismiss')}>
            Dismiss
          </button>
        </span>
      )}
    </li>
  );
}
