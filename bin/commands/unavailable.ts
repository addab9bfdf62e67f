import type { Command } from 'commander';

/** A subcommand whose part of the product is not built yet: it says so and exits non-zero. */
export class NotAvailableError extends Error {
  readonly exitCode = 3;
}

export function unavailable(program: Command, name: string, description: string, issue: number): void {
  program
    .command(name)
    .description(`${description} (not available yet)`)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(() => {
      throw new NotAvailableError(`'ciao ${name}' is not available yet: it arrives with issue #${issue}`);
    });
}
