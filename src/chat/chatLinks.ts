// A link from model output, as the person is asked about it before it opens: http(s) and mailto only;
// the host it really goes to said plainly (a "user@" part that hides it is dropped and pointed out;
// an international name is shown in the punycode the browser will use); a mailto keeps only its
// subject and body (not cc, bcc or attachments a model could add).
import { ActionError } from '../util/actionError';

const SCHEMES = new Set(['http:', 'https:', 'mailto:']);
const MAILTO_PARAMS = new Set(['subject', 'body']);

export interface LinkToOpen {
  /** What is opened. */
  href: string;
  /** Where it goes: the host, or the address of a mailto. */
  destination: string;
  /** What was changed or looks deceptive, in words for the confirmation. */
  notes: string[];
}

export function linkToOpen(href: string): LinkToOpen {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    throw new ActionError('refused', `"${href.slice(0, 100)}" is not a valid link.`);
  }
  if (!SCHEMES.has(url.protocol)) throw new ActionError('refused', `Links to ${url.protocol} are not opened.`);
  const notes: string[] = [];
  if (url.protocol === 'mailto:') {
    const dropped = [...url.searchParams.keys()].filter((k) => !MAILTO_PARAMS.has(k.toLowerCase()));
    for (const k of dropped) url.searchParams.delete(k);
    if (dropped.length > 0) notes.push(`Left out of the email: ${[...new Set(dropped)].join(', ')}.`);
    return { href: url.href, destination: decodeURIComponent(url.pathname), notes };
  }
  if (url.username || url.password) {
    notes.push(`The link put "${decodeURIComponent(url.username)}${url.password ? ':…' : ''}@" before the real host, which can make it look like another site; that part is removed.`);
    url.username = '';
    url.password = '';
  }
  if (url.hostname.split('.').some((label) => label.startsWith('xn--'))) notes.push('The host name uses international letters; it is shown as the browser will look it up.');
  return { href: url.href, destination: url.host, notes };
}
