import type { Command } from 'commander';
import { collect, exists, printReleased, printRows, registerActivation, stdoutIo, withService } from './context.ts';

export function registerDeclarationCommands(admin: Command): void {
  const d = admin.command('declaration').description('Declarations of works: number, site, validity, contractor chain');
  d.command('add')
    .description('Add a declaration of works, or update a known one (its chain is replaced)')
    .argument('<number>', 'declaration-of-works number (13 letters and digits, no I or O)')
    .requiredOption('--site <id>', 'the site it covers')
    .requiredOption('--from <date>', 'first valid day, YYYY-MM-DD')
    .option('--to <date>', 'last valid day, YYYY-MM-DD (open-ended if absent)')
    .requiredOption('--company <number>', 'a company on the contractor chain, main contractor first (repeat, or separate with commas)', collect, [])
    .option('--ciao-url <url>', "the declaration's CIaO registration URL (its QR code): the fallback when a terminal cannot register (FAQ 31); '' clears it")
    .action(async (number: string, o: { site: string; from: string; to?: string; company: string[]; ciaoUrl?: string }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        const input = { siteId: o.site, validFrom: o.from, validTo: o.to, companies: o.company, ...(o.ciaoUrl !== undefined ? { ciaoUrl: o.ciaoUrl } : {}) };
        const r = (await exists(() => service.getDeclaration(caller, number))) ? await service.updateDeclaration(caller, number, input) : await service.createDeclaration(caller, { number, ...input });
        const x = r.declaration;
        stdoutIo.out(`declaration ${x.number} site ${x.siteId} ${x.validFrom}..${x.validTo ?? ''} chain ${x.companies.join(' > ')}${x.ciaoUrl ? ` CIaO ${x.ciaoUrl}` : ''}`);
        printReleased(stdoutIo, r.released);
      }),
    );
  d.command('list')
    .description('List declarations of works')
    .option('--site <id>', 'only this site')
    .option('--json', 'print JSON')
    .action(async (o: { site?: string; json?: boolean }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        printRows(stdoutIo, (await service.listDeclarations(caller, { site: o.site, limit: 500 })).items.map(({ deactivatedAt: _d, ...x }) => x), !!o.json);
      }),
    );
  registerActivation(d, 'declaration', (service, caller, id, active) => service.setDeclarationActive(caller, id, active));
}
