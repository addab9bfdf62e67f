import { loadScenario, runScenario } from './runner.ts';
import { createProgress } from '../progress/index.ts';

/**
 * `ciao sim --scenario FILE`: plays the scenario, prints each step and each check, and a JSON summary line;
 * exit code 0 when every check passed.
 */
export async function scenarioCommandAction(opts: { scenario: string; speed?: number; keep?: boolean; out?: { write(t: string): unknown } }): Promise<number> {
  const out = opts.out ?? process.stdout;
  const scenario = loadScenario(opts.scenario);
  out.write(`${scenario.name}\n${scenario.description}\n\n`);
  const progress = createProgress({ label: 'scenario', total: scenario.steps.length, unit: 'steps', plainIntervalMs: 2000 });
  const result = await runScenario(scenario, {
    speed: opts.speed ?? 'max',
    keepDir: opts.keep,
    onEvent: (e) => {
      if (e.kind === 'step' && e.index) progress.update(e.index, e.text);
      else if (e.kind !== 'step') out.write(`${e.text}\n`);
      if (e.kind === 'step') out.write(`  ${e.text}\n`);
    },
  });
  progress.finish(result.passed ? 'passed' : 'failed');
  out.write(`${JSON.stringify({ scenario: scenario.name, passed: result.passed, ...result.summary, ...(opts.keep ? { dir: result.dir } : {}) })}\n`);
  return result.passed ? 0 : 1;
}
