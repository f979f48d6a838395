// Secrets are recognised by what they look like, and ordinary text about them is not.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { secretIn } from '../../src/rag/secretScan';

// Built from parts so that this file does not itself look like it holds secrets.
const fake = (...parts: string[]) => parts.join('');
const X = (n: number, c = 'a') => c.repeat(n);

it('finds private keys and the token shapes of common services', () => {
  const cases: [string, string][] = [
    [fake('-----BEGIN OPENSSH ', 'PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----'), 'a private key'],
    [fake('-----BEGIN ', 'PRIVATE KEY-----'), 'a private key'],
    [fake('-----BEGIN RSA ', 'PRIVATE KEY-----'), 'a private key'],
    [fake('-----BEGIN PGP ', 'PRIVATE KEY BLOCK-----'), 'a private key'],
    [fake('aws_access_key_id = AKIA', 'IOSFODNN7EXAMPLQ'), 'an AWS access key'],
    [fake('token: ghp_', X(36, 'B')), 'a GitHub token'],
    [fake('OPENAI_API_KEY=sk-proj-', X(100, 'Q')), 'an OpenAI key'],
    [fake('key sk-', X(20, 'b'), 'T3BlbkFJ', X(20, 'c')), 'an OpenAI key'],
    [fake('sk-ant-api03-', X(90, 'Z')), 'an Anthropic key'],
    [fake('xoxb-1234567890-1234567890-', X(24, 'k')), 'a Slack token'],
    [fake('AIza', X(35, 'S')), 'a Google API key'],
    [fake('sk_live_', X(24, '9')), 'a Stripe key'],
    [fake('hf_', X(34, 'h')), 'a Hugging Face token'],
    [fake('//registry.npmjs.org/:_authToken=npm_', X(36, 'n')), 'an npm token'],
  ];
  for (const [text, kind] of cases) assert.equal(secretIn(`some file\n${text}\nmore`), kind, text.slice(0, 40));
});

it('leaves ordinary text alone, including text about keys', () => {
  for (const text of [
    '# Deploying\n\nReleases go out on Tuesdays.',
    'Set OPENAI_API_KEY to your key (it starts with sk-).',
    'Generate a key with `ssh-keygen -t ed25519`; the public key begins with ssh-ed25519.',
    '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----',
    '-----BEGIN CERTIFICATE-----',
    'const skip = "sk-test"; // short placeholder',
    'The AKIA prefix marks AWS access keys.',
  ]) {
    assert.equal(secretIn(text), undefined, text);
  }
});
