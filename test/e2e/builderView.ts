// The Character Builder panel as the end-to-end tests see it: its webview frame, its save status,
// and the workbench dialogs it opens.
import assert from 'node:assert/strict';
import type { Frame, Page } from 'playwright-core';
import { waitUntil } from './harness';

/** The builder panel's document: the webview frame holding `#builder`, once it has rendered the form. */
export async function builderFrame(page: Page, timeoutMs = 30_000, title?: string): Promise<Frame> {
  const probe = title
    ? `document.querySelector('#builder .builder-title h1')?.textContent === ${JSON.stringify(title)}`
    : "document.getElementById('builder') !== null";
  const frame = await waitUntil(`the Character Builder webview frame${title ? ` for ${title}` : ''}`, timeoutMs, async () => {
    for (const f of page.frames()) {
      if (f === page.mainFrame() || f.isDetached()) continue;
      if (await f.evaluate(probe).catch(() => false)) return f;
    }
    return undefined;
  }, 250);
  await frame.locator('#f-name').waitFor({ state: 'visible', timeout: timeoutMs });
  return frame;
}

export async function status(frame: Frame): Promise<string> {
  return (await frame.locator('.builder-status').innerText()).trim();
}

/**
 * Answers a modal dialog of the workbench by its button. The workbench gives focus back to the
 * webview the dialog came from, and the webview takes it asynchronously (a message to its iframe),
 * at a moment no test can observe reliably: keys pressed into another webview just after can land
 * in that one. A test that goes on in another webview sends with the mouse (`sendMessage(…, { click: true })`).
 */
export async function answerDialog(page: Page, text: RegExp, button: string): Promise<void> {
  const dialog = page.locator('.monaco-dialog-box');
  await dialog.waitFor({ state: 'visible', timeout: 10_000 });
  assert.match(await dialog.innerText(), text);
  await dialog.locator('.monaco-button', { hasText: new RegExp(`^${button}$`) }).click();
  await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
}
