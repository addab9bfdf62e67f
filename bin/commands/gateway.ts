import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('gateway')
    .description('Run the gateway (MQTT broker, ingest, forwarder, admin API)')
    .requiredOption('--config <file>', 'gateway config (JSON); see docs/gateway.md')
    .action(async (o: { config: string }) => {
      const { runGatewayFromFile } = await import('../../gateway/run.ts');
      await runGatewayFromFile(o.config);
    });
}
