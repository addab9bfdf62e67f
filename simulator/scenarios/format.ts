import { z } from 'zod';
import { REMARK_KINDS } from '../../gateway/remarks/model.ts';
import { CAPACITIES } from '../../shared/registration.ts';

/**
 * The scenario format: a day on site, scripted. Documented in docs/scenarios.md.
 * Times are site wall-clock times (`07:00`, `07:00:30`) on the scenario's day, a later day of it (`+1d 06:00`),
 * with the offset that picks one of the two instants of the autumn repeated hour (`02:30+02:00`, then
 * `02:30+01:00`), or relative to the previous step (`+90s`, `+30m`, `+4h`). Workers, badges and terminals are
 * named by their key in the demo world (simulator/world/seed-data.ts) or in the scenario's own `world`.
 */
export const WALL_TIME = /^(?:\+(\d{1,2})d )?(\d{2}):(\d{2})(?::(\d{2}))?([+-]\d{2}:\d{2})?$/;
const RELATIVE = /^\+\d+(?:\.\d+)?(?:ms|s|m|h)$/;
const DURATION = /^\d+(?:\.\d+)?(?:ms|s|m|h)$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

const time = z.string().refine((t) => WALL_TIME.test(t) || RELATIVE.test(t), 'must be HH:MM[:SS], +Nd HH:MM[:SS], either with an optional offset (+01:00), or +N followed by ms, s, m or h');
/** A wall-clock time of the scenario (expected registrations): no relative form. */
const wallTime = z.string().regex(WALL_TIME, 'must be HH:MM[:SS] or +Nd HH:MM[:SS], with an optional offset (+01:00)');
const duration = z.string().regex(DURATION, 'must be N followed by ms, s, m or h');
const calendarDate = z.string().regex(DATE, 'must be a date YYYY-MM-DD').refine((d) => !Number.isNaN(Date.parse(`${d}T12:00:00Z`)) && new Date(`${d}T12:00:00Z`).toISOString().startsWith(d), 'must be a real calendar date');
/** Days relative to the scenario's day (-1: the day before). */
const relativeDay = z.number().int().min(-3660).max(3660);

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
    /** How the terminal must answer: `registered` (green), `debounced` (already registered), `unknown` (red), `refused` (cannot register). */
    expect: z.enum(['registered', 'debounced', 'unknown', 'refused']).optional(),
    /** The direction the terminal must record (its proposal, or the button). */
    direction: z.enum(['IN', 'OUT']).optional(),
    /** And its reason: `break` for a break's OUT and the IN that ends it. */
    reason: z.enum(['work', 'break']).optional(),
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

/**
 * What the site manager changes during the day, through the gateway's admin API (as the console does):
 * each change is audited, and the gateway sends the taps it was holding for it.
 */
const managerAction = z.union([
  /** Enrols the worker's badge (one the world left out: `world.missing.badges`), valid from the scenario's day. */
  z.strictObject({ enrol: z.strictObject({ worker: z.string() }) }),
  /** Revokes the worker's badge (lost, stolen). */
  z.strictObject({ revoke: z.strictObject({ worker: z.string(), reason: z.string().min(1).max(200).optional() }) }),
  /** Changes the validity of the worker's badge: first and last day, relative to the scenario's day (null: open). */
  z.strictObject({ badge: z.strictObject({ worker: z.string(), validFrom: relativeDay.optional(), validTo: relativeDay.nullable().optional() }) }),
  /** Adds a declaration of the demo world that the world left out (`world.missing.declarations`). */
  z.strictObject({ addDeclaration: z.string() }),
  /** Records an agency placement: the agency places the worker at the user company, from/to relative days. */
  z.strictObject({ place: z.strictObject({ worker: z.string(), agency: z.string(), user: z.string(), from: relativeDay.optional(), to: relativeDay.nullable().optional() }) }),
  /** Chooses the employer of a worker's tap held because the worker chose none on the terminal. */
  z.strictObject({ chooseEmployer: z.strictObject({ worker: z.string(), at: wallTime, company: z.string() }) }),
]);

const managerStep = z.strictObject({ at: time, manager: managerAction });

export const scenarioStepSchema = z.union([tapStep, networkStep, gatewayStep, onssStep, clockStep, waitStep, managerStep]);

/** A registration ONSS must have received: the scenario lists all of them, none missing, none extra. */
export const expectedRegistrationSchema = z.strictObject({
  worker: z.string(),
  type: z.enum(['IN', 'OUT']),
  /** Site wall-clock time of the tap it carries. */
  at: wallTime,
  /** Company key: the company number it was sent under. */
  employer: z.string(),
  /** The worker's capacity on the workplace (FAQ 19). */
  capacity: z.enum(CAPACITIES),
  /** Declaration key of the demo world. */
  declaration: z.string(),
  /** false: ONSS refused to create it (`notCreated`). */
  created: z.boolean().default(true),
});

/** A worker only this scenario has (e.g. a posted worker known by a Limosa id only). */
const scenarioWorkerSchema = z.strictObject({
  key: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be a short lower-case key'),
  name: z.string().min(1).max(100),
  ssin: z.string().optional(),
  limosaId: z.string().optional(),
  capacity: z.enum(CAPACITIES),
  employers: z.array(z.string()).min(1),
  badge: z.string().regex(/^[0-9A-Fa-f]{8}(?:[0-9A-Fa-f]{6})?(?:[0-9A-Fa-f]{6})?$/, 'must be a badge UID in hex (4, 7 or 10 bytes)'),
}).refine((w) => w.ssin !== undefined || w.limosaId !== undefined, { message: 'needs ssin or limosaId', path: ['ssin'] });

const expectedRemarkSchema = z.strictObject({
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
  /** The scenario's day: a calendar date (any, DST days included)... */
  date: calendarDate.optional(),
  /** ...or days from today (0 = today, -1 = yesterday, the default without `date`). */
  day: relativeDay.optional(),
  /** How the demo world differs for this scenario, before the day starts. */
  world: z.strictObject({
    /** Workers only this scenario has. */
    workers: z.array(scenarioWorkerSchema).default([]),
    /** What the site manager has not entered yet when the day starts. */
    missing: z.strictObject({
      /** Workers whose badge is not enrolled yet (the badge taps as unknown). */
      badges: z.array(z.string()).default([]),
      /** Declarations of the demo world not entered yet. */
      declarations: z.array(z.string()).default([]),
    }).default({ badges: [], declarations: [] }),
  }).default({ workers: [], missing: { badges: [], declarations: [] } }),
  /**
   * ONSS's clock against the site's (the gateway's, which the terminals follow): `-3h` means the site's clocks
   * run three hours ahead, and ONSS refuses what it sees as dated in its future. Default: the same.
   */
  onssClock: z.string().regex(/^[+-]\d+(?:ms|s|m|h)$/, 'must be +N or -N followed by ms, s, m or h').optional(),
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
    /** Exactly the registrations ONSS received (created or refused), none missing, none extra. */
    onss: z.array(expectedRegistrationSchema).optional(),
  }),
}).superRefine((s, ctx) => {
  if (s.date !== undefined && s.day !== undefined) ctx.addIssue({ code: 'custom', path: ['date'], message: 'give the date or the relative day, not both' });
});

export type Scenario = z.output<typeof scenarioSchema>;
export type ScenarioStep = z.output<typeof scenarioStepSchema>;
export type ManagerAction = z.output<typeof managerAction>;
export type ExpectedRegistration = z.output<typeof expectedRegistrationSchema>;
export type ScenarioWorker = z.output<typeof scenarioWorkerSchema>;

/** Milliseconds of a duration text (`90s`, `30m`, `1.5h`, `250ms`). */
export function durationMs(text: string): number {
  const m = /^([+-]?)(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.replace(/^\+/, '+'));
  if (!m) throw new RangeError(`not a duration: ${text}`);
  const n = Number(m[2]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[3] as 'ms' | 's' | 'm' | 'h'];
  return m[1] === '-' ? -n : n;
}
