// Text of a Word document through mammoth's HTML rendering, whose `<h1>`…`<h6>` are the document's
// Heading 1…6 paragraphs: the same HTML reader then gives the heading paths.
import mammoth from 'mammoth';
import { appendHtmlText } from './htmlText';
import type { SegmentedTextBuilder } from './segmentedText';

export async function appendDocxText(bytes: Uint8Array, out: SegmentedTextBuilder): Promise<void> {
  const result = await mammoth.convertToHtml(
    { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
    // Images are never decoded: mammoth would otherwise inline each one as base64.
    { convertImage: mammoth.images.imgElement(() => Promise.resolve({ src: '' })) },
  );
  appendHtmlText(result.value, out);
}
