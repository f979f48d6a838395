// What the bench streams and loads: an ~800-word markdown reply of the kind a coding persona writes
// (headings, lists, a table, code blocks in three languages, inline code), and a long conversation
// made of replies like it.
import { randomUUID } from 'node:crypto';
import { CONVERSATION_SCHEMA_VERSION, type Conversation, type Message } from '../src/shared/conversation';

export const longReply = `Good question — retries look simple until they meet a real network. Here is how I would add them to the client, step by step, with the trade-offs spelled out so you can adapt the numbers to your server.

## What to retry, and what not to

Not every failure deserves a second try. A retry is only safe when the request is **idempotent** or when the server never saw it. As a rule of thumb:

- **Retry** connection errors (\`ECONNREFUSED\`, \`ECONNRESET\`), timeouts, HTTP 408, 429 and anything from 500 to 599.
- **Do not retry** 400, 401, 403, 404 or 422: the answer will be the same next time, and retrying only hides the bug.
- **Be careful** with \`POST\` requests that create things. Send an idempotency key so the server can recognise a duplicate.
- **Never retry** after the caller cancelled. An aborted signal means the person no longer wants the answer.

## The backoff schedule

Waiting the same amount between attempts makes every client hammer the server at the same moment after an outage. Exponential backoff with *full jitter* spreads them out:

| Attempt | Base delay | With full jitter | Cumulative worst case |
|---:|---:|---|---:|
| 1 | 250 ms | 0–250 ms | 250 ms |
| 2 | 500 ms | 0–500 ms | 750 ms |
| 3 | 1 s | 0–1 s | 1.75 s |
| 4 | 2 s | 0–2 s | 3.75 s |
| 5 | 4 s | 0–4 s | 7.75 s |

Cap the total time as well as the number of attempts: a person waiting for a chat reply will not sit through thirty seconds of silent retries. When the server sends \`Retry-After\`, honour it instead of your own schedule.

## A small helper

Here is a helper that wraps any async operation. It takes the abort signal seriously, reads \`Retry-After\`, and gives up early on errors that cannot succeed:

\`\`\`typescript
export interface RetryOptions {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  signal?: AbortSignal;
}

export async function withRetry<T>(run: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= options.attempts; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await run(attempt);
    } catch (error) {
      lastError = error;
      if (!isRetryable(error) || attempt === options.attempts) throw error;
      const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
      const wait = retryAfterMs(error) ?? Math.random() * ceiling;
      await sleep(wait, options.signal);
    }
  }
  throw lastError;
}

function isRetryable(error: unknown): boolean {
  if (error instanceof HttpError) return error.status === 408 || error.status === 429 || error.status >= 500;
  return error instanceof TypeError; // fetch reports network failures as TypeError
}
\`\`\`

The \`sleep\` helper must reject when the signal aborts, otherwise a cancelled request keeps waiting in the background:

\`\`\`typescript
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
\`\`\`

## Streaming responses are different

With a streamed reply you can only retry **before the first token arrives**. Once text has reached the screen, a retry would either duplicate it or silently replace it, and both confuse people. So split the request in two phases:

1. Connect and wait for the response headers. Failures here are retryable by the rules above.
2. Read the stream. A failure here ends the reply: keep what arrived, mark the message as interrupted, and offer a **Retry** button instead of retrying on your own.

## Testing it

Retries are easy to get subtly wrong, so test them against a real server rather than a mocked \`fetch\`. A tiny Python server that fails on purpose is enough:

\`\`\`python
from http.server import BaseHTTPRequestHandler, HTTPServer

failures = {"count": 2}

class Flaky(BaseHTTPRequestHandler):
    def do_POST(self):
        if failures["count"] > 0:
            failures["count"] -= 1
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

HTTPServer(("127.0.0.1", 8765), Flaky).serve_forever()
\`\`\`

Run it, then point the client at it and check three things:

- the request succeeds on the third attempt;
- the total wait stays under your cap;
- aborting during a backoff rejects at once instead of after the delay.

You can also watch the attempts from a shell while the test runs:

\`\`\`bash
curl -s -X POST http://127.0.0.1:8765/ -w '%{http_code}\\n' -o /dev/null
\`\`\`

## A few last tips

> Log every retry with the attempt number and the reason, but only once per request at warning level. Otherwise an outage fills the log with thousands of identical lines.

Keep the retry policy in **one place** so that the chat client, the embeddings client and the model list all behave the same way, and make the limits settings rather than constants: someone on a slow laptop running a large model needs longer timeouts than someone on a workstation. Finally, surface the final failure in words a person can act on — "LM Studio is not running at http://127.0.0.1:1234" is far more useful than "fetch failed". If you want, I can sketch the idempotency-key part next.`;

// ---- a 100 KB reply of markdown that is hard to render -----------------------------------------
// What a streaming renderer meets at its worst: long runs of emphasis delimiters that never close
// (`_a_a_a…`, the classic quadratic case for delimiter matching), emphasis nested in emphasis with
// code spans and unmatched backtick runs, a long table, blockquotes nested dozens deep, a deeply
// nested list, and ordinary prose between them. Every part is cut mid-construct by the stream.

/** The reply's last line: on screen once all of it is. */
export const STRESS_REPLY_END = 'That was the whole stress reply: every construct above, more than once.';

/** The prose paragraphs of `longReply` (outside its code blocks, no tables, lists or headings). */
function prose(): string[] {
  return longReply
    .split('```')
    .filter((_, i) => i % 2 === 0)
    .flatMap((part) => part.split(/\n\s*\n/))
    .map((p) => p.trim())
    .filter((p) => /^[A-Z]/.test(p) && !p.includes('|') && !p.includes('\n'));
}

function denseDelimiters(n: number): string {
  return [
    '_a'.repeat(n),
    '*a'.repeat(n),
    '**a__'.repeat(Math.floor(n / 3)),
    '~~a*'.repeat(Math.floor(n / 3)),
    `Closing at last: ${'*a* _b_ '.repeat(Math.floor(n / 8))}done.`,
  ].join('\n\n');
}

function nestedEmphasis(n: number): string {
  const nested = '*a **b _c __d ~~e `code ``x`` y` e~~ d__ c_ b** a* ';
  const unclosed = '`a ``b ```c ````d *e _f **g __h ';
  const mixed = '***x*** ___y___ *`*`* _`_`_ **`**`** ';
  return [nested.repeat(n), unclosed.repeat(n), mixed.repeat(n)].join('\n\n');
}

function longTable(rows: number, from: number): string {
  const lines = ['| # | key | value | note | score |', '|---:|---|---|---|---:|'];
  for (let i = from; i < from + rows; i++) {
    lines.push(`| ${i} | \`key_${i}\` | **value ${i}** | _note_ with *${i % 7}* | ${((i * 37) % 1000) / 10} |`);
  }
  return lines.join('\n');
}

/**
 * Blockquotes nested `depth` deep, and back out a level per paragraph. Only the last few levels
 * come back out through lazy continuation lines (no blank line between): marked 18 takes
 * exponential time on those (about ×1.7 a level: 12 levels 26 ms, 16 levels 0.4 s, 30 levels
 * would not finish), so a deeper staircase would measure nothing but that.
 */
function deepBlockquote(depth: number, lazyLevels = 8): string {
  const lines: string[] = [];
  for (let d = 1; d <= depth; d++) lines.push(`${'> '.repeat(d)}Level ${d} says *something* with \`code\` and **weight**.`);
  const up = lines.join('\n');
  const out: string[] = [];
  for (let d = depth; d > lazyLevels; d--) out.push(`${'> '.repeat(d)}Back out through ${d}, _quietly_.`);
  const lazy: string[] = [];
  for (let d = lazyLevels; d >= 1; d--) lazy.push(`${'> '.repeat(d)}Lazily out through ${d}.`);
  return [up, ...out, lazy.join('\n')].join('\n\n');
}

function deepList(depth: number): string {
  const lines: string[] = [];
  for (let d = 0; d < depth; d++) lines.push(`${'  '.repeat(d)}- item ${d + 1} with **bold** and a [link](https://example.com/${d})`);
  return lines.join('\n');
}

/**
 * About `targetChars` (to within a paragraph) of the constructs above in turn,
 * each time a little bigger, ending with `STRESS_REPLY_END`.
 */
export function stressReply(targetChars = 100 * 1024): string {
  const paragraphs = prose();
  const para = (k: number) => paragraphs[k % paragraphs.length]!;
  const parts: string[] = [];
  let length = 0;
  const add = (text: string) => {
    parts.push(text);
    length += text.length + 2;
  };
  filling: for (let k = 0; ; k++) {
    const blocks = [
      `## Part ${k + 1}`,
      para(k),
      para(k + 1),
      denseDelimiters(600 + 100 * k),
      para(k + 2),
      nestedEmphasis(20 + 5 * k),
      longTable(80 + 20 * k, 1 + 200 * k),
      para(k + 3),
      deepBlockquote(Math.min(60, 30 + 10 * k)),
      deepList(Math.min(40, 20 + 5 * k)),
      para(k + 4),
    ];
    for (const b of blocks) {
      if (length + b.length > targetChars) break filling;
      add(b);
    }
  }
  // Prose up to the size asked for.
  for (let k = 0; length < targetChars; k++) add(para(k));
  add(STRESS_REPLY_END);
  return parts.join('\n\n');
}

/** `text` cut into pieces of `size` characters: how the fake server streams the stress reply. */
export function fixedChunks(text: string, size: number): string[] {
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
  return chunks;
}

/** Whitespace-separated words: what the fake server sends one per chunk. */
export function wordCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

const userTurns = [
  'How do I debounce an input in Preact without a library?',
  'Can you explain why my useEffect runs twice in development?',
  'What is the difference between a Map and a plain object for a cache keyed by strings? I care about speed and about keys like __proto__.',
  'Write a bash one-liner that finds the ten largest files under the current directory.',
  'Is it safe to use structuredClone on objects that hold class instances?',
  'Thanks! And how would I test that with node:test?',
  'Why does my TypeScript build say that a type is not assignable when the shapes look the same?',
  'Show me a Python function that chunks a list into groups of n.',
];

const assistantTurns = [
  `The short version: keep the timer in a ref so it survives renders, and clear it on every keystroke.

\`\`\`tsx
function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}
\`\`\`

Use it as \`const query = useDebounced(text, 250)\` and fetch on \`query\`, not on \`text\`.`,
  `In development, strict mode mounts, unmounts and mounts again to surface effects that do not clean up after themselves. It is a **feature**:

- an effect that subscribes must unsubscribe in its cleanup;
- an effect that fetches should ignore the result once cleaned up;
- nothing of this happens in a production build.

If the double run breaks something, the cleanup is missing.`,
  `For a string-keyed cache a \`Map\` is the better default:

| | Map | Object |
|---|---|---|
| Keys like \`__proto__\` | safe | dangerous |
| Size | \`map.size\` | \`Object.keys(o).length\` |
| Frequent deletes | fast | can deoptimise |
| Iteration order | insertion | mostly insertion |

Plain objects win only when you serialise to JSON a lot.`,
  `This lists the ten largest files, biggest first, with human-readable sizes:

\`\`\`bash
find . -type f -printf '%s %p\\n' | sort -nr | head -n 10 | numfmt --field=1 --to=iec
\`\`\`

On macOS, where \`find\` has no \`-printf\`, use \`du -ah . | sort -rh | head -n 10\` instead.`,
  `Mostly no. \`structuredClone\` copies the *data* but not the *class*: the clone is a plain object, its methods are gone and \`instanceof\` fails. Functions and DOM nodes throw a \`DataCloneError\`. It does handle \`Map\`, \`Set\`, \`Date\`, typed arrays and cycles, which is why it beats \`JSON.parse(JSON.stringify(x))\` for plain data.`,
  `With the built-in runner it fits in a few lines:

\`\`\`typescript
import { test } from 'node:test';
import assert from 'node:assert/strict';

test('debounce waits for quiet', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const calls: string[] = [];
  const debounced = debounce((s: string) => calls.push(s), 100);
  debounced('a');
  debounced('b');
  t.mock.timers.tick(100);
  assert.deepEqual(calls, ['b']);
});
\`\`\`

Mocked timers keep the test instant and deterministic.`,
  `TypeScript compares shapes, but a few things make equal-looking types differ:

1. **Optional vs undefined** — with \`exactOptionalPropertyTypes\`, \`a?: string\` does not accept \`undefined\`.
2. **Readonly arrays** — a \`readonly string[]\` is not assignable to \`string[]\`.
3. **Private fields** — two classes with the same private field are never compatible.
4. **Two copies of a package** — types from different versions in \`node_modules\` are different types.

Hover both types and look for one of these first.`,
  `Slicing in steps of \`n\` is the clearest way:

\`\`\`python
def chunks(items, n):
    if n < 1:
        raise ValueError("n must be at least 1")
    return [items[i:i + n] for i in range(0, len(items), n)]
\`\`\`

For a lazy version over any iterable, \`itertools.batched(items, n)\` does it in Python 3.12 and later.`,
];

/** The `i`th message of a long conversation (0 is the greeting): questions and answers in turn. */
export function longConversationMessage(i: number, createdAt: number, greeting = 'Hello!'): Message {
  if (i === 0) return { id: randomUUID(), role: 'assistant', content: greeting, createdAt, status: 'complete', greeting: true };
  const user = i % 2 === 1;
  const pool = user ? userTurns : assistantTurns;
  const base = pool[Math.floor(i / 2) % pool.length]!;
  const content = user ? `${base} (question ${Math.ceil(i / 2)})` : base;
  return { id: randomUUID(), role: user ? 'user' : 'assistant', content, createdAt, status: 'complete', ...(user ? {} : { model: 'fake-llm-7b' }) };
}

/**
 * Text that only the last message of a `count`-message conversation shows, to tell when the view
 * has drawn it: "(question 1000)" cannot match "(question 100)".
 */
export function longConversationLastText(count: number): string {
  // An even count ends on a question, whose number is its own; answers repeat.
  if (count < 2 || count % 2 !== 0) throw new Error(`a long conversation needs an even number of messages, not ${count}`);
  return `(question ${count / 2})`;
}

/** A conversation in Persona's on-disk format with `count` messages, one a minute up to now. */
export function longConversation(id: string, personaId: string, count: number, greeting: string): Conversation {
  const start = Date.now() - count * 60_000;
  const messages = Array.from({ length: count }, (_, i) => longConversationMessage(i, start + i * 60_000, greeting));
  return {
    schemaVersion: CONVERSATION_SCHEMA_VERSION,
    id,
    title: 'A long conversation',
    personaId,
    createdAt: start,
    updatedAt: start + count * 60_000,
    messages,
  };
}
