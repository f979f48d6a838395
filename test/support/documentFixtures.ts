// Documents generated for the extraction tests: PDFs with pdf-lib, Word files as the zip of XML a
// .docx is (fflate, already a dependency), HTML and notebooks as text. Nothing is checked in.
import { strToU8, zipSync } from 'fflate';
import { PDFDocument, PDFHexString, PDFName, StandardFonts, rgb } from 'pdf-lib';

/** A PDF whose page n (from 1) says "This is page n" and `extra(n)` lines. */
export async function pdfWithTextPages(pages: number, extra: (page: number) => string[] = () => []): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (let n = 1; n <= pages; n++) {
    const page = doc.addPage([595, 842]);
    const lines = [`This is page ${n}`, ...extra(n)];
    lines.forEach((line, i) => page.drawText(line, { x: 50, y: 780 - i * 18, size: 12, font }));
  }
  return doc.save();
}

/** A PDF of two pages with shapes only: what a scan looks like to a text extractor. */
export async function pdfWithoutText(): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  for (let n = 0; n < 2; n++) {
    const page = doc.addPage([595, 842]);
    page.drawRectangle({ x: 50, y: 50, width: 400, height: 600, color: rgb(0.8, 0.8, 0.8) });
  }
  return doc.save();
}

/**
 * A PDF with an /Encrypt dictionary (standard handler, RC4 40-bit) whose /U does not match the
 * empty password, so a reader must ask for one. pdf-lib cannot encrypt; its low-level objects
 * write the dictionary by hand. The page content itself is not encrypted (no reader gets there).
 */
export async function pdfNeedingPassword(): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  doc.addPage().drawText('Secret page', { x: 50, y: 700, size: 12, font });
  const hex32 = (byte: string) => PDFHexString.of(byte.repeat(32));
  const encrypt = doc.context.obj({ Filter: 'Standard', V: 1, R: 2, Length: 40, P: -4, O: hex32('4f'), U: hex32('55') });
  doc.context.trailerInfo.Encrypt = doc.context.register(encrypt);
  doc.context.trailerInfo.ID = doc.context.obj([PDFHexString.of('0123456789abcdef0123456789abcdef'), PDFHexString.of('0123456789abcdef0123456789abcdef')]);
  return doc.save({ useObjectStreams: false });
}

/** The first `fraction` of the file: what an interrupted download leaves. */
export function truncated(bytes: Uint8Array, fraction: number): Uint8Array {
  return bytes.slice(0, Math.floor(bytes.length * fraction));
}

const contentTypes = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>
</Types>`;

const packageRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
</Relationships>`;

const documentRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
</Relationships>`;

const w = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main';

const styles = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="${w}">
<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/></w:style>
<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/></w:style>
</w:styles>`;

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One Word paragraph; `style` is a styleId such as `Heading1`. */
export function docxParagraph(text: string, style?: string): string {
  const props = style ? `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>` : '';
  return `<w:p>${props}<w:r><w:t xml:space="preserve">${escapeXml(text)}</w:t></w:r></w:p>`;
}

/** A .docx whose body is the given paragraphs' XML (see `docxParagraph`). */
export function docxWithBody(bodyXml: string): Uint8Array {
  const documentXml = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="${w}"><w:body>${bodyXml}</w:body></w:document>`;
  return zipSync(
    {
      '[Content_Types].xml': strToU8(contentTypes),
      '_rels/.rels': strToU8(packageRels),
      'word/_rels/document.xml.rels': strToU8(documentRels),
      'word/styles.xml': strToU8(styles),
      'word/document.xml': strToU8(documentXml),
    },
    { level: 9 },
  );
}

/**
 * A zip bomb shaped as a .docx: `paragraphs` copies of one long paragraph, which deflate shrinks
 * about a thousandfold (a 200 MB document.xml in a zip of a few hundred KB).
 */
export function docxBomb(paragraphs: number): Uint8Array {
  const paragraph = docxParagraph('all work and no play '.repeat(500));
  return docxWithBody(paragraph.repeat(paragraphs));
}

/** An nbformat 4 notebook with the given cells (outputs on code cells, which must be left out). */
export function notebookJson(cells: { type: 'markdown' | 'code' | 'raw'; source: string }[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { language_info: { name: 'python' } },
    cells: cells.map((c) =>
      c.type === 'code'
        ? { cell_type: 'code', source: c.source.split(/(?<=\n)/), metadata: {}, execution_count: 1, outputs: [{ output_type: 'stream', name: 'stdout', text: ['OUTPUT-NOT-INDEXED\n'] }] }
        : { cell_type: c.type, source: c.source.split(/(?<=\n)/), metadata: {} },
    ),
  });
}

/**
 * A PDF whose one page's content stream is `mb` megabytes of spaces deflated (about 1 KB per MB on
 * disk): a compression bomb. The stream is deflated in 1 MB pieces, never held whole here.
 */
export async function pdfCompressionBomb(mb: number): Promise<Uint8Array> {
  const { createDeflate } = await import('node:zlib');
  const deflate = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on('data', (b: Buffer) => parts.push(b));
  const done = new Promise<void>((resolve) => deflate.on('end', () => resolve()));
  const spaces = Buffer.alloc(2 ** 20, 0x20);
  for (let i = 0; i < mb; i++) await new Promise<void>((resolve) => (deflate.write(spaces) ? resolve() : deflate.once('drain', () => resolve())));
  deflate.end();
  await done;
  const doc = await PDFDocument.create();
  const page = doc.addPage([595, 842]);
  const stream = doc.context.stream(Buffer.concat(parts), { Filter: 'FlateDecode' });
  page.node.set(PDFName.of('Contents'), doc.context.register(stream));
  return doc.save({ useObjectStreams: false });
}

/** A PDF whose page says "Nested page" and whose resources hold an array nested `depth` deep. */
export async function pdfDeeplyNested(depth: number): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const page = doc.addPage([595, 842]);
  page.drawText('Nested page', { x: 50, y: 700, size: 12, font });
  const bytes = await doc.save({ useObjectStreams: false });
  // The nesting is written into the file as text: pdf-lib would recurse as deep to write it.
  const text = Buffer.from(bytes).toString('latin1');
  const nested = `/Deep ${'['.repeat(depth)}${']'.repeat(depth)}`;
  return Uint8Array.from(Buffer.from(text.replace('/Type /Page\n', `/Type /Page\n${nested}\n`).replace(/startxref[\s\S]*$/, ''), 'latin1'));
}
