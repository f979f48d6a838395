// The context meter above the message box: how much of the model's loaded context the next request
// would take with the draft (role meter, accessible name "Context"), its parts on demand, and the
// turns that would be left out to fit. The host counts (gpt-tokenizer stays out of this bundle); the
// view asks again when the chat or its settings change, and when typing pauses.
import { useEffect, useRef, useState } from 'preact/hooks';
import { Requests, type ContextEstimate } from '../../shared/chatProtocol';
import type { ChatHost } from './chatHost';

const TYPING_PAUSE_MS = 250;

export function ContextMeter({ host, draft, version }: { host: ChatHost; draft: string; version: string }) {
  const [estimate, setEstimate] = useState<ContextEstimate | null>(null);
  const [open, setOpen] = useState(false);
  const asked = useRef(0);
  const first = useRef(true);

  useEffect(() => {
    const ask = () => {
      const n = ++asked.current;
      host
        .request(Requests.estimateContext, { draft })
        .then((e) => n === asked.current && setEstimate(e))
        .catch(() => n === asked.current && setEstimate(null));
    };
    if (first.current) {
      first.current = false;
      ask();
      return;
    }
    const timer = setTimeout(ask, TYPING_PAUSE_MS);
    return () => clearTimeout(timer);
  }, [host, draft, version]);

  if (!estimate) return null;
  const { used, limit, parts, leftOut, leftOutCount } = estimate;
  const share = limit ? Math.min(1, used / limit) : 0;
  const text = limit ? `${used.toLocaleString('en-US')} of ${limit.toLocaleString('en-US')} tokens (${Math.round((used / limit) * 100)}%)` : `${used.toLocaleString('en-US')} tokens (the server does not say its context size)`;
  const level = estimate.overflow || share >= 0.95 ? 'full' : share >= 0.8 ? 'high' : 'ok';
  return (
    <div class="context-meter" data-level={level}>
      <div class="context-line">
        {limit ? (
          <div class="meter-bar" role="meter" aria-label="Context" aria-valuemin={0} aria-valuemax={limit} aria-valuenow={Math.min(used, limit)} aria-valuetext={text}>
            <div class="meter-fill" style={{ width: `${Math.round(share * 100)}%` }} />
          </div>
        ) : null}
        <button type="button" class="link-button" aria-label="Context breakdown" aria-expanded={open} onClick={() => setOpen((v) => !v)}>
          {limit ? `${Math.round(share * 100)}% of context` : `${used.toLocaleString('en-US')} tokens`}
        </button>
      </div>
      {estimate.overflow && <div class="context-note" role="status">This message does not fit the model's context even with the whole history left out: shorten it, or lower Max tokens.</div>}
      {!estimate.overflow && leftOutCount > 0 && (
        <div class="context-note" role="status">
          {leftOutCount === 1 ? 'The oldest turn will be left out to fit the context.' : `The ${leftOutCount} oldest turns will be left out to fit the context.`}
        </div>
      )}
      {open && (
        <div class="context-breakdown">
          <p>{text}</p>
          <table aria-label="Context breakdown by part">
            <tbody>
              <Row name="Persona and system prompt" n={parts.system} />
              {parts.lorebook > 0 && <Row name="Lorebook" n={parts.lorebook} />}
              {parts.examples > 0 && <Row name="Example dialogue" n={parts.examples} />}
              {parts.memory > 0 && <Row name="Memory (at most)" n={parts.memory} />}
              <Row name="History" n={parts.history} />
              <Row name="Your draft" n={parts.draft} />
              <Row name="Room kept for the reply" n={parts.reply} />
            </tbody>
          </table>
          <p class="context-footnote">{parts.memory > 0 ? 'Memory passages are found when you send: the most they may add is counted.' : 'Memory is off or empty for this chat: nothing is kept for it.'}</p>
          {leftOutCount > 0 && (
            <details>
              <summary>Turns left out ({leftOutCount})</summary>
              {leftOutCount > leftOut.length && <p class="context-footnote">{`The newest ${leftOut.length}, just before what is sent; ${leftOutCount - leftOut.length} older ones too.`}</p>}
              <ol class="left-out" start={leftOutCount - leftOut.length + 1}>
                {leftOut.map((m, i) => (
                  <li key={i}>{`${m.role === 'user' ? 'You' : 'Reply'}: ${m.preview}`}</li>
                ))}
              </ol>
            </details>
          )}
        </div>
      )}
    </div>
  );
}

function Row({ name, n }: { name: string; n: number }) {
  return (
    <tr>
      <th scope="row">{name}</th>
      <td>{n.toLocaleString('en-US')}</td>
    </tr>
  );
}
