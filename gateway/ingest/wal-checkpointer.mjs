// The WAL checkpointer thread of the gateway database, started by the commit writer thread.
//
// Why: SQLite runs a checkpoint inside whichever commit makes the WAL cross 1000 pages (4 MB), several times a
// second under load, so a group of taps regularly waited for those pages to be copied into the database file
// and fsynced before its acks left. The writer thread turns that off (wal_autocheckpoint = 0) and this thread
// does the copying and the fsync on its own connection: a PASSIVE checkpoint never blocks the writer, whose
// commits go on appending to the WAL meanwhile. SQLite starts the WAL over from its beginning only once every
// frame in it is copied, which a checkpoint running beside busy commits never quite reaches: so after each
// turn this thread tells the writer, which copies the few frames committed during the turn between two of
// its commits, and its next commit starts the WAL over. The file stays bounded. Plain JavaScript, so it starts
// without the TypeScript loader.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { database, everyMs } = workerData;
const db = new Database(database);
db.pragma('busy_timeout = 5000');
// Checkpoints fsync the database file before they count as done, as every connection of the gateway does.
db.pragma('synchronous = FULL');

let timer;
function checkpoint() {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    parentPort?.postMessage({ type: 'checkpointed' });
  } catch {
    // A checkpoint that failed (the disk full, say) is tried again at the next turn; the writer's commits,
    // which report such errors, do not depend on it.
  }
  timer = setTimeout(checkpoint, everyMs);
}
timer = setTimeout(checkpoint, everyMs);

parentPort?.on('message', (m) => {
  if (m?.type !== 'close') return;
  clearTimeout(timer);
  db.close();
  parentPort?.close();
});
