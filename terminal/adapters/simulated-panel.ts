import { Emitter } from '../core/emitter.ts';
import type { BeepPattern, LedState, Panel, PanelButton, PanelEvents } from '../core/ports.ts';

/**
 * A panel without hardware: it remembers what it shows and emits an event for every LCD, LED and beep
 * change, so an interactive UI, a scenario or a test can watch it and press its buttons.
 * With `console: true` it also prints each change on stdout (the `console` panel of `ciao terminal`).
 */
export interface SimulatedPanelEvents extends PanelEvents {
  lcd: [lines: [string, string]];
  led: [state: LedState];
  beep: [pattern: BeepPattern];
  /** Every output change, in order: one stream for UIs that just redraw. */
  output: [change: PanelChange];
}

export type PanelChange =
  | { kind: 'lcd'; lines: [string, string]; at: number }
  | { kind: 'led'; state: LedState; at: number }
  | { kind: 'beep'; pattern: BeepPattern; at: number };

export interface SimulatedPanelOptions {
  /** Print changes to stdout. */
  console?: boolean;
  /** How many changes to keep in `history` (oldest dropped first). */
  historySize?: number;
  write?: (line: string) => void;
}

export class SimulatedPanel extends Emitter<SimulatedPanelEvents> implements Panel {
  lines: [string, string] = ['', ''];
  led: LedState = 'off';
  readonly history: PanelChange[] = [];
  private readonly historySize: number;
  private readonly write: ((line: string) => void) | null;

  constructor(options: SimulatedPanelOptions = {}) {
    super();
    this.historySize = options.historySize ?? 1000;
    this.write = options.console ? (options.write ?? ((l) => process.stdout.write(`${l}\n`))) : null;
  }

  async start(): Promise<void> {
    this.emit('connected');
  }

  async stop(): Promise<void> {}

  show(line1: string, line2: string): void {
    if (line1 === this.lines[0] && line2 === this.lines[1]) return;
    this.lines = [line1, line2];
    this.record({ kind: 'lcd', lines: [line1, line2], at: performance.now() });
    this.emit('lcd', [line1, line2]);
    this.write?.(`[lcd] |${line1.padEnd(16)}|${line2.padEnd(16)}|`);
  }

  setLed(state: LedState): void {
    if (state === this.led) return;
    this.led = state;
    this.record({ kind: 'led', state, at: performance.now() });
    this.emit('led', state);
    this.write?.(`[led] ${state}`);
  }

  beep(pattern: BeepPattern): void {
    this.record({ kind: 'beep', pattern, at: performance.now() });
    this.emit('beep', pattern);
    this.write?.(`[beep] ${pattern}`);
  }

  /** A button press, as the hardware's debounced event. */
  press(button: PanelButton): void {
    this.emit('button', button);
  }

  /** Drops the history (tests and long simulations). */
  clearHistory(): void {
    this.history.length = 0;
  }

  private record(change: PanelChange): void {
    this.history.push(change);
    if (this.history.length > this.historySize) this.history.shift();
    this.emit('output', change);
  }
}
