// Every notification and modal Persona shows goes through here, and every string in it (message,
// detail, buttons) through inertText: a persona's name, a file's name or a server's words can never
// become a link that runs a command (VS Code renders `[label](command:…)` in a message as one).
// Persona's own messages need no links, so nothing is lost. A command's failure is shown here too
// (guardedCommand). test/unit/uiText.test.ts holds that nothing else calls VS Code's message functions.
import * as vscode from 'vscode';
import { describeError } from '../chat/userMessages';
import { sentInTheClear } from '../chat/apiKeys';
import { inertText } from '../util/inertText';
import type { Logger } from '../util/logger';

type Show = typeof vscode.window.showInformationMessage;

function show<T extends string>(fn: Show, message: string, args: readonly (T | vscode.MessageOptions)[]): Thenable<T | undefined> {
  const options = typeof args[0] === 'object' ? (args[0] as vscode.MessageOptions) : undefined;
  const items = (options ? args.slice(1) : args) as T[];
  const shown = items.map(inertText);
  const text = inertText(message);
  const answer = options ? fn(text, { ...options, ...(options.detail !== undefined ? { detail: inertText(options.detail) } : {}) }, ...shown) : fn(text, ...shown);
  // The caller compares the answer with its own button text.
  return answer.then((choice) => (choice === undefined ? undefined : items[shown.indexOf(choice)]));
}

export function showInfo<T extends string>(message: string, options: vscode.MessageOptions, ...items: T[]): Thenable<T | undefined>;
export function showInfo<T extends string>(message: string, ...items: T[]): Thenable<T | undefined>;
export function showInfo<T extends string>(message: string, ...args: (T | vscode.MessageOptions)[]): Thenable<T | undefined> {
  return show(vscode.window.showInformationMessage, message, args);
}

export function showWarning<T extends string>(message: string, options: vscode.MessageOptions, ...items: T[]): Thenable<T | undefined>;
export function showWarning<T extends string>(message: string, ...items: T[]): Thenable<T | undefined>;
export function showWarning<T extends string>(message: string, ...args: (T | vscode.MessageOptions)[]): Thenable<T | undefined> {
  return show(vscode.window.showWarningMessage, message, args);
}

export function showError<T extends string>(message: string, options: vscode.MessageOptions, ...items: T[]): Thenable<T | undefined>;
export function showError<T extends string>(message: string, ...items: T[]): Thenable<T | undefined>;
export function showError<T extends string>(message: string, ...args: (T | vscode.MessageOptions)[]): Thenable<T | undefined> {
  return show(vscode.window.showErrorMessage, message, args);
}

/** A persona as a quick pick shows it: its emoji and name, and its one-line description, all inert. */
export function personaPickText(p: { icon: string; name: string; description: string }): { label: string; detail: string } {
  return { label: inertText(`${p.icon} ${p.name}`), detail: inertText(p.description) };
}

/**
 * Wraps a command's work: a failure is logged and shown as a message a person can act on, never an
 * unhandled rejection (VS Code would only log it where nobody looks). `what` names it in the log.
 */
export function guardedCommand(log: Logger, what: string) {
  return <A extends unknown[]>(run: (...args: A) => Promise<unknown>) =>
    async (...args: A): Promise<void> => {
      try {
        await run(...args);
      } catch (e) {
        log.warn(`${what} failed: ${(e as Error).message}`);
        void showError(describeError(e));
      }
    };
}

/** A key for an http endpoint that is not this machine travels readable: say so before saving it. */
export async function confirmKeyInTheClear(baseUrl: string): Promise<boolean> {
  if (!sentInTheClear(baseUrl)) return true;
  const choice = await showWarning(
    `${baseUrl} is not encrypted (http), and not on this machine.`,
    { modal: true, detail: 'A key sent to it can be read by anyone on the network in between. Use https if the server offers it. Save the key for this server anyway?' },
    'Save Key',
  );
  return choice === 'Save Key';
}
