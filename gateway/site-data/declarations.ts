import { parseDeclarationNumber } from '../../shared/identifiers/declaration.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { byCodePoint } from '../store/sql-binds.ts';
import { getCompany, parseCompanyNumber } from './companies.ts';
import { getSite } from './sites.ts';
import { check, nowIso, parseDay, problem, throwIfAny } from './input.ts';

/**
 * Declarations of works: the number ONSS knows, the site it covers, its validity, and the contractor chain
 * (the companies working under it, main contractor first). Enrichment picks the site's declaration valid
 * on the tap's day.
 */
export interface Declaration {
  number: string;
  siteId: string;
  validFrom: string;
  validTo: string | null;
  companies: string[];
  /** Withdrawn (never deleted): no longer used for new taps; registrations made under it keep it. */
  deactivatedAt: string | null;
  /**
   * The declaration's CIaO registration URL (what its QR code holds): the fallback when a terminal cannot
   * register (FAQ 31); the console shows and prints it per site. null: not recorded.
   */
  ciaoUrl: string | null;
}

export interface DeclarationInput {
  number: string;
  siteId: string;
  validFrom: string;
  validTo?: string;
  companies: string[];
  /** https URL; empty or null clears it; undefined keeps what is recorded. */
  ciaoUrl?: string | null;
}

/** A CIaO registration URL: https, at most 500 characters, no spaces. */
function parseCiaoUrl(input: string | null | undefined, problems: FieldProblem[]): string | null | undefined {
  if (input === undefined) return undefined;
  const v = (input ?? '').trim();
  if (v === '') return null;
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'https:' || /\s/.test(v) || v.length > 500) {
    problems.push(problem('ciaoUrl', 'https-url', 'must be the https:// URL of the declaration\'s CIaO QR code (at most 500 characters)'));
    return undefined;
  }
  return v;
}

/** Adds a declaration, or changes the known one with this number (its chain replaced), through the storage port. */
export async function upsertDeclaration(store: SqlStore, input: DeclarationInput): Promise<Declaration> {
  const problems: FieldProblem[] = [];
  const number = check(parseDeclarationNumber(input.number ?? '', 'number'), problems);
  if (!input.siteId) problems.push(problem('site', 'required', 'is required'));
  else if (!(await getSite(store, input.siteId))) problems.push(problem('site', 'exists', `site ${input.siteId} does not exist`));
  const from = parseDay(input.validFrom, 'from', problems);
  if (!input.validFrom) problems.push(problem('from', 'required', 'is required (YYYY-MM-DD)'));
  const to = parseDay(input.validTo, 'to', problems);
  if (from && to && to < from) problems.push(problem('to', 'order', 'must not be before from'));
  const companies: string[] = [];
  for (const [i, c] of (input.companies ?? []).entries()) {
    const parsed = parseCompanyNumber(c, `company[${i}]`, problems);
    if (!parsed) continue;
    if (!(await getCompany(store, parsed.id))) problems.push(problem(`company[${i}]`, 'exists', `company ${parsed.id} is not known: add it first with 'ciao admin company add'`));
    else if (!companies.includes(parsed.id)) companies.push(parsed.id);
  }
  if (companies.length === 0 && problems.length === 0) problems.push(problem('company', 'required', 'at least one company (the contractor chain) is required'));
  const ciaoUrl = parseCiaoUrl(input.ciaoUrl, problems);
  throwIfAny(problems);
  // The declaration and its chain together (a savepoint inside the caller's transaction).
  await store.transaction(async (tx) => {
    await tx.run(
      `INSERT INTO declarations (number, site_id, valid_from, valid_to, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (number) DO UPDATE SET site_id = excluded.site_id, valid_from = excluded.valid_from, valid_to = excluded.valid_to`,
      [number!, input.siteId, from!, to ?? null, nowIso()],
    );
    await tx.run('DELETE FROM declaration_companies WHERE declaration = $1', [number!]);
    for (const [rank, c] of companies.entries()) await tx.run('INSERT INTO declaration_companies (declaration, company_id, rank) VALUES ($1, $2, $3)', [number!, c, rank]);
    if (ciaoUrl !== undefined) await tx.run('UPDATE declarations SET ciao_url = $1 WHERE number = $2', [ciaoUrl, number!]);
  });
  return (await getDeclaration(store, number!))!;
}

interface DeclarationRow {
  number: string;
  site_id: string;
  valid_from: string;
  valid_to: string | null;
  deactivated_at: string | null;
  ciao_url: string | null;
}

const DECLARATION_COLUMNS = 'number, site_id, valid_from, valid_to, deactivated_at, ciao_url';

function toDeclaration(row: DeclarationRow, companies: string[]): Declaration {
  return { number: row.number, siteId: row.site_id, validFrom: row.valid_from, validTo: row.valid_to, companies, deactivatedAt: row.deactivated_at, ciaoUrl: row.ciao_url ?? null };
}

export async function getDeclaration(store: SqlStore, number: string): Promise<Declaration | undefined> {
  const row = await store.one<DeclarationRow>(`SELECT ${DECLARATION_COLUMNS} FROM declarations WHERE number = $1`, [number]);
  if (!row) return undefined;
  const companies = (await store.all<{ company_id: string }>('SELECT company_id FROM declaration_companies WHERE declaration = $1 ORDER BY rank', [number])).map((r) => r.company_id);
  return toDeclaration(row, companies);
}

/**
 * A site's declarations (or every one: by site first), by first day then number, in two reads whatever their
 * number; text ordered in code by code point, as SQLite orders it, whatever a PostgreSQL server's collation.
 */
export async function listDeclarations(store: SqlStore, siteId?: string): Promise<Declaration[]> {
  const where = siteId ? 'WHERE d.site_id = $1' : '';
  const params = siteId ? [siteId] : [];
  const rows = await store.all<DeclarationRow>(`SELECT ${DECLARATION_COLUMNS} FROM declarations d ${where}`, params);
  const links = await store.all<{ declaration: string; company_id: string }>(
    `SELECT dc.declaration, dc.company_id FROM declaration_companies dc JOIN declarations d ON d.number = dc.declaration ${where} ORDER BY dc.rank`,
    params,
  );
  const chains = new Map<string, string[]>();
  for (const l of links) {
    const chain = chains.get(l.declaration);
    if (chain) chain.push(l.company_id);
    else chains.set(l.declaration, [l.company_id]);
  }
  return rows
    .sort((a, b) => byCodePoint(a.site_id, b.site_id) || byCodePoint(a.valid_from, b.valid_from) || byCodePoint(a.number, b.number))
    .map((r) => toDeclaration(r, chains.get(r.number) ?? []));
}

/** The site's declaration valid on a day; when several overlap, the most recently started one (then by number). */
export async function declarationOn(store: SqlStore, siteId: string, day: string): Promise<Declaration | undefined> {
  const rows = await store.all<{ number: string; valid_from: string }>(
    'SELECT number, valid_from FROM declarations WHERE site_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to >= $2) AND deactivated_at IS NULL',
    [siteId, day],
  );
  const first = rows.sort((a, b) => byCodePoint(b.valid_from, a.valid_from) || byCodePoint(a.number, b.number))[0];
  return first ? getDeclaration(store, first.number) : undefined;
}
