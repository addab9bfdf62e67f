import type { Command } from 'commander';
import { exists, printRows, registerActivation, stdoutIo, withService } from './context.ts';

export function registerSiteCommands(admin: Command): void {
  const s = admin.command('site').description('Sites: place of work (address and/or coordinates) and language');
  s.command('add')
    .description('Add a site, or update a known one')
    .argument('<id>', 'site id (letters, digits, - or _)')
    .requiredOption('--name <name>', 'site name')
    .option('--language <lang>', 'terminal language: fr, nl, de or en', 'fr')
    .option('--post-code <code>', 'Belgian post code (4 digits)')
    .option('--municipality <name>', 'municipality')
    .option('--street <name>', 'street name')
    .option('--house-number <n>', 'house number')
    .option('--box <box>', 'box number')
    .option('--lat <latitude>', 'latitude (GPS is optional)')
    .option('--lon <longitude>', 'longitude')
    .action(async (id: string, o: Record<string, string | undefined>, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        const input = {
          name: o.name!,
          language: o.language,
          postCode: o.postCode,
          municipality: o.municipality,
          street: o.street,
          houseNumber: o.houseNumber,
          box: o.box,
          latitude: o.lat,
          longitude: o.lon,
        };
        const site = (await exists(() => service.getSite(caller, id))) ? await service.updateSite(caller, id, input) : await service.createSite(caller, { id, ...input });
        stdoutIo.out(`site ${site.id} ${site.name} (${site.language}) ${JSON.stringify(site.placeOfWork)}`);
      }),
    );
  s.command('list')
    .description('List sites')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        printRows(stdoutIo, (await service.listSites(caller, { limit: 500 })).items.map((x) => ({ id: x.id, name: x.name, language: x.language, placeOfWork: x.placeOfWork })), !!o.json);
      }),
    );
  registerActivation(s, 'site', (service, caller, id, active) => service.setSiteActive(caller, id, active));
}
