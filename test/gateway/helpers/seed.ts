import type { Db } from '../../../shared/sqlite.ts';
import { SqliteStore } from '../../../gateway/store/sqlite-store.ts';
import type { SqlStore } from '../../../gateway/store/sql-store.ts';
import { makeEnterpriseNumber, makeWorkerNumber } from '../../../shared/identifiers/make.ts';
import { upsertCompany } from '../../../gateway/site-data/companies.ts';
import { upsertSite } from '../../../gateway/site-data/sites.ts';
import { upsertDeclaration } from '../../../gateway/site-data/declarations.ts';
import { upsertWorker } from '../../../gateway/site-data/workers.ts';
import { revokeBadge, upsertBadge } from '../../../gateway/site-data/badges.ts';

/**
 * A small, complete world for gateway tests: one site with a declaration (two companies on the chain), one
 * site without any, and workers covering each enrichment case. Numbers are built with valid check digits.
 */
export const TEST_SEED = {
  companies: {
    clean: makeEnterpriseNumber('04030192'),
    shine: makeEnterpriseNumber('04287594'),
    foreign: 'FR40123456789',
  },
  sites: { main: 'site-main', bare: 'site-bare' },
  declaration: '1Y102M7NZF7PZ',
  workers: {
    solo: { niss: makeWorkerNumber({ year: 1985, month: 7, day: 30 }, 33), name: 'Ana Peeters', badge: 'AA000001', capacity: 'employee' },
    duo: { niss: makeWorkerNumber({ year: 1979, month: 11, day: 2 }, 118), name: 'Luc Dubois', badge: 'AA000002', capacity: 'employee' },
    revoked: { niss: makeWorkerNumber({ year: 2001, month: 4, day: 17 }, 264), name: 'Sofia Rossi', badge: 'AA000003', capacity: 'agency-worker' },
    posted: { niss: makeWorkerNumber({ year: 1990, month: 3, day: 12 }, 101, 'bis'), name: 'Piotr Nowak', badge: '04C3D4E5F6A7B8', capacity: 'posted-worker' },
  },
  unknownBadge: 'FFEEDDCC',
} as const;

export type TestSeed = typeof TEST_SEED;

/** The test world in a SQLite gateway database (a connection of the test's own). */
export async function seedTestWorld(db: Db): Promise<TestSeed> {
  return seedTestWorldIn(SqliteStore.of(db));
}

/** The test world through the storage port: a gateway database on SQLite or on PostgreSQL. */
export async function seedTestWorldIn(store: SqlStore): Promise<TestSeed> {
  const s = TEST_SEED;
  await upsertCompany(store, { number: s.companies.clean, name: 'Net & Clean' });
  await upsertCompany(store, { number: s.companies.shine, name: 'Shine' });
  await upsertCompany(store, { number: s.companies.foreign, name: 'Propreté du Nord' });
  await upsertSite(store, { id: s.sites.main, name: 'Tour A', language: 'fr', postCode: '1000', municipality: 'Bruxelles', street: 'Rue Neuve', houseNumber: '1' });
  await upsertSite(store, { id: s.sites.bare, name: 'Kantoor', language: 'nl', latitude: 51.2182, longitude: 4.4086 });
  await upsertDeclaration(store, { number: s.declaration, siteId: s.sites.main, validFrom: '2020-01-01', companies: [s.companies.clean, s.companies.shine] });
  await upsertWorker(store, { id: 'w-solo', niss: s.workers.solo.niss, name: s.workers.solo.name, capacity: 'employee', employers: [s.companies.clean] });
  await upsertWorker(store, { id: 'w-duo', niss: s.workers.duo.niss, name: s.workers.duo.name, capacity: 'employee', employers: [s.companies.clean, s.companies.shine] });
  await upsertWorker(store, { id: 'w-revoked', niss: s.workers.revoked.niss, name: s.workers.revoked.name, capacity: 'agency-worker', employers: [s.companies.clean] });
  await upsertWorker(store, { id: 'w-posted', niss: s.workers.posted.niss, name: s.workers.posted.name, capacity: 'posted-worker', employers: [s.companies.foreign] });
  for (const [id, w] of Object.entries(s.workers)) await upsertBadge(store, { uid: w.badge, worker: `w-${id}`, validFrom: '2020-01-01' });
  await revokeBadge(store, s.workers.revoked.badge, 'lost');
  return s;
}
