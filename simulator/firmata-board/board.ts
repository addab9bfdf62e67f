import { EventEmitter } from 'node:events';
import { Hd44780 } from './hd44780.ts';
import {
  DIGITAL_MESSAGE,
  HostMessageParser,
  PIN_MODE,
  REPORT_VERSION,
  SYSEX,
  sysex,
  twoSevenBitBytes,
  type HostMessage,
} from './protocol.ts';
import { UNO, unoAnalogMapping, unoCapabilities } from './uno.ts';

/**
 * An Arduino Uno running StandardFirmata, with the ciao panel wired to it (two LEDs, a piezo, an HD44780
 * LCD in 4-bit mode, three buttons to ground). It takes the host's bytes and answers byte for byte as the
 * firmware does: the version and firmware name at power-on, capability, analog-mapping and pin-state
 * replies, digital port reports for inputs; digital and PWM writes drive the pins, and the panel's state
 * (LEDs, piezo, LCD text) is decoded from the pin levels.
 */
export interface PanelWiring {
  greenLed: number;
  redLed: number;
  piezo: number;
  /** RS, E, DB4, DB5, DB6, DB7 */
  lcd: [number, number, number, number, number, number];
}

export interface FirmataBoardEvents {
  /** Bytes the board sends to the host. */
  send: [bytes: Buffer];
  /** The LCD's visible text changed. */
  lcd: [lines: [string, string]];
  /** An output pin changed level or duty (the piezo sounds while its duty is above 0). */
  output: [pin: number, value: number];
  /** A message from the host this board does not know (kept for tests and diagnostics). */
  unknown: [message: HostMessage];
}

interface PinState {
  mode: number;
  /** Output level or PWM duty (outputs only). */
  value: number;
  /** The internal pull-up of an input. */
  pullup: boolean;
  /** A button to ground on this pin is held down. */
  grounded: boolean;
}

export class FirmataBoard extends EventEmitter<FirmataBoardEvents> {
  readonly lcd = new Hd44780();
  private readonly parser = new HostMessageParser();
  private readonly pins: PinState[] = Array.from({ length: UNO.totalPins }, () => ({ mode: PIN_MODE.OUTPUT, value: 0, pullup: false, grounded: false }));
  /** Ports whose inputs the host asked to hear about, with the input levels last reported. */
  private readonly reportedPorts = new Map<number, number>();
  private shownLines: [string, string];
  /** The piezo's PWM duty each time it changed: [duty, at ms]. */
  readonly piezoDuty: Array<[number, number]> = [];
  /** Every message received, by kind (how much traffic a panel makes). */
  readonly received = new Map<HostMessage['kind'], number>();

  constructor(readonly wiring: PanelWiring) {
    super();
    this.resetPins();
    this.shownLines = this.lcd.lines();
  }

  /** StandardFirmata's reset: analog-capable pins in analog mode, every other digital pin an output at LOW. */
  private resetPins(): void {
    this.pins.forEach((p, pin) => {
      p.mode = UNO.isAnalog(pin) ? PIN_MODE.ANALOG : PIN_MODE.OUTPUT;
      p.value = 0;
      p.pullup = false;
    });
    this.reportedPorts.clear();
  }

  /** Power-on: StandardFirmata announces its protocol version and firmware name unasked. */
  powerOn(): void {
    this.send([REPORT_VERSION, UNO.protocol.major, UNO.protocol.minor]);
    this.sendFirmware();
  }

  /** Bytes from the host, split anywhere. */
  receive(bytes: Uint8Array): void {
    for (const m of this.parser.push(bytes)) {
      this.received.set(m.kind, (this.received.get(m.kind) ?? 0) + 1);
      this.handle(m);
    }
  }

  get greenLed(): boolean {
    return this.pins[this.wiring.greenLed]!.value > 0;
  }

  get redLed(): boolean {
    return this.pins[this.wiring.redLed]!.value > 0;
  }

  get piezoSounding(): boolean {
    return this.pins[this.wiring.piezo]!.value > 0;
  }

  lcdLines(): [string, string] {
    return this.lcd.lines();
  }

  pinMode(pin: number): number | undefined {
    return this.pins[pin]?.mode;
  }

  /** A button wired to ground on `pin`, held down or let go. */
  setButton(pin: number, pressed: boolean): void {
    const p = this.pins[pin];
    if (!p) throw new Error(`pin ${pin}: an Uno has pins 0-${UNO.totalPins - 1}`);
    p.grounded = pressed;
    this.checkDigitalInputs();
  }

  /** What an input pin reads: LOW when grounded, HIGH through the pull-up, LOW when left floating. */
  inputLevel(pin: number): 0 | 1 {
    const p = this.pins[pin];
    if (!p || p.grounded) return 0;
    return p.pullup ? 1 : 0;
  }

  private handle(m: HostMessage): void {
    this.handleMessage(m);
    // StandardFirmata's main loop reports every watched port whose inputs changed.
    this.checkDigitalInputs();
  }

  private handleMessage(m: HostMessage): void {
    switch (m.kind) {
      case 'pin-mode': {
        const p = this.pins[m.pin];
        if (!p || !UNO.isDigital(m.pin)) return;
        p.mode = m.mode;
        // INPUT turns the pull-up off; PULLUP turns it on.
        p.pullup = m.mode === PIN_MODE.PULLUP;
        return;
      }
      case 'digital-port':
        for (let bit = 0; bit < 8; bit++) this.writeDigital(m.port * 8 + bit, (m.value >> bit) & 1);
        return;
      case 'digital-pin':
        this.writeDigital(m.pin, m.value ? 1 : 0);
        return;
      case 'analog-write':
        if (this.pins[m.pin]?.mode === PIN_MODE.PWM) this.setOutput(m.pin, m.value);
        return;
      case 'report-digital':
        if (m.enable) {
          // StandardFirmata answers a report request with the port's current input levels at once.
          this.reportPort(m.port);
        } else this.reportedPorts.delete(m.port);
        return;
      case 'report-analog':
        // No analog sensors on the panel: the buttons are read as digital inputs.
        return;
      case 'report-version':
        this.send([REPORT_VERSION, UNO.protocol.major, UNO.protocol.minor]);
        return;
      case 'system-reset':
        // The MCU's pins reset; the LCD module keeps what it shows.
        this.resetPins();
        return;
      case 'sysex':
        this.handleSysex(m.id, m.data, m);
        return;
    }
  }

  private handleSysex(id: number, data: number[], m: HostMessage): void {
    switch (id) {
      case SYSEX.REPORT_FIRMWARE:
        this.sendFirmware();
        return;
      case SYSEX.CAPABILITY_QUERY:
        this.send(sysex(SYSEX.CAPABILITY_RESPONSE, unoCapabilities()));
        return;
      case SYSEX.ANALOG_MAPPING_QUERY:
        this.send(sysex(SYSEX.ANALOG_MAPPING_RESPONSE, unoAnalogMapping()));
        return;
      case SYSEX.PIN_STATE_QUERY: {
        const pin = data[0] ?? 0;
        const p = this.pins[pin];
        if (!p) return;
        // For outputs the state is the value written; for inputs, whether the pull-up is on.
        const state = this.isInput(p) ? (p.pullup ? 1 : 0) : p.value;
        this.send(sysex(SYSEX.PIN_STATE_RESPONSE, [pin, p.mode, state & 0x7f, (state >> 7) & 0x7f]));
        return;
      }
      case SYSEX.EXTENDED_ANALOG: {
        const [pin = 0, ...value] = data;
        const v = value.reduce((acc, b, i) => acc | (b << (7 * i)), 0);
        if (this.pins[pin]?.mode === PIN_MODE.PWM) this.setOutput(pin, v);
        return;
      }
      case SYSEX.SAMPLING_INTERVAL:
        return;
      default:
        this.emit('unknown', m);
    }
  }

  private setOutput(pin: number, value: number): void {
    const p = this.pins[pin]!;
    const before = p.value;
    p.value = value;
    if (before === value) return;
    if (pin === this.wiring.piezo) this.piezoDuty.push([value, Date.now()]);
    this.emit('output', pin, value);
    const [rs, en, d4, d5, d6, d7] = this.wiring.lcd;
    if (pin === en && before > 0 && value === 0) {
      const level = (n: number) => (this.pins[n]!.value ? 1 : 0);
      this.lcd.latch(level(rs) as 0 | 1, level(d4) | (level(d5) << 1) | (level(d6) << 2) | (level(d7) << 3));
      const lines = this.lcd.lines();
      if (lines[0] !== this.shownLines[0] || lines[1] !== this.shownLines[1]) {
        this.shownLines = lines;
        this.emit('lcd', lines);
      }
    }
  }

  /**
   * A digital write from the host, as StandardFirmata's digitalWriteCallback takes it: outputs take the level;
   * a 1 written to an INPUT pin turns its pull-up on (the Firmata way to ask for one, which johnny-five uses);
   * pins in any other mode are left alone.
   */
  private writeDigital(pin: number, level: number): void {
    const p = this.pins[pin];
    if (!p || !UNO.isDigital(pin)) return;
    if (p.mode === PIN_MODE.OUTPUT) this.setOutput(pin, level);
    else if (p.mode === PIN_MODE.INPUT && level === 1) p.pullup = true;
  }

  private isInput(p: PinState): boolean {
    return p.mode === PIN_MODE.INPUT || p.mode === PIN_MODE.PULLUP;
  }

  /** The port's input levels as StandardFirmata reads them (pins not in an input mode read as 0). */
  private portInputs(port: number): number {
    let value = 0;
    for (let bit = 0; bit < 8; bit++) {
      const pin = port * 8 + bit;
      const p = this.pins[pin];
      if (p && this.isInput(p) && this.inputLevel(pin)) value |= 1 << bit;
    }
    return value;
  }

  private checkDigitalInputs(): void {
    for (const [port, last] of this.reportedPorts) if (this.portInputs(port) !== last) this.reportPort(port);
  }

  private reportPort(port: number): void {
    const value = this.portInputs(port);
    this.reportedPorts.set(port, value);
    this.send([DIGITAL_MESSAGE | port, value & 0x7f, (value >> 7) & 0x7f]);
  }

  private sendFirmware(): void {
    const { major, minor, name } = UNO.firmware;
    this.send(sysex(SYSEX.REPORT_FIRMWARE, [major, minor, ...twoSevenBitBytes(Buffer.from(name, 'ascii'))]));
  }

  private send(bytes: number[]): void {
    this.emit('send', Buffer.from(bytes));
  }
}
