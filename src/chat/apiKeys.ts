// API keys live in VS Code's SecretStorage (the OS keychain), never in settings or logs. Each key is
// kept with the origin it was saved for and handed out only for that origin: a changed base URL
// (pasted from somewhere, or set by anything else) never receives a key meant for another server.

/** What the key store needs of VS Code's SecretStorage (the OS keychain). */
export interface SecretStore {
  get(key: string): PromiseLike<string | undefined>;
  store(key: string, value: string): PromiseLike<void>;
  delete(key: string): PromiseLike<void>;
  onDidChange(listener: (e: { key: string }) => unknown): { dispose(): void };
}

/** A key as stored: the key and the origin (`https://api.openai.com`) it may be sent to. */
interface StoredKey {
  key: string;
  origin: string;
}

/** What the store answers for a base URL: the key, or the origin it is bound to when that differs. */
export type KeyFor = { key: string; boundTo?: undefined } | { key?: undefined; boundTo?: string };

/** `https://host:port` of a base URL, or undefined when it is no URL. */
export function originOf(baseUrl: string): string | undefined {
  try {
    return new URL(baseUrl).origin;
  } catch {
    return undefined;
  }
}

/** Whether a key sent to this URL travels in the clear over the network (http, not loopback). */
export function sentInTheClear(baseUrl: string): boolean {
  try {
    const url = new URL(baseUrl);
    if (url.protocol !== 'http:') return false;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    return !(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host));
  } catch {
    return false;
  }
}

export class ApiKeyStore {
  constructor(private readonly secrets: SecretStore) {}

  private key(provider: string): string {
    return `persona.apiKey.${provider}`;
  }

  /** The stored key and, when it was saved after keys were bound, its origin. */
  async record(provider: string): Promise<StoredKey | { key: string; origin?: undefined } | undefined> {
    const raw = await this.secrets.get(this.key(provider));
    if (!raw) return undefined;
    try {
      const parsed = JSON.parse(raw) as Partial<StoredKey>;
      if (typeof parsed.key === 'string' && typeof parsed.origin === 'string') return { key: parsed.key, origin: parsed.origin };
    } catch {
      // A key saved before keys were bound to an origin: the plain key.
    }
    return { key: raw };
  }

  /**
   * The key for `baseUrl`, only when it was saved for that origin. A key saved before keys were bound
   * is bound now to the origin it is first used with (the base URL of the person's own settings).
   */
  async getFor(provider: string, baseUrl: string): Promise<KeyFor> {
    const stored = await this.record(provider);
    const origin = originOf(baseUrl);
    if (!stored || !origin) return {};
    if (stored.origin === undefined) {
      await this.set(provider, stored.key, baseUrl);
      return { key: stored.key };
    }
    return stored.origin === origin ? { key: stored.key } : { boundTo: stored.origin };
  }

  set(provider: string, value: string, baseUrl: string): PromiseLike<void> {
    const origin = originOf(baseUrl);
    if (!origin) throw new Error(`"${baseUrl}" is not a URL to save a key for.`);
    return this.secrets.store(this.key(provider), JSON.stringify({ key: value, origin } satisfies StoredKey));
  }

  delete(provider: string): PromiseLike<void> {
    return this.secrets.delete(this.key(provider));
  }

  onDidChange(listener: () => void): { dispose(): void } {
    return this.secrets.onDidChange((e) => {
      if (e.key.startsWith('persona.apiKey.')) listener();
    });
  }
}
