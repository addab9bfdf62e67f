import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { SerialEvent, SerialRequest } from './serial-messages.ts';

/**
 * The main thread's side of the serial line (see serial-messages.ts): opens the Arduino's port with
 * serialport@13 when the panel worker asks, passes bytes both ways, and reports opens, closes (an unplugged
 * board closes with `disconnected`) and errors back. All of it is asynchronous I/O: nothing here waits.
 */
interface PortLike extends EventEmitter {
  isOpen: boolean;
  write(bytes: Buffer): boolean;
  close(cb?: (err: Error | null) => void): void;
}

const require = createRequire(import.meta.url);

function openPort(path: string, baudRate: number): PortLike {
  const { SerialPort } = require('serialport') as { SerialPort: new (o: { path: string; baudRate: number }) => PortLike };
  return new SerialPort({ path, baudRate });
}

export class SerialHost {
  private readonly ports = new Map<number, PortLike>();

  constructor(private readonly reply: (event: SerialEvent) => void) {}

  handle(request: SerialRequest): void {
    switch (request.type) {
      case 'serial-open':
        this.open(request.link, request.path, request.baudRate);
        break;
      case 'serial-write': {
        const port = this.ports.get(request.link);
        if (port?.isOpen) port.write(Buffer.from(request.bytes.buffer, request.bytes.byteOffset, request.bytes.byteLength));
        break;
      }
      case 'serial-close':
        this.close(request.link);
        break;
    }
  }

  /** Closes every port (the worker that asked for them is gone). */
  closeAll(): void {
    for (const link of [...this.ports.keys()]) this.close(link);
  }

  private open(link: number, path: string, baudRate: number): void {
    let port: PortLike;
    try {
      port = openPort(path, baudRate);
    } catch (err) {
      this.reply({ type: 'serial-error', link, message: `cannot open the panel's serial port ${path}: ${(err as Error).message.split('\n')[0]}` });
      return;
    }
    this.ports.set(link, port);
    const current = () => this.ports.get(link) === port;
    port.on('open', () => {
      // Given up by the worker while it was opening: let it go at once.
      if (!current()) port.close(() => {});
      else this.reply({ type: 'serial-opened', link });
    });
    port.on('data', (bytes: Buffer) => {
      if (current()) this.reply({ type: 'serial-data', link, bytes });
    });
    port.on('error', (err: Error) => {
      if (!current()) return;
      // A port that failed to open never closes: forget it now.
      if (!port.isOpen) this.ports.delete(link);
      this.reply({ type: 'serial-error', link, message: err.message });
    });
    port.on('close', (err?: { disconnected?: boolean } | null) => {
      if (!current()) return;
      this.ports.delete(link);
      this.reply({ type: 'serial-closed', link, disconnected: err?.disconnected === true });
    });
  }

  private close(link: number): void {
    const port = this.ports.get(link);
    if (!port) return;
    this.ports.delete(link);
    // Still opening: its 'open' handler closes it once it is open.
    if (port.isOpen) port.close(() => {});
  }
}
