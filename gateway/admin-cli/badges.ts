import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { printReleased, printRows, stdoutIo, withService } from './context.ts';
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
      withService(cmd, async (service, caller, store) => {
        const { getBadge } = await import('../site-data/badges.ts');
        const known = await getBadge(store, uid.trim());
        // `add` of a badge already given re-binds it (a re-issued badge), as it always did.
        const r = known && !known.revokedAt ? await service.updateBadge(caller, known.uid, { worker: o.worker, validFrom: o.from, validTo: o.to ?? null }) : await service.createBadge(caller, { uid, worker: o.worker, validFrom: o.from, validTo: o.to });
        const x = r.badge;
        stdoutIo.out(`badge ${x.uid} -> worker ${x.workerId} ${x.validFrom}..${x.validTo ?? ''}`);
        printReleased(stdoutIo, r.released);
      }),
    );
  b.command('revoke')
    .description('Revoke a badge (lost, stolen, worker left); taps with it are kept but not registered')
    .argument('<uid>', 'badge UID')
    .option('--reason <text>', 'why', 'revoked')
    .action(async (uid: string, o: { reason: string }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        const x = await service.revokeBadge(caller, uid, o.reason);
        stdoutIo.out(`badge ${x.uid} revoked at ${x.revokedAt}`);
      }),
    );
  b.command('list')
    .description('List badges')
    .option('--worker <id>', "only this worker's badges (worker id)")
    .option('--json', 'print JSON')
    .action(async (o: { worker?: string; json?: boolean }, cmd: Command) =>
      withService(cmd, async (_service, _caller, store) => {
        const { listBadges } = await import('../site-data/badges.ts');
        printRows(stdoutIo, (await listBadges(store, o.worker)) as unknown as Array<Record<string, unknown>>, !!o.json);
      }),
    );
  b.command('import')
    .description('Import badges from CSV (header: uid,worker,from,to; worker = worker id, NISS/BIS or Limosa id). Bad lines are reported, good ones kept; exit code 2 if any line was rejected')
    .argument('<file>', 'CSV file')
    .action(async (file: string, _o: unknown, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        printImport(await service.importBadges(caller, readFileSync(file, 'utf8')), 'badges');
      }),
    );
}
