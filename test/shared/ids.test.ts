import { describe, expect, it } from 'vitest';
import { tapSchema } from '../../shared/mqtt/payloads.ts';
import { timeOrderedUuid } from '../../shared/ids.ts';

/** Tap ids as the product's terminals make them (shared/ids.ts): UUIDs of version 7, in the order they were made. */
describe('time-ordered UUIDs', () => {
  it('are version 7 UUIDs a tap may carry, and sort in the order of their milliseconds', () => {
    const base = Date.parse('2026-03-02T07:00:00.000Z');
    const ids = Array.from({ length: 1000 }, (_, i) => timeOrderedUuid(base + i * 7));
    for (const id of ids.slice(0, 20)) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(tapSchema.shape.id.safeParse(id).success).toBe(true);
    }
    expect([...ids].sort()).toEqual(ids);
    expect(ids[0]!.replace(/-/g, '').slice(0, 12)).toBe(base.toString(16).padStart(12, '0'));
  });

  it('stay distinct within one millisecond', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => timeOrderedUuid(1_800_000_000_000)));
    expect(ids.size).toBe(10_000);
  });
});
