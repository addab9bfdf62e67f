/**
 * The terminal's two hardware edges. The core talks to these interfaces only; adapters (nfc-pcsc,
 * johnny-five, simulated) implement them and are the only modules that import a hardware library.
 */

import type { TapSun } from '../../shared/mqtt/payloads.ts';

/** Events a badge reader emits. */
export interface BadgeReaderEvents {
  /**
   * A badge was presented; `uid` is upper-case hex (4, 7 or 10 bytes). `sun` is the signed message an
   * NTAG 424 DNA badge answered to this read, passed on unverified (the gateway holds the keys).
   */
  badge: [event: { uid: string; readerName: string; sun?: TapSun }];
  /** A badge was there but could not be read in full (taken away too soon): the worker must tap again. */
  misread: [event: { readerName: string; reason: string }];
  /** A reader became usable (plugged in, daemon up). */
  attached: [readerName: string];
  /** The reader went away (unplugged, daemon gone). */
  detached: [readerName: string];
  /** Something failed; the reader keeps trying on its own. */
  error: [error: Error];
}

/** The listener side of an event emitter, typed by an event map (adapters may emit more events). */
export interface Listens<Events> {
  on<K extends keyof Events & string>(event: K, listener: (...args: Events[K] & unknown[]) => void): unknown;
  off<K extends keyof Events & string>(event: K, listener: (...args: Events[K] & unknown[]) => void): unknown;
}

export interface BadgeReader extends Listens<BadgeReaderEvents> {
  /** Starts listening for badges. Never blocks: a missing reader or daemon is retried in the background. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export type LedState = 'green' | 'red' | 'off';

/** Tunes the panel plays; each adapter maps them to its own buzzer or piezo. */
export const BEEP_PATTERNS = ['ok', 'refused', 'choose', 'already', 'warning'] as const;
export type BeepPattern = (typeof BEEP_PATTERNS)[number];

export const PANEL_BUTTONS = ['IN', 'OUT', 'BREAK'] as const;
export type PanelButton = (typeof PANEL_BUTTONS)[number];

export const LCD_COLUMNS = 16;

export interface PanelEvents {
  /** A debounced button press. */
  button: [button: PanelButton];
  /** The panel's hardware came up or went away; the core carries on either way. */
  connected: [];
  disconnected: [reason: string];
  error: [error: Error];
}

/**
 * The panel: a 16x2 LCD, a green and a red LED, a buzzer, and three buttons.
 * Every output call is fire-and-forget and must return at once: the tap path never waits on the panel.
 */
export interface Panel extends Listens<PanelEvents> {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Shows two lines of at most 16 characters (longer text is cut by the caller). */
  show(line1: string, line2: string): void;
  setLed(state: LedState): void;
  beep(pattern: BeepPattern): void;
}

/** Where "now" comes from: the product-wide clock (the simulator passes a VirtualClock, tests can skew it). */
export { systemClock, type Clock } from '../../shared/clock.ts';
