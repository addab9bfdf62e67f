import { parentPort, Worker, workerData } from 'node:worker_threads';
import type { Db } from '../../shared/sqlite.ts';
import { BatchWriter, type IngestItem } from './batch-writer.ts';
import { parseKeyRing } from '../badge-security/key-ring.ts';
import { openGatewayStore, type OpenedStore } from '../store/gateway-store.ts';
import type { WriterThreadData } from './writers.ts';

/**
 * The commit writer thread: its own connection to the gateway database (already migrated by the gateway),
 * a SQLite connection or a PostgreSQL pool, one transaction per message (through the storage port), the
 * result or the error sent back. Nothing is logged here: the gateway logs.
 */
const { store: location, busyTimeoutMs, applicationName, badges, maxFutureMs, checkpointEveryMs = 250 } = workerData as WriterThreadData;
const port = parentPort!;

let writer: BatchWriter;
let opened: OpenedStore;
let checkpointer: Worker | undefined;
try {
  // One transaction at a time: a pool of two (a batch's transaction, and the next one connecting meanwhile).
  opened = await openGatewayStore(location, { migrate: false, busyTimeoutMs, maxConnections: 2, ...(applicationName ? { applicationName } : {}) });
  // SQLite's WAL is this thread's chore; PostgreSQL checkpoints by itself.
  if (location.kind === 'sqlite' && opened.db) checkpointer = startCheckpointer(opened.db, location.file);
  writer = await BatchWriter.open(opened.store, {
    ...(badges?.keys ? { keys: parseKeyRing(badges.keys, 'badge keys') } : {}),
    ...(badges?.reorderToleranceMs !== undefined ? { reorderToleranceMs: badges.reorderToleranceMs } : {}),
    ...(maxFutureMs !== undefined ? { maxFutureMs } : {}),
  });
  port.postMessage({ type: 'ready' });
} catch (err) {
  port.postMessage({ type: 'failed', message: (err as Error).message });
  process.exit(1);
}

/** Writes in the order they came; `close` waits for the one running (the store queues them anyway). */
let writing: Promise<void> = Promise.resolve();

port.on('message', (msg: { type: 'write'; id: number; items: IngestItem[] } | { type: 'close' }) => {
  if (msg.type === 'close') {
    void writing.then(() => {
      checkpointer?.removeAllListeners('exit');
      checkpointer?.postMessage({ type: 'close' });
      checkpointer = undefined;
      void opened.close().finally(() => port.close());
    });
    return;
  }
  writing = writing.then(() =>
    writer.write(msg.items).then(
      (result) => port.postMessage({ id: msg.id, ok: true, result }),
      (err: unknown) => port.postMessage({ id: msg.id, ok: false, error: { message: (err as Error).message, code: (err as { code?: string }).code } }),
    ),
  );
});

/**
 * Checkpoints move to a thread of their own (wal-checkpointer.mjs): a commit here never copies the WAL into the
 * database file, which kept a group of acks waiting every few seconds. Should that thread fail, this
 * connection checkpoints inside its commits again, as SQLite does by default, so the WAL stays bounded.
 */
function startCheckpointer(connection: Db, database: string): Worker | undefined {
  if (checkpointEveryMs <= 0) return undefined;
  connection.pragma('wal_autocheckpoint = 0');
  const worker = new Worker(new URL('./wal-checkpointer.mjs', import.meta.url), { workerData: { database, everyMs: checkpointEveryMs } });
  const fallBack = () => {
    if (connection.open) connection.pragma('wal_autocheckpoint = 1000');
  };
  // The checkpointer copied the WAL up to where it was when its turn began: the frames committed since are
  // copied here, between two commits, so the next commit starts the WAL over (see wal-checkpointer.mjs).
  worker.on('message', (m: { type?: string }) => {
    if (m.type !== 'checkpointed' || !connection.open) return;
    try {
      connection.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Tried again after the next turn; a commit that cannot write reports its own error.
    }
  });
  worker.on('error', fallBack);
  worker.on('exit', fallBack);
  worker.unref();
  return worker;
}
