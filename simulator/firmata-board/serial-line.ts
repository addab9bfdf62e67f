import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, constants, existsSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ReadStream, WriteStream } from 'node:tty';
import { FirmataBoard, type PanelWiring } from './board.ts';

/**
 * The Arduino panel on a real serial line without an Arduino: socat makes a pseudo-terminal pair, the
 * terminal opens one end (`portPath`, its `board.port`) with serialport as it would /dev/ttyACM0, and a
 * FirmataBoard answers on the other end.
 *
 * Like an Uno on USB, the board resets when the host opens the port (socat's `wait-slave` holds the line
 * until the terminal opens its end, then the board "boots" and announces its firmware), and it stays
 * plugged when the host closes the port (the pair is made again for the next open). `unplug()` takes the
 * pair away as pulling the cable does: the terminal's port closes with a disconnect and the device path
 * disappears until `plug()`.
 */
export interface SerialTestBoardOptions {
  /** Folder for the two device links (`panel` for the terminal, `board` for this side). */
  dir: string;
  wiring: PanelWiring;
  /** How long the board takes to boot after the port opens (an Uno's bootloader waits longer). */
  bootMs?: number;
}

export interface SerialTestBoardEvents {
  /** A fresh board booted on a new open of the port. */
  booted: [board: FirmataBoard];
  lcd: [lines: [string, string]];
  output: [pin: number, value: number];
  /** The host closed its end, or the line was unplugged. */
  lineClosed: [];
}

/** Why the serial test board cannot run here, or null. */
export function socatMissing(): string | null {
  const r = spawnSync('socat', ['-V'], { stdio: 'ignore' });
  return r.error ? 'socat is not installed (apt-get install socat)' : null;
}

export class SerialTestBoard extends EventEmitter<SerialTestBoardEvents> {
  readonly portPath: string;
  private readonly boardPath: string;
  private socat: ChildProcess | null = null;
  private io: { read: ReadStream; write: WriteStream; fd: number } | null = null;
  private wantPlugged = false;
  private bootTimer: NodeJS.Timeout | null = null;
  /** The board of the current power cycle (null while unplugged or before the first open). */
  board: FirmataBoard | null = null;
  /** Boards booted so far: one per open of the port by the host. */
  boots = 0;

  constructor(private readonly o: SerialTestBoardOptions) {
    super();
    this.portPath = join(o.dir, 'panel');
    this.boardPath = join(o.dir, 'board');
  }

  get plugged(): boolean {
    return this.wantPlugged;
  }

  /** Plugs the board in: the terminal's device path appears. */
  async plug(): Promise<void> {
    this.wantPlugged = true;
    if (!this.socat) await this.makeLine();
  }

  /** Pulls the cable: the line goes away with whatever was in flight. */
  async unplug(): Promise<void> {
    this.wantPlugged = false;
    await this.dropLine();
  }

  async close(): Promise<void> {
    await this.unplug();
  }

  private async makeLine(): Promise<void> {
    for (const p of [this.portPath, this.boardPath]) rmSync(p, { force: true });
    // The board's end first; the terminal's end waits (wait-slave) until the terminal opens it.
    const socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.boardPath}`, `pty,raw,echo=0,wait-slave,link=${this.portPath}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.socat = socat;
    let log = '';
    socat.stderr!.on('data', (b: Buffer) => {
      log += b.toString();
      // socat enters its transfer loop once the terminal has opened its end: the moment an Uno resets.
      if (log.includes('starting data transfer loop')) {
        log = '';
        this.boot();
      }
      if (log.length > 10_000) log = log.slice(-1000);
    });
    const exited = new Promise<void>((resolve) => socat.once('exit', () => resolve()));
    void exited.then(() => this.onLineGone(socat));
    const deadline = Date.now() + 10_000;
    while (!existsSync(this.boardPath) || !existsSync(this.portPath)) {
      if (socat.exitCode !== null || Date.now() > deadline) throw new Error(`socat did not make the serial pair: ${log.trim() || 'no output'}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const fd = openSync(this.boardPath, constants.O_RDWR | constants.O_NOCTTY);
    const read = new ReadStream(fd);
    read.setRawMode(true);
    const write = new WriteStream(fd);
    read.on('data', (b: Buffer) => this.board?.receive(b));
    // EIO when the pair goes away: the line is gone, nothing to report.
    read.on('error', () => {});
    write.on('error', () => {});
    this.io = { read, write, fd };
  }

  private boot(): void {
    if (this.bootTimer) clearTimeout(this.bootTimer);
    this.board = null;
    this.bootTimer = setTimeout(() => {
      this.bootTimer = null;
      const io = this.io;
      if (!io) return;
      const board = new FirmataBoard(this.o.wiring);
      board.on('send', (bytes) => {
        if (this.board === board && !io.write.destroyed) io.write.write(bytes);
      });
      board.on('lcd', (lines) => this.emit('lcd', lines));
      board.on('output', (pin, value) => this.emit('output', pin, value));
      this.board = board;
      this.boots += 1;
      board.powerOn();
      this.emit('booted', board);
    }, this.o.bootMs ?? 100);
  }

  private onLineGone(socat: ChildProcess): void {
    if (this.socat !== socat) return;
    this.socat = null;
    this.closeIo();
    this.emit('lineClosed');
    // The host closed the port but the cable is still in: the device is there for the next open.
    if (this.wantPlugged) void this.makeLine().catch(() => {});
  }

  private async dropLine(): Promise<void> {
    if (this.bootTimer) clearTimeout(this.bootTimer);
    this.bootTimer = null;
    this.board = null;
    const socat = this.socat;
    this.socat = null;
    this.closeIo();
    if (socat && socat.exitCode === null && socat.signalCode === null) {
      const exited = new Promise((r) => socat.once('exit', r));
      socat.kill('SIGTERM');
      await exited;
    }
    for (const p of [this.portPath, this.boardPath]) rmSync(p, { force: true });
    this.emit('lineClosed');
  }

  private closeIo(): void {
    const io = this.io;
    this.io = null;
    if (!io) return;
    io.read.destroy();
    io.write.destroy();
    try {
      closeSync(io.fd);
    } catch {
      // Already closed with the streams.
    }
  }
}
