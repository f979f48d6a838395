// Unsaved Character Builder drafts, one JSON file each under global storage (`builder-drafts/`), so a
// draft survives a window reload or a closed panel until it is saved or discarded. Written
// atomically and checked on read: a file that fails is logged and ignored, never trusted. Plain Node.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod/mini';
import { BuilderFormSchema, DRAFT_KEY_PATTERN, type BuilderForm } from '../shared/builderProtocol';
import { CardPersonaSchema, type CardPersona } from '../shared/cardPersona';
import type { Logger } from '../util/logger';
import { sweepTempFiles, writeFileAtomic } from '../util/atomicFile';
import { imageFormat } from '../util/imageFormat';


const DraftSchema = z.object({
  schema: z.literal(1),
  key: z.string().check(z.regex(DRAFT_KEY_PATTERN)),
  /** The saved persona the draft changes; null for one never saved. */
  personaId: z.nullable(z.string()),
  /** Unix ms of the last change. */
  changedAt: z.number(),
  form: BuilderFormSchema,
  /** A persona not saved yet that the form started from (a duplicate): its card data is kept. */
  base: z.optional(CardPersonaSchema),
  /** A picture picked but not saved yet. */
  avatar: z.optional(z.object({ token: z.string().check(z.maxLength(200)), ext: z.enum(['png', 'jpg', 'webp']), base64: z.string() })),
});
export type BuilderDraft = z.infer<typeof DraftSchema>;

export interface PendingAvatar {
  token: string;
  ext: 'png' | 'jpg' | 'webp';
  bytes: Uint8Array;
}

/** The format of a picture the builder takes (the webview shows PNG, JPEG and WebP), or undefined. */
export function avatarFormat(bytes: Uint8Array): PendingAvatar['ext'] | undefined {
  const format = imageFormat(bytes);
  return format === 'gif' ? undefined : format;
}

export function draftAvatar(draft: BuilderDraft): PendingAvatar | undefined {
  if (!draft.avatar) return undefined;
  return { token: draft.avatar.token, ext: draft.avatar.ext, bytes: Buffer.from(draft.avatar.base64, 'base64') };
}

export function makeDraft(fields: { key: string; personaId: string | null; form: BuilderForm; base?: CardPersona; avatar?: PendingAvatar }): BuilderDraft {
  const { avatar, base, ...rest } = fields;
  return {
    schema: 1,
    ...rest,
    changedAt: Date.now(),
    ...(base ? { base } : {}),
    ...(avatar ? { avatar: { token: avatar.token, ext: avatar.ext, base64: Buffer.from(avatar.bytes).toString('base64') } } : {}),
  };
}

export class BuilderDraftStore {
  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  private fileFor(key: string): string {
    if (!DRAFT_KEY_PATTERN.test(key)) throw new Error(`invalid draft key "${key}"`);
    return path.join(this.dir, `${key}.json`);
  }

  async read(key: string): Promise<BuilderDraft | undefined> {
    return this.readFile(this.fileFor(key));
  }

  async write(draft: BuilderDraft): Promise<void> {
    await writeFileAtomic(this.fileFor(draft.key), JSON.stringify(DraftSchema.parse(draft)));
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.fileFor(key), { force: true });
  }

  /** Every readable draft, newest first. */
  async list(): Promise<BuilderDraft[]> {
    await sweepTempFiles(this.dir);
    let names: string[];
    try {
      names = (await fs.readdir(this.dir)).filter((n) => n.endsWith('.json') && DRAFT_KEY_PATTERN.test(n.slice(0, -5)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const drafts: BuilderDraft[] = [];
    for (const name of names) {
      const draft = await this.readFile(path.join(this.dir, name));
      if (draft && `${draft.key}.json` === name) drafts.push(draft);
    }
    return drafts.sort((a, b) => b.changedAt - a.changedAt);
  }

  private async readFile(file: string): Promise<BuilderDraft | undefined> {
    let raw: string;
    try {
      raw = await fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn(`Builder draft ${path.basename(file)} could not be read: ${(e as Error).message}`);
      return undefined;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (e) {
      this.logger.warn(`Builder draft ${path.basename(file)} is not valid JSON (${(e as Error).message}); ignored.`);
      return undefined;
    }
    const parsed = DraftSchema.safeParse(json);
    if (!parsed.success) {
      this.logger.warn(`Builder draft ${path.basename(file)} is invalid (${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}); ignored.`);
      return undefined;
    }
    return parsed.data;
  }
}
