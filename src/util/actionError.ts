// A view button or a command that cannot do what was asked, for a reason the person can act on. The
// message is the sentence shown (in the view's error line, or a notification).
import { PersonaError } from './personaError';

export type ActionErrorReason =
  /** Needs something this window does not have (a folder, memory, an open editor). */
  | 'unavailable'
  /** What it names is not there any more (a conversation, a file, a document in memory). */
  | 'gone'
  /** What was given cannot be used (a link, a dropped item, a file too large to import again). */
  | 'refused';

export class ActionError extends PersonaError<ActionErrorReason> {
  override readonly name = 'ActionError';
}
