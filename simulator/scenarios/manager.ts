import type { VirtualClock } from '../../shared/clock.ts';
import { API_PREFIX } from '../../gateway/http/admin-api.ts';
import { DEMO_COMPANIES, DEMO_DECLARATIONS, DEMO_SITES, type SeedWorker } from '../world/seed-data.ts';
import { addDays } from '../world/seed-demo.ts';
import type { World } from '../world/world.ts';
import type { ManagerAction } from './format.ts';
import { wallInstant } from './times.ts';

/**
 * A site manager's change in a scripted day, made the way the console makes it: over the gateway's admin API
 * with the demo administrator's token, so the change is checked, audited, pushed to the terminals, and sends
 * the taps the gateway held for it, exactly as in production.
 */
export interface StepContext {
  world: World;
  workers: SeedWorker[];
  /** The scenario's day (YYYY-MM-DD). */
  day: string;
  clock: VirtualClock;
}

interface ApiAnswer {
  status: number;
  body: unknown;
}

async function api(world: World, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  const res = await fetch(`http://127.0.0.1:${world.httpPort}${API_PREFIX}${path}`, {
    method,
    headers: { authorization: `Bearer ${world.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: keep the text for the message.
  }
  return { status: res.status, body: parsed };
}

const company = (key: string) => DEMO_COMPANIES.find((c) => c.key === key)!.number;

/** Runs one change; answers a failed check when the gateway refused it (the scenario then fails, saying why). */
export async function managerChange(ctx: StepContext, action: ManagerAction): Promise<{ what: string; expected: string; actual: string; ok: boolean } | undefined> {
  const { world, day } = ctx;
  const worker = (key: string) => ctx.workers.find((w) => w.key === key)!;
  let what: string;
  let answer: ApiAnswer;
  if ('enrol' in action) {
    const w = worker(action.enrol.worker);
    what = `enrol ${w.key}'s badge`;
    // As in the console: from the tap held for the unknown badge when there is one (valid from that tap's day).
    const held = await api(world, 'GET', `/held-taps?reason=unknown-badge&q=${w.badge}`);
    const tapId = ((held.body as { items?: Array<{ tapId: string; badge: string }> }).items ?? []).find((t) => t.badge === w.badge)?.tapId;
    answer = tapId
      ? await api(world, 'POST', '/enrolments', { tapId, worker: w.key })
      : await api(world, 'POST', '/badges', { uid: w.badge, worker: w.key, validFrom: day });
  } else if ('revoke' in action) {
    const w = worker(action.revoke.worker);
    what = `revoke ${w.key}'s badge`;
    answer = await api(world, 'POST', `/badges/${w.badge}/deactivate?reason=${encodeURIComponent(action.revoke.reason ?? 'lost')}`);
  } else if ('badge' in action) {
    const w = worker(action.badge.worker);
    what = `change the validity of ${w.key}'s badge`;
    const b = action.badge;
    answer = await api(world, 'PATCH', `/badges/${w.badge}`, {
      ...(b.validFrom !== undefined ? { validFrom: addDays(day, b.validFrom) } : {}),
      ...(b.validTo !== undefined ? { validTo: b.validTo === null ? null : addDays(day, b.validTo) } : {}),
    });
  } else if ('addDeclaration' in action) {
    const d = DEMO_DECLARATIONS.find((x) => x.key === action.addDeclaration)!;
    what = `add declaration ${d.key}`;
    answer = await api(world, 'POST', '/declarations', {
      number: d.number,
      siteId: DEMO_SITES.find((s) => s.key === d.site)!.key,
      validFrom: addDays(day, d.fromDay),
      ...(d.toDay !== undefined ? { validTo: addDays(day, d.toDay) } : {}),
      companies: d.companies.map(company),
    });
  } else if ('place' in action) {
    const p = action.place;
    what = `place ${p.worker} through ${p.agency} at ${p.user}`;
    answer = await api(world, 'POST', '/placements', {
      worker: p.worker,
      agency: company(p.agency),
      userCompany: company(p.user),
      validFrom: addDays(day, p.from ?? 0),
      ...(p.to !== undefined && p.to !== null ? { validTo: addDays(day, p.to) } : {}),
    });
  } else {
    const c = action.chooseEmployer;
    const w = worker(c.worker);
    const at = wallInstant(c.at, day, 'chooseEmployer.at').getTime();
    what = `choose ${c.company} for ${w.key}'s tap at ${c.at}`;
    const held = await api(world, 'GET', `/held-taps?reason=employer-choice-needed&q=${w.badge}`);
    const tapId = ((held.body as { items?: Array<{ tapId: string; badge: string; at: string }> }).items ?? []).find((t) => t.badge === w.badge && Math.abs(Date.parse(t.at) - at) < 1000)?.tapId;
    if (!tapId) return { what: `site manager: ${what}`, expected: 'a held tap to choose for', actual: 'none held at that time', ok: false };
    answer = await api(world, 'POST', '/employer-choices', { tapId, employer: company(c.company) });
  }
  const ok = answer.status >= 200 && answer.status < 300;
  return ok ? undefined : { what: `site manager: ${what}`, expected: 'accepted', actual: `${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`, ok: false };
}
