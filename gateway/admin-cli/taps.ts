import type { Command } from 'commander';
import { intOption, printReleased, printRows, stdoutIo, withService, withStore } from './context.ts';

/** What the site manager must look at: taps not turned into registrations, and quarantined payloads. */
export function registerTapCommands(admin: Command): void {
  const t = admin.command('tap').description('Taps received: those that could not be enriched, and the quarantine');
  t.command('list')
    .description('List stored taps (by default only those not enriched into a registration)')
    .option('--all', 'include enriched taps')
    .option('--terminal <id>', 'only this terminal')
    .option('--limit <n>', 'at most this many, newest first', intOption('limit'), 100)
    .option('--json', 'print JSON')
    .action(async (o: { all?: boolean; terminal?: string; limit: number; json?: boolean }, cmd: Command) =>
      withStore(cmd, async (store) => {
        const where: string[] = [];
        const params: Array<string | number> = [];
        if (!o.all) where.push("enrichment <> 'enriched'");
        if (o.terminal) {
          params.push(o.terminal);
          where.push(`terminal_id = $${params.length}`);
        }
        params.push(o.limit);
        const rows = await store.all(
          `SELECT tap_id, terminal_id, site_id, badge, direction, reason, at, enrichment, enrichment_detail FROM taps ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY received_at DESC LIMIT $${params.length}`,
          params,
        );
        printRows(stdoutIo, rows, !!o.json);
      }),
    );
  t.command('choose-employer')
    .description("Choose the employer of a tap held because the worker has several and chose none (or one that is not theirs): the tap is sent late with its original time")
    .argument('<tap-id>', 'the held tap')
    .requiredOption('--employer <number>', "one of the employers the worker may register under on that site")
    .option('--dry-run', 'only show what would be sent')
    .action(async (tapId: string, o: { employer: string; dryRun?: boolean }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        if (o.dryRun) {
          const preview = await service.previewEmployerChoice(caller, { tapId, employer: o.employer });
          stdoutIo.out(preview.length ? 'would send:' : 'would send nothing');
          printReleased(stdoutIo, preview);
          return;
        }
        printReleased(stdoutIo, (await service.chooseEmployer(caller, { tapId, employer: o.employer })).released);
      }),
    );
  t.command('quarantine')
    .description('List payloads refused at ingest (malformed, oversized, wrong version, invalid field)')
    .option('--limit <n>', 'at most this many, newest first', intOption('limit'), 100)
    .option('--json', 'print JSON')
    .action(async (o: { limit: number; json?: boolean }, cmd: Command) =>
      withStore(cmd, async (store) => {
        const rows = await store.all('SELECT id, terminal_id, tap_id, reason, problems, payload_size, received_at FROM quarantine ORDER BY id DESC LIMIT $1', [o.limit]);
        printRows(stdoutIo, rows, !!o.json);
      }),
    );
}
