// A command's failure is logged and shown as a message a person can act on, never an unhandled
// rejection (VS Code would only log it where nobody looks).
import { describeError } from '../chat/userMessages';
import type { Logger } from '../util/logger';
import { showError } from './notify';

/** Wraps a command's work: `what` names it in the log ("Memory command", "Character Builder"). */
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
