// "Whole small documents": when a passage found for a turn comes from a document whose whole text
// fits the memory budget, the document is given whole instead of in passages — better for a short
// note, a config file, a recipe, where a passage cut from the middle loses what it is about. The
// text is read from the file again and given only when its hash is the one memory indexed (a file
// changed since holds something memory never had). Plain Node: no `vscode` here.
import { readFile, stat } from 'node:fs/promises';
import { contentHash } from './chunker';
import { decodeText } from './indexingPipeline';
import { memoryPromptSection, type RetrievedPassage } from './retrieval';
import { isExtractedDocument } from '../shared/sourcePlace';

/** Larger files are never read again for this: a whole document this size would not fit a budget anyway. */
const MAX_WHOLE_BYTES = 512 * 1024;

export interface WholeDocumentsInput {
  passages: RetrievedPassage[];
  /** The content hash memory holds for each document (`kb\0source`). */
  hashOf(kb: string, source: string): string | undefined;
  /** Where a source is on this machine (undefined: it cannot be read again). */
  pathOf(source: string): string | undefined;
  tokenBudget: number;
  countTokens(text: string): number;
}

/** The passages with each document that fits given whole, best-ranked document first, within the budget. */
export async function withWholeDocuments(input: WholeDocumentsInput): Promise<RetrievedPassage[]> {
  let passages = input.passages;
  const seen = new Set<string>();
  for (const p of input.passages) {
    const key = `${p.kb}\0${p.source}`;
    if (seen.has(key)) continue;
    seen.add(key);
    // A PDF's or a Word file's bytes are not its text: its passages are what memory has of it.
    if (isExtractedDocument(p.source)) continue;
    const text = await currentText(input.hashOf(p.kb, p.source), input.pathOf(p.source));
    if (text === undefined) continue;
    const whole: RetrievedPassage = { source: p.source, kb: p.kb, startLine: 1, endLine: text.split('\n').length, score: p.score, via: p.via, text };
    const first = passages.findIndex((q) => q.kb === p.kb && q.source === p.source);
    const candidate = [...passages.slice(0, first), whole, ...passages.slice(first + 1).filter((q) => !(q.kb === p.kb && q.source === p.source))];
    if (input.countTokens(memoryPromptSection(candidate)) <= input.tokenBudget) passages = candidate;
  }
  return passages;
}

async function currentText(hash: string | undefined, file: string | undefined): Promise<string | undefined> {
  if (!hash || !file) return undefined;
  try {
    const s = await stat(file);
    if (!s.isFile() || s.size > MAX_WHOLE_BYTES) return undefined;
    const text = decodeText(await readFile(file));
    return contentHash(text) === hash ? text : undefined;
  } catch {
    // Gone or unreadable since it was indexed: the passages are what memory has.
    return undefined;
  }
}
