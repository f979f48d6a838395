// The line under a reply: stopped or failed, the model, time to first token, tokens per second, the
// server's token counts (or a local count), and the settings the chat set for it.
import type { Message } from '../../shared/conversation';
import { settingLabel, type SettingKey } from '../../shared/sampling';

/** Time to first token, speed, tokens, the model and the chat's own settings, under a reply. */
export function ReplyStats({ message }: { message: Message }) {
  const { stats, usage } = message;
  if (!stats && !usage && !message.model) return null;
  const parts: { text: string; title?: string }[] = [];
  if (message.status === 'stopped') parts.push({ text: 'stopped' });
  if (message.status === 'error') parts.push({ text: 'failed' });
  if (message.model) parts.push({ text: message.model, title: 'Model' });
  if (stats?.firstTokenMs !== undefined) parts.push({ text: `first token ${duration(stats.firstTokenMs)}`, title: 'Time to first token' });
  if (stats?.tokensPerSecond !== undefined) parts.push({ text: `${stats.tokensPerSecond.toFixed(1)} tokens/s`, title: 'Tokens per second after the first' });
  if (usage) parts.push({ text: `${usage.promptTokens.toLocaleString('en-US')} prompt · ${usage.completionTokens.toLocaleString('en-US')} reply tokens`, title: "Tokens, as the server counted them" });
  else if (stats?.countedTokens !== undefined) parts.push({ text: `≈${stats.countedTokens.toLocaleString('en-US')} reply tokens`, title: 'Counted here: the server sent no usage' });
  if (stats && stats.firstTokenMs === undefined) parts.push({ text: `after ${duration(stats.totalMs)}` });
  for (const [key, value] of Object.entries(message.overrides ?? {})) {
    if (key === 'model') continue;
    parts.push({ text: `${settingLabel(key as SettingKey).toLowerCase()} ${Array.isArray(value) ? value.map((v) => JSON.stringify(v)).join(' ') : String(value)}`, title: "This chat's own setting" });
  }
  return (
    <div class="reply-stats" aria-label="Reply stats">
      {parts.map((p, i) => (
        <span key={i} title={p.title}>
          {p.text}
        </span>
      ))}
    </div>
  );
}

function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
