import { calendarDaysInclusive } from '../../shared/time.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { startOfSiteDay } from '../remarks/shifts.ts';
import type { RegistrationRecord } from './ports.ts';

/**
 * Periods and exports of registrations. An export covers at most 100 calendar days (FAQ 39); the days are
 * site days (Europe/Brussels), both ends included. NISS numbers are in an export only for a user allowed
 * to see them.
 */
const MAX_EXPORT_DAYS = 100;
export const EXPORT_FORMATS = ['csv', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface Period {
  from: string;
  to: string;
  days: number;
  fromUtc: string;
  toUtc: string;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

const MIN_DAY = '1900-01-01';
const MAX_DAY = '9998-12-31';

function validDay(v: string): boolean {
  if (!DAY.test(v)) return false;
  const d = new Date(`${v}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === v;
}

function utc(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/** Checks a period of site days; `maxDays` applies to exports (100) and to listings alike. */
export function checkPeriod(from: string | undefined, to: string | undefined, maxDays = MAX_EXPORT_DAYS): { ok: true; value: Period } | { ok: false; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  if (!from) problems.push({ field: 'from', rule: 'required', message: 'from: is required (YYYY-MM-DD, first site day included)' });
  else if (!validDay(from)) problems.push({ field: 'from', rule: 'format', message: `from: must be a date YYYY-MM-DD, got ${JSON.stringify(from)}` });
  if (!to) problems.push({ field: 'to', rule: 'required', message: 'to: is required (YYYY-MM-DD, last site day included)' });
  else if (!validDay(to)) problems.push({ field: 'to', rule: 'format', message: `to: must be a date YYYY-MM-DD, got ${JSON.stringify(to)}` });
  // Days the site's calendar can compute (the day after `to` must still be a four-digit year).
  for (const [field, v] of [['from', from], ['to', to]] as const) {
    if (v && validDay(v) && (v < MIN_DAY || v > MAX_DAY)) problems.push({ field, rule: 'range', message: `${field}: must be a day from ${MIN_DAY} to ${MAX_DAY}, got ${v}` });
  }
  if (problems.length) return { ok: false, problems };
  const days = calendarDaysInclusive(from!, to!);
  if (days < 1) return { ok: false, problems: [{ field: 'to', rule: 'order', message: `to: must be on or after from (${from})` }] };
  if (days > maxDays) {
    return { ok: false, problems: [{ field: 'to', rule: 'max-100-calendar-days', message: `to: an export covers at most ${maxDays} calendar days (FAQ 39); ${from} to ${to} is ${days} days` }] };
  }
  const next = new Date(Date.parse(`${to}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  return { ok: true, value: { from: from!, to: to!, days, fromUtc: utc(startOfSiteDay(from!)), toUtc: utc(startOfSiteDay(next)) } };
}

const EXPORT_COLUMNS = [
  'seq', 'tapId', 'siteId', 'siteName', 'terminalId', 'workerId', 'workerName', 'ssin', 'limosaId', 'capacity', 'type', 'reason',
  'at', 'atUtc', 'receivedAt', 'employerKind', 'employerId', 'employerName', 'declaration', 'placeOfWork', 'onssState', 'onssId',
] as const;

export type ExportRow = Omit<RegistrationRecord, 'ssin'> & { ssin?: string | null };

/** The rows as a user may see them: without the NISS unless allowed (the column disappears altogether). */
export function redactForUser(rows: RegistrationRecord[], canSeeNiss: boolean): ExportRow[] {
  if (canSeeNiss) return rows;
  return rows.map(({ ssin: _ssin, ...rest }) => rest);
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'string' ? v : String(v);
  // A cell starting with = + - @ would run as a formula in a spreadsheet; a leading quote keeps it text.
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n;]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(columns: readonly string[], rows: Array<Record<string, unknown>>): string {
  const lines = [columns.join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvCell(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export function exportRegistrations(rows: RegistrationRecord[], opts: { format: ExportFormat; canSeeNiss: boolean; period: Period; filters: Record<string, string | undefined> }): { body: string; contentType: string; filename: string } {
  const visible = redactForUser(rows, opts.canSeeNiss);
  const columns = EXPORT_COLUMNS.filter((c) => c !== 'ssin' || opts.canSeeNiss);
  const filename = `ciao-registrations-${opts.period.from}_${opts.period.to}.${opts.format}`;
  if (opts.format === 'csv') {
    return { body: toCsv(columns, visible as unknown as Array<Record<string, unknown>>), contentType: 'text/csv; charset=utf-8', filename };
  }
  const body = JSON.stringify({ period: { from: opts.period.from, to: opts.period.to, days: opts.period.days, timeZone: 'Europe/Brussels' }, filters: opts.filters, nissIncluded: opts.canSeeNiss, count: visible.length, registrations: visible }, null, 2);
  return { body, contentType: 'application/json; charset=utf-8', filename };
}
