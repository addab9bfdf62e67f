import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../shared/logging.ts';
import type { BoardConfig } from '../config.ts';
import type { BeepPattern, LedState, Panel } from '../core/ports.ts';
import type { PanelCommand } from './johnny-five/driver.ts';
import { SerialHost } from './johnny-five/serial-host.ts';
import type { SerialRequest } from './johnny-five/serial-messages.ts';
import type { MainToWorker, PanelWorkerData, WorkerToMain } from './johnny-five/worker.ts';

/**
 * The Arduino panel (StandardFirmata + johnny-five), run in a worker thread. Outputs are posted and
 * return at once; the worker reports buttons, board (dis)connection, and a heartbeat. A worker that stops
 * answering (a hung driver) is terminated and started again, with the current screen and LEDs replayed,
 * while taps go on with degraded feedback. The serial port itself is opened here, in the main thread, and
 * its bytes are passed to and from the worker (serialport cannot run in a worker thread: see
 * johnny-five/serial-messages.ts).
 */
export interface JohnnyFivePanelOptions {
  /** Module exporting `createIo(config)` for another IO plugin (tests use mock-firmata). */
  ioModule?: string;
  heartbeatMs?: number;
}

export class JohnnyFivePanel extends EventEmitter implements Panel {
  private worker: Worker | null = null;
  private lines: [string, string] = ['', ''];
  private led: LedState = 'off';
  private lastAlive = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private stopped = true;
  private boardConnected = false;
  private readonly serial = new SerialHost((event) => {
    if (this.worker) this.post(this.worker, event);
  });
  /** How many times the worker was restarted after hanging or dying. */
  restarts = 0;

  constructor(private readonly config: BoardConfig, private readonly logger: Logger, private readonly options: JohnnyFivePanelOptions = {}) {
    super();
  }

  get connected(): boolean {
    return this.boardConnected;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.spawn();
    const heartbeatMs = this.options.heartbeatMs ?? 500;
    this.watchdog = setInterval(() => {
      if (this.worker && Date.now() - this.lastAlive > this.config.heartbeatTimeoutMs) {
        this.logger.error({ silentMs: Date.now() - this.lastAlive }, 'panel worker stopped answering; restarting it');
        this.restart('panel worker not responding');
      }
    }, heartbeatMs);
    this.watchdog.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    const worker = this.worker;
    this.worker = null;
    if (worker) {
      this.post(worker, { type: 'stop' });
      await Promise.race([new Promise((r) => worker.once('exit', r)), new Promise((r) => setTimeout(r, 1000))]);
      await worker.terminate();
    }
    this.serial.closeAll();
  }

  show(line1: string, line2: string): void {
    this.lines = [line1, line2];
    this.command({ kind: 'lcd', lines: [line1, line2] });
  }

  setLed(state: LedState): void {
    this.led = state;
    this.command({ kind: 'led', state });
  }

  beep(pattern: BeepPattern): void {
    this.command({ kind: 'beep', pattern });
  }

  /** Passes a message to the IO plugin module in the worker (diagnostics, test mocks). */
  sendToIo(message: Record<string, unknown>): void {
    if (this.worker) this.worker.postMessage(message);
  }

  private command(cmd: PanelCommand): void {
    if (this.worker) this.post(this.worker, { type: 'cmd', cmd });
  }

  private post(worker: Worker, message: MainToWorker): void {
    try {
      worker.postMessage(message);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'panel worker unreachable');
    }
  }

  private spawn(): void {
    const data: PanelWorkerData = { config: this.config, ioModule: this.options.ioModule, heartbeatMs: this.options.heartbeatMs ?? 500 };
    // The worker is TypeScript too: its plain-JS entry registers the tsx loader in that thread first.
    const worker = new Worker(new URL('./johnny-five/worker-entry.mjs', import.meta.url), { workerData: data });
    this.worker = worker;
    this.lastAlive = Date.now();
    worker.on('message', (m: WorkerToMain) => {
      if (this.worker === worker) this.onMessage(m);
    });
    worker.on('error', (err) => {
      this.emit('error', new Error(`panel worker failed: ${err.message}`));
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.serial.closeAll();
      this.setBoardConnected(false, `panel worker exited (${code})`);
      if (!this.stopped) setTimeout(() => this.restart('panel worker exited'), this.config.reconnectSeconds * 1000).unref();
    });
    // Replay what the panel should be showing now.
    this.post(worker, { type: 'cmd', cmd: { kind: 'led', state: this.led } });
    this.post(worker, { type: 'cmd', cmd: { kind: 'lcd', lines: this.lines } });
  }

  private restart(reason: string): void {
    if (this.stopped) return;
    const old = this.worker;
    this.worker = null;
    this.restarts += 1;
    this.setBoardConnected(false, reason);
    if (old) void old.terminate();
    // The old worker's port goes with it; the new worker opens its own.
    this.serial.closeAll();
    this.spawn();
  }

  private onMessage(m: WorkerToMain): void {
    this.lastAlive = Date.now();
    switch (m.type) {
      case 'button':
        this.emit('button', m.button);
        break;
      case 'connected':
        this.setBoardConnected(true);
        break;
      case 'disconnected':
        this.setBoardConnected(false, m.reason);
        break;
      case 'error':
        this.emit('error', new Error(m.message));
        break;
      case 'serial-open':
      case 'serial-write':
      case 'serial-close':
        this.serial.handle(m as SerialRequest);
        break;
      default:
        // Anything else comes from the IO plugin module (diagnostics, test mocks).
        this.emit('io-message', m);
        break;
    }
  }

  private setBoardConnected(connected: boolean, reason = ''): void {
    if (this.boardConnected === connected) return;
    this.boardConnected = connected;
    if (connected) this.emit('connected');
    else this.emit('disconnected', reason);
  }
}
