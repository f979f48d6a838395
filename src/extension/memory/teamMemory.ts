// The team memory's set-up in VS Code: its place from your user settings (config.ts), its
// credentials from VS Code's secret storage, and who this writer is. The credentials are kept with
// the storage they were saved for (endpoint and bucket) and handed out only for it: settings changed
// to point at another bucket do not receive them, as API keys are bound to their origin (apiKeys.ts).
import * as vscode from 'vscode';
import type { SecretStore } from '../../chat/apiKeys';
import type { TeamMemoryConfig } from '../../rag/memoryService';
import { memberIdFor, parseSharedUri, type SharedCredentials } from '../../rag/sharedMemory';
import { ActionError } from '../../util/actionError';
import { inertText } from '../../util/inertText';
import { teamMemorySettings } from '../config';
import { showInfo, showWarning } from '../notify';

const SECRET = 'persona.teamMemory.credentials';

interface StoredCredentials extends SharedCredentials {
  /** `endpoint|bucket` they were saved for. */
  boundTo: string;
}

function bindingOf(settings: { uri: string; endpoint: string }): string | undefined {
  try {
    return `${settings.endpoint.replace(/\/+$/, '') || 'aws'}|${parseSharedUri(settings.uri).bucket}`;
  } catch {
    return undefined;
  }
}

export class TeamMemorySetup implements vscode.Disposable {
  private cached: { binding: string; credentials: SharedCredentials | undefined } | undefined;
  private readonly subscription: { dispose(): void };

  constructor(
    private readonly secrets: SecretStore,
    /** Stable for this machine and workspace: the member's table (one writer per machine and workspace). */
    private readonly memberSeed: string,
  ) {
    this.subscription = secrets.onDidChange((e) => {
      if (e.key === SECRET) this.cached = undefined;
    });
  }

  dispose(): void {
    this.subscription.dispose();
  }

  /** The team memory as set up now, or undefined (no URI in your user settings). */
  async config(): Promise<TeamMemoryConfig | undefined> {
    const settings = teamMemorySettings();
    if (!settings) return undefined;
    const { latencyBudgetMs, ...base } = settings;
    const credentials = await this.credentialsFor(base);
    return { settings: base, ...(credentials ? { credentials } : {}), member: memberIdFor(vscode.env.machineId, this.memberSeed), latencyBudgetMs };
  }

  /** Whether a team memory is set up in your user settings. */
  configured(): boolean {
    return teamMemorySettings() !== undefined;
  }

  /** Its URI, for messages. */
  uri(): string | undefined {
    return teamMemorySettings()?.uri;
  }

  private async credentialsFor(settings: { uri: string; endpoint: string }): Promise<SharedCredentials | undefined> {
    const binding = bindingOf(settings);
    if (!binding) return undefined;
    if (this.cached?.binding === binding) return this.cached.credentials;
    let credentials: SharedCredentials | undefined;
    const raw = await this.secrets.get(SECRET);
    if (raw) {
      try {
        const stored = JSON.parse(raw) as Partial<StoredCredentials>;
        if (stored.boundTo === binding && typeof stored.accessKeyId === 'string' && typeof stored.secretAccessKey === 'string') {
          credentials = { accessKeyId: stored.accessKeyId, secretAccessKey: stored.secretAccessKey, ...(typeof stored.sessionToken === 'string' && stored.sessionToken ? { sessionToken: stored.sessionToken } : {}) };
        }
      } catch {
        // Not ours: as if none were set.
      }
    }
    this.cached = { binding, credentials };
    return credentials;
  }

  /** The command: asks for the access key id and the secret (and a session token), for the storage set up now. */
  async setCredentials(): Promise<boolean> {
    const settings = teamMemorySettings();
    if (!settings) throw new ActionError('unavailable', 'Set up the team memory first: persona.teamMemory.uri in your user settings (e.g. s3://team-bucket/persona).');
    const binding = bindingOf(settings);
    if (!binding) throw new ActionError('refused', `persona.teamMemory.uri must look like s3://bucket/folder; it is "${inertText(settings.uri)}".`);
    const where = inertText(`${settings.uri}${settings.endpoint ? ` at ${settings.endpoint}` : ''}`);
    const accessKeyId = await vscode.window.showInputBox({
      title: 'Team Memory Credentials (1/3)',
      prompt: `The access key id for ${where}. Kept in VS Code's secret storage and sent only to this storage. Leave empty to remove the credentials.`,
      ignoreFocusOut: true,
    });
    if (accessKeyId === undefined) return false;
    if (accessKeyId.trim() === '') {
      await this.secrets.delete(SECRET);
      void showInfo('The team memory credentials were removed.');
      return true;
    }
    const secretAccessKey = await vscode.window.showInputBox({ title: 'Team Memory Credentials (2/3)', prompt: `The secret access key for ${where}.`, password: true, ignoreFocusOut: true });
    if (!secretAccessKey) return false;
    const sessionToken = await vscode.window.showInputBox({ title: 'Team Memory Credentials (3/3)', prompt: 'A session token, for temporary credentials only. Leave empty otherwise.', password: true, ignoreFocusOut: true });
    if (sessionToken === undefined) return false;
    if (settings.endpoint.startsWith('http:') && !/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:|\/|$)/.test(settings.endpoint)) {
      const go = await showWarning(`The team memory's endpoint ${inertText(settings.endpoint)} is plain http: these credentials will cross the network unencrypted.`, { modal: true }, 'Save Anyway');
      if (go !== 'Save Anyway') return false;
    }
    const stored: StoredCredentials = { accessKeyId: accessKeyId.trim(), secretAccessKey: secretAccessKey.trim(), ...(sessionToken.trim() ? { sessionToken: sessionToken.trim() } : {}), boundTo: binding };
    await this.secrets.store(SECRET, JSON.stringify(stored));
    this.cached = undefined;
    void showInfo(`The team memory credentials for ${where} were saved.`);
    return true;
  }
}
