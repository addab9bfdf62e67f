import type { Logger } from '../../shared/logging.ts';
import type { Forwarder } from './forwarder.ts';
import type { ForwarderLease, LeaseTiming } from './lease.ts';
import type { LockHoldSummary } from './short-writes.ts';

/**
 * Runs the forwarder only while this process holds the forwarder lease. Every `renewMs` the holder renews
 * it and a standby tries to take it. On taking it, a new Forwarder starts: its first step reconciles what a
 * predecessor left in flight (reconciler.ts) before anything is sent, so a takeover sends nothing twice. On
 * losing it, the forwarder stops at once (calls already on the wire finish and their answers are kept;
 * nothing new is marked, `assertHeld` sees to it). A clean stop releases the lease for the standby.
 */
export type ForwarderRole = 'forwarding' | 'standby';

export interface LeadershipOptions {
  lease: ForwarderLease;
  timing: LeaseTiming;
  /** A new forwarder (not started), fenced by the lease; called on each takeover. */
  makeForwarder: () => Forwarder;
  logger: Logger;
  /** Told when the role or the holder seen changed (the gateway's forwarder thread reports them to /health). */
  onChange?: (role: ForwarderRole, holder: string | undefined) => void;
}

export class ForwarderLeadership {
  private forwarder: Forwarder | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private lastHolder: string | undefined;
  private takeovers = 0;

  constructor(private readonly o: LeadershipOptions) {}

  get role(): ForwarderRole {
    return this.forwarder ? 'forwarding' : 'standby';
  }

  /** The holder last seen by this process (itself while forwarding). */
  get holder(): string | undefined {
    return this.forwarder ? this.o.lease.holderId : this.lastHolder;
  }

  /** How many times this process took the lease. */
  get terms(): number {
    return this.takeovers;
  }

  /** The first attempt is made before start returns: a lone gateway forwards from its first moment. */
  async start(): Promise<void> {
    await this.tick();
    this.schedule();
  }

  wake(): void {
    this.forwarder?.wake();
  }

  lockHold(): LockHoldSummary {
    return this.forwarder?.lockHold() ?? { transactions: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.stepDown();
    await this.o.lease.close();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => this.schedule());
    }, this.o.timing.renewMs);
  }

  private async tick(): Promise<void> {
    try {
      await this.check();
    } finally {
      this.report();
    }
  }

  private reported: { role: ForwarderRole; holder: string | undefined } | undefined;

  private report(): void {
    const now = { role: this.role, holder: this.holder };
    if (this.reported && this.reported.role === now.role && this.reported.holder === now.holder) return;
    this.reported = now;
    this.o.onChange?.(now.role, now.holder);
  }

  private async check(): Promise<void> {
    try {
      if (this.forwarder) {
        if (!(await this.o.lease.renew())) {
          this.o.logger.warn({ holder: this.o.lease.holderId }, 'forwarder lease lost: this gateway stops forwarding and stands by');
          await this.stepDown();
        }
        return;
      }
      if (this.stopped) return;
      if (await this.o.lease.acquire()) {
        if (this.stopped) return;
        this.takeovers++;
        this.o.logger.info({ holder: this.o.lease.holderId, store: this.o.lease.store, previous: this.lastHolder }, 'forwarder lease taken: reconciling what was in flight, then forwarding');
        this.lastHolder = this.o.lease.holderId;
        const forwarder = this.o.makeForwarder();
        this.forwarder = forwarder;
        forwarder.start();
        return;
      }
      const current = (await this.o.lease.holder())?.holder;
      if (current !== this.lastHolder) this.o.logger.info({ holder: current, store: this.o.lease.store }, 'standing by: another gateway holds the forwarder lease');
      this.lastHolder = current;
    } catch (err) {
      this.o.logger.error({ err }, 'forwarder lease check failed');
    }
  }

  private async stepDown(): Promise<void> {
    const forwarder = this.forwarder;
    this.forwarder = undefined;
    this.report();
    if (forwarder) await forwarder.stop();
  }
}
