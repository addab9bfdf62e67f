import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualClock } from '../../shared/clock.ts';
import { fromLocal, localDate, toOffsetIso } from '../../shared/time.ts';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import { parseWith } from '../../shared/schema.ts';
import type { FaultSettings } from '../emulator/index.ts';
import { DEMO_COMPANIES, DEMO_DECLARATIONS, DEMO_TERMINALS, DEMO_WORKERS, type SeedWorker } from '../world/seed-data.ts';
import { startWorld, type SimTerminal, type World } from '../world/world.ts';
import { addDays } from '../world/seed-demo.ts';
import { openRemarks, summarize, type WorldSummary } from '../world/summary.ts';
import { durationMs, scenarioSchema, type Scenario, type ScenarioStep } from './format.ts';
import { scenarioDay, stepInstants, timeProblems } from './times.ts';
import { managerChange, type StepContext } from './manager.ts';
import { onssCheck } from './onss-received.ts';
import { readJsonFile } from '../../shared/json-file.ts';
import { forwardingSummary } from '../../gateway/forward/read-model.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { rosterFor } from '../../gateway/terminal-sync/terminal-view.ts';

/**
 * Runs a scripted day on the whole product (emulator, gateway, simulated terminals) with one virtual clock,
 * then checks the scenario's expected outcomes against the real stores: what the terminals recorded, what
 * the gateway stored, what ONSS received (exactly once), and the remarks the site manager sees.
 */
export interface RunOptions {
  /** Virtual seconds per real second while waiting between steps; `max` jumps straight to each step. */
  speed?: number | 'max';
  /** Data directory (a fresh temporary one by default, removed afterwards unless keepDir). */
  dir?: string;
  keepDir?: boolean;
  /** Called with a line for each step and check, for a progress display. */
  onEvent?: (event: { kind: 'step' | 'check' | 'info'; text: string; index?: number; total?: number }) => void;
  /** Real milliseconds to wait for the system to settle after a step or at the end. */
  settleTimeoutMs?: number;
}

export interface Check {
  what: string;
  expected: string;
  actual: string;
  ok: boolean;
}

export interface ScenarioResult {
  name: string;
  passed: boolean;
  checks: Check[];
  summary: WorldSummary;
  dir: string;
}

export function loadScenario(path: string): Scenario {
  const raw = readJsonFile(path, 'scenario');
  const parsed = parseWith(scenarioSchema, raw);
  if (!parsed.ok) throw new InvalidInputError(parsed.problems.map((p) => ({ ...p, message: `scenario ${path}: ${p.message}` })));
  // Names and times are checked before anything starts: a typo, or 02:30 on the spring DST day, fails here.
  const problems = [...referenceProblems(parsed.value), ...timeProblems(parsed.value, scenarioDay(parsed.value, localDate(new Date())))];
  if (problems.length) throw new InvalidInputError(problems.map((p) => ({ ...p, message: `scenario ${path}: ${p.message}` })));
  return parsed.value;
}

/** The workers of a scenario's world: the demo world's and its own. */
function scenarioWorkers(s: Scenario): SeedWorker[] {
  return [...DEMO_WORKERS, ...s.world.workers.map((w) => ({ ...w, badge: w.badge.toUpperCase() }))];
}

/** Names in a scenario must exist in its world: a typo fails before anything starts. */
function referenceProblems(s: Scenario): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const terminals = new Set(DEMO_TERMINALS.map((t) => t.key));
  const workers = new Set(scenarioWorkers(s).map((w) => w.key));
  const companies = new Set(DEMO_COMPANIES.map((c) => c.key));
  const declarations = new Set(DEMO_DECLARATIONS.map((d) => d.key));
  const need = (set: Set<string>, value: string | undefined, field: string, what: string) => {
    if (value !== undefined && !set.has(value)) problems.push({ field, rule: 'exists', message: `${field}: no ${what} ${value} (known: ${[...set].join(', ')})` });
  };
  s.world.workers.forEach((w, i) => {
    if (DEMO_WORKERS.some((d) => d.key === w.key)) problems.push({ field: `world.workers.${i}.key`, rule: 'unique', message: `world.workers.${i}.key: the demo world already has a worker ${w.key}` });
    w.employers.forEach((c, j) => need(companies, c, `world.workers.${i}.employers.${j}`, 'company'));
  });
  s.world.missing.badges.forEach((w, i) => need(workers, w, `world.missing.badges.${i}`, 'worker'));
  s.world.missing.declarations.forEach((d, i) => need(declarations, d, `world.missing.declarations.${i}`, 'declaration'));
  s.steps.forEach((step, i) => {
    const where = `steps.${i}`;
    if ('tap' in step) {
      need(terminals, step.tap.terminal, `${where}.tap.terminal`, 'terminal');
      need(workers, step.tap.worker, `${where}.tap.worker`, 'worker');
      if (step.tap.choose !== 'timeout') need(companies, step.tap.choose, `${where}.tap.choose`, 'company');
    }
    const t = 'clock' in step ? step.clock.terminal : 'network' in step ? step.terminal : undefined;
    need(terminals, t, `${where}.terminal`, 'terminal');
    if ('manager' in step) {
      const a = step.manager;
      const m = `${where}.manager`;
      if ('enrol' in a) need(workers, a.enrol.worker, `${m}.enrol.worker`, 'worker');
      if ('revoke' in a) need(workers, a.revoke.worker, `${m}.revoke.worker`, 'worker');
      if ('badge' in a) need(workers, a.badge.worker, `${m}.badge.worker`, 'worker');
      if ('addDeclaration' in a) need(declarations, a.addDeclaration, `${m}.addDeclaration`, 'declaration');
      if ('place' in a) {
        need(workers, a.place.worker, `${m}.place.worker`, 'worker');
        need(companies, a.place.agency, `${m}.place.agency`, 'company');
        need(companies, a.place.user, `${m}.place.user`, 'company');
      }
      if ('chooseEmployer' in a) {
        need(workers, a.chooseEmployer.worker, `${m}.chooseEmployer.worker`, 'worker');
        need(companies, a.chooseEmployer.company, `${m}.chooseEmployer.company`, 'company');
      }
    }
  });
  s.expect.employers.forEach((e, i) => {
    need(workers, e.worker, `expect.employers.${i}.worker`, 'worker');
    need(companies, e.company, `expect.employers.${i}.company`, 'company');
  });
  s.expect.remarks.forEach((r, i) => {
    need(workers, r.worker, `expect.remarks.${i}.worker`, 'worker');
    need(terminals, r.terminal, `expect.remarks.${i}.terminal`, 'terminal');
  });
  (s.expect.onss ?? []).forEach((r, i) => {
    need(workers, r.worker, `expect.onss.${i}.worker`, 'worker');
    need(companies, r.employer, `expect.onss.${i}.employer`, 'company');
    need(declarations, r.declaration, `expect.onss.${i}.declaration`, 'declaration');
  });
  return problems;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await condition()) return true;
    await sleep(stepMs);
  }
  return condition();
}

const FAULTS: Record<string, FaultSettings> = {
  unavailable: { unavailableStatus: 503, unavailableForMs: 7 * 86_400_000 },
  'error-500': { unavailableStatus: 500, unavailableForMs: 7 * 86_400_000 },
  'rate-limit': { rateLimitForMs: 7 * 86_400_000, retryAfterSeconds: 1 },
  reset: { resetRate: 1 },
  'hangup-after-processing': { hangUpAfterProcessingRate: 1 },
  latency: { latencyMs: 2_000 },
};

export async function runScenario(scenario: Scenario, options: RunOptions = {}): Promise<ScenarioResult> {
  const emit = options.onEvent ?? (() => {});
  const settleMs = options.settleTimeoutMs ?? 15_000;
  const day = scenarioDay(scenario, localDate(new Date()));
  const times = stepInstants(scenario, day);
  const start = new Date(Math.min(...times.map((t) => t.getTime())) - 10 * 60_000);
  const lastStep = Math.max(...times.map((t) => t.getTime()));
  const clock = new VirtualClock(start, 0);
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'ciao-scenario-'));
  const recorded = new Set<string>();
  const world = await startWorld({
    dir,
    clock,
    logLevel: 'warn',
    // Retry fast: the scripted day runs in seconds, not hours. And no lingering for fuller batches: a wait in
    // real time is minutes of the scripted day, which the remark rules would see as a late transmission.
    forwarding: { backoffInitialMs: 50, backoffMaxMs: 500, circuitOpenMs: 500, idlePollMs: 50, lingerMs: 0, validityPollIntervalMs: 100, requestTimeoutMs: 2_000, reconcileDelayMs: 200 },
    terminalOverrides: { choiceTimeoutSeconds: 1, ackTimeoutSeconds: 2, statusIntervalSeconds: 1 },
    seed: { extraWorkers: scenario.world.workers, withoutBadges: scenario.world.missing.badges, withoutDeclarations: scenario.world.missing.declarations },
    ...(scenario.onssClock ? { onssClockOffsetMs: durationMs(scenario.onssClock) } : {}),
  });
  const ctx: StepContext = { world, workers: scenarioWorkers(scenario), day, clock };
  const checks: Check[] = [];
  const faultClears: Array<{ at: Date }> = [];
  try {
    for (const t of world.terminals.values()) t.handle.pipeline.on('tap', (o: { tap: { id: string } }) => recorded.add(o.tap.id));
    emit({ kind: 'info', text: `scenario "${scenario.name}" on ${day}, data in ${dir}` });
    await until(async () => {
      for (const t of world.terminals.values()) if (t.handle.state.config === null || !(await inStepWithGateway(world, t, clock))) return false;
      return true;
    }, settleMs);

    for (let i = 0; i < scenario.steps.length; i++) {
      const step = scenario.steps[i]!;
      const target = times[i]!;
      for (const c of faultClears.splice(0).sort((a, b) => a.at.getTime() - b.at.getTime())) {
        if (c.at <= target) {
          await runClock(world, clock, c.at, options.speed);
          setOnssFaults(world, undefined);
        } else faultClears.push(c);
      }
      await runClock(world, clock, target, options.speed);
      emit({ kind: 'step', text: `${toOffsetIso(target).slice(5, 16).replace('T', ' ')} ${describe(step)}`, index: i + 1, total: scenario.steps.length });
      const check = await runStep(ctx, step, target, faultClears);
      if (check) checks.push(check);
      await settle(world, clock, settleMs);
    }

    // The day is over: let the clock pass the end of the shifts (an open one lapses after 16 h) so missing
    // OUTs show, heal every fault, and wait until every registration has been settled with ONSS.
    const [y, m, d] = day.split('-').map(Number) as [number, number, number];
    const end = new Date(Math.max(fromLocal({ year: y, month: m, day: d, hour: 23, minute: 59 }).getTime() + 15 * 3_600_000, lastStep + 17 * 3_600_000));
    // As before each step's jump (runClock): what the last step set moving (its registration on the way to
    // ONSS, on the forwarder's thread) lands first, or it would be sent hours late in virtual time.
    await quiesce(world);
    setOnssFaults(world, undefined);
    for (const t of world.terminals.values()) t.proxy.restore();
    clock.advanceTo(end);
    await settle(world, clock, settleMs);
    await until(async () => (await pendingAtOnss(world)) === 0, settleMs * 2, 50);

    const period = { from: addDays(day, -1), to: addDays(localDate(new Date(lastStep)), 1) };
    const summary = await summarize(world, recorded, period, () => clock.now());
    checks.push(...(await expectationChecks(scenario, ctx, summary, period, () => clock.now())));
    for (const c of checks) emit({ kind: 'check', text: `${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: expected ${c.expected}, got ${c.actual}` });
    return { name: scenario.name, passed: checks.every((c) => c.ok), checks, summary, dir };
  } finally {
    await world.stop();
    if (!options.dir && !options.keepDir) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * True when the terminal knows what the gateway would tell it now: the same badges in its roster (after a
 * site manager's change), and for each, a shift state at least as new as the gateway's (after a tap at
 * another door). Only then does the next scripted tap meet the terminal a worker would meet.
 */
async function inStepWithGateway(world: World, t: SimTerminal, clock: VirtualClock): Promise<boolean> {
  const expected = await rosterFor(SqliteStore.of(world.gateway.db), t.key, clock.now());
  const held = t.handle.state.currentRoster?.badges ?? {};
  const want = Object.keys(expected.badges).map((b) => b.toUpperCase()).sort();
  if (want.join() !== Object.keys(held).sort().join()) return false;
  for (const [uid, entry] of Object.entries(expected.badges)) {
    if (entry.shift && (t.handle.outbox.heardShift(uid.toUpperCase())?.rev ?? -1) < entry.shift.rev) return false;
  }
  return true;
}

async function runClock(world: World, clock: VirtualClock, target: Date, speed: RunOptions['speed']): Promise<void> {
  if (speed === undefined || speed === 'max' || !Number.isFinite(speed)) {
    // Jumping ahead while a tap is still on its way would make it late in virtual time (a late-transmission
    // remark the day did not have): let what can move settle first, however busy the machine is.
    await quiesce(world);
    clock.advanceTo(target);
    return;
  }
  clock.speed = speed;
  while (clock.now() < target) await sleep(Math.min(50, Math.max(1, (target.getTime() - clock.now().getTime()) / speed)));
  clock.speed = 0;
  clock.advanceTo(target);
}

/**
 * Waits until the world has nothing left that can move: every reachable terminal's outbox empty and every
 * stored registration answered by ONSS. What cannot move (a cut network, an ONSS outage) stops the wait once
 * nothing has changed for a while, so a scripted fault still plays out in virtual time.
 */
/** Worlds whose ONSS emulator has a fault set now: their forwarder may be stuck, and waiting for it would not end. */
const onssFaulted = new WeakSet<World>();

function setOnssFaults(world: World, faults: FaultSettings | undefined): void {
  if (faults) {
    world.emulator.setFaults(faults);
    onssFaulted.add(world);
  } else {
    world.emulator.clearFaults();
    onssFaulted.delete(world);
  }
}

/**
 * Waits until nothing is on its way: terminals' outboxes empty, nothing waiting, in flight or to retry at the
 * forwarder. While ONSS has a fault, the forwarder may be stuck for as long as it lasts: then a state that has
 * not changed for a second is taken as settled. Otherwise it is waited for (up to a minute, however busy the
 * machine): jumping ahead while a registration is on its way would make it late in virtual time.
 */
async function quiesce(world: World): Promise<void> {
  const pending = async () => {
    let queued = 0;
    for (const t of world.terminals.values()) if (t.proxy.state === 'up') queued += t.handle.outbox.queued;
    const f = await forwardingSummary(SqliteStore.of(world.gateway.db));
    return `${queued}/${f.waiting}/${f.in_flight}/${f.retry}`;
  };
  const IDLE = '0/0/0/0';
  let last = await pending();
  let unchangedSince = Date.now();
  const started = Date.now();
  const patienceMs = () => (onssFaulted.has(world) ? 1_000 : 60_000);
  while (last !== IDLE && Date.now() - unchangedSince < patienceMs() && Date.now() - started < 60_000) {
    await new Promise((r) => setTimeout(r, 10));
    const now = await pending();
    if (now !== last) {
      last = now;
      unchangedSince = Date.now();
    }
  }
}

function describe(step: ScenarioStep): string {
  if ('tap' in step) return `tap ${step.tap.worker ?? step.tap.badge} at ${step.tap.terminal}${step.tap.button ? ` after ${step.tap.button}` : ''}${step.tap.choose ? `, chooses ${step.tap.choose}` : ''}`;
  if ('network' in step) return `network ${step.network} ${step.terminal ?? 'everywhere'}`;
  if ('gateway' in step) return `gateway ${step.gateway}`;
  if ('onss' in step) return `ONSS ${step.onss.fault}${step.onss.for ? ` for ${step.onss.for}` : ''}`;
  if ('clock' in step) return `clock of ${step.clock.terminal} ${step.clock.jump}`;
  if ('manager' in step) return `site manager: ${Object.keys(step.manager)[0]} ${JSON.stringify(Object.values(step.manager)[0])}`;
  return 'wait';
}

async function runStep(ctx: StepContext, step: ScenarioStep, target: Date, faultClears: Array<{ at: Date }>): Promise<Check | undefined> {
  const { world } = ctx;
  if ('tap' in step) return tap(ctx, step.tap);
  if ('manager' in step) return managerChange(ctx, step.manager);
  if ('network' in step) {
    const targets = step.terminal ? [world.terminals.get(step.terminal)!] : [...world.terminals.values()];
    for (const t of targets) {
      if (step.network === 'cut') t.proxy.cut();
      else t.proxy.restore();
    }
    return undefined;
  }
  if ('gateway' in step) {
    await world.restartGateway();
    return undefined;
  }
  if ('onss' in step) {
    if (step.onss.fault === 'clear') setOnssFaults(world, undefined);
    else {
      setOnssFaults(world, FAULTS[step.onss.fault]!);
      if (step.onss.for) faultClears.push({ at: new Date(target.getTime() + durationMs(step.onss.for)) });
    }
    return undefined;
  }
  if ('clock' in step) {
    world.terminals.get(step.clock.terminal)!.clockOffsetMs += durationMs(step.clock.jump);
    return undefined;
  }
  return undefined;
}

async function tap(ctx: StepContext, t: Extract<ScenarioStep, { tap: unknown }>['tap']): Promise<Check | undefined> {
  const term = ctx.world.terminals.get(t.terminal)!;
  const uid = t.badge?.toUpperCase() ?? ctx.workers.find((w) => w.key === t.worker)!.badge;
  let outcome: 'registered' | 'debounced' | 'unknown' | 'refused' | undefined;
  let recorded: { direction: string; reason: string } | undefined;
  const onTap = (o: { known: boolean; tap: { direction: string; reason: string } }) => {
    outcome = o.known ? 'registered' : 'unknown';
    recorded = o.tap;
  };
  const onDebounced = () => (outcome = 'debounced');
  const onRefused = () => (outcome = 'refused');
  term.handle.pipeline.once('tap', onTap);
  term.handle.pipeline.once('debounced', onDebounced);
  term.handle.pipeline.once('refused', onRefused);
  try {
    if (t.button) term.panel.press(t.button);
    term.reader.present(uid);
    await until(() => outcome !== undefined, 2_000, 5);
    if (t.choose && outcome === 'registered') {
      const entry = term.handle.state.lookup(uid);
      if (t.choose !== 'timeout' && entry) {
        const number = DEMO_COMPANIES.find((c) => c.key === t.choose)!.number;
        const index = entry.employers.findIndex((e) => e.id === number);
        if (index >= 0) {
          for (let p = 0; p < Math.floor(index / 2); p++) term.panel.press('BREAK');
          term.panel.press(index % 2 === 0 ? 'IN' : 'OUT');
        }
      }
      // With `timeout` the terminal's own choice timer runs out and the tap leaves without an employer.
      await until(() => !term.handle.pipeline.choosing, 5_000, 20);
    }
  } finally {
    term.handle.pipeline.off('tap', onTap);
    term.handle.pipeline.off('debounced', onDebounced);
    term.handle.pipeline.off('refused', onRefused);
  }
  if (!t.expect && !t.direction && !t.reason) return undefined;
  const expected = [t.expect, t.direction, t.reason].filter(Boolean).join(' ');
  const actual = [t.expect ? outcome ?? 'nothing' : undefined, t.direction ? recorded?.direction ?? '-' : undefined, t.reason ? recorded?.reason ?? '-' : undefined].filter(Boolean).join(' ');
  return { what: `terminal ${t.terminal} answers ${t.worker ?? t.badge}`, expected, actual, ok: expected === actual };
}

/**
 * Lets the system settle after a step: terminals whose network is up empty their outbox (the forwarder then
 * catches up unless ONSS is down), and learn what the gateway tells them after it (rosters after a site
 * manager's change, shift states after a tap at another door), as they would in the moment a worker takes to
 * walk to the next door.
 */
async function settle(world: World, clock: VirtualClock, timeoutMs: number): Promise<void> {
  const up = () => [...world.terminals.values()].filter((t) => t.proxy.state === 'up');
  await until(() => up().every((t) => t.handle.outbox.queued === 0), timeoutMs);
  await until(async () => {
    for (const t of up()) if (!t.handle.link.isConnected || !(await inStepWithGateway(world, t, clock))) return false;
    return true;
  }, Math.min(timeoutMs, 5_000));
}

/** Registrations ONSS has not settled yet: not sent, in flight, to retry, or created with validity pending. */
async function pendingAtOnss(world: World): Promise<number> {
  const s = await forwardingSummary(SqliteStore.of(world.gateway.db));
  return s.waiting + s.in_flight + s.retry + s.pendingValidity;
}

async function expectationChecks(s: Scenario, ctx: StepContext, summary: WorldSummary, period: { from: string; to: string }, now: () => Date): Promise<Check[]> {
  const { world } = ctx;
  const checks: Check[] = [];
  const num = (what: string, expected: number, actual: number) => checks.push({ what, expected: String(expected), actual: String(actual), ok: expected === actual });
  num('taps lost between terminal and gateway', 0, summary.lost);
  num('duplicate registrations at ONSS', 0, summary.duplicates);
  num('registrations not settled with ONSS', 0, summary.pending);
  if (s.expect.taps !== undefined) num('taps recorded by the terminals', s.expect.taps, summary.taps);
  if (s.expect.registrations !== undefined) num('registrations created at ONSS', s.expect.registrations, summary.forwarded);
  if (s.expect.outages !== undefined) num('outage journal entries', s.expect.outages, summary.outages);
  const remarks = await openRemarks(world, period, now);
  for (const r of s.expect.remarks) {
    const matching = remarks.filter((x) => x.kind === r.kind && (!r.worker || x.workerId === r.worker) && (!r.terminal || x.terminalId === r.terminal));
    const what = `remark ${r.kind}${r.worker ? ` for ${r.worker}` : ''}${r.terminal ? ` on ${r.terminal}` : ''}`;
    if (r.count !== undefined) num(what, r.count, matching.length);
    else checks.push({ what, expected: 'at least 1', actual: String(matching.length), ok: matching.length > 0 });
  }
  const byEmployer = world.emulator.store.db.prepare('SELECT COUNT(*) FROM registrations WHERE (ssin = ? OR limosa_id = ?) AND employer_id = ?').pluck();
  for (const e of s.expect.employers) {
    const worker = ctx.workers.find((w) => w.key === e.worker);
    const company = DEMO_COMPANIES.find((c) => c.key === e.company);
    num(`registrations of ${e.worker} under ${e.company} at ONSS`, e.count, worker && company ? (byEmployer.get(worker.ssin ?? null, worker.limosaId ?? null, company.number) as number) : -1);
  }
  for (const kind of s.expect.noRemarks) num(`remark ${kind} (none expected)`, 0, remarks.filter((x) => x.kind === kind).length);
  if (s.expect.onss) checks.push(onssCheck(world, ctx.workers, ctx.day, s.expect.onss));
  return checks;
}
