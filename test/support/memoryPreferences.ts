// The Memento slice ChatService reads and writes (ChatServiceDeps.preferences), kept in a Map.
export class MemoryPreferences {
  readonly values = new Map<string, unknown>();
  get<T>(key: string): T | undefined {
    return this.values.get(key) as T | undefined;
  }
  async update(key: string, value: unknown): Promise<void> {
    if (value === undefined) this.values.delete(key);
    else this.values.set(key, value);
  }
}
