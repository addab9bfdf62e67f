/**
 * Estimates how far the local clock is from the gateway's. Each ack carries the gateway's clock in `now`;
 * with the tap's send time and the ack's arrival time, the gateway's reading is compared with the midpoint
 * of the round trip. The median of recent samples ignores the odd slow ack.
 */
export class ClockOffsetEstimator {
  private readonly samples: number[] = [];

  constructor(private readonly size = 15) {}

  /** Adds one measurement; returns the current estimate (gateway minus local, ms). */
  add(gatewayNowMs: number, sentAtMs: number | undefined, receivedAtMs: number): number {
    const localMid = sentAtMs !== undefined && sentAtMs <= receivedAtMs ? (sentAtMs + receivedAtMs) / 2 : receivedAtMs;
    this.samples.push(gatewayNowMs - localMid);
    if (this.samples.length > this.size) this.samples.shift();
    return this.estimate()!;
  }

  estimate(): number | null {
    if (this.samples.length === 0) return null;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    return Math.round(median);
  }

  reset(): void {
    this.samples.length = 0;
  }
}
