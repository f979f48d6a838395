// How a passage's place is found from a document's segments and named under a reply.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { markdownSegments, placeOfRange } from '../../src/rag/documents/chunkPlaces';
import type { TextSegment } from '../../src/rag/documents/documentTypes';
import { passageLabel, placeLabel } from '../../src/shared/sourcePlace';

describe('source places', () => {
  const pages: TextSegment[] = [
    { start: 0, end: 10, position: { kind: 'page', page: 1 } },
    { start: 12, end: 30, position: { kind: 'page', page: 2 } },
    { start: 32, end: 40, position: { kind: 'page', page: 4 } },
  ];

  it('a chunk is placed where it starts, and runs to the last page it reaches', () => {
    assert.deepEqual(placeOfRange(pages, 0, 5), { page: 1 });
    assert.deepEqual(placeOfRange(pages, 5, 20), { page: 1, endPage: 2 });
    // Starting in the separator between two pages: the page after it.
    assert.deepEqual(placeOfRange(pages, 10, 35), { page: 2, endPage: 4 });
    assert.deepEqual(placeOfRange(pages, 41, 50), undefined);
    assert.deepEqual(placeOfRange([], 0, 5), undefined);
  });

  it('Markdown sections keep their offsets in the file and the heading path above them, fenced # lines excepted', () => {
    const text = 'intro\n# A\none\n```\n# not a heading\n```\n## B\ntwo\n# C\n';
    const segments = markdownSegments(text);
    assert.deepEqual(
      segments.map((s) => [text.slice(s.start, s.start + 4), s.position.kind === 'headings' ? s.position.headings : []]),
      [
        ['intr', []],
        ['# A\n', ['A']],
        ['## B', ['A', 'B']],
        ['# C\n', ['C']],
      ],
    );
    assert.deepEqual(placeOfRange(segments, text.indexOf('two'), text.length), { headings: ['A', 'B'] });
  });

  it('names a page, a section, a cell; a document by its place, a text file by its lines', () => {
    assert.equal(placeLabel({ page: 12 }), 'page 12');
    assert.equal(placeLabel({ page: 2, endPage: 3 }), 'pages 2–3');
    assert.equal(placeLabel({ cell: 0, headings: ['Analysis'] }), 'cell 1 · § Analysis');
    assert.equal(passageLabel({ source: 'manual.pdf', startLine: 40, endLine: 52, place: { page: 2 } }), 'page 2');
    assert.equal(passageLabel({ source: 'spec.docx', startLine: 1, endLine: 9, place: { headings: ['Spec', 'Authentication'] } }), '§ Spec › Authentication');
    assert.equal(passageLabel({ source: 'notes.md', startLine: 3, endLine: 10, place: { headings: ['Setup'] } }), 'lines 3–10 · § Setup');
    assert.equal(passageLabel({ source: 'a.ts', startLine: 7, endLine: 7 }), 'line 7');
  });
});
