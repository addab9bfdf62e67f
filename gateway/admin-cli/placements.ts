import type { Command } from 'commander';
import { exists, printReleased, printRows, registerActivation, stdoutIo, withService } from './context.ts';

/** Agency placements (FAQ 26): `ciao admin placement add|list|deactivate|reactivate`. */
export function registerPlacementCommands(admin: Command): void {
  const p = admin.command('placement').description('Agency placements (FAQ 26): a worker placed by a temporary agency with a user company; registered under the agency\'s number where the user company is on the chain');
  p.command('add')
    .description('Place a worker with a user company (or change the placement with --id)')
    .requiredOption('--worker <ref>', 'worker id, NISS/BIS or Limosa id')
    .requiredOption('--agency <number>', 'the agency (its enterprise number goes on the registrations)')
    .requiredOption('--user-company <number>', 'the company the worker works for on site (on the declaration chain)')
    .requiredOption('--from <date>', 'first day, YYYY-MM-DD')
    .option('--to <date>', 'last day, YYYY-MM-DD (open-ended if absent)')
    .option('--id <id>', 'placement id (generated if absent; an existing one is changed)')
    .action(async (o: { worker: string; agency: string; userCompany: string; from: string; to?: string; id?: string }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        const input = { worker: o.worker, agency: o.agency, userCompany: o.userCompany, validFrom: o.from, validTo: o.to };
        const r = o.id && (await exists(() => service.getPlacement(caller, o.id!))) ? await service.updatePlacement(caller, o.id, input) : await service.createPlacement(caller, { ...input, id: o.id });
        const x = r.placement;
        stdoutIo.out(`placement ${x.id}: worker ${x.workerId} by agency ${x.agencyId} with ${x.userCompanyId} ${x.validFrom}..${x.validTo ?? ''}`);
        printReleased(stdoutIo, r.released);
      }),
    );
  p.command('list')
    .description('List agency placements')
    .option('--worker <id>', "only this worker's (worker id)")
    .option('--json', 'print JSON')
    .action(async (o: { worker?: string; json?: boolean }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        printRows(stdoutIo, (await service.listPlacements(caller, { worker: o.worker, limit: 500 })).items.map(({ deactivatedAt: _d, ...x }) => x), !!o.json);
      }),
    );
  registerActivation(p, 'placement', (service, caller, id, active) => service.setPlacementActive(caller, id, active));
}
