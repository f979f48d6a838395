// Installs the packaged persona.vsix into a real VS Code (code-server), opens the Persona view and
// checks that it renders and that the extension activated lazily and cleanly.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fakeOpenAiServer';
import {
  captureOnFailure,
  defaultVsixPath,
  messageInput,
  openPersonaView,
  personaExtensionId,
  startVsCode,
  type VsCode,
} from './harness';

const activationLine = new RegExp(
  `_doActivateExtension ${personaExtensionId.replace('.', '\\.')}, startup: (?:true|false), activationEvent: '([^']+)'`,
);

let vscode: VsCode | undefined;
let server: FakeOpenAiServer | undefined;

function started(): VsCode {
  assert.ok(vscode, 'VS Code did not start (see the before hook)');
  return vscode;
}

before(async () => {
  assert.ok(existsSync(defaultVsixPath), `${defaultVsixPath} is missing: run \`npm run package\` first`);
  server = await startFakeOpenAiServer();
  vscode = await startVsCode({
    vsixPath: defaultVsixPath,
    label: 'smoke',
    settings: { 'persona.chat.baseUrl': server.url },
  });
  const { installMs, serverMs, workbenchMs } = vscode.timings;
  console.log(`# VS Code up: install ${installMs} ms, code-server ${serverMs} ms, workbench ${workbenchMs} ms`);
});

after(async () => {
  await vscode?.stop();
  await server?.close();
});

test('VS Code does not activate Persona before its view is opened', async () => {
  const vs = started();
  await captureOnFailure(vs, 'smoke-lazy-activation', async () => {
    // Startup activation (`*`, workspaceContains, ...) is over once this line is written.
    await vs.waitForExtensionHostLog(/Eager extensions activated/, 'the extension host to finish eager activation');
    // onStartupFinished comes just after; built-in extensions (merge-conflict…) use it, so its
    // first line says that round has been logged too. Not finding one is not a failure.
    await vs
      .waitForExtensionHostLog(/activationEvent: 'onStartupFinished'/, 'onStartupFinished activations', 5000)
      .catch(() => undefined);
    const early = activationLine.exec(vs.extensionHostLogs());
    assert.equal(early, null, `Persona activated at startup, on ${early?.[1]}, before its view was opened`);
  });
});

test('opening the Persona view renders the chat input', async () => {
  const vs = started();
  await captureOnFailure(vs, 'smoke-open-view', async () => {
    const frame = await openPersonaView(vs.page);
    const input = frame.locator(messageInput);
    assert.ok(await input.isVisible(), 'the chat input is not visible');
    assert.ok(await input.isEditable(), 'the chat input is not editable');
    await vs.screenshot('smoke-persona-view');
  });
});

test('Persona activated from its view, without errors', async () => {
  const vs = started();
  await captureOnFailure(vs, 'smoke-activation', async () => {
    const m = await vs.waitForExtensionHostLog(activationLine, 'the extension host to log the activation of Persona');
    assert.equal(m[1], 'onView:persona.chatView', 'Persona was activated by something other than its view');

    const files = vs.extensionHostLogFiles();
    const hostErrors = files
      .filter((f) => /remoteexthost\.log$/.test(f.path))
      .flatMap((f) => f.text.split('\n'))
      .filter((line) => /\[error\]/.test(line) && line.includes(personaExtensionId));
    assert.deepEqual(hostErrors, [], 'the extension host logged errors for Persona');

    const ownLogs = files.filter((f) => f.path.includes(personaExtensionId) || /-Persona\.log$/.test(f.path));
    const ownErrors = ownLogs.flatMap((f) => f.text.split('\n')).filter((line) => /\[error\]/.test(line));
    assert.deepEqual(ownErrors, [], "Persona's own log has errors");

    // Chromium reports an inline event handler as a violation as soon as one is parsed, even in
    // an inert document that never runs it (DOMPurify's, when the webview's sanitizer sees
    // `onerror=`): that report says nothing was loaded or run, so only the others count.
    const cspErrors = vs
      .consoleMessages()
      .filter((line) => /Content Security Policy/i.test(line) && !/Executing inline event handler/.test(line));
    assert.deepEqual(cspErrors, [], 'the browser console reports Content Security Policy violations');
  });
});
