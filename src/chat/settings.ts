// Every `persona.*` setting, declared once with its default. No `vscode` here: a unit test checks
// these keys and defaults against package.json in both directions.
export const SETTINGS = {
  'chat.provider': 'local' as 'local' | 'cloud',
  'chat.baseUrl': 'http://127.0.0.1:1234/v1',
  'chat.model': '',
  'chat.temperature': null as number | null,
  'chat.maxTokens': null as number | null,
  'chat.requestTimeoutSeconds': 120,
  'cloud.baseUrl': 'https://api.openai.com/v1',
  'cloud.model': 'gpt-4o-mini',
  'embeddings.baseUrl': 'http://127.0.0.1:5001/v1',
  'embeddings.model': 'bge-m3',
  'rag.topK': 8,
  'rag.chunkTokens': 500,
  'rag.chunkOverlap': 50,
  'rag.minScore': 0.35,
  'rag.tokenBudget': 1500,
  'rag.maxFileSizeKB': 1024,
  'rag.exclude': ['**/.env', '**/.env.*', '**/*.pem', '**/*.key', '**/id_rsa*'] as readonly string[],
  'rag.syncWithWorkspace': true as boolean,
  'user.name': 'User',
} as const;

export type SettingKey = keyof typeof SETTINGS;
