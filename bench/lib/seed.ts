import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { makeEnterpriseNumber, makeWorkerNumber } from '../../shared/identifiers/make.ts';
import { defaultBadges } from '../../simulator/load/tap-source.ts';

/**
 * A site as the gateway sees it in production, sized for a load run: one employer, one site with a valid
 * declaration, and a worker with a badge for every badge the load generator's terminals tap (16 per
 * terminal), so every tap is enriched into a registration, as on a real site. With `secure`, the badges are
 * NTAG 424 DNA badges enrolled as secure (their taps carry SUN messages the gateway verifies).
 */
export async function seedBenchSite(store: SqlStore, terminalIds: string[], o: { secure?: { badges: (terminalIndex: number) => string[]; keyVersion: number } } = {}): Promise<{ siteId: string; badges: number }> {
  const { upsertCompany } = await import('../../gateway/site-data/companies.ts');
  const { upsertSite } = await import('../../gateway/site-data/sites.ts');
  const { upsertDeclaration } = await import('../../gateway/site-data/declarations.ts');
  const { upsertWorker } = await import('../../gateway/site-data/workers.ts');
  const { upsertBadge, saveSecureBadge } = await import('../../gateway/site-data/badges.ts');
  const employer = makeEnterpriseNumber('04030192');
  const siteId = 'bench-site';
  let badges = 0;
  // The site data through the storage port (SQLite or PostgreSQL), in one transaction.
  await store.transaction(async (tx) => {
    await upsertCompany(tx, { number: employer, name: 'Bench Cleaning' });
    await upsertSite(tx, { id: siteId, name: 'Bench Tower', language: 'fr', postCode: '1000', municipality: 'Bruxelles', street: 'Rue Neuve', houseNumber: '1' });
    await upsertDeclaration(tx, { number: '1Y102M7NZF7PZ', siteId, validFrom: '2020-01-01', companies: [employer] });
    for (const t of terminalIds.keys()) {
      for (const uid of o.secure ? o.secure.badges(t) : defaultBadges(t)) {
        const n = badges++;
        // Distinct valid national numbers: a birth date per 900 workers, serials 1..900.
        const niss = makeWorkerNumber({ year: 1960 + Math.floor(n / 900), month: 1 + (Math.floor(n / 900) % 12), day: 1 + (Math.floor(n / 900) % 28) }, 1 + (n % 900));
        const workerId = `bw-${n}`;
        await upsertWorker(tx, { id: workerId, niss, name: `Worker ${n}`, capacity: 'employee', employers: [employer] });
        if (o.secure) await saveSecureBadge(tx, { uid, workerId, validFrom: '2020-01-01', validTo: null, keyVersion: o.secure.keyVersion });
        else await upsertBadge(tx, { uid, worker: workerId, validFrom: '2020-01-01' });
      }
    }
  });
  return { siteId, badges };
}
