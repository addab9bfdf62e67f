import { EventEmitter } from 'node:events';
import type { SerialEvent, SerialRequest } from './serial-messages.ts';

/**
 * The worker's side of the serial line: a transport for firmata-io (the `write`/`close`/`isOpen` and the
 * `open`/`data`/`close`/`error` events of a serialport instance) whose bytes travel to the port that the main
 * thread holds (see serial-messages.ts). Writes made in one turn of the worker's loop go in one message: an
 * LCD update is a few hundred three-byte Firmata writes made back to back.
 */
export class RemoteSerialPort extends EventEmitter {
  private static nextLink = 1;
  readonly link = RemoteSerialPort.nextLink++;
  private opened = false;
  private closed = false;
  private pending: Buffer[] = [];
  private pendingCallbacks: Array<() => void> = [];
  private flushScheduled = false;

  constructor(private readonly send: (m: SerialRequest) => void, path: string, baudRate: number) {
    super();
    send({ type: 'serial-open', link: this.link, path, baudRate });
  }

  get isOpen(): boolean {
    return this.opened && !this.closed;
  }

  /** An event from the main thread's port; events of another link are not for this one. */
  deliver(event: SerialEvent): void {
    if (event.link !== this.link || this.closed) return;
    switch (event.type) {
      case 'serial-opened':
        this.opened = true;
        this.emit('open');
        break;
      case 'serial-data':
        this.emit('data', Buffer.from(event.bytes.buffer, event.bytes.byteOffset, event.bytes.byteLength));
        break;
      case 'serial-error':
        this.emit('error', new Error(event.message));
        break;
      case 'serial-closed':
        this.closed = true;
        this.opened = false;
        // The shape serialport gives a close caused by an unplugged device.
        this.emit('close', event.disconnected ? { disconnect: true, disconnected: true } : undefined);
        break;
    }
  }

  write(bytes: Buffer, callback?: () => void): boolean {
    if (this.closed) return false;
    this.pending.push(Buffer.from(bytes));
    if (callback) this.pendingCallbacks.push(callback);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /** Closes the port, or gives up opening it. */
  close(callback?: () => void): void {
    this.flush();
    if (!this.closed) {
      this.closed = true;
      this.opened = false;
      this.send({ type: 'serial-close', link: this.link });
    }
    callback?.();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const bytes = Buffer.concat(this.pending);
    const callbacks = this.pendingCallbacks;
    this.pending = [];
    this.pendingCallbacks = [];
    if (!this.closed) this.send({ type: 'serial-write', link: this.link, bytes });
    for (const cb of callbacks) cb();
  }
}
