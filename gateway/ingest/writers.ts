import { Worker } from 'node:worker_threads';
import type { Db } from '../../shared/sqlite.ts';
import { BatchWriter, type BatchResult, type IngestItem } from './batch-writer.ts';

/**
 * Where group commits run. `thread` (the default) gives the transaction a thread and a database connection
 * of its own, so the broker keeps reading taps and sending acks while SQLite waits for fsync; the next batch
 * is whatever arrived meanwhile. `inline` runs it on the gateway's thread (simpler, for small setups and tests).
 */
export interface CommitWriter {
  write(items: IngestItem[]): Promise<BatchResult>;
  close(): Promise<void>;
}

export class InlineWriter implements CommitWriter {
  private readonly writer: BatchWriter;
  constructor(db: Db) {
    this.writer = new BatchWriter(db);
  }
  write(items: IngestItem[]): Promise<BatchResult> {
    try {
      return Promise.resolve(this.writer.write(items));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  async close(): Promise<void> {}
}

/** An error from the writer thread, with SQLite's code (SQLITE_FULL, SQLITE_BUSY, SQLITE_IOERR...). */
export class CommitError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
    this.name = 'CommitError';
  }
}

type Reply = { id: number; ok: true; result: BatchResult } | { id: number; ok: false; error: { message: string; code?: string } };

/** Starts the thread that runs the commits (tests inject one that records the Worker, to end it as a crash would). */
export type SpawnWriterThread = (entry: URL, workerData: { database: string; busyTimeoutMs: number }) => Worker;

const defaultSpawn: SpawnWriterThread = (entry, workerData) => new Worker(entry, { workerData });

function spawnWriterThread(database: string, busyTimeoutMs: number, spawn: SpawnWriterThread): Promise<Worker> {
  const worker = spawn(new URL('./writer-thread.mjs', import.meta.url), { database, busyTimeoutMs });
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
}

export class ThreadWriter implements CommitWriter {
  private readonly waiting = new Map<number, { resolve(r: BatchResult): void; reject(e: Error): void }>();
  private nextId = 1;
  private worker: Worker | undefined;
  /** Set while a replacement thread starts after the previous one died. */
  private restarting: Promise<void> | undefined;
  private closing = false;

  private readonly spawn: SpawnWriterThread;
  private readonly onRestart?: (reason: string) => void;

  private constructor(
    private readonly database: string,
    private readonly busyTimeoutMs: number,
    o: ThreadWriterOptions,
  ) {
    this.spawn = o.spawn ?? defaultSpawn;
    this.onRestart = o.onRestart;
  }

  static async start(database: string, busyTimeoutMs: number, o: ThreadWriterOptions = {}): Promise<ThreadWriter> {
    const w = new ThreadWriter(database, busyTimeoutMs, o);
    w.attach(await spawnWriterThread(database, busyTimeoutMs, w.spawn));
    return w;
  }

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
          this.attach(await spawnWriterThread(this.database, this.busyTimeoutMs, this.spawn));
          return;
        } catch {
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    })().finally(() => (this.restarting = undefined));
  }

  async write(items: IngestItem[]): Promise<BatchResult> {
    if (this.restarting) await this.restarting;
    const worker = this.worker;
    if (!worker) throw new CommitError('the commit writer thread is not running', 'WRITER_EXITED');
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ type: 'write', id, items });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.restarting) await this.restarting;
    const worker = this.worker;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      worker.postMessage({ type: 'close' });
    });
  }
}
