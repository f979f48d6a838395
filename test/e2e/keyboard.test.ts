// Keyboard only: from the message box, Tab and Shift+Tab reach Send/Stop, the persona select and
// every message action, each with a visible focus indicator, and the actions work from the
// keyboard. Then screenshots of the view in the default, a light, a dark and a high-contrast theme
// go to test-results/ for a person to look at.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Frame } from 'playwright-core';
import { captureOnFailure, messageInput, resultsDir, waitUntil } from './harness';
import { lastAssistant, sendMessage, startChatE2e, updateUserSettings, waitForReply, type ChatE2e } from './chatView';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';

let e2e: ChatE2e | undefined;

function started(): ChatE2e {
  assert.ok(e2e, 'VS Code did not start (see the before hook)');
  return e2e;
}

// A reply with every kind of focusable content: a link, a code block's buttons; and enough markdown
// to judge the themes by.
const richReply = [
  'Here is **what I found**, with a [link to the docs](https://example.com/docs) and `inline code`.',
  '',
  '- first point',
  '- second point, *emphasised*',
  '',
  '> A quotation, for the record.',
  '',
  '| Name | Value |',
  '|------|-------|',
  '| alpha | 1 |',
  '| beta | 2 |',
  '',
  '![a chart](https://example.com/chart.png)',
  '',
  '```ts',
  'export function add(a: number, b: number): number {',
  '  return a + b; // "sum"',
  '}',
  '```',
].join('\n');

before(async () => {
  e2e = await startChatE2e({ label: 'keyboard', server: { reply: richReply } });
  const frame = await e2e.view();
  await sendMessage(frame, 'Show me something rich.');
  await waitForReply(frame, e2e.server, 1, (shown) => shown.startsWith('Here is what I found'));
});

after(async () => {
  await e2e?.stop();
});

interface Focused {
  tag: string;
  label: string;
  focusVisible: boolean;
  outline: string;
  boxShadow: string;
  visibleIndicator: boolean;
}

async function focused(frame: Frame): Promise<Focused | null> {
  return (await frame.evaluate(`(() => {
    const el = document.activeElement;
    if (!el || el === document.body || el === document.documentElement) return null;
    const cs = getComputedStyle(el);
    const transparent = (c) => c === 'transparent' || /rgba\\([^)]*,\\s*0\\)$/.test(c);
    const outline = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 1 && !transparent(cs.outlineColor);
    return {
      tag: el.tagName.toLowerCase(),
      label: el.getAttribute('aria-label') || (el.textContent || '').trim().slice(0, 40),
      focusVisible: el.matches(':focus-visible'),
      outline: cs.outlineStyle + ' ' + cs.outlineWidth + ' ' + cs.outlineColor,
      boxShadow: cs.boxShadow,
      visibleIndicator: outline || cs.boxShadow !== 'none',
    };
  })()`)) as Focused | null;
}

async function focusMessageBox(frame: Frame, draft: string): Promise<void> {
  const input = frame.locator(messageInput);
  await input.click();
  await input.fill(draft);
}

function assertVisibleFocus(f: Focused | null, what: string): asserts f is Focused {
  assert.ok(f, `nothing in the webview has focus (${what})`);
  assert.ok(f.focusVisible && f.visibleIndicator, `${f.tag} "${f.label}" has no visible focus (outline ${f.outline}, box-shadow ${f.boxShadow}) (${what})`);
}

test('Tab reaches Send; Shift+Tab reaches every message action and the persona select, all with visible focus', async () => {
  const { vs, view } = started();
  await captureOnFailure(vs, 'keyboard-tab-order', async () => {
    const frame = await view();
    await focusMessageBox(frame, 'a draft');
    await vs.page.keyboard.press('Tab');
    const send = await focused(frame);
    assertVisibleFocus(send, 'Tab from the message box');
    assert.equal(send.label, 'Send');

    await vs.page.keyboard.press('Shift+Tab');
    assert.equal((await focused(frame))?.label, 'Message');
    const seen: Focused[] = [];
    for (let i = 0; i < 30; i++) {
      await vs.page.keyboard.press('Shift+Tab');
      const f = await focused(frame);
      if (!f) break; // focus left the webview
      assertVisibleFocus(f, `Shift+Tab step ${i + 1}`);
      seen.push(f);
      if (f.label === 'Persona') break;
    }
    const labels = seen.map((f) => f.label);
    for (const expected of ['Regenerate', 'Insert code at cursor', 'Copy code', 'link to the docs', 'Edit message', 'New chat', 'Chats', 'Persona']) {
      assert.ok(labels.includes(expected), `Shift+Tab never reached "${expected}" (reached: ${labels.join(' → ')})`);
    }
    assert.ok(labels.indexOf('Regenerate') < labels.indexOf('Persona'));
  });
});

test('message actions work from the keyboard: Enter on Regenerate asks the server again', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'keyboard-regenerate', async () => {
    const frame = await view();
    await focusMessageBox(frame, '');
    // Back from the message box: the context meter's breakdown, then the last reply's actions.
    const passed: string[] = [];
    for (const _ of ['Context breakdown', 'What was sent', 'Remember', 'Regenerate']) {
      await vs.page.keyboard.press('Shift+Tab');
      passed.push((await focused(frame))?.label ?? 'the page body');
    }
    assert.deepEqual(passed, ['Context breakdown', 'What was sent', 'Remember', 'Regenerate']);
    const before = server.completions.length;
    await vs.page.keyboard.press('Enter');
    await waitForReply(frame, server, before + 1, (shown) => shown.startsWith('Here is what I found'));
    assert.equal(server.chatRequests.length, before + 1);
    // Regenerate hid itself while the reply streamed: the keyboard stays in the view — in the message
    // box, or on the new reply's Regenerate when the whole reply arrived in one update — never on the page.
    const after = await waitUntil('focus to be inside the view', 5000, async () => (await focused(frame)) ?? undefined).catch(() => null);
    assert.ok(after && ['Message', 'Regenerate'].includes(after.label), `focus after Regenerate: ${after?.label ?? 'the page body'}`);
  });
});

test('Escape in the edit box gives focus back to Edit; Escape in the conversation list to its button', async () => {
  const { vs, view } = started();
  await captureOnFailure(vs, 'keyboard-escape-focus', async () => {
    const frame = await view();
    await frame.locator('.message[data-role="user"] button[aria-label="Edit message"]').first().focus();
    await vs.page.keyboard.press('Enter');
    const box = await waitUntil('the edit box to take focus', 5000, async () => {
      const f = await focused(frame);
      return f?.tag === 'textarea' ? f : undefined;
    }).catch(() => null);
    assert.equal(box?.label, 'Edit message', 'the edit box has focus');
    await vs.page.keyboard.press('Escape');
    const back = await waitUntil('focus to leave the edit box', 5000, async () => {
      const f = await focused(frame);
      return f?.tag === 'textarea' ? undefined : (f ?? undefined);
    }).catch(() => null);
    assertVisibleFocus(back, 'Escape in the edit box');
    assert.equal(back.tag, 'button');
    assert.equal(back.label, 'Edit message');

    await frame.locator('button[aria-label="Chats"]').focus();
    await vs.page.keyboard.press('Enter');
    await frame.locator('.conversation-list').waitFor();
    await vs.page.keyboard.press('Escape');
    await frame.locator('.conversation-list').waitFor({ state: 'detached' });
    assert.equal(await waitUntil('focus on the Chats button', 5000, async () => (await focused(frame))?.label).catch(() => null), 'Chats');
  });
});

test('Stop is reachable with Tab while a reply streams, and Enter on it stops the reply', async () => {
  const { vs, server, view } = started();
  await captureOnFailure(vs, 'keyboard-stop', async () => {
    const frame = await view();
    server.setReply(Array.from({ length: 200 }, (_, i) => `w${i}`).join(' '), { tokenDelayMs: 40 });
    await sendMessage(frame, 'Talk for a while.');
    const completion = await server.waitFor(() => server.completions.find((c) => c.outcome === 'pending' && c.tokensSent >= 3), 15_000);
    await frame.locator(messageInput).focus();
    await vs.page.keyboard.press('Tab');
    const stop = await focused(frame);
    assertVisibleFocus(stop, 'Tab from the message box while streaming');
    assert.equal(stop.label, 'Stop');
    await vs.page.keyboard.press('Enter');
    await server.waitFor(() => completion.outcome !== 'pending', 10_000);
    assert.equal(completion.outcome, 'clientClosed');
    await waitUntil('the reply to be marked stopped', 10_000, async () => (await lastAssistant(frame).getAttribute('data-status')) === 'stopped');
    // Stop is gone once the reply stops: focus goes to the message box, not to the page.
    assert.equal((await focused(frame))?.label, 'Message');
    server.setReply(richReply, { tokenDelayMs: 0 });
  });
});

/** WCAG AA for normal text. */
const minContrast = 4.5;

// Every text listed below must reach the minimum in every theme (the message actions were once
// dimmed with opacity, and the user's messages unreadable in High Contrast: both fixed).
const themes = [
  { name: 'default', setting: undefined, kind: undefined, knownLow: [] as string[] },
  { name: 'light', setting: 'Default Light Modern', kind: 'vs', knownLow: [] as string[] },
  { name: 'dark', setting: 'Default Dark Modern', kind: 'vs-dark', knownLow: [] as string[] },
  { name: 'high-contrast', setting: 'Default High Contrast', kind: 'hc-black', knownLow: [] as string[] },
] as const;

/** The class the webview's body gets for each kind of workbench theme. */
const webviewThemeClass: Record<string, string> = {
  vs: 'vscode-light',
  'vs-dark': 'vscode-dark',
  'hc-black': 'vscode-high-contrast',
  'hc-light': 'vscode-high-contrast-light',
};

/** Text a person must read, by what it is: its contrast with what is painted behind it. */
const contrastTargets: Record<string, string> = {
  'assistant text': '.message[data-role="assistant"] .message-content p',
  'user text': '.message[data-role="user"] .user-text',
  'Edit on a user message': '.message[data-role="user"] button[aria-label="Edit message"]',
  Regenerate: 'button[aria-label="Regenerate"]',
  'author note': '.message-note',
  'link in a reply': '.message-content .ext-link',
  'code block text': '.code-block code',
  'code block language': '.code-lang',
  'code block button': '.code-block button[aria-label="Copy code"]',
  'blocked image placeholder': '.blocked-image',
  'message box text': 'textarea[aria-label="Message"]',
  'Send button': 'button[aria-label="Send"]',
  'connection status': '.connection-status',
  'persona select': 'select[aria-label="Persona"]',
  'Chats button': 'button[aria-label="Chats"]',
};

async function measureContrast(frame: Frame): Promise<Record<string, number | null>> {
  return (await frame.evaluate(`(() => {
    const parse = (c) => {
      const m = /rgba?\\(([^)]+)\\)/.exec(c);
      if (!m) return [0, 0, 0, 0];
      const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const over = (fg, bg) => [0, 1, 2].map((i) => fg[i] * fg[3] + bg[i] * (1 - fg[3])).concat(1);
    const backdrop = (el) => {
      const chain = [];
      for (let e = el; e; e = e.parentElement) chain.unshift(getComputedStyle(e));
      let c = [255, 255, 255, 1];
      for (const cs of chain) c = over(parse(cs.backgroundColor), c);
      return c;
    };
    const lum = (c) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
    };
    const targets = ${JSON.stringify(contrastTargets)};
    const out = {};
    for (const [name, selector] of Object.entries(targets)) {
      const el = document.querySelector(selector);
      if (!el) { out[name] = null; continue; }
      const bg = backdrop(el);
      let alpha = 1;
      for (let e = el; e; e = e.parentElement) alpha *= Number(getComputedStyle(e).opacity);
      const color = parse(getComputedStyle(el).color);
      const fg = over([color[0], color[1], color[2], color[3] * alpha], bg);
      const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
      out[name] = Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100;
    }
    return out;
  })()`)) as Record<string, number | null>;
}

for (const theme of themes) {
  test(`${theme.name} theme: screenshots to test-results/, and text contrast of at least ${minContrast}:1`, async (t) => {
    const { vs, view } = started();
    await captureOnFailure(vs, `keyboard-theme-${theme.name}`, async () => {
      const frame = await view();
      mkdirSync(resultsDir, { recursive: true });
      await updateUserSettings(vs, { 'workbench.colorTheme': theme.setting });
      // The workbench and the webview both say which kind of theme they show.
      const kind = await waitUntil(`the ${theme.name} theme to apply`, 15_000, async () => {
        const cls = (await vs.page.locator('.monaco-workbench').getAttribute('class')) ?? '';
        const k = /(?:^|\s)(hc-black|hc-light|vs-dark|vs)(?:\s|$)/.exec(cls)?.[1];
        if (!k || (theme.kind !== undefined && k !== theme.kind)) return undefined;
        const body = (await frame.locator('body').getAttribute('class')) ?? '';
        return body.split(/\s+/).includes(webviewThemeClass[k] ?? '?') ? k : undefined;
      });
      // Focus on a message action, so the focus indicator is in the picture.
      await focusMessageBox(frame, 'Typing a draft');
      await vs.page.keyboard.press('Shift+Tab');
      await vs.page.keyboard.press('Shift+Tab');
      await new Promise((r) => setTimeout(r, 300));
      await vs.screenshot(`keyboard-theme-${theme.name}`);
      await vs.page.locator('.part.sidebar').screenshot({ path: join(resultsDir, `keyboard-theme-${theme.name}-sidebar.png`) });

      const contrast = await measureContrast(frame);
      t.diagnostic(`${theme.name} (${kind}): test-results/keyboard-theme-${theme.name}{,-sidebar}.png; contrast ${JSON.stringify(contrast)}`);
      const missing = Object.entries(contrast).filter(([, r]) => r === null).map(([n]) => n);
      assert.deepEqual(missing, [], 'elements to measure are missing from the view');
      const low = Object.entries(contrast).filter(([, r]) => r !== null && r < minContrast);
      const known: readonly string[] = theme.knownLow;
      for (const [name, ratio] of low.filter(([n]) => known.includes(n))) t.diagnostic(`known bug: ${name} at ${ratio}:1 in the ${theme.name} theme`);
      assert.deepEqual(low.filter(([n]) => !known.includes(n)), [], `text below ${minContrast}:1 in the ${theme.name} theme`);
    });
  });
}
