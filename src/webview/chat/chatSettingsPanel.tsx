// The Chat settings panel: the model and every sampling setting of this chat, each a labelled
// control showing the value in effect and where it comes from (default, your settings, the persona,
// this chat). A value typed here becomes this chat's override once it is a valid one; Reset takes
// the override away. Ranges are checked as the person types, with the allowed range said.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import {
  checkNumberInput,
  checkStopInput,
  NUMBER_SETTINGS,
  ORIGIN_LABELS,
  type Effective,
  type EffectiveSettings,
  type NumberSettingDef,
  type SettingKey,
  type Origin as OriginName,
} from '../../shared/sampling';
import { MEMORY_DIAL_NUMBERS, MEMORY_DIAL_SWITCHES, type EffectiveMemoryDials, type MemoryDialKey, type MemoryDialSwitchDef } from '../../shared/memoryDials';

interface Props {
  settings: EffectiveSettings;
  memoryDials: EffectiveMemoryDials;
  /** A team memory is set up: its switch is shown. */
  teamMemory: boolean;
  onSetDial(key: MemoryDialKey, value: number | boolean | null): Promise<unknown>;
  /** Whether the server takes top K, min P and repeat penalty (the local one does; OpenAI does not). */
  extendedSampling: boolean;
  /** The model the server reports as loaded, for "default". */
  serverModel: string | undefined;
  readOnly: boolean;
  onSet(key: SettingKey, value: number | string[] | null): Promise<unknown>;
  onPickModel(): void;
  onApplyPreset(): void;
  onSavePreset(): void;
  onCompare(): void;
  onClose(): void;
}

export function ChatSettingsPanel(props: Props) {
  const panel = useRef<HTMLElement>(null);
  // Focus moves in before the panel is painted: a later move would take it from where typing began.
  useLayoutEffect(() => panel.current?.querySelector<HTMLElement>('input, textarea, button')?.focus(), []);
  const model = props.settings.model;
  return (
    <section
      class="chat-settings"
      ref={panel}
      aria-label="Chat settings"
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          props.onClose();
        }
      }}
    >
      <div class="setting-presets">
        <button type="button" class="secondary" aria-label="Apply preset" disabled={props.readOnly} onClick={props.onApplyPreset}>
          Apply preset…
        </button>
        <button type="button" class="secondary" aria-label="Save as preset" onClick={props.onSavePreset}>
          Save as preset…
        </button>
        <button type="button" class="secondary" aria-label="Compare" title="Send a message to this chat and another set-up, side by side" disabled={props.readOnly} onClick={props.onCompare}>
          Compare…
        </button>
      </div>
      <div class="setting-row">
        <span class="setting-label" id="setting-model-label">
          Model
        </span>
        <button type="button" class="setting-model secondary" aria-label="Model" aria-describedby="setting-model-origin" disabled={props.readOnly} onClick={props.onPickModel}>
          {model.value ?? props.serverModel ?? 'The loaded model'}
        </button>
        <Origin id="setting-model-origin" entry={model} defaultText={model.value === undefined ? 'the model the server has loaded' : undefined} />
        {model.origin === 'chat' && <ResetButton label="Model" entry={model} onReset={() => void props.onSet('model', null)} />}
      </div>
      {NUMBER_SETTINGS.map((def) => (
        <NumberRow key={def.key} def={def} entry={props.settings[def.key]} ignored={def.localOnly === true && !props.extendedSampling} readOnly={props.readOnly} onSet={(key, value) => props.onSet(key as SettingKey, value)} />
      ))}
      <StopRow entry={props.settings.stop} readOnly={props.readOnly} onSet={props.onSet} />
      <h3 class="setting-group" id="memory-dials-title">
        Memory
      </h3>
      <div role="group" aria-labelledby="memory-dials-title">
        <SwitchRow def={MEMORY_DIAL_SWITCHES[0]!} entry={props.memoryDials.enabled} readOnly={props.readOnly} onSet={props.onSetDial} />
        {MEMORY_DIAL_NUMBERS.map((def) => (
          <NumberRow key={def.key} def={def} entry={props.memoryDials[def.key]} ignored={false} readOnly={props.readOnly} onSet={(key, value) => props.onSetDial(key as MemoryDialKey, value)} memory />
        ))}
        {MEMORY_DIAL_SWITCHES.slice(1)
          .filter((def) => def.key !== 'teamFiles' || props.teamMemory)
          .map((def) => (
            <SwitchRow key={def.key} def={def} entry={props.memoryDials[def.key]} readOnly={props.readOnly} onSet={props.onSetDial} />
          ))}
      </div>
      <p class="setting-footnote">Values typed here apply to this chat only. A new chat starts from the persona's values.</p>
    </section>
  );
}

function Origin({ id, entry, defaultText }: { id: string; entry: Effective<unknown>; defaultText?: string | undefined }) {
  const from = entry.origin === 'default' ? (defaultText ?? (entry.value === undefined ? "the server's default" : 'default')) : `from ${ORIGIN_LABELS[entry.origin]}`;
  return (
    <span class="setting-origin" id={id} data-origin={entry.origin}>
      {from}
    </span>
  );
}

function ResetButton({ label, entry, onReset }: { label: string; entry: Effective<unknown>; onReset(): void }) {
  const below = entry.below;
  const back = below ? (below.value === undefined ? "the server's default" : `${show(below.value)} from ${ORIGIN_LABELS[below.origin]}`) : '';
  return (
    <button type="button" class="link-button setting-reset" aria-label={`Reset ${label}`} title={`Back to ${back}`} onClick={onReset}>
      Reset
    </button>
  );
}

function show(value: unknown): string {
  return Array.isArray(value) ? value.map((v) => JSON.stringify(v)).join(', ') : String(value);
}

type NumberDef = Pick<NumberSettingDef, 'label' | 'min' | 'max' | 'minExclusive' | 'integer' | 'hint'> & { key: string };

/** A memory dial's switch. `own`: the level this control sets (the chat's here, the persona's in the memory panel). */
export function SwitchRow({ def, entry, readOnly, onSet, own = 'chat' }: { def: MemoryDialSwitchDef; entry: Effective<boolean>; readOnly: boolean; onSet: Props['onSetDial']; own?: OriginName }) {
  const id = `memory-${def.key}`;
  return (
    <div class="setting-row" data-setting={id}>
      <label class="setting-label" for={id} title={def.hint}>
        {def.label}
      </label>
      <input id={id} type="checkbox" class="setting-switch" aria-describedby={`${id}-origin`} disabled={readOnly} checked={entry.value === true} onChange={(e) => void onSet(def.key, (e.currentTarget as HTMLInputElement).checked)} />
      <Origin id={`${id}-origin`} entry={entry} />
      {entry.origin === own && <ResetButton label={def.label} entry={entry} onReset={() => void onSet(def.key, null)} />}
    </div>
  );
}

/** A number control: a sampling setting or a memory dial. `own`: the level it sets. */
export function NumberRow({ def, entry, ignored, readOnly, onSet, own = 'chat', memory = false }: { def: NumberDef; entry: Effective<number>; ignored: boolean; readOnly: boolean; onSet(key: string, value: number | null): Promise<unknown>; own?: OriginName; /** A memory dial: its ids are its own (Top K is a sampling setting too). */ memory?: boolean }) {
  const shown = entry.value === undefined ? '' : String(entry.value);
  const [text, setText] = useState(shown);
  const [error, setError] = useState<string | null>(null);
  const focused = useRef(false);
  // A value that changed elsewhere (Reset, another persona, a new chat) shows at once, unless the person is typing.
  useEffect(() => {
    if (!focused.current) {
      setText(shown);
      setError(null);
    }
  }, [shown, entry.origin]);
  const id = memory ? `memory-${def.key}` : `setting-${def.key}`;

  const commit = () => {
    const typed = text.trim();
    if (typed === shown) return;
    if (typed === '') {
      // Emptied: the chat's own value goes; a value from below cannot be emptied here.
      if (entry.origin === own) void onSet(def.key, null);
      else setText(shown);
      setError(null);
      return;
    }
    const checked = checkNumberInput(def, typed);
    if (!checked.ok) {
      setError(checked.message);
      return;
    }
    setError(null);
    void onSet(def.key, checked.value);
  };

  return (
    <div class="setting-row" data-setting={memory ? id : def.key}>
      <label class="setting-label" for={id} title={def.hint}>
        {def.label}
      </label>
      <input
        id={id}
        class="setting-input"
        type="text"
        inputMode={def.integer ? 'numeric' : 'decimal'}
        autoComplete="off"
        spellcheck={false}
        aria-label={def.label}
        aria-invalid={error ? true : undefined}
        aria-describedby={`${id}-origin${error ? ` ${id}-error` : ''}`}
        placeholder={entry.value === undefined ? 'server default' : undefined}
        disabled={readOnly}
        value={text}
        onFocus={() => (focused.current = true)}
        onBlur={() => {
          focused.current = false;
          commit();
        }}
        onInput={(e) => {
          const value = (e.currentTarget as HTMLInputElement).value;
          setText(value);
          // Say at once what is wrong; "" and "-" are on their way to a value.
          const trimmed = value.trim();
          if (trimmed === '' || trimmed === '-' || trimmed === '.') setError(null);
          else {
            const checked = checkNumberInput(def, trimmed);
            setError(checked.ok ? null : checked.message);
          }
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            commit();
          }
        }}
      />
      <Origin id={`${id}-origin`} entry={entry} />
      {entry.origin === own && <ResetButton label={def.label} entry={entry} onReset={() => void onSet(def.key, null)} />}
      {ignored && <span class="setting-note">not sent: this server does not take it</span>}
      {error && (
        <span class="setting-error" id={`${id}-error`} role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

function StopRow({ entry, readOnly, onSet }: { entry: Effective<string[]>; readOnly: boolean; onSet: Props['onSet'] }) {
  const shown = (entry.value ?? []).join('\n');
  const [text, setText] = useState(shown);
  const [error, setError] = useState<string | null>(null);
  const focused = useRef(false);
  useEffect(() => {
    if (!focused.current) setText(shown);
  }, [shown]);
  const commit = () => {
    if (text === shown) return;
    const checked = checkStopInput(text);
    if (!checked.ok) {
      setError(checked.message);
      return;
    }
    setError(null);
    void onSet('stop', checked.value.length === 0 && entry.origin === 'chat' ? null : checked.value);
  };
  return (
    <div class="setting-row" data-setting="stop">
      <label class="setting-label" for="setting-stop" title="The reply ends where the model writes one of these (one per line, at most 4).">
        Stop sequences
      </label>
      <textarea
        id="setting-stop"
        class="setting-input"
        rows={Math.max(1, Math.min(4, text.split('\n').length))}
        aria-label="Stop sequences"
        aria-invalid={error ? true : undefined}
        aria-describedby="setting-stop-origin"
        placeholder="none (one per line)"
        disabled={readOnly}
        value={text}
        onFocus={() => (focused.current = true)}
        onBlur={() => {
          focused.current = false;
          commit();
        }}
        onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)}
      />
      <Origin id="setting-stop-origin" entry={entry} defaultText="none" />
      {entry.origin === 'chat' && <ResetButton label="Stop sequences" entry={entry} onReset={() => void onSet('stop', null)} />}
      {error && (
        <span class="setting-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
