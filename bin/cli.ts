import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.ts';
import { productVersion } from '../shared/version.ts';

/**
 * The `ciao` command: parses arguments and hands over to the part that does the work.
 * Each subcommand lives in bin/commands/<name>.ts and imports its implementation lazily, so
 * `ciao --help` stays fast and one part's dependencies never load for another.
 */
export function buildProgram(): Command {
  const program = new Command('ciao')
    .description('ciao-badge: NFC badge terminals and gateway for CIaO (Check IN and Out at Work) registration')
    .version(productVersion())
    .showHelpAfterError('(run with --help for usage)');
  for (const register of commands) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`ciao: ${message}\n`);
    process.exitCode = typeof (err as { exitCode?: unknown }).exitCode === 'number' ? (err as { exitCode: number }).exitCode : 1;
  }
}
