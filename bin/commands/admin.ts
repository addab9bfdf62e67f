import type { Command } from 'commander';
import { adminSubcommands } from '../../gateway/admin-cli/index.ts';

/**
 * `ciao admin`: the site manager's commands on the gateway's store (its SQLite file, or its PostgreSQL server). Entity subcommands live in
 * gateway/admin-cli/ (listed in `adminSubcommands`) and call the operations in gateway/site-data/.
 */
export function register(program: Command): void {
  const admin = program
    .command('admin')
    .description("Site manager administration: companies, sites, declarations, terminals, workers, badges, taps, presence, remarks, export, corrections, users")
    .option('--db <file>', 'gateway database file (SQLite)')
    .option('--config <file>', 'gateway config file: its store is used (store.kind "postgres": store.url, else the "database" file)')
    .addHelpText(
      'after',
      '\nWithout --db or --config, the environment gives the store: CIAO_GATEWAY_DATABASE (a SQLite file) or CIAO_GATEWAY_DATABASE_URL ' +
        '(PostgreSQL, password included; with --config it replaces store.url, as for the gateway). Run `ciao admin <entity> --help` for each entity.',
    );
  for (const add of adminSubcommands) add(admin);
}
