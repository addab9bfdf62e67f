import { Emitter } from '../core/emitter.ts';
import type { TapSun } from '../../shared/mqtt/payloads.ts';
import type { BadgeReader, BadgeReaderEvents } from '../core/ports.ts';

/**
 * A reader driven by code: `present(uid)` is a badge held to the reader. Used by the simulator, the
 * benchmarks and the tests, with exactly the same core as the NFC reader.
 */
export class SimulatedReader extends Emitter<BadgeReaderEvents> implements BadgeReader {
  private attachedNow = false;

  constructor(readonly readerName = 'Simulated reader') {
    super();
  }

  get attached(): boolean {
    return this.attachedNow;
  }

  async start(): Promise<void> {
    this.attach();
  }

  async stop(): Promise<void> {
    this.detach();
  }

  /** A badge held to the reader (with its SUN message, for an NTAG 424 DNA). Emits synchronously, so callers can time the whole tap path. */
  present(uid: string, sun?: TapSun): void {
    if (!this.attachedNow) throw new Error('the simulated reader is detached: attach() it first');
    this.emit('badge', sun ? { uid: uid.toUpperCase(), readerName: this.readerName, sun } : { uid: uid.toUpperCase(), readerName: this.readerName });
  }

  /** A badge taken away before it was read in full. */
  pullAway(reason = 'the card was taken away before it could be read'): void {
    this.emit('misread', { readerName: this.readerName, reason });
  }

  attach(): void {
    if (this.attachedNow) return;
    this.attachedNow = true;
    this.emit('attached', this.readerName);
  }

  detach(): void {
    if (!this.attachedNow) return;
    this.attachedNow = false;
    this.emit('detached', this.readerName);
  }

  /** Reports a reader failure, as a real adapter would. */
  fail(message: string): void {
    this.emit('error', new Error(message));
  }
}
