/**
 * When the forwarder may call ONSS again: exponential backoff with jitter after each failure, a circuit
 * that opens after repeated failures (no call at all for a while), and waits ONSS asks for (429
 * Retry-After), which are not failures. It only decides; it never sleeps or calls anything, so a test can
 * drive it with any clock.
 */
export interface BreakerOptions {
  backoffInitialMs: number;
  backoffMaxMs: number;
  circuitFailureThreshold: number;
  circuitOpenMs: number;
}

export class Breaker {
  private consecutiveFailures = 0;
  private circuitOpenUntil = 0;
  private pauseUntil = 0;

  constructor(private readonly options: BreakerOptions, private readonly random: () => number = Math.random) {}

  get failures(): number {
    return this.consecutiveFailures;
  }

  /** No call before this instant (ms since epoch); 0 or past: call now. */
  blockedUntil(): number {
    return Math.max(this.circuitOpenUntil, this.pauseUntil);
  }

  isCircuitOpen(now: number): boolean {
    return this.circuitOpenUntil > now;
  }

  /**
   * A call failed: back off (a Retry-After from ONSS is a floor), and open the circuit once failures reach
   * the threshold. Returns whether this failure opened it.
   */
  failure(now: number, retryAfterMs?: number): { delayMs: number; circuitOpened: boolean } {
    this.consecutiveFailures++;
    const delayMs = this.backoffDelay(retryAfterMs);
    this.pauseFor(now, delayMs);
    const opened = this.consecutiveFailures >= this.options.circuitFailureThreshold && this.circuitOpenUntil <= now;
    if (this.consecutiveFailures >= this.options.circuitFailureThreshold) this.circuitOpenUntil = now + this.options.circuitOpenMs;
    return { delayMs, circuitOpened: opened };
  }

  /** ONSS asked us to wait (429): wait, without counting it as a failure. */
  rateLimited(now: number, retryAfterMs = 1000): void {
    this.pauseFor(now, retryAfterMs);
  }

  /** ONSS answered a call: failures are forgotten and the circuit closes. */
  success(): void {
    this.consecutiveFailures = 0;
    this.circuitOpenUntil = 0;
  }

  private pauseFor(now: number, ms: number): void {
    this.pauseUntil = Math.max(this.pauseUntil, now + ms);
  }

  /** Between half and all of the exponential step; a Retry-After from ONSS is a floor. */
  private backoffDelay(retryAfterMs?: number): number {
    const { backoffInitialMs, backoffMaxMs } = this.options;
    const exp = Math.min(backoffMaxMs, backoffInitialMs * 2 ** Math.min(30, Math.max(0, this.consecutiveFailures - 1)));
    return Math.max(exp / 2 + this.random() * (exp / 2), retryAfterMs ?? 0);
  }
}
