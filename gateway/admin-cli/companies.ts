import type { Command } from 'commander';
import { exists, printRows, registerActivation, stdoutIo, withService } from './context.ts';

export function registerCompanyCommands(admin: Command): void {
  const c = admin.command('company').description('Companies: employers and contractors (enterprise number or foreign VAT/id)');
  c.command('add')
    .description('Add a company, or rename a known one')
    .argument('<number>', 'Belgian enterprise number (0403.019.261, BE0403019261) or foreign VAT/id (FR12345678901)')
    .requiredOption('--name <name>', 'company name')
    .action(async (number: string, o: { name: string }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        const company = (await exists(() => service.getCompany(caller, number))) ? await service.updateCompany(caller, number, { name: o.name }) : await service.createCompany(caller, { number, name: o.name });
        stdoutIo.out(`company ${company.id} (${company.kind}) ${company.name}`);
      }),
    );
  c.command('list')
    .description('List companies')
    .option('--json', 'print JSON')
    .option('--all', 'include deactivated companies')
    .action(async (o: { json?: boolean; all?: boolean }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        printRows(stdoutIo, (await service.listCompanies(caller, { inactive: o.all, limit: 500 })).items.map(({ deactivatedAt, ...c }) => (o.all ? { ...c, deactivatedAt } : c)), !!o.json);
      }),
    );
  registerActivation(c, 'company', (service, caller, id, active) => service.setCompanyActive(caller, id, active));
}
