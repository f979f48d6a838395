// "What was sent" as a person reads it: a Markdown document with the request's model and sampling,
// the token count of each part against the model's context, the lorebook entries that fired, the
// memory passages with their scores and sources (as links to the files, at their lines), the facts
// remembered for the reply with theirs, the history
// kept and left out, every message exactly as sent, and the raw request as JSON at the end. Every
// text that came from a person, a card, a file or a model is inside a code fence longer than any run
// of backticks in it, so nothing in it is read as Markdown (no links, no HTML). Plain Node.
import { passageLabel } from '../shared/sourcePlace';
import type { Conversation } from '../shared/conversation';
import { NUMBER_SETTINGS } from '../shared/sampling';
import type { ResolvedRecord } from './sentRecords';

/** `linkFor` turns a passage's source into a link target (a file URI at its line), or undefined for plain text. */
export function sentReport(record: ResolvedRecord, conversation: Conversation, personaName: string, linkFor: (source: string, line: number) => string | undefined = () => undefined): string {
  const out: string[] = [];
  const reply = conversation.messages.find((m) => m.id === record.messageId);
  out.push(`# What was sent`, '');
  out.push(`${plain(personaName)} · ${plain(conversation.title)} · ${new Date(record.at).toISOString().replace('T', ' ').slice(0, 19)} UTC`, '');
  if (!reply) out.push('_This reply is no longer in the conversation._', '');
  if (record.missing > 0) out.push(`_${record.missing} message(s) sent then are no longer in the conversation; they show as a placeholder below._`, '');

  out.push('## Request', '');
  out.push(`- Model: \`${code(record.model)}\``);
  out.push(`- Server: ${record.provider === 'cloud' ? 'the cloud endpoint' : 'the local server'}, \`${code(record.baseUrl)}\``);
  for (const def of NUMBER_SETTINGS) {
    const value = record.sampling[def.key];
    if (value !== undefined) out.push(`- ${def.label}: ${value}`);
  }
  if (record.sampling.stop?.length) out.push(`- Stop sequences: ${record.sampling.stop.map((s) => `\`${code(JSON.stringify(s))}\``).join(', ')}`);
  out.push('');

  const p = record.parts;
  const total = p.system + p.lorebook + p.examples + p.memory + p.history + p.postHistory;
  out.push('## Tokens', '');
  out.push('| Part | Tokens |', '| --- | ---: |');
  const row = (name: string, n: number) => out.push(`| ${name} | ${n.toLocaleString('en-US')} |`);
  row('System prompt and persona', p.system);
  if (p.lorebook) row('Lorebook', p.lorebook);
  if (p.examples) row('Example dialogue', p.examples);
  if (p.memory) row('Memory', p.memory);
  row(`History (${record.historyKept} message${record.historyKept === 1 ? '' : 's'})`, p.history);
  if (p.postHistory) row('Post-history instructions', p.postHistory);
  row('**Prompt, counted here**', total);
  row('Room kept for the reply', record.replyTokens);
  if (reply?.usage) row("Prompt, as the server counted it", reply.usage.promptTokens);
  out.push('');
  if (record.contextLength) {
    const used = total + record.replyTokens;
    out.push(`The model's loaded context is ${record.contextLength.toLocaleString('en-US')} tokens: this request used ${Math.round((used / record.contextLength) * 100)}% of it, the reply's room included.`, '');
  }
  if (record.historyLeftOut.length > 0) {
    out.push(`**${record.historyLeftOut.length} older message(s) were left out** to fit the model's context:`, '');
    for (const id of record.historyLeftOut) {
      const m = conversation.messages.find((x) => x.id === id);
      out.push(`- ${m ? `${m.role === 'user' ? 'You' : plain(personaName)}: ${plain(preview(m.content))}` : 'a message no longer in the conversation'}`);
    }
    out.push('');
  }
  if (record.examplesLeftOut > 0) out.push(`${record.examplesLeftOut} example dialogue block(s) were left out to fit.`, '');
  if (record.memoryLeftOut) out.push('Memory was left out: the context was too small for it and this conversation.', '');

  if (record.lorebook.length > 0) {
    out.push('## Lorebook entries that fired', '');
    for (const e of record.lorebook) out.push(`- Entry #${e.index}${e.key ? ` (key \`${code(e.key)}\`)` : ' (always on)'}: ${e.tokens} tokens`);
    out.push('');
  }
  if (record.passages.length > 0) {
    out.push('## Memory passages', '');
    record.passages.forEach((m, i) => {
      out.push(`${i + 1}. ${sourceLink(m.source, linkFor(m.source, m.startLine))}, ${passageLabel(m)} · score ${m.score.toFixed(3)} · ${m.tokens} tokens${m.forgotten ? ' · **forgotten**: its text was removed from this record' : ''}`);
    });
    out.push('');
  }

  // The facts the persona remembered for this reply (their text is in the system prompt below).
  if (reply?.remembered?.length) {
    out.push('## Remembered facts', '');
    reply.remembered.forEach((r, i) => out.push(`${i + 1}. ${plain(preview(r.text))} · ${r.pinned ? 'pinned' : r.score !== undefined ? `score ${r.score.toFixed(3)}` : 'recalled'}`));
    out.push('');
  }

  out.push('## Messages, exactly as sent', '');
  record.messages.forEach((m, i) => {
    out.push(`### ${i + 1}. ${m.role}`, '', fence(m.content), '');
  });

  const raw = {
    model: record.model,
    messages: record.messages,
    ...Object.fromEntries(Object.entries(record.sampling).filter(([, v]) => v !== undefined)),
  };
  out.push('## Raw request (JSON)', '', fence(JSON.stringify(raw, null, 2), 'json'), '');
  return out.join('\n');
}

/** A fence longer than any backtick run in `text`: nothing inside can close it. */
function fence(text: string, lang = 'text'): string {
  let longest = 0;
  for (const [run] of text.matchAll(/`+/g)) longest = Math.max(longest, run.length);
  const f = '`'.repeat(Math.max(3, longest + 1));
  return `${f}${lang}\n${text}\n${f}`;
}

/** Text inside inline code: backticks and line breaks would end or break it. */
function code(text: string): string {
  return text.replace(/[`\r\n]/g, ' ');
}

/** Text in running Markdown: every character that could start markup is escaped. */
function plain(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[\\`*_{}[\]()<>#+\-.!|~&]/g, (c) => `\\${c}`);
}

function preview(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 79)}…` : flat;
}

/** A source as a link to its file at its line where there is one; plain text otherwise. */
function sourceLink(source: string, target: string | undefined): string {
  const label = plain(source);
  return target ? `[${label}](<${target.replace(/[<>\s]/g, encodeURIComponent)}>)` : label;
}
