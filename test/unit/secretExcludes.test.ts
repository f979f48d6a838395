// The default excludes keep the usual secret files out of memory when a folder is added, whatever
// folder they sit in. Real files on disk, the real scanner, the shipped default.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, it } from 'node:test';
import { SETTINGS } from '../../src/chat/settings';
import { scanPaths } from '../../src/rag/fileScanner';

const root = mkdtempSync(join(tmpdir(), 'persona-secrets-'));
after(() => rmSync(root, { recursive: true, force: true }));

const secrets = [
  '.env', 'app/.env.production', 'deploy/prod.env', '.envrc', 'certs/server.pem', 'certs/server.key', 'certs/client.p12',
  'keys/id_rsa', 'keys/id_ed25519', 'keys/id_ed25519.pub', 'keys/id_ecdsa', 'home/.ssh/config', '.npmrc', 'pkg/.pypirc',
  '.netrc', '.git-credentials', '.pgpass', 'home/.aws/credentials', 'home/.docker/config.json', 'ops/kubeconfig',
  'home/.kube/config', 'gcp/credentials.json', 'gcp/service-account-prod.json', 'infra/prod.tfvars', 'infra/terraform.tfstate',
  'k8s/secrets.yaml',
];
const ordinary = ['README.md', 'src/config.ts', 'docs/environment.md', 'infra/main.tf', 'k8s/deployment.yaml', 'app/settings.json'];

it('a folder added to memory leaves out the usual secret files and keeps the rest', async () => {
  for (const rel of [...secrets, ...ordinary]) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), `contents of ${rel}\n`);
  }
  const { files } = await scanPaths([root], { root, exclude: [...SETTINGS['rag.exclude']], maxFileBytes: SETTINGS['rag.maxFileSizeKB'] * 1024 });
  const found = files.map((f) => f.absPath.slice(root.length + 1).split('\\\\').join('/')).sort();
  assert.deepEqual(found, [...ordinary].sort());
});
