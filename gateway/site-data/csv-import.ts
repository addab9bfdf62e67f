import { parse } from 'csv-parse/sync';
import type { SqlStore } from '../store/sql-store.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { checkWorker, getWorker, saveWorker, type Worker } from './workers.ts';
import { checkBadge, getBadge, saveBadge, type Badge } from './badges.ts';
import { CiaoError } from '../../shared/errors.ts';

/**
 * CSV import of workers and badges. Each row is checked on its own: a bad row is reported with its line and
 * the field and rule it broke, and every good row is kept. The header names the columns (any order, any
 * case); `,` or `;` separates them (taken from the header line).
 *
 * workers: niss, limosa, name, capacity, employers (several separated by `|` or spaces), id (optional)
 * badges:  uid, worker (worker id, NISS/BIS or Limosa id), from, to
 */
export interface ImportProblem {
  line: number;
  problems: FieldProblem[];
}

export interface ImportResult {
  imported: number;
  rejected: ImportProblem[];
}

interface Row {
  line: number;
  fields: Record<string, string>;
}

function readRows(text: string, result: ImportResult): Row[] {
  const headerLine = text.split(/\r?\n/, 1)[0] ?? '';
  const delimiter = headerLine.includes(';') && !headerLine.includes(',') ? ';' : ',';
  const rows: Row[] = [];
  const records = parse(text, {
    delimiter,
    columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
    skip_empty_lines: true,
    trim: true,
    bom: true,
    info: true,
    relax_column_count: true,
    skip_records_with_error: true,
    on_skip: (err: { lines?: number; message: string } | undefined) => {
      if (err) result.rejected.push({ line: err.lines ?? 0, problems: [{ field: '(row)', rule: 'csv', message: `(row): ${err.message}` }] });
    },
  }) as Array<{ record: Record<string, string>; info: { lines: number; invalid_field_length?: number } }>;
  for (const { record, info } of records) rows.push({ line: info.lines, fields: record });
  return rows;
}

/** Errors of a PostgreSQL transaction that runs again (serialization failure, deadlock): never a row's own problem. */
const RETRYABLE = new Set(['40001', '40P01']);

async function importRows(store: SqlStore, text: string, save: (tx: SqlStore, row: Row, problems: FieldProblem[]) => Promise<void>): Promise<ImportResult> {
  // One transaction (the caller's, when given its `tx`); rows are savepoints inside. Made afresh each time the
  // callback runs (a PostgreSQL transaction may run again).
  return store.transaction(async (tx) => {
    const result: ImportResult = { imported: 0, rejected: [] };
    const rows = readRows(text, result);
    for (const row of rows) {
      const problems: FieldProblem[] = [];
      try {
        // A savepoint per row: a row that fails in the database rolls back alone.
        await tx.transaction((sp) => save(sp, row, problems));
      } catch (err) {
        if (RETRYABLE.has(String((err as { code?: unknown }).code))) throw err;
        // A rule of the caller (scope, deactivated record) names its field; anything else is the database's.
        if (err instanceof CiaoError) problems.push(...err.problems);
        else problems.push({ field: '(row)', rule: 'database', message: `(row): ${(err as Error).message}` });
      }
      if (problems.length) result.rejected.push({ line: row.line, problems });
      else result.imported += 1;
    }
    result.rejected.sort((a, b) => a.line - b.line);
    return result;
  });
}

/**
 * What a caller adds to each row, in the row's savepoint `tx`: its own checks (throwing), and a note of each
 * row saved (the audit trail, the held taps it releases).
 */
export interface ImportHooks<Checked, Saved> {
  check?(tx: SqlStore, row: Checked): Promise<void>;
  saved?(tx: SqlStore, before: Saved | null, after: Saved): Promise<void>;
}

export async function importWorkersCsv(store: SqlStore, text: string, hooks: ImportHooks<Omit<Worker, 'id'> & { id?: string }, Worker> = {}): Promise<ImportResult> {
  return importRows(store, text, async (tx, row, problems) => {
    const f = row.fields;
    const w = await checkWorker(tx, {
      id: f.id || undefined,
      niss: f.niss || f.bis || f.ssin || undefined,
      limosa: f.limosa || undefined,
      name: f.name ?? '',
      capacity: f.capacity || undefined,
      employers: (f.employers ?? f.employer ?? '').split(/[|\s]+/).filter(Boolean),
    }, problems);
    if (!w) return;
    await hooks.check?.(tx, w);
    const before = (w.id && (await getWorker(tx, w.id))) || (w.ssin && (await findBy(tx, 'ssin', w.ssin))) || (w.limosaId && (await findBy(tx, 'limosa_id', w.limosaId))) || null;
    const after = await saveWorker(tx, w);
    await hooks.saved?.(tx, before, after);
  });
}

async function findBy(store: SqlStore, column: 'ssin' | 'limosa_id', value: string): Promise<Worker | null> {
  const row = await store.one<{ id: string }>(`SELECT id FROM workers WHERE ${column} = $1`, [value]);
  return row ? (await getWorker(store, row.id)) ?? null : null;
}

export async function importBadgesCsv(store: SqlStore, text: string, hooks: ImportHooks<{ uid: string; workerId: string; validFrom: string; validTo: string | null }, Badge> = {}): Promise<ImportResult> {
  return importRows(store, text, async (tx, row, problems) => {
    const f = row.fields;
    const b = await checkBadge(tx, { uid: f.uid ?? '', worker: f.worker ?? '', validFrom: f.from || f.valid_from || undefined, validTo: f.to || f.valid_to || undefined }, problems);
    if (!b) return;
    await hooks.check?.(tx, b);
    const before = (await getBadge(tx, b.uid)) ?? null;
    const after = await saveBadge(tx, b);
    await hooks.saved?.(tx, before, after);
  });
}
