import type { Db } from '../../shared/sqlite.ts';
import { parseDeclarationNumber } from '../../shared/identifiers/declaration.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { getCompanySync, parseCompanyNumber } from './companies.ts';
import { getSiteSync } from './sites.ts';
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

export function upsertDeclaration(db: Db, input: DeclarationInput): Declaration {
  const problems: FieldProblem[] = [];
  const number = check(parseDeclarationNumber(input.number ?? '', 'number'), problems);
  if (!input.siteId) problems.push(problem('site', 'required', 'is required'));
  else if (!getSiteSync(db, input.siteId)) problems.push(problem('site', 'exists', `site ${input.siteId} does not exist`));
  const from = parseDay(input.validFrom, 'from', problems);
  if (!input.validFrom) problems.push(problem('from', 'required', 'is required (YYYY-MM-DD)'));
  const to = parseDay(input.validTo, 'to', problems);
  if (from && to && to < from) problems.push(problem('to', 'order', 'must not be before from'));
  const companies: string[] = [];
  (input.companies ?? []).forEach((c, i) => {
    const parsed = parseCompanyNumber(c, `company[${i}]`, problems);
    if (!parsed) return;
    if (!getCompanySync(db, parsed.id)) problems.push(problem(`company[${i}]`, 'exists', `company ${parsed.id} is not known: add it first with 'ciao admin company add'`));
    else if (!companies.includes(parsed.id)) companies.push(parsed.id);
  });
  if (companies.length === 0 && problems.length === 0) problems.push(problem('company', 'required', 'at least one company (the contractor chain) is required'));
  const ciaoUrl = parseCiaoUrl(input.ciaoUrl, problems);
  throwIfAny(problems);
  db.transaction(() => {
    db.prepare(
      `INSERT INTO declarations (number, site_id, valid_from, valid_to, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (number) DO UPDATE SET site_id = excluded.site_id, valid_from = excluded.valid_from, valid_to = excluded.valid_to`,
    ).run(number!, input.siteId, from!, to ?? null, nowIso());
    db.prepare('DELETE FROM declaration_companies WHERE declaration = ?').run(number!);
    const add = db.prepare('INSERT INTO declaration_companies (declaration, company_id, rank) VALUES (?, ?, ?)');
    companies.forEach((c, rank) => add.run(number!, c, rank));
    if (ciaoUrl !== undefined) db.prepare('UPDATE declarations SET ciao_url = ? WHERE number = ?').run(ciaoUrl, number!);
  }).immediate();
  return getDeclaration(db, number!)!;
}

export function getDeclaration(db: Db, number: string): Declaration | undefined {
  const row = db.prepare('SELECT * FROM declarations WHERE number = ?').get(number) as
    | { number: string; site_id: string; valid_from: string; valid_to: string | null; deactivated_at: string | null; ciao_url?: string | null }
    | undefined;
  if (!row) return undefined;
  const companies = (db.prepare('SELECT company_id FROM declaration_companies WHERE declaration = ? ORDER BY rank').all(number) as Array<{ company_id: string }>).map((r) => r.company_id);
  return { number: row.number, siteId: row.site_id, validFrom: row.valid_from, validTo: row.valid_to, companies, deactivatedAt: row.deactivated_at, ciaoUrl: row.ciao_url ?? null };
}

export function listDeclarations(db: Db, siteId?: string): Declaration[] {
  const rows = (siteId
    ? db.prepare('SELECT number FROM declarations WHERE site_id = ? ORDER BY valid_from, number').all(siteId)
    : db.prepare('SELECT number FROM declarations ORDER BY site_id, valid_from, number').all()) as Array<{ number: string }>;
  return rows.map((r) => getDeclaration(db, r.number)!);
}

/** The site's declaration valid on a day; when several overlap, the most recently started one. */
export function declarationOn(db: Db, siteId: string, day: string): Declaration | undefined {
  const row = db.prepare(
    `SELECT number FROM declarations WHERE site_id = ? AND valid_from <= ? AND (valid_to IS NULL OR valid_to >= ?) AND deactivated_at IS NULL
     ORDER BY valid_from DESC, number LIMIT 1`,
  ).get(siteId, day, day) as { number: string } | undefined;
  return row ? getDeclaration(db, row.number) : undefined;
}
