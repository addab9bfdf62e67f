import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { BoardConfig, Pin } from '../../config.ts';
import type { BeepPattern, LedState, PanelButton } from '../../core/ports.ts';
import { toLcdAscii } from '../../core/messages.ts';
import { PIEZO_DUTY, TUNES } from './tunes.ts';

/**
 * Drives the Arduino panel with johnny-five over Firmata: two LEDs, a piezo, a 16x2 LCD (parallel or I2C
 * backpack) and three buttons. It runs inside the panel worker thread (johnny-five's LCD busy-waits, and a
 * hung driver must never stall the tap path). Every call into johnny-five is guarded; when the
 * board goes away, outputs are remembered and replayed on reconnect, and a new board is tried every
 * `reconnectSeconds`.
 */
export type PanelCommand =
  | { kind: 'lcd'; lines: [string, string] }
  | { kind: 'led'; state: LedState }
  | { kind: 'beep'; pattern: BeepPattern };

/** Creates the Firmata IO object for one connection attempt (a new serial port each time). */
export type IoFactory = () => unknown | Promise<unknown>;

export interface DriverEvents {
  button: [button: PanelButton];
  connected: [];
  disconnected: [reason: string];
  error: [message: string];
}

type Five = {
  Board: new (opts: Record<string, unknown>) => EventEmitter & { io: EventEmitter & Record<string, unknown>; isReady: boolean };
  Led: new (opts: Record<string, unknown>) => { on(): unknown; off(): unknown; brightness(v: number): unknown; stop(): unknown };
  LCD: new (opts: Record<string, unknown>) => { cursor(row: number, col: number): { print(text: string): unknown }; clear(): unknown; on(): unknown };
  Button: new (opts: Record<string, unknown>) => EventEmitter;
};

const require = createRequire(import.meta.url);

function loadJohnnyFive(): Five {
  try {
    return require('johnny-five') as Five;
  } catch (err) {
    throw new Error(`the johnny-five panel needs the optional dependencies johnny-five, firmata-io and serialport: install them, or use "panel": "console" (${(err as Error).message.split('\n')[0]})`);
  }
}

/** A serial port as firmata-io uses it: serialport's stream, or the worker's RemoteSerialPort. */
export type SerialTransport = EventEmitter & { isOpen: boolean; write(bytes: Buffer, cb?: () => void): unknown; close(cb?: () => void): void };

/** The default IO: StandardFirmata over a serial port, a new transport for each connection attempt. */
export function firmataIo(openTransport: () => SerialTransport): IoFactory {
  return () => {
    const { Firmata } = require('firmata-io') as { Firmata: new (port: unknown, opts?: unknown) => unknown };
    const transport = openTransport();
    // Errors reach the driver through the Firmata instance; this one only keeps an early one from being thrown.
    transport.on('error', () => {});
    return new Firmata(transport, { reportVersionTimeout: 5000 });
  };
}

interface Session {
  board: EventEmitter & { io: EventEmitter & Record<string, unknown>; isReady: boolean };
  ready: boolean;
  green?: InstanceType<Five['Led']>;
  red?: InstanceType<Five['Led']>;
  piezo?: InstanceType<Five['Led']>;
  lcd?: InstanceType<Five['LCD']>;
  buttons: EventEmitter[];
}

export class PanelDriver extends EventEmitter<DriverEvents> {
  private readonly five: Five;
  private session: Session | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private lines: [string, string] = ['', ''];
  private shownLines: [string, string] | null = null;
  private led: LedState = 'off';
  private tuneTimer: NodeJS.Timeout | null = null;
  private readonly lastPress = new Map<PanelButton, number>();

  constructor(private readonly config: BoardConfig, private readonly createIo: IoFactory, five?: Five) {
    super();
    this.five = five ?? loadJohnnyFive();
  }

  get isReady(): boolean {
    return this.session?.ready === true;
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stopTune();
    this.teardown('stopped', false);
  }

  apply(cmd: PanelCommand): void {
    if (cmd.kind === 'lcd') {
      this.lines = [toLcdAscii(cmd.lines[0]).slice(0, 16), toLcdAscii(cmd.lines[1]).slice(0, 16)];
      this.writeLcd();
    } else if (cmd.kind === 'led') {
      this.led = cmd.state;
      this.writeLeds();
    } else {
      this.playTune(cmd.pattern);
    }
  }

  private async connect(): Promise<void> {
    this.reconnectTimer = null;
    if (this.stopped || this.session) return;
    let io: unknown;
    try {
      io = await this.createIo();
    } catch (err) {
      this.emit('error', `cannot open the panel board: ${(err as Error).message}`);
      this.scheduleReconnect();
      return;
    }
    let board: Session['board'];
    try {
      board = new this.five.Board({ io, repl: false, debug: false, sigint: false, timeout: this.config.heartbeatTimeoutMs * 2 });
    } catch (err) {
      this.emit('error', `cannot start johnny-five: ${(err as Error).message}`);
      this.scheduleReconnect();
      return;
    }
    const session: Session = { board, ready: false, buttons: [] };
    this.session = session;
    board.on('ready', () => this.guard(() => this.onReady(session)));
    for (const event of ['close', 'disconnect', 'exit'] as const) {
      board.on(event, () => this.lost(session, `board ${event}`));
    }
    board.on('error', (err: Error) => this.lost(session, `board error: ${err?.message ?? err}`));
    (board.io as EventEmitter).on?.('close', () => this.lost(session, 'serial port closed'));
    (board.io as EventEmitter).on?.('disconnect', () => this.lost(session, 'serial port unplugged'));
    // A port that cannot be opened (board unplugged, device path gone) is an error event on the IO, which
    // johnny-five does not listen to: without this, it would be thrown and end the panel's thread.
    (board.io as EventEmitter).on?.('error', (err: Error) => this.lost(session, `serial port error: ${err?.message ?? err}`));
  }

  private onReady(session: Session): void {
    if (this.session !== session) return;
    const { pins, buttonDebounceMs } = this.config;
    const board = session.board;
    session.green = new this.five.Led({ pin: pins.greenLed, board });
    session.red = new this.five.Led({ pin: pins.redLed, board });
    session.piezo = new this.five.Led({ pin: pins.piezo, board });
    session.lcd =
      pins.lcd.kind === 'parallel'
        ? new this.five.LCD({ pins: pins.lcd.pins, rows: 2, cols: 16, board })
        : new this.five.LCD({ controller: pins.lcd.controller, ...(pins.lcd.address !== undefined ? { address: pins.lcd.address } : {}), rows: 2, cols: 16, board });
    const wire: Array<[PanelButton, Pin]> = [['IN', pins.buttons.in], ['OUT', pins.buttons.out], ['BREAK', pins.buttons.break]];
    for (const [name, pin] of wire) {
      // Buttons switch to ground with the internal pull-up: no resistors to solder.
      const button = new this.five.Button({ pin, isPullup: true, board });
      button.on('press', () => {
        const now = Date.now();
        const last = this.lastPress.get(name) ?? 0;
        if (now - last < buttonDebounceMs) return;
        this.lastPress.set(name, now);
        this.emit('button', name);
      });
      session.buttons.push(button);
    }
    session.ready = true;
    this.shownLines = null;
    this.writeLeds();
    this.writeLcd();
    this.emit('connected');
  }

  private lost(session: Session, reason: string): void {
    if (this.session !== session) return;
    this.teardown(reason, true);
  }

  private teardown(reason: string, reconnect: boolean): void {
    const session = this.session;
    if (!session) return;
    this.session = null;
    this.shownLines = null;
    for (const b of session.buttons) b.removeAllListeners();
    session.board.removeAllListeners();
    session.board.on('error', () => {});
    const transport = (session.board.io as { transport?: { close?: (cb?: () => void) => void } } | undefined)?.transport;
    try {
      // Closes the port, or gives up one still opening, so no attempt keeps the device.
      transport?.close?.(() => {});
    } catch {
      // The port is already gone.
    }
    this.emit('disconnected', reason);
    if (reconnect) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => void this.connect(), this.config.reconnectSeconds * 1000);
  }

  private writeLcd(): void {
    const s = this.session;
    if (!s?.ready || !s.lcd) return;
    const [a, b] = this.lines;
    const shown = this.shownLines;
    this.guard(() => {
      // Rewrite only the lines that changed, padded to 16 so no clear() (and its flicker) is needed.
      if (!shown || shown[0] !== a) s.lcd!.cursor(0, 0).print(a.padEnd(16));
      if (!shown || shown[1] !== b) s.lcd!.cursor(1, 0).print(b.padEnd(16));
      this.shownLines = [a, b];
    });
  }

  private writeLeds(): void {
    const s = this.session;
    if (!s?.ready) return;
    this.guard(() => {
      if (this.led === 'green') s.green!.on();
      else s.green!.off();
      if (this.led === 'red') s.red!.on();
      else s.red!.off();
    });
  }

  private playTune(pattern: BeepPattern): void {
    this.stopTune();
    const steps = TUNES[pattern];
    let i = 0;
    const next = () => {
      const s = this.session;
      const step = steps[i++];
      if (!step || !s?.ready) {
        this.tuneTimer = null;
        return;
      }
      const [onMs, offMs] = step;
      this.guard(() => s.piezo!.brightness(PIEZO_DUTY));
      this.tuneTimer = setTimeout(() => {
        this.guard(() => s.piezo!.off());
        this.tuneTimer = offMs > 0 ? setTimeout(next, offMs) : null;
        if (offMs === 0) next();
      }, onMs);
    };
    next();
  }

  private stopTune(): void {
    if (!this.tuneTimer) return;
    clearTimeout(this.tuneTimer);
    this.tuneTimer = null;
    const s = this.session;
    if (s?.ready) this.guard(() => s.piezo!.off());
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.emit('error', `panel output failed: ${(err as Error).message}`);
      const s = this.session;
      // A throwing board is a gone board: start over rather than keep poking it.
      if (s) this.lost(s, `output failed: ${(err as Error).message}`);
    }
  }
}
