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

async function ready(): Promise<void> {
  try {
    store.setState(await host.request(Requests.ready, {}));
  } catch (e) {
    console.error('Persona: the host did not send its state', e);
    setTimeout(() => void ready(), 1000);
  }
}

render(<App host={host} store={store} />, document.getElementById('app')!);
void ready();
