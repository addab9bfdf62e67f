import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createProgress } from '../progress/index.ts';
import { loadScenario, runScenario } from '../scenarios/runner.ts';
import { scenarioDay, stepInstants } from '../scenarios/times.ts';
import { localDate } from '../../shared/time.ts';

/**
 * `ciao demo --headless`: plays the demo day (simulator/scenarios/days/demo-day.json) on the whole product at
 * the speed that fits `durationSeconds`, then prints one JSON line: what was tapped, stored, forwarded and
 * rejected, the open remarks, and the two numbers that must be zero (lost, duplicates). Fails (exit 1) when
 * anything was lost or duplicated or an expected outcome is missing.
 */
const DEMO_DAY = join(import.meta.dirname, '../scenarios/days/demo-day.json');

export interface HeadlessOptions {
  /** Data directory; its `headless/` subdirectory is recreated for each run. */
  dir: string;
  durationSeconds: number;
  out?: { write(text: string): unknown };
  err?: { write(text: string): unknown; isTTY?: boolean };
}

export async function runDemoHeadless(options: HeadlessOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const scenario = loadScenario(DEMO_DAY);
  const times = stepInstants(scenario, scenarioDay(scenario, localDate(new Date()))).map((t) => t.getTime());
  const span = Math.max(0, Math.max(...times) - Math.min(...times));
  const speed = Math.max(1, span / Math.max(0.001, options.durationSeconds * 1000));
  const dir = join(options.dir, 'headless');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  const progress = createProgress({ label: 'demo day', total: scenario.steps.length, unit: 'steps', output: options.err ?? process.stderr, plainIntervalMs: 1000 });
  const failedChecks: string[] = [];
  const result = await runScenario(scenario, {
    dir,
    speed,
    onEvent: (e) => {
      if (e.kind === 'step' && e.index) progress.update(e.index, e.text);
      if (e.kind === 'check' && e.text.startsWith('FAIL')) failedChecks.push(e.text.slice(5));
    },
  });
  progress.finish(result.passed ? 'all expected outcomes met' : `${failedChecks.length} expected outcome(s) missing`);
  const s = result.summary;
  const line = {
    taps: s.taps,
    stored: s.stored,
    forwarded: s.forwarded,
    rejected: s.rejected + s.notCreated,
    remarks: Object.values(s.remarks).reduce((a, b) => a + b, 0),
    remarksByKind: s.remarks,
    outages: s.outages,
    lost: s.lost,
    duplicates: s.duplicates,
    checks: result.checks.length,
    failedChecks,
    speed: Math.round(speed),
    dir,
  };
  out.write(`${JSON.stringify(line)}\n`);
  return s.lost === 0 && s.duplicates === 0 && result.passed ? 0 : 1;
}
