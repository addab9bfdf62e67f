import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualClock } from '../../shared/clock.ts';
import { fromLocal, localDate, toOffsetIso } from '../../shared/time.ts';
import { InvalidInputError } from '../../shared/problems.ts';
import { parseWith } from '../../shared/schema.ts';
import type { FaultSettings } from '../emulator/index.ts';
import { DEMO_COMPANIES, DEMO_TERMINALS, DEMO_WORKERS } from '../world/seed-data.ts';
import { startWorld, type SimTerminal, type World } from '../world/world.ts';
import { addDays } from '../world/seed-demo.ts';
import { openRemarks, summarize, type WorldSummary } from '../world/summary.ts';
import { durationMs, scenarioSchema, type Scenario, type ScenarioStep } from './format.ts';
import { readJsonFile } from '../../shared/json-file.ts';
import { forwardingSummary } from '../../gateway/forward/read-model.ts';

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
  checkReferences(parsed.value, path);
  return parsed.value;
}

/** Names in a scenario must exist in the demo world: a typo fails before anything starts. */
function checkReferences(s: Scenario, path: string): void {
  const problems: Array<{ field: string; rule: string; message: string }> = [];
  const terminals = new Set(DEMO_TERMINALS.map((t) => t.key));
  const workers = new Set(DEMO_WORKERS.map((w) => w.key));
  const companies = new Set(DEMO_COMPANIES.map((c) => c.key));
  s.steps.forEach((step, i) => {
    const where = `steps.${i}`;
    if ('tap' in step) {
      if (!terminals.has(step.tap.terminal)) problems.push({ field: `${where}.tap.terminal`, rule: 'exists', message: `${where}.tap.terminal: no terminal ${step.tap.terminal} (known: ${[...terminals].join(', ')})` });
      if (step.tap.worker && !workers.has(step.tap.worker)) problems.push({ field: `${where}.tap.worker`, rule: 'exists', message: `${where}.tap.worker: no worker ${step.tap.worker} (known: ${[...workers].join(', ')})` });
      if (step.tap.choose && step.tap.choose !== 'timeout' && !companies.has(step.tap.choose)) problems.push({ field: `${where}.tap.choose`, rule: 'exists', message: `${where}.tap.choose: no company ${step.tap.choose}` });
    }
    const t = 'clock' in step ? step.clock.terminal : 'network' in step ? step.terminal : undefined;
    if (t && !terminals.has(t)) problems.push({ field: `${where}.terminal`, rule: 'exists', message: `${where}.terminal: no terminal ${t}` });
  });
  s.expect.employers.forEach((e, i) => {
    if (!workers.has(e.worker)) problems.push({ field: `expect.employers.${i}.worker`, rule: 'exists', message: `expect.employers.${i}.worker: no worker ${e.worker}` });
    if (!companies.has(e.company)) problems.push({ field: `expect.employers.${i}.company`, rule: 'exists', message: `expect.employers.${i}.company: no company ${e.company}` });
  });
  s.expect.remarks.forEach((r, i) => {
    if (r.worker && !workers.has(r.worker)) problems.push({ field: `expect.remarks.${i}.worker`, rule: 'exists', message: `expect.remarks.${i}.worker: no worker ${r.worker}` });
    if (r.terminal && !terminals.has(r.terminal)) problems.push({ field: `expect.remarks.${i}.terminal`, rule: 'exists', message: `expect.remarks.${i}.terminal: no terminal ${r.terminal}` });
  });
  if (problems.length) throw new InvalidInputError(problems.map((p) => ({ ...p, message: `scenario ${path}: ${p.message}` })));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(condition: () => boolean, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (condition()) return true;
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
  const day = addDays(localDate(new Date()), scenario.day);
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const at = (hhmm: string) => {
    const [h, mi, s] = hhmm.split(':').map(Number) as [number, number, number?];
    return fromLocal({ year: y, month: m, day: d, hour: h, minute: mi, second: s ?? 0 });
  };
  const times: Date[] = [];
  let previous: Date | undefined;
  for (const step of scenario.steps) {
    const t = step.at.startsWith('+') ? new Date((previous ?? at('06:00')).getTime() + durationMs(step.at.slice(1))) : at(step.at);
    times.push(t);
    previous = t;
  }
  const start = new Date(Math.min(...times.map((t) => t.getTime())) - 10 * 60_000);
  const clock = new VirtualClock(start, 0);
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'ciao-scenario-'));
  const recorded = new Set<string>();
  const world = await startWorld({
    dir,
    clock,
    logLevel: 'warn',
    // Retry fast: the scripted day runs in seconds, not hours.
    forwarding: { backoffInitialMs: 50, backoffMaxMs: 500, circuitOpenMs: 500, idlePollMs: 50, validityPollIntervalMs: 100, requestTimeoutMs: 2_000, reconcileDelayMs: 200 },
    terminalOverrides: { choiceTimeoutSeconds: 1, ackTimeoutSeconds: 2, statusIntervalSeconds: 1 },
  });
  const checks: Check[] = [];
  const faultClears: Array<{ at: Date }> = [];
  try {
    for (const t of world.terminals.values()) t.handle.pipeline.on('tap', (o: { tap: { id: string } }) => recorded.add(o.tap.id));
    emit({ kind: 'info', text: `scenario "${scenario.name}" on ${day}, data in ${dir}` });
    await until(() => [...world.terminals.values()].every((t) => t.handle.state.settings.siteId !== 'unknown-site' && rosterSize(t) > 0), settleMs);

    for (let i = 0; i < scenario.steps.length; i++) {
      const step = scenario.steps[i]!;
      const target = times[i]!;
      for (const c of faultClears.splice(0).sort((a, b) => a.at.getTime() - b.at.getTime())) {
        if (c.at <= target) {
          await runClock(world, clock, c.at, options.speed);
          world.emulator.clearFaults();
        } else faultClears.push(c);
      }
      await runClock(world, clock, target, options.speed);
      emit({ kind: 'step', text: `${toOffsetIso(target).slice(11, 16)} ${describe(step)}`, index: i + 1, total: scenario.steps.length });
      const check = await runStep(world, step, target, faultClears);
      if (check) checks.push(check);
      await settle(world, settleMs);
    }

    // The day is over: let the clock pass the end of the shifts so missing OUTs show, heal every fault,
    // and wait until every registration has been settled with ONSS.
    const end = new Date(fromLocal({ year: y, month: m, day: d, hour: 23, minute: 59 }).getTime() + 15 * 3_600_000);
    world.emulator.clearFaults();
    for (const t of world.terminals.values()) t.proxy.restore();
    clock.advanceTo(end);
    await settle(world, settleMs);
    await until(() => pendingAtOnss(world) === 0, settleMs * 2, 50);

    const period = { from: addDays(day, -1), to: addDays(day, 1) };
    const summary = summarize(world, recorded, period, () => clock.now());
    checks.push(...expectationChecks(scenario, world, summary, period, () => clock.now()));
    for (const c of checks) emit({ kind: 'check', text: `${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: expected ${c.expected}, got ${c.actual}` });
    return { name: scenario.name, passed: checks.every((c) => c.ok), checks, summary, dir };
  } finally {
    await world.stop();
    if (!options.dir && !options.keepDir) rmSync(dir, { recursive: true, force: true });
  }
}

function rosterSize(t: SimTerminal): number {
  return DEMO_WORKERS.filter((w) => t.handle.state.lookup(w.badge) !== undefined).length;
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
async function quiesce(world: World): Promise<void> {
  const pending = () => {
    let queued = 0;
    for (const t of world.terminals.values()) if (t.proxy.state === 'up') queued += t.handle.outbox.queued;
    const f = forwardingSummary(world.gateway.db);
    return `${queued}/${f.waiting}/${f.in_flight}/${f.retry}`;
  };
  const IDLE = '0/0/0/0';
  let last = pending();
  let unchangedSince = Date.now();
  while (last !== IDLE && Date.now() - unchangedSince < 1_000) {
    await new Promise((r) => setTimeout(r, 10));
    const now = pending();
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
  return 'wait';
}

async function runStep(world: World, step: ScenarioStep, target: Date, faultClears: Array<{ at: Date }>): Promise<Check | undefined> {
  if ('tap' in step) return tap(world, step.tap);
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
    if (step.onss.fault === 'clear') world.emulator.clearFaults();
    else {
      world.emulator.setFaults(FAULTS[step.onss.fault]!);
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

async function tap(world: World, t: Extract<ScenarioStep, { tap: unknown }>['tap']): Promise<Check | undefined> {
  const term = world.terminals.get(t.terminal)!;
  const uid = t.badge?.toUpperCase() ?? DEMO_WORKERS.find((w) => w.key === t.worker)!.badge;
  let outcome: 'registered' | 'debounced' | 'unknown' | undefined;
  const onTap = (o: { known: boolean }) => (outcome = o.known ? 'registered' : 'unknown');
  const onDebounced = () => (outcome = 'debounced');
  term.handle.pipeline.once('tap', onTap);
  term.handle.pipeline.once('debounced', onDebounced);
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
  }
  if (!t.expect) return undefined;
  return { what: `terminal ${t.terminal} answers ${t.worker ?? t.badge}`, expected: t.expect, actual: outcome ?? 'nothing', ok: outcome === t.expect };
}

async function settle(world: World, timeoutMs: number): Promise<void> {
  // Terminals whose network is up empty their outbox; the forwarder then catches up unless ONSS is down.
  await until(() => [...world.terminals.values()].every((t) => t.proxy.state !== 'up' || t.handle.outbox.queued === 0), timeoutMs);
}

/** Registrations ONSS has not settled yet: not sent, in flight, to retry, or created with validity pending. */
function pendingAtOnss(world: World): number {
  const s = forwardingSummary(world.gateway.db);
  return s.waiting + s.in_flight + s.retry + s.pendingValidity;
}

function expectationChecks(s: Scenario, world: World, summary: WorldSummary, period: { from: string; to: string }, now: () => Date): Check[] {
  const checks: Check[] = [];
  const num = (what: string, expected: number, actual: number) => checks.push({ what, expected: String(expected), actual: String(actual), ok: expected === actual });
  num('taps lost between terminal and gateway', 0, summary.lost);
  num('duplicate registrations at ONSS', 0, summary.duplicates);
  num('registrations not settled with ONSS', 0, summary.pending);
  if (s.expect.taps !== undefined) num('taps recorded by the terminals', s.expect.taps, summary.taps);
  if (s.expect.registrations !== undefined) num('registrations created at ONSS', s.expect.registrations, summary.forwarded);
  if (s.expect.outages !== undefined) num('outage journal entries', s.expect.outages, summary.outages);
  const remarks = openRemarks(world, period, now);
  for (const r of s.expect.remarks) {
    const matching = remarks.filter((x) => x.kind === r.kind && (!r.worker || x.workerId === r.worker) && (!r.terminal || x.terminalId === r.terminal));
    const what = `remark ${r.kind}${r.worker ? ` for ${r.worker}` : ''}${r.terminal ? ` on ${r.terminal}` : ''}`;
    if (r.count !== undefined) num(what, r.count, matching.length);
    else checks.push({ what, expected: 'at least 1', actual: String(matching.length), ok: matching.length > 0 });
  }
  const byEmployer = world.emulator.store.db.prepare('SELECT COUNT(*) FROM registrations WHERE ssin = ? AND employer_id = ?').pluck();
  for (const e of s.expect.employers) {
    const worker = DEMO_WORKERS.find((w) => w.key === e.worker);
    const company = DEMO_COMPANIES.find((c) => c.key === e.company);
    num(`registrations of ${e.worker} under ${e.company} at ONSS`, e.count, worker && company ? (byEmployer.get(worker.ssin, company.number) as number) : -1);
  }
  for (const kind of s.expect.noRemarks) num(`remark ${kind} (none expected)`, 0, remarks.filter((x) => x.kind === kind).length);
  return checks;
}
