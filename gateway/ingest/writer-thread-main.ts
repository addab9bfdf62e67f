import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../../shared/sqlite.ts';
import { BatchWriter, type IngestItem } from './batch-writer.ts';
import { parseKeyRing } from '../badge-security/key-ring.ts';
import type { WriterThreadData } from './writers.ts';

/**
 * The commit writer thread: its own connection to the gateway database (already migrated by the gateway),
 * one transaction per message, the result or the error sent back. Nothing is logged here: the gateway logs.
 */
const { database, busyTimeoutMs, badges, maxFutureMs } = workerData as WriterThreadData;
const port = parentPort!;

let writer: BatchWriter;
let db: ReturnType<typeof openDatabase>;
try {
  db = openDatabase(database, { busyTimeoutMs });
  writer = new BatchWriter(db, {
    ...(badges?.keys ? { keys: parseKeyRing(badges.keys, 'badge keys') } : {}),
    ...(badges?.reorderToleranceMs !== undefined ? { reorderToleranceMs: badges.reorderToleranceMs } : {}),
    ...(maxFutureMs !== undefined ? { maxFutureMs } : {}),
  });
  port.postMessage({ type: 'ready' });
} catch (err) {
  port.postMessage({ type: 'failed', message: (err as Error).message });
  process.exit(1);
}

port.on('message', (msg: { type: 'write'; id: number; items: IngestItem[] } | { type: 'close' }) => {
  if (msg.type === 'close') {
    db.close();
    port.close();
    return;
  }
  try {
    port.postMessage({ id: msg.id, ok: true, result: writer.write(msg.items) });
  } catch (err) {
    port.postMessage({ id: msg.id, ok: false, error: { message: (err as Error).message, code: (err as { code?: string }).code } });
  }
});
