// Files that hold a secret are not added to memory, whatever their name: a chat could quote them back.
// What is looked for is what secrets look like when they are real: a private key block, and the
// token shapes of the common services. A match names the kind, never the secret.

const SECRET_SHAPES: readonly { kind: string; pattern: RegExp }[] = [
  { kind: 'a private key', pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/ },
  { kind: 'an AWS access key', pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { kind: 'a GitHub token', pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b/ },
  { kind: 'an OpenAI key', pattern: /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}\b|\bsk-proj-[A-Za-z0-9_-]{80,}\b/ },
  { kind: 'an Anthropic key', pattern: /\bsk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{80,}\b/ },
  { kind: 'a Slack token', pattern: /\bxox[abposr]-(?:\d+-){1,3}[A-Za-z0-9]{16,}\b/ },
  { kind: 'a Google API key', pattern: /\bAIza[0-9A-Za-z_-]{35}\b/ },
  { kind: 'a Stripe key', pattern: /\b(?:sk|rk)_live_[0-9a-zA-Z]{24,}\b/ },
  { kind: 'a Hugging Face token', pattern: /\bhf_[A-Za-z]{34,}\b/ },
  { kind: 'an npm token', pattern: /\bnpm_[A-Za-z0-9]{36}\b/ },
];

/** The kind of secret the text holds (for the note that says why a file was left out), or undefined. */
export function secretIn(text: string): string | undefined {
  for (const { kind, pattern } of SECRET_SHAPES) if (pattern.test(text)) return kind;
  return undefined;
}
