// The team memory's settings as LanceDB gets them: what a URI may be, the storage options made from
// the settings and credentials, and the tables members write (sharedMemory.ts). The storage itself is
// tested against a real S3 server in test/integration/sharedMemory.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memberIdFor, memberTableName, parseSharedUri, SharedMemoryError, storageOptionsFor, type SharedBase } from '../../src/rag/sharedMemory';

const base = (settings: Partial<SharedBase['settings']> = {}, credentials?: SharedBase['credentials']): SharedBase => ({
  settings: { uri: 's3://team-bucket/persona', endpoint: '', region: 'eu-west-1', pathStyle: false, allowHttp: false, ...settings },
  ...(credentials ? { credentials } : {}),
  member: 'm1',
});

describe('team memory settings', () => {
  it('takes s3://bucket/folder and refuses anything else with the reason', () => {
    assert.deepEqual(parseSharedUri('s3://team-bucket/persona/kb/'), { bucket: 'team-bucket', path: 'persona/kb' });
    assert.deepEqual(parseSharedUri('s3://team.bucket'), { bucket: 'team.bucket', path: '' });
    for (const bad of ['', 'team-bucket/persona', 'https://team-bucket/persona', 's3://Team/x', 's3://ab/x', 'gs://bucket/x', 's3:///x']) {
      assert.throws(() => parseSharedUri(bad), (e: unknown) => SharedMemoryError.is(e, 'config') && /s3:\/\/bucket\/folder/.test(e.message), bad);
    }
  });

  it('makes the storage options: AWS by default, an endpoint with path-style, credentials only when given', () => {
    assert.deepEqual(storageOptionsFor(base()), { region: 'eu-west-1', connect_timeout: '3s', virtual_hosted_style_request: 'true' });
    const minio = storageOptionsFor(base({ endpoint: 'https://minio.example.com/', pathStyle: true }, { accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'ST' }));
    assert.equal(minio.endpoint, 'https://minio.example.com');
    assert.equal(minio.virtual_hosted_style_request, 'false');
    assert.equal(minio.allow_http, undefined);
    assert.deepEqual([minio.aws_access_key_id, minio.aws_secret_access_key, minio.aws_session_token], ['AK', 'SK', 'ST']);
  });

  it('refuses a plain http endpoint unless allowed, and anything that is not an http(s) URL', () => {
    assert.throws(() => storageOptionsFor(base({ endpoint: 'http://10.0.0.5:9000' })), (e: unknown) => SharedMemoryError.is(e, 'config') && /unencrypted/.test(e.message));
    assert.equal(storageOptionsFor(base({ endpoint: 'http://10.0.0.5:9000', allowHttp: true })).allow_http, 'true');
    assert.throws(() => storageOptionsFor(base({ endpoint: 'ftp://x' })), (e: unknown) => SharedMemoryError.is(e, 'config'));
    assert.throws(() => storageOptionsFor(base({ endpoint: 'not a url' })), (e: unknown) => SharedMemoryError.is(e, 'config'));
  });

  it('gives each member and model a table of its own, stable across runs', () => {
    const bge = { model: 'bge-m3', dimension: 1024 };
    const a = memberIdFor('machine-1', 'file:///work/a');
    assert.equal(a, memberIdFor('machine-1', 'file:///work/a'));
    assert.match(a, /^[0-9a-f]{16}$/);
    assert.notEqual(a, memberIdFor('machine-1', 'file:///work/b'));
    assert.notEqual(a, memberIdFor('machine-2', 'file:///work/a'));
    assert.notEqual(memberTableName(bge, a), memberTableName(bge, 'other'));
    assert.notEqual(memberTableName(bge, a), memberTableName({ model: 'bge-m3', dimension: 768 }, a));
    assert.match(memberTableName(bge, a), /^chunks_bge_m3_[0-9a-f]{8}_1024_m_[0-9a-f]{16}$/);
  });
});
