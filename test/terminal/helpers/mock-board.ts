import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';

/**
 * A mock-firmata board that records every pin write, and decodes what a parallel HD44780 LCD would show
 * from the RS/EN/D4-D7 writes (4-bit mode: two nibbles per byte, latched on the falling edge of EN).
 */
const require = createRequire(import.meta.url);
const { Firmata: MockFirmata } = require('mock-firmata') as { Firmata: new (opts?: unknown) => EventEmitter & Record<string, unknown> };

export type PinWrite = { op: 'digitalWrite' | 'analogWrite' | 'pinMode'; pin: number; value: number; at: number };

export interface RecordingBoard {
  io: EventEmitter & Record<string, unknown>;
  writes: PinWrite[];
  /** Characters written to the LCD's display RAM, in order. */
  lcdText(): string;
  pinLevel(pin: number): number | undefined;
  /** Feeds a digital input level, as the board reports it (johnny-five reads through digitalRead). */
  input(pin: number, value: number): void;
  /** Pins johnny-five asked to read. */
  readPins(): number[];
}

export function recordingBoard(lcdPins: { rs: number; en: number; data: [number, number, number, number] }): RecordingBoard {
  const io = new MockFirmata();
  const writes: PinWrite[] = [];
  const level = new Map<number, number>();
  let chars = '';
  let pendingHigh: number | null = null;
  let lastRs = -1;
  for (const op of ['digitalWrite', 'analogWrite', 'pinMode'] as const) {
    const original = (io[op] as (...a: unknown[]) => unknown).bind(io);
    io[op] = (pin: number, value: number, ...rest: unknown[]) => {
      writes.push({ op, pin, value, at: Date.now() });
      if (op !== 'pinMode') {
        const before = level.get(pin);
        level.set(pin, value);
        if (op === 'digitalWrite' && pin === lcdPins.en && before === 1 && value === 0) {
          const rs = level.get(lcdPins.rs) ?? 0;
          if (rs !== lastRs) pendingHigh = null;
          lastRs = rs;
          const nibble = lcdPins.data.reduce((n, p, i) => n | ((level.get(p) ?? 0) << i), 0);
          if (rs === 1) {
            if (pendingHigh === null) pendingHigh = nibble;
            else {
              chars += String.fromCharCode((pendingHigh << 4) | nibble);
              pendingHigh = null;
            }
          }
        }
      }
      return original(pin, value, ...rest);
    };
  }
  const readers = new Map<number, Array<(v: number) => void>>();
  const originalRead = (io.digitalRead as (...a: unknown[]) => unknown).bind(io);
  io.digitalRead = (pin: number, cb: (v: number) => void) => {
    readers.set(pin, [...(readers.get(pin) ?? []), cb]);
    return originalRead(pin, cb);
  };
  return {
    io,
    writes,
    lcdText: () => chars,
    pinLevel: (pin) => level.get(pin),
    input: (pin, value) => {
      for (const cb of readers.get(pin) ?? []) cb(value);
    },
    readPins: () => [...readers.keys()],
  };
}
