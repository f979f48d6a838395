// The indexing queue's inbox: a window without the lock hands its operations to the one that holds
// it as files under `inbox/`, named so they sort in the order written. The holder applies them,
// writes its journal, and only then deletes them.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod/mini';
import { writeFileAtomic } from '../util/atomicFile';
import { parseJson } from '../util/json';
import type { Logger } from '../util/logger';
import { JobSchema, SelectorSchema } from './indexingJobs';

const InboxOpSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('enqueue'), jobs: z.array(JobSchema) }),
  z.object({ op: z.literal('drop'), selector: SelectorSchema }),
  z.object({ op: z.literal('cancel') }),
]);
export type InboxOp = z.infer<typeof InboxOpSchema>;

const InboxFileSchema = z.object({ version: z.literal(1), ops: z.array(InboxOpSchema) });

/** Writes one inbox file; returns its name. */
export async function postToInbox(inboxDir: string, ops: InboxOp[]): Promise<string> {
  const name = `${String(Date.now()).padStart(15, '0')}-${process.pid}-${randomBytes(4).toString('hex')}.json`;
  await writeFileAtomic(path.join(inboxDir, name), JSON.stringify({ version: 1, ops }));
  return name;
}

/**
 * Every inbox file's operations, in the order written, and the files read (to delete once applied).
 * An unreadable file is logged and counted as read, so it is deleted too.
 */
export async function readInboxFiles(inboxDir: string, logger: Logger): Promise<{ ops: InboxOp[]; files: string[] }> {
  const names = (await fs.readdir(inboxDir).catch(() => [] as string[])).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
  const ops: InboxOp[] = [];
  const files: string[] = [];
  for (const name of names) {
    const file = path.join(inboxDir, name);
    const text = await fs.readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    files.push(file);
    const parsed = InboxFileSchema.safeParse(parseJson(text).value);
    if (!parsed.success) {
      logger.warn(`Indexing: ignored an unreadable inbox file ${name}.`);
      continue;
    }
    ops.push(...parsed.data.ops);
  }
  return { ops, files };
}
