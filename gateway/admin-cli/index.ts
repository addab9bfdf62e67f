import type { Command } from 'commander';
import { registerCompanyCommands } from './companies.ts';
import { registerSiteCommands } from './sites.ts';
import { registerDeclarationCommands } from './declarations.ts';
import { registerTerminalCommands } from './terminals.ts';
import { registerWorkerCommands } from './workers.ts';
import { registerBadgeCommands } from './badges.ts';
import { registerTapCommands } from './taps.ts';
import { registerRecordsCommands } from './records.ts';

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
  registerBadgeCommands,
  registerTapCommands,
  (admin) => registerRecordsCommands(admin),
];

export { withDb, resolveDbPath, printRows, stdoutIo, describeProblems } from './context.ts';
