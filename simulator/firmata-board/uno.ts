import { NONE, PIN_MODE } from './protocol.ts';

/**
 * What StandardFirmata 2.5 reports about an Arduino Uno: 20 pins, D0/D1 taken by the serial line, PWM on
 * D3, D5, D6, D9, D10, D11, A0-A5 (pins 14-19) analog-capable, I2C on A4/A5.
 */
export const UNO = {
  totalPins: 20,
  firmware: { major: 2, minor: 5, name: 'StandardFirmata.ino' },
  protocol: { major: 2, minor: 5 },
  isDigital: (pin: number) => pin >= 2 && pin <= 19,
  isAnalog: (pin: number) => pin >= 14 && pin <= 19,
  isPwm: (pin: number) => [3, 5, 6, 9, 10, 11].includes(pin),
  isI2c: (pin: number) => pin === 18 || pin === 19,
  analogChannel: (pin: number) => pin - 14,
} as const;

/** The CAPABILITY_RESPONSE body: per pin, (mode, resolution) pairs then NONE, in StandardFirmata's order. */
export function unoCapabilities(): number[] {
  const out: number[] = [];
  for (let pin = 0; pin < UNO.totalPins; pin++) {
    if (UNO.isDigital(pin)) out.push(PIN_MODE.INPUT, 1, PIN_MODE.PULLUP, 1, PIN_MODE.OUTPUT, 1);
    if (UNO.isAnalog(pin)) out.push(PIN_MODE.ANALOG, 10);
    if (UNO.isPwm(pin)) out.push(PIN_MODE.PWM, 8);
    if (UNO.isDigital(pin)) out.push(PIN_MODE.SERVO, 14);
    if (UNO.isI2c(pin)) out.push(PIN_MODE.I2C, 1);
    out.push(NONE);
  }
  return out;
}

/** The ANALOG_MAPPING_RESPONSE body: each pin's analog channel, or NONE. */
export function unoAnalogMapping(): number[] {
  return Array.from({ length: UNO.totalPins }, (_, pin) => (UNO.isAnalog(pin) ? UNO.analogChannel(pin) : NONE));
}
