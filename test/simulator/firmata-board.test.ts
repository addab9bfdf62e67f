import { describe, expect, it } from 'vitest';
import { FirmataBoard } from '../../simulator/firmata-board/board.ts';
import { Hd44780 } from '../../simulator/firmata-board/hd44780.ts';
import { HostMessageParser } from '../../simulator/firmata-board/protocol.ts';

/** The Firmata board emulator at the byte level: what StandardFirmata on an Uno would answer and do. */
const WIRING = { greenLed: 2, redLed: 4, piezo: 3, lcd: [7, 8, 9, 10, 11, 12] as [number, number, number, number, number, number] };

function boardWithWire() {
  const board = new FirmataBoard(WIRING);
  const sent: number[][] = [];
  board.on('send', (b) => sent.push([...b]));
  const host = (...bytes: number[]) => board.receive(Uint8Array.from(bytes));
  return { board, sent, host };
}

/** One digital port write, as firmata-io sends it: 0x90|port, bits 0-6, bit 7. */
const port = (n: number, value: number) => [0x90 | n, value & 0x7f, (value >> 7) & 0x7f];

describe('Firmata board emulator', () => {
  it('announces protocol 2.5 and the StandardFirmata name at power-on, byte for byte', () => {
    const { board, sent } = boardWithWire();
    board.powerOn();
    expect(sent[0]).toEqual([0xf9, 2, 5]);
    const name = [...Buffer.from('StandardFirmata.ino')].flatMap((c) => [c, 0]);
    expect(sent[1]).toEqual([0xf0, 0x79, 2, 5, ...name, 0xf7]);
  });

  it('answers the capability, analog-mapping and pin-state queries as an Uno does', () => {
    const { sent, host } = boardWithWire();
    host(0xf0, 0x6b, 0xf7);
    const caps = sent.pop()!;
    expect(caps.slice(0, 2)).toEqual([0xf0, 0x6c]);
    expect(caps.at(-1)).toBe(0xf7);
    // Split into pins at each 0x7f: D0 and D1 (serial) offer nothing; D3 has PWM; A4 (pin 18) has I2C.
    const pins: number[][] = [];
    let current: number[] = [];
    for (const b of caps.slice(2, -1)) {
      if (b === 0x7f) {
        pins.push(current);
        current = [];
      } else current.push(b);
    }
    expect(pins).toHaveLength(20);
    expect(pins[0]).toEqual([]);
    expect(pins[2]).toEqual([0x00, 1, 0x0b, 1, 0x01, 1, 0x04, 14]);
    expect(pins[3]).toEqual([0x00, 1, 0x0b, 1, 0x01, 1, 0x03, 8, 0x04, 14]);
    expect(pins[14]).toEqual([0x00, 1, 0x0b, 1, 0x01, 1, 0x02, 10, 0x04, 14]);
    expect(pins[18]).toEqual([0x00, 1, 0x0b, 1, 0x01, 1, 0x02, 10, 0x04, 14, 0x06, 1]);

    host(0xf0, 0x69, 0xf7);
    expect(sent.pop()).toEqual([0xf0, 0x6a, ...Array(14).fill(0x7f), 0, 1, 2, 3, 4, 5, 0xf7]);

    host(0xf4, 3, 0x03, 0xe3, 0x00, 0x01); // D3 to PWM, duty 128
    host(0xf0, 0x6d, 3, 0xf7);
    expect(sent.pop()).toEqual([0xf0, 0x6e, 3, 0x03, 0x00, 0x01, 0xf7]);
  });

  it('drives the LEDs from digital port writes and the piezo from PWM, ignoring pins in other modes', () => {
    const { board, host } = boardWithWire();
    host(0xf4, 2, 0x01, 0xf4, 4, 0x01, 0xf4, 3, 0x03);
    host(...port(0, 0b0000_0100));
    expect([board.greenLed, board.redLed]).toEqual([true, false]);
    host(...port(0, 0b0001_0000));
    expect([board.greenLed, board.redLed]).toEqual([false, true]);
    host(0xe3, 0x00, 0x01);
    expect(board.piezoSounding).toBe(true);
    host(0xe3, 0x00, 0x00);
    expect(board.piezoSounding).toBe(false);
    expect(board.piezoDuty.map(([d]) => d)).toEqual([128, 0]);
    // The same port write cannot switch a PWM pin: only outputs take digital levels.
    host(...port(0, 0b0000_1000));
    expect(board.piezoSounding).toBe(false);
  });

  it('reports button inputs on watched ports, with the pull-up asked for the Firmata way (1 written to an input)', () => {
    const { board, sent, host } = boardWithWire();
    host(0xf4, 14, 0x00); // A0 as a digital input, pull-up off: floating reads LOW here
    host(0xd1, 0x01); // report port 1 (pins 8-15)
    expect(sent.pop()).toEqual([0x91, 0x00, 0x00]);
    host(...port(1, 1 << 6)); // writing 1 to the input turns the pull-up on: the port now reads HIGH on pin 14
    expect(sent.pop()).toEqual([0x91, 0x40, 0x00]);
    board.setButton(14, true);
    expect(sent.pop()).toEqual([0x91, 0x00, 0x00]);
    board.setButton(14, false);
    expect(sent.pop()).toEqual([0x91, 0x40, 0x00]);
    // An unwatched port says nothing; PULLUP mode is the modern way and reads HIGH at once.
    const before = sent.length;
    host(0xf4, 16, 0x0b);
    board.setButton(16, true);
    expect(sent.length).toBe(before);
    host(0xd2, 0x01);
    expect(sent.pop()).toEqual([0x92, 0x00, 0x00]);
    board.setButton(16, false);
    expect(sent.pop()).toEqual([0x92, 0x01, 0x00]);
  });

  it('decodes an HD44780 in 4-bit mode from RS/E/DB4-DB7 pin writes, as johnny-five initialises and writes it', () => {
    const { board, host } = boardWithWire();
    for (const pin of WIRING.lcd) host(0xf4, pin, 0x01);
    // RS = D7 (port 0 bit 7), E = D8 (port 1 bit 0), DB4-DB7 = D9-D12 (port 1 bits 1-4).
    let rs = 0;
    const nibble = (n: number) => {
      host(...port(0, rs << 7));
      host(...port(1, n << 1)); // data, E low
      host(...port(1, (n << 1) | 1)); // E high
      host(...port(1, n << 1)); // E falls: latched
    };
    const byte = (b: number) => {
      nibble(b >> 4);
      nibble(b & 0x0f);
    };
    // johnny-five's command(x) sends two nibbles even before 4-bit mode: 0,3 0,3 0,3 0,2 then function set.
    for (const n of [0, 3, 0, 3, 0, 3, 0, 2]) nibble(n);
    expect(board.lcd.isFourBitMode).toBe(true);
    for (const b of [0x28, 0x0c, 0x01, 0x02]) byte(b);
    rs = 1;
    for (const c of Buffer.from('Ana P.')) byte(c);
    rs = 0;
    byte(0xc0); // line 2, column 0
    rs = 1;
    for (const c of Buffer.from('IN 07:02')) byte(c);
    expect(board.lcdLines()).toEqual(['Ana P.'.padEnd(16), 'IN 07:02'.padEnd(16)]);
  });

  it('keeps the message boundaries however the serial line splits the bytes, and skips garbage', () => {
    const parser = new HostMessageParser();
    const stream = [0x05, 0x91, 0x40, 0x00, 0xf0, 0x6d, 0x03, 0xf7, 0xf9, 0xe3, 0x00, 0x01];
    const messages = stream.flatMap((b) => parser.push(Uint8Array.of(b)));
    expect(messages).toEqual([
      { kind: 'digital-port', port: 1, value: 0x40 },
      { kind: 'sysex', id: 0x6d, data: [3] },
      { kind: 'report-version' },
      { kind: 'analog-write', pin: 3, value: 128 },
    ]);
    // A sysex cut short by a new command gives way to it.
    expect(new HostMessageParser().push(Uint8Array.of(0xf0, 0x6b, 0x91, 0x01, 0x00))).toEqual([{ kind: 'digital-port', port: 1, value: 1 }]);
  });

  it('wraps display RAM from the end of one line to the start of the other', () => {
    const lcd = new Hd44780();
    const send = (rs: 0 | 1, b: number) => {
      lcd.latch(rs, b >> 4);
      lcd.latch(rs, b & 0x0f);
    };
    lcd.latch(0, 0x2); // 8-bit mode: function set to 4-bit
    send(0, 0x0c);
    send(0, 0x80 | 0x27); // last address of line 1
    send(1, 'X'.charCodeAt(0));
    send(1, 'Y'.charCodeAt(0)); // continues at 0x40: line 2, column 0
    expect(lcd.lines()[1].startsWith('Y')).toBe(true);
    expect(lcd.lines()[0].trim()).toBe('');
  });
});
