import { loadGatewayConfig } from './config.ts';
import { startGateway } from './main.ts';

/**
 * `ciao gateway --config FILE`: start, then stop cleanly on SIGTERM or SIGINT (stop accepting, flush the
 * commit group, close). Resolves when the gateway has stopped.
 */
export async function runGatewayFromFile(file: string): Promise<void> {
  const config = loadGatewayConfig(file);
  const gateway = await startGateway(config);
  // One line on stdout that scripts and tests can wait for.
  process.stdout.write(`${JSON.stringify({ event: 'gateway-ready', mqttPort: gateway.mqttPort, tlsPort: gateway.tlsPort ?? null, wsPort: gateway.wsPort ?? null, httpPort: gateway.httpPort })}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      gateway.stop().then(resolve, (err) => {
        process.stderr.write(`ciao: error while stopping: ${(err as Error).message}\n`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
