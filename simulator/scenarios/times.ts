import { fromLocal, toOffsetIso } from '../../shared/time.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { addDays } from '../world/seed-demo.ts';
import { durationMs, WALL_TIME, type Scenario } from './format.ts';

/**
 * A scenario's times as instants. Wall-clock times are read in Europe/Brussels on the scenario's day (or a
 * later one, `+1d 06:00`): a time the spring change skips (02:30 on 2026-03-29) does not exist and is refused;
 * a time of the autumn repeated hour (02:30 on 2026-10-25) happens twice and needs its offset (`02:30+02:00`
 * the first time, `02:30+01:00` the second); an offset that is not Brussels' at that instant is refused.
 */
class ScenarioTimeError extends Error {
  constructor(readonly problem: FieldProblem) {
    super(problem.message);
  }
}

/** The scenario's calendar day: its `date`, or `day` days from `today` (yesterday by default). */
export function scenarioDay(s: Pick<Scenario, 'date' | 'day'>, today: string): string {
  return s.date ?? addDays(today, s.day ?? -1);
}

/** The instant of a wall-clock text (`HH:MM[:SS]`, `+Nd HH:MM`, with an optional offset) on `day`. */
export function wallInstant(text: string, day: string, field: string): Date {
  const m = WALL_TIME.exec(text);
  if (!m) throw new ScenarioTimeError({ field, rule: 'format', message: `${field}: must be HH:MM[:SS] or +Nd HH:MM[:SS], with an optional offset` });
  const [, plusDays, hh, mm, ss, offset] = m;
  const date = addDays(day, Number(plusDays ?? 0));
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const local = { year: y, month: mo, day: d, hour: Number(hh), minute: Number(mm), second: Number(ss ?? 0) };
  if (local.hour > 23 || local.minute > 59 || local.second > 59) throw new ScenarioTimeError({ field, rule: 'range', message: `${field}: ${text} is not a time of day` });
  const wall = `${date} ${hh}:${mm}${ss ? `:${ss}` : ''}`;
  if (offset) {
    const instant = new Date(Date.parse(`${date}T${hh}:${mm}:${ss ?? '00'}${offset}`));
    const brussels = toOffsetIso(instant).slice(-6);
    if (brussels !== offset) {
      throw new ScenarioTimeError({ field, rule: 'offset', message: `${field}: ${wall} with offset ${offset} is not a time in Brussels (there it is ${toOffsetIso(instant).slice(0, 16).replace('T', ' ')}${brussels})` });
    }
    return instant;
  }
  let earlier: Date;
  try {
    earlier = fromLocal(local, { choose: 'earlier' });
  } catch {
    throw new ScenarioTimeError({ field, rule: 'nonexistent', message: `${field}: ${wall} does not exist in Brussels (the clocks jump from 02:00 to 03:00)` });
  }
  const later = fromLocal(local, { choose: 'later' });
  if (later.getTime() !== earlier.getTime()) {
    const first = toOffsetIso(earlier).slice(-6);
    const second = toOffsetIso(later).slice(-6);
    throw new ScenarioTimeError({ field, rule: 'ambiguous', message: `${field}: ${wall} happens twice in Brussels (the clocks go back): write ${text}${first} for the first, ${text}${second} for the second` });
  }
  return earlier;
}

/** Every step's instant, in order; relative steps count from the previous one (from 06:00 for the first). */
export function stepInstants(s: Scenario, day: string): Date[] {
  const times: Date[] = [];
  let previous: Date | undefined;
  s.steps.forEach((step, i) => {
    const t = step.at.startsWith('+') && !step.at.includes(' ')
      ? new Date((previous ?? wallInstant('06:00', day, `steps.${i}.at`)).getTime() + durationMs(step.at.slice(1)))
      : wallInstant(step.at, day, `steps.${i}.at`);
    times.push(t);
    previous = t;
  });
  return times;
}

/** Every wall-clock time a scenario names, checked on its day; the problems found (none when all are real). */
export function timeProblems(s: Scenario, day: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const check = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      if (err instanceof ScenarioTimeError) problems.push(err.problem);
      else throw err;
    }
  };
  s.steps.forEach((step, i) => {
    if (!step.at.startsWith('+') || step.at.includes(' ')) check(() => wallInstant(step.at, day, `steps.${i}.at`));
    const action = 'manager' in step ? step.manager : undefined;
    if (action && 'chooseEmployer' in action) check(() => wallInstant(action.chooseEmployer.at, day, `steps.${i}.manager.chooseEmployer.at`));
  });
  (s.expect.onss ?? []).forEach((r, i) => check(() => wallInstant(r.at, day, `expect.onss.${i}.at`)));
  return problems;
}
