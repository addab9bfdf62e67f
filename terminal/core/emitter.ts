import { EventEmitter } from 'node:events';

/**
 * An event emitter whose events and their arguments are typed by a map, for adapters that implement a port
 * (`Panel`, `BadgeReader`): `on`, `once` and `off` are public, `emit` only for the adapter itself. It wraps
 * Node's EventEmitter rather than extending it, so the port's listener types and the emitter's agree.
 */
export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  private readonly events = new EventEmitter();

  on<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.events.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.events.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  protected emit<K extends keyof Events & string>(event: K, ...args: Events[K]): boolean {
    return this.events.emit(event, ...args);
  }
}
