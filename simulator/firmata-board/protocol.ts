/**
 * The Firmata 2.x wire protocol, as StandardFirmata speaks it over the Arduino's USB serial line: MIDI-style
 * messages (a command byte with the high bit set, then 7-bit data bytes) and sysex frames
 * (START_SYSEX, an id, 7-bit data, END_SYSEX). https://github.com/firmata/protocol
 */
export const DIGITAL_MESSAGE = 0x90;
const ANALOG_MESSAGE = 0xe0;
const REPORT_ANALOG = 0xc0;
const REPORT_DIGITAL = 0xd0;
const SET_PIN_MODE = 0xf4;
const SET_DIGITAL_PIN_VALUE = 0xf5;
export const REPORT_VERSION = 0xf9;
const SYSTEM_RESET = 0xff;
const START_SYSEX = 0xf0;
const END_SYSEX = 0xf7;

export const SYSEX = {
  ANALOG_MAPPING_QUERY: 0x69,
  ANALOG_MAPPING_RESPONSE: 0x6a,
  CAPABILITY_QUERY: 0x6b,
  CAPABILITY_RESPONSE: 0x6c,
  PIN_STATE_QUERY: 0x6d,
  PIN_STATE_RESPONSE: 0x6e,
  EXTENDED_ANALOG: 0x6f,
  STRING_DATA: 0x71,
  REPORT_FIRMWARE: 0x79,
  SAMPLING_INTERVAL: 0x7a,
} as const;

export const PIN_MODE = { INPUT: 0x00, OUTPUT: 0x01, ANALOG: 0x02, PWM: 0x03, SERVO: 0x04, I2C: 0x06, PULLUP: 0x0b } as const;
/** Marks the end of one pin's list in a capability response, and "not an analog pin" in the analog mapping. */
export const NONE = 0x7f;

export type HostMessage =
  | { kind: 'digital-port'; port: number; value: number }
  | { kind: 'analog-write'; pin: number; value: number }
  | { kind: 'report-analog'; channel: number; enable: boolean }
  | { kind: 'report-digital'; port: number; enable: boolean }
  | { kind: 'pin-mode'; pin: number; mode: number }
  | { kind: 'digital-pin'; pin: number; value: number }
  | { kind: 'report-version' }
  | { kind: 'system-reset' }
  | { kind: 'sysex'; id: number; data: number[] };

/** Bytes each MIDI-style command takes, the command byte included. */
function messageLength(command: number): number {
  switch (command < 0xf0 ? command & 0xf0 : command) {
    case DIGITAL_MESSAGE:
    case ANALOG_MESSAGE:
    case SET_PIN_MODE:
    case SET_DIGITAL_PIN_VALUE:
      return 3;
    case REPORT_ANALOG:
    case REPORT_DIGITAL:
      return 2;
    case REPORT_VERSION:
    case SYSTEM_RESET:
      return 1;
    default:
      return 0;
  }
}

/**
 * Cuts the host's byte stream into messages, however the serial line splits it. A data byte where a command
 * should start, or an unknown command, is skipped as a board would (it resynchronises on the next command).
 */
export class HostMessageParser {
  private buffer: number[] = [];
  private inSysex = false;

  push(bytes: Uint8Array): HostMessage[] {
    const out: HostMessage[] = [];
    for (const byte of bytes) {
      if (this.inSysex) {
        if (byte === END_SYSEX) {
          this.inSysex = false;
          const [id, ...data] = this.buffer;
          this.buffer = [];
          if (id !== undefined) out.push({ kind: 'sysex', id, data });
        } else if (byte & 0x80) {
          // A command inside a sysex frame: the frame was cut short; start over with this byte.
          this.inSysex = false;
          this.buffer = [];
          this.startCommand(byte, out);
        } else {
          this.buffer.push(byte);
        }
        continue;
      }
      if (byte & 0x80) this.startCommand(byte, out);
      else if (this.buffer.length > 0) {
        this.buffer.push(byte);
        this.complete(out);
      }
    }
    return out;
  }

  private startCommand(byte: number, out: HostMessage[]): void {
    this.buffer = [];
    if (byte === START_SYSEX) {
      this.inSysex = true;
      return;
    }
    if (messageLength(byte) === 0) return;
    this.buffer.push(byte);
    this.complete(out);
  }

  private complete(out: HostMessage[]): void {
    const command = this.buffer[0]!;
    if (this.buffer.length < messageLength(command)) return;
    const [, a = 0, b = 0] = this.buffer;
    this.buffer = [];
    const low = command & 0x0f;
    switch (command < 0xf0 ? command & 0xf0 : command) {
      case DIGITAL_MESSAGE:
        out.push({ kind: 'digital-port', port: low, value: a | (b << 7) });
        break;
      case ANALOG_MESSAGE:
        out.push({ kind: 'analog-write', pin: low, value: a | (b << 7) });
        break;
      case REPORT_ANALOG:
        out.push({ kind: 'report-analog', channel: low, enable: a !== 0 });
        break;
      case REPORT_DIGITAL:
        out.push({ kind: 'report-digital', port: low, enable: a !== 0 });
        break;
      case SET_PIN_MODE:
        out.push({ kind: 'pin-mode', pin: a, mode: b });
        break;
      case SET_DIGITAL_PIN_VALUE:
        out.push({ kind: 'digital-pin', pin: a, value: b });
        break;
      case REPORT_VERSION:
        out.push({ kind: 'report-version' });
        break;
      case SYSTEM_RESET:
        out.push({ kind: 'system-reset' });
        break;
    }
  }
}

/** A sysex frame around 7-bit data. */
export function sysex(id: number, data: number[]): number[] {
  return [START_SYSEX, id, ...data.map((b) => b & 0x7f), END_SYSEX];
}

/** A value as the 7-bit pairs (LSB first) that sysex strings use. */
export function twoSevenBitBytes(bytes: Iterable<number>): number[] {
  const out: number[] = [];
  for (const b of bytes) out.push(b & 0x7f, (b >> 7) & 0x7f);
  return out;
}
