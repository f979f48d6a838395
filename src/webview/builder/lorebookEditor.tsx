// The lorebook: entries with keys, content, enabled, always-on and insertion order; add, remove and
// move up/down (buttons, so it works from the keyboard). Fields the form does not show stay in `rest`.
import { useEffect, useRef } from 'preact/hooks';
import type { BuilderForm, LoreEntryForm } from '../../shared/builderProtocol';
import { Checkbox, controlId, TextArea, TextField } from './fields';

type Lorebook = BuilderForm['lorebook'];

export function LorebookEditor(props: {
  lorebook: Lorebook;
  /** Entries the preview's sample message activated. */
  activated: readonly number[];
  errorFor(path: string): string | undefined;
  onChange(path: string, lorebook: Lorebook): void;
}) {
  const { lorebook, onChange } = props;
  const entries = lorebook.entries;
  const focusAfter = useRef<string | null>(null);
  useEffect(() => {
    if (!focusAfter.current) return;
    document.getElementById(focusAfter.current)?.focus();
    focusAfter.current = null;
  });

  const setEntries = (path: string, next: LoreEntryForm[]) => onChange(path, { ...lorebook, entries: next });
  const setEntry = (i: number, field: string, patch: Partial<LoreEntryForm>) =>
    setEntries(
      `lorebook.entries.${i}.${field}`,
      entries.map((e, j) => (j === i ? { ...e, ...patch } : e)),
    );
  const move = (i: number, by: -1 | 1) => {
    const j = i + by;
    if (j < 0 || j >= entries.length) return;
    const next = [...entries];
    [next[i], next[j]] = [next[j]!, next[i]!];
    focusAfter.current = `lore-${j}-${by < 0 ? 'up' : 'down'}`;
    if ((by < 0 && j === 0) || (by > 0 && j === entries.length - 1)) focusAfter.current = `lore-${j}-${by < 0 ? 'down' : 'up'}`;
    setEntries('lorebook.entries', next);
  };

  return (
    <div class="lorebook">
      <div class="grid">
        <TextField
          id={controlId('lorebook.scanDepth')}
          label="Scan depth"
          inputMode="numeric"
          placeholder="2"
          hint="How many recent messages are searched for keys."
          value={lorebook.scanDepth}
          error={props.errorFor('lorebook.scanDepth')}
          onInput={(v) => onChange('lorebook.scanDepth', { ...lorebook, scanDepth: v })}
        />
        <TextField
          id={controlId('lorebook.tokenBudget')}
          label="Token budget"
          inputMode="numeric"
          placeholder="no limit"
          hint="Most tokens the entries may add to one prompt."
          value={lorebook.tokenBudget}
          error={props.errorFor('lorebook.tokenBudget')}
          onInput={(v) => onChange('lorebook.tokenBudget', { ...lorebook, tokenBudget: v })}
        />
      </div>
      {entries.length === 0 && <p class="empty">No entries yet.</p>}
      <ol class="lore-entries">
        {entries.map((e, i) => {
          const base = `lorebook.entries.${i}`;
          const n = i + 1;
          return (
            <li key={i} class="lore-entry">
              <fieldset>
                <legend>
                  {`Entry ${n}`}
                  {props.activated.includes(i) && <span class="badge">in the preview</span>}
                  {!e.enabled && <span class="badge muted">disabled</span>}
                </legend>
                <TextField
                  id={controlId(`${base}.keys`)}
                  label="Keys"
                  hint="Comma-separated words or phrases that bring this entry into the prompt."
                  value={e.keys}
                  error={props.errorFor(`${base}.keys`)}
                  onInput={(v) => setEntry(i, 'keys', { keys: v })}
                />
                <TextArea id={controlId(`${base}.content`)} label="Content" rows={3} value={e.content} error={props.errorFor(`${base}.content`)} onInput={(v) => setEntry(i, 'content', { content: v })} />
                <div class="row entry-options">
                  <Checkbox id={`lore-${i}-enabled`} label="Enabled" checked={e.enabled} onChange={(v) => setEntry(i, 'enabled', { enabled: v })} />
                  <Checkbox id={`lore-${i}-constant`} label="Always on" checked={e.constant} onChange={(v) => setEntry(i, 'constant', { constant: v })} />
                  <TextField
                    id={controlId(`${base}.insertionOrder`)}
                    class="order-field"
                    label="Insertion order"
                    inputMode="numeric"
                    placeholder="0"
                    value={e.insertionOrder}
                    error={props.errorFor(`${base}.insertionOrder`)}
                    onInput={(v) => setEntry(i, 'insertionOrder', { insertionOrder: v })}
                  />
                </div>
                <div class="entry-actions">
                  <button type="button" class="secondary" id={`lore-${i}-up`} disabled={i === 0} aria-label={`Move entry ${n} up`} onClick={() => move(i, -1)}>
                    Move Up
                  </button>
                  <button type="button" class="secondary" id={`lore-${i}-down`} disabled={i === entries.length - 1} aria-label={`Move entry ${n} down`} onClick={() => move(i, 1)}>
                    Move Down
                  </button>
                  <button
                    type="button"
                    class="secondary"
                    aria-label={`Remove entry ${n}`}
                    onClick={() => {
                      focusAfter.current = 'add-lore-entry';
                      setEntries('lorebook.entries', entries.filter((_, j) => j !== i));
                    }}
                  >
                    Remove
                  </button>
                </div>
              </fieldset>
            </li>
          );
        })}
      </ol>
      <button
        type="button"
        class="secondary"
        id="add-lore-entry"
        onClick={() => {
          focusAfter.current = controlId(`lorebook.entries.${entries.length}.keys`);
          const last = entries.at(-1);
          const order = last && Number.isFinite(Number(last.insertionOrder)) ? String(Number(last.insertionOrder) + 1) : String(entries.length);
          setEntries('lorebook.entries', [...entries, { keys: '', content: '', enabled: true, constant: false, insertionOrder: order }]);
        }}
      >
        Add Entry
      </button>
    </div>
  );
}
