// What the rest of Persona needs from a chat server. Plain Node: no `vscode` here.

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  /** Model id; empty or undefined = the model the server reports as loaded. */
  model?: string;
  messages: ChatMessage[];
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** Not OpenAI parameters; LM Studio and llama.cpp take them. */
  topK?: number;
  minP?: number;
  repeatPenalty?: number;
  seed?: number;
  stop?: string[];
  /** Constrains the answer to a JSON schema (OpenAI's structured output; LM Studio enforces it with a grammar). */
  responseFormat?: JsonSchemaResponseFormat;
  signal?: AbortSignal;
}

/** OpenAI's structured output request field, which LM Studio takes on `/v1/chat/completions`. */
export interface JsonSchemaResponseFormat {
  type: 'json_schema';
  json_schema: { name: string; strict: boolean; schema: Record<string, unknown> };
}

export type ChatStreamEvent =
  | { type: 'start'; model: string }
  | { type: 'delta'; text: string }
  /** Reasoning the server sends in a field of its own (`reasoning_content` or `reasoning`). */
  | { type: 'reasoning'; text: string }
  | { type: 'usage'; promptTokens: number; completionTokens: number }
  | { type: 'done'; finishReason: string | null };

export interface ModelInfo {
  id: string;
  /** From LM Studio's native `/api/v0/models` when it answers; undefined otherwise. */
  state?: 'loaded' | 'not-loaded';
  type?: string;
  /** The context length the model is loaded with (what matters for the budget), else its maximum. */
  contextLength?: number;
  /** The most the model can be loaded with. */
  maxContextLength?: number;
  /** The context it is loaded with now (LM Studio, loaded models only). */
  loadedContextLength?: number;
  quantization?: string;
  arch?: string;
  publisher?: string;
}

export interface ChatProvider {
  /** Models the server offers, with load state and context length where the server says. */
  listModels(signal?: AbortSignal): Promise<ModelInfo[]>;
  /** The model a request without an explicit model would use: the configured one, else the loaded one. */
  resolveModel(configuredModel?: string, signal?: AbortSignal): Promise<string>;
  /** Streams one completion. Throws `ProviderError` (see errors.ts) for every failure, including an empty reply. */
  streamChat(request: ChatRequest): AsyncIterable<ChatStreamEvent>;
}
