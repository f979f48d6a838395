// A real S3-compatible server on loopback for the team-memory tests: the npm package s3rver, which
// keeps each object as files in a folder (`<dir>/<bucket>/<key>._S3rver_object`, with metadata and
// an md5 beside it). What it does not do, checked here (issue 14): it ignores `If-None-Match` on PUT
// (conditional writes), it lists no "folders" for a delimiter below the bucket (so LanceDB's
// tableNames() is empty), and it checks the access key id but not the signature.
//
// One thing every S3 store does and s3rver does not is made right here: a PUT replaces the object
// whole. s3rver writes the object's file in place, so a GET during a PUT of the same key read a
// truncated manifest ("Range started at 0 and ended at 0"), and two PUTs of one key at once could
// leave a mix of both. Here a PUT's body is written to a staging file and renamed over the object.
//
// Run alone (for the e2e test's second process and by hand):
//   node --import tsx test/support/s3Server.ts [--port 0] [--dir DIR] [--bucket team]
// prints `listening <port> <dir>` once it serves.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// s3rver ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => { run(): Promise<{ port: number }>; close(): Promise<void> };

interface FilesystemStore {
  rootDirectory: string;
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: { bucket: string; key: string; metadata: unknown; content: Buffer | NodeJS.ReadableStream }): Promise<{ size: number; md5: string }>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const store = (require('s3rver/lib/stores/filesystem') as { prototype: FilesystemStore }).prototype;
store.putObject = async function (this: FilesystemStore, object) {
  const chunks: Buffer[] = [];
  if (Buffer.isBuffer(object.content)) chunks.push(object.content);
  else for await (const chunk of object.content) chunks.push(Buffer.from(chunk as Uint8Array));
  const content = Buffer.concat(chunks);
  const md5 = createHash('md5').update(content).digest('hex');
  const staging = join(this.rootDirectory, '.persona-staging', randomUUID());
  await mkdir(dirname(staging), { recursive: true });
  await writeFile(staging, content);
  const target = this.getResourcePath(object.bucket, object.key, 'object');
  await mkdir(dirname(target), { recursive: true });
  await this.putMetadata(object.bucket, object.key, object.metadata, md5);
  // The object's file last, by a rename: a GET sees the old object or the new one, whole.
  await rename(staging, target);
  return { size: content.length, md5 };
};

export interface S3TestServer {
  endpoint: string;
  port: number;
  /** The folder the objects are kept in. */
  dir: string;
  bucket: string;
  /** s3rver's one access key (id and secret alike). */
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

export async function startS3Server(options: { bucket?: string; dir?: string; port?: number } = {}): Promise<S3TestServer> {
  const bucket = options.bucket ?? 'team';
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'persona-s3-')));
  const server = new S3rver({ port: options.port ?? 0, address: '127.0.0.1', directory: dir, silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
  const { port } = await server.run();
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    dir,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
    },
  };
}

export async function removeS3Folder(server: S3TestServer): Promise<void> {
  await server.stop();
  await rm(server.dir, { recursive: true, force: true });
}

if (require.main === module) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  void startS3Server({ port: Number(arg('port') ?? 0), ...(arg('dir') ? { dir: arg('dir')! } : {}), ...(arg('bucket') ? { bucket: arg('bucket')! } : {}) }).then((s) => {
    process.stdout.write(`listening ${s.port} ${s.dir}\n`);
    const stop = () => void s.stop().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
