/**
 * Where "now" comes from. Every component that stamps or compares times takes a Clock, so the simulator can
 * run a scripted day faster than real time with every part agreeing on the time, and tests can jump it.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * A clock that starts at a chosen instant and runs `speed` times faster than real time; it can be jumped.
 * `speed` 1 gives a clock that only differs from the system by an offset.
 */
export class VirtualClock implements Clock {
  private baseVirtual: number;
  private baseReal: number;
  private rate: number;

  constructor(start: Date, speed = 1, private readonly realNow: () => number = Date.now) {
    this.baseVirtual = start.getTime();
    this.baseReal = realNow();
    this.rate = speed;
  }

  now(): Date {
    return new Date(this.baseVirtual + (this.realNow() - this.baseReal) * this.rate);
  }

  /** Moves the clock by `ms` (negative goes back). */
  jump(ms: number): void {
    this.rebase();
    this.baseVirtual += ms;
  }

  /** Sets the clock to an instant, if it lies ahead (a clock shared by several parts never runs backwards by itself). */
  advanceTo(instant: Date): void {
    this.rebase();
    if (instant.getTime() > this.baseVirtual) this.baseVirtual = instant.getTime();
  }

  get speed(): number {
    return this.rate;
  }

  set speed(value: number) {
    this.rebase();
    this.rate = value;
  }

  private rebase(): void {
    const real = this.realNow();
    this.baseVirtual += (real - this.baseReal) * this.rate;
    this.baseReal = real;
  }
}
