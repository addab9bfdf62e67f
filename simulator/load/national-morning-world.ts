import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { makeEnterpriseNumber, makeWorkerNumber } from '../../shared/identifiers/make.ts';
import type { TerminalCredentials } from './credentials.ts';

/**
 * The site data of a national morning (national-morning.ts): cleaning companies, sites with a declaration of
 * works each, terminals at the sites' doors, and the workers of each site with a badge each. Written into a
 * gateway database through the gateway's own site-data module, in one transaction; names start with `nm-`,
 * so the world can be laid down again on the same database (its terminals then get a new secret).
 */
export interface NationalMorningWorldOptions {
  workers: number;
  terminals: number;
  /** Terminals per site (its doors); default 2. */
  terminalsPerSite?: number;
  /**
   * Sites per cleaning company; default 2, so a company employs the workers of its two sites (about 48):
   * a site's roster holds the badges of every worker of the companies on its declaration.
   */
  sitesPerCompany?: number;
}

export interface NationalMorningWorld {
  terminals: TerminalCredentials[];
  /** The badges of the workers who tap at each terminal (index as in `terminals`). */
  badgesOf(terminalIndex: number): string[];
  sites: number;
  companies: number;
}

/** A declaration-of-works number (13 characters, letters without I and O, digits) from a running number. */
function declarationNumber(n: number): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
  let s = 'NM';
  let x = n;
  for (let i = 0; i < 11; i++) {
    s += alphabet[x % alphabet.length];
    x = Math.floor(x / alphabet.length);
  }
  return s;
}

/** 7-byte badge UIDs (14 hex characters): 0x4E4D ("NM") and the worker's number. */
export function nationalMorningBadge(worker: number): string {
  return `4E4D${worker.toString(16).toUpperCase().padStart(10, '0')}`;
}

/** Through the storage port: into the gateway's SQLite file or its PostgreSQL database. */
export async function seedNationalMorning(store: SqlStore, o: NationalMorningWorldOptions): Promise<NationalMorningWorld> {
  const { upsertCompany } = await import('../../gateway/site-data/companies.ts');
  const { upsertSite } = await import('../../gateway/site-data/sites.ts');
  const { upsertDeclaration } = await import('../../gateway/site-data/declarations.ts');
  const { upsertWorker } = await import('../../gateway/site-data/workers.ts');
  const { upsertBadge } = await import('../../gateway/site-data/badges.ts');
  const { addTerminal, getTerminal, rotateTerminalSecret } = await import('../../gateway/site-data/terminals.ts');
  const { generateSecret, hashSecret } = await import('../../gateway/site-data/secrets.ts');
  const perSite = o.terminalsPerSite ?? 2;
  const sitesPerCompany = o.sitesPerCompany ?? 2;
  const siteCount = Math.ceil(o.terminals / perSite);
  const companyCount = Math.ceil(siteCount / sitesPerCompany);
  const width = Math.max(4, String(o.terminals).length);
  const terminalIds = Array.from({ length: o.terminals }, (_, i) => `nm-${String(i + 1).padStart(width, '0')}`);
  const siteOfTerminal = (t: number) => Math.floor(t / perSite);
  // Workers are spread over the terminals: worker w taps at terminal w % terminals (the same door all morning).
  const badges: string[][] = terminalIds.map(() => []);
  // One secret for the whole fleet, hashed once: the gateway still checks it with scrypt at every login.
  const shared = { secret: generateSecret(), hash: '' };
  shared.hash = hashSecret(shared.secret);
  const terminals: TerminalCredentials[] = [];
  const companies = Array.from({ length: companyCount }, (_, c) => makeEnterpriseNumber(`0${String(5_000_000 + c).padStart(7, '0')}`));
  // The site data through the storage port, in a transaction of its own.
  await store.transaction(async (tx) => {
    for (const [c, number] of companies.entries()) await upsertCompany(tx, { number, name: `Cleaning ${c + 1}` });
    for (let s = 0; s < siteCount; s++) {
      await upsertSite(tx, { id: `nm-site-${s + 1}`, name: `Site ${s + 1}`, language: s % 3 === 0 ? 'nl' : 'fr', postCode: String(1000 + (s % 8000)), municipality: 'Bruxelles', street: 'Rue du Travail', houseNumber: String(1 + (s % 200)) });
    }
    for (let s = 0; s < siteCount; s++) {
      const id = `nm-site-${s + 1}`;
      await upsertDeclaration(tx, { number: declarationNumber(s), siteId: id, validFrom: '2020-01-01', companies: [companies[Math.floor(s / sitesPerCompany)]!] });
    }
    for (let w = 0; w < o.workers; w++) {
      const t = w % o.terminals;
      const s = siteOfTerminal(t);
      const birth = { year: 1960 + Math.floor(w / 900) % 45, month: 1 + (Math.floor(w / 900) % 12), day: 1 + (Math.floor(w / 10_800) % 28) };
      const id = `nm-w-${w + 1}`;
      await upsertWorker(tx, { id, niss: makeWorkerNumber(birth, 1 + (w % 900)), name: `Worker ${w + 1}`, capacity: 'employee', employers: [makeEnterpriseNumber(`0${String(5_000_000 + Math.floor(s / sitesPerCompany)).padStart(7, '0')}`)] });
      const uid = nationalMorningBadge(w + 1);
      await upsertBadge(tx, { uid, worker: id, validFrom: '2020-01-01' });
      badges[t]!.push(uid);
    }
  });
  // The terminals through the storage port, in a transaction of their own (their sites are written above).
  await store.transaction(async (tx) => {
    for (const [t, id] of terminalIds.entries()) {
      const siteId = `nm-site-${siteOfTerminal(t) + 1}`;
      if (await getTerminal(tx, id)) terminals.push({ id, secret: await rotateTerminalSecret(tx, id) });
      else terminals.push({ id, secret: (await addTerminal(tx, { id, siteId }, shared)).secret });
    }
  });
  return { terminals, badgesOf: (t) => badges[t] ?? [], sites: siteCount, companies: companyCount };
}
