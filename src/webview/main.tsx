// Webview entry: connect to the host, say ready, render. The host answers ready with the whole
// state every time the view is (re)created, so nothing is lost when the view is hidden.
import { render } from 'preact';
import { Requests } from '../shared/protocol';
import { App } from './app';
import { ChatStore } from './chatStore';
import { HostConnection } from './hostConnection';

const host = new HostConnection();
const store = new ChatStore(() => void ready());
host.onNotification((n) => store.handle(n));

let attempt = 0;

/**
 * Asks for the whole state. The answer normally takes milliseconds; a view shown again while VS Code
 * is busy has been seen to lose it, so ask again after a few seconds (ready is idempotent).
 */
async function ready(): Promise<void> {
  // Capped at 5 s: an answer lost while the view was not yet live is asked for again soon.
  const timeoutMs = Math.min(3000 * 2 ** attempt, 5000);
  try {
    store.setState(await host.request(Requests.ready, {}, timeoutMs));
    attempt = 0;
  } catch (e) {
    attempt++;
    console.warn(`Persona: no state from the host yet (${(e as Error).message}); asking again`);
    setTimeout(() => void ready(), 250);
  }
}

render(<App host={host} store={store} />, document.getElementById('app')!);
void ready();
