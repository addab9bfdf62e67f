import type { Command } from 'commander';
import type { Db } from '../../shared/sqlite.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { userInfo } from 'node:os';
import type { Caller, SiteDataService } from '../site-data/service.ts';
import type { HeldTapPreview } from '../site-data/held-taps.ts';

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

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/**
 * `ciao admin` acts as a local administrator (whoever can open the database file can change it anyway),
 * named in the audit trail as `cli:<system user>`.
 */
export function cliCaller(): Caller {
  const name = `cli:${osUser()}`;
  return {
    actor: { kind: 'cli', id: name, name },
    user: { id: name, name, role: 'administrator', sites: null, company: null, canSeeNiss: true, createdAt: '', revokedAt: null },
  };
}

/** Runs an admin action through the site-data service, the same one the HTTP API uses. */
export async function withService<T>(cmd: Command, fn: (service: SiteDataService, caller: Caller, db: Db) => T | Promise<T>): Promise<T> {
  const { SiteDataService } = await import('../site-data/service.ts');
  const { SqliteStore } = await import('../store/sqlite-store.ts');
  return withDb(cmd, (db) => fn(new SiteDataService(SqliteStore.of(db)), cliCaller(), db));
}

/** Whether a record exists, by calling its reader (which throws ERR_CIAO_NOT_FOUND when not). */
export async function exists(read: () => unknown): Promise<boolean> {
  try {
    await read();
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_CIAO_NOT_FOUND') return false;
    throw err;
  }
}

/** `deactivate ID` and `reactivate ID` for an entity: nothing is ever deleted. */
export function registerActivation(group: Command, what: string, set: (service: SiteDataService, caller: Caller, id: string, active: boolean) => unknown, reactivate = true): void {
  for (const [name, active] of (reactivate ? [['deactivate', false], ['reactivate', true]] : [['deactivate', false]]) as Array<[string, boolean]>) {
    group.command(name)
      .description(active ? `Make a deactivated ${what} active again` : `Deactivate a ${what}: kept with its history, no longer offered (nothing is ever deleted)`)
      .argument('<id>', `${what} id`)
      .action(async (id: string, _o: unknown, cmd: Command) =>
        withService(cmd, async (service, caller) => {
          await set(service, caller, id, active);
          stdoutIo.out(`${what} ${id} ${active ? 'reactivated' : 'deactivated'}`);
        }),
      );
  }
}

/** What a change sent late: each held tap it released (or handed to the badge check), one line each. */
export function printReleased(io: AdminIo, released: HeldTapPreview[]): void {
  if (released.length === 0) return;
  io.out(`held taps sent late with their original time: ${released.length}`);
  for (const r of released) {
    io.out(`  ${r.at} ${r.direction} badge ${r.badge} at ${r.terminalId} (held: ${r.heldBecause})${r.outcome === 'badge-check' ? ' -> badge check of the secure badge first' : ''}`);
  }
}
