import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('terminal')
    .description('Run one badge terminal (NFC reader, panel, offline outbox, link to the gateway)')
    .requiredOption('--config <file>', 'terminal config (JSON); see docs/terminal.md')
    .addHelpText('after', `
The secret may come from the CIAO_TERMINAL_SECRET environment variable instead of the file.
Example config:
  {"id": "T-0001", "mqtt": {"url": "mqtts://gateway.local:8883", "ca": "ca.pem"},
   "reader": "pcsc", "panel": "johnny-five", "outbox": "/var/lib/ciao/outbox.db",
   "board": {"port": "/dev/ttyACM0"}}`)
    .action(async (o: { config: string }) => {
      const { runTerminalFromFile } = await import('../../terminal/run.ts');
      await runTerminalFromFile(o.config);
    });
}
