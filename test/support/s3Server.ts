// A real S3-compatible server on loopback for the team-memory tests: the npm package s3rver, which
// keeps each object as files in a folder (`<dir>/<bucket>/<key>._S3rver_object`, with metadata and
// an md5 beside it). What it does not do, checked here (issue 14): it ignores `If-None-Match` on PUT
// (conditional writes), it lists no "folders" for a delimiter below the bucket (so LanceDB's
// tableNames() is empty), and it checks the access key id but not the signature.
//
// Run alone (for the e2e test's second process and by hand):
//   node --import tsx test/support/s3Server.ts [--port 0] [--dir DIR] [--bucket team]
// prints `listening <port> <dir>` once it serves.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// s3rver ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => { run(): Promise<{ port: number }>; close(): Promise<void> };

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
