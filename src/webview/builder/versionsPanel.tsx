// Versions of a saved persona: newest first, with time, kind and snapshot name. Tick two to see what
// changed between them, field by field (removed and added text marked with <del>/<ins> and words,
// not colour alone); restore one (it becomes a new version).
import { useEffect, useState } from 'preact/hooks';
import { BuilderRequests, type BuilderState, type FieldDiffView } from '../../shared/builderProtocol';
import type { VersionSummary as VersionSummaryView } from '../../shared/cardPersona';
import type { BuilderHost } from './builderHost';

const KIND_LABEL: Record<string, string> = {
  create: 'Created',
  edit: 'Saved',
  import: 'Imported',
  restore: 'Restored',
  snapshot: 'Snapshot',
};

function when(savedAt: number): string {
  return new Date(savedAt).toLocaleString();
}

function describe(v: VersionSummaryView): string {
  const kind = KIND_LABEL[v.kind] ?? v.kind;
  const restored = v.restoredFrom !== undefined ? ` (from version ${v.restoredFrom})` : '';
  return `${kind}${restored}`;
}

export function VersionsPanel(props: { host: BuilderHost; stamp: number; dirty: boolean; onError(message: string): void; onRestored(state: BuilderState): void }) {
  const { host } = props;
  const [versions, setVersions] = useState<VersionSummaryView[] | null>(null);
  const [selected, setSelected] = useState<number[]>([]);
  const [diff, setDiff] = useState<{ from: number; to: number; fields: FieldDiffView[] } | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let live = true;
    host.request(BuilderRequests.versions, {}).then(
      (v) => live && setVersions(v),
      (e: Error) => live && props.onError(e.message),
    );
    return () => {
      live = false;
    };
  }, [host, props.stamp, reload]);

  useEffect(() => {
    if (selected.length !== 2) {
      setDiff(null);
      return;
    }
    const [from, to] = [...selected].sort((a, b) => a - b) as [number, number];
    let live = true;
    host.request(BuilderRequests.diff, { from, to }).then(
      (fields) => live && setDiff({ from, to, fields }),
      (e: Error) => live && props.onError(e.message),
    );
    return () => {
      live = false;
    };
  }, [host, selected]);

  const toggle = (version: number, on: boolean) =>
    setSelected((s) => {
      const rest = s.filter((v) => v !== version);
      // Ticking a third drops the oldest pick: two versions are compared at a time.
      return on ? [...rest, version].slice(-2) : rest;
    });

  return (
    <div class="versions">
      <div class="versions-toolbar">
        <p class="section-description">Every save is a version. Tick two versions to compare them.</p>
        <button
          type="button"
          class="secondary"
          onClick={async () => {
            try {
              const taken = await host.request(BuilderRequests.snapshot, {});
              if (taken) setReload((r) => r + 1);
            } catch (e) {
              props.onError((e as Error).message);
            }
          }}
        >
          Take Snapshot…
        </button>
      </div>
      {versions === null ? (
        <p role="status">Loading versions…</p>
      ) : versions.length === 0 ? (
        <p class="empty">No versions yet.</p>
      ) : (
        <table class="version-table">
          <caption class="sr-only">Versions, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Compare</th>
              <th scope="col">Version</th>
              <th scope="col">Saved</th>
              <th scope="col">Kind</th>
              <th scope="col">Name</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {versions.map((v, i) => (
              <tr key={v.version} class="version-row" data-version={v.version} aria-selected={selected.includes(v.version)}>
                <td>
                  <input
                    type="checkbox"
                    id={`compare-${v.version}`}
                    aria-label={`Compare version ${v.version}`}
                    checked={selected.includes(v.version)}
                    onChange={(e) => toggle(v.version, (e.currentTarget as HTMLInputElement).checked)}
                  />
                </td>
                <td>{`${v.version}${i === 0 ? ' (current)' : ''}`}</td>
                <td>{when(v.savedAt)}</td>
                <td>{describe(v)}</td>
                <td>{v.name ?? ''}</td>
                <td>
                  {i > 0 && (
                    <button
                      type="button"
                      class="secondary"
                      aria-label={`Restore version ${v.version}`}
                      onClick={async () => {
                        try {
                          const next = await host.request(BuilderRequests.restore, { version: v.version });
                          if (next) {
                            setSelected([]);
                            props.onRestored(next);
                          }
                        } catch (e) {
                          props.onError((e as Error).message);
                        }
                      }}
                    >
                      Restore This Version
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {selected.length === 1 && <p class="section-description">Tick one more version to compare.</p>}
      {diff && <DiffView from={diff.from} to={diff.to} fields={diff.fields} />}
    </div>
  );
}

function DiffView({ from, to, fields }: { from: number; to: number; fields: FieldDiffView[] }) {
  return (
    <section class="diff" aria-labelledby="diff-title">
      <h2 id="diff-title">{`Changes from version ${from} to version ${to}`}</h2>
      {fields.length === 0 && <p class="empty">The two versions are the same.</p>}
      {fields.map((d) => (
        <article class="diff-field" key={d.field} data-field={d.field}>
          <h3>
            {d.label}
            <span class="badge">{d.change}</span>
          </h3>
          {d.parts ? (
            <p class="diff-text">
              {d.parts.map((p, i) =>
                p.added ? (
                  <ins key={i}>
                    <span class="sr-only">[added: </span>
                    {p.value}
                    <span class="sr-only">]</span>
                  </ins>
                ) : p.removed ? (
                  <del key={i}>
                    <span class="sr-only">[removed: </span>
                    {p.value}
                    <span class="sr-only">]</span>
                  </del>
                ) : (
                  <span key={i}>{p.value}</span>
                ),
              )}
            </p>
          ) : (
            <dl class="diff-values">
              {d.change !== 'added' && (
                <>
                  <dt>Before</dt>
                  <dd>
                    <del>{d.before ?? ''}</del>
                  </dd>
                </>
              )}
              {d.change !== 'removed' && (
                <>
                  <dt>After</dt>
                  <dd>
                    <ins>{d.after ?? ''}</ins>
                  </dd>
                </>
              )}
            </dl>
          )}
        </article>
      ))}
    </section>
  );
}
