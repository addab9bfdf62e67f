import type { Command } from 'commander';
import type { SqlStore } from '../store/sql-store.ts';
import type { StoreLocation } from '../store/gateway-store.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { userInfo } from 'node:os';
import type { Caller, SiteDataService } from '../site-data/service.ts';
import type { HeldTapPreview } from '../site-data/held-taps.ts';

/**
 * Shared plumbing of the `ciao admin` subcommands: find the gateway's store (`--db FILE`, `--config FILE` for
 * the gateway config's store, or the environment), open it, run, close; print errors naming the field and
 * the rule.
 * Implementations load lazily so `ciao --help` stays fast.
 */
export interface AdminIo {
  out(line: string): void;
}

export const stdoutIo: AdminIo = { out: (line) => process.stdout.write(`${line}\n`) };

/** How `ciao admin` names a PostgreSQL server in its pool's `application_name` (seen in `pg_stat_activity`). */
const ADMIN_APPLICATION_NAME = 'ciao admin';
/** One command runs one thing at a time: a transaction and a read beside it at most. */
const ADMIN_MAX_CONNECTIONS = 2;

/**
 * Where the gateway keeps its data, as the operator gave it: `--db FILE` (a SQLite file), `--config FILE`
 * (the gateway config's store: its `database` file, or `store.url` on PostgreSQL, which
 * CIAO_GATEWAY_DATABASE_URL replaces as it does for the gateway), else the environment alone:
 * CIAO_GATEWAY_DATABASE (a SQLite file) or CIAO_GATEWAY_DATABASE_URL (PostgreSQL). A gateway on PostgreSQL
 * may have both in its environment (the file's folder still keeps its CA and releases), and which one the
 * gateway uses is then its config's `store.kind`: so both without a config is refused rather than guessed.
 */
export async function resolveStoreLocation(cmd: Command, env: NodeJS.ProcessEnv = process.env): Promise<StoreLocation> {
  const opts = cmd.optsWithGlobals() as { db?: string; config?: string };
  if (opts.db) return { kind: 'sqlite', file: opts.db };
  if (opts.config) {
    const { loadGatewayConfig } = await import('../config.ts');
    const { storeLocationOf } = await import('../store/gateway-store.ts');
    return storeLocationOf(loadGatewayConfig(opts.config, env));
  }
  const file = env.CIAO_GATEWAY_DATABASE;
  const url = env.CIAO_GATEWAY_DATABASE_URL;
  if (file && url) {
    throw new Error('which database? both CIAO_GATEWAY_DATABASE (a SQLite file) and CIAO_GATEWAY_DATABASE_URL (PostgreSQL) are set: give --config FILE (its store.kind decides, as for the gateway) or --db FILE');
  }
  if (url) {
    const { POSTGRES_URL } = await import('../store/postgres/database-key.ts');
    if (!POSTGRES_URL.test(url)) throw new Error('CIAO_GATEWAY_DATABASE_URL: must be a URL like postgres://ciao@10.0.0.5:5432/ciao');
    return { kind: 'postgres', url, maxConnections: ADMIN_MAX_CONNECTIONS };
  }
  if (file) return { kind: 'sqlite', file };
  throw new Error('which database? give --db FILE or --config FILE (a SQLite file, or the gateway config: its store), or set CIAO_GATEWAY_DATABASE (a SQLite file) or CIAO_GATEWAY_DATABASE_URL (PostgreSQL)');
}

export function describeProblems(problems: FieldProblem[]): string {
  return problems.map((p) => `${p.message} (rule: ${p.rule})`).join('\n  ');
}

/**
 * Runs an admin action on the gateway's store, brought up to date first as the gateway would (an operator
 * may run `ciao admin` before the gateway's first start), and closed after.
 */
export async function withStore<T>(cmd: Command, fn: (store: SqlStore, where: StoreLocation) => T | Promise<T>): Promise<T> {
  const where = await resolveStoreLocation(cmd);
  const { openGatewayStore } = await import('../store/gateway-store.ts');
  const opened = await openGatewayStore(where, { migrate: true, applicationName: ADMIN_APPLICATION_NAME, maxConnections: ADMIN_MAX_CONNECTIONS });
  try {
    return await fn(opened.store, where);
  } catch (err) {
    const problems = (err as { problems?: FieldProblem[] }).problems;
    if (Array.isArray(problems) && problems.length) throw new Error(`invalid input:\n  ${describeProblems(problems)}`);
    throw err;
  } finally {
    await opened.close();
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
 * `ciao admin` acts as a local administrator (whoever can open the database file, or holds the PostgreSQL
 * server's credentials, can change it anyway),
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
export async function withService<T>(cmd: Command, fn: (service: SiteDataService, caller: Caller, store: SqlStore) => T | Promise<T>): Promise<T> {
  const { SiteDataService } = await import('../site-data/service.ts');
  return withStore(cmd, (store) => fn(new SiteDataService(store), cliCaller(), store));
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
