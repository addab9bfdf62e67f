import type { Command } from 'commander';
import { adminSubcommands } from '../../gateway/admin-cli/index.ts';

/**
 * `ciao admin`: the site manager's commands on the gateway database. Entity subcommands live in
 * gateway/admin-cli/ (listed in `adminSubcommands`) and call the operations in gateway/site-data/.
 */
export function register(program: Command): void {
  const admin = program
    .command('admin')
    .description("Site manager administration: companies, sites, declarations, terminals, workers, badges, taps, presence, remarks, export, corrections, users")
    .option('--db <file>', 'gateway database file')
    .option('--config <file>', 'gateway config file (its "database" is used)')
    .addHelpText('after', '\nThe database may also be given by CIAO_GATEWAY_DATABASE. Run `ciao admin <entity> --help` for each entity.');
  for (const add of adminSubcommands) add(admin);
}
