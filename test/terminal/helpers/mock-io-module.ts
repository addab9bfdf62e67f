import { parentPort } from 'node:worker_threads';
import type { BoardConfig } from '../../../terminal/config.ts';
import { recordingBoard } from './mock-board.ts';

/**
 * IO plugin module for the panel worker in tests: a mock-firmata board per connection, whose pin writes
 * and decoded LCD text are posted to the main thread so the test can assert them.
 */
export function createIo(config: BoardConfig) {
  let n = 0;
  return () => {
    const lcd = config.pins.lcd;
    if (lcd.kind !== 'parallel') throw new Error('the mock IO supports the parallel LCD only');
    const [rs, en, d4, d5, d6, d7] = lcd.pins as number[];
    const board = recordingBoard({ rs: rs!, en: en!, data: [d4!, d5!, d6!, d7!] });
    const id = ++n;
    const report = () =>
      parentPort?.postMessage({ type: 'mock-board', id, lcd: board.lcdText(), levels: Object.fromEntries([config.pins.greenLed, config.pins.redLed].map((p) => [p, board.pinLevel(p as number)])), piezo: board.writes.filter((w) => w.pin === config.pins.piezo && w.op === 'analogWrite').map((w) => w.value) });
    const timer = setInterval(report, 20);
    timer.unref();
    // Tests press buttons and hang the board through messages.
    parentPort?.on('message', (m: { type?: string; pin?: number; value?: number; ms?: number }) => {
      if (m.type === 'mock-input') board.input(m.pin!, m.value!);
      if (m.type === 'mock-hang') {
        const until = Date.now() + m.ms!;
        while (Date.now() < until) {
          // A serial driver stuck in a system call.
        }
      }
    });
    setImmediate(() => {
      board.io.emit('connect');
      board.io.emit('ready');
    });
    return board.io;
  };
}
