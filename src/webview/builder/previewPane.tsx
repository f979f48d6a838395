// What the model would receive: the host assembles it from the form with the chat's own prompt
// assembly and counts its tokens. Shown as plain text, exactly as sent.
import type { Preview } from '../../shared/builderProtocol';

const ROLE_LABEL = { system: 'System', user: 'User', assistant: 'Assistant' } as const;

export function PreviewPane(props: { preview: Preview | null; error: string | null; userName: string; sampleMessage: string; onSampleMessage(text: string): void }) {
  const { preview } = props;
  return (
    <aside class="preview" aria-labelledby="preview-title">
      <h2 id="preview-title">What the model receives</h2>
      <p class="section-description">{`With {{user}} as "${props.userName}" (the persona.user.name setting) and this sample message:`}</p>
      <div class="field">
        <label for="sample-message">Sample message</label>
        <input id="sample-message" type="text" value={props.sampleMessage} onInput={(e) => props.onSampleMessage((e.currentTarget as HTMLInputElement).value)} />
      </div>
      <p class="token-count" id="token-count">
        {preview ? `System prompt: ${preview.systemTokens} tokens · whole request: ${preview.totalTokens} tokens` : 'Counting tokens…'}
      </p>
      {props.error && (
        <p class="field-error" role="alert">
          {`The preview is not available: ${props.error}`}
        </p>
      )}
      {preview && (
        <ol class="preview-messages">
          {preview.messages.map((m, i) => (
            <li key={i} class="preview-message" data-role={m.role}>
              <div class="preview-role">{ROLE_LABEL[m.role]}</div>
              <pre class="preview-text">{m.content}</pre>
            </li>
          ))}
        </ol>
      )}
    </aside>
  );
}
