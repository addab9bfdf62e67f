import { toOffsetIso, toOnssUtc } from '../../shared/time.ts';
import { ONSS_CAPACITY_FIELD, onssCapacity } from '../../gateway/onss/shapes.ts';
import { DEMO_COMPANIES, DEMO_DECLARATIONS, type SeedWorker } from '../world/seed-data.ts';
import type { World } from '../world/world.ts';
import type { ExpectedRegistration } from './format.ts';
import { wallInstant } from './times.ts';

/**
 * What ONSS received, read from the emulator's own database: every registration it created and every item it
 * refused (`notCreated`), each as the seven things a scenario names (worker, type, time, employer, capacity,
 * declaration, created or not), compared with the scenario's list: none missing, none extra.
 */
export interface ReceivedRegistration {
  worker: string;
  type: string;
  /** UTC, as ONSS takes it. */
  at: string;
  employer: string;
  capacity: string;
  declaration: string;
  created: boolean;
}

/** The capacity as the registration carried it; `(none)` when it carried none. */
function capacityOf(value: unknown): string {
  return typeof value === 'string' && value.length > 0 ? value : '(none)';
}

function receivedByOnss(world: World, workers: SeedWorker[]): ReceivedRegistration[] {
  const db = world.emulator.store.db;
  const workerOf = (ssin: string | null, limosa: string | null) =>
    workers.find((w) => (ssin && w.ssin === ssin) || (limosa && w.limosaId?.toUpperCase() === limosa.toUpperCase()))?.key ?? `(unknown ${ssin ? 'NISS' : 'Limosa id'})`;
  const companyKey = (id: string) => DEMO_COMPANIES.find((c) => c.number === id)?.key ?? id;
  const declarationKey = (n: string) => DEMO_DECLARATIONS.find((d) => d.number === n)?.key ?? n;
  const created = (db.prepare('SELECT * FROM registrations').all() as Array<Record<string, unknown>>).map((r) => ({
    worker: workerOf(r.ssin as string | null, r.limosa_id as string | null),
    type: String(r.type),
    at: String(r.registration_date),
    employer: companyKey(String(r.employer_id)),
    capacity: capacityOf(r.capacity),
    declaration: declarationKey(String(r.reference)),
    created: true,
  }));
  const refused = (db.prepare('SELECT item FROM not_created').all() as Array<{ item: string }>).map(({ item }) => {
    const it = JSON.parse(item) as Record<string, unknown>;
    const employer = (it.employer ?? {}) as { enterpriseNumber?: string; foreignVatNumber?: string };
    return {
      worker: workerOf((it.ssin as string | undefined) ?? null, (it.limosaId as string | undefined) ?? null),
      type: String(it.type),
      at: String(it.registrationDate),
      employer: companyKey(employer.enterpriseNumber ?? employer.foreignVatNumber ?? '(none)'),
      capacity: capacityOf(it[ONSS_CAPACITY_FIELD]),
      declaration: declarationKey(String(it.contractualRelationshipReference)),
      created: false,
    };
  });
  return [...created, ...refused];
}

const keyOf = (r: ReceivedRegistration) => [r.worker, r.type, r.at, r.employer, r.capacity, r.declaration, r.created ? 'created' : 'notCreated'].join(' ');

/** For people: the time in Brussels beside the UTC ONSS keeps. */
const show = (r: ReceivedRegistration) => `${r.worker} ${r.type} ${toOffsetIso(new Date(r.at)).slice(0, 16).replace('T', ' ')}${toOffsetIso(new Date(r.at)).slice(-6)} ${r.employer} ${r.capacity} ${r.declaration}${r.created ? '' : ' notCreated'}`;

export function onssCheck(world: World, workers: SeedWorker[], day: string, expected: ExpectedRegistration[]) {
  const want: ReceivedRegistration[] = expected.map((e, i) => ({
    worker: e.worker,
    type: e.type,
    at: toOnssUtc(wallInstant(e.at, day, `expect.onss.${i}.at`)),
    employer: e.employer,
    // The scenario names the capacity as the product does; ONSS receives the adapter's code for it.
    capacity: onssCapacity(e.capacity),
    declaration: e.declaration,
    created: e.created,
  }));
  const got = receivedByOnss(world, workers);
  const missing = [...want];
  const extra: ReceivedRegistration[] = [];
  for (const r of got) {
    const i = missing.findIndex((m) => keyOf(m) === keyOf(r));
    if (i >= 0) missing.splice(i, 1);
    else extra.push(r);
  }
  const ok = missing.length === 0 && extra.length === 0;
  return {
    what: 'registrations ONSS received (worker, type, time, employer, capacity, declaration)',
    expected: `the ${want.length} of the scenario`,
    actual: ok ? `those ${got.length}` : `${got.length}; missing: ${missing.map(show).join('; ') || 'none'}; extra: ${extra.map(show).join('; ') || 'none'}`,
    ok,
  };
}
