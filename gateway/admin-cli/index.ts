import type { Command } from 'commander';
import { registerCompanyCommands } from './companies.ts';
import { registerSiteCommands } from './sites.ts';
import { registerDeclarationCommands } from './declarations.ts';
import { registerTerminalCommands } from './terminals.ts';
import { registerWorkerCommands } from './workers.ts';
import { registerBadgeCommands } from './badges.ts';
import { registerTapCommands } from './taps.ts';
import { registerRecordsCommands } from './records.ts';
import { registerBadgeSecurityCommands } from './badge-security.ts';
import { registerPlacementCommands } from './placements.ts';

/**
 * Every `ciao admin` entity command, in the order `ciao admin --help` lists them. Another part of the
 * gateway adds its commands by appending a registrar here (or to `adminSubcommands` before `register`).
 * Registrars define commands only; their actions import the implementation lazily.
 */
export type AdminSubcommand = (admin: Command) => void;
export const adminSubcommands: AdminSubcommand[] = [
  registerCompanyCommands,
  registerSiteCommands,
  registerDeclarationCommands,
  registerTerminalCommands,
  registerWorkerCommands,
  registerPlacementCommands,
  registerBadgeCommands,
  // After `site` and `badge`: it adds `badge provision`, `badge keys` and `site require-secure-badges` to them.
  registerBadgeSecurityCommands,
  registerTapCommands,
  (admin) => registerRecordsCommands(admin),
];

