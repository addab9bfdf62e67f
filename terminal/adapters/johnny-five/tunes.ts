import type { BeepPattern } from '../../core/ports.ts';

/**
 * Piezo tunes as rhythms: [sound ms, silence ms] steps of a PWM square wave. StandardFirmata has no tone
 * command, and toggling a pin from the host at audio rate floods the serial link, so the panel drives the
 * piezo (or an active buzzer) with PWM and tells tunes apart by rhythm.
 */
export const TUNES: Record<BeepPattern, Array<[number, number]>> = {
  ok: [[120, 0]],
  refused: [[350, 120], [350, 0]],
  choose: [[60, 60], [60, 0]],
  already: [[50, 70], [50, 70], [50, 0]],
  warning: [[600, 0]],
};

/** PWM duty for the piezo while it sounds (0-255); half duty gives the loudest square wave. */
export const PIEZO_DUTY = 128;
