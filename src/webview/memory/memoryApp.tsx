// The memory panel: what the chat's persona draws on. Search first (the same search a chat turn runs,
// with its scores), then what the persona remembers from the chat (pin, edit, forget; export and
// import), then the knowledge bases: a document list drawn a page at a time, a document's chunks with
// their lines, and export of a knowledge base's file list / adding the files of one.
// Everything shown is text nodes: nothing from a file or a memory is parsed as HTML.
import { isExtractedDocument, passageLabel } from '../../shared/sourcePlace';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { MemoryPanelRequests, type DocumentRow, type ChunkRow, type ItemRow, type MemoryPanelNotifications, type MemoryPanelState, type SearchResult } from '../../shared/memoryPanelProtocol';
import { MEMORY_ITEM_TEXT_MAX } from '../../shared/conversation';
import type { RpcClient } from '../common/rpcClient';
import { ErrorLine } from '../common/errorLine';
import { VirtualList } from '../common/virtualList';
import { NumberRow, SwitchRow } from '../chat/chatSettingsPanel';
import { MEMORY_DIAL_NUMBERS, MEMORY_DIAL_SWITCHES, type MemoryDialKey } from '../../shared/memoryDials';

type MemoryHost = RpcClient<typeof MemoryPanelRequests, typeof MemoryPanelNotifications>;

const PAGE = 100;
const ROW_HEIGHT = 44;

export function MemoryApp({ host }: { host: MemoryHost }) {
  const [state, setState] = useState<MemoryPanelState | null>(null);
  const [error, setError] = useState<string | null>(null);
  useLayoutEffect(() => {
    const off = host.onNotification((n) => {
      if (n.method === 'memoryPanel/state') setState(n.params);
    });
    host.request(MemoryPanelRequests.ready, {}).then(setState, (e: Error) => setError(e.message));
    return off;
  }, [host]);
  const call = useCallback((run: () => Promise<unknown>) => {
    setError(null);
    run().catch((e: Error) => setError(e.message));
  }, []);

  if (!state) return <div class="loading" role="status">{error ?? 'Reading memory…'}</div>;
  return (
    <main class="memory">
      <header class="memory-header">
        <h1>{`What ${state.personaName} draws on`}</h1>
        <p class="muted">
          {state.model ? `Embeddings: ${state.model}` : 'Nothing indexed yet.'}
          {state.status ? ` · ${state.status}` : ''}
        </p>
      </header>
      {error && <ErrorLine error={error} onDismiss={() => setError(null)} />}
      <SearchSection host={host} personaId={state.personaId} onError={setError} />
      <ItemsSection state={state} host={host} call={call} />
      <DialsSection state={state} host={host} call={call} />
      <KnowledgeSection state={state} host={host} call={call} />
    </main>
  );
}

function SearchSection({ host, personaId, onError }: { host: MemoryHost; personaId: string; onError(e: string): void }) {
  const [query, setQuery] = useState('');
  const [result, setResult] = useState<SearchResult | null>(null);
  const [busy, setBusy] = useState(false);
  // Results are for one persona: a switch clears them.
  useEffect(() => setResult(null), [personaId]);
  const run = (e: Event) => {
    e.preventDefault();
    const q = query.trim();
    if (!q) return;
    setBusy(true);
    host
      .request(MemoryPanelRequests.search, { query: q })
      .then(setResult, (err: Error) => onError(err.message))
      .finally(() => setBusy(false));
  };
  return (
    <section aria-labelledby="search-title">
      <h2 id="search-title">Search memory</h2>
      <p class="muted">What a chat turn with this message would be given, with the similarity of each find.</p>
      <form role="search" class="search-form" onSubmit={run}>
        <input type="search" aria-label="Search memory" placeholder="Ask what it would find…" value={query} onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit" disabled={busy || !query.trim()}>
          {busy ? 'Searching…' : 'Search'}
        </button>
      </form>
      {result && (
        <div class="search-results">
          {result.note && <p class="muted" role="status">{result.note}</p>}
          {result.items.length === 0 && result.passages.length === 0 && <p role="status">Nothing in memory comes close to that.</p>}
          {(result.items.length > 0 || result.passages.length > 0) && (
            <ol aria-label="Search results">
              {result.items.map((i) => (
                <li key={`item-${i.id}`} class="hit">
                  <span class="hit-where">{i.pinned ? 'Pinned memory · always given' : `Memory · ${formatScore(i.score)}`}</span>
                  <span class="hit-text">{i.text}</span>
                </li>
              ))}
              {result.passages.map((p, n) => (
                <li key={`p-${n}`} class="hit">
                  <span class="hit-where">
                    <button
                      type="button"
                      class="link-button"
                      aria-label={`Open ${p.source}, ${passageLabel(p)}`}
                      onClick={() => host.request(MemoryPanelRequests.open, { source: p.source, line: p.startLine, ...(p.place ? { place: p.place } : {}) }).catch((e: Error) => onError(e.message))}
                    >
                      {isExtractedDocument(p.source) ? `${p.source} · ${passageLabel(p)}` : `${p.source}:${p.startLine}–${p.endLine}`}
                    </button>
                    {` · ${formatScore(p.score)}${p.via === 'text' ? ' · exact words' : p.via === 'both' ? ' · meaning and exact words' : ''}`}
                  </span>
                  <span class="hit-text">{clip(p.text, 400)}</span>
                </li>
              ))}
            </ol>
          )}
        </div>
      )}
    </section>
  );
}

const ITEM_ROW_HEIGHT = 58;

function ItemsSection({ state, host, call }: { state: MemoryPanelState; host: MemoryHost; call(run: () => Promise<unknown>): void }) {
  const [filter, setFilter] = useState('');
  const [editing, setEditing] = useState<ItemRow | null>(null);
  const fetchItems = useCallback((offset: number, limit: number) => host.request(MemoryPanelRequests.items, { offset, limit, ...(filter.trim() ? { filter } : {}) }).then((r) => ({ total: r.total, rows: r.items })), [host, filter]);
  const pages = usePages(fetchItems, `${state.personaId}\0${filter}\0${state.itemsVersion}`);
  const { pinned } = state;
  return (
    <section aria-labelledby="items-title">
      <div class="section-head">
        <h2 id="items-title">{`What ${state.personaName} remembers (${state.itemCount})`}</h2>
        <div class="head-actions">
          <button type="button" class="secondary" onClick={() => call(() => host.request(MemoryPanelRequests.remember, {}))}>
            Remember…
          </button>
          <button
            type="button"
            class="secondary"
            aria-label={`Export ${state.personaName}'s memories to a file…`}
            title={`Export ${state.personaName}'s memories to a JSON file`}
            disabled={state.itemCount === 0}
            onClick={() => call(() => host.request(MemoryPanelRequests.exportItems, {}))}
          >
            Export…
          </button>
          <button
            type="button"
            class="secondary"
            aria-label={`Import memories into ${state.personaName} from a file…`}
            title="Add the memories of an exported file; those already here are kept as they are"
            onClick={() => call(() => host.request(MemoryPanelRequests.importItems, {}))}
          >
            Import…
          </button>
        </div>
      </div>
      <p class="muted">
        {pinned.count > 0
          ? `Pinned: ${pinned.count} ${pinned.count === 1 ? 'memory' : 'memories'}, ${pinned.tokens.toLocaleString('en-US')} of the ${state.tokenBudget.toLocaleString('en-US')} tokens memory may use in a turn, in every reply.`
          : 'Memories follow the persona into every workspace. Pin one to have it in every reply.'}
        {pinned.tokens > state.tokenBudget ? ' The pins do not all fit: the newest are left out.' : ''}
      </p>
      {editing && <ItemEditor key={editing.id} item={editing} host={host} call={call} onDone={() => setEditing(null)} />}
      {state.itemCount === 0 ? (
        <p>Nothing yet: use Remember on a message in the chat, or Remember… here.</p>
      ) : (
        <>
          {state.itemCount > 8 && <input type="search" class="items-filter" aria-label="Filter memories" placeholder="Filter memories" value={filter} onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)} />}
          {pages.total === 0 && pages.loaded ? (
            <p class="muted">No memory holds that.</p>
          ) : (
            <div class="items-list" style={{ height: `${Math.min(Math.max(pages.total, 1), 6) * ITEM_ROW_HEIGHT + 2}px` }}>
              <VirtualList
                count={pages.total}
                rowHeight={ITEM_ROW_HEIGHT}
                label="Memories"
                onRange={pages.want}
                renderRow={(i) => {
                  const item = pages.row(i);
                  return item ? <Item item={item} host={host} call={call} onEdit={() => setEditing(item)} /> : <span class="muted">…</span>;
                }}
              />
            </div>
          )}
        </>
      )}
    </section>
  );
}

function Item({ item, host, call, onEdit }: { item: ItemRow; host: MemoryHost; call(run: () => Promise<unknown>): void; onEdit(): void }) {
  return (
    <div class={item.pinned ? 'item pinned' : 'item'} title={item.text}>
      <div class="item-text">
        {item.pinned && <span class="pin-mark" aria-label="Pinned">📌 </span>}
        {item.text}
      </div>
      <div class="item-meta">
        <span class="muted item-origin">{`${item.origin} · ${item.tokens} tokens`}</span>
        <span class="row-actions">
          <button type="button" class="link-button" onClick={() => call(() => host.request(MemoryPanelRequests.setPinned, { id: item.id, pinned: !item.pinned }))}>
            {item.pinned ? 'Unpin' : 'Pin'}
          </button>
          <button type="button" class="link-button" onClick={onEdit}>
            Edit
          </button>
          <button type="button" class="link-button" onClick={() => call(() => host.request(MemoryPanelRequests.forgetItem, { id: item.id }))}>
            Forget
          </button>
        </span>
      </div>
    </div>
  );
}

/** Edits one memory above the list (a row of the list has one fixed height). */
function ItemEditor({ item, host, call, onDone }: { item: ItemRow; host: MemoryHost; call(run: () => Promise<unknown>): void; onDone(): void }) {
  const [text, setText] = useState(item.text);
  const box = useRef<HTMLTextAreaElement>(null);
  useLayoutEffect(() => box.current?.focus(), []);
  const tooLong = text.trim().length > MEMORY_ITEM_TEXT_MAX;
  const save = () => {
    const t = text.trim();
    if (!t || tooLong) return;
    call(async () => {
      await host.request(MemoryPanelRequests.editItem, { id: item.id, text: t });
      onDone();
    });
  };
  return (
    <div class="item-edit" role="group" aria-label="Edit memory">
      <textarea ref={box} aria-label="Memory text" rows={3} value={text} onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)} onKeyDown={(e) => e.key === 'Escape' && onDone()} />
      {tooLong && <span role="alert">{`At most ${MEMORY_ITEM_TEXT_MAX.toLocaleString('en-US')} characters.`}</span>}
      <div class="row-actions">
        <button type="button" onClick={save} disabled={!text.trim() || tooLong}>
          Save
        </button>
        <button type="button" class="secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** The persona's own memory dials: what its chats start from (a chat can still set its own). */
function DialsSection({ state, host, call }: { state: MemoryPanelState; host: MemoryHost; call(run: () => Promise<unknown>): void }) {
  const set = (key: MemoryDialKey, value: number | boolean | null) => {
    const done = host.request(MemoryPanelRequests.setPersonaDial, { key, value });
    call(() => done);
    return done;
  };
  return (
    <section aria-labelledby="dials-title" class="dials">
      <h2 id="dials-title">{`How ${state.personaName} recalls`}</h2>
      <p class="muted">{`Every chat with ${state.personaName} starts from these; Chat settings can change them for one chat. Values set here are kept with the persona, in every workspace.`}</p>
      <div role="group" aria-labelledby="dials-title" class="dial-rows">
        <SwitchRow def={MEMORY_DIAL_SWITCHES[0]!} entry={state.dials.enabled} readOnly={false} onSet={set} own="persona" />
        {MEMORY_DIAL_NUMBERS.map((def) => (
          <NumberRow key={def.key} def={def} entry={state.dials[def.key]} ignored={false} readOnly={false} onSet={(key, value) => set(key as MemoryDialKey, value)} own="persona" memory />
        ))}
        {MEMORY_DIAL_SWITCHES.slice(1)
          // The team memory's switch only where one is set up.
          .filter((def) => def.key !== 'teamFiles' || state.knowledgeBases.some((k) => k.id === 'shared'))
          .map((def) => (
            <SwitchRow key={def.key} def={def} entry={state.dials[def.key]} readOnly={false} onSet={set} own="persona" />
          ))}
      </div>
    </section>
  );
}

function KnowledgeSection({ state, host, call }: { state: MemoryPanelState; host: MemoryHost; call(run: () => Promise<unknown>): void }) {
  const [kb, setKb] = useState(state.knowledgeBases[0]?.id ?? '');
  const [filter, setFilter] = useState('');
  const [selected, setSelected] = useState<DocumentRow | null>(null);
  const current = state.knowledgeBases.find((k) => k.id === kb) ?? state.knowledgeBases[0];
  useEffect(() => {
    if (!state.knowledgeBases.some((k) => k.id === kb)) setKb(state.knowledgeBases[0]?.id ?? '');
  }, [state.knowledgeBases, kb]);
  const kbId = current?.id ?? '';
  const fetchDocuments = useCallback(
    (offset: number, limit: number) =>
      kbId ? host.request(MemoryPanelRequests.documents, { kb: kbId, offset, limit, ...(filter.trim() ? { filter } : {}) }).then((r) => ({ total: r.total, rows: r.documents })) : Promise.resolve({ total: 0, rows: [] as DocumentRow[] }),
    [host, kbId, filter],
  );
  const pages = usePages(fetchDocuments, `${kbId}\0${filter}\0${state.documentsVersion}`);

  if (!state.workspace) {
    return (
      <section aria-labelledby="kb-title">
        <h2 id="kb-title">Knowledge bases</h2>
        <p>Open a folder: files in memory are kept per workspace.</p>
      </section>
    );
  }
  return (
    <section aria-labelledby="kb-title" class="kb-section">
      <div class="section-head">
        <h2 id="kb-title">Knowledge bases</h2>
        <div class="head-actions">
          <button type="button" class="secondary" onClick={() => call(() => host.request(MemoryPanelRequests.addFiles, {}))}>
            Add files…
          </button>
          <button
            type="button"
            class="secondary"
            aria-label={current ? `Export list of the files in “${current.label}” to a file…` : 'Export list of files…'}
            title="Save the paths of these files, to add the same files on another machine"
            // The team memory is already everyone's: no list of its files to carry elsewhere.
            disabled={!current || current.documents === 0 || current.id === 'shared'}
            onClick={() => current && call(() => host.request(MemoryPanelRequests.exportDocumentList, { kb: current.id }))}
          >
            Export list…
          </button>
          <button
            type="button"
            class="secondary"
            aria-label="Add from list: the files named in an exported memory file list…"
            title="Add the files of an exported list that are in this workspace"
            onClick={() => call(() => host.request(MemoryPanelRequests.importDocumentList, {}))}
          >
            Add from list…
          </button>
        </div>
      </div>
      <div class="kb-controls">
        <select aria-label="Knowledge base" value={current?.id} onChange={(e) => (setKb((e.currentTarget as HTMLSelectElement).value), setSelected(null))}>
          {state.knowledgeBases.map((k) => (
            <option key={k.id} value={k.id}>{`${k.label}: ${k.documents} ${k.documents === 1 ? 'file' : 'files'}, ${k.chunks} chunks`}</option>
          ))}
        </select>
        <input type="search" aria-label="Filter documents" placeholder="Filter by path" value={filter} onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)} />
      </div>
      <div class="kb-body">
        <div class="documents">
          {pages.total === 0 && pages.loaded ? (
            <p class="muted">{filter ? 'No file matches.' : 'No files in this knowledge base yet.'}</p>
          ) : (
            <VirtualList
              count={pages.total}
              rowHeight={ROW_HEIGHT}
              label="Documents"
              onRange={pages.want}
              renderRow={(i) => {
                const d = pages.row(i);
                if (!d) return <span class="muted">…</span>;
                const isSelected = selected?.source === d.source && selected.kb === d.kb;
                return (
                  <button type="button" class={isSelected ? 'document selected' : 'document'} aria-pressed={isSelected} onClick={() => setSelected(d)}>
                    <span class="document-name">{d.source}</span>
                    <span class="muted document-meta">{documentMeta(d)}</span>
                  </button>
                );
              }}
            />
          )}
        </div>
        {selected && <Chunks key={`${selected.kb}\0${selected.source}\0${state.documentsVersion}`} doc={selected} host={host} call={call} onClose={() => setSelected(null)} />}
      </div>
    </section>
  );
}

/**
 * A list fetched a page at a time: the pages on screen are asked for, and dropped when `key` changes
 * (another knowledge base, filter or persona, or the host says the rows changed).
 */
function usePages<T>(fetch: (offset: number, limit: number) => Promise<{ total: number; rows: T[] }>, key: string) {
  const [total, setTotal] = useState(0);
  const [loaded, setLoaded] = useState(false);
  const [, setTick] = useState(0);
  const cache = useRef(new Map<number, T[]>());
  const asked = useRef(new Set<number>());
  const keyRef = useRef(key);
  // Dropped during the render that sees the new key: the list asks for its rows (its effect runs
  // before this component's) from the fresh cache.
  if (keyRef.current !== key) {
    keyRef.current = key;
    cache.current = new Map();
    asked.current = new Set();
  }
  const fetchPage = useCallback(
    (page: number) => {
      if (asked.current.has(page)) return;
      asked.current.add(page);
      const at = keyRef.current;
      fetch(page * PAGE, PAGE).then(
        (r) => {
          if (keyRef.current !== at) return;
          cache.current.set(page, r.rows);
          setTotal(r.total);
          setLoaded(true);
          setTick((t) => t + 1);
        },
        () => asked.current.delete(page),
      );
    },
    [fetch],
  );
  useEffect(() => fetchPage(0), [key, fetchPage]);
  const want = useCallback(
    (start: number, end: number) => {
      for (let p = Math.floor(start / PAGE); p <= Math.floor(Math.max(start, end - 1) / PAGE); p++) fetchPage(p);
    },
    // A new key asks again for the rows on screen.
    [fetchPage, key],
  );
  return { total, loaded, want, row: (i: number) => cache.current.get(Math.floor(i / PAGE))?.[i % PAGE] };
}

function Chunks({ doc, host, call, onClose }: { doc: DocumentRow; host: MemoryHost; call(run: () => Promise<unknown>): void; onClose(): void }) {
  const [chunks, setChunks] = useState<ChunkRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    host.request(MemoryPanelRequests.chunks, { kb: doc.kb, source: doc.source }).then((r) => setChunks(r.chunks), (e: Error) => setError(e.message));
  }, [host, doc.kb, doc.source]);
  return (
    <section class="chunks" aria-label={`Chunks of ${doc.source}`}>
      <div class="section-head">
        <h3>{doc.source}</h3>
        <div class="row-actions">
          <button type="button" class="secondary" onClick={() => call(() => host.request(MemoryPanelRequests.open, { source: doc.source }))}>
            Open
          </button>
          <button type="button" class="secondary" onClick={() => call(() => host.request(MemoryPanelRequests.forgetDocument, { kb: doc.kb, source: doc.source }))}>
            Forget…
          </button>
          <button type="button" class="icon-button" aria-label="Close chunks" onClick={onClose}>
            ×
          </button>
        </div>
      </div>
      <p class="muted">{documentMeta(doc)}</p>
      {doc.state === 'failed' && doc.reason && <p role="alert">{doc.reason}</p>}
      {error && <p role="alert">{error}</p>}
      {chunks === null && !error && <p class="muted">Reading…</p>}
      {chunks && (
        <ol class="chunk-list" aria-label="Chunks">
          {chunks.map((c) => (
            <li key={c.index}>
              <div class="muted">
                <button
                  type="button"
                  class="link-button"
                  aria-label={isExtractedDocument(doc.source) ? `Open at ${passageLabel({ ...c, source: doc.source })}` : `Open at line ${c.startLine}`}
                  onClick={() => call(() => host.request(MemoryPanelRequests.open, { source: doc.source, line: Math.max(1, c.startLine), ...(c.place ? { place: c.place } : {}) }))}
                >
                  {capitalise(passageLabel({ ...c, source: doc.source }))}
                </button>
                {` · ${c.tokens} tokens `}
                <button
                  type="button"
                  class="link-button"
                  aria-label={isExtractedDocument(doc.source) ? `Forget ${passageLabel({ ...c, source: doc.source })}` : `Forget lines ${c.startLine}–${c.endLine}`}
                  onClick={() => call(() => host.request(MemoryPanelRequests.forgetChunk, { kb: doc.kb, source: doc.source, index: c.index }))}
                >
                  Forget
                </button>
              </div>
              <pre class="chunk-text">{c.text}</pre>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function documentMeta(d: DocumentRow): string {
  const state = d.state === 'ready' ? '' : d.state === 'failed' ? 'failed · ' : d.state === 'indexing' ? 'indexing now · ' : 'waiting to be indexed · ';
  const size = d.chunks > 0 ? `${d.chunks} ${d.chunks === 1 ? 'chunk' : 'chunks'} · ${d.tokens.toLocaleString('en-US')} tokens` : '';
  const when = d.indexedAt ? ` · indexed ${new Date(d.indexedAt).toLocaleString('en-US', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })}` : '';
  return `${state}${size}${when}`;
}

function formatScore(score: number | undefined): string {
  return score === undefined ? 'exact words' : `similarity ${score.toFixed(2)}`;
}

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
