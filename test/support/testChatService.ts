// A ChatService as the extension builds it, for integration tests: the real OpenAI-compatible client
// (5 s timeout), the real tokenizer and error sentences, a silent log; the rest from the test.
import { ChatService, type ChatServiceDeps } from '../../src/chat/chatService';
import { describeError } from '../../src/chat/userMessages';
import { OpenAiCompatibleChatClient } from '../../src/providers/chatClient';
import { silentLogger } from '../../src/util/logger';
import { countTokens } from '../../src/util/tokenizer/countTokens';

export function testChatService(deps: Pick<ChatServiceDeps, 'store' | 'personas' | 'preferences' | 'settings'> & Partial<Pick<ChatServiceDeps, 'memory' | 'sentRecords'>>): ChatService {
  return new ChatService({
    createProvider: async (s) => new OpenAiCompatibleChatClient({ baseUrl: s.baseUrl, label: 'LM Studio', logger: silentLogger, requestTimeoutMs: 5000 }),
    countTokens,
    describeError,
    logger: silentLogger,
    ...deps,
  });
}
