import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { collect, describeProblems, printReleased, printRows, registerActivation, stdoutIo, withService } from './context.ts';
import type { ImportResult } from '../site-data/csv-import.ts';
import type { HeldTapPreview } from '../site-data/held-taps.ts';

export function printImport(result: ImportResult, what: string): void {
  stdoutIo.out(`${what}: ${result.imported} imported, ${result.rejected.length} rejected`);
  for (const r of result.rejected) stdoutIo.out(`line ${r.line}: ${describeProblems(r.problems)}`);
  // Partial success is not success: scripts should notice the rejected lines.
  if (result.rejected.length) process.exitCode = 2;
}

export function registerWorkerCommands(admin: Command): void {
  const w = admin.command('worker').description('Workers: NISS/BIS or Limosa id, name, capacity, employers');
  w.command('add')
    .description('Add a worker, or update the one with the same NISS/BIS, Limosa id or --id')
    .option('--niss <number>', 'NISS or BIS number (dots and dashes allowed)')
    .option('--limosa <id>', 'Limosa id (some posted workers)')
    .requiredOption('--name <name>', 'full name (the terminal shows the first name and an initial)')
    .option('--capacity <capacity>', 'employee, agency-worker, posted-worker, self-employed, helper, team-leader, trainer or trainee', 'employee')
    .requiredOption('--employer <number>', 'an employer (repeat, or separate with commas); agency workers: the agency', collect, [])
    .option('--id <id>', "the gateway's worker key (generated if absent)")
    .action(async (o: { niss?: string; limosa?: string; name: string; capacity: string; employer: string[]; id?: string }, cmd: Command) =>
      withService(cmd, async (service, caller, store) => {
        const { findWorker } = await import('../site-data/workers.ts');
        const input = { niss: o.niss, limosa: o.limosa, name: o.name, capacity: o.capacity, employers: o.employer };
        // `add` of a known worker (same id, NISS/BIS or Limosa id) changes it, as it always did.
        const known = (o.id && (await findWorker(store, o.id))) || (o.niss && (await findWorker(store, o.niss))) || (o.limosa && (await findWorker(store, o.limosa))) || undefined;
        const x = known ? await service.updateWorker(caller, known.id, input) : await service.createWorker(caller, { id: o.id, ...input });
        stdoutIo.out(`worker ${x.id} ${x.name} (${x.capacity}) employers ${x.employers.join(',')}`);
        if ('released' in x) printReleased(stdoutIo, x.released as HeldTapPreview[]);
      }),
    );
  w.command('list')
    .description('List workers (NISS masked)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) =>
      withService(cmd, async (_service, _caller, store) => {
        const { listWorkers } = await import('../site-data/workers.ts');
        const { maskWorkerNumber } = await import('../../shared/identifiers/national-number.ts');
        printRows(
          stdoutIo,
          (await listWorkers(store)).map((x) => ({ id: x.id, niss: x.ssin ? maskWorkerNumber(x.ssin) : null, limosa: x.limosaId, name: x.name, capacity: x.capacity, employers: x.employers })),
          !!o.json,
        );
      }),
    );
  w.command('import')
    .description('Import workers from CSV (header: niss,limosa,name,capacity,employers[,id]; several employers separated by |). Bad lines are reported, good ones kept; exit code 2 if any line was rejected')
    .argument('<file>', 'CSV file')
    .action(async (file: string, _o: unknown, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        printImport(await service.importWorkers(caller, readFileSync(file, 'utf8')), 'workers');
      }),
    );
  registerActivation(w, 'worker', (service, caller, id, active) => service.setWorkerActive(caller, id, active));
}
