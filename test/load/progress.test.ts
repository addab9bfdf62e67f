import { describe, expect, it } from 'vitest';
import { createProgress, formatDuration, formatProgressLine } from '../../simulator/progress/index.ts';

function fakeOutput(isTTY = false) {
  const writes: string[] = [];
  return { writes, output: { isTTY, write: (s: string) => writes.push(s) } };
}

describe('progress display, plain mode on a fake clock', () => {
  it('prints one line per interval with done, rate, remaining and ETA, and a final line', () => {
    let now = 1_000_000;
    const { writes, output } = fakeOutput(false);
    const p = createProgress({ label: 'drain', unit: 'registrations', total: 1000, output, now: () => now, plainIntervalMs: 5000, rateWindowMs: 5000 });

    now += 1000;
    p.update(100); // before the first interval: nothing printed
    expect(writes).toEqual([]);
    now += 4000;
    p.update(500);
    expect(writes).toEqual(['drain: 500/1,000 registrations (50.0%) | 100 registrations/s | elapsed 0:05 | remaining 500 | ETA 0:05\n']);

    now += 2000;
    p.update(600); // 2 s after the last line: still quiet
    expect(writes).toHaveLength(1);
    now += 3000;
    p.add(100, 'rss 80 MB');
    // Rate over the last 5 s window: from 500 at t=5 s to 700 at t=10 s.
    expect(writes[1]).toBe('drain: 700/1,000 registrations (70.0%) | 40.0 registrations/s | elapsed 0:10 | remaining 300 | ETA 0:08 | rss 80 MB\n');

    now += 2500;
    p.update(1000);
    p.finish();
    // The final line gives the average rate over the whole run (1000 in 12.5 s) and keeps the last extra.
    expect(writes[2]).toBe('drain: 1,000/1,000 registrations (100.0%) | 80.0 registrations/s | elapsed 0:13 | remaining 0 | ETA 0:00 | rss 80 MB\n');
    expect(writes).toHaveLength(3);
    p.update(2000);
    p.finish();
    expect(writes).toHaveLength(3);
  });

  it('has no remaining or ETA without a total, and never goes backwards', () => {
    let now = 0;
    const { writes, output } = fakeOutput(false);
    const p = createProgress({ label: 'load', unit: 'taps', output, now: () => now, plainIntervalMs: 1000 });
    now = 2000;
    p.update(30_000);
    p.update(10); // a late smaller report does not move the count back
    expect(p.snapshot().done).toBe(30_000);
    expect(writes).toEqual(['load: 30,000 taps | 15,000 taps/s | elapsed 0:02\n']);
  });

  it('shows an unknown ETA while nothing moves', () => {
    let now = 0;
    const { writes, output } = fakeOutput(false);
    const p = createProgress({ label: 'replay', unit: 'taps', total: 10, output, now: () => now, plainIntervalMs: 1000 });
    now = 1500;
    p.update(0);
    expect(writes[0]).toContain('remaining 10 | ETA --:--');
  });
});

describe('progress display on a TTY', () => {
  it('redraws a single line in place and ends it with a newline', () => {
    let now = 0;
    const { writes, output } = fakeOutput(true);
    const p = createProgress({ label: 'load', unit: 'taps', total: 100, output, now: () => now, ttyIntervalMs: 200 });
    now = 250;
    p.update(10);
    now = 300;
    p.update(20); // within 200 ms of the last draw: skipped
    now = 500;
    p.update(50);
    p.finish();
    expect(writes).toHaveLength(3);
    for (const w of writes.slice(0, 2)) {
      expect(w.startsWith('\r\x1b[2K')).toBe(true);
      expect(w.includes('\n')).toBe(false);
    }
    expect(writes[2]!.startsWith('\r\x1b[2K')).toBe(true);
    expect(writes[2]!.endsWith('\n')).toBe(true);
  });

  it('writes nothing in off mode', () => {
    const { writes, output } = fakeOutput(true);
    const p = createProgress({ label: 'x', output, mode: 'off' });
    p.update(5);
    p.finish();
    expect(writes).toEqual([]);
  });
});

describe('formatting', () => {
  it('formats durations and lines', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(65_000)).toBe('1:05');
    expect(formatDuration(3_723_000)).toBe('1:02:03');
    expect(formatDuration(undefined)).toBe('--:--');
    expect(formatProgressLine('scenario', 'events', { done: 3, total: 4, rate: 1.5, averageRate: 1, elapsedMs: 2000, remaining: 1, etaMs: 667 }))
      .toBe('scenario: 3/4 events (75.0%) | 1.5 events/s | elapsed 0:02 | remaining 1 | ETA 0:01');
  });
});

describe('progress display, final line', () => {
  it('does not repeat a plain line that is already the last one printed', () => {
    let now = 0;
    const { writes, output } = fakeOutput(false);
    const p = createProgress({ label: 'bench', unit: 'benchmarks', total: 2, output, now: () => now, plainIntervalMs: 0 });
    now = 1000;
    p.add(1);
    now = 2000;
    p.add(1);
    p.finish();
    expect(writes).toEqual([
      'bench: 1/2 benchmarks (50.0%) | 1.0 benchmarks/s | elapsed 0:01 | remaining 1 | ETA 0:01\n',
      'bench: 2/2 benchmarks (100.0%) | 1.0 benchmarks/s | elapsed 0:02 | remaining 0 | ETA 0:00\n',
    ]);
  });
});
