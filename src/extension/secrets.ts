// API keys live in VS Code's SecretStorage (the OS keychain), never in settings or logs.
import type * as vscode from 'vscode';

export class ApiKeyStore {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  private key(provider: string): string {
    return `persona.apiKey.${provider}`;
  }

  get(provider: string): Thenable<string | undefined> {
    return this.secrets.get(this.key(provider));
  }

  set(provider: string, value: string): Thenable<void> {
    return this.secrets.store(this.key(provider), value);
  }

  delete(provider: string): Thenable<void> {
    return this.secrets.delete(this.key(provider));
  }

  onDidChange(listener: () => void): vscode.Disposable {
    return this.secrets.onDidChange((e) => {
      if (e.key.startsWith('persona.apiKey.')) listener();
    });
  }
}
