import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { printRows, stdoutIo, withDb } from './context.ts';
import { printImport } from './workers.ts';

export function registerBadgeCommands(admin: Command): void {
  const b = admin.command('badge').description('Badges: NFC UID bound to a worker for a period; revocation');
  b.command('add')
    .description('Bind a badge to a worker (re-binding a UID replaces the old binding)')
    .argument('<uid>', 'badge UID in hex (8, 14 or 20 hex digits)')
    .requiredOption('--worker <ref>', 'worker id, NISS/BIS or Limosa id')
    .option('--from <date>', 'first valid day, YYYY-MM-DD (default today)')
    .option('--to <date>', 'last valid day, YYYY-MM-DD (open-ended if absent)')
    .action(async (uid: string, o: { worker: string; from?: string; to?: string }, cmd: Command) =>
      withDb(cmd, async (db) => {
        const { upsertBadge } = await import('../site-data/badges.ts');
        const x = upsertBadge(db, { uid, worker: o.worker, validFrom: o.from, validTo: o.to });
        stdoutIo.out(`badge ${x.uid} -> worker ${x.workerId} ${x.validFrom}..${x.validTo ?? ''}`);
      }),
    );
  b.command('revoke')
    .description('Revoke a badge (lost, stolen, worker left); taps with it are kept but not registered')
    .argument('<uid>', 'badge UID')
    .option('--reason <text>', 'why', 'revoked')
    .action(async (uid: string, o: { reason: string }, cmd: Command) =>
      withDb(cmd, async (db) => {
        const { revokeBadge } = await import('../site-data/badges.ts');
        const x = revokeBadge(db, uid, o.reason);
        stdoutIo.out(`badge ${x.uid} revoked at ${x.revokedAt}`);
      }),
    );
  b.command('list')
    .description('List badges')
    .option('--worker <id>', "only this worker's badges (worker id)")
    .option('--json', 'print JSON')
    .action(async (o: { worker?: string; json?: boolean }, cmd: Command) =>
      withDb(cmd, async (db) => {
        const { listBadges } = await import('../site-data/badges.ts');
        printRows(stdoutIo, listBadges(db, o.worker) as unknown as Array<Record<string, unknown>>, !!o.json);
      }),
    );
  b.command('import')
    .description('Import badges from CSV (header: uid,worker,from,to; worker = worker id, NISS/BIS or Limosa id). Bad lines are reported, good ones kept; exit code 2 if any line was rejected')
    .argument('<file>', 'CSV file')
    .action(async (file: string, _o: unknown, cmd: Command) =>
      withDb(cmd, async (db) => {
        const { importBadgesCsv } = await import('../site-data/csv-import.ts');
        printImport(importBadgesCsv(db, readFileSync(file, 'utf8')), 'badges');
      }),
    );
}
