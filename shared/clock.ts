/**
 * Where "now" comes from. Every component that stamps or compares times takes a Clock, so the simulator can
 * run a scripted day faster than real time with every part agreeing on the time, and tests can jump it.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * A virtual clock as data: at real instant `realMs` (Date.now()) it read `atMs`, and it runs `speed` times
 * faster than real time. Another thread can follow a VirtualClock from its readings (FollowedClock).
 */
export interface ClockReading {
  atMs: number;
  realMs: number;
  speed: number;
}

/**
 * A clock that starts at a chosen instant and runs `speed` times faster than real time; it can be jumped.
 * `speed` 1 gives a clock that only differs from the system by an offset.
 */
export class VirtualClock implements Clock {
  private baseVirtual: number;
  private baseReal: number;
  private rate: number;
  private readonly listeners = new Set<(reading: ClockReading) => void>();

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
    this.changed();
  }

  /** Sets the clock to an instant, if it lies ahead (a clock shared by several parts never runs backwards by itself). */
  advanceTo(instant: Date): void {
    this.rebase();
    if (instant.getTime() > this.baseVirtual) {
      this.baseVirtual = instant.getTime();
      this.changed();
    }
  }

  get speed(): number {
    return this.rate;
  }

  set speed(value: number) {
    this.rebase();
    this.rate = value;
    this.changed();
  }

  /** Where the clock stands, for another thread to follow (only meaningful on the real clock, Date.now). */
  reading(): ClockReading {
    return { atMs: this.baseVirtual, realMs: this.baseReal, speed: this.rate };
  }

  /** Told each time the clock is jumped or its speed changes; returns the way to stop being told. */
  onChange(listener: (reading: ClockReading) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether it runs on Date.now (a clock on an injected real time cannot be followed elsewhere). */
  get onRealTime(): boolean {
    return this.realNow === Date.now;
  }

  private changed(): void {
    if (this.listeners.size === 0) return;
    const r = this.reading();
    for (const l of this.listeners) l(r);
  }

  private rebase(): void {
    const real = this.realNow();
    this.baseVirtual += (real - this.baseReal) * this.rate;
    this.baseReal = real;
  }
}

/**
 * A VirtualClock of another thread, followed from its readings: the same instant on both sides, as long as
 * each jump or change of speed is passed on (VirtualClock.onChange).
 */
export class FollowedClock implements Clock {
  constructor(private current: ClockReading) {}

  now(): Date {
    return new Date(this.current.atMs + (Date.now() - this.current.realMs) * this.current.speed);
  }

  follow(reading: ClockReading): void {
    this.current = reading;
  }
}

/**
 * How a clock can be had on another thread: the system clock as it is; a VirtualClock (on real time) from its
 * readings and their changes; any other clock not at all (undefined).
 */
export function followable(clock: Clock): { reading?: () => ClockReading; onChange?: (listener: (r: ClockReading) => void) => () => void } | undefined {
  if (clock === systemClock) return {};
  if (clock instanceof VirtualClock && clock.onRealTime) return { reading: () => clock.reading(), onChange: (l) => clock.onChange(l) };
  return undefined;
}
