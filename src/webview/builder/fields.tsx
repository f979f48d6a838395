// Labelled form controls for the builder: every control has a visible label, and a message about
// its value sits right under it (tied to it with aria-describedby). Values are shown as text only.
import type { ComponentChildren } from 'preact';

/** The id of the control a form path names (`sampling.topP` → `f-sampling-topP`), so messages can point at it. */
export function controlId(path: string): string {
  return `f-${path.replace(/\./g, '-')}`;
}

export interface FieldProps {
  id: string;
  label: string;
  value: string;
  onInput(value: string): void;
  /** A hint under the control, e.g. what the field is for. */
  hint?: string;
  error?: string | undefined;
  placeholder?: string;
}

function describedBy(id: string, hint: string | undefined, error: string | undefined): string | undefined {
  const ids = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return ids || undefined;
}

export function FieldMessages({ id, hint, error }: { id: string; hint?: string | undefined; error?: string | undefined }) {
  return (
    <>
      {hint && (
        <div class="field-hint" id={`${id}-hint`}>
          {hint}
        </div>
      )}
      {error && (
        <div class="field-error" id={`${id}-error`}>
          <span aria-hidden="true">⚠ </span>
          {error}
        </div>
      )}
    </>
  );
}

export function TextField(props: FieldProps & { inputMode?: 'decimal' | 'numeric' | 'text'; class?: string }) {
  return (
    <div class={`field ${props.class ?? ''}`}>
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        type="text"
        value={props.value}
        placeholder={props.placeholder}
        inputMode={props.inputMode}
        spellcheck={props.inputMode === undefined || props.inputMode === 'text'}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={describedBy(props.id, props.hint, props.error)}
        onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
      />
      <FieldMessages id={props.id} hint={props.hint} error={props.error} />
    </div>
  );
}

export function TextArea(props: FieldProps & { rows?: number }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <textarea
        id={props.id}
        rows={props.rows ?? 4}
        value={props.value}
        placeholder={props.placeholder}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={describedBy(props.id, props.hint, props.error)}
        onInput={(e) => props.onInput((e.currentTarget as HTMLTextAreaElement).value)}
      />
      <FieldMessages id={props.id} hint={props.hint} error={props.error} />
    </div>
  );
}

export function Checkbox(props: { id: string; label: string; checked: boolean; onChange(checked: boolean): void }) {
  return (
    <div class="checkbox">
      <input id={props.id} type="checkbox" checked={props.checked} onChange={(e) => props.onChange((e.currentTarget as HTMLInputElement).checked)} />
      <label for={props.id}>{props.label}</label>
    </div>
  );
}

export function Section(props: { id: string; title: string; children: ComponentChildren; description?: string }) {
  return (
    <section class="section" aria-labelledby={`${props.id}-title`}>
      <h2 id={`${props.id}-title`}>{props.title}</h2>
      {props.description && <p class="section-description">{props.description}</p>}
      {props.children}
    </section>
  );
}
