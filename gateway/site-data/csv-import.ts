import { parse } from 'csv-parse/sync';
import type { Db } from '../../shared/sqlite.ts';
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

function importRows(db: Db, text: string, save: (row: Row, problems: FieldProblem[]) => void): ImportResult {
  const result: ImportResult = { imported: 0, rejected: [] };
  const rows = readRows(text, result);
  // IMMEDIATE: take the write lock up front (the gateway writes concurrently); rows are savepoints inside.
  db.transaction(() => {
    for (const row of rows) {
      const problems: FieldProblem[] = [];
      try {
        // A savepoint per row: a row that fails in the database rolls back alone.
        db.transaction(() => save(row, problems))();
      } catch (err) {
        // A rule of the caller (scope, deactivated record) names its field; anything else is the database's.
        if (err instanceof CiaoError) problems.push(...err.problems);
        else problems.push({ field: '(row)', rule: 'database', message: `(row): ${(err as Error).message}` });
      }
      if (problems.length) result.rejected.push({ line: row.line, problems });
      else result.imported += 1;
    }
  }).immediate();
  result.rejected.sort((a, b) => a.line - b.line);
  return result;
}

/** What a caller adds to each row: its own checks (throwing), and a note of each row saved (the audit trail). */
export interface ImportHooks<Checked, Saved> {
  check?(row: Checked): void;
  saved?(before: Saved | null, after: Saved): void;
}

export function importWorkersCsv(db: Db, text: string, hooks: ImportHooks<Omit<Worker, 'id'> & { id?: string }, Worker> = {}): ImportResult {
  return importRows(db, text, (row, problems) => {
    const f = row.fields;
    const w = checkWorker(db, {
      id: f.id || undefined,
      niss: f.niss || f.bis || f.ssin || undefined,
      limosa: f.limosa || undefined,
      name: f.name ?? '',
      capacity: f.capacity || undefined,
      employers: (f.employers ?? f.employer ?? '').split(/[|\s]+/).filter(Boolean),
    }, problems);
    if (!w) return;
    hooks.check?.(w);
    const before = (w.id && getWorker(db, w.id)) || (w.ssin && findBy(db, 'ssin', w.ssin)) || (w.limosaId && findBy(db, 'limosa_id', w.limosaId)) || null;
    const after = saveWorker(db, w);
    hooks.saved?.(before, after);
  });
}

function findBy(db: Db, column: 'ssin' | 'limosa_id', value: string): Worker | null {
  const id = db.prepare(`SELECT id FROM workers WHERE ${column} = ?`).pluck().get(value) as string | undefined;
  return id ? getWorker(db, id) ?? null : null;
}

export function importBadgesCsv(db: Db, text: string, hooks: ImportHooks<{ uid: string; workerId: string; validFrom: string; validTo: string | null }, Badge> = {}): ImportResult {
  return importRows(db, text, (row, problems) => {
    const f = row.fields;
    const b = checkBadge(db, { uid: f.uid ?? '', worker: f.worker ?? '', validFrom: f.from || f.valid_from || undefined, validTo: f.to || f.valid_to || undefined }, problems);
    if (!b) return;
    hooks.check?.(b);
    const before = getBadge(db, b.uid) ?? null;
    const after = saveBadge(db, b);
    hooks.saved?.(before, after);
  });
}
