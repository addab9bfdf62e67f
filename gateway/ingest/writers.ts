import { Worker } from 'node:worker_threads';
import type { SqlStore } from '../store/sql-store.ts';
import { BatchWriter, type BatchResult, type BatchWriterOptions, type IngestItem } from './batch-writer.ts';
import { keyRingToFile, type KeyFile } from '../badge-security/key-ring.ts';
import type { StoreLocation } from '../store/gateway-store.ts';

/**
 * Where group commits run. `thread` (the default) gives the transaction a thread and a database connection
 * of its own (a SQLite connection, or a PostgreSQL pool), so the broker keeps reading taps and sending acks
 * while the database waits for fsync; the next batch is whatever arrived meanwhile. `inline` runs it on the gateway's thread (simpler, for small setups and tests).
 */
export interface CommitWriter {
  write(items: IngestItem[]): Promise<BatchResult>;
  close(): Promise<void>;
  /** Resolves once the writer can write (a thread that is starting); rejects when it could not start. */
  readonly ready?: Promise<void>;
}

export class InlineWriter implements CommitWriter {
  private readonly writer: Promise<BatchWriter>;
  /** Resolves once the badge check's counters are loaded; rejects with why they could not be. */
  readonly ready: Promise<void>;

  /** `store`: the gateway's own (SQLite or PostgreSQL), shared with its other callers. */
  constructor(store: SqlStore, options: BatchWriterOptions = {}) {
    this.writer = BatchWriter.open(store, options);
    this.ready = this.writer.then(() => undefined);
    // A failure is the caller's to see through `ready` (and writes); never an unhandled rejection here.
    this.ready.catch(() => undefined);
  }

  async write(items: IngestItem[]): Promise<BatchResult> {
    return (await this.writer).write(items);
  }

  async close(): Promise<void> {}
}

/** An error from the writer thread, with SQLite's code (SQLITE_FULL, SQLITE_BUSY, SQLITE_IOERR...). */
class CommitError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
    this.name = 'CommitError';
  }
}

type Reply = { id: number; ok: true; result: BatchResult } | { id: number; ok: false; error: { message: string; code?: string } };

/** What the writer thread starts with; the badge keys travel as the key file's hex strings. */
export interface WriterThreadData {
  /** Where the gateway keeps its data (already migrated by the gateway): the thread opens its own connection. */
  store: StoreLocation;
  /** SQLite: how long a statement waits for another connection's write lock. */
  busyTimeoutMs: number;
  /** PostgreSQL: the pool's name in `pg_stat_activity`. */
  applicationName?: string;
  badges?: { keys?: KeyFile; reorderToleranceMs?: number };
  /** The allowed clock skew into the future (taps dated further ahead are held). */
  maxFutureMs?: number;
  /** How often the checkpointer thread copies the WAL into the database file (default 250 ms; 0: inside commits, SQLite's default). The WAL grows by about this long's worth of commits. */
  checkpointEveryMs?: number;
}

/** Starts the thread that runs the commits (tests inject one that records the Worker, to end it as a crash would). */
export type SpawnWriterThread = (entry: URL, workerData: WriterThreadData) => Worker;

const defaultSpawn: SpawnWriterThread = (entry, workerData) => new Worker(entry, { workerData });

function threadData(store: StoreLocation, busyTimeoutMs: number, options: BatchWriterOptions): WriterThreadData {
  const keys = options.keys && options.keys.versions.size > 0 ? keyRingToFile(options.keys) : undefined;
  return {
    store,
    busyTimeoutMs,
    badges: { ...(keys ? { keys } : {}), ...(options.reorderToleranceMs !== undefined ? { reorderToleranceMs: options.reorderToleranceMs } : {}) },
    ...(options.maxFutureMs !== undefined ? { maxFutureMs: options.maxFutureMs } : {}),
  };
}

function spawnWriterThread(data: WriterThreadData, spawn: SpawnWriterThread): Promise<Worker> {
  const worker = spawn(new URL('./writer-thread.mjs', import.meta.url), data);
  return new Promise<Worker>((resolve, reject) => {
    const onMessage = (m: { type?: string; message?: string }) => {
      if (m.type === 'ready') {
        cleanup();
        resolve(worker);
      } else if (m.type === 'failed') {
        cleanup();
        reject(new Error(`the commit writer thread could not open the database: ${m.message}`));
      }
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`the commit writer thread exited (${code}) while starting`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

export interface ThreadWriterOptions {
  /** Told when the thread died and a new one is starting. */
  onRestart?: (reason: string) => void;
  spawn?: SpawnWriterThread;
  /** The secure-badge check's keys and tolerance, and the allowed clock skew into the future. */
  badges?: BatchWriterOptions;
  /** How often the WAL is checkpointed, off the commit path (WriterThreadData.checkpointEveryMs). */
  checkpointEveryMs?: number;
  /** PostgreSQL: the pool's name in `pg_stat_activity`. */
  applicationName?: string;
}

/** A SQLite file's path, or where the gateway keeps its data. */
type WriterStore = StoreLocation | string;
const locationOf = (s: WriterStore): StoreLocation => (typeof s === 'string' ? { kind: 'sqlite', file: s } : s);

export class ThreadWriter implements CommitWriter {
  private readonly waiting = new Map<number, { resolve(r: BatchResult): void; reject(e: Error): void }>();
  private nextId = 1;
  private worker: Worker | undefined;
  /** Set while a replacement thread starts after the previous one died. */
  private restarting: Promise<void> | undefined;
  private closing = false;

  private readonly spawn: SpawnWriterThread;
  private readonly onRestart?: (reason: string) => void;
  private readonly data: WriterThreadData;

  private constructor(store: WriterStore, busyTimeoutMs: number, o: ThreadWriterOptions) {
    this.spawn = o.spawn ?? defaultSpawn;
    this.onRestart = o.onRestart;
    this.data = {
      ...threadData(locationOf(store), busyTimeoutMs, o.badges ?? {}),
      ...(o.checkpointEveryMs !== undefined ? { checkpointEveryMs: o.checkpointEveryMs } : {}),
      ...(o.applicationName ? { applicationName: o.applicationName } : {}),
    };
  }

  static async start(store: WriterStore, busyTimeoutMs: number, o: ThreadWriterOptions = {}): Promise<ThreadWriter> {
    const w = ThreadWriter.begin(store, busyTimeoutMs, o);
    await w.ready;
    return w;
  }

  /**
   * The writer at once, its thread starting meanwhile (it loads its modules and opens the database while the
   * gateway starts its other parts); `ready` says when it can write, or why it could not start. Writes made
   * before wait for it.
   */
  static begin(store: WriterStore, busyTimeoutMs: number, o: ThreadWriterOptions = {}): ThreadWriter {
    const w = new ThreadWriter(store, busyTimeoutMs, o);
    w.ready = spawnWriterThread(w.data, w.spawn).then((worker) => {
      if (w.closing) {
        // Closed while it was starting: ended at once.
        void worker.terminate();
        return;
      }
      w.attach(worker);
    });
    // A failure is the caller's to see through `ready` (and writes); never an unhandled rejection here.
    w.ready.catch(() => undefined);
    return w;
  }

  /** Resolves once the thread runs; rejects with why it could not start. */
  ready: Promise<void> = Promise.resolve();

  private attach(worker: Worker): void {
    this.worker = worker;
    worker.on('message', (msg: Reply) => {
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      if (msg.ok) w.resolve(msg.result);
      else w.reject(new CommitError(msg.error.message, msg.error.code));
    });
    worker.on('error', () => undefined); // followed by 'exit'
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      // Whatever was in that thread is not known to be committed: not acked, the terminals send again.
      for (const w of this.waiting.values()) w.reject(new CommitError(`the commit writer thread exited (${code})`, 'WRITER_EXITED'));
      this.waiting.clear();
      if (!this.closing) this.restart(`exited with code ${code}`);
    });
  }

  private restart(reason: string): void {
    this.onRestart?.(reason);
    this.restarting = (async () => {
      for (let delay = 100; !this.closing; delay = Math.min(delay * 2, 5000)) {
        try {
          this.attach(await spawnWriterThread(this.data, this.spawn));
          return;
        } catch {
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    })().finally(() => (this.restarting = undefined));
  }

  async write(items: IngestItem[]): Promise<BatchResult> {
    await this.ready;
    if (this.restarting) await this.restarting;
    const worker = this.worker;
    if (!worker) throw new CommitError('the commit writer thread is not running', 'WRITER_EXITED');
    const id = this.nextId++;
    const packed = packPayloads(items);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ type: 'write', id, items: packed.items }, packed.transfer);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.ready.catch(() => undefined);
    if (this.restarting) await this.restarting;
    const worker = this.worker;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      worker.postMessage({ type: 'close' });
    });
  }
}

/**
 * The taps' bytes of a batch in one buffer handed over to the writer thread (transferred, not copied again):
 * each item's payload becomes a view of it. A payload is otherwise a view of the broker's read buffer, which
 * posting would copy whole for every tap.
 */
function packPayloads(items: IngestItem[]): { items: IngestItem[]; transfer: ArrayBuffer[] } {
  let total = 0;
  for (const i of items) if (i.kind === 'payload' || i.kind === 'reject') total += i.payload.byteLength;
  if (total === 0) return { items, transfer: [] };
  const all = new Uint8Array(total);
  let at = 0;
  const packed = items.map((i): IngestItem => {
    if (i.kind !== 'payload' && i.kind !== 'reject') return i;
    all.set(i.payload, at);
    const view = all.subarray(at, at + i.payload.byteLength);
    at += i.payload.byteLength;
    return { ...i, payload: view };
  });
  return { items: packed, transfer: [all.buffer] };
}
