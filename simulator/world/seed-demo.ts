import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { upsertCompany } from '../../gateway/site-data/companies.ts';
import { upsertSite, getSite } from '../../gateway/site-data/sites.ts';
import { upsertDeclaration } from '../../gateway/site-data/declarations.ts';
import { upsertWorker } from '../../gateway/site-data/workers.ts';
import { upsertBadge } from '../../gateway/site-data/badges.ts';
import { addTerminal, getTerminal, rotateTerminalSecret } from '../../gateway/site-data/terminals.ts';
import { DEMO_COMPANIES, DEMO_DECLARATIONS, DEMO_SITES, DEMO_TERMINALS, DEMO_WORKERS, type SeedWorker } from './seed-data.ts';

/** How a scripted day's world differs from the demo world when it starts (scenario `world`). */
export interface SeedVariation {
  /** Workers the demo world does not have. */
  extraWorkers?: SeedWorker[];
  /** Workers whose badge is not enrolled yet. */
  withoutBadges?: string[];
  /** Declarations (keys) not entered yet. */
  withoutDeclarations?: string[];
}

/** `YYYY-MM-DD` plus `days` (calendar arithmetic on the date alone). */
export function addDays(day: string, days: number): string {
  const d = new Date(`${day}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

const companyNumber = (key: string) => {
  const c = DEMO_COMPANIES.find((x) => x.key === key);
  if (!c) throw new Error(`demo data: unknown company ${key}`);
  return c.number;
};

/** True when the database already holds the demo world (a second `ciao demo` reuses it). */
export async function hasDemoWorld(store: SqlStore): Promise<boolean> {
  return (await getSite(store, DEMO_SITES[0]!.key)) !== undefined;
}

/**
 * Writes the demo world into a gateway database through the same operations `ciao admin` uses, with the
 * declarations dated around `today` (the contract takeover happens on `today`). Returns each terminal's
 * secret; an existing terminal gets a new secret, since the old one was only ever shown once.
 */
/** Through the storage port: the same world on SQLite (the demo) or PostgreSQL (a cluster's tests). */
export async function seedDemoWorld(store: SqlStore, today: string, variation: SeedVariation = {}): Promise<Record<string, string>> {
  for (const c of DEMO_COMPANIES) await upsertCompany(store, { number: c.number, name: c.name });
  for (const s of DEMO_SITES) {
    await upsertSite(store, {
      id: s.key,
      name: s.name,
      language: s.language,
      postCode: s.address.postCode,
      municipality: s.address.municipalityName,
      street: s.address.streetName,
      houseNumber: s.address.houseNumber,
      box: s.address.boxNumber,
      latitude: s.coordinates?.latitude,
      longitude: s.coordinates?.longitude,
    });
  }
  for (const d of DEMO_DECLARATIONS) {
    if (variation.withoutDeclarations?.includes(d.key)) continue;
    await upsertDeclaration(store, {
      number: d.number,
      siteId: d.site,
      validFrom: addDays(today, d.fromDay),
      validTo: d.toDay === undefined ? undefined : addDays(today, d.toDay),
      companies: d.companies.map(companyNumber),
    });
  }
  for (const w of [...DEMO_WORKERS, ...(variation.extraWorkers ?? [])]) {
    await upsertWorker(store, { id: w.key, niss: w.ssin, limosa: w.limosaId, name: w.name, capacity: w.capacity, employers: w.employers.map(companyNumber) });
    if (variation.withoutBadges?.includes(w.key)) continue;
    await upsertBadge(store, { uid: w.badge, worker: w.key, validFrom: addDays(today, -365) });
  }
  const secrets: Record<string, string> = {};
  for (const t of DEMO_TERMINALS) {
    secrets[t.key] = (await getTerminal(store, t.key))
      ? await rotateTerminalSecret(store, t.key)
      : (await addTerminal(store, { id: t.key, siteId: t.site, debounceSeconds: 10, armSeconds: 5 })).secret;
  }
  return secrets;
}

/** What the emulated ONSS knows: the demo companies and declarations, so its remarks match the demo. */
export function demoKnownData(today: string) {
  return {
    companies: DEMO_COMPANIES.map((c) => ({ id: c.number, active: true })),
    declarations: DEMO_DECLARATIONS.map((d) => ({
      reference: d.number,
      from: addDays(today, d.fromDay),
      ...(d.toDay === undefined ? {} : { to: addDays(today, d.toDay) }),
      companies: d.companies.map(companyNumber),
    })),
  };
}
