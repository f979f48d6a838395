// Webview entry: connect to the host, say ready, render. The host answers ready with the whole
// state every time the view is (re)created, so nothing is lost when the view is hidden.
import { render } from 'preact';
import { Requests } from '../../shared/chatProtocol';
import { App } from './app';
import { ChatStore } from './chatStore';
import { connectChatHost } from './chatHost';

const host = connectChatHost();
const store = new ChatStore(() => void ready());
host.onNotification((n) => store.handle(n));

/** Asks for the whole state (also when an update does not fit what the view has). */
async function ready(): Promise<void> {
  try {
    store.setState(await host.request(Requests.ready, {}));
  } catch (e) {
    console.warn(`Persona: no state from the host: ${(e as Error).message}`);
    if (!store.state) store.setLoadError(`Persona did not load: ${(e as Error).message}`);
  }
}

function reload(): void {
  store.setLoadError(null);
  void ready();
}

// Ask first: the host answers while the view draws its frame.
void ready();
render(<App host={host} store={store} reload={reload} />, document.getElementById('app')!);
