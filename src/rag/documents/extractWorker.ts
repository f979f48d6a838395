// Entry point of the document reader (bundled as dist/documentWorker.js; run from source under
// tsx in tests). As a child process (the default: see extractDocument.ts) it reads the documents
// the host sends, one at a time, answering each with its ExtractOutcome; as a worker thread it reads
// the one document it was started with.
import { parentPort, workerData } from 'node:worker_threads';
import type { DocumentKind, ExtractBudget, ExtractOutcome } from './documentTypes';
import type { ReaderAnswer, ReaderRequest } from './extractDocument';
import { extractInThread } from './extractInThread';

export interface ExtractWorkerInput {
  bytes: Uint8Array;
  kind: DocumentKind;
  budget: ExtractBudget;
}

if (parentPort) {
  const input = workerData as ExtractWorkerInput;
  void extractInThread(input.bytes, input.kind, input.budget).then((outcome: ExtractOutcome) => parentPort?.postMessage(outcome));
} else if (process.send) {
  process.on('message', (request: ReaderRequest) => {
    void extractInThread(request.bytes, request.kind, request.budget).then((outcome) => {
      const answer: ReaderAnswer = { id: request.id, outcome };
      process.send?.(answer);
    });
  });
  // The host going away ends the reader too.
  process.once('disconnect', () => process.exit(0));
}
