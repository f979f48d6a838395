// Text from a card, a file, a model or a server reaches VS Code's own UI (notifications, modals, quick
// picks, the status bar) only through inertText. VS Code turns `[label](command:…)` in a notification
// into a link that runs the command with its arguments, and `$(name)` in a quick pick or the status bar
// into an icon. A word joiner (zero width, no visible change) between `]` and `(`, and between `$` and
// `(`, leaves the text reading as it did and makes neither syntax match.

const WORD_JOINER = '\u2060';

export function inertText(text: string): string {
  return text.replace(/\]\(/g, `]${WORD_JOINER}(`).replace(/\$\(/g, `$${WORD_JOINER}(`);
}
