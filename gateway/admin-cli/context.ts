import type { Command } from 'commander';
import type { Db } from '../../shared/sqlite.ts';
import type { FieldProblem } from '../../shared/problems.ts';

/**
 * Shared plumbing of the `ciao admin` subcommands: find the database (`--db FILE`, or `--config FILE` for the
 * gateway config's `database`), open it, run, close; print errors naming the field and the rule.
 * Implementations load lazily so `ciao --help` stays fast.
 */
export interface AdminIo {
  out(line: string): void;
}

export const stdoutIo: AdminIo = { out: (line) => process.stdout.write(`${line}\n`) };

export async function resolveDbPath(cmd: Command): Promise<string> {
  const opts = cmd.optsWithGlobals() as { db?: string; config?: string };
  if (opts.db) return opts.db;
  if (opts.config) {
    const { loadGatewayConfig } = await import('../config.ts');
    return loadGatewayConfig(opts.config).database;
  }
  if (process.env.CIAO_GATEWAY_DATABASE) return process.env.CIAO_GATEWAY_DATABASE;
  throw new Error('which database? give --db FILE or --config FILE (the gateway config), or set CIAO_GATEWAY_DATABASE');
}

export function describeProblems(problems: FieldProblem[]): string {
  return problems.map((p) => `${p.message} (rule: ${p.rule})`).join('\n  ');
}

/** Runs an admin action against the gateway database. */
export async function withDb<T>(cmd: Command, fn: (db: Db) => T | Promise<T>): Promise<T> {
  const path = await resolveDbPath(cmd);
  const { openGatewayDatabase } = await import('../store/database.ts');
  const db = openGatewayDatabase(path);
  try {
    return await fn(db);
  } catch (err) {
    const problems = (err as { problems?: FieldProblem[] }).problems;
    if (Array.isArray(problems) && problems.length) throw new Error(`invalid input:\n  ${describeProblems(problems)}`);
    throw err;
  } finally {
    db.close();
  }
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];
}

export function intOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new Error(`--${name}: must be a whole number, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** Prints rows as aligned columns, or as JSON with --json. */
export function printRows(io: AdminIo, rows: Array<Record<string, unknown>>, json: boolean): void {
  if (json) {
    io.out(JSON.stringify(rows, null, 2));
    return;
  }
  if (rows.length === 0) {
    io.out('(none)');
    return;
  }
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) => (v === null || v === undefined ? '' : Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  io.out(cols.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  for (const r of rows) io.out(cols.map((c, i) => cell(r[c]).padEnd(widths[i]!)).join('  ').trimEnd());
}
