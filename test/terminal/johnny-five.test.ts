import { afterEach, describe, expect, it } from 'vitest';
import { boardSchema, type BoardConfig } from '../../terminal/config.ts';
import { PanelDriver } from '../../terminal/adapters/johnny-five/driver.ts';
import { TUNES } from '../../terminal/adapters/johnny-five/tunes.ts';
import { recordingBoard, type RecordingBoard } from './helpers/mock-board.ts';
import { waitFor } from './helpers/wait.ts';

/** The johnny-five panel against mock-firmata: the pin writes behind each piece of feedback. */
const config: BoardConfig = boardSchema.parse({ port: '/dev/null', reconnectSeconds: 1, buttonDebounceMs: 30 });
const LCD = { rs: 7, en: 8, data: [9, 10, 11, 12] as [number, number, number, number] };
const GREEN = 2;
const RED = 4;
const PIEZO = 3;

function boardFactory(boards: RecordingBoard[]) {
  return () => {
    const b = recordingBoard(LCD);
    boards.push(b);
    // mock-firmata never talks; play the handshake a real StandardFirmata board would.
    setImmediate(() => {
      b.io.emit('connect');
      b.io.emit('ready');
    });
    return b.io;
  };
}

describe('johnny-five panel (mock-firmata)', () => {
  let driver: PanelDriver | undefined;
  afterEach(() => driver?.stop());

  it('writes the LEDs, the LCD text and the piezo tunes to the configured pins', async () => {
    const boards: RecordingBoard[] = [];
    driver = new PanelDriver(config, boardFactory(boards));
    driver.start();
    await waitFor(() => driver!.isReady, { what: 'board ready' });
    const b = boards[0]!;
    b.writes.length = 0;

    driver.apply({ kind: 'led', state: 'green' });
    expect(b.pinLevel(GREEN)).toBe(1);
    expect(b.pinLevel(RED)).toBe(0);
    driver.apply({ kind: 'led', state: 'red' });
    expect(b.pinLevel(GREEN)).toBe(0);
    expect(b.pinLevel(RED)).toBe(1);
    driver.apply({ kind: 'led', state: 'off' });
    expect([b.pinLevel(GREEN), b.pinLevel(RED)]).toEqual([0, 0]);

    driver.apply({ kind: 'lcd', lines: ['Alice Martin', 'ENTRÉE     07:15'] });
    expect(b.lcdText().slice(-32)).toBe('Alice Martin    ENTREE     07:15');
    // Only a changed line is rewritten.
    driver.apply({ kind: 'lcd', lines: ['Alice Martin', 'SORTIE     17:00'] });
    expect(b.lcdText().slice(-32)).toBe('Alice Martin    ENTREE     07:15SORTIE     17:00'.slice(-32));
    expect(b.lcdText().length).toBe(32 * 2 + 16);

    for (const pattern of ['ok', 'refused', 'choose'] as const) {
      b.writes.length = 0;
      driver.apply({ kind: 'beep', pattern });
      const total = TUNES[pattern].reduce((s, [on, off]) => s + on + off, 0);
      await new Promise((r) => setTimeout(r, total + 100));
      const piezo = b.writes.filter((w) => w.pin === PIEZO && w.op === 'analogWrite').map((w) => w.value);
      const expected = TUNES[pattern].flatMap(() => [128, 0]);
      expect(piezo, pattern).toEqual(expected);
    }
  });

  it('reports debounced button presses from the configured pins', async () => {
    const boards: RecordingBoard[] = [];
    // A debounce window far longer than the test's bounce, so a busy machine cannot stretch the bounce past it.
    driver = new PanelDriver(boardSchema.parse({ port: '/dev/null', reconnectSeconds: 1, buttonDebounceMs: 1000 }), boardFactory(boards));
    const pressed: string[] = [];
    driver.on('button', (b) => pressed.push(b));
    driver.start();
    await waitFor(() => driver!.isReady);
    const b = boards[0]!;
    // A0..A2 are digital pins 14..16 on an Uno.
    expect(b.readPins().sort()).toEqual([14, 15, 16]);
    // With the pull-up, pressed = LOW.
    // johnny-five itself ignores level changes shorter than a few ms; hold each level a little.
    const hold = () => new Promise((r) => setTimeout(r, 12));
    const press = async (pin: number) => {
      b.input(pin, 0);
      await hold();
      b.input(pin, 1);
      await hold();
    };
    await press(14);
    await waitFor(() => pressed.length === 1);
    await press(14); // a bounce within the debounce window
    await new Promise((r) => setTimeout(r, 40));
    await press(15);
    await new Promise((r) => setTimeout(r, 40));
    await press(16);
    await waitFor(() => pressed.length >= 3);
    expect(pressed).toEqual(['IN', 'OUT', 'BREAK']);
  });

  it('keeps working without the board, and reconnects and restores the screen when it comes back', async () => {
    const boards: RecordingBoard[] = [];
    driver = new PanelDriver(config, boardFactory(boards));
    const events: string[] = [];
    driver.on('connected', () => events.push('connected'));
    driver.on('disconnected', () => events.push('disconnected'));
    driver.start();
    await waitFor(() => driver!.isReady);
    driver.apply({ kind: 'lcd', lines: ['Present badge', '07:00'] });
    boards[0]!.io.emit('disconnect'); // USB cable pulled
    expect(driver.isReady).toBe(false);
    // Outputs while unplugged are accepted and remembered, never thrown.
    driver.apply({ kind: 'lcd', lines: ['Bob Peeters', 'IN         07:01'] });
    driver.apply({ kind: 'led', state: 'green' });
    driver.apply({ kind: 'beep', pattern: 'ok' });
    await waitFor(() => boards.length === 2 && driver!.isReady, { what: 'reconnect' });
    expect(events).toEqual(['connected', 'disconnected', 'connected']);
    const b2 = boards[1]!;
    expect(b2.lcdText()).toBe('Bob Peeters     IN         07:01');
    expect(b2.pinLevel(GREEN)).toBe(1);
  });

  it('survives a board whose writes throw (a wedged port): drops it and starts over', async () => {
    const boards: RecordingBoard[] = [];
    driver = new PanelDriver(config, boardFactory(boards));
    const errors: string[] = [];
    driver.on('error', (m) => errors.push(m));
    driver.start();
    await waitFor(() => driver!.isReady);
    boards[0]!.io.digitalWrite = () => {
      throw new Error('EIO: serial write failed');
    };
    expect(() => driver!.apply({ kind: 'led', state: 'red' })).not.toThrow();
    expect(errors.some((e) => e.includes('EIO'))).toBe(true);
    await waitFor(() => boards.length === 2 && driver!.isReady, { what: 'fresh board' });
    expect(boards[1]!.pinLevel(RED)).toBe(1);
  });
});

describe('johnny-five panel in its worker thread', () => {
  it('shows feedback, reports buttons, and restarts a hung worker without holding up the main thread', async () => {
    const { JohnnyFivePanel } = await import('../../terminal/adapters/johnny-five-panel.ts');
    const { createLogger } = await import('../../shared/logging.ts');
    const panel = new JohnnyFivePanel(boardSchema.parse({ port: '/dev/null', heartbeatTimeoutMs: 1000, reconnectSeconds: 1 }), createLogger('j5-test', { level: 'silent' }), {
      ioModule: new URL('./helpers/mock-io-module.ts', import.meta.url).href,
      heartbeatMs: 100,
    });
    type Report = { id: number; lcd: string; levels: Record<string, number>; piezo: number[] };
    let report: Report | undefined;
    panel.on('io-message', (m: Report & { type: string }) => {
      if (m.type === 'mock-board') report = m;
    });
    const errors: string[] = [];
    panel.on('error', (e: Error) => errors.push(e.message));
    const buttons: string[] = [];
    panel.on('button', (b: string) => buttons.push(b));
    await panel.start();
    try {
      await waitFor(() => panel.connected, { what: 'board in worker' });
      panel.show('Carol Dubois', 'OUT        16:30');
      panel.setLed('green');
      panel.beep('ok');
      await waitFor(() => report?.lcd.endsWith('Carol Dubois    OUT        16:30') && report.levels[GREEN] === 1 && report.piezo.join() === '128,0', { what: 'outputs in the worker' });

      panel.sendToIo({ type: 'mock-input', pin: 15, value: 0 });
      await new Promise((r) => setTimeout(r, 15));
      panel.sendToIo({ type: 'mock-input', pin: 15, value: 1 });
      await waitFor(() => buttons.length === 1);
      expect(buttons).toEqual(['OUT']);

      // The worker's thread hangs for 3 s: the main thread keeps ticking, the watchdog replaces the worker.
      // Counted from here: on a loaded machine the watchdog may already have replaced a slow worker once.
      const restartsBefore = panel.restarts;
      panel.sendToIo({ type: 'mock-hang', ms: 3000 });
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 10);
      await waitFor(() => panel.restarts === restartsBefore + 1, { what: 'worker restart' });
      clearInterval(ticker);
      expect(ticks).toBeGreaterThan(20);
      const firstBoard = report!.id;
      report = undefined;
      await waitFor(() => panel.connected && report?.lcd.endsWith('Carol Dubois    OUT        16:30'), { what: 'screen restored' });
      expect(report!.id).toBe(firstBoard); // a fresh worker numbers its boards from 1 again
      expect(report!.levels[GREEN]).toBe(1);
    } finally {
      await panel.stop();
    }
  });
});

describe('johnny-five panel with an I2C LCD backpack', () => {
  it('writes the LCD through I2C to the PCF8574 address', async () => {
    const i2cConfig = boardSchema.parse({ port: '/dev/null', pins: { lcd: { kind: 'i2c', controller: 'PCF8574', address: 0x27 } } });
    const boards: RecordingBoard[] = [];
    const i2cWrites: Array<{ address: number; bytes: number[] }> = [];
    const d = new PanelDriver(i2cConfig, () => {
      const io = boardFactory(boards)();
      const b = boards[boards.length - 1]!;
      b.io.i2cWrite = (address: number, ...rest: unknown[]) => {
        const bytes = rest.flat(2).filter((v): v is number => typeof v === 'number');
        i2cWrites.push({ address, bytes });
      };
      b.io.i2cWriteReg = b.io.i2cWrite;
      return io;
    });
    try {
      d.start();
      await waitFor(() => d.isReady);
      const before = i2cWrites.length;
      d.apply({ kind: 'lcd', lines: ['Hello', 'World'] });
      const after = i2cWrites.slice(before);
      expect(after.length).toBeGreaterThan(0);
      expect(new Set(after.map((w) => w.address))).toEqual(new Set([0x27]));
      // PCF8574 backpack: D4-D7 in the high nibble, RS = bit 0, EN = bit 2; a nibble latches as EN falls.
      let text = '';
      let high: number | null = null;
      let prev = 0;
      for (const byte of after.flatMap((w) => w.bytes)) {
        if (prev & 0b100 && !(byte & 0b100) && byte & 1) {
          const nibble = prev >> 4;
          if (high === null) high = nibble;
          else {
            text += String.fromCharCode((high << 4) | nibble);
            high = null;
          }
        }
        prev = byte;
      }
      expect(text).toBe('Hello'.padEnd(16) + 'World'.padEnd(16));
    } finally {
      d.stop();
    }
  });
});
