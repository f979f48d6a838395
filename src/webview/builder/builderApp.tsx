// The Character Builder: the form on the left, the prompt the model would receive on the right, and
// a Versions tab. The form is sent to the host (debounced) after every change: the host keeps it as
// the draft and answers with the preview. Card text is only ever rendered as text nodes.
import { NUMBER_SETTINGS } from '../../shared/sampling';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { BuilderRequests, formToPersona, hasUnsavedChanges, type BuilderForm, type BuilderState, type FormErrors, type Preview } from '../../shared/builderProtocol';
import { MAX_AVATAR_BYTES } from '../../shared/cardPersona';
import type { BuilderHost } from './builderHost';
import { useKeydown } from '../common/useKeydown';
import { ErrorLine } from '../common/errorLine';
import { controlId, FieldMessages, Section, TextArea, TextField } from './fields';
import { LorebookEditor } from './lorebookEditor';
import { PreviewPane } from './previewPane';
import { VersionsPanel } from './versionsPanel';

/** The preview follows typing after this pause, never on every key. */
const UPDATE_DEBOUNCE_MS = 150;

/** Labels of the fields an error can point at, for the summary beside Save. */
const FIELD_LABELS: Record<string, string> = {
  name: 'Name',
  description: 'One-line description',
  icon: 'Emoji',
  avatar: 'Picture',
  tags: 'Tags',
  'sampling.temperature': 'Temperature',
  'sampling.topP': 'Top P',
  'sampling.maxTokens': 'Max tokens',
  'sampling.presencePenalty': 'Presence penalty',
  'sampling.frequencyPenalty': 'Frequency penalty',
  'sampling.topK': 'Top K',
  'sampling.minP': 'Min P',
  'sampling.repeatPenalty': 'Repeat penalty',
  'sampling.seed': 'Seed',
  'sampling.stop': 'Stop sequences',
  'sampling.model': 'Model',
  'lorebook.scanDepth': 'Lorebook scan depth',
  'lorebook.tokenBudget': 'Lorebook token budget',
};

function errorLabel(path: string): string {
  const entry = /^lorebook\.entries\.(\d+)\.(\w+)$/.exec(path);
  if (entry) return `Lorebook entry ${Number(entry[1]) + 1} (${entry[2] === 'insertionOrder' ? 'insertion order' : entry[2]})`;
  return FIELD_LABELS[path] ?? path;
}

function validate(form: BuilderForm): FormErrors {
  // The webview does not have the picture's file; the host checks that part again on save.
  const avatar = form.avatar ? { file: 'avatar.png', ext: 'png' } : undefined;
  const result = formToPersona(form, { id: 'draft', ...(avatar ? { avatar } : {}) });
  return result.ok ? {} : result.errors;
}

export function BuilderApp({ host }: { host: BuilderHost }) {
  const [state, setState] = useState<BuilderState | null>(null);
  const [form, setForm] = useState<BuilderForm | null>(null);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [sampleMessage, setSampleMessage] = useState('Hello! Tell me about yourself.');
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [tab, setTab] = useState<'edit' | 'versions'>('edit');
  const [showAllErrors, setShowAllErrors] = useState(false);
  const [touched, setTouched] = useState<ReadonlySet<string>>(new Set());
  const [versionsStamp, setVersionsStamp] = useState(0);
  const header = useRef<HTMLElement>(null);
  const updateSeq = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const adopt = useCallback(
    (next: BuilderState) => {
      setState(next);
      setForm(next.form);
      setTouched(new Set());
      setShowAllErrors(false);
      // Restoring the panel after a reload reads this: it names the draft (or the persona).
      host.api.setState({ draftKey: next.draftKey });
    },
    [host],
  );

  const call = useCallback(async <T,>(run: () => Promise<T>): Promise<T | undefined> => {
    setError(null);
    try {
      return await run();
    } catch (e) {
      setError((e as Error).message);
      return undefined;
    }
  }, []);

  // The first state: the answer lands in this component's own state, so it cannot be missed however
  // early it comes. The host answers from what it holds; one that does not is said, not retried.
  const [loadError, setLoadError] = useState<string | null>(null);
  const [loadAttempt, setLoadAttempt] = useState(0);
  useEffect(() => {
    let stopped = false;
    host.request(BuilderRequests.ready, {}).then(
      (next) => stopped || adopt(next),
      (e: Error) => {
        console.warn(`Persona builder: no state from the host: ${e.message}`);
        if (!stopped) setLoadError(`The Character Builder did not load: ${e.message}`);
      },
    );
    return () => {
      stopped = true;
    };
  }, [host, adopt, loadAttempt]);

  useEffect(
    () =>
      host.onNotification(({ params: { state: next, replaceForm } }) => {
        const name = next.savedForm?.name ?? next.form.name;
        if (replaceForm) {
          adopt(next);
          setNotice(`${name} was changed outside this panel; the form shows the new version.`);
        } else {
          setState((s) => (s ? { ...next, form: s.form } : next));
          host.api.setState({ draftKey: next.draftKey });
          setNotice(
            next.personaId === null
              ? `${name.trim() || 'This persona'} was deleted outside this panel. Save to keep the form as a new persona.`
              : `${name} was changed outside this panel; your unsaved edits are kept (compare in Versions).`,
          );
        }
        setVersionsStamp((v) => v + 1);
      }),
    [host, adopt],
  );

  // Every change reaches the host at once (it keeps the draft); the preview follows after a pause.
  useEffect(() => {
    if (!form) return;
    host.request(BuilderRequests.change, { form }).catch((e: Error) => setError(e.message));
  }, [form, host]);

  useEffect(() => {
    if (!form) return;
    clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      const seq = ++updateSeq.current;
      host.request(BuilderRequests.preview, { sampleMessage: sampleMessage.slice(0, 4000) }).then(
        (p) => {
          if (seq !== updateSeq.current) return;
          setPreview(p);
          setPreviewError(null);
        },
        (e: Error) => seq === updateSeq.current && setPreviewError(e.message),
      );
    }, UPDATE_DEBOUNCE_MS);
    return () => clearTimeout(timer.current);
  }, [form, sampleMessage, host]);

  const errors = useMemo(() => (form ? validate(form) : {}), [form]);
  const errorPaths = Object.keys(errors);
  const shownError = (path: string): string | undefined => (showAllErrors || touched.has(path) ? errors[path] : undefined);

  const edit = useCallback((path: string, change: (f: BuilderForm) => BuilderForm) => {
    setForm((f) => (f ? change(f) : f));
    setTouched((t) => (t.has(path) ? t : new Set([...t, path])));
  }, []);

  const save = useCallback(async () => {
    if (!form) return;
    if (Object.keys(validate(form)).length > 0) {
      setShowAllErrors(true);
      return;
    }
    setBusy(true);
    const next = await call(() => host.request(BuilderRequests.save, { form }));
    setBusy(false);
    if (next) {
      adopt(next);
      setNotice(`Saved ${next.form.name}.`);
      setVersionsStamp((s) => s + 1);
    }
  }, [form, call, host, adopt]);

  // The header is sticky and its height changes (the Save explanation comes and goes): the preview
  // sticks under it, and a focused field scrolls clear of it.
  useEffect(() => {
    const el = header.current;
    if (!el) return;
    const observer = new ResizeObserver(() => document.documentElement.style.setProperty('--header-height', `${el.offsetHeight}px`));
    observer.observe(el);
    return () => observer.disconnect();
  }, [state !== null]);

  useKeydown((e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
      e.preventDefault();
      void save();
    }
  });

  if (!state || !form) {
    if (!loadError) return <div class="loading" role="status">Loading the Character Builder…</div>;
    return (
      <div class="loading" role="alert">
        <p>{loadError}</p>
        <button
          type="button"
          onClick={() => {
            setLoadError(null);
            setLoadAttempt((n) => n + 1);
          }}
        >
          Try again
        </button>
      </div>
    );
  }

  const dirty = hasUnsavedChanges(form, state.savedForm);
  const isNew = state.personaId === null;
  const status = isNew ? 'New persona, not saved yet' : dirty ? 'Unsaved changes' : 'All changes saved';
  const f = form;

  const discard = async () => {
    const next = await call(() => host.request(BuilderRequests.discard, {}));
    if (next) {
      adopt(next);
      setNotice('Changes discarded.');
    }
  };

  const tabKeys = (e: KeyboardEvent) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft' && e.key !== 'Home' && e.key !== 'End') return;
    e.preventDefault();
    const next = tab === 'edit' ? 'versions' : 'edit';
    setTab(e.key === 'Home' ? 'edit' : e.key === 'End' ? 'versions' : next);
    document.getElementById(`tab-${e.key === 'Home' ? 'edit' : e.key === 'End' ? 'versions' : next}`)?.focus();
  };

  return (
    <div class="builder">
      <header class="builder-header" ref={header}>
        <div class="builder-title">
          <span class="builder-icon" aria-hidden="true">
            {f.icon.trim() || '🙂'}
          </span>
          <h1>{f.name.trim() || 'New persona'}</h1>
          <span class="builder-status" role="status" data-dirty={dirty ? 'true' : 'false'}>
            {status}
          </span>
        </div>
        <div class="builder-actions">
          <button type="button" class="secondary" disabled={!dirty || busy} onClick={() => void discard()}>
            Discard Changes
          </button>
          <button type="button" disabled={busy || errorPaths.length > 0 || (!dirty && !isNew)} aria-describedby={errorPaths.length > 0 ? 'save-blocked' : undefined} onClick={() => void save()}>
            Save
          </button>
        </div>
        {errorPaths.length > 0 && (
          <div class="save-blocked" id="save-blocked">
            <span>{`Save is off until ${errorPaths.length === 1 ? 'this field is' : `these ${errorPaths.length} fields are`} fixed: `}</span>
            {errorPaths.map((p, i) => (
              <span key={p}>
                {i > 0 && ', '}
                <button
                  type="button"
                  class="link-button"
                  onClick={() => {
                    setShowAllErrors(true);
                    setTab('edit');
                    setTimeout(() => document.getElementById(controlId(p))?.focus(), 0);
                  }}
                >
                  {errorLabel(p)}
                </button>
              </span>
            ))}
          </div>
        )}
      </header>
      {state.restoredDraftAt !== null && dirty && (
        <div class="banner" role="status">
          {`Restored your unsaved changes from ${new Date(state.restoredDraftAt).toLocaleString()}. Save them, or discard them to go back to ${isNew ? 'an empty form' : 'the saved persona'}.`}
        </div>
      )}
      {error && <ErrorLine error={error} onDismiss={() => setError(null)} />}
      {notice && !error && (
        <div class="notice-line" role="status">
          <span>{notice}</span>
          <button type="button" class="icon-button" aria-label="Dismiss message" onClick={() => setNotice(null)}>
            ×
          </button>
        </div>
      )}

      <div class="tabs" role="tablist" aria-label="Character Builder">
        <button type="button" role="tab" id="tab-edit" aria-selected={tab === 'edit'} aria-controls="panel-edit" tabIndex={tab === 'edit' ? 0 : -1} onClick={() => setTab('edit')} onKeyDown={tabKeys}>
          Character
        </button>
        <button
          type="button"
          role="tab"
          id="tab-versions"
          aria-selected={tab === 'versions'}
          aria-controls="panel-versions"
          tabIndex={tab === 'versions' ? 0 : -1}
          onClick={() => setTab('versions')}
          onKeyDown={tabKeys}
        >
          Versions
        </button>
      </div>

      {tab === 'versions' ? (
        <div role="tabpanel" id="panel-versions" aria-labelledby="tab-versions" class="versions-tab">
          {isNew ? (
            <p class="empty">Save the persona first: every save becomes a version you can compare and restore.</p>
          ) : (
            <VersionsPanel
              host={host}
              stamp={versionsStamp}
              dirty={dirty}
              onError={setError}
              onRestored={(next) => {
                adopt(next);
                setVersionsStamp((s) => s + 1);
                setNotice('Version restored: it is now the latest version, and the form shows it.');
                setTab('edit');
              }}
            />
          )}
        </div>
      ) : (
        <div role="tabpanel" id="panel-edit" aria-labelledby="tab-edit" class="builder-body">
          <form class="builder-form" onSubmit={(e) => e.preventDefault()} noValidate>
            <Section id="identity" title="Identity">
              <TextField id={controlId('name')} label="Name" value={f.name} error={shownError('name')} onInput={(v) => edit('name', (x) => ({ ...x, name: v }))} />
              <TextField
                id={controlId('description')}
                label="One-line description"
                hint="Shown in the persona pickers; never sent to the model."
                value={f.description}
                error={shownError('description')}
                onInput={(v) => edit('description', (x) => ({ ...x, description: v }))}
              />
              <div class="row">
                <TextField id={controlId('icon')} class="icon-field" label="Emoji" value={f.icon} error={shownError('icon')} onInput={(v) => edit('icon', (x) => ({ ...x, icon: v }))} />
                <div class="field avatar-field">
                  <span class="label" id="avatar-label">
                    Picture
                  </span>
                  <div class="avatar-row" role="group" aria-labelledby="avatar-label">
                    {state.avatarUrl && f.avatar ? <img class="avatar" src={state.avatarUrl} alt={`Picture of ${f.name.trim() || 'the persona'}`} /> : <span class="avatar-none">No picture: the emoji is used.</span>}
                    <button
                      type="button"
                      class="secondary"
                      id={controlId('avatar')}
                      onClick={async () => {
                        const picked = await call(() => host.request(BuilderRequests.pickAvatar, {}));
                        if (picked) {
                          setState((s) => (s ? { ...s, avatarUrl: picked.avatarUrl } : s));
                          edit('avatar', (x) => ({ ...x, avatar: picked.avatar }));
                        }
                      }}
                    >
                      Choose Picture…
                    </button>
                    {f.avatar && (
                      <button type="button" class="secondary" onClick={() => edit('avatar', (x) => ({ ...x, avatar: null }))}>
                        Remove Picture
                      </button>
                    )}
                  </div>
                  <FieldMessages id={controlId('avatar')} hint={`PNG, JPEG or WebP, up to ${MAX_AVATAR_BYTES / 1024 / 1024} MB.`} error={shownError('avatar')} />
                </div>
              </div>
              <TextField
                id={controlId('tags')}
                label="Tags"
                hint="Comma-separated, for finding the persona; never sent to the model."
                value={f.tags}
                error={shownError('tags')}
                onInput={(v) => edit('tags', (x) => ({ ...x, tags: v }))}
              />
            </Section>

            <Section id="character" title="Character" description="{{char}} and {{user}} in any of these become the persona's name and yours.">
              <TextArea id={controlId('characterDescription')} label="Character description" rows={6} value={f.characterDescription} onInput={(v) => edit('characterDescription', (x) => ({ ...x, characterDescription: v }))} />
              <TextArea id={controlId('personality')} label="Personality" rows={3} value={f.personality} onInput={(v) => edit('personality', (x) => ({ ...x, personality: v }))} />
              <TextArea id={controlId('scenario')} label="Scenario" rows={3} value={f.scenario} onInput={(v) => edit('scenario', (x) => ({ ...x, scenario: v }))} />
              <TextField id={controlId('nickname')} label="Nickname" hint="Used for {{char}} instead of the name when set." value={f.nickname} onInput={(v) => edit('nickname', (x) => ({ ...x, nickname: v }))} />
            </Section>

            <Section id="prompt" title="Prompt">
              <TextArea
                id={controlId('systemPrompt')}
                label="System prompt"
                hint="Replaces Persona's default system prompt when not empty; {{original}} stands for the default."
                rows={8}
                value={f.systemPrompt}
                onInput={(v) => edit('systemPrompt', (x) => ({ ...x, systemPrompt: v }))}
              />
              <TextArea
                id={controlId('exampleDialogue')}
                label="Example dialogue"
                hint="Blocks separated by <START>."
                rows={5}
                value={f.exampleDialogue}
                onInput={(v) => edit('exampleDialogue', (x) => ({ ...x, exampleDialogue: v }))}
              />
              <TextArea
                id={controlId('postHistoryInstructions')}
                label="Post-history instructions"
                hint="Sent after the conversation, just before the reply."
                rows={3}
                value={f.postHistoryInstructions}
                onInput={(v) => edit('postHistoryInstructions', (x) => ({ ...x, postHistoryInstructions: v }))}
              />
            </Section>

            <Section id="greetings" title="Greetings">
              <TextArea id={controlId('greeting')} label="Greeting" hint="The first message of every new chat." rows={3} value={f.greeting} onInput={(v) => edit('greeting', (x) => ({ ...x, greeting: v }))} />
              <AlternateGreetings greetings={f.alternateGreetings} onChange={(list) => edit('alternateGreetings', (x) => ({ ...x, alternateGreetings: list }))} />
            </Section>

            <Section id="sampling" title="Model settings" description="Empty: your persona.chat settings, else the server's default. A chat's own settings (Chat settings in the chat view) go over these.">
              <div class="model-field">
                <TextField
                  id={controlId('sampling.model')}
                  label="Model"
                  placeholder="the chat's default model"
                  value={f.sampling.model ?? ''}
                  error={shownError('sampling.model')}
                  onInput={(v) => edit('sampling.model', (x) => ({ ...x, sampling: { ...x.sampling, model: v } }))}
                />
                <button
                  type="button"
                  class="secondary"
                  aria-label="Choose model"
                  onClick={async () => {
                    const picked = await call(() => host.request(BuilderRequests.pickModel, {}));
                    if (picked) edit('sampling.model', (x) => ({ ...x, sampling: { ...x.sampling, model: picked.model ?? '' } }));
                  }}
                >
                  Choose…
                </button>
              </div>
              <div class="grid">
                {NUMBER_SETTINGS.map((d) => (
                  <TextField
                    key={d.key}
                    id={controlId(`sampling.${d.key}`)}
                    label={d.label}
                    inputMode={d.integer ? 'numeric' : 'decimal'}
                    placeholder={d.key === 'maxTokens' ? 'reply length' : `${d.minExclusive ? 'above ' : ''}${d.min} – ${d.max}`}
                    hint={d.localOnly ? 'Local server only' : undefined}
                    value={f.sampling[d.key] ?? ''}
                    error={shownError(`sampling.${d.key}`)}
                    onInput={(v) => edit(`sampling.${d.key}`, (x) => ({ ...x, sampling: { ...x.sampling, [d.key]: v } }))}
                  />
                ))}
              </div>
              <TextArea
                id={controlId('sampling.stop')}
                label="Stop sequences"
                hint="One per line, at most 4: the reply ends where the model writes one."
                rows={2}
                value={f.sampling.stop ?? ''}
                error={shownError('sampling.stop')}
                onInput={(v) => edit('sampling.stop', (x) => ({ ...x, sampling: { ...x.sampling, stop: v } }))}
              />
            </Section>

            <Section id="lorebook" title="Lorebook" description="Entries are added to the prompt when one of their keys appears in the recent chat; always-on entries every time.">
              <LorebookEditor
                lorebook={f.lorebook}
                activated={preview?.activatedEntries ?? []}
                errorFor={shownError}
                onChange={(path, lorebook) => edit(path, (x) => ({ ...x, lorebook }))}
              />
            </Section>

            <Section id="notes" title="Creator notes">
              <TextArea id={controlId('creatorNotes')} label="Notes for people" hint="Never sent to the model." rows={3} value={f.creatorNotes} onInput={(v) => edit('creatorNotes', (x) => ({ ...x, creatorNotes: v }))} />
            </Section>
          </form>
          <PreviewPane preview={preview} error={previewError} userName={state.userName} sampleMessage={sampleMessage} onSampleMessage={setSampleMessage} />
        </div>
      )}
    </div>
  );
}

function AlternateGreetings({ greetings, onChange }: { greetings: string[]; onChange(list: string[]): void }) {
  const focusIndex = useRef<number | null>(null);
  useEffect(() => {
    if (focusIndex.current === null) return;
    document.getElementById(controlId(`alternateGreetings.${focusIndex.current}`))?.focus();
    focusIndex.current = null;
  });
  return (
    <div class="list-editor">
      {greetings.map((g, i) => (
        <div class="list-item" key={i}>
          <TextArea id={controlId(`alternateGreetings.${i}`)} label={`Alternate greeting ${i + 1}`} rows={2} value={g} onInput={(v) => onChange(greetings.map((x, j) => (j === i ? v : x)))} />
          <button
            type="button"
            class="secondary"
            aria-label={`Remove alternate greeting ${i + 1}`}
            onClick={() => {
              onChange(greetings.filter((_, j) => j !== i));
              focusIndex.current = null;
              document.getElementById('add-greeting')?.focus();
            }}
          >
            Remove
          </button>
        </div>
      ))}
      <button
        type="button"
        class="secondary"
        id="add-greeting"
        onClick={() => {
          focusIndex.current = greetings.length;
          onChange([...greetings, '']);
        }}
      >
        Add Alternate Greeting
      </button>
    </div>
  );
}
