// Which server a chat talks to: LM Studio (`local`, the default), the cloud fallback (`cloud`), or
// one of the named OpenAI-compatible endpoints of `persona.endpoints` (a vLLM box, OpenRouter, a
// second LM Studio). `persona.chat.provider` holds `local`, `cloud` or an endpoint's name. Plain
// logic: the extension reads the settings and passes them in.
import * as z from 'zod/mini';

export const MAX_ENDPOINT_NAME = 40;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}$/;

export const EndpointSchema = z.object({
  name: z.string().check(z.regex(NAME_PATTERN)),
  baseUrl: z.string().check(z.url({ protocol: /^https?$/ })),
  /** The model to use there unless a persona or a chat names one. */
  model: z.optional(z.string().check(z.maxLength(300))),
  /** Whether it takes top_k, min_p and repeat_penalty (vLLM, llama.cpp and LM Studio do; OpenAI does not). */
  extendedSampling: z.optional(z.boolean()),
});
export type Endpoint = z.infer<typeof EndpointSchema>;

/** The key slot of an endpoint in the key store (each bound to the endpoint's origin). */
export function endpointKeyName(name: string): string {
  return `endpoint.${name.toLowerCase()}`;
}

/** The endpoints a settings value lists, each checked; the others are reported, not used. */
export function readEndpoints(raw: unknown): { endpoints: Endpoint[]; problems: string[] } {
  const endpoints: Endpoint[] = [];
  const problems: string[] = [];
  if (!Array.isArray(raw)) return { endpoints, problems: raw === undefined || raw === null ? [] : ['persona.endpoints is not a list.'] };
  const taken = new Set(['local', 'cloud']);
  raw.forEach((item, i) => {
    const parsed = EndpointSchema.safeParse(item);
    if (!parsed.success) {
      problems.push(`Endpoint ${i + 1} of persona.endpoints is left out: it needs a name (letters, digits, spaces, . _ -, up to ${MAX_ENDPOINT_NAME}) and an http(s) baseUrl.`);
      return;
    }
    const key = parsed.data.name.toLowerCase();
    if (taken.has(key)) {
      problems.push(`Endpoint "${parsed.data.name}" of persona.endpoints is left out: the name is already taken.`);
      return;
    }
    taken.add(key);
    endpoints.push({ ...parsed.data, baseUrl: parsed.data.baseUrl.trim().replace(/\/+$/, '') });
  });
  return { endpoints, problems };
}

export interface ChosenServer {
  provider: 'local' | 'cloud';
  /** Set when a named endpoint was chosen. */
  endpoint?: Endpoint;
}

/** What `persona.chat.provider` names; a name no endpoint has falls back to LM Studio, with a note. */
export function chooseServer(provider: string, endpoints: readonly Endpoint[]): ChosenServer & { problem?: string } {
  const value = provider.trim();
  if (value === '' || value === 'local') return { provider: 'local' };
  if (value === 'cloud') return { provider: 'cloud' };
  const endpoint = endpoints.find((e) => e.name.toLowerCase() === value.toLowerCase());
  if (endpoint) return { provider: 'cloud', endpoint };
  return { provider: 'local', problem: `persona.chat.provider names "${value}", which is not one of persona.endpoints: chatting through LM Studio.` };
}
