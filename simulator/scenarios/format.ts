import { z } from 'zod';
import { REMARK_KINDS } from '../../gateway/remarks/model.ts';

/**
 * The scenario format: a day on site, scripted. Documented in docs/scenarios.md.
 * Times are site wall-clock times (`07:00`, `07:00:30`) on the scenario's day, or relative to the
 * previous step (`+90s`, `+30m`, `+4h`). Workers, badges and terminals are named by their key in the demo
 * world (simulator/world/seed-data.ts).
 */
const TIME = /^(?:\d{2}:\d{2}(?::\d{2})?|\+\d+(?:\.\d+)?(?:ms|s|m|h))$/;
const DURATION = /^\d+(?:\.\d+)?(?:ms|s|m|h)$/;

const time = z.string().regex(TIME, 'must be HH:MM[:SS] or +N followed by ms, s, m or h');
const duration = z.string().regex(DURATION, 'must be N followed by ms, s, m or h');

const tapStep = z.strictObject({
  at: time,
  tap: z.strictObject({
    /** The worker whose badge is presented (a key of the demo world). */
    worker: z.string().optional(),
    /** Or a raw badge UID (e.g. an unknown badge). */
    badge: z.string().regex(/^[0-9A-Fa-f]{8,20}$/, 'must be a badge UID in hex').optional(),
    terminal: z.string(),
    /** A button pressed just before the tap. */
    button: z.enum(['IN', 'OUT', 'BREAK']).optional(),
    /** With several employers: the key of the company chosen, or `timeout` to let the choice lapse. */
    choose: z.string().optional(),
    /** How the terminal must answer: `registered` (green), `debounced` (already registered), `unknown` (red). */
    expect: z.enum(['registered', 'debounced', 'unknown']).optional(),
  }).refine((t) => (t.worker === undefined) !== (t.badge === undefined), { message: 'needs exactly one of worker or badge' }),
});

const networkStep = z.strictObject({
  at: time,
  network: z.enum(['cut', 'restore']),
  /** One terminal's link; all terminals when absent. */
  terminal: z.string().optional(),
});

const gatewayStep = z.strictObject({ at: time, gateway: z.literal('restart') });

const onssStep = z.strictObject({
  at: time,
  onss: z.strictObject({
    fault: z.enum(['unavailable', 'error-500', 'rate-limit', 'reset', 'hangup-after-processing', 'latency', 'clear']),
    /** How long the fault lasts in scenario time; until a `clear` when absent. */
    for: duration.optional(),
  }),
});

const clockStep = z.strictObject({
  at: time,
  clock: z.strictObject({ terminal: z.string(), jump: z.string().regex(/^[+-]\d+(?:ms|s|m|h)$/, 'must be +N or -N followed by ms, s, m or h') }),
});

const waitStep = z.strictObject({ at: time, wait: z.literal(true) });

export const scenarioStepSchema = z.union([tapStep, networkStep, gatewayStep, onssStep, clockStep, waitStep]);

export const expectedRemarkSchema = z.strictObject({
  kind: z.enum(REMARK_KINDS),
  worker: z.string().optional(),
  terminal: z.string().optional(),
  /** Exactly this many remarks of the kind (for the worker/terminal when given); at least one when absent. */
  count: z.number().int().min(0).optional(),
});

export const scenarioSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().min(1),
  /** FAQ questions the scenario illustrates. */
  faq: z.array(z.number().int().min(1).max(99)).default([]),
  /** Days from today (0 = today, -1 = yesterday, the default) of the scenario's day. */
  day: z.number().int().min(-30).max(0).default(-1),
  steps: z.array(scenarioStepSchema).min(1),
  expect: z.strictObject({
    /** Taps the terminals recorded. */
    taps: z.number().int().min(0).optional(),
    /** Registrations that reached the emulator (exactly once each). */
    registrations: z.number().int().min(0).optional(),
    remarks: z.array(expectedRemarkSchema).default([]),
    /** Remark kinds that must not appear. */
    noRemarks: z.array(z.enum(REMARK_KINDS)).default([]),
    /** Registrations at ONSS of a worker under a company (agency, self-employed, takeover cases). */
    employers: z
      .array(z.strictObject({ worker: z.string(), company: z.string(), count: z.number().int().min(0) }))
      .default([]),
    /** Outage journal entries expected (ONSS faults). */
    outages: z.number().int().min(0).optional(),
  }),
});

export type Scenario = z.output<typeof scenarioSchema>;
export type ScenarioStep = z.output<typeof scenarioStepSchema>;

/** Milliseconds of a duration text (`90s`, `30m`, `1.5h`, `250ms`). */
export function durationMs(text: string): number {
  const m = /^([+-]?)(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.replace(/^\+/, '+'));
  if (!m) throw new RangeError(`not a duration: ${text}`);
  const n = Number(m[2]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[3] as 'ms' | 's' | 'm' | 'h'];
  return m[1] === '-' ? -n : n;
}
