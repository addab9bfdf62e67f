import { describe, expect, it } from 'vitest';
import { reconnectDelayMs } from '../../terminal/link/backoff.ts';
import { parseTerminalConfig } from '../../terminal/config.ts';

/** The gateway link's reconnect schedule: quick at first, capped low, spread by jitter. */
describe('reconnect backoff', () => {
  const limits = { minMs: 500, maxMs: 5000 };

  it('doubles from the minimum and never waits longer than the cap, however long the gateway was away', () => {
    const longest = (failures: number) => reconnectDelayMs(failures, limits, () => 1);
    expect([0, 1, 2, 3, 4].map(longest)).toEqual([500, 1000, 2000, 4000, 5000]);
    for (const failures of [10, 100, 10_000]) expect(longest(failures)).toBe(5000);
  });

  it('jitters each delay between half and all of its step, so a site\'s terminals do not reconnect in step', () => {
    expect(reconnectDelayMs(3, limits, () => 0)).toBe(2000);
    expect(reconnectDelayMs(3, limits, () => 1)).toBe(4000);
    const spread = new Set(Array.from({ length: 50 }, (_, i) => reconnectDelayMs(20, limits, () => i / 49)));
    expect(Math.min(...spread)).toBe(2500);
    expect(Math.max(...spread)).toBe(5000);
    expect(spread.size).toBeGreaterThan(40);
  });

  it('caps at a few seconds by default: a terminal is back within 5 s of its gateway', () => {
    const config = parseTerminalConfig({ id: 'T-1', secret: 's', mqtt: { url: 'mqtt://gw:1883' }, reader: 'simulated', panel: 'console', outbox: 'o.db' }, {});
    expect(config.reconnectMaxMs).toBe(5000);
    expect(reconnectDelayMs(1000, { minMs: config.reconnectMinMs, maxMs: config.reconnectMaxMs }, () => 1)).toBeLessThanOrEqual(5000);
  });

  it('keeps a minimum above the cap sane: the cap wins', () => {
    expect(reconnectDelayMs(0, { minMs: 9000, maxMs: 1000 }, () => 1)).toBe(1000);
  });
});
