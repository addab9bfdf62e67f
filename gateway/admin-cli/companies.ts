import type { Command } from 'commander';
import { printRows, stdoutIo, withDb } from './context.ts';

export function registerCompanyCommands(admin: Command): void {
  const c = admin.command('company').description('Companies: employers and contractors (enterprise number or foreign VAT/id)');
  c.command('add')
    .description('Add a company, or rename a known one')
    .argument('<number>', 'Belgian enterprise number (0403.019.261, BE0403019261) or foreign VAT/id (FR12345678901)')
    .requiredOption('--name <name>', 'company name')
    .action(async (number: string, o: { name: string }, cmd: Command) =>
      withDb(cmd, async (db) => {
        const { upsertCompany } = await import('../site-data/companies.ts');
        const company = upsertCompany(db, { number, name: o.name });
        stdoutIo.out(`company ${company.id} (${company.kind}) ${company.name}`);
      }),
    );
  c.command('list')
    .description('List companies')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) =>
      withDb(cmd, async (db) => {
        const { listCompanies } = await import('../site-data/companies.ts');
        printRows(stdoutIo, listCompanies(db) as unknown as Array<Record<string, unknown>>, !!o.json);
      }),
    );
}
