// Entry point of the document reader (bundled as dist/documentWorker.js; run from source under
// tsx in tests). It reads one document and sends back one ExtractOutcome. It runs either as a
// worker thread (the default: see extractDocument.ts) or as a child process.
import { parentPort, workerData } from 'node:worker_threads';
import type { DocumentKind, ExtractBudget, ExtractOutcome } from './documentTypes';
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
  process.once('message', (input: ExtractWorkerInput) => {
    void extractInThread(input.bytes, input.kind, input.budget).then((outcome) => process.send?.(outcome, () => process.exit(0)));
  });
  // The host going away ends the reader too.
  process.once('disconnect', () => process.exit(0));
}
