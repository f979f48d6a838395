// The line that says what went wrong with the last action, with a button to dismiss it.
export function ErrorLine(props: { error: string; onDismiss(): void }) {
  return (
    <div class="error-line" role="alert">
      <span>{props.error}</span>
      <button type="button" class="icon-button" aria-label="Dismiss error" onClick={props.onDismiss}>
        ×
      </button>
    </div>
  );
}
