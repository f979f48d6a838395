// The Compare panel: the message, then the two replies side by side as they stream, each rendered
// like a reply in the chat (sanitised markdown, its reasoning collapsed, its stats), with "Keep"
// and "What was sent". Links in the replies go nowhere here.
import { useLayoutEffect, useMemo, useState } from 'preact/hooks';
import { CompareRequests, type CompareNotifications, type CompareState } from '../../shared/compareProtocol';
import type { RpcClient } from '../common/rpcClient';
import { ErrorLine } from '../common/errorLine';
import { createMarkdownRenderer } from '../chat/markdown';
import { ReplyStats } from '../chat/replyStats';

type CompareHost = RpcClient<typeof CompareRequests, typeof CompareNotifications>;

const markdown = createMarkdownRenderer(window);
const COLUMN_NAMES = ['A', 'B'] as const;

export function CompareApp({ host }: { host: CompareHost }) {
  const [state, setState] = useState<CompareState | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Subscribed before the first paint: an update may come right after the answer to ready.
  useLayoutEffect(() => {
    const off = host.onNotification((n) => {
      if (n.method === 'compare/state') setState(n.params);
    });
    host.request(CompareRequests.ready, {}).then(setState, (e: Error) => setError(e.message));
    return off;
  }, [host]);
  const call = (run: () => Promise<unknown>) => {
    setError(null);
    run().catch((e: Error) => setError(e.message));
  };

  if (!state) return <div class="loading" role="status">{error ?? 'Starting the comparison…'}</div>;
  const running = state.columns.some((c) => c.status === 'waiting' || c.status === 'streaming');
  return (
    <main class="compare">
      <header class="compare-header">
        <p class="compare-message">
          <span class="who">You</span> {state.text}
        </p>
        {running && (
          <button type="button" class="secondary" aria-label="Stop" onClick={() => call(() => host.request(CompareRequests.stop, {}))}>
            Stop
          </button>
        )}
      </header>
      {error && <ErrorLine error={error} onDismiss={() => setError(null)} />}
      <div class="columns">
        {state.columns.map((column, i) => (
          <Column
            key={i}
            name={COLUMN_NAMES[i]!}
            column={column}
            kept={state.kept === i}
            canKeep={state.canKeep && (column.status === 'complete' || column.status === 'stopped')}
            onKeep={() => call(() => host.request(CompareRequests.keep, { column: i }))}
            onShowSent={() => call(() => host.request(CompareRequests.showSent, { column: i }))}
          />
        ))}
      </div>
      {state.kept !== undefined && <p class="compare-note" role="status">{`Reply ${COLUMN_NAMES[state.kept]} is in the chat now, and the chat goes on with its set-up.`}</p>}
      {state.kept === undefined && !state.canKeep && !running && <p class="compare-note">The chat has moved on since this comparison: its replies can no longer be kept.</p>}
    </main>
  );
}

function Column(props: { name: string; column: CompareState['columns'][number]; kept: boolean; canKeep: boolean; onKeep(): void; onShowSent(): void }) {
  const { column } = props;
  const reply = column.reply;
  const html = useMemo(() => markdown.render(reply.content), [reply.content]);
  return (
    <section class="column" aria-label={`Reply ${props.name}: ${column.label}`} data-status={column.status}>
      <h2>
        {`${props.name} · ${column.label}`}
        {props.kept && <span class="kept"> · kept</span>}
      </h2>
      {column.status === 'waiting' && <p class="waiting">Waits for the other reply: the server answers one request at a time.</p>}
      {reply.reasoning && (
        <details class="reasoning">
          <summary>{column.status === 'streaming' && !reply.content ? 'Thinking…' : 'Reasoning'}</summary>
          <div class="reasoning-text">{reply.reasoning}</div>
        </details>
      )}
      {/* The renderer sanitises while it parses (no script, no remote media, links inert). */}
      <div
        class="message-content markdown"
        dangerouslySetInnerHTML={{ __html: html }}
        onClick={(e) => {
          if ((e.target as HTMLElement).closest('a')) e.preventDefault();
        }}
      />
      {reply.status === 'error' && reply.error && (
        <div class="message-error" role="alert">
          {reply.error}
        </div>
      )}
      {column.status !== 'waiting' && column.status !== 'streaming' && <ReplyStats message={reply} />}
      <div class="column-actions">
        <button type="button" aria-label={`Keep reply ${props.name}`} disabled={!props.canKeep} onClick={props.onKeep}>
          Keep this reply
        </button>
        <button type="button" class="secondary" aria-label={`What was sent for reply ${props.name}`} disabled={column.status === 'waiting'} onClick={props.onShowSent}>
          What was sent
        </button>
      </div>
    </section>
  );
}
