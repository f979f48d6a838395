// Character Builder webview entry: connect to the host, ask for the panel's state, render. The host
// keeps the form, so a panel shown again (or restored after a reload) starts from its answer.
import { render } from 'preact';
import { BuilderApp } from './builderApp';
import { connectBuilderHost } from './builderHost';

const host = connectBuilderHost();
render(<BuilderApp host={host} />, document.getElementById('builder')!);
